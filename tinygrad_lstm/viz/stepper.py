"""The backprop stepper: one terminal screen per node of the real backward walk.

    from tinygrad_lstm.viz.stepper import step
    steps = step(loss, params=model)   # runs loss.backward() once, then walks you through it

`step` runs the engine's own `backward(on_step=...)` once and records, for every node in walk
order, the gradient that reached it and the ones it handed its parents. The screens only read
that record, so going back and forth can never change a number, and afterwards every `.grad`
is exactly what `loss.backward()` leaves. The UI is pure builders (`make_step_panel`,
`make_node_table`, `make_timestep_panel`, `make_where`) around a thin loop.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

CONTROLS = "⏎/n next · b back · t N timestep · p next on cell path · c to end · q quit"
BAR = 16        # characters of the longest bar in the timestep panel
DECADES = 12    # the bars' log scale spans at least 3 and at most 12 powers of ten
MAX_OUT = 6     # parents listed one per row; the rest are counted
PATH = "━ cell path"


def fmt(x):
    """How every number on screen is written (3 significant digits)."""
    return f"{float(x):.3g}"


def norm(a):
    return float(np.linalg.norm(a))


def preview(a, n=4):
    """The first n values of an array, e.g. `[0.031 -0.118 0.007 0.2 …]`."""
    flat = np.asarray(a).reshape(-1)
    return f"[{' '.join(fmt(v) for v in flat[:n])}{' …' if flat.size > n else ''}]"


@dataclass
class Step:
    """One node of the walk: the gradient that reached it (∂L/∂node) and the ones it handed
    each parent (None where a parent needs none; empty at a leaf)."""

    index: int
    node: object
    grad: np.ndarray
    parent_grads: tuple
    saved: object  # what the op saved for its backward (the walk frees the op's own copy)


def record(loss, params=None):
    """Run `loss.backward()` once, recording every step of the walk; returns a `Walk`.
    Afterwards `.grad` is exactly what a plain `loss.backward()` leaves (the observer only
    reads). `params` (a Module, a {name: tensor} dict or pairs) names the leaves."""
    steps = []

    def on_step(node, grad, parent_grads):
        ctx = node._ctx
        steps.append(Step(len(steps), node, grad, parent_grads, ctx and ctx.saved))

    loss.backward(on_step=on_step)
    return Walk(steps, params)


class Walk:
    """A recorded walk plus what the screens need: each node's consumers, the cell-state
    path, and ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ per (layer, direction) in the order the walk reached them."""

    def __init__(self, steps, params=None):
        self.steps = steps
        self.index = {id(s.node): s.index for s in steps}
        if hasattr(params, "named_parameters"):
            params = params.named_parameters()
        self.names = {id(p): k for k, p in (params.items() if isinstance(params, dict)
                                             else params or ())}
        self.children = {}
        for s in steps:
            for p in s.node.parents:
                self.children.setdefault(id(p), []).append(s.index)
        self.path = _cell_path(steps)
        self.states = {}  # (layer, direction) -> [(index, name, t, norm)]
        for s in steps:
            sc = s.node.scope or {}
            if s.node.name in ("h", "c") and "t" in sc:
                self.states.setdefault((sc.get("layer"), sc.get("direction")), []).append(
                    (s.index, s.node.name, sc["t"], norm(s.grad)))
        self.multi = len(self.states) > 1

    def __len__(self):
        return len(self.steps)

    def on_path(self, t):
        return id(t) in self.path

    def label(self, t):
        """`c[t=2]` (with `l=1`, `rev` when several layers or directions are recorded), a
        parameter's name, or None for an unnamed tensor."""
        if id(t) in self.names:
            return self.names[id(t)]
        if t.name is None:
            return None
        sc = t.scope or {}
        bits = ([f"l={sc['layer']}"] if self.multi and "layer" in sc else []) + \
            (["rev"] if sc.get("direction") else []) + ([f"t={sc['t']}"] if "t" in sc else [])
        return f"{t.name}[{','.join(bits)}]" if bits else t.name

    def expr(self, t, depth=2, named=True, outer=0):
        """A short formula for a tensor: its label, or its op applied to its parents'
        formulas `depth` levels down, e.g. `f[t=2] × c[t=1]` (named=False: even if named).
        `outer` is the precedence of the operator around it (for parentheses)."""
        lab = self.label(t)
        if lab is not None and (named or t.is_leaf):
            return lab
        if t.is_leaf:
            return f"{'leaf' if t.requires_grad else 'const'} {tuple(t.shape)}"
        op, sym, ps = t.op, type(t._ctx).symbol, t.parents
        if op == "transpose" and self.label(ps[0]) is not None:
            return self.label(ps[0]) + "ᵀ"
        if depth <= 0:
            return "…"
        if op in _PREC:
            a, b = (self.expr(p, depth - 1, outer=_PREC[op] + j) for j, p in enumerate(ps))
            return f"({a} {sym} {b})" if _PREC[op] < outer else f"{a} {sym} {b}"
        if op in ("stack", "cat"):
            inner = [self.expr(p, depth - 1) for p in (ps if len(ps) <= 2 else (ps[0], ps[-1]))]
            return f"{op}({', '.join(inner) if len(ps) <= 2 else ' … '.join(inner)})"
        if op in ("getitem", "chunk", "transpose", "neg"):
            # a gate's chunk costs no depth: `σ((…[2] + h[t=2] @ W_hhᵀ)[:,3:6])`
            base = self.expr(ps[0], depth - (op != "chunk"), outer=9)
            if op in ("neg", "transpose"):
                return f"−{base}" if op == "neg" else f"{base}ᵀ"
            return f"{base}[{_index(self.steps[self.index[id(t)]].saved)}]" \
                if id(t) in self.index else f"{base}[…]"
        return f"{sym}({self.expr(ps[0], depth - 1)})"


_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2}


def _cell_path(steps):
    """ids of the tensors on the cell-state path: every named `c`, and the unnamed nodes that
    lie between a `c` and an earlier `c` without passing another named tensor (LSTM:
    c[t] = add → mul(f, c[t−1]) → c[t−1])."""
    down = {}  # unnamed node -> reaches a named c through unnamed nodes only
    for s in reversed(steps):  # parents before consumers
        n = s.node
        if n.name is None and not n.is_leaf:
            down[id(n)] = any(p.name == "c" or (p.name is None and down.get(id(p)))
                              for p in n.parents)
    up, path = set(), set()  # up: unnamed nodes reached from a named c through unnamed ones
    for s in steps:  # consumers before parents
        n = s.node
        if n.name == "c" or id(n) in up:
            if n.name == "c" or down.get(id(n)):
                path.add(id(n))
            for p in n.parents:
                if p.name is None:
                    up.add(id(p))
                elif p.name == "c":
                    path.add(id(p))
    return path


def _index(saved):
    """A getitem's index as short text: `:,3:6`, `2`, `·` for an array index."""
    index = saved[1] if isinstance(saved, tuple) and len(saved) == 3 else ...
    out = []
    for i in index if isinstance(index, tuple) else (index,):
        if isinstance(i, slice):
            out.append(f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}")
        else:
            out.append("…" if i is Ellipsis else str(int(i))
                       if isinstance(i, (int, np.integer)) else "·")
    return ",".join(out)


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
    if op in _FIXED:
        return _FIXED[op][0], [_FIXED[op][1]] * len(ps)
    if op in ("add", "sub"):
        how = ["unchanged" if p.shape == n.shape else f"summed to {tuple(p.shape)}" for p in ps]
        if op == "sub":
            how[1] = "negated" if ps[1].shape == n.shape else f"negated, {how[1]}"
        text = "+ hands ∂L/∂y to each input unchanged" if op == "add" else \
            "− hands ∂L/∂y to the left input and −∂L/∂y to the right"
        broadcast = any(pg is not None and pg.shape != n.shape for pg in s.parent_grads)
        return text + (" (summed over the axes it was broadcast along)" if broadcast else ""), how
    if op == "mul":
        return ("× scales ∂L/∂y by the other input: ∂L/∂a = ∂L/∂y · b, ∂L/∂b = ∂L/∂y · a",
                [f"· {walk.expr(o)}, mean {fmt(np.mean(o.data))}" for o in ps[::-1]])
    if op == "div":
        return ("÷: ∂L/∂a = ∂L/∂y / b, ∂L/∂b = −∂L/∂y · a / b²",
                [f"/ {walk.expr(ps[1])}, mean {fmt(np.mean(ps[1].data))}", "· (−a / b²)"])
    if op == "matmul":
        (a, b), g = ps, norm(s.grad)
        ratio = [fmt(norm(pg) / g) if pg is not None and g else "—" for pg in s.parent_grads]
        return "@: ∂L/∂A = ∂L/∂y @ Bᵀ, ∂L/∂B = Aᵀ @ ∂L/∂y", [
            f"@ {_transposed(walk.expr(b, 0))} {tuple(b.shape[::-1])}, ‖B‖ {fmt(norm(b.data))}, "
            f"out/in {ratio[0]}", f"{_transposed(walk.expr(a, 0))} @ ∂L/∂y, out/in {ratio[1]}"]
    if op in _LOCAL:
        factor, local, bound = _LOCAL[op]
        m = fmt(np.mean(local(y, ps[0].data)))
        return f"{type(n._ctx).symbol}: ∂L/∂x = ∂L/∂y · {factor}   {bound}, here mean {m}", \
            [f"· {factor}, mean {m}"]
    if op == "pow":
        p = s.saved[1] if isinstance(s.saved, tuple) else "p"
        return f"pow: ∂L/∂x = ∂L/∂y · p·x^(p−1)   p = {p}", [f"· {p}·x^({p}−1)"]
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


def _transposed(e):
    """The formula of Bᵀ given B's: `W_hhᵀ` -> `W_hh`, `h` -> `hᵀ`."""
    return e[:-1] if e.endswith("ᵀ") else (f"({e})ᵀ" if " " in e else e + "ᵀ")


# ---------------------------------------------------------------------------------------------
# Builders: each returns a rich renderable for step k (0-based) of a walk


def make_node_table(walk, k, max_out=MAX_OUT):
    """node / rule / in / out rows: what this node is, its local rule with this node's
    numbers, ∂L/∂y and what it hands each parent (shape, norm, first values, how)."""
    s = walk.steps[k]
    n, lab = s.node, walk.label(s.node)
    text, how = rule(walk, s)
    formula = walk.expr(n, 3, named=False)
    head = Text(formula if lab is None or n.is_leaf else f"{lab} = {formula}", style="bold")
    facts = [f"op {n.op} ({type(n._ctx).symbol})" if n._ctx else "leaf"]
    facts += [" · ".join(f"{key} {v}" for key, v in (n.scope or {}).items())]
    info = Text("   ".join(f for f in facts if f), style="dim")
    if walk.on_path(n):
        info.append(f"   {PATH}", style="bold red")
    top = Table.grid(padding=(0, 1))
    top.add_column(width=6)
    top.add_column(ratio=1)
    for row in (("node", head), ("", info), ("rule", Text(text, style="cyan"))):
        top.add_row(*row)
    io = Table.grid(padding=(0, 1))
    io.add_column(width=6)
    io.add_column(max_width=30, overflow="fold")    # tensor
    io.add_column(no_wrap=True)                     # shape
    io.add_column(no_wrap=True)                     # norm
    io.add_column(ratio=1)                          # first values and how
    io.add_row("in", Text(f"∂L/∂{lab or 'y'}"), str(tuple(s.grad.shape)),
               f"‖·‖ {fmt(norm(s.grad))}", Text(preview(s.grad)))
    for j, p in enumerate(n.parents[:max_out]):
        pg, arrow = s.parent_grads[j], "out →" if j == 0 else "    →"
        if pg is None:
            io.add_row(arrow, Text(walk.expr(p)), str(tuple(p.shape)), "—",
                       Text("needs no gradient", style="dim"))
            continue
        values = Text(preview(pg))
        values.append(f"  {how[j]}" if how[j] else "", style="cyan")
        if walk.on_path(n) and walk.on_path(p):
            values.append(f"  {PATH}", style="bold red")
        io.add_row(arrow, Text(walk.expr(p)), str(tuple(pg.shape)), f"‖·‖ {fmt(norm(pg))}",
                   values)
    if len(n.parents) > max_out:
        io.add_row("", f"… and {len(n.parents) - max_out} more inputs", "", "", "")
    return Group(top, io)


def _focus(walk, k):
    """The (layer, direction) whose timesteps the panel shows at step k."""
    sc = walk.steps[k].node.scope or {}
    key = (sc.get("layer"), sc.get("direction"))
    return key if key in walk.states else next(iter(walk.states), None)


def make_timestep_panel(walk, k, max_rows=None):
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ for every timestep of the current layer, as far as the walk has
    reached them by step k, as bars on one log scale fixed for the whole walk; a window of
    `max_rows` timesteps around the current one. None when no h or c is named."""
    key = _focus(walk, k)
    if key is None:
        return None
    entries = walk.states[key]
    names = [nm for nm in ("h", "c") if any(e[1] == nm for e in entries)]
    logs = [np.log10(e[3]) for e in entries if e[3] > 0] or [0.0]
    hi = max(logs)
    lo = min(max(min(logs), hi - DECADES), hi - 3)
    reached = {(e[1], e[2]): e[3] for e in entries if e[0] <= k}
    ts = sorted({e[2] for e in entries}, reverse=True)
    here = (walk.steps[k].node.scope or {}).get("t")
    start, stop = 0, len(ts)
    if max_rows is not None and len(ts) > max_rows:
        centre = ts.index(here) if here in ts else max(
            (ts.index(t) for _, t in reached), default=0)
        start = min(max(0, centre - max_rows // 2), len(ts) - max_rows)
        stop = start + max_rows
    tab = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    tab.add_column("t", justify="right")
    for nm in names:
        tab.add_column(f"‖∂L/∂{nm}_t‖", min_width=BAR, no_wrap=True)
        tab.add_column("", justify="right", min_width=8, no_wrap=True)
    tab.add_column("")
    blank = [""] * (2 * len(names))
    if start:
        tab.add_row("⋮", f"{start} later timesteps", *blank)
    for t in ts[start:stop]:
        cells = []
        for nm in names:
            x = reached.get((nm, t))
            if x is None:
                cells += [Text("·", style="dim"), Text("not yet", style="dim")]
            else:
                w = 0 if x == 0 else 1 + round((np.log10(x) - lo) / (hi - lo) * (BAR - 1))
                cells += [Text("█" * min(BAR, max(w, x > 0)), style="green"), f"{x:.2e}"]
        tab.add_row(str(t), *cells, "← here" if t == here else "")
    if stop < len(ts):
        tab.add_row("⋮", f"{len(ts) - stop} earlier timesteps", *blank)
    return tab


def make_where(walk, k, limit=4):
    """Where the node sits: its inputs (parents) and consumers, the cell-state path marked."""
    n = walk.steps[k].node
    on = walk.on_path(n)

    def items(tensors):
        out = [walk.expr(t) + (" (cell path)" if on and walk.on_path(t) else "")
               for t in tensors[:limit]]
        return ", ".join(out + ([f"… {len(tensors) - limit} more"] if len(tensors) > limit
                                else []))

    consumers = [walk.steps[i].node for i in walk.children.get(id(n), [])]
    text = Text()
    text.append("inputs: ", style="bold")
    text.append(items(n.parents) if n.parents else "none (a leaf: its gradient goes to .grad)")
    text.append("\nconsumers: ", style="bold")
    text.append(items(consumers) if consumers else "none (the loss)" if k == 0 else "none")
    return text


def make_step_panel(walk, k, title=None, controls=True, max_rows=None, message=None,
                    max_out=MAX_OUT):
    """The whole screen for step k (0-based) of a walk, as one Panel."""
    parts = [make_node_table(walk, k, max_out)]
    timesteps = make_timestep_panel(walk, k, max_rows)
    if timesteps is not None:
        key = _focus(walk, k)
        which = f" · layer {key[0]}" + (" reverse" if key[1] else "") if walk.multi else ""
        parts += [Rule(Text(f"gradient that has reached each timestep{which} (log scale)"),
                       style="dim"), timesteps]
    parts += [Rule("where", style="dim"), make_where(walk, k)]
    if message:
        parts.append(Text(message, style="yellow"))
    head = Text("backprop" + (f" · {title}" if title else "") + f" · node {k + 1} of {len(walk)}")
    return Panel(Group(*parts), title=head, title_align="left",
                 subtitle=Text(CONTROLS) if controls else None, subtitle_align="left")


def fit_step_panel(console, walk, k, **kw):
    """make_step_panel with as many timestep rows as leave the screen (and a prompt line)
    inside the console's height."""
    room = console.size.height - 1
    for max_out in (MAX_OUT, 2):
        rows = room
        for _ in range(2):
            panel = make_step_panel(walk, k, max_rows=rows, max_out=max_out, **kw)
            over = len(console.render_lines(panel, pad=False)) - room
            if over <= 0:
                return panel
            rows = max(2, rows - over - 2)
    return panel  # the smallest we can make it; the terminal scrolls


# ---------------------------------------------------------------------------------------------
# Navigation and the thin loops


def navigate(walk, k, command):
    """(new k, message) for a command typed at step k; new k is None to quit.
    ⏎ or n next (quits after the last), b back, t N first node of timestep N, p next node on
    the cell-state path, c the last node, g N node N, q quit."""
    cmd, last = command.strip().lower(), len(walk) - 1
    if cmd in ("", "n"):
        return (k + 1 if k < last else None), None
    if cmd in ("b", "c", "q"):
        return {"b": max(k - 1, 0), "c": last, "q": None}[cmd], \
            "already at the first node" if cmd == "b" and k == 0 else None
    if cmd == "p":
        nxt = next((s.index for s in walk.steps[k + 1:] if walk.on_path(s.node)), None)
        return (k, "no further node on the cell path") if nxt is None else (nxt, None)
    word, _, arg = cmd.partition(" ")
    if word in ("t", "g") and arg.strip().isdigit():
        v = int(arg)
        if word == "g":
            return (v - 1, None) if 1 <= v <= len(walk) else (k, f"no node {v}")
        hits = [s.index for s in walk.steps if (s.node.scope or {}).get("t") == v]
        same = [i for i in hits if _focus(walk, i) == _focus(walk, k)]
        return ((same or hits)[0], None) if hits else (k, f"no node at timestep {v}")
    return k, f"unknown command {command.strip()!r} ({CONTROLS})"


def step(loss, *, console=None, interactive=None, auto=None, no_pause=False, title=None,
         params=None):
    """Step through `loss`'s backward pass, one screen per node.

    Runs `loss.backward()` itself, once, and records the walk; the screens only read that
    record, so afterwards every `.grad` is exactly what a plain `loss.backward()` leaves,
    however you stepped. Keys (each followed by ⏎): ⏎ or n next, b back, t N first node of
    timestep N, p next node on the cell-state path, c last node, g N node N, q quit.

    Args:
        loss: the scalar Tensor to differentiate.
        console: a rich Console. Defaults to one on stdout.
        interactive: wait for keys. Defaults to True when stdin and the console are terminals.
        auto: play the walk as an animation, this many seconds per node. Defaults to None.
        no_pause: print every step as a text block and return (as without a terminal).
        title: shown in each screen's title, e.g. "hello · LSTM".
        params: names for the leaves: a Module, a {name: tensor} dict or (name, tensor) pairs.
    Returns:
        the list of `Step`s (node, grad, parent_grads), in walk order.
    """
    console = console or Console()
    walk = record(loss, params)
    if interactive is None:
        interactive = sys.stdin.isatty() and console.is_terminal
    if no_pause or not interactive:
        for k in range(len(walk)):
            console.print(make_step_panel(walk, k, title, controls=False, max_rows=12))
        return walk.steps
    if auto is not None:
        try:
            with Live(console=console, auto_refresh=False, vertical_overflow="crop") as live:
                for k in range(len(walk)):
                    live.update(fit_step_panel(console, walk, k, title=title, controls=False),
                                refresh=True)
                    time.sleep(auto)
        except KeyboardInterrupt:
            pass
        return walk.steps
    k, message = 0, None
    while k is not None:
        console.clear()
        console.print(fit_step_panel(console, walk, k, title=title, message=message))
        try:
            command = console.input("› ")
            if command.strip().lower() in ("t", "g"):  # `t`, ⏎, then the number
                which = "timestep" if command.strip().lower() == "t" else "node"
                command += " " + console.input(f"{which} › ")
        except (EOFError, KeyboardInterrupt):
            break
        k, message = navigate(walk, k, command)
    console.print(f"stepped through the backward pass ({len(walk)} nodes); .grad is as "
                  "loss.backward() leaves it")
    return walk.steps
