"""Demonstrates one gradient computed two ways for a tiny tanh RNN: backpropagation through
time (BPTT, the engine's backward) and real-time recurrent learning (RTRL, Williams & Zipser
1989, written out in numpy below); they agree to float64 rounding, and cost very differently.

The network and the loss (h_0 = 0, y_t a target, summed over the batch too):

    a_t = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh,     h_t = tanh(a_t)
    L   = Σ_t ℓ_t,     ℓ_t = ½ ‖h_t − y_t‖²,            ∂ℓ_t/∂h_t = h_t − y_t

BPTT runs the sequence forward with nn.RNN, keeping every h_t in the recorded graph, then
loss.backward() walks that graph backward in time; ∂L/∂θ is ready only after the last step.

RTRL runs forward only. It carries the sensitivity P_t = ∂h_t/∂θ, an H × n_params matrix
for each sequence (θ = W_ih, W_hh, b_ih, b_hh: n_params = H·I + H·H + 2H), and updates it
with the chain rule through h_{t−1}:

    P_t = diag(1 − h_t²) · ( ∂a_t/∂θ|direct + W_hh · P_{t−1} ),     P_0 = 0
    ∂a_t[k]/∂W_ih[i, j]|direct = δ_ki x_t[j]       ∂a_t[k]/∂W_hh[i, j]|direct = δ_ki h_{t−1}[j]
    ∂a_t[k]/∂b_ih[i]|direct = ∂a_t[k]/∂b_hh[i]|direct = δ_ki
    ∂L/∂θ = Σ_t (h_t − y_t)ᵀ P_t            (accumulated as it goes)

After step t it holds the gradient of ℓ_1 + … + ℓ_t: it is ready at every step, and nothing
from the past is kept but P. The price is W_hh · P_{t−1}, H·H·n_params ≈ H⁴ multiply-adds a
step (the W_hh block of P alone is H × H × H), against about 2·H·I + 3·H² for BPTT's forward
and backward step; and P's H·n_params numbers, whatever T is, against BPTT's T states and
graph, which grow with T.

The demo prints the two gradients' largest differences per parameter, the RTRL gradient half
way through against BPTT on the first half of the sequence (online), and a table of measured
times and memory for a few H and T.

    python demos/rtrl.py                                  # agreement, then the cost table
    python demos/rtrl.py --T 1 --batch 3                  # one step, a batch of three
    python demos/rtrl.py --sizes 4,8,16,32,48 --lengths 50,200
    python demos/rtrl.py --graph out/rtrl.svg             # the BPTT side's graph
    python demos/rtrl.py --step                           # walk its backward pass
"""

import time
import tracemalloc

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, nn
from tinygrad_lstm.cli import demo_parser, graph_and_steps, int_list, positive, run_demo

NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")
TORCH_NAMES = dict(zip(NAMES, ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")))


# ---------------------------------------------------------------------------- data and model
def make_problem(T, B, I, H, rng):
    """A float64 nn.RNN and a random sequence x (T, B, I) with targets y (T, B, H) in (−1, 1),
    the range of tanh."""
    rnn = nn.RNN(I, H, dtype=np.float64, rng=rng)
    x = rng.standard_normal((T, B, I))
    y = rng.uniform(-1.0, 1.0, (T, B, H))
    return rnn, x, y


def weights(rnn):
    """The layer's parameters as plain float64 arrays, by the docstring's names."""
    named = dict(rnn.named_parameters())
    return {k: named[TORCH_NAMES[k]].data.copy() for k in NAMES}


def n_params(H, I):
    return H * I + H * H + 2 * H


# ---------------------------------------------------------------------------- BPTT: the engine
def bptt_loss(rnn, x, y):
    out, _ = rnn(Tensor(x))                        # (T, B, H): every h_t, kept in the graph
    return ((out - Tensor(y)) ** 2).sum() * 0.5


def bptt(rnn, x, y):
    """L and ∂L/∂θ by the engine's backward walk (the parameters' .grad)."""
    rnn.zero_grad()
    loss = bptt_loss(rnn, x, y)
    loss.backward()
    named = dict(rnn.named_parameters())
    return loss.item(), {k: named[TORCH_NAMES[k]].grad.copy() for k in NAMES}


def graph_bytes(rnn, x, y):
    """Bytes the forward pass allocated and still holds when the backward would start: the
    recorded graph, its arrays and its node objects, as tracemalloc counts them. That is the
    memory BPTT keeps for its backward, and RTRL does not."""
    bptt_loss(rnn, x, y)  # a first run fills the engine's small caches, which are not the graph
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loss = bptt_loss(rnn, x, y)  # noqa: F841 (held while counting)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        if not tracing:
            tracemalloc.stop()


# ---------------------------------------------------------------------------- RTRL: numpy
def rtrl(w, x, y, online_at=None):
    """L and ∂L/∂θ by real-time recurrent learning, forward in time only (the docstring's
    equations). w: {name: array}, x (T, B, I), y (T, B, H), all float64. P[name] has shape
    (B, H, *θ.shape): each sequence of the batch has its own sensitivities, and the gradients
    are summed over it. Returns (loss, grads, info); info["P_numbers"] is P's size, and with
    online_at=t info["online"] is the gradient held after step t (of ℓ_1 + … + ℓ_t)."""
    W_ih, W_hh, b_ih, b_hh = (w[k] for k in NAMES)
    T, B, I = x.shape
    H = W_hh.shape[0]
    diag = np.arange(H)
    P = {"W_ih": np.zeros((B, H, H, I)), "W_hh": np.zeros((B, H, H, H)),
         "b_ih": np.zeros((B, H, H)), "b_hh": np.zeros((B, H, H))}
    grads = {k: np.zeros(w[k].shape) for k in NAMES}
    h, loss, info = np.zeros((B, H)), 0.0, {}
    for t in range(T):
        h_prev = h
        h = np.tanh(x[t] @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
        tanh_prime = 1.0 - h * h                   # (B, H)
        # b_ih and b_hh enter a_t alike, so their P are equal: both are carried all the same,
        # so that every parameter's gradient comes out of the one rule
        for name in NAMES:
            # W_hh · P_{t−1}: the H·H·n_params product, nearly all of RTRL's arithmetic
            M = np.matmul(W_hh, P[name].reshape(B, H, -1)).reshape(P[name].shape)
            # the direct term is nonzero only where θ's row is a_t's own row (δ_ki): the diagonal
            if name == "W_ih":
                M[:, diag, diag, :] += x[t][:, None, :]
            elif name == "W_hh":
                M[:, diag, diag, :] += h_prev[:, None, :]
            else:
                M[:, diag, diag] += 1.0
            P[name] = tanh_prime.reshape(B, H, *[1] * (M.ndim - 2)) * M
        err = h - y[t]                             # ∂ℓ_t/∂h_t
        loss += 0.5 * float(np.sum(err * err))
        for name in NAMES:  # summed over the batch and over h's rows
            grads[name] += np.tensordot(err, P[name], axes=([0, 1], [0, 1]))
        if online_at == t + 1:
            info["online"] = {k: g.copy() for k, g in grads.items()}
    info["P_numbers"] = sum(p.size for p in P.values())
    return loss, grads, info


def numpy_loss(w, x, y):
    """L alone in numpy, for finite differences that check rtrl() without the engine."""
    h, loss = np.zeros((x.shape[1], w["W_hh"].shape[0])), 0.0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ w["W_ih"].T + w["b_ih"] + h @ w["W_hh"].T + w["b_hh"])
        loss += 0.5 * float(np.sum((h - y[t]) ** 2))
    return loss


def differences(a, b):
    """Per parameter: (max |a − b|, max |a − b| / max |b|)."""
    return {k: (float(np.max(np.abs(a[k] - b[k]))),
                float(np.max(np.abs(a[k] - b[k])) / max(float(np.max(np.abs(b[k]))), 1e-300)))
            for k in NAMES}


# ---------------------------------------------------------------------------- costs
def macs_per_step(H, I):
    """Multiply-adds per step and sequence. RTRL: W_hh · P_{t−1} (H·H·n_params), scaling P by
    tanh' and (h − y)ᵀP (H·n_params each), the forward (H·I + H²). BPTT: the forward (H·I + H²)
    and the backward: da ← W_hh's transpose times the next step's (H²), ∂W_hh and ∂W_ih
    (H² + H·I)."""
    n = n_params(H, I)
    return H * H * n + 2 * H * n + H * I + H * H, 2 * H * I + 3 * H * H


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(H, T, I, repeats, rng):
    """One row of the cost table, one sequence (B = 1, as an online learner sees it)."""
    rnn, x, y = make_problem(T, 1, I, H, rng)
    w = weights(rnn)
    held = graph_bytes(rnn, x, y)
    _, _, info = rtrl(w, x, y)
    rtrl_macs, bptt_macs = macs_per_step(H, I)
    return {"H": H, "T": T, "n_params": n_params(H, I),
            "rtrl_P_numbers": info["P_numbers"], "rtrl_bytes": info["P_numbers"] * 8,
            "bptt_states": T * H, "bptt_graph_bytes": held,
            "rtrl_macs": rtrl_macs, "bptt_macs": bptt_macs,
            "rtrl_s": best_time(lambda: rtrl(w, x, y), repeats),
            "bptt_s": best_time(lambda: bptt(rnn, x, y), repeats)}


def kb(n):
    return f"{n / 1024:,.1f}"


def short(n):
    """A count in at most 5 characters: 892, 8.4k, 283k, 18.7M."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}" if n < 100 * div else f"{n / div:.0f}{unit}"
    return str(n)


def cost_table(rows, I):
    table = Table(title=f"cost, one sequence (B = 1), I = {I}, float64, best of the repeats: "
                        "P = RTRL's sensitivities (H·n_params numbers), h_t = the states "
                        "BPTT keeps (T·H), graph = all that its recorded graph holds for the "
                        "backward, arrays and node objects (tracemalloc), MAC = multiply-adds",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, show_edge=False)
    for col in ("H", "T", "params", "RTRL\nP", "RTRL\nP KB", "BPTT\nh_t", "BPTT\ngraph KB",
                "RTRL\nMAC/step", "BPTT\nMAC/step", "RTRL\nms", "BPTT\nms"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["H"]), str(r["T"]), short(r["n_params"]), short(r["rtrl_P_numbers"]),
                      kb(r["rtrl_bytes"]), short(r["bptt_states"]), kb(r["bptt_graph_bytes"]),
                      short(r["rtrl_macs"]), short(r["bptt_macs"]),
                      f"{r['rtrl_s'] * 1e3:.1f}", f"{r['bptt_s'] * 1e3:.1f}")
    return table


def cost_lines(rows):
    """What the measured rows say, each claim a comparison of them."""
    Hs, Ts = sorted({r["H"] for r in rows}), sorted({r["T"] for r in rows})
    at = {(r["H"], r["T"]): r for r in rows}
    lines = []
    if len(Ts) > 1:
        lo, hi = Ts[0], Ts[-1]
        same = all(at[H, lo]["rtrl_P_numbers"] == at[H, hi]["rtrl_P_numbers"] for H in Hs)
        grew = [at[H, hi]["bptt_graph_bytes"] / at[H, lo]["bptt_graph_bytes"] for H in Hs]
        lines.append(f"Memory: from T = {lo} to T = {hi} (×{hi / lo:g}) RTRL's P "
                     + ("stays the same size" if same else "does NOT stay the same size")
                     + f" at every H; BPTT's graph grows ×{min(grew):.2f} to ×{max(grew):.2f}.")
    if len(Hs) > 1:
        lo, hi, T = Hs[0], Hs[-1], Ts[-1]
        a, b = at[lo, T], at[hi, T]
        lines.append(f"Time: from H = {lo} to H = {hi} (×{hi / lo:g}) at T = {T}, RTRL's time "
                     f"grows ×{b['rtrl_s'] / a['rtrl_s']:.1f} and BPTT's "
                     f"×{b['bptt_s'] / a['bptt_s']:.1f} (multiply-adds: "
                     f"×{b['rtrl_macs'] / a['rtrl_macs']:.0f} and "
                     f"×{b['bptt_macs'] / a['bptt_macs']:.0f}"
                     + ("; the times grow far less than the arithmetic, since at the small "
                        "sizes much of each is Python's per-step overhead"
                        if b["bptt_s"] / a["bptt_s"] < 0.1 * b["bptt_macs"] / a["bptt_macs"] and
                        b["rtrl_s"] / a["rtrl_s"] < 0.1 * b["rtrl_macs"] / a["rtrl_macs"] else "")
                     + ").")
        if len(Hs) > 2:  # the top of the range, where RTRL's arithmetic has taken over
            c = at[Hs[-2], T]
            lines.append(f"From H = {Hs[-2]} to H = {hi}, RTRL's time grows "
                         f"×{b['rtrl_s'] / c['rtrl_s']:.1f} for ×"
                         f"{b['rtrl_macs'] / c['rtrl_macs']:.1f} the multiply-adds.")
        # memory against what BPTT itself must keep (the h_t), and against the engine's graph,
        # which holds node objects beside each number (~12× the bytes of its h_t here)
        lines.append(f"At H = {hi}, T = {T} RTRL takes {b['rtrl_s'] / b['bptt_s']:.1f}× BPTT's "
                     f"time; its P is {b['rtrl_bytes'] / (b['bptt_states'] * 8):.0f}× the h_t a "
                     f"BPTT keeps (T·H numbers) and "
                     f"{b['rtrl_bytes'] / b['bptt_graph_bytes']:.1f}× this engine's whole "
                     f"recorded graph; P's size does not grow with T, so BPTT's h_t catch up "
                     f"at T = n_params = {b['n_params']:,}.")
    return lines


WHY = ("Why RTRL still matters: its gradient is ready at every step without storing the past, "
       "so a learner can update online on an endless stream, where BPTT must wait for the end "
       "of a sequence and keep all of it. Its H⁴ cost is why it is rarely used beyond small "
       "networks; the usual compromise is truncated BPTT (backward over the last k steps "
       "only, carrying the state), which gets no gradient across more than k steps, so a "
       "dependency that always spans more is not learned: demos/long_memory.py shows that.")


# ---------------------------------------------------------------------------- main
def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/rtrl.svg", steps_default=5,
                         steps_help="timing repeats per row of the cost table (the best counts)",
                         graph_help="the BPTT side's graph (the agreement run's loss)",
                         step_help="the BPTT side's backward pass")
    parser.add_argument("--T", type=int, default=12, help="sequence length of the agreement run")
    parser.add_argument("--hidden", type=int, default=6, help="hidden units H of the agreement run")
    parser.add_argument("--input", type=int, default=3, help="input features I")
    parser.add_argument("--batch", type=int, default=4, help="batch size B of the agreement run")
    parser.add_argument("--sizes", default="8,16,32,64", help="H values of the cost table")
    parser.add_argument("--lengths", default="25,100", help="T values of the cost table")
    args = parser.parse_args(argv)
    for flag in ("T", "hidden", "input", "batch"):
        positive("--" + flag, getattr(args, flag))
    sizes, lengths = int_list("--sizes", args.sizes), int_list("--lengths", args.lengths)
    console = Console()
    rng = np.random.default_rng(args.seed)

    # agreement: the same weights, input and targets through both
    T, B, I, H = args.T, args.batch, args.input, args.hidden
    rnn, x, y = make_problem(T, B, I, H, rng)
    half = max(T // 2, 1)
    loss_b, g_bptt = bptt(rnn, x, y)
    loss_r, g_rtrl, info = rtrl(weights(rnn), x, y, online_at=half)
    diffs = differences(g_rtrl, g_bptt)
    _, g_half = bptt(rnn, x[:half], y[:half])
    online = differences(info["online"], g_half)

    table = Table(title="∂L/∂θ by BPTT (the engine) and by RTRL (numpy)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, show_edge=False)
    for col in ("θ", "shape", "max |∂L/∂θ|", "max abs diff", "max rel diff",
                f"online, t = {half}"):
        table.add_column(col, justify="right")
    for k in NAMES:
        table.add_row(k, "×".join(map(str, g_bptt[k].shape)), f"{np.max(np.abs(g_bptt[k])):.3e}",
                      f"{diffs[k][0]:.1e}", f"{diffs[k][1]:.1e}", f"{online[k][1]:.1e}")
    console.print(f"T = {T}, B = {B}, I = {I}, H = {H}, float64: L = {loss_b:.12g} by the "
                  f"engine, {loss_r:.12g} by RTRL's forward.")
    console.print(table)
    worst = max(d[1] for d in diffs.values())
    worst_online = max(d[1] for d in online.values())
    agree = worst < 1e-10 and worst_online < 1e-10
    console.print(f"Largest relative difference {worst:.1e} over all of θ: "
                  + ("they agree to float64 rounding." if agree else "THEY DISAGREE.")
                  + f" After step {half} RTRL already holds the gradient of "
                  + ("ℓ_1" if half == 1 else f"ℓ_1 + … + ℓ_{half}")
                  + f" (the last column): {worst_online:.1e} from BPTT run on the first "
                    f"{half} step(s) alone. (An online learner would also change θ between "
                    "steps; here it is fixed.)" + (" With T = 1, h_0 = 0 and ∂L/∂W_hh = 0."
                                                   if T == 1 else "") + "\n")

    # costs
    rows = [measure(h, t, I, args.steps, rng) for h in sizes for t in lengths]
    console.print(cost_table(rows, I))
    console.print()
    for line in cost_lines(rows):
        console.print(line)
    console.print()
    console.print(WHY)

    named = dict(rnn.named_parameters())
    graph_and_steps(args, lambda: bptt_loss(rnn, x, y), named,
                    title=f"rtrl · the BPTT side, T = {T}, L = Σ_t ½‖h_t − y_t‖²")
    return {"loss_bptt": loss_b, "loss_rtrl": loss_r, "diffs": diffs, "max_rel_diff": worst,
            "online_at": half, "online_diffs": online, "agree": agree, "costs": rows}


if __name__ == "__main__":
    run_demo(main)
