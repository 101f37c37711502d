"""A tiny LSTM loss stepped through with `step()`: the target of the pseudo-terminal tests.

    python tests/step_target.py [--T 3] [--auto SECONDS] [--no-pause]
"""

import argparse

import numpy as np

from tinygrad_lstm import Tensor, manual_seed, nn
from tinygrad_lstm.viz.stepper import step

p = argparse.ArgumentParser()
p.add_argument("--T", type=int, default=3)
p.add_argument("--auto", type=float, default=None)
p.add_argument("--no-pause", action="store_true")
args = p.parse_args()

rng = manual_seed(0)
lstm = nn.LSTM(2, 3, rng=rng, forget_bias=1.0)
x = Tensor(np.random.default_rng(0).standard_normal((args.T, 1, 2)).astype(np.float32))
out, _ = lstm(x)                                   # (T, 1, 3)
loss = (out * out).mean()
step(loss, auto=args.auto, no_pause=args.no_pause, title=f"LSTM T={args.T}", params=lstm)
