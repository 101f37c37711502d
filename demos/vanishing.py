"""Demonstrates vanishing (and exploding) gradients, step by step and over 100 timesteps.

Part 1 is a classic toy, one scalar unit `h_t = tanh(2 x_t + 3 h_{t-1} + 1)`. Its chain rule
has one factor per step,

    ∂h_t/∂h_{t-1} = w_hh · tanh'(a_t) = 3 · (1 − h_t²),

so ∂h_t/∂h_0 is a product of t such factors. The 3 alone would explode as 3^t; tanh' is at
most 1 and tiny once h saturates near ±1, so usually the product vanishes instead. Every factor
is computed twice, by the engine's backward and by the formula, and the two must agree.

Part 2 sends the gradient of a loss on the last h only, L = Σ h_T, back through 100 steps of a
tanh RNN, a GRU with z bias 0, 1, 2 and 3, an LSTM with forget-gate bias 0, 1, 2 and 3 and the
1997 LSTM (same sizes; each draws its own weights and input, N(0, 1)), and prints ‖∂L/∂h_t‖
(and ‖∂L/∂c_t‖ for the LSTMs) for every t: a table, a log-scale chart and the t = 0 / t = T
ratio. The RNN's gradient dies through a product of W_hh·tanh' factors. In the LSTM,
c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, and c_{t-1} also feeds h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1}), so
the total gradient on c has two parts at every step:

    ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t  +  ∂L/∂h_{t-1} ⊙ o_{t-1} ⊙ tanh'(c_{t-1})

The first alone, followed from c_T down to c_0 through the × f nodes only, is the cell path:
∂L/∂c_T ⊙ f_T ⊙ … ⊙ f_1. The chart and the ratio table show it as "∏f" next to the total
‖∂L/∂c_0‖, with the mean forget gate: a forget bias of 3 holds f near σ(3) ≈ 0.95, so ∏f decays
slowly (0.95^100 ≈ 6e-3) but does decay. With the default settings the total on c is larger,
about 1 at forget bias 3 (0.5 with seed 0, 0.5 to 2.4 over seeds 0–5; above 1, ▒ in the ratio
chart, it grew going back), because gradient also
comes back through h: from c_t into the gates and g of step t, to h_{t-1}, and from h_{t-1}
into c_{t-1} (the second part).

The GRU is the LSTM's simplification: it has no c, and h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1},
so z_t, the share of h_{t-1} kept, plays f (coupled with n's input, as a coupled LSTM's f is
with g), and its direct path h_{t-1} → × z → + → h_t plays the cell path. nn.GRU takes no
forget_bias; adding b to z's block of bias_hh (rows H:2H) holds z near σ(b) as the forget bias
holds f, so "GRU zb=N" runs beside "LSTM fb=N", the GRU's h beside the LSTM's c.

"LSTM 1997" is Hochreiter & Schmidhuber's cell, which has no forget gate: c_t = c_{t-1} +
i_t ⊙ g_t, so each step of its cell path, the constant error carousel ("CEC"), adds and never
scales. With no f to multiply, its cell path alone is measured by the engine instead: the same
weights and input run again with h_{t-1} detached before the gates, so that only c's own edges
carry gradient back from c_T. The verdict reads it beside the forget gate's ∏f, with its total
on c and the size of c itself (root mean square at t = T/4, T/2 and T): what the carousel keeps,
and what, with nothing to take anything out of c, it costs (the forget gate of Gers et al.
2000). The verdict under the tables compares the measured numbers.
Float64, so nothing underflows at the default T = 100 (past a few hundred steps the smallest
figures fall below 1e-300 and are floored there); `--steps N` averages N random draws
(geometric mean).

    python demos/vanishing.py                         # tables and charts
    python demos/vanishing.py --graph out/vanish.svg  # RNN, LSTM (fb=3) and GRU (zb=3) graphs
                                                      # with ‖grad‖: T=20, its first and last 3
                                                      # steps drawn; OUT_rnn, OUT_lstm, OUT_gru;
                                                      # then how much each path fades
    python demos/vanishing.py --step                  # walk the RNN's, the LSTM's, then the
                                                      # GRU's backward
    python demos/vanishing.py --rho 0.5,0.9,1,1.1,1.5,3   # and then the toy's matrix version

`--rho` (off by default) adds a section after the tables: the toy's matrix version. Its 3 is
W_hh = ρ·Q, Q a random orthogonal H × H matrix (so every singular value of W_hh, and its
spectral radius, is ρ), with W_ih a tenth of its default init so that the recurrence, not
the input, sets how h grows. For each ρ, a tanh RNN, a relu RNN and an LSTM with forget bias
3 whose four W_hh blocks (i, f, g, o) are each ρ·Q: the same recurrent matrix on every gate,
so that ρ reaches the LSTM wherever it can. Same Q, input and init at every ρ, drawn afresh
from --seed (the tables above leave them be), at --T, --hidden and --batch, one draw. A
table gives the RMS of h_T and ‖∂L/∂h_0‖/‖∂L/∂h_T‖ (the LSTM's on c, and its cell path
alone, ∏f) beside ρ^T, which bounds the RNNs' (‖Qᵀv‖ = ‖v‖, and tanh', relu' ≤ 1); then,
for each RNN whose gradient grew going back, what optim.clip_grad_norm_(params, 1.0) does to
the total norm of its weights' gradients. What overflows float64 is shown as inf or nan.
"""

import math
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, nn, optim
from tinygrad_lstm.cli import (demo_parser, float_list, positive, progress, run_demo, show_graph,
                               show_steps)

W_XH, W_HH, B = 2.0, 3.0, 1.0           # the toy: h_t = tanh(2 x_t + 3 h_{t-1} + 1)
FORGET_BIASES = (0, 1, 2, 3)          # the LSTMs' forget-gate biases, and the GRUs' z biases
OLD = "LSTM 1997"                      # Hochreiter & Schmidhuber's cell: no forget gate
SPARK = "▁▂▃▄▅▆▇█"
GRAPH_ENDS = 3  # --graph: steps drawn at each end; enough steps between them for the RNN's
                # edges to fade visibly on the graph's fixed scale


# ---------------------------------------------------------------------------- part 1: the toy
def toy_step(x_t, h_prev):
    """One step of the toy on Tensors: h_t = tanh(w_xh x_t + w_hh h_{t-1} + b)."""
    return (W_XH * x_t + W_HH * h_prev + B).tanh().named("h")


def scalar(v, requires_grad=False):
    return Tensor(np.array(v, dtype=np.float64), requires_grad=requires_grad)


def toy_chain(xs, h0=0.0):
    """The toy run over xs from h_0; for each t the factor ∂h_t/∂h_{t-1} and the running
    product ∂h_t/∂h_0, both by the engine's backward and by the hand formula."""
    hs = [h0]
    for x in xs:
        hs.append(math.tanh(W_XH * x + W_HH * hs[-1] + B))
    rows, running = [], 1.0
    for t in range(1, len(hs)):
        tanh_prime = 1.0 - hs[t] ** 2                       # tanh'(a_t) = 1 − h_t²
        factor = W_HH * tanh_prime                           # ∂h_t/∂h_{t-1} by hand
        running *= factor                                    # ∂h_t/∂h_0 by hand
        # the engine, one step: h_{t-1} as a leaf, backward from h_t
        h_prev = scalar(hs[t - 1], requires_grad=True)
        toy_step(scalar(xs[t - 1]), h_prev).backward()
        # the engine, whole chain: h_0 as a leaf, t steps, backward from h_t
        h_0 = scalar(h0, requires_grad=True)
        h = h_0
        for x in xs[:t]:
            h = toy_step(scalar(x), h)
        h.backward()
        rows.append({"t": t, "x": xs[t - 1], "h": hs[t], "w_hh": W_HH, "tanh_prime": tanh_prime,
                     "factor": factor, "factor_engine": float(h_prev.grad),
                     "running": running, "running_engine": float(h_0.grad)})
    return rows


def compact_table(title):
    """A table that fits 80 columns: one space between columns, rules only under the header."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True, show_edge=False)


def toy_table(rows, title):
    table = compact_table(title)
    for col in ("t", "x_t", "h_t", "3", "tanh'", "3·tanh'", "engine", "∂h_t/∂h_0", "engine"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["t"]), f"{r['x']:+.3f}", f"{r['h']:+.5f}", f"{r['w_hh']:g}",
                      f"{r['tanh_prime']:.3e}", f"{r['factor']:.3e}", f"{r['factor_engine']:.3e}",
                      f"{r['running']:.3e}", f"{r['running_engine']:.3e}")
    return table


def max_rel_diff(rows):
    return max(abs(r[k] - r[k + "_engine"]) / max(abs(r[k]), 1e-300)
               for r in rows for k in ("factor", "running"))


# ---------------------------------------------------------------------------- part 2: 100 steps
def model_names():
    return (["RNN"] + [f"GRU zb={b}" for b in FORGET_BIASES]
            + [f"LSTM fb={b}" for b in FORGET_BIASES] + [OLD])


def build(name, input_size, hidden, rng, dtype=np.float64):
    if name.split()[0] == "RNN":  # "RNN" (tanh), "RNN tanh", "RNN relu"
        return nn.RNN(input_size, hidden, nonlinearity=(name.split() + ["tanh"])[1],
                      dtype=dtype, rng=rng)
    if name == OLD:
        return nn.LSTM(input_size, hidden, cell=nn.LSTM1997Cell, dtype=dtype, rng=rng)
    bias = float(name.split("=")[1])
    if name.startswith("GRU"):
        model = nn.GRU(input_size, hidden, dtype=dtype, rng=rng)
        # nn.GRU takes no forget_bias: its forget gate is z, coupled with n's input, so the
        # bias goes by hand where GRUCell's message says, to z's block of bias_hh
        model.bias_hh_l0.data[hidden:2 * hidden] += bias
        return model
    return nn.LSTM(input_size, hidden, forget_bias=bias, dtype=dtype, rng=rng)


def last_h_loss(model, x):
    """L = Σ h_T for the model on x (T, B, I), from initial states that require grad (so
    ∂L/∂h_0 exists); returns the loss, the per-step h (and c) lists, t = 0 … T, those
    initial-state leaves by name ("h_0", "c_0"), and the layer's States (the gates)."""
    B, H = x.shape[1], model.hidden_size
    names = model.state_names
    hx = tuple(Tensor(np.zeros((1, B, H), x.dtype), requires_grad=True) for _ in names)
    _, _, states = model(x, hx if len(hx) > 1 else hx[0], return_states=True)
    seqs = {n: [states.initial[0][j]] + states.get(n, layer=0) for j, n in enumerate(names)}
    for seq in seqs.values():
        for s in seq:
            s.retain_grad()
    loss = seqs["h"][-1].sum()
    return loss, seqs, {f"{n}_0": s for n, s in zip(names, hx)}, states


def cell_path(c_T_grad, f):
    """‖∂L/∂c_T ⊙ f_T ⊙ … ⊙ f_{t+1}‖ for t = 0 … T, f (T, B, H): the part of ∂L/∂c_t that came
    straight down the cell path from c_T through the × f nodes only (t = T: ‖∂L/∂c_T‖)."""
    suffix = np.cumprod(f[::-1], axis=0)[::-1]             # [t] = f_{t+1} ⊙ … ⊙ f_T
    suffix = np.concatenate([suffix, np.ones_like(f[:1])])
    return scaled_norm((c_T_grad * suffix).reshape(len(suffix), -1), axis=1)


def carousel(model, x):
    """‖∂L/∂c_t‖ for t = 0 … T along the cell path alone, measured by the engine: the same
    weights and x, run with each step's h_{t−1} detached before it enters the gates (the
    forward values are the same), so no gradient returns through h and all that reaches c_t
    came straight down from c_T through c's own edges. For an LSTM that is cell_path's
    ∂L/∂c_T ⊙ f_T ⊙ … ⊙ f_{t+1}; for the 1997 cell, whose c_t = c_{t−1} + i_t ⊙ g_t, it is
    what its carousel passes on, measured rather than taken from the equation."""
    class Cut(model.cell):
        def step(self, xw, state, w_hh):
            h_prev, c_prev = state
            return super().step(xw, (h_prev.detach(), c_prev), w_hh)

    # an init of its own, overwritten at once: drawn from the demo's rng, it would have moved
    # every later draw
    cut = nn.LSTM(model.input_size, model.hidden_size, cell=Cut, dtype=x.dtype,
                  rng=np.random.default_rng(0))
    cut.load_state_dict(model.state_dict())
    loss, seqs, _, _ = last_h_loss(cut, x)
    loss.backward()
    return np.array([scaled_norm(s.grad) for s in seqs["c"]])


def scaled_norm(a, axis=None):
    """‖a‖ (along `axis`) computed as m·‖a/m‖ with m = max |a|: np.linalg.norm squares the
    entries, and squares of entries below ~1e-162 are 0 in float64, so norms down there came
    out as 0 (and were floored); this holds to ~1e-308."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    m = a.max(axis=axis, keepdims=True) if a.size else np.zeros((1,) * a.ndim)
    scale = np.where(m > 0, m, 1.0)
    out = m * np.sqrt(np.sum((a / scale) ** 2, axis=axis, keepdims=True))
    return out.reshape(-1) if axis is not None else float(out.reshape(-1)[0])


def rms(a):
    """The root mean square of a, by scaled_norm: squared directly, entries past ~1e154 (a
    relu h at large ρ) made it inf where it is not."""
    a = np.asarray(a, dtype=np.float64)
    if np.isinf(a).any() and not np.isnan(a).any():
        return math.inf
    return scaled_norm(a) / math.sqrt(a.size)


def gradient_norms(name, T, batch, hidden, input_size, rng):
    """measure's norms for the model `name` with fresh weights and input, N(0, 1)."""
    model = build(name, input_size, hidden, rng)
    x = Tensor(rng.standard_normal((T, batch, input_size)))   # (T, B, I) float64
    return measure(model, x)


def measure(model, x):
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖) for t = 0 … T with L = Σ h_T on x (T, B, I); for an LSTM
    also the cell path alone ("cell_path", see cell_path) and the mean forget gate ("mean_f",
    a number), for the 1997 cell, which has no f, its cell path measured instead ("carousel",
    see carousel), for every model the size of each state itself ("h_rms", "c_rms": the root
    mean square of h_t, c_t over batch and units), for a GRU its mean z ("mean_z"). The
    model's parameters keep their .grad."""
    loss, seqs, _, states = last_h_loss(model, x)
    loss.backward()
    out = {n: np.array([scaled_norm(s.grad) for s in seq]) for n, seq in seqs.items()}
    if "f" in states.names:
        f = states.numpy("f", layer=0)
        out["cell_path"] = cell_path(seqs["c"][-1].grad, f)
        out["mean_f"] = float(f.mean())
    elif "c" in seqs:
        out["carousel"] = carousel(model, x)
    for n, seq in seqs.items():
        out[f"{n}_rms"] = np.array([rms(s.data) for s in seq])
    if "z" in states.names:
        out["mean_z"] = float(states.numpy("z", layer=0).mean())
    return out


CURVES = (("h", "h"), ("c", "c"), ("cell_path", "∏f"), ("carousel", "CEC"))  # key, label
MEANS = ("mean_f", "mean_z")                                # per draw a number, not per t


def series(norms, keys=("h", "c", "cell_path", "carousel")):
    """(label, per-t norms) for every curve: h for each model, c and the cell path alone (∏f;
    CEC for the 1997 cell, the constant error carousel) for the LSTMs; `keys` picks which."""
    out = []
    for name, d in norms.items():
        for n, suffix in CURVES:
            if n in keys and n in d:
                out.append((f"{name} {suffix}", d[n]))
    return out


def sparkline(values, lo, hi):
    """One block character per value on a log10 scale from lo (▁) to hi (█); · for zero."""
    chars = []
    for v in values:
        if not v > 0:
            chars.append("·")
            continue
        k = (math.log10(v) - lo) / (hi - lo) * (len(SPARK) - 1)
        chars.append(SPARK[min(max(int(round(k)), 0), len(SPARK) - 1)])
    return "".join(chars)


def log_bar(value, lo, hi, width=30):
    """A bar of `width` cells whose length is log10(value) placed between lo and hi."""
    frac = (math.log10(max(value, 10.0 ** lo)) - lo) / (hi - lo)
    n = min(max(frac * width, 0.0), width)
    full = int(n)
    return "█" * full + ("▌" if n - full >= 0.5 else "")


def ratio_bar(ratio, lo, hi, width=30):
    """log_bar for a t=0/t=T ratio on a scale from 1e{lo} to 1e{hi}, hi ≥ 0: █ up to the ratio
    or to 1e+0, whichever is less, then ▒ from 1e+0 up to a ratio above 1. A ratio that grew
    gets at least one ▒ even when its excess is less than a cell, so growth always shows."""
    if not ratio > 1:
        return log_bar(ratio, lo, hi, width)
    ones = log_bar(1.0, lo, hi, width)
    excess = math.log10(ratio) / (hi - lo) * width
    return ones + "▒" * max(1, int(round(excess)))


def memory(norms):
    """(label, per-t norms) of the LSTMs' c and the other models' h: the GRU's h, carried
    through × z and + from step to step, is the LSTM's c's counterpart (and the LSTMs' h too
    would make 13 columns, more than 80 characters)."""
    return [(label, v) for label, v in series(norms, ("h", "c"))
            if not (label.endswith(" h") and "c" in norms[label[:-2]])]


def short(label):
    """"LSTM fb=3 c" -> "fb3 c", "GRU zb=3 h" -> "zb3 h", "LSTM 1997 c" -> "1997 c" for
    narrow table headers."""
    return label.replace("LSTM fb=", "fb").replace("GRU zb=", "zb").replace("LSTM 1997", "1997")


def norms_table(curves, T, every):
    table = compact_table(f"‖∂L/∂h_t‖ (h) and ‖∂L/∂c_t‖ (c), L = Σ h_T, every {every}th t; "
                          "zbN = GRU with z bias N, fbN = LSTM with forget bias N, 1997 = "
                          "LSTM 1997 (no forget gate); the LSTMs' h columns are in the chart and ratios below")
    table.add_column("t", justify="right")
    for label, _ in curves:
        table.add_column(short(label), justify="right")
    for t in list(range(0, T + 1, every)) + ([T] if T % every else []):
        table.add_row(str(t), *[f"{v[t]:.0e}" for _, v in curves])
    return table


def log_range(curves):
    vals = np.concatenate([v for _, v in curves])
    pos = vals[vals > 0]
    hi = math.ceil(math.log10(pos.max())) if pos.size else 0
    lo = math.floor(math.log10(pos.min())) if pos.size else hi - 1
    return lo, max(hi, lo + 1)


def chart_table(curves, T):
    stride = max(1, math.ceil(T / 50))
    lo, hi = log_range(curves)
    every = f", every {stride}nd t" if stride == 2 else f", every {stride}th t" if stride > 2 else ""
    table = compact_table(f"log-scale chart of the same norms over t = 0 … {T}{every}, and of "
                          "each LSTM's cell path alone (∏f: ‖∂L/∂c_T ⊙ f_T ⊙ … ⊙ f_{t+1}‖; "
                          "CEC: the 1997 cell's, with the route through h cut): "
                          f"▁ = 1e{lo}, █ = 1e{hi}")
    table.add_column("curve")
    table.add_column("t = 0 → T", no_wrap=True)
    for label, v in curves:
        table.add_row(label, sparkline(v[::stride], lo, hi))
    return table


def ratio_table(curves, mean_f=None, width=40, floored=(), mean_z=None):
    """The t=0 / t=T ratio of every curve as a log bar; mean_f: {"LSTM fb=3": 0.95, …}, shown
    on the ∏f rows, and mean_z: {"GRU zb=3": 0.95, …} on the GRUs' h rows; `floored`: the
    curves whose ratio is only a bound (at_floor)."""
    mean_f, mean_z = mean_f or {}, mean_z or {}
    ratios = [(label, v[0] / v[-1]) for label, v in curves]
    lo, hi = log_range([(label, np.array([r])) for label, r in ratios])
    lo, hi = min(lo, 0), max(hi, 0)     # 1e+0, "no loss", is always on the scale
    grew = any(r > 1 for _, r in ratios)
    table = compact_table(
        f"‖∂L/∂·_0‖ / ‖∂L/∂·_T‖, log scale from 1e{lo} to 1e{hi:+d}"
        + (": █ up to the ratio but at most 1e+0 (no loss over the sequence), then ▒ for a "
           "ratio above 1 (the gradient grew going back)" if grew else
           " (a full bar: no loss over the sequence; no ratio here is above 1)")
        + ". ∏f: the cell path alone, ‖∂L/∂c_T ⊙ f_T ⊙ … ⊙ f_1‖ / ‖∂L/∂c_T‖; CEC: the 1997 "
          "cell's, which has no f (c_t = c_{t−1} + i_t ⊙ g_t), measured with the route through "
          "h cut; mean f/z: the LSTM's forget gate, the GRU's z (the share of h_{t−1} it keeps)")
    table.add_column("curve")
    table.add_column("t=0 / t=T", justify="right")
    table.add_column("mean f/z", justify="right")
    table.add_column("", no_wrap=True)
    for label, ratio in ratios:
        f = mean_f.get(label[:-len(" ∏f")]) if label.endswith(" ∏f") else \
            mean_z.get(label[:-len(" h")]) if label.endswith(" h") else None
        table.add_row(label, shown(ratio, label in floored), "" if f is None else f"{f:.2f}",
                      ratio_bar(ratio, lo, hi, width))
    if floored:
        table.caption = (f"≤: the t = 0 norm fell below the {FLOOR:.0e} floor in some draw, so "
                         "the ratio is at most this")
    return table


FLOOR = 1e-300  # norms are floored here before averaging (float64 ends near 1e-308)
TOO_SMALL = f": below the {FLOOR:.0e} floor, too small to compare (a shorter --T)."
LEVEL = 0.05  # a ratio or a growth within 5% of 1 is read as level: noise, not a trend


def geomean(arrays):
    return np.exp(np.mean(np.log(np.maximum(np.stack(arrays), FLOOR)), axis=0))


def at_floor(arrays, every=False):
    """Where any draw's norm is at or below the floor: there the geometric mean is only an
    upper bound (and so is a ratio with it on top). With `every`, where every draw's is."""
    low = np.stack(arrays) <= FLOOR
    return low.all(axis=0) if every else low.any(axis=0)


def shown(ratio, floored):
    """A ratio as printed: `≤ 6.3e-302` where its t = 0 norm reached the floor in some draw,
    so that the true ratio is at most that."""
    return f"≤ {ratio:.1e}" if floored else f"{ratio:.1e}"


def verdict(ratios, mean_f, mean_z, T, floored=()):
    """What this run's t=0/t=T ratios (and mean forget gates and z) say, in words: every claim
    is a comparison of the measured numbers, and its wording follows the outcome. `floored`:
    the curves whose t = 0 norm sat on the floor (their ratios are upper bounds)."""
    rnn, gru = ratios["RNN h"], ratios["GRU zb=0 h"]
    lstm0 = ratios["LSTM fb=0 c"]
    lines = []
    same = abs(math.log10(lstm0) - math.log10(gru)) <= 3
    if {"LSTM fb=0 c", "GRU zb=0 h"} & set(floored):
        lines.append(f"At default init (forget bias 0) the total gradient on the LSTM's cell "
                     f"falls to {shown(lstm0, 'LSTM fb=0 c' in floored)} of its end value over "
                     f"the sequence, the GRU's (z bias 0) to "
                     f"{shown(gru, 'GRU zb=0 h' in floored)}" + TOO_SMALL)
    else:
        lines.append(f"At default init (forget bias 0) the total gradient on the LSTM's cell "
                     f"falls to {lstm0:.1e} of its end value over the sequence, the GRU's (z "
                     f"bias 0) to {gru:.1e}: "
                     + ("within 3 orders of magnitude of each other." if same else
                        "NOT within 3 orders of magnitude of each other."))
    lines.append(f"The tanh RNN falls to {shown(rnn, 'RNN h' in floored)}"
                 + (f" (below the {FLOOR:.0e} floor)." if "RNN h" in floored else "."))

    names = [f"LSTM fb={b}" for b in FORGET_BIASES]
    path = [ratios[f"{n} ∏f"] for n in names]
    nearer = [mean_f[n] for n in names]
    slower = all(a < b for a, b in zip(path, path[1:])) \
        and all(a < b for a, b in zip(nearer, nearer[1:]))
    path_floored = any(f"{n} ∏f" in floored for n in names)
    lines.append("The cell path alone (∂L/∂c_T through the × f nodes only, ∏f) keeps "
                 + ", ".join(shown(r, f"{n} ∏f" in floored) for r, n in zip(path, names))
                 + f" of ‖∂L/∂c_T‖ over {T} steps at forget bias "
                 + ", ".join(str(b) for b in FORGET_BIASES) + " (mean f "
                 + ", ".join(f"{f:.2f}" for f in nearer) + ")"
                 + (TOO_SMALL if path_floored else
                    ": the nearer f is to 1, the slower it decays." if slower else
                    ": it does NOT decay more slowly as the forget bias grows."))
    if "LSTM fb=3 ∏f" in floored or "LSTM fb=3 c" in floored:
        return lines + z_bias_verdict(ratios, mean_z, T, floored)

    f3, path3, total3 = mean_f["LSTM fb=3"], ratios["LSTM fb=3 ∏f"], ratios["LSTM fb=3 c"]
    f3_T = f3 ** T
    near = abs(math.log10(path3) - math.log10(f3_T)) <= 1
    lines.append(f"At forget bias 3 the cell path alone keeps ∏f = {path3:.1e}: "
                 + ("it decays" if path3 < 1 else "it does NOT decay")
                 + (", within 10× of" if near else ", NOT within 10× of")
                 + f" (mean f)^{T} = {f3:.3f}^{T} = {f3_T:.1e}.")
    # ∂L/∂c_0 is ∏f's vector plus what came through h (the docstring's two parts); norms don't
    # add, so only comparing them says whether the h routes added to the cell path or cancelled.
    above = all(ratios[f"{n} c"] > ratios[f"{n} ∏f"] for n in names
                if f"{n} c" not in floored and f"{n} ∏f" not in floored)
    if total3 > path3:
        lines.append(f"The total ‖∂L/∂c_0‖/‖∂L/∂c_T‖ there is {total3:.1e}, "
                     f"{total3 / path3:.3g} times the cell path alone"
                     + (" and above 1: the gradient on c grew going back" if total3 > 1 else "")
                     + ". The rest returned through h: from each c_t into the gates and g of "
                       "step t, to h_{t−1}, and from h_{t−1} = o ⊙ tanh(c_{t−1}) into c_{t−1}"
                     + ("; the total is above ∏f at every forget bias here" if above else
                        "; but not at every forget bias here")
                     # a detour leaves c and comes back to it within a step: it has no long
                     # route of its own (README: with × f's gradient cut, 1e-85 at t = 0)
                     + ". Each such detour leaves c and comes back to it, so it rides on the "
                       "cell path: it is no second route.")
    else:
        lines.append(f"The total ‖∂L/∂c_0‖/‖∂L/∂c_T‖ there is {total3:.1e}, no more than the "
                     "cell path alone: in this run what came back through h did not add to it.")
    return lines + z_bias_verdict(ratios, mean_z, T, floored)


def z_bias_verdict(ratios, mean_z, T, floored=()):
    """The GRU's ladder beside the LSTM's, as verdict's lines: what z's bias did to the GRU's
    ‖∂L/∂h_0‖/‖∂L/∂h_T‖ against what the forget bias did to the LSTM's c."""
    grus = [f"GRU zb={b}" for b in FORGET_BIASES]
    kept = [ratios[f"{n} h"] for n in grus]
    cells = [ratios[f"LSTM fb={b} c"] for b in FORGET_BIASES]
    line = ("The GRU's h keeps "
            + ", ".join(shown(r, f"{n} h" in floored) for r, n in zip(kept, grus))
            + f" of ‖∂L/∂h_T‖ over {T} steps at z bias "
            + ", ".join(str(b) for b in FORGET_BIASES) + " (mean z "
            + ", ".join(f"{mean_z[n]:.2f}" for n in grus) + ")")
    if {f"{n} h" for n in grus} & set(floored):
        return [line + TOO_SMALL]
    if {f"LSTM fb={b} c" for b in FORGET_BIASES} & set(floored):
        return [line + ": the LSTM's c beside it" + TOO_SMALL]
    rises = all(a < b for a, b in zip(kept, kept[1:]))
    cell_rises = all(a < b for a, b in zip(cells, cells[1:]))
    gain, cell_gain = (math.log10(r[-1] / r[0]) for r in (kept, cells))
    def orders(g):  # a short --T gains about 1: "0" or "1 orders" would say little
        return f"{g:.0f}" if abs(g) >= 10 else f"{g:.1f}"
    line += (f", {orders(abs(gain))} orders of magnitude {'more' if gain >= 0 else 'less'} at "
             f"z bias {FORGET_BIASES[-1]} than at {FORGET_BIASES[0]}, where the LSTM's c "
             f"{'gains' if cell_gain >= 0 else 'loses'} {orders(abs(cell_gain))} "
             f"({cells[0]:.1e} to {cells[-1]:.1e})")
    # "does what the forget bias does" needs both ladders to climb, and the GRU's by as much
    # as the LSTM's in order of magnitude (half of it or more), not merely to climb a little
    if rises and cell_rises and gain >= cell_gain / 2:
        line += (": the more of h_{t−1} z keeps, the more of the gradient reaches t = 0. z's "
                 "bias does for the GRU's h what the forget bias does for the LSTM's c.")
    elif rises and cell_rises:
        line += (": it climbs with z's bias, but NOT as far as the LSTM's c climbs with the "
                 "forget bias.")
    elif rises:
        line += (": it climbs with z's bias, but the LSTM's c does NOT climb at every step "
                 "of the forget bias here.")
    else:
        line += ": it does NOT keep more at every step of z's bias."
    z3, kept3 = mean_z[grus[-1]], kept[-1]
    near = abs(math.log10(kept3) - T * math.log10(z3)) <= 1
    return [line, f"At z bias {FORGET_BIASES[-1]} that is {kept3:.1e}, "
                  + ("within 10× of" if near else "NOT within 10× of")
                  + f" (mean z)^{T} = {z3:.3f}^{T} = {z3 ** T:.1e}: what the direct path "
                    "h_{t−1} → × z → + → h_t alone would keep with every z at its mean."]


def carousel_verdict(ratios, norms, T, floored=(), ends=(), some_ends=()):
    """The 1997 cell beside the LSTM at forget bias 3, as verdict's lines: what its carousel
    (its cell path alone, "carousel") passed on, what its total on c did, and how c itself
    ("c_rms") grew; `norms` is {model: its per-t arrays}; `ends`, `some_ends`: the curves
    whose t = T norm sat on the floor in every draw, in some. Every claim compares the
    measured numbers and its wording follows them, as verdict's do."""
    old, fb3 = norms[OLD], norms["LSTM fb=3"]
    cec, total = ratios[f"{OLD} CEC"], ratios[f"{OLD} c"]
    path3, total3 = ratios["LSTM fb=3 ∏f"], ratios["LSTM fb=3 c"]
    line = (f"The 1997 cell (no forget gate: c_t = c_{{t−1}} + i_t ⊙ g_t) keeps {cec:.1e} of "
            f"‖∂L/∂c_T‖ over {T} steps along its cell path alone, the carousel (CEC)")
    if f"{OLD} c" in ends:  # ∂L/∂c_T itself is 0: nothing for the carousel to carry
        return [f"The 1997 cell (no forget gate: c_t = c_{{t−1}} + i_t ⊙ g_t): its carousel "
                f"has nothing to carry over these {T} steps, ‖∂L/∂c_T‖ itself is below the "
                f"{FLOOR:.0e} floor. c_T has drifted to a root mean square of "
                f"{float(old['c_rms'][-1]):.0f}, where the cell's output squashing of c_T is "
                "flat (±1 in float64), so h_T passes no gradient back into c_T: the drift's "
                "own cost (a shorter --T)."]
    if f"{OLD} c" in some_ends:
        return [f"The 1997 cell (no forget gate: c_t = c_{{t−1}} + i_t ⊙ g_t): in some of the "
                f"draws ‖∂L/∂c_T‖ itself fell below the {FLOOR:.0e} floor, c_T drifted to where "
                "the cell's output squashing of it is flat (±1 in float64), so the averages "
                "over the draws are only bounds, too small to compare (a shorter --T)."]
    if {f"{OLD} CEC", f"{OLD} c"} & set(floored):
        return [line + TOO_SMALL]
    # the same at every t, not only at t = 0: a ratio of 1 could hide factors that cancel
    off = float(np.max(np.abs(old["carousel"] / old["carousel"][-1] - 1.0)))
    whole = off <= 1e-12
    lines = [line + (": ‖∂L/∂c_t‖ on it is ‖∂L/∂c_T‖ at every t ("
                     + ("exactly" if off == 0 else f"to {off:.0e}") + "), each step passing it "
                     "on whole: the error on c neither vanishes nor decays along it, where the "
                     f"forget gate's ∏f keeps {path3:.1e} at forget bias 3." if whole else
                     f": NOT ‖∂L/∂c_T‖ at every t (off by up to {off:.1e}): it does not pass "
                     "the error on whole.")]
    half = float(old["c"][T // 2] / old["c"][-1]) if T >= 2 else None  # T = 1: t = 0 itself
    line = (f"Its total ‖∂L/∂c_0‖/‖∂L/∂c_T‖ is {total:.1e}"
            + (f", ‖∂L/∂c_{T // 2}‖/‖∂L/∂c_T‖ {half:.1e}" if half is not None else "")
            + f" (at forget bias 3 the total is {total3:.1e})")
    if abs(total - 1) <= LEVEL:  # (1.0e+00 beside "it grew" read as a contradiction)
        line += (f": about 1 ({total:.3f}), within {LEVEL:.0%}: it neither grew nor fell going "
                 "back by more than that.")
    elif total > 1:
        line += (": above 1, it grew going back"
                 + (", the further the more" if half is not None and total > half > 1 else "")
                 + (", and more than at forget bias 3" if total > total3 else
                    ", but NOT more than at forget bias 3"))
        # the carousel passed ∂L/∂c_T on whole, so all above it came back through h
        line += (". What returns through h adds onto the carousel, which passes all of it on "
                 "and takes none of it out." if whole and total > cec else ".")
    else:
        line += ": it did NOT grow going back."
    lines.append(line)
    if T < 4:  # t = T/4 would be t = 0, where c is 0
        return lines
    at = (T // 4, T // 2, T)
    size, size3 = ([float(d["c_rms"][t]) for t in at] for d in (old, fb3))
    growth, growth3 = ([b / a for a, b in zip(s, s[1:])] for s in (size, size3))
    line = ("c itself (root mean square over batch and units) is "
            + ", ".join(f"{v:.2f}" for v in size) + f" at t = {at[0]}, {at[1]}, {at[2]} in the "
            "1997 cell (×" + ", ×".join(f"{g:.2f}" for g in growth) + f"; in proportion to t "
            f"×{at[1] / at[0]:.3g}, ×{at[2] / at[1]:.3g}), " + ", ".join(f"{v:.2f}" for v in size3)
            + " at forget bias 3 (×" + ", ×".join(f"{g:.2f}" for g in growth3) + ")")
    # within LEVEL of ×1 is level: at T = 1000 forget bias 3's ×0.99, ×1.00 read as "does
    # NOT grow less each time" beside the 1997 cell's ×2.1 (a review of the change)
    drifts = all(g > 1 + LEVEL for g in growth)
    g, g3 = growth[1], growth3[1]
    trend3 = ("shrinks" if g3 < 1 - LEVEL else "levels off" if g3 <= 1 + LEVEL else
              "grows less each time" if g3 < growth3[0] else None)
    if drifts and trend3 and g3 < g:
        line += (f": the 1997 cell's c keeps growing, the forget gate's {trend3}: nothing in "
                 "c_t = c_{t−1} + i_t ⊙ g_t takes any of c out, where f_t < 1 takes a share "
                 "out at every step.")
        if whole and path3 < 1:
            line += (" The forget gate (Gers et al. 2000) trades one for the other: its c "
                     f"grows less, and its ∏f decays ({path3:.1e}) where the carousel kept "
                     "the error whole.")
    elif drifts and trend3:
        line += (f": the 1997 cell's c keeps growing, the forget gate's {trend3}, but NOT "
                 f"less than the 1997 cell's (×{g3:.2f} against ×{g:.2f}).")
    elif drifts:
        line += (": the 1997 cell's c keeps growing, but the forget gate's does NOT grow "
                 "less each time here.")
    else:
        line += ": the 1997 cell's c does NOT grow each time here."
    lines.append(line)
    return lines


# ---------------------------------------------------------------------------- --rho
RHO_MODELS = ("RNN tanh", "RNN relu", "LSTM fb=3")
INPUT_SCALE = 0.1  # W_ih × this: the input only nudges h, so that ρ·Q sets how it grows


def orthogonal(n, rng):
    """A random orthogonal n × n matrix: the Q of a Gaussian matrix's QR, each column's sign
    flipped where R's diagonal is negative (QR's signs are a convention; so fixed, Q is
    uniform over the orthogonal matrices)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def rho_model(name, rho, Q, input_size, rng):
    """build(name, …), torch's default init (forget bias 3 for "LSTM fb=3"), then every
    H × H block of W_hh set to ρ·Q (an LSTM's four, i, f, g and o, alike) and W_ih scaled by
    INPUT_SCALE."""
    model = build(name, input_size, len(Q), rng)
    w_hh = model.weight_hh_l0.data                                # (G·H, H)
    w_hh[:] = np.tile(rho * Q, (len(w_hh) // len(Q), 1))
    model.weight_ih_l0.data *= INPUT_SCALE
    return model


def rho_rows(rhos, T, batch, hidden, seed, input_size=8):
    """For each ρ and each of RHO_MODELS: the ratio ‖∂L/∂h_0‖/‖∂L/∂h_T‖ of L = Σ h_T (the
    LSTM's on c, and its cell path alone, "cell_path"), ρ^T ("bound"), the RMS of h_T,
    the mean tanh' = 1 − h² over every step and unit ("slope", tanh RNN only), and what
    clip_grad_norm_(params, 1.0) did ("clip": the total norm it returned, the norm after it,
    the largest |grad| before it). Q, x and each model's init come from an rng seeded with
    `seed` afresh, so the other tables' draws leave them be, and are the same at every ρ.
    What overflows float64 is kept as inf or nan."""
    rng = np.random.default_rng(seed)
    Q = orthogonal(hidden, rng)
    x = Tensor(rng.standard_normal((T, batch, input_size)))          # (T, B, I)
    init = int(rng.integers(2 ** 32))
    rows = []
    for rho in rhos:
        for name in RHO_MODELS:
            model = rho_model(name, rho, Q, input_size, np.random.default_rng(init))
            # a relu h, or ρ^T, past 1.8e308 is inf (and inf − inf nan): shown, not warned
            with np.errstate(over="ignore", invalid="ignore"):
                out = measure(model, x)
                key = "c" if "c" in out else "h"
                params = model.parameters()
                largest = float(np.max([np.max(np.abs(p.grad)) for p in params]))  # nan kept
                before = float(optim.clip_grad_norm_(params, 1.0))
                after = scaled_norm(np.concatenate([p.grad.ravel() for p in params]))
                rows.append({
                    "rho": rho, "name": name, "ratio": out[key][0] / out[key][-1],
                    "cell_path": (out["cell_path"][0] / out["cell_path"][-1]
                                  if "cell_path" in out else None),
                    "bound": float(np.float64(rho) ** T), "h_rms": float(out["h_rms"][-1]),
                    "slope": (float(1 - np.mean(out["h_rms"][1:] ** 2))
                              if name == "RNN tanh" else None),
                    "clip": (before, after, largest), "model": model, "x": x})
    return rows


def num(v):
    """v as the table prints it: 3.1e+02, or inf and nan as they are."""
    return f"{v:.1e}" if math.isfinite(v) else str(v)


def rho_table(rows, T, width=20):
    finite = [r["ratio"] for r in rows if not overflowed(r)]
    lo, hi = log_range([("", np.array(finite or [1.0]))])
    lo, hi = min(lo, 0), max(hi, 0)     # 1e+0, "no loss", is always on the scale
    table = compact_table(
        f"W_hh = ρ·Q, Q random orthogonal (the same in every row; the LSTM's four W_hh "
        f"blocks each ρ·Q, forget bias 3), W_ih ×{INPUT_SCALE:g}, T={T}, L = Σ h_T, one draw. "
        "t=0/t=T: ‖∂L/∂h_0‖/‖∂L/∂h_T‖ (the LSTM's on c), bounded by ρ^T for the RNNs; ∏f: "
        f"the LSTM's cell path alone; bar: log scale from 1e{lo} to 1e{hi:+d}, ▒ above 1")
    for col in ("ρ", "model", "RMS h_T", "t=0/t=T", "ρ^T", "∏f"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_column("", no_wrap=True)
    for i, r in enumerate(rows):
        bar = "overflowed" if overflowed(r) else ratio_bar(r["ratio"], lo, hi, width)
        rnn = r["cell_path"] is None  # ρ^T bounds an RNN's ratio only: blank beside an LSTM's
        table.add_row(f"{r['rho']:g}", r["name"], num(r["h_rms"]), num(r["ratio"]),
                      num(r["bound"]) if rnn else "", "" if rnn else num(r["cell_path"]),
                      bar, end_section=i + 1 < len(rows) and rows[i + 1]["rho"] != r["rho"])
    if any(not math.isfinite(v) for r in rows for v in (r["h_rms"], r["ratio"], r["bound"])):
        table.caption = "inf, nan: overflowed float64 (past 1.8e+308) in this run"
    return table


def orders(values):
    """How many orders of magnitude the finite, positive values span; None under two."""
    v = [x for x in values if math.isfinite(x) and x > 0]
    return math.log10(max(v) / min(v)) if len(v) >= 2 else None


def at(rows):
    return ", ".join(f"{r['rho']:g}" for r in rows)


def overflowed(r):
    """True when a row's forward or its ratio went past float64 (inf or nan): its ratio then
    says nothing of vanishing or exploding (a nan pre-activation turns relu off: 0)."""
    return not (math.isfinite(r["h_rms"]) and math.isfinite(r["ratio"]))


def rho_verdict(rows, T):
    """What the --rho rows say, as lines; each claim compares the measured numbers and its
    wording follows them, as verdict's do. Rows that overflowed are named as such and left
    out of every comparison."""
    kind = {n: [r for r in rows if r["name"] == n] for n in RHO_MODELS}
    tanh, relu, lstm = kind["RNN tanh"], kind["RNN relu"], kind["LSTM fb=3"]
    rnn = [r for r in tanh + relu if not overflowed(r)]
    gone = [r for r in tanh + relu if overflowed(r)]
    over = [r for r in rnn if not r["ratio"] <= r["bound"] * (1 + 1e-9)]
    lines = ["Q is orthogonal (‖Qᵀv‖ = ‖v‖) and tanh', relu' ≤ 1, so each step back multiplies "
             "an RNN's ‖∂L/∂h‖ by at most ρ: ρ^T bounds its ratio. "
             + ("Every RNN row is at or below it" if not over else
                "NOT so at " + ", ".join(f"ρ = {r['rho']:g} ({r['name']}: {num(r['ratio'])} "
                                         f"against {num(r['bound'])})" for r in over))
             + (f" (the {' and '.join(sorted({r['name'] for r in gone}))} at ρ = {at(gone)} "
                "overflowed: left out)." if gone else ".")]
    for label, rs in (("tanh", tanh), ("relu", relu)):
        ok = [r for r in rs if not overflowed(r)]
        parts = [f"{what} at ρ = {at(sel)}" for what, sel in (
            ("below 1 (it vanishes)", [r for r in ok if r["ratio"] < 1]),
            ("1", [r for r in ok if r["ratio"] == 1]),
            ("above 1 (it explodes)", [r for r in ok if r["ratio"] > 1]),
            ("overflowed", [r for r in rs if overflowed(r)])) if sel]
        line = (f"The {label} RNN's ratio is " + ", ".join(num(r["ratio"]) for r in rs)
                + f" at ρ = {at(rs)}: " + ", ".join(parts))
        cut = [r for r in ok if r["ratio"] < 1 and r["rho"] > 1]
        if cut and label == "relu":
            line += (f"; below 1 at ρ = {at(cut)} although ρ > 1: relu' is 0 on every unit "
                     "that is off, so those pass nothing back")
        lines.append(line + ".")
    sizes = {}
    for label, rs in (("tanh", tanh), ("relu", relu)):
        finite = [r["h_rms"] for r in rs if math.isfinite(r["h_rms"])]
        sizes[label] = max(finite) if finite else None
    t_max, r_max = sizes["tanh"], sizes["relu"]
    blew = [r for r in relu if not math.isfinite(r["h_rms"])]
    line = (f"Forward, the RMS of h_T is at most {num(t_max)} with tanh (its range is −1 to 1)"
            if t_max is not None else "Forward, tanh's h_T overflowed at every ρ")
    if blew:
        line += f"; with relu it overflowed at ρ = {at(blew)}: relu has no ceiling."
    elif t_max is not None and r_max > max(t_max, 1):
        line += (f", with relu at most {num(r_max)} (at ρ = "
                 f"{at([r for r in relu if r['h_rms'] == r_max])}): relu has no ceiling.")
    else:
        line += f", with relu at most {num(r_max)}: NOT larger than tanh's here."
    lines.append(line)
    both = [(a, b) for a, b in zip(tanh, relu) if a["ratio"] > 1 and b["ratio"] > 1
            and not overflowed(a) and not overflowed(b)]
    first, last = tanh[0], tanh[-1]  # the smallest ρ, the largest
    slopes = (f"its mean tanh' = 1 − h² over every step and unit {last['slope']:.2f} at ρ = "
              f"{last['rho']:g}" + (f" against {first['slope']:.2f} at ρ = {first['rho']:g}"
                                    if first is not last else ""))
    if both:
        less = all(a["ratio"] < b["ratio"] for a, b in both)
        line = (f"Where both explode (ρ = {at([a for a, _ in both])}), tanh's ratio is "
                + ("below" if less else "NOT always below") + " relu's ("
                + "; ".join(f"{num(a['ratio'])} against {num(b['ratio'])}" for a, b in both)
                + ")")
        if less and last["slope"] < first["slope"]:
            line += (f": saturation cuts tanh's slope, {slopes}, where relu' is 1 on every "
                     "unit that is on.")
        else:
            line += f"; {slopes}."
        lines.append(line)
    else:
        lines.append("At no ρ here do the tanh and the relu RNN both explode.")
    span_f, span_c = orders(r["cell_path"] for r in lstm), orders(r["ratio"] for r in lstm)
    span_t = orders(r["ratio"] for r in tanh if not overflowed(r))
    line = ("The LSTM (forget bias 3, each W_hh block ρ·Q) keeps along its cell path alone (∏f) "
            + ", ".join(num(r["cell_path"]) for r in lstm) + f" at ρ = {at(lstm)}, its total "
            "on c " + ", ".join(num(r["ratio"]) for r in lstm))
    if span_f is None or span_t is None:
        line += ": too few ρ (or finite ratios) to compare across ρ."
    elif span_f <= 3 and span_f < span_t:
        line += (f": ∏f spans {span_f:.1f} orders of magnitude over these ρ (the total on c "
                 f"{span_c:.1f}), the tanh RNN's ratio {span_t:.0f}. No W_hh lies on the × f "
                 "path; ρ reaches it only through what f reads.")
    else:
        line += (f": ∏f spans {span_f:.1f} orders of magnitude over these ρ, the tanh RNN's "
                 f"{span_t:.1f}: " + ", and ".join(
                     ([] if span_f <= 3 else ["NOT within 3 orders"])
                     + ([] if span_f < span_t else ["NOT less than the RNN's"])) + ".")
    lines.append(line)
    blown = [r for r in tanh + relu if overflowed(r) or r["ratio"] > 1]
    blown.sort(key=rows.index)                                    # the table's order
    if not blown:
        return lines + ["No RNN's gradient grew going back here: nothing for "
                        "clip_grad_norm_(params, 1.0) to cut."]
    lines.append("clip_grad_norm_(params, 1.0) on each RNN whose gradient grew going back (or "
                 "overflowed), the total norm of ∂L/∂(every weight) before → after:")
    for r in blown:
        before, after, largest = r["clip"]
        line = f"  ρ = {r['rho']:g}, {r['name']}: {num(before)} → {after:.3g}"
        if not math.isfinite(before):
            line += (" (every grad finite, the largest " + num(largest) + ", but their "
                     "squares overflow float64" if math.isfinite(largest) else
                     " (the grads themselves are inf or nan")
            line += ("; so every grad is scaled by 0: this step is lost, not clipped)"
                     if after == 0 else "; clipping cannot rescale them)")
        elif abs(after - 1) <= 1e-6:
            line += f" (every grad scaled by {after / before:.1e})"
        else:
            line += " (NOT 1)"
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------- --graph / --step
def small_losses(T, seed):
    """An RNN's, an LSTM's (forget bias 3) and a GRU's (z bias 3) L = Σ h_T at small T, for
    drawing and stepping: the RNN's h, whose every step back goes through @ and tanh, the
    LSTM's c path through × f and +, and its counterpart, the GRU's h path through × z and +.
    The GRU comes last so that the first two files and walks stay as they were before it
    came in."""
    out = {}
    for name, kind in (("rnn", "RNN"), ("lstm", "LSTM fb=3"), ("gru", "GRU zb=3")):
        rng = np.random.default_rng(seed)
        model = build(kind, 2, 4, rng)
        x = Tensor(rng.standard_normal((T, 1, 2)))
        loss, seqs, initial, states = last_h_loss(model, x)
        out[name] = (loss, {**dict(model.named_parameters()), **initial}, kind, seqs, states)
    return out


def pictures_say(small):
    """What the drawn graphs show along each model's path, from the gradients their drawing
    left (the per-step states keep theirs): ‖∂L/∂·‖ at t = T and t = 0, and the mean gate
    that scales each step back. Even at forget bias 3 these small untrained models' f is well
    below σ(3) = 0.95, so the LSTM's cell path fades in its picture too, far less than the
    RNN's h: the lines say by how much, so that the picture is not read as "no fade"."""
    lines, fades = [], {}
    for name, (_, _, kind, seqs, states) in small.items():
        key = "c" if "c" in seqs else "h"
        end, start = scaled_norm(seqs[key][-1].grad), scaled_norm(seqs[key][0].grad)
        T = len(seqs[key]) - 1
        fades[name] = start / end
        line = f"  {kind} {key}: {end:.2e} at t={T} → {start:.2e} at t=0 (× {start / end:.1e})"
        gate = "f" if "f" in states.names else "z" if "z" in states.names else None
        if gate:
            g = states.numpy(gate, layer=0)
            alone = cell_path(seqs[key][-1].grad, g)
            line += (f"; through the × {gate} nodes alone × {alone[0] / alone[-1]:.1e} "
                     f"(mean {gate} {float(g.mean()):.2f})")
        else:
            line += ", each step back through @ W_hhᵀ and tanh's slope"
        lines.append(line)
    head = ("what the pictures show, ‖∂L‖ on each one's path (the LSTM's c and the GRU's h, "
            "orange; the RNN's h):")
    if "rnn" in fades and "lstm" in fades:
        lstm, rnn = fades["lstm"], fades["rnn"]
        if lstm >= 1:
            lines.append("  the LSTM's cell path does not fade over these steps")
        else:
            line = "  the LSTM's cell path fades too (its f < 1 where the gradient is)"
            times = 10 ** round(math.log10(lstm / rnn)) if lstm > rnn else 1
            lines.append(line + (f", about {times:,} times less than the RNN's h over the "
                                 "same steps" if times >= 10 else ""))
    return [head] + lines


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/vanishing.svg", steps_default=5,
                         graph_help="the RNN's, the LSTM's and the GRU's graphs, as OUT_rnn, "
                                    "OUT_lstm and OUT_gru",
                         step_help="the RNN's backward pass, then the LSTM's, then the GRU's "
                                   "(q: on to the next)",
                         steps_help="random draws averaged (geometric mean)")
    parser.add_argument("--T", type=int, default=100, help="sequence length of part 2")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units H")
    parser.add_argument("--batch", type=int, default=8, help="batch size B")
    parser.add_argument("--toy-T", type=int, default=8, help="steps of the scalar toy")
    parser.add_argument("--graph-T", type=int, default=20,
                        help="sequence length for --graph/--step (the graph draws the first and "
                             f"last {GRAPH_ENDS} steps of one longer than {2 * GRAPH_ENDS + 1})")
    parser.add_argument("--rho", default=None, metavar="RHO,RHO,...",
                        help="after the tables: for each spectral radius ρ, a tanh RNN, a relu "
                             "RNN and an LSTM (forget bias 3) with W_hh = ρ·Q, Q random "
                             "orthogonal, at --T, --hidden, --batch and --seed, one draw (not "
                             "--steps): RMS of h_T, the gradient ratio, clip_grad_norm_ "
                             "(default: off)")
    args = parser.parse_args(argv)
    for flag in ("steps", "T", "hidden", "batch", "toy_T", "graph_T"):
        positive("--" + flag.replace("_", "-"), getattr(args, flag))
    if args.rho is not None:  # in order, once each
        args.rho = sorted(set(float_list("--rho", args.rho)))
    console = Console()
    rng = np.random.default_rng(args.seed)

    # part 1: the toy, with random inputs (h saturates: vanishing) and with x_t = −½ (then
    # a_t = 3 h_{t−1}, h stays exactly at 0, tanh' = 1 and the product is 3^t: exploding)
    xs = rng.standard_normal(args.toy_T).round(3).tolist()
    rows = toy_chain(xs)
    console.print(toy_table(rows, "A scalar toy h_t = tanh(2 x_t + 3 h_{t−1} + 1), h_0 = 0, "
                                  "random x_t: ∂h_t/∂h_{t−1} = 3 · (1 − h_t²)"))
    explode = toy_chain([-0.5] * args.toy_T)
    console.print()
    console.print(toy_table(explode, "The same toy with x_t = −½: a_t = 3 h_{t−1}, h stays 0, "
                                     "tanh' = 1, so every factor is 3"))
    agree = max(max_rel_diff(rows), max_rel_diff(explode))
    console.print(f"engine vs hand: largest relative difference {agree:.1e} "
                  f"({'they agree' if agree < 1e-12 else 'THEY DISAGREE'}). "
                  f"Random x_t: ∂h_{args.toy_T}/∂h_0 = {rows[-1]['running']:.2e} (vanishing, "
                  f"although 3^{args.toy_T} = {3.0 ** args.toy_T:.0f}); x_t = −½: "
                  f"{explode[-1]['running']:.0f} = 3^{args.toy_T} (exploding).\n")

    # part 2: RNN vs GRU(z bias 0..3) vs LSTM(forget bias 0..3) vs LSTM 1997, loss on the
    # last h, --steps random draws. The 1997 cell's draws come after all of the others': it
    # came in later, and so leaves their draws, and the numbers the README quotes, as they were
    T, names = args.T, model_names()
    draws = {n: [] for n in names}
    order = ([n for _ in range(args.steps) for n in names if n != OLD]
             + [n for n in names if n == OLD] * args.steps)
    with progress(len(order), f"‖∂L/∂h_t‖ over T={T}") as update:
        for name in order:
            draws[name].append(gradient_norms(name, T, args.batch, args.hidden, 8, rng))
            update(model=name)
    def over_draws(summary):  # {model: {curve: summary of its draws' arrays}}
        return {n: {k: summary([d[k] for d in draws[n]]) for k in draws[n][0] if k not in MEANS}
                for n in names}

    norms, floors = over_draws(geomean), over_draws(at_floor)
    floored = {label for label, low in series(floors) if low[0]}
    # ∂L/∂c_T itself 0 (a c_T drifted past its squashing's range) in every draw, or in some
    ends = [{label for label, low in series(lows) if low[-1]}
            for lows in (over_draws(lambda a: at_floor(a, every=True)), floors)]
    mean_f, mean_z = ({n: float(np.mean([d[k] for d in draws[n]]))
                       for n in names if k in draws[n][0]} for k in MEANS)
    curves = series(norms)
    console.print(f"H={args.hidden}, B={args.batch}, T={T}, input N(0, 1) of 8 features, "
                  f"torch's default init, float64; geometric mean of {args.steps} draw(s). (The engine's "
                  "gradients equal torch.nn's on the same weights: tests/test_rnn.py.)\n")
    for table in (norms_table(memory(norms), T, 10), chart_table(curves, T),
                  ratio_table(curves, mean_f, floored=floored, mean_z=mean_z)):
        console.print(table)
        console.print()
    ratios = {label: float(v[0] / v[-1]) for label, v in curves}
    for line in verdict(ratios, mean_f, mean_z, T, floored) \
            + carousel_verdict(ratios, norms, T, floored, *ends):
        console.print(line)

    # --rho: the toy's matrix version, after the tables, at their sizes and seed
    rho = None
    if args.rho:
        rho = rho_rows(args.rho, T, args.batch, args.hidden, args.seed)
        console.print()
        console.print(rho_table(rho, T))
        console.print()
        for line in rho_verdict(rho, T):
            console.print(line)

    # one small RNN, LSTM and GRU to draw (side by side: three files) or to step through
    if args.graph or args.step:
        small = small_losses(args.graph_T, args.seed)
    if args.graph:
        out = Path(args.graph)
        ends = args.graph_T > 2 * GRAPH_ENDS + 1
        if ends:  # the step between the ends is folded into one box: say so, as show_graph does
            console.print(f"the graphs have {args.graph_T} timesteps: drawing the first and last "
                          f"{GRAPH_ENDS} (--graph-T {2 * GRAPH_ENDS + 1} or less draws them all)")
        for name, (loss, params, *_) in small.items():
            show_graph(loss, str(out.with_name(f"{out.stem}_{name}{out.suffix or '.svg'}")),
                       model=params, max_steps=GRAPH_ENDS if ends else None)
        for line in pictures_say(small):
            console.print(line)
        small = small_losses(args.graph_T, args.seed)   # drawing ran their backward
    if args.step:
        for i, (name, (loss, params, kind, *_)) in enumerate(small.items(), 1):  # q: on to the next
            show_steps(loss, args, title=f"vanishing · walk {i} of {len(small)}: {kind}, "
                                         f"T={args.graph_T}, L = Σ h_T", model=params,
                       quit="quit" if i == len(small) else "next walk")
    return {"toy": rows, "toy_explode": explode, "toy_max_rel_diff": agree,
            "norms": norms, "ratios": ratios, "mean_f": mean_f, "mean_z": mean_z,
            "cell_path": {n: ratios[f"{n} ∏f"] for n in mean_f}, "rho": rho}


if __name__ == "__main__":
    run_demo(main)
