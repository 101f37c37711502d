"""The backprop stepper: one terminal screen per node of the real backward walk.

    from tinygrad_lstm.viz.stepper import step
    steps = step(loss, params=model)   # runs loss.backward() once, then walks you through it

`step` runs the engine's own `backward(on_step=...)` once and records, for every node in walk
order, the gradient that reached it and the ones it handed its parents. The screens only read
that record, so going back and forth can never change a number, and afterwards every `.grad`
is exactly what `loss.backward()` leaves. The record, and what is read from it (formulas, the
state path that `p` follows, the same one the graph's `highlight="auto"` draws, each op's
rule), is walk.py; here are the rich builders (`make_step_panel`, `make_node_table`,
`make_timestep_panel`, `make_where`) around a thin loop.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import re
import signal
import sys
import threading
import time

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..cli import isatty
from .scene import permuted
from .walk import (Step, Walk, fmt, lane_label, norm, preview, record,  # noqa: F401
                   rule)  # (re-exported)

# the key help (key_help() fills in the path)
CONTROLS = "⏎/n {next} · b back · t N to t=N · p {path} · g N node · c end · q {quit}"
SHORT_CONTROLS = ("⏎/n {next} · b · t N · p · g N · c end · q {quit}",  # narrow screens'
                  "⏎ n b t p g c · q {quit}")
BAR = 16        # characters of the longest bar in the timestep panel
DECADES = 12    # the bars' log scale spans at least 3 and at most 12 powers of ten
MAX_OUT = 6     # parents listed one per row; the rest are counted


def _op_symbol(n):
    """The op's symbol as the screen shows it: a permutation's axes for a transpose that is
    not a plain Aᵀ."""
    p = permuted(n) if n.op == "transpose" else None
    return p[1:] if p and p != "ᵀ" else type(n._ctx).symbol


def path_words(walk):
    """What the screens call the walk's state path: "c path" (an LSTM's cell state), "h path"
    (a GRU's additive h[t−1] → × z → + → h[t]), None where there is none (a plain RNN)."""
    return f"{walk.path_state} path" if walk.path_state else None


def key_help(walk, width=None, last=False):
    """The key help for this walk: `p c path` for an LSTM, `p h path` for a GRU, `p (no path
    here)` for a plain RNN (pressing p says why); shorter where `width` (the panel's) would
    cut it, so that `q quit` stays on the screen. On the `last` node ⏎ does what q does, and
    says so (it said "next", and the screen closed)."""
    nxt = walk.quit if last else "next"
    full = CONTROLS.format(next=nxt, path=path_words(walk) or "(no path here)", quit=walk.quit)
    if width is None:
        return full
    short = [h.format(next=nxt, quit=walk.quit) for h in SHORT_CONTROLS]
    return next((h for h in [full] + short if len(h) <= width - 6), short[-1])


# ---------------------------------------------------------------------------------------------
# Builders: each returns a rich renderable for step k (0-based) of a walk


def make_node_table(walk, k, max_out=MAX_OUT, compact=False):
    """node / rule / in / out rows: what this node is, its local rule with this node's
    numbers, ∂L/∂y and what it hands each parent (shape, norm, first values, how).
    `compact`: every text on one line, cut with … (for a short terminal)."""
    cut = dict(no_wrap=True, overflow="ellipsis") if compact else {}
    s = walk.steps[k]
    n, lab = s.node, walk.label(s.node)
    text, how = rule(walk, s)
    formula = walk.expr(n, 3, named=False)
    head = Text(formula if lab is None or n.is_leaf else f"{lab} = {formula}", style="bold",
                **cut)
    facts = [f"op {n.op} ({_op_symbol(n)})" if n._ctx else "leaf"]
    facts += [walk.where(n)]
    info = Text("   ".join(f for f in facts if f), style="dim", **cut)
    if walk.on_path(n):
        info.append(f"   ━ {path_words(walk)}", style="bold red")
    top = Table.grid(padding=(0, 1))
    top.add_column(width=6)
    top.add_column(ratio=1)
    for row in (("node", head), ("", info), ("rule", Text(text, style="cyan", **cut))):
        top.add_row(*row)
    # compact: the texts are cut to one line, but the tensor and values columns stay
    # collapsible (a no_wrap column is not), so that a narrow screen shrinks them, not the
    # label, shape and norm columns (rich squeezed those to nothing)
    io = Table.grid(padding=(0, 1))
    io.add_column(width=6)
    io.add_column(max_width=30, overflow="ellipsis" if compact else "fold")  # tensor
    io.add_column(no_wrap=True)                     # shape
    io.add_column(no_wrap=True)                     # norm
    io.add_column(ratio=1, overflow="ellipsis" if compact else "fold")  # values and how

    def cell(text, **style):  # a Text, cut to one line when compact
        return Text(text, **style, **cut)

    rows = [["in", cell(f"∂L/∂{lab or 'y'}"), str(tuple(s.grad.shape)),
             f"‖·‖ {fmt(norm(s.grad))}", cell(preview(s.grad))]]
    marked = False
    for j, p in enumerate(n.parents[:max_out]):
        pg, arrow = s.parent_grads[j], "out →" if j == 0 else "    →"
        if pg is None:
            rows.append([arrow, cell(walk.expr(p)), str(tuple(p.shape)), "—",
                         cell("needs no gradient", style="dim")])
            continue
        # cut to one line (compact), the factor and out/in go first, the values after
        parts = [(preview(pg), "")] + ([(how[j], "cyan")] if how[j] else [])
        values = cell("")
        for i, (text_, style) in enumerate(parts[::-1] if compact else parts):
            values.append(("  " if i else "") + text_, style=style or None)
        rows.append([arrow, cell(walk.expr(p)), str(tuple(pg.shape)), f"‖·‖ {fmt(norm(pg))}",
                     values])
        if walk.on_path(n) and walk.on_path(p):  # a column of its own: never cut at the wrap
            rows[-1].append(Text(f"━ {path_words(walk)}", style="bold red"))
            marked = True
    if marked:
        io.add_column(no_wrap=True)
    if len(n.parents) > max_out:
        rows.append(["", f"… and {len(n.parents) - max_out} more inputs", "", "", ""])
    for row in rows:
        io.add_row(*row)
    return Group(top, io)


def _focus(walk, k):
    """The lane (walk.states' key) whose timesteps the panel shows at step k."""
    return walk.focus[k]


def make_timestep_panel(walk, k, max_rows=None, width=None):
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ for every timestep of the current layer, as far as the walk has
    reached them by step k, as bars on one log scale fixed for the whole walk (every layer,
    direction and call on the same one, so that their bars compare); a window of
    `max_rows` timesteps around the current one; bars shorter than BAR where `width`
    characters would not hold them. None when no h or c is named; a Table, with a line above
    and below it counting the timesteps left out of the window."""
    key = _focus(walk, k)
    if key is None:
        return None
    entries = walk.states[key]
    names = [nm for nm in ("h", "c") if any(e[1] == nm for e in entries)]
    logs = [np.log10(e[3]) for lane in walk.states.values() for e in lane
            if 0 < e[3] < np.inf] or [0.0]  # not inf, nan
    hi = max(logs)
    lo = min(max(min(logs), hi - DECADES), hi - 3)
    reached = {(e[1], e[2]): e[3] for e in entries if e[0] <= k}
    ever = {(e[1], e[2]) for e in entries}  # the rest the walk never reaches (c[T] where the
    # loss reads h alone): "none", where "not yet" promised a gradient to the last node
    ts = sorted({e[2] for e in entries}, reverse=True)
    above, below = "later", "earlier"  # the rows cut from the window's top and bottom
    if dict(key).get("direction") == "reverse":  # in the order the walk reaches them: t = 1
        # first, the initial state (t = 0, which feeds t = T) last, beside t = T; under t = 1
        # its norm read as a drop from t = 1
        ts = sorted(t for t in ts if t) + [t for t in ts if not t]
        above, below = below, above
    here = (walk.steps[k].node.scope or {}).get("t")
    start, stop = 0, len(ts)
    if max_rows is not None and len(ts) > max_rows:
        centre = ts.index(here) if here in ts else max(
            (ts.index(t) for _, t in reached), default=0)
        start = min(max(0, centre - max_rows // 2), len(ts) - max_rows)
        stop = start + max_rows
    bar = BAR
    if width is not None:  # else rich squeezes the t and "← here" columns out of a narrow table
        fixed = max(len(str(t)) for t in ts) + 8 * len(names) + 6 + 2 * (2 * len(names) + 1)
        bar = max(4, min(BAR, (width - fixed) // len(names)))
    tab = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    tab.add_column("t", justify="right", no_wrap=True)
    for nm in names:
        # the full heading is 9 wide: with shorter bars it would widen the column past them
        tab.add_column(f"‖∂L/∂{nm}_t‖" if bar >= 9 else f"∂{nm}_t", min_width=bar, no_wrap=True)
        tab.add_column("", justify="right", min_width=8, no_wrap=True)
    tab.add_column("")
    # the rows left out are counted on lines of their own, outside the table: in its first bar
    # column "12 later timesteps" widened that column past a narrow screen, and rich then
    # squeezed the t and "← here" columns out
    pad = " " * (max(len(str(t)) for t in ts) - 1)
    later = Text(f"{pad}⋮ {start} {above} timesteps", style="dim") if start else None
    earlier = Text(f"{pad}⋮ {len(ts) - stop} {below} timesteps", style="dim") \
        if stop < len(ts) else None
    for t in ts[start:stop]:
        cells = []
        for nm in names:
            x = reached.get((nm, t))
            if x is None:
                cells += [Text("·", style="dim"),
                          Text("not yet" if (nm, t) in ever else "none", style="dim")]
            else:
                w = bar if x == np.inf else 0 if not x > 0 else \
                    1 + round((np.log10(x) - lo) / (hi - lo) * (bar - 1))
                cells += [Text("█" * min(bar, max(w, x > 0)), style="green"), f"{x:.2e}"]
        tab.add_row(str(t), *cells, "← here" if t == here else "")
    if later is None and earlier is None:
        return tab
    return Group(*[r for r in (later, tab, earlier) if r is not None])


def make_where(walk, k, limit=4, compact=False):
    """Where the node sits: its inputs (parents) and consumers, those on the state path
    marked, e.g. `c[t=1] (c path)`; `compact`: a line each, cut with …."""
    n = walk.steps[k].node
    on = walk.on_path(n)

    def items(tensors, at=False):
        out = [(_at(walk, t, walk.expr(t)) if at else walk.expr(t))
               + (f" ({path_words(walk)})" if on and walk.on_path(t) else "")
               for t in tensors[:limit]]
        return ", ".join(out + ([f"… {len(tensors) - limit} more"] if len(tensors) > limit
                                else []))

    consumers = [walk.steps[i].node for i in walk.children.get(id(n), [])]
    text = Text(no_wrap=True, overflow="ellipsis") if compact else Text()
    text.append("inputs: ", style="bold")
    text.append(items(n.parents) if n.parents else "none (a leaf: its gradient goes to .grad)")
    text.append("\nconsumers: ", style="bold")
    text.append(items(consumers, at=True) if consumers else "none (the loss)" if k == 0
                else "none")
    return text


def _at(walk, t, expr):
    """expr, with ` at t=3` when it names no timestep itself and t has one: a weight's
    consumers, one a step, all read `input (2, 3) @ W_ih0` without it."""
    step = (t.scope or {}).get("t")
    named = re.search(r"[\[,]t=", expr)  # a state of a step in it already: h[t=3], c[l=1,t=2]
    return expr + (f" at t={step}" if step is not None and not named else "")


def make_step_panel(walk, k, title=None, controls=True, max_rows=None, message=None,
                    max_out=MAX_OUT, width=None, bars=True, compact=False, hidden=None):
    """The whole screen for step k (0-based) of a walk, as one Panel (`width`: the console's,
    to fit the timestep bars in; `bars`: with the per-timestep panel; `compact`: each text
    on one line, cut with …; `hidden`: the rows a terminal needs for the bars left out,
    said in the title)."""
    parts = [make_node_table(walk, k, max_out, compact)]
    timesteps = make_timestep_panel(walk, k, max_rows, None if width is None else width - 4) \
        if bars else None
    if timesteps is not None:
        which = f" · {walk.lane_label(_focus(walk, k))}" if walk.multi else ""
        parts += [Rule(Text(f"gradient that has reached each timestep{which} (log scale)"),
                       style="dim"), timesteps]
    parts += [Rule("where", style="dim"), make_where(walk, k, compact=compact)]
    if message:
        parts.append(Text(message, style="yellow"))
    name, counter = "backprop" + (f" · {title}" if title else ""), f" · node {k + 1} of {len(walk)}"
    if hidden is not None:  # kept whole beside the counter, in as few words as the width needs
        notes = (f" · timestep bars need {hidden} rows", f" · bars: {hidden} rows")
        counter = next((n for n in notes if width is None or width - 6 - len(n + counter) >= 9),
                       notes[-1]) + counter
    room = None if width is None else width - 6 - len(counter)  # "╭─ " … " ─╮"
    if room is not None and len(name) > room:  # rich keeps a too long title's first line only
        name = name[:max(room - 1, 0)] + "…"
    head = Text(name + counter)
    return Panel(Group(*parts), title=head, title_align="left",
                 subtitle=Text(key_help(walk, width, last=k == len(walk) - 1))
                 if controls else None,
                 subtitle_align="left")


def fit_step_panel(console, walk, k, **kw):
    """make_step_panel with as many timestep rows as leave the screen (and a prompt line)
    inside the console's height: fewer rows, then fewer outputs listed, then every text on
    one line (a stacked bidirectional layer's formula wrapped over 8), then no timestep
    bars. Taller, the terminal scrolled the title ("node k of N") and the node off the top
    (it tried two sizes, cutting a row cap that was above the rows there were)."""
    room, width = console.size.height - 1, console.size.width
    key = _focus(walk, k)
    shown = len({e[2] for e in walk.states[key]}) if key is not None else 1

    def fits(panel):
        return len(console.render_lines(panel, pad=False)) - room

    for max_out, compact in ((MAX_OUT, False), (2, False), (2, True)):
        rows = max(1, min(room, shown))
        while True:
            panel = make_step_panel(walk, k, max_rows=rows, max_out=max_out, width=width,
                                    compact=compact, **kw)
            over = fits(panel)
            if over <= 0:
                return panel
            if rows == 1:
                break
            rows = max(1, rows - over)
    # the smallest there is; taller still, the terminal scrolls. Where there were bars to
    # drop, its title says so (a line of its own made the screen a line too tall): without a
    # word their absence read as a walk with no timesteps.
    need = room + over + 1 if make_timestep_panel(walk, k, 1) is not None else None
    return make_step_panel(walk, k, max_out=2, width=width, bars=False, compact=True,
                           hidden=need, **kw)


# ---------------------------------------------------------------------------------------------
# Navigation and the thin loops


def navigate(walk, k, command):
    """(new k, message) for a command typed at step k; new k is None to quit.
    ⏎ or n next (quits after the last), b back, t N first node of timestep N, p next node on
    the state path (the one the graph's highlight="auto" draws: an LSTM's c, a GRU's h; a
    plain RNN has none, and the message says why), c the last node, g N node N, q quit."""
    cmd, last = command.strip().lower(), len(walk) - 1
    if cmd in ("", "n"):
        return (k + 1 if k < last else None), None
    if cmd in ("b", "c", "q"):
        return {"b": max(k - 1, 0), "c": last, "q": None}[cmd], \
            "already at the first node" if cmd == "b" and k == 0 else None
    if cmd == "p":
        if not walk.path_state:
            return k, f"p: {walk.no_path} (t N goes to timestep N)"
        nxt = next((s.index for s in walk.steps[k + 1:] if walk.on_path(s.node)), None)
        return (k, f"no further node on the {path_words(walk)}") if nxt is None else (nxt, None)
    word, _, arg = cmd.partition(" ")
    if word in ("t", "g") and arg.strip().isdigit():
        v = int(arg)
        if word == "g":
            return (v - 1, None) if 1 <= v <= len(walk) else (k, f"no node {v}")
        hits = [s.index for s in walk.steps if (s.node.scope or {}).get("t") == v]
        same = [i for i in hits if _focus(walk, i) == _focus(walk, k)]
        return ((same or hits)[0], None) if hits else (k, f"no node at timestep {v}")
    return k, f"unknown command {command.strip()!r} ({key_help(walk)})"


def under_a_notebook():
    """True in a program a Jupyter kernel started (`!python demo.py` in a notebook cell), whose
    environment the kernel's JPY_PARENT_PID reaches: the cell shows the output of a terminal
    it makes, but sends it no keys and cannot redraw a screen in place."""
    return "JPY_PARENT_PID" in os.environ


def step(loss, *, console=None, interactive=None, auto=None, no_pause=False, title=None,
         params=None, quit="quit"):
    """Step through `loss`'s backward pass, one screen per node.

    Runs `loss.backward()` itself, once, and records the walk; the screens only read that
    record, so afterwards every `.grad` is exactly what a plain `loss.backward()` leaves,
    however you stepped. Keys (each followed by ⏎): ⏎ or n next, b back, t N first node of
    timestep N, p next node on the state path the graph's highlight="auto" draws (an LSTM's
    c path, a GRU's h path: h[t−1] → × z → + → h[t]; a plain RNN's h[t−1] → h[t] runs through
    @ and tanh, not additive, so it has none), c last node, g N node N, q quit. Ctrl-C
    raises KeyboardInterrupt, as anywhere in Python (a demo then ends, status 130); the
    backward has run by then, so `.grad` is complete.

    Args:
        loss: the scalar Tensor to differentiate.
        console: a rich Console. Defaults to one on stdout.
        interactive: wait for keys (with `auto`, animate). Defaults to True when stdin and the
            console are terminals; with `auto`, when the console is one (it reads no keys).
            Never by default in a notebook's `!python demo.py --step`: its terminal shows the
            output but sends no keys (it waited for them for ever).
        auto: play the walk as an animation, this many seconds per node. Defaults to None.
        no_pause: print every step as a text block and return (as without a terminal).
        title: shown in each screen's title, e.g. "hello · LSTM".
        quit: what the key help says `q` does: "next walk" where a demo steps through
            another walk after this one (as vanishing does). Defaults to "quit".
        params: names for the leaves: a Module, a {name: tensor} dict or (name, tensor) pairs.
    Returns:
        the list of `Step`s (node, grad, parent_grads), in walk order.
    """
    if auto is not None and (isinstance(auto, bool) or not isinstance(auto, numbers.Real)
                             or not 0 <= auto < math.inf):  # before the backward runs
        raise ValueError(f"step: auto must be a number of seconds per node, 0 or more; "
                         f"got {auto!r}")
    # a console made here writes to stdout, which must be a terminal too: FORCE_COLOR makes
    # rich take any file for one, and `--step > log` then waited for keys with nothing shown
    # (a console passed in is taken at its word)
    ours, console = console is None, console or Console()
    walk = record(loss, params, who="step")
    walk.quit = quit
    if interactive is None:  # (`make`, `nohup`, `ssh host cmd </dev/null` can still animate)
        interactive = console.is_terminal and (not ours or isatty(sys.stdout)) \
            and (auto is not None or isatty(sys.stdin)) and not under_a_notebook()
    if no_pause or not interactive:
        for k in range(len(walk)):
            console.print(make_step_panel(walk, k, title, controls=False, max_rows=12,
                                          width=console.width))
        return walk.steps
    if auto is not None:
        # (TERM=dumb: Live cannot redraw there, so the screens are printed one after another)
        live = None if console.is_dumb_terminal else \
            Live(console=console, auto_refresh=False, vertical_overflow="crop")
        try:
            with live or contextlib.nullcontext():
                for k in range(len(walk)):
                    panel = fit_step_panel(console, walk, k, title=title, controls=False)
                    if live is None:
                        console.print(panel)
                    else:
                        live.update(panel, refresh=True)
                    time.sleep(auto)
        except KeyboardInterrupt:  # as with the keys: the demo ends, "interrupted", 130
            console.print("stopped the animation", highlight=False)
            raise
        return walk.steps
    screen, seen, interrupted = _Screen(console, walk, title), set(), False
    # on the terminal's other screen, as less and top do: quitting gives back the demo's
    # results and the lines it printed (`wrote out/hello.svg`), which clearing wiped
    with console.screen(hide_cursor=False), _suspendable(screen):
        while screen.k is not None:
            seen.add(screen.k)  # the screens shown (`c` jumps to the end without the rest)
            screen.show()
            try:
                command = screen.ask("› ")
                if command.strip().lower() in ("t", "g"):  # `t`, ⏎, then the number
                    which = "timestep" if command.strip().lower() == "t" else "node"
                    command += " " + screen.ask(f"{which} › ")
            except EOFError:
                break
            except KeyboardInterrupt:  # as in training: the demo says "interrupted", 130
                interrupted = True
                break
            screen.k, screen.message = navigate(walk, screen.k, command)
    _summary(console, walk, seen)
    if interrupted:
        raise KeyboardInterrupt
    return walk.steps


class _Screen:
    """The stepper's screen for node k and its prompt, as _suspendable redraws them after
    `fg`: while either is being written (`drawing`) a Ctrl-Z marks it `stale` instead, and
    it is written again once done (a redraw in the middle made a second screen, and what
    the terminal had not yet shown when the process stopped was dropped: a blank screen)."""

    def __init__(self, console, walk, title):
        self.console, self.walk, self.title = console, walk, title
        self.k, self.message, self.prompt = 0, None, ""
        self.drawing = self.stale = False

    def show(self):
        self.stale = True
        while self.stale:
            self.drawing, self.stale = True, False
            self.console.clear()
            self.console.print(fit_step_panel(self.console, self.walk, self.k,
                                              title=self.title, message=self.message))
            self.drawing = False

    def ask(self, prompt):
        self.prompt = prompt
        while True:
            self.drawing, self.stale = True, False
            self.console.print(prompt, end="", markup=False, highlight=False)
            self.drawing = False
            if not self.stale:
                return self.console.input()
            self.show()  # stopped while the prompt was written: the screen went too


def _typed():
    """What has been typed at the prompt so far, where readline keeps it (Python's REPL,
    IPython): it stays in its buffer over a Ctrl-Z, and ⏎ after `fg` would run it unseen.
    (The cursor comes back at its end, where readline's may have been moved left.)"""
    readline = sys.modules.get("readline")
    return readline.get_line_buffer() if readline is not None else ""


# xterm's "other screen" switches, written straight to the terminal: rich holds its own
# control codes back while a print is in progress, and a Ctrl-Z in one stopped the process
# with the stepper's screen still showing (the shell's "Stopped" written over it)
_LEAVE, _ENTER = "\x1b[?1049l", "\x1b[?1049h\x1b[2J\x1b[H"


@contextlib.contextmanager
def _suspendable(screen):
    """Ctrl-Z leaves the terminal's other screen before the process stops, as less does, and
    `fg` comes back to it and redraws the screen and the prompt: the shell's "Stopped" and
    prompt were written over the stepper's screen, and after `fg` it stayed so. Only in a
    terminal, in the main thread (the one signal handlers can be set in) of a system with
    job control, and where SIGTSTP was not ignored or handled outside Python."""
    console = screen.console
    before = signal.getsignal(signal.SIGTSTP) if hasattr(signal, "SIGTSTP") else None
    if not console.is_terminal or before in (None, signal.SIG_IGN) \
            or threading.current_thread() is not threading.main_thread():
        yield
        return

    def write(text):
        console.file.write(text)
        console.file.flush()

    def on_stop(signum, frame):
        write(_LEAVE)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stops here, until `fg` continues it
        finally:
            signal.signal(signal.SIGTSTP, on_stop)
        write(_ENTER)
        if screen.drawing:  # written again once done (_Screen)
            screen.stale = True
        elif screen.k is not None:  # (None after `q`)
            screen.show()
            write(screen.prompt + _typed())

    signal.signal(signal.SIGTSTP, on_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, before)


def _summary(console, walk, seen):
    # the whole walk ran before the first screen: .grad is complete however few one looked at
    n = len(seen)
    console.print(f"looked at {'all' if n == len(walk) else f'{n} of the'} {len(walk)} nodes "
                  "of the backward pass; .grad is as loss.backward() leaves it",
                  highlight=False)
