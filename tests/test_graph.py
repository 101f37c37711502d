"""The Graphviz renderer, tested as DOT text (no `dot` program needed, except for the one test
that renders an SVG): clusters per step, the highlighted cell-state chain, the folded and elided
views, gradient annotations against a plain backward, determinism, and a missing `dot`."""

import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from collections import Counter

import graphviz
import numpy as np
import pytest

from tinygrad_lstm import Tensor, manual_seed, nn, scope
from tinygrad_lstm import functional as F
from tinygrad_lstm.viz import graph
from tinygrad_lstm.viz.graph import PATH_COLOR, collect_grad_norms, draw, render

# --- a small reader for the DOT text graphviz writes ------------------------------------------

NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
ATTR = re.compile(r'(\w+)=(<.*?>(?= \w+=|$)|"(?:[^"\\]|\\.)*"|\S+)')


def attrs(text):
    return {k: v[1:-1] if v[0] in '"<' else v for k, v in ATTR.findall(text or "")}


def parse(source):
    """nodes {id: attrs (with "cluster")}, edges [(src, dst, attrs)] as the data flows,
    clusters {name: [ids]}."""
    nodes, edges, clusters, stack = {}, [], {}, []
    for line in source.splitlines():
        if line.strip().startswith("subgraph"):
            stack.append(line.split()[1])
            clusters[stack[-1]] = []
        elif line.strip() == "}" and stack:
            stack.pop()
        elif EDGE.match(line):
            src, dst, a = EDGE.match(line).groups()
            a = attrs(a)
            # a reverse direction's row is drawn right to left: its edges are written backwards
            edges.append((dst, src, a) if a.get("dir") == "back" else (src, dst, a))
        elif NODE.match(line):
            node_id, a = NODE.match(line).groups()
            if node_id in ("graph", "node", "edge"):
                continue
            nodes[node_id] = {**attrs(a), "cluster": stack[-1] if stack else None}
            if stack:
                clusters[stack[-1]].append(node_id)
    return nodes, edges, clusters


def laid_out(path):
    """The objects (clusters, nodes) of the DOT file at `path` as dot lays it out, with their
    boxes and positions (`dot -Tjson`)."""
    import json
    return json.loads(subprocess.run(["dot", "-Tjson", str(path)], capture_output=True,
                                     check=True).stdout)["objects"]


def title(node):
    """The bold first line of a tensor box, or an op circle's symbol."""
    m = re.search(r"<b>(.*?)</b>", node.get("label", ""))
    return m.group(1) if m else node.get("label")


def grad_note(node):
    m = re.search(r"‖∂L‖ ([0-9.e+-]+)", node.get("label", ""))
    return float(m.group(1)) if m else None


def highlighted_chain(source):
    """The highlighted edges as one chain of node titles; fails unless they form exactly one
    simple path."""
    nodes, edges, _ = parse(source)
    lit = [(s, d) for s, d, a in edges if a.get("color", "").startswith(PATH_COLOR)]
    succ, pred = dict(lit), {d: s for s, d in lit}
    assert len(succ) == len(lit) and len(pred) == len(lit), "the highlighted edges branch"
    starts = [s for s in succ if s not in pred]
    assert len(starts) == 1, f"expected one chain, found {len(starts)} starts"
    chain = [starts[0]]
    while chain[-1] in succ:
        chain.append(succ[chain[-1]])
    assert len(chain) == len(lit) + 1, "the highlighted edges are not connected"
    return [title(nodes[n]) for n in chain]


def clusters_by_step(source):
    nodes, _, clusters = parse(source)
    return {name: Counter(nodes[n].get("label") for n in ids) for name, ids in clusters.items()
            if re.search(r"_t[1-9]\d*$", name)}


# --- models ----------------------------------------------------------------------------------

def run(kind="LSTM", T=3, seed=0, loss_on="last", **kw):
    """A small layer on a fixed input; returns (loss, model)."""
    rng = manual_seed(seed)
    model = getattr(nn, kind)(3, 4, rng=rng, **kw)
    x = Tensor(np.random.default_rng(seed).standard_normal((T, 2, 3)).astype(np.float32))
    out, _ = model(x)
    y = out[-1] if loss_on == "last" else out
    return (y * y).mean(), model


# --- the unrolled picture --------------------------------------------------------------------

def test_lstm_has_one_cluster_per_step_with_three_sigmoids_and_two_tanhs():
    loss, model = run("LSTM")
    source = draw(loss, params=model).source
    steps = clusters_by_step(source)
    assert sorted(steps) == ["cluster_l0_t1", "cluster_l0_t2", "cluster_l0_t3"]
    for name, labels in steps.items():
        assert labels["σ"] == 3 and labels["tanh"] == 2, (name, labels)
    assert "cluster_l0_t0" in source  # the initial state
    assert "weight_hh_l0" in source and "bias_ih_l0" in source  # parameters named once
    assert source.count("<b>weight_hh_l0</b>") == 1


def heading_lines(g):
    """A drawing's heading, line by line (it ends each with `\\l`, left-aligned)."""
    label = next(ln for ln in g.source.splitlines() if ln.strip().startswith("label=")
                 and "computation graph" in ln)
    return label.split('"')[1].split("\\l")


def heading(g):
    """A drawing's heading as one line (it is wrapped at 100 characters)."""
    return " ".join(heading_lines(g)).strip()


def test_a_mistyped_highlight_is_named_with_the_names_there_and_the_path_to_look_at():
    """highlight="cc" on an LSTM was explained with h's path ("no additive path, so each step
    back ... shrinks"), as if the LSTM had no conveyor belt."""
    loss, model = run("LSTM")
    source = heading(draw(loss, highlight="cc", params=model))
    assert ("no cc[t−1] → cc[t] path to highlight: no tensor here is named 'cc' (the names "
            "here: c, f, g, h, i, o); c[t−1] → c[t] is the additive cell-state path: "
            "try highlight='c'") in source
    assert "no additive path" not in source
    # on a GRU the typo is named, and the additive h path suggested as before
    loss, model = run("GRU")
    source = heading(draw(loss, highlight="zz", params=model))
    assert "no tensor here is named 'zz' (the names here: h, n, r, z)" in source
    assert "try highlight='h'" in source


def test_lstm_cell_state_path_is_one_chain_through_times_and_plus_only():
    loss, model = run("LSTM", forget_bias=1.0)
    chain = highlighted_chain(draw(loss, params=model).source)
    assert chain == ["c[t=0]", "×", "+", "c[t=1]", "×", "+", "c[t=2]", "×", "+", "c[t=3]"]


def test_rnn_has_no_highlighted_path_and_says_why():
    loss, model = run("RNN")
    source = draw(loss, params=model).source
    _, edges, _ = parse(source)
    assert not [e for e in edges if e[2].get("color", "").startswith(PATH_COLOR)]
    assert "no c[t−1] → c[t] path" in source and "no additive path" in source
    assert len(clusters_by_step(source)) == 3
    # and no orange row in the legend for a path that is not there (it said "(none here)")
    assert PATH_COLOR not in source.split("legend")[-1] and "none here" not in source


def test_a_cell_that_squashes_its_c_gets_no_conveyor_belt_and_is_told_why():
    # its c[t−1] → c[t] runs through tanh: "auto" drew it as the additive belt (and the
    # stepper marked it "c path") (review helper)
    class SquashedC(nn.LSTMCell):
        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)
            i, f, o, g = i.sigmoid(), f.sigmoid(), o.sigmoid(), g.tanh()
            c = (f * c_prev + i * g).tanh().named("c")
            return {"c": c, "h": (o * c).named("h")}

    manual_seed(0)
    model = nn.LSTM(2, 3, cell=SquashedC)
    out, _ = model(Tensor(np.random.default_rng(1).standard_normal((3, 1, 2)).astype(np.float32)))
    loss = (out * out).mean()
    g = draw(loss, highlight="auto", params=model)
    _, edges, _ = parse(g.source)
    assert not [e for e in edges if e[2].get("color", "").startswith(PATH_COLOR)]
    assert "c's runs through tanh (a squashed state, no conveyor belt)" in heading(g)
    from tinygrad_lstm.viz.stepper import record
    walk = record(loss, model)
    assert walk.path_state is None and "c's runs through tanh" in walk.no_path
    assert "c's runs" not in heading(draw(loss, highlight="h", params=model))  # h asked for

    class HalfSquashed(SquashedC):  # a − on the path is no squashing: only tanh is named
        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)
            i, f, o, g = i.sigmoid(), f.sigmoid(), o.sigmoid(), g.tanh()
            c = (f * c_prev - i * g).tanh().named("c")
            return {"c": c, "h": (o * c).named("h")}

    model = nn.LSTM(2, 3, cell=HalfSquashed)
    out, _ = model(Tensor(np.ones((3, 1, 2), np.float32)))
    assert "c's runs through tanh (a squashed" in heading(draw((out * out).mean(),
                                                               highlight="auto", params=model))
    plain = nn.LSTM(2, 3)  # the LSTM's own c keeps its belt
    out, _ = plain(Tensor(np.ones((3, 1, 2), np.float32)))
    assert highlighted_chain(draw((out * out).mean(), highlight="auto", params=plain).source)


def test_gru_z_times_h_path_is_highlighted_with_highlight_h():
    loss, model = run("GRU")
    chain = highlighted_chain(draw(loss, highlight="h", params=model).source)
    assert chain[0] == "h[t=0]" and chain[-1] == "h[t=3]"
    assert [s for s in chain if "[" not in s] == ["×", "+"] * 3
    # with the default highlight the GRU picture points at its additive h path instead
    assert "try highlight='h'" in draw(loss, params=model).source


def early_edges(source):
    """Edges into the box of a later step from a node of step s (in s's box, or its state on
    the highlighted row) that s's own box also uses: (src, dst, attrs), not highlighted."""
    nodes, edges, _ = parse(source)

    def box(n):
        m = re.search(r"_t(\d+)$", nodes[n]["cluster"] or "")
        return int(m.group(1)) if m else None

    def step(n):
        m = re.search(r"\[t=(\d+)\]$", title(nodes[n]) or "")
        return box(n) if box(n) is not None else int(m.group(1)) if m else None

    stub = lambda n: nodes[n].get("shape") == "plaintext"  # a label in s's box, not a use
    inner = {s for s, d, _ in edges if box(d) is not None and step(s) == box(d) and not stub(d)}
    return [(s, d, a) for s, d, a in edges if s in inner and box(d) is not None
            and box(d) > step(s) and not a.get("color", "").startswith(PATH_COLOR)]


@pytest.mark.parametrize("kind, cell", [("LSTM", "PeepholeLSTMCell"), ("LSTM", None),
                                        ("GRU", None), ("RNN", None)])
def test_steps_stay_in_line_when_a_state_feeds_the_next_step_early(kind, cell):
    """A peephole LSTM's i, f gates read c[t−1] while step t−1 still uses it (tanh(c), o's
    peephole). Ranked, those edges started step t before step t−1 ended and dot stacked the
    boxes as a staircase: they must not set the ranks. Only they are freed (an edge into a
    step from outside, W_hhᵀ or the input projection, ends at a stub in the step's box)."""
    loss, model = run(kind, T=4, **({"cell": getattr(nn, cell)} if cell else {}))
    source = draw(loss, params=model, highlight="auto").source
    early = early_edges(source)
    nodes, edges, _ = parse(source)
    if cell:  # c[t−1] → the i and f peepholes of steps 2, 3, 4 (c[t=0] is no step's own)
        assert len(early) == 2 * 3
        assert {title(nodes[s]) for s, _, _ in early} == {"c[t=1]", "c[t=2]", "c[t=3]"}
        assert all(a.get("constraint") == "false" for _, _, a in early)
        assert highlighted_chain(source) == ["c[t=0]"] + ["×", "+", "c[t=1]"] + \
            ["×", "+", "c[t=2]"] + ["×", "+", "c[t=3]"] + ["×", "+", "c[t=4]"]
    else:  # nothing to free: the picture is as it was
        assert early == []
    stepwise = lambda n: re.search(r"_t\d+$", nodes[n]["cluster"] or "") or \
        re.search(r"\[t=\d+\]$", title(nodes[n]) or "")
    free = [(s, d) for s, d, a in edges if a.get("constraint") == "false"]
    assert all(not stepwise(s) or (s, d) in {(s, d) for s, d, _ in early} for s, d in free)
    assert bool(free) == bool(cell)  # what enters a step from outside ends at a stub


def test_lstm_cell_loop_with_user_scopes_is_found_by_names():
    """The README's hand-written loop: scope(t=...) and .named("c") are all the renderer needs."""
    rng = manual_seed(1)
    cell = nn.LSTMCell(3, 4, rng=rng)
    h, c = Tensor(np.zeros((2, 4), np.float32)), Tensor(np.zeros((2, 4), np.float32))
    for t in range(4):
        with scope(t=t):
            h, c = cell(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), (h, c))
    source = draw((h * h).sum(), params=cell).source
    chain = highlighted_chain(source)
    assert chain[0] == "c[t=0]" and chain[-1] == "c[t=3]" and len(chain) == 10
    assert "cluster_t3" in source
    # its first step is t = 0: the box says "t = 0", not "initial state" (it holds a whole step)
    labels = re.findall(r'label="(t = [^"]*)"', source)
    assert labels == ["t = 0", "t = 1", "t = 2", "t = 3"]
    loss, model = run("LSTM")  # a layer's t = 0 is its initial state
    assert "layer 0 · t = 0 (initial state)" in draw(loss, params=model).source


def test_stacked_bidirectional_lstm_has_a_chain_per_layer_and_direction():
    loss, model = run("LSTM", num_layers=2, bidirectional=True, loss_on="all")
    nodes, edges, clusters = parse(draw(loss, params=model).source)
    assert {"cluster_l0_t1", "cluster_l1_t3", "cluster_l0_reverse_t1", "cluster_l1_reverse_t3"} \
        <= set(clusters)
    lit = [(s, d) for s, d, a in edges if a.get("color", "").startswith(PATH_COLOR)]
    ends = {title(nodes[d]) for _, d in lit if title(nodes[d]).startswith("c[")}
    # layer 0's say l=0 too, as the stepper's do (a bare c[t=1] beside c[l=1,t=1], a review)
    assert ends == {"c[l=0,t=1]", "c[l=0,t=2]", "c[l=0,t=3]",
                    "c[l=1,t=1]", "c[l=1,t=2]", "c[l=1,t=3]",
                    "c[l=0,t=1,rev]", "c[l=0,t=2,rev]", "c[l=0,t=3,rev]",
                    "c[l=1,t=1,rev]", "c[l=1,t=2,rev]", "c[l=1,t=3,rev]"}
    loss, model = run("LSTM", bidirectional=True, loss_on="all")  # one layer: no l= at all
    nodes, _, _ = parse(draw(loss, params=model).source)
    assert {"c[t=1]", "c[t=1,rev]"} <= {title(a) for a in nodes.values()}
    assert not any("l=" in (title(a) or "") for a in nodes.values())
    assert len(lit) == 4 * 3 * 3  # (c → ×, × → +, + → c) per step, layer and direction


def test_parameters_are_named_from_a_dict_and_boxed_beside_what_uses_them():
    """As the CLI calls it: a {name: Parameter} dict over a recurrent layer and a linear head."""
    rng = manual_seed(2)
    rnn, head = nn.LSTM(3, 4, rng=rng), nn.Linear(4, 5, rng=rng)
    out, _ = rnn(Tensor(rng.standard_normal((3, 2, 3)).astype(np.float32)))
    loss = (head(out) ** 2).mean()
    params = {**{f"rnn.{k}": p for k, p in rnn.named_parameters()},
              **{f"head.{k}": p for k, p in head.named_parameters()}}
    nodes, _, clusters = parse(draw(loss, params=params).source)
    names = lambda c: sorted(title(nodes[n]) for n in clusters[c])
    assert names("cluster_params_l0") == ["rnn.bias_hh_l0", "rnn.bias_ih_l0",
                                          "rnn.weight_hh_l0", "rnn.weight_ih_l0"]
    assert names("cluster_params") == ["head.bias", "head.weight"]


# --- folded and elided views ----------------------------------------------------------------

def test_folded_view_draws_one_cell_with_recurrent_edges_labelled_times_t():
    loss, model = run("LSTM", T=5)
    source = draw(loss, params=model, folded=True).source
    nodes, edges, clusters = parse(source)
    labels = Counter(n.get("label") for n in nodes.values())
    assert labels["σ"] == 3 and labels["tanh"] == 2
    assert [c for c in clusters if "_t" in c] == ["cluster_l0_t5"]
    loops = [(s, d) for s, d, a in edges if a.get("label") == "× T"]
    assert {title(nodes[s]) for s, _ in loops} >= {"c[t]", "h[t]"}
    assert "repeated × T (T = 5)" in source
    # an × T edge out of the cell (h[t] → stack) is not recurrent: the legend covers both
    assert any(title(nodes[d]) == "stack" for _, d in loops)
    assert "one edge per timestep: looping back, from the step before; out of the cell, " \
        "each step's output" in source
    with_grads = draw(loss, params=model, folded=True, grads=True).source
    assert "‖∂L‖ at t=5 " in with_grads  # the one step drawn is the last: its norm says so


def test_max_steps_draws_first_and_last_steps_with_an_ellipsis_between():
    loss, model = run("LSTM", T=10)
    source = draw(loss, params=model, max_steps=2).source
    nodes, _, clusters = parse(source)
    steps = sorted(c for c in clusters if re.search(r"_t\d+$", c))
    assert steps == ["cluster_l0_t0", "cluster_l0_t1", "cluster_l0_t10", "cluster_l0_t2",
                     "cluster_l0_t9"]
    elided = "…\\nt = 3 … 8 not drawn"  # which steps, in the label (a PNG has no tooltips)
    assert any(n.get("label") == elided for n in nodes.values())
    assert "c[t=5]" not in source
    chain = highlighted_chain(source)  # still one chain, through the "…"
    assert chain[:7] == ["c[t=0]", "×", "+", "c[t=1]", "×", "+", "c[t=2]"]
    assert chain[7] == elided and chain[-1] == "c[t=10]"
    one = draw(run("LSTM", T=5)[0], max_steps=2).source  # one step left out: not "3 … 3"
    assert "…\\nt = 3 not drawn" in one and "3 … 3" not in one
    none = draw(run("LSTM", T=4)[0], max_steps=2).source  # T = 2 · max_steps: all drawn
    assert "not drawn" not in none and "c[t=4]" in none
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"draw: max_steps must be a whole number of at "
                                             r"least 1, got " + re.escape(repr(bad))):
            draw(loss, max_steps=bad)


def test_long_sequences_use_stubs_instead_of_edges_across_the_row():
    """Edges from the shared input projection to every step would cross the whole row (and make
    dot take minutes at T=100): in a long graph each step gets a small stub instead."""
    loss, model = run("LSTM", T=20)
    nodes, edges, _ = parse(draw(loss, params=model).source)
    step = lambda n: re.search(r"_t(\d+)$", nodes[n]["cluster"] or "")
    for s, d, _ in edges:
        if "group" in nodes[s] or "group" in nodes[d]:
            continue  # the straight rows of c and h
        a, b = step(s), step(d)
        if (a is None) != (b is None):  # between a step and the outside: only near the ends
            t = int((a or b).group(1))
            assert t in (0, 1, 20), (nodes[s], nodes[d])


@pytest.mark.parametrize("kind, T", [("LSTM", 3), ("GRU", 4), ("RNN", 2)])
def test_what_enters_a_step_from_outside_ends_at_a_stub_in_short_graphs_too(kind, T):
    """Drawn whole, the edges from the once-per-sequence box (W_hhᵀ, the input projection) into
    each of a few steps crossed the cell path and the other steps' boxes: the README's T = 3
    pictures and hello's T = 4 were the tangled ones (a review of every demo's picture). From
    two steps on, each ends at a stub in its step's box, naming its source."""
    loss, model = run(kind, T=T)
    nodes, edges, _ = parse(draw(loss, params=model).source)
    step = lambda n: re.search(r"_t([1-9]\d*)$", nodes[n]["cluster"] or "")  # t = 0: states
    stubs = [n for n, a in nodes.items() if a.get("shape") == "plaintext" and n != "legend"]
    assert len(stubs) >= 2 * T  # W_hhᵀ and the input row, at every step
    for s, d, _ in edges:
        if step(d) and not step(s):
            assert s in stubs or "[t=" in (title(nodes[s]) or ""), (nodes[s], nodes[d])


def test_a_stub_names_a_circle_that_shows_that_name_inside_it():
    """A stub reads "+ n74": the circle it stands for shows n74 under its symbol, in the stubs'
    small grey type. As an xlabel beside the circle, hello's picture set n74 as near the +
    before it as its own (a newcomer's walk through the README)."""
    loss, model = run("LSTM", T=4)
    nodes, _, _ = parse(draw(loss, params=model).source)
    named = {m.group(1) for a in nodes.values() if a.get("shape") == "plaintext"
             for m in [re.search(r" (n\d+)$", a.get("label", ""))] if m}
    assert named  # the input projection's +, at least
    for n in named:
        assert nodes[n]["shape"] == "circle"
        assert re.fullmatch(rf'\S+<BR/><FONT POINT-SIZE="7" COLOR="#777777">{n}</FONT>',
                            nodes[n]["label"]), nodes[n]
    assert not any("xlabel" in a for a in nodes.values())


def test_a_stub_names_a_transposed_or_sliced_parameter_as_the_stepper_does():
    """The graph's stubs read transpose(weight_hh_l0) and getitem(bias_hh_l0) where the
    stepper's screens say weight_hh_l0ᵀ and bias_hh_l0[8:] (a review of both views)."""
    loss, model = run("GRU", T=3)
    nodes, _, _ = parse(draw(loss, params=model).source)
    stubs = {a["label"] for a in nodes.values() if a.get("shape") == "plaintext"}
    H = model.hidden_size
    assert {"weight_hh_l0ᵀ", f"bias_hh_l0[{2 * H}:]"} <= stubs, stubs
    assert not any(s.startswith(("transpose(", "getitem(")) for s in stubs), stubs


# --- gradients -------------------------------------------------------------------------------

def test_grad_notes_equal_the_norms_of_a_plain_backward():
    loss, model = run("LSTM", forget_bias=1.0)
    source = draw(loss, params=model, grads=True, edge_grads=True).source
    notes = {title(n): grad_note(n) for n in parse(source)[0].values() if grad_note(n) is not None}

    # the same model and input, a plain backward, with retain_grad on the states
    rng = manual_seed(0)
    model2 = nn.LSTM(3, 4, rng=rng, forget_bias=1.0)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32))
    out, _, states = model2(x, return_states=True)
    named = {f"{k}[t={t + 1}]": s for k in "ifgoch" for t, s in enumerate(states.get(k))}
    for s in named.values():
        s.retain_grad()
    (out[-1] * out[-1]).mean().backward()
    for label, s in named.items():
        assert notes[label] == pytest.approx(np.linalg.norm(s.grad), rel=5e-3), label
    for name, p in model2.named_parameters():
        assert notes[name] == pytest.approx(np.linalg.norm(p.grad), rel=5e-3), name
        assert np.array_equal(p.grad, dict(model.named_parameters())[name].grad)  # as backward
    assert notes["loss"] == 1.0


def test_collect_grad_norms_matches_retain_grad_exactly_and_accepts_tensor_keys():
    rng = manual_seed(3)
    model = nn.GRU(3, 4, rng=rng)
    out, _, states = model(Tensor(rng.standard_normal((4, 2, 3)).astype(np.float32)),
                           return_states=True)
    hs = states.get("h")
    for h in hs:
        h.retain_grad()
    loss = (out * out).sum()
    norms = collect_grad_norms(loss)
    for h in hs:
        assert norms[id(h)] == pytest.approx(float(np.linalg.norm(h.grad)), rel=1e-6)
    by_tensor = {h: 123.0 for h in hs}
    assert "‖∂L‖ 1.23e+02" in draw(loss, grads=by_tensor).source


def test_edge_grads_fade_towards_the_start_in_an_rnn():
    loss, model = run("RNN", T=6)
    nodes, edges, _ = parse(draw(loss, params=model, grads=True, edge_grads=True).source)
    width = {title(nodes[s]): float(a["penwidth"]) for s, d, a in edges
             if title(nodes[s]).startswith("h[")}
    assert width["h[t=1]"] < width["h[t=3]"] < width["h[t=5]"]


def width_on_the_fixed_scale(n, path=False):
    """edge_grads' width for ‖grad‖ = n: one log scale for every picture, widest at 1 (∂L/∂L)
    and thinnest at 1e-6 or below; the highlighted path on a wider ramp of it."""
    s = min(1.0, max(0.0, 1 + np.log10(n) / 6))
    return 1.6 + 3.4 * s if path else 0.4 + 2.1 * s


def test_edge_width_is_its_own_gradient_on_one_fixed_scale():
    """The scale ran from the smallest gradient in the picture to the largest: the faintest
    edge looked faded even where nothing vanished, and an LSTM's picture could not be set
    beside an RNN's. Now a gradient of 1e-3 is half way down the width, in any picture."""
    w = Tensor(np.ones(1, np.float32), requires_grad=True)
    nodes, edges, _ = parse(draw((w * 1e-3).sum(), grads=True, edge_grads=True).source)
    width = {(title(nodes[s]), title(nodes[d])): float(a["penwidth"]) for s, d, a in edges}
    assert width[("param", "×")] == pytest.approx(width_on_the_fixed_scale(1e-3), abs=0.01)
    assert width[("Σ", "loss")] == pytest.approx(width_on_the_fixed_scale(1.0), abs=0.01)
    assert "1e-6</font>" not in draw((w * 1e-3).sum(), grads=True).source  # only when shaded


def test_an_edge_into_both_slots_of_an_op_carries_their_sum():
    """y → × in `y * y` (the squared loss the README's pictures use) was drawn at the larger
    of its two slots' gradients, half of the ∂L/∂y it carries (found by the review helper)."""
    w = Tensor(np.full(3, 0.1, np.float32), requires_grad=True)
    y = (w * 1.0).named("y")
    loss = (y * y).sum()
    nodes, edges, _ = parse(draw(loss, grads=True, edge_grads=True).source)
    width = {(title(nodes[s]), title(nodes[d])): float(a["penwidth"]) for s, d, a in edges}
    dy = float(np.linalg.norm(2 * y.data))  # ‖∂L/∂y‖ = ‖2y‖ ≈ 0.35
    assert width[("y", "×")] == pytest.approx(width_on_the_fixed_scale(dy), abs=0.01)
    assert width[("y", "×")] > width_on_the_fixed_scale(dy / 2) + 0.05
    y = (w * 1.0).named("y")
    square = (y * y).sum().parents[0]
    norms = collect_grad_norms(square.sum())
    assert norms[(id(square), 0)] == norms[(id(square), 1)] == pytest.approx(dy, rel=1e-6)


def test_the_orange_path_is_as_wide_as_its_gradient_on_a_wider_ramp():
    """The highlighted path was drawn at one width whatever its gradient: its width now says
    ‖∂L/∂c[t]‖ (read here off each box's ‖∂L‖ note, op circle -> its box) on the same scale
    as every edge, on a wider ramp so that it stays the thick line of the picture."""
    loss, model = run("LSTM", forget_bias=1.0)
    source = draw(loss, params=model, grads=True, edge_grads=True).source
    nodes, edges, _ = parse(source)
    into_box = [(nodes[d], a) for s, d, a in edges if nodes[s].get("shape") == "circle"
                and grad_note(nodes[d]) is not None and grad_note(nodes[d]) > 0]
    lit = [(n, a) for n, a in into_box if a["color"].startswith(PATH_COLOR)]
    assert sorted(title(n) for n, _ in lit) == ["c[t=1]", "c[t=2]", "c[t=3]"]
    assert len(into_box) > len(lit) + 10
    for n, a in into_box:
        on_path = a["color"].startswith(PATH_COLOR)
        assert float(a["penwidth"]) == pytest.approx(
            width_on_the_fixed_scale(grad_note(n), on_path), abs=0.01), title(n)
    thinnest_lit = min(float(a["penwidth"]) for _, a in lit)
    assert thinnest_lit > max(float(a["penwidth"]) for _, a in into_box
                              if not a["color"].startswith(PATH_COLOR))
    assert "‖grad‖ along the edge on one log scale (orange: the same scale, drawn wider)" \
        in source


def test_edges_that_carry_no_gradient_are_dotted_and_the_legend_says_so():
    """c[t=0] → × (c_0 is a constant zero state), h[t=0] → @ and the input were drawn at full
    strength though no gradient flows along them; so were the edges to f[t=1], whose
    gradient is exactly 0 (∂L/∂f₁ = ∂L/∂c₁ · c₀ = 0)."""
    loss, model = run("LSTM", forget_bias=1.0)
    source = draw(loss, params=model, grads=True, edge_grads=True).source
    nodes, edges, _ = parse(source)
    dotted = {(title(nodes[s]), title(nodes[d])) for s, d, a in edges
              if a.get("style") == "dotted"}
    assert {("c[t=0]", "×"), ("h[t=0]", "@"), ("input", "@"), ("σ", "f[t=1]")} <= dotted
    assert ("σ", "i[t=1]") not in dotted and ("c[t=1]", "×") not in dotted
    assert all(float(a["penwidth"]) <= 0.8 for _, _, a in edges if a.get("style") == "dotted")
    assert "no gradient: from an input or a constant, or exactly 0" in source
    assert "zeros, no gradient" in source  # on the c[t=0] and h[t=0] boxes: why


def test_initial_states_that_require_grad_are_drawn_at_t0_not_as_parameters():
    """demos/vanishing.py passes h_0 and c_0 (leaves that require grad, for ∂L/∂h_0) in the
    params dict: they were drawn in the parameters' box, blue, their edges dashed."""
    model = nn.LSTM(2, 4, rng=manual_seed(0))
    h0, c0 = (Tensor(np.zeros((1, 1, 4), np.float32), requires_grad=True) for _ in range(2))
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)).astype(np.float32))
    loss = model(x, (h0, c0))[0][-1].sum()
    params = {**dict(model.named_parameters()), "h_0": h0, "c_0": c0}
    source = draw(loss, params=params, grads=True, edge_grads=True).source
    nodes, edges, clusters = parse(source)
    where = {title(n): n["cluster"] for n in nodes.values()}
    assert where["h_0"] == where["c_0"] == "cluster_l0_t0"
    assert where["weight_hh_l0"] == "cluster_params_l0"
    assert "layer 0 · t = 0 (initial state)" in source
    for n in (n for n in nodes.values() if title(n) in ("h_0", "c_0")):
        assert n["fillcolor"] == "#f4f4f4" and grad_note(n) > 0  # a state's box, its ∂L
    ids = [k for k, n in nodes.items() if title(n) in ("h_0", "c_0")]
    assert all(a.get("style") != "dashed" for s, _, a in edges if s in ids)


def test_initial_states_of_a_stacked_layer_sit_together_in_the_first_layers_box():
    """h_0 and c_0, each (2, B, H) and feeding both layers, were boxed under whichever layer
    the walk met first: h_0 under layer 0, c_0 under layer 1 (found by the review helper)."""
    model = nn.LSTM(2, 4, num_layers=2, rng=manual_seed(0))
    h0, c0 = (Tensor(np.zeros((2, 2, 4), np.float32), requires_grad=True) for _ in range(2))
    x = Tensor(np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32))
    loss = (model(x, (h0, c0))[0] ** 2).mean()
    params = {**dict(model.named_parameters()), "h_0": h0, "c_0": c0}
    nodes, _, _ = parse(draw(loss, params=params).source)
    where = {title(n): n["cluster"] for n in nodes.values()}
    assert where["h_0"] == where["c_0"] == "cluster_l0_t0"


def test_a_truncated_bptt_carry_over_is_the_next_chunks_initial_state():
    """A state carried between chunks (detached, so it needs no grad) lost its scope in the
    layer: drawn as a bare `c` "constant" inside t = 1, no t = 0 box, the orange path starting
    at c[t=1] (found by the review helper)."""
    model = nn.LSTM(3, 4, rng=manual_seed(0))
    x = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    _, (h, c) = model(Tensor(x[:3]))
    out, _ = model(Tensor(x[3:]), (h.detach(), c.detach()))
    source = draw((out * out).mean(), params=model).source
    first = draw((model(Tensor(x[3:]))[0] ** 2).mean(), params=model).source  # zero states
    nodes, _, _ = parse(source)
    where = {title(n): n["cluster"] for n in nodes.values()}
    assert where["h[t=0]"] == "cluster_l0_t0"
    assert where["c[t=0]"] == {title(n): n["cluster"] for n in parse(first)[0].values()}["c[t=0]"]
    assert "layer 0 · t = 0 (initial state)" in source
    assert highlighted_chain(source)[0] == "c[t=0]"
    assert source.count("given, no gradient") == 2 and "constant" not in source
    states = model(Tensor(x[3:]), (h.detach(), c.detach()), return_states=True)[2]
    assert [s.label for s in states.initial[0]] == ["h[layer=0,t=0]", "c[layer=0,t=0]"]


def test_constants_are_not_drawn_as_inputs():
    """The zeros GRUCell concatenates to its biases were a green "zeros (4,)" input box, and
    log_softmax's detached "max x" (computed from the logits) a green input box too."""
    loss, model = run("GRU")
    nodes, _, _ = parse(draw(loss, params=model).source)
    zeros = [n for n in nodes.values() if "<b>zeros" in n.get("label", "")
             or n.get("label", "").startswith("zeros")]
    assert [(n["label"], n["shape"], n["cluster"]) for n in zeros] == \
        [("zeros (4,)", "plaintext", "cluster_l0_shared")]  # beside the cat, like the 1 of 1 − z

    from tinygrad_lstm.functional import cross_entropy
    rng = manual_seed(2)
    rnn, head = nn.LSTM(3, 4, rng=rng), nn.Linear(4, 5, rng=rng)
    out, _ = rnn(Tensor(rng.standard_normal((2, 1, 3)).astype(np.float32)))
    nodes, _, _ = parse(draw(cross_entropy(head(out[-1]), np.array([1])), params=rnn).source)
    kinds = {title(n): (n.get("fillcolor"), n.get("style")) for n in nodes.values()}
    assert kinds["max x"] == ("#ffffff", "rounded,filled,dashed")
    assert kinds["input"] == ("#e5f2e0", "rounded,filled")  # x is still an input
    assert "constant, no gradient" in nodes[next(k for k, n in nodes.items()
                                                 if title(n) == "max x")]["label"]


# --- determinism and rendering ---------------------------------------------------------------

def test_same_model_and_seed_give_identical_dot_source():
    a = draw(run("LSTM", seed=7)[0], grads=True, edge_grads=True).source
    b = draw(run("LSTM", seed=7)[0], grads=True, edge_grads=True).source
    assert a == b
    assert "n0 " in a and "0x" not in a  # ids by walk order, never id()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_dot_and_an_svg_that_parses_as_xml(tmp_path):
    loss, model = run("LSTM")
    paths, message = render(loss, tmp_path / "sub" / "g.svg", params=model, grads=True)
    assert message == ""
    assert [p.name for p in paths] == ["g.dot", "g.svg"]
    root = ET.parse(paths[1]).getroot()
    assert root.tag.endswith("svg")
    assert "c[t=3]" in paths[1].read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_draws_a_stacked_lstm_that_dots_newrank_layout_cannot(tmp_path):
    """dot's newrank layout lost the stub edges of a two-layer LSTM at T = 8 ("Error: lost
    n113i0 n113 edge"; with the path drawn first it no longer does); where it does, render
    lays it out again without newrank, says nothing and writes the DOT source that rendered."""
    loss, model = run("LSTM", T=8, num_layers=2, loss_on="all")
    paths, message = render(loss, tmp_path / "g.svg", params=model, grads=True)
    assert message == "" and [p.name for p in paths] == ["g.dot", "g.svg"]
    rendered = subprocess.run(["dot", "-Tsvg", str(paths[0])], capture_output=True)
    assert rendered.returncode == 0  # the DOT source written is the one that rendered
    assert "c[l=0,t=8]" in paths[1].read_text()
    loss, model = run("LSTM", T=8, num_layers=2, loss_on="all")
    shown = draw(loss, params=model)._repr_mimebundle_()  # Jupyter's way: the same retry
    assert "c[l=0,t=8]" in shown["image/svg+xml"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("layers, T", [(2, 4), (3, 4), (2, 8)])
def test_a_stacked_lstms_c_t_sits_over_its_own_step(tmp_path, layers, T):
    """dot 2.43's newrank layout of a stacked LSTM lost its stub edges, and the fallback
    without newrank drew c[t=1] over step 3's box and c[t=0] over step 2's (a review of a
    two-layer char-LM's picture). Newrank with a tenth of the crossing minimisation (mclimit
    0.1) lays it out: every c[t] within its step's columns."""
    loss, model = run("LSTM", T=T, num_layers=layers, loss_on="all")
    paths, message = render(loss, tmp_path / "g.svg", params=model, grads=True)
    source = paths[0].read_text()
    assert message == "" and "newrank=true" in source
    laid = laid_out(paths[0])
    boxes, cs = {}, {}
    for o in laid:
        m = re.match(r"cluster_l(\d+)_t([1-9]\d*)$", o["name"])
        if m:
            x1, _, x2, _ = map(float, o["bb"].split(","))
            boxes[int(m.group(1)), int(m.group(2))] = (x1, x2)
        m = re.match(r"<b>c\[(?:l=(\d+),)?t=([1-9]\d*)\]</b>", o.get("label", ""))
        if m:
            cs[int(m.group(1) or 0), int(m.group(2))] = float(o["pos"].split(",")[0])
    assert sorted(cs) == sorted(boxes) and len(cs) == layers * T
    for key, x in cs.items():
        x1, x2 = boxes[key]
        assert x1 <= x <= x2 + 40, (key, x, (x1, x2))  # its box's columns (c ends the step)


def test_render_without_dot_writes_the_dot_file_and_says_how_to_install(tmp_path, monkeypatch):
    loss, model = run("RNN")
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    paths, message = render(loss, tmp_path / "out" / "g.svg", params=model, grads=True)
    assert [p.name for p in paths] == ["g.dot"] and paths[0].exists()
    assert not (tmp_path / "out" / "g.svg").exists()
    assert "apt-get install graphviz" in message and "brew install graphviz" in message


def test_render_survives_executable_not_found_from_graphviz(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graph.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    paths, message = render(run("LSTM")[0], tmp_path / "g.png")
    assert [p.name for p in paths] == ["g.dot"] and "graphviz.org/download" in message


def test_a_picture_shown_in_jupyter_without_dot_says_how_to_install(monkeypatch):
    """Jupyter showed a 20-frame ExecutableNotFound traceback for `draw(loss)` where no `dot`
    program is installed (a notebook review helper), where render() gives the hint."""
    picture = draw(run("LSTM")[0])
    monkeypatch.setenv("PATH", "")  # graphviz runs `dot` from PATH
    shown = picture._repr_mimebundle_()
    assert list(shown) == ["text/plain"] and "dot` program was not found" in shown["text/plain"]
    text = shown["text/plain"]
    assert "apt-get install graphviz" in text and "`.source` (" in text
    monkeypatch.undo()
    if graph.shutil.which("dot"):  # and with it, the picture
        assert list(picture._repr_mimebundle_()) == ["image/svg+xml"]


def test_render_survives_a_dot_that_fails(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise graphviz.CalledProcessError(1, ["dot"], stderr=b"Error: syntax error in line 1")

    monkeypatch.setattr(graph.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graphviz.Digraph, "pipe", failing)
    paths, message = render(run("LSTM")[0], tmp_path / "g.svg")
    assert [p.name for p in paths] == ["g.dot"] and paths[0].exists()
    assert message.startswith("`dot -Tsvg` failed (exit 1: Error: syntax error in line 1)")


def test_render_refuses_an_unknown_extension_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf or \.dot"):
        render(run("LSTM")[0], tmp_path / "g.jpeg")
    assert not list(tmp_path.iterdir())


def test_render_keeps_the_extension_as_given(tmp_path, monkeypatch):
    # g.SVG was written as g.svg: on a case-sensitive disk, not the file asked for
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)  # no dot: the DOT only
    paths, _ = render(run("LSTM")[0], tmp_path / "g.DOT")
    assert [p.name for p in paths] == ["g.DOT"]
    monkeypatch.undo()
    if shutil.which("dot") is not None:
        paths, _ = render(run("LSTM")[0], tmp_path / "h.SVG")
        assert [p.name for p in paths] == ["h.dot", "h.SVG"]
        assert (tmp_path / "h.SVG").read_text().lstrip().startswith("<?xml")
    assert graph.picture_path(tmp_path / "x")[1].name == "x.svg"


def test_a_trainable_initial_state_on_the_highlighted_path_of_a_long_graph():
    """h[t=0] moves to the highlighted row, leaving the t = 0 box empty: its stub goes along
    (it used to be a KeyError)."""
    rng = manual_seed(0)
    gru = nn.GRU(2, 3, rng=rng)
    h0 = Tensor(np.zeros((1, 1, 3), np.float32), requires_grad=True)
    x = Tensor(np.random.default_rng(0).standard_normal((8, 1, 2)).astype(np.float32))
    source = draw(gru(x, h0)[0].sum(), params=gru, highlight="auto").source
    assert "orange: h[t−1] → h[t], through + and × only" in source
    chain = highlighted_chain(source)
    assert chain[0] == "h[t=0]" and chain[-1] == "h[t=8]"


def test_a_route_through_squashing_ops_is_called_the_shortest_one():
    source = draw(run("LSTM")[0], highlight="h").source  # h → i, f, g, o → c → h: many routes
    assert "orange: the shortest route h[t−1] → h[t], through + and @ and × and σ\\l" in source


def test_an_rnn_heading_says_the_gradient_is_scaled_at_every_step():
    source = heading(draw(run("RNN")[0], highlight="auto"))
    assert "no additive path, so each step back scales the gradient by W_hh" in source
    assert "shrinks (or grows) geometrically" in source


def test_a_cell_loop_without_scopes_is_told_how_to_get_its_path():
    rng = manual_seed(1)
    cell = nn.LSTMCell(3, 4, rng=rng)
    h, c = Tensor(np.zeros((2, 4), np.float32)), Tensor(np.zeros((2, 4), np.float32))
    for _ in range(3):
        h, c = cell(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), (h, c))
    source = draw((h * h).sum(), params=cell).source
    _, edges, _ = parse(source)
    assert not [e for e in edges if e[2].get("color", "").startswith(PATH_COLOR)]
    assert "the 3 tensors named 'c' have no timestep" in source
    assert "with scope(t=t):" in source
    # a GRUCell loop was told "no tensor here is named 'c'": its h has no timestep
    # (found by the review helper)
    gru = nn.GRUCell(3, 4, rng=rng)
    h = None
    for _ in range(3):
        h = gru(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), h)
    source = draw((h * h).sum(), params=gru).source
    assert "no h[t−1] → h[t] path to highlight: the 3 tensors named 'h' have no timestep" \
        in source and "named 'c'" not in source


def test_a_cell_loop_without_scopes_beside_a_layer_is_told_it_is_off_the_path():
    """A decoder loop over an LSTMCell after an LSTM encoder: the encoder's c path is drawn,
    and the heading said nothing of the decoder's c, which had no timestep and no path (a
    review writing a seq2seq model)."""
    rng = manual_seed(1)
    enc, dec = nn.LSTM(3, 4, rng=rng), nn.LSTMCell(3, 4, rng=rng)
    _, (h, c) = enc(Tensor(rng.standard_normal((3, 2, 3)).astype(np.float32)))
    h0, c0 = h[0], c[0]
    h, c = h0, c0
    for _ in range(3):
        h, c = dec(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), (h, c))
    source = draw((h * h).sum(), params=enc).source
    assert "orange: c[t−1] → c[t], through + and × only" in source
    heading = source.replace("\\l", " ").replace('\\"', '"')  # as shown: unwrapped
    assert "off it: the 3 tensors named 'c' have no timestep; run each step inside `with " \
        'scope(part="dec", t=t + 1):`' in heading  # scope(t=t) alone: a second lane 0
    h, c = h0, c0
    with scope(part="dec"):  # scoped, the decoder's c is on a path of its own: no note
        for t in range(3):
            with scope(t=t + 1):
                h, c = dec(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), (h, c))
    assert "off it" not in draw((h * h).sum(), params=enc).source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_draws_a_bidirectional_lstm(tmp_path):
    """dot 2.43 loses a stub's edge of a bidirectional LSTM with and without newrank ("lost
    n50i0 n50 edge"): render used to write only the DOT file. Without the stubs' rank=same
    it lays the graph out."""
    loss, model = run("LSTM", T=3, bidirectional=True, loss_on="all")
    paths, message = render(loss, tmp_path / "g.svg", params=model, grads=True)
    assert message == "" and [p.name for p in paths] == ["g.dot", "g.svg"]
    assert "c[t=3,rev]" in paths[1].read_text()
    loss, model = run("LSTM", T=3, num_layers=2, bidirectional=True, loss_on="all")
    shown = draw(loss, params=model)._repr_mimebundle_()  # Jupyter's way: the same retries
    assert "c[l=1,t=3,rev]" in shown["image/svg+xml"]


def test_grad_notes_and_edge_scale_survive_tiny_huge_and_inf_gradients():
    """A float32 gradient of 2e-25 had ‖∂L‖ 0.00e+00 (its squares are 0 in float32); one inf
    gradient made the edge scale "inf faint, inf bold" and every other edge equally faint."""
    x = Tensor(np.full(4, 1e-25, np.float32), requires_grad=True)
    assert "‖∂L‖ 4.00e-25" in draw((x * x).sum(), grads=True).source
    loss, model = run("LSTM")
    p = Tensor(np.ones(2, np.float32), requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        source = draw(loss + (p * Tensor(np.float32(np.inf))).sum(), params=model, grads=True,
                      edge_grads=True).source
    assert "the same in every picture; ∂L/∂L = 1 at the loss" in source  # the fixed scale
    _, edges, _ = parse(source)
    assert len({a["penwidth"] for _, _, a in edges if "penwidth" in a}) > 5
    # an edge with a nan or inf gradient: red and dashed, with its legend line (it was drawn
    # as a healthy ‖grad‖ ≈ 1 edge, full width and opacity, and the legend said nothing)
    red = [a for _, _, a in edges if a.get("color") == graph.NOT_FINITE]
    assert red and all(a.get("style") == "dashed" for a in red)
    assert "gradient not finite: nan or inf along the edge" in source
    clean = draw(run("LSTM")[0], grads=True, edge_grads=True).source
    assert graph.NOT_FINITE not in clean and "not finite" not in clean
    # a nan everywhere (a nan in the input): the orange path stays, dashed; it was all red
    # and the heading still said "orange" (found by the review helper)
    model = nn.LSTM(3, 4, rng=manual_seed(0))
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    x[1, 0, 0] = np.nan
    out, _ = model(Tensor(x))
    source = draw((out[-1] * out[-1]).mean(), params=model, grads=True, edge_grads=True).source
    assert highlighted_chain(source)[-1] == "c[t=3]"
    _, edges, _ = parse(source)
    lit = [a for _, _, a in edges if a.get("color", "").startswith(PATH_COLOR)]
    assert lit and all(a.get("style") == "dashed" for a in lit if "dotted" not in a.get("style", ""))
    assert "nan or inf along the edge (orange dashed on the path)" in source


def test_the_legend_names_the_dotted_orange_edge_of_a_path_without_gradient():
    """c[t=0] → × carries no gradient (its c is zeros): drawn orange and dotted, which the
    legend's grey "no gradient" sample did not explain (a review of the pictures); the RNN's
    picture has no path, and its legend does not mention one."""
    for kind, said in (("LSTM", True), ("RNN", False)):
        loss, model = run(kind)
        source = draw(loss, params=model, grads=True, edge_grads=True).source
        assert "no gradient: from an input" in source
        assert ("no gradient, on the path" in source) is said


def test_a_cell_loop_over_numpy_timesteps_is_drawn_as_over_ints():
    """`for t in np.arange(T)` gives scope(t=np.int64(t)): it was taken for no timestep (no
    step boxes, and a heading telling the user to do what they had done)."""
    def source(ts):
        rng = manual_seed(1)
        cell = nn.LSTMCell(3, 4, rng=rng)
        h = c = Tensor(np.zeros((2, 4), np.float32))
        for t in ts:
            with scope(t=t):
                h, c = cell(Tensor(rng.standard_normal((2, 3)).astype(np.float32)), (h, c))
        return draw((h * h).sum(), params=cell, grads=True).source

    assert source(np.arange(4)) == source(range(4))


def test_bad_arguments_are_refused_before_the_backward_runs():
    """highlight=None drew "the 3 tensors named 'None' have no timestep"; a state_dict as
    params failed with an AttributeError after grads=True had run the backward; a root without
    a graph drew an empty picture."""
    loss, model = run("LSTM")
    with pytest.raises(ValueError, match=r"draw: highlight must be .* got None"):
        draw(loss, highlight=None, grads=True, params=model)
    with pytest.raises(TypeError, match=r"draw: params must be a Module, a \{name: tensor\} "
                                        r"dict or \(name, tensor\) pairs; got OrderedDict "
                                        r"holding 'weight_ih_l0': ndarray"):
        draw(loss, params=model.state_dict(), grads=True)
    with pytest.raises(TypeError, match="draw: params .* got list holding Parameter"):
        draw(loss, params=model.parameters(), grads=True)
    assert all(p.grad is None for p in model.parameters())  # nothing ran: the graph is whole
    pairs = draw(loss, params=model.named_parameters(), grads=True).source  # pairs, as step
    assert "<b>weight_hh_l0</b>" in pairs
    with pytest.raises(ValueError, match=r"draw: the root \(shape \(\)\) does not require grad"):
        draw(Tensor(np.ones(3, np.float32)).sum())


def test_a_second_draw_with_grads_says_draw_ran_the_backward():
    """The engine's own error told the user to pass retain_graph=True to a backward() that
    draw(grads=True) had called, not they."""
    loss, model = run("LSTM")
    first = draw(loss, params=model, grads=True).source
    with pytest.raises(RuntimeError, match=r"^draw\(grads=True\): this loss's backward has "
                                           r"already run .* compute the loss again$"):
        draw(loss, params=model, grads=True)
    fresh, model2 = run("LSTM")  # without grads it still draws the (freed) graph
    assert draw(loss, params=model).source == draw(fresh, params=model2).source
    assert "‖∂L‖" in first


def test_a_loop_with_scopes_but_no_names_is_told_to_name_its_states():
    """The README's loop without .named("c"): the heading said only "no c[t−1] → c[t] path to
    highlight", with no why (draw promises one)."""
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((4 + 3, 16)).astype(np.float32), requires_grad=True)
    h = c = Tensor(np.zeros((2, 4), np.float32))
    for t in range(3):
        with scope(t=t):
            x = Tensor(rng.standard_normal((2, 3)).astype(np.float32))
            i, f, g, o = (Tensor.cat([x, h], 1) @ W).chunk(4, axis=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
    source = draw((h * h).mean(), params={"W": W}).source
    assert "no c[t−1] → c[t] path to highlight: no tensor here is named 'c'" in source
    assert "named(\\\"c\\\")` inside `with scope(t=t):`" in source
    assert len(clusters_by_step(source)) == 2  # the steps are there (t = 0 is its own box)


def test_edge_grads_without_grads_is_refused_and_so_is_a_non_tensor_root():
    # edge_grads shades by the gradients: without them it used to draw no shading, silently
    loss, model = run("RNN", T=2)
    with pytest.raises(ValueError, match=r"draw: edge_grads=True shades edges by their "
                                         r"gradients: pass grads=True"):
        draw(loss, edge_grads=True)
    with pytest.raises(TypeError, match="draw: expected the loss as a Tensor, got ndarray"):
        draw(loss.data)
    from tinygrad_lstm.viz.stepper import step
    with pytest.raises(ValueError, match=r"step: the root \(shape \(\)\) does not require grad"):
        step(Tensor(np.float32(1.0)), no_pause=True)
    draw(loss, params=model, grads=True, edge_grads=True)  # the same graph still draws


def test_a_non_scalar_root_is_refused_by_the_caller_that_runs_the_backward():
    # the engine's message asked for backward(grad), an argument draw and step do not take
    out, _ = nn.LSTM(2, 3, rng=np.random.default_rng(0))(Tensor(np.ones((2, 1, 2), np.float32)))
    with pytest.raises(ValueError, match=r"draw\(grads=True\): the backward it runs needs a "
                                         r"scalar loss, got shape \(2, 1, 3\)"):
        draw(out, grads=True)
    assert out.requires_grad and "n0" in draw(out).source  # drawing alone needs no scalar


def test_the_default_heading_is_wrapped_to_lines_that_fit():
    # the RNN's no-path reason was one line of 150 characters, cut off at the picture's edge
    loss, model = run("RNN")
    g = draw(loss, params=model)
    lines = heading_lines(g)
    assert len(lines) > 3 and max(map(len, lines)) <= 100
    assert "no additive path, so each step back scales the gradient by W_hh" in heading(g)


# --- the layout dot makes of it (measured from `dot -Tjson`) -----------------------------------

def step_boxes(tmp_path, loss, model, **kw):
    """{lane cluster prefix: {t: (y_bottom, y_top)}} of the step boxes t ≥ 1 as dot lays out
    the DOT source `render` wrote (the one that rendered), and {lane: [y of each lit box]}."""
    paths, message = render(loss, tmp_path / "g.svg", params=model, grads=True,
                            edge_grads=True, highlight="auto", **kw)
    assert message == ""
    laid = laid_out(paths[0])
    lanes, lit = {}, {}
    for o in laid:
        m = re.match(r"(cluster.*)_t([1-9]\d*)$", o["name"])
        if m:
            x1, y1, x2, y2 = map(float, o["bb"].split(","))
            lanes.setdefault(m.group(1), {})[int(m.group(2))] = (y1, y2)
        elif o.get("fillcolor") == graph.BOXES["lit"][0]:
            lit.setdefault(o["label"].count("rev") + 2 * o["label"].count("l=1"), []).append(
                float(o["pos"].split(",")[1]))
    return lanes, lit


def spread(steps):
    """How far the step boxes of one lane are off one row, in points (0: all in line)."""
    return max(max(b[i] for b in steps.values()) - min(b[i] for b in steps.values())
               for i in (0, 1))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("kind, kw", [
    ("GRU", {}), ("GRU", {"T": 5}), ("LSTM", {"num_layers": 2}),
    ("GRU", {"T": 4, "reset_after": False}), ("GRU", {"T": 4, "bidirectional": True}),
    ("GRU", {"T": 4, "num_layers": 2}), ("GRU", {"T": 8})])
def test_step_boxes_stay_in_one_row_with_the_path_straight_along_one_side(tmp_path, kind, kw):
    """A GRU's t = 1 box sat 70 points off t = 2 and t = 3 (146 at T = 5), and a two-layer
    LSTM's t = 3 boxes 85 points off: the path, drawn after the boxes, passed above some and
    below others (and the two-layer graph, taken for a long one, lost newrank to its stubs).
    The Cho GRU's and a bidirectional GRU's boxes went one above the path, the next below (a
    zigzag: crossings cost dot about the same either way); a lane's steps now sit in one
    borderless cluster, which dot keeps on one side of the path (found by a helper)."""
    loss, model = run(kind, T=kw.pop("T", 3), **kw)
    lanes, lit = step_boxes(tmp_path, loss, model)
    assert len(lanes) == kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    for name, steps in lanes.items():
        assert spread(steps) <= 3, (name, steps)
    for ys in lit.values():
        assert max(ys) - min(ys) <= 1  # one straight line
    for (name, steps), ys in zip(sorted(lanes.items()), (lit[k] for k in sorted(lit))):
        y = ys[0]  # every step box on the same side of it
        assert all(y < b[0] for b in steps.values()) or all(y > b[1] for b in steps.values())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_a_bidirectional_lstm_is_no_staircase(tmp_path):
    """Its steps went down diagonally, each a whole box (247 points) below the one before: 494
    points from t = 1 to t = 3. Within a fifth of a box: a stacked bidirectional layer still
    falls back to dot's layout without newrank (2.43 loses an edge with it), whose rows are
    not exact."""
    loss, model = run("LSTM", bidirectional=True)
    lanes, _ = step_boxes(tmp_path, loss, model)
    assert set(lanes) == {"cluster_l0", "cluster_l0_reverse"}
    for name, steps in lanes.items():
        height = max(b[1] - b[0] for b in steps.values())
        assert spread(steps) < height / 5, (name, steps)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("kind, T", [("LSTM", 3), ("GRU", 4)])
def test_a_bidirectional_layers_step_t_is_drawn_in_one_column(tmp_path, kind, T):
    """The reverse row drew its steps in the order it runs them, t = 3, 2, 1 left to right,
    under the forward row's t = 1, 2, 3 (its t = 3 under t = 1). As in a textbook BiRNN, each
    step t is now one column, the reverse row's arrows running right to left: its edges are
    written backwards (dir=back), and each reverse box ends where its forward box starts (a
    GRU's boxes too, whose h path runs outside them)."""
    loss, model = run(kind, T=T, bidirectional=True, loss_on="all")
    paths, message = render(loss, tmp_path / "g.svg", params=model, grads=True,
                            highlight="auto")
    assert message == "" and "newrank=true" in paths[0].read_text()
    laid = laid_out(paths[0])
    rows = {}  # lane's cluster name -> {t: the x of its box's middle}
    for o in laid:
        m = re.match(r"(cluster.*)_t([1-9]\d*)$", o["name"])
        if m:
            x1, _, x2, _ = map(float, o["bb"].split(","))
            rows.setdefault(m.group(1), {})[int(m.group(2))] = (x1 + x2) / 2
    forward, reverse = rows["cluster_l0"], rows["cluster_l0_reverse"]
    assert sorted(forward) == sorted(reverse) == list(range(1, T + 1))
    pitch = forward[2] - forward[1]
    assert pitch > 0 and all(forward[t + 1] - forward[t] > 0 for t in range(1, T))
    for t in forward:
        assert abs(reverse[t] - forward[t]) < pitch / 4, (t, forward, reverse)
    _, edges, _ = parse(paths[0].read_text())
    lit = [a for s, d, a in edges if a.get("color", "").startswith(PATH_COLOR)]
    assert sum(a.get("dir") == "back" for a in lit) == len(lit) // 2  # the reverse row's


def test_a_layout_that_cannot_align_the_rows_draws_the_reverse_row_as_it_runs():
    """Without newrank (where dot 2.43 fails with it: a bidirectional RNN, a stacked
    bidirectional LSTM) a mirrored reverse row could not be lined up with the forward row and
    was strewn between its steps; those layouts write its edges as they are."""
    loss, model = run("RNN", bidirectional=True, loss_on="all")
    g = draw(loss, params=model)
    newranked = [k for k, (_, newrank, _) in enumerate(g.LAYOUTS) if newrank]
    for k in range(len(g.LAYOUTS)):
        g._use(k)
        assert ("dir=back" in g.source) == (k in newranked), k
    g._use(0)
    assert "dir=back" in g.source  # and back again


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("order", [[1, 2, 3, 4], [2, 4, 3, 0], [4, 3, 2, 1, 0]])
def test_every_layout_in_any_order_is_valid_dot(order):
    # the last fallback (no ranks, newrank) swapped a row back in with the rank lines an
    # earlier layout had dropped counted in its length, and cut the lines after it: "syntax
    # error in line 359 near 'subgraph'" (a review helper)
    loss, model = run("LSTM", bidirectional=True, loss_on="all")
    g = draw(loss, params=model)
    for k in order:
        g._use(k)
    done = subprocess.run(["dot", "-Tcanon"], input=g.source, capture_output=True, text=True)
    assert "syntax error" not in done.stderr, done.stderr


def _bidirectional_loss():
    """A graph whose first layout dot 2.43 cannot draw ("Error: lost n245 n244 edge")."""
    m = nn.LSTM(2, 3, bidirectional=True, rng=manual_seed(0))
    out, _ = m(Tensor(np.random.default_rng(1).standard_normal((7, 1, 2)).astype(np.float32)))
    return (out * out).mean(), m


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("dot_found", [False, True])
def test_a_dot_file_written_alone_is_one_that_dot_draws(tmp_path, monkeypatch, dot_found):
    """Without `dot` (or asked for .dot only), render wrote the first layout's source, which
    dot 2.43 cannot draw for some graphs: the install hint's own command then failed. Without
    dot it writes the plainest layout now; with dot, one that dot has drawn (found by the
    review helper)."""
    loss, m = _bidirectional_loss()
    if not dot_found:
        monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    paths, message = render(loss, tmp_path / "bi.dot", params=m, max_steps=2)
    assert [p.name for p in paths] == ["bi.dot"] and message == ""
    loss, m = _bidirectional_loss()
    paths, message = render(loss, tmp_path / "b2.svg", params=m, max_steps=2)
    assert (message == "") is dot_found and (dot_found or "dot -Tsvg" in message)
    for dot_file in (tmp_path / "bi.dot", tmp_path / "b2.dot"):
        drawn = subprocess.run(["dot", "-Tsvg", str(dot_file)], capture_output=True)
        assert drawn.returncode == 0, drawn.stderr.decode()


def test_bad_render_arguments_are_refused_before_the_backward_runs(tmp_path):
    (tmp_path / "afile").write_text("")
    for call, error, says in [
            (lambda l: render(l, tmp_path / "afile" / "g.svg", grads=True), NotADirectoryError,
             r"render: cannot write .*afile/g\.svg: .*afile is a file, not a folder"),
            (lambda l: render(l, tmp_path / "t.svg", grads=True, title=123), TypeError,
             "draw: title must be text, got a int"),
            (lambda l: render(l, tmp_path / "t.svg", grads=1), TypeError,
             "draw: grads must be True .* got a int")]:
        loss, model = run("RNN")
        with pytest.raises(error, match=says):
            call(loss)
        assert all(p.grad is None for p in model.parameters())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    (tmp_path / "pictures").mkdir()
    (tmp_path / "g.dot").mkdir()  # the DOT source's place is a folder
    loss, model = run("RNN")
    with pytest.raises(IsADirectoryError, match=r"render: .*g\.dot is a folder"):
        render(loss, tmp_path / "g.svg", grads=True)
    paths, _ = render(loss, tmp_path / "pictures", grads=True)  # a folder: graph.svg inside
    assert paths[0] == tmp_path / "pictures" / "graph.dot"


def test_folded_with_max_steps_draws_no_elided_box():
    # the folded picture ("one step, repeated × T") also had a "… t = 3 … 6 not drawn" box
    loss, model = run("LSTM", T=8)
    source = draw(loss, folded=True, max_steps=2).source
    assert "not drawn" not in source and "elided" not in source
    loss, model = run("LSTM", T=8)
    assert "not drawn" in draw(loss, max_steps=2).source


def test_folded_reverse_direction_draws_the_step_it_ran_last():
    # it drew t=T, the reverse direction's first step, whose states come from the zero
    # initial ones: its loops were dotted ("no gradient") and its norms 0
    m = nn.LSTM(3, 4, bidirectional=True, dtype=np.float64)
    out, _ = m(Tensor(np.random.default_rng(0).standard_normal((3, 2, 3))))
    source = draw((out * out).mean(), folded=True, grads=True, edge_grads=True).source
    _, edges, clusters = parse(source)
    assert [c for c in clusters if "_t" in c] == ["cluster_l0_t3", "cluster_l0_reverse_t1"]
    loops = [a for _, _, a in edges if a.get("label") == "× T"]
    assert len(loops) >= 4 and not any("dotted" in a.get("style", "") for a in loops)
    assert "‖∂L‖ at t=1 " in source and "0.00e+00" not in source
    assert source.count("repeated × T (T = 3)") == 2


def readme_loop(T):
    """The README's loop of its own: scope(t=t) for t in range(T), so t counts from 0."""
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((2, 8)) * 0.3, requires_grad=True)
    h = c = Tensor(np.zeros((1, 2)))
    for t in range(T):
        with scope(t=t):
            i, f, g, o = (h @ W).chunk(4, axis=1)
            c = (f.sigmoid() * c + i.sigmoid() * g.tanh()).named("c")
            h = (o.sigmoid() * c.tanh()).named("h")
    return (h * h).mean()


def test_a_loop_counting_from_0_is_counted_and_trimmed_by_its_own_steps(tmp_path, capsys):
    # T was its greatest t (4 for 5 steps), and max_steps=1 drew t = 0, 1 and 4
    from tinygrad_lstm.cli import GRAPH_ENDS, LONG_GRAPH, show_graph
    assert "repeated × T (T = 5)" in draw(readme_loop(5), folded=True).source
    source = draw(readme_loop(5), max_steps=1).source
    _, _, clusters = parse(source)
    assert sorted(c for c in clusters if re.search(r"_t\d+$", c)) == ["cluster_t0", "cluster_t4"]
    assert "t = 1 … 3 not drawn" in source
    show_graph(readme_loop(LONG_GRAPH + 1), str(tmp_path / "long.dot"))
    assert f"the graph has {LONG_GRAPH + 1} timesteps" in capsys.readouterr().out
    assert f"t = {GRAPH_ENDS} … {LONG_GRAPH - GRAPH_ENDS} not drawn" in \
        (tmp_path / "long.dot").read_text()
    show_graph(readme_loop(LONG_GRAPH), str(tmp_path / "short.dot"))  # t = 0 … 23: all drawn
    assert "timesteps" not in capsys.readouterr().out
    # a layer's t = 0 that only picks trainable initial states, h[t=0] = h0[layer], is no step
    # (counted as one, T read 6 for 5 steps and max_steps=1 dropped t = 1: the diff review)
    rng = np.random.default_rng(0)
    m = nn.LSTM(3, 4, dtype=np.float64)
    h0, c0 = (Tensor(rng.standard_normal((1, 2, 4)), requires_grad=True) for _ in "hc")

    def loss(T):
        return (m(Tensor(rng.standard_normal((T, 2, 3))), (h0, c0))[0] ** 2).mean()

    assert "repeated × T (T = 5)" in draw(loss(5), folded=True).source
    source = draw(loss(5), max_steps=1).source
    _, _, clusters = parse(source)
    assert sorted(c for c in clusters if re.search(r"_t\d+$", c)) == \
        ["cluster_l0_t0", "cluster_l0_t1", "cluster_l0_t5"] and "t = 2 … 4 not drawn" in source
    show_graph(loss(LONG_GRAPH), str(tmp_path / "hx.dot"))  # 24 steps: all drawn
    assert "timesteps" not in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_names_symbols_and_scopes_of_ones_own_are_escaped(tmp_path):
    """A highlight named h&c or <h> went into the legend's HTML as it was, and a Function
    whose symbol is a backslash into the DOT as one: dot failed on both (found by the review
    helper)."""
    from tinygrad_lstm import Function

    class Back(Function):
        op, symbol = 'back"slash', "\\"

        def forward(self, x):
            return x * 1.0

        def backward(self, g):
            return (g,)

    for name in ("h&c", "<h>", 'q"uote'):
        w = Tensor(np.ones(3, np.float32), requires_grad=True)
        with scope(part="a\\b", t=1):
            y = Back.apply(w * 2.0).named(name)
        paths, message = render(y.sum(), tmp_path / "e.svg", highlight=name, grads=True)
        assert message == "" and [p.name for p in paths] == ["e.dot", "e.svg"], message
        svg = ET.parse(paths[1]).getroot()
        texts = "".join(svg.itertext())
        assert name in texts and "a\\b" in texts and "\\" in texts


def test_render_into_a_new_folder_named_with_a_trailing_slash(tmp_path):
    # `render(loss, "new/")` wrote new.dot beside the folder it meant (found by the review helper)
    loss, model = run("RNN")
    paths, _ = render(loss, str(tmp_path / "new") + "/")
    assert paths[0] == tmp_path / "new" / "graph.dot" and not (tmp_path / "new.dot").exists()


def test_a_scope_value_that_cannot_be_a_dict_key_is_drawn_and_stepped():
    # scope(tags=["enc"]) made the stepper's lanes raise "unhashable type: 'list'"
    from tinygrad_lstm.viz.stepper import record
    cell = nn.RNNCell(2, 3, rng=manual_seed(0))
    h = None
    for t in range(1, 3):
        with scope(tags=["enc"], t=t):
            h = cell(Tensor(np.ones((1, 2), np.float32)), h).named("h")
    walk = record((h * h).sum())
    assert list(walk.states) == [(("tags", "['enc']"),)]
    h2 = None
    for t in range(1, 3):
        with scope(tags=["enc"], t=t):
            h2 = cell(Tensor(np.ones((1, 2), np.float32)), h2).named("h")
    assert "h[tags=[&#x27;enc&#x27;],t=2]" in draw((h2 * h2).sum()).source


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_two_calls_in_one_graph_are_drawn_apart(kind):
    """A layer run on two chunks of a sequence, the second starting from the first's state
    (and an encoder's and a decoder's layer, both "layer 0"): draw() crashed ("() is not in
    list": the state path ran from one call into the other through the unscoped stack), and
    the two calls' steps shared the boxes t = 1..3. Each call now has its own row of steps,
    labelled call 1 and call 2."""
    layer = getattr(nn, kind)
    manual_seed(0)
    x = Tensor(np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32))
    m = layer(3, 4)
    _, state = m(x[:3])
    out, _ = m(x[3:], state)
    enc, dec = layer(3, 4), layer(3, 4)
    _, st = enc(x[:3])
    out2, _ = dec(x[3:], st)
    for loss in ((out * out).mean(), (out2 * out2).mean()):
        src = draw(loss, grads=True).source
        for call in (1, 2):
            for t in (1, 2, 3):
                assert src.count(f'label="layer 0 · call {call} · t = {t}"') == 1, (call, t)
        labels = " ".join(re.findall(r'label=(".*?"|<.*?>)\s', src))
        assert "call 3" not in labels and "_call" not in labels
        # the states' own titles say the call too: both read h[t=1] (the review helper)
        for call in (1, 2):
            assert f"<b>h[call={call},t=1]</b>" in src and f"<b>h[call={call},t=3]</b>" in src
    # the weights both calls share are the layer's, drawn once as such (the box said
    # "call 2", the call the walk met first)
    src = draw((out * out).mean()).source
    assert src.count('label="layer 0 · parameters (each drawn once)"') == 1
    assert "call 2 · parameters" not in src
    # an encoder's and a decoder's weights (two layers, both "layer 0") keep a box each
    src = draw((out2 * out2).mean()).source
    assert "layer 0 · call 1 · parameters" in src and "layer 0 · call 2 · parameters" in src
    one = draw((m(x)[0] ** 2).mean()).source  # one call: no call number shown
    assert not re.search(r"call \d", one) and 'label="layer 0 · t = 1"' in one


def test_a_picture_without_recurrence_does_not_speak_of_time():
    """An MLP's picture said "unrolled in time" and told the user to name states c inside
    scope(t=...)."""
    m = nn.Linear(3, 2)
    x = Tensor(np.ones((4, 3), np.float32))
    src = draw((m(x).tanh() ** 2).mean(), params=m).source
    assert 'label="computation graph, inputs to the loss\\l"' in src
    assert "unrolled" not in src and "scope(t" not in src
    loss, _ = run("LSTM")
    assert "unrolled in time" in draw(loss).source


def test_the_portable_source_drops_the_rows_and_the_stub_ranks():
    """The plain layout (the DOT written where no dot can try the others) leaves out the
    stubs' rank lines and the rows of steps. Inside a row a line is indented one tab more, so
    the rank lines were matched by their exact text and all 39 of a T = 10 GRU stayed."""
    loss, model = run("GRU", T=10)
    g = draw(loss, params=model)
    assert "{rank=same;" in g.source and "_row {" in g.source  # the first layout has both
    plain = g.portable()
    assert "{rank=same;" not in plain and "_row {" not in plain
    assert plain.count("subgraph cluster_l0_t") == 11  # t = 0 (the start) to 10, all drawn


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_replaces_its_files_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk left a truncated .dot (and activations' --svg a partial SVG) in place of
    the last good one: they were written in place (found by the review helper)."""
    import errno
    import os

    from tinygrad_lstm import checkpoint
    out = tmp_path / "g.svg"
    render(run("LSTM")[0], out)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["g.dot", "g.svg"]

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        render(run("GRU")[0], out)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp left
    monkeypatch.undo()
    render(run("GRU")[0], out)
    assert (tmp_path / "g.dot").read_bytes() != before["g.dot"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.svg"]
    assert os.stat(out).st_mode & 0o777 == os.stat(tmp_path / "g.dot").st_mode & 0o777


# --- what a second mutation review found unchecked -------------------------------------------

def test_the_path_is_drawn_heavy_without_gradients_and_fills_only_its_own_boxes():
    from tinygrad_lstm.viz.scene import PATH_FILL
    loss, model = run("LSTM", T=3)
    nodes, edges, _ = parse(draw(loss, params=model).source)
    orange = [float(a["penwidth"]) for _, _, a in edges if PATH_COLOR in a.get("color", "")]
    other = [float(a.get("penwidth", 1.0)) for _, _, a in edges
             if PATH_COLOR not in a.get("color", "")]
    assert orange and min(orange) > max(other)  # thick, not only orange
    loss, model = run("LSTM", T=3)
    nodes, _, _ = parse(draw(loss, params=model, highlight="h").source)
    filled = {title(n) for n in nodes.values() if PATH_FILL in n.get("fillcolor", "")}
    assert filled and all(t.startswith("h[") for t in filled), filled  # (o[t] is on it too)


def test_a_sigmoid_recurrence_of_ones_own_has_no_additive_path():
    w = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    h = Tensor(np.zeros(2))
    for t in range(1, 4):
        with scope(t=t):
            h = (h * 0.9 + w).sigmoid().named("h")
    nodes, edges, _ = parse(draw(h.sum(), highlight="auto").source)
    assert not any(PATH_COLOR in a.get("color", "") for _, _, a in edges)


def test_an_encoders_state_path_does_not_run_on_into_its_decoders():
    # the path goes on to the next step of its own lane only: through the state an encoder
    # hands its decoder (a stack, then an index), it lit 3 more edges (a mutation review)
    manual_seed(0)
    x = Tensor(np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32))
    enc, dec = nn.LSTM(3, 4), nn.LSTM(3, 4)
    _, st = enc(x[:3])
    out, _ = dec(x[3:], st)
    nodes, edges, _ = parse(draw((out * out).mean()).source)
    lit = [(title(nodes[s]), title(nodes[d])) for s, d, a in edges
           if a.get("color", "").startswith(PATH_COLOR)]
    assert lit and all(t in ("×", "+") or t.startswith("c[") for e in lit for t in e), lit


def test_graph_of_a_long_sequence_from_the_cli_draws_its_ends_and_says_so(tmp_path, capsys):
    # a user's demo with T=200 wrote a 5 MB picture 142,000 points wide, in 15 s, unasked
    from tinygrad_lstm.cli import GRAPH_ENDS, LONG_GRAPH, show_graph
    model = nn.LSTM(2, 3)
    out, _ = model(Tensor(np.ones((LONG_GRAPH + 1, 1, 2), np.float32)))
    show_graph((out * out).mean(), str(tmp_path / "long.dot"), model=model)
    said = capsys.readouterr().out
    assert f"the graph has {LONG_GRAPH + 1} timesteps: drawing the first and last " \
           f"{GRAPH_ENDS}" in said
    assert f"t = {GRAPH_ENDS + 1} … {LONG_GRAPH + 1 - GRAPH_ENDS} not drawn" in \
        (tmp_path / "long.dot").read_text()
    out, _ = model(Tensor(np.ones((LONG_GRAPH, 1, 2), np.float32)))  # at the limit: all drawn
    show_graph((out * out).mean(), str(tmp_path / "short.dot"), model=model)
    assert "timesteps" not in capsys.readouterr().out
    assert "not drawn" not in (tmp_path / "short.dot").read_text()
    assert (LONG_GRAPH, GRAPH_ENDS) == (24, 3)  # the README's numbers
    out, _ = model(Tensor(np.ones((LONG_GRAPH + 1, 1, 2), np.float32)))  # folded: one step
    show_graph((out * out).mean(), str(tmp_path / "folded.dot"), model=model, folded=True)
    assert "timesteps" not in capsys.readouterr().out
    out, _ = model(Tensor(np.ones((LONG_GRAPH + 1, 1, 2), np.float32)))  # asked for: as asked
    show_graph((out * out).mean(), str(tmp_path / "asked.dot"), model=model, max_steps=None)
    assert "not drawn" not in (tmp_path / "asked.dot").read_text()


def test_edge_colours_tell_the_path_from_the_rest_shaded_or_not():
    # from a mutation review: the path's colour on an edge that carries no gradient, and the
    # other edges' translucency in the plain picture, were pinned by no test
    loss, model = run("LSTM")
    _, edges, _ = parse(draw(loss, params=model).source)
    path = [a for _, _, a in edges if a["color"] == PATH_COLOR]
    rest = [a for _, _, a in edges if a["color"] != PATH_COLOR]
    assert path and all(a["penwidth"] == "3.2" for a in path)
    assert rest and all(a["color"].endswith("99") and len(a["color"]) == 9 for a in rest)
    # shaded: c[t=0] (zeros, no gradient into it) starts the path: still orange, dotted
    _, edges, _ = parse(draw(loss, params=model, grads=True, edge_grads=True).source)
    dotted = [a for _, _, a in edges if a.get("style") == "dotted"]
    assert any(a["color"] == PATH_COLOR for a in dotted)
    assert all(a["color"] in (PATH_COLOR, graph.NO_GRAD) for a in dotted)


def test_stronger_gradients_are_drawn_more_opaque():
    # with edge_grads, an edge's alpha rises with its gradient (inverted, the vanishing edges
    # of an RNN were the strong ones: a second mutation review)
    assert graph._opacity(1.0) == "ff" and graph._opacity(0.0) == "3c"
    alphas = [int(graph._opacity(graph._strength(n)), 16) for n in (1e-9, 1e-4, 1e-2, 1.0)]
    assert alphas == sorted(alphas) and alphas[0] < alphas[-1]
    loss, model = run("RNN", T=6)
    _, edges, _ = parse(draw(loss, params=model, grads=True, edge_grads=True).source)
    by_width = sorted((float(a["penwidth"]), int(a["color"][7:], 16)) for _, _, a in edges
                      if len(a["color"]) == 9 and a.get("style") != "dotted")
    assert by_width[0][1] < by_width[-1][1]  # the thinnest edge is the faintest


def test_edges_merged_into_the_elided_box_are_drawn_at_their_largest_gradient():
    # two edges from h[t=2] into the elided step t=3 become one edge into "…": drawn at the
    # larger of their two gradients whichever comes first (a second mutation review: the
    # last one read was drawn)
    w = Tensor(np.full(2, 0.5), requires_grad=True)
    h, steps = Tensor(np.ones(2), requires_grad=True), []
    for t in range(1, 6):
        with scope(t=t):
            a, b = h * w, h * 2.0
            h = (a + b).named("h")
        steps.append((a, b))
    loss = h.sum()
    a3, b3 = steps[2]
    widths = []
    for big, small in ((a3, b3), (b3, a3)):
        norms = {(id(big), 0): 1.0, (id(small), 0): 1e-4}
        nodes, edges, _ = parse(draw(loss, grads=norms, edge_grads=True, max_steps=2).source)
        (width,) = [float(a["penwidth"]) for s, d, a in edges
                    if title(nodes[s]) == "h[t=2]" and d.startswith("e")]
        widths.append(width)
    assert widths[0] == widths[1] == pytest.approx(width_on_the_fixed_scale(1.0), abs=0.01)


def test_a_picture_too_long_for_dot_is_warned_of(tmp_path):
    """render() of 500 steps drawn whole took dot 100 s and made a 12 MB picture without a
    word (a review of long runs); a demo's --graph shortens it, a library call warns."""
    loss, model = run("RNN", T=101)
    with pytest.warns(UserWarning, match=r"draw: 101 timesteps drawn whole .*max_steps=3") as w:
        draw(loss, params=model)
    assert w[0].filename == __file__  # the caller's line, through render too
    with pytest.warns(UserWarning, match=r"draw: 101 timesteps") as w:
        render(loss, tmp_path / "long.dot", params=model)
    assert w[0].filename == __file__
    long_loss, long_model = run("RNN", T=300)
    with pytest.warns(UserWarning, match=r"draw: 120 timesteps"):  # elided, still too many
        draw(long_loss, params=long_model, max_steps=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(loss, params=model, max_steps=3)
        draw(loss, params=model, folded=True)
        loss, model = run("RNN", T=100)  # at the limit: drawn without a word
        draw(loss, params=model)


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_a_peephole_lstm_keeps_its_steps_in_line_with_its_cell_path(tmp_path):
    """The variants demo's peephole LSTM (an embedding, the layer, a head): stubs ranked beside
    the peephole weights' × made dot 2.43's newrank layout fail ("triangulation failed"), and
    the fallback drew c[t=4] under step 3's box (the review of this session's diff). A
    parameter's stub is not ranked; the layout kept is newrank's, each c[t] over its step."""
    rng = manual_seed(0)
    emb, lstm = nn.Embedding(20, 8, rng=rng), nn.LSTM(8, 16, cell=nn.PeepholeLSTMCell, rng=rng)
    head = nn.Linear(16, 20, rng=rng)
    ids = np.random.default_rng(0).integers(0, 20, (4, 2))
    out, _ = lstm(emb(ids))
    loss = F.cross_entropy(head(out), np.random.default_rng(1).integers(0, 20, (4, 2)))
    model = nn.ModuleList([emb, lstm, head])
    paths, message = render(loss, tmp_path / "p.svg", params=model, grads=True)
    assert message == "" and "newrank=true" in paths[0].read_text()
    svg = ET.parse(paths[1]).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    boxes, cs = {}, {}
    for g in svg.iter(ns + "g"):
        texts = [t.text or "" for t in g.iter(ns + "text")]
        if g.get("class") == "cluster" and texts and re.search(r"· t = (\d)$", texts[0]):
            outline = g.find(ns + "path")  # rounded: a path; else a polygon
            outline = outline.get("d") if outline is not None else \
                g.find(ns + "polygon").get("points")
            xs = [float(v) for v in re.findall(r"(-?[\d.]+),", outline)]
            boxes[int(texts[0][-1])] = (min(xs), max(xs))
        elif g.get("class") == "node" and texts and re.fullmatch(r"c\[t=[1-4]\]", texts[0]):
            cs[int(texts[0][4])] = float(next(g.iter(ns + "text")).get("x"))
    assert sorted(cs) == sorted(boxes) == [1, 2, 3, 4]
    for t, x in cs.items():
        assert boxes[t][0] <= x <= boxes[t][1], (t, x, boxes)
