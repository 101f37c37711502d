"""Demonstrates the classic toy character model: given "hell", predict "ello".

A four-letter vocabulary (e, h, l, o), one-hot inputs, one small recurrent layer and a linear
head, trained with Adam until it predicts the next letter at every position. The interesting
steps are the third and fourth: both read an "l", but after "hel" comes "l" and after "hell"
comes "o", so the model must use its memory, not just the current letter. Small enough to render its whole graph (`--graph`) and to
step through its backward pass node by node (`--step`).

    python demos/hello.py                       # train, print predictions
    python demos/hello.py --graph out/hello.svg # and draw one training step's graph
    python demos/hello.py --step                # walk through one backward pass
    python demos/hello.py --probs               # the softmax over e, h, l, o at each step,
                                                # before training and after
"""

from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, manual_seed, nn, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import demo_parser, graph_and_steps, positive, progress, run_demo
from tinygrad_lstm.data import hello_example, one_hot

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def probabilities(logits):
    """softmax(logits) over the vocabulary at each step, (T, V), of the one sequence."""
    return F.softmax(logits, axis=-1).data[:, 0, :]


def probs_table(p, ids_x, ids_y, vocab, title):
    """One row per step: the letter read, the probability of each next letter (the target's
    in bold), as Karpathy's figure of this toy shows the output layer's confidences."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, caption="the target's in bold", caption_justify="left")
    table.add_column("t", justify="right")
    table.add_column("reads")
    for ch in vocab.itos:
        table.add_column(f"p({ch})", justify="right")
    table.add_column("target")
    for t, row in enumerate(p):
        target = int(ids_y[t, 0])
        table.add_row(str(t + 1), repr(vocab.itos[int(ids_x[t, 0])]),
                      *(f"[bold]{q:.2f}[/]" if i == target else f"{q:.2f}"
                        for i, q in enumerate(row)),
                      repr(vocab.itos[target]))
    return table


def memory_says(p, ids_x, ids_y, vocab):
    """What the two steps that read the same letter show: the model tells them apart only
    through its state (after "hel" comes "l", after "hell" "o"). None where no two steps
    read the same letter and want different ones."""
    x, y = ids_x[:, 0], ids_y[:, 0]
    pairs = [(a, b) for a in range(len(x)) for b in range(a + 1, len(x))
             if x[a] == x[b] and y[a] != y[b]]
    if not pairs:
        return None
    a, b = pairs[0]
    ch = lambda i: repr(vocab.itos[int(i)])  # noqa: E731
    both = (f"steps {a + 1} and {b + 1} both read {ch(x[a])}, and give p({vocab.itos[y[a]]}) = "
            f"{p[a, y[a]]:.2f} and p({vocab.itos[y[b]]}) = {p[b, y[b]]:.2f}")
    if p[a].argmax() == y[a] and p[b].argmax() == y[b]:
        return (f"{both}: the same input, different answers, so they come from the state, "
                "the memory of the letters before.")
    return f"{both}: not yet told apart (more --steps?)."


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/hello.svg", steps_default=200)
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent layer")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
    parser.add_argument("--probs", action="store_true",
                        help="print the softmax over the four letters at each step, before "
                             "training and after")
    args = parser.parse_args(argv)
    positive("--hidden", args.hidden)
    positive("--lr", args.lr)

    # data: x "hell" and y "ello" as ids (T=4, B=1), x one-hot (4, 1, 4)
    ids_x, ids_y, vocab = hello_example()
    x = Tensor(one_hot(ids_x, len(vocab)))

    # model
    rng = manual_seed(args.seed)
    rnn = CELLS[args.cell](len(vocab), args.hidden, rng=rng)
    head = nn.Linear(args.hidden, len(vocab), rng=rng)
    params = rnn.parameters() + head.parameters()
    opt = optim.Adam(params, lr=args.lr)

    def forward():
        out, _ = rnn(x)                                # (T, B, H)
        logits = head(out)                             # (T, B, V)
        return F.cross_entropy(logits, ids_y), logits

    console = Console()
    if args.probs:
        console.print(probs_table(probabilities(forward()[1]), ids_x, ids_y, vocab,
                                  "before training: p(next letter)"))
    # loop
    with progress(args.steps, f"hello ({args.cell})") as update:
        for _ in range(args.steps):
            loss, _ = forward()
            opt.zero_grad()
            loss.backward()
            opt.step()
            update(loss=loss.item())

    # results
    loss, logits = forward()
    guess = vocab.decode(logits.data.argmax(-1)[:, 0])
    print(f"after {args.steps} steps: loss {loss.item():.4f}   "
          f"'{vocab.decode(ids_x[:, 0])}' -> '{guess}' (target '{vocab.decode(ids_y[:, 0])}')")
    if args.probs:
        p = probabilities(logits)
        console.print(probs_table(p, ids_x, ids_y, vocab,
                                  f"after {args.steps} steps: p(next letter)"))
        console.print(memory_says(p, ids_x, ids_y, vocab))

    # one more training step's graph, to draw or to step through (each runs its backward)
    model = {**{f"rnn.{k}": p for k, p in rnn.named_parameters()},
             **{f"head.{k}": p for k, p in head.named_parameters()}}
    graph_and_steps(args, lambda: forward()[0], model, title=f"hello · {args.cell.upper()}")
    return loss.item(), guess


if __name__ == "__main__":
    run_demo(main)
