"""What the stepper shows, without the terminal: the engine's backward walk recorded node by
node (`record` -> `Walk`), each node's formula and label, the state path (the one the graph's
`highlight="auto"` draws: an LSTM's c, a GRU's h), and the local rule of each op with this
node's numbers. stepper.py draws it with rich; this module needs only numpy, so the record
can be read (and tested) anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lazy import Scattered
from ..tensor import shown_scope
from .scene import (_lane, _state_label, _uniform, _visible, check_root, index_text,
                    no_path_reason, param_pairs, permuted, pick_state, shown_lanes)


def fmt(x):
    """How every number on screen is written (3 significant digits)."""
    # .item(): numpy 2.4 refuses float() of a one-element array that is not 0-d, e.g. a (1, 1)
    # target; + 0.0: no "-0"
    return f"{float(np.asarray(x).item()) + 0.0:.3g}"


def norm(a):
    # in float64: the squares of a float32 gradient of 1e-25 are 0 there, of 1e20 inf
    if type(a) is Scattered:  # x[t]'s gradient to x: from the piece, not a (T, …) array
        return a.norm()
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def preview(a, n=4):
    """The first n values of an array, e.g. `[0.031 -0.118 0.007 0.2 …]`."""
    if type(a) is Scattered:  # its first values without the (T, …) array
        flat, size = a.head(n), a.size
    else:
        flat = np.asarray(a).reshape(-1)
        size = flat.size
    return f"[{' '.join(fmt(v) for v in flat[:n])}{' …' if size > n else ''}]"


@dataclass(repr=False)
class Step:
    """One node of the walk: the gradient that reached it (∂L/∂node) and the ones it handed
    each parent (None where a parent needs none; empty at a leaf; an index's, `xs[t]`'s, a
    lazy.Scattered: `np.asarray` for the array)."""

    index: int
    node: object
    grad: np.ndarray
    parent_grads: tuple
    saved: object  # what the op saved for its backward (the walk frees the op's own copy)

    def __repr__(self):  # one line: the dataclass's printed every array (56 KB for T=3,
        # which a notebook echoed for `step(loss)` as a cell's last line)
        n = self.node
        return (f"Step({self.index}, {n.label or n.op or 'leaf'} {tuple(n.shape)}, "
                f"‖∂L‖ {fmt(norm(self.grad))})")


def record(loss, params=None, who="record"):
    """Run `loss.backward()` once, recording every step of the walk; returns a `Walk`.
    Afterwards `.grad` is exactly what a plain `loss.backward()` leaves (the observer only
    reads). `params` (a Module, a {name: tensor} dict or pairs) names the leaves. Bad
    arguments are refused before the backward runs, naming `who` (step() passes its name)."""
    params = param_pairs(params, who)
    check_root(loss, who)
    steps = []

    def on_step(node, grad, parent_grads):
        ctx = node._ctx
        steps.append(Step(len(steps), node, grad, parent_grads, ctx and ctx.saved))

    loss.backward(on_step=on_step)
    return Walk(steps, params)


def lane_label(lane):
    """A lane as the panel's heading names it: `layer 1 reverse`, `part dec` (hidden keys, a
    layer's `_call`, left out: Walk.lane_label numbers the calls where they matter)."""
    return " ".join(f"layer {v}" if k == "layer" else str(v) if k == "direction" else f"{k} {v}"
                    for k, v in _visible(lane))


class Walk:
    """A recorded walk plus what the screens need: each node's consumers, the state path,
    and ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ per (layer, direction) in the order the walk reached them.

    The state path is the one the graph's `highlight="auto"` draws (scene.pick_state):
    `path_state` is "c" (an LSTM's cell state c[t−1] → × f → + → c[t]), "h" (a GRU's
    h[t−1] → × z → + → h[t]) or None, and then `no_path` says why (a plain RNN's
    h[t−1] → h[t] runs through @ and tanh: not additive). `path` holds the ids of the tensors
    on it: every state and the ops between one step's and the next."""

    def __init__(self, steps, params=None):
        self.steps = steps
        self.quit = "quit"  # what `q` does, for the key help ("next walk" where one follows)
        self.index = {id(s.node): s.index for s in steps}
        self.names = {id(p): k for k, p in params or ()}  # (name, tensor) pairs: record()
        self.children = {}
        for s in steps:
            for p in dict.fromkeys(s.node.parents):  # `w × w` is one consumer of w
                self.children.setdefault(id(p), []).append(s.index)
        nodes = [s.node for s in steps]
        self.path_state, edges = pick_state(nodes)
        self.path = {i for e in edges for i in e} if self.path_state else set()
        self.no_path = None if self.path_state else no_path_reason(nodes, "c", edges)
        # lane (the scope but t, as the picture's rows of steps: layer, direction, and any
        # key of one's own, an encoder's and a decoder's loop apart) -> [(index, name, t, norm)]
        self.states = {}
        for s in steps:
            sc = s.node.scope or {}
            if s.node.name in ("h", "c") and "t" in sc:
                self.states.setdefault(_lane(s.node), []).append(
                    (s.index, s.node.name, sc["t"], norm(s.grad)))
        self.multi = len(self.states) > 1
        self.shown = shown_lanes(self.states)
        # several layers: layer 0's states say l=0 too (a bare h[t=3] read as "the" h)
        self.layered = len({dict(k).get("layer") for k in self.states}) > 1
        # the lane of each step for the per-timestep panel: the node's own, or for one
        # without (a weight's leaf, the loss) the last the walk was in, not the first layer
        self.focus, last = [], next(iter(self.states), None)
        for s in steps:
            key = _lane(s.node)
            if key not in self.states:  # a weight: the lane of what used it (W_hh_l1's `W.T`
                # is layer 1's; it showed layer 0's timesteps, the last the walk was in)
                key = next((k for k in (_lane(steps[i].node)
                                        for i in self.children.get(id(s.node), ()))
                            if k in self.states), None)
            last = key if key in self.states else last
            self.focus.append(last)

    def __len__(self):
        return len(self.steps)

    def lane_label(self, lane):
        """`lane_label` of the lane as shown: `layer 0 call 2` where two calls of a layer (or
        two layers both "layer 0") are in this walk."""
        return lane_label(self.shown.get(lane, lane))

    def where(self, t):
        """Where t is, for the stepper's facts line: `layer 0 · t 2`, with the call
        (`layer 0 · call 2 · t 2`) where lanes differ by it alone (an encoder's and a
        decoder's layer 0 said the same)."""
        lane = self.shown.get(_lane(t))
        items = list(shown_scope(t.scope)) if lane is None else \
            list(lane) + [(k, v) for k, v in shown_scope(t.scope) if k == "t"]
        return " · ".join(f"{key} {v}" for key, v in items)

    def on_path(self, t):
        return id(t) in self.path

    def label(self, t):
        """`c[t=2]` (with `l=1`, `rev` when several layers or directions are recorded), a
        parameter's name, or None for an unnamed tensor."""
        if id(t) in self.names:
            return self.names[id(t)]
        if t.name is None:
            return None
        # c[t=2], c[l=1,t=2], c[t=2,rev], c[call=2,t=2]
        return _state_label(t, layer=self.layered, shown=self.shown)

    def expr(self, t, depth=2, named=True, outer=0):
        """A short formula for a tensor: its label, or its op applied to its parents'
        formulas `depth` levels down, e.g. `f[t=2] × c[t=1]` (named=False: even if named).
        `outer` is the precedence of the operator around it (for parentheses)."""
        lab = self.label(t)
        if lab is not None and (named or t.is_leaf):
            return lab
        if t.is_leaf:
            if not t.requires_grad and t.data.size == 1:
                return fmt(t.data)  # 1 − z, × 0.5: the number itself
            # the graph's words for the same boxes
            kind = ("leaf" if t.requires_grad else "zeros" if not t.data.any() else
                    "constant" if _uniform(t) else "input")
            return f"{kind} {tuple(t.shape)}"
        op, sym, ps = t.op, type(t._ctx).symbol, t.parents
        if op == "transpose" and self.label(ps[0]) is not None:
            return self.label(ps[0]) + permuted(t)
        if depth <= 0 and op != "chunk":  # a chunk costs no depth (below)
            return "…"
        if op in _PREC:
            # × next to @ gets brackets: `(r × h) @ W` reads as written, where `r × h @ W`
            # (the same by Python's left-to-right rule) reads as torch's GRU's r × (h @ W)
            a, b = (self.expr(p, depth - 1, outer=_PREC[op] + j + (
                        op in _PRODUCTS and p.op in _PRODUCTS and p.op != op))
                    for j, p in enumerate(ps))
            return f"({a} {sym} {b})" if _PREC[op] < outer else f"{a} {sym} {b}"
        if op in ("stack", "cat"):
            inner = [self.expr(p, depth - 1) for p in (ps if len(ps) <= 2 else (ps[0], ps[-1]))]
            return f"{op}({', '.join(inner) if len(ps) <= 2 else ' … '.join(inner)})"
        if op == "getitem" and self._row_of_step(t):
            return _state_label(t, layer=self.layered, shown=self.shown, name="xw")
        if op in ("getitem", "chunk", "transpose", "neg"):
            # a gate's chunk costs no depth: `σ((xw[t=3] + h[t=2] @ W_hhᵀ)[:,3:6])`
            base = self.expr(ps[0], depth - (op != "chunk"), outer=9)
            if op in ("neg", "transpose"):
                return f"−{base}" if op == "neg" else f"{base}{permuted(t)}"
            return f"{base}[{_index(self.steps[self.index[id(t)]].saved)}]" \
                if id(t) in self.index else f"{base}[…]"
        if op == "pow" and (t._ctx.args or {}).get("p") is not None:  # `^(a @ w)` lost p
            return f"{self.expr(ps[0], depth - 1, outer=9)}^{t._ctx.args['p']:g}"
        return f"{sym}({self.expr(ps[0], depth - 1)})"

    def _row_of_step(self, t):
        """True when t is a layer's `xw[t]`: row i of its input projection (x W_ihᵀ + b for
        all T at once, made outside the steps), taken inside the step the layer numbers
        t = i + 1. Shown as `xw[t=3]`, so the row's 0-based index does not stand beside the
        1-based t of `h[t=2]` (`…[2] + h[t=2]` read as one step)."""
        s = self.index.get(id(t))
        i = _saved_index(self.steps[s].saved, None) if s is not None else None
        x = t.parents[0]
        return (type(i) is int and i + 1 == (t.scope or {}).get("t") and x.name is None
                and not x.is_leaf and "t" not in (x.scope or {}))


_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2}
_PRODUCTS = ("mul", "div", "matmul")


def _saved_index(saved, default):
    """The index a getitem node saved, (x's shape, index, basic); `default` where the walk
    kept none."""
    return saved[1] if isinstance(saved, tuple) and len(saved) == 3 else default


def _index(saved):
    """A getitem's index, from what its node saved, as short text (scene.index_text)."""
    return index_text(_saved_index(saved, ...))


# ---------------------------------------------------------------------------------------------
# The local rule of each op, with this node's numbers

_FIXED = {  # op -> (rule, what each parent gets)
    "neg": ("−: hands −∂L/∂y to its input", "negated"),
    "max": ("max: routes ∂L/∂y to the maximum (shared among ties); the rest get 0", "to max"),
    "transpose": ("ᵀ: transposes ∂L/∂y back", "transposed"),
    "reshape": ("reshape: lays ∂L/∂y back out in the input's shape", "reshaped"),
    "cat": ("cat: hands each input its own slice of ∂L/∂y", "its slice"),
    "stack": ("stack: hands each input its own slice of ∂L/∂y", "its slice"),
}


_LOCAL = {  # op -> (the local derivative, computed from y and x, what bounds it)
    "tanh": ("(1 − y²)", lambda y, x: 1.0 - y * y, "1 − y² ≤ 1"),
    "sigmoid": ("σ(1 − σ)", lambda y, x: y * (1.0 - y), "σ(1 − σ) ≤ 0.25"),
    "exp": ("eˣ", lambda y, x: y, "eˣ = y"),
    "log": ("1/x", lambda y, x: 1.0 / x, "large near 0"),
    "relu": ("[x > 0]", lambda y, x: x > 0, "the share that passes"),
}


def rule(walk, s):
    """(the rule line, one short "how" per parent) for step `s`."""
    n, op, ps, y = s.node, s.node.op, s.node.parents, s.node.data
    if op is None:
        return "leaf: ∂L/∂x accumulates into .grad", []
    if op == "transpose" and permuted(n) != "ᵀ":
        axes = [a % n.ndim for a in n._ctx.args["axes"]]
        back = tuple(int(i) for i in np.argsort(axes))
        return (f"permute: hands ∂L/∂y back with its axes put in their old order "
                f"(permute{back})"), ["axes put back"]
    if op in _FIXED:
        return _FIXED[op][0], [_FIXED[op][1]] * len(ps)
    if op in ("add", "sub"):
        how = ["unchanged" if p.shape == n.shape else f"summed to {tuple(p.shape)}" for p in ps]
        if op == "sub":
            how[1] = "negated" if ps[1].shape == n.shape else f"negated, {how[1]}"
        text = "+ hands ∂L/∂y to each input unchanged" if op == "add" else \
            "− hands ∂L/∂y to the left input and −∂L/∂y to the right"
        return text + _broadcast_note(s), how
    # How much of the arriving gradient's norm each input gets. A × by a factor that is never
    # negative (a gate) shows its mean instead (f ≈ 0.54: about half passes); a signed
    # factor's mean would say "−0.01" where the norm kept 98%
    g = norm(s.grad)
    ratio = [fmt(norm(pg) / g) if pg is not None and g else "—" for pg in s.parent_grads]
    if op == "mul":
        # a gate's mean and the norm's own ratio: the mean alone (f, mean 0.955) did not give
        # the next norm (it shrank to 0.903 of it: the large f meet the small gradients)
        return ("× scales ∂L/∂y by the other input: ∂L/∂a = ∂L/∂y · b, ∂L/∂b = ∂L/∂y · a"
                + _broadcast_note(s),
                # a factor as it reads after `·`: `(1 − z[t=4])`, as inside a product
                [f"· {walk.expr(o, outer=_PREC['mul'])}, " + (f"mean {fmt(np.mean(o.data))}, "
                                                   if o.data.min(initial=0) >= 0 else "")
                 + f"out/in {r}" for o, r in zip(ps[::-1], ratio)])
    if op == "div":
        return ("÷: ∂L/∂a = ∂L/∂y / b, ∂L/∂b = −∂L/∂y · a / b²" + _broadcast_note(s),
                # the divisor bracketed as on the right of ÷: `/ (b × b + 1)`
                [f"/ {walk.expr(ps[1], outer=_PREC['div'] + 1)}, out/in {ratio[0]}",
                 f"· (−a / b²), out/in {ratio[1]}"])
    if op == "matmul":
        a, b = ps
        # Bᵀ's shape: a batch of matrices each transposed; a 1-D b is the column it stood for
        bt = (1, b.shape[0]) if len(b.shape) == 1 else (*b.shape[:-2], b.shape[-1], b.shape[-2])
        return "@: ∂L/∂A = ∂L/∂y @ Bᵀ, ∂L/∂B = Aᵀ @ ∂L/∂y", [
            f"@ {_transposed(walk.expr(b, 0))} {bt}, ‖B‖ {fmt(norm(b.data))}, "
            f"out/in {ratio[0]}", f"{_transposed(walk.expr(a, 0))} @ ∂L/∂y, out/in {ratio[1]}"]
    if op in _LOCAL:
        factor, local, bound = _LOCAL[op]
        m = fmt(np.mean(local(y, ps[0].data)))
        return f"{type(n._ctx).symbol}: ∂L/∂x = ∂L/∂y · {factor}   {bound}, here mean {m}", \
            [f"· {factor}, mean {m}, out/in {ratio[0]}"]
    if op == "pow":
        p = s.saved[1] if isinstance(s.saved, tuple) else "p"
        return f"pow: ∂L/∂x = ∂L/∂y · p·x^(p−1)   p = {p}", [f"· {p}·x^({p}−1), out/in {ratio[0]}"]
    if op in ("sum", "mean"):
        k = ps[0].data.size // max(y.size, 1)
        if op == "sum":
            return f"Σ copies ∂L/∂y to each of the {k} summed elements", ["copied"]
        return f"mean: hands ∂L/∂y / {k} to each of the {k} averaged elements", [f"/ {k}"]
    if op in ("getitem", "chunk"):
        where = _index(s.saved)
        return (f"{op}: ∂L/∂y goes back to the entries [{where}] of zeros shaped "
                f"{tuple(ps[0].shape)}; the rest get 0 from here"), [f"into [{where}]"]
    return f"{op}: the op's own backward", [""] * len(ps)


def _broadcast_note(s):
    """What the rule line adds when an input was broadcast: its gradient is summed back."""
    if any(pg is not None and pg.shape != s.node.shape for pg in s.parent_grads):
        return " (summed over the axes it was broadcast along)"
    return ""


def _transposed(e):
    """The formula of Bᵀ given B's: `W_hhᵀ` -> `W_hh`, `h` -> `hᵀ`."""
    return e[:-1] if e.endswith("ᵀ") else (f"({e})ᵀ" if " " in e else e + "ᵀ")
