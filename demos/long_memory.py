"""Demonstrates learning a long-term dependency: the adding problem, where an LSTM and a GRU
learn to carry two numbers across a sequence and a tanh RNN does not; and the limit of truncated
backpropagation through time.

The task (`data.adding_problem`, Le et al. 2015 form): at each of T steps the input is a value
in [0, 1) and a marker; two values are marked, one in each half of the sequence, and the target
is their sum. Always answering 1 scores MSE = Var(y) = 2/12 = 1/6 ≈ 0.167, the baseline; a model
that remembers only the second marked number scores Var(first) = 1/12 ≈ 0.083. Inputs are
centred (value − ½) and the target predicted as 1 + head(h_T) (LeCun: zero-mean inputs).

Truncated BPTT: run the sequence through the layer in windows of k steps, carrying
the state forward but detaching it at every window boundary, aligned so the last window ends
at the loss. The gradient then reaches back only k steps. Two cases:

  * the plain task with k = T/5: the second number often falls inside the window, so the LSTM
    learns "on a marker, write the value into the cell and hold it" there; the same weights
    then carry the first number too (they are shared over time), and it learns anyway;
  * the answer asked D = k steps after the sequence ends (`LSTM +D quiet`, input 0): now no
    marked number is ever within k steps of the loss. Full BPTT learns it; truncated BPTT gets
    no gradient from any marked input and stays at the baseline. That is the warning: a
    relation farther apart than the truncation is not learned, unless shorter instances of
    the same relation teach it.

    python demos/long_memory.py                 # T=50: LSTM, GRU, RNN, and the TBPTT runs
    python demos/long_memory.py --T 100
    python demos/long_memory.py --models lstm --truncation off --T 10 --steps 150   # quick

By sequence length (`--sweep`): each model of --models trained at each T with full BPTT, and
the lengths it learns. The tanh RNN learns the task at T = 5, at T = 10 with some seeds (0:
yes; 1, 2: partly; 3: no), and at T = 20 and beyond with none of them: its gradient back to the
first number is a product of one Jacobian per step (demos/vanishing.py). The LSTM and the GRU
carry it along their additive paths at every T swept, up to 100.

    python demos/long_memory.py --sweep 5,10,20,50,100          # ~2 minutes

Where dropout may go (`--dropout-on`): the LSTM at --T (full BPTT) trained with dropout p
(--dropout, default 0.25) in one place per run, and tested without it (model.eval()):

    none     no dropout
    output   on h_T as it enters the head: a non-recurrent connection, Zaremba et al. 2014's
             place; each value meets one mask, however far it was carried
    h        on h_{t−1} as it enters the gates, a fresh mask each step: a recurrent connection,
             but not the memory: c goes past it
    c        on c_{t−1}, a fresh mask each step: the cell path itself, the memory
    gru:none, gru:h   a GRU without dropout, and with it on h_{t−1}, which for a GRU is the
             memory path (h = (1 − z) * n + z * h_prev)

Zaremba et al. keep dropout off the recurrent connections so that what is carried is kept
whole; for an LSTM the memory is c (Semeniuta et al. 2016 find that per-step masks on c lose
it, and drop what is written into c instead). A number held in c through k masks survives all
of them with probability (1 − p)^k, and the first marked number is carried about T/2 to T
steps.
These runs replace the ones at --T, as --sweep's do (--models, --truncation, --window and
--delay do not apply; --sweep with them is refused).

    python demos/long_memory.py --dropout-on none,output,h,c    # ~1 minute
    python demos/long_memory.py --dropout-on none,c,gru:none,gru:h --dropout 0.1
"""

import time

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, manual_seed, nn, no_grad, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import (demo_parser, finite, graph_and_steps, int_list, positive,
                               progress, run_demo)
from tinygrad_lstm.data import adding_problem

LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN (tanh)"}
SPARK = "▁▂▃▄▅▆▇█"


# ---------------------------------------------------------------------------- data
def batch(T, delay, size, rng):
    """Centred adding-problem inputs (T + delay, B, 2) and targets (B, 1); the `delay` quiet
    steps after the sequence have input 0 (value ½ before centring, no marker)."""
    x, y = adding_problem(T, size, rng)
    x = x - np.array([0.5, 0.0], dtype=np.float32)
    if delay:
        x = np.concatenate([x, np.zeros((delay, size, 2), np.float32)])
    return x, y


# ---------------------------------------------------------------------------- dropout cells
class WithP:
    """Takes p, the drop probability the cell's step uses (the layer hands it on)."""

    def __init__(self, *args, p=0.0, **kw):
        super().__init__(*args, **kw)
        self.p = p


class HDropLSTMCell(WithP, nn.LSTMCell):
    r"""An LSTM cell with dropout on h_prev where it enters the gates (a fresh mask each step);
    c_prev is untouched. LSTMCell's step, given the masked h_prev:

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·)   of   x W_ihᵀ + b + dropout(h_prev) W_hhᵀ
        c = f * c_prev + i * g
        h = o * tanh(c)
    """

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        return super().step(xw, (F.dropout(h_prev, self.p, self.training), c_prev), w_hh)


class CDropLSTMCell(WithP, nn.LSTMCell):
    r"""An LSTM cell with dropout on c_prev, the cell path itself (a fresh mask each step).
    LSTMCell's step, given the masked c_prev:

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·)   of   x W_ihᵀ + b + h_prev W_hhᵀ
        c = f * dropout(c_prev) + i * g
        h = o * tanh(c)
    """

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        return super().step(xw, (h_prev, F.dropout(c_prev, self.p, self.training)), w_hh)


class HDropGRUCell(WithP, nn.GRUCell):
    r"""A GRU cell (torch's form) with dropout on h_prev, its memory path (a fresh mask each
    step), wherever h_prev enters: GRUCell's step, given the masked h_prev,

        h_kept = dropout(h_prev)
        r = σ(x W_irᵀ + b_ir + h_kept W_hrᵀ + b_hr)
        z = σ(x W_izᵀ + b_iz + h_kept W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r * (h_kept W_hnᵀ + b_hn))
        h = (1 − z) * n + z * h_kept
    """

    def step(self, xw, state, w_hh):
        (h_prev,) = state
        return super().step(xw, (F.dropout(h_prev, self.p, self.training),), w_hh)


DROP_CELLS = {("lstm", "h"): HDropLSTMCell, ("lstm", "c"): CDropLSTMCell,
              ("gru", "h"): HDropGRUCell}
# --dropout-on's names: (model, where the mask goes, what the table says)
PLACEMENTS = {"none": ("lstm", None, "—"),
              "output": ("lstm", "output", "h_T → head"),
              "h": ("lstm", "h", "h_{t−1} → gates"),
              "c": ("lstm", "c", "c_{t−1}"),
              "gru:none": ("gru", None, "— (GRU)"),
              "gru:h": ("gru", "h", "GRU h_{t−1}")}


# ---------------------------------------------------------------------------- model
class Adder(nn.Module):
    """A recurrent layer and a linear head on the last h: x (T, B, 2) -> 1 + head(h_T) (B, 1);
    in training, dropout p at `where` ("output", or "h" / "c" inside the cell's step)."""

    def __init__(self, kind, hidden, forget_bias, rng, where=None, p=0.0):
        kw = {"forget_bias": forget_bias} if kind == "lstm" else {}
        if (kind, where) in DROP_CELLS:
            kw.update(cell=DROP_CELLS[kind, where], p=p)
        self.rnn = LAYERS[kind](2, hidden, rng=rng, **kw)
        self.head = nn.Linear(hidden, 1, rng=rng)
        self.p_head = p if where == "output" else 0.0

    def forward(self, x, window=None):
        """Full BPTT, or truncated: windows of `window` steps (the last one ending at the
        loss), the state carried forward but detached at every boundary."""
        T = x.shape[0]
        if window is None or window >= T:
            out, _ = self.rnn(x)
        else:
            ends = list(range(T, 0, -window))[::-1]          # e.g. T=50, k=10: 10, 20, ..., 50
            starts = [0] + ends[:-1]
            state = None
            for a, b in zip(starts, ends):
                if state is not None:                         # cut the graph here
                    state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                        else state.detach()
                out, state = self.rnn(x[a:b], state)
        return self.head(F.dropout(out[-1], self.p_head, self.training)) + 1.0  # (B, 1)


# ---------------------------------------------------------------------------- runs
def experiments(args):
    """(label, kind, delay, truncation window or None) for every run."""
    runs = [(NAMES[k], k, 0, None) for k in args.models]
    if args.truncation == "on" and "lstm" in args.models:
        k, D = args.window, args.delay
        runs += [(f"LSTM TBPTT k={k}", "lstm", 0, k),
                 (f"LSTM +{D} quiet", "lstm", D, None),
                 (f"LSTM +{D} quiet TBPTT k={k}", "lstm", D, k)]
    return runs


def train(model, T, delay, window, args, rng, update):
    model.train()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    for _ in range(args.steps):
        x, y = batch(T, delay, args.batch, rng)
        loss = F.mse_loss(model(Tensor(x), window), Tensor(y))
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        update(loss=losses[-1])
    return losses


def run(label, kind, T, delay, window, args, test, baseline, where=None):
    """Train one model (same seed for every run, fresh batches; with dropout p = args.dropout
    at `where`, if given) and test it: the row the tables print."""
    manual_seed(args.seed)  # the dropout masks draw from its generator
    model = Adder(kind, args.hidden, args.forget_bias, np.random.default_rng(args.seed), where,
                  args.dropout if where else 0.0)
    rng = np.random.default_rng(args.seed + 1)
    start = time.perf_counter()
    with progress(args.steps, label) as update:
        losses = train(model, T, delay, window, args, rng, update)
    mse = evaluate(model, test)
    return {"label": label, "kind": kind, "T": T, "delay": delay, "window": window,
            "where": where, "reach": f"{window} steps" if window else f"all {T + delay}",
            "mse": mse, "ratio": mse / baseline, "verdict": verdict(mse, baseline),
            "losses": losses, "seconds": time.perf_counter() - start}


def held_out(T, delay, args):
    """The fixed test set at T and its baseline, the MSE of always answering 1."""
    test = batch(T, delay, args.test, np.random.default_rng(10_000 + args.seed))
    return test, float(np.mean((test[1] - 1.0) ** 2))


def evaluate(model, test):
    model.eval()  # no dropout
    with no_grad():
        return float(F.mse_loss(model(Tensor(test[0])), Tensor(test[1])).item())


# ---------------------------------------------------------------------------- results
def curve(losses, top, width=40):
    """Training loss as `width` columns (mean of each stretch), linear from 0 (▁) to `top` (█)."""
    chunks = np.array_split(np.asarray(losses), min(width, len(losses)))
    out = []
    for c in chunks:
        k = min(c.mean() / top, 1.0) * (len(SPARK) - 1)
        out.append(SPARK[int(round(k))])
    return "".join(out)


def results_table(rows, baseline, args):
    table = Table(title=f"adding problem, T={args.T}: test MSE on {args.test} fresh sequences "
                        f"(baseline 'always 1' = {baseline:.4f})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col, just in (("model", "left"), ("BPTT span", "right"), ("test MSE", "right"),
                      ("/ baseline", "right"), ("learned?", "left"), ("time", "right")):
        table.add_column(col, justify=just)
    for r in rows:
        table.add_row(r["label"], r["reach"], f"{r['mse']:.4f}", f"{r['mse'] / baseline:.3f}",
                      r["verdict"], f"{r['seconds']:.0f}s")
    return table


def curves_table(rows, baseline, steps):
    table = Table(title=f"training loss over {steps} steps (linear, ▁ = 0, █ = baseline "
                        f"{baseline:.3f} or above)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("model")
    table.add_column("loss", no_wrap=True)
    for r in rows:
        table.add_row(r["label"], curve(r["losses"], baseline))
    return table


def verdict(mse, baseline):
    if mse < 0.1 * baseline:
        return "yes"
    if mse < 0.7 * baseline:
        return "partly"
    return "no"


def at_one_length(args, console):
    """The main runs at --T: every model of --models, and the truncated-BPTT LSTMs."""
    # data: one fixed test set per delay (the same sums); the baseline measured on it
    runs = experiments(args)
    tests = {D: held_out(args.T, D, args) for D in sorted({delay for _, _, delay, _ in runs})}
    baseline = tests[0][1]
    second_only = 1.0 / 12.0
    console.print(f"adding problem, T={args.T}: baseline 'always predict 1' MSE = {baseline:.4f} "
                  f"on the test set (theory 1/6 = {1 / 6:.4f}); remembering only the second "
                  f"number: 1/12 = {second_only:.4f}. H={args.hidden}, B={args.batch}, "
                  f"{args.steps} Adam steps, lr {args.lr}, LSTM forget bias {args.forget_bias}.")

    rows = [run(label, kind, args.T, D, window, args, tests[D][0], baseline)
            for label, kind, D, window in runs]

    # results
    console.print(results_table(rows, baseline, args))
    console.print()
    console.print(curves_table(rows, baseline, args.steps))
    console.print("learned?: yes below 0.1 × baseline, partly below 0.7 ×, else no.")
    full = {r["delay"]: r for r in rows if r["kind"] == "lstm" and not r["window"]}
    for r in rows:
        if not r["window"]:
            continue
        k, ref = r["window"], full.get(r["delay"])
        if r["delay"] == 0 and r["verdict"] == "yes":
            console.print(f"{r['label']}: learned it anyway (MSE {r['mse']:.4f}). The second "
                          f"number often lies within {k} steps of the loss; the gates learned "
                          "there (write on a marker, then hold) carry the first one too.")
        elif r["delay"] == 0:
            console.print(f"{r['label']}: MSE {r['mse']:.4f} ({r['verdict']}), against "
                          f"{ref['mse']:.4f} with full BPTT.")
        else:
            as_expected = r["verdict"] == "no" and ref["verdict"] == "yes"
            console.print(f"{r['label']}: MSE {r['mse']:.4f} ({r['verdict']}), against "
                          f"{ref['mse']:.4f} ({ref['verdict']}) with full BPTT on the same task. "
                          + (f"No marked number is ever within {k} steps of the loss, so no "
                             "gradient connects the answer to them: truncated BPTT gets no "
                             f"signal across more than {k} steps, and a relation that always "
                             "spans more is not learned (the plain task above was, through the "
                             "spans inside the window)." if as_expected else
                             "Expected full BPTT to learn and truncated BPTT not to; this run "
                             "does not show that (more --steps?)."))
    return {"baseline": baseline, "rows": rows}


# ---------------------------------------------------------------------------- by length
def by_length(args, console):
    """--sweep: every model of --models at every T, full BPTT; {T: {kind: row}}."""
    console.print(f"adding problem at T = {', '.join(map(str, args.sweep))}, full BPTT: "
                  f"H={args.hidden}, B={args.batch}, {args.steps} Adam steps at each T, lr "
                  f"{args.lr}, LSTM forget bias {args.forget_bias}.")
    grid = {}
    for T in args.sweep:
        test, baseline = held_out(T, 0, args)
        grid[T] = {k: run(f"{NAMES[k]} T={T}", k, T, 0, None, args, test, baseline)
                   for k in args.models}
    table = Table(title=f"test MSE / baseline ('always 1', ≈ 1/6 at every T) on {args.test} "
                        "fresh sequences, and learned?", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("T", justify="right")
    for k in args.models:
        table.add_column(NAMES[k], justify="right")
    for T, row in grid.items():
        table.add_row(str(T), *(f"{row[k]['ratio']:.3f} {row[k]['verdict']}"
                                for k in args.models))
    console.print(table)
    console.print("learned?: yes below 0.1 × baseline, partly below 0.7 ×, else no.")
    for k in args.models:
        console.print(reach(NAMES[k], {T: grid[T][k]["verdict"] for T in grid}))
    said = lesson(grid)
    if said:
        console.print(said)
    return {"sweep": grid, "lesson": said}


def reach(name, verdicts):
    """What one model's verdicts {T: "yes" | "partly" | "no"} say, as a sentence."""
    Ts = sorted(verdicts)
    yes = [T for T in Ts if verdicts[T] == "yes"]
    if len(yes) == len(Ts):
        return f"{name}: learned it at every T here, up to {Ts[-1]}."
    if not yes:
        return f"{name}: learned it at no T here, T={Ts[0]} included."
    rest = [T for T in Ts if T not in yes]
    misses = ", ".join(f"{T} ({verdicts[T]})" for T in rest)
    if yes == Ts[:len(yes)]:  # learned up to a length, not beyond
        return f"{name}: learned it up to T={yes[-1]}; not at T = {misses}."
    return f"{name}: learned it at T = {', '.join(map(str, yes))}; not at T = {misses}."


def lesson(grid):
    """The shortest T at which the tanh RNN does not learn what every gated model swept does,
    said as what it shows; None when the sweep has no tanh RNN or no gated model; a caveat
    when it shows no such T."""
    kinds = next(iter(grid.values())).keys()
    gated = [k for k in kinds if k != "rnn"]
    if "rnn" not in kinds or not gated:
        return None
    apart = [T for T in grid if grid[T]["rnn"]["verdict"] != "yes"
             and all(grid[T][k]["verdict"] == "yes" for k in gated)]
    if not apart:
        return ("Expected the tanh RNN to stop learning at some T where the gated cells still "
                "learn; this sweep does not show that (longer T in --sweep, or more --steps?).")
    T = min(apart)
    return (f"From T={T} (here) the tanh RNN does not learn what the gated cells do. Its "
            "gradient back to the first marked number (in the first half) is a product of one "
            "Jacobian per step between, each scaling it by W_hh and tanh's slope, so it fades "
            "geometrically with the distance (demos/vanishing.py); an LSTM's c and a GRU's h "
            "carry it along an additive path, scaled only by their forget (keep) gates.")


# ---------------------------------------------------------------------------- by dropout placement
def by_placement(args, console):
    """--dropout-on: the model at --T with dropout at each placement, full BPTT;
    {"rows": {placement: row}, "lessons": [sentence, ...]}."""
    test, baseline = held_out(args.T, 0, args)
    console.print(f"adding problem, T={args.T}, full BPTT, dropout p = {args.dropout} in "
                  f"training (none in testing): H={args.hidden}, B={args.batch}, {args.steps} "
                  f"Adam steps, lr {args.lr}, LSTM forget bias {args.forget_bias}.")
    rows = {}
    for name in args.dropout_on:
        kind, where, _ = PLACEMENTS[name]
        rows[name] = run(name, kind, args.T, 0, None, args, test, baseline, where)
    console.print(placement_table(rows, baseline, args))
    console.print("learned?: yes below 0.1 × baseline, partly below 0.7 ×, else no. Loss: "
                  f"linear, ▁ = 0, █ = baseline {baseline:.3f} or above.")
    said = dropout_lessons({n: r["ratio"] for n, r in rows.items()}, args.dropout, args.T)
    for line in said:
        console.print(line)
    return {"baseline": baseline, "rows": rows, "lessons": said}


def placement_table(rows, baseline, args):
    table = Table(title=f"adding problem, T={args.T}: test MSE on {args.test} fresh sequences "
                        f"(baseline 'always 1' = {baseline:.4f}), dropout p = {args.dropout} "
                        "in training", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col, just in (("placement", "left"), ("dropout on", "left"), ("test MSE", "right"),
                      ("/ baseline", "right"), ("learned?", "left"), ("training loss", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    for name, r in rows.items():  # 80 columns: a shorter curve, and no time (the bar showed it)
        table.add_row(name, PLACEMENTS[name][2], f"{r['mse']:.4f}", f"{r['ratio']:.3f}",
                      r["verdict"], curve(r["losses"], baseline, width=14))
    return table


def survival(p, T):
    """The chance a value held in c survives a fresh mask at each of the steps it is carried:
    {steps: (1 − p)^steps} for the first marked number's shortest and longest carry, T/2 and
    T steps (its position is in the first half)."""
    return {k: (1.0 - p) ** k for k in (T // 2, T)}


# what each placement is expected to do to a model that learns the task without dropout: hurt
# it (a mask on the memory path) or not, and why
EXPECTED = {
    "output": (False, "on h_T as it enters the head", "a non-recurrent connection, Zaremba et "
               "al. 2014's place: each value meets one mask, however far it was carried"),
    "h": (False, "on h_{t−1} as it enters the gates", "a recurrent connection, but not the "
          "LSTM's memory: c goes past these masks, which blur only what the gates read"),
    "c": (True, "on c_{t−1}", "the memory path itself: a number held in c meets a fresh mask "
          "at every step it is carried"),
    "gru:h": (True, "on a GRU's h_{t−1}", "its memory path, h = (1 − z) * n + z * h_prev: "
              "what c is to the LSTM"),
}


def dropout_lessons(ratios, p, T):
    """What the test MSEs over the baseline {placement: ratio} say, as sentences: each placement
    against its model without dropout ("none", "gru:none"), each conclusion only where the
    numbers show it."""
    said = []
    if any(n in ratios for n in ("c", "gru:h")):
        carry = survival(p, T)
        held = " or ".join(w for n, w in (("c", "c"), ("gru:h", "a GRU's h")) if n in ratios)
        said.append(f"The first marked number is carried {T // 2} to {T} steps; held in "
                    f"{held} through a fresh mask at each, p = {p}, it survives all of them "
                    "with probability "
                    + " to ".join(f"(1 − p)^{k} = {v:.1e}" for k, v in carry.items())
                    + " (inverted dropout keeps each unit's mean, not the value held).")
    hurt = {}
    for name, (expect_hurt, where, why) in EXPECTED.items():
        ref = "gru:none" if name.startswith("gru:") else "none"
        if name not in ratios or ref not in ratios:
            continue
        r, r0 = ratios[name], ratios[ref]
        if verdict(r0, 1.0) != "yes":
            said.append(f"{name}: without dropout ({ref}) the model did not learn the task here "
                        f"either ({r0:.3f} of the baseline), so this run says nothing of where "
                        "dropout may go (more --steps?).")
            continue
        hurt[name] = verdict(r, 1.0) != "yes"
        numbers = f"{r:.3f} of the baseline ({verdict(r, 1.0)}) against {r0:.3f} without"
        if hurt[name] != expect_hurt:
            said.append(f"Dropout {where}: {numbers}. Expected it to "
                        f"{'hurt' if expect_hurt else 'learn all the same'} ({why}); this run "
                        "does not show that (more --steps, another --dropout?).")
        else:
            said.append(f"Dropout {where} ({why}) {'hurts' if expect_hurt else 'still learns'}: "
                        f"{numbers}.")
    if hurt.get("c") and hurt.get("h") is False:
        said.append("So for an LSTM what matters is not whether a connection is recurrent but "
                    "whether the mask lands on c, the path the memory is carried along: "
                    "Zaremba et al. keep the recurrent path's information whole; Semeniuta et "
                    "al. 2016, for the same reason, keep per-step masks off c.")
    return said


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/long_memory.svg", steps_default=1000,
                         graph_help="a small model's training step (H=4, T=6, untrained: small enough to read)")
    parser.add_argument("--T", type=int, default=50, help="sequence length (50, 100, ...)")
    parser.add_argument("--models", default="lstm,gru,rnn", help="comma-separated: lstm,gru,rnn")
    parser.add_argument("--truncation", choices=["on", "off"], default="on",
                        help="also run the truncated-BPTT LSTMs")
    parser.add_argument("--window", type=int, default=None,
                        help="truncation window k (default T/5)")
    parser.add_argument("--delay", type=int, default=None,
                        help="quiet steps after the sequence in the delayed runs (default k)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--forget-bias", type=float, default=3.0, help="LSTM forget-gate bias")
    parser.add_argument("--test", type=int, default=1000, help="test sequences")
    parser.add_argument("--sweep", default=None, metavar="T,T,...",
                        help="instead of the runs at --T: each model of --models trained at "
                             "each of these lengths, full BPTT (e.g. 5,10,20,50,100)")
    parser.add_argument("--dropout-on", default=None, metavar="WHERE,...",
                        help="instead of the runs at --T: the LSTM (gru:..., the GRU) trained "
                             f"with dropout at each of these placements ({', '.join(PLACEMENTS)})")
    parser.add_argument("--dropout", type=float, default=None,
                        help="the drop probability p of the --dropout-on runs, in [0, 1) "
                             "(default 0.25)")
    args = parser.parse_args(argv)
    args.window = max(1, args.T // 5) if args.window is None else args.window
    args.delay = args.window if args.delay is None else args.delay
    for flag in ("steps", "T", "window", "hidden", "batch", "test", "lr"):
        positive("--" + flag, getattr(args, flag))
    if args.delay < 0:
        raise SystemExit(f"error: --delay must be 0 or more, got {args.delay}")
    finite("--forget-bias", args.forget_bias)
    if args.T < 2:
        raise SystemExit(f"error: --T must be at least 2, got {args.T}")
    if args.dropout_on is not None and args.sweep is not None:
        raise SystemExit("error: --dropout-on and --sweep each replace the runs at --T; give one "
                         "of them")
    if args.sweep is not None:  # a list of lengths, each at least 2, in order, once each
        args.sweep = sorted(set(int_list("--sweep", args.sweep)))
        if args.sweep[0] < 2:
            raise SystemExit(f"error: --sweep: each T must be at least 2, got {args.sweep[0]}")
    elif args.dropout_on is None and args.truncation == "on" and args.window >= args.T:
        # full BPTT, labelled truncated
        raise SystemExit(f"error: --window {args.window} must be shorter than --T {args.T} "
                         "(a window of the whole sequence is full BPTT, which runs anyway)")
    args.models = list(dict.fromkeys(m.strip() for m in args.models.split(",") if m.strip()))
    if not args.models or any(m not in LAYERS for m in args.models):
        raise SystemExit(f"error: --models: choose from lstm, gru, rnn; got {args.models}")
    if args.dropout_on is not None:
        args.dropout_on = list(dict.fromkeys(w.strip() for w in args.dropout_on.split(",")
                                             if w.strip()))
        unknown = [w for w in args.dropout_on if w not in PLACEMENTS]
        if not args.dropout_on or unknown:
            raise SystemExit(f"error: --dropout-on: choose from {', '.join(PLACEMENTS)}; got "
                             f"{', '.join(unknown) or 'nothing'}")
        args.dropout = 0.25 if args.dropout is None else args.dropout
        if not 0.0 <= args.dropout < 1.0:  # NaN too; p = 1 keeps nothing
            raise SystemExit(f"error: --dropout must be in [0, 1), got {args.dropout}")
    elif args.dropout is not None:
        raise SystemExit("error: --dropout is the p of the --dropout-on runs; give --dropout-on "
                         "too (e.g. --dropout-on none,output,h,c)")
    console = Console()

    if args.sweep:
        result = by_length(args, console)
    elif args.dropout_on:
        result = by_placement(args, console)
    else:
        result = at_one_length(args, console)

    # one more training step's graph (T=6), to draw or to step through (each runs its backward)
    if args.graph or args.step:
        kind = args.models[0]
        model = Adder(kind, 4, args.forget_bias, np.random.default_rng(args.seed))
        x, y = batch(6, 0, 1, np.random.default_rng(args.seed))

        def one_loss():
            return F.mse_loss(model(Tensor(x)), Tensor(y))
        graph_and_steps(args, one_loss, model, title=f"adding problem · {NAMES[kind]}, T=6")
    return result


if __name__ == "__main__":
    run_demo(main)
