"""The backward walk: the loop that pushes gradients through the recorded graph, latest-made
tensor first, and the iterative topological sort the renderer draws from.

Gradients travel in a dict keyed by tensor (identity) and are summed in one place
(`lazy._accumulate`). Some are kept lazy until the tensor that receives them is reached
(lazy.py): the slices `x[index]` hands back (the four chunks of an LSTM's gate block become
one concatenate; the `xs[t]` of every timestep are written into one buffer as they arrive),
a weight's per-timestep `aᵀ g` products (stacked into a few big matmuls, as a hand-written
BPTT does after its time loop) and a bias's per-timestep sums over rows (one sum in all).
The first two meet here as a hand-written BPTT's dA
array does: a step's gate chunks are joined straight into its row of the `xs` buffer, and
W_hh's products read those rows where they lie (`_assemble`). A weight's products also pass
through `W.T` still pending (`_hands_on`), so a cell or a Linear called in a loop, which
makes a `W.T` every step, gets them at W as few big matmuls too.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush

import numpy as np

from .lazy import _LAZY, OuterSum, Pieces, Scatter, _accumulate, observed

_FREED = object()  # what a Function's `saved` becomes once backward has passed it

# The ops whose nodes the walk passes straight through when no observer watches (ops.py sets
# them: GetItem and Chunk): their backward only says where the gradient lies in the tensor
# they were cut from, so the piece goes on to that tensor at once, without a turn of its
# own in the walk (an LSTM step has five such nodes, xs[t] and four chunks; a GRU step seven).
THROUGH = ()
CHUNK = None  # ops.Chunk, whose pieces the walk adds to their block's Pieces directly

# A chunked gradient this big or bigger is joined in place, in its timestep buffer's row
# (`_assemble`); below it, finding the row costs more than the copies it saves (B=1 steps).
ASSEMBLE_BYTES = 16 << 10


def _int_index(ctx):
    """True when ctx records `x[t]` with an int t (and the graph is not freed)."""
    return (ctx is not None and ctx.trusted and ctx.op == "getitem"
            and type(ctx.saved) is tuple and type(ctx.saved[1]) is int)


def _row_target(node, grads, dtype, walk):
    """The buffer row that `node`'s gradient will end up in, reserved for it, when node is
    `x[t]` (an int index) or an add of `x[t]` and a tensor of the same shape (an LSTM's gate
    pre-activation `xw[t] + h_prev @ W_hhᵀ`); else None."""
    ctx = node._ctx
    if ctx is None or not ctx.trusted:  # built-in primitives only: their `saved` is known
        return None
    if ctx.op == "add":
        if ctx.saved is not None:
            return None  # a broadcast (Add saves the shapes), or a freed graph
        for p in ctx.parents:
            if _int_index(p._ctx):
                node, ctx = p, p._ctx
                break
        else:
            return None
    elif not _int_index(ctx):
        return None
    x = ctx.parents[0]
    target = grads.get(x)
    if target is None:
        target = grads[x] = Scatter.rows_of(ctx.saved[0], dtype)
        _enqueue(*walk, x)
    elif type(target) is not Scatter or target.shape != ctx.saved[0]:
        return None
    return target.reserve(ctx.saved[1])


def _assemble(node, g, grads, walk):
    """A Pieces gradient made dense. The chunk pieces of a timestep's gate block are joined
    straight into the row of the timestep buffer they are bound for (no copy on arrival, and
    the weight's OuterSum multiplies those rows where they lie), when the block is big enough
    for the copies saved to outweigh finding the row."""
    if math.prod(g.shape) * g.dtype.itemsize >= ASSEMBLE_BYTES:
        out = _row_target(node, grads, g.dtype, walk)
        if out is not None:
            if g.dense_into(out):
                return out
            out[...] = g.dense()
            return out
    return g.dense()


# What a Transpose saves when it swaps the two axes of a matrix (`W.T`; `transpose(1, 0)`);
# an identity permutation saves (0, 1), a freed graph _FREED
_SWAPS = (None, (1, 0))


def _hands_on(node):
    """True when node is `W.T` (a built-in transpose, not retained, not freed): a weight's
    pending aᵀg products bound for it then go on to W transposed and still pending (ops.py,
    Transpose.backward), where they meet W's others; a `W.T` made at every step (a cell or a
    Linear called in a loop) then adds up to a few products, not one product and one
    full-size sum per step."""
    ctx = node._ctx
    return (ctx is not None and ctx.trusted and ctx.op == "transpose" and not node._retain
            and ctx.saved in _SWAPS)


def _enqueue(queue, waiting, twins, t):
    """Queue t for the walk under its stamp, negated (heapq pops the smallest): a heap of
    plain ints, with the tensors in `waiting`. Copies of a tensor (copy.copy) share its
    stamp; the later ones wait in `twins` and take the stamp's place in turn."""
    k = -t._seq
    if k in waiting:
        twins.setdefault(k, []).append(t)
    else:
        waiting[k] = t
    heappush(queue, k)


def _next_twin(waiting, twins, k):
    more = twins[k]
    waiting[k] = more.pop()
    if not more:
        del twins[k]


def toposort(root):
    """Every tensor that `root` depends on through tensors requiring grad, root first, each
    after all of its consumers. Iterative (no recursion limit); leaves are included."""
    order, visited = [], set()  # tensors hash by identity
    stack = [root]
    pop, push, mark, emit = stack.pop, stack.append, visited.add, order.append
    while stack:
        node = pop()
        if node is None:  # the marker pushed above a node: all its inputs are done
            emit(pop())
            continue
        if node in visited:
            continue
        mark(node)
        push(node)
        push(None)
        ctx = node._ctx
        if ctx is not None:
            for p in ctx.parents:
                if p.requires_grad and p not in visited:
                    push(p)
    order.reverse()
    return order


def _describe(grads):
    if type(grads) in (tuple, list):
        return f"{len(grads)}"
    return f"a {type(grads).__name__}"


def _checked(ctx, parent_grads):
    """What a user-defined Function's backward returned, as one array (or None) per parent:
    it may return lists, numbers or another float dtype; None where a parent needs no
    gradient. Raises when it returned the wrong number of gradients or shapes."""
    if type(parent_grads) not in (tuple, list) or len(parent_grads) != len(ctx.parents):
        raise TypeError(f"{ctx.op}: backward must return a tuple with one gradient (or "
                        f"None) per input, {len(ctx.parents)} here; got "
                        f"{_describe(parent_grads)}")
    out = []
    for i, (p, pg) in enumerate(zip(ctx.parents, parent_grads)):
        if pg is not None and p.requires_grad:
            if type(pg) not in _LAZY:
                pg = np.asarray(pg, dtype=p.dtype)
            if pg.shape != p.shape:  # RuntimeError as torch's (an AssertionError read as a bug)
                raise RuntimeError(f"{ctx.op}: gradient shape {pg.shape} must match its "
                                   f"input's shape {p.shape} (backward's gradient {i})")
            out.append(pg)
        else:
            out.append(None)
    return tuple(out)


def backward(root, grad=None, retain_graph=False, on_step=None):
    """Backpropagate from `root` and accumulate `.grad` on every leaf that requires grad.

    Args:
        root: the Tensor to differentiate, usually a scalar loss.
        grad: ∂L/∂root. Defaults to 1 for a one-element root; required otherwise.
        retain_graph: keep the saved arrays so backward can run through the graph again.
            Defaults to False (they are freed as the walk passes them).
        on_step: called as `on_step(node, grad, parent_grads)` for every tensor in walk order
            (latest-made first): the gradient that reached it and the ones it hands each parent
            (None where a parent needs none; an empty tuple at a leaf). It must only read them.
            An index node's gradient for its input (`xs[t]` hands xs all zeros but row t)
            comes as a `lazy.Scattered`: `np.asarray(pg)` makes the array.

    `.grad` is written once the walk is through, so a walk that fails (a graph freed by an
    earlier backward, an error in a user Function) leaves every `.grad` as it was; without
    retain_graph, what it had passed is freed all the same.
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
        if grad.dtype.kind not in "biuf":  # numpy would parse strings, drop imaginary parts
            raise TypeError(f"backward: the gradient must be real numbers, got "
                            f"{grad.dtype} data")
        if grad.shape != root.shape:
            raise ValueError(f"backward: the gradient has shape {grad.shape}, "
                             f"expected the output's shape {root.shape}")
        grad = grad.astype(root.dtype, copy=True)

    # No topological sort: the walk takes the latest-made tensor first (a heap on the creation
    # stamp). Every consumer of a tensor was made after it, so when a tensor is taken, every
    # gradient bound for it has arrived. A tensor joins the heap with its first gradient.
    grads = {root: grad}  # tensor -> gradient so far (tensors hash by identity)
    queue, waiting, twins = [], {}, {}  # the walk's state (see _enqueue)
    walk = (queue, waiting, twins)
    _enqueue(*walk, root)
    reached = []  # (tensor, gradient) for .grad, set at the end: an error leaves .grad alone
    pop, get, ndarray = grads.pop, grads.get, np.ndarray
    through = THROUGH if on_step is None else ()  # the stepper shows every node
    while queue:
        k = heappop(queue)
        node = waiting.pop(k)
        shared = twins and k in twins  # a copy of this tensor (copy.copy) is still to come
        if shared:
            _next_twin(waiting, twins, k)
        g = pop(node)
        owned = type(g) is not ndarray
        if owned:
            tg = type(g)
            if not (tg is OuterSum and _hands_on(node)):
                # a lazy gradient: a new array, or a row of a timestep buffer (_assemble); or
                # a numpy scalar, which is what numpy makes of 0-d results
                g = (_assemble(node, g, grads, walk) if tg is Pieces else g.dense()
                     if tg in _LAZY else np.asarray(g))
        ctx = node._ctx
        if ctx is None:
            # .grad gets an array of its own; also where an observer keeps this one (the
            # stepper's record), since a later backward adds into .grad in place
            reached.append((node, g if owned and on_step is None else g.copy()))
            if on_step is not None:
                on_step(node, g, ())
            continue
        if ctx.saved is _FREED:
            where = f" (at {node.label or ctx.op})"
            raise RuntimeError(f"backward: the graph was already freed by a previous backward()"
                               f"{where} (one that failed part-way frees what it passed too); "
                               "pass retain_graph=True to the first backward() to walk it "
                               "again")
        if node._retain:
            reached.append((node, g.copy()))
        parent_grads = ctx.backward(g)
        if not ctx.trusted:  # a user's Function; a built-in one returns None where none is needed
            parent_grads = _checked(ctx, parent_grads)
        if on_step is not None:
            on_step(node, g.value() if type(g) is OuterSum else g,
                    tuple(observed(pg) for pg in parent_grads))
        for p, pg in zip(ctx.parents, parent_grads):
            if pg is None:
                continue
            prev = get(p)
            if prev is None:
                pctx = p._ctx
                if type(pctx) in through and type(pg) is ndarray and not p._retain \
                        and pctx.saved is not _FREED:  # else: its visit says it was freed
                    x = pctx.parents[0]
                    prev = get(x)
                    # a chunk of a block that has pieces already: its piece joins them as is
                    if type(prev) is Pieces and type(pctx) is CHUNK and prev.take(pctx.saved, pg):
                        continue
                    (pg,) = pctx.backward(pg)  # its record stays: it may get another piece
                    p = x
                    if prev is not None:
                        grads[p] = _accumulate(prev, pg)
                        continue
                grads[p] = pg
                _enqueue(queue, waiting, twins, p)
            elif type(prev) is ndarray and type(pg) is ndarray:
                grads[p] = prev + pg  # never in place: either may be shared (an add's g)
            else:
                grads[p] = _accumulate(prev, pg)
        if not retain_graph and not shared:  # copies share ctx: the last one frees it
            ctx.saved = _FREED
    for node, g in reached:
        old = node._grad
        if old is not None:
            # into the array that is there, as torch accumulates: `g = p.grad` taken after one
            # backward sees the next one's sum (a read-only array or another dtype, assigned by
            # hand, is replaced by a new one instead)
            if type(old) is ndarray and old.flags.writeable and old.dtype == g.dtype:
                old += g
                continue
            g = old + g
        node._grad = g if type(g) is ndarray else np.asarray(g)  # 0-d: numpy gives a scalar
