"""Demonstrates the graph renderer: makes the two pictures the README shows.

    python docs/make_pictures.py        # writes docs/img/lstm_graph.svg and rnn_graph.svg

One training-sized step each: a 3-step sequence, a small layer, and a loss on the last output
only, so every gradient that reaches t = 1 has travelled back through the recurrence. The LSTM
starts with a forget-gate bias of 1 (its cell path open); the RNN is a plain tanh RNN.
"""

from pathlib import Path

import numpy as np

from tinygrad_lstm import Tensor, manual_seed, nn
from tinygrad_lstm.viz.graph import render

IMG = Path(__file__).resolve().parent / "img"


def last_output_loss(model, T=3, batch=2, seed=0):
    x = Tensor(np.random.default_rng(seed).standard_normal((T, batch, model.input_size))
               .astype(np.float32))
    out, _ = model(x)                 # (T, B, H)
    return (out[-1] * out[-1]).mean()  # the loss sees only h[t=T]


def main():
    pictures = {
        "lstm_graph.svg": nn.LSTM(3, 4, forget_bias=1.0, rng=manual_seed(0)),
        "rnn_graph.svg": nn.RNN(3, 4, nonlinearity="tanh", rng=manual_seed(0)),
    }
    for name, model in pictures.items():
        paths, message = render(last_output_loss(model), IMG / name, params=model, grads=True,
                                edge_grads=True)
        (IMG / name).with_suffix(".dot").unlink(missing_ok=True)  # keep only the picture
        print(message or f"wrote {IMG / name}")


if __name__ == "__main__":
    main()
