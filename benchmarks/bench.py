#!/usr/bin/env python
"""Times one char-LM training step: the engine against a hand-derived numpy BPTT and PyTorch.

The step (README.md, "Speed"): V = 65 one-hot inputs (T, B, V), one recurrent layer (LSTM,
GRU or tanh RNN), a Linear head, mean softmax cross-entropy over all T·B positions, backward
through all T, plain SGD (p -= lr·dp). Implementations, all started from the same weights:

    reference    benchmarks/reference.py: numpy, BPTT derived by hand (the yardstick)
    engine       tinygrad_lstm: nn.LSTM/GRU/RNN + nn.Linear + F.cross_entropy, loss.backward()
    torch eager  PyTorch running the same cell equations op by op in a Python loop
    torch fused  torch.nn.LSTM / GRU / RNN (one C++ kernel per layer)

Before timing: every implementation's gradients must equal the reference's in float64 on a
small case, and every first-step float32 loss must agree with the reference's at the
benchmark size.

Timing: threads pinned (OMP/OPENBLAS/MKL_NUM_THREADS set before numpy is imported, and
torch.set_num_threads); warm-up rounds, then rounds in which each implementation's step is
timed alone (gc.collect() before it), interleaved (ABCABC...) so that drift hits all of them
alike: at least 15, and for short steps as many as fit in 20 s a case, up to 61 (--rounds N
for exactly N); the imports' objects are gc.freeze()-d first (see main). Reported: median, min, max
(ms) and the ratio of medians to the reference. The clock is the process's CPU time with one thread (descheduled time does not count, so a busy
machine disturbs the ratios less) and the wall clock otherwise (--clock).

Memory: the peak above the baseline, per implementation in a fresh subprocess: imports and a
warm-up step on a tiny case (lazy imports, BLAS buffers), then the weights and data; that is
the baseline; then one full-size step. Two measures:
    rss     the kernel's peak resident set during that step (VmHWM, reset through
            /proc/self/clear_refs) minus the resident set at the baseline: everything the
            process touched, torch included, allocator slack included.
    traced  tracemalloc's peak over a second step: numpy reports every array buffer to
            tracemalloc, so this is the exact peak of live Python objects and numpy arrays
            (BLAS's preallocated scratch excluded); numpy implementations only.

    python benchmarks/bench.py                      # the full grid, 1 thread (about 15 min)
    python benchmarks/bench.py --only lstm --grid 32,64,256 --threads 2
    python benchmarks/bench.py --quick              # tiny grid, 2 rounds (the smoke test)
"""

from __future__ import annotations

import os
import sys


def _early_threads(argv):
    """--threads N, read before numpy is imported (BLAS fixes its pool size at import)."""
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


THREADS = _early_threads(sys.argv[1:])
if "numpy" in sys.modules:  # pragma: no cover - only when imported after numpy
    print("bench: numpy was imported before the thread pins; run this file as a script",
          file=sys.stderr)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = THREADS

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import reference as ref  # noqa: E402

torch = None  # imported by load_torch() only when a torch implementation runs


def load_torch():
    """Import torch (an optional peer) pinned to THREADS; False when it is not installed."""
    global torch
    if torch is None:
        try:
            import torch as t
        except ImportError:
            return False
        t.set_num_threads(int(THREADS))
        torch = t
    return True

V = 65    # vocabulary: one-hot inputs and logits
LR = 0.1  # plain SGD step size

GRID = [(32, 32, 128), (32, 64, 256), (1, 25, 100), (64, 128, 512)]  # (B, T, H) for every kind
RNN_LONG = [(8, 100, 32), (8, 1000, 32), (8, 5000, 32)]              # tanh RNN only
QUICK = [(4, 6, 16), (1, 5, 8)]
QUICK_RNN = [(2, 20, 8), (2, 60, 8)]

IMPLS = ("reference", "engine", "torch eager", "torch fused")
# By default a case gets at least 15 timed rounds, and more (up to MAX_ROUNDS) while they fit
# in ROUND_BUDGET seconds: a short step's median then rests on more samples at little cost.
ROUNDS, ROUND_BUDGET, MAX_ROUNDS = 15, 20.0, 61


@dataclass
class Case:
    kind: str
    B: int
    T: int
    H: int

    @property
    def label(self):
        return f"{self.kind.upper()} B={self.B} T={self.T} H={self.H}"


def make_data(case, dtype=np.float32, seed=0):
    """Parameters (torch names), one-hot x (T, B, V) and integer targets (T, B)."""
    rng = np.random.default_rng(seed)
    params = ref.init_params(case.kind, V, case.H, rng, dtype)
    ids = rng.integers(0, V, size=(case.T, case.B))
    targets = rng.integers(0, V, size=(case.T, case.B))
    return params, ref.one_hot(ids, V, dtype), targets


# ---------------------------------------------------------------------------------------------
# The implementations: make_X(kind, params, x, targets) -> (step, grads); step() runs one
# training step and returns its loss, grads() the last step's gradients by torch name.


def make_reference(kind, params, x, targets):
    params = {k: v.copy() for k, v in params.items()}
    last = {}

    def step():
        loss, grads, _ = ref.forward_backward(kind, params, x, targets)
        ref.sgd_step(params, grads, LR)
        last["grads"] = grads
        return loss

    return step, lambda: last["grads"]


def make_engine_parts(kind, params, x, targets):
    """The engine's step in its parts, for sections.py to time apart: forward() -> out (the
    layer's, grads cleared first), loss_of(out) -> loss (head and mean cross-entropy),
    backward(loss), update() (plain SGD); and grads() as make_X's."""
    from tinygrad_lstm import Tensor, nn
    import tinygrad_lstm.functional as F

    H, dtype = params["weight_hh_l0"].shape[1], params["weight_hh_l0"].dtype
    layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](V, H, dtype=dtype)
    head = nn.Linear(H, V, dtype=dtype)
    layer.load_state_dict({k: v for k, v in params.items() if not k.startswith("head.")})
    head.load_state_dict({"weight": params["head.weight"], "bias": params["head.bias"]})
    named = [(k, p) for k, p in layer.named_parameters()] + \
            [("head." + k, p) for k, p in head.named_parameters()]
    xt = Tensor(x)

    def forward():
        for _, p in named:
            p.grad = None
        out, _ = layer(xt)                          # (T, B, H)
        return out

    def loss_of(out):
        return F.cross_entropy(head(out), targets)  # mean over the T·B positions

    def backward(loss):
        loss.backward()

    def update():
        for _, p in named:
            p.data -= LR * p.grad                   # plain SGD

    return forward, loss_of, backward, update, lambda: {k: p.grad for k, p in named}


def make_engine(kind, params, x, targets):
    forward, loss_of, backward, update, grads = make_engine_parts(kind, params, x, targets)

    def step():
        loss = loss_of(forward())
        backward(loss)
        update()
        return loss.item()

    return step, grads


def _torch_params(params):
    return {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}


def _torch_finish(out, P, targets, named_params):
    """Head, loss, backward and the SGD update shared by both torch implementations."""
    logits = out @ P["head.weight"].T + P["head.bias"]            # (T, B, V)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets)
    loss.backward()
    with torch.no_grad():
        for p in named_params:
            p -= LR * p.grad
    return loss.item()


def make_torch_eager(kind, params, x, targets):
    """The cell equations op by op, input projection hoisted over all T as in the engine."""
    P = _torch_params(params)
    xt, tt = torch.tensor(x), torch.tensor(targets.reshape(-1))
    T, B, _ = x.shape
    H = params["weight_hh_l0"].shape[1]
    W_ih, W_hh, b_ih, b_hh = (P[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                               "bias_hh_l0"))

    def step():
        for p in P.values():
            p.grad = None
        h = torch.zeros(B, H, dtype=xt.dtype)
        c = torch.zeros(B, H, dtype=xt.dtype)
        w_hh = W_hh.T
        hs = []
        if kind == "lstm":
            xw = xt @ W_ih.T + (b_ih + b_hh)
            for t in range(T):
                i, f, g, o = (xw[t] + h @ w_hh).chunk(4, 1)
                i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
                c = f * c + i * g
                h = o * c.tanh()
                hs.append(h)
        elif kind == "gru":
            xw = xt @ W_ih.T + b_ih
            for t in range(T):
                x_r, x_z, x_n = xw[t].chunk(3, 1)
                h_r, h_z, h_n = (h @ w_hh + b_hh).chunk(3, 1)
                r = (x_r + h_r).sigmoid()
                z = (x_z + h_z).sigmoid()
                n = (x_n + r * h_n).tanh()
                h = (1 - z) * n + z * h
                hs.append(h)
        else:
            xw = xt @ W_ih.T + (b_ih + b_hh)
            for t in range(T):
                h = (xw[t] + h @ w_hh).tanh()
                hs.append(h)
        return _torch_finish(torch.stack(hs), P, tt, P.values())

    return step, lambda: {k: p.grad.numpy() for k, p in P.items()}


def make_torch_fused(kind, params, x, targets):
    H, dtype = params["weight_hh_l0"].shape[1], params["weight_hh_l0"].dtype
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    layer = cls(V, H, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for k, p in layer.named_parameters():
            p.copy_(torch.from_numpy(params[k]))
    P = {k: p for k, p in layer.named_parameters()}
    P.update({k: torch.tensor(params[k], requires_grad=True)
              for k in ("head.weight", "head.bias")})
    xt, tt = torch.tensor(x), torch.tensor(targets.reshape(-1))

    def step():
        for p in P.values():
            p.grad = None
        out, _ = layer(xt)
        return _torch_finish(out, P, tt, P.values())

    return step, lambda: {k: p.grad.numpy() for k, p in P.items()}


MAKERS = {"reference": make_reference, "engine": make_engine,
          "torch eager": make_torch_eager, "torch fused": make_torch_fused}


def available(impls):
    if any(i.startswith("torch") for i in impls) and not load_torch():
        print("bench: torch is not installed; timing the numpy implementations only",
              file=sys.stderr)
    return [i for i in impls if torch is not None or not i.startswith("torch")]


# ---------------------------------------------------------------------------------------------
# Checks before timing


def check_gradients(kind, impls):
    """float64, small case: every implementation's gradients equal the reference's."""
    case = Case(kind, B=3, T=7, H=6)
    params, x, targets = make_data(case, np.float64, seed=1)
    _, want, _ = ref.forward_backward(kind, params, x, targets)
    for impl in impls:
        if impl == "reference":
            continue
        step, grads = MAKERS[impl](kind, params, x, targets)
        step()
        got = grads()
        for k, w in want.items():
            np.testing.assert_allclose(got[k], w, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{impl} {kind}: gradient of {k} differs from "
                                               "the reference (float64)")


# ---------------------------------------------------------------------------------------------
# Timing


def round_settings(args):
    """(timed rounds, budget in seconds or None) from the command line: --rounds N is exactly N
    (no budget), --quick 2; otherwise at least ROUNDS, more while they fit in ROUND_BUDGET."""
    rounds = args.rounds or (2 if args.quick else ROUNDS)
    budget = None if args.rounds or args.quick else ROUND_BUDGET
    return rounds, budget


def planned_rounds(rounds, budget, round_seconds):
    """How many timed rounds to run: `rounds`, or with a `budget` (seconds) as many rounds of
    `round_seconds` as fit in it when that is more, at most MAX_ROUNDS."""
    if not budget or not round_seconds:
        return rounds
    return max(rounds, min(MAX_ROUNDS, int(budget / round_seconds)))


def balanced_orders(n):
    """Orders of range(n) in which every ordered pair (a, b), a != b, stands side by side
    equally often (a Williams design: n orders for even n, 2n for odd n)."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(i + k) % n for i in first] for k in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def check_step(case, impls, losses, grads=None):
    """At the benchmark's size, in float32: every implementation's loss of this round agrees
    with the reference's (rtol 1e-5: the implementations differ by ~1e-7; a step that skipped
    its update, or a recurrence that never ran, differs by 1e-4 or more), and with `grads`
    ({impl: {name: array}}, the first step's) each gradient's relative error, by norm, is
    under 1e-3 (they agree to ~1e-6; a swapped gate block or a lost piece of a weight's
    gradient is off by 1e-2 or more). The loss alone cannot tell these apart: at the first
    step it is about ln 65 whatever the layer computes."""
    for impl in impls:
        if not np.isclose(losses[impl], losses["reference"], rtol=1e-5, atol=0):
            raise AssertionError(f"{case.label}: {impl}'s float32 loss {losses[impl]:.7f} "
                                 f"differs from the reference's {losses['reference']:.7f}")
        if grads is None or impl == "reference":
            continue
        for k, want in grads["reference"].items():
            got = np.asarray(grads[impl][k], dtype=np.float64)
            err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
            if not err < 1e-3:
                raise AssertionError(f"{case.label}: {impl}'s gradient of {k} differs from the "
                                     f"reference's by {err:.2e} (relative, by norm)")


def time_case(case, impls, rounds, warmup, clock, progress=None, task=None, budget=None,
              wall=time.perf_counter):
    """{impl: [seconds per step]}, the steps interleaved; the warm-up rounds also check every
    implementation against the reference at this size (check_step). The rounds take their
    order from balanced_orders in turn, so that over a cycle of them each implementation runs
    right after each other one equally often: the first step after another program's is
    slower (its data and code are colder), and in a fixed order one implementation would
    always pay that after the same one (the reference after torch's fused step). With a
    `budget` (seconds), more than `rounds` rounds run when they fit in it, as measured by
    `wall` on the last warm-up round (planned_rounds)."""
    params, x, targets = make_data(case)
    made = {impl: MAKERS[impl](case.kind, params, x, targets) for impl in impls}
    steps = {impl: step for impl, (step, _) in made.items()}
    names = list(steps)
    orders = [[names[i] for i in row] for row in balanced_orders(len(names))]
    times = {impl: [] for impl in impls}
    turn = [0]

    def one_round(keep, check=None):
        start = wall()
        order = orders[turn[0] % len(orders)]
        turn[0] += 1
        losses = {}
        for impl in order:
            gc.collect()
            t0 = clock()
            losses[impl] = steps[impl]()
            dt = clock() - t0
            if keep:
                times[impl].append(dt)
        if check is not None:
            check(losses)
        if progress is not None:
            progress.advance(task)
        return wall() - start

    first_grads = {}

    def check_first(losses):  # the first step's gradients, before another step replaces them
        first_grads.update({impl: {k: np.array(g) for k, g in grads().items()}
                            for impl, (_, grads) in made.items()})
        check_step(case, impls, losses, first_grads)

    last = one_round(False, check_first)  # a round's time, unless a later warm-up measures it
    for _ in range(warmup - 1):  # every later warm-up round's loss too (a skipped update)
        last = one_round(False, lambda losses: check_step(case, impls, losses))
    if warmup == 1:  # a second step is needed to see an update that did not happen
        one_round(False, lambda losses: check_step(case, impls, losses))
    more = planned_rounds(rounds, budget, last) - rounds
    if more > 0:
        rounds += more
        if progress is not None:
            progress.update(task, total=progress.tasks[0].total + more)
    turn[0] = 0  # the timed rounds start a cycle of the orders (whole cycles: exactly even)
    for _ in range(rounds):
        one_round(True)
    return times


# ---------------------------------------------------------------------------------------------
# Memory, in a fresh subprocess per implementation


def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_memory_here(case, impl):
    """Peak bytes above the baseline for one step of `impl` (call in a fresh process)."""
    import tracemalloc
    if impl.startswith("torch"):
        load_torch()
    tiny = Case(case.kind, 2, 3, 8)    # warm-up on a tiny case: lazy imports, BLAS buffers
    MAKERS[impl](tiny.kind, *make_data(tiny))[0]()
    params, x, targets = make_data(case)
    step, _ = MAKERS[impl](case.kind, params, x, targets)
    gc.collect()
    result = {}
    if _reset_peak():                   # the first full-size step: nothing cached yet
        base = _rss_kb("VmRSS")
        step()
        result["rss"] = (_rss_kb("VmHWM") - base) * 1024
    else:
        import resource
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        result["rss"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
    if not impl.startswith("torch"):  # torch's allocations are invisible to tracemalloc
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        result["traced"] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    return result


def measure_memory(case, impl):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", THREADS, "--_memory",
           json.dumps([case.kind, case.B, case.T, case.H, impl])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"memory run of {impl} at {case.label} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Report


def fmt_ms(s):
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def fmt_mb(b):
    return "" if b is None else f"{b / 2**20:.1f}"


def table(results):
    lines = ["| case | implementation | median ms | min | max | × ref | peak MB rss | "
             "peak MB traced |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    for case, rows in results:
        ref_med = statistics.median(rows["reference"]["times"])
        for impl, r in rows.items():
            ts = r["times"]
            med = statistics.median(ts)
            mem = r.get("memory", {})
            lines.append(f"| {case.label} | {impl} | {fmt_ms(med)} | {fmt_ms(min(ts))} | "
                         f"{fmt_ms(max(ts))} | {med / ref_med:.2f} | {fmt_mb(mem.get('rss'))} | "
                         f"{fmt_mb(mem.get('traced'))} |")
    return "\n".join(lines)


def goals(results):
    """The speed goals (README.md, "Speed") that this run's cases cover: [(goal, measured, met)]."""
    by = {(c.kind, c.B, c.T, c.H): rows for c, rows in results}

    def ratio(key, impl="engine"):
        rows = by[key]
        return statistics.median(rows[impl]["times"]) / statistics.median(
            rows["reference"]["times"])

    out = []
    k = ("lstm", 32, 64, 256)
    if k in by:
        r = ratio(k)
        out.append(("LSTM B=32 T=64 H=256 ≤ 1.10×", f"{r:.2f}×", r <= 1.10))
        if "torch eager" in by[k]:
            e = ratio(k, "torch eager")
            out.append(("… and below torch eager", f"{r:.2f}× vs {e:.2f}×", r < e))
    k = ("gru", 32, 64, 256)
    if k in by:
        r = ratio(k)
        out.append(("GRU B=32 T=64 H=256 ≤ 1.15×", f"{r:.2f}×", r <= 1.15))
    k = ("lstm", 1, 25, 100)
    if k in by:
        r = ratio(k)
        out.append(("LSTM B=1 T=25 H=100 ≤ 3×", f"{r:.2f}×", r <= 3.0))
    longs = sorted(key for key in by if key[0] == "rnn" and key[1] == 8 and key[3] == 32)
    if longs:
        rs = [ratio(key) for key in longs]
        out.append(("RNN B=8 H=32 ≤ 4× at every T",
                    ", ".join(f"T={key[2]}: {r:.2f}×" for key, r in zip(longs, rs)),
                    max(rs) <= 4.0))
        if len(longs) > 1:
            med = [statistics.median(by[key]["engine"]["times"]) for key in longs]
            per = [m / key[2] for m, key in zip(med, longs)]
            growth = per[-1] / per[0]
            text = f"{growth:.2f}× ({per[0] * 1e6:.0f} → {per[-1] * 1e6:.0f} µs/step)"
            if len(longs) > 2:
                # what each added timestep costs, between the first two lengths and the last
                # two: the step's fixed costs (head, loss) do not flatter it, as they do the
                # step/T figure at small T
                Ts = [key[2] for key in longs]
                first = (med[1] - med[0]) / (Ts[1] - Ts[0])
                last = (med[-1] - med[-2]) / (Ts[-1] - Ts[-2])
                if first > 0 and last > 0:  # lengths close together: noise can make it ≤ 0
                    text += (f"; per added step {first * 1e6:.0f} → {last * 1e6:.0f} µs "
                             f"({last / first:.2f}×)")
            out.append((f"RNN per-timestep cost T={longs[0][2]}→{longs[-1][2]} ≤ 1.2×",
                        text, growth <= 1.2))
    k = ("lstm", 64, 128, 512)
    if k in by and "memory" in by[k]["engine"]:
        for m in ("rss", "traced"):
            e, r = by[k]["engine"]["memory"].get(m), by[k]["reference"]["memory"].get(m)
            if e is not None and r:
                out.append((f"LSTM B=64 T=128 H=512 peak memory ({m}) ≤ 1.3×",
                            f"{e / r:.2f}× ({fmt_mb(e)} vs {fmt_mb(r)} MB)", e / r <= 1.3))
    return out


def goals_table(rows):
    lines = ["| goal | measured | met |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {'yes' if ok else '**no**'} |" for g, m, ok in rows]
    return "\n".join(lines)


def machine():
    blas = "?"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001 - older numpy has no dict mode
        pass
    tv = f", torch {torch.__version__}" if torch is not None else ""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__} ({blas}){tv}, {THREADS} thread(s)")


# ---------------------------------------------------------------------------------------------


def _count(least):
    """An argparse type: an int >= least, else a message naming the value."""
    def count(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < least:
            raise argparse.ArgumentTypeError(f"{v} is less than {least}")
        return v
    return count


def _grid_point(text):
    """An argparse type: "B,T,H", three positive ints."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not B,T,H (three positive whole numbers)")
    return tuple(int(p) for p in parts)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny grid, 2 rounds (smoke test)")
    p.add_argument("--only", choices=["lstm", "gru", "rnn"], action="append",
                   help="only this kind (repeatable)")
    p.add_argument("--grid", action="append", metavar="B,T,H", type=_grid_point,
                   help="only this (B, T, H) (repeatable); default: the full grid")
    p.add_argument("--impl", action="append", choices=IMPLS,
                   help="only these implementations (the reference always runs)")
    p.add_argument("--rounds", type=_count(1), default=None,
                   help=f"timed rounds, exactly (default: at least {ROUNDS}, and as many as fit "
                        f"in {ROUND_BUDGET:g} s a case, up to {MAX_ROUNDS}; quick 2)")
    p.add_argument("--warmup", type=_count(1), default=2,
                   help="untimed rounds first (default 2; the first also checks the losses)")
    p.add_argument("--threads", default="1", help="BLAS/torch threads (default 1)")
    p.add_argument("--clock", choices=["cpu", "wall"], default=None,
                   help="cpu: the process's CPU time (time.process_time), which on one thread "
                        "is the wall time minus time spent descheduled, so a busy machine "
                        "disturbs it less; wall: time.perf_counter. Default: cpu with "
                        "1 thread, wall otherwise")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--_memory", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def build_cases(args):
    kinds = args.only or ["lstm", "gru", "rnn"]
    if args.grid:
        return [Case(k, *g) for k in kinds for g in args.grid]
    grid, longs = (QUICK, QUICK_RNN) if args.quick else (GRID, RNN_LONG)
    cases = [Case(k, *g) for k in kinds for g in grid]
    if "rnn" in kinds:
        cases += [Case("rnn", *g) for g in longs]
    return cases


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args._memory:
        kind, B, T, H, impl = json.loads(args._memory)
        print(json.dumps(measure_memory_here(Case(kind, B, T, H), impl)))
        return 0
    rounds, budget = round_settings(args)
    clock_name = args.clock or ("cpu" if THREADS == "1" else "wall")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    impls = available(["reference"] + [i for i in (args.impl or IMPLS) if i != "reference"])
    cases = build_cases(args)
    # The objects the imports made (torch alone makes ~150,000) are frozen out of the cyclic
    # collector's reach: its full passes then scan what they would in a program without
    # torch, chiefly the engine's own graph (whose scans are part of its cost).
    gc.collect()
    gc.freeze()
    for kind in dict.fromkeys(c.kind for c in cases):
        check_gradients(kind, impls)
    print(f"gradients equal the reference's (float64) for {', '.join(impls[1:])}",
          file=sys.stderr)

    progress = task = None
    if not args.no_progress:
        try:
            from rich.console import Console
            from rich.progress import Progress
            progress = Progress(console=Console(stderr=True), transient=True)
            per_case = rounds + max(args.warmup, 2)  # time_case's rounds, warm-up included
            task = progress.add_task("benchmark", total=len(cases) * per_case)
            progress.start()
        except ImportError:
            progress = None
    results = []
    try:
        for case in cases:
            if progress is not None:
                progress.update(task, description=case.label)
            times = time_case(case, impls, rounds, args.warmup, clock, progress, task, budget)
            rows = {impl: {"times": times[impl]} for impl in impls}
            if not args.no_memory:
                for impl in impls:
                    rows[impl]["memory"] = measure_memory(case, impl)
            results.append((case, rows))
    finally:
        if progress is not None:
            progress.stop()

    how_many = (f"{rounds} to {MAX_ROUNDS} (as many as fit in {ROUND_BUDGET:g} s a case)"
                if budget else str(rounds))
    print(f"One char-LM training step (V={V}, one layer, Linear head, mean cross-entropy, "
          f"BPTT over all T, SGD), float32.\n{machine()}; {how_many} interleaved rounds after "
          f"{args.warmup} warm-up; ms per step ({clock_name} clock); × ref = ratio of medians; "
          "peak memory above the baseline (see the docstring).\n")
    print(table(results))
    if budget:
        print("\nRounds: " + ", ".join(f"{case.label} {len(rows['reference']['times'])}"
                                       for case, rows in results))
    g = goals(results)
    if g and THREADS == "1":
        print("\n" + goals_table(g))
    elif g:
        print("\n(The goals are stated for 1 thread; run without --threads to check them.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
