"""Draw the recorded computation graph with Graphviz, the cell-state path standing out.

    g = draw(loss, params=model, grads=True)   # a graphviz.Digraph (shows inline in Jupyter)
    paths, message = render(loss, "out/graph.svg", params=model, grads=True)

The picture is read from the very records `backward()` walks: `autograd.toposort(root)` gives
the tensors (and their order, which numbers the nodes n0, n1, ...), `.parents` the edges, and
the names and scopes the cells record (`c`, `h`, ... inside `scope(layer=l, t=t)`) the clusters
and the highlighted path. Ops are small circles with their symbol (+, ×, σ, tanh, @); named
tensors, parameters and inputs are boxes; one box per timestep and layer, time left to right.
"""

from __future__ import annotations

import html
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import graphviz
import numpy as np

from ..autograd import toposort

PATH_COLOR = "#e8710a"      # the highlighted state path
PATH_FILL = "#fde3cc"
EDGE_COLOR = "#3b4f6b"      # every other edge (faded with edge_grads)
PARAM_COLOR = "#4a78b5"
LONG_STEPS = 6              # more steps than this: stubs instead of edges across the row
STRUCTURAL = {"chunk", "getitem", "transpose", "reshape", "stack", "cat"}  # drawn small, grey
INSTALL_HINT = ("Graphviz's `dot` program was not found, so only the DOT source was written. "
                "Install Graphviz to render pictures: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), or see https://graphviz.org/download/ ; then "
                "render by hand with `dot -Tsvg {dot} -o {out}`.")


def collect_grad_norms(root, retain_graph=False):
    """Run `root.backward()` and return the gradient norms the walk saw.

    Keys: `id(tensor)` -> ‖∂L/∂tensor‖ for every tensor the walk visits, and
    `(id(tensor), i)` -> the norm of the gradient that tensor hands its i-th parent (what flows
    along that edge). `.grad` ends up exactly as after a plain `root.backward()`; the graph is
    freed unless `retain_graph`.
    """
    norms = {}

    def on_step(node, grad, parent_grads):
        norms[id(node)] = float(np.linalg.norm(grad))
        for i, pg in enumerate(parent_grads):
            if pg is not None:
                norms[(id(node), i)] = float(np.linalg.norm(pg))

    root.backward(retain_graph=retain_graph, on_step=on_step)
    return norms


# --- reading the records ---------------------------------------------------------------------

def _nodes(root):
    """Every tensor to draw, in walk order: backward's toposort (root first), then the parents
    it skips because they need no gradient (inputs, constants, an all-zero initial state)."""
    nodes = toposort(root)
    seen = {id(t) for t in nodes}
    for t in list(nodes):
        for p in t.parents:
            if id(p) not in seen:
                seen.add(id(p))
                nodes.append(p)
    return nodes


def _lane(t):
    """The scope without the timestep, e.g. (("layer", 0),): which chain of steps t is in."""
    rank = {"layer": 0, "direction": 1}
    return tuple(sorted(((k, v) for k, v in (t.scope or {}).items() if k != "t"),
                        key=lambda kv: (rank.get(kv[0], 2), kv[0])))


def _step(t):
    step = (t.scope or {}).get("t")
    return step if isinstance(step, int) else None


def _state_paths(nodes, name, max_len=20):
    """Edges (id(parent), id(child)) on the shortest paths from each tensor called `name` to
    the next one of its lane (same scope but t), e.g. c[t−1] → × → + → c[t]. Generic: found by
    a breadth-first search back from each state, never from knowledge of a cell."""
    edges = set()
    for cur in nodes:
        if cur.name != name or _step(cur) is None:
            continue
        lane, dist, levels, found = _lane(cur), {id(cur): 0}, [[cur]], []
        while levels[-1] and len(levels) <= max_len and not found:
            nxt = []
            for v in levels[-1]:
                for p in v.parents:
                    if id(p) not in dist:
                        dist[id(p)] = len(levels)
                        nxt.append(p)
                        if p.name == name and _step(p) is not None and _lane(p) == lane:
                            found.append(p)
            levels.append(nxt)
        on = {id(p) for p in found}
        for d in range(len(levels) - 2, -1, -1):  # back down towards cur
            for v in levels[d]:
                for p in v.parents:
                    if id(p) in on and dist[id(p)] == d + 1:
                        edges.add((id(p), id(v)))
                        on.add(id(v))
    return edges


def _param_names(params):
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    items = params.items() if isinstance(params, dict) else params
    return {id(p): name for name, p in items}


def _norm_keys(grads):
    return {(id(k) if not isinstance(k, (int, tuple)) else k): v for k, v in grads.items()}


# --- labels and styles -------------------------------------------------------------------------

def _fmt_shape(t):
    return "(" + ", ".join(str(n) for n in t.shape) + ("," if t.ndim == 1 else "") + ")"


def _state_label(t):
    """c[t=2], c[l=1,t=2], c[t=2,rev]: compact, the cluster says the rest."""
    s, parts = t.scope or {}, []
    if s.get("layer", 0) != 0:
        parts.append(f"l={s['layer']}")
    parts += [f"{k}={v}" for k, v in s.items() if k not in ("layer", "t", "direction")]
    if "t" in s:
        parts.append(f"t={s['t']}")
    if s.get("direction") == "reverse":
        parts.append("rev")
    return t.name + (f"[{','.join(parts)}]" if parts else "")


def _box(title, t, norm):
    lines = [f"<b>{html.escape(title)}</b>",
             f'<font point-size="8" color="#555555">{_fmt_shape(t)}</font>']
    if norm is not None:
        lines.append(f'<font point-size="8" color="#8a3b00">‖∂L‖ {norm:.2e}</font>')
    return "<" + "<br/>".join(lines) + ">"


def _grad_scale(norms):
    """(lo, hi) in log10 for edge shading: the largest edge gradient and six decades below."""
    logs = [math.log10(v) for k, v in norms.items() if isinstance(k, tuple) and v > 0]
    if not logs:
        return None
    hi = max(logs)
    return max(min(logs), hi - 6.0), hi


def _edge_style(base, heavy, norm, scale):
    width = 3.2 if heavy else 0.8
    if scale is None or norm is None:
        return {"color": base + ("" if heavy else "99"), "penwidth": f"{width:g}"}
    lo, hi = scale
    s = 0.0 if norm <= 0 else min(1.0, max(0.0, (math.log10(norm) - lo) / max(hi - lo, 1e-9)))
    width = (1.5 + 4.0 * s) if heavy else (0.3 + 2.7 * s)
    return {"color": f"{base}{int(30 + 225 * s):02x}", "penwidth": f"{width:.2f}"}


def _cluster_name(key):
    if key[0] == "params":
        return "cluster_params", "parameters (each drawn once)"
    lane = dict(key[1])
    name = "cluster" + "".join(f"_l{v}" if k == "layer" else f"_{v}" if k == "direction"
                               else f"_{k}{v}" for k, v in key[1])
    where = " · ".join(("layer " if k == "layer" else "") + str(v) for k, v in key[1])
    if key[0] == "lane":
        return name + "_shared", (where + " · " if where else "") + "once per sequence"
    if key[0] == "elided":
        return f"{name}_elided", (where + " · " if where else "") + "elided"
    label = (f"t = {key[2]}" if key[2] else "t = 0 (initial state)")
    if lane:
        label = f"{where} · {label}"
    return f"{name}_t{key[2]}", label


# --- the picture -------------------------------------------------------------------------------

@dataclass
class _Facts:
    """What one drawing knows about the graph (built once in `draw`, read by the helpers)."""
    nodes: list             # tensors in walk order; node n{k} is nodes[k]
    num: dict               # id(tensor) -> k
    norms: dict             # from collect_grad_norms
    pnames: dict            # id(parameter) -> name
    path: set               # highlighted edges (id(parent), id(child))
    spine: set              # h[t−1] → h[t] edges, kept straight too (the row of steps)
    last: dict              # lane -> its last timestep
    lanes: list             # lanes in drawing order
    cluster: dict           # id(tensor) -> cluster key (None: top level), for drawn tensors
    stand_in: dict          # id(tensor) -> the "…" node standing for its elided step
    root: object
    highlight: str
    folded: bool

    long: bool = False       # too many steps for long edges: stubs instead
    stubs: list = None       # (cluster key, node id, label) of each stub
    referenced: set = None   # ids of tensors a stub names by their node id

    def __post_init__(self):
        self.stubs, self.referenced = [], set()
        self.on_path = {i for edge in self.path for i in edge}
        self.on_spine = {i for edge in self.spine for i in edge}
        self.twins = {(t.name, _lane(t)): t for t in self.nodes if t.name is not None
                      and _step(t) is not None and _step(t) == self.last[_lane(t)]}


def _is_param(t, pnames):
    return id(t) in pnames or (t.is_leaf and t.requires_grad)


def _placement(nodes, pnames, last, lanes, folded, max_steps):
    """Where each tensor goes: cluster[id] = its cluster key (None for the top level), or
    stand_in[id] = the "…" node of its elided step; in neither, it is not drawn (folded)."""
    cluster, stand_in, home = {}, {}, {}
    for t in nodes:  # walk order: every consumer comes before its parents
        step, lane = _step(t), _lane(t)
        if step is not None and folded and step != last[lane]:
            continue
        if step is not None and max_steps is not None and \
                max_steps < step <= last[lane] - max_steps:
            stand_in[id(t)] = f"e{lanes.index(lane)}"
        elif _is_param(t, pnames):
            cluster[id(t)] = ("params",)
        elif step is not None:
            cluster[id(t)] = ("step", lane, step)
        elif t.scope:
            cluster[id(t)] = ("lane", lane)
        elif not (t.is_leaf and t.size == 1):
            cluster[id(t)] = None
        elif id(t) in home:  # a constant such as the 1 in (1 − z): beside its first consumer
            cluster[id(t)] = home[id(t)]
        if id(t) in cluster:
            for p in t.parents:
                home.setdefault(id(p), cluster[id(t)])
    return cluster, stand_in


def _has_box(t, f):
    return t._ctx is not None and (t.name is not None or t is f.root)


def _out_id(t, f):
    k = f.num[id(t)]
    return f"n{k}v" if _has_box(t, f) else f"n{k}"


def _tensor_nodes(t, f):
    """(node_id, attrs, on_belt) for t: an op circle, plus a box if t is named or the root;
    a leaf is one box (a parameter, an input or a state) or a small constant."""
    k, norm = f.num[id(t)], f.norms.get(id(t))
    lit = id(t) in f.on_path and t.name == f.highlight
    on_belt = id(t) in f.on_path and not f.folded
    group = {}
    if (id(t) in f.on_path or id(t) in f.on_spine) and not f.folded:
        group = {"group": f"{'path' if id(t) in f.on_path else 'spine'}{f.lanes.index(_lane(t))}"}
    box = dict(shape="box", style="rounded,filled", **group)
    if t.is_leaf:
        if _is_param(t, f.pnames):
            label = _box(f.pnames.get(id(t), t.name or "param"), t, norm)
            return [(f"n{k}", dict(box, label=label, fillcolor="#dbe8f7", color=PARAM_COLOR),
                     False)]
        if t.size == 1 and t.name is None:
            return [(f"n{k}", dict(label=f"{t.data.item():g}", shape="plaintext",
                                   fontsize="8", fontcolor="#777777"), False)]
        title = _state_label(t) if t.name else "zeros" if not t.data.any() else "input"
        return [(f"n{k}", dict(box, label=_box(title, t, norm),
                               fillcolor=PATH_FILL if lit else "#e5f2e0",
                               color=PATH_COLOR if lit else "#6a9a5b"), on_belt)]
    symbol, small = type(t._ctx).symbol, t.op in STRUCTURAL
    out = [(f"n{k}", dict(label=symbol, shape="circle", width="0.3", margin="0.01",
                          fontsize="8" if small or len(symbol) > 2 else "11",
                          color="#aaaaaa" if small else "#555555",
                          fontcolor="#777777" if small else "black",
                          tooltip=f"{t.op} → {_fmt_shape(t)}", **group), on_belt)]
    if _has_box(t, f):
        label = _box(_state_label(t) if t.name else "loss", t, norm)
        out.append((f"n{k}v", dict(box, label=label, fillcolor=PATH_FILL if lit else "#f4f4f4",
                                   color=PATH_COLOR if lit else "#999999",
                                   penwidth="1.5" if lit or t is f.root else "1"), on_belt))
    return out


def _source(p, f):
    """The drawn node an edge from p starts at, and whether it loops back (folded view)."""
    if id(p) in f.cluster:
        return _out_id(p, f), False
    if id(p) in f.stand_in:
        return f.stand_in[id(p)], False
    twin = f.twins.get((p.name, _lane(p))) if f.folded and _step(p) is not None else None
    if twin is not None and id(twin) in f.cluster:  # a state of another step: this step's one
        return _out_id(twin, f), True
    return None, False


def _ref(t, f):
    """A short name for a node drawn elsewhere, for the stubs of a long graph."""
    if _is_param(t, f.pnames):
        return f.pnames.get(id(t), t.name or "param")
    if t.name is not None:
        return _state_label(t)
    if t.is_leaf:
        return "input"
    if len(t.parents) == 1 and (t.parents[0].is_leaf or t.parents[0].name is not None):
        return f"{t.op}({_ref(t.parents[0], f)})"
    f.referenced.add(id(t))
    return f"{type(t._ctx).symbol} n{f.num[id(t)]}"


def _edges(f):
    """(src, dst) -> what the edge carries: heavy (on the path), spine, norm, param, free
    (enters a step from outside, so it must not set the ranks), loop (folded). In a long
    graph an edge between a step and the outside would cross every step between (and make
    dot take minutes); it ends at a small stub in the step instead, added to f.stubs."""
    ends = {c for _, c in f.path}
    step_of = lambda t: f.cluster.get(id(t)) if (f.cluster.get(id(t)) or ("",))[0] == "step" \
        else "elided" if id(t) in f.stand_in else None
    edges = {}
    for t in f.nodes:
        if id(t) in f.cluster and _has_box(t, f):
            k = f.num[id(t)]
            edges[(f"n{k}", f"n{k}v")] = dict(heavy=id(t) in ends,
                                               spine=id(t) in ends or id(t) in f.on_spine,
                                               norm=f.norms.get(id(t)))
        dst = f"n{f.num[id(t)]}" if id(t) in f.cluster else f.stand_in.get(id(t))
        for i, p in enumerate(t.parents if dst else ()):
            src, loop = _source(p, f)
            if src is None or src == dst:
                continue
            sp, st = step_of(p), step_of(t)
            local = f.cluster.get(id(p), 0) == f.cluster.get(id(t))
            free = st is not None and (loop or sp is None and not local)
            if f.long and not loop and not local and (sp is None) != (st is None) and \
                    "elided" not in (sp, st) and not (sp and sp[2] == f.last[sp[1]]):
                if st is not None:  # from outside into a step
                    stub = (st, f"{dst}i{i}", _ref(p, f), dst)
                    src = stub[1]
                else:               # from a step out (to the loss, say)
                    stub = (sp, f"{src}o{f.num[id(t)]}", "▸ " + _ref(t, f), src)
                    dst = stub[1]
                f.stubs.append(stub)
                free = False
            e = edges.setdefault((src, dst), dict(heavy=False, spine=False, norm=None))
            e["heavy"] |= (id(p), id(t)) in f.path
            e["spine"] |= (id(p), id(t)) in f.spine or (id(p), id(t)) in f.path
            e["loop"] = e.get("loop", False) or loop
            e["param"] = _is_param(p, f.pnames)
            e["free"] = free
            n = f.norms.get((id(t), i))
            if n is not None:
                e["norm"] = n if e["norm"] is None else max(e["norm"], n)
            dst = f"n{f.num[id(t)]}" if id(t) in f.cluster else f.stand_in.get(id(t))
    return edges


def _edge_attrs(e, scale):
    base = PATH_COLOR if e["heavy"] else PARAM_COLOR if e.get("param") else EDGE_COLOR
    attrs = _edge_style(base, e["heavy"], e["norm"], scale)
    if e["spine"]:
        attrs["weight"] = "10"
    if e.get("param"):
        attrs["style"] = "dashed"
    if e.get("free"):
        attrs["constraint"] = "false"
    if e.get("loop"):
        attrs.update(label="× T", fontsize="10", fontcolor=attrs["color"][:7])
    return attrs


def draw(root, *, highlight="c", grads=None, params=None, folded=False, max_steps=None,
         edge_grads=False, title=None):
    """The computation graph of `root` as a graphviz.Digraph (displays inline in Jupyter).

    Args:
        root: the Tensor to draw from, usually the scalar loss.
        highlight: the state whose step-to-step path is drawn heavy and orange, found from the
            names and scopes the cells record: "c" (an LSTM's cell state; the default) or "h"
            (a GRU's z * h_prev path). Nothing is highlighted where there is no such state.
        grads: None, True, or a dict from `collect_grad_norms` (keys may also be tensors).
            True runs the backward itself (`collect_grad_norms`): `.grad` is left as after a
            plain `root.backward()` and the graph is freed, so do not call backward again.
        params: a Module or {name: Parameter} (e.g. `dict(model.named_parameters())`) to name
            the parameter boxes. Defaults to "param".
        folded: draw one timestep's cell, its recurrent edges looping back, labelled × T.
        max_steps: k to draw only the first and last k timesteps, with a "…" between.
        edge_grads: scale edge width and opacity by log10 of the gradient along each edge
            (needs grads), so vanishing gradients fade out.
        title: the heading. Defaults to what is highlighted (or why nothing is).
    """
    norms = collect_grad_norms(root) if grads is True else _norm_keys(grads or {})
    nodes = _nodes(root)
    pnames = _param_names(params)
    path = _state_paths(nodes, highlight)
    last = {}
    for t in nodes:
        if _step(t) is not None:
            last[_lane(t)] = max(last.get(_lane(t), 0), _step(t))
    lanes = sorted(last, key=repr)
    cluster, stand_in = _placement(nodes, pnames, last, lanes, folded, max_steps)
    f = _Facts(nodes, {id(t): k for k, t in enumerate(nodes)}, norms, pnames, path,
               path if highlight == "h" else _state_paths(nodes, "h"),
               last, lanes, cluster, stand_in, root, highlight, folded)
    drawn_steps = {key for key in cluster.values() if key and key[0] == "step"}
    f.long = len(drawn_steps) > LONG_STEPS
    scale = _grad_scale(norms) if edge_grads else None
    edges = _edges(f)

    g = graphviz.Digraph("graph", graph_attr={
        "rankdir": "LR", "newrank": "true", "nodesep": "0.12", "ranksep": "0.22",
        "fontname": "Helvetica", "fontsize": "12", "labelloc": "t", "labeljust": "l"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.04,0.02"},
        edge_attr={"arrowsize": "0.5"})
    clusters, belt = {}, []
    for t in reversed(nodes):  # in time order
        for node_id, attrs, on_belt in (_tensor_nodes(t, f) if id(t) in cluster else ()):
            # The path's nodes stay outside the step clusters and come last: dot then draws
            # them as one straight line along the row of steps.
            key = cluster[id(t)]
            if id(t) in f.referenced and node_id == f"n{f.num[id(t)]}":
                attrs["xlabel"] = node_id
            dest = belt if on_belt else g.body if key is None else clusters.setdefault(key, [])
            dest.append(_node_line(node_id, attrs))
    for lane in lanes:
        if max_steps is not None and last[lane] > 2 * max_steps:
            clusters[("elided", lane, max_steps + 0.5)] = [_node_line(
                f"e{lanes.index(lane)}", dict(label="…", shape="box", style="dashed,rounded",
                                              color="#999999", fontsize="16", tooltip=(
                    f"t = {max_steps + 1} … {last[lane] - max_steps} not drawn")))]
    for key, node_id, label, beside in f.stubs:  # on the rank of the node it connects to
        clusters[key] += [_node_line(node_id, dict(label=label, shape="plaintext",
                                                   fontsize="8", fontcolor="#777777")),
                          f"\t{{rank=same; {node_id}; {beside}}}\n"]
    for (src, dst), e in edges.items():
        g.edge(src, dst, **_edge_attrs(e, scale))
    for key in sorted(clusters, key=_cluster_sort):
        name, label = _cluster_name(key)
        if folded and key[0] == "step":
            label = label.split("t =")[0] + f"one step, repeated × T (T = {last[key[1]]})"
        with g.subgraph(name=name) as c:
            c.attr(label=label, style="rounded" if key[0] == "step" else "rounded,dashed",
                   color="#bbbbbb", fontsize="10", fontcolor="#555555")
            c.body.extend(clusters[key])
    g.body.extend(belt)
    g.node("legend", label=_legend(f, scale), shape="plaintext")
    heading = title if title is not None else _headline(f)
    g.attr(label=heading.replace("\\", "\\\\").replace("\n", "\\l") + "\\l")  # left-aligned lines
    return g


def _node_line(node_id, attrs):
    g = graphviz.Digraph()
    g.node(node_id, **attrs)
    return g.body[0]


def _cluster_sort(key):
    if key[0] == "params":
        return (0, "", 0)
    return (1, repr(key[1]), -1 if key[0] == "lane" else key[2])


def _path_ops(path, nodes):
    byid = {id(t): t for t in nodes}
    return sorted({type(byid[c]._ctx).symbol for _, c in path if byid[c]._ctx is not None})


def _headline(f):
    view = ("folded: one step drawn once, its recurrent edges looping back" if f.folded
            else "unrolled in time, left to right")
    name = f.highlight
    if f.path:
        ops = " and ".join(_path_ops(f.path, f.nodes))
        return (f"computation graph, {view}\norange: {name}[t−1] → {name}[t], through {ops} only")
    why = f"no {name}[t−1] → {name}[t] path to highlight"
    if f.spine:
        ops = _path_ops(f.spine, f.nodes)
        if set(ops) <= {"+", "×", "−"}:
            why += f"; h[t−1] → h[t] is additive ({' and '.join(ops)}): try highlight='h'"
        else:
            why += (f"; h[t−1] → h[t] passes through {', '.join(ops)}: no additive path, "
                    "so the gradient shrinks at every step")
    return f"computation graph, {view}\n{why}"


def _legend(f, scale):
    row = '<tr><td align="left">{}</td><td align="left">{}</td></tr>'
    name, where = f.highlight, "" if f.path else " (none here)"
    rows = [(f'<font color="{PATH_COLOR}"><b>━━</b></font>', f"{name}[t−1] → {name}[t]{where}"),
            (f'<font color="{EDGE_COLOR}">──</font>', "data flow"),
            (f'<font color="{PARAM_COLOR}">- -</font>', "parameter use")]
    if f.folded:
        rows.append(("× T", "recurrent edge from the step before"))
    rows += [("○", "op: + × σ tanh @ …"), ("▭", "tensor: name[t], shape")]
    if f.norms:
        rows.append(("‖∂L‖", "norm of ∂L/∂tensor, after backward"))
    if scale:
        rows.append(("width", f"log10 of ‖grad‖ along the edge: {10 ** scale[0]:.0e} faint, "
                              f"{10 ** scale[1]:.0e} bold"))
    return ('<<table border="1" cellborder="0" cellspacing="2" color="#bbbbbb">'
            '<tr><td colspan="2"><b>legend</b></td></tr>'
            + "".join(row.format(*r) for r in rows) + "</table>>")


def render(root, out="graph.svg", **draw_kwargs):
    """Write `root`'s graph as DOT source (out with suffix .dot) and render it with `dot`,
    SVG, PNG or PDF by out's extension. Creates out's folder.

    Returns (written_paths, message). A missing `dot` program is not an error: the DOT file is
    still written and the message says how to install Graphviz. `draw_kwargs` go to `draw`.
    """
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"render: cannot write {out.name!r}: the extension must be .svg, .png, "
                         f".pdf or .dot, got {out.suffix!r}")
    out = out if out.suffix else out.with_suffix(".svg")
    g = draw(root, **draw_kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    dot_path = out.with_suffix(".dot")
    dot_path.write_text(g.source, encoding="utf-8")
    if fmt in ("dot", "gv"):
        return [dot_path], ""
    hint = INSTALL_HINT.format(dot=dot_path, out=out)
    if shutil.which("dot") is None:
        return [dot_path], hint
    try:
        data = g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        return [dot_path], hint
    out.write_bytes(data)
    return [dot_path, out], ""
