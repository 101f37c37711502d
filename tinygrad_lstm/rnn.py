"""The layers that unroll a cell (cells.py) over a sequence: RNN, LSTM, GRU, stacked and
bidirectional, with torch.nn's parameter names, shapes and conventions.

A layer computes every timestep's input side at once (`cell.input_projection` over (T, B, I)),
then calls `cell.step` once per timestep. It records the scope (layer, t) each tensor was made
in: t = 1..T for the steps, t = 0 for the initial state; the renderer draws a cluster per step
from it. The cells are re-exported here, so `rnn.LSTMCell` and `nn.LSTMCell` both work.
"""

from __future__ import annotations

import inspect
import itertools
import numbers
import warnings
from operator import itemgetter

import numpy as np

from . import tensor as _tensor
from .cells import (CoupledLSTMCell, GRUCell, LSTM1997Cell, LSTMCell, PeepholeLSTMCell,
                    RNNCell, _name_by_keys, _unnamed, check_states, check_step, squash,
                    step_error)
from . import functional as F
from .nn import Module, Parameter, _check_flags, _check_size, as_input
from .tensor import OpError, Tensor, _release, check_rng, default_rng, scope


class States:
    """Every timestep's named tensors of a recurrent layer, from `layer(x, return_states=True)`.

        states.get("c", layer=0)          # [c_1, ..., c_T], Tensors (B, H), in time order
        states.numpy("f", layer=1)        # (T, B, H) array of the forget gate
        states.steps[k][t]["i"]           # k = layer * num_directions + direction
        states.names                      # the keys of a step's dict: ("i", "f", ..., "h")
        states.initial[k]                 # the (h, c) or (h,) it started from (t = 0)
    """

    def __init__(self, steps, initial, num_directions):
        self.steps, self.initial, self.num_directions = steps, initial, num_directions

    @property
    def names(self):
        return tuple(self.steps[0][0]) if self.steps and self.steps[0] else ()

    def get(self, name, layer=0, direction=0):
        D = self.num_directions
        L = len(self.steps) // D
        # Checked, since layer * D + direction alone would pick another layer's list for an
        # out-of-range direction (direction=1 of a one-way layer is the next layer's steps).
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
                or not -L <= layer < L or direction not in range(D):
            raise IndexError(f"States: layer={layer!r}, direction={direction!r} is out of range: "
                             f"{L} layer(s) (-{L} to {L - 1}), {D} direction(s) (0 to {D - 1})")
        steps = self.steps[(layer % L) * D + direction]
        if steps and name not in steps[0]:
            raise KeyError(f"States: no {name!r}; this cell records {', '.join(steps[0])}")
        return [s[name] for s in steps]

    def numpy(self, name, layer=0, direction=0):
        return np.stack([t.data for t in self.get(name, layer, direction)])


# Each forward call of a layer tags its nodes' scope with its own number, `_call`: two calls in
# one graph (an encoder's and a decoder's layer, both "layer 0"; one layer run on two chunks of
# a sequence) then stay apart in the picture and the stepper (viz/scene.py shows the number as
# "call 1", "call 2" only where lanes differ by it alone). Keys starting with "_" are not shown
# in labels (Tensor.label).
_CALLS = itertools.count(1)


# A layer releases a step's intermediate values (see below) when one step's gate block is at
# least this big: there they dominate memory, while below it the bookkeeping would cost more
# time than the memory is worth.
RELEASE_BYTES = 32 << 10


def _unknown_keywords(cell, kwargs):
    """The names in `kwargs` that no __init__ along `cell`'s MRO takes (the chain is followed
    while each __init__ hands **kw on); an empty list when that cannot be told."""
    known = set()
    for klass in cell.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # no signature to read (a builtin's)
            return []
        known.update(p.name for p in params
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if all(p.kind is not p.VAR_KEYWORD for p in params):
            return [k for k in kwargs if k not in known]
    return []


def _release_intermediates(made, keep):
    """Release the values of the unnamed tensors in `made`, except those in `keep`: the nodes
    one step's ops made (the gate pre-activations, the chunks, the products; nothing a
    backward needs, since each op saves what its own backward uses). The nodes stay in the
    graph, and reading one's `.data` recomputes it; this keeps a layer's memory near that of
    a hand-written BPTT, which stores only the gates and the states. The list comes from the
    ops themselves (`tensor._made`, set by `_unroll`): walking back from a step's outputs to
    find the same nodes took 11 µs a step at LSTM B=32 (the list: 0.993× the step, paired)."""
    keep = set(keep)  # tensors hash by identity
    for p in made:  # runs every timestep
        if p.name is None and type(p) is Tensor and p not in keep:
            _release(p)


class _RecurrentLayer(Module):
    cell_class = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, cell=None, dtype=np.float32, rng=None,
                 **cell_kwargs):
        cls = type(self).__name__
        _check_size(cls, dtype, input_size=input_size, hidden_size=hidden_size,
                    num_layers=num_layers)
        _check_flags(cls, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
        check_rng(cls, rng)
        self._check_dropout(dropout)
        cell_cls = cell or self.cell_class
        if isinstance(cell_cls, Module) or not callable(cell_cls):  # a built cell, or a name
            raise TypeError(f"{cls}: cell must be a cell class such as nn.PeepholeLSTMCell "
                            f"(the layer builds one per layer and direction), got {cell_cls!r}")
        # an LSTM returns (out, (h_n, c_n)), an RNN or GRU (out, h_n): the cell must carry
        # the layer's states (LSTM(cell=GRUCell) ran, and returned a GRU's h_n as an LSTM's)
        names = getattr(getattr(cell_cls, "func", cell_cls), "state_names", None)
        if names is not None and names != self.cell_class.state_names:
            carried = self.cell_class.state_names
            fix = (f"name its states {', '.join(carried)}, as the layer returns them "
                   f"(state_names = {carried})" if len(names) == len(carried) else
                   "use the layer of that cell's kind (nn.LSTM for the LSTM cells, nn.GRU or "
                   "nn.RNN otherwise)")
            raise TypeError(f"{cls}: cell {getattr(cell_cls, '__name__', cell_cls)} carries "
                            f"{', '.join(names)}, but the {cls} layer carries "
                            f"{', '.join(carried)}; {fix}")
        unknown = _unknown_keywords(cell_cls, cell_kwargs) if isinstance(cell_cls, type) else []
        if unknown:  # else the error names _Cell.__init__, not the layer
            raise TypeError(f"{cls}: unexpected keyword argument {unknown[0]!r} "
                            f"({cell_cls.__name__} does not take it)")
        if dropout and num_layers == 1:  # as torch: a warning, since the model still works
            warnings.warn(f"{cls}: dropout={dropout} acts between layers, so with num_layers=1 "
                          "it does nothing", UserWarning, stacklevel=2)
        # dropout's masks come from the rng given, or else from the default generator as it is
        # at each forward (as nn.Dropout's): a manual_seed() after the layer was built then
        # reseeds them too (they kept the generator of the build, so runs could not repeat)
        self._drop_rng = rng
        rng = default_rng() if rng is None else rng
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool(bias), bool(batch_first)  # np.bool_ passed the check
        self.bidirectional = bool(bidirectional)
        self.dropout = dropout
        self.cell = cell_cls
        D = 2 if bidirectional else 1
        # A plain list, invisible to named_parameters: the cells' Parameters are registered
        # below under torch's names (weight_ih_l0, weight_hh_l0_reverse, ...).
        self._cells = []
        slots = {}  # torch's name -> (cell, the cell's own name), for __setattr__
        for layer in range(num_layers):
            for d in range(D):
                try:
                    c = self.cell(input_size if layer == 0 else hidden_size * D, hidden_size,
                                  bias=bias, dtype=dtype, rng=rng, **cell_kwargs)
                except (TypeError, ValueError) as e:  # a cell option the cell refuses
                    if type(e) not in (TypeError, ValueError):
                        raise
                    raise type(e)(f"{cls}: {e}") from e  # a bug in one's own cell: its frames
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                for name, p in c.named_parameters():
                    setattr(self, name + suffix, p)
                    slots[name + suffix] = (c, name)
                self._cells.append(c)
        self._slots = slots

    def __setattr__(self, name, value):
        # The cells run the forward, so a weight assigned to the layer under torch's name
        # (`lstm.weight_ih_l0 = Parameter(...)`: custom init, weight tying) goes to its cell
        # too; else the layer would list a weight that the forward never reads.
        # Module's check comes first: a non-Parameter is refused naming the layer, before
        # the cell changes.
        super().__setattr__(name, value)
        slot = self.__dict__.get("_slots", {}).get(name)
        if slot is not None:
            setattr(*slot, value)

    def _state_dict_hint(self, missing, unexpected):
        if any(k.startswith("weight_hr_l") for k in unexpected):
            return ("; the weight_hr keys are torch's projections (LSTM proj_size), which "
                    "this layer does not have")
        return ""

    def _check_dropout(self, p):
        """p as a float (torch stores float(dropout)); a ValueError naming the layer unless
        it is a number in [0, 1] (a bool is refused, as torch refuses it)."""
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {p!r}")
        return float(p)

    @property
    def dropout(self):
        """The drop probability between stacked layers. It may be set after construction
        (as torch reads `self.dropout` at each forward): `lstm.dropout = 0.3`."""
        return self._dropout

    @dropout.setter
    def dropout(self, p):
        # a number, not a Dropout child: torch's layers list no submodule for it
        self._dropout = self._check_dropout(p)

    @property
    def state_names(self):
        return self._cells[0].state_names

    def _initial(self, hx, B, dtype, call):
        """One tuple of (B, H) states per (layer, direction), labelled t = 0."""
        cls, names = type(self).__name__, self.state_names
        D, H = 2 if self.bidirectional else 1, self.hidden_size
        expect = (self.num_layers * D, B, H)
        if hx is not None:
            hx = check_states(cls, hx, [n + "0" for n in names], expect, dtype,
                              "(num_layers * num_directions, B, H) = ")
        out = []
        for k in range(self.num_layers * D):
            labels = {"layer": k // D, "_call": call, "t": 0}
            if k % D:
                labels["direction"] = "reverse"
            state = []
            with scope(**labels):  # merged with the scope around the call (part="enc")
                for j, name in enumerate(names):
                    s = Tensor(np.zeros((B, H), dtype)) if hx is None else hx[j][k]
                    if s._ctx is None:  # a leaf is made with no scope of its own: zeros, or
                        s.scope = _tensor._scope  # a state with no grad (truncated BPTT's)
                    state.append(s.named(name))
            out.append(tuple(state))
        return out

    def _unroll(self, cell, xs, state, labels, reverse):
        T = xs.shape[0]
        with scope(**labels):
            w_hh = cell.recurrent()        # once per sequence: a few big matmuls for its gradient
            steps = [None] * T
            names = cell.state_names
            pick = itemgetter(*names) if len(names) > 1 else (lambda out: (out[names[0]],))
            # The nodes the input projection and (when `lean`) each step make are collected
            # through tensor._made, for _release_intermediates, and each step runs in the
            # scope t = t + 1. Both are set here directly: per step, scope() and a helper
            # call cost ~1.5% of an LSTM B=1 step.
            outer_scope, outer_made = _tensor._scope, _tensor._made
            try:
                made = []
                _tensor._made = made.append
                who = type(self).__name__
                try:
                    xw = cell.input_projection(xs)  # (T, B, G*H): all steps' input side at once
                except OpError as e:
                    raise step_error(who, cell, None, e) from None
                _tensor._made = outer_made
                lean = xw.data[0].nbytes >= RELEASE_BYTES
                if lean:
                    _release_intermediates(made, (xw,))
                # a step's result is checked once, at the first step (a cell of one's own)
                first = T - 1 if reverse else 0
                try:
                    for t in (range(T - 1, -1, -1) if reverse else range(T)):
                        _tensor._scope = {**outer_scope, "t": t + 1}
                        x_t = xw[t]
                        if lean:
                            made = [x_t]
                            _tensor._made = made.append
                        out = cell.step(x_t, state, w_hh)
                        if t == first:
                            check_step(who, cell, out, state[0].shape, xs.dtype)
                            unnamed = _unnamed(cell, out)
                        if unnamed:  # a cell that returns them by key only
                            _name_by_keys(out, unnamed)
                        if lean:
                            _tensor._made = outer_made
                            _release_intermediates(made, out.values())
                        state = pick(out)
                        steps[t] = out
                except OpError as e:
                    raise step_error(who, cell, x_t, e) from None
            finally:
                _tensor._scope, _tensor._made = outer_scope, outer_made
            if lean:
                xw.release()
        return steps, state

    def forward(self, x, hx=None, return_states=False):
        """Run the layers over a whole sequence.

        Inputs: x (T, B, input_size), or (B, T, input_size) with batch_first; hx: initial
        state(s), each (num_layers * num_directions, B, H), or None for zeros.
        Outputs: out (T, B, num_directions * H) (or batch first) with the last layer's h at
        every t, and the final state(s), each (num_layers * num_directions, B, H). With
        return_states=True also a States with every layer's per-timestep tensors.
        """
        cls = type(self).__name__
        _check_flags(cls, return_states=return_states)
        x, passed = as_input(cls, x)
        if x.ndim != 3:
            want = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            hint = ""
            if x.ndim == 2:  # torch's unbatched form
                one = (1, *x.shape) if self.batch_first else (x.shape[0], 1, x.shape[1])
                hint = (f"; unbatched (T, input_size) input is not taken: add a batch axis of 1, "
                        f"x.reshape{one} (and hx with B = 1)")
            raise OpError(f"{cls}: x has shape {x.shape}, expected {want}{hint}")
        self._cells[0].check_input(x, cls, passed)
        given = x.shape  # as the caller wrote it, for the message below
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{cls}: x has shape {given}: the sequence is empty")
        D = 2 if self.bidirectional else 1
        # the cells are no children (a plain list, as torch's layer lists none), so
        # model.train()/eval() does not reach them; a cell of one's own with a dropout in its
        # step reads the layer's mode from here
        for cell in self._cells:
            if cell.training != self.training:  # and its own modules: an nn.Dropout in it
                cell.train(self.training)
        call = next(_CALLS)
        initial = self._initial(hx, B, x.dtype, call)
        steps_all, finals, layer_input = [], [], x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                labels = {"layer": layer, "_call": call}
                if d:
                    labels["direction"] = "reverse"
                steps, final = self._unroll(self._cells[k], layer_input, initial[k], labels, d == 1)
                steps_all.append(steps)
                finals.append(final)
                outs.append(Tensor.stack([s["h"] for s in steps]))   # (T, B, H)
            layer_input = outs[0] if D == 1 else Tensor.cat(outs, axis=2)
            if self._dropout and layer < self.num_layers - 1:  # between layers only, as torch's
                layer_input = F.dropout(layer_input, self._dropout, self.training, self._drop_rng)
        out = layer_input.transpose(1, 0, 2) if self.batch_first else layer_input
        final = tuple(Tensor.stack([f[j] for f in finals]) for j in range(len(self.state_names)))
        final = final[0] if len(final) == 1 else final
        if return_states:
            return out, final, States(steps_all, initial, D)
        return out, final

    def __repr__(self):
        # one line, as torch: the cells and the between-layer Dropout are how the layer
        # works, not parts a user builds or replaces (its options say all of it)
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        cell = self._cells[0]  # the cell's options change the model too
        for name, default in (("nonlinearity", "tanh"), ("reset_after", True),
                              ("forget_bias", 0.0)):
            if getattr(cell, name, default) != default:
                s += f", {name}={getattr(cell, name)}"
        if self.cell is not self.cell_class:
            s += f", cell={getattr(self.cell, '__name__', self.cell)}"  # a partial has none
        return s


class RNN(_RecurrentLayer):
    """Multi-layer Elman RNN over a sequence; each step is RNNCell's equation.

    Args: input_size, hidden_size, num_layers=1, nonlinearity ("tanh" or "relu"; not given,
    the cell's own default: RNNCell's "tanh"), bias=True, batch_first=False, dropout=0.0
    (between layers), bidirectional=False, cell=RNNCell, dtype, rng.
    Returns out, h_n. See `_RecurrentLayer.forward` for shapes.
    """

    cell_class = RNNCell

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity=None, *args, **kw):
        # *args: torch's positional order goes on with bias, batch_first, dropout, bidirectional
        # nonlinearity goes to the cell only when given: "tanh" passed always overrode a cell
        # of one's own whose default is relu (an IndRNN), and its repr did not say so
        if nonlinearity is not None:
            kw["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, *args, **kw)


class LSTM(_RecurrentLayer):
    """Multi-layer LSTM over a sequence; each step is LSTMCell's equations (or `cell`'s).

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0 (between layers, never on the recurrent path), bidirectional=False,
    forget_bias (not given: the cell's own default, LSTMCell's 0.0), cell=LSTMCell (or
    LSTM1997Cell, CoupledLSTMCell, PeepholeLSTMCell), dtype, rng. Returns out, (h_n, c_n).
    """

    cell_class = LSTMCell

    def __init__(self, input_size, hidden_size, num_layers=1, *args, forget_bias=None, **kw):
        # to the cell only when given: a cell of one's own need not take a keyword not passed
        if forget_bias is not None:
            kw["forget_bias"] = forget_bias
        super().__init__(input_size, hidden_size, num_layers, *args, **kw)


class GRU(_RecurrentLayer):
    """Multi-layer GRU over a sequence; each step is GRUCell's equations.

    Args: as LSTM without forget_bias (a GRU's forget gate is its z, coupled with n's input:
    h = (1 − z)·n + z·h_prev; to open that path at init, add to z's block of bias_hh), plus
    reset_after=True (torch's form; False for Cho 2014's). Returns out, h_n.
    """

    cell_class = GRUCell


__all__ = ["RNNCell", "LSTMCell", "LSTM1997Cell", "CoupledLSTMCell", "PeepholeLSTMCell",
           "GRUCell", "RNN", "LSTM", "GRU", "States", "squash", "Parameter"]
