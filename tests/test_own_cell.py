"""The README's "Your own cell": the snippet runs as printed, and the cell it defines computes
its equations (checked against a numpy loop written from them), trains through every layer
feature, and is drawn with its c path."""

import re
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lstm import OpError, Tensor, nn
from tinygrad_lstm.nn import GRUCell, LSTMCell, RNNCell
from tinygrad_lstm.viz.graph import draw
from test_graph import highlighted_chain

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_cell():
    """Run the README's snippet; return its namespace."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Your own cell", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace = {}
    exec(compile(code, "README.md: Your own cell", "exec"), namespace)  # its assert runs too
    return namespace


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_the_readme_cell_computes_its_equations():
    ns = readme_cell()
    nog, x = ns["nog"], ns["x64"]
    assert nog.weight_ih_l0.shape == (12, 3) and nog.weight_hh_l1.shape == (12, 4)  # 3 blocks
    out, (h_n, c_n) = nog(x)
    # the NOG equations by hand, layer by layer, from the layer's torch-named weights
    layer_in, H = x.data, 4
    for layer in range(2):
        W_ih, W_hh, b_ih, b_hh = (getattr(nog, f"{n}_l{layer}").data
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h = c = np.zeros((2, H))
        hs = []
        for x_t in layer_in:
            a = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh
            i, f, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:])
            c = f * c + i * g
            h = np.tanh(c)
            hs.append(h)
        np.testing.assert_allclose(h_n.data[layer], h, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c_n.data[layer], c, rtol=0, atol=1e-12)
        layer_in = np.stack(hs)
    np.testing.assert_allclose(out.data, layer_in, rtol=0, atol=1e-12)


def test_the_readme_cell_takes_the_layer_options_and_is_drawn_with_its_c_path():
    cell = readme_cell()["NoOutputGateCell"]
    rng = np.random.default_rng(0)
    layer = nn.LSTM(3, 4, bidirectional=True, batch_first=True, forget_bias=1.0,
                    cell=cell, rng=rng)
    # forget_bias lands on f's block: U(−1/2, 1/2) + 1 there, at most 1/2 elsewhere
    assert layer.bias_ih_l0.data[4:8].min() >= 0.5 > layer.bias_ih_l0.data[8:].max()
    x = Tensor(rng.standard_normal((2, 3, 3)).astype(np.float32))  # (B, T, I)
    out, (h_n, c_n) = layer(x)
    assert out.shape == (2, 3, 8) and h_n.shape == (2, 2, 4) and c_n.shape == (2, 2, 4)
    (out * out).mean().backward()
    assert all(p.grad is not None and np.isfinite(p.grad).all() for p in layer.parameters())

    one_way = nn.LSTM(3, 4, cell=cell, rng=rng)
    loss = (one_way(Tensor(rng.standard_normal((3, 2, 3)).astype(np.float32)))[0][-1] ** 2).mean()
    chain = highlighted_chain(draw(loss, params=one_way).source)
    assert chain == ["c[t=0]", "×", "+", "c[t=1]", "×", "+", "c[t=2]", "×", "+", "c[t=3]"]


class _NoC(LSTMCell):
    def step(self, xw, state, w_hh):
        out = super().step(xw, state, w_hh)
        del out["c"]
        return out


class _WrongGates(LSTMCell):
    gates = 3  # its weights have three blocks, but LSTMCell's step cuts four


class _ReturnsTuple(LSTMCell):
    def step(self, xw, state, w_hh):
        out = super().step(xw, state, w_hh)
        return out["h"], out["c"]


class _SumsTheBatch(GRUCell):
    def step(self, xw, state, w_hh):
        out = super().step(xw, state, w_hh)
        out["h"] = out["h"].sum(axis=0)
        return out


class _ReturnsANumber(LSTMCell):
    def step(self, xw, state, w_hh):
        return {**super().step(xw, state, w_hh), "rate": 0.5}


@pytest.mark.parametrize("cell, layer, error, message", [
    # was KeyError: 'c', from the layer's own code
    (_NoC, "LSTM", ValueError, r"_NoC.step returned no 'c' \(it returned 'i', 'f', 'g', 'o', "
                               r"'h'\); it must return a dict of its named tensors with the "
                               r"states h, c"),
    # was "mul: (2, 3) and (2, 4): operands could not be broadcast", naming no cell
    (_WrongGates, "LSTM", OpError, r"in _WrongGates.step, given xw \(2, 12\) \(gates = 3 blocks "
                                   r"of hidden_size 4\) and states \(B, 4\): mul: \(2, 3\)"),
    # was "tuple indices must be integers or slices, not str"
    (_ReturnsTuple, "LSTM", TypeError, r"_ReturnsTuple.step returned a tuple; it must return "
                                       r"a dict"),
    # was "matmul: (4,) @ (4, 12)" a step later
    (_SumsTheBatch, "GRU", ValueError, r"_SumsTheBatch.step returned 'h' of shape \(4,\) and "
                                       r"float32, expected \(B, hidden_size\) = \(2, 4\) and "
                                       r"float32"),
    # was "'float' object has no attribute 'data'", later, from States.numpy()
    (_ReturnsANumber, "LSTM", TypeError, r"_ReturnsANumber.step returned 'rate' as a float, "
                                         r"expected a Tensor"),
])
def test_a_cell_of_ones_own_that_breaks_the_contract_is_named(cell, layer, error, message):
    x = Tensor(np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32))
    with pytest.raises(error, match=f"{layer}: {message}"):
        getattr(nn, layer)(3, 4, cell=cell)(x)
    with pytest.raises(error, match=f"{cell.__name__}: {message}"):  # one step, the cell alone
        cell(3, 4)(x[0])


class _LeakyGatedCell(RNNCell):
    """An h-only cell, as the README describes one:
    f, n = σ(·), tanh(·);  h = f * n + (1 − f) * h_prev"""
    gates = 2

    def step(self, xw, state, w_hh):
        (h_prev,) = state
        f, n = (xw + h_prev @ w_hh).chunk(2, axis=-1)
        f, n = f.sigmoid().named("f"), n.tanh().named("n")
        return {"f": f, "n": n, "h": (f * n + (1.0 - f) * h_prev).named("h")}


def test_an_h_only_cell_on_rnncell_gets_the_readmes_xw_state_and_w_hh_in_rnn_and_gru():
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    for layer_class in (nn.RNN, nn.GRU):
        layer = layer_class(3, 5, cell=_LeakyGatedCell, dtype=np.float64,
                            rng=np.random.default_rng(2))
        out, h_n = layer(Tensor(x, dtype=np.float64))
        W_ih, W_hh, b_ih, b_hh = (getattr(layer, n).data for n in
                                  ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
        h = np.zeros((2, 5))
        for x_t in x:  # xw = x W_ihᵀ + b_ih + b_hh and w_hh = W_hhᵀ, as the README says
            a = x_t @ W_ih.T + b_ih + b_hh + h @ W_hh.T
            f, n = sigmoid(a[:, :5]), np.tanh(a[:, 5:])
            h = f * n + (1 - f) * h
        np.testing.assert_allclose(h_n.data[0], h, rtol=0, atol=1e-12)
        assert W_ih.shape == (10, 3)
        (out * out).sum().backward()  # every parameter trains, both biases included
        assert all(np.abs(p.grad).sum() > 0 for p in layer.parameters())


def test_a_gates_that_the_input_projection_does_not_match_names_the_cell():
    # was "add: (8,) and (12,)": GRUCell's projection builds its three bias blocks
    class TwoBlockGRU(GRUCell):
        gates = 2
    x = Tensor(np.zeros((5, 2, 3), np.float32))
    message = (r"in TwoBlockGRU.input_projection \(gates = 2 blocks of hidden_size 4\): "
               r"add: \(8,\) and \(12,\)")
    with pytest.raises(OpError, match="GRU: " + message):
        nn.GRU(3, 4, cell=TwoBlockGRU)(x)
    with pytest.raises(OpError, match="TwoBlockGRU: " + message):
        TwoBlockGRU(3, 4)(x[0])


# --- what a cell writer met (a review helper's own cells) --------------------------------------

class IndRNNCell(RNNCell):
    """IndRNN (Li et al. 2018): h = relu(x W_ihᵀ + b + w ⊙ h_prev), w a vector; relu by default."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="relu", **kw):
        super().__init__(input_size, hidden_size, bias, nonlinearity, **kw)

    def step(self, xw, state, w_hh):
        (h_prev,) = state
        h = (xw + h_prev * w_hh[:, 0]).relu().named("h")
        return {"h": h}


def test_a_layer_gives_the_cell_only_the_options_given():
    """nn.RNN passed nonlinearity="tanh" always, over a cell whose own default is relu (the
    helper's IndRNN trained as a tanh RNN, and the repr did not say so); nn.LSTM passed
    forget_bias=0.0 to a cell that takes no such keyword."""
    rnn = nn.RNN(2, 3, cell=IndRNNCell)
    assert rnn._cells[0].nonlinearity == "relu" and "nonlinearity=relu" in repr(rnn)
    assert nn.RNN(2, 3, nonlinearity="tanh", cell=IndRNNCell)._cells[0].nonlinearity == "tanh"
    assert nn.RNN(2, 3)._cells[0].nonlinearity == "tanh" and nn.RNN(2, 3, 1, "relu")._cells[
        0].nonlinearity == "relu"  # torch's positional order

    class Plain(LSTMCell):
        def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None):
            super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng)

    assert nn.LSTM(2, 3, cell=Plain)._cells[0].forget_bias == 0.0
    with pytest.raises(TypeError, match=r"LSTM: unexpected keyword argument 'forget_bias' "
                                        r"\(Plain does not take it\)"):
        nn.LSTM(2, 3, cell=Plain, forget_bias=1.0)
    for bad in (float("nan"), "1"):  # still refused, by the cell, naming itself
        with pytest.raises(ValueError, match="LSTM: LSTMCell: forget_bias must be a finite"):
            nn.LSTM(2, 3, forget_bias=bad)

    class OpenByDefault(LSTMCell):
        def __init__(self, *args, forget_bias=1.0, **kw):
            super().__init__(*args, forget_bias=forget_bias, **kw)

    assert nn.LSTM(2, 3, cell=OpenByDefault)._cells[0].forget_bias == 1.0
    assert nn.LSTM(2, 3, cell=OpenByDefault, forget_bias=0.0)._cells[0].forget_bias == 0.0


def test_a_cell_with_other_state_names_is_told_to_name_them_as_the_layers():
    """("h", "s") in nn.LSTM was told to "use the layer of that cell's kind (nn.LSTM …)", the
    layer it was in (a cell writer's review)."""
    class Slow(LSTMCell):
        state_names = ("h", "s")

    with pytest.raises(TypeError, match=r"LSTM: cell Slow carries h, s, but the LSTM layer "
                                        r"carries h, c; name its states h, c, as the layer "
                                        r"returns them \(state_names = \('h', 'c'\)\)"):
        nn.LSTM(2, 3, cell=Slow)
    with pytest.raises(TypeError, match=r"use the layer of that cell's kind"):
        nn.GRU(2, 3, cell=LSTMCell)


def test_a_forget_block_that_is_not_one_of_the_cells_blocks_is_refused():
    """A one-block subclass of LSTMCell inherited its forget_block 1: forget_bias=1.0 went
    nowhere, and the layer's repr said forget_bias=1.0."""
    class OneBlock(LSTMCell):
        gates = 1

    with pytest.raises(ValueError, match=r"LSTM: OneBlock: forget_bias=1.0 goes to block "
                                         r"forget_block=1, but the cell has 1 block\(s\)"):
        nn.LSTM(2, 3, cell=OneBlock, forget_bias=1.0)
    nn.LSTM(2, 3, cell=OneBlock)  # without forget_bias it is a cell like any


def test_an_error_in_ones_own_step_keeps_the_line_that_made_it():
    """The traceback ended in the layer: the cell's faulty line was in no frame."""
    import traceback

    class Faulty(RNNCell):
        def step(self, xw, state, w_hh):
            (h_prev,) = state
            p = h_prev @ self.weight_ih  # the mistake: (B, 5) @ (5, 2), where W_hhᵀ was meant
            return {"h": (xw + p).tanh().named("h")}

    x = Tensor(np.ones((4, 1, 2), np.float32))
    with pytest.raises(OpError, match=r"RNN: in Faulty\.step.*add: \(1, 5\) and \(1, 2\)") as info:
        nn.RNN(2, 5, cell=Faulty)(x)
    lines = [f.line for f in traceback.extract_tb(info.value.__traceback__)]
    assert 'return {"h": (xw + p).tanh().named("h")}' in lines  # where numpy found it


def test_states_returned_by_key_only_are_named_by_their_keys():
    """{"h": h, "c": c} without .named(): the picture had no state boxes and the stepper no
    states (its per-timestep panel empty), without a word (a review helper's cell)."""
    from tinygrad_lstm.viz.walk import record

    class Unnamed(LSTMCell):
        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)
            c = f.sigmoid() * c_prev + i.sigmoid() * g.tanh()
            return {"c": c, "h": o.sigmoid() * c.tanh()}

    for bidirectional in (False, True):
        layer = nn.LSTM(2, 3, cell=Unnamed, bidirectional=bidirectional)
        out, _ = layer(Tensor(np.ones((3, 1, 2), np.float32)))
        walk = record((out * out).mean(), layer)
        assert walk.path_state == "c"  # the c path the picture draws orange, and `p` follows
        (lane, *more) = walk.states.values()
        assert sorted((name, t) for _, name, t, _ in lane) == [
            (n, t) for n in ("c", "h") for t in (1, 2, 3)]
    h, c = Unnamed(2, 3)(Tensor(np.ones((1, 2), np.float32)))
    assert (h.name, c.name) == ("h", "c")

    class Twice(Unnamed):  # one tensor under two keys keeps its state's name
        def step(self, xw, state, w_hh):
            out = super().step(xw, state, w_hh)
            return {"out": out["h"], **out}

    out, _ = nn.LSTM(2, 3, cell=Twice)(Tensor(np.ones((2, 1, 2), np.float32)))
    names = [s.node.name for s in record((out * out).mean()).steps if s.node.name]
    assert names.count("h") == 2 and "out" not in names  # it was named "out": no h state


def test_a_cell_of_ones_own_reads_the_layers_mode():
    # the cells are not the layer's children, so model.eval() did not reach them: a cell with
    # a dropout in its step dropped in evaluation too
    seen = []

    class ModeCell(nn.LSTMCell):
        def step(self, xw, state, w_hh):
            seen.append(self.training)
            return super().step(xw, state, w_hh)

    model = nn.Sequential(nn.LSTM(3, 4, num_layers=2, cell=ModeCell))
    x = Tensor(np.zeros((2, 1, 3), np.float32))
    model.eval()(x)
    assert seen == [False] * 4
    seen.clear()
    model.train()(x)
    assert seen == [True] * 4

    class DropCell(nn.LSTMCell):  # an nn.Dropout of its own: its mode follows too (a review)
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.drop = nn.Dropout(0.5)

        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            return super().step(xw, (self.drop(h_prev), c_prev), w_hh)

    lstm = nn.LSTM(3, 4, cell=DropCell, rng=np.random.default_rng(0)).eval()
    x = Tensor(np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32))
    np.testing.assert_array_equal(lstm(x)[0].data, lstm(x)[0].data)  # no masks in eval
    lstm.train()
    assert not np.array_equal(lstm(x)[0].data, lstm(x)[0].data)      # fresh masks in train
