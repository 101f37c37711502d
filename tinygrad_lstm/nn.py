"""Parameter, Module, the containers (ModuleList, Sequential) and the plain layers (Linear,
Embedding, Dropout, Tanh, Sigmoid, ReLU, Identity).

The recurrent cells (cells.py) and layers (rnn.py) are re-exported here, so `nn.LSTM` works
as in torch.
"""

from __future__ import annotations

import math
from collections import OrderedDict, namedtuple

import numpy as np

from . import functional as F
from .optim import _zero_grads
from .tensor import (OpError, OpIndexError, Tensor, _flag, _float_dtype, _torch_kind,
                     check_rng, default_rng)


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter" + super().__repr__()[len("Tensor"):]


def uniform_parameter(shape, bound, rng, dtype):
    """U(−bound, bound) entries as a Parameter (PyTorch's default init for Linear and RNNs)."""
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_MISSING = object()


# load_state_dict's errors: what they are here (a key, a shape or value, a type) and a
# RuntimeError, as all of torch's load_state_dict errors are, so that ported
# `except RuntimeError:` catches them
class _LoadKeyError(KeyError, RuntimeError):
    def __str__(self):  # the message as written (KeyError's str quotes it, as a key)
        return str(self.args[0]) if self.args else ""


class _LoadValueError(ValueError, RuntimeError):
    pass


class _LoadTypeError(TypeError, RuntimeError):
    pass


class Module:
    """Base class: Parameters and sub-Modules assigned as attributes are found by
    `named_parameters()` and `state_dict()`: the module's own Parameters in assignment order,
    then each sub-Module's, as torch."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __setattr__(self, name, value):
        # as torch: a plain Tensor set over a Parameter (or over one set to None, as
        # `bias=False` leaves it) would drop it from parameters() and state_dict(), and the
        # optimizer would never train what the forward now reads
        old = self.__dict__.get(name, _MISSING)
        if (isinstance(old, Module) or old is None and name in self.__dict__.get(
                "_none_modules", ())) and value is not None and not isinstance(value, Module):
            # as torch: the submodule's parameters would leave parameters() and state_dict();
            # a submodule set to None keeps its slot (torch's _modules entry) all the same
            raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} "
                            f"over submodule {name!r} (a Module or None is expected, as "
                            "torch); del it first to use the name for something else")
        if isinstance(old, Module) and value is None:
            self.__dict__.setdefault("_none_modules", set()).add(name)
        if isinstance(old, Parameter) or old is None and name in self.__dict__.get(
                "_none_params", ()):
            if value is None:
                self.__dict__.setdefault("_none_params", set()).add(name)
            elif not isinstance(value, Parameter):
                raise TypeError(f"{type(self).__name__}: cannot assign a "
                                f"{type(value).__name__} as parameter {name!r} (a Parameter "
                                "or None is expected, as torch)")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        # `del` frees the name, as torch: a slot for a parameter or a submodule no more
        object.__delattr__(self, name)
        for slots in ("_none_params", "_none_modules"):
            self.__dict__.get(slots, set()).discard(name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: a Module defines forward(...), "
                                  "what calling it computes")

    def register_parameter(self, name, param):
        """Set a Parameter (or None: a parameter slot left empty, as `bias=False` leaves it,
        which then takes only a Parameter or None) as attribute `name`, as torch."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot register a "
                            f"{type(param).__name__} as parameter {name!r} (a Parameter or "
                            "None is expected)")
        if param is None:
            self.__dict__.setdefault("_none_params", set()).add(name)
        object.__setattr__(self, name, param)

    # --- traversal -----------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each Module held directly as an attribute, in set order; one
        held twice (`self.same = self.head`) once, under its first name, as torch."""
        seen = set()
        for name, value in vars(self).items():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self):
        return (m for _, m in self.named_children())

    def modules(self):
        """This module and every module below it, depth first, each once."""
        return (m for _, m in self.named_modules())

    def named_modules(self, prefix=""):
        """("", self), then (dotted name, module) for every module below, depth first, each
        once (a module held twice under its first name), as torch."""
        seen = set()

        def walk(module, name):
            if id(module) in seen:
                return
            seen.add(id(module))
            yield name, module
            for child_name, child in module.named_children():
                yield from walk(child, f"{name}.{child_name}" if name else child_name)

        return walk(self, prefix)

    def _named_tensors(self, prefix=""):
        """Every (name, Parameter) pair, duplicates included (a tied weight under both names):
        this module's own first, then each child's, as torch orders them (so that an optimizer
        state or a state_dict moved from torch lands on the same weights)."""
        children = []
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                children.append((name, value))
        for name, child in children:
            yield from child._named_tensors(prefix + name + ".")

    def named_parameters(self):
        """(name, Parameter) pairs, each Parameter once even when shared (weight tying)."""
        seen = set()
        for name, p in self._named_tensors():
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self):
        """Every Parameter once, as a list that `next()` also reads (see _Parameters)."""
        return _Parameters(p for _, p in self.named_parameters())

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    # --- state ---------------------------------------------------------------------------
    def state_dict(self):
        """name -> copy of the array, for every Parameter (a tied one under each name, as torch)."""
        return OrderedDict((name, p.data.copy()) for name, p in self._named_tensors())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the Parameters (in place, keeping their dtype).

        Everything is checked before anything is written: with `strict`, a missing or
        unexpected key is an error (a KeyError); a shape mismatch always is (a ValueError), and
        an array that is not numbers (a TypeError). Each is a RuntimeError too, as torch's
        errors are, so code written for torch catches them. Accepts torch tensors too.
        Returns (missing_keys, unexpected_keys), a named tuple of key lists, as torch.
        """
        own = OrderedDict(self._named_tensors())
        cls = type(self).__name__
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise _LoadTypeError(f"{cls}.load_state_dict: expected a dict of name -> array "
                                 f"(a state_dict()), got a {type(state_dict).__name__}")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise _LoadKeyError(f"{cls}.load_state_dict: {'; '.join(parts)}"
                                f"{self._state_dict_hint(missing, unexpected)}")
        arrays = {}
        for k, p in own.items():
            if k not in state_dict:
                continue
            value = state_dict[k]
            if not isinstance(value, Tensor) and hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu()
                if str(value.dtype) == "torch.bfloat16":  # numpy has none; float32 holds it
                    value = value.float()
                value = value.numpy()
            given = value
            value = np.asarray(getattr(value, "data", value))
            # before the shape: a None or a string read as "has shape ()"
            if value.dtype.kind not in "biuf":  # copyto would fail half-way through the copy
                what = f"has dtype {value.dtype}" if isinstance(given, np.ndarray) else \
                    f"is a {type(given).__name__} of non-numbers" if value.ndim else \
                    f"is a {type(given).__name__}"  # [1, "a"]: a list of numbers is taken
                raise _LoadTypeError(f"{cls}.load_state_dict: {k!r} {what} in the state dict, "
                                     f"expected numbers ({p.dtype})")
            if value.shape != p.shape:
                raise _LoadValueError(f"{cls}.load_state_dict: {k!r} has shape {value.shape} "
                                      f"in the state dict, expected {p.shape}")
            if value.dtype.kind == "f" and value.dtype.itemsize > p.dtype.itemsize and value.size:
                top = np.abs(value[np.isfinite(value)]).max(initial=0)  # a float64 into float32
                if top > np.finfo(p.dtype).max:
                    raise _LoadValueError(f"{cls}.load_state_dict: {k!r} holds {top:.3g}, past "
                                          f"the largest {p.dtype} ({np.finfo(p.dtype).max:.3g})")
            arrays[k] = value
        for k, value in arrays.items():
            np.copyto(own[k].data, value, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def _state_dict_hint(self, missing, unexpected):
        """What to add to load_state_dict's error about these keys (a layer says what torch
        feature they come from); "" by default."""
        return ""

    # --- modes ---------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout on) in this module and all below; returns self."""
        if not isinstance(mode, (bool, np.bool_)):  # "no" would read as True, as in torch
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got "
                             f"{mode!r}")
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Every parameter's .grad to None, as torch by default; with set_to_none=False the
        grads there are are filled with zeros in place."""
        _zero_grads(self.parameters(), set_to_none, f"{type(self).__name__}.zero_grad")

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad on every parameter (freezing a part of a model: its parameters
        get no .grad, so an optimizer over all of them leaves them be); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn):
        """fn(module) for every module below and then this one (children first, as torch's,
        e.g. an init of one's own); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- repr ----------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [f"  ({name}): " + repr(m).replace("\n", "\n  ")  # each name, as torch
                    for name, m in vars(self).items() if isinstance(m, Module)]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(children) + "\n)" if children else ")")


def as_input(who, x):
    """(x as a Tensor, what the caller passed or None if it was a Tensor already): a layer's
    or a cell's input; data a Tensor cannot hold is refused naming `who`."""
    if isinstance(x, Tensor):
        return x, None
    torch = _torch_kind(x)
    if torch:  # refused as a state is (cells.check_states)
        raise TypeError(f"{who}: x is a {torch}, expected a Tensor or a numpy array (from "
                        "torch: x.detach().numpy())")
    try:
        return Tensor(x), x
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: x: {str(e).removeprefix('Tensor: ')}") from None


def made_from(given, t):
    """For an error about Tensor t's dtype: what the caller passed, when Tensor(given) changed
    it (integers and Python numbers become float32), else ""."""
    if given is None:
        return ""
    was = getattr(given, "dtype", None)
    if was is None:
        return f" (made from a {type(given).__name__})"
    return "" if was == t.dtype else f" (made from {was} data)"


def _check_size(cls, dtype=np.float32, **sizes):
    """Raise naming `cls` unless every size is a positive int and dtype float32 or float64."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{cls}: {name} must be a positive int, got {v!r}")
    _float_dtype(dtype, cls)


def _check_flags(cls, **flags):
    """Raise naming `cls` unless every flag is True or False (or 0 or 1, which torch takes for
    most): a string is truthy, so `batch_first="False"` read as True and trained along the
    wrong axis (torch refuses a string for a layer's bias and batch_first, and takes one for
    bidirectional or a Linear's bias: here every such flag refuses it)."""
    for name, v in flags.items():
        _flag(cls, name, v)


class _Parameters(list):
    """A module's parameters: a list (len, indexing, iterated again and again), which `next()`
    also reads, from the first on, as torch's generator: `next(model.parameters())`, the torch
    idiom for a model's first parameter (its dtype), was a TypeError."""

    def __next__(self):
        return next(self.__dict__.setdefault("_walk", iter(self)))


class Linear(Module):
    """y = x Wᵀ + b

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias. Defaults to True.
        dtype: float32 or float64. Defaults to float32.
        rng: np.random.Generator for the init. Defaults to the one `manual_seed` sets.

    Shapes: x (*, in_features) -> y (*, out_features). W (out_features, in_features) and b
    (out_features,) start as U(−1/√in_features, 1/√in_features), as torch.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        _check_size("Linear", dtype, in_features=in_features, out_features=out_features)
        _check_flags("Linear", bias=bias)
        check_rng("Linear", rng)
        rng = default_rng() if rng is None else rng
        self.in_features, self.out_features = in_features, out_features
        k = 1.0 / math.sqrt(in_features)
        self.weight = uniform_parameter((out_features, in_features), k, rng, dtype)
        self.register_parameter("bias", uniform_parameter((out_features,), k, rng, dtype) if bias
                                else None)

    def forward(self, x):
        x, given = as_input("Linear", x)
        if not x.ndim or x.shape[-1] != self.in_features:
            raise OpError(f"Linear: x {x.shape} has {x.shape[-1] if x.ndim else 'no'} "
                          f"features, expected in_features={self.in_features}")
        if x.dtype != self.weight.dtype:  # before matmul's "dtypes differ", naming the layer
            raise OpError(f"Linear: x is {x.dtype}{made_from(given, x)} but the parameters are "
                          f"{self.weight.dtype}; make x {self.weight.dtype} (e.g. "
                          f"np.asarray(x, np.{self.weight.dtype}))")
        if x.ndim == 1:  # one sample, as torch takes it
            return self.forward(x.reshape(1, -1)).reshape(-1)
        y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias  # into y's array when it is big (Tensor.__iadd__)
        return y

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """y = W[ids]: row lookup; the gradient of a row used several times accumulates.

    Args:
        num_embeddings, embedding_dim: table size.
        dtype, rng: as Linear. W starts as N(0, 1), as torch.

    Shapes: ids (*) integers in [0, num_embeddings) -> y (*, embedding_dim).

    padding_idx: as torch's, the id of padding: its row starts as zeros and gets no gradient
    (the lookup reads it through a detached copy), so padded positions of a batch leave it
    unchanged. Defaults to None.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32,
                 rng=None):
        _check_size("Embedding", dtype, num_embeddings=num_embeddings,
                    embedding_dim=embedding_dim)
        check_rng("Embedding", rng)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be an int in [{-num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings  # as torch stores it
        rng = default_rng() if rng is None else rng
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, ids):
        ids = F.integer_ids("Embedding", "ids", ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids[(ids < 0) | (ids >= self.num_embeddings)][0]
            raise OpIndexError(f"Embedding: id {int(bad)} is out of range for "
                               f"num_embeddings={self.num_embeddings}")
        p, w = self.padding_idx, self.weight
        if p is None or not (ids == p).any():
            return w[ids]
        # the padding row read through a detached copy: the same values, no gradient to it
        # (no empty piece before row 0 or after the last: the picture would show it)
        parts = ([w[:p]] if p else []) + [w[p:p + 1].detach().named("padding row")]
        parts += [w[p + 1:]] if p + 1 < self.num_embeddings else []
        return Tensor.cat(parts, axis=0)[ids]

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class ModuleList(Module):
    """Modules held in a list, as torch.nn.ModuleList: registered under "0", "1", ..., so their
    parameters are the model's (`layers.0.weight` in a state_dict). A plain Python list of
    modules is not looked into, as in torch: its parameters would not be trained or saved.

        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        for layer in self.layers: x = layer(x).tanh()
    """

    def __init__(self, modules=None):
        self.extend(() if modules is None else modules)  # None too, as torch

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: element {len(self)} is a "
                            f"{type(module).__name__}, not a Module")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self):  # its elements, a module held twice counted twice (as torch)
        return sum(1 for _ in self)

    def __iter__(self):
        return (m for m in vars(self).values() if isinstance(m, Module))

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):  # a new ModuleList of the same modules, as torch
            return ModuleList(list(self)[index])
        return getattr(self, self._key(index))

    def __setitem__(self, index, module):
        if isinstance(index, slice):
            raise TypeError(f"{type(self).__name__}: slice assignment is not supported; assign one "
                            "element at a time (layers[i] = module)")
        key = self._key(index)
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: element {key} would be a "
                            f"{type(module).__name__}, not a Module")
        setattr(self, key, module)

    def __delitem__(self, index):
        modules = list(self)
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[int(self._key(index))]
        self._renumber(modules)

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: insert takes a Module, got a "
                            f"{type(module).__name__}")
        modules = list(self)
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, index=-1):
        module = self[index]
        del self[index]
        return module

    def __iadd__(self, modules):
        return self.extend(modules)

    def _renumber(self, modules):
        """Hold `modules` under "0", "1", ... again (after a deletion or an insertion), as
        torch renumbers its ModuleList."""
        for key in [k for k, v in vars(self).items() if isinstance(v, Module)]:
            delattr(self, key)
        for m in modules:
            self.append(m)

    def _key(self, index):
        """The attribute name of element `index` (an int, negative from the end)."""
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: indices must be ints or slices, got "
                            f"{type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index!r} is out of range for {n} "
                             "modules")
        return str(int(index) % n)


class Sequential(ModuleList):
    """Modules applied in order, each to what the one before returned, as torch.nn.Sequential:

        head = nn.Sequential(nn.Linear(H, H), nn.Tanh(), nn.Linear(H, V))

    Registered under "0", "1", ... as a ModuleList's elements (`head.0.weight`)."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):
            raise TypeError("Sequential: takes the modules themselves, in order "
                            "(nn.Sequential(a, b)); named elements are not supported")
        super().__init__(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):  # a Sequential of those modules, as torch
            return Sequential(*list(self)[index])
        return super().__getitem__(index)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class Tanh(Module):
    """tanh as a module, for a Sequential."""

    def forward(self, x):
        return x.tanh()


class Sigmoid(Module):
    """σ as a module, for a Sequential."""

    def forward(self, x):
        return x.sigmoid()


class ReLU(Module):
    """relu as a module, for a Sequential."""

    def forward(self, x):
        return x.relu()


class Identity(Module):
    """x as it is (a placeholder, as torch's)."""

    def forward(self, x):
        return x


class Dropout(Module):
    """Zero each element with probability p in training, scaling the rest by 1/(1−p).

    Args:
        p: drop probability in [0, 1] (1 drops everything, as torch). Defaults to 0.5.
        rng: np.random.Generator for the masks. Defaults to the one `manual_seed` sets.
    """

    def __init__(self, p=0.5, rng=None):
        self.p, self.rng = F.check_dropout_p("Dropout", p), check_rng("Dropout", rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


# The recurrent cells and layers are nn members too; they need Module first, hence down here.
from .rnn import (GRU, LSTM, RNN, CoupledLSTMCell, GRUCell, LSTM1997Cell, LSTMCell,  # noqa: E402
                  PeepholeLSTMCell, RNNCell, States)

__all__ = ["Parameter", "Module", "ModuleList", "Sequential", "Tanh", "Sigmoid", "ReLU",
           "Identity", "Linear", "Embedding", "Dropout", "RNNCell",
           "LSTMCell", "GRUCell", "LSTM1997Cell", "CoupledLSTMCell", "PeepholeLSTMCell", "RNN",
           "LSTM", "GRU", "States"]
