"""Which GEMM layout numpy's BLAS runs fastest for a recurrent step's `h @ W_hhᵀ + xw`.

    python benchmarks/gemm_layout.py [--repeats 5] [--quick]

`W_hhᵀ` is a transposed view of the (G·H, H) weight. numpy passes it to BLAS as it is; the
other way to get the same product is `(W_hh @ hᵀ)ᵀ`, the big operand C-ordered and first.
Prints a markdown table of time(other way) / time(as written), product plus the add that
follows it, for G gate blocks, H hidden units and B rows of h (one thread, medians). Below 1
the other way is faster: `tinygrad_lstm.ops._matmul` and `benchmarks/reference.py` take it
where this table says so (8 to 32 rows, W of 2^15 elements or more, on the project's machine).
"""

import argparse
import os
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tinygrad_lstm  # noqa: E402, F401  (its malloc settings, as in a training step)

ROWS = (2, 4, 8, 16, 32, 64, 128, 256)
SHAPES = ((1, 32), (1, 256), (3, 128), (3, 256), (4, 64), (4, 128), (4, 256), (4, 512))


def ratio(G, H, B, repeats, rng):
    W = rng.standard_normal((G * H, H)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    xw = rng.standard_normal((B, G * H)).astype(np.float32)
    WT = W.T
    as_written = lambda: xw + np.dot(h, WT)  # noqa: E731
    other_way = lambda: xw + np.dot(W, h.T).T  # noqa: E731
    np.testing.assert_allclose(as_written(), other_way(), rtol=1e-4, atol=1e-4)
    n = max(5, int(3e6 / (B * G * H * H + 1e4)))
    a, b = [], []
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        a.append(min(timeit.repeat(as_written, number=n, repeat=2)))
        b.append(min(timeit.repeat(other_way, number=n, repeat=2)))
    return np.median(b) / np.median(a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--repeats", type=int, default=5, help="timings per cell (median)")
    ap.add_argument("--quick", action="store_true", help="two cells, for a smoke test")
    args = ap.parse_args()
    rows, shapes = ((8, 32), SHAPES[4:5]) if args.quick else (ROWS, SHAPES)
    rng = np.random.default_rng(0)
    print("| G, H \\ rows | " + " | ".join(map(str, rows)) + " |")
    print("|---|" + "--:|" * len(rows))
    for G, H in shapes:
        cells = [f"{ratio(G, H, B, args.repeats, rng):.2f}" for B in rows]
        print(f"| {G}, {H} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
