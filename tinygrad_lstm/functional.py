"""Composed ops: built from the primitives in ops.py, so they need no backward code."""

from __future__ import annotations

import numpy as np

from .tensor import (_UNSET, OpError, OpIndexError, Tensor, _alias, _constant, _int_axis,
                     _torch_kind, check_rng, default_rng)


def _tensor(op, x):
    if not isinstance(x, Tensor):
        raise OpError(f"{op}: expects a Tensor, got a {type(x).__name__}; wrap it as Tensor(...)")
    return x


def _shifted(op, x, axis):
    # Shifting by a constant changes neither softmax nor log_softmax, so the gradient through
    # max x is exactly zero: max is taken off the graph (as jax.nn.log_softmax does), which
    # spares the backward a pass through max and its broadcast (0.3 ms of the char-LM step).
    _tensor(op, x)
    _int_axis(op, axis, x.shape, scalar=True)
    if x.ndim and x.shape[axis] == 0:  # an empty axis: nothing to shift, an empty result (torch)
        return x
    return x - x.max(axis=axis, keepdims=True).detach().named("max x")


def softmax(x, axis=_UNSET, *, dim=_UNSET):
    """softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x), along `axis` (torch's `dim`;
    default −1)"""
    axis = _alias("softmax", "axis", axis, "dim", dim, -1)
    e = _shifted("softmax", x, axis).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=_UNSET, *, dim=_UNSET):
    """log_softmax(x) = z − log Σ exp(z), with z = x − max x so exp never overflows; along
    `axis` (torch's `dim`; default −1)."""
    axis = _alias("log_softmax", "axis", axis, "dim", dim, -1)
    z = _shifted("log_softmax", x, axis)
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of integer class `targets` under softmax(`logits`).

    Inputs:
        logits: (N, C), or (..., C) which is flattened to (N, C).
        targets: integer array (N,) or (...,) with values in [0, C).

    Returns:
        A scalar Tensor: −(1/N) Σₙ log_softmax(logits)[n, targetₙ].
    """
    _tensor("cross_entropy", logits)
    targets = integer_ids("cross_entropy", "targets", targets, OpError)
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        hint = ""
        if logits.ndim > 2 and targets.shape == logits.shape[:1] + logits.shape[2:]:
            last = (0, *range(2, logits.ndim), 1)  # axis 1 moved to the end
            hint = ("; the classes go in the last axis here, torch's (N, C, d…) puts them in "
                    f"axis 1: move them last first, logits.permute{last}")
        raise OpError(f"cross_entropy: logits {logits.shape} and targets {targets.shape}: "
                      f"expected targets of shape logits.shape[:-1]{hint}")
    num_classes = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
        bad = targets[(targets < 0) | (targets >= num_classes)][0]
        raise OpIndexError(f"cross_entropy: target {int(bad)} is out of range for "
                           f"{num_classes} classes")
    if logits.ndim != 2:
        logits = logits.reshape(-1, num_classes)
        targets = targets.reshape(-1)
    # −log softmax(z)[target] = log Σ exp(z) − z[target]: the (N, C) log_softmax is never
    # built, only its N entries that the loss reads (a (2048, 65) loss's forward and backward
    # took 0.78x the time)
    z = _shifted("cross_entropy", logits, -1)
    # named for the stepper's first screens and the picture, which showed only the expression
    picked = z[np.arange(len(targets)), targets].named("z[target]")
    return (z.exp().sum(axis=-1).log() - picked).mean().named("cross_entropy")


def integer_ids(who, what, ids, error=ValueError):
    """`ids` (a list or an integer numpy array) as an integer array; else `error` naming `who`.
    A Tensor is taken only to say why it cannot be: it holds floats."""
    if isinstance(ids, Tensor):
        raise error(f"{who}: {what} must be integers, and a Tensor holds floats ({ids.dtype}); "
                    "pass a numpy integer array or a list of ints")
    if isinstance(ids, (list, tuple)) and not ids:
        ids = np.zeros(0, np.int64)  # numpy reads [] as float64
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise error(f"{who}: {what} must be integers, got {ids.dtype}")
    return ids


def mse_loss(pred, target):
    """Mean squared error: (1/N) Σ (pred − target)²."""
    _tensor("mse_loss", pred)
    torch = _torch_kind(target)  # as a layer's x from torch
    if target is None or isinstance(target, (str, bytes, dict, set)) or torch:
        raise TypeError(f"mse_loss: target must be a Tensor, a numpy array or numbers, got "
                        f"{torch or type(target).__name__}")
    target_shape = getattr(target, "shape", np.shape(target))
    if tuple(pred.shape) != tuple(target_shape):
        raise OpError(f"mse_loss: pred {pred.shape} and target {tuple(target_shape)}: "
                      "shapes differ (no broadcasting in a loss)")
    kind = getattr(getattr(target, "dtype", None), "kind", None)
    if kind == "f" and target.dtype != pred.dtype:  # a float64 numpy target is the usual case
        raise OpError(f"mse_loss: pred is {pred.dtype} but target is {target.dtype}; no silent "
                      f"casting: make the target {pred.dtype} (e.g. y.astype(np.{pred.dtype}))")
    diff = pred - target
    return (diff * diff).mean()


def check_dropout_p(who, p):
    """p, if it is a number in [0, 1]; else an OpError (a ValueError) naming `who`."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0.0 <= p <= 1.0:
        raise OpError(f"{who}: p must be a number in [0, 1], got {p!r}")
    return p


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale the rest by 1/(1−p) (inverted dropout,
    as torch). The identity when not training or p = 0; all zeros at p = 1, as torch."""
    _tensor("dropout", x)  # in eval mode too: a layer gives back what it takes in either mode
    check_dropout_p("dropout", p)
    check_rng("dropout", rng)
    if not training or p == 0.0:
        return x
    if p == 1.0:  # nothing kept (the scale 1/(1−p) would make 0/0)
        keep = np.zeros(x.shape, x.dtype)
    else:
        rng = default_rng() if rng is None else rng
        keep = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * _constant(keep, "dropout mask")  # named for the graph and the stepper

