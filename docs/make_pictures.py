"""Demonstrates the graph renderer: makes the two pictures the README shows.

    python docs/make_pictures.py        # docs/img/lstm_graph.svg, rnn_graph.svg, lstm_cell.svg

One training-sized step each: a 3-step sequence, a small layer, and a loss on the last output
only, so every gradient that reaches t = 1 has travelled back through the recurrence. The LSTM
starts with a forget-gate bias of 1 (f near σ(1) = 0.73); the RNN is a plain tanh RNN. Both
pictures shade their edges on the same fixed scale, and the numbers the README quotes are
printed: ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖, f's mean) per step, and the smallest non-zero gradient along
an edge. lstm_cell.svg is the LSTM's step folded (one cell, its recurrent edges looping back),
which stays readable at a README's width.
"""

from pathlib import Path

import numpy as np

from tinygrad_lstm import Tensor, manual_seed, nn, toposort
from tinygrad_lstm.viz.graph import collect_grad_norms, render

IMG = Path(__file__).resolve().parent / "img"


def last_output_loss(model, T=3, batch=2, seed=0):
    x = Tensor(np.random.default_rng(seed).standard_normal((T, batch, model.input_size))
               .astype(np.float32))
    out, _ = model(x)                 # (T, B, H)
    return (out[-1] * out[-1]).mean()  # the loss sees only h[t=T]


def numbers(loss, norms):
    """The numbers the README quotes, per step t = 1 … T: ‖∂L/∂h_t‖, and ‖∂L/∂c_t‖ and f's
    mean where the model has them; then the smallest non-zero ‖grad‖ along an edge."""
    steps = {}  # name -> {t: tensor}
    for t in toposort(loss):
        if t.name in ("h", "c", "f") and (t.scope or {}).get("t", 0) > 0:
            steps.setdefault(t.name, {})[t.scope["t"]] = t
    lines = [f"  ‖∂L/∂{k}‖  " + "  ".join(f"t={s} {norms[id(v)]:.2e}"
                                          for s, v in sorted(steps[k].items()))
             for k in "hc" if k in steps]
    if "f" in steps:
        f = [v.data for _, v in sorted(steps["f"].items())]
        lines.append("  mean f  " + "  ".join(f"t={s + 1} {v.mean():.3f}" for s, v in enumerate(f))
                     + f"  (all {np.mean(f):.3f}, from {np.min(f):.2f} to {np.max(f):.2f})")
    edges = [v for k, v in norms.items() if isinstance(k, tuple) and v > 0]
    lines.append(f"  smallest non-zero ‖grad‖ along an edge {min(edges):.2e}")
    return "\n".join(lines)


def main():
    pictures = {
        "lstm_graph.svg": nn.LSTM(3, 4, forget_bias=1.0, rng=manual_seed(0)),
        "rnn_graph.svg": nn.RNN(3, 4, nonlinearity="tanh", rng=manual_seed(0)),
    }
    for name, model in pictures.items():
        loss = last_output_loss(model)
        norms = collect_grad_norms(loss)  # the backward, once: the picture and the numbers
        paths, message = render(loss, IMG / name, params=model, grads=norms, edge_grads=True)
        (IMG / name).with_suffix(".dot").unlink(missing_ok=True)  # keep only the picture
        print(message or f"wrote {IMG / name}")
        print(numbers(loss, norms))
        if name == "lstm_graph.svg":  # the same step, folded
            cell = IMG / "lstm_cell.svg"
            paths, message = render(loss, cell, params=model, grads=norms, folded=True)
            cell.with_suffix(".dot").unlink(missing_ok=True)
            print(message or f"wrote {cell}")


if __name__ == "__main__":
    main()
