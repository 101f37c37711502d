"""Finite-difference gradient checking in float64, for tests and for users' own ops."""

from __future__ import annotations

import numpy as np

from .autograd import toposort
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with central finite differences."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare the gradients backward() gives with central finite differences.

    A non-scalar output y is reduced to L = Σ y · R with a fixed random R, so every output
    element takes part (a random-direction check of the vector-Jacobian product).

    Args:
        fn: called as fn(*inputs); returns a Tensor. An input that is an intermediate (not a
            leaf) is passed as a leaf sharing its array, so fn must compute from its argument,
            not from the intermediate itself.
        inputs: float64 Tensors; those with requires_grad=True are checked.
        eps: the finite-difference step. Defaults to 1e-6.
        atol, rtol: an element passes when |analytic − numerical| ≤ atol + rtol·|numerical|.
            Default to 1e-5 and 1e-3.
        seed: seed of the random direction R. Defaults to 0.

    Returns:
        True. Raises GradcheckError naming the input index, its shape, the worst element and
        both values otherwise; ValueError for inputs that cannot be checked (e.g. float32).
    """
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    inputs = list(inputs)
    for k, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise ValueError(f"gradcheck: input {k} is a {type(x).__name__}, expected a Tensor")
        if x.dtype != np.float64:
            raise ValueError(f"gradcheck: input {k} of shape {x.shape} is {x.dtype}; finite "
                             "differences need float64 (Tensor(data, dtype=np.float64))")
    checked = [k for k, x in enumerate(inputs) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, nothing to check")

    # An input that is an intermediate stands in fn as a leaf sharing its array: the walk
    # stops there, as torch's does, instead of going on into the caller's graph (which an
    # earlier backward may have freed). Leaves are passed as they are, so that fn may also
    # read them from elsewhere (a module's parameters, checked through `model.parameters()`).
    args, stand_in = [], {}
    for x in inputs:
        if x._ctx is not None and id(x) not in stand_in:
            stand_in[id(x)] = leaf = x.detach()
            leaf.requires_grad = x.requires_grad
        args.append(stand_in.get(id(x), x))
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise ValueError(f"gradcheck: fn returned a {type(out).__name__}, expected a Tensor")
    if not out.requires_grad:
        raise ValueError("gradcheck: fn's output does not depend on any input that "
                         "requires grad")
    direction = np.random.default_rng(seed).standard_normal(out.shape)

    def loss_value():
        with no_grad():
            return float(np.sum(fn(*args).data * direction))

    # The gradient reaching each input is read off the walk, and nothing the walk leaves is
    # kept: the .grad of every tensor it reaches is restored (a weight fn uses but that is
    # not checked kept a gradient along the random direction, for the next optimizer step to
    # apply; a retained intermediate, one added to it).
    # (the checked inputs too: one the output does not reach keeps no earlier .grad in the
    # walk that reads them off .grad, where it would pass for a gradient)
    wanted = {}
    for k in checked:
        wanted.setdefault(id(args[k]), []).append(k)
    reachable = toposort(out)
    walked = {id(t) for t in reachable}
    reachable += [args[ks[0]] for i, ks in wanted.items() if i not in walked]
    saved_grads = [t.grad for t in reachable]

    def walk(observed):
        """The analytic gradients, from one backward: with an observer (`on_step`, as the
        stepper and the graph walk it) or without (the path training takes, where index and
        chunk nodes pass their pieces straight on: lazy.py), read off the inputs' .grad."""
        reached = {}

        def on_step(node, g, parent_grads):
            for k in wanted.get(id(node), ()):
                reached[k] = np.array(g, dtype=np.float64)

        for t in reachable:
            t.grad = None
        try:
            # retained: the walk may go on into a graph of the caller's that fn reads (a
            # layer's output it closes over), which the caller may still walk
            out.backward(direction.astype(out.dtype), retain_graph=True,
                         on_step=on_step if observed else None)
            if not observed:
                reached = {k: np.array(args[k].grad, dtype=np.float64) for k in checked
                           if args[k].grad is not None}
        finally:
            for t, g in zip(reachable, saved_grads):
                t.grad = g
        return [reached.get(k, np.zeros(inputs[k].shape)) for k in checked]

    # both walks, each against the same finite differences
    analytic = list(zip(walk(observed=False), walk(observed=True)))

    for k, anas in zip(checked, analytic):
        x = args[k].data  # the input's array (an intermediate's, shared with its stand-in)
        num = np.empty_like(x)
        for i in np.ndindex(x.shape):
            orig = x[i]
            try:
                x[i] = orig + eps
                plus = loss_value()
                x[i] = orig - eps
                minus = loss_value()
            finally:
                x[i] = orig
            num[i] = (plus - minus) / (2 * eps)
        for ana, how in zip(anas, ("", " (the walk as an observer sees it)")):
            excess = np.abs(ana - num) - (atol + rtol * np.abs(num))
            finite = np.isfinite(ana) & np.isfinite(num)  # a NaN compares as no mismatch: not here
            if x.size and (not finite.all() or excess.max() > 0):
                bad = np.where(finite, excess, np.inf)
                worst = np.unravel_index(np.argmax(bad), x.shape)
                raise GradcheckError(
                    f"gradcheck: input {k} of shape {x.shape}: gradient mismatch at element "
                    f"{tuple(int(j) for j in worst)}: analytic {ana[worst]:.8g} vs numerical "
                    f"{num[worst]:.8g} (atol={atol}, rtol={rtol}){how}")
    return True
