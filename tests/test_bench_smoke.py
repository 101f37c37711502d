"""The speed benchmark runs end to end at a tiny size (no timing is asserted: speed is
measured by running benchmarks/bench.py, never by a test)."""

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick",
                        "--no-progress", "--rounds", "1", "--warmup", "1", *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_quick_lstm_table_with_memory():
    out = run_bench("--only", "lstm", "--grid", "3,4,8", "--impl", "engine")
    assert "| LSTM B=3 T=4 H=8 | reference |" in out
    assert "| LSTM B=3 T=4 H=8 | engine |" in out
    row = next(line for line in out.splitlines() if "| engine |" in line)
    assert row.count("|") == 9 and row.split("|")[7].strip()  # peak memory was measured


def test_quick_rnn_goal_rows_without_memory():
    out = run_bench("--only", "rnn", "--impl", "engine", "--no-memory")
    assert "| RNN B=2 T=60 H=8 | engine |" in out
    assert "per-timestep" not in out  # the goal rows name only the real grid's cases


def test_gemm_layout_table_runs():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gemm_layout.py"), "--quick",
                        "--repeats", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "| G, H \\ rows | 8 | 32 |" and lines[1] == "|---|--:|--:|"
    cells = lines[2].strip("|").split("|")
    assert cells[0].strip() == "4, 64" and all(float(c) > 0 for c in cells[1:])


def test_sections_table_runs_and_covers_the_whole_step():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sections.py"), "--grid",
                        "2,3,8", "--rounds", "1", "--only", "lstm", "--only", "rnn"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for kind in ("LSTM", "RNN"):
        assert f"{kind} B=2 T=3 H=8: ms per step" in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ")
            and not line.startswith("| engine")]
    assert [row.split("|")[1].strip() for row in rows[:5]] == [
        "forward (layer)", "head and loss", "backward", "update", "**step**"]
    assert r.stdout.count("The reference's sections: input projection") == 2
    assert r.stdout.count("The engine's forward under no_grad(): ") == 2


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_the_reference_marks_each_of_its_sections_once(kind):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import reference as ref
    rng = np.random.default_rng(0)
    params = ref.init_params(kind, 5, 4, rng)
    x, targets = rng.integers(0, 5, (3, 2)), rng.integers(0, 5, (3, 2))
    marks = []
    loss, grads, _ = ref.forward_backward(kind, params, x, targets, marks=marks)
    assert len(marks) == 7 and marks == sorted(marks)  # start, then the end of 6 sections
    again, grads2, _ = ref.forward_backward(kind, params, x, targets)  # marks change nothing
    assert again == loss and all((grads[k] == grads2[k]).all() for k in grads)


# The number of timed rounds, decided on fake clocks (never the machine's: a test must not
# depend on how busy the machine is): at least ROUNDS, as many as fit in ROUND_BUDGET seconds,
# at most MAX_ROUNDS; --rounds N exactly N.


def test_gru_forward_table_runs_and_its_replays_match_the_engine():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gru_forward.py"), "--shape",
                        "2,8", "--shape", "16,128", "--rounds", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 2 |")
            or line.startswith("| 16 |")]
    assert len(rows) == 2 and all(row.count("|") == 8 for row in rows)


def test_gru_forward_refuses_a_replay_that_differs(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # what its import sets, undone after the test
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gru_forward
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    fns = gru_forward.forwards(2, 8)
    replay = fns["replay"]
    fns["replay"] = lambda: replay() * 1.001  # a replay that does other work
    with pytest.raises(AssertionError, match="the replay forward differs"):
        gru_forward.check(fns)
    fns["replay"] = replay
    gru_forward.check(fns)


def test_round_rule_constants_are_the_documented_ones():
    from benchmarks import bench
    assert (bench.ROUNDS, bench.ROUND_BUDGET, bench.MAX_ROUNDS) == (15, 20.0, 61)
    assert "at least 15" in bench.__doc__ and "20 s" in bench.__doc__ and "61" in bench.__doc__


def test_planned_rounds_are_as_many_as_fit_between_15_and_61():
    from benchmarks import bench
    # rounds of k/1024 s: exact in binary, so "fits" is the integer comparison n·k <= 20·1024
    seen = set()
    for k in range(1, 3001):
        n = bench.planned_rounds(15, 20.0, k / 1024)
        seen.add(n)
        assert 15 <= n <= 61, (k, n)
        if n == 61:
            assert 61 * k <= 20 * 1024, k
        elif n == 15:
            assert 16 * k > 20 * 1024, k
        else:
            assert n * k <= 20 * 1024 < (n + 1) * k, (k, n)
    assert {15, 16, 40, 60, 61} <= seen
    assert bench.planned_rounds(15, 20.0, 1.25) == 16     # 16 x 1.25 s = 20 s exactly
    assert bench.planned_rounds(15, 20.0, 0.328125) == 60  # 61 of them would take 20.02 s
    for s in (1e-9, 0.01, 1.0, 100.0):
        assert bench.planned_rounds(7, None, s) == 7  # no budget (--rounds N): exactly N
    assert bench.planned_rounds(15, 20.0, None) == 15  # no warm-up round was measured


@pytest.mark.parametrize("argv,want", [
    ([], (15, 20.0)),
    (["--rounds", "7"], (7, None)),
    (["--rounds", "100"], (100, None)),
    (["--quick"], (2, None)),
    (["--quick", "--rounds", "5"], (5, None)),
])
def test_round_settings_from_the_command_line(argv, want):
    from benchmarks import bench
    assert bench.round_settings(bench.parse_args(argv)) == want


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_makers(clock, seconds):
    """Implementations whose step takes `seconds[impl]` on `clock`, except the first two
    (the loss check and the first warm-up round), which take 100 s."""
    def make(impl):
        calls = []

        def maker(kind, params, x, targets):
            def step():
                clock.now += 100.0 if len(calls) < 2 else seconds[impl]
                calls.append(1)
                return 1.0
            return step, dict
        return maker
    return {impl: make(impl) for impl in seconds}


@pytest.mark.parametrize("ref_s,engine_s,want", [
    (1.0, 1.0, 15),          # 10 would fit: the minimum
    (0.5, 0.75, 16),         # 1.25 s a round: 16 fill the 20 s exactly
    (0.25, 0.25, 40),
    (0.125, 0.203125, 60),   # 61 would take 20.02 s
    (0.125, 0.125, 61),      # 80 would fit: the maximum
    (2 ** -20, 2 ** -20, 61),
])
def test_time_case_runs_the_planned_rounds_on_the_last_warm_up(monkeypatch, ref_s, engine_s,
                                                                want):
    from benchmarks import bench
    clock = FakeClock()
    seconds = {"reference": ref_s, "engine": engine_s}
    monkeypatch.setattr(bench, "MAKERS", fake_makers(clock, seconds))
    monkeypatch.setattr(bench, "gc", types.SimpleNamespace(collect=lambda: 0))  # only speed
    case = bench.Case("rnn", 1, 2, 3)
    # warm-up 3: the loss check, a 200 s round, then the round the plan is made on
    times = bench.time_case(case, list(seconds), 15, 3, clock, budget=20.0, wall=clock)
    assert times == {impl: [s] * want for impl, s in seconds.items()}

    clock = FakeClock()
    monkeypatch.setattr(bench, "MAKERS", fake_makers(clock, seconds))
    exact = bench.time_case(case, list(seconds), 7, 3, clock, budget=None, wall=clock)
    assert exact == {impl: [s] * 7 for impl, s in seconds.items()}  # --rounds 7: exactly 7


def test_with_one_warm_up_round_the_plan_is_made_on_the_loss_check(monkeypatch):
    # --warmup 1: the loss check is the only untimed round, so the plan reads it (it used to
    # plan nothing and run the minimum)
    from benchmarks import bench
    clock = FakeClock()

    def maker(kind, params, x, targets):
        def step():
            clock.now += 0.125
            return 1.0
        return step, dict

    monkeypatch.setattr(bench, "MAKERS", {"reference": maker, "engine": maker})
    monkeypatch.setattr(bench, "gc", types.SimpleNamespace(collect=lambda: 0))
    case = bench.Case("rnn", 1, 2, 3)
    times = bench.time_case(case, ["reference", "engine"], 15, 1, clock, budget=20.0,
                            wall=clock)
    assert {len(v) for v in times.values()} == {61}  # 0.25 s a round: 80 fit, 61 at most
    clock.now = 0.0
    monkeypatch.setattr(bench, "MAKERS", fake_makers(clock, {"reference": 1.0, "engine": 1.0}))
    slow = bench.time_case(case, ["reference", "engine"], 15, 1, clock, budget=20.0, wall=clock)
    assert {len(v) for v in slow.values()} == {15}  # a 200 s loss check: the minimum


@pytest.mark.parametrize("argv,message", [
    (["--rounds", "0"], "--rounds: 0 is less than 1"),
    (["--rounds", "-3"], "--rounds: -3 is less than 1"),
    (["--warmup", "0"], "--warmup: 0 is less than 1"),
    (["--rounds", "two"], "--rounds: 'two' is not a whole number"),
    (["--grid", "32,64"], "--grid: '32,64' is not B,T,H"),
    (["--grid", "32,0,8"], "--grid: '32,0,8' is not B,T,H"),
])
def test_bad_arguments_are_refused_by_name(argv, message, capsys):
    from benchmarks import bench
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fault", ["no update", "a gradient piece lost", "r and z swapped"])
def test_the_warm_up_catches_an_implementation_that_does_other_work(monkeypatch, fault):
    """The only check at the benchmark's size was the first loss (rtol 1e-4), which is about
    ln 65 whatever the layer computes: an engine that skipped its update, lost part of a
    weight's gradient or swapped two gates was timed as if it were right (found by the review
    helper). Now every warm-up round's loss and the first step's gradients are compared."""
    import numpy as np
    from benchmarks import bench
    real = bench.make_engine

    def broken(kind, params, x, targets):
        if fault == "r and z swapped":
            H = params["weight_hh_l0"].shape[1]
            params = dict(params)
            for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                w = params[k].copy()
                w[:H], w[H:2 * H] = params[k][H:2 * H], params[k][:H]
                params[k] = w
        step, grads = real(kind, params, x, targets)
        if fault == "a gradient piece lost":
            def grads_(g=grads):
                out = dict(g())
                out["weight_hh_l0"] = out["weight_hh_l0"] * np.float32(0.5)
                return out
            return step, grads_
        if fault == "no update":
            first = []

            def step_():
                if not first:
                    first.append(step())
                return first[0]
            return step_, grads
        return step, grads

    monkeypatch.setitem(bench.MAKERS, "engine", broken)
    case = bench.Case("gru", 8, 6, 16)
    with pytest.raises(AssertionError, match=r"GRU B=8 T=6 H=16: engine's (float32 loss|"
                                             r"gradient of)"):
        bench.time_case(case, ["reference", "engine"], 1, 2, bench.time.process_time)
    monkeypatch.setitem(bench.MAKERS, "engine", real)
    times = bench.time_case(case, ["reference", "engine"], 1, 2, bench.time.process_time)
    assert len(times["engine"]) == 1  # the real one passes


def test_rounds_rotate_so_that_each_implementation_follows_each_other_equally(monkeypatch):
    # in a fixed order the reference always ran right after torch fused, colder, and paid the
    # switch more than the engine did (found by the review helper)
    from benchmarks import bench
    ran = []

    def maker(name):
        def make(kind, params, x, targets):
            def step():
                ran.append(name)
                return 1.0
            return step, dict
        return make

    for n in range(2, 7):
        rows = bench.balanced_orders(n)
        assert all(sorted(row) == list(range(n)) for row in rows)
        pairs = [(a, b) for row in rows for a, b in zip(row, row[1:])]
        assert len(set(pairs)) == n * (n - 1) and len(pairs) % (n * (n - 1)) == 0
        assert len({pairs.count(p) for p in pairs}) == 1  # each pair equally often
    names = ["reference", "engine", "torch eager", "torch fused"]
    monkeypatch.setattr(bench, "MAKERS", {n: maker(n) for n in names})
    monkeypatch.setattr(bench, "gc", types.SimpleNamespace(collect=lambda: 0))
    bench.time_case(bench.Case("rnn", 1, 2, 3), names, 8, 4, bench.time.process_time)
    rounds = [ran[i:i + 4] for i in range(0, len(ran), 4)]  # 4 warm-up and 8 timed rounds
    after = {}
    for r in rounds:
        for a, b in zip(r, r[1:]):
            after[(a, b)] = after.get((a, b), 0) + 1
    assert set(after) == {(a, b) for a in names for b in names if a != b}
    assert set(after.values()) == {3}  # 12 rounds: three cycles of the four orders


def test_goals_read_the_engine_against_the_reference_and_the_added_step_cost():
    # goals() was never run on data in a test: a ratio from the wrong rows would have passed
    from benchmarks import bench

    def rows(ref_ms, eng_ms, eager_ms=None):
        out = {"reference": {"times": [ref_ms / 1e3] * 3}, "engine": {"times": [eng_ms / 1e3] * 3}}
        if eager_ms is not None:
            out["torch eager"] = {"times": [eager_ms / 1e3] * 3}
            out["torch fused"] = {"times": [ref_ms / 2e3] * 3}
        return out

    results = [(bench.Case("lstm", 32, 64, 256), rows(50.0, 54.0, 120.0)),
               (bench.Case("gru", 32, 64, 256), rows(40.0, 52.0)),
               (bench.Case("rnn", 8, 100, 32), rows(1.0, 3.0)),
               (bench.Case("rnn", 8, 1000, 32), rows(10.0, 30.0)),
               (bench.Case("rnn", 8, 5000, 32), rows(50.0, 150.0))]
    got = {g: (m, ok) for g, m, ok in bench.goals(results)}
    assert got["LSTM B=32 T=64 H=256 ≤ 1.10×"] == ("1.08×", True)
    assert got["… and below torch eager"] == ("1.08× vs 2.40×", True)
    assert got["GRU B=32 T=64 H=256 ≤ 1.15×"] == ("1.30×", False)
    assert got["RNN B=8 H=32 ≤ 4× at every T"] == ("T=100: 3.00×, T=1000: 3.00×, T=5000: 3.00×",
                                                   True)
    # 30 → 30 µs a step; each added step: (30 − 3) / 900 = 30 µs, then (150 − 30) / 4000 = 30
    assert got["RNN per-timestep cost T=100→5000 ≤ 1.2×"] == (
        "1.00× (30 → 30 µs/step); per added step 30 → 30 µs (1.00×)", True)
