"""Demonstrates the classic toy character model: given "hell", predict "ello".

A four-letter vocabulary (e, h, l, o), one-hot inputs, one small recurrent layer and a linear
head, trained with Adam until it predicts the next letter at every position. The interesting
steps are the third and fourth: both read an "l", but after "hel" comes "l" and after "hell"
comes "o", so the model must use its memory, not just the current letter. Small enough to render its whole graph (`--graph`) and to
step through its backward pass node by node (`--step`).

    python demos/hello.py                       # train, print predictions
    python demos/hello.py --graph out/hello.svg # and draw one training step's graph
    python demos/hello.py --step                # walk through one backward pass
"""

from tinygrad_lstm import Tensor, manual_seed, nn, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import demo_parser, graph_and_steps, positive, progress, run_demo
from tinygrad_lstm.data import hello_example, one_hot

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/hello.svg", steps_default=200)
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent layer")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
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

    # one more training step's graph, to draw or to step through (each runs its backward)
    model = {**{f"rnn.{k}": p for k, p in rnn.named_parameters()},
             **{f"head.{k}": p for k, p in head.named_parameters()}}
    graph_and_steps(args, lambda: forward()[0], model, title=f"hello · {args.cell.upper()}")
    return loss.item(), guess


if __name__ == "__main__":
    run_demo(main)
