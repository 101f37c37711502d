"""Draw the recorded computation graph with Graphviz, the cell-state path standing out.

    g = draw(loss, params=model, grads=True)   # a graphviz.Digraph (shows inline in Jupyter)
    paths, message = render(loss, "out/graph.svg", params=model, grads=True)

The picture is read from the very records `backward()` walks: `autograd.toposort(root)` gives
the tensors (and an order, each consumer before its inputs, which numbers the nodes n0, n1,
...), `.parents` the edges, and the names and scopes the cells record (`c`, `h`, ... inside
`scope(layer=l, t=t)`) the clusters and the highlighted path. Ops are small circles with
their symbol (+, ×, σ, tanh, @); named tensors, parameters and inputs are boxes; one box per
timestep and layer, time left to right (a reverse direction's step t under the forward one's,
its arrows running right to left). What goes where is decided in scene.py (`_Scene`);
this module writes it as DOT and renders it.
"""

import html
import math
import numbers
import os
import shutil
import sys
import textwrap
import warnings
from pathlib import Path

import graphviz

from ..checkpoint import write_atomically
from .scene import (BOXES, EDGE_COLOR, PARAM_COLOR, PATH_COLOR, _additive, _cluster,
                    _Scene, _symbols, check_root, computes, lane_order, no_path_reason, param_pairs,
                    unscoped_states)
from .walk import norm

HOW_TO_INSTALL = ("To render pictures install Graphviz: `apt-get install graphviz` on "
                  "Debian/Ubuntu, `brew install graphviz` on macOS, otherwise see "
                  "https://graphviz.org/download/")
INSTALL_HINT = ("Graphviz's `dot` program was not found, so only the DOT source was written "
                "({dot}). " + HOW_TO_INSTALL.replace("{", "{{") + " ; then run "
                "`dot -T{fmt} {dot} -o {out}`.")

# edge_grads' scale, the same in every picture so that two can be compared (an LSTM's with an
# RNN's): ‖grad‖ from 1, the ∂L/∂L every backward starts from, down to 1e-6, about where a
# float32 update is lost against a weight of size 1. Below: drawn as thin as at 1e-6.
DECADES = 6
NO_GRAD = "#999999"  # the dotted edges, along which no gradient flows
NOT_FINITE = "#d62728"  # red, dashed: a nan or inf gradient along the edge
# (width at 1e-6, added at 1): the path is the picture's subject, so it is drawn on a wider
# ramp of the same scale, thick beside the rest at any equal gradient
EDGE_RAMP, PATH_RAMP = (0.4, 2.1), (1.6, 3.4)


def collect_grad_norms(root, retain_graph=False):
    """Run `root.backward()` and return the gradient norms the walk saw.

    Keys: `id(tensor)` -> ‖∂L/∂tensor‖ for every tensor the walk visits, and `(id(tensor), i)`
    -> the norm of the gradient that tensor hands its i-th parent (what flows along that edge;
    where one parent fills several slots, as x in `x * x`, the one edge carries the sum of
    what they hand it, and each of those slots gets that sum's norm).
    `.grad` ends up exactly as after a plain `root.backward()`; the graph is freed unless
    `retain_graph`.
    """
    norms = {}

    def on_step(node, grad, parent_grads):
        norms[id(node)] = norm(grad)
        along = {}  # id(parent) -> ([slots], the sum of their gradients)
        for i, pg in enumerate(parent_grads):
            if pg is not None and node.parents[i].requires_grad:  # else: computed, not passed on
                slots, total = along.get(id(node.parents[i]), ((), None))
                along[id(node.parents[i])] = (slots + (i,), pg if total is None else total + pg)
        for slots, total in along.values():
            n = norm(total)
            for i in slots:
                norms[(id(node), i)] = n

    root.backward(retain_graph=retain_graph, on_step=on_step)
    return norms


def _strength(n):
    """Where ‖grad‖ = n sits on the fixed scale: 1 at ≥ 1, 0 at ≤ 10^−DECADES (inf, nan: 1)."""
    return 1.0 if not math.isfinite(n) else min(1.0, max(0.0, 1 + math.log10(n) / DECADES))


def _opacity(s):
    """The two hex digits of alpha for strength s: the edges' and the legend's sample lines."""
    return f"{int(60 + 195 * s):02x}"


def _edge_attrs(e, shaded):
    """Orange on the path, dashed blue from parameters, grey otherwise. Unshaded, the path is
    heavy. Shaded (edge_grads), width and opacity follow log10 ‖grad‖ along the edge on the
    one fixed scale, the path's too (on its wider ramp); an edge that carries no gradient is
    dotted."""
    base = PATH_COLOR if e["heavy"] else PARAM_COLOR if e["param"] else EDGE_COLOR
    style = "dashed" if e["param"] else None
    if not shaded:
        attrs = {"color": base + ("" if e["heavy"] else "99"),
                 "penwidth": "3.2" if e["heavy"] else "0.8"}
    elif not e["norm"]:  # None: its tail needs no gradient; 0: none reaches it
        attrs, style = {"color": PATH_COLOR if e["heavy"] else NO_GRAD, "penwidth": "0.8"}, \
            "dotted"
    elif not math.isfinite(e["norm"]):  # drawn as ‖grad‖ ≈ 1 it looked healthy; the path
        # keeps its colour (a nan loss made every edge red: no orange path was left)
        lo, span = PATH_RAMP
        attrs = {"color": PATH_COLOR, "penwidth": f"{lo + span:.2f}"} if e["heavy"] else \
            {"color": NOT_FINITE, "penwidth": "2.4"}
        style = "dashed"
    else:
        s = _strength(e["norm"])
        lo, span = PATH_RAMP if e["heavy"] else EDGE_RAMP
        attrs = {"color": base + _opacity(s), "penwidth": f"{lo + span * s:.2f}"}
    if e["spine"]:
        attrs["weight"] = "10"
    if style:
        attrs["style"] = style
    if e["free"]:
        attrs["constraint"] = "false"
    if e.get("loop"):
        attrs.update(label="× T", fontsize="10", fontcolor=base, tailport="n", headport="n")
    return attrs


class Picture(graphviz.Digraph):
    """The Digraph `draw` returns. dot's newrank layout (which keeps each step's box in line
    with the highlighted path) can lose an edge between clusters ("Error: lost n113i0 n113
    edge", seen with stacked LSTMs): then `pipe`, which Jupyter's display and `render` use,
    lays the graph out again without newrank, one row of steps per layer, less tightly
    aligned. dot 2.43 loses edges of a bidirectional layer either way ("lost n50i0 n50 edge",
    from a stub ranked beside its node): then the stubs lose that rank and both layouts are
    tried again."""

    # (ranked, newrank, mclimit). dot 2.43's newrank layout of a stacked LSTM loses stub edges
    # ("triangulation failed") after its full crossing minimisation, and a tenth of it
    # (mclimit 0.1) lays the same graph out: each c[t] over its own step, where the layout
    # without newrank drew c[t=1] over step 3 (a review of a two-layer char-LM's picture)
    LAYOUTS = ((True, True, None), (True, True, "0.1"), (True, False, None),
               (False, False, None), (False, True, None))
    PLAIN = 3  # no ranks, no newrank: the one that drew every graph tried (`portable`)
    _layout = 0  # the first that has not failed yet: display after render starts there

    def add_row(self, name, steps):
        """A lane's step clusters, inside one more cluster without border or label: a cluster
        is never split by the path, so every step box lands on the same side of it. Each step
        on its own, dot put the Cho GRU's and a bidirectional GRU's steps one above the path,
        the next below (a zigzag). Without newrank dot ranks a cluster on its own, and the
        steps of a row went up and down: those layouts draw the steps without the row."""
        row = graphviz.Digraph(name=name, graph_attr={"label": "", "peripheries": "0"})
        flat = graphviz.Digraph()
        for c in steps:
            c.attr(peripheries="1")  # not the row's 0
            row.subgraph(c)
            flat.subgraph(c)
        start = len(self.body)
        self.subgraph(row)
        self._rows = getattr(self, "_rows", []) + [(self.body[start:], flat.body)]

    def align(self, a, b):
        """Rank nodes a and b, in different clusters, together. Only newrank can: without it
        dot drew nodes outside their step's box (a bidirectional RNN's h[t])."""
        line = f"\t{{rank=same; {a}; {b}}}\n"
        self.body.append(line)
        self._aligned = getattr(self, "_aligned", set()) | {line.strip()}

    def mirrored_edge(self, src, dst, **attrs):
        """An edge inside a reverse direction's row, written head first with dir=back: dot puts
        an edge's tail left of its head, so the row runs right to left, its step t under the
        forward row's (`align`). The layouts without newrank cannot line the rows up, and the
        row, mirrored there, was strewn between the forward row's steps (a bidirectional
        RNN): they get the edge as it is, the row left to right in the order it runs."""
        self.edge(dst, src, dir="back", **attrs)
        back = self.body[-1]
        self.edge(src, dst, **attrs)
        self._mirrored = getattr(self, "_mirrored", {})
        self._mirrored[back] = self.body.pop()

    def _use(self, k):
        """Lay the source out as LAYOUTS[k] from now on."""
        if self._layout == 0 and not hasattr(self, "_ranks"):
            # by content: inside a row (add_row) a line is indented one tab more than flat
            self._ranks = {line.strip() for line in self.body
                           if line.lstrip().startswith("{rank=same;")}
        self._layout = k
        ranked, newrank, mclimit = self.LAYOUTS[k]
        # a layout's rank lines, once dropped, stay dropped: a row swapped in or out is taken
        # without them (with them, its length cut the lines after it: a DOT syntax error)
        removed = getattr(self, "_removed", set())
        for rowed, flat in getattr(self, "_rows", ()):
            old, new = (flat, rowed) if newrank else (rowed, flat)
            if old[0] in self.body:  # its first line, a subgraph's opening: only one has its name
                old, new = ([line for line in lines if line.strip() not in removed]
                            for lines in (old, new))
                i = self.body.index(old[0])
                self.body[i:i + len(old)] = new
        swap = getattr(self, "_mirrored", {})
        if swap:  # each mirrored edge as this layout draws it (mirrored_edge)
            swap = {plain: back for back, plain in swap.items()} if newrank else swap
            self.body = [swap.get(line, line) for line in self.body]
        drop = (set() if ranked else self._ranks) | \
            (set() if newrank else getattr(self, "_aligned", set()))
        if drop:
            self.body = [line for line in self.body if line.strip() not in drop]
            self._removed = removed | drop
        if newrank:
            self.graph_attr["newrank"] = "true"
        else:
            self.graph_attr.pop("newrank", None)
        if mclimit:
            self.graph_attr["mclimit"] = mclimit
        else:
            self.graph_attr.pop("mclimit", None)

    def _repr_mimebundle_(self, include=None, exclude=None, **kw):
        """What Jupyter shows: the SVG, or where no `dot` program is found, the install hint
        and the DOT source as text (graphviz's own raised ExecutableNotFound, a long
        traceback in the notebook)."""
        try:
            return super()._repr_mimebundle_(include, exclude, **kw)
        except graphviz.ExecutableNotFound:
            return {"text/plain": "Graphviz's `dot` program was not found, so the picture "
                                  f"cannot be shown. {HOW_TO_INSTALL} . The DOT source is "
                                  f"`.source` ({len(self.source.splitlines())} lines)."}

    def portable(self):
        """The source in the plainest layout, for a DOT file written where no `dot` program
        can try the others: the first layout can fail in dot 2.43 (a 3-layer or bidirectional
        LSTM), and the command the install hint gives has to draw it."""
        self._use(self.PLAIN)
        return self.source

    def pipe(self, *args, **kwargs):
        self._use(self._layout)
        # without rank lines an unranked layout is its ranked one again: not tried twice
        last = max(k for k, (ranked, _, _) in enumerate(self.LAYOUTS) if ranked or self._ranks)
        while True:
            try:  # dot's errors are handled until the last layout
                return super().pipe(*args, **{**kwargs, "quiet": self._layout < last})
            except graphviz.CalledProcessError:
                if self._layout >= last:
                    raise
                self._use(self._layout + 1)


def _node_line(node_id, attrs):
    g = graphviz.Digraph()
    g.node(node_id, **attrs)
    return g.body[0]


# More steps than this drawn whole and draw warns: a 2-layer LSTM at T = 64 (128) took 138 s
SLOW_STEPS = 100


def _outside_the_package():
    """The stacklevel of draw's warning: the first frame outside this package, the caller's
    line (render calls draw)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    level, frame = 1, sys._getframe(1)  # draw's
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def draw(root, *, highlight="c", grads=None, params=None, folded=False, max_steps=None,
         edge_grads=False, title=None):
    """The computation graph of `root` as a graphviz.Digraph (displays inline in Jupyter).

    Args:
        root: the Tensor to draw from, usually the scalar loss.
        highlight: the state whose step-to-step path is drawn heavy and orange, found from the
            names and scopes the cells record: "c" (an LSTM's cell state; the default), "h"
            (a GRU's z * h_prev path), or "auto": c where there is a c path, else h where
            h's path is additive (scene.pick_state: the path the stepper's `p` follows too).
            Nothing is highlighted where there is no such state, and the heading says so (and
            why).
        grads: None, True, or a dict from `collect_grad_norms` (keys may also be tensors).
            True runs the backward itself (`collect_grad_norms`): `.grad` is left as after a
            plain `root.backward()` and the graph is freed, so do not call backward again.
        params: a Module, {name: Parameter} (e.g. `dict(model.named_parameters())`) or
            (name, Parameter) pairs to name the parameter boxes. Defaults to "param".
        folded: draw one timestep's cell, its recurrent edges looping back, labelled × T.
        max_steps: k to draw only the first and last k timesteps, with a "…" between. For
            a long sequence this is the picture to ask for: dot lays out every node, and a
            2-layer LSTM at T = 64 took 138 s to render unelided, 6 s with max_steps=2.
        edge_grads: scale edge width and opacity by log10 of the gradient along each edge
            (needs grads), so vanishing gradients fade out: one fixed scale, 1 (∂L/∂L) boldest
            down to 1e-6 faintest, the same in every picture. Edges that carry no gradient
            (from inputs and constants, or where it is exactly 0) are dotted.
        title: the heading. Defaults to what is highlighted (or why nothing is).
    """
    # every check before `grads=True` runs the backward
    if not (grads is None or isinstance(grads, (bool, dict))):
        raise TypeError(f"draw: grads must be True (draw runs the backward), a dict from "
                        f"collect_grad_norms(loss) or None; got a {type(grads).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"draw: title must be text, got a {type(title).__name__}")
    if max_steps is not None and (isinstance(max_steps, bool) or
                                  not isinstance(max_steps, numbers.Integral) or max_steps < 1):
        raise ValueError(f"draw: max_steps must be a whole number of at least 1, got "
                         f"{max_steps!r}")
    if not isinstance(highlight, str) or not highlight:
        raise ValueError(f"draw: highlight must be a state's name such as 'c' or 'h', or "
                         f"'auto'; got {highlight!r}")
    if edge_grads and not grads:
        raise ValueError("draw: edge_grads=True shades edges by their gradients: pass "
                         "grads=True (draw runs the backward) or grads=collect_grad_norms(loss)")
    params = param_pairs(params, "draw")
    check_root(root, "draw(grads=True)" if grads is True else "draw", walks=grads is True)
    norms = collect_grad_norms(root) if grads is True else {
        k if isinstance(k, (int, tuple)) else id(k): v for k, v in (grads or {}).items()}
    s = _Scene(root, highlight, norms, params, folded, max_steps)
    drawn = sum(c if max_steps is None else min(c, 2 * max_steps) for c in s.count.values())
    if not folded and drawn > SLOW_STEPS:
        # a library call draws what it is given (a demo's --graph shortens it): 500 steps of
        # a small LSTM took dot 100 s and made a 12 MB picture, without a word
        warnings.warn(f"draw: {drawn} timesteps drawn whole (over {len(s.count)} lane(s)): dot "
                      "takes minutes to lay out a picture this long; max_steps=3 draws the "
                      "first and last 3 of each, folded=True one cell",
                      stacklevel=_outside_the_package())
    shaded = bool(edge_grads) and any(isinstance(k, tuple) for k in norms)  # edges' norms known
    edges = s.edges()

    g = Picture("graph", graph_attr={
        "rankdir": "LR", "newrank": "true", "nodesep": "0.12", "ranksep": "0.22",
        "fontname": "Helvetica", "fontsize": "12", "labelloc": "t", "labeljust": "l"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.04,0.02"},
        edge_attr={"arrowsize": "0.5"})
    clusters, belt, belt_ids = {}, [], set()
    computed_at_0 = set()  # t = 0 boxes holding a computed tensor: a step, no initial state
    for t in reversed(s.nodes):  # in time order
        for node_id, attrs in (s.tensor_nodes(t) if id(t) in s.where else ()):
            if id(t) in s.referenced and node_id == f"n{s.num[id(t)]}":
                # the id its stubs name it by, inside the circle under its symbol, in the
                # stubs' small grey type (an xlabel beside it sat as near a neighbour's circle)
                attrs["label"] = (f'<{html.escape(type(t._ctx).symbol)}<BR/><FONT '
                                  f'POINT-SIZE="7" COLOR="#777777">{node_id}</FONT>>')
            # The path stays out of the step clusters and comes first: dot then draws it as one
            # straight line along the row of steps, on the same side of every step's box (last,
            # it could pass above some boxes and below others, and stack them as a staircase).
            key = s.where[id(t)]
            if key is not None and key[0] == "step" and key[2] == 0 and computes(t):
                computed_at_0.add(key)
            dest = belt if id(t) in s.on_path and not folded else \
                g.body if key is None else clusters.setdefault(key, [])
            dest.append(_node_line(node_id, attrs))
            if dest is belt:
                belt_ids.add(node_id)
    for lane in s.lanes if max_steps is not None and not folded else ():
        first, last = s.first[lane] + max_steps, s.last[lane] - max_steps  # what is elided
        if first <= last:
            hidden = f"t = {first}{'' if first == last else f' … {last}'} not drawn"
            clusters[("elided", lane, first - 0.5)] = [_node_line(
                f"e{s.lane_index[lane]}", dict(label=f"…\\n{hidden}", shape="box",
                                                style="dashed,rounded", color="#999999",
                                                fontsize="10", tooltip=hidden))]
    for key, node_id, label, beside, ranked in s.stubs:  # on the rank of the node it reaches
        # (with the node on the highlighted path when that left the step's box empty, or when
        # it is that node's: in the step's box it pulled the node off the path's straight line).
        # A parameter's stub is not ranked: ranked beside a peephole weight's ×, which an
        # earlier step's c also reaches, stubs made dot 2.43's newrank layout fail
        # ("triangulation failed", the variants demo's peephole LSTM) and its fallback drew
        # c[t] a box off; unranked, a stub still sits in its step's box, before its node.
        (belt if beside in belt_ids else clusters.get(key, belt)).extend([
            _node_line(node_id, dict(label=graphviz.escape(label), shape="plaintext",
                                     fontsize="8", fontcolor="#777777"))]
            + ([f"\t{{rank=same; {node_id}; {beside}}}\n"] if ranked else []))
    ends = s.step_ends()
    for (lane, t), (first, last) in ends.items():
        # a mirrored row's step t in the column of its forward row's: each box's first node
        # ranked with the other's last (a mirrored box starts at its right end)
        forward = tuple(kv for kv in lane if kv != ("direction", "reverse"))
        if s.mirrored(lane) and (forward, t) in ends:
            for a, b in zip((first, last), reversed(ends[(forward, t)])):
                g.align(a, b)
    for (src, dst), e in edges.items():
        if e["back"]:
            g.mirrored_edge(src, dst, **_edge_attrs(e, shaded))
        else:
            g.edge(src, dst, **_edge_attrs(e, shaded))
    order = lambda k: (k[0] != "params", lane_order(k[1]), -1 if len(k) < 3 else k[2])
    rows = {}  # unfolded, a lane's step boxes, kept in one row (Picture.add_row)
    for key in sorted(clusters, key=order):
        name, label = _cluster(s.shown_key(key),
                               s.count[key[1]] if folded and key[0] == "step" else None,
                               initial=key not in computed_at_0)
        c = graphviz.Digraph(name=name)
        c.attr(label=label, style="rounded" if key[0] == "step" else "rounded,dashed",
               color="#bbbbbb", fontsize="10", fontcolor="#555555")
        c.body.extend(clusters[key])
        if key[0] == "step" and not folded:
            rows.setdefault(key[1], (name.rsplit("_t", 1)[0] + "_row", []))[1].append(c)
        else:
            g.subgraph(c)
    for name, steps in rows.values():
        g.add_row(name, steps)
    g.body[:0] = belt
    g.node("legend", label=_legend(s, shaded and edges), shape="plaintext")
    heading = title if title is not None else _headline(s)
    g.attr(label=heading.replace("\\", "\\\\").replace("\n", "\\l") + "\\l")  # left-aligned
    return g


def _headline(s):
    """The default heading, in lines of at most 100 characters: dot sizes the picture by its
    own font metrics, and a longer line ran off the right edge in other renderers."""
    return "\n".join(textwrap.fill(line, 100) for line in _heading(s).split("\n"))


def _heading(s):
    if not s.lanes and not s.folded and not any(t.name for t in s.nodes):
        # nothing with a timestep nor a name: no recurrence to speak of (an MLP was told
        # "unrolled in time" and to name states c inside scope(t=...))
        return "computation graph, inputs to the loss"
    view = ("folded: one step drawn once, its recurrent edges looping back" if s.folded
            else "unrolled in time, left to right")
    name = s.highlight
    if s.path:
        ops = " and ".join(_symbols(s.path, s.nodes))
        # a cell loop of one's own beside a layer (a decoder after an encoder): the layer's
        # path is found, the loop's states have no t and are not on it
        off = unscoped_states(s.nodes, name, beside=True)
        off = f"\noff it: {off}" if off else ""
        if _additive(s.path, s.nodes):
            return (f"computation graph, {view}\norange: {name}[t−1] → {name}[t], through "
                    f"{ops} only{off}")
        return (f"computation graph, {view}\norange: the shortest route "
                f"{name}[t−1] → {name}[t], through {ops}{off}")
    return f"computation graph, {view}\n{no_path_reason(s.nodes, name, s.spine)}"


def _legend(s, shaded_edges):
    """The legend; `shaded_edges`: the edges' facts when edge_grads shades them, else falsy."""
    name = html.escape(s.highlight)  # a table of HTML: `h&c` or `<h>` broke the picture
    # no orange row where nothing is orange (the heading says why)
    rows = [(f'<font color="{PATH_COLOR}"><b>━━</b></font>', f"{name}[t−1] → {name}[t]")] \
        if s.path else []
    rows += [(f'<font color="{EDGE_COLOR}">──</font>', "data flow"),
            (f'<font color="{PARAM_COLOR}">- -</font>', "parameter use")]
    rows += [("× T", "one edge per timestep: looping back, from the step before; "
                     "out of the cell, each step's output")] if s.folded else []
    rows += [("○", "op: + × σ tanh @ …"), ("▭", "tensor: name[t], shape")]
    what = {"param": "■ parameter", "input": "■ input (data)", "tensor": "■ tensor or state",
            "constant": "□ constant"}
    rows += [("", "   ".join(f'<font color="{BOXES[k][1]}">{what[k][0]}</font>{what[k][1:]}'
                               for k in what if k in s.kinds))] if s.kinds else []
    rows += [("‖∂L‖", "norm of ∂L/∂tensor, after backward")] if s.norms else []
    if shaded_edges:
        ramp = "  ".join(f'<font color="{EDGE_COLOR}{_opacity(_strength(n))}" '
                         f'point-size="{7 + 8 * _strength(n):.0f}"><b>━━</b></font> {label}'
                         for n, label in ((1, "1"), (1e-2, "1e-2"), (1e-4, "1e-4"),
                                          (1e-6, "1e-6")))
        rows += [("width", "‖grad‖ along the edge on one log scale"
                  + (" (orange: the same scale, drawn wider)" if s.path else "") + ":"),
                 ("", ramp + " or less"), ("", "the same in every picture; ∂L/∂L = 1 at the loss")]
        if any(e["norm"] and not math.isfinite(e["norm"]) for e in shaded_edges.values()):
            rows.append((f'<font color="{NOT_FINITE}"><b>- -</b></font>',
                         "gradient not finite: nan or inf along the edge"
                         + (" (orange dashed on the path)" if s.path else "")))
        if any(not e["norm"] for e in shaded_edges.values()):
            rows.append((f'<font color="{NO_GRAD}">┈┈</font>',
                         "no gradient: from an input or a constant, or exactly 0"))
            if any(e["heavy"] and not e["norm"] for e in shaded_edges.values()):
                # a row of its own: appended to the line above, the longest, it ran past the
                # legend's border where the viewer's font is wider than dot's
                rows.append((f'<font color="{PATH_COLOR}">┈┈</font>',
                             "no gradient, on the path"))
    if s.stubs:
        rows.append(("stub", "grey text: an edge to a node drawn elsewhere "
                             "(by the id in its circle, nN)"))
    row = '<tr><td align="left">{}</td><td align="left">{}</td></tr>'
    return ('<<table border="1" cellborder="0" cellspacing="2" color="#bbbbbb">'
            '<tr><td colspan="2"><b>legend</b></td></tr>'
            + "".join(row.format(*r) for r in rows) + "</table>>")


def picture_path(out):
    """(format, path) that `render` writes for `out`: the format from the extension (.svg,
    .png, .pdf or .dot, in either case, kept as given; none: .svg). ValueError for any other
    extension."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise ValueError(f"render: cannot write {out.name!r}: the extension must be .svg, .png, "
                         f".pdf or .dot, got {out.suffix!r}")
    return fmt, out if out.suffix else out.with_suffix(".svg")


def _check_writable(*paths):
    """Raise naming render unless each path can be written as a file: not a folder, and the
    nearest of its folders that exists is a folder (the rest render creates)."""
    for path in paths:
        if path.is_dir():
            raise IsADirectoryError(f"render: {path} is a folder; give a file name")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise NotADirectoryError(f"render: cannot write {path}: {folder} is a file, "
                                     "not a folder")


def render(root, out="graph.svg", **draw_kwargs):
    """Write `root`'s graph as DOT source (out with the suffix .dot) and render it with `dot`
    as SVG, PNG or PDF, by out's extension (.dot alone: only the source); an existing folder
    as `out` gets graph.svg inside it. Creates out's folder.

    Returns (written_paths, message). A missing or failing `dot` program is not an error: the
    DOT file is still written and the message says how to install Graphviz, or what `dot`
    said. `draw_kwargs` go to `draw`.
    """
    if str(out).endswith(("/", os.sep)) or Path(out).is_dir():  # as --graph does
        out = Path(out) / "graph.svg"
    fmt, out = picture_path(out)
    dot_path = out if fmt == "dot" else out.with_suffix(".dot")  # x.DOT: that file, as asked
    _check_writable(out, dot_path)  # before draw, which may run the backward
    g = draw(root, **draw_kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    hint = INSTALL_HINT.format(dot=dot_path, fmt=fmt, out=out)
    if shutil.which("dot") is None:  # the hint's command must draw what is written
        _write(dot_path, g.portable())
        return [dot_path], "" if fmt == "dot" else hint
    source = g.source
    _write(dot_path, source)
    try:
        # for .dot alone too: the layout written is one that `dot` has drawn
        data = g.pipe(format="svg" if fmt == "dot" else fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        _write(dot_path, g.portable())
        return [dot_path], hint
    except graphviz.CalledProcessError as e:  # a `dot` that runs but fails
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        shown = "svg" if fmt == "dot" else fmt
        return [dot_path], (f"`dot -T{shown}` failed (exit {e.returncode}"
                            f"{': ' + err[-1] if err else ''}), so only the DOT source was "
                            f"written ({dot_path})")
    if g.source != source:  # dot needed another layout: keep what rendered
        _write(dot_path, g.source)
    if fmt == "dot":
        return [dot_path], ""
    _write(out, data)
    return [dot_path, out], ""


def _write(path, data):
    """path's new content (text or bytes), written beside it and renamed over it: a full disk
    leaves the last picture whole (checkpoint.write_atomically)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    write_atomically(path, lambda f: f.write(data), "render")
