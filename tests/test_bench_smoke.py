"""The speed benchmark runs end to end at a tiny size (no timing is asserted: speed is
measured by running benchmarks/bench.py, never by a test)."""

import subprocess
import sys
from pathlib import Path

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


def test_short_steps_get_more_rounds_within_the_budget():
    import time

    from benchmarks import bench
    case, impls = bench.Case("rnn", 2, 5, 8), ["reference", "engine"]
    fixed = bench.time_case(case, impls, 3, 2, time.perf_counter)
    assert [len(v) for v in fixed.values()] == [3, 3]
    more = bench.time_case(case, impls, 3, 2, time.perf_counter, budget=0.5)
    n = len(more["engine"])
    assert 3 < n <= bench.MAX_ROUNDS and len(more["reference"]) == n
