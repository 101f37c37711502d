"""Where the GRU's forward time goes: the engine's layer against plain numpy doing its work.

Three forwards over the same (T, B, V) one-hot input and weights, one thread, interleaved:

    engine     nn.GRU's forward (records 20 nodes a timestep)
    replay     the engine's numpy calls in the engine's order, each result a fresh array, as
               its ops make them (no nodes)
    in place   the same calls writing into their inputs where the reference's loop does
               (σ and tanh over the add they read, the last add into a product)

engine − replay is what recording costs a timestep beyond the numpy work; replay − in place
is what the fresh arrays cost. Prints µs a timestep (median CPU time of the forward over T).

    python benchmarks/gru_forward.py                 # B, H = 1, 8; 1, 256; 32, 256; 64, 256
    python benchmarks/gru_forward.py --shape 32,256 --rounds 60
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy is imported, as bench.py does

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tinygrad_lstm import Tensor, nn, ops  # noqa: E402

V, T = 65, 64


def forwards(B, H, seed=0):
    """The three forwards of one size, as {name: fn}."""
    f = np.float32
    rng = np.random.default_rng(seed)
    layer = nn.GRU(V, H, dtype=f, rng=rng)
    x = Tensor(np.eye(V, dtype=f)[rng.integers(0, V, (T, B))])
    W_ih, W_hh = layer.weight_ih_l0.data, layer.weight_hh_l0.data
    b = layer.bias_ih_l0.data + np.concatenate([layer.bias_hh_l0.data[:2 * H], np.zeros(H, f)])
    b_hn = layer.bias_hh_l0.data[2 * H:]
    X = x.data.reshape(T * B, V)
    one = np.array(1, f)
    bound = np.full((B, H), -88.0, f)  # σ's clip, as ops.Sigmoid takes it
    lo, hi = ops.TRANSPOSED_ROWS
    flipped = lo <= B <= hi and W_hh.size >= ops.TRANSPOSED_SIZE

    def recurrent(h):  # ops._matmul's layout for h @ W_hhᵀ
        return np.dot(W_hh, h.T).T if flipped else np.dot(h, W_hh.T)

    def sigmoid(a, out=None):
        y = np.maximum(a, bound, out=out)
        np.negative(y, y)
        np.exp(y, y)
        np.add(y, one, y)
        return np.divide(one, y, y)

    def numpy_forward(in_place):
        A = np.matmul(X, W_ih.T).reshape(T, B, 3 * H)
        A += b
        h, hs = np.zeros((B, H), f), []
        for t in range(T):
            x_r, x_z, x_n = A[t][:, :H], A[t][:, H:2 * H], A[t][:, 2 * H:]
            hh = recurrent(h)
            a_r, a_z = x_r + hh[:, :H], x_z + hh[:, H:2 * H]
            r = sigmoid(a_r, a_r if in_place else None)
            z = sigmoid(a_z, a_z if in_place else None)
            m = r * (hh[:, 2 * H:] + b_hn)
            a_n = np.add(x_n, m, out=m if in_place else None)
            n = np.tanh(a_n, out=a_n if in_place else None)
            kept, new = (one - z) * n, z * h
            h = np.add(kept, new, out=kept if in_place else None)
            hs.append(h)
        return np.stack(hs)

    return {"engine": lambda: layer(x), "replay": lambda: numpy_forward(False),
            "in place": lambda: numpy_forward(True)}


def check(fns):
    """The replays must compute what the engine does (the same h at every step), else the
    comparison times other work."""
    out, _ = fns["engine"]()
    for name in ("replay", "in place"):
        got = fns[name]()
        if not np.allclose(got, out.data, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"gru_forward: the {name} forward differs from the engine's "
                                 f"by up to {np.abs(got - out.data).max():.3g}")


def measure(B, H, rounds):
    fns = forwards(B, H)
    check(fns)  # also the warm-up
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return {name: statistics.median(v) / T * 1e6 for name, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", metavar="B,H",
                        help="batch and hidden size (repeatable; default: four shapes)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    shapes = [tuple(map(int, s.split(","))) for s in args.shape or
              ["1,8", "1,256", "32,256", "64,256"]]
    print(f"GRU forward, T={T}, V={V}, float32, 1 thread; µs a timestep, median of "
          f"{args.rounds} rounds\n")
    print("| B | H | engine | replay | in place | engine − replay | replay − in place |")
    print("|--:|--:|--:|--:|--:|--:|--:|")
    for B, H in shapes:
        m = measure(B, H, args.rounds)
        e, r, i = m["engine"], m["replay"], m["in place"]
        print(f"| {B} | {H} | {e:.1f} | {r:.1f} | {i:.1f} | {e - r:.1f} | {r - i:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
