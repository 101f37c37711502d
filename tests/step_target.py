"""A small LSTM loss stepped through with `step()`: the target of the pseudo-terminal tests,
the timing of the first screen, and the source of docs/img/stepper.svg.

    python tests/step_target.py [--T 3] [--batch 1] [--hidden 3] [--auto S] [--no-pause]
    python tests/step_target.py --T 6 --last --svg docs/img/stepper.svg --keys "t 2,p,p"
"""

import argparse
import io
import time

import numpy as np
from rich.console import Console

from tinygrad_lstm import Tensor, manual_seed, nn
from tinygrad_lstm.viz.stepper import fit_step_panel, navigate, record, step

p = argparse.ArgumentParser()
p.add_argument("--T", type=int, default=3)
p.add_argument("--batch", type=int, default=1)
p.add_argument("--hidden", type=int, default=3)
p.add_argument("--auto", type=float, default=None)
p.add_argument("--no-pause", action="store_true")
p.add_argument("--last", action="store_true", help="loss on the last output only")
p.add_argument("--svg", help="save the screen reached by --keys as an SVG and exit")
p.add_argument("--keys", default="", help="commands for --svg, comma separated")
args = p.parse_args()
start = time.perf_counter()

rng = manual_seed(0)
lstm = nn.LSTM(2, args.hidden, rng=rng, forget_bias=1.0)
x = Tensor(np.random.default_rng(0).standard_normal((args.T, args.batch, 2)).astype(np.float32))
out, _ = lstm(x)                                   # (T, B, H)
y = out[-1] if args.last else out
loss = (y * y).mean()
title = f"LSTM T={args.T}"
if args.svg:
    walk, k = record(loss, lstm), 0
    for cmd in filter(None, args.keys.split(",")):
        k, _ = navigate(walk, k, cmd)
    con = Console(record=True, width=100, height=34, file=io.StringIO())
    con.print(fit_step_panel(con, walk, k, title=title))
    con.save_svg(args.svg, title=f"python tests/step_target.py --T {args.T}"
                                 f"{' --last' if args.last else ''}   ({title}, keys: {args.keys})")
    print(f"wrote {args.svg} (node {k + 1} of {len(walk)}) in {time.perf_counter() - start:.2f}s")
else:
    step(loss, auto=args.auto, no_pause=args.no_pause, title=title, params=lstm)
