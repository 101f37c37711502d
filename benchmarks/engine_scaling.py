"""Per-node cost of the engine as the graph grows: forward + backward of an N-op chain and of a
tanh RNN unrolled over N steps, for N = 1e3, 1e4, 1e5. The cost per node should stay flat
(a toposort or a walk that is not linear would show here as a rising column).

    python benchmarks/engine_scaling.py [--rounds 5]

Prints a markdown table of median µs per node and the ratio of each N to the smallest, once
with Python's cyclic garbage collector running as usual and once with it paused: the graph is
acyclic and freed by reference counting, but the collector still scans every live node on its
full passes, and that scan (not the engine's toposort or walk) is what grows with N.
"""

import argparse
import gc
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tinygrad_lstm import Tensor, toposort  # noqa: E402


def chain(n):
    """y = ((a * 1.0001) + 0.5) * ... : n ops on a small vector."""
    a = Tensor(np.ones(8, np.float32), requires_grad=True)
    y = a
    for k in range(n):
        y = y * 1.0001 if k % 2 else y + 0.5
    return y.sum()


def tanh_rnn(n):
    """h_t = tanh(x_t + h_{t-1} W) for n/3 steps (getitem, matmul, add, tanh: ~3-4 nodes each)."""
    rng = np.random.default_rng(0)
    steps = n // 4
    W = Tensor(rng.standard_normal((8, 8)).astype(np.float32) * 0.3, requires_grad=True)
    xs = Tensor(rng.standard_normal((steps, 1, 8)).astype(np.float32))
    h = Tensor(np.zeros((1, 8), np.float32))
    for t in range(steps):
        h = (xs[t] + h @ W).tanh()
    return h.sum()


def measure(build, n, rounds, collector):
    times, nodes = [], 0
    for _ in range(rounds):
        gc.collect()
        if not collector:
            gc.disable()
        try:
            start = time.perf_counter()
            loss = build(n)
            loss.backward()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
        nodes = nodes or len(toposort(loss))
        del loss
    return float(np.median(times)), nodes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per size (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000],
                        help="graph sizes N (ops in the chain, steps of the RNN)")
    args = parser.parse_args()
    print("| graph | N | graph nodes | µs per node, gc on | vs smallest N | µs per node, "
          "gc paused | vs smallest N |")
    print("|---|---|---|---|---|---|---|")
    for name, build in (("op chain", chain), ("tanh RNN", tanh_rnn)):
        base = {}
        for n in args.sizes:
            row = []
            for collector in (True, False):
                seconds, nodes = measure(build, n, args.rounds, collector)
                per = seconds / nodes * 1e6
                base.setdefault(collector, per)
                row.append(f"{per:.2f} | {per / base[collector]:.2f}×")
            print(f"| {name} | {n:,} | {nodes:,} | {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
