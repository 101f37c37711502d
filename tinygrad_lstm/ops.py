"""The primitives: each a `Function` subclass with `forward(*arrays)` and, right below it,
`backward(g)`, which returns one gradient per parent (None where the parent needs none) and
carries its local derivative as a comment. Adding an op means one subclass here and one
method on `Tensor` (tensor.py). Everything else (softmax, losses, cells) is composed from
these in other modules and has no backward code.

`sigmoid` and `tanh` are primitives, so each gate is one node in the graph.
"""

from __future__ import annotations

import math

import numpy as np

from . import autograd, lazy
from .tensor import Function, OpError, OpIndexError, _is_int


def _unbroadcast(g, shape):
    """Sum a broadcast gradient back to `shape`: over the leading axes broadcasting added and
    over the axes where the input had size 1. A sum over leading axes alone stays lazy
    (lazy.RowSum): the gradients a bias gets at every timestep are added up first and summed
    over the rows once."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead and g.shape[lead:] == shape:
        return lazy.RowSum(g, shape, _sum_rows)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _sum_rows(g, shape):
    """g (…, *shape) summed over its leading axes, as a new array of `shape`."""
    lead = g.ndim - len(shape)
    if g.ndim != 2 and not g.flags.c_contiguous:  # (a 0-d sum is a numpy scalar: made an array)
        return np.asarray(g.sum(axis=tuple(range(lead))))
    return _ones_dot(g.reshape(math.prod(g.shape[:lead]), math.prod(shape))).reshape(shape)


# Rows summed at a time by one gemv (_ones_dot): the partial sums of each block are summed in
# turn, as blocks again. A gemv adds its rows one after another, so its float32 error grows
# with their number: over a million rows of like sign it was off by 6e-4 of the sum (numpy's
# sum(axis=0), also row after row, by 1e-2), in blocks by 3e-7, as torch's cascaded sums are.
# Its time: 0.8-0.96x one gemv's at (10^6, 4), 1.04-1.07x at (2048, 1024), at most 1.6x
# (24 µs more) at (4096, 256): a few µs where numpy's sum(axis=0) took 1.4-18x the gemv's.
SUM_BLOCK = 1024


def _ones_dot(g):
    """1ᵀ g for a 2-D g (n, m), the sum of its rows: a BLAS gemv, which took 0.5-0.75 of
    numpy's sum(axis=0) and was the more accurate of the two (float32, (32, 256) to
    (8192, 2048): the (T·B, 4H) input projection's bias, the head's, a GRU's b_hn); over
    more than SUM_BLOCK rows, in blocks."""
    n, m = g.shape
    k, rest = divmod(n, SUM_BLOCK)
    if k < 2 or not g.flags.c_contiguous:  # (a strided g would be copied to be cut in blocks)
        return np.dot(_ones(n, g.dtype), g)
    parts = np.matmul(_ones(SUM_BLOCK, g.dtype), g[:k * SUM_BLOCK].reshape(k, SUM_BLOCK, m))
    if rest:
        parts = np.concatenate([parts, np.dot(_ones(rest, g.dtype), g[k * SUM_BLOCK:])[None]])
    return _ones_dot(parts)


def _ones(n, dtype):
    ones = _cached_full((n,), dtype, 1.0)
    return np.ones(n, dtype) if ones is None else ones


# ---------------------------------------------------------------------------------------------
# Binary elementwise ops (numpy broadcasting; gradients summed back to each input's shape)


class Add(Function):
    __slots__ = ()
    op, symbol = "add", "+"

    def forward(self, a, b):
        if a.shape != b.shape:
            self.saved = (a.shape, b.shape)  # a broadcast; else saved stays None
        return a + b

    def backward(self, g):  # dy/da = 1, dy/db = 1
        na, nb = self.needs
        if self.saved is None:
            return (g if na else None, g if nb else None)
        sa, sb = self.saved
        return (_unbroadcast(g, sa) if na else None, _unbroadcast(g, sb) if nb else None)


class Sub(Function):
    __slots__ = ()
    op, symbol = "sub", "−"

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return a - b

    def backward(self, g):  # dy/da = 1, dy/db = -1
        sa, sb = self.saved
        return (_unbroadcast(g, sa) if self.needs[0] else None,
                _unbroadcast(-g, sb) if self.needs[1] else None)


class Mul(Function):
    __slots__ = ()
    op, symbol = "mul", "×"

    def forward(self, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, g):  # dy/da = b, dy/db = a
        a, b = self.saved
        na, nb = self.needs
        ga = g * b if na else None
        gb = g * a if nb else None
        # a broadcast made g bigger, or gave it more axes (cheaper to ask than the shapes;
        # with a size-0 axis the sizes are equal, so then the shapes are asked)
        if na and (ga.size != a.size or ga.ndim != a.ndim or not a.size and ga.shape != a.shape):
            ga = _unbroadcast(ga, a.shape)
        if nb and (gb.size != b.size or gb.ndim != b.ndim or not b.size and gb.shape != b.shape):
            gb = _unbroadcast(gb, b.shape)
        return ga, gb


class Div(Function):
    __slots__ = ()
    op, symbol = "div", "÷"

    def forward(self, a, b):
        self.saved = (a, b)
        return a / b

    def backward(self, g):  # dy/da = 1/b, dy/db = -a/b²
        a, b = self.saved
        # -(g·a/b)/b, not -g·a/b²: b² over- or underflows in float32 where the result need not
        return (_unbroadcast(g / b, a.shape) if self.needs[0] else None,
                _unbroadcast(-(g * a / b) / b, b.shape) if self.needs[1] else None)


class MatMul(Function):
    """a @ b as numpy's matmul: (..., n, k) @ (..., k, m) with the batch axes broadcast, and a
    1-D operand taken as a row (left) or a column (right) that the result then drops. The
    layers' and Linear's case, (..., n, k) @ a 2-D (k, m) weight, has a path of its own: the
    batch axes fold into one GEMM, and the weight's gradient stays lazy."""

    __slots__ = ()
    op, symbol = "matmul", "@"

    def forward(self, a, b):
        if a.ndim >= 2 and b.ndim == 2:
            if a.shape[-1] != b.shape[0]:
                raise OpError(f"matmul: {a.shape} @ {b.shape}: inner dimensions differ")
            self.saved = (a, b)
            return _matmul(a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise OpError(f"matmul: {a.shape} @ {b.shape}: an operand is 0-d; "
                          "use * to multiply by a scalar")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise OpError(f"matmul: {a.shape} @ {b.shape}: inner dimensions differ")
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise OpError(f"matmul: {a.shape} @ {b.shape}: the batch axes {a.shape[:-2]} and "
                          f"{b.shape[:-2]} do not broadcast") from None
        self.saved = (a, b)
        return np.matmul(a, b)

    def backward(self, g):  # ∂L/∂a = g bᵀ, ∂L/∂b = aᵀ g (summed over batch axes)
        a, b = self.saved
        if a.ndim < 2 or b.ndim != 2:
            return self._general_backward(a, b, g)
        ga = _matmul(g, b.T) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            # Kept lazy: the weight's gradient from every timestep becomes a few big matmuls
            # (lazy.py).
            if a.ndim > 2:  # rows counted, not -1: numpy cannot infer it when a size is 0
                n = math.prod(a.shape[:-1])
                a, g = a.reshape(n, a.shape[-1]), g.reshape(n, g.shape[-1])
            gb = lazy.OuterSum(a, g)
        return ga, gb

    def _general_backward(self, a, b, g):
        # a 1-D operand as the (1, k) row or (k, 1) column it stood for, g with that axis back
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        na, nb = self.needs
        ga = _sum_to(np.matmul(g, np.swapaxes(b2, -1, -2)), a2.shape, a.shape) if na else None
        gb = _sum_to(np.matmul(np.swapaxes(a2, -1, -2), g), b2.shape, b.shape) if nb else None
        return ga, gb


def _sum_to(g, shape, out_shape):
    """g summed over the batch axes its operand of `shape` was broadcast along, as an array of
    `out_shape` (shape without the axis a 1-D operand was given)."""
    g = _unbroadcast(g, shape)
    return (g.dense() if type(g) is lazy.RowSum else g).reshape(out_shape)


# OpenBLAS, numpy's BLAS, is slow at a @ b when b is a big transposed matrix (a `W.T` view: a
# recurrent layer's h @ W_hhᵀ, a Linear on a batch) and a has few rows. Computed as (bᵀ @ aᵀ)ᵀ,
# the big operand C-ordered and first, the product took 0.45 to 0.9 of the time for 8 to 32
# rows and b of 2^15 elements or more; with fewer rows, more rows or a small b it can take up
# to 3x (measured on the project's machine: benchmarks/gemm_layout.py, the table in
# benchmarks/README.md). The result is then an F-ordered array, which the next elementwise
# op reads at full speed.
TRANSPOSED_ROWS = (8, 32)
TRANSPOSED_SIZE = 1 << 15

# np.dot costs less per call than np.matmul (5.6 against 6.2 µs at (1, 100) @ (100, 400)), but
# from a few hundred rows on np.matmul ran the same product in 0.88 to 1.01 of np.dot's time
# (median 0.95 over 256 to 8192 rows, float32 and float64; the benchmark's input projection
# (2048, 65) @ (65, 4H) and the head's backward among them; measured paired on the project's
# machine). The recurrent steps' products have fewer rows and stay with np.dot.
MATMUL_ROWS = 256


def _matmul(a, b):
    """a @ b, with the batch axes of a folded into one GEMM (numpy would loop over them)."""
    if a.ndim == 2:
        lo, hi = TRANSPOSED_ROWS
        if lo <= a.shape[0] <= hi and b.size >= TRANSPOSED_SIZE:
            flags = b.flags
            if flags.f_contiguous and not flags.c_contiguous:
                return np.dot(b.T, a.T).T
        return np.dot(a, b) if a.shape[0] < MATMUL_ROWS else np.matmul(a, b)
    rows = math.prod(a.shape[:-1])  # not -1: numpy cannot infer it when a size is 0
    mm = np.dot if rows < MATMUL_ROWS else np.matmul
    return mm(a.reshape(rows, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[1],))


# ---------------------------------------------------------------------------------------------
# Unary elementwise ops


class Neg(Function):
    __slots__ = ()
    op, symbol = "neg", "−"

    def forward(self, x):
        return -x

    def backward(self, g):  # dy/dx = -1
        return (-g,)


class Pow(Function):
    __slots__ = ()
    op, symbol = "pow", "^"

    def forward(self, x, p):
        self.saved = (x, p)
        return x ** p

    def backward(self, g):  # dy/dx = p x^(p-1); x^0 is constant, also at x = 0
        x, p = self.saved
        return (np.zeros_like(g) if p == 0 else g * (p * x ** (p - 1)),)


class Exp(Function):
    __slots__ = ()
    op, symbol = "exp", "exp"

    def forward(self, x):
        y = np.exp(x)
        self.saved = y
        return y

    def backward(self, g):  # dy/dx = y
        return (g * self.saved,)


class Log(Function):
    __slots__ = ()
    op, symbol = "log", "log"

    def forward(self, x):
        self.saved = x
        return np.log(x)

    def backward(self, g):  # dy/dx = 1/x
        return (g / self.saved,)


def _consts(dtype, *values):
    # 0-d arrays, read-only: numpy takes a Python float operand through its scalar-promotion
    # path, about 0.3 µs a call more than a 0-d array of the same dtype (measured at (1, 100)
    # and (32, 256) float32), and a sigmoid makes three such calls.
    out = tuple(np.array(v, dtype) for v in values)
    for a in out:
        a.flags.writeable = False
    return out


# Per dtype: 1, and the bound below which exp(−x) would overflow (σ there is < 1e-38, 1e-307),
# as read-only 0-d arrays, and the bound again as a float (a key of _cached_full).
_ONE_LOW = {np.dtype(t): _consts(t, 1.0, low) + (low,) for t, low in ((np.float32, -88.0),
                                                                      (np.float64, -708.0))}

# Arrays of one value, read-only, cached per (shape, dtype, value), up to FULL_MAX elements
# each and FULL_BYTES in all (a few gate shapes and row counts fill a fraction of it):
# - sigmoid's bound as a full array: numpy's maximum has a SIMD loop for two arrays but not
#   for an array and a broadcast 0-d bound, which took 3.5 µs at (32, 256) float32 against
#   1.4 µs (the rest of the sigmoid: 6.7 µs); below ~100 elements the two are alike. Past the
#   limits the sigmoid clips against the 0-d bound: the same values, more slowly.
# - the vector of ones of _ones_dot's gemv (past the limits, a new one each time).
FULL_MAX = 1 << 16
FULL_BYTES = 4 << 20
_FULL = {}
_full_bytes = 0  # what _FULL holds


def _cached_full(shape, dtype, value):
    """A read-only array of `shape` and `dtype` filled with `value` (a float), cached; None
    when it would pass the limits above."""
    global _full_bytes
    key = (shape, dtype, value)
    full = _FULL.get(key)
    if full is not None:
        return full
    size = math.prod(shape)
    if size > FULL_MAX or _full_bytes + size * dtype.itemsize > FULL_BYTES:
        return None
    full = np.full(shape, value, dtype)
    full.flags.writeable = False
    _FULL[key] = full
    _full_bytes += full.nbytes
    return full


class Sigmoid(Function):
    __slots__ = ()
    op, symbol = "sigmoid", "σ"

    def forward(self, x):
        # σ(x) = 1 / (1 + exp(−x)), computed in place in one fresh array. x is first clipped
        # from below where exp(−x) would overflow (−88 float32, −708 float64): there σ(x) is
        # below 1e-38 (1e-307) and stays so, with no warning and no NaN; elsewhere the value
        # is exactly the plain formula's.
        one, low, bound = _ONE_LOW[x.dtype]
        full = _cached_full(x.shape, x.dtype, bound)
        y = np.maximum(x, low if full is None else full)
        if type(y) is not np.ndarray:
            y = np.array(y)  # 0-d input: numpy returned a scalar
        np.negative(y, y)
        np.exp(y, y)
        np.add(y, one, y)
        np.divide(one, y, y)
        self.saved = y
        return y

    def backward(self, g):  # dy/dx = y (1 - y), at most 1/4
        y = self.saved
        d = np.subtract(_ONE_LOW[y.dtype][0], y)
        d *= y
        d *= g
        return (d,)


class Tanh(Function):
    __slots__ = ()
    op, symbol = "tanh", "tanh"

    def forward(self, x):
        y = np.tanh(x)
        self.saved = y
        return y

    def backward(self, g):  # dy/dx = 1 - y², at most 1
        y = self.saved
        d = np.subtract(_ONE_LOW[y.dtype][0], y * y)
        d *= g
        return (d,)


class Relu(Function):
    __slots__ = ()
    op, symbol = "relu", "relu"

    def forward(self, x):
        self.saved = x > 0
        # not x * mask: −inf · 0 is NaN, and a negative x would give −0 (a NaN stays NaN)
        return np.maximum(x, x.dtype.type(0))

    def backward(self, g):  # dy/dx = 1 where x > 0, else 0 (an inf upstream too: not inf · 0)
        return (np.where(self.saved, g, g.dtype.type(0)),)


# ---------------------------------------------------------------------------------------------
# Reductions


def _norm_axis(op, axis, ndim):
    """axis (None, an int or a tuple or list of ints) as sorted non-negative axes; an OpError
    naming op for anything else (a bool was read as axis 1, a float got "not iterable")."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, as fast as before
        return (axis % ndim,)
    if isinstance(axis, np.ndarray) and axis.ndim == 0:
        axis = axis.item()  # a 0-d int array is one axis (its iteration fails)
    # any sequence of ints (a tuple, a list, a range, an int array), as before; not a str
    axes = (axis,) if _is_int(axis) else tuple(axis) if hasattr(axis, "__iter__") and not \
        isinstance(axis, (str, bytes, dict, set)) else None
    if axes is None or not all(_is_int(a) for a in axes):
        raise OpError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    span = ndim or 1  # a 0-d tensor takes axis 0 (and -1) and reduces over nothing, as in torch
    for a in axes:
        if not -span <= a < span:
            raise OpIndexError(f"{op}: axis {a} is out of range for a {ndim}-D tensor")
    out = tuple(sorted(a % span for a in axes))
    if len(set(out)) != len(out):
        raise OpError(f"{op}: axis {axis!r} names an axis twice")
    return out if ndim else ()


def _sum(x, axes, keepdims):
    """np.sum(x, axes, keepdims=keepdims); over leading axes and not all of them, as the sum
    of rows of blocks (_ones_dot): numpy adds such rows one after another (its pairwise sum
    runs along the last axis only), which lost 1e-2 of a float32 sum over 10^6 rows and took
    14 ms at (10^6, 4), 18x the blocked sum's time."""
    lead = len(axes)
    if lead < x.ndim and axes == tuple(range(lead)) and x.flags.c_contiguous:
        y = _sum_rows(x, x.shape[lead:])
        return y.reshape((1,) * lead + y.shape) if keepdims else y
    return np.sum(x, axis=axes, keepdims=keepdims)


class Sum(Function):
    __slots__ = ()
    op, symbol = "sum", "Σ"

    def forward(self, x, axis=None, keepdims=False):
        axes = _norm_axis("sum", axis, x.ndim)
        self.saved = (x.shape, axes, keepdims)
        return _sum(x, axes, keepdims)

    def backward(self, g):  # dy/dx = 1 for every summed element
        shape, axes, keepdims = self.saved
        if not keepdims:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g, shape),)


class Mean(Function):
    __slots__ = ()
    op, symbol = "mean", "mean"

    def forward(self, x, axis=None, keepdims=False):
        axes = _norm_axis("mean", axis, x.ndim)
        self.saved = (x.shape, axes, keepdims)
        if x.size == 0 and any(x.shape[a] == 0 for a in axes):  # a mean of nothing: NaN, as
            # torch and numpy give it, without numpy's three warnings about an empty slice
            return np.full(np.sum(x, axis=axes, keepdims=keepdims).shape, np.nan, x.dtype)
        n = math.prod(x.shape[a] for a in axes)
        return np.divide(_sum(x, axes, keepdims), x.dtype.type(n))  # as np.mean, in x's dtype

    def backward(self, g):  # dy/dx = 1/n for each of the n averaged elements
        shape, axes, keepdims = self.saved
        n = math.prod(shape[a] for a in axes)  # as forward counts them
        if n == 0:  # nothing was averaged: an empty gradient
            return (np.zeros(shape, g.dtype),)
        if not keepdims:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g / g.dtype.type(n), shape),)


class Max(Function):
    __slots__ = ()
    op, symbol = "max", "max"

    def forward(self, x, axis=None, keepdims=False):
        axes = _norm_axis("max", axis, x.ndim)
        if x.size == 0 and any(x.shape[a] == 0 for a in axes):  # (0, 5).max(axis=1): (0,)
            raise OpError(f"max: {x.shape}: cannot take the max over an empty axis")
        y = np.max(x, axis=axes, keepdims=True)
        self.saved = (x, y, axes, keepdims)
        return y if keepdims else np.squeeze(y, axis=axes)

    def backward(self, g):  # dy/dx = 1 at the maximum (shared equally among ties), else 0
        x, y, axes, keepdims = self.saved
        mask = x == y
        if np.isnan(y).any():  # a NaN is the maximum where it stands (torch's max() too)
            mask |= np.isnan(x) & np.isnan(y)
        mask = mask.astype(x.dtype)
        mask /= mask.sum(axis=axes, keepdims=True)
        if not keepdims:
            g = np.expand_dims(g, axes)
        return (g * mask,)


# ---------------------------------------------------------------------------------------------
# Movement ops: their backward puts the gradient back where the values came from


class Reshape(Function):
    __slots__ = ()
    op, symbol = "reshape", "reshape"

    def forward(self, x, shape):
        self.saved = x.shape
        return x.reshape(shape)

    def backward(self, g):  # dy/dx = 1, laid back out in x's shape
        return (g.reshape(self.saved),)


class Transpose(Function):
    __slots__ = ()
    op, symbol = "transpose", "ᵀ"

    def forward(self, x, axes=None):
        if axes is not None:
            n = x.ndim
            if not all(isinstance(a, (int, np.integer)) and -n <= a < n for a in axes) \
                    or sorted(a % n for a in axes) != list(range(n)):
                hint = ""
                if len(axes) == 2 and n > 2 and all(isinstance(a, (int, np.integer))
                                                    and -n <= a < n for a in axes) \
                        and axes[0] % n != axes[1] % n:  # torch's transpose(d0, d1): a swap
                    swap = list(range(n))
                    i, j = axes[0] % n, axes[1] % n
                    swap[i], swap[j] = j, i
                    hint = (f"; to swap two axes as torch's transpose{tuple(axes)} does, write "
                            f"permute{tuple(swap)}")
                raise OpError(f"transpose: {x.shape}: axes {tuple(axes)} are not a permutation "
                              f"of {n} axes{hint}")
            axes = tuple(int(a) % n for a in axes)  # backward inverts them: no negatives
        self.saved = axes
        return np.transpose(x, axes)

    def backward(self, g):  # the inverse permutation
        axes = self.saved
        if type(g) is lazy.OuterSum:  # W.T's pending weight products, handed on (autograd)
            if axes is None or axes == (1, 0):
                return (g.transposed(),)
            g = g.dense()
        return (np.transpose(g, None if axes is None else np.argsort(axes)),)


def _is_basic(index):
    """True for indices numpy answers with a view (ints, slices, None, Ellipsis)."""
    if type(index) is int:
        return True
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


class GetItem(Function):
    """x[index] for ints, slices and integer (or boolean) arrays; repeated indices accumulate."""

    __slots__ = ()
    op, symbol = "getitem", "[ ]"

    def forward(self, x, index):
        self.saved = (x.shape, index, _is_basic(index))
        return x[index]

    def backward(self, g):  # dy/dx = 1 at the picked positions, scattered back (lazily)
        shape, index, basic = self.saved
        return (lazy.Scatter(shape, g.dtype, index, g, basic),)


class Chunk(GetItem):
    """One piece of `x.chunk(n)` / `x.split(size)`: a slice along one axis, whose index is
    `(:, ..., :, start:stop)`."""

    __slots__ = ()
    op, symbol = "chunk", "chunk"

    def forward(self, x, index):
        self.saved = (x.shape, index, True)
        return x[index]

    def backward(self, g):  # dy/dx = 1 on the slice (one chunk()'s pieces join in lazy.Pieces)
        shape, index, _ = self.saved
        last = index[-1]
        return (lazy.Pieces(shape, g.dtype, len(index) - 1, last.start, last.stop, g),)


class Cat(Function):
    __slots__ = ()
    op, symbol = "cat", "cat"

    def forward(self, *xs, axis=0):
        n = xs[0].ndim
        if not _is_int(axis):  # numpy reads True as 1, and None as "flatten first"
            raise OpError(f"cat: axis must be an int, got {axis!r}")
        if not -n <= axis < n:
            raise OpIndexError(f"cat: axis {axis} is out of range for {n}-D tensors "
                               f"({', '.join(str(x.shape) for x in xs)})")
        self.saved = (axis, [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    def backward(self, g):  # each input gets its own slice of the gradient
        axis, sizes = self.saved
        bounds = np.cumsum(sizes)[:-1]
        return tuple(gi if n else None for gi, n in zip(np.split(g, bounds, axis=axis),
                                                        self.needs))


class Stack(Function):
    __slots__ = ()
    op, symbol = "stack", "stack"

    def forward(self, *xs, axis=0):
        if not _is_int(axis):  # numpy reads True as 1
            raise OpError(f"stack: axis must be an int, got {axis!r}")
        self.saved = axis
        return np.stack(xs, axis=axis)

    def backward(self, g):  # each input gets its own index along the new axis
        axis = self.saved
        return tuple(gi if n else None for gi, n in zip(np.moveaxis(g, axis, 0), self.needs))


# The walk takes these built-in primitives' gradients as right: the shapes (the test suite
# checks every op) and None wherever `needs` says a parent needs none; it checks both for
# user-defined Functions.
for _cls in (Add, Sub, Mul, Div, MatMul, Neg, Pow, Exp, Log, Sigmoid, Tanh, Relu, Sum, Mean,
             Max, Reshape, Transpose, GetItem, Chunk, Cat, Stack):
    _cls.trusted = True
del _cls
autograd.THROUGH = (GetItem, Chunk)
autograd.CHUNK = Chunk
