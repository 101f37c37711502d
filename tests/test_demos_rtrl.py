"""The rtrl demo: its numpy RTRL gives the engine's BPTT gradient (and the finite-difference
one, without the engine), at every step online, and the memory it reports grows as claimed."""

import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")


@pytest.fixture(scope="module")
def demo():
    return runpy.run_path(str(ROOT / "demos" / "rtrl.py"), run_name="rtrl")


SETTINGS = [  # (T, B, I, H): one step; one sequence; a batch; input wider than the state
    (1, 3, 2, 4),
    (6, 1, 3, 3),
    (9, 4, 2, 5),
    (4, 2, 7, 2),
]


@pytest.mark.parametrize("T,B,I,H", SETTINGS)
def test_rtrl_equals_the_engines_bptt_for_every_parameter(demo, T, B, I, H):
    rnn, x, y = demo["make_problem"](T, B, I, H, np.random.default_rng(T * 100 + H))
    loss_b, g_bptt = demo["bptt"](rnn, x, y)
    loss_r, g_rtrl, info = demo["rtrl"](demo["weights"](rnn), x, y)
    assert loss_r == pytest.approx(loss_b, rel=1e-12)
    for k in NAMES:
        assert g_rtrl[k].shape == g_bptt[k].shape
        np.testing.assert_allclose(g_rtrl[k], g_bptt[k], rtol=1e-10, atol=1e-10, err_msg=k)
        # zero against zero would pass anything: the gradients must be there to compare
        if k != "W_hh" or T > 1:
            assert np.max(np.abs(g_bptt[k])) > 1e-3, k
    if T == 1:  # h_0 = 0: W_hh has no effect on a single step, by either method
        assert not np.any(g_bptt["W_hh"]) and not np.any(g_rtrl["W_hh"])
    # the sensitivities: H·n_params numbers for each sequence of the batch
    assert info["P_numbers"] == B * H * demo["n_params"](H, I)


def test_the_comparison_sees_a_wrong_gradient(demo):
    # the same check with RTRL on slightly different weights must fail: the tolerance bites
    rnn, x, y = demo["make_problem"](5, 2, 3, 4, np.random.default_rng(1))
    _, g_bptt = demo["bptt"](rnn, x, y)
    w = demo["weights"](rnn)
    w["W_hh"] = w["W_hh"] + 1e-6
    _, g_off, _ = demo["rtrl"](w, x, y)
    assert max(d[0] for d in demo["differences"](g_off, g_bptt).values()) > 1e-9


@pytest.mark.parametrize("T,B,I,H", [(1, 2, 2, 3), (5, 2, 3, 3)])
def test_rtrl_matches_central_differences_without_the_engine(demo, T, B, I, H):
    rng = np.random.default_rng(5 + T)
    w = {"W_ih": rng.uniform(-0.6, 0.6, (H, I)), "W_hh": rng.uniform(-0.6, 0.6, (H, H)),
         "b_ih": rng.uniform(-0.6, 0.6, H), "b_hh": rng.uniform(-0.6, 0.6, H)}
    x, y = rng.standard_normal((T, B, I)), rng.uniform(-1, 1, (T, B, H))
    loss, grads, _ = demo["rtrl"](w, x, y)
    assert loss == pytest.approx(demo["numpy_loss"](w, x, y), rel=1e-13)
    eps = 1e-6
    for k in NAMES:
        numeric = np.zeros_like(w[k])
        for idx in np.ndindex(w[k].shape):
            old = w[k][idx]
            w[k][idx] = old + eps
            up = demo["numpy_loss"](w, x, y)
            w[k][idx] = old - eps
            down = demo["numpy_loss"](w, x, y)
            w[k][idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-6, atol=1e-8, err_msg=k)


def test_rtrl_holds_the_gradient_of_the_losses_so_far_at_every_step(demo):
    T, B, I, H = 7, 2, 3, 4
    rnn, x, y = demo["make_problem"](T, B, I, H, np.random.default_rng(3))
    w = demo["weights"](rnn)
    for t in (1, 3, 6):
        _, _, info = demo["rtrl"](w, x, y, online_at=t)
        _, g_prefix = demo["bptt"](rnn, x[:t], y[:t])
        _, g_all = demo["bptt"](rnn, x, y)
        for k in NAMES:
            np.testing.assert_allclose(info["online"][k], g_prefix[k], rtol=1e-10, atol=1e-10)
        # and not yet the whole sequence's gradient
        assert not np.allclose(info["online"]["W_ih"], g_all["W_ih"], rtol=1e-6)


def test_the_memory_reported_grows_as_claimed(demo):
    I, rng = 2, np.random.default_rng(0)
    Ts = (4, 8, 16, 32)
    for H in (3, 6):
        rows = [demo["measure"](H, T, I, 1, rng) for T in Ts]
        # RTRL: H·n_params numbers whatever T is
        assert {r["rtrl_P_numbers"] for r in rows} == {H * demo["n_params"](H, I)}
        assert all(r["rtrl_bytes"] == 8 * r["rtrl_P_numbers"] for r in rows)
        # BPTT: T·H states kept, and a graph whose bytes are linear in T, and growing
        assert [r["bptt_states"] for r in rows] == [T * H for T in Ts]
        g = [r["bptt_graph_bytes"] for r in rows]
        per_step = [(b - a) / (t2 - t1) for a, b, t1, t2 in zip(g, g[1:], Ts, Ts[1:])]
        assert per_step[0] > 0 and per_step == pytest.approx([per_step[-1]] * len(per_step),
                                                             rel=0.15)  # (counted by tracemalloc)
        # at least the h_t themselves (8 bytes each) are in it
        assert per_step[0] >= 8 * H
    rows = [demo["measure"](H, T, I, 1, rng) for H in (2, 3, 4) for T in (3, 6)]
    lines = demo["cost_lines"](rows)
    assert "RTRL's P stays the same size at every H" in lines[0]
    # memory against the h_t BPTT must keep, not only against the engine's bulkier graph
    # (which made RTRL look 3.6x, not 44x, at H = 64; the teaching review)
    top = rows[-1]
    assert f"its P is {top['rtrl_bytes'] / (8 * top['T'] * top['H']):.0f}× the h_t a BPTT keeps" \
        in lines[-1] and f"catch up at T = n_params = {top['n_params']:,}" in lines[-1]
    assert lines[-2].startswith("From H = 3 to H = 4, RTRL's time grows ×")


def test_the_arithmetic_counts_grow_as_h4_and_h2(demo):
    r1, b1 = demo["macs_per_step"](64, 4)
    r2, b2 = demo["macs_per_step"](128, 4)
    assert 15 < r2 / r1 < 16.5 and 3.5 < b2 / b1 < 4.1


def test_main_with_tiny_flags_reports_the_agreement(demo, capsys):
    r = demo["main"](["--T", "4", "--hidden", "3", "--batch", "2", "--input", "2",
                      "--sizes", "2,3", "--lengths", "2,4", "--steps", "1"])
    assert r["agree"] is True and r["max_rel_diff"] < 1e-10
    assert set(r["diffs"]) == set(NAMES) and r["online_at"] == 2
    assert max(d[1] for d in r["online_diffs"].values()) < 1e-10
    assert r["loss_rtrl"] == pytest.approx(r["loss_bptt"], rel=1e-12)
    assert [(c["H"], c["T"]) for c in r["costs"]] == [(2, 2), (2, 4), (3, 2), (3, 4)]
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal's width
    assert "they agree to float64 rounding" in out and "Why RTRL still matters" in out


@pytest.mark.parametrize("argv,says", [
    (["--hidden", "0"], "--hidden must be positive"),
    (["--sizes", "4,0"], "--sizes must be positive"),
    (["--lengths", "a"], "--lengths must be comma-separated whole numbers"),
    (["--lengths", ","], "--lengths is empty"),
])
def test_bad_flags_are_refused_before_any_work(demo, argv, says, capsys):
    with pytest.raises(SystemExit, match=says):
        demo["main"](argv)
    assert capsys.readouterr().out == ""
