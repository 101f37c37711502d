"""The lazy gradients: what the backward walk carries instead of a dense array for four kinds
of op, evaluated only when the tensor that receives them is reached (autograd.py).

- `Scatter`, the gradient of `x[index]`: the `xs[t]` pieces of every timestep are written
  into one buffer as they arrive.
- `Pieces`, the gradient of the pieces of one `chunk`/`split`: the four gate chunks of an
  LSTM step become one concatenate.
- `OuterSum`, the gradient of the weight in `a @ W`: a weight's per-timestep `aᵀ g` products
  stacked into a few big matmuls, as a hand-written BPTT does after its time loop.
- `RowSum`, the gradient of a bias broadcast over rows (`a + b`, b of shape (H,)): the rows'
  gradients of every timestep added up as they arrive, and summed over the rows once, at the
  end, as a hand-written BPTT sums a bias's gradient once after its time loop.

Each has `merge(other)` (take another gradient bound for the same tensor, False when it
cannot), `dense()` (the value as an array, possibly its own buffer), `writable()` (an array the
caller may write into) and `value()` (a new array for an observer, leaving itself as it was).
"""

from __future__ import annotations

import math

import numpy as np

# OuterSum multiplies its pending pieces once they hold this many bytes of arrays that only
# they keep alive: big enough for BLAS to run at full speed, small enough that they need not
# all be kept. Views (the rows of a timestep buffer) are not counted: their buffer lives on
# whether or not the product is taken, and splitting the product only slows it (the LSTM
# B=32 T=64 H=256 W_hh product in two halves took 12.0 ms against 11.3 in one).
OUTER_CHUNK_BYTES = 4 << 20


def _add_into(out, index, value, basic):
    if basic:
        out[index] += value
    else:
        np.add.at(out, index, value)  # repeated indices accumulate


def _zeros_plus(shape, dtype, parts):
    """A new array of zeros with the pieces `parts` added in."""
    out = np.zeros(shape, dtype)
    for part in parts:
        _add_into(out, *part)
    return out


class Scatter:
    """Gradient of `x[index]`: pieces to be added into zeros of x's shape.

    The pieces of `xs[t]`, one per timestep, are written into one buffer as they arrive (the
    first piece for a row is copied in, so the buffer needs no zero-filling; rows no piece
    reached are zeroed at the end). A row can also be filled ahead of its piece (`reserve`):
    the gradient of `xs[t]` is then assembled in place and the piece, when it arrives, is
    that row itself. Such rows are lent out (the same gradient flows on to other consumers,
    and a weight's OuterSum keeps them), so the buffer is copied before any in-place write
    into a row that is already written (`_own`): never, in the recurrent layers."""

    __slots__ = ("shape", "dtype", "parts", "buf", "rows", "preset", "lent")

    def __init__(self, shape, dtype, index, value, basic):
        self.shape, self.dtype = shape, dtype
        self.parts = [(index, value, basic)]
        self.buf = None   # the dense result, once pieces are written as they arrive
        self.rows = None  # while set: the rows of buf written so far (the rest is garbage)
        self.preset = None  # row -> the array reserved there, until that row's piece arrives
        self.lent = False   # rows of buf are in use elsewhere: copy buf before writing into it

    @classmethod
    def rows_of(cls, shape, dtype):
        """An empty gradient of x, ready to take rows x[t] as they come."""
        self = cls.__new__(cls)
        self.shape, self.dtype, self.parts = shape, dtype, None
        self.buf, self.rows, self.preset, self.lent = np.empty(shape, dtype), set(), {}, False
        return self

    def _to_rows(self):
        self.buf, self.rows, self.preset = np.empty(self.shape, self.dtype), set(), {}
        self._write(self.parts)
        self.parts = None

    def reserve(self, index):
        """The row that x[index] (an int) will get as its gradient, to be filled by the caller
        before the piece arrives; None when this gradient cannot take it."""
        if self.buf is None:
            if type(self.parts[0][0]) is not int:
                return None
            self._to_rows()
        rows = self.rows
        if rows is None:
            return None
        row = index % self.shape[0]
        if row in rows:
            return None
        out = self.buf[row]
        rows.add(row)
        self.preset[row] = out
        self.lent = True
        return out

    def merge(self, other):
        if type(other) is not Scatter or other.shape != self.shape:
            return False
        if self.buf is None and type(self.parts[0][0]) is int:
            self._to_rows()  # x[t], one timestep at a time: one buffer now, no pieces kept
        if self.buf is None:
            self.parts += other.parts if other.buf is None else [(..., other.dense(), True)]
        elif other.buf is None:
            self._write(other.parts)
        else:
            self._leave_rows()
            self.buf += other.dense()
        return True

    def _own(self):
        if self.lent:
            self.buf = self.buf.copy()
            self.lent = False

    def _write(self, parts):
        out, rows = self.buf, self.rows
        for index, value, basic in parts:
            if rows is not None and type(index) is int:
                row = index % self.shape[0]
                if row not in rows:
                    out[row] = value
                    rows.add(row)
                    continue
                if self.preset:
                    mine = self.preset.pop(row, None)
                    if mine is value:
                        continue  # assembled in place already
                    if mine is not None:  # the reserved row's gradient changed on its way
                        self._own()
                        out = self.buf
                        out[row] = value
                        continue
                self._own()
                out = self.buf
            else:
                self._leave_rows()
                out, rows = self.buf, None
            _add_into(out, index, value, basic)

    def _leave_rows(self):
        """From here on, pieces are added into buf: the rows not written are zeroed, and so
        are reserved rows whose piece is still to come (it will be added)."""
        self._own()
        if self.rows is not None:
            missing = self._unwritten()
            if missing:
                self.buf[missing] = 0
            self.rows = self.preset = None

    def _unwritten(self):
        """The rows of buf that hold no gradient yet: never written, or reserved with their
        piece still to come."""
        return [r for r in range(self.shape[0]) if r not in self.rows] + list(self.preset)

    def dense(self):
        """The gradient as one array: buf itself, which nothing may write into while rows are
        lent out (a convention the recurrent layers keep; the array is not made read-only)."""
        if self.buf is None:
            self.buf = np.zeros(self.shape, self.dtype)
            self._write(self.parts)
        elif self.rows is not None:
            missing = self._unwritten()
            if missing:
                self._own()  # only here: buf stays lent to its readers otherwise
                self.buf[missing] = 0
            self.rows = self.preset = None
        return self.buf

    def writable(self):
        """The gradient as one array that the caller may write into."""
        self.dense()
        self._own()
        return self.buf

    def value(self):
        """The dense value for an observer: a new array, and self left as it was (so the
        gradients come out bit for bit as without the observer)."""
        if self.buf is None:
            return _zeros_plus(self.shape, self.dtype, self.parts)
        out = self.buf.copy()
        if self.rows is not None:
            out[self._unwritten()] = 0
        return out


class Scattered:
    """What an observer (backward's `on_step`) is handed for the gradient `x[index]` sends to
    x: x's shape, all zeros but the piece, kept as the piece. Made dense, the gradient of each
    timestep's `xs[t]` was a new (T, B, G·H) array, which the stepper kept for every step:
    O(T²) memory (2.8 GB for an LSTM at T = 200, B = 32, H = 128) and time. `np.asarray(g)`
    makes the array; its shape, dtype, norm and first values come without it."""

    __slots__ = ("shape", "dtype", "parts")

    def __init__(self, shape, dtype, parts):
        self.shape, self.dtype, self.parts = shape, dtype, parts

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __array__(self, dtype=None, copy=None):
        out = _zeros_plus(self.shape, self.dtype, self.parts)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __add__(self, other):
        return np.asarray(self) + other

    __radd__ = __add__

    def norm(self):
        """‖g‖ in float64: the piece's own where it is one basic index (its elements are
        distinct places of x, and the rest is zeros)."""
        if len(self.parts) == 1 and self.parts[0][2]:
            return float(np.linalg.norm(np.asarray(self.parts[0][1], np.float64)))
        return float(np.linalg.norm(np.asarray(self, np.float64)))

    def head(self, n):
        """The first n values of the flattened array, from the rows they lie in alone."""
        if not self.shape or len(self.parts) != 1 or type(self.parts[0][0]) is not int:
            return np.asarray(self).reshape(-1)[:n]
        per_row = max(1, math.prod(self.shape[1:]))
        rows = min(self.shape[0], -(-n // per_row))
        out = np.zeros((rows,) + self.shape[1:], self.dtype)
        index, value, _ = self.parts[0]
        if index % self.shape[0] < rows:
            out[index % self.shape[0]] = value
        return out.reshape(-1)[:n]


def observed(g):
    """A gradient as backward hands it to an observer: a new array (the walk's own lazy one
    left as it is, so the gradients come out bit for bit as without the observer), or, for
    the pieces of `x[index]` not yet gathered, a Scattered of copies of them (a piece may be
    a row of the buffer that becomes x's .grad, which a user may zero in place later)."""
    tg = type(g)
    if tg is Scatter and g.buf is None:
        return Scattered(g.shape, g.dtype, tuple((i, np.array(v), b) for i, v, b in g.parts))
    return g.value() if tg in _LAZY else g


class Pieces:
    """Gradient of the pieces of one `chunk`/`split` (slices start:stop along one axis): when
    they tile the axis, as an LSTM's four gates do, one concatenate, no zero-filling."""

    __slots__ = ("shape", "dtype", "axis", "pieces")

    def __init__(self, shape, dtype, axis, start, stop, value):
        self.shape, self.dtype, self.axis = shape, dtype, axis
        self.pieces = {start: (stop, value)}

    def merge(self, other):
        if (type(other) is not Pieces or other.shape != self.shape or other.axis != self.axis
                or not self.pieces.keys().isdisjoint(other.pieces)):
            return False
        self.pieces.update(other.pieces)
        return True

    def take(self, saved, value):
        """Add the piece that a Chunk node records in `saved` (x's shape, its index), with
        gradient `value`, as `merge` would take it, without making a Pieces for it first;
        False when it does not fit."""
        shape, index, _ = saved
        last = index[-1]
        if last.start in self.pieces or shape != self.shape or len(index) - 1 != self.axis:
            return False
        self.pieces[last.start] = (last.stop, value)
        return True

    def _tiling(self):
        """The pieces in order when they tile the axis, else None."""
        pieces, values, pos = self.pieces, [], 0
        while pos in pieces:
            stop, value = pieces[pos]
            if stop == pos:  # an empty piece (split([0, 4])): not a tiling, and no progress
                return None
            pos = stop
            values.append(value)
        if pos == self.shape[self.axis] and len(values) == len(pieces):
            return values
        return None

    def dense_into(self, out):
        """Write the gradient into `out` (an array of self's shape); False, and out left as
        it was, when the pieces do not tile the axis."""
        values = self._tiling()
        if values is None:
            return False
        np.concatenate(values, axis=self.axis, out=out)
        return True

    def dense(self):
        values = self._tiling()
        if values is not None:
            return np.concatenate(values, axis=self.axis)  # a new array, even for one piece
        pieces = self.pieces
        out = np.zeros(self.shape, self.dtype)
        lead = (slice(None),) * self.axis
        for start, (stop, value) in pieces.items():
            out[lead + (slice(start, stop),)] += value
        return out

    value = writable = dense  # always a new array


def _own_bytes(x):
    """x's size when it owns its memory (a view's buffer is kept alive by others too)."""
    return x.nbytes if x.base is None else 0


class OuterSum:
    """Gradient of the weight in `a @ W`: Σ aₖᵀ gₖ over every use, done as few big matmuls
    (one per OUTER_CHUNK_BYTES of pending arrays that only they hold). `transposed()` is the
    same sum bound for the other side of a `W.T` (Σ gₖᵀ aₖ), still pending: the walk hands it
    on through the transpose, so a `W.T` made at every step (a cell or a Linear called in a
    loop) adds up at W to a few products, not one product and one full-size sum per step."""

    __slots__ = ("shape", "a", "g", "nbytes", "acc", "flipped")

    def __init__(self, a, g):
        self.shape = (a.shape[1], g.shape[1])
        self.a, self.g = [a], [g]
        self.nbytes = _own_bytes(a) + _own_bytes(g)
        self.acc = None
        self.flipped = False  # True: the sum is Σ gₖᵀ aₖ (transposed())

    def transposed(self):
        """The transpose of this sum, still pending (a new OuterSum over the same arrays)."""
        t = OuterSum.__new__(OuterSum)
        t.shape, t.a, t.g, t.nbytes = self.shape[::-1], list(self.a), list(self.g), self.nbytes
        t.acc = None if self.acc is None else self.acc.T
        t.flipped = not self.flipped
        return t

    def merge(self, other):
        if type(other) is not OuterSum:
            if type(other) is not np.ndarray or other.shape != self.shape:
                return False
            # an array for the same weight (W used directly as well): added to what the
            # products will give, which stay pending for the ones still to come
            if self.acc is None:
                self.acc = other.copy()  # ours to add into; other may be shared
            else:
                self.acc += other
            return True
        if other.shape != self.shape or other.flipped != self.flipped:
            return False
        self.a.extend(other.a)
        self.g.extend(other.g)
        self.nbytes += other.nbytes
        if other.acc is not None:  # already multiplied (past OUTER_CHUNK_BYTES, or an array
            # for the same weight added in)
            self.acc = other.acc if self.acc is None else self.acc + other.acc
        if self.nbytes >= OUTER_CHUNK_BYTES:
            self._flush()
        return True

    def _product(self):
        # Computed as gᵀa, transposed back unless flipped: the weights of `x @ W.T` (Linear,
        # the recurrent layers) get their gradient through that transpose, and so get it
        # C-ordered, with no strided copy (0.8 ms for the LSTM's (1024, 256) W_hh).
        a, g = self.a, self.g
        if len(a) == 1:
            p = g[0].T @ a[0]
        else:
            G, reverse = _consecutive(g)
            if G is None:
                G = np.concatenate(g)
            p = G.T @ np.concatenate(a[::-1] if reverse else a)
        return p if self.flipped else p.T

    def _flush(self):
        part = self._product()
        if self.acc is None:
            self.acc = part
        else:
            self.acc += part
        self.a, self.g, self.nbytes = [], [], 0

    def dense(self):
        if self.a:
            self._flush()
        return self.acc

    writable = dense  # acc is ours: a product, or the sum of products

    def value(self):
        """The dense value for an observer: a new array, and self left as it was (so the
        gradients come out bit for bit as without the observer)."""
        if not self.a:
            return self.acc.copy()
        part = self._product()
        return part if self.acc is None else self.acc + part


def _consecutive(arrays):
    """(view, reversed): the 2-D arrays as one (Σ rows, cols) view when they lie back to back
    in one buffer, in order or in reverse order (the rows of a timestep buffer, which the
    backward walk reaches last step first); (None, False) otherwise."""
    first = arrays[0]
    base = first.base
    if (base is None or base.dtype != first.dtype or not base.flags.c_contiguous
            or not first.flags.c_contiguous or not first.size):  # size 0: no address to go by
        return None, False
    size = first.nbytes
    start = first.__array_interface__["data"][0]
    second = arrays[1].__array_interface__["data"][0]
    step = second - start
    if step not in (size, -size):
        return None, False
    for k, x in enumerate(arrays):
        if (x.base is not base or x.shape != first.shape or not x.flags.c_contiguous
                or x.__array_interface__["data"][0] != start + k * step):
            return None, False
    lo = start if step > 0 else start + (len(arrays) - 1) * step
    offset = (lo - base.__array_interface__["data"][0]) // first.itemsize
    flat = base.reshape(-1)
    view = flat[offset:offset + first.size * len(arrays)].reshape(-1, first.shape[1])
    return view, step < 0


class RowSum:
    """Gradient of a tensor of `shape` broadcast over leading axes: Σ over those axes of the
    gradients `g` that arrive (each of one shape, g.shape[-len(shape):] == shape). Those of
    the same shape are added as they arrive (one in-place add each) and summed over the rows
    once, by `reduce(acc, shape)` (ops.py's gemv): a GRU's b_hn, added at every step, costs
    one add a step and one gemv in all, not a gemv a step."""

    __slots__ = ("shape", "acc", "owned", "reduce")

    def __init__(self, g, shape, reduce):
        self.shape, self.reduce = shape, reduce
        self.acc = g
        self.owned = False  # acc is g itself, which may be shared (an add hands it to both)

    def merge(self, other):
        if (type(other) is not RowSum or other.shape != self.shape
                or other.acc.shape != self.acc.shape):
            return False
        if self.owned:
            self.acc += other.acc
        else:
            self.acc = self.acc + other.acc
            self.owned = True
        return True

    def dense(self):
        return self.reduce(self.acc, self.shape)  # a new array

    value = writable = dense


_LAZY = (Scatter, Pieces, OuterSum, RowSum)


def dense(g):
    """A gradient as a plain array (lazy kinds evaluated; arrays returned as they are)."""
    return g.dense() if type(g) in _LAZY else g


def _accumulate(prev, new):
    """prev + new for any mix of arrays and lazy gradients; never writes into an array that
    may be shared (an `add` hands the same array to both parents)."""
    tp, tn = type(prev), type(new)
    if tp in _LAZY and prev.merge(new):
        return prev
    if tp in _LAZY:
        out = prev.writable()  # ours to write into
        out += dense(new)
        return out
    if tn is OuterSum and new.merge(prev):  # W's products stay pending for the ones to come
        return new
    if tn in _LAZY:
        out = new.writable()
        out += prev
        return out
    return prev + new
