"""The backward walk: one iterative topological sort, shared by backward, the renderer and
the stepper, and the loop that pushes gradients through it.

Gradients travel in a dict keyed by tensor identity and are summed in one place
(`_accumulate`). Two kinds are kept lazy until the tensor that receives them is reached:
the slices an LSTM's `chunk` hands back (written into one zeroed buffer instead of four
zero-padded arrays) and a weight's per-timestep `aᵀ g` products (concatenated into a single
matmul, as a hand-written BPTT does after its time loop).
"""

from __future__ import annotations

import numpy as np

_FREED = object()  # what a Function's `saved` becomes once backward has passed it


class Scatter:
    """Gradient of `x[index]`: pieces to be added into zeros of x's shape."""

    __slots__ = ("shape", "dtype", "parts")

    def __init__(self, shape, dtype, index, value, basic):
        self.shape, self.dtype = shape, dtype
        self.parts = [(index, value, basic)]

    def merge(self, other):
        if other.shape != self.shape:
            return False
        self.parts.extend(other.parts)
        return True

    def dense(self):
        out = np.zeros(self.shape, self.dtype)
        for index, value, basic in self.parts:
            if basic:
                out[index] += value
            else:
                np.add.at(out, index, value)  # repeated indices accumulate
        return out


class OuterSum:
    """Gradient of the weight in `a @ W`: Σ aₖᵀ gₖ over every use, done as one matmul."""

    __slots__ = ("shape", "a", "g")

    def __init__(self, a, g):
        self.shape = (a.shape[1], g.shape[1])
        self.a, self.g = [a], [g]

    def merge(self, other):
        if other.shape != self.shape:
            return False
        self.a.extend(other.a)
        self.g.extend(other.g)
        return True

    def dense(self):
        if len(self.a) == 1:
            return self.a[0].T @ self.g[0]
        return np.concatenate(self.a).T @ np.concatenate(self.g)


_LAZY = (Scatter, OuterSum)


def dense(g):
    """A gradient as a plain array (lazy kinds evaluated; arrays returned as they are)."""
    return g.dense() if type(g) in _LAZY else g


def _accumulate(prev, new):
    """prev + new for any mix of arrays and lazy gradients; never writes into an array that
    may be shared (an `add` hands the same array to both parents)."""
    if prev is None:
        return new
    tp, tn = type(prev), type(new)
    if tp is tn and tp in _LAZY and prev.merge(new):
        return prev
    if tp in _LAZY:
        out = prev.dense()  # freshly allocated, ours to write into
        out += dense(new)
        return out
    if tn in _LAZY:
        out = new.dense()
        out += prev
        return out
    return prev + new


def toposort(root):
    """Every tensor that `root` depends on through tensors requiring grad, root first, each
    after all of its consumers. Iterative (no recursion limit); leaves are included."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for p in ctx.parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    order.reverse()
    return order


def backward(root, grad=None, retain_graph=False, on_step=None):
    """Backpropagate from `root` and accumulate `.grad` on every leaf that requires grad.

    Args:
        root: the Tensor to differentiate, usually a scalar loss.
        grad: ∂L/∂root. Defaults to 1 for a one-element root; required otherwise.
        retain_graph: keep the saved arrays so backward can run through the graph again.
            Defaults to False (they are freed as the walk passes them).
        on_step: called as `on_step(node, grad, parent_grads)` for every tensor in walk order:
            the gradient that reached it and the ones it hands each parent (None where a parent
            needs none; an empty tuple at a leaf). It must only read them.
    """
    if not root.requires_grad:
        raise RuntimeError(f"backward: the tensor of shape {root.shape} does not require grad "
                           "and has no graph (was it made inside no_grad(), or from tensors "
                           "without requires_grad=True?)")
    if grad is None:
        if root.data.size != 1:
            raise ValueError(f"backward: the output has shape {root.shape}; a non-scalar "
                             "output needs an explicit gradient of that shape: backward(grad)")
        grad = np.ones_like(root.data)
    else:
        grad = np.asarray(getattr(grad, "data", grad))
        if grad.shape != root.shape:
            raise ValueError(f"backward: the gradient has shape {grad.shape}, "
                             f"expected the output's shape {root.shape}")
        grad = grad.astype(root.dtype, copy=True)

    order = toposort(root)
    for node in order:  # refuse before touching any .grad
        ctx = node._ctx
        if ctx is not None and ctx.saved is _FREED:
            where = f" (at {node.label or ctx.op})"
            raise RuntimeError(f"backward: the graph was already freed by a previous backward()"
                               f"{where}; pass retain_graph=True to the first backward() to walk "
                               "it again")

    grads = {id(root): grad}
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        owned = type(g) in _LAZY
        if owned:
            g = g.dense()
        ctx = node._ctx
        if ctx is None:
            if node.grad is None:
                node.grad = g if owned else g.copy()
            else:
                node.grad = node.grad + g
            if on_step is not None:
                on_step(node, g, ())
            continue
        if node._retain:
            node.grad = g.copy() if node.grad is None else node.grad + g
        parent_grads = ctx.backward(g)
        if on_step is not None:
            on_step(node, g, tuple(None if pg is None else dense(pg) for pg in parent_grads))
        for p, pg in zip(ctx.parents, parent_grads):
            if pg is None or not p.requires_grad:
                continue
            if type(pg) is not np.ndarray and type(pg) not in _LAZY:
                pg = np.asarray(pg)  # numpy turns 0-d results into scalars
            assert pg.shape == p.shape, \
                f"{ctx.op}: gradient shape {pg.shape} must match its input's shape {p.shape}"
            key = id(p)
            grads[key] = _accumulate(grads.get(key), pg)
        if not retain_graph:
            ctx.saved = _FREED
