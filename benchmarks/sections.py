#!/usr/bin/env python
"""Times one char-LM training step by section: where the engine's time goes beyond the
hand-written reference's (bench.py times the whole step; this says which part of it).

Engine sections (CPU time around each): the layer's forward (input projection included), the
head and loss, `backward()`, the SGD update; and, apart from the step, the same forward under
`no_grad()`, where each op still makes its Function object and saves its inputs but no node
is linked into a graph (nor released after its step, nor `+=` done in place). Reference
sections (reference.forward_backward's own marks): the input projection, the forward loop,
the head and loss, the head's backward, the backward loop, the weight gradients, then the
update. The two run interleaved in one
process, the same weights and data as bench.py's, threads pinned to 1 (--threads N).

    python benchmarks/sections.py                      # LSTM and GRU, B=32 T=64 H=256
    python benchmarks/sections.py --only lstm --rounds 60 --grid 1,25,100
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import bench  # first: it pins the BLAS threads before numpy is imported  # noqa: I001
from bench import Case, make_data, make_engine_parts, ref
from tinygrad_lstm import no_grad

ENGINE = ("forward (layer)", "head and loss", "backward", "update")
REFERENCE = ("input projection", "forward loop", "head and loss", "head's backward",
             "backward loop", "weight gradients", "update")
# the reference's sections that the engine's cover, for the last table
MATCH = {"forward (layer)": ("input projection", "forward loop"),
         "head and loss": ("head and loss",),
         "backward": ("head's backward", "backward loop", "weight gradients"),
         "update": ("update",)}


def time_sections(case, rounds, warmup=2):
    """Medians (ms) of each section of the engine's and the reference's steps."""
    params, x, targets = make_data(case)
    forward, loss_of, backward, update, _ = make_engine_parts(case.kind, params, x, targets)
    P = {k: v.copy() for k, v in params.items()}
    engine = {name: [] for name in ENGINE + ("forward, no_grad",)}
    reference = {name: [] for name in REFERENCE}
    clock = time.process_time
    gc.collect()
    for r in range(warmup + rounds):
        t0 = clock()
        out = forward()
        t1 = clock()
        loss = loss_of(out)
        t2 = clock()
        backward(loss)
        t3 = clock()
        update()
        t4 = clock()
        del out, loss  # the graph is freed here, outside both forwards' clocks
        t4b = clock()
        with no_grad():
            out = forward()
        t5 = clock()
        marks = []
        _, grads, _ = ref.forward_backward(case.kind, P, x, targets, marks=marks)
        ref.sgd_step(P, grads, bench.LR)
        marks.append(clock())
        if r >= warmup:
            for name, a, b in zip(engine, (t0, t1, t2, t3, t4b), (t1, t2, t3, t4, t5)):
                engine[name].append(b - a)
            for name, a, b in zip(REFERENCE, marks, marks[1:]):
                reference[name].append(b - a)
        del out, grads, marks
    ms = lambda times: statistics.median(times) * 1e3  # noqa: E731
    return {k: ms(v) for k, v in engine.items()}, {k: ms(v) for k, v in reference.items()}


def report(case, engine, reference, rounds):
    print(f"\n{case.label}: ms per step, medians of {rounds} interleaved rounds\n")
    print("| engine | ms | reference | ms | engine − reference |")
    print("|---|--:|---|--:|--:|")
    for name, parts in MATCH.items():
        theirs = sum(reference[p] for p in parts)
        print(f"| {name} | {engine[name]:.2f} | {' + '.join(parts)} | {theirs:.2f} | "
              f"{engine[name] - theirs:+.2f} |")
    total_e, total_r = sum(engine[k] for k in ENGINE), sum(reference.values())
    print(f"| **step** | {total_e:.2f} | | {total_r:.2f} | {total_e - total_r:+.2f} "
          f"({total_e / total_r:.3f}×) |")
    print(f"\nThe engine's forward under no_grad(): {engine['forward, no_grad']:.2f} (with the "
          f"graph {engine['forward (layer)']:.2f})")
    print("The reference's sections:", ", ".join(f"{k} {v:.2f}" for k, v in reference.items()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=("lstm", "gru", "rnn"),
                   help="a kind to time (repeatable; default lstm and gru)")
    p.add_argument("--grid", default="32,64,256", help="B,T,H (default 32,64,256)")
    p.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")
    p.add_argument("--threads", default="1", help="BLAS threads, read before numpy's import")
    args = p.parse_args(argv)
    try:
        B, T, H = (int(v) for v in args.grid.split(","))
    except ValueError:
        p.error(f"--grid must be B,T,H, got {args.grid!r}")
    if min(B, T, H) < 1 or args.rounds < 1:
        p.error("--grid sizes and --rounds must be positive")
    print(bench.machine())
    for kind in args.only or ("lstm", "gru"):
        case = Case(kind, B, T, H)
        report(case, *time_sections(case, args.rounds), args.rounds)


if __name__ == "__main__":
    sys.exit(main())
