"""The engine raises CPython's first collector threshold at import (tinygrad_lstm/_gc.py), so
that the graph a training step builds is freed by reference counting before the collector
starts a pass over it. Each check runs in a fresh interpreter: the setting is made once, at
import, and is process-wide."""

import os
import subprocess
import sys

PROGRAM = r"""
import gc, sys
default = gc.get_threshold()[0]  # the interpreter's own: 700, or 2000 from CPython 3.13 on
if len(sys.argv) > 1:
    gc.set_threshold(int(sys.argv[1]))  # what the program had set before the import
import numpy as np
import tinygrad_lstm
from tinygrad_lstm import Tensor, nn
import tinygrad_lstm.functional as F

rng = np.random.default_rng(0)
lstm, head = nn.LSTM(8, 16, rng=rng), nn.Linear(16, 8, rng=rng)
x = Tensor(rng.standard_normal((60, 4, 8)).astype(np.float32))
targets = rng.integers(0, 8, (60, 4))

def step():
    out, _ = lstm(x)
    F.cross_entropy(head(out), targets).backward()

step()
passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
for _ in range(10):
    step()
print(tinygrad_lstm._gc.RAISED, gc.get_threshold()[0], len(passes), default)
"""


def run(*args, gc_env=None):
    env = dict(os.environ)
    env.pop("TINYGRAD_LSTM_GC", None)
    if gc_env is not None:
        env["TINYGRAD_LSTM_GC"] = gc_env
    out = subprocess.run([sys.executable, "-c", PROGRAM, *args], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1]), int(out[2]), int(out[3])


def test_training_steps_set_off_no_collector_pass():
    raised, threshold, passes, _ = run()
    assert raised and threshold == 20_000
    assert passes == 0, f"{passes} collector passes in 10 steps"
    # the control: the same steps at the default threshold do set off passes
    raised, threshold, passes_off, default = run(gc_env="0")
    assert not raised and threshold == default < 20_000
    assert passes_off >= 5, f"only {passes_off} passes without the setting: the test shows nothing"


def test_a_threshold_the_program_set_is_kept():
    assert run("0")[:2] == (False, 0)            # automatic collection switched off: stays off
    assert run("50000")[:2] == (False, 50_000)   # already higher: left as it is
    assert run("1000")[:2] == (True, 20_000)     # lower: raised


def test_restore_process_defaults_puts_the_threshold_back():
    # the raised threshold also delays the program's own cyclic garbage (a review of the
    # package's process-wide settings): it can be undone after the import
    program = """
import gc, sys
default = gc.get_threshold()[0]
import tinygrad_lstm
raised = gc.get_threshold()[0]
print(default, raised, tinygrad_lstm.restore_process_defaults()[0], gc.get_threshold()[0])
gc.set_threshold(5000)  # a threshold the program set itself is its own: left as it is
import tinygrad_lstm._gc as g
g.RAISED = True
print(g.restore(), gc.get_threshold()[0])
"""
    env = dict(os.environ)
    env.pop("TINYGRAD_LSTM_GC", None)
    lines = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    default, raised, restored, now = lines[0].split()
    assert raised == "20000" and restored == "True" and now == default
    assert lines[1].split() == ["False", "5000"]
