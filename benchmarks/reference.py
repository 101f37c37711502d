"""Hand-derived numpy BPTT reference: one training step of a character-level LM.

The yardstick of the speed benchmark (README.md, "Speed"): the fastest a plain
numpy program can be at this step, with its backward pass derived by hand in
the style of Karpathy's min-char-rnn (every backward line says what it computes,
``d``-prefixed names are gradients of the loss).

The step, for ``kind`` in {"lstm", "gru", "rnn"} (PyTorch's equations)::

    x (T, B, V) one-hot  ->  one recurrent layer  ->  hs (T, B, H)
    logits = hs @ head.weight^T + head.bias                      # (T, B, V)
    loss   = mean over the T*B positions of -log softmax(logits)[target]
    backward through all T steps, then plain SGD: p -= lr * dp

    LSTM: i, f, g, o = σ, σ, tanh, σ of x W_ih^T + b_ih + h_prev W_hh^T + b_hh
          c = f * c_prev + i * g;  h = o * tanh(c)
    GRU:  r = σ(x W_ir^T + b_ir + h_prev W_hr^T + b_hr)
          z = σ(x W_iz^T + b_iz + h_prev W_hz^T + b_hz)
          n = tanh(x W_in^T + b_in + r * (h_prev W_hn^T + b_hn))
          h = (1 - z) * n + z * h_prev
    RNN:  h = tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh)

What makes it fast (and what an engine is measured against):
  * the input projection is hoisted out of the time loop: one (T*B, V) @ (V, G*H)
    matmul, done on the real one-hot array (no row-gather shortcut);
  * one fused (B, H) @ (H, G*H) gate matmul per step, forward and backward (for
    8 to 32 rows and a big W_hh, forward as (W_hh @ h^T)^T: OpenBLAS runs that
    layout faster, see ``recurrent`` below);
  * dW_hh and dW_ih are each ONE matmul after the loop, over the stacked
    gate gradients of all T steps (BPTT's sum over t done by BLAS);
  * every array is allocated once per call, none inside the time loops: they
    write into preallocated buffers with ``out=`` and in-place ops;
  * elementwise work runs on contiguous blocks where possible (numpy is 2-3x
    slower per element on column slices of a (B, G*H) block): the LSTM's four
    gates share ONE sigmoid call (its g rows are doubled, tanh(x) = 2 σ(2x) - 1),
    and the GRU keeps r, z, n in (T, B, H) arrays of their own;
  * GRU and RNN write their pre-activation gradients over the input projection;
  * no float64 upcasting: with float32 parameters every array is float32.

Sigmoid is ``1 / (1 + exp(-x))`` evaluated under ``np.errstate(over="ignore")``:
for x < -88 (float32) exp(-x) overflows to inf and 1 / (1 + inf) = 0, which is the
correctly rounded result (σ(x) < 1e-38 there); no NaN can arise. Measured on
(32, 512) float32 with one thread (numpy 2.4, OpenBLAS): this form 31 us, the
``0.5 * (1 + tanh(x / 2))`` form 51 us (np.tanh costs twice np.exp here), the
``exp(-|x|)`` two-branch form 92 us.

Importable as ``benchmarks.reference`` and by path; depends on numpy only.
"""
import time

import numpy as np

__all__ = ["GATES", "init_params", "one_hot", "forward_backward", "sgd_step", "train_step"]

GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # G: gate blocks stacked in weight_ih_l0 / weight_hh_l0
# For this many rows of h and a W_hh this big, the step's h @ W_hh^T is run as (W_hh @ h^T)^T
# (see `recurrent` in forward_backward).
TRANSPOSED_ROWS = (8, 32)
TRANSPOSED_SIZE = 1 << 15
PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias")


def _check_kind(kind):
    if kind not in GATES:
        raise ValueError(f"reference: kind must be one of {sorted(GATES)}, got {kind!r}")


def init_params(kind, V, H, rng, dtype=np.float32):
    """PyTorch-named parameters, every one drawn from U(-1/sqrt(H), 1/sqrt(H)).

    Shapes (G = 4 lstm (i, f, g, o), 3 gru (r, z, n), 1 rnn): ``weight_ih_l0``
    (G*H, V), ``weight_hh_l0`` (G*H, H), ``bias_ih_l0`` (G*H,), ``bias_hh_l0`` (G*H,),
    ``head.weight`` (V, H), ``head.bias`` (V,); drawn from ``rng`` in that order.
    """
    _check_kind(kind)
    G, k = GATES[kind], 1.0 / np.sqrt(H)
    shapes = [(G * H, V), (G * H, H), (G * H,), (G * H,), (V, H), (V,)]
    return {name: rng.uniform(-k, k, size=shape).astype(dtype)
            for name, shape in zip(PARAM_NAMES, shapes)}


def one_hot(ids, V, dtype=np.float32):
    """(T, B) integer ids -> (T, B, V) one-hot array of ``dtype``."""
    ids = np.asarray(ids)
    x = np.zeros(ids.shape + (V,), dtype=dtype)
    np.put_along_axis(x, ids[..., None], 1, axis=-1)
    return x


def _sigmoid_(a):
    """a <- σ(a) in place; call under np.errstate(over="ignore") (see module docstring)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.divide(1, a, out=a)


def forward_backward(kind, params, x, targets, h0=None, c0=None, marks=None):
    """Loss and hand-derived gradients of one char-LM step (module docstring).

    Args:
        kind: "lstm", "gru" or "rnn".
        params: dict from :func:`init_params` (all arrays of one float dtype).
        x: (T, B, V) float input (one-hot), or (T, B) integer ids turned into
            a one-hot array here.
        targets: (T, B) integer ids of the next characters.
        h0, c0: (B, H) initial states; default zeros. ``c0`` is for lstm only.
        marks: a list, or None; when given, the process's CPU time is appended to it at the
            start and at the end of each section: the input projection, the forward loop, the
            head and loss, the head's backward, the backward loop, the weight gradients
            (benchmarks/sections.py).

    Returns:
        ``(loss, grads, extras)``: the mean cross-entropy as a Python float;
        gradients under the same keys as ``params``; ``extras`` with ``"hs"``
        (T, B, H), ``"hT"`` (and ``"cT"`` for lstm) the final states, ``"dh0"``
        (and ``"dc0"`` for lstm) the gradients of the initial states.
    """
    mark = (lambda: None) if marks is None else (lambda: marks.append(time.process_time()))
    mark()
    _check_kind(kind)
    W_ih, W_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    W_y, b_y = params["head.weight"], params["head.bias"]
    dtype = W_hh.dtype
    GH, H = W_hh.shape
    V = W_y.shape[0]
    if GH != GATES[kind] * H:
        raise ValueError(f"reference {kind}: weight_hh_l0 has shape {W_hh.shape}, "
                         f"expected ({GATES[kind]}*H, H)")
    x = np.asarray(x)
    if x.ndim == 2 and np.issubdtype(x.dtype, np.integer):
        x = one_hot(x, W_ih.shape[1], dtype)
    if x.ndim != 3 or x.shape[2] != W_ih.shape[1]:
        raise ValueError(f"reference {kind}: x has shape {x.shape}, expected (T, B, {W_ih.shape[1]})")
    x = x.astype(dtype, copy=False)
    T, B, I = x.shape
    targets = np.asarray(targets)
    if targets.shape != (T, B) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"reference {kind}: targets have shape {targets.shape} and dtype {targets.dtype}, "
                         f"expected integer ({T}, {B})")
    if targets.min() < 0 or targets.max() >= V:
        raise ValueError(f"reference {kind}: targets must lie in [0, {V}), got [{targets.min()}, {targets.max()}]")
    targets = targets.reshape(-1)
    for name, state in (("h0", h0), ("c0", c0)):
        if state is not None and np.shape(state) != (B, H):
            raise ValueError(f"reference {kind}: {name} has shape {np.shape(state)}, expected ({B}, {H})")
    if c0 is not None and kind != "lstm":
        raise ValueError(f"reference {kind}: c0 is for lstm only")
    N = T * B
    X = x.reshape(N, I)                                    # (N, V)

    hs = np.empty((T + 1, B, H), dtype)                    # hs[0] = h0, hs[t+1] = h_t
    hs[0] = 0 if h0 is None else h0
    b = b_ih + b_hh                                        # both biases add (GRU: except b_hn)
    if kind == "gru":
        b[2 * H:] = b_ih[2 * H:]                           # b_hn sits inside r * (h W_hn^T + b_hn)
    W_x, W_h = W_ih, W_hh
    if kind == "lstm":
        # tanh(x) = 2 σ(2x) - 1: doubling the g rows of the weights lets ONE sigmoid
        # call cover all four gates as a contiguous (B, 4H) block (numpy costs 2-3x
        # per element on column slices of it); g is recovered as 2 σ - 1 below.
        k = np.ones(GH, dtype)
        k[2 * H:3 * H] = 2
        W_x, W_h, b = W_ih * k[:, None], W_hh * k[:, None], b * k
    # Input projection for all T steps at once: one (T*B, V) @ (V, G*H) matmul.
    A = np.matmul(X, W_x.T).reshape(T, B, GH)              # (T, B, G*H) pre-activations
    A += b
    # h_prev @ W_hh^T, one fused matmul a step, into hh (B, G*H). For 8 to 32 rows and a W_hh
    # of 2^15 elements or more OpenBLAS runs it in 0.45-0.9 of the time as (W_hh @ h_prev^T)^T,
    # the big operand C-ordered and first (tinygrad_lstm.ops._matmul takes the same path, by
    # the same measurement: benchmarks/README.md); hh is then the transpose of a C array.
    if TRANSPOSED_ROWS[0] <= B <= TRANSPOSED_ROWS[1] and W_h.size >= TRANSPOSED_SIZE:
        hh_t = np.empty((GH, B), dtype)
        hh = hh_t.T

        def recurrent(h):
            np.dot(W_h, h.T, out=hh_t)
    else:
        hh = np.empty((B, GH), dtype)

        def recurrent(h):
            np.dot(h, W_h.T, out=hh)
    s, s2 = np.empty((B, H), dtype), np.empty((B, H), dtype)  # scratch
    extras = {}

    mark()
    # ----- forward through time -----
    with np.errstate(over="ignore"):
        if kind == "lstm":
            cs = np.empty((T + 1, B, H), dtype)            # cs[0] = c0, cs[t+1] = c_t
            cs[0] = 0 if c0 is None else c0
            tcs = np.empty((T, B, H), dtype)               # tanh(c_t)
            for t in range(T):
                a = A[t]
                recurrent(hs[t])
                a += hh                                    # x W_ih^T + h_prev W_hh^T + b_ih + b_hh (g doubled)
                _sigmoid_(a)                               # i, f, o; and σ(2 g_pre) in the g block
                i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
                g *= 2
                g -= 1                                     # g = 2 σ(2 g_pre) - 1 = tanh(g_pre)
                np.multiply(f, cs[t], out=cs[t + 1])
                np.multiply(i, g, out=s)
                cs[t + 1] += s                             # c = f * c_prev + i * g
                np.tanh(cs[t + 1], out=tcs[t])
                np.multiply(o, tcs[t], out=hs[t + 1])      # h = o * tanh(c)
        elif kind == "gru":
            # r, z, n get contiguous (T, B, H) arrays of their own: numpy is 2-3x slower
            # per element on column slices of a (B, 3H) block, and the slices would be
            # read again and again in backward.
            rs, zs, ns = np.empty((T, B, H), dtype), np.empty((T, B, H), dtype), np.empty((T, B, H), dtype)
            ghn = np.empty((T, B, H), dtype)               # h_prev W_hn^T + b_hn, kept for dr
            b_hn = b_hh[2 * H:]
            for t in range(T):
                a, r, z, n, h = A[t], rs[t], zs[t], ns[t], hs[t + 1]
                recurrent(hs[t])
                np.add(a[:, :H], hh[:, :H], out=r)
                _sigmoid_(r)                               # r = σ(x W_ir^T + b_ir + h_prev W_hr^T + b_hr)
                np.add(a[:, H:2 * H], hh[:, H:2 * H], out=z)
                _sigmoid_(z)                               # z = σ(x W_iz^T + b_iz + h_prev W_hz^T + b_hz)
                np.add(hh[:, 2 * H:], b_hn, out=ghn[t])
                np.multiply(r, ghn[t], out=n)
                n += a[:, 2 * H:]
                np.tanh(n, out=n)                          # n = tanh(x W_in^T + b_in + r * (h_prev W_hn^T + b_hn))
                np.subtract(hs[t], n, out=h)
                h *= z
                h += n                                     # h = n + z * (h_prev - n) = (1 - z) * n + z * h_prev
        else:
            for t in range(T):
                recurrent(hs[t])
                A[t] += hh
                np.tanh(A[t], out=hs[t + 1])               # h = tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh)

    mark()
    # ----- head and loss over all T*B positions -----
    H_all = hs[1:].reshape(N, H)                           # (N, H)
    Z = np.matmul(H_all, W_y.T)                            # (N, V) logits
    Z += b_y
    Z -= Z.max(axis=1, keepdims=True)                      # shift for a stable softmax
    rows = np.arange(N)
    z_target = Z[rows, targets]                            # shifted logit of each target
    np.exp(Z, out=Z)
    sum_e = Z.sum(axis=1)
    loss = float(np.mean(np.log(sum_e) - z_target))        # -log softmax[target], averaged

    mark()
    # ----- backward: head -----
    dZ = Z
    dZ /= sum_e[:, None]                                   # softmax probabilities p
    dZ[rows, targets] -= 1                                 # dlogits = p - onehot(target)
    dZ *= 1.0 / N                                          # ... / N for the mean
    dW_y = np.matmul(dZ.T, H_all)                          # dhead.weight = dlogits^T hs
    db_y = dZ.sum(axis=0)                                  # dhead.bias = sum of dlogits
    dhs = np.matmul(dZ, W_y).reshape(T, B, H)              # dh from the head, every step

    mark()
    # ----- backward through time -----
    dh_next = np.zeros((B, H), dtype)
    # d(loss)/d(pre-activations) of all steps; GRU and RNN need no pre-activation
    # in backward, so their gradients overwrite A's storage.
    dA = np.empty((T, B, GH), dtype) if kind == "lstm" else A
    if kind == "lstm":
        dc_next = np.zeros((B, H), dtype)
        U = np.empty((B, GH), dtype)                       # di, df, dg, do: upstream of each gate
        for t in reversed(range(T)):
            a, da = A[t], dA[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            tc, c_prev, dc = tcs[t], cs[t], dc_next
            dh = dhs[t]
            dh += dh_next                                  # dh = head's + from step t+1 (h feeds both)
            np.multiply(tc, tc, out=s); np.subtract(1, s, out=s)
            s *= o; s *= dh; dc += s                       # dc = dc_next + dh * o * (1 - tanh(c)^2)
            np.multiply(dc, g, out=U[:, :H])               # di = dc * g
            np.multiply(dc, c_prev, out=U[:, H:2 * H])     # df = dc * c_prev
            np.multiply(dc, i, out=U[:, 2 * H:3 * H])      # dg = dc * i
            np.multiply(dh, tc, out=U[:, 3 * H:])          # do = dh * tanh(c)
            np.multiply(a, a, out=da); np.subtract(a, da, out=da)  # σ' = σ (1 - σ) for i, f, o ...
            dg_local = da[:, 2 * H:3 * H]
            np.multiply(g, g, out=dg_local); np.subtract(1, dg_local, out=dg_local)  # ... tanh' = 1 - g^2 for g
            da *= U                                        # di_pre, df_pre, dg_pre, do_pre = upstream * local
            dc *= f                                        # dc_prev = dc * f
            np.dot(da, W_hh, out=dh_next)                  # dh_prev = dgates_pre @ W_hh (all 4 gates at once)
        extras["cT"] = cs[T].copy()
        extras["dc0"] = dc_next
        dA_ih = dA_hh = dA
    elif kind == "gru":
        dA_hh = np.empty((T, B, GH), dtype)                # gradient of h_prev W_hh^T + b_hh, all steps
        for t in reversed(range(T)):
            r, z, n, da, dah = rs[t], zs[t], ns[t], dA[t], dA_hh[t]
            dr, dz, dn = da[:, :H], da[:, H:2 * H], da[:, 2 * H:]
            dh = dhs[t]
            dh += dh_next                                  # dh = head's + from step t+1
            np.subtract(1, z, out=s); s *= dh              # dn = dh * (1 - z)
            np.multiply(n, n, out=s2); np.subtract(1, s2, out=s2)
            np.multiply(s, s2, out=dn)                     # dn_pre = dn * (1 - n^2)
            np.multiply(dn, r, out=dah[:, 2 * H:])         # d(h_prev W_hn^T + b_hn) = dn_pre * r
            np.multiply(dn, ghn[t], out=s)                 # dr = dn_pre * (h_prev W_hn^T + b_hn)
            np.subtract(1, r, out=s2); s2 *= r
            np.multiply(s, s2, out=dr)                     # dr_pre = dr * r * (1 - r)
            np.subtract(hs[t], n, out=s); s *= dh          # dz = dh * (h_prev - n)
            np.subtract(1, z, out=s2); s2 *= z
            np.multiply(s, s2, out=dz)                     # dz_pre = dz * z * (1 - z)
            dah[:, :2 * H] = da[:, :2 * H]                 # r, z: the same pre-activation grad on both sides
            np.dot(dah, W_hh, out=dh_next)                 # dh_prev = d(h_prev W_hh^T + b_hh) @ W_hh ...
            np.multiply(dh, z, out=s); dh_next += s        # ... + dh * z (the direct path)
        dA_ih = dA
    else:
        for t in reversed(range(T)):
            dh = dhs[t]
            dh += dh_next                                  # dh = head's + from step t+1
            np.multiply(hs[t + 1], hs[t + 1], out=s); np.subtract(1, s, out=s)
            np.multiply(dh, s, out=dA[t])                  # dh_pre = dh * (1 - h^2)
            np.dot(dA[t], W_hh, out=dh_next)               # dh_prev = dh_pre @ W_hh
        dA_ih = dA_hh = dA

    mark()
    # ----- weight gradients: the sum over t of BPTT as one matmul each -----
    dA_ih2, dA_hh2 = dA_ih.reshape(N, GH), dA_hh.reshape(N, GH)
    db_ih = dA_ih2.sum(axis=0)
    grads = {
        "weight_ih_l0": np.matmul(dA_ih2.T, X),            # dW_ih = sum_t dgates_t^T x_t
        "weight_hh_l0": np.matmul(dA_hh2.T, hs[:-1].reshape(N, H)),  # dW_hh = sum_t dgates_t^T h_{t-1}
        "bias_ih_l0": db_ih,                               # db_ih = sum_t dgates_t
        "bias_hh_l0": db_ih.copy() if dA_hh is dA_ih else dA_hh2.sum(axis=0),  # db_hh likewise
        "head.weight": dW_y,
        "head.bias": db_y,
    }
    mark()
    extras["hs"] = hs[1:]
    extras["hT"] = hs[T].copy()
    extras["dh0"] = dh_next
    return loss, grads, extras


def sgd_step(params, grads, lr):
    """Plain SGD in place: p -= lr * dp for every parameter."""
    for name, p in params.items():
        p -= lr * grads[name]


def train_step(kind, params, x, targets, lr, h0=None, c0=None):
    """forward_backward then sgd_step; returns the loss (before the update)."""
    loss, grads, _ = forward_backward(kind, params, x, targets, h0, c0)
    sgd_step(params, grads, lr)
    return loss
