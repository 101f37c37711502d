"""The backprop stepper: its screens show the engine's own numbers, stepping never changes a
gradient, the plain-text mode prints one block per node, and a real terminal session works."""

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from tinygrad_lstm import Tensor, manual_seed, nn, scope
from tinygrad_lstm.viz import stepper
from tinygrad_lstm.viz.stepper import (fmt, make_step_panel, make_timestep_panel, navigate, norm,
                                       record)

ROOT = Path(__file__).resolve().parent.parent


def tiny_lstm(T=3, layer=nn.LSTM, **kw):
    """nn.LSTM(2, 3) on T steps, batch 1; the same weights and input on every call."""
    rng = manual_seed(0)
    model = layer(2, 3, rng=rng, **kw)
    x = Tensor(np.random.default_rng(1).standard_normal((T, 1, 2)).astype(np.float32))
    out, _, states = model(x, return_states=True)
    for name in ("h", "c"):
        if name in states.names:
            for t in states.get(name):
                t.retain_grad()
    return (out * out).mean(), model, states


def capture(renderable, width=100):
    con = Console(file=io.StringIO(), width=width, color_system=None)
    con.print(renderable)
    return con.file.getvalue()


def find(walk, pred):
    return next(s for s in walk.steps if pred(s.node))


def line_of(text, start):
    return next(ln for ln in text.splitlines() if ln.strip("│ ").startswith(start))


def handed_to(text, name):
    """The screen's line for what the node hands its input `name` (`→  name …`; rich's
    versions pad the arrow's column differently)."""
    return next(ln for ln in text.splitlines()
                if "→" in ln and ln.split("→", 1)[1].lstrip().startswith(name))


# --- the stepper only reads --------------------------------------------------------------------

def test_grads_bit_identical_to_plain_backward():
    loss, model, _ = tiny_lstm(T=2)
    loss.backward()
    plain = {k: p.grad.copy() for k, p in model.named_parameters()}
    loss2, model2, _ = tiny_lstm(T=2)
    con = Console(file=io.StringIO(), width=100, color_system=None)
    steps = stepper.step(loss2, console=con, no_pause=True, params=model2)
    for k, p in model2.named_parameters():
        assert p.grad.dtype == plain[k].dtype and p.grad.tobytes() == plain[k].tobytes(), k
    assert [s.index for s in steps] == list(range(len(steps)))


def test_a_later_backward_changes_no_number_of_a_recorded_walk():
    """.grad accumulates in place (as torch's): the walk's record of a weight's gradient was
    that very array, and the next backward added into it (a review of the change)."""
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    kept = [np.array(s.grad) for s in walk.steps]
    x = Tensor(np.random.default_rng(1).standard_normal((3, 1, 2)).astype(np.float32))
    out, _ = model(x)  # tiny_lstm's loss again, on the same model: .grad doubles
    (out * out).mean().backward()
    assert all(np.array_equal(np.asarray(s.grad), k) for s, k in zip(walk.steps, kept))
    w = model.weight_hh_l0
    assert np.allclose(w.grad, 2 * np.asarray(find(walk, lambda n: n is w).grad))


def test_navigating_back_and_forth_changes_nothing():
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    before = [(s.grad.tobytes(), [None if g is None else np.asarray(g).tobytes() for g in s.parent_grads])
              for s in walk.steps]
    k = 0
    for cmd in ["n", "n", "b", "t 2", "p", "p", "c", "b", "g 5", "t 1"]:
        k, _ = navigate(walk, k, cmd)
        capture(make_step_panel(walk, k))
    after = [(s.grad.tobytes(), [None if g is None else np.asarray(g).tobytes() for g in s.parent_grads])
             for s in walk.steps]
    assert before == after


# --- the numbers on screen are the engine's ------------------------------------------------------

def test_tanh_screen_shows_the_engines_numbers():
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    s = find(walk, lambda n: n.op == "tanh" and n.name == "g" and n.scope["t"] == 2)
    text = capture(make_step_panel(walk, s.index))
    y = s.node.data
    assert "tanh: ∂L/∂x = ∂L/∂y · (1 − y²)" in text
    assert f"here mean {fmt(np.mean(1.0 - y * y))}" in line_of(text, "rule")
    assert f"‖·‖ {fmt(np.linalg.norm(s.grad))}" in line_of(text, "in ")
    assert "∂L/∂g[t=2]" in line_of(text, "in ")
    out = line_of(text, "out →")
    assert f"‖·‖ {fmt(np.linalg.norm(s.parent_grads[0]))}" in out
    assert f"[{fmt(s.parent_grads[0].ravel()[0])} " in out
    # and the engine's parent gradient really is ∂L/∂y · (1 − y²)
    assert np.array_equal(s.parent_grads[0], s.grad * (1.0 - y * y))


def test_sigmoid_screen_shows_the_bounded_factor():
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    s = find(walk, lambda n: n.name == "f" and n.scope["t"] == 3)
    text = capture(make_step_panel(walk, s.index))
    m = np.mean(s.node.data * (1.0 - s.node.data))
    assert m <= 0.25
    assert f"σ(1 − σ) ≤ 0.25, here mean {fmt(m)}" in line_of(text, "rule")
    assert "op sigmoid (σ)" in text and "layer 0 · t 3" in text


def test_cell_path_add_and_mul_screens():
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    c2 = states.get("c")[1]
    add = walk.steps[walk.index[id(c2)]]
    text = capture(make_step_panel(walk, add.index))
    assert "c[t=2] = f[t=2] × c[t=1] + i[t=2] × g[t=2]" in text
    assert "+ hands ∂L/∂y to each input unchanged" in text
    outs = [ln for ln in text.splitlines() if "→" in ln]
    assert "f[t=2] × c[t=1]" in outs[0] and "unchanged" in outs[0] and "━ c path" in outs[0]
    assert "i[t=2] × g[t=2]" in outs[1] and "c path" not in outs[1]
    assert all(f"‖·‖ {fmt(np.linalg.norm(add.grad))}" in ln for ln in outs)
    # the × on the path: c[t=1] receives ∂L/∂y scaled by f[t=2]
    mul = walk.steps[walk.index[id(c2.parents[0])]]
    text = capture(make_step_panel(walk, mul.index), width=120)
    f2 = states.get("f")[1]
    to_c = handed_to(text, "c[t=1]")
    # the gate's mean and what the norm kept: the mean alone did not give the next norm
    # (found by the review helper)
    kept = np.linalg.norm(mul.grad * f2.data) / np.linalg.norm(mul.grad)
    assert f"· f[t=2], mean {fmt(np.mean(f2.data))}, out/in {fmt(kept)}" in to_c
    assert "━ c path" in to_c
    assert f"‖·‖ {fmt(np.linalg.norm(mul.grad * f2.data))}" in to_c
    assert "inputs: f[t=2], c[t=1] (c path)" in text
    assert "consumers: c[t=2] (c path)" in text


def test_mul_screen_tells_the_share_of_the_norm_not_a_signed_mean():
    # c[t=1] is signed: its mean is near 0 while the × hands f[t=2] a fair share of the norm
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    mul = walk.steps[walk.index[id(states.get("c")[1].parents[0])]]  # f[t=2] × c[t=1]
    c1 = states.get("c")[0]
    text = capture(make_step_panel(walk, mul.index))
    to_f = handed_to(text, "f[t=2]")
    ratio = np.linalg.norm(mul.grad * c1.data) / np.linalg.norm(mul.grad)
    assert f"· c[t=1], out/in {fmt(ratio)}" in to_f
    assert "mean" not in to_f and abs(np.mean(c1.data)) < ratio


def test_matmul_screen_names_the_matrix_and_the_norm_ratio():
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    s = find(walk, lambda n: n.op == "matmul" and n.parents[0].name == "h"
             and n.parents[0].scope["t"] == 1)
    text = capture(make_step_panel(walk, s.index))
    assert "@: ∂L/∂A = ∂L/∂y @ Bᵀ" in text
    to_h = handed_to(text, "h[t=1]")
    ratio = np.linalg.norm(s.parent_grads[0]) / np.linalg.norm(s.grad)
    assert "@ weight_hh_l0 (12, 3)" in to_h
    text = capture(make_step_panel(walk, s.index), width=160)
    assert f"‖B‖ {fmt(np.linalg.norm(model.weight_hh_l0.data))}, out/in {fmt(ratio)}" in text


def test_matmul_screen_gives_a_batched_or_1d_bs_transposed_shape():
    for a_shape, b_shape, bt in (((2, 3, 4), (2, 4, 5), "(2, 5, 4)"), ((3, 4), (4,), "(1, 4)")):
        a = Tensor(np.ones(a_shape), requires_grad=True)
        b = Tensor(np.ones(b_shape), requires_grad=True).named("B")
        walk = record((a @ b).sum())
        s = find(walk, lambda n: n.op == "matmul")
        assert f"@ Bᵀ {bt}, ‖B‖" in capture(make_step_panel(walk, s.index), width=160)


def test_a_permute_reads_as_one_and_its_rule_puts_the_axes_back():
    # it read `encᵀ` (2, 4, 3), the full transpose's formula, and "transposes ∂L/∂y back"
    x = Tensor(np.ones((4, 2, 3)), requires_grad=True).named("enc")
    walk = record(((x.permute(1, 0, 2) * Tensor(np.ones(3))).sum(axis=0) ** 2).mean())
    s = find(walk, lambda n: n.op == "transpose")
    text = capture(make_step_panel(walk, s.index), width=140)
    assert "enc.permute(1, 0, 2)" in text and "op transpose (permute(1, 0, 2))" in text
    assert "axes put in their old order (permute(1, 0, 2))" in text and "ᵀ" not in text
    x2 = Tensor(np.ones((4, 2, 3)), requires_grad=True).named("x")
    walk = record((x2.permute(2, 0, 1) * 1.0).sum())  # the inverse is another permutation
    s = find(walk, lambda n: n.op == "transpose")
    assert "(permute(1, 2, 0))" in capture(make_step_panel(walk, s.index), width=140)
    w = Tensor(np.ones((3, 2)), requires_grad=True).named("W")
    walk = record((w.T * 1.0).sum())  # a matrix's swap stays Wᵀ
    assert "Wᵀ" in capture(make_step_panel(walk, find(walk, lambda n: n.op == "mul").index))
    walk = record((w.permute(1, 0) * 1.0).sum())  # however it is spelled
    assert "Wᵀ" in capture(make_step_panel(walk, find(walk, lambda n: n.op == "mul").index))
    walk = record(((x * 2.0).permute(1, 0, 2) * 1.0).sum())  # an unnamed input's permute too
    s = find(walk, lambda n: n.op == "transpose")
    assert "(enc × 2).permute(1, 0, 2)" in capture(make_step_panel(walk, s.index), width=140)
    from tinygrad_lstm.viz.graph import draw
    assert 'tooltip="permute(1, 0, 2) → (2, 4, 3)"' in draw((x.permute(1, 0, 2) * 1.0).sum()).source


def test_mul_div_rules_say_a_broadcast_input_is_summed_and_pow_gives_its_share():
    x = Tensor(np.ones((2, 3)), requires_grad=True).named("x")
    v = Tensor(np.full(3, 2.0), requires_grad=True).named("v")
    walk = record(((x * v) / v + x ** 2.0).sum())
    for op in ("mul", "div"):
        text = capture(make_step_panel(walk, find(walk, lambda n, op=op: n.op == op).index),
                       width=160)
        assert "(summed over the axes it was broadcast along)" in line_of(text, "rule")
    text = capture(make_step_panel(walk, find(walk, lambda n: n.op == "pow").index), width=160)
    assert "· 2.0·x^(2.0−1), out/in" in text
    walk = record((x * x).sum())  # no broadcast: no such note
    text = capture(make_step_panel(walk, find(walk, lambda n: n.op == "mul").index), width=160)
    assert "broadcast" not in text


def test_the_div_rows_divisor_is_bracketed_as_in_the_heading():
    # the row read `/ b × b + 1`, which is ((a / b) · b) + 1
    a = Tensor([[1.0, 2.0]], requires_grad=True).named("a")
    b = Tensor([3.0, 4.0], requires_grad=True).named("b")
    walk = record((a / (b * b + 1)).sum())
    text = capture(make_step_panel(walk, find(walk, lambda n: n.op == "div").index), width=160)
    assert "/ (b × b + 1), out/in" in text


def test_leaves_are_named_by_params_and_show_their_grad():
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    s = find(walk, lambda n: n is model.weight_hh_l0)
    text = capture(make_step_panel(walk, s.index))
    assert "leaf: ∂L/∂x accumulates into .grad" in text
    assert f"‖·‖ {fmt(np.linalg.norm(model.weight_hh_l0.grad))}" in line_of(text, "in ")
    assert "consumers: weight_hh_l0ᵀ" in text


# --- the per-timestep panel --------------------------------------------------------------------

def test_timestep_panel_fills_as_the_walk_reaches_each_state():
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    h3 = walk.index[id(states.get("h")[2])]
    text = capture(make_timestep_panel(walk, h3))
    rows = {ln.split()[0]: ln for ln in text.splitlines()[1:]}
    assert rows["3"].count("not yet") == 1 and "← here" in rows["3"]  # h reached, c not yet
    assert rows["2"].count("not yet") == 2 and rows["1"].count("not yet") == 2
    text = capture(make_timestep_panel(walk, len(walk) - 1))
    assert "not yet" not in text
    rows = {ln.split()[0]: ln for ln in text.splitlines()[1:]}
    for t in (1, 2, 3):  # the norms of ∂L/∂h_t, ∂L/∂c_t that a plain backward retains
        h, c = states.get("h")[t - 1], states.get("c")[t - 1]
        assert f"{np.linalg.norm(h.grad):.2e}" in rows[str(t)]
        assert f"{np.linalg.norm(c.grad):.2e}" in rows[str(t)]


def test_a_state_no_gradient_reaches_says_none_not_not_yet():
    """A cell whose h is made before its c: c[T] never reaches the loss, and at the walk's last
    node the panel still said "not yet" for it (a cell writer's review)."""
    class HFirst(nn.LSTMCell):
        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)
            h = (o.sigmoid() * c_prev.tanh()).named("h")
            c = (f.sigmoid() * c_prev + i.sigmoid() * g.tanh()).named("c")
            return {"h": h, "c": c}

    loss, _, _ = tiny_lstm(cell=HFirst)
    walk = record(loss)
    first, last = (capture(make_timestep_panel(walk, k)) for k in (0, len(walk) - 1))
    rows = {ln.split()[0]: ln for ln in last.splitlines()[1:]}
    assert "none" in rows["3"] and "not yet" not in last  # c[t=3]: no gradient, ever
    assert all(rows[t].count("e-") == 2 for t in ("1", "2"))
    rows = {ln.split()[0]: ln for ln in first.splitlines()[1:]}
    assert rows["3"].count("not yet") == 1 and rows["3"].count("none") == 1


def test_timestep_panel_windows_long_sequences():
    loss, model, _ = tiny_lstm(T=20)
    walk = record(loss, model)
    text = capture(make_timestep_panel(walk, len(walk) - 1, max_rows=5))
    assert "later timesteps" in text and len(text.splitlines()) <= 8


def test_rnn_has_no_cell_column_and_layers_are_labelled():
    loss, model, _ = tiny_lstm(layer=nn.RNN, num_layers=2)
    walk = record(loss, model)
    assert not walk.path
    text = capture(make_step_panel(walk, 5))
    assert "‖∂L/∂h_t‖" in text and "‖∂L/∂c_t‖" not in text
    assert "h[l=1,t=3]" in capture(make_step_panel(walk, 3)) and "· layer 1" in text


# --- the cell-state path -----------------------------------------------------------------------

def test_cell_path_marks_c_and_the_forget_product_only():
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    on = {s.node.label or walk.expr(s.node) for s in walk.steps if walk.on_path(s.node)}
    assert on == {"c[layer=0,t=1]", "c[layer=0,t=2]", "c[layer=0,t=3]",
                  "f[t=1] × c[t=0]", "f[t=2] × c[t=1]", "f[t=3] × c[t=2]"}


@pytest.mark.parametrize("width", [60, 70, 80, 100])
def test_the_path_mark_is_never_cut_at_the_wrap(width):
    """`━ c path` at the end of an out row was wrapped as `━` on one line and `c path` on
    the next at 60 to 80 columns; it has a column of its own now."""
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    marked = 0
    for s in walk.steps:
        if walk.on_path(s.node):
            text = capture(make_step_panel(walk, s.index, width=width), width=width)
            lines = text.splitlines()
            assert not any(ln.rstrip(" │").endswith("━") for ln in lines)
            rows = [ln for ln in lines if "→" in ln and "━ c path" in ln]
            on = [p for p, pg in zip(s.node.parents, s.parent_grads)
                  if pg is not None and walk.on_path(p)]
            assert len(rows) == len(on)  # on the row of the input on the path (its name may wrap)
            assert all(handed_to(text, walk.expr(p).split()[0]) == r for p, r in zip(on, rows))
            marked += len(rows)
    assert marked == 5  # c[t=3] → f[t=3] × c[t=2] → c[t=2] … → c[t=1] (c[t=0]: no gradient)


def p_walk(walk):
    """The nodes `p` visits from node 1 on, and the message where it stops."""
    k, seen = 0, []
    while True:
        nxt, message = navigate(walk, k, "p")
        if nxt == k:
            return seen, message
        k = nxt
        seen.append(walk.steps[k].node)


@pytest.mark.parametrize("layer, state, gate, j", [(nn.GRU, "h", "z", 1), (nn.LSTM, "c", "f", 0)])
def test_p_follows_the_state_the_graph_highlights(layer, state, gate, j):
    """p walks the additive path back in time: a GRU's h[t] → z[t] × h[t−1] → h[t−1] (its
    conveyor belt, h = (1 − z) × n + z × h_prev), an LSTM's c[t] → f[t] × c[t−1] → c[t−1]."""
    loss, model, states = tiny_lstm(layer=layer)
    walk = record(loss, model)
    seen, message = p_walk(walk)
    want = []
    for t in (3, 2, 1):
        s = states.get(state)[t - 1]
        mul = s.parents[j]  # (1 − z) × n + z × h_prev, f × c_prev + i × g
        assert s.op == "add" and mul.op == "mul"
        assert mul.parents[0] is states.get(gate)[t - 1] and mul.parents[1].name == state
        want += [s, mul]
    assert [id(n) for n in seen] == [id(n) for n in want]
    assert message == f"no further node on the {state} path"


def test_p_path_is_the_one_the_graph_draws_with_highlight_auto():
    from tinygrad_lstm.viz.scene import _Scene
    for layer, kw in [(nn.GRU, {}), (nn.LSTM, {}), (nn.RNN, {}),
                      (nn.GRU, {"num_layers": 2, "bidirectional": True})]:
        loss, model, _ = tiny_lstm(layer=layer, **kw)
        scene = _Scene(loss, "auto", {}, None, False, None)
        walk = record(loss, model)
        assert walk.path_state == (scene.highlight if scene.path else None), layer
        assert {id(s.node) for s in walk.steps if walk.on_path(s.node)} == \
            {id(s.node) for s in walk.steps if id(s.node) in scene.on_path}, layer


def test_gru_screens_name_the_h_path():
    loss, model, states = tiny_lstm(layer=nn.GRU)
    walk = record(loss, model)
    h2 = states.get("h")[1]
    text = capture(make_step_panel(walk, walk.index[id(h2)]), width=110)
    assert "━ h path" in line_of(text, "op add")
    outs = [ln for ln in text.splitlines() if "→" in ln]
    assert "z[t=2] × h[t=1]" in outs[1] and "━ h path" in outs[1]
    assert "(1 − z[t=2]) × n[t=2]" in outs[0] and "path" not in outs[0]
    assert "inputs: (1 − z[t=2]) × n[t=2], z[t=2] × h[t=1] (h path)" in text
    assert "p h path" in text and "cell" not in text
    lstm = record(*tiny_lstm()[:2])
    assert "p c path" in capture(make_step_panel(lstm, 0), width=110)


def test_an_rnn_has_no_path_and_p_says_why():
    """A plain RNN's h[t−1] → h[t] runs through @ and tanh: the graph highlights nothing, and
    p stays put and says so rather than calling h a conveyor belt."""
    loss, model, _ = tiny_lstm(layer=nn.RNN)
    walk = record(loss, model)
    assert walk.path_state is None and not walk.path
    k, message = navigate(walk, 3, "p")
    assert k == 3
    # the ops that make it not additive (with the + listed too, "+, @, tanh: no additive
    # path" read as a contradiction: found by the review helper)
    assert "h[t−1] → h[t] passes through @, tanh: no additive path" in message
    text = capture(make_step_panel(walk, k, message=message), width=110)
    assert "p (no path here)" in text and "path)" not in line_of(text, "inputs")


# --- plain-text mode and the loop --------------------------------------------------------------

def test_non_tty_prints_one_block_per_node():
    loss, model, _ = tiny_lstm(T=2)
    n = []
    loss.backward(retain_graph=True, on_step=lambda *a: n.append(1))
    loss2, model2, _ = tiny_lstm(T=2)
    con = Console(file=io.StringIO(), width=100, color_system=None)
    steps = stepper.step(loss2, console=con, interactive=False, title="tiny")
    out = con.file.getvalue()
    N = len(n)
    assert len(steps) == N
    assert re.findall(r"backprop · tiny · node (\d+) of (\d+)", out) == \
        [(str(k), str(N)) for k in range(1, N + 1)]


def test_interactive_loop_reads_lines(monkeypatch):
    loss, model, _ = tiny_lstm()
    keys = iter(["n", "b", "t 2", "p", "x", "c", "q"])
    monkeypatch.setattr("builtins.input", lambda *a: next(keys))
    con = Console(file=io.StringIO(), width=100, color_system=None)
    stepper.step(loss, console=con, interactive=True, params=model)
    shown = re.findall(r"node (\d+) of 60", con.file.getvalue())
    assert shown == ["1", "2", "1", "20", "22", "22", "60"]
    assert "unknown command 'x'" in con.file.getvalue()


def test_navigate_commands():
    loss, model, states = tiny_lstm()
    walk = record(loss, model)
    last = len(walk) - 1
    assert navigate(walk, 0, "") == (1, None) and navigate(walk, 0, "n") == (1, None)
    assert navigate(walk, last, "n") == (None, None) and navigate(walk, 3, "q") == (None, None)
    assert navigate(walk, 0, "b")[0] == 0 and navigate(walk, 0, "c") == (last, None)
    k, _ = navigate(walk, 0, "t 2")
    assert walk.steps[k].node is states.get("h")[1]  # the walk reaches h[t=2] first
    k, _ = navigate(walk, k, "p")
    assert walk.on_path(walk.steps[k].node)
    assert navigate(walk, 0, "t 9")[1] == "no node at timestep 9"
    assert navigate(walk, 0, "g 7") == (6, None)


def test_auto_mode_plays_to_the_end():
    loss, model, _ = tiny_lstm(T=2)
    con = Console(file=io.StringIO(), width=100, color_system=None)
    steps = stepper.step(loss, console=con, interactive=True, auto=0)
    assert len(steps) == 44 and model.weight_hh_l0.grad is not None


def test_auto_animates_on_a_terminal_whatever_stdin_is(monkeypatch):
    # it reads no keys, so stdin not being a tty (make, nohup, </dev/null) printed every
    # screen at once instead of playing them
    loss, _, _ = tiny_lstm(T=2)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    naps = []
    monkeypatch.setattr(stepper.time, "sleep", naps.append)
    con = Console(file=io.StringIO(), width=100, height=40, force_terminal=True)
    stepper.step(loss, console=con, auto=0.5)
    assert naps == [0.5] * 44
    dumb = Console(file=io.StringIO(), width=100, height=40, force_terminal=True)
    monkeypatch.setattr(type(dumb), "is_dumb_terminal", property(lambda self: True))
    stepper.step(tiny_lstm(T=2)[0], console=dumb, auto=0.5)  # TERM=dumb: Live drew nothing
    shown = re.findall(r"node (\d+) of 44", dumb.file.getvalue())  # but the last screen
    assert shown == [str(k) for k in range(1, 45)] and naps == [0.5] * 88
    monkeypatch.setattr(type(dumb), "is_dumb_terminal", property(lambda self: False))
    naps.clear()
    plain = Console(file=io.StringIO(), width=100)  # not a terminal: printed, not played
    stepper.step(tiny_lstm(T=2)[0], console=plain, auto=0.5)
    assert not naps and "node 44 of 44" in plain.file.getvalue()


# --- a real pseudo-terminal ----------------------------------------------------------------------

def _session(argv, script):
    """Run argv in a pseudo-terminal, send each command and expect each pattern after it."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, argv, cwd=str(ROOT), encoding="utf-8",
                          codec_errors="replace",  # an echoed ^C can split a 3-byte ─
                          dimensions=(45, 110), timeout=30)
    try:
        child.expect(r"node 1 of (\d+)")
        N = child.match.group(1)
        for cmd, wants in script:
            child.expect("› ")
            child.sendline(cmd)
            for want in wants:
                child.expect(want.replace("N", N))
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_quitting_the_stepper_gives_back_what_the_demo_printed_before_it(tmp_path):
    # the stepper cleared the screen over the demo's results and its "wrote …" lines; it now
    # runs on the terminal's other screen (as less does) and leaves it before its summary
    pexpect = pytest.importorskip("pexpect")
    svg = tmp_path / "h.svg"
    child = pexpect.spawn(sys.executable, ["demos/hello.py", "--steps", "2", "--graph", str(svg),
                                           "--step"], cwd=str(ROOT), encoding="utf-8",
                          codec_errors="replace", dimensions=(40, 110), timeout=30)
    child.logfile_read = log = io.StringIO()
    try:
        child.expect("› ")
        child.sendline("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    out = log.getvalue()
    results, walk = out.split("\x1b[?1049h", 1)  # xterm's "other screen on"
    assert "after 2 steps" in results and f"wrote {svg}" in results
    walk, after = walk.split("\x1b[?1049l", 1)   # … and off, before the summary
    assert "node 1 of" in walk and "looked at 1 of the" in after
    assert child.exitstatus == 0


def test_ctrl_z_leaves_the_other_screen_and_fg_comes_back_to_it():
    """Ctrl-Z stopped the stepper on the terminal's other screen: the shell's "Stopped" and
    prompt were written over it, and `fg` left the screen so (a review of terminals). A
    shell with job control runs the demo here, since a terminal's Ctrl-Z stops nothing in a
    process group without one."""
    pexpect = pytest.importorskip("pexpect")
    import os
    import shutil
    if not shutil.which("bash"):
        pytest.skip("needs bash for job control")
    child = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], cwd=str(ROOT),
                          env={**os.environ, "PS1": "PROMPT$ "}, encoding="utf-8",
                          codec_errors="replace", dimensions=(40, 110), timeout=30)
    child.logfile_read = log = io.StringIO()
    try:
        child.expect(r"PROMPT\$ ")
        child.sendline(f"{sys.executable} demos/hello.py --steps 2 --step")
        child.expect("› ")
        start = len(log.getvalue())
        child.send("\x1a")
        child.expect(r"Stopped.*PROMPT\$ ")
        stopped = log.getvalue()[start:]
        start = len(log.getvalue())
        child.sendline("fg")
        child.expect(r"node 1 of \d+")
        child.expect("› ")
        resumed = log.getvalue()[start:]
        child.sendline("q")
        child.expect("looked at 1 of the")
        child.sendline('echo "status=$?"')
        child.expect(r"status=(\d+)")
        status = child.match.group(1)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert stopped.index("\x1b[?1049l") < stopped.index("Stopped"), stopped  # screen off first
    assert "\x1b[?1049h" in resumed.split("node 1 of")[0], resumed            # and on again
    assert status == "0"


def test_ctrl_z_is_left_alone_where_it_was_ignored_or_not_python_s():
    # `(trap '' TSTP; exec python demo.py --step)` ignored Ctrl-Z, and the stepper's handler
    # made it stop the process again (a review of the change)
    import signal
    from tinygrad_lstm.viz import stepper
    con = Console(file=io.StringIO(), force_terminal=True, width=80, height=30)
    screen = stepper._Screen(con, record(tiny_lstm(T=2)[0]), "t")
    before = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    try:
        with stepper._suspendable(screen):
            assert signal.getsignal(signal.SIGTSTP) is signal.SIG_IGN
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        with stepper._suspendable(screen):
            assert signal.getsignal(signal.SIGTSTP) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTSTP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTSTP, before)


def test_ctrl_z_leaves_the_other_screen_at_once_and_redraws_only_what_is_not_being_drawn(
        monkeypatch):
    """rich holds control codes back while a print is in progress: a Ctrl-Z in one stopped
    the process with the stepper's screen still up, and `fg` drew a second screen and prompt
    over the first. A line typed before Ctrl-Z, which readline keeps, is shown again: ⏎
    after `fg` ran it unseen (a review of the change)."""
    import signal
    import types
    from tinygrad_lstm.viz import stepper
    stops = []
    monkeypatch.setattr(stepper.os, "kill", lambda pid, sig: stops.append(sig))
    monkeypatch.setitem(sys.modules, "readline",
                        types.SimpleNamespace(get_line_buffer=lambda: "g 1"))
    con = Console(file=io.StringIO(), force_terminal=True, width=80, height=30)
    screen = stepper._Screen(con, record(tiny_lstm(T=2)[0]), "t")
    screen.prompt = "› "
    before = signal.getsignal(signal.SIGTSTP)
    try:
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        with stepper._suspendable(screen):
            on_stop = signal.getsignal(signal.SIGTSTP)
            with con:  # inside a print: what rich writes waits for its end
                screen.drawing = True
                on_stop(signal.SIGTSTP, None)
                mid = con.file.getvalue()
                screen.drawing = False
            assert stops == [signal.SIGTSTP] and mid == stepper._LEAVE + stepper._ENTER
            con.file.seek(0)
            con.file.truncate()
            on_stop(signal.SIGTSTP, None)  # waiting at the prompt: all of it drawn again
            out = con.file.getvalue()
            assert out.startswith(stepper._LEAVE + stepper._ENTER) and out.endswith("› g 1")
            assert out.count("node 1 of") == 1
            assert signal.getsignal(signal.SIGTSTP) is on_stop  # set again for the next one
    finally:
        signal.signal(signal.SIGTSTP, before)


def test_a_screen_stopped_while_being_written_is_written_again_once_done():
    """A Ctrl-Z while a screen was still on its way to the terminal (keys typed ahead, a slow
    link) lost it: the kernel drops what the terminal has not shown, and `fg` gave a blank
    screen, the redraw skipped as 'completing itself' (a review of the change)."""
    from tinygrad_lstm.viz import stepper

    class Stopped(Console):  # a Ctrl-Z in the middle of the first screen's print
        calls = 0

        def print(self, *args, **kw):
            super().print(*args, **kw)
            Stopped.calls += 1
            if Stopped.calls == 1:
                assert screen.drawing
                screen.stale = True  # what the handler does while a screen is being drawn

    con = Stopped(file=io.StringIO(), width=80, height=30, color_system=None)
    screen = stepper._Screen(con, record(tiny_lstm(T=2)[0]), "t")
    screen.show()
    assert con.file.getvalue().count("node 1 of") == 2 and not screen.stale
    Stopped.calls = 0
    con.file.seek(0)
    con.file.truncate()
    con.input = lambda *a, **kw: "n"
    assert screen.ask("› ") == "n"  # stopped while the prompt was written: screen and prompt
    assert con.file.getvalue().count("node 1 of") == 1 and con.file.getvalue().count("› ") == 2


def test_vanishing_says_that_q_goes_on_to_its_next_walk():
    # `q quit` on the RNN's walk opened the LSTM's (a newcomer's review)
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["demos/vanishing.py", "--steps", "1", "--toy-T", "4",
                                           "--T", "6", "--hidden", "4", "--graph-T", "3",
                                           "--step"], cwd=str(ROOT), encoding="utf-8",
                          codec_errors="replace", dimensions=(40, 110), timeout=60)
    try:
        child.expect("walk 1 of 3: RNN")
        child.expect("q next walk")
        child.expect("› ")
        child.sendline("q")
        child.expect("walk 2 of 3: LSTM fb=3")
        child.expect("q next walk")
        child.expect("› ")
        child.sendline("q")
        child.expect("walk 3 of 3: GRU zb=3")
        child.expect("p h path · g N node · c end · q quit")  # h[t−1] → × z → + → h[t]
        child.expect("› ")
        child.sendline("p")
        child.expect(r"node 2 of \d+")
        child.expect(r"h\[t=3\] = \(1 − z\[t=3\]\) × n\[t=3\] \+ z\[t=3\] × h\[t=2\]")
        child.expect("━ h path")
        child.expect("› ")
        child.sendline("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_a_notebooks_shell_command_prints_every_node_and_waits_for_no_key():
    """`!python demos/hello.py --step` in a Jupyter cell runs in a terminal that shows the
    output but sends no keys: the stepper waited at its first screen for ever (a notebook
    review helper). A program the kernel started has its JPY_PARENT_PID."""
    pexpect = pytest.importorskip("pexpect")
    import os
    child = pexpect.spawn(sys.executable, ["tests/step_target.py", "--T", "2"], cwd=str(ROOT),
                          env={**os.environ, "JPY_PARENT_PID": "1"}, encoding="utf-8",
                          codec_errors="replace", dimensions=(40, 110), timeout=30)
    child.logfile_read = log = io.StringIO()
    try:
        child.expect(pexpect.EOF)  # no key sent
    finally:
        child.close()
    out = log.getvalue()
    assert child.exitstatus == 0 and out.count("╭─ backprop") == 44 and "node 44 of 44" in out
    assert "\x1b[?1049h" not in out and "› " not in out  # no other screen, no prompt


def test_pty_session_on_a_tiny_lstm():
    _session(["tests/step_target.py"], [
        ("n", [r"node 2 of 60", r"stack\(h\[t=1\] … h\[t=3\]\) ×"]),
        ("b", [r"node 1 of 60", r"mean\("]),
        ("t 2", [r"node 20 of 60", r"h\[t=2\] = o\[t=2\] × tanh\(c\[t=2\]\)", "← here"]),
        ("p", [r"node 22 of 60", r"c\[t=2\] = f\[t=2\] × c\[t=1\] \+ i\[t=2\] × g\[t=2\]"]),
        ("t", []), ("1", [r"node 36 of 60", r"h\[t=1\] ="]),
        ("c", [r"node 60 of 60", "weight_ih_l0"]),
        ("q", ["looked at 6 of the 60 nodes of the backward pass"])])
    # quitting early says how many screens one saw (it said all 60 were stepped through,
    # after a jump to the end too)
    _session(["tests/step_target.py"], [
        ("n", [r"node 2 of 60"]), ("c", [r"node 60 of 60"]),
        ("q", ["looked at 3 of the 60 nodes"])])


def test_pty_session_on_the_hello_demo():
    demo = ROOT / "demos" / "hello.py"
    _session([str(demo), "--step", "--steps", "2"], [
        ("n", [r"node 2 of N"]), ("b", [r"node 1 of N"]),
        ("t 2", [r"node \d+ of N", r"h\[t=2\]", "← here"]),
        ("c", [r"node N of N"]), ("q", ["looked at 4 of the N nodes"])])


def test_no_pause_cli_exits_zero():
    r = subprocess.run([sys.executable, "tests/step_target.py", "--no-pause", "--T", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    N = int(re.search(r"node 1 of (\d+)", r.stdout).group(1))
    assert r.stdout.count("╭─ backprop") == N == 44


# --- every op and cell variant renders -----------------------------------------------------------

def test_every_op_has_a_rule_with_its_numbers():
    import tinygrad_lstm.functional as F
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    W = Tensor(np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32),
               requires_grad=True)
    z = (x @ W).relu() - 0.5
    loss = (F.cross_entropy(z, np.arange(4)) + (z ** 2).mean() / 3.0 + z.max()
            + (z.exp() + 1.0).log().sum() + Tensor.cat([z, -z], 0).reshape(-1).T.sum()
            + (z - z.sum(axis=0, keepdims=True)).mean())  # a sub that sums back a broadcast
    walk = record(loss, {"W": W})
    seen, subs = {}, []
    for s in walk.steps:
        panel = capture(make_step_panel(walk, s.index), width=200)
        seen.setdefault(s.node.op, panel)
        if s.node.op == "sub":
            subs.append(panel)
    assert {"matmul", "relu", "sub", "pow", "div", "max", "exp", "log", "sum", "mean", "cat",
            "neg", "reshape", "transpose", "getitem", None} <= set(seen)
    assert "the op's own backward" not in "".join(seen.values())
    relu = find(walk, lambda n: n.op == "relu")
    share = np.mean(relu.node.parents[0].data > 0)
    assert f"[x > 0]   the share that passes, here mean {fmt(share)}" in seen["relu"]
    assert "pow: ∂L/∂x = ∂L/∂y · p·x^(p−1)   p = 2" in seen["pow"]
    assert "− hands ∂L/∂y to the left input and −∂L/∂y to the right" in seen["sub"]
    assert any("(summed over the axes it was broadcast along)" in p for p in subs)


@pytest.mark.parametrize("kind", ["gru", "bidirectional", "lstm1997", "coupled", "peephole"])
def test_cell_variants_render_and_mark_their_paths(kind):
    from tinygrad_lstm.rnn import CoupledLSTMCell, LSTM1997Cell, PeepholeLSTMCell
    layer, kw = {"gru": (nn.GRU, {}), "bidirectional": (nn.LSTM, {"bidirectional": True}),
                 "lstm1997": (nn.LSTM, {"cell": LSTM1997Cell}),
                 "coupled": (nn.LSTM, {"cell": CoupledLSTMCell}),
                 "peephole": (nn.LSTM, {"cell": PeepholeLSTMCell})}[kind]
    loss, model, _ = tiny_lstm(layer=layer, **kw)
    walk = record(loss, model)
    on = [s for s in walk.steps if walk.on_path(s.node)]
    state = "h" if kind == "gru" else "c"  # a GRU's additive path is h's own
    assert walk.path_state == state
    names = {s.node.name for s in on}  # every state, and between two only unnamed nodes
    assert state in names and names <= {state, None}
    assert all(s.node.op in ("add", "mul") for s in on)
    for s in walk.steps[:4] + on[:4] + walk.steps[-2:]:
        assert f"node {s.index + 1} of {len(walk)}" in capture(make_step_panel(walk, s.index))


def test_formulas_show_a_scalar_constant_as_its_value():
    loss, model, _ = tiny_lstm(layer=nn.GRU)
    walk = record(loss, model)
    h = find(walk, lambda n: n.name == "h" and n.scope.get("t") == 3)
    assert walk.expr(h.node, depth=3, named=False) == "(1 − z[t=3]) × n[t=3] + z[t=3] × h[t=2]"
    assert fmt(-0.0) == "0" and fmt(-1e-5) == "-1e-05"


def test_formulas_name_a_steps_row_of_the_input_projection_by_its_t():
    """The row a layer takes of its input projection at step t was `…[t − 1]`, its 0-based
    index next to the 1-based `h[t−1]`: `σ((…[1] + h[t=1] @ W_hhᵀ)…)` read as one step."""
    loss, model, _ = tiny_lstm(num_layers=2, bidirectional=True)
    walk = record(loss, model)
    seen = {}
    for s in walk.steps:
        if s.node.name == "i":
            sc = s.node.scope
            seen[sc["layer"], sc.get("direction"), sc["t"]] = walk.expr(s.node, 3, named=False)
    assert seen[0, None, 2] == "σ((xw[l=0,t=2] + h[l=0,t=1] @ weight_hh_l0ᵀ)[:,0:3])"
    assert seen[1, "reverse", 1] == ("σ((xw[l=1,t=1,rev] + h[l=1,t=2,rev] @ "
                                     "weight_hh_l1_reverseᵀ)[:,0:3])")
    assert len(seen) == 12 and all("xw[" in f and "…" not in f for f in seen.values())
    loss, model, _ = tiny_lstm(layer=nn.GRU)
    walk = record(loss, model)
    r = find(walk, lambda n: n.name == "r" and n.scope["t"] == 2)
    assert walk.expr(r.node, 3, named=False) == \
        "σ(xw[t=2][:,0:3] + (h[t=1] @ weight_hh_l0ᵀ)[:,0:3])"
    # rows taken otherwise keep their index: of a leaf, or at a t that is not index + 1
    x = Tensor(np.ones((3, 1, 2), np.float32), requires_grad=True)
    y = x @ Tensor(np.ones((2, 2), np.float32))
    with scope(t=1):
        picks = [y[1], x[0], y[0]]
    walk = record(sum(p.tanh() for p in picks).sum())
    assert {walk.expr(s.node) for s in walk.steps if s.node.op == "tanh"} == {
        "tanh(…[1])", "tanh(leaf (3, 1, 2)[0])", "tanh(xw[t=1])"}


def test_a_step_prints_on_one_line():
    """The dataclass's repr printed every array: `step(loss)` as a notebook cell's last line
    echoed 56 KB for T=3 (a notebook review helper)."""
    loss, model, _ = tiny_lstm()
    steps = record(loss, model).steps
    h3 = find(record(tiny_lstm()[0]), lambda n: n.name == "h" and n.scope["t"] == 3)
    assert repr(h3) == f"Step({h3.index}, h[layer=0,t=3] (1, 3), ‖∂L‖ {fmt(norm(h3.grad))})"
    assert repr(steps[0]) == "Step(0, mean (), ‖∂L‖ 1)" and len(repr(steps)) < 60 * len(steps)


def test_the_walk_record_needs_no_rich():
    # walk.py is what the stepper reads; it must work where rich is not installed
    code = ("import sys; sys.modules['rich'] = None\n"
            "from tinygrad_lstm import nn, Tensor\n"
            "from tinygrad_lstm.viz.walk import record\n"
            "lstm = nn.LSTM(2, 3)\n"
            "out, _ = lstm(Tensor([[[1.0, 2.0]], [[0.5, -1.0]]]))\n"
            "w = record(out.sum(), lstm)\n"
            "print(len(w), sum(w.on_path(s.node) for s in w.steps), w.label(lstm.weight_hh_l0))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    nodes, on_path, label = run.stdout.split()
    assert int(nodes) > 20 and int(on_path) >= 2 and label == "weight_hh_l0"


# --- gradients at the ends of float32 ------------------------------------------------------------

def test_norms_of_tiny_and_huge_float32_gradients_are_not_0_or_inf():
    """‖·‖ of a float32 gradient of 2e-25 squared its entries in float32: 0, next to the
    nonzero values it printed (a vanishing gradient a few hundred steps back); of 2e20, inf."""
    for value, want in [(1e-25, 4e-25), (1e20, 4e20)]:
        x = Tensor(np.full(4, value, np.float32), requires_grad=True)
        with np.errstate(over="ignore"):  # the loss, 4e40, is inf; the gradients are not
            walk = record((x * x).sum(), {"x": x})
        s = find(walk, lambda n: n is x)
        assert s.grad.dtype == np.float32 and np.all(s.grad > 0)
        assert stepper.norm(s.grad) == pytest.approx(want, rel=1e-6)
        assert f"‖·‖ {fmt(want)}" in line_of(capture(make_step_panel(walk, s.index)), "in ")


def test_inf_and_nan_gradients_are_shown_not_a_crash():
    """An overflowing loss sends inf and nan back through the states: the timestep panel's
    log-scale bars raised "cannot convert float NaN to integer" on every screen after that."""
    rng = manual_seed(0)
    model = nn.LSTM(2, 3, rng=rng)
    out, _ = model(Tensor(np.random.default_rng(1).standard_normal((3, 1, 2)).astype(np.float32)))
    with np.errstate(all="ignore"):
        walk = record((out * out).mean() * Tensor(np.float32(np.inf)), model)
        (entries,) = walk.states.values()  # one lane: layer 0 of the one call
        norms = [e[3] for e in entries]
        assert np.inf in norms and any(np.isnan(norms))
        text = capture(make_step_panel(walk, len(walk) - 1))
    rows = {ln.split()[1]: ln for ln in text.splitlines() if re.match(r"│ \d ", ln)}
    assert "█" * stepper.BAR + "       inf" in rows["3"]  # inf: the full bar
    assert "nan" in text


def test_bad_params_are_refused_before_the_backward_runs():
    """A list of tensors as params: each Tensor was iterated row by row (new graph nodes, and
    names that were rows) or failed to unpack, after the backward had run."""
    loss, model, _ = tiny_lstm()
    con = Console(file=io.StringIO(), width=100, color_system=None)
    for bad, held in [(model.parameters(), "list holding Parameter"),
                      (model.state_dict(), "OrderedDict holding 'weight_ih_l0': ndarray"),
                      (model.weight_hh_l0, "Parameter")]:
        with pytest.raises(TypeError, match=r"step: params must be a Module, a \{name: tensor\} "
                                            rf"dict or \(name, tensor\) pairs; got {held}"):
            stepper.step(loss, console=con, no_pause=True, params=bad)
        with pytest.raises(TypeError, match=f"record: params .* got {held}"):
            record(loss, bad)
    assert all(p.grad is None for p in model.parameters()) and con.file.getvalue() == ""
    walk = record(loss, model.named_parameters())  # the graph is whole: it walks now
    assert walk.label(model.weight_hh_l0) == "weight_hh_l0"


def test_a_narrow_terminal_keeps_the_timestep_column_and_here():
    """At 60 columns the LSTM's two bar columns of 16 did not fit: rich squeezed the t column
    and "← here" to nothing and cut the norms ("1.18e-0"). The bars now shorten instead."""
    loss, model, states = tiny_lstm(T=4)
    con = Console(file=io.StringIO(), width=60, color_system=None)
    stepper.step(loss, console=con, no_pause=True, params=model)
    out = con.file.getvalue()
    rows = [ln for ln in out.splitlines() if "not yet" in ln or "█" in ln]
    assert rows and all(re.match(r"│ +\d+  ", ln) for ln in rows), rows[:3]
    here = [ln for ln in out.splitlines() if "← here" in ln]
    blocks = out.count("╭─ backprop")
    assert len(here) > blocks // 2 and all(re.match(r"│ +\d+  ", ln) for ln in here)
    assert not re.search(r"\d\.\d\de[+-]\d? ", out)  # no norm cut short



@pytest.mark.parametrize("width", [50, 60])
def test_a_narrow_windowed_panel_keeps_the_timestep_column_and_here(width):
    """Windowed (a short screen), the "⋮ 9 later timesteps" row sat in the first bar column
    and widened it, so that at 60 columns rich squeezed out the t column and "← here"."""
    loss, model, states = tiny_lstm(T=20)
    walk = record(loss, model)
    k = walk.index[id(states.get("h")[9])]  # h at t = 10: timesteps left out on both sides
    con = Console(file=io.StringIO(), width=width, height=24, color_system=None)
    con.print(stepper.make_step_panel(walk, k, max_rows=6, width=width))
    out = con.file.getvalue()
    assert re.search(r"⋮ \d+ later timesteps", out) and re.search(r"⋮ \d+ earlier timesteps", out)
    rows = [ln for ln in out.splitlines() if "not yet" in ln or "█" in ln]
    assert len(rows) == 6 and all(re.match(r"│ +\d+  ", ln) for ln in rows), rows
    assert [ln for ln in rows if "← here" in ln][0].startswith("│ 10  ")
    assert not re.search(r"\d\.\d\de[+-]\d? ", out)  # no norm cut short

def test_stepping_a_loss_whose_backward_ran_says_so():
    """As the README warns: drawing with grads=True ran the backward. The engine's error told
    the user to pass retain_graph=True to a backward() they never called."""
    from tinygrad_lstm.viz.graph import draw
    loss, model, _ = tiny_lstm()
    draw(loss, grads=True)
    con = Console(file=io.StringIO(), width=100, color_system=None)
    with pytest.raises(RuntimeError, match=r"^step: this loss's backward has already run .* "
                                           r"compute the loss again$"):
        stepper.step(loss, console=con, no_pause=True)
    assert con.file.getvalue() == ""


def test_formulas_call_leaves_what_the_graph_calls_them():
    rng = np.random.default_rng(0)
    x, zeros = Tensor(rng.standard_normal((2, 3))), Tensor(np.zeros((2, 4)))
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = x @ w + zeros
    walk = record(y.sum())
    assert walk.expr(y, named=False) == "input (2, 3) @ leaf (3, 4) + zeros (2, 4)"
    y = x @ w * Tensor(np.full((2, 4), 2.0))
    assert record(y.sum()).expr(y, named=False) == "(input (2, 3) @ leaf (3, 4)) × constant (2, 4)"


def test_a_one_element_constant_that_is_not_0d_is_written_as_its_value():
    # numpy 2.4 refuses float() of a (1, 1) array: a (1, 1) target broke every screen
    lstm = nn.LSTM(2, 3, rng=np.random.default_rng(0))
    out, _ = lstm(Tensor(np.ones((2, 1, 2), np.float32)))
    target = Tensor(np.array([[0.5]], np.float32))
    loss = ((out[-1][:, :1] - target) ** 2).mean()
    walk = record(loss, lstm)
    assert "0.5" in walk.expr(loss, depth=3, named=False)
    for s in walk.steps:
        capture(make_step_panel(walk, s.index))


def test_the_timestep_panel_of_a_weight_shows_the_layer_the_walk_was_in():
    # a leaf has no scope; its panel showed the first layer in the dict (layer 1) for a
    # layer-0 weight, reached after the walk had left layer 1
    lstm = nn.LSTM(3, 4, num_layers=2, rng=np.random.default_rng(0))
    out, _ = lstm(Tensor(np.ones((3, 1, 3), np.float32)))
    walk = record(out[-1].sum(), lstm)
    s = find(walk, lambda n: n is lstm.weight_ih_l0)
    before = next(t for t in reversed(walk.steps[:s.index]) if (t.node.scope or {}).get("t"))
    assert before.node.scope["layer"] == 0
    text = capture(make_step_panel(walk, s.index), width=120)
    assert "gradient that has reached each timestep · layer 0" in text


def test_states_are_named_as_the_graph_names_them():
    # the stepper wrote c[rev,t=2] where the graph writes c[t=2,rev]. Where several layers
    # are recorded, layer 0's states say l=0 (the graph's row of boxes says it; a stepper
    # formula has no box, and a bare h[t=3] there read as "the" h: found by the review helper)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
    out, _, states = lstm(Tensor(np.ones((2, 1, 3), np.float32)), return_states=True)
    walk = record(out.sum(), lstm)
    assert walk.label(states.get("c", layer=0)[0]) == "c[l=0,t=1]"
    assert walk.label(states.get("c", layer=1)[0]) == "c[l=1,t=1]"
    assert walk.label(states.get("c", layer=0, direction=1)[0]) in ("c[l=0,t=1,rev]",
                                                                     "c[l=0,t=2,rev]")
    one = nn.LSTM(3, 4, rng=np.random.default_rng(0))
    out, _, states = one(Tensor(np.ones((2, 1, 3), np.float32)), return_states=True)
    assert record(out.sum(), one).label(states.get("c")[0]) == "c[t=1]"  # one layer: no l


def test_a_users_function_whose_backward_returns_lists_is_stepped_as_plain_backward_runs():
    """backward() takes a user Function's gradients as lists or numbers (and another float
    dtype); the stepper's walk handed them to the screens as given, which read .shape and
    failed with AttributeError after the backward had run."""
    from tinygrad_lstm import Function

    class Scale(Function):
        op, symbol = "scale", "s"

        def forward(self, x):
            return x * 3

        def backward(self, g):
            return ((g * 3).tolist(),)

    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    con = Console(file=io.StringIO(), width=100, color_system=None)
    steps = stepper.step(Scale.apply(w).sum(), console=con, no_pause=True)
    assert np.array_equal(w.grad, np.full(3, 3.0, np.float32)) and w.grad.dtype == np.float32
    (handed,) = [s.parent_grads[0] for s in steps if s.node.op == "scale"]
    assert type(handed) is np.ndarray and handed.dtype == np.float32
    assert "node 3 of 3" in con.file.getvalue()


@pytest.mark.parametrize("auto", [-1, float("nan"), float("inf"), True, "fast"])
def test_a_bad_auto_is_refused_before_the_backward_runs(auto):
    # was: ValueError('sleep length must be non-negative') once the walk had run
    loss, model, _ = tiny_lstm()
    with pytest.raises(ValueError, match=r"^step: auto must be a number of seconds per node"):
        stepper.step(loss, console=Console(file=io.StringIO()), auto=auto, interactive=True)
    assert all(p.grad is None for p in model.parameters())
    record(loss)  # the graph is whole: it walks now


def test_loops_of_ones_own_scopes_keep_their_timesteps_apart():
    """An encoder's and a decoder's loop (scope(part=..., t=t)), which the picture draws as two
    rows, shared one per-timestep panel keyed by (layer, direction): the decoder's h_3 row
    showed the encoder's number by the last node (found by the review helper)."""
    from tinygrad_lstm import scope
    rng = manual_seed(0)
    enc, dec = nn.LSTMCell(2, 3, rng=rng), nn.LSTMCell(2, 3, rng=rng)
    xs = Tensor(np.random.default_rng(1).standard_normal((3, 1, 2)).astype(np.float32))
    hc, loss, hs = None, 0, {}
    for part, cell in (("enc", enc), ("dec", dec)):
        for t in range(1, 4):
            with scope(part=part, t=t):
                hc = cell(xs[t - 1], hc)
            hs[part, t] = hc[0].retain_grad()
            if part == "dec":
                loss = loss + (hc[0] * hc[0]).mean()
    walk = record(loss)
    assert set(walk.states) == {(("part", "enc"),), (("part", "dec"),)} and walk.multi
    for part in ("enc", "dec"):
        got = {e[2]: e[3] for e in walk.states[(("part", part),)] if e[1] == "h"}
        for t in (1, 2, 3):
            np.testing.assert_allclose(got[t], np.linalg.norm(hs[part, t].grad), rtol=1e-6)
    last = capture(make_step_panel(walk, len(walk) - 1))
    assert "gradient that has reached each timestep · part enc" in last


def test_a_tensor_used_twice_by_one_op_lists_that_op_once_among_its_consumers():
    # `w × w` was listed twice: "consumers: leaf (3,) × leaf (3,), leaf (3,) × leaf (3,)"
    w = Tensor(np.ones(3), requires_grad=True)
    walk = record((w * w).sum())
    (k,) = [s.index for s in walk.steps if s.node is w]
    assert len(walk.children[id(w)]) == 1
    text = capture(make_step_panel(walk, k))
    assert "consumers: leaf (3,) × leaf (3,)" in text and "), leaf" not in text


@pytest.mark.parametrize("layer, T, size, kw", [
    (nn.LSTM, 12, (80, 24), {}), (nn.RNN, 12, (80, 24), {}), (nn.LSTM, 8, (80, 24), {}),
    (nn.RNN, 30, (120, 40), {}), (nn.LSTM, 12, (60, 20), {}),
    (nn.LSTM, 12, (80, 24), dict(num_layers=2, bidirectional=True)),
    (nn.GRU, 12, (80, 24), dict(bidirectional=True)), (nn.GRU, 5, (80, 24), {}),
    (nn.GRU, 12, (60, 20), {})])
def test_every_screen_fits_the_terminal_so_its_title_stays_on_it(layer, T, size, kw):
    """fit_step_panel tried two sizes, cutting a row cap above the rows there were, and the
    screens of a T = 12 LSTM at 80x24 came out 1 to 6 lines too tall: the terminal scrolled
    the title ("node k of N") and the node off the top (found by the review helper). A
    stacked bidirectional layer's formulas wrapped over up to 8 lines, and at 60x20 a third
    of an LSTM's screens were too tall: texts are then cut to a line each."""
    from tinygrad_lstm.viz.stepper import fit_step_panel
    loss, model, _ = tiny_lstm(T=T, layer=layer, **kw)
    walk = record(loss, model)
    width, height = size
    con = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    for k in sorted(set(range(0, len(walk), max(1, len(walk) // 10))) | {1, 2, len(walk) - 1}):
        for message in (None, walk.no_path or "a two-line message\nof the navigation"):
            panel = fit_step_panel(con, walk, k, title="t", message=message)
            lines = con.render_lines(panel, pad=False)
            assert len(lines) <= height - 1, (k, len(lines))
            top = "".join(seg.text for seg in lines[0])
            assert f"node {k + 1} of {len(walk)}" in top
            # cut to fit, a screen still shows the norms in and out: rich squeezed the label,
            # shape and norm columns to nothing on some 80x24 screens (review helper)
            text = "\n".join("".join(seg.text for seg in line) for line in lines)
            st = walk.steps[k]
            assert re.search(rf"\bin +∂L/∂.* ‖·‖ {re.escape(fmt(norm(st.grad)))} ", text), \
                (k, text)
            if any(g is not None for g in st.parent_grads):
                assert "out →" in text, (k, text)
            # the key help keeps "q quit" (at 60 columns it lost "c end · q quit")
            assert "q quit" in "".join(seg.text for seg in lines[-1])


def test_a_terminal_too_short_for_the_timestep_bars_is_told_how_tall_shows_them():
    """Below ~17 rows the per-timestep panel was dropped without a word, which read as a
    walk with no timesteps (a review of terminals). The screen's title says so now, and the
    height it names does show the bars."""
    from tinygrad_lstm.viz.stepper import fit_step_panel
    loss, model, _ = tiny_lstm(T=6)
    walk = record(loss, model)
    k = len(walk) // 2

    def screen(height):
        con = Console(file=io.StringIO(), width=80, height=height, color_system=None)
        lines = con.render_lines(fit_step_panel(con, walk, k, title="t"), pad=False)
        return "\n".join("".join(seg.text for seg in line) for line in lines)

    text = screen(12)
    said = re.search(r"backprop · t · timestep bars need (\d+) rows · node", text)
    assert said and "gradient that has reached each timestep" not in text, text
    need = int(said.group(1))
    assert "gradient that has reached each timestep" in screen(need)
    assert "bars need" not in screen(need)
    assert "bars need" in screen(need - 1)
    # narrower, the note is shorter but its number whole: it was cut to "bars need 1…" at 54
    # columns and to nothing below (a review of the change)
    for width in range(40, 81):
        con = Console(file=io.StringIO(), width=width, height=12, color_system=None)
        lines = con.render_lines(fit_step_panel(con, walk, k, title="hello · LSTM"), pad=False)
        top = "".join(seg.text for seg in lines[0])
        said = re.search(rf"bars(?: need|:) (\d+) rows · node {k + 1} of", top)
        assert said and int(said.group(1)) >= need, (width, top)  # narrower: more rows


@pytest.mark.parametrize("width", [60, 80])
def test_a_short_terminal_gets_a_screen_that_fits_whenever_one_can(width):
    """The note that the timestep bars are hidden was added after the fitting, and at the
    heights where the smallest screen just fitted it made the screen a line too tall: the
    terminal scrolled the title off (39 of 480 sizes, a review of the change)."""
    from tinygrad_lstm.viz.stepper import fit_step_panel, make_step_panel
    loss, model, _ = tiny_lstm(T=6)
    walk = record(loss, model)
    for height in range(6, 22):
        con = Console(file=io.StringIO(), width=width, height=height, color_system=None)
        for k in (0, 1, len(walk) // 2, len(walk) - 1):
            lines = len(con.render_lines(fit_step_panel(con, walk, k, title="t"), pad=False))
            smallest = len(con.render_lines(make_step_panel(
                walk, k, title="t", max_out=2, width=width, bars=False, compact=True),
                pad=False))
            assert lines <= max(height - 1, smallest), (height, k, lines, smallest)


def test_two_calls_of_one_layer_keep_their_own_timestep_rows():
    """The truncated-BPTT pattern with both chunks' losses in one graph: the walk kept one
    row per (h, t) for both calls, so the panel showed 3 rows for 6 steps, and at the first
    call's h[t=3] it showed the second call's numbers as reached. Each call is its own lane
    now, its rows its own numbers."""
    manual_seed(0)
    lstm = nn.LSTM(2, 3)
    x = Tensor(np.random.default_rng(1).standard_normal((6, 1, 2)).astype(np.float32))
    out1, (h, c), s1 = lstm(x[:3], return_states=True)
    out2, _, s2 = lstm(x[3:], (h.detach(), c.detach()), return_states=True)
    for s in (s1, s2):
        for t in s.get("h"):
            t.retain_grad()
    walk = record((out1 * out1).mean() + (out2 * out2).mean())
    assert sorted(walk.lane_label(k) for k in walk.states) == ["layer 0 call 1",
                                                               "layer 0 call 2"]
    assert walk.label(s1.get("h")[2]) == "h[call=1,t=3]"  # both read h[t=3]
    assert walk.label(s2.get("c")[0]) == "c[call=2,t=1]"
    for lane, states in zip(sorted(walk.states, key=walk.lane_label), (s1, s2)):
        got = {e[2]: e[3] for e in walk.states[lane] if e[1] == "h"}
        want = {t: float(np.linalg.norm(h.grad)) for t, h in enumerate(states.get("h"), 1)}
        assert got == pytest.approx(want, rel=1e-6)
    # at the first call's h[t=3], none of that call's earlier steps is reached yet
    k = next(s.index for s in walk.steps if s.node is s1.get("h")[2])
    rows = {line.split()[0]: line for line in capture(make_timestep_panel(walk, k)).splitlines()[1:]}
    assert "e-" in rows["3"] and "← here" in rows["3"]
    for t in ("2", "1"):
        assert rows[t].count("not yet") == 2 and "e-" not in rows[t], rows[t]


def test_a_power_shows_its_exponent_in_the_formula():
    # `^(a @ w)`: the exponent was left out
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    walk = record(((a @ w) ** 2).mean())
    assert walk.expr(walk.steps[1].node, 3, named=False) == "(leaf (2, 3) @ leaf (3, 2))^2"


def test_numbers_on_screen_have_three_digits_and_a_cut_preview_says_so():
    # nothing pinned these (found by mutation testing): 4 digits, or a preview that drops
    # its "…" and looks like the whole array, went unnoticed
    from tinygrad_lstm.viz.stepper import preview
    assert fmt(0.0123456) == "0.0123" and fmt(123456.0) == "1.23e+05" and fmt(-0.0) == "0"
    assert fmt(np.array([[2.5e-7]], np.float32)) == "2.5e-07"
    assert preview(np.arange(6.0)) == "[0 1 2 3 …]" and preview(np.arange(3.0)) == "[0 1 2]"
    assert preview(np.arange(4.0)) == "[0 1 2 3]"


def test_a_weights_screen_shows_the_timesteps_of_its_own_layer():
    # weight_hh_l1's screen showed layer 0's timesteps, the last lane the walk was in
    manual_seed(0)
    m = nn.LSTM(2, 3, num_layers=2)
    walk = record((m(Tensor(np.ones((3, 1, 2), np.float32)))[0] ** 2).mean(), m)
    for s in walk.steps:
        for layer in (0, 1):
            if s.node is getattr(m, f"weight_hh_l{layer}"):
                assert walk.lane_label(walk.focus[s.index]) == f"layer {layer}"


@pytest.mark.parametrize("auto", [False, True])
def test_ctrl_c_in_the_stepper_ends_the_demo_as_in_training(auto):
    # Ctrl-C left only the current walk (vanishing then started the next one) with status
    # 0; it now ends the demo with "interrupted", status 130, as Ctrl-C in training does,
    # from the keys and from the animation alike
    pexpect = pytest.importorskip("pexpect")
    argv = [str(ROOT / "demos" / "hello.py"), "--step", "--steps", "2"] \
        + (["--auto", "0.2"] if auto else [])
    child = pexpect.spawn(sys.executable, argv, cwd=str(ROOT), encoding="utf-8",
                          codec_errors="replace",  # an echoed ^C can split a 3-byte ─
                          dimensions=(40, 110), timeout=30,
                          # Ctrl-C as a terminal gives it, even when these tests run as a
                          # background job (`pytest &`), whose children start with SIGINT
                          # ignored (and Python then leaves it so)
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        child.expect(r"node 1 of \d+")
        if not auto:
            child.expect("› ")
        child.sendintr()
        if not auto:  # (the animation may be between two screens: its line is not waited for)
            child.expect("looked at 1 of the")
        child.expect("interrupted")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 130


def test_a_weights_consumers_say_their_timestep():
    # `input (2, 3) @ W, input (2, 3) @ W, …`: one consumer a step, not told apart
    from tinygrad_lstm import scope
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 2, 3)))
    W = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    h = Tensor(np.zeros((2, 4)))
    for t in range(3):
        with scope(t=t):
            h = (x[t] @ W + h).tanh().named("h")
    walk = record((h * h).mean(), {"W": W})
    text = capture(make_step_panel(walk, walk.index[id(W)]))
    assert "consumers: input (2, 3) @ W at t=2, input (2, 3) @ W at t=1, input (2, 3) @ W at " \
           "t=0" in text


def test_a_sum_as_a_factor_is_bracketed():
    # `· 1 − z[t=2]` read as (· 1) − z: the × row writes the factor as inside a product
    loss, model, states = tiny_lstm(layer=nn.GRU)
    walk = record(loss, model)
    mul = states.get("h")[1].parents[0]  # (1 − z) × n
    text = capture(make_step_panel(walk, walk.index[id(mul)]), width=140)
    assert "· (1 − z[t=2]), mean" in handed_to(text, "n[t=2]")
    assert "· n[t=2], out/in" in handed_to(text, "1 − z[t=2]")


def test_the_timestep_bars_of_every_layer_share_one_scale():
    """Each layer's panel scaled its own bars, its largest norm the full bar: layer 0's
    4.5e-03 drew as long as layer 1's 4.3e-02 (found by the review helper). One scale for the
    walk, as the docstring says: a tenth of the norm is a shorter bar in any layer."""
    model = nn.LSTM(2, 3, num_layers=2, rng=manual_seed(1), dtype=np.float64)
    out, _ = model(Tensor(np.random.default_rng(0).standard_normal((3, 2, 2))))
    walk = record((out * out).mean(), model)
    bars = {}  # norm -> bar length, over both layers' last screens
    for lane in walk.states:
        k = max(i for i in range(len(walk)) if walk.focus[i] == lane)
        for line in capture(make_timestep_panel(walk, k)).splitlines():
            for bar, value in re.findall(r"(█+) +(\d\.\d\de[-+]\d\d)", line):
                bars[float(value)] = len(bar)
    assert len(bars) == 12
    top = max(bars)
    assert bars[top] == stepper.BAR
    # one line through (log value, length), to rounding; 3 decades, the least a scale spans
    for value, length in bars.items():
        want = stepper.BAR + np.log10(value / top) / 3 * (stepper.BAR - 1)
        assert abs(length - want) <= 0.5 + 1e-9, (value, length, want)


def test_a_product_next_to_a_matmul_is_bracketed_and_a_chunked_weight_named():
    """Cho's GRU read `r[t=3] × h[t=2] @ W`, right by Python's left-to-right rule but read by
    most as torch's r × (h @ W), the very difference between the two GRU forms; and the
    weight's cut columns, past the formula's depth, were `…ᵀ` (found by the review helper)."""
    loss, model, _ = tiny_lstm(layer=nn.GRU, reset_after=False)
    walk = record(loss, model)
    k = next(i for i, s in enumerate(walk.steps) if s.node.op == "matmul"
             and s.node.parents[0].op == "mul")
    text = capture(make_step_panel(walk, k), width=140)
    assert re.search(r"node +\(r\[t=3\] × h\[t=2\]\) @ weight_hh_l0ᵀ\[:,6:9\]", text)
    assert "@ weight_hh_l0ᵀ[:,6:9]ᵀ (3, 3)" in text
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    walk = record((x[::-1] * x[:, None, 0] + x[::2].sum()).sum())
    assert {walk.expr(s.node) for s in walk.steps} >= {"leaf (3, 2)[::-1]",
                                                        "leaf (3, 2)[:,None,0]",
                                                        "leaf (3, 2)[::2]"}


def test_an_encoders_and_a_decoders_nodes_say_which_call_they_are_in():
    """Both layers are "layer 0": the facts line read `layer 0 · t 2` at the decoder's h[t=2]
    and at the encoder's, only the panel's heading telling them apart (review helper)."""
    enc, dec = nn.LSTM(2, 3, rng=manual_seed(0)), nn.LSTM(2, 3, rng=manual_seed(1))
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)).astype(np.float32))
    out, _ = dec(x, enc(x)[1])
    walk = record((out * out).mean())
    facts = [re.search(r"op mul \(×\) +(.*?) *│", capture(make_step_panel(walk, k), 120)).group(1)
             for k, s in enumerate(walk.steps)
             if s.node.name == "h" and s.node.scope.get("t") == 2]
    assert facts == ["layer 0 · call 2 · t 2", "layer 0 · call 1 · t 2"]
    loss, model, _ = tiny_lstm()  # one call: no call number
    walk = record(loss, model)
    k = next(k for k, s in enumerate(walk.steps) if s.node.name == "h")
    assert "op mul (×)   layer 0 · t 3" in capture(make_step_panel(walk, k))


def test_a_reverse_lanes_rows_run_in_the_order_the_walk_reaches_them():
    """The reverse direction's initial state (t = 0) feeds its step t = T, but its row sat
    under t = 1, where 8.9e-03 under 1.1e-01 read as a 12× drop (review helper). The reverse
    rows run t = 1 … T, then 0."""
    model = nn.LSTM(2, 3, bidirectional=True, rng=manual_seed(0), dtype=np.float64)
    h0, c0 = (Tensor(np.zeros((2, 1, 3)), requires_grad=True) for _ in range(2))
    out, _ = model(Tensor(np.random.default_rng(0).standard_normal((3, 1, 2))), (h0, c0))
    walk = record((out[0] ** 2).mean(), model)
    for lane in walk.states:
        k = max(i for i in range(len(walk)) if walk.focus[i] == lane)
        rows = [line.split()[0] for line in capture(make_timestep_panel(walk, k)).splitlines()[1:]
                if line.strip()]
        reverse = dict(lane).get("direction") == "reverse"
        assert rows == (["1", "2", "3", "0"] if reverse else ["3", "2", "1", "0"])
        # windowed at the last rows: the two cut above are t = 1, 2 (reverse), 3, 2 (forward)
        top = capture(make_timestep_panel(walk, k, max_rows=2)).splitlines()[0]
        assert top.strip() == ("⋮ 2 earlier timesteps" if reverse else "⋮ 2 later timesteps")


@pytest.mark.parametrize("width", [30, 40, 49, 60, 79, 120])
def test_the_key_help_keeps_q_quit_on_narrow_screens(width):
    # below 50 columns even the short help lost "q quit" (review helper)
    loss, model, _ = tiny_lstm(layer=nn.RNN)
    walk = record(loss, model)
    help_ = stepper.key_help(walk, width)
    assert help_.endswith("q quit") and len(help_) <= max(width - 6, 22)
    assert "(no path here)" in stepper.key_help(walk) and "(no path here)" in \
        stepper.key_help(walk, 120)


def test_the_last_nodes_key_help_says_that_enter_ends_the_walk():
    # on the last node ⏎ closed the screen (or went on to a demo's next walk) under a help
    # that said "⏎/n next" (a review)
    loss, model, _ = tiny_lstm()
    walk = record(loss, model)
    last = len(walk) - 1
    assert stepper.key_help(walk).startswith("⏎/n next · ")
    assert stepper.key_help(walk, last=True).startswith("⏎/n quit · ")
    assert stepper.key_help(walk, 60, last=True).startswith("⏎/n quit · ")
    assert "⏎/n quit" in capture(stepper.make_step_panel(walk, last))
    assert "⏎/n next" in capture(stepper.make_step_panel(walk, last - 1))
    assert stepper.navigate(walk, last, "")[0] is None  # and so it does
    walk.quit = "next walk"
    assert "⏎/n next walk" in capture(stepper.make_step_panel(walk, last))


@pytest.mark.parametrize("width", [40, 60, 100])
def test_a_long_title_is_cut_so_that_the_node_counter_stays(width):
    # rich wraps a panel title too long for the screen and keeps its first line: at 60
    # columns charlm's title lost "node k of N" without a mark
    loss, _, _ = tiny_lstm(T=2)
    con = Console(file=io.StringIO(), width=width, height=30)
    walk = stepper.record(loss, None, who="step")
    con.print(stepper.fit_step_panel(con, walk, 16, title="charlm · RNN · one step on a slice "
                                                           "T=4, B=1"))
    top = con.file.getvalue().splitlines()[0]
    assert f"· node 17 of {len(walk)}" in top and len(top) <= width
    assert ("…" in top) == (width < 100)


def test_the_loss_screens_say_cross_entropy_and_the_targets_logit():
    # every char-model walk opened on `mean(log(…) − …[·,·])`: neither word was on screen
    import tinygrad_lstm.functional as F
    logits = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    walk = stepper.record(F.cross_entropy(logits, np.array([0, 2, 1, 0])), None, who="step")
    con = Console(file=io.StringIO(), width=100, height=40)
    con.print(make_step_panel(walk, 0))
    assert "cross_entropy = mean(log(…) − z[target])" in con.file.getvalue()


# --- what a second mutation review found unchecked -------------------------------------------

def _step_of(walk, op):
    return next(s for s in walk.steps if s.node.op == op)


def test_the_rules_numbers_for_sub_relu_and_a_mean_over_an_axis():
    from tinygrad_lstm.viz.walk import rule
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    walk = record((a - b).sum())
    assert rule(walk, _step_of(walk, "sub"))[1] == ["unchanged", "negated, summed to (3,)"]
    walk = record((a - a * 2.0).sum())
    assert rule(walk, _step_of(walk, "sub"))[1] == ["unchanged", "negated"]
    x = Tensor(np.array([[1.0, 0.0, -2.0], [3.0, 4.0, 5.0]]), requires_grad=True)
    walk = record(x.relu().sum())
    assert "mean 0.667" in rule(walk, _step_of(walk, "relu"))[0]  # 0 does not pass: 4 of 6
    walk = record(x.mean(axis=1).sum())
    assert "∂L/∂y / 3 to each of the 3 averaged elements" in rule(walk, _step_of(walk, "mean"))[0]


def test_a_bidirectional_walk_labels_its_lanes_and_keeps_one_in_view_from_the_loss():
    manual_seed(0)
    model = nn.LSTM(2, 3, bidirectional=True)
    out, _ = model(Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)), dtype=np.float32))
    walk = record((out * out).mean())
    assert sorted(walk.lane_label(lane) for lane in walk.states) == ["layer 0",
                                                                     "layer 0 reverse"]
    head = nn.Linear(3, 2)  # the steps before the first h (loss, head) show a lane's bars
    y = head(nn.LSTM(2, 3)(Tensor(np.ones((3, 1, 2), np.float32)))[0])
    walk = record((y * y).mean())
    assert walk.focus[0] is not None and make_timestep_panel(walk, 0) is not None


def test_a_reverse_directions_steps_are_labelled_by_their_position_in_the_sequence():
    # t labels the position a state stands for, in either direction, as States indexes it
    manual_seed(0)
    model = nn.LSTM(2, 3, bidirectional=True)
    _, _, states = model(Tensor(np.ones((3, 1, 2), np.float32)), return_states=True)
    for direction in (0, 1):
        assert [h.scope["t"] for h in states.get("h", direction=direction)] == [1, 2, 3]


class _TtyOut(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self):
        return True


class _NoKeys(io.StringIO):
    """A terminal stdin that must not be read: the stepper would wait for keys."""

    def isatty(self):
        return True

    def readline(self, *args):
        raise AssertionError("the stepper waited for keys")


def test_force_color_does_not_make_a_log_file_a_terminal(monkeypatch):
    # FORCE_COLOR makes rich take any file for a terminal: `--step > log` in a terminal then
    # waited for keys, blind, its screens going to the log (a review of terminals)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stdin", _NoKeys())
    steps = stepper.step(tiny_lstm(T=2)[0])
    assert "node 44 of 44" in sys.stdout.getvalue() and len(steps) == 44
    from tinygrad_lstm import cli
    import types
    term = types.SimpleNamespace(is_terminal=True, is_jupyter=False)
    assert not cli.bar_shown(term, io.StringIO()) and cli.bar_shown(term, _TtyOut())


def test_a_closed_stdin_reads_no_keys(monkeypatch):
    # `python demos/hello.py --step <&-`: sys.stdin is None, and `sys.stdin.isatty()` was an
    # AttributeError after the training (a review of terminals)
    monkeypatch.setattr(sys, "stdout", _TtyOut())
    monkeypatch.setattr(sys, "stdin", None)
    assert len(stepper.step(tiny_lstm(T=2)[0])) == 44
    assert "node 44 of 44" in sys.stdout.getvalue()


def test_a_c_locale_without_utf8_mode_prints_the_symbols_as_question_marks(tmp_path):
    # LC_ALL=C with UTF-8 mode off gives stdout errors="surrogateescape", which fails on σ as
    # "strict" does: five demos and every --step ended in a UnicodeEncodeError, three of
    # them after all their training (a review of terminals and locales)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env.update(LC_ALL="C", PYTHONUTF8="0")
    run = subprocess.run([sys.executable, str(ROOT / "demos" / "hello.py"), "--steps", "2",
                          "--step", "--no-pause"], env=env, cwd=tmp_path, capture_output=True,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-400:]
    assert b"backprop ? hello" in run.stdout  # the title's "·"
