"""Tensor and the Function base class; the primitives (Function subclasses, each forward
next to its backward) are in ops.py and importable from here too.

A primitive is a `Function` subclass with `forward(*arrays)` and `backward(g)`; `backward`
returns one gradient per parent (None where the parent needs none). Adding an op means one
subclass in ops.py and one method on `Tensor`. Everything else (softmax, losses, cells) is
composed from these in other modules and has no backward code.

The record a forward pass leaves is minimal and acyclic: an output Tensor points to its
Function (`_ctx`), the Function to its parent Tensors (a tuple) and the arrays it saved.
Nothing points back to an output, so a dropped graph is freed by reference counting alone.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import math
import numbers
import operator
import sys
import sysconfig
import warnings

import numpy as np

from . import autograd

# The only module state: the no_grad flag, the current naming scope, the default RNG, the
# creation stamp every Tensor gets (a tensor is made after its inputs, so the walk can take
# the latest-made first; see autograd.backward) and, while a recurrent layer runs a step
# whose intermediates it will release, the `append` of the list that collects the graph
# nodes the step's ops make (rnn._RecurrentLayer._unroll). Besides these, only caches of
# read-only records (_int_record, _piece_records, _RELEASED) that change no result.
_grad_enabled = True
_scope = None
_rng = np.random.default_rng()
_stamp = itertools.count().__next__
_made = None

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_new = object.__new__  # a node's Function and Tensor, made without __init__ (hot path)


class OpError(ValueError, RuntimeError):
    """Bad input to an op; the message already names the op and the shapes. A ValueError,
    and a RuntimeError as torch raises for shapes that do not fit (`except RuntimeError:`
    written for torch catches it too)."""


class OpIndexError(OpError, IndexError):
    """An index, an axis or a class id out of range: an OpError, and an IndexError as torch's."""


def _shapes(arrays):
    return " and ".join(str(tuple(a.shape)) for a in arrays)


# ---------------------------------------------------------------------------------------------
# Function: one recorded node of the graph


class Function:
    """One application of a primitive: its parents, what forward saved for backward, and which
    parents need a gradient. `op` names it in errors, the renderer and the stepper; `symbol` is
    what the pictures draw."""

    __slots__ = ("parents", "saved", "needs", "args")
    op = "?"
    symbol = "?"
    trusted = False  # True for the built-in primitives: the walk skips its checks (ops.py)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, g):
        raise NotImplementedError

    @classmethod
    def apply(cls, *parents, **kwargs):
        """Record one application of this op to `parents` (Tensors) and return its output."""
        if not cls.trusted:  # a Function of one's own: its inputs are checked here
            for i, p in enumerate(parents):
                if not isinstance(p, Tensor):
                    raise TypeError(f"{cls.op}: input {i} is a {type(p).__name__}, not a "
                                    "Tensor; pass numbers as keyword arguments, or wrap them "
                                    "as Tensor(...)")
        if not kwargs and cls.trusted:  # the hot path: one- and two-input ops run inline
            n = len(parents)
            if n == 2:
                return _binary(cls, *parents)
            if n == 1:
                return _unary(cls, parents[0])
        ctx = _new(cls)
        ctx.parents = parents
        ctx.saved = None
        ctx.args = kwargs or None  # kept so a released value can be recomputed (Tensor.data)
        arrays = [p.data for p in parents]
        if len({a.dtype for a in arrays}) > 1:
            raise OpError(f"{cls.op}: dtypes differ ({_dtypes(parents)}); "
                          "no silent upcasting: create the tensors with one dtype")
        try:
            out = ctx.forward(*arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as e:
            raise _op_error(cls, arrays, e) from None
        if not cls.trusted:
            out = _own_output(cls, arrays, out)
        return _node(ctx, out, tuple([p._requires_grad for p in parents]))

    def recompute(self):
        """This op's output, computed again from its parents' current values."""
        fresh = object.__new__(type(self))  # forward's `saved` goes to a throwaway
        fresh.saved = None
        arrays = [p.data for p in self.parents]
        out = fresh.forward(*arrays, **(self.args or {}))
        if not self.trusted:
            return _own_output(type(self), arrays, out)
        return out if type(out) is np.ndarray else np.asarray(out)


def _own_output(cls, arrays, out):
    """What a user-defined Function's forward returned, as an array of its inputs' dtype: a
    number (numpy's too) or a list takes that dtype (as a number operand does); an array of
    another dtype is refused, naming the op (a float64 result from float32 inputs used to
    surface later as another op's "dtypes differ")."""
    if not arrays:
        return np.asarray(out)
    dtype = arrays[0].dtype
    if isinstance(out, np.ndarray):  # an array keeps its dtype, or is refused
        if out.dtype != dtype:
            raise OpError(f"{cls.op}: forward returned {out.dtype} data from {dtype} inputs; "
                          f"return an array of {dtype} (e.g. .astype(x.dtype))")
        return np.asarray(out)
    try:  # a number, numpy's too ((x > 0).sum()), or a list: takes the inputs' dtype
        arr = np.asarray(out)
    except (ValueError, TypeError) as e:
        raise OpError(f"{cls.op}: forward returned a {type(out).__name__}, not an array: {e}") \
            from None
    if arr.dtype.kind not in "biuf":
        raise OpError(f"{cls.op}: forward returned a {type(out).__name__} of {arr.dtype}, not "
                      "numbers")
    return arr.astype(dtype)


# `needs` tuples, shared: _NEEDS[a][b] for two parents, _NEEDS[a][2] for one (no allocation)
_NEEDS = (((False, False), (False, True), (False,)), ((True, False), (True, True), (True,)))


# The operators call these two directly: a call with exact positional arguments is one that
# CPython 3.11 runs inline, where `apply`'s *parents and **kwargs are not.
def _binary(cls, a, b):
    """`cls.apply(a, b)` for a two-input op without keyword arguments."""
    ctx = _new(cls)
    ctx.parents = (a, b)
    ctx.saved = None
    ctx.args = None
    x, y = a.data, b.data
    if x.dtype != y.dtype:
        raise OpError(f"{cls.op}: dtypes differ ({x.dtype}, {y.dtype}); "
                      "no silent upcasting: create the tensors with one dtype")
    try:
        out = ctx.forward(x, y)
    except (ValueError, IndexError, TypeError) as e:
        raise _op_error(cls, (x, y), e) from None
    return _node(ctx, out, _NEEDS[a._requires_grad][b._requires_grad])


def _unary(cls, p):
    """`cls.apply(p)` for a one-input op without keyword arguments."""
    ctx = _new(cls)
    ctx.parents = (p,)
    ctx.saved = None
    ctx.args = None
    x = p.data
    try:
        out = ctx.forward(x)
    except (ValueError, IndexError, TypeError) as e:
        raise _op_error(cls, (x,), e) from None
    return _node(ctx, out, _NEEDS[p._requires_grad][2])


def _op_error(cls, arrays, e):
    """The error to raise for `e` from an op's forward: OpErrors as they are (they name the op
    and shapes already), numpy's errors with the op and the input shapes put in front."""
    if isinstance(e, OpError):
        return e
    kind = OpIndexError if isinstance(e, IndexError) else OpError  # numpy's AxisError is both
    return kind(f"{cls.op}: {_shapes(arrays)}: {e}")


def _node(ctx, out, needs):
    """The output Tensor of `ctx`'s forward: a node of the graph when grad mode is on and an
    input requires grad, else a plain constant."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # numpy turns 0-d results into scalars
    t = _new(Tensor)
    t._seq = _stamp()
    t.data = out
    t._grad = None
    t.name = None
    t._retain = False
    t._released = None
    if _grad_enabled and True in needs:
        ctx.needs = needs
        t._requires_grad = True
        t._ctx = ctx
        t.scope = _scope
        if _made is not None:
            _made(t)
    else:
        t._requires_grad = False
        t._ctx = None
        t.scope = None
    return t


# An array this big or bigger may take an in-place sum (`Tensor.__iadd__`); numpy elides its
# temporaries from the same size on: below it, a fresh array costs about as much as a write
# into an old one.
DONATE_BYTES = 256 << 10


def _donates(t, x, y):
    """True when `t += y` may write into t's array x: the statement is a `+=` (not a call of
    __iadd__, which counts references differently); t is an unnamed, not retained graph node
    (a plain Tensor) that only the caller's variable holds (and the list of nodes a layer
    step collects, `_made`), none of whose inputs is released (so that reading a released
    value recomputes one node, not a chain of `+=`s); x owns its memory (or is the only view
    of an array that does) and nothing else holds it (no op saved it for its backward); and y
    fits into x's shape and dtype."""
    if (_INPLACE_ADD is None or type(t) is not Tensor or t._ctx is None or t.name is not None
            or t._retain or not _grad_enabled or type(x) is not np.ndarray
            or not x.flags.writeable):
        return False
    caller = sys._getframe(2)  # above this frame and __iadd__'s
    code = caller.f_code.co_code
    if code[caller.f_lasti:caller.f_lasti + 2] != _INPLACE_ADD:
        return False
    # The references CPython 3.11 to 3.13 count when only the caller's variable holds t: that
    # variable, its copy on the caller's stack for `+=`, `self` in __iadd__, `t` here and
    # getrefcount's argument; one more when a layer step's list of nodes (_made) holds it.
    # (tests/test_engine.py checks both ways: a plain `y += b` donates; an alias, a saved
    # value or a view keeps y's array.)
    held = 5 + (_made is not None and any(m is t for m in _made.__self__))
    if sys.getrefcount(t) > held:
        return False
    # x: t.data, `x` in __iadd__ and here, the argument; its base: x.base, `base`, the argument
    base = x.base
    if sys.getrefcount(x) > 4 or base is not None and (
            type(base) is not np.ndarray or base.base is not None or sys.getrefcount(base) > 3):
        return False
    if any(type(p) is _Released for p in t._ctx.parents):
        return False
    if y.dtype != x.dtype or y.ndim > x.ndim:
        return False
    try:
        return np.broadcast_shapes(x.shape, y.shape) == x.shape
    except ValueError:  # shapes that do not broadcast: `_binary` says so, naming the op
        return False


def _inplace_add_bytes(version=sys.version_info[:2], implementation=sys.implementation.name,
                       free_threaded=bool(sysconfig.get_config_var("Py_GIL_DISABLED"))):
    """The bytecode of a `+=` (BINARY_OP NB_INPLACE_ADD), on the interpreters whose reference
    counts `_donates` was checked against (tests/test_engine.py: CPython 3.11 to 3.13, with
    the GIL); None elsewhere, and then nothing is donated and `y += b` is `y = y + b`.
    CPython 3.14 leaves most references a frame pushes on its stack uncounted (borrowed,
    LOAD_FAST_BORROW), so the same count could come from an aliased y there, whose array a
    donation would overwrite (numpy had to change its own temporary elision for this);
    3.9 and 3.10 write a `+=` as another opcode, with other counts, not checked either."""
    if implementation != "cpython" or free_threaded or not (3, 11) <= tuple(version) <= (3, 13):
        return None
    import dis
    op = dis.opmap.get("BINARY_OP")
    names = [name for name, _ in getattr(dis, "_nb_ops", ())]
    if op is None or "NB_INPLACE_ADD" not in names:
        return None
    return bytes([op, names.index("NB_INPLACE_ADD")])


_INPLACE_ADD = _inplace_add_bytes()


def _frozen(index):
    """An index as it is now, for the backward and for recomputing a released value: arrays and
    lists are copied, so that a buffer of indices or targets refilled before backward (as
    torch copies them) does not move the gradient to where they point then."""
    if type(index) is tuple:
        return tuple([_frozen(i) for i in index])
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):
        return [_frozen(i) for i in index]
    return index


def _dtypes(parents):
    return ", ".join(str(p.data.dtype) for p in parents)


# ---------------------------------------------------------------------------------------------
# Tensor


# What numpy before 1.24 did with ragged nesting ([[1, 2], [3]]): an object array, with this
# warning (numpy 1.24 on raise a ValueError). numpy 1.25 moved it to np.exceptions.
_RaggedWarning = getattr(np, "exceptions", np).VisibleDeprecationWarning
_RAGGED = (ValueError, _RaggedWarning)


def _float_dtype(dtype, who):
    """dtype as a np.dtype when it is one a Tensor holds (float32, float64; None is numpy's
    float64), else a TypeError naming `who`: the check of Tensor(), the constructors and the
    layers."""
    try:
        dt = np.dtype(dtype)
    except TypeError:  # not a dtype at all ("bogus")
        dt = None
    if dt is None or dt not in _FLOATS:
        shown = dtype if dt is None else dt
        if type(dtype).__module__ == "torch":  # torch.float64 is not numpy's dtype
            shown = f"{dtype} (torch's)"
        raise TypeError(f"{who}: dtype {shown} is not supported; use np.float32 or np.float64")
    return dt


def shown_scope(scope):
    """A scope's (key, value) pairs as labels show them: keys starting with "_" are hidden
    (a layer's `_call`, which tells its forward calls apart in the pictures). `scope` is a
    dict, a tuple of pairs (a lane) or None."""
    items = scope.items() if isinstance(scope, dict) else scope or ()
    return [(k, v) for k, v in items if not str(k).startswith("_")]


def _torch_kind(x):
    """How an error names one of torch's objects (`torch.Tensor`, `torch.Parameter`), which
    are refused where a Tensor or an array goes (numpy read one without grad silently, and
    one with grad raised torch's own error); None for anything else."""
    return f"torch.{type(x).__name__}" if type(x).__module__.split(".")[0] == "torch" else None


def _keeps_shape(op, sign, shape, other):
    """Refuses `x op= y` whose result would not have x's shape: in place, as torch, whether x
    is a leaf or computed (a computed (3,) grew to (2, 3) under `+=`, which a leaf refused)."""
    try:
        fits = np.broadcast_shapes(shape, other) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise OpError(f"{op}: {tuple(shape)} {sign} {tuple(other)}: in place, the result must "
                      f"keep the tensor's shape {tuple(shape)}")


def _is_int(a):
    """An int or numpy integer, not a bool (True would be read as 1)."""
    return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))


_RNG_METHODS = ("random", "uniform", "standard_normal")  # what the package draws with


def check_rng(who, rng):
    """Refuse, naming `who`, an rng that is not None or a numpy generator (`rng=3`, meant as a
    seed, failed deep inside as "'int' object has no attribute 'uniform'")."""
    if rng is not None and not all(callable(getattr(rng, m, None)) for m in _RNG_METHODS):
        hint = f" (a seed: rng=np.random.default_rng({rng!r}))" if _is_int(rng) else ""
        raise TypeError(f"{who}: rng must be a numpy Generator or None, got "
                        f"{type(rng).__name__} {rng!r}{hint}")
    return rng


def _flag(op, name, v):
    """bool(v), if v is True or False (or 0 or 1); else a TypeError naming op: a string is
    truthy, so "no" read as True (and numpy's own message named an integer)."""
    if not (isinstance(v, (bool, np.bool_)) or _is_int(v) and v in (0, 1)):
        raise TypeError(f"{op}: {name} must be True or False, got {v!r}")
    return bool(v)


def _is_real(a):
    """A real number (int, float or numpy's), not a bool."""
    return isinstance(a, numbers.Real) and not isinstance(a, (bool, np.bool_))


def _int_axis(op, axis, shape, scalar=False):
    """Refuse, naming op, an axis that is not an int or not one of `shape`'s. With `scalar`,
    a 0-d shape has axis 0 (and -1), as torch's reductions and softmaxes take it."""
    if not _is_int(axis):
        raise OpError(f"{op}: axis must be an int, got {axis!r}")
    span = len(shape) or (1 if scalar else 0)
    if not -span <= axis < span:
        raise OpIndexError(f"{op}: axis {axis} is out of range for shape {tuple(shape)}")


# torch's names for an axis and keepdims, taken as keyword aliases by the reductions, splits,
# joins and softmaxes: `x.sum(dim=1)`, `x.chunk(4, dim=1)`, `Tensor.cat(xs, dim=1)` port as
# written. Not by max, whose torch form with a dim returns (values, indices): a pair unpacked
# from a values-only result would be wrong without an error. The numpy argument's default is
# this marker too, so that one given explicitly, even as its default value (`chunk(2, 0,
# dim=1)`), is told from one left out.
class _Unset:
    __slots__ = ()

    def __repr__(self):
        return "<default>"


_UNSET = _Unset()


def _alias(op, numpy_name, value, torch_name, alias, default):
    """`value` (numpy's argument) or `alias` (torch's name for it), not both; `default` when
    neither is given."""
    if alias is _UNSET:
        return default if value is _UNSET else value
    if value is not _UNSET:
        raise TypeError(f"{op}: got both {numpy_name} and {torch_name}; they are one argument "
                        f"(numpy's name and torch's)")
    return alias


def _all_if_empty(dim):
    """torch's `dim` for a reduction: an empty one, () or [], reduces over every axis there
    (numpy's `axis=()` reduces over none, and is kept so under that name)."""
    return None if type(dim) in (tuple, list) and not dim else dim


def _dim(op, dim, shape, places=None):
    """A torch-style `dim` of `shape` (one of `places` positions, len(shape) by default),
    made non-negative; refused, naming op, when it is not an int or out of range."""
    places = len(shape) if places is None else places
    if not _is_int(dim):
        raise OpError(f"{op}: dim must be an int, got {dim!r}")
    if not -places <= dim < places:
        raise OpIndexError(f"{op}: dim {dim} is out of range for a {len(shape)}-D tensor "
                           f"{tuple(shape)} (from {-places} to {places - 1})")
    return int(dim) % places


def _as_array(data, dtype, who="Tensor"):
    if dtype is not None:
        dtype = _float_dtype(dtype, who)
    if isinstance(data, Tensor):
        data = data.data
    elif _torch_kind(data) and hasattr(data, "detach"):  # a torch tensor (not a Size): as an
        if getattr(data, "requires_grad", False):        # array, its dtype kept
            raise TypeError(f"{who}: a {_torch_kind(data)} that requires grad; pass "
                            "t.detach() (its values, without torch's graph)")
        try:
            data = np.asarray(data.detach().cpu())
        except TypeError:  # bfloat16: numpy has no such dtype
            raise TypeError(f"{who}: a {_torch_kind(data)} of {data.dtype}, which numpy has no "
                            "dtype for; pass t.float()") from None
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", _RaggedWarning)
                arr = np.asarray(data)
        except _RAGGED as e:  # numpy 1.24+ refuses ragged nesting; before, it warned
            why = f": {e}" if isinstance(e, ValueError) else ""  # (the warning says 'deprecated')
            raise ValueError(f"{who}: ragged nested data (rows of different lengths){why}") from None
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(np.float32)  # Python floats are float32 unless asked otherwise
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{who}: complex data ({arr.dtype}) is not supported: "
                        "gradients here are real")
    if kind in "OUSVMm":  # (dates and durations too: they would become counts of days)
        raise TypeError(f"{who}: {arr.dtype} data is not supported; "
                        "pass numbers (a list or a numeric numpy array)")
    if kind == "f" and dtype is None and arr.dtype not in _FLOATS:
        raise TypeError(f"{who}: {arr.dtype} data is not supported; use float32 or float64")
    if dtype is None:
        dtype = arr.dtype if kind == "f" else np.dtype(np.float32)
    return np.array(arr, dtype=dtype, copy=True)


class _Size(int):
    """A tensor's element count, numpy's `x.size`, which can also be called as torch's
    `x.size()` (the shape) or `x.size(d)` (one axis's length)."""

    def __new__(cls, n, shape):
        self = super().__new__(cls, n)
        self.shape = shape
        return self

    def __reduce__(self):  # pickled and copied as the plain int it is
        return int, (int(self),)

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        return self.shape[_dim("size", dim, self.shape)]


def _compared(other):
    """The other side of a comparison: a Tensor's values, or what numpy makes of it."""
    return other.data if isinstance(other, Tensor) else other


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Args:
        data: a number, a (nested) list, or a numpy array. Lists and integers become float32;
            float numpy arrays keep their dtype (float32 or float64). The data is copied.
        requires_grad: record operations on this tensor so `backward()` can reach it.
            Defaults to False.
        dtype: float32 or float64. Defaults to the rule above.
    """

    __slots__ = ("data", "_grad", "_requires_grad", "_ctx", "name", "scope", "_retain", "_released",
                 "_seq")
    # numpy defers to our reflected operators (ndarray * Tensor -> Tensor.__rmul__)
    __array_ufunc__ = None
    # identity hash, kept even if comparison operators are added: the walk keys dicts by tensor
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self._seq = _stamp()
        self._grad = None
        if not isinstance(requires_grad, (bool, np.bool_)):  # "no" would read as True
            raise TypeError(f"Tensor: requires_grad must be True or False, got {requires_grad!r}")
        self._requires_grad = bool(requires_grad)
        self._ctx = None
        self.name = None
        self.scope = None
        self._retain = False
        self._released = None

    # --- constructors --------------------------------------------------------------------
    @staticmethod
    def _shape(shape):
        return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) \
            else tuple(shape)

    @classmethod
    def _sizes(cls, shape, who):
        """A new tensor's shape, from `*shape` or one tuple or list; refused, naming `who`,
        unless every size is an int of 0 or more (numpy said "negative dimensions are not
        allowed")."""
        shape = cls._shape(shape)
        try:
            if any(isinstance(n, (bool, np.bool_)) for n in shape):
                raise TypeError
            sizes = tuple(operator.index(n) for n in shape)  # np.array(3) too, as torch's
        except TypeError:
            raise TypeError(f"{who}: the sizes must be ints, got {shape}") from None
        if any(n < 0 for n in sizes):
            raise OpError(f"{who}: the sizes must be 0 or more, got {sizes}")
        return sizes

    @staticmethod
    def _dtype(dtype, who):
        """dtype as a np.dtype, when it is one a Tensor holds; else a TypeError naming `who`
        (an integer dtype was turned into float32 without a word, after randn's normals had
        been cut to integers)."""
        if dtype is None:  # as torch's dtype=None: float32 (numpy's would be float64)
            return np.dtype(np.float32)
        return _float_dtype(dtype, who)

    @classmethod
    def zeros(cls, *shape, dtype=np.float32, requires_grad=False):
        return cls(np.zeros(cls._sizes(shape, "Tensor.zeros"), cls._dtype(dtype, "Tensor.zeros")),
                   requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=np.float32, requires_grad=False):
        return cls(np.ones(cls._sizes(shape, "Tensor.ones"), cls._dtype(dtype, "Tensor.ones")),
                   requires_grad)

    @classmethod
    def randn(cls, *shape, dtype=np.float32, requires_grad=False, rng=None):
        """Standard normal entries from `rng` (a np.random.Generator; defaults to the one
        `manual_seed` sets)."""
        dtype, shape = cls._dtype(dtype, "Tensor.randn"), cls._sizes(shape, "Tensor.randn")
        rng = _rng if rng is None else check_rng("Tensor.randn", rng)
        return cls(rng.standard_normal(shape).astype(dtype), requires_grad)

    @classmethod
    def uniform(cls, *shape, low=-1.0, high=1.0, dtype=np.float32, requires_grad=False,
                rng=None):
        """Entries drawn from U(low, high) with `rng` (defaults to the `manual_seed` one)."""
        dtype, shape = cls._dtype(dtype, "Tensor.uniform"), cls._sizes(shape, "Tensor.uniform")
        if not (_is_real(low) and _is_real(high) and math.isfinite(low) and math.isfinite(high)
                and low <= high):
            raise OpError(f"Tensor.uniform: low and high must be finite numbers with low <= "
                          f"high, got low={low!r}, high={high!r}")
        rng = _rng if rng is None else check_rng("Tensor.uniform", rng)
        return cls(rng.uniform(low, high, shape).astype(dtype), requires_grad)

    # --- properties ----------------------------------------------------------------------
    @property
    def shape(self):
        r = self._released
        return self.data.shape if r is None else r[0]

    @property
    def dtype(self):
        r = self._released
        return self.data.dtype if r is None else r[1]

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        """The number of elements, numpy's `size`; called, torch's `size()` (the shape) and
        `size(d)` (the length of axis d)."""
        return _Size(math.prod(self.shape), self.shape)

    def numel(self):
        return math.prod(self.shape)

    def dim(self):
        return len(self.shape)

    # A property over the slot `_grad`, which the walk writes directly: a gradient assigned by
    # hand must fit (one of another shape was taken, and the next backward() failed half-way
    # in numpy's broadcasting, after writing some leaves' .grad; torch refuses it at once)
    @property
    def grad(self):
        """∂L/∂self, summed over every backward() since it was last cleared: a numpy array of
        this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, g):
        if isinstance(g, np.generic):  # what numpy makes of 0-d arithmetic: `s.grad * 2`
            g = np.asarray(g)
        if g is not None:
            if not isinstance(g, np.ndarray):
                hint = ": .grad holds a numpy array, e.g. t.grad = g.data" \
                    if isinstance(g, Tensor) else ""
                raise TypeError(f"Tensor.grad: expected a numpy array or None, got a "
                                f"{type(g).__name__}{hint}")
            if g.dtype.kind != "f":
                raise TypeError(f"Tensor.grad: a gradient must be a float array, got {g.dtype}")
            # (not self.shape: a pickle of an older version sets grad before _released)
            r = getattr(self, "_released", None)
            shape, dtype = (self.data.shape, self.data.dtype) if r is None else r[:2]
            if g.shape != shape:
                raise OpError(f"Tensor.grad: a gradient of shape {g.shape} for a tensor of "
                              f"shape {shape}")
            if g.dtype != dtype:  # as torch; an optimizer's step would have cast it silently
                raise OpError(f"Tensor.grad: a {g.dtype} gradient for a {dtype} tensor; "
                              f"make it {dtype} (g.astype(np.{dtype}))")
        self._grad = g

    # A property over the slot `_requires_grad`, which the engine's own hot paths read: setting
    # it is checked (a computed tensor's flag turned off used to cut the graph there without a
    # word, as `.detach()` would, where torch refuses), reading it costs a user one call.
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad):
        self._set_requires_grad(requires_grad, "requires_grad")

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad on a leaf (on a computed tensor only True, which it has: torch
        refuses the rest, since turning it off would cut the graph there); returns self."""
        self._set_requires_grad(requires_grad, "requires_grad_")
        return self

    def _set_requires_grad(self, requires_grad, who):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"{who}: True or False, got {requires_grad!r}")
        if self._ctx is not None and not requires_grad:
            raise RuntimeError(f"{who}: a computed tensor's flag cannot be turned off (only a "
                               "leaf's can, as torch); use .detach() for a copy cut from the "
                               "graph")
        self._requires_grad = bool(requires_grad)

    # --- released values -----------------------------------------------------------------
    def release(self):
        """Drop the value of this intermediate result to save memory (a recurrent layer does
        this for the pre-activations and products inside each step, which no backward needs).

        The node stays in the graph; reading `.data` later recomputes the value from the
        parents' current values (the same numbers, unless a parent was changed in place since,
        e.g. by an optimizer step). Leaves cannot be released, nor instances of subclasses
        (they keep their value)."""
        if type(self) is Tensor and self._ctx is not None:
            _release(self)
        return self

    @property
    def op(self):
        """The name of the op that made this tensor ("add", "tanh", ...), or None for a leaf."""
        return None if self._ctx is None else self._ctx.op

    @property
    def parents(self):
        """The tensors this one was computed from, in argument order (empty for a leaf)."""
        return () if self._ctx is None else self._ctx.parents

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        """The rows along axis 0, each `self[i]` (a node, as torch's unbind), so that
        `for x_t in xs` and `h, c = hx` work."""
        if not self.data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    # Comparisons are not differentiable: they give numpy bool arrays (torch gives bool tensors,
    # which this package has none of), so `x[x > 0]`, `(pred == y).mean()` and `mask.any()`
    # work. Without them `==` was identity, `x == y` False for equal values without a word.
    def __eq__(self, other):
        return self.data == _compared(other)

    def __ne__(self, other):
        return self.data != _compared(other)

    def __lt__(self, other):
        return self.data < _compared(other)

    def __le__(self, other):
        return self.data <= _compared(other)

    def __gt__(self, other):
        return self.data > _compared(other)

    def __ge__(self, other):
        return self.data >= _compared(other)

    def __bool__(self):
        """The truth of a one-element tensor; refused for more, as torch and numpy refuse it
        (it was len() > 0, so `if Tensor([0.0])` read as True)."""
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor of shape {self.shape} is "
                               "ambiguous; use (x != 0).any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def __index__(self):  # torch refuses floats as indices too
        raise TypeError("only integer tensors can be used as an index, and a Tensor holds "
                        "floats; use int(x) for a one-element tensor")

    def __format__(self, spec):
        """A format spec formats the value of a one-element tensor (f"{loss:.3f}"), as torch;
        an empty one gives the repr."""
        return format(self._scalar("format"), spec) if spec else repr(self)

    def __array__(self, dtype=None, copy=None):
        """What numpy makes of a tensor (np.asarray(t), np.mean([a, b]) of detached values):
        its data, refused when it requires grad, as .numpy() is."""
        data = self.numpy()
        if dtype is not None and np.dtype(dtype) != data.dtype:
            if copy is False:  # numpy 2's protocol: say so rather than copy
                raise ValueError(f"__array__: {data.dtype} to {np.dtype(dtype)} needs a copy, "
                                 "and copy=False was asked")
            return data.astype(dtype)
        return data.copy() if copy else data

    def _scalar(self, op):
        if self.data.size != 1:
            raise TypeError(f"{op}: only a one-element tensor converts to a Python number; "
                            f"this one has shape {self.shape}")
        return self.data.item()

    def item(self):
        if self.data.size != 1:
            raise OpError(f"item: tensor of shape {self.shape} has {self.data.size} elements, "
                          "item() needs exactly one")  # a RuntimeError in torch
        return self.data.item()

    def numpy(self):
        """The data as a numpy array (shared, not copied), as torch's `.numpy()`: refused on a
        tensor that requires grad, since numpy work on it would be cut from the graph without
        a word (`.detach().numpy()` says that is meant; `.data` reads the values as they are)."""
        if self._requires_grad:
            raise RuntimeError(f"numpy: the tensor of shape {self.shape} requires grad, and "
                               "what numpy computes from it has no gradient; use "
                               ".detach().numpy() when that is meant")
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __repr__(self):
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2,
                               separator=", ", prefix="Tensor(")
        extra = [f"dtype={self.dtype}"]
        if self._ctx is not None:
            extra.append(f"op={self._ctx.op}")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        if self.name is not None:
            extra.append(f"name={self.name!r}")
        return f"Tensor({body}, {', '.join(extra)})"

    # --- naming --------------------------------------------------------------------------
    def named(self, name):
        """Label this tensor (e.g. "c", "h", "f") for the renderer and the stepper; returns
        self, so a cell writes `c = (f * c_prev + i * g).named("c")`."""
        if name is not None and not isinstance(name, str):
            raise TypeError(f"named: a name is a str (or None), got {type(name).__name__} "
                            f"{name!r}")
        self.name = name
        return self

    @property
    def label(self):
        """Name plus scope, e.g. "c[t=2]" or "h[layer=1,t=0]"; None for an unnamed tensor.
        Scope keys starting with "_" (a layer's `_call`) are left out."""
        if self.name is None:
            return None
        shown = [f"{k}={v}" for k, v in shown_scope(self.scope)]
        return f"{self.name}[{','.join(shown)}]" if shown else self.name

    # --- autograd ------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, on_step=None, *, gradient=None):
        """Backpropagate from this tensor: every leaf that requires grad gets `.grad`
        accumulated. `gradient` is torch's name for `grad`. See
        `tinygrad_lstm.autograd.backward`."""
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward: got both grad and gradient (torch's name for it); "
                                "pass one")
            grad = gradient
        autograd.backward(self, grad, retain_graph=retain_graph, on_step=on_step)

    def retain_grad(self):
        """Keep `.grad` on this intermediate tensor after backward (leaves always keep it)."""
        if not self._requires_grad:  # no backward reaches it: its .grad would stay None
            raise RuntimeError(f"retain_grad: the tensor of shape {self.shape} does not "
                               "require grad, so no backward reaches it (as torch refuses)")
        self._retain = True
        return self

    def detach(self):
        """The same data (shared) cut off from the graph: truncated BPTT between chunks."""
        return _constant(self.data, self.name)

    # --- operators -----------------------------------------------------------------------
    def _lift(self, other, op):
        """Wrap a number or array operand as a constant of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        dtype = self.data.dtype  # the op reads the data next anyway
        if type(other) in (float, int):  # the common case (1.0 - z, z * 0.5): no checks needed
            try:
                return _constant(np.asarray(other, dtype=dtype))
            except OverflowError:  # an int past float64's range (10**400)
                raise OpError(f"{op}: an integer of {len(str(abs(other)))} digits is too "
                              "large for a float") from None
        if isinstance(other, np.ndarray) and other.dtype.kind == "f" and other.dtype != dtype:
            raise OpError(f"{op}: dtypes differ ({dtype}, {other.dtype}); "
                          "no silent upcasting: create the operands with one dtype")
        torch = _torch_kind(other)
        if torch:  # as a layer refuses one; numpy read it silently, a float64 one cast to float32
            raise TypeError(f"{op}: a Tensor {self.shape} and a {torch}: the operands are "
                            "Tensors, numbers or numeric arrays (from torch: t.detach().numpy())")
        try:
            arr = np.asarray(other)
        except (ValueError, TypeError, RuntimeError):  # a tuple of Tensors (which refuse
            arr = None                                   # numpy when they require grad)
        # numpy would make None a NaN (float32) and a string a float or an error of its own
        if arr is None or arr.dtype.kind not in "biuf":
            raise TypeError(f"{op}: a Tensor {self.shape} and a {type(other).__name__}: the "
                            "operands are Tensors, numbers or numeric arrays")
        # a copy: the op may save it for backward or a recompute, and the caller's buffer
        # may be refilled before then (as _frozen copies an index array)
        return _constant(arr.astype(dtype, copy=True))

    def __add__(self, other):
        return _binary(Add, self, other if type(other) is Tensor else self._lift(other, "add"))

    def __radd__(self, other):
        return _binary(Add, self._lift(other, "add"), self)

    def __iadd__(self, other):
        """`y += b` on an intermediate records the same add node as `y = y + b` (on a leaf, see
        `_in_place`). When y is an intermediate whose
        value nothing else holds (`_donates`), the sum is written into y's array, as numpy does
        for a temporary in `a @ w + b`, and the old y keeps its place in the graph with its
        value released (recomputed if read). The layers add their biases so to the (T, B, 4H)
        input projection (LSTM and GRU B=32 T=64 H=256 steps 0.98x, paired)."""
        other = other if type(other) is Tensor else self._lift(other, "add")
        if self._ctx is None:
            return self._in_place(other, Add, np.add, "+=")
        _keeps_shape("add", "+=", self.shape, other.shape)
        x = self.data
        if x.nbytes >= DONATE_BYTES and _donates(self, x, other.data):
            ctx = _new(Add)
            ctx.parents = (self, other)
            y = other.data
            ctx.saved = None if y.shape == x.shape else (x.shape, y.shape)  # as Add.forward
            ctx.args = None
            np.add(x, y, out=x)
            _release(self)
            return _node(ctx, x, _NEEDS[self._requires_grad][other._requires_grad])
        return _binary(Add, self, other)

    def _in_place(self, other, cls, ufunc, sign):
        """`p += x` (and -=, *=, /=, **=) on a leaf, as torch: under no_grad, or on a leaf that
        requires no grad, its array is updated in place, so that `p -= lr * p.grad` in a
        loop over `model.parameters()` trains the model (a new tensor bound to the loop's
        variable changed nothing); on a leaf that requires grad, with grad on, an error (the
        change could not be recorded). Where `other` requires grad, the op `cls` is recorded
        and the name is bound to the new node, as `p = p + x`."""
        op, recording = cls.op, _grad_enabled
        if recording and self._requires_grad:
            raise RuntimeError(f"{op}: `{sign}` on a leaf tensor {self.shape} that requires "
                               f"grad could not be recorded; update it under no_grad() (as "
                               f"torch), or through its .data")
        _keeps_shape(op, sign, self.shape, other.shape)  # recorded or not (a review)
        if recording and other._requires_grad:
            return _binary(cls, self, other)
        x, y = self.data, other.data
        if x.dtype != y.dtype:
            raise OpError(f"{op}: dtypes differ ({x.dtype}, {y.dtype}); "
                          "no silent upcasting: create the operands with one dtype")
        if not x.flags.writeable:
            raise OpError(f"{op}: `{sign}` on a tensor {x.shape} whose array is read-only")
        ufunc(x, y, out=x)
        return self

    def _update(self, other, cls, ufunc, sign):
        """`self op= other`: in place on a leaf (`_in_place`), else recorded as `cls`; either
        way the result keeps self's shape, as torch's in-place ops do."""
        other = other if type(other) is Tensor else self._lift(other, cls.op)
        if self._ctx is None:
            return self._in_place(other, cls, ufunc, sign)
        _keeps_shape(cls.op, sign, self.shape, other.shape)
        return _binary(cls, self, other)

    def __isub__(self, other):
        return self._update(other, Sub, np.subtract, "-=")

    def __imul__(self, other):
        return self._update(other, Mul, np.multiply, "*=")

    def __itruediv__(self, other):
        return self._update(other, Div, np.divide, "/=")

    def __sub__(self, other):
        return _binary(Sub, self, other if type(other) is Tensor else self._lift(other, "sub"))

    def __rsub__(self, other):
        return _binary(Sub, self._lift(other, "sub"), self)

    def __mul__(self, other):
        return _binary(Mul, self, other if type(other) is Tensor else self._lift(other, "mul"))

    def __rmul__(self, other):
        return _binary(Mul, self._lift(other, "mul"), self)

    def __truediv__(self, other):
        return _binary(Div, self, other if type(other) is Tensor else self._lift(other, "div"))

    def __rtruediv__(self, other):
        return _binary(Div, self._lift(other, "div"), self)

    def __matmul__(self, other):
        return _binary(MatMul, self, other if type(other) is Tensor else self._lift(other, "matmul"))

    def __rmatmul__(self, other):
        return _binary(MatMul, self._lift(other, "matmul"), self)

    def __neg__(self):
        return _unary(Neg, self)

    def _exponent(self, p, op):
        """p as a number of this tensor's dtype, for `**` and `**=`: a 0-d array of either
        float dtype or a Fraction is an exponent, not an operand; None, a string or a
        complex are refused (dtype.type(p) made None a NaN and parsed a string)."""
        if type(p) not in (int, float):  # the common case goes straight to _lift
            if isinstance(p, (np.ndarray, np.generic)) and p.dtype.kind in "biuf":
                p = p.item()
            elif isinstance(p, numbers.Real) and not isinstance(p, int):
                try:
                    p = float(p)
                except OverflowError:  # Fraction(10**400)
                    raise OpError(f"{op}: the exponent {str(p)[:20]}… is too large for a "
                                  "float") from None
        return self._lift(p, op).data[()]

    def __pow__(self, p):
        if isinstance(p, Tensor) or np.ndim(p) != 0:
            raise OpError("pow: the exponent must be a scalar number")
        return Pow.apply(self, p=self._exponent(p, "pow"))

    def __rpow__(self, base):
        """`base ** x` for a number base > 0, as exp(x · ln base): composed, so the graph shows
        the × and the exp (torch has its own op for it)."""
        if isinstance(base, bool) or not isinstance(base, (int, float, np.integer, np.floating)):
            raise TypeError(f"pow: a {type(base).__name__} ** a Tensor {self.shape}: the base "
                            "must be a number")
        if not base > 0:
            raise OpError(f"pow: {base} ** a Tensor: the base must be positive (its log is "
                          "the slope)")
        return (self * math.log(base)).exp()

    def __ipow__(self, p):
        if self._ctx is None and not (isinstance(p, Tensor) or np.ndim(p) != 0):
            # a lifted constant never requires grad, so Pow is only named here, not recorded
            return self._in_place(_constant(np.asarray(self._exponent(p, "pow"))), Pow,
                                  np.power, "**=")
        return self ** p

    def sigmoid(self):
        return _unary(Sigmoid, self)

    def tanh(self):
        return _unary(Tanh, self)

    def relu(self):
        return _unary(Relu, self)

    def exp(self):
        return _unary(Exp, self)

    def log(self):
        return _unary(Log, self)

    def sum(self, axis=_UNSET, keepdims=_UNSET, *, dim=_UNSET, keepdim=_UNSET):
        """Σ over `axis` (an int, a tuple, or None for all, the default), keeping the summed
        axes as length 1 with `keepdims` (default False); or torch's `dim` and `keepdim`
        (`dim=()` sums over every axis, as torch; `axis=()` over none, as numpy)."""
        return Sum.apply(self, axis=_alias("sum", "axis", axis, "dim", _all_if_empty(dim), None),
                         keepdims=_flag("sum", "keepdims", _alias("sum", "keepdims", keepdims,
                                                                  "keepdim", keepdim, False)))

    def mean(self, axis=_UNSET, keepdims=_UNSET, *, dim=_UNSET, keepdim=_UNSET):
        """The mean over `axis` (an int, a tuple, or None for all, the default), with
        `keepdims` (default False); or torch's `dim` and `keepdim` (`dim=()` is every axis,
        as torch; `axis=()` none, as numpy)."""
        return Mean.apply(self, axis=_alias("mean", "axis", axis, "dim", _all_if_empty(dim),
                                            None),
                          keepdims=_flag("mean", "keepdims", _alias(
                              "mean", "keepdims", keepdims, "keepdim", keepdim, False)))

    def max(self, *positional, axis=None, keepdims=_UNSET, dim=_UNSET, keepdim=_UNSET):
        """The largest values over `axis` (numpy's amax, torch's amax): values only, and a tie
        shares the gradient equally. `keepdims` (default False) or torch's `keepdim`. The axis
        goes by name: `x.max(1)` is numpy's values but torch's (values, indices), and
        `x.max(1)[1]`, torch's argmax, would pick row 1 of the values without a word."""
        if positional:
            raise TypeError(f"max: give the axis by name, max(axis={positional[0]!r}): numpy's "
                            "max(1) returns the values, torch's (values, indices); this returns "
                            "the values only, as torch.amax (for the indices: "
                            "np.argmax(x.data, axis))")
        if dim is not _UNSET:  # refused by name: see _UNSET
            raise TypeError("max: takes axis, not dim: torch's max(dim=d) returns (values, "
                            "indices), this returns the values only, as torch.amax; write "
                            f"max(axis={dim!r})")
        keepdims = _flag("max", "keepdims", _alias("max", "keepdims", keepdims, "keepdim",
                                                   keepdim, False))
        return Max.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        shape = self._shape(shape)
        return Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """The axes permuted, as numpy's `transpose`: none given reverses them (`.T`);
        `x.transpose(1, 0, 2)` swaps the first two of three."""
        axes = self._shape(axes) if axes else None
        if axes is not None and len(axes) == 2 and self.ndim == 2 and \
                all(isinstance(a, (int, np.integer)) and -2 <= a < 2 for a in axes) \
                and axes[0] % 2 == 0 and axes[1] % 2 == 1:
            # numpy's identity permutation, which torch reads as "swap axes 0 and 1": refused
            # rather than silently not doing what a torch user wrote it for
            raise OpError(f"transpose: axes {tuple(axes)} leave a 2-D tensor {self.shape} as it "
                          "is (axes here are a permutation, as numpy's); to swap the two axes "
                          "as torch's transpose(0, 1) does, write .T or transpose(1, 0)")
        return Transpose.apply(self, axes=axes)

    @property
    def T(self):
        return Transpose.apply(self, axes=None)

    # torch's spellings of reshape and transpose, for code written from PyTorch: each records
    # the reshape or transpose node it stands for, so the picture and the stepper show that op
    def view(self, *shape):
        """torch's name for `reshape` (numpy arrays need no contiguity for it here)."""
        return self.reshape(*shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Axes start_dim … end_dim merged into one, as torch.flatten (a reshape)."""
        shape = self.shape
        places = len(shape) or 1  # torch takes 0 and −1 for a 0-d tensor
        a, b = _dim("flatten", start_dim, shape, places), _dim("flatten", end_dim, shape, places)
        if not shape:
            return self.reshape(1)
        if a > b:
            raise OpError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                          f"for shape {shape}")
        return self.reshape(shape[:a] + (math.prod(shape[a:b + 1]),) + shape[b + 1:])

    def unsqueeze(self, dim):
        """A new axis of length 1 at `dim` (−ndim−1 … ndim), as torch.unsqueeze (a reshape)."""
        shape = self.shape
        dim = _dim("unsqueeze", dim, shape, len(shape) + 1)  # one place more than axes
        return self.reshape(shape[:dim] + (1,) + shape[dim:])

    def squeeze(self, dim=None):
        """The axes of length 1 removed (only `dim`'s when given, an int or a tuple of them,
        and only those of length 1), as torch.squeeze (a reshape)."""
        shape = self.shape
        if dim is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)  # torch 2's tuple too
        # torch takes 0 and −1 for a 0-d
        drop = {_dim("squeeze", d, shape, len(shape) or 1) for d in dims}
        if len(drop) < len(dims):
            raise OpError(f"squeeze: dims {tuple(dims)} name a dim more than once (as torch "
                          "refuses)")
        return self.reshape(tuple(n for i, n in enumerate(shape) if not (i in drop and n == 1)))

    def permute(self, *dims):
        """The axes in the order `dims`, as torch.permute (= numpy's transpose(dims); the
        identity permutation is allowed here, as in torch)."""
        dims, shape = self._shape(dims), self.shape
        if len(dims) != len(shape):
            raise OpError(f"permute: {len(dims)} dims {tuple(dims)} for a {len(shape)}-D tensor "
                          f"{shape}")
        if len({_dim("permute", d, shape) for d in dims}) < len(dims):
            raise OpError(f"permute: dims {tuple(dims)} repeat a dim of the {len(shape)}-D "
                          f"tensor {shape}")
        return Transpose.apply(self, axes=dims)

    def __getitem__(self, index):
        if type(index) is int and _grad_enabled and self._requires_grad:
            shape = self.data.shape
            if shape and -shape[0] <= index < shape[0]:  # xs[t], every timestep
                saved, args = _int_record(shape, index)
                return _index_node(GetItem, self, index, saved, args, (self,))
        if type(index) is not int:
            _check_index("getitem", index, self.ndim)
        return GetItem.apply(self, index=_frozen(index))

    def __setitem__(self, index, value):
        """`x[index] = value` on a leaf, as torch: under no_grad(), or on a leaf that requires
        no grad, its array takes the values (so `x[0] += 1` and, under no_grad,
        `w[0] -= lr * g` work). What an op computed, a leaf that requires grad with grad on,
        and a value that requires grad are refused, before anything changes: the assignment
        could not be recorded."""
        _check_index("setitem", index, self.ndim)
        value = value if isinstance(value, Tensor) else self._lift(value, "setitem")
        if self._ctx is not None:
            raise TypeError(f"setitem: a tensor {self.shape} computed by an op cannot be "
                            "assigned into (the change could not be recorded); build the new "
                            "value with ops (cat, stack, +, ×)")
        if _grad_enabled and (self._requires_grad or value._requires_grad):
            which = f"into a leaf tensor {self.shape} that requires grad" \
                if self._requires_grad else "a value that requires grad"
            raise RuntimeError(f"setitem: assigning {which} could not be recorded; do it under "
                               "no_grad() (as torch), or through .data")
        x, y = self.data, value.data
        if x.dtype != y.dtype:
            raise OpError(f"setitem: dtypes differ ({x.dtype}, {y.dtype}); "
                          "no silent upcasting: create the operands with one dtype")
        if not x.flags.writeable:
            raise OpError(f"setitem: a tensor {x.shape} whose array is read-only")
        try:
            x[_frozen(index)] = y
        except (IndexError, ValueError, TypeError) as e:
            kind = OpIndexError if isinstance(e, IndexError) else OpError
            raise kind(f"setitem: {x.shape}[{index!r}] = {y.shape}: {e}") from None

    def chunk(self, n, axis=_UNSET, *, dim=_UNSET):
        """Split into `n` pieces along `axis` (torch's `dim`; default 0), each ceil(size/n)
        long (the last may be shorter), as torch.chunk. Each piece is its own node, so an
        LSTM's four gates stay visible."""
        if axis is _UNSET or dim is not _UNSET:  # (the layers pass axis: one test a step)
            axis = _alias("chunk", "axis", axis, "dim", dim, 0)
        shape = self.data.shape  # the pieces are views of the data (recomputed if released)
        _int_axis("chunk", axis, shape)
        if not _is_int(n) or n <= 0:
            raise OpError(f"chunk: the number of chunks must be a positive int, got {n!r}")
        if not shape[axis]:  # n empty pieces, as torch.chunk
            return self._pieces((0,) * int(n), axis, shape)
        return self._pieces(int(-(-shape[axis] // n)), axis, shape)

    def split(self, split_size, axis=_UNSET, *, dim=_UNSET):
        """Split along `axis` (torch's `dim`; default 0) into pieces of `split_size` (an int),
        or of the given sizes (a list that must add up to the axis length), as torch.split."""
        axis = _alias("split", "axis", axis, "dim", dim, 0)
        shape = self.data.shape  # the pieces are views of the data (recomputed if released)
        _int_axis("split", axis, shape)
        if isinstance(split_size, (int, np.integer)):
            if split_size <= 0:
                raise OpError(f"split: split_size must be positive, got {split_size}")
            return self._pieces(int(split_size), axis, shape)
        sizes = tuple(split_size) if isinstance(split_size, (list, tuple, np.ndarray)) else None
        if sizes is None or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                    for s in sizes):
            raise OpError(f"split: split_size must be an int or a list of ints, got "
                          f"{split_size!r}")
        sizes = tuple(int(s) for s in sizes)
        if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
            raise OpError(f"split: sizes {list(sizes)} do not add up to {shape[axis]}, "
                          f"the length of axis {axis} of {shape}")
        return self._pieces(sizes, axis, shape)

    def _pieces(self, sizes, axis, shape):
        pieces = _piece_records(shape, axis % len(shape), sizes)
        if not (_grad_enabled and self._requires_grad):
            return [Chunk.apply(self, index=index) for index, _, _ in pieces]
        parents = (self,)  # one tuple for all the pieces: read-only, like their records
        out = []
        for index, saved, args in pieces:
            out.append(_index_node(Chunk, self, index, saved, args, parents))
        return out

    @staticmethod
    def cat(tensors, axis=_UNSET, *, dim=_UNSET):
        """Concatenate along an existing axis (torch's `dim`; default 0), as np.concatenate /
        torch.cat."""
        axis = _alias("cat", "axis", axis, "dim", dim, 0)
        return Cat.apply(*_tensor_list("cat", tensors), axis=axis)

    @staticmethod
    def stack(tensors, axis=_UNSET, *, dim=_UNSET):
        """Stack along a new axis (torch's `dim`; default 0), as np.stack / torch.stack."""
        axis = _alias("stack", "axis", axis, "dim", dim, 0)
        return Stack.apply(*_tensor_list("stack", tensors), axis=axis)


def _check_index(op, index, ndim):
    """Refuses an index that numpy and torch read differently: a Tensor or another library's
    array or int-like in it (numpy took a one-element torch tensor as an int: x[torch.tensor([1])]
    was x[1], (4,) where torch gives (1, 4)), or ints, lists or arrays whose axes numpy orders
    otherwise (`_ordered_apart`). `ndim`: the indexed tensor's."""
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, Tensor):
            raise OpError(f"{op}: indexing with a Tensor is not supported; "
                          "index with ints, slices or a numpy integer array")
        if not isinstance(i, _INDEX_ITEMS) and (hasattr(type(i), "__index__")
                                                 or hasattr(i, "__array__")):
            raise OpError(f"{op}: an index of type {type(i).__module__}.{type(i).__qualname__} "
                          "is not taken (numpy may read it as an int); index with ints, "
                          "slices, lists or numpy arrays (a torch tensor: .numpy())")
    if _ordered_apart(items, ndim):
        raise OpError(f"{op}: index {_show_index(items)} puts its list or array axes where "
                      "numpy and torch order them differently (ints, lists or arrays, True or "
                      "False, apart with a slice, None or ... between them); index in two "
                      "steps, as torch reads it: x[0, :, [1, 3]] is x[0][:, [1, 3]]")


# numpy and torch read these alike; an int-like or array-like of another kind is refused
_INDEX_ITEMS = (int, np.integer, bool, np.bool_, slice, type(None), type(Ellipsis), list, range,
                np.ndarray, tuple)  # a tuple inside the index is a sequence, as a list


def _ordered_apart(items, ndim):
    """True when numpy and torch put the axes of an index's arrays in different places.
    numpy reads an int beside an array as one more array index, and when the array indices
    (ints included) are not side by side, puts their axes first; torch selects with the ints
    first, then places the arrays' axes where they stand among the rest (first only when they
    are apart there too), a `...` that covers no axis not standing between them. So
    x[0, :, [1, 3]] of (2, 3, 4) is (2, 3) in numpy and (3, 2) in torch, while x[[1], :, 2] is
    (1, 3) in both. A True or False beside ints or arrays counts as apart: numpy reads it as
    an array index, torch as a new axis where it stands."""
    ints, arrays, flags, used = [], [], False, 0  # used: the axes the items index
    for k, i in enumerate(items):
        if isinstance(i, (bool, np.bool_)) or isinstance(i, np.ndarray) and i.ndim == 0 \
                and i.dtype == bool:
            flags = True
        elif _is_int(i) or isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu":
            ints.append(k)
            used += 1
        elif isinstance(i, (list, range, np.ndarray, tuple)):
            a = _int_or_bool_array(i)
            if a is not None:
                arrays.append(k)
                used += a.ndim if a.dtype == bool else 1
        elif isinstance(i, slice):
            used += 1
    if flags:
        return bool(ints or arrays)
    if not arrays or _side_by_side(sorted(ints + arrays)):
        return False
    spread = ndim - used  # the axes a `...` covers
    rest = [k for k in range(len(items))
            if k not in ints and not (items[k] is Ellipsis and spread == 0)]
    if not _side_by_side([rest.index(k) for k in arrays]):
        return False  # apart in torch's reading too: both put the arrays' axes first
    # the axes torch puts before them: one per slice or None, a `...`'s share of the rest
    return any(items[k] is not Ellipsis or spread > 0 for k in rest[:rest.index(arrays[0])])


def _int_or_bool_array(i):
    """i as an array, when it is an index array numpy takes (ints or bools, at least 1-d);
    else None: a list of floats, or a ragged one, is left to numpy, whose IndexError says
    what is wrong with it."""
    try:
        a = np.asarray(i)
    except ValueError:
        return None
    return a if a.ndim > 0 and (a.dtype.kind in "iub" or a.size == 0) else None


def _side_by_side(positions):
    return positions == list(range(positions[0], positions[0] + len(positions)))


def _show_index(items):
    def one(i):
        if isinstance(i, np.ndarray):
            return f"<array {i.shape}>"
        if isinstance(i, slice):
            return ":".join("" if v is None else str(v) for v in
                            (i.start, i.stop) + (() if i.step is None else (i.step,)))
        return "..." if i is Ellipsis else str(int(i)) if isinstance(i, np.integer) else repr(i)
    return "[" + ", ".join(map(one, items)) + "]"


def _tensor_list(op, tensors):
    """`tensors` as a list, each a Tensor (as torch.cat and torch.stack want them)."""
    if isinstance(tensors, (Tensor, np.ndarray)):
        raise OpError(f"{op}: takes a list of tensors, got a single {type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise OpError(f"{op}: needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise OpError(f"{op}: element {i} is a {type(t).__name__}, not a Tensor; "
                          "wrap it as Tensor(...)")
    return tensors


class _Released(Tensor):
    """What a Tensor becomes while its value is released (`Tensor.release`): reading `.data`
    recomputes the value, keeps it, and makes the tensor a plain Tensor again.

    A class of its own because a `__getattr__` on Tensor would cost every Tensor attribute
    read: CPython 3.11 specializes attribute reads only on classes without one (measured
    23 against 6.5 ns a read, and the engine reads a few per node)."""

    __slots__ = ()

    def __getattr__(self, name):
        # Only reached for an unset slot, and the only unset slot is `data`.
        if name == "data" and self._released is not None:
            data = self._ctx.recompute()
            self.data = data
            self._released = None
            self.__class__ = Tensor
            return data
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")


# One (shape, dtype) tuple per kind of released value, shared: a layer releases values of
# the same few shapes at every timestep, and need not make and free a tuple for each.
_RELEASED = {}


def _release(t):
    """Tensor.release's work, for a plain Tensor that is a graph node: drop the value, keep
    its shape and dtype, and make t a _Released (whose first `.data` read recomputes it)."""
    data = t.data
    key = (data.shape, data.dtype)
    t._released = _RELEASED.setdefault(key, key) if len(_RELEASED) < 256 else key
    del t.data
    t.__class__ = _Released


def _constant(data, name=None):
    """A tensor of `data` as it is (no copy, no checks) outside any graph: an operand lifted
    from a number or array, or a detached value."""
    t = _new(Tensor)
    t.data, t._seq, t._grad, t._requires_grad, t._ctx = data, _stamp(), None, False, None
    t.name, t.scope, t._retain, t._released = name, None, False, None
    return t


def _index_node(cls, x, index, saved, args, parents):
    """The node `cls.apply(x, index=index)` records (GetItem or Chunk) for a basic index,
    built directly: the layers take `xs[t]` and the gate chunks every timestep. For an x that
    requires grad; `saved` and `args` come shared from the caches below, and `parents` is
    `(x,)`, shared by the pieces of one chunk."""
    ctx = _new(cls)
    ctx.parents, ctx.args, ctx.saved = parents, args, saved
    return _node(ctx, x.data[index], _NEEDS[True][2])


# What an index node records besides its parent: `saved` (x's shape, the index, True for a
# basic index) and `args` (the index, to recompute a released value). Both are read-only, so
# one pair serves every timestep: a layer's xs[t] and gate chunks then allocate only their
# nodes (fewer objects to make and free; the collector also counts and scans fewer).
@functools.lru_cache(maxsize=4096)
def _int_record(shape, index):
    return (shape, index, True), {"index": index}


@functools.lru_cache(maxsize=256)
def _piece_records(shape, axis, sizes):
    """(index, saved, args) of each piece of splitting `shape` along `axis` (already
    non-negative) into pieces of `sizes`: an int (the last piece may be shorter) or a tuple."""
    total = shape[axis]
    if isinstance(sizes, int):
        sizes = [min(sizes, total - s) for s in range(0, total, sizes)] or [0]
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        index = lead + (slice(start, start + s),)
        out.append((index, (shape, index, True), {"index": index}))
        start += s
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Module state: no_grad, scope, seeding


class no_grad:
    """Record no graph inside this block: `with no_grad():`, or as a decorator, `@no_grad()`
    or `@no_grad`, as torch's. One instance may be entered again, nested or later."""

    __slots__ = ("_previous",)

    def __new__(cls, fn=None):
        if fn is None:
            return super().__new__(cls)
        if not callable(fn):
            raise TypeError(f"no_grad: takes no arguments (or a function, as a bare "
                            f"decorator), got {fn!r}")
        return cls()(fn)  # `@no_grad` without the call: the function, wrapped

    def __init__(self, fn=None):
        self._previous = []

    def __enter__(self):
        global _grad_enabled
        self._previous.append(_grad_enabled)
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous.pop()
        return False

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):  # its body runs at each next(), not at the call
            @functools.wraps(fn)
            def without_grad_gen(*args, **kwargs):
                gen = fn(*args, **kwargs)
                try:  # (a StopIteration let out of a generator is a RuntimeError: PEP 479)
                    with no_grad():
                        value = next(gen)
                    while True:  # as torch's: each resumption of the body inside no_grad
                        try:
                            sent = yield value
                        except GeneratorExit:
                            with no_grad():
                                gen.close()
                            raise
                        except BaseException as e:
                            with no_grad():
                                value = gen.throw(e)
                        else:
                            with no_grad():
                                value = gen.send(sent)
                except StopIteration as e:  # the body returned: its value is the wrapper's
                    return e.value
            return without_grad_gen

        @functools.wraps(fn)
        def without_grad(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return without_grad


def is_grad_enabled():
    return _grad_enabled


class scope(contextlib.ContextDecorator):
    """Tag every tensor computed inside with these labels, e.g. `with scope(layer=0, t=3):`.

    Nested scopes merge (the inner value wins). The renderer groups nodes by scope and the
    stepper shows it; it costs one reference per node. (A class, not a generator: a layer
    enters one per timestep.)
    """

    __slots__ = ("labels", "previous")

    def __init__(self, **labels):
        self.labels = labels

    def __enter__(self):
        global _scope
        self.previous = _scope
        _scope = {**self.previous, **self.labels} if self.previous else self.labels
        return self

    def __exit__(self, *exc):
        global _scope
        _scope = self.previous
        return False


def manual_seed(seed):
    """Seed the default generator used by Tensor.randn/uniform and the layers' init."""
    global _rng
    try:  # numpy said "SeedSequence expects int or sequence of ints for entropy not a"
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"manual_seed: the seed must be an int, got {seed!r}") from None
    if seed < 0:  # any int, as torch's; numpy refuses a negative one
        seed %= 2**64
    _rng = np.random.default_rng(seed)
    return _rng


def default_rng():
    return _rng


# The primitives need Function (above); the Tensor methods need them (at call time).
from .ops import (Add, Cat, Chunk, Div, Exp, GetItem, Log, MatMul, Max, Mean, Mul,  # noqa: E402
                  Neg, Pow, Relu, Reshape, Sigmoid, Stack, Sub, Sum, Tanh, Transpose)
