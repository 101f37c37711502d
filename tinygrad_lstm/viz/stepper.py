"""The backprop stepper: one terminal screen per node of the real backward walk.

    from tinygrad_lstm.viz.stepper import step
    steps = step(loss)          # runs loss.backward() once, then lets you walk through it

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
DECADES = 12    # the log scale of the bars spans at most this many powers of ten
MAX_OUT = 6     # parents listed one per row; the rest are counted


def fmt(x):
    """How every number on screen is written (3 significant digits)."""
    return f"{float(x):.3g}"


def norm(a):
    return float(np.linalg.norm(a))


def preview(a, n=4):
    """The first n values of an array, e.g. `[0.031 -0.118 0.007 0.2 …]`."""
    flat = np.asarray(a).reshape(-1)
    body = " ".join(fmt(v) for v in flat[:n])
    return f"[{body}{' …' if flat.size > n else ''}]"


@dataclass
class Step:
    """One node of the walk: the gradient that reached it (∂L/∂node) and the ones it handed
    each parent (None where a parent needs none; empty at a leaf)."""

    index: int
    node: object
    grad: np.ndarray
    parent_grads: tuple
    saved: object  # what the op saved for its backward (the walk frees the op's own copy)


class Walk:
    """A recorded backward walk plus what the screens need: consumers of each node, the
    cell-state path, and ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ in the order the walk reached them."""

    def __init__(self, steps, params=None):
        self.steps = steps
        self.index = {id(s.node): s.index for s in steps}
        self.names = _param_names(params)
        self.children = {}
        for s in steps:
            for p in s.node.parents:
                self.children.setdefault(id(p), []).append(s.index)
        self.path = _cell_path(steps)
        self.states = {}  # (layer, direction) -> [(index, name, t, norm)]
        for s in steps:
            sc = s.node.scope or {}
            if s.node.name in ("h", "c") and "t" in sc:
                key = (sc.get("layer"), sc.get("direction"))
                self.states.setdefault(key, []).append((s.index, s.node.name, sc["t"],
                                                        norm(s.grad)))
        self.multi = len(self.states) > 1

    def __len__(self):
        return len(self.steps)

    def on_path(self, t):
        return id(t) in self.path

    # --- names ---------------------------------------------------------------------------
    def label(self, t):
        """`c[t=2]` (with `l=1` and `rev` when several layers or directions are recorded),
        a parameter's name, or None for an unnamed tensor."""
        if id(t) in self.names:
            return self.names[id(t)]
        if t.name is None:
            return None
        sc = t.scope or {}
        bits = []
        if self.multi and "layer" in sc:
            bits.append(f"l={sc['layer']}")
        if sc.get("direction"):
            bits.append("rev")
        if "t" in sc:
            bits.append(f"t={sc['t']}")
        return f"{t.name}[{','.join(bits)}]" if bits else t.name

    def expr(self, t, depth=2, named=True, outer=0):
        """A short formula for a tensor: its label, or its op applied to its parents'
        formulas `depth` levels down, e.g. `f[t=2] × c[t=1]` (named=False: even if named).
        `outer` is the precedence of the operator around it (for parentheses)."""
        lab = self.label(t)
        if lab is not None and (named or t.is_leaf):
            return lab
        if t.is_leaf:
            return f"leaf {tuple(t.shape)}" if t.requires_grad else f"const {tuple(t.shape)}"
        op, sym, ps = t.op, type(t._ctx).symbol, t.parents
        if op == "transpose" and self.label(ps[0]) is not None:
            return self.label(ps[0]) + "ᵀ"
        if depth <= 0:
            return "…"
        if op in _PREC:
            a, b = (self.expr(p, depth - 1, outer=_PREC[op] + (j == 1)) for j, p in enumerate(ps))
            body = f"{a} {sym} {b}"
            return f"({body})" if _PREC[op] < outer else body
        if op in ("stack", "cat"):
            inner = [self.expr(p, depth - 1) for p in (ps if len(ps) <= 2 else (ps[0], ps[-1]))]
            return f"{op}({', '.join(inner) if len(ps) <= 2 else ' … '.join(inner)})"
        if op in ("getitem", "chunk", "transpose", "neg"):
            # a gate's chunk costs no depth: `σ((…[2] + h[t=2] @ W_hhᵀ)[:,3:6])`
            base = self.expr(ps[0], depth - (op != "chunk"), outer=9)
            if op == "neg":
                return f"−{base}"
            if op == "transpose":
                return f"{base}ᵀ"
            k = self.index.get(id(t))
            return f"{base}[{_index_str(None if k is None else self.steps[k].saved)}]"
        return f"{sym}({self.expr(ps[0], depth - 1)})"


_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2}


def _param_names(params):
    """{id(tensor): name} from a dict, a Module or (name, tensor) pairs; {} for None."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    elif isinstance(params, dict):
        params = params.items()
    return {id(p): name for name, p in params}


def _cell_path(steps):
    """ids of the tensors on the cell-state path: every named `c`, and the unnamed nodes that
    lie between a `c` and an earlier `c` without passing another named tensor (LSTM:
    c[t] = add → mul(f, c[t−1]) → c[t−1])."""
    down = {}  # unnamed node -> reaches a named c through unnamed nodes
    for s in reversed(steps):  # parents before consumers
        n = s.node
        if not n.is_leaf and n.name is None:
            down[id(n)] = any(p.name == "c" or (p.name is None and down.get(id(p), False))
                              for p in n.parents)
    up = set()  # unnamed nodes reached from a named c through unnamed nodes
    path = set()
    for s in steps:  # consumers before parents
        n = s.node
        if n.name == "c" or id(n) in up:
            if n.name == "c":
                path.add(id(n))
            elif down.get(id(n)):
                path.add(id(n))
            for p in n.parents:
                if p.name is None:
                    up.add(id(p))
                elif p.name == "c":
                    path.add(id(p))
    return path


def _index_str(saved):
    index = saved[1] if isinstance(saved, tuple) and len(saved) == 3 else None
    if index is None:
        return "…"
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if isinstance(i, slice):
            out.append(f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}")
        elif i is Ellipsis:
            out.append("…")
        elif isinstance(i, (int, np.integer)):
            out.append(str(int(i)))
        else:
            out.append("·")
    return ",".join(out)


def record(loss, params=None):
    """Run `loss.backward()` once, recording every step of the walk; returns a `Walk`.
    Afterwards `.grad` is exactly what a plain `loss.backward()` leaves (the observer only
    reads). `params` (a Module, a dict or (name, tensor) pairs) names the leaves."""
    steps = []

    def on_step(node, grad, parent_grads):
        ctx = node._ctx
        steps.append(Step(len(steps), node, grad, parent_grads,
                          None if ctx is None else ctx.saved))

    loss.backward(on_step=on_step)
    return Walk(steps, params)


# ---------------------------------------------------------------------------------------------
# The local rule of each op, with this node's numbers


def rule(walk, s):
    """(the rule line, one short "how" per parent) for step `s`."""
    n, op = s.node, s.node.op
    ps = n.parents
    how = [""] * len(ps)
    if op is None:
        return "leaf: ∂L/∂x accumulates into .grad", how
    y = n.data
    if op == "add":
        how = ["unchanged" if p.shape == n.shape else f"summed to {tuple(p.shape)}" for p in ps]
        extra = "" if all(h == "unchanged" for h in how) else \
            " (summed over the axes an input was broadcast along)"
        return "+ hands ∂L/∂y to each input unchanged" + extra, how
    if op == "sub":
        how = ["unchanged", "negated"]
        return "− hands ∂L/∂y to the left input and −∂L/∂y to the right", how
    if op == "mul":
        for j, p in enumerate(ps):
            other = ps[1 - j]
            how[j] = f"· {walk.expr(other)}, mean {fmt(np.mean(other.data))}"
        return "× scales ∂L/∂y by the other input: ∂L/∂a = ∂L/∂y · b, ∂L/∂b = ∂L/∂y · a", how
    if op == "div":
        a, b = ps
        how = [f"/ {walk.expr(b)}, mean {fmt(np.mean(b.data))}", "· (−a / b²)"]
        return "÷: ∂L/∂a = ∂L/∂y / b, ∂L/∂b = −∂L/∂y · a / b²", how
    if op == "matmul":
        a, b = ps
        for j, pg in enumerate(s.parent_grads):
            if pg is not None:
                ratio = fmt(norm(pg) / norm(s.grad)) if norm(s.grad) else "—"
                how[j] = (f"@ {_transposed(walk.expr(b, 0))} {tuple(b.shape[::-1])}, "
                          f"‖B‖ {fmt(norm(b.data))}, "
                          f"out/in {ratio}" if j == 0 else
                          f"{walk.expr(a, 0)}ᵀ @ ∂L/∂y, out/in {ratio}")
        return "@: ∂L/∂A = ∂L/∂y @ Bᵀ, ∂L/∂B = Aᵀ @ ∂L/∂y", how
    if op == "tanh":
        m = fmt(np.mean(1.0 - y * y))
        return f"tanh: ∂L/∂x = ∂L/∂y · (1 − y²)   1 − y² ≤ 1, here mean {m}", \
            [f"· (1 − y²), mean {m}"]
    if op == "sigmoid":
        m = fmt(np.mean(y * (1.0 - y)))
        return f"σ: ∂L/∂x = ∂L/∂y · σ(1 − σ)   σ(1 − σ) ≤ 0.25, here mean {m}", \
            [f"· σ(1 − σ), mean {m}"]
    if op == "relu":
        on = int(np.count_nonzero(ps[0].data > 0))
        return f"relu: ∂L/∂x = ∂L/∂y · [x > 0]   {on} of {ps[0].data.size} pass", \
            [f"{on} of {ps[0].data.size} pass"]
    if op == "exp":
        m = fmt(np.mean(y))
        return f"exp: ∂L/∂x = ∂L/∂y · eˣ   here mean eˣ {m}", [f"· eˣ, mean {m}"]
    if op == "log":
        m = fmt(np.mean(1.0 / ps[0].data))
        return f"log: ∂L/∂x = ∂L/∂y / x   here mean 1/x {m}", [f"· 1/x, mean {m}"]
    if op == "pow":
        p = s.saved[1] if isinstance(s.saved, tuple) else "p"
        return f"pow: ∂L/∂x = ∂L/∂y · p·x^(p−1)   p = {p}", [f"· {p}·x^{p}−1"]
    if op == "neg":
        return "−: hands −∂L/∂y to its input", ["negated"]
    if op in ("sum", "mean"):
        k = ps[0].data.size // max(y.size, 1)
        if op == "sum":
            return f"Σ copies ∂L/∂y to each of the {k} summed elements", ["copied"]
        return f"mean: hands ∂L/∂y / {k} to each of the {k} averaged elements", [f"/ {k}"]
    if op == "max":
        return "max: routes ∂L/∂y to the maximum (shared among ties); the rest get 0", \
            ["to the max"]
    if op == "reshape":
        return f"reshape: lays ∂L/∂y back out in the input's shape {tuple(ps[0].shape)}", \
            ["reshaped"]
    if op == "transpose":
        return "ᵀ: transposes ∂L/∂y back", ["transposed"]
    if op in ("getitem", "chunk"):
        where = _index_str(s.saved)
        return (f"{op}: ∂L/∂y goes into slice [{where}] of zeros shaped "
                f"{tuple(ps[0].shape)}; the rest get 0 from here"), [f"into [{where}]"]
    if op in ("cat", "stack"):
        return f"{op}: hands each input its own slice of ∂L/∂y", ["its slice"] * len(ps)
    return f"{op}: the op's own backward", how


# ---------------------------------------------------------------------------------------------
# Builders: each returns a rich renderable for step k of a walk


def _transposed(e):
    """The formula of Bᵀ given B's: `W_hhᵀ` -> `W_hh`, `h` -> `hᵀ`."""
    return e[:-1] if e.endswith("ᵀ") else (f"({e})ᵀ" if " " in e else e + "ᵀ")


def _scope_str(t):
    sc = t.scope or {}
    bits = [f"{k} {v}" for k, v in sc.items()]
    return " · ".join(bits)


def make_node_table(walk, k):
    """node / rule / in / out rows: what this node is, its local rule with this node's
    numbers, ∂L/∂y and what it hands each parent (shape, norm, first values, how)."""
    s = walk.steps[k]
    n = s.node
    text, how = rule(walk, s)
    lab = walk.label(n)
    head = Text(walk.expr(n, 3, named=False) if lab is None or n.is_leaf
                else f"{lab} = {walk.expr(n, 3, named=False)}", style="bold")
    facts = [f"op {n.op} ({type(n._ctx).symbol})" if n._ctx else "leaf", _scope_str(n)]
    info = Text("   ".join(f for f in facts if f), style="dim")
    if walk.on_path(n):
        info.append("   ━ cell path", style="bold red")
    top = Table.grid(padding=(0, 1))
    top.add_column(width=6)
    top.add_column(ratio=1)
    top.add_row("node", head)
    top.add_row("", info)
    top.add_row("rule", Text(text, style="cyan"))
    io = Table.grid(padding=(0, 1))
    io.add_column(width=6)
    io.add_column(max_width=30, overflow="fold")                # tensor
    io.add_column(no_wrap=True)                                 # shape
    io.add_column(no_wrap=True)                                 # norm
    io.add_column(ratio=1)                                      # values and how
    io.add_row("in", Text(f"∂L/∂{lab or 'y'}"), str(tuple(s.grad.shape)),
               f"‖·‖ {fmt(norm(s.grad))}", Text(preview(s.grad)))
    parents = n.parents
    for j, p in enumerate(parents[:MAX_OUT]):
        pg = s.parent_grads[j] if j < len(s.parent_grads) else None
        arrow = "out →" if j == 0 else "    →"
        if pg is None:
            io.add_row(arrow, Text(walk.expr(p)), str(tuple(p.shape)), "—",
                       Text("needs no gradient", style="dim"))
            continue
        values = Text(preview(pg))
        if how[j]:
            values.append(f"  {how[j]}", style="cyan")
        if walk.on_path(n) and walk.on_path(p):
            values.append("  ━ cell path", style="bold red")
        io.add_row(arrow, Text(walk.expr(p)), str(tuple(pg.shape)), f"‖·‖ {fmt(norm(pg))}",
                   values)
    if len(parents) > MAX_OUT:
        io.add_row("", f"… and {len(parents) - MAX_OUT} more inputs", "", "", "")
    return Group(top, io)


def _focus(walk, k):
    """The (layer, direction) group the timestep panel shows at step k."""
    sc = walk.steps[k].node.scope or {}
    key = (sc.get("layer"), sc.get("direction"))
    if key in walk.states:
        return key
    return next(iter(walk.states), None)


def _bar(x, lo, hi):
    if x == 0:
        return "", "0"
    if hi <= lo:
        w = BAR
    else:
        w = 1 + round((np.log10(x) - lo) / (hi - lo) * (BAR - 1))
    return "█" * max(1, min(BAR, w)), f"{x:.2e}"


def make_timestep_panel(walk, k, max_rows=None):
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ for every timestep of the current layer, as far as the walk has
    reached them by step k (bars on one log scale fixed for the whole walk); None when the
    graph has no named h or c."""
    key = _focus(walk, k)
    if key is None:
        return None
    entries = walk.states[key]
    names = [nm for nm in ("h", "c") if any(e[1] == nm for e in entries)]
    nonzero = [e[3] for e in entries if e[3] > 0]
    hi = np.log10(max(nonzero)) if nonzero else 0.0
    lo = min(max(np.log10(min(nonzero)), hi - DECADES), hi - 3) if nonzero else 0.0
    reached = {(e[1], e[2]): e[3] for e in entries if e[0] <= k}
    ts = sorted({e[2] for e in entries}, reverse=True)
    here = (walk.steps[k].node.scope or {}).get("t")
    tab = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    tab.add_column("t", justify="right")
    for nm in names:
        tab.add_column(f"‖∂L/∂{nm}_t‖", min_width=BAR, no_wrap=True)
        tab.add_column("", justify="right", min_width=8, no_wrap=True)
    tab.add_column("")
    if max_rows is not None and len(ts) > max_rows:
        centre = ts.index(here) if here in ts else max(
            (ts.index(t) for (_, t) in reached), default=0)
        start = min(max(0, centre - max_rows // 2), len(ts) - max_rows)
        above, shown, below = start, ts[start:start + max_rows], len(ts) - start - max_rows
    else:
        above, shown, below = 0, ts, 0
    if above:
        tab.add_row("⋮", f"{above} later timesteps", *[""] * (2 * len(names) - 1), "")
    for t in shown:
        cells = []
        for nm in names:
            if (nm, t) in reached:
                bar, val = _bar(reached[(nm, t)], lo, hi)
                cells += [Text(bar, style="green"), val]
            else:
                cells += [Text("·", style="dim"), Text("not yet", style="dim")]
        tab.add_row(str(t), *cells, "← here" if t == here else "")
    if below:
        tab.add_row("⋮", f"{below} earlier timesteps", *[""] * (2 * len(names) - 1), "")
    return tab


def make_where(walk, k, limit=4):
    """Where the node sits: its inputs (parents) and consumers, cell-state path marked."""
    s = walk.steps[k]
    n = s.node

    def items(tensors, edge):
        out = []
        for t in tensors[:limit]:
            e = walk.expr(t)
            out.append(f"{e} (cell path)" if edge(t) else e)
        if len(tensors) > limit:
            out.append(f"… {len(tensors) - limit} more")
        return ", ".join(out) or "none"

    on = walk.on_path(n)
    consumers = [walk.steps[i].node for i in walk.children.get(id(n), [])]
    text = Text()
    text.append("inputs: ", style="bold")
    text.append(items(list(n.parents), lambda p: on and walk.on_path(p)) if n.parents
                else "none (a leaf: its gradient goes to .grad)")
    text.append("\nconsumers: ", style="bold")
    text.append(items(consumers, lambda c: on and walk.on_path(c))
                if consumers else "none (the loss)" if k == 0 else "none")
    return text


def make_step_panel(walk, k, title=None, controls=True, max_rows=None, message=None):
    """The whole screen for step k (0-based) of a walk, as one Panel."""
    parts = [make_node_table(walk, k)]
    timesteps = make_timestep_panel(walk, k, max_rows)
    if timesteps is not None:
        key = _focus(walk, k)
        which = "" if not walk.multi else f" · layer {key[0]}" + (" reverse" if key[1] else "")
        parts += [Rule(Text(f"gradient that has reached each timestep{which} (log scale)"),
                       style="dim"), timesteps]
    parts += [Rule("where", style="dim"), make_where(walk, k)]
    if message:
        parts.append(Text(message, style="yellow"))
    head = Text("backprop" + (f" · {title}" if title else "") + f" · node {k + 1} of {len(walk)}")
    return Panel(Group(*parts), title=head, title_align="left",
                 subtitle=Text(CONTROLS) if controls else None, subtitle_align="left")


# ---------------------------------------------------------------------------------------------
# Navigation and the thin loops


def navigate(walk, k, command):
    """(new k, message) for a command typed at step k; new k is None to quit.
    ⏎ or n next (quits after the last), b back, t N first node of timestep N, p next node on
    the cell-state path, c the last node, g N node N, q quit."""
    cmd = command.strip().lower()
    last = len(walk) - 1
    if cmd in ("", "n"):
        return (k + 1, None) if k < last else (None, None)
    if cmd == "b":
        return max(k - 1, 0), None if k else "already at the first node"
    if cmd == "c":
        return last, None
    if cmd == "q":
        return None, None
    if cmd == "p":
        nxt = next((s.index for s in walk.steps[k + 1:] if walk.on_path(s.node)), None)
        return (nxt, None) if nxt is not None else (k, "no further node on the cell path")
    word, _, arg = cmd.partition(" ")
    if word in ("t", "g") and arg.strip().lstrip("-").isdigit():
        v = int(arg)
        if word == "g":
            return (v - 1, None) if 1 <= v <= len(walk) else (k, f"no node {v}")
        key = _focus(walk, k)
        hits = [s.index for s in walk.steps if (s.node.scope or {}).get("t") == v]
        same = [i for i in hits if _focus(walk, i) == key]
        if hits:
            return (same or hits)[0], None
        return k, f"no node at timestep {v}"
    return k, f"unknown command {command.strip()!r} ({CONTROLS})"


def _budget(console, walk, k):
    """Timestep rows that fit the terminal around the rest of the screen."""
    outs = min(len(walk.steps[k].node.parents), MAX_OUT + 1)
    return max(3, console.size.height - 15 - outs)


def step(loss, *, console=None, interactive=None, auto=None, no_pause=False, title=None,
         params=None):
    """Step through `loss`'s backward pass, one screen per node.

    Runs `loss.backward()` itself (once) and records the walk; the screens only read that
    record, so `.grad` ends up exactly as a plain `loss.backward()` leaves it, whatever you
    step through.

    Args:
        loss: the scalar Tensor to differentiate.
        console: a rich Console. Defaults to one on stdout.
        interactive: wait for keys. Defaults to True when stdin and the console are terminals.
        auto: play the walk as an animation, this many seconds per node.
        no_pause: print every step as text and return (as without a terminal).
        title: shown in each screen's title, e.g. "hello · LSTM".
        params: names for the leaves: a Module, a {name: tensor} dict or (name, tensor) pairs.
    Returns:
        the list of `Step`s, in walk order.
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
                    live.update(make_step_panel(walk, k, title, controls=False,
                                                max_rows=_budget(console, walk, k)),
                                refresh=True)
                    time.sleep(auto)
        except KeyboardInterrupt:
            pass
        return walk.steps
    k, message = 0, None
    while k is not None:
        console.clear()
        console.print(make_step_panel(walk, k, title, max_rows=_budget(console, walk, k),
                                      message=message))
        try:
            command = console.input("› ")
        except (EOFError, KeyboardInterrupt):
            break
        k, message = navigate(walk, k, command)
    console.print(f"stepped through the backward pass ({len(walk)} nodes); .grad is as "
                  "loss.backward() leaves it")
    return walk.steps
