"""Demonstrates why the LSTM has gates: the 1997 cell trained with its gates taken out, on one
task for each of the two conflicts its paper names.

Hochreiter & Schmidhuber (1997) start from a bare constant error carousel, a unit whose state
only adds (c = c_prev + g), and name two reasons it cannot learn long-term dependencies alone:

  * the input weight conflict: the same incoming weights must write the inputs that matter
    into c and keep every other input out;
  * the output weight conflict: the same outgoing weights must let c out when it is wanted and
    keep it from disturbing what reads h when it is not.

The input and output gates settle them: sigmoids that multiply what is written and what is
shown, so that a marker or a query can open the cell. Four cells, each a carousel with
the 1997 cell's squashings (a missing gate is 1):

    none     no gates (bare carousel)   c = c_prev + g       h = tanh(c/2)
    input    input gate only            c = c_prev + i * g   h = tanh(c/2)
    output   output gate only           c = c_prev + g       h = o * tanh(c/2)
    both     both gates (LSTM 1997)     c = c_prev + i * g   h = o * tanh(c/2)  (nn.LSTM1997Cell)

with g = squash(x W_gᵀ + h_prev U_gᵀ + b_g), squash(z) = 2 tanh(z/2), and i, o sigmoids of the
same kind of sum. Three tasks, each read from h at the last step by a linear head:

  * adding (the input weight conflict; `data.adding_problem`): a value and a marker at each of
    --T steps; the answer is the sum of the two marked values. Every value arrives on the
    same channel, so without an input gate every one of them is added into c.
  * recall-one (the output weight conflict): --slots values arrive one at a time, each with
    a store marker of its own, in the first --store steps of --recall-T, on one channel that
    carries noise at every other step; at the last step a query flag names one slot, and the
    answer is its value. A cell must hold all of them and let out only the one asked for.
  * recall-all (the control for recall-one): the same inputs with no query, and one answer
    per slot: all the values at once, so no gate is needed to choose what to show. A cell that
    learns this but not recall-one stores the values and has not learned to show only the
    one asked for.

Each cell is trained from --seeds seeds on each task (Adam, clipped gradients, the same
settings for all) and scored on a fixed test set, against the best answer without memory
(always 1 for adding, always 0 for recall: the baseline). "learned" means a test MSE below 0.1
of the baseline. Then the trained 1997 cell's gates are read on the test sets: on the adding
problem, the unit whose input gate tells the marked steps from the others most; on
recall-one, the output gates at the query step, by the slot asked for.

    python demos/gates.py                       # 3 tasks x 4 cells x 2 seeds, ~2 min
    python demos/gates.py --seeds 4             # the README's figures
    python demos/gates.py --tasks adding --cells none,both --T 10 --steps 250   # quick
    python demos/gates.py --graph out/gates.svg --cells input   # a carousel's graph
"""

import time

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, manual_seed, nn, no_grad, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cells import squash
from tinygrad_lstm.cli import demo_parser, graph_and_steps, positive, progress, run_demo
from tinygrad_lstm.data import adding_problem


# ---------------------------------------------------------------------------- the cells
class CarouselCell(nn.LSTM1997Cell):
    r"""The constant error carousel with no gates: everything is written into c.

        g = squash(x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh)
        c = c_prev + g
        h = tanh(c/2)
    """

    gates = 1

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        g = squash(xw + h_prev @ w_hh).named("g")
        c = (c_prev + g).named("c")
        h = (c * 0.5).tanh().named("h")
        return {"g": g, "c": c, "h": h}


class InputGateCarouselCell(nn.LSTM1997Cell):
    r"""The carousel with an input gate only: i decides what is written; c is always shown.

        i, g = σ(·), squash(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = c_prev + i * g
        h = tanh(c/2)
    """

    gates = 2

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        i, g = (xw + h_prev @ w_hh).chunk(2, axis=-1)
        i = i.sigmoid().named("i")
        g = squash(g).named("g")
        c = (c_prev + i * g).named("c")
        h = (c * 0.5).tanh().named("h")
        return {"i": i, "g": g, "c": c, "h": h}


class OutputGateCarouselCell(nn.LSTM1997Cell):
    r"""The carousel with an output gate only: everything is written; o decides what is shown.

        g, o = squash(·), σ(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = c_prev + g
        h = o * tanh(c/2)
    """

    gates = 2

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        g, o = (xw + h_prev @ w_hh).chunk(2, axis=-1)
        g = squash(g).named("g")
        o = o.sigmoid().named("o")
        c = (c_prev + g).named("c")
        h = (o * (c * 0.5).tanh()).named("h")
        return {"g": g, "o": o, "c": c, "h": h}


CELLS = {"none": CarouselCell, "input": InputGateCarouselCell,
         "output": OutputGateCarouselCell, "both": nn.LSTM1997Cell}
NAMES = {"none": "no gates (bare carousel)", "input": "input gate only",
         "output": "output gate only", "both": "both gates (LSTM 1997)"}
TASKS = ("adding", "recall-one", "recall-all")


# ---------------------------------------------------------------------------- the tasks
def adding_batch(T, size, rng):
    """The adding problem, centred: x (T, B, 2) (value − ½, marker), y (B, 1)."""
    x, y = adding_problem(T, size, rng)
    return x - np.array([0.5, 0.0], dtype=np.float32), y


def recall_batch(T, size, rng, slots=4, store=8, ask_one=True):
    """Recall: x (T, B, 1 + 2·slots) = (u, a store marker per slot, a query flag per slot).

    Slot k's value v_k ~ U(−1, 1) arrives on u at a step s_k of its own among the first
    `store` steps, with its marker; u is U(−1, 1) noise at every other step. With `ask_one`
    the last step's query flag names one slot, and y (B, 1) is its value; else no query,
    and y (B, slots) is every value."""
    if not slots <= store < T:
        raise ValueError(f"recall_batch: needs slots ≤ store < T, got slots={slots}, "
                         f"store={store}, T={T}")
    x = np.zeros((T, size, 1 + 2 * slots), np.float32)
    x[:, :, 0] = rng.uniform(-1, 1, (T, size))
    cols = np.arange(size)
    steps = np.argsort(rng.random((store, size)), axis=0)[:slots]  # (slots, B), distinct
    values = rng.uniform(-1, 1, (slots, size)).astype(np.float32)
    for k in range(slots):
        x[steps[k], cols, 0] = values[k]
        x[steps[k], cols, 1 + k] = 1.0
    if not ask_one:
        return x, np.ascontiguousarray(values.T)
    asked = rng.integers(0, slots, size)
    x[T - 1, cols, 1 + slots + asked] = 1.0
    return x, values[asked, cols][:, None]


def make_batch(task, args, size, rng):
    if task == "adding":
        return adding_batch(args.T, size, rng)
    return recall_batch(args.recall_T, size, rng, args.slots, args.store,
                        ask_one=task == "recall-one")


# ---------------------------------------------------------------------------- model
class Reader(nn.Module):
    """A recurrent layer of one of the cells and a linear head on the last h. The adding
    problem's answer is predicted as 1 + head(h_T) (its mean), recall's as head(h_T)."""

    def __init__(self, kind, inputs, hidden, outputs, offset, rng):
        self.rnn = nn.LSTM(inputs, hidden, cell=CELLS[kind], rng=rng)
        self.head = nn.Linear(hidden, outputs, rng=rng)
        self.offset = offset

    def forward(self, x):
        out, _ = self.rnn(x)
        y = self.head(out[-1])
        return y + self.offset if self.offset else y


def build(task, kind, hidden, rng, slots):
    if task == "adding":
        return Reader(kind, 2, hidden, 1, 1.0, rng)
    return Reader(kind, 1 + 2 * slots, hidden, 1 if task == "recall-one" else slots, 0.0, rng)


def run(task, kind, seed, args, test, baseline):
    """Train one cell on one task from `seed` and score it on the test set: a row of the
    results. The weights and the batches draw from two streams of the seed (seed s's
    batches are not seed s + 1's weights)."""
    manual_seed(seed)
    model = build(task, kind, args.hidden, np.random.default_rng([seed, 0]), args.slots)
    rng = np.random.default_rng([seed, 1])
    opt = optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    with progress(args.steps, f"{task}: {NAMES[kind]}, seed {seed}") as update:
        for _ in range(args.steps):
            x, y = make_batch(task, args, args.batch, rng)
            loss = F.mse_loss(model(Tensor(x)), Tensor(y))
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            update(loss=loss.item())
    with no_grad():
        mse = float(F.mse_loss(model(Tensor(test[0])), Tensor(test[1])).item())
    return {"task": task, "kind": kind, "seed": seed, "mse": mse, "ratio": mse / baseline,
            "learned": mse < 0.1 * baseline, "seconds": time.perf_counter() - start,
            "model": model}


# ---------------------------------------------------------------------------- the gates, opened
def gate_values(model, x):
    """The gates of a trained cell over the inputs x: {name: (T, B, H)} for i and o, where
    the cell has them."""
    with no_grad():
        _, _, states = model.rnn(Tensor(x), return_states=True)
    return {name: states.numpy(name) for name in ("i", "o") if name in states.names}


def input_gate_opening(i, marked):
    """The unit whose input gate tells the marked steps from the others most: (unit, its
    mean i on marked steps, its mean i on the others). i (T, B, H), marked (T, B) bool."""
    on, off = i[marked].mean(axis=0), i[~marked].mean(axis=0)
    unit = int(np.argmax(on - off))
    return unit, float(on[unit]), float(off[unit])


def output_gate_choice(o, asked, slots, top=3):
    """The `top` units whose output gate at the query step differs most with the slot asked
    for: (unit, mean o at the query for each slot asked, mean o before the query), most
    first. o (T, B, H), asked (B,) the slot asked for."""
    at_query = np.stack([o[-1][asked == k].mean(axis=0) for k in range(slots)])  # (slots, H)
    spread = at_query.max(axis=0) - at_query.min(axis=0)
    return [(int(u), at_query[:, u].tolist(), float(o[:-1, :, u].mean()))
            for u in np.argsort(-spread, kind="stable")[:top]]


def first_of_both(rows):
    """{task: the 1997 cell's ("both") run at its lowest seed}."""
    out = {}
    for r in rows:
        if r["kind"] == "both" and (r["task"] not in out or r["seed"] < out[r["task"]]["seed"]):
            out[r["task"]] = r
    return out


def opened(rows, tests, slots):
    """What the 1997 cell (both gates) learned at its first seed, read from its gates on the
    test sets: {"adding": input_gate_opening's, "recall-one": output_gate_choice's}, each where
    its task (and, for recall-one, something to choose between) was run."""
    found, first = {}, first_of_both(rows)
    if "adding" in first:
        x = tests["adding"][0]
        found["adding"] = input_gate_opening(gate_values(first["adding"]["model"], x)["i"],
                                             x[:, :, 1] > 0)
    if "recall-one" in first:
        x = tests["recall-one"][0]
        asked = x[-1, :, 1 + slots:].argmax(axis=1)
        # one slot leaves nothing to choose between, and a slot no test sequence asks for
        # has no gate values to average: then nothing is read
        if slots > 1 and len(np.unique(asked)) == slots:
            found["recall-one"] = output_gate_choice(
                gate_values(first["recall-one"]["model"], x)["o"], asked, slots)
    return found, {task: r["seed"] for task, r in first.items()}


def opened_lines(found, seeds, slots):
    """What `opened` found, as lines to print, each conclusion only where its numbers show it."""
    lines = []
    if "adding" in found:
        unit, on, off = found["adding"]
        lines.append(f"The 1997 cell (both gates, seed {seeds['adding']}) on the adding "
                     f"problem's test set: the input gate of its unit {unit} is {on:.2f} on the "
                     f"marked steps and {off:.2f} on the others (of its units, the one whose i "
                     "tells them apart most)" + (": the marker opens it." if on > 0.5 > 0.2 > off
                                                 else "."))
    if "recall-one" in found:
        choice = found["recall-one"]
        table = Table(title=f"The 1997 cell (both gates, seed {seeds['recall-one']}) on "
                            "recall-one's test set: mean output gate o at the query step by "
                            "the slot asked for, and at the steps before it (the units where "
                            "the slot asked for makes the most difference)",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      show_edge=False)
        table.add_column("unit", justify="right")
        for k in range(slots):
            table.add_column(f"slot {k} asked", justify="right")
        table.add_column("earlier", justify="right")
        for unit, per_slot, before in choice:
            table.add_row(str(unit), *(f"{v:.2f}" for v in per_slot), f"{before:.2f}")
        lines.append(table)
        wide = min(max(p) for _, p, _ in choice)
        shut = max(min(p) for _, p, _ in choice)
        lines.append(f"Each of these output gates opens to {wide:.2f} or more when one slot is "
                     f"asked for and shuts to {shut:.2f} or less when another is: the query "
                     "chooses which stored value is shown on h." if wide > 0.5 > 0.2 > shut else
                     "These output gates do not open wide for one slot and shut for another "
                     "in this run.")
    return lines


# ---------------------------------------------------------------------------- results
def results_table(task, rows, baseline, title):
    """One task: a row per cell, its test MSE over the baseline at each seed."""
    seeds = sorted({r["seed"] for r in rows})
    table = Table(title=f"{title}: test MSE / baseline ({baseline:.3f}) at each seed",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("cell")
    for seed in seeds:
        table.add_column(f"seed {seed}", justify="right")
    table.add_column("learned", justify="right")
    table.add_column("time", justify="right")
    learned = counts(rows)  # as the verdicts count them
    for kind in NAMES:
        mine = [r for r in rows if r["kind"] == kind]
        if mine:
            table.add_row(NAMES[kind], *(f"{r['ratio']:.3f}" for r in mine),
                          f"{learned[task, kind]} of {len(mine)}",
                          f"{sum(r['seconds'] for r in mine):.0f}s")
    return table


def counts(rows):
    """{(task, kind): in how many seeds it learned}."""
    out = {}
    for r in rows:
        key = (r["task"], r["kind"])
        out[key] = out.get(key, 0) + r["learned"]
    return out


def input_verdict(learned, n):
    """The adding problem's sentence, following its counts (`learned[kind]` of n seeds);
    None when one of the four cells was not run."""
    if len(learned) < len(CELLS):
        return None
    none, inp, out, both = (learned[k] for k in CELLS)
    if none == 0 and out == 0 and inp > 0 and both > 0:
        return (f"Input weight conflict: without an input gate the carousel learned the adding "
                f"problem in none of {n} seed{'s' if n != 1 else ''}, with an output gate or "
                "without. At every step g is added into c, marked value or not: the same "
                "weights are asked to write a value when it is marked and to keep it out when "
                "it is not, and the updates for the two pull against each other; and what is "
                "written though unwanted makes c drift, until tanh(c/2) saturates. An input "
                "gate, a sigmoid the marker can open, multiplies what is written, so that only "
                f"the marked values go in: learned in {inp} of {n} with it alone, {both} of "
                f"{n} with both gates.")
    hint = ("a cell without an input gate learned it: not what the conflict predicts"
            if none or out else "more --steps, for the cells with an input gate?")
    return (f"The adding problem was learned in {none} of {n} with no gates, {out} with the "
            f"output gate alone, {inp} with the input gate alone and {both} with both: this "
            f"run does not show the input weight conflict ({hint})")


def output_verdict(one, all_, n):
    """The recall tasks' sentence, following their counts: `one[kind]` and `all_[kind]`,
    in how many of n seeds each cell learned recall-one and recall-all; None when a
    cell or a task was not run."""
    if len(one) < len(CELLS) or len(all_) < len(CELLS):
        return None
    stores, shows, both = all_["input"], one["input"], one["both"]
    if stores > 0 and shows == 0 and both > 0 and one["none"] == 0:
        return (f"Output weight conflict: with an input gate alone the carousel stores every "
                f"value (it gave all of them back at the end in {stores} of {n}) but did not "
                f"learn to give out the one asked for (0 of {n}). Without an output gate every "
                "stored value is on h at every step, and the same outgoing weights must pass a "
                "slot's value when it is asked for and hold it back when another slot is. An "
                "output gate, a sigmoid the query can open, multiplies what is shown: with "
                f"both gates it was learned in {both} of {n}.")
    hint = ("a cell without an output gate learned it: not what the conflict predicts"
            if shows or one["none"] else "the input gate alone did not store the values "
            "either" if not stores else "more --steps, for both gates?")
    return (f"Recall-one was learned in {shows} of {n} with the input gate alone, "
            f"{one['none']} with no gates and {both} with both gates; recall-all in {stores} "
            "with the input gate alone: this run does not show the output weight conflict "
            f"({hint})")


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/gates.svg", steps_default=1000,
                         graph_help="the first of --cells on recall-one, untrained, at T=6 "
                                    "with 2 slots (small enough to read; drawn after the runs)")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help=f"comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--cells", default=",".join(CELLS),
                        help=f"comma-separated: {', '.join(CELLS)}")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per cell and task, from --seed")
    parser.add_argument("--T", type=int, default=50, help="the adding problem's length")
    parser.add_argument("--recall-T", type=int, default=30, help="the recall tasks' length")
    parser.add_argument("--slots", type=int, default=4, help="values stored in the recall tasks")
    parser.add_argument("--store", type=int, default=8,
                        help="the recall tasks' values arrive within the first STORE steps")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--test", type=int, default=1000, help="test sequences")
    args = parser.parse_args(argv)
    for flag in ("steps", "seeds", "T", "recall_T", "slots", "store", "hidden", "batch", "test",
                 "lr"):
        positive("--" + flag.replace("_", "-"), getattr(args, flag))
    if args.T < 2:
        raise SystemExit(f"error: --T must be at least 2, got {args.T}")
    if not args.slots <= args.store < args.recall_T:
        raise SystemExit(f"error: the recall tasks need --slots ≤ --store < --recall-T (one "
                         f"step per value, then at least the query), got --slots {args.slots}, "
                         f"--store {args.store}, --recall-T {args.recall_T}")
    for flag, known in (("tasks", TASKS), ("cells", tuple(CELLS))):
        chosen = list(dict.fromkeys(s.strip() for s in getattr(args, flag).split(",")
                                    if s.strip()))
        if not chosen or any(c not in known for c in chosen):
            raise SystemExit(f"error: --{flag}: choose from {', '.join(known)}; got {chosen}")
        setattr(args, flag, [c for c in known if c in chosen])  # in the tables' order
    console = Console()

    # one test set for every seed, whatever --seed is (so --seed 2 --seeds 1 is the column
    # that --seeds 4 shows for seed 2)
    tests = {task: make_batch(task, args, args.test, np.random.default_rng(10_000))
             for task in args.tasks}
    baselines = {task: float(np.mean((y - (1.0 if task == "adding" else 0.0)) ** 2))
                 for task, (_, y) in tests.items()}
    titles = {"adding": f"adding problem, T={args.T} (the input weight conflict)",
              "recall-one": f"recall one of {args.slots}, T={args.recall_T} (the output weight "
                            "conflict)",
              "recall-all": f"recall all {args.slots}, T={args.recall_T} (the control: storing "
                            "them)"}
    console.print(f"{len(args.cells)} cell(s) x {len(args.tasks)} task(s) x {args.seeds} "
                  f"seed(s): H={args.hidden}, B={args.batch}, {args.steps} Adam steps, lr "
                  f"{args.lr}, gradients clipped to norm 1. Baselines (no memory): always 1 for "
                  "adding, always 0 for recall. learned: test MSE below 0.1 x baseline.")

    rows = []
    seeds = range(args.seed, args.seed + args.seeds)
    for task in args.tasks:
        mine = [run(task, kind, seed, args, tests[task], baselines[task])
                for kind in args.cells for seed in seeds]
        console.print()
        console.print(results_table(task, mine, baselines[task], titles[task]))
        rows += mine

    learned = counts(rows)
    by_task = {task: {kind: n for (t, kind), n in learned.items() if t == task}
               for task in TASKS}
    said = [input_verdict(by_task["adding"], args.seeds),
            output_verdict(by_task["recall-one"], by_task["recall-all"], args.seeds)]
    for line in filter(None, said):
        console.print()
        console.print(line)
    gates_opened, seeds_read = opened(rows, tests, args.slots)
    for line in opened_lines(gates_opened, seeds_read, args.slots):
        console.print()
        console.print(line)

    # one more training step's graph (recall-one, T=6), to draw or to step through
    if args.graph or args.step:
        kind = args.cells[0]
        slots = min(args.slots, 2)
        model = build("recall-one", kind, 4, np.random.default_rng(args.seed), slots)
        x, y = recall_batch(6, 1, np.random.default_rng(args.seed), slots, slots)

        def one_loss():
            return F.mse_loss(model(Tensor(x)), Tensor(y))
        graph_and_steps(args, one_loss, model, title=f"recall-one · {NAMES[kind]}, T=6")
    return {"baselines": baselines, "rows": rows, "learned": learned, "opened": gates_opened}


if __name__ == "__main__":
    run_demo(main)
