"""What one drawing of the graph decides, before any DOT is written: the tensors to draw, read
from the very records `backward()` walks (`autograd.toposort(root)` gives the tensors and an
order, each consumer before its inputs, which numbers the nodes n0, n1, ...; `.parents` the
edges), the highlighted state path found from the names and scopes the cells record (for
`highlight="auto"` by `pick_state`, which the stepper's walk.py uses too), which cluster
(timestep, lane, parameters) each node goes in, and each node's box or circle. graph.py turns
a `_Scene` into a graphviz.Digraph.
"""

import html
import numbers
from collections.abc import Hashable

import graphviz
import numpy as np

from ..autograd import _FREED, toposort
from ..tensor import Tensor, shown_scope

PATH_COLOR, PATH_FILL = "#e8710a", "#fde3cc"   # the highlighted state path
EDGE_COLOR, PARAM_COLOR = "#3b4f6b", "#4a78b5"  # other edges (faded by edge_grads), parameters
STRUCTURAL = {"chunk", "getitem", "transpose", "reshape", "stack", "cat"}  # drawn small, grey
BOXES = {"lit": (PATH_FILL, PATH_COLOR), "param": ("#dbe8f7", PARAM_COLOR),  # fill, border
         "input": ("#e5f2e0", "#6a9a5b"), "tensor": ("#f4f4f4", "#999999"),
         "constant": ("#ffffff", "#999999")}
# More steps than this in a lane: an edge between a step and the outside (W_hhᵀ, the input
# projection, the loss) ends at a stub, a grey label naming its source. Drawn whole from 2
# to 6 steps, these edges crossed the cell path and other steps' boxes (a review of every
# demo's picture: the README's and hello's T = 3 and 4 were the tangled ones).
LONG = 1


# --- reading the records ---------------------------------------------------------------------

def _nodes(root):
    """Every tensor to draw, consumers first: the toposort of what backward reaches (root
    first), then the parents it skips because they need no gradient (inputs, constants, an
    all-zero initial state)."""
    nodes = toposort(root)
    seen = {id(t) for t in nodes}
    for t in list(nodes):
        for p in t.parents:
            if id(p) not in seen:
                seen.add(id(p))
                nodes.append(p)
    return nodes


def param_pairs(params, who):
    """The (name, tensor) pairs of `params`: a Module, a {name: tensor} dict or (name, tensor)
    pairs (None: none). Anything else is refused, naming `who`, before any backward runs (a
    state_dict's arrays would name nothing; a Tensor would be iterated row by row)."""
    if params is None:
        return []
    given, want = params, "params must be a Module, a {name: tensor} dict or (name, tensor) pairs"
    kind = "list" if isinstance(given, list) else type(given).__name__  # model.parameters() too
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    elif isinstance(params, dict):
        params = params.items()
    if isinstance(params, (Tensor, str)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{who}: {want}; got {kind}")
    pairs = list(params)
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and isinstance(pair[1], Tensor)):
            what = f"{pair[0]!r}: {type(pair[1]).__name__}" \
                if isinstance(pair, (tuple, list)) and len(pair) == 2 else type(pair).__name__
            raise TypeError(f"{who}: {want}; got {kind} holding {what}")
    return pairs


def check_root(root, who, walks=True):
    """Refuse, naming `who`, a root that recorded no graph (it does not require grad) and,
    where `who` runs the backward itself (`walks`), one whose backward has already run
    without retain_graph: the engine's error would say to pass retain_graph=True to a
    backward() the user never called."""
    if not isinstance(root, Tensor):
        raise TypeError(f"{who}: expected the loss as a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(f"{who}: the root (shape {root.shape}) does not require grad, so no "
                         "graph was recorded: was it made inside no_grad(), or from tensors "
                         "without requires_grad=True?")
    if walks and root.data.size != 1:  # the engine would ask for a backward(grad) argument
        raise ValueError(f"{who}: the backward it runs needs a scalar loss, got shape "
                         f"{root.shape}: reduce it first, e.g. out.sum() or (out ** 2).mean()")
    if walks and root._ctx is not None and root._ctx.saved is _FREED:
        raise RuntimeError(f"{who}: this loss's backward has already run (loss.backward(), "
                           "draw(grads=True) or step() on it) and freed its graph; "
                           f"{who} runs the backward itself: compute the loss again")


def _uniform(t):
    """All one value, as the zeros GRUCell concatenates to its biases or the 1 of (1 − z)."""
    return t.data.size > 0 and bool((t.data == t.data.flat[0]).all())


def _initial_states(nodes):
    """The leaves that hold a state before the first step: a named leaf with a timestep (a
    layer's zero state) and a leaf a named state at a timestep only picks from (h[t=0] =
    hx[layer], an h_0 passed in). They are states even when they require grad and come in
    `params` (as h_0 does, for ∂L/∂h_0), or carry no name (a truncated-BPTT carry-over)."""
    found = set()
    for t in nodes:
        if t.name is not None and _step(t) is not None:
            if t._ctx is None:
                found.add(id(t))
            elif t.op in STRUCTURAL:
                found.update(id(p) for p in t.parents if p._ctx is None)
    return found


def computes(t):
    """True when t is computed by an op that does more than pick or join (a layer's t = 0
    holds its initial states, h[t=0] = hx[layer], which are picked, not computed)."""
    return t._ctx is not None and t.op not in STRUCTURAL


def _lane(t):
    """The scope without the timestep, e.g. (("layer", 0),): which row of steps t is in. A
    value that cannot be a dict key (scope(tags=["enc"])) stands there as its repr."""
    order = {"layer": 0, "direction": 1}
    return tuple(sorted(((k, v if isinstance(v, Hashable) else repr(v))
                         for k, v in (t.scope or {}).items() if k != "t"),
                        key=lambda kv: (order.get(kv[0], 2), kv[0])))


def _visible(lane):
    """The lane without its hidden keys (those starting with "_", such as a layer's `_call`)."""
    return tuple(shown_scope(lane))


def lane_order(lane):
    """A sort key for lanes: numbers in numeric order (call 10 after call 9), then the rest."""
    return tuple((k, (0, v, "") if isinstance(v, numbers.Real) else (1, 0, repr(v)))
                 for k, v in lane)


def shown_lanes(lanes):
    """{lane: the lane as the picture and the stepper name it}. A layer tags each forward
    call's nodes with `_call` (rnn.py), so that two calls in one graph (an encoder's and a
    decoder's "layer 0", or one layer run on two chunks of a sequence) are separate lanes;
    where lanes differ by that alone it is shown as `call 1`, `call 2`, … in the order of the
    calls, and otherwise left out."""
    groups = {}
    for lane in lanes:
        groups.setdefault(_visible(lane), []).append(lane)
    shown = {}
    for visible, same in groups.items():
        if len(same) == 1:
            shown[same[0]] = visible
            continue
        for i, lane in enumerate(sorted(same, key=lane_order), 1):
            shown[lane] = visible + (("call", i),)
    return shown


def _step(t):
    step = (t.scope or {}).get("t")
    # numpy's integers too: `for t in np.arange(T): with scope(t=t):`
    return int(step) if isinstance(step, numbers.Integral) else None


def state_paths(nodes, name, max_len=20):
    """Edges (id(parent), id(child)) on the shortest paths from each tensor called `name` to
    the next one of its lane (same scope but t), e.g. c[t−1] → × → + → c[t]. Generic: found by
    a breadth-first search back from each state, with no knowledge of any cell."""
    edges = set()
    for cur in nodes:
        if cur.name != name or _step(cur) is None:
            continue
        dist, levels, found = {id(cur): 0}, [[cur]], []
        while levels[-1] and len(levels) <= max_len and not found:
            levels.append([])
            for v in levels[-2]:
                for p in v.parents:
                    if id(p) not in dist:
                        dist[id(p)] = len(levels) - 1
                        levels[-1].append(p)
                        if p.name == name and _step(p) is not None and _lane(p) == _lane(cur):
                            found.append(p)
        on = {id(p) for p in found}
        for d in range(len(levels) - 2, -1, -1):  # from the found state back down to cur
            for v in levels[d]:
                for p in v.parents:
                    if id(p) in on and dist[id(p)] == d + 1:
                        edges.add((id(p), id(v)))
                        on.add(id(v))
    return edges


def _symbols(path, nodes):
    """The symbols of the ops along `path` that compute something (not the STRUCTURAL ones,
    which only move values about), sorted."""
    byid = {id(t): t for t in nodes}
    return sorted({type(byid[c]._ctx).symbol for _, c in path
                   if byid[c]._ctx is not None and byid[c].op not in STRUCTURAL})


def _additive(path, nodes):
    """True when the ops along `path` only add, subtract and scale (no squashing)."""
    return set(_symbols(path, nodes)) <= {"+", "×", "−"}


def pick_state(nodes):
    """The state whose path `highlight="auto"` draws and the stepper's `p` follows, found from
    the names and scopes alone: ("c", its path) where there is an additive c[t−1] → c[t] path
    (an LSTM's cell state), else ("h", its path) where h's path is additive (a GRU's
    z * h_prev, its conveyor belt), else None with h's path (maybe empty): a plain RNN's
    h[t−1] → h[t] runs through @ and the activation (a cell of one's own may squash its c
    too), so nothing is highlighted and `no_path_reason` says why."""
    c_path = state_paths(nodes, "c")
    if c_path and _additive(c_path, nodes):
        return "c", c_path
    h_path = state_paths(nodes, "h")
    return ("h" if h_path and _additive(h_path, nodes) else None), h_path


def unscoped_states(nodes, state, beside=False):
    """Where several tensors named `state` have no timestep (a cell called in a loop of one's
    own, without scopes): what to do about it, as a phrase; else "". `beside`: the loop is
    beside a layer, whose lane `scope(t=t)` alone would join (a second t = 0, its steps in
    the layer's row)."""
    n = sum(t.name == state and _step(t) is None for t in nodes)
    fix = 'scope(part="dec", t=t + 1)' if beside else "scope(t=t)"
    return (f"the {n} tensors named '{state}' have no timestep; run each step inside "
            f"`with {fix}:`") if n > 1 else ""


def no_path_reason(nodes, name, h_path):
    """Why `nodes` have no name[t−1] → name[t] path: the states have no timestep or no name,
    no tensor carries that name (a typo: the names there are listed, and c's path where there
    is one), or (from h_path, h's path) h's own path is additive or is not."""
    why = f"no {name}[t−1] → {name}[t] path to highlight"
    absent = not any(t.name == name for t in nodes)
    # a loop over a cell without scopes: the states have no t to order (a GRU's h, where the
    # default c is not there at all)
    for state in (name, "h") if name == "c" and absent else (name,):
        unscoped = unscoped_states(nodes, state)
        if unscoped:
            return f"no {state}[t−1] → {state}[t] path to highlight: {unscoped}"
    if not h_path and absent:  # a loop with scopes, no names
        return (f"{why}: no tensor here is named '{name}' (a cell names its states, e.g. "
                f"`{name} = (...).named(\"{name}\")` inside `with scope(t=t):`)")
    if absent and name != "c":  # a name asked for ("c" is the default): maybe a typo
        names = sorted({t.name for t in nodes if t.name is not None})
        shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        why += f": no tensor here is named '{name}' (the names here: {shown})"
        if state_paths(nodes, "c"):  # then c's path is the one to look at, not h's
            return why + "; c[t−1] → c[t] is the additive cell-state path: try highlight='c'"
    c_path = state_paths(nodes, "c") if name == "c" and not absent else None
    if c_path and not _additive(c_path, nodes):  # a cell of one's own that squashes its c
        squash = [o for o in _symbols(c_path, nodes) if o not in ("+", "×", "−")]
        why += f": c's runs through {', '.join(squash)} (a squashed state, no conveyor belt)"
    if h_path:
        ops = _symbols(h_path, nodes)
        if _additive(h_path, nodes):
            why += f"; h[t−1] → h[t] is additive ({' and '.join(ops)}): try highlight='h'"
        else:
            squash = [o for o in ops if o not in ("+", "×", "−")] or ops  # not additive
            why += (f"; h[t−1] → h[t] passes through {', '.join(squash)}: no additive path, "
                    "so each step back scales the gradient by W_hh and the activation's slope: "
                    "it shrinks (or grows) geometrically")
    return why


# --- labels ----------------------------------------------------------------------------------

def permuted(t):
    """How a transpose node reads after its input: `ᵀ` where it reverses the axes (`W.T`, a
    matrix's swap), `.permute(1, 0, 2)` otherwise (a (2, 4, 3) from a (4, 2, 3) is no Aᵀ)."""
    axes = (t._ctx.args or {}).get("axes")
    n = len(t.shape)
    if axes is None or [a % n for a in axes] == list(range(n))[::-1]:
        return "ᵀ"
    return f".permute({', '.join(str(a % n) for a in axes)})"


def index_text(index):
    """An index as short text, the graph's and the stepper's: `:,3:6`, `::-1`, `2`, `None`,
    `·` for an array index."""
    out = []
    for i in index if isinstance(index, tuple) else (index,):
        if isinstance(i, slice):
            text = f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}"
            out.append(text if i.step is None else f"{text}:{i.step}")
        else:
            out.append("…" if i is Ellipsis else "None" if i is None else str(int(i))
                       if isinstance(i, (int, np.integer)) else "·")
    return ",".join(out)


def _op_text(t):
    """An op's name for a tooltip: a permutation's axes with it (`permute(1, 0, 2)`)."""
    if t.op == "transpose" and permuted(t) != "ᵀ":
        return permuted(t)[1:]
    return t.op


def _shape(t):
    return "(" + ", ".join(map(str, t.shape)) + ("," if t.ndim == 1 else "") + ")"


def _state_label(t, folded=False, layer=False, shown=None, name=None):
    """c[t=2], c[l=1,t=2], c[t=2,rev] (c[t] when folded): the cluster says the rest;
    `layer`: c[l=0,t=2] too, where no cluster says it (the stepper's formulas); `shown`
    (shown_lanes), c[call=2,t=2] where one layer made two lanes (an encoder's and a decoder's
    c[t=2] read the same). `name` stands for t.name (the stepper's `xw[t=2]`)."""
    s = t.scope or {}
    parts = [f"l={s['layer']}"] if s.get("layer", 0) != 0 or layer and "layer" in s else []
    parts += [f"{k}={v}" for k, v in shown_scope(s) if k not in ("layer", "t", "direction")]
    parts += [f"call={v}" for k, v in (shown or {}).get(_lane(t), ()) if k == "call"]
    parts += (["t" if folded else f"t={s['t']}"] if "t" in s else [])
    parts += ["rev"] if s.get("direction") == "reverse" else []
    return (name or t.name) + (f"[{','.join(parts)}]" if parts else "")


def _constant_label(t):
    """1 (the 1 of 1 − z), zeros (4,) (what GRUCell concatenates), or a named constant's name."""
    if t.name is not None or not _uniform(t):
        return t.name or "constant"
    v = t.data.flat[0]
    return f"{v:g}" if t.size == 1 else ("zeros" if v == 0 else f"all {v:g}") + f" {_shape(t)}"


def _box(title, t, norm, folded=False, constant=False, state=False):
    lines = [f"<b>{html.escape(title)}</b>", f'<font point-size="8" color="#555555">'
             f"{_shape(t)}</font>"]
    if constant:  # why its edges carry no gradient (an input's box says so by its colour)
        # a state's given values: a truncated-BPTT carry-over, or an h_0 without grad
        what = "zeros" if not t.data.any() else "given" if state else "constant"
        lines.append(f'<font point-size="8" color="#777777">{what}, no gradient</font>')
    if norm is not None:  # folded: the one step drawn stands for all; its norm is the last's
        at = f" at t={t.scope['t']}" if folded and t.scope and "t" in t.scope else ""
        lines.append(f'<font point-size="8" color="#8a3b00">‖∂L‖{at} {norm:.2e}</font>')
    return "<" + "<br/>".join(lines) + ">"


def _cluster(key, T=None, initial=True):
    """(name, label) of a cluster: ("params", lane), ("lane", lane), ("step", lane, t),
    ("elided", lane, t). A t = 0 step is the initial state unless `initial` is False (a loop
    of one's own that counts its steps from 0)."""
    name = "cluster" + "".join(f"_l{v}" if k == "layer" else f"_{v}" if k == "direction"
                               else f"_{k}{v}" for k, v in key[1])
    where = graphviz.escape("".join((f"{k} " if k in ("layer", "call") else "") + f"{v} · "
                                    for k, v in key[1]))
    if key[0] == "params":  # beside what uses them: a layer's, the head's
        return name.replace("cluster", "cluster_params"), where + "parameters (each drawn once)"
    if key[0] != "step":
        what = "once per sequence" if key[0] == "lane" else "elided"
        return f"{name}_{'shared' if key[0] == 'lane' else what}", where + what
    if T is not None:
        return f"{name}_t{key[2]}", f"{where}one step, repeated × T (T = {T})"
    return f"{name}_t{key[2]}", where + ("t = 0 (initial state)" if key[2] == 0 and initial
                                         else f"t = {key[2]}")


# --- the picture -----------------------------------------------------------------------------

class _Scene:
    """Everything one drawing decides about the graph: what is drawn where, which edges are on
    the highlighted path, and the stubs."""

    def __init__(self, root, highlight, norms, params, folded, max_steps):
        self.nodes = _nodes(root)
        none = False  # auto found no additive path: none drawn (the heading says why)
        if highlight == "auto":  # c, else h where additive; else none, named as c's
            picked = pick_state(self.nodes)[0]
            highlight, none = picked or "c", picked is None
        self.root, self.highlight, self.norms, self.folded = root, highlight, norms, folded
        self.num = {id(t): k for k, t in enumerate(self.nodes)}
        self.pnames = {id(p): name for name, p in params or ()}  # pairs: draw's param_pairs
        self.path = [] if none else state_paths(self.nodes, highlight)
        self.spine = self.path if highlight == "h" else state_paths(self.nodes, "h")
        self.on_path = {i for e in self.path for i in e}
        self.path_ends = {c for _, c in self.path}
        self.on_spine = {i for e in self.spine for i in e}
        self._count_steps()
        self.lanes = sorted(self.last, key=lane_order)
        self.lane_index = {lane: k for k, lane in enumerate(self.lanes)}
        self.shown = shown_lanes(self.lanes)
        # several layers: layer 0's states say l=0 too, as the stepper's do (c[t=1] beside
        # c[l=1,t=1] read as "the" c; the path's boxes sit outside the clusters that say it)
        self.layered = len({dict(lane).get("layer") for lane in self.lanes}) > 1
        self.twins = {(t.name, _lane(t)): t for t in self.nodes  # the folded view's states
                      if t.name is not None and _step(t) is not None
                      and _step(t) == self.folded_step[_lane(t)]}
        self.states = _initial_states(self.nodes)
        self.where, self.stand_in = self._place(max_steps)
        steps = {k for k in self.where.values() if k and k[0] == "step"}  # per lane: a row
        self.stubbed = any(sum(k[1] == lane for k in steps) > LONG for lane in self.lanes)
        self.stubs, self.referenced, self.kinds = [], set(), set()

    def _count_steps(self):
        """Per lane: `last` and `first`, the greatest and smallest t where it computes (not
        only picks: a layer's t = 0 holds its initial states, h[t=0] = hx[layer] when hx is
        given; a loop of one's own may compute at t = 0), `count`, how many such t, and
        `folded_step`, the step the folded view draws: the one run last (the greatest t; a
        reverse direction's smallest), whose states have a step before them for their loops
        to come from."""
        self.last, self.first, self.count, self.folded_step = {}, {}, {}, {}
        seen, computed, latest = {}, {}, {}  # per lane: every t, computed tensors' t, the last
        for t in self.nodes:
            step = _step(t)
            if step is None:
                continue
            lane = _lane(t)
            seen.setdefault(lane, set()).add(step)
            if computes(t):
                computed.setdefault(lane, set()).add(step)
                if t._seq > latest.get(lane, (-1, None))[0]:
                    latest[lane] = (t._seq, step)
        for lane, every in seen.items():
            every = computed.get(lane) or every  # a lane of states only: their t
            self.first[lane], self.last[lane] = min(every), max(every)
            self.count[lane] = len(every)
            self.folded_step[lane] = latest[lane][1] if lane in latest else self.last[lane]

    def elided(self, step, lane, max_steps):
        """True when `max_steps` (steps drawn at each end of a lane) leaves `step` out."""
        return self.first[lane] + max_steps <= step <= self.last[lane] - max_steps

    def shown_key(self, key):
        """A cluster key with its lane as shown (shown_lanes)."""
        return (key[0], self.shown.get(key[1], _visible(key[1]))) + key[2:]

    def is_param(self, t):
        return (id(t) in self.pnames or t.is_leaf and t.requires_grad) and id(t) not in self.states

    def kind(self, t):
        """What t's box says it is: a "param"; an "input" (a leaf without grad, such as x); a
        "constant", a leaf without grad that is all one value (the zeros GRUCell concatenates,
        the 1 of 1 − z) or named, so computed off the graph (log_softmax's detached "max x"),
        which is no input; else a "tensor": computed, or an initial state."""
        if self.is_param(t):
            return "param"
        if not t.is_leaf or t.requires_grad or id(t) in self.states:
            return "tensor"
        return "constant" if t.name is not None or _uniform(t) else "input"

    def _place(self, max_steps):
        """where[id] = the cluster key of a drawn tensor (None: top level); stand_in[id] = the
        "…" node of an elided step. In neither, the tensor is not drawn (folded view)."""
        where, stand_in, home, homes = {}, {}, {}, {}
        uses = {}  # id(parameter) -> the lanes of what uses it
        for t in self.nodes:
            for p in t.parents:
                uses.setdefault(id(p), set()).add(_lane(t))
        for t in self.nodes:  # every consumer comes before its parents
            step, lane = _step(t), _lane(t)
            if step is not None and self.folded and step != self.folded_step[lane]:
                continue
            if step is not None and max_steps is not None and self.elided(step, lane, max_steps):
                stand_in[id(t)] = f"e{self.lane_index[lane]}"
            elif self.is_param(t):
                lane = (home.get(id(t)) or ("", ()))[1]
                # one layer's weights used by several calls: in the layer's box, not the box
                # of the call the walk met first; an encoder's and a decoder's (both layer 0,
                # each used by its own call) keep a box each
                if len({_visible(u) for u in uses.get(id(t), ())}) == 1 < len(uses[id(t)]):
                    lane = _visible(lane)
                where[id(t)] = ("params", lane)
            elif id(t) in self.states and step is None:  # hx: in its state's t = 0 box,
                # the first layer's where it feeds several (h_0 and c_0 took whichever layer
                # the walk met first: h_0 layer 0's, c_0 layer 1's)
                if id(t) in home:  # (folded, that box is not drawn: nor is hx)
                    where[id(t)] = min(homes[id(t)], key=lambda w: lane_order(w[1])
                                       if type(w) is tuple and w[0] == "step" else ())
            elif step is not None:
                where[id(t)] = ("step", lane, step)
            elif t.scope:
                where[id(t)] = ("lane", lane)
            elif self.kind(t) != "constant":
                where[id(t)] = None
            elif id(t) in home:  # a constant such as the 1 of (1 − z): beside its consumer
                where[id(t)] = home[id(t)]
            for p in (t.parents if id(t) in where else ()):
                home.setdefault(id(p), where[id(t)])
                homes.setdefault(id(p), []).append(where[id(t)])
        return where, stand_in

    def has_box(self, t):
        return t._ctx is not None and (t.name is not None or t is self.root)

    def out_id(self, t):
        return f"n{self.num[id(t)]}" + ("v" if self.has_box(t) else "")

    def title(self, t):
        if id(t) in self.pnames:
            return self.pnames[id(t)]
        if t.name is not None:
            return _state_label(t, self.folded, layer=self.layered, shown=self.shown)
        if t is self.root:
            return "loss"
        if id(t) in self.states:
            return "initial state"
        kind = self.kind(t)
        return _constant_label(t) if kind == "constant" else kind

    def tensor_nodes(self, t):
        """(node_id, attrs) for t: an op circle, plus a box if t is named or the root; a leaf
        is one box (a parameter, an input, a state or a named constant) or a small constant."""
        k, norm, kind = self.num[id(t)], self.norms.get(id(t)), self.kind(t)
        self.kinds.add(kind)
        look = "lit" if id(t) in self.on_path and t.name == self.highlight else kind
        fill, color = BOXES[look]
        box = dict(shape="box", style="rounded,filled" + (",dashed" if look == "constant" else ""),
                   fillcolor=fill, color=color,
                   penwidth="1.5" if look == "lit" or t is self.root else "1")
        lane = self.lane_index.get(_lane(t))  # None: a node between steps, unscoped
        if (id(t) in self.on_path or id(t) in self.on_spine) and not self.folded \
                and lane is not None:
            box["group"] = ("path" if id(t) in self.on_path else "spine") + str(lane)
        if kind == "constant" and t.name is None:  # small, as a number in an equation
            return [(f"n{k}", dict(label=_constant_label(t), shape="plaintext", fontsize="8",
                                   fontcolor="#777777", tooltip="a constant: no gradient"))]
        if t.is_leaf:
            constant = not t.requires_grad and kind != "input"
            return [(f"n{k}", dict(box, label=_box(self.title(t), t, norm, self.folded,
                                                    constant, id(t) in self.states)))]
        symbol, small = type(t._ctx).symbol, t.op in STRUCTURAL
        # escaped: a Function of one's own may have any symbol (a backslash broke the DOT)
        circle = dict(label=graphviz.escape(symbol), shape="circle", width="0.3", margin="0.01",
                      fontsize="8" if small or len(symbol) > 2 else "11",
                      color="#aaaaaa" if small else "#555555",
                      fontcolor="#777777" if small else "black",
                      tooltip=graphviz.escape(f"{_op_text(t)} → {_shape(t)}"),
                      **({"group": box["group"]} if "group" in box else {}))
        if not self.has_box(t):
            return [(f"n{k}", circle)]
        return [(f"n{k}", circle),
                (f"n{k}v", dict(box, label=_box(self.title(t), t, norm, self.folded)))]

    def ref(self, t):
        """A short name for a node drawn elsewhere, written on a stub."""
        if t.is_leaf or t.name is not None:
            return self.title(t)
        if len(t.parents) == 1 and (t.parents[0].is_leaf or t.parents[0].name is not None):
            base = self.ref(t.parents[0])  # named as the stepper names it: W_hhᵀ, b_hh[8:]
            if t.op == "transpose":
                return base + permuted(t)
            if t.op == "getitem" and "index" in (t._ctx.args or {}):
                return f"{base}[{index_text(t._ctx.args['index'])}]"
            return f"{t.op}({base})"
        self.referenced.add(id(t))  # that node shows its id, n57, under its symbol
        return f"{type(t._ctx).symbol} n{self.num[id(t)]}"

    def _stepwise(self, t):
        key = self.where.get(id(t))
        return "elided" if id(t) in self.stand_in else key if key and key[0] == "step" else None

    def mirrored(self, lane):
        """True for a reverse direction's row (unfolded), drawn as a textbook BiRNN draws it:
        its step t in the forward row's column for t, its arrows running right to left (how:
        graph.Picture.mirrored_edge)."""
        return lane is not None and not self.folded and dict(lane).get("direction") == "reverse"

    def _row(self, t):
        """The lane whose row of steps t is drawn in (an elided step's too), else None."""
        key = self._stepwise(t)
        return _lane(t) if key == "elided" else key[1] if key else None

    def step_ends(self):
        """{(lane, t): (first, last)} for each drawn step: the ids of its first node to use an
        earlier step (h[t−1] @ W_hhᵀ) and of the last node computed in its box (the
        highlighted path runs outside the boxes): where its box starts and ends, left and
        right in a forward row, right and left in a mirrored one."""
        firsts, lasts = {}, {}
        for t in self.nodes:
            key = self._stepwise(t)
            if key in (None, "elided") or id(t) in self.on_path or not computes(t):
                continue
            if any(self._row(p) == key[1] and self._stepwise(p) != key for p in t.parents):
                firsts[key] = min(firsts.get(key, t), t, key=lambda n: n._seq)
            lasts[key] = max(lasts.get(key, t), t, key=lambda n: n._seq)
        return {key[1:]: (f"n{self.num[id(t)]}", self.out_id(lasts[key]))
                for key, t in firsts.items()}

    def edges(self):
        """{(src, dst): facts} for every drawn edge: heavy (on the path), spine (kept
        straight), norm (of the gradient along it), param, loop (folded), back (drawn from dst
        to src: it is inside a reverse direction's row, see `mirrored`), free (must not set
        the ranks: it enters a step from outside, or it leaves the highlighted row for a later
        step while its own step still uses the state, as the peephole c[t−1] → i, f gates do;
        ranked, it would start step t before step t−1 ends and dot would stack the boxes as a
        staircase). Where a lane has more than LONG steps, an edge between a step and the outside
        would cross the cell path and the steps between (and, in a long graph, cost dot
        minutes): it ends at a stub."""
        edges = {}
        inner = {id(p) for t in self.nodes if self._stepwise(t) not in (None, "elided")
                 for p in t.parents if self.where.get(id(p)) == self.where.get(id(t))}
        for t in self.nodes:
            if id(t) in self.where and self.has_box(t):  # op circle -> its box
                k, on = self.num[id(t)], id(t) in self.path_ends
                edges[(f"n{k}", f"n{k}v")] = dict(heavy=on, spine=on or id(t) in self.on_spine,
                                                   norm=self.norms.get(id(t)), param=False,
                                                   free=False, back=self.mirrored(self._row(t)))
            into = f"n{self.num[id(t)]}" if id(t) in self.where else self.stand_in.get(id(t))
            for i, p in enumerate(t.parents if into else ()):
                src = self.out_id(p) if id(p) in self.where else self.stand_in.get(id(p))
                dst, loop = into, False
                twin = self.twins.get((p.name, _lane(p))) if self.folded else None
                if src is None and twin is not None and id(twin) in self.where:
                    src, loop = self.out_id(twin), True  # this step's state stands for p
                if src is None or src == dst:
                    continue
                sp, st = self._stepwise(p), self._stepwise(t)
                row = self._row(p)
                row = row if row == self._row(t) else None  # inside a row
                local = self.where.get(id(p), 0) == self.where.get(id(t))
                ahead = id(p) in self.on_path and id(p) in inner and not local and \
                    "elided" not in (sp, st) and None not in (sp, st) and sp[1] == st[1] and \
                    (id(p), id(t)) not in self.path and (id(p), id(t)) not in self.spine
                free = st is not None and (loop or ahead or sp is None and not local)
                if self.stubbed and not (loop or local) and (sp is None) != (st is None) and \
                        "elided" not in (sp, st) and not (sp and sp[2] == self.last[sp[1]]):
                    if st is not None:  # from the outside into a step
                        src = f"{dst}i{i}"
                        self.stubs.append((st, src, self.ref(p), dst, not self.is_param(p)))
                        row = st[1]
                    else:               # out of a step (to the loss, say)
                        dst = f"{src}o{self.num[id(t)]}"
                        self.stubs.append((sp, dst, "▸ " + self.ref(t), src, True))
                        row = sp[1]
                    free = False
                e = edges.setdefault((src, dst), dict(heavy=False, spine=False, norm=None))
                e["heavy"] |= (id(p), id(t)) in self.path
                e["spine"] |= (id(p), id(t)) in self.spine or e["heavy"]
                e.update(loop=e.get("loop") or loop, param=self.is_param(p), free=free,
                         back=self.mirrored(row))
                n = self.norms.get((id(t), i))
                if n is not None:
                    e["norm"] = max(n, e["norm"] or 0.0)
        return edges
