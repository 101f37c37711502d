"""Demonstrates next-value time-series prediction with recurrent regressors, scored with RMSE,
Mean Directional Accuracy and Mean Forecast Error against the naive last-value forecast and a
linear autoregression on the same windows, and tanh vs relu as the activation.

Two series from `tinygrad_lstm.data`: a noisy sine (predictable up to its noise) and a random
walk with a trend (a martingale plus drift: nothing beats "last value + drift" on average). The
last 20% of each series is held out. A trending series leaves its training range on that tail,
so the models see *changes*, not levels (differencing): windows of the last `--window`
changes, normalised with the mean and std of the training part only (LeCun's input
normalisation; the tail's statistics are never looked at), predict the next change, and the
forecast is last value + predicted change. Training samples random minibatches of windows
(LeCun: stochastic updates, shuffled examples).

Metrics on the held-out tail, y the true value, ŷ the forecast, y_prev the last known value:
    RMSE = √mean((y − ŷ)²)
    MDA  = mean(sign(y − y_prev) = sign(ŷ − y_prev))   Mean Directional Accuracy
    MFE  = mean(y − ŷ)                                  Mean Forecast Error (bias; > 0: too low)
The naive forecast ŷ = y_prev predicts no change, so it has no direction (MDA n/a).

Does relu do as well as tanh inside a recurrent cell (Keras `LSTM(activation="relu")`)? An
LSTM whose candidate g and cell output use relu instead of tanh (`ReluLSTMCell` below), and an
Elman RNN with `nonlinearity="relu"`, next to their tanh versions and a GRU.

    python demos/timeseries.py                   # both series, all models
    python demos/timeseries.py --steps 100       # quicker
    python demos/timeseries.py --graph out/ts.svg --model lstm
"""

import time

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from tinygrad_lstm import Tensor, manual_seed, nn, no_grad, optim
from tinygrad_lstm import functional as F
from tinygrad_lstm.cli import demo_parser, graph_and_steps, positive, progress, run_demo
from tinygrad_lstm.data import make_windows, noisy_sine, normalize, trending_random_walk


class ReluLSTMCell(nn.LSTMCell):
    r"""An LSTM cell with relu where the standard cell has tanh (Keras's
    `LSTM(activation="relu")`): the candidate g and the squashing of the cell output.

        i, f, g, o = σ(·), σ(·), relu(·), σ(·)   of   x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
        c = f * c_prev + i * g
        h = o * relu(c)

    g ≥ 0 means c only ever grows by adding, and shrinks only through f; h is unbounded above.
    """

    def step(self, xw, state, w_hh):
        h_prev, c_prev = state
        i, f, g, o = (xw + h_prev @ w_hh).chunk(4, axis=-1)    # each (B, H)
        i = i.sigmoid().named("i")
        f = f.sigmoid().named("f")
        g = g.relu().named("g")
        o = o.sigmoid().named("o")
        c = (f * c_prev + i * g).named("c")
        h = (o * c.relu()).named("h")
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


SERIES = ("sine", "walk")  # each seeded by its place here, whichever --series runs
MODELS = {  # name -> (layer class, extra kwargs)
    "lstm": (nn.LSTM, {}),
    "lstm-relu": (nn.LSTM, {"cell": ReluLSTMCell}),
    "gru": (nn.GRU, {}),
    "rnn": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn-relu": (nn.RNN, {"nonlinearity": "relu"}),
}


# ---------------------------------------------------------------------------- data
def make_series(name, n, rng):
    if name == "sine":
        return noisy_sine(n, period=50.0, noise=0.1, rng=rng)
    return trending_random_walk(n, drift=0.05, rng=rng, scale=1.0)


def prepare(series, window, test_fraction):
    """Windows of normalised changes. Train windows lie wholly in the first part; test
    targets are the held-out tail (their input windows may reach back into the first part)."""
    n_train = int(len(series) * (1.0 - test_fraction))
    d = np.diff(series)                        # d[k] = series[k+1] − series[k]
    _, mean, std = normalize(d[:n_train - 1])  # statistics of the training changes only
    z, _, _ = normalize(d, mean, std)
    x, y = make_windows(z, window)             # x (W, N, 1); y[j] = z[j + W]: change to series[j+W+1]
    target = np.arange(len(y)) + window + 1    # the series index each window predicts
    train, test = target < n_train, target >= n_train
    return {"x_train": x[:, train], "y_train": y[train], "x_test": x[:, test],
            "y_test": series[target[test]], "prev_test": series[target[test] - 1],
            "mean": mean, "std": std, "n_train": n_train}


# ---------------------------------------------------------------------------- metrics
def metrics(y, pred, prev):
    """RMSE, Mean Directional Accuracy (None when the forecast never moves) and Mean Forecast
    Error of forecasts `pred` for values `y` whose previous values are `prev`."""
    moves = np.sign(pred - prev)
    mda = float(np.mean(np.sign(y - prev) == moves)) if np.any(moves != 0) else None
    return {"rmse": float(np.sqrt(np.mean((y - pred) ** 2))), "mda": mda,
            "mfe": float(np.mean(y - pred))}


# ---------------------------------------------------------------------------- model
class Regressor(nn.Module):
    """A recurrent layer and a linear head on its last h: window (W, B, 1) -> next change (B, 1)."""

    def __init__(self, kind, hidden, rng):
        layer, kw = MODELS[kind]
        self.rnn = layer(1, hidden, rng=rng, **kw)
        self.head = nn.Linear(hidden, 1, rng=rng)

    def forward(self, x):
        out, _ = self.rnn(x)             # (W, B, H)
        return self.head(out[-1])        # (B, 1)


def train(model, data, args, rng, update):
    opt = optim.Adam(model.parameters(), lr=args.lr)
    x, y = data["x_train"], data["y_train"]
    losses = []
    for _ in range(args.steps):
        idx = rng.integers(0, x.shape[1], size=args.batch)     # shuffled minibatch
        loss = F.mse_loss(model(Tensor(x[:, idx])), Tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        update(loss=losses[-1])
    return losses


def linear_forecast(data):
    """A linear autoregression, AR(W), on the same inputs: the next normalised change as a
    weighted sum of the window's W changes plus a constant, fit by least squares on the
    training windows (no recurrence, no nonlinearity). Any model that should earn its state
    and its gates has to beat this, not only the naive last value."""
    def design(x):                      # (W, N, 1) windows -> (N, W + 1) rows
        return np.column_stack([x[:, :, 0].T.astype(np.float64), np.ones(x.shape[1])])
    w, *_ = np.linalg.lstsq(design(data["x_train"]), data["y_train"][:, 0], rcond=None)
    z = design(data["x_test"]) @ w
    return data["prev_test"] + z * data["std"] + data["mean"]


def forecast(model, data):
    with no_grad():
        z = model(Tensor(data["x_test"])).data[:, 0].astype(np.float64)
    return data["prev_test"] + z * data["std"] + data["mean"]   # last value + predicted change


# ---------------------------------------------------------------------------- results
def fmt_mda(m):
    return "n/a" if m is None else f"{100 * m:.1f}%"


def results_table(series_name, rows):
    table = Table(title=f"{series_name}: held-out tail", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col, just in (("forecast", "left"), ("RMSE", "right"), ("vs naive", "right"),
                      ("MDA", "right"), ("MFE", "right"), ("train MSE", "right"),
                      ("time", "right")):
        table.add_column(col, justify=just)
    naive = rows["naive (last value)"]["rmse"]
    for name, r in rows.items():
        table.add_row(name, f"{r['rmse']:.4f}", f"{r['rmse'] / naive:.3f}", fmt_mda(r["mda"]),
                      f"{r['mfe']:+.4f}", r.get("train", ""), r.get("time", ""))
    return table


LEVEL = 0.02  # two scores within 2% of each other read as level


def relu_verdict(tanh, relu):
    """What one series says of a finding in the notes the project started from, with a Keras
    LSTM: relu follows the trend better than tanh (a smaller mean forecast error, the bias), at
    about the same RMSE. Where both rows keep their forecast errors ("errors"), the noise is
    read too: an MFE within two standard errors of 0 is no bias that this tail can show (one
    MFE's standard error on the walk's 400 values is ~0.05, and gaps of 0.001-0.03 there were
    read as more or less bias: a review of the demos' claims), and a gap in |MFE| within two
    standard errors of the mean of the two models' difference is the same bias."""
    rmse = relu["rmse"] / tanh["rmse"]
    fit = "level RMSE" if abs(rmse - 1) < LEVEL else ("lower RMSE" if rmse < 1 else "higher RMSE")
    a, b = abs(tanh["mfe"]), abs(relu["mfe"])
    if abs(b - a) <= LEVEL * max(a, b):
        return f"relu: {fit}, the same bias (|MFE|)"
    if "errors" in tanh and "errors" in relu:
        two_se = lambda e: 2 * float(np.std(e)) / np.sqrt(len(e))  # noqa: E731
        se_tanh = two_se(tanh["errors"])
        if a <= se_tanh and b <= two_se(relu["errors"]):
            return (f"relu: {fit}, no bias in either that this tail can show (|MFE| within two "
                    f"standard errors of 0, {se_tanh:.4f})")
        if abs(b - a) <= two_se(relu["errors"] - tanh["errors"]):
            return (f"relu: {fit}, the same bias (|MFE|: the gap, {abs(b - a):.4f}, is within "
                    "two standard errors)")
    return f"relu: {fit}, {'less' if b < a else 'more'} bias (|MFE|)"


def versus_linear(rmse, linear, window):
    """How the best recurrent model's RMSE stands against the linear AR(window) fit, said so
    that lower reads as better: worse than it, level with it, or better."""
    of = f"a linear AR({window}) fit by least squares on the same windows ({linear:.4f})"
    vs = rmse / linear
    if abs(vs - 1) < LEVEL:
        return (f"and is level with (within {LEVEL:.0%} of) {of}: a linear function of the "
                "last changes does as well here, so nothing on this series needs a model's "
                "state or its nonlinearity.")
    if vs > 1:
        return (f"but is worse than {of}, by {vs - 1:.1%} of its RMSE: a linear function of "
                "the last changes does better here, so nothing on this series needs a model's "
                "state or its nonlinearity.")
    return f"and is better than {of}, by {1 - vs:.1%} of its RMSE."


def main(argv=None):
    parser = demo_parser(__doc__, graph_default="out/timeseries.svg", steps_default=300,
                         graph_help="a small model's training step (H=4, a window of up to 6, untrained: small enough to read)")
    parser.add_argument("--series", choices=[*SERIES, "both"], default="both",
                        help="the noisy sine, the trending random walk, or both")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--model", choices=sorted(MODELS), default="lstm",
                        help="the model drawn by --graph / stepped by --step")
    parser.add_argument("--n", type=int, default=2000, help="length of each series")
    parser.add_argument("--window", type=int, default=24, help="input window W")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--batch", type=int, default=32, help="minibatch size")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    args = parser.parse_args(argv)
    for flag in ("steps", "n", "window", "hidden", "batch", "lr"):
        positive("--" + flag, getattr(args, flag))
    least = next(n for n in range(args.window, 10 * args.window + 20)  # 80% train, 20% test
                 if int(n * 0.8) >= args.window + 2 and n - int(n * 0.8) >= 1)
    if args.n < least:
        raise SystemExit(f"error: --n {args.n}: a series this short leaves no training window "
                         f"of --window {args.window}; use --n {least} or more")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise SystemExit(f"error: --models: unknown {unknown or models}; choose from "
                         f"{', '.join(MODELS)}")
    console = Console()
    names = list(SERIES) if args.series == "both" else [args.series]
    labels = {"sine": "noisy sine (period 50, noise 0.1)",
              "walk": "trending random walk (drift 0.05, N(0, 1) steps)"}

    # data, config, model, loss, loop, results: once per series
    results = {}
    for name in names:
        rng = np.random.default_rng(args.seed + SERIES.index(name))
        series = make_series(name, args.n, rng)
        data = prepare(series, args.window, 0.2)
        y, prev = data["y_test"], data["prev_test"]
        rows = {"naive (last value)": metrics(y, prev, prev),
                "last + train drift": metrics(y, prev + data["mean"], prev),
                f"linear AR({args.window})": metrics(y, linear_forecast(data), prev)}
        for kind in models:
            manual_seed(args.seed)
            model = Regressor(kind, args.hidden, np.random.default_rng(args.seed))
            # every model gets the same minibatches: drawn from the series' generator, each
            # model's depended on how many models had trained before it (--models' order)
            batches = np.random.default_rng((args.seed, SERIES.index(name)))
            start = time.perf_counter()
            with progress(args.steps, f"{name} · {kind}") as update:
                losses = train(model, data, args, batches, update)
            pred = forecast(model, data)
            row = metrics(y, pred, prev)
            row["errors"] = y - pred  # for relu_verdict's noise
            row["train"] = f"{np.mean(losses[-max(1, args.steps // 10):]):.3f}"
            row["time"] = f"{time.perf_counter() - start:.1f}s"
            row["losses"] = losses
            rows[kind] = row
        results[name] = rows
        console.print(f"{labels[name]}: {args.n} values, train {data['n_train']}, "
                      f"held-out tail {len(y)}; input: the last {args.window} changes, H={args.hidden}, "
                      f"{args.steps} Adam steps of {args.batch}")
        console.print(results_table(labels[name], rows))
        console.print("RMSE and MFE (mean forecast error, its bias) in the series' own units; "
                      "MDA: share of steps whose direction (up or down) is right; train MSE: "
                      "the last 10% of steps' loss, on normalised changes (so 1 = no better "
                      "than guessing the mean change)", style="dim")
        console.print()

    # what the numbers say
    for name, rows in results.items():
        naive = rows["naive (last value)"]["rmse"]
        trained = {m: r for m, r in rows.items() if m in MODELS}
        best = min(trained, key=lambda m: trained[m]["rmse"])
        ratio = trained[best]["rmse"] / naive
        verb = (f"is level with (within {LEVEL:.0%} of)" if abs(ratio - 1) < LEVEL else
                "beats" if ratio < 1 else "does not beat")
        console.print(f"{name}: best model {best} (RMSE {trained[best]['rmse']:.4f}) {verb} the "
                      f"naive last value ({naive:.4f}), "
                      + versus_linear(trained[best]["rmse"],
                                      rows[f"linear AR({args.window})"]["rmse"], args.window)
                      + (" A random walk's next step is noise: last value + drift is the best "
                         "forecast there is, so a model can only match it." if name == "walk"
                         else ""))
        for tanh_kind, relu_kind in (("lstm", "lstm-relu"), ("rnn", "rnn-relu")):
            if tanh_kind in trained and relu_kind in trained:
                a, b = trained[tanh_kind], trained[relu_kind]
                console.print(f"  tanh vs relu, {tanh_kind}: RMSE {a['rmse']:.4f} vs "
                              f"{b['rmse']:.4f}, MDA {fmt_mda(a['mda'])} vs {fmt_mda(b['mda'])}, "
                              f"MFE {a['mfe']:+.4f} vs {b['mfe']:+.4f}: {relu_verdict(a, b)}")

    # one more training step's graph, to draw or to step through (each runs its backward)
    if args.graph or args.step:
        data = prepare(make_series(names[0], args.n, np.random.default_rng(args.seed)),
                       min(args.window, 6), 0.2)
        model = Regressor(args.model, 4, np.random.default_rng(args.seed))
        x, y = Tensor(data["x_train"][:, :2]), Tensor(data["y_train"][:2])

        def one_loss():
            return F.mse_loss(model(x), y)
        graph_and_steps(args, one_loss, model, title=f"timeseries · {args.model}")
    return results


if __name__ == "__main__":
    run_demo(main)
