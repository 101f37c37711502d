"""The teaching demos (vanishing, long_memory, timeseries, variants) run in seconds with a tiny
--steps and their results move the right way."""

import math
import runpy
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lstm import Tensor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demos():
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = runpy.run_path(str(ROOT / "demos" / f"{name}.py"), run_name=name)
        return cache[name]
    return load


# ---------------------------------------------------------------------------- vanishing
def test_vanishing_toy_engine_equals_hand_formula_and_rnn_vanishes(demos):
    r = demos("vanishing")["main"](["--steps", "1", "--toy-T", "6"])
    for row in r["toy"] + r["toy_explode"]:
        # ∂h_t/∂h_{t-1} = 3 · (1 − h_t²), from the engine's backward and by hand
        assert row["factor"] == pytest.approx(3.0 * (1.0 - row["h"] ** 2), rel=1e-12)
        assert row["factor_engine"] == pytest.approx(row["factor"], rel=1e-10)
        assert row["running_engine"] == pytest.approx(row["running"], rel=1e-10)
    assert r["toy_max_rel_diff"] < 1e-10
    assert r["toy_explode"][-1]["running"] == pytest.approx(3.0 ** 6)      # exploding: 3^T
    assert r["toy"][-1]["running"] < 1e-3                                  # saturated: vanishing
    norms = r["norms"]
    rnn_0, lstm3_0 = norms["RNN"]["h"][0], norms["LSTM fb=3"]["h"][0]
    assert rnn_0 < 1e-10 * lstm3_0, (rnn_0, lstm3_0)                       # orders of magnitude
    assert norms["RNN"]["h"][0] < 1e-10 * norms["LSTM fb=3"]["c"][0]
    assert r["ratios"]["LSTM fb=3 c"] > 1e4 * r["ratios"]["LSTM fb=0 c"]   # the forget bias


# ---------------------------------------------------------------------------- long_memory
def test_long_memory_lstm_beats_the_baseline_in_the_short_setting(demos):
    r = demos("long_memory")["main"](["--models", "lstm", "--truncation", "off",
                                      "--T", "10", "--steps", "150"])
    assert abs(r["baseline"] - 1 / 6) < 0.02            # 'always 1' on this generator
    (lstm,) = r["rows"]
    assert lstm["mse"] < 0.25 * r["baseline"], lstm["mse"]


def test_long_memory_truncation_cuts_the_gradient_k_steps_back(demos):
    mod = demos("long_memory")
    T, k = 12, 4
    x, _ = mod["batch"](T, 0, 3, np.random.default_rng(0))
    for window, reached in ((None, T), (k, k)):
        model = mod["Adder"]("lstm", 5, 1.0, np.random.default_rng(0))
        xt = Tensor(x, requires_grad=True)
        model(xt, window).sum().backward()
        per_step = np.abs(xt.grad).sum(axis=(1, 2))     # ‖∂L/∂x_t‖₁ for each t
        assert np.all(per_step[T - reached:] > 0)
        assert np.all(per_step[:T - reached] == 0)


# ---------------------------------------------------------------------------- timeseries
def test_timeseries_lstm_beats_naive_on_the_sine(demos):
    r = demos("timeseries")["main"](["--series", "sine", "--models", "lstm,lstm-relu",
                                     "--steps", "60"])
    sine = r["sine"]
    assert sine["lstm"]["rmse"] < sine["naive (last value)"]["rmse"]
    assert sine["lstm"]["mda"] > 0.55
    assert sine["naive (last value)"]["mda"] is None                 # predicts no change
    assert np.isfinite(sine["lstm-relu"]["rmse"])


def test_timeseries_says_how_long_a_series_must_be(demos):
    main = demos("timeseries")["main"]
    with pytest.raises(SystemExit, match="--n 32: .* no training window of --window 24; "
                                         "use --n 33 or more"):
        main(["--n", "32", "--steps", "1"])
    r = main(["--n", "33", "--steps", "1", "--series", "sine", "--models", "lstm"])
    assert np.isfinite(r["sine"]["lstm"]["rmse"])


def test_long_memory_refuses_a_negative_delay(demos):
    with pytest.raises(SystemExit, match="--delay must be 0 or more, got -3"):
        demos("long_memory")["main"](["--steps", "1", "--T", "10", "--delay", "-3"])


def test_timeseries_metrics_and_train_only_normalisation(demos):
    mod = demos("timeseries")
    m = mod["metrics"](np.array([1.0, 2.0, 1.0]), np.array([0.5, 0.5, 1.5]),
                       np.array([0.0, 1.0, 2.0]))
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 2.25 + 0.25) / 3))
    assert m["mda"] == pytest.approx(2 / 3)
    assert m["mfe"] == pytest.approx(0.5)
    series = np.cumsum(np.random.default_rng(1).standard_normal(300)) + np.arange(300)
    data = mod["prepare"](series, 8, 0.2)
    d = np.diff(series)[:data["n_train"] - 1]      # the changes inside the first 80% only
    assert data["mean"] == pytest.approx(d.mean()) and data["std"] == pytest.approx(d.std())
    assert len(data["y_test"]) == 300 - data["n_train"]
    np.testing.assert_allclose(data["y_test"], series[data["n_train"]:])


# ---------------------------------------------------------------------------- variants
def test_every_variant_loss_falls(demos):
    r = demos("variants")["main"](["--steps", "30", "--chars", "20000", "--hidden", "32",
                                  "--seq-len", "16"])
    assert set(r) == {"lstm", "lstm-1997", "coupled", "peephole", "gru", "gru-cho", "rnn"}
    for name, v in r.items():
        assert v["final_loss"] < v["first_loss"] - 0.3, (name, v["first_loss"], v["final_loss"])
        assert v["val_loss"] < math.log(60), name
    p = {name: v["rnn_params"] for name, v in r.items()}
    assert p["peephole"] == p["lstm"] + 3 * 32                    # w_ci, w_cf, w_co: (H,) each
    assert p["coupled"] == p["lstm-1997"] == p["gru"] == 3 * p["lstm"] // 4
