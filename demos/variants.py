"""Demonstrates the LSTM family side by side: the same character-level language model, the same
budget, one recurrent cell swapped at a time.

    LSTM          i, f, g, o;  c = f * c_prev + i * g;  h = o * tanh(c)          (torch's)
    LSTM-1997     no forget gate: c = c_prev + i * squash(·), h = o * tanh(c/2),
                  squash(z) = 2 tanh(z/2)                        (Hochreiter & Schmidhuber 1997;
                  the architecture, trained here with full BPTT, not the paper's truncated one)
    coupled       c = f * c_prev + (1 − f) * g: what is forgotten is replaced
                  (Greff et al. 2017's CIFG, here without its peepholes)
    peephole      the gates also see the cell: i, f from c_prev, o from c  (Gers & Schmidhuber)
    GRU           n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h = (1 − z) n + z h_prev (torch)
    GRU-Cho       h~ = tanh(W [r * h_prev, x]): the reset gate before the matmul  (Cho 2014)
    RNN           h = tanh(W_ih x + W_hh h_prev + b), for reference

Data: a slice of the shipped Shakespeare (`--chars`), 90% for training and 10% for
validation. Model: Embedding(V, `--embed`) -> one recurrent layer of `--hidden` units -> Linear
to V logits, cross-entropy on every next character. Every variant gets the same seed, the same
batches, `--steps` Adam steps and the same hidden size; the table shows the loss it reaches and
what it costs in parameters and time.

    python demos/variants.py                      # the table (about 15 s)
    python demos/variants.py --steps 100 --variants lstm,gru
    python demos/variants.py --graph out/variants.svg --variant coupled
"""

import time

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import manual_seed, nn, no_grad, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import demo_parser, graph_and_steps, positive, progress, run_demo
from tinygrad_lstm.data import CharVocab, char_batches, load_text, split_train_val

VARIANTS = {  # name -> (layer class, kwargs)
    "lstm": (nn.LSTM, {}),
    "lstm-1997": (nn.LSTM, {"cell": nn.LSTM1997Cell}),
    "coupled": (nn.LSTM, {"cell": nn.CoupledLSTMCell}),
    "peephole": (nn.LSTM, {"cell": nn.PeepholeLSTMCell}),
    "gru": (nn.GRU, {}),
    "gru-cho": (nn.GRU, {"reset_after": False}),
    "rnn": (nn.RNN, {}),
}
SPARK = "▁▂▃▄▅▆▇█"


class CharModel(nn.Module):
    """Embedding -> recurrent layer -> Linear: ids (T, B) -> logits (T, B, V)."""

    def __init__(self, variant, vocab_size, embed, hidden, rng):
        layer, kw = VARIANTS[variant]
        self.embed = nn.Embedding(vocab_size, embed, rng=rng)
        self.rnn = layer(embed, hidden, rng=rng, **kw)
        self.head = nn.Linear(hidden, vocab_size, rng=rng)

    def forward(self, ids):
        out, _ = self.rnn(self.embed(ids))   # (T, B, H)
        return self.head(out)                # (T, B, V)


def sparkline(values, width=16):
    """The loss curve in `width` block characters (mean of each stretch), high = tall."""
    chunks = np.array_split(np.asarray(values), min(width, len(values)))
    means = np.array([c.mean() for c in chunks])
    lo, hi = means.min(), means.max()
    scale = (means - lo) / (hi - lo) if hi > lo else np.zeros_like(means)
    return "".join(SPARK[int(round(s * (len(SPARK) - 1)))] for s in scale)


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/variants.svg", steps_default=300,
                         graph_help="a small model's training step (H=4, T=4, untrained: small enough to read)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="lstm",
                        help="the variant drawn by --graph / stepped by --step")
    parser.add_argument("--chars", type=int, default=200_000, help="characters of Shakespeare")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units of every variant")
    parser.add_argument("--embed", type=int, default=16, help="embedding size")
    parser.add_argument("--batch", type=int, default=16, help="sequences per batch")
    parser.add_argument("--seq-len", type=int, default=32, help="characters per sequence")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    args = parser.parse_args(argv)
    for flag in ("steps", "chars", "hidden", "embed", "batch", "seq_len", "lr"):
        positive("--" + flag.replace("_", "-"), getattr(args, flag))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise SystemExit(f"error: --variants: unknown {unknown or variants}; choose from "
                         f"{', '.join(VARIANTS)}")
    console = Console()

    # data: a slice of Shakespeare; the same train batches (and validation batches) for all
    text = load_text()[:args.chars]
    need = args.seq_len + 1  # a window and its next character, from the last 10%

    def held_out(n):  # as split_train_val(ids, 0.1) splits n characters
        return n - int(n * 0.9)

    if held_out(len(text)) < need:
        least = next(n for n in range(need, 20 * need) if held_out(n) >= need)
        raise SystemExit(f"error: --chars {args.chars}: the slice leaves {held_out(len(text))} "
                         f"validation characters (the last 10%) and --seq-len {args.seq_len} "
                         f"needs {need}; use --chars {least} or more, or a shorter --seq-len")
    vocab = CharVocab(text)
    train_ids, val_ids = split_train_val(vocab.encode(text), 0.1)
    data_rng = np.random.default_rng(args.seed)
    batches = [char_batches(train_ids, args.batch, args.seq_len, data_rng)
               for _ in range(args.steps)]
    # validation windows of their own generator: drawn after the training batches, they were
    # other windows for every --steps, so runs of different lengths were scored on other text
    val_rng = np.random.default_rng((args.seed, 1))
    val_batches = [char_batches(val_ids, 32, args.seq_len, val_rng) for _ in range(8)]

    def val_loss(model):
        model.eval()
        with no_grad():
            loss = np.mean([F.cross_entropy(model(x), y).item() for x, y in val_batches])
        model.train()
        return float(loss)

    # one model per variant, same seed and budget
    results = {}
    for name in variants:
        manual_seed(args.seed)
        model = CharModel(name, len(vocab), args.embed, args.hidden,
                          np.random.default_rng(args.seed))
        opt = optim.Adam(model.parameters(), lr=args.lr)
        losses, start = [], time.perf_counter()
        with progress(args.steps, f"char-LM · {name}") as update:
            for x, y in batches:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                optim.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                losses.append(loss.item())
                update(loss=losses[-1])
        tail = max(1, len(losses) // 10)
        results[name] = {"params": model.num_parameters(),
                         "rnn_params": model.rnn.num_parameters(),
                         "first_loss": float(np.mean(losses[:tail])),
                         "final_loss": float(np.mean(losses[-tail:])),
                         "val_loss": val_loss(model), "losses": losses,
                         "seconds": time.perf_counter() - start}

    # results
    table = Table(title=f"char-LM on {len(text):,} characters of Shakespeare (V={len(vocab)}), "
                        f"H={args.hidden}, {args.steps} steps of {args.batch}×{args.seq_len}; "
                        f"loss in nats/char (uniform: ln V = {np.log(len(vocab)):.2f})",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col, just in (("variant", "left"), ("cell", "right"), ("total", "right"),
                      ("first", "right"), ("final", "right"), ("val", "right"),
                      ("curve", "left"), ("time", "right")):
        table.add_column(col, justify=just, no_wrap=(col == "curve"))
    best = min(results, key=lambda v: results[v]["val_loss"])
    for name, r in results.items():
        style = "bold" if name == best else None
        table.add_row(name, f"{r['rnn_params']:,}", f"{r['params']:,}", f"{r['first_loss']:.3f}",
                      f"{r['final_loss']:.3f}", f"{r['val_loss']:.3f}", sparkline(r["losses"]),
                      f"{r['seconds']:.1f}s", style=style)
    console.print(table)
    spread = max(r["val_loss"] for r in results.values()) - results[best]["val_loss"]
    console.print(f"cell/total: parameters of the recurrent layer / of the whole model. "
                  f"first/final: mean training loss over the first/last 10% of steps; val: "
                  f"held-out last 10% of the slice. Lowest val loss: {best}"
                  + (f"; all val losses within {spread:.3f} nats of each other at this budget."
                     if len(results) > 1 else "."))

    # one more training step's graph, to draw or to step through (each runs its backward)
    if args.graph or args.step:
        model = CharModel(args.variant, len(vocab), 4, 4, np.random.default_rng(args.seed))
        x, y = char_batches(train_ids, 1, 4, np.random.default_rng(args.seed))

        def one_loss():
            return F.cross_entropy(model(x), y)
        graph_and_steps(args, one_loss, model, title=f"variants · {args.variant}")
    return results


if __name__ == "__main__":
    run_demo(main)
