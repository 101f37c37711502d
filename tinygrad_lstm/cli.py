"""What every demo shares: the common flags, a progress bar, `--graph` and `--step`; and the
`tinygrad-lstm` console script that runs the demos from anywhere.

Only this module and the viz package import rich.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import importlib.util
import math
import os
import runpy
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

DEMOS_DIR = Path(__file__).resolve().parent.parent / "demos"


def have_demos():
    """True when DEMOS_DIR is this checkout's demos folder: beside the package in a checkout
    (with its pyproject.toml), not a `demos` folder another distribution put in site-packages."""
    return (DEMOS_DIR / "hello.py").is_file() and (DEMOS_DIR.parent / "pyproject.toml").is_file()


PATH_FLAGS = ("save", "resume", "data", "svg")  # a demo's paths, refused when empty


def _kernels_argv():
    """True when sys.argv is a Jupyter kernel's own (`-f …json`, however the kernel was
    started: ipykernel_launcher, Colab's or Spyder's launcher, `ipython kernel`), not the
    demo's own that `%run demo.py --x` sets."""
    app = getattr(sys.modules.get("ipykernel.kernelapp"), "IPKernelApp", None)
    if app is None or not app.initialized():
        return False
    return list(sys.argv[1:]) == list(getattr(app.instance(), "argv", None) or [])


class _DemoParser(argparse.ArgumentParser):
    """Checks the shared flags as it parses, so that a bad --graph path or --steps count is
    refused before any training, not after it."""

    graph_default, min_steps = "out/graph.svg", 1

    def parse_args(self, args=None, namespace=None):
        if args is None and _kernels_argv():  # `main()` in a notebook: sys.argv is the
            args = []  # kernel's (`-f …json`, refused as unknown flags); `%run demo.py --x`'s
            # is the demo's own
        self.argv = list(sys.argv[1:] if args is None else args)
        ns = super().parse_args(args, namespace)
        if (ns.auto is not None or ns.no_pause) and not ns.step:
            flag = "--auto" if ns.auto is not None else "--no-pause"
            self.error(f"argument {flag}: goes with --step, which was not given")
        if ns.steps < self.min_steps:
            self.error(f"argument --steps: must be at least {self.min_steps}, got {ns.steps}")
        if ns.auto is not None and not 0 <= ns.auto < math.inf:  # inf: time.sleep overflows
            self.error(f"argument --auto: must be 0 or more seconds (finite), got {ns.auto}")
        if ns.seed < 0:  # numpy's generators refuse it, with a traceback, after the parse
            self.error(f"argument --seed: must be 0 or more, got {ns.seed}")
        if ns.threads is not None and not 1 <= ns.threads <= 2 ** 31 - 1:  # a C int
            self.error(f"argument --threads: must be from 1 to 2**31 - 1, got {ns.threads}")
        blas_threads(ns.threads)
        if ns.graph == "":  # `--graph ''` (an unset variable): it drew nothing, silently
            self.error(f"argument --graph: the path is empty; give a file or a folder, or "
                       f"--graph alone for {self.graph_default}")
        for dest in PATH_FLAGS:  # the demos' own: `--save ''` saved nothing, without a word
            if getattr(ns, dest, None) == "":
                self.error(f"argument --{dest}: the path is empty")
        if ns.graph:
            try:
                ns.graph = str(graph_path(ns.graph, self.graph_default))
            except ValueError as e:
                self.error(f"argument --graph: {e}")
        return ns

    def given(self, flag):
        """True when the command line had `flag` (`--seed 3` or `--seed=3`), not its default:
        for a note that a flag goes unused."""
        return any(a == flag or a.startswith(flag + "=") for a in getattr(self, "argv", []))

    def error(self, message):
        argv = getattr(self, "argv", [])
        after_step = [b for a, b in zip(argv, argv[1:]) if a == "--step"]
        if message.startswith("unrecognized arguments") and after_step and \
                after_step[0].lstrip("-").isdigit():
            message += f" (--step takes no value; --steps {after_step[0]} sets the steps)"
        super().error(message)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" after each flag's help, except where the help names its
    default itself or there is none to name (None, "", a switch's False)."""

    def _get_help_string(self, action):
        d = action.default
        if "default" in (action.help or "") or d is None or d is False or d == "":  # 0 shows
            return action.help
        return super()._get_help_string(action)


def demo_parser(doc, graph_default="out/graph.svg", steps_default=200, steps_help="training steps",
                min_steps=1, graph_help="one training step's graph",
                step_help="one training step's backward pass"):
    """An ArgumentParser with the flags every demo takes: --graph [OUT], --step, --steps N,
    --seed, --threads, plus --no-pause and --auto for the stepper. `doc` is the demo's
    docstring; its first paragraph becomes the description. `min_steps`: the least --steps
    allowed."""
    first = " ".join(doc.strip().split("\n\n")[0].split()) if doc else None
    prog = os.environ.get("TINYGRAD_LSTM_PROG")  # set by the console script
    p = _DemoParser(prog=prog, description=first, formatter_class=_Help)
    p.graph_default, p.min_steps = graph_default, min_steps
    p.add_argument("--graph", nargs="?", const=graph_default, default=None, metavar="OUT",
                   help=f"write the DOT and an SVG (or .png/.pdf by extension) of {graph_help} "
                        f"(OUT: {graph_default}; a folder: the file goes inside)")
    p.add_argument("--step", action="store_true",
                   help=f"step through {step_help} in the terminal")
    p.add_argument("--no-pause", action="store_true",
                   help="with --step: print every step as text without waiting for keys")
    p.add_argument("--auto", type=float, default=None, metavar="SECONDS",
                   help="with --step: play the walk as an animation, SECONDS per node")
    p.add_argument("--steps", type=int, default=steps_default, help=steps_help)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads for numpy's matrix products (default 1, unless "
                        "OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set: at a demo's sizes a "
                        "second thread gains little, and on a busy machine it costs)")
    return p


THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def blas_threads(n=None):
    """Set OpenBLAS's threads for this run: n, or 1 when n is None and no THREAD_VARS is
    set (then OpenBLAS took one thread a core at numpy's import). Best effort: another BLAS
    is left as it is (tinygrad_lstm/_blas.py)."""
    if n is None:
        if any(os.environ.get(v) for v in THREAD_VARS):
            return
        n = 1
    from . import _blas
    _blas.set_threads(n)


def positive(name, value):
    if not value > 0:  # NaN too
        raise SystemExit(f"error: {name} must be positive, got {value}")
    return finite(name, value)  # an infinite rate or size only makes NaNs, after the work


def finite(name, value):
    if not math.isfinite(value):  # NaN or inf: an init or a rate made of it only makes NaNs
        raise SystemExit(f"error: {name} must be finite, got {value}")
    return value


def int_list(flag, text):
    """A flag's comma-separated whole numbers ("5,10,20"), each positive; SystemExit naming
    the flag otherwise."""
    return _number_list(flag, text, int, "whole numbers")


def float_list(flag, text):
    """A flag's comma-separated numbers ("0.5,1,1.5"), each positive and finite; SystemExit
    naming the flag otherwise."""
    return _number_list(flag, text, float, "numbers")


def _number_list(flag, text, parse, what):
    try:
        values = [parse(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"error: {flag} must be comma-separated {what}, got "
                         f"{text!r}") from None
    if not values:
        raise SystemExit(f"error: {flag} is empty")
    for v in values:
        positive(flag, v)
    return values


def command(script):
    """The command that runs the demo `script` (its __file__) again, as the user typed it:
    `tinygrad-lstm charlm` from the console script, `python <the path typed>` when it ran as
    a script, else `python <its path>` (its main() called from a notebook or another program:
    sys.argv[0] is theirs). A hint that said `python demos/charlm.py` failed wherever there
    is no demos/ folder."""
    import shlex
    prog = os.environ.get("TINYGRAD_LSTM_PROG")
    if prog:
        return prog
    typed = sys.argv[0] if sys.argv and sys.argv[0] else ""
    try:
        same = bool(typed) and os.path.samefile(typed, script)
    except OSError:
        same = False
    return f"python {shlex.quote(typed if same else str(script))}"


def _prog():
    """The command's name as the user typed it (the console script sets it)."""
    return os.environ.get("TINYGRAD_LSTM_PROG") or os.path.basename(sys.argv[0])


def _replace_unencodable(stream):
    """On an output whose encoding lacks the demos' σ, −, ×, · and ▁ (PYTHONIOENCODING=ascii,
    a Latin-1 terminal), print such a character as '?' instead of ending the run, after all its
    training perhaps, in a UnicodeEncodeError (rich already draws its boxes in ASCII there)."""
    try:
        utf = codecs.lookup(stream.encoding).name.startswith("utf")
    except (AttributeError, TypeError, LookupError):  # not a text file we can ask
        return
    # surrogateescape: what Python gives stdout in a C or POSIX locale with UTF-8 mode off
    # (LC_ALL=C PYTHONUTF8=0); it fails on σ as strict does, and three demos ended at their
    # results table so (a review of terminals and locales)
    if not utf and stream.errors in ("strict", "surrogateescape") and \
            hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="replace")


def run_demo(main):
    """Run a demo's `main()` as a command. Its own `error: ...` (a SystemExit with that
    message) is printed the way argparse prints one, `PROG: error: ...`, and exits with
    argparse's status 2: Python's own handling would exit 1, so a script could not tell a
    refused command line by its status."""
    _replace_unencodable(sys.stdout)
    try:
        main()
    except SystemExit as e:
        if not (isinstance(e.code, str) and e.code.startswith("error: ")):
            raise
        print(f"{_prog()}: {e.code}", file=sys.stderr)
        raise SystemExit(2) from None
    except MemoryError as e:  # a size too big for the machine: a line, not a traceback
        print(f"{_prog()}: error: out of memory ({e or 'an allocation failed'}); try "
              "smaller sizes (--hidden, say)", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback, and the shell's status 130
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:  # `demo | head`: the reader is gone; stop without a traceback
        # (Python's own advice: point stdout at devnull, so that its flush at exit is quiet)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print("stopped: the output's reader closed the pipe", file=sys.stderr)
        raise SystemExit(1) from None


def room_for(path, nbytes, flag, copies=1):
    """SystemExit naming `flag` when the disk that `path` (a file to write; its folder may not
    exist yet) is on has less than `copies` × `nbytes` free: a checkpoint is written beside
    the last one and replaces it after, so saves made during a run that starts without one
    need two at once. Checked before training: a full disk at the final save lost the whole
    run (the checkpoint already there stays whole either way)."""
    try:
        free = shutil.disk_usage(_nearest_folder(Path(os.path.realpath(path)).parent)).free
    except OSError:  # cannot tell: the save says so if it fails
        return
    if free < copies * nbytes:
        two = (f", and {copies} at once while one replaces the last" if copies > 1 else "")
        raise SystemExit(f"error: {flag} {path}: {_size(free)} free on its disk, and a "
                         f"checkpoint of this run takes about {_size(nbytes)}{two}; free "
                         "some space or give another path")


def isatty(stream):
    """True when `stream` is a terminal; False for a file, a pipe, a closed or missing stream
    (`sys.stdin` is None when the shell closed it: `<&-`)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty; a closed file
        return False


def bar_shown(console, stream=None):
    """Whether a progress bar is drawn on `console`: on a terminal, and in a Jupyter kernel
    where ipywidgets draws it (rich's own way there; without ipywidgets rich only warns). A
    notebook's training cells showed nothing until they were done. With `stream`, the file
    the console writes to, that must be a terminal too: FORCE_COLOR makes rich take any file
    for one, and a CI log got every redraw of the bar (1.9 KB a second)."""
    return (console.is_terminal and (stream is None or isatty(stream))) or (
        console.is_jupyter and importlib.util.find_spec("ipywidgets") is not None)


def _nearest_folder(folder):
    """folder, or the nearest of its parents that exists (where a save would make the rest);
    FileNotFoundError for a dangling link on the way (the save would find "a file" there)."""
    while not folder.exists():
        if folder.is_symlink():
            raise FileNotFoundError(errno.ENOENT, f"{folder} is a symbolic link to "
                                    f"{os.readlink(folder)}, which does not exist")
        folder = folder.parent
    return folder


def _size(nbytes):
    for unit in ("bytes", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def writable(path, flag):
    """`path` as a Path, if a file can be written there (its folder may not exist yet: the
    nearest one that does must take a new file); else SystemExit naming `flag`. Checked before
    training, so that a run is not lost to a typo in its output path."""
    if str(path).endswith(("/", os.sep)):  # a folder, existing or not (Path drops the slash)
        raise SystemExit(f"error: {flag} {path}: names a folder (it ends in /); give a file name")
    try:  # pathlib's own questions raise too: a name too long, a symlink loop
        if Path(path).is_dir():
            raise SystemExit(f"error: {flag} {path}: is a folder; give a file name")
        path = Path(path)
        try:
            os.stat(path)  # a symlink loop "does not exist" to pathlib, and fails the save
        except (FileNotFoundError, NotADirectoryError):  # the latter is said better below
            pass
        # a link is written through (checkpoint.save): probe the folder of what it points to
        folder = _nearest_folder((Path(os.path.realpath(path)) if path.is_symlink()
                                  else path).parent)
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file, not a folder")
        with tempfile.TemporaryFile(dir=folder):  # the only sure test, on any filesystem
            pass
    except OSError as e:
        raise SystemExit(f"error: {flag} {path}: cannot write there "
                         f"({e.strerror or e})") from None  # not the probe's own name
    return path


def graph_path(out, default="out/graph.svg"):
    """Where --graph OUT writes its picture: OUT, or inside OUT when it is a folder (under
    `default`'s file name). ValueError for an extension `render` cannot write; SystemExit
    when the place cannot take a file."""
    from .viz.graph import picture_path

    folder = str(out).endswith(("/", os.sep))  # `out/`, which need not exist yet
    out = Path(out)
    try:
        folder = folder or out.is_dir()
    except OSError as e:  # a name too long
        raise SystemExit(f"error: --graph {str(out)[:80]}: cannot write there "
                         f"({e.strerror or e})") from None
    if folder:
        out = out / Path(default).name
    _, picture = picture_path(out)
    writable(picture, "--graph")
    return picture


def graph_clash(graph, other, flag):
    """SystemExit when `other` (another output of the run, given as `flag`) is one of the
    files `--graph` writes: its picture or the DOT source next to it. Checked before
    training: the one written last would silently replace the other."""
    if graph and other:
        picture = Path(graph)
        try:
            mine = {picture.resolve(), picture.with_suffix(".dot").resolve()}
            other_path = Path(other).resolve()
        except (OSError, RuntimeError):  # a symlink loop (3.11 raises RuntimeError): the
            return  # read or the write then says so in its own words
        if other_path in mine:
            raise SystemExit(f"error: {flag} {other}: --graph writes there too ({picture} and "
                             f"its .dot); give them different paths")


BAR_MIN, BAR_MAX = 10, 40  # the progress bar's width: its fields give way below BAR_MIN


@contextlib.contextmanager
def progress(total, description="training", seconds=None, start=None):
    """A rich progress bar on stderr; yields `update(**fields)` to call once per step, e.g.
    `update(loss=1.23)`. Shows loss and steps per second; stays quiet when not a terminal.

    With `seconds` (a time budget; the run stops at `total` steps or when the budget is
    spent, whichever comes first) the bar fills with whichever is further along, and shows
    the steps done: a run of `--time-budget 590 --steps 1000000` showed 1,234/1,000,000 and
    hours remaining when it had minutes to go. `start`: the run's own clock origin
    (time.perf_counter()), so that the bar's time is the one the run stops by: at the end the
    bar shows how much of the budget was spent (it showed 98% after the run had stopped at
    its budget, having last been updated a step before)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    # rich sends print() above a live bar by swapping sys.stdout for the bar's console (on
    # stderr): only when stdout is that terminal too, else `> log` lost the demo's lines
    on_screen = isatty(sys.stdout)
    count = (MofNCompleteColumn() if seconds is None
             else TextColumn("{task.fields[steps]} steps  {task.percentage:>3.0f}%"))
    bar_column = BarColumn()
    columns = [TextColumn("[bold]{task.description}"), bar_column, count,
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    start = time.perf_counter() if start is None else start
    done = 0
    with Progress(*columns, console=console, transient=False, redirect_stdout=on_screen,
                  disable=not bar_shown(console, sys.stderr)) as bar:
        task = bar.add_task(description, total=total if seconds is None else 1.0, info="",
                            steps=0)

        def update(**fields):
            nonlocal done
            done += 1
            elapsed = max(time.perf_counter() - start, 1e-9)
            parts = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in fields.items()] + [f"{done / elapsed:.1f} it/s"]
            # rich cuts every column alike when the line is too long (at 80 columns charlm's
            # count and times lost their digits): the last fields give way first instead
            counted = len(f"{total}") * 2 + 1 if seconds is None else len(f"{done:,}") + 12
            room = console.width - len(description) - counted - 2 * 7 - 5  # times, spaces
            while parts and len("  ".join(parts)) > room - BAR_MIN:
                parts.pop()
            info = "  ".join(parts)
            bar_column.bar_width = min(max(room - len(info), BAR_MIN), BAR_MAX)
            if seconds is None:
                bar.update(task, completed=done, info=info)
            else:
                far = max(done / total if total else 1.0, elapsed / seconds if seconds > 0 else 1.0)
                bar.update(task, completed=min(far, 1.0), info=info, steps=f"{done:,}")

        yield update
        if seconds is not None and seconds > 0:  # where the run ended, by the same clock
            bar.update(task, completed=min(max(done / total if total else 1.0,
                                               (time.perf_counter() - start) / seconds), 1.0))


class StopBetweenSteps:
    """Within `with`, Ctrl-C (SIGINT) and SIGTERM (`kill`, `timeout`, a scheduler's stop) set
    `.asked` to the signal's name instead of ending the process, so that a training loop can
    stop between two steps, with every parameter and optimizer state from one and the same
    step, and save them. A second one quits at once: KeyboardInterrupt for Ctrl-C,
    SystemExit(143) for SIGTERM."""

    SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def __init__(self):
        self.asked, self.signum, self._old = None, None, {}

    def _on_signal(self, signum, frame):
        if self.asked:
            if signum == signal.SIGTERM:  # said as itself, with its own status (not Ctrl-C's)
                print("\nSIGTERM again: quitting at once", file=sys.stderr, flush=True)
                raise SystemExit(128 + signal.SIGTERM)
            raise KeyboardInterrupt
        self.asked, self.signum = self.SIGNALS[signum], signum
        print(f"\n{self.asked}: stopping after this step ({self.asked} again to quit at once)",
              file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # where signals arrive
            self._old = {s: signal.signal(s, self._on_signal) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            if old is not None:  # None: a handler not set from Python, which cannot be restored
                signal.signal(s, old)


# --graph on a sequence longer than this draws its first and last GRAPH_ENDS steps only, unless
# the caller passes max_steps: dot lays out every node (an LSTM at T=200 took 15 s and made a
# 5 MB picture 142,000 points wide; with the ends alone, 1 s)
LONG_GRAPH = 24
GRAPH_ENDS = 3


def show_graph(loss, out, model=None, **draw_kwargs):
    """Render `loss`'s graph (with gradient norms: this runs the backward) and say where it
    went. A missing `dot` program is not an error: the DOT source is written and the message
    says how to install Graphviz. The orange path is an LSTM's c, or a GRU's h (`draw`'s
    highlight="auto"), and edges fade with log ‖grad‖ (edge_grads), unless `draw_kwargs` say
    otherwise. A graph of more than LONG_GRAPH timesteps is drawn by its ends (max_steps),
    and the message says so, unless `draw_kwargs` give max_steps."""
    from .autograd import toposort
    from .viz.graph import render
    from .viz.scene import _step, computes

    draw_kwargs.setdefault("highlight", "auto")
    draw_kwargs.setdefault("edge_grads", True)  # edges fade where the gradient vanishes
    if "max_steps" not in draw_kwargs and not draw_kwargs.get("folded"):
        # the t where something is computed, not only picked (scene._count_steps's count)
        steps = len({_step(t) for t in toposort(loss) if computes(t)} - {None})
        if steps > LONG_GRAPH:
            draw_kwargs["max_steps"] = GRAPH_ENDS
            print(f"the graph has {steps} timesteps: drawing the first and last {GRAPH_ENDS} "
                  "(viz.graph.render(..., max_steps=None) draws them all, slowly)")
    try:
        paths, message = render(loss, out, params=model, grads=True, **draw_kwargs)
    except (OSError, ValueError) as e:  # the path was checked before training; a disk may fill
        raise SystemExit(f"error: --graph {out}: {e}") from None
    for p in paths:
        print(f"wrote {p}")
    if message:
        print(message)
    return paths


def show_steps(loss, args, title=None, model=None, quit="quit"):
    """Step through `loss`'s backward in the terminal (this runs the backward). `model` (a
    Module or a {name: Parameter} dict) names the parameters on screen; `quit`, what `q` does
    (stepper.step)."""
    from .viz.stepper import step

    return step(loss, no_pause=args.no_pause, auto=args.auto, title=title, params=model,
                quit=quit)


def graph_and_steps(args, make_loss, model=None, title=None):
    """What `--graph` and `--step` ask for, on one more training step: `make_loss()` builds
    its loss afresh for each, since drawing runs the backward and so does stepping. `model`
    (a Module or a {name: Parameter} dict) names the parameters in both; their .grad is set
    to None before each (a training step's is zeroed first), so that after it each holds what
    the picture or the screens showed, not that plus the last training step's."""
    from .viz.scene import param_pairs

    def fresh_loss():
        for _, p in param_pairs(model, "graph_and_steps"):
            p.grad = None
        return make_loss()

    if args.graph:
        show_graph(fresh_loss(), args.graph, model=model)
    if args.step:
        show_steps(fresh_loss(), args, title=title, model=model)


def list_demos():
    return sorted(p.stem for p in DEMOS_DIR.glob("*.py") if not p.stem.startswith("_"))


def main(argv=None):
    """`tinygrad-lstm DEMO [flags]`: run one of the demos (list them with `tinygrad-lstm`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # before the demos folder: a plain install has none
        from . import __version__
        print(f"tinygrad-lstm {__version__}")
        return 0
    usage = "usage: tinygrad-lstm DEMO [--graph [OUT]] [--step] [--steps N] [--seed S] ..."
    asked_help = not argv or argv[0] in ("-h", "--help", "list")
    if not have_demos():
        if asked_help:
            print(usage)
        print(f"tinygrad-lstm: no demos folder at {DEMOS_DIR} (the demos ship with the "
              "repository; install it with `pip install -e .` from a checkout)", file=sys.stderr)
        return 0 if asked_help else 2
    demos = list_demos()
    if asked_help:
        print(usage)
        print("demos: " + ", ".join(demos))
        return 0
    name = argv[0]
    if name not in demos:
        print(f"tinygrad-lstm: no demo {name!r}; the demos are: {', '.join(demos)}",
              file=sys.stderr)
        return 2
    sys.argv = [str(DEMOS_DIR / f"{name}.py"), *argv[1:]]
    os.environ["TINYGRAD_LSTM_PROG"] = f"tinygrad-lstm {name}"  # for the demo's usage line
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        del os.environ["TINYGRAD_LSTM_PROG"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
