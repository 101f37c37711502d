"""What every demo shares: the common flags, a progress bar, `--graph` and `--step`; and the
`tinygrad-lstm` console script that runs the demos from anywhere.

Only this module and the viz package import rich.
"""

from __future__ import annotations

import argparse
import contextlib
import runpy
import sys
import time
from pathlib import Path

DEMOS_DIR = Path(__file__).resolve().parent.parent / "demos"


def demo_parser(doc, graph_default="out/graph.svg", steps_default=200, steps_help="training steps"):
    """An ArgumentParser with the flags every demo takes: --graph [OUT], --step, --steps N,
    --seed, plus --no-pause and --auto for the stepper. `doc` is the demo's docstring."""
    first = (doc or "").strip().splitlines()[0] if doc else None
    p = argparse.ArgumentParser(description=first,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--graph", nargs="?", const=graph_default, default=None, metavar="OUT",
                   help="write the DOT and an SVG (or .png/.pdf by extension) of one training "
                        f"step's graph (default {graph_default})")
    p.add_argument("--step", action="store_true",
                   help="step through one training step's backward pass in the terminal")
    p.add_argument("--no-pause", action="store_true",
                   help="with --step: print every step as text without waiting for keys")
    p.add_argument("--auto", type=float, default=None, metavar="SECONDS",
                   help="with --step: play the walk as an animation, SECONDS per node")
    p.add_argument("--steps", type=int, default=steps_default, help=steps_help)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    return p


def positive(name, value):
    if value <= 0:
        raise SystemExit(f"error: {name} must be positive, got {value}")
    return value


@contextlib.contextmanager
def progress(total, description="training"):
    """A rich progress bar on stderr; yields `update(**fields)` to call once per step, e.g.
    `update(loss=1.23)`. Shows loss and steps per second; stays quiet when not a terminal."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    start = time.perf_counter()
    with Progress(*columns, console=console, transient=False,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total, info="")

        def update(**fields):
            done = bar.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - start, 1e-9)
            info = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in fields.items())
            bar.update(task, advance=1, info=f"{info}  {rate:.1f} it/s")

        yield update


def show_graph(loss, out, model=None, **draw_kwargs):
    """Render `loss`'s graph (with gradient norms: this runs the backward) and say where it
    went. A missing `dot` program is not an error: the DOT source is written and the message
    says how to install Graphviz."""
    from .viz.graph import render

    paths, message = render(loss, out, params=model, grads=True, **draw_kwargs)
    for p in paths:
        print(f"wrote {p}")
    if message:
        print(message)
    return paths


def show_steps(loss, args, title=None, model=None):
    """Step through `loss`'s backward in the terminal (this runs the backward). `model` (a
    Module or a {name: Parameter} dict) names the parameters on screen."""
    from .viz.stepper import step

    return step(loss, no_pause=args.no_pause, auto=args.auto, title=title, params=model)


def graph_and_steps(args, make_loss, model=None, title=None):
    """What `--graph` and `--step` ask for, on one more training step: `make_loss()` builds
    its loss afresh for each, since drawing runs the backward and so does stepping. `model`
    (a Module or a {name: Parameter} dict) names the parameters in both."""
    if args.graph:
        show_graph(make_loss(), args.graph, model=model)
    if args.step:
        show_steps(make_loss(), args, title=title, model=model)


def list_demos():
    return sorted(p.stem for p in DEMOS_DIR.glob("*.py") if not p.stem.startswith("_"))


def main(argv=None):
    """`tinygrad-lstm DEMO [flags]`: run one of the demos (list them with `tinygrad-lstm`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not DEMOS_DIR.is_dir():
        print(f"tinygrad-lstm: no demos folder at {DEMOS_DIR} (the demos ship with the "
              "repository; install it with `pip install -e .` from a checkout)", file=sys.stderr)
        return 2
    demos = list_demos()
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: tinygrad-lstm DEMO [--graph [OUT]] [--step] [--steps N] [--seed S] ...")
        print("demos: " + ", ".join(demos))
        return 0
    name = argv[0]
    if name not in demos:
        print(f"tinygrad-lstm: no demo {name!r}; the demos are: {', '.join(demos)}",
              file=sys.stderr)
        return 2
    sys.argv = [str(DEMOS_DIR / f"{name}.py"), *argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
