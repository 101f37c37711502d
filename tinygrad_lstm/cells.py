"""Recurrent cells whose bodies are their equations; the layers that unroll them over time
are in rnn.py.

No backward code here: backpropagation through time is the engine walking the graph these
forward passes record. Parameter names, shapes, gate order and init follow torch.nn, so a
state_dict moves between the two unchanged.

Every cell has `step(xw, state, w_hh) -> dict` of its named tensors, where
`xw = input_projection(x)` (x W_ihᵀ + biases, computed for all timesteps at once by a layer)
and `w_hh = recurrent()`, by default W_hhᵀ (one transpose per sequence, so the weight's
gradient from every timestep becomes a few big matmuls). Tensors are named after their symbols
(i, f, g, o, c, h; r, z, n); the renderer and the stepper find the state paths through those names
(an LSTM's c[t−1] → c[t], a GRU's additive h[t−1] → h[t]).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .nn import (Module, _check_flags, _check_size, as_input, made_from,
                 uniform_parameter)
from .tensor import OpError, Tensor, _torch_kind, check_rng, default_rng


def check_states(who, hx, names, shape, dtype, meaning=""):
    """`hx` as a tuple of Tensors, one per name in `names` (a bare state where there is one,
    a tuple or list where there are more), each of `shape` and `dtype`; numpy arrays are
    taken as constants. Raises naming `who` and the state otherwise."""
    if len(names) == 1:
        hx = (hx,)
    elif not isinstance(hx, (tuple, list)) or len(hx) != len(names):
        got = type(hx).__name__ if not isinstance(hx, (tuple, list)) else f"{len(hx)} states"
        raise ValueError(f"{who}: hx must be a tuple ({', '.join(names)}), got {got}")
    out = []
    for name, s in zip(names, hx):
        given = None
        if isinstance(s, np.ndarray):
            given, s = s, Tensor(s)
        if not isinstance(s, Tensor):  # torch's named as such: "a Tensor, expected a Tensor"
            kind = _torch_kind(s) or type(s).__name__
            raise TypeError(f"{who}: {name} is a {kind}, expected a Tensor or a numpy array")
        if tuple(s.shape) != shape:
            raise OpError(f"{who}: {name} has shape {tuple(s.shape)}, "
                          f"expected {meaning}{shape}")
        if s.dtype != dtype:  # a state from np.zeros(shape), numpy's float64, say
            raise OpError(f"{who}: {name} is {s.dtype}{made_from(given, s)} but the "
                          f"parameters are {dtype}; make it {dtype} (e.g. "
                          f"Tensor(..., dtype=np.{dtype}) or nn.Parameter(..., dtype=np.{dtype}))")
        out.append(s)
    return tuple(out)


def check_step(who, cell, out, shape, dtype):
    """What `cell.step` returned must be a dict of its named tensors with every state the
    cell carries, each a Tensor of `shape` (B, H) and `dtype`: a cell of one's own is caught
    here, by name, rather than by a KeyError or a shape error a step later."""
    name, states = type(cell).__name__, cell.state_names
    want = f"a dict of its named tensors with the states {', '.join(states)}"
    if not isinstance(out, dict):
        raise TypeError(f"{who}: {name}.step returned a {type(out).__name__}; "
                        f"it must return {want}")
    for key, t in out.items():  # a number in it failed later, in States.numpy()
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: {name}.step returned {key!r} as a {type(t).__name__}, "
                            "expected a Tensor")
    for state in states:
        if state not in out:
            got = ", ".join(map(repr, out)) or "an empty dict"
            raise ValueError(f"{who}: {name}.step returned no {state!r} (it returned {got}); "
                             f"it must return {want}")
        t = out[state]
        if tuple(t.shape) != shape or t.dtype != dtype:
            raise ValueError(f"{who}: {name}.step returned {state!r} of shape {tuple(t.shape)} "
                             f"and {t.dtype}, expected (B, hidden_size) = {shape} and {dtype}")


def _unnamed(cell, out):
    """The keys of a step's dict whose tensors have no name, the cell's states first: the
    layer (and a cell called on its own) names them by their keys (`_name_by_keys`), since
    the picture and the stepper find the states and label the gates by name (a cell
    returning {"h": h, "c": c} unnamed had no state in either)."""
    keys = [k for k in cell.state_names if k in out] + \
        [k for k in out if k not in cell.state_names]
    return [k for k in keys if out[k].name is None]  # Tensors all: check_step saw to it


def _name_by_keys(out, keys):
    for k in keys:
        if out[k].name is None:  # {"h": h, "out": h}: h stays "h"
            out[k].name = k


def step_error(who, cell, xw, e):
    """An op's error inside `cell.step` (or, with xw None, `cell.input_projection`), with the
    cell and what it was given put in front: a cell whose `gates` does not match how it splits
    its blocks fails here."""
    H, name = cell.hidden_size, type(cell).__name__
    blocks = f"gates = {cell.gates} blocks of hidden_size {H}"
    if xw is None:
        out = OpError(f"{who}: in {name}.input_projection ({blocks}): {e}")
    else:
        out = OpError(f"{who}: in {name}.step, given xw {tuple(xw.shape)} ({blocks}) and "
                      f"states (B, {H}): {e}")
    # a cell of one's own keeps the frames the error passed, its faulty line among them (the
    # traceback ended in the layer); a built-in cell's are the package's, not the caller's
    return out if type(cell).__module__ == __name__ else out.with_traceback(e.__traceback__)


def squash(z):
    """squash(z) = 2·tanh(z/2) = 4σ(z) − 2, the 1997 LSTM's [−2, 2] squashing of the cell
    input (the paper's g; its output squashing h is half of it, tanh(z/2) = 2σ(z) − 1)."""
    return (z * 0.5).tanh() * 2.0


def _check_forget_block(cls, forget_bias):
    """Refuses a forget_block that is not one of the cell's blocks: LSTMCell's 1, inherited by
    a cell of one block, added forget_bias nowhere, and its repr still said forget_bias=1.0."""
    if not 0 <= cls.forget_block < cls.gates:
        raise ValueError(f"{cls.__name__}: forget_bias={forget_bias} goes to block "
                         f"forget_block={cls.forget_block}, but the cell has {cls.gates} "
                         "block(s) (gates): set forget_block to its forget gate's block "
                         "(None: it has none)")


class _Cell(Module):
    gates = 1  # blocks of H rows in weight_ih / weight_hh
    state_names = ("h",)
    forget_block = None  # index of the forget gate's block, where the cell has one
    no_forget = "has no forget gate"  # what forget_bias is refused with where it has none

    def __init__(self, input_size, hidden_size, bias=True, forget_bias=0.0, dtype=np.float32,
                 rng=None):
        cls = type(self).__name__
        _check_size(cls, dtype, input_size=input_size, hidden_size=hidden_size)
        _check_flags(cls, bias=bias)
        check_rng(cls, rng)
        # Checked before the init draws from rng, so a refused cell leaves the generator as it was
        if not isinstance(forget_bias, numbers.Real) or not math.isfinite(forget_bias):
            raise ValueError(f"{cls}: forget_bias must be a finite number, got {forget_bias!r}")
        if forget_bias and (self.forget_block is None or not bias):
            why = self.no_forget if bias else "has no bias (bias=False)"
            raise ValueError(f"{cls}: forget_bias={forget_bias} but the cell {why}")
        if forget_bias:
            _check_forget_block(type(self), forget_bias)
        rng = default_rng() if rng is None else rng
        self.input_size, self.hidden_size = input_size, hidden_size
        G, H, k = self.gates, hidden_size, 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((G * H, input_size), k, rng, dtype)
        self.weight_hh = uniform_parameter((G * H, H), k, rng, dtype)
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(name, uniform_parameter((G * H,), k, rng, dtype) if bias
                                    else None)
        if forget_bias:
            b = self.forget_block * H
            self.bias_ih.data[b:b + H] += forget_bias
        self.forget_bias = forget_bias

    def recurrent(self):
        """What `step` gets as `w_hh`, made once per sequence: W_hhᵀ."""
        return self.weight_hh.T

    def input_projection(self, x):
        """x W_ihᵀ + b_ih + b_hh, for one step (B, I) or all at once (T, B, I)."""
        y = x @ self.weight_ih.T
        b_ih, b_hh = self.bias_ih, self.bias_hh  # each may be set to None on its own
        if b_ih is not None or b_hh is not None:
            y += b_hh if b_ih is None else b_ih if b_hh is None else b_ih + b_hh  # in place if big
        return y

    def check_input(self, x, who=None, given=None):
        """Raises naming `who` when x (a Tensor; made from `given` by the caller, if it was
        not one) does not fit this cell's input size and dtype."""
        who = who or type(self).__name__
        if x.shape[-1] != self.input_size:
            raise OpError(f"{who}: x {x.shape} has {x.shape[-1]} features, "
                          f"expected input_size={self.input_size}")
        if x.dtype != self.weight_ih.dtype:  # numpy's default float64 meets float32 weights
            want, have = self.weight_ih.dtype, x.dtype
            raise OpError(f"{who}: x is {have}{made_from(given, x)} but the parameters are "
                          f"{want}; make x {want} (e.g. Tensor(x, dtype=np.{want})), or the "
                          f"model {have} ({who}(..., dtype=np.{have}))")

    def forward(self, x, hx=None):
        """One step: `h = cell(x, h)`, or `h, c = cell(x, (h, c))` for the LSTM kinds.

        x: (B, input_size); each state (B, hidden_size), zeros when hx is None."""
        cls = type(self).__name__
        x, given = as_input(cls, x)
        if x.ndim != 2:
            hint = ""
            if x.ndim == 1:  # torch's unbatched form
                hint = (f"; one unbatched sample is not taken: add a batch axis of 1, "
                        f"x.reshape(1, {x.shape[0]}) (and each state (1, hidden_size))")
            raise OpError(f"{cls}: x has shape {x.shape}, expected (batch, input_size){hint}")
        self.check_input(x, given=given)
        B, H = x.shape[0], self.hidden_size
        if hx is None:
            state = tuple(Tensor(np.zeros((B, H), x.dtype)) for _ in self.state_names)
        else:
            state = check_states(cls, hx, self.state_names, (B, H), x.dtype)
        xw = None
        try:
            xw = self.input_projection(x)
            out = self.step(xw, state, self.recurrent())
        except OpError as e:
            raise step_error(cls, self, xw, e) from None
        check_step(cls, self, out, (B, H), x.dtype)
        _name_by_keys(out, _unnamed(self, out))
        return out["h"] if len(self.state_names) == 1 else tuple(out[n] for n in self.state_names)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias_ih is None and self.bias_hh is None:
            s += ", bias=False"
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")


class RNNCell(_Cell):
    r"""Elman RNN cell.

        h = tanh(x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh)        (or relu)

    Args:
        input_size, hidden_size: features of x and of h.
        bias: learn b_ih and b_hh. Defaults to True.
        nonlinearity: "tanh" or "relu". Defaults to "tanh".
        dtype: float32 or float64. Defaults to float32.
        rng: np.random.Generator for the init U(−1/√H, 1/√H). Defaults to the global one.

    Inputs: x (B, input_size), h_prev (B, hidden_size) or None for zeros.
    Outputs: h (B, hidden_size).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", **kw):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, **kw)
        self.nonlinearity = nonlinearity

    def step(self, xw, state, w_hh):
        (h_prev,) = state
        a = xw + h_prev @ w_hh                                  # (B, H)
        h = (a.tanh() if self.nonlinearity == "tanh" else a.relu()).named("h")
        return {"h": h}

    def extra_repr(self):
        relu = self.nonlinearity != "tanh"
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity}" if relu else "")


class LSTMCell(_Cell):
    r"""Long short-term memory cell (with forget gate, as torch.nn.LSTMCell).

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = f * c_prev + i * g                    (the additive cell-state path)
        h = o * tanh(c)

    Args:
        input_size, hidden_size, bias, dtype, rng: as RNNCell.
        forget_bias: added to the f block of b_ih at init; 1 to 3 keeps the cell path open
            at the start of training. Defaults to 0.0 (as torch).

    Inputs: x (B, input_size), (h_prev, c_prev) each (B, hidden_size), or None for zeros.
    Outputs: (h, c), each (B, hidden_size). Weights are packed in gate order i, f, g, o:
    weight_ih (4H, input_size), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,).
    """

    gates, state_names, forget_block = 4, ("h", "c"), 1

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)    # each (B, H)
        i = i.sigmoid().named("i")
        f = f.sigmoid().named("f")
        g = g.tanh().named("g")
        o = o.sigmoid().named("o")
        c = (f * c_prev + i * g).named("c")
        h = (o * c.tanh()).named("h")
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


class LSTM1997Cell(_Cell):
    r"""The original LSTM (Hochreiter & Schmidhuber 1997): no forget gate, so the cell state
    is a pure accumulator, the Constant Error Carousel.

        i, g, o = σ(·), squash(·), σ(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = c_prev + i * g
        h = o * tanh(c/2)

    squash(z) = 2·tanh(z/2) = 4σ(z) − 2 is the paper's input squashing g, in [−2, 2]; its
    output squashing is tanh(z/2) = 2σ(z) − 1, in [−1, 1], the paper's h.

    The paper's training cut every error path but the cell's own (truncated gradients); here
    the layer's backward is full BPTT through every route, as for the other cells.

    Args: as LSTMCell without forget_bias. Gate order i, g, o (weights (3H, ·)).
    Inputs/Outputs: as LSTMCell.
    """

    gates, state_names = 3, ("h", "c")

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        i, g, o = (xw + h_prev @ w_hh).chunk(3, axis=-1)
        i = i.sigmoid().named("i")
        g = squash(g).named("g")
        o = o.sigmoid().named("o")
        c = (c_prev + i * g).named("c")
        h = (o * (c * 0.5).tanh()).named("h")
        return {"i": i, "g": g, "o": o, "c": c, "h": h}


class CoupledLSTMCell(_Cell):
    r"""LSTM with coupled input and forget gates: what is forgotten is replaced.

        f, g, o = σ(·), tanh(·), σ(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = f * c_prev + (1 − f) * g
        h = o * tanh(c)

    Args: as LSTMCell (forget_bias applies to f). Gate order f, g, o (weights (3H, ·)).
    Inputs/Outputs: as LSTMCell.
    """

    gates, state_names, forget_block = 3, ("h", "c"), 0

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        f, g, o = (xw + h_prev @ w_hh).chunk(3, axis=-1)
        f = f.sigmoid().named("f")
        g = g.tanh().named("g")
        o = o.sigmoid().named("o")
        c = (f * c_prev + (1.0 - f) * g).named("c")
        h = (o * c.tanh()).named("h")
        return {"f": f, "g": g, "o": o, "c": c, "h": h}


class PeepholeLSTMCell(_Cell):
    r"""LSTM with peephole connections (Gers & Schmidhuber 2000): the gates see the cell.

        i = σ(a_i + w_ci * c_prev)      a_i, a_f, a_g, a_o = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        f = σ(a_f + w_cf * c_prev)
        g = tanh(a_g)
        c = f * c_prev + i * g
        o = σ(a_o + w_co * c)           (the output gate peeks at the new cell state)
        h = o * tanh(c)

    Args: as LSTMCell. The diagonal peephole weights weight_ci, weight_cf, weight_co (H,)
    start as U(−1/√H, 1/√H). Inputs/Outputs: as LSTMCell.
    """

    gates, state_names, forget_block = 4, ("h", "c"), 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None, **kw):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng, **kw)
        rng = default_rng() if rng is None else rng
        k = 1.0 / math.sqrt(hidden_size)
        self.weight_ci = uniform_parameter((hidden_size,), k, rng, dtype)
        self.weight_cf = uniform_parameter((hidden_size,), k, rng, dtype)
        self.weight_co = uniform_parameter((hidden_size,), k, rng, dtype)

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        a_i, a_f, a_g, a_o = (xw + h_prev @ w_hh).chunk(4, axis=-1)
        i = (a_i + c_prev * self.weight_ci).sigmoid().named("i")
        f = (a_f + c_prev * self.weight_cf).sigmoid().named("f")
        g = a_g.tanh().named("g")
        c = (f * c_prev + i * g).named("c")
        o = (a_o + c * self.weight_co).sigmoid().named("o")
        h = (o * c.tanh()).named("h")
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


class GRUCell(_Cell):
    r"""Gated recurrent unit (Cho et al. 2014), in torch's form by default.

        r = σ(x W_irᵀ + b_ir + h_prev W_hrᵀ + b_hr)
        z = σ(x W_izᵀ + b_iz + h_prev W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r * (h_prev W_hnᵀ + b_hn))      reset_after=True (torch)
        n = tanh(x W_inᵀ + b_in + (r * h_prev) W_hnᵀ + b_hn)      reset_after=False (Cho 2014)
        h = (1 − z) * n + z * h_prev

    z here is torch's and Cho 2014's: the share of h_prev that is kept. Chung et al. 2014 (and
    many tutorials) write h = (1 − z) * h_prev + z * h~, i.e. their z is our 1 − z.

    Args:
        input_size, hidden_size, bias, dtype, rng: as RNNCell.
        reset_after: where the reset gate acts (see above). Defaults to True.

    Inputs: x (B, input_size), h_prev (B, hidden_size) or None. Outputs: h (B, hidden_size).
    Weights packed in gate order r, z, n: weight_ih (3H, input_size), weight_hh (3H, H).
    """

    gates = 3
    # z is a forget gate coupled with n's input, as CoupledLSTMCell's f is with g
    no_forget = ("has no forget gate of its own (its z, the share of h_prev kept, is a coupled "
                 "one: to open that path at init, add to z's block of bias_hh, [H:2H])")

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, **kw):
        if not isinstance(reset_after, (bool, np.bool_)):  # "no" would read as True
            raise TypeError(f"GRUCell: reset_after must be True or False, got {reset_after!r}")
        super().__init__(input_size, hidden_size, bias, **kw)
        self.reset_after = bool(reset_after)

    def input_projection(self, x):
        """x W_ihᵀ + b_ih, plus b_hr and b_hz, which add to r's and z's pre-activations just
        as b_ir and b_iz do (b_hn sits inside n's equation, so it stays in the step)."""
        y = x @ self.weight_ih.T
        b_ih, b_hh = self.bias_ih, self.bias_hh  # each may be set to None on its own
        if b_hh is not None:
            H = self.hidden_size
            b = Tensor.cat([b_hh[:2 * H], Tensor(np.zeros(H, b_hh.dtype))])
            y += b if b_ih is None else b_ih + b
        elif b_ih is not None:
            y += b_ih
        return y

    def recurrent(self):
        """(W_hhᵀ, b_hn), made once per sequence; for reset_after=False W_hhᵀ comes already cut
        into its r, z columns and its n columns, (W_hrzᵀ, W_hnᵀ, b_hn), so a step does not cut
        the weight again."""
        H = self.hidden_size
        b_hn = None if self.bias_hh is None else self.bias_hh[2 * H:]
        if self.reset_after:
            return self.weight_hh.T, b_hn
        w_hrz, w_hn = self.weight_hh.T.split([2 * H, H], axis=-1)
        return w_hrz, w_hn, b_hn

    def step(self, xw, state, w_hh):
        (h_prev,) = state
        # r and z get an add each, on whole (B, H) blocks: one shared (B, 2H) add, cut in two
        # after, left each sigmoid a strided half to read and the backward a join to make
        # (GRU B=32 T=64 H=256 steps 0.969x and 0.984x of the shared form, paired; B=1 0.997x)
        x_r, x_z, x_n = xw.chunk(3, axis=-1)
        if self.reset_after:
            w_hh, b_hn = w_hh  # what recurrent() made: (W_hhᵀ, b_hn)
            h_r, h_z, h_n = (h_prev @ w_hh).chunk(3, axis=-1)
            r = (x_r + h_r).sigmoid().named("r")
            z = (x_z + h_z).sigmoid().named("z")
            n = (x_n + r * (h_n if b_hn is None else h_n + b_hn)).tanh().named("n")
        else:
            w_hrz, w_hn, b_hn = w_hh  # (W_hrzᵀ, W_hnᵀ, b_hn)
            h_r, h_z = (h_prev @ w_hrz).chunk(2, axis=-1)
            r = (x_r + h_r).sigmoid().named("r")
            z = (x_z + h_z).sigmoid().named("z")
            a_n = x_n + (r * h_prev) @ w_hn
            n = (a_n if b_hn is None else a_n + b_hn).tanh().named("n")
        h = ((1.0 - z) * n + z * h_prev).named("h")
        return {"r": r, "z": z, "n": n, "h": h}

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")


__all__ = ["squash", "RNNCell", "LSTMCell", "LSTM1997Cell", "CoupledLSTMCell",
           "PeepholeLSTMCell", "GRUCell"]
