"""The demos' own arithmetic, pinned where a second mutation review found no test: the
time-series forecast and its metrics, the adding problem's inputs and verdicts, the char-LM's
stream restarts, evaluation and sampling, and RTRL's cost count. Each assertion here failed on
a plausible bug that every other test let through."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from test_demos_charlm import load_demo

from tinygrad_lstm import Tensor


@pytest.fixture(scope="module")
def ts():
    return load_demo("timeseries")


@pytest.fixture(scope="module")
def lm():
    return load_demo("long_memory")


@pytest.fixture(scope="module")
def charlm():
    return load_demo("charlm")


@pytest.fixture(scope="module")
def gates():
    return load_demo("gates")


def rendered(table):
    console = Console(file=io.StringIO(), width=120)
    console.print(table)
    return console.file.getvalue()


# --------------------------------------------------------------------------- timeseries

def test_forecast_targets_their_last_values_and_adds_the_change(ts):
    series = np.cumsum(np.random.default_rng(0).standard_normal(60)) + 10
    data = ts["prepare"](series, 5, 0.2)
    n_test = len(data["y_test"])
    np.testing.assert_array_equal(data["y_test"], series[-n_test:])
    np.testing.assert_array_equal(data["prev_test"], series[-n_test - 1:-1])  # one step back

    class Predicts:  # a model whose normalised change is a constant
        def __init__(self, z):
            self.z = z

        def __call__(self, x):
            return Tensor(np.full((x.shape[1], 1), self.z, np.float32))
    for z in (0.0, 1.0):
        np.testing.assert_allclose(ts["forecast"](Predicts(z), data),
                                   data["prev_test"] + z * data["std"] + data["mean"], rtol=1e-6)


def test_metrics_table_reads_as_its_columns_say(ts):
    assert ts["fmt_mda"](0.6) == "60.0%" and ts["fmt_mda"](None) == "n/a"
    m = ts["metrics"](np.array([2.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 0.0]))
    assert m == {"rmse": 1.0, "mda": 0.5, "mfe": 0.0}
    rows = {"naive (last value)": {"rmse": 2.0, "mda": None, "mfe": 0.1},
            "lstm": {"rmse": 1.0, "mda": 0.6, "mfe": -0.2}}
    line = next(l for l in rendered(ts["results_table"]("s", rows)).splitlines()
                if l.lstrip().startswith("lstm"))
    assert "0.500" in line and "60.0%" in line and "-0.2000" in line  # rmse / naive's


# --------------------------------------------------------------------------- long_memory

def test_adding_inputs_are_centred_values_and_0_1_markers_then_quiet(lm):
    x, y = lm["batch"](10, 3, 4, np.random.default_rng(0))
    assert x.shape == (13, 4, 2) and y.shape == (4, 1)
    assert set(np.unique(x[:10, :, 1])) == {0.0, 1.0}  # the markers are left as they are
    assert (x[:10, :, 0] >= -0.5).all() and (x[:10, :, 0] < 0.5).all()
    assert not x[10:].any()  # the quiet steps: value ½ before centring, no marker


def test_verdicts_curves_and_the_runs_compared(lm):
    assert [lm["verdict"](m, 1.0) for m in (0.05, 0.15, 0.8)] == ["yes", "partly", "no"]
    assert lm["curve"]([0.95], 1.0) == "█" and lm["curve"]([0.0], 1.0) == "▁"
    assert lm["curve"]([0.5], 1.0) == lm["SPARK"][4]  # round(3.5): ▅, not ▄
    args = SimpleNamespace(models=["lstm"], truncation="on", window=10, delay=10)
    assert lm["experiments"](args) == [
        ("LSTM", "lstm", 0, None), ("LSTM TBPTT k=10", "lstm", 0, 10),
        ("LSTM +10 quiet", "lstm", 10, None),  # the control: full BPTT over the quiet steps
        ("LSTM +10 quiet TBPTT k=10", "lstm", 10, 10)]


# --------------------------------------------------------------------------- gates

def test_the_carousel_cells_are_the_1997_cell_with_gates_taken_out(gates):
    # each cell's step against its equations by hand, a missing gate 1 (float64)
    rng = np.random.default_rng(0)
    B, H = 3, 4
    h_prev, c_prev = rng.standard_normal((2, B, H))
    squash = lambda z: 2 * np.tanh(z / 2)                     # noqa: E731
    sigma = lambda z: 1 / (1 + np.exp(-z))                     # noqa: E731
    for kind, names in (("none", "g"), ("input", "ig"), ("output", "go"), ("both", "igo")):
        cell = gates["CELLS"][kind](2, H, dtype=np.float64, rng=np.random.default_rng(1))
        assert cell.weight_hh.shape == (len(names) * H, H)
        xw = rng.standard_normal((B, len(names) * H))
        out = cell.step(Tensor(xw), (Tensor(h_prev), Tensor(c_prev)), cell.recurrent())
        a = dict(zip(names, np.split(xw + h_prev @ cell.weight_hh.data.T, len(names), axis=1)))
        i = sigma(a["i"]) if "i" in a else 1.0
        o = sigma(a["o"]) if "o" in a else 1.0
        c = c_prev + i * squash(a["g"])
        np.testing.assert_allclose(out["c"].data, c, rtol=1e-12)
        np.testing.assert_allclose(out["h"].data, o * np.tanh(c / 2), rtol=1e-12)
        assert set(out) == set(names) | {"c", "h"}


def test_recall_stores_each_value_once_and_asks_for_one_at_the_end(gates):
    T, B, K, S = 12, 500, 3, 6
    x, y = gates["recall_batch"](T, B, np.random.default_rng(0), slots=K, store=S)
    assert x.shape == (T, B, 1 + 2 * K) and y.shape == (B, 1)
    markers, queries = x[:, :, 1:1 + K], x[:, :, 1 + K:]
    assert (markers.sum(axis=0) == 1).all() and not markers[S:].any()  # once, in the store
    assert (markers.sum(axis=2) <= 1).all()                  # one slot a step: distinct steps
    assert (queries[-1].sum(axis=1) == 1).all() and not queries[:-1].any()
    step = markers.argmax(axis=0)                            # (B, K): when each value came
    values = x[step, np.arange(B)[:, None], 0]               # u at those steps
    asked = queries[-1].argmax(axis=1)
    np.testing.assert_array_equal(y[:, 0], values[np.arange(B), asked])
    assert np.bincount(asked, minlength=K).min() > B / K / 2  # every slot gets asked
    noise = np.ones((T, B), bool)
    noise[step, np.arange(B)[:, None]] = False
    assert 0.25 < x[:, :, 0][noise].var() < 0.42             # U(−1, 1) noise elsewhere: 1/3
    x2, y2 = gates["recall_batch"](T, B, np.random.default_rng(0), slots=K, store=S,
                                   ask_one=False)
    assert y2.shape == (B, K) and not x2[:, :, 1 + K:].any()  # no query; every value
    np.testing.assert_array_equal(y2, x2[x2[:, :, 1:1 + K].argmax(axis=0),
                                          np.arange(B)[:, None], 0])
    with pytest.raises(ValueError, match="slots ≤ store < T"):
        gates["recall_batch"](T, 2, np.random.default_rng(0), slots=7, store=6)


def test_the_gate_readings_pick_the_units_that_tell_the_cases_apart(gates):
    T, B, H = 5, 4, 3
    i = np.full((T, B, H), 0.5)
    marked = np.zeros((T, B), bool)
    marked[1, :] = marked[3, :2] = True
    i[..., 2] = np.where(marked, 0.9, 0.1)             # unit 2 opens on the marked steps
    i[..., 0] = np.where(marked, 0.6, 0.5)
    i = np.concatenate([i, np.full((T, B, 1), 0.95)], axis=2)  # wide open everywhere: not it
    unit, on, off = gates["input_gate_opening"](i, marked)
    assert (unit, on, off) == (2, pytest.approx(0.9), pytest.approx(0.1))
    o = np.full((T, B, H), 0.3)
    asked = np.array([0, 1, 1, 0])
    o[-1, :, 1] = np.where(asked == 1, 0.95, 0.05)     # unit 1 opens when slot 1 is asked
    o[-1, :, 0] = np.where(asked == 0, 0.6, 0.4)
    (u1, p1, before1), (u0, p0, _) = gates["output_gate_choice"](o, asked, 2, top=2)
    assert (u1, u0) == (1, 0) and p1 == pytest.approx([0.05, 0.95])
    assert p0 == pytest.approx([0.6, 0.4]) and before1 == pytest.approx(0.3)


def test_the_gate_readings_are_of_the_first_seed_and_said_only_where_they_show_it(gates):
    rows = [{"task": t, "kind": k, "seed": seed} for seed in (2, 0, 1) for t in ("adding",)
            for k in ("input", "both")]
    assert {t: r["seed"] for t, r in gates["first_of_both"](rows).items()} == {"adding": 0}
    say = lambda found: " ".join(                                  # noqa: E731
        line for line in gates["opened_lines"](found, {"adding": 0, "recall-one": 0}, 3)
        if isinstance(line, str))
    assert say({"adding": (4, 0.65, 0.03)}).endswith("unit 4 is 0.65 on the marked steps and "
                                                     "0.03 on the others (of its units, the "
                                                     "one whose i tells them apart most): the "
                                                     "marker opens it.")
    for on, off in ((0.45, 0.03), (0.65, 0.25)):
        assert "opens it" not in say({"adding": (4, on, off)})
    choice = [(1, [0.9, 0.05, 0.1], 0.3), (2, [0.1, 0.8, 0.6], 0.4)]
    assert "opens to 0.80 or more when one slot is asked for and shuts to 0.10 or less when " \
           "another is: the query chooses" in say({"recall-one": choice})
    for worse in ([(1, [0.9, 0.05, 0.1], 0.3), (2, [0.45, 0.1, 0.2], 0.4)],   # one stays shut
                  [(1, [0.9, 0.05, 0.1], 0.3), (2, [0.3, 0.8, 0.6], 0.4)]):  # one never shuts
        assert "do not open wide for one slot and shut for another" in say({"recall-one": worse})
    assert gates["opened_lines"]({}, {}, 3) == []


def test_the_gates_verdicts_follow_their_counts(gates):
    said_in = gates["input_verdict"]
    text = said_in({"none": 0, "input": 3, "output": 0, "both": 4}, 4)
    assert text.startswith("Input weight conflict: without an input gate the carousel learned "
                           "the adding problem in none of 4 seeds")
    assert "learned in 3 of 4 with it alone, 4 of 4 with both gates" in text
    for learned, hint in (({"none": 1, "input": 4, "output": 0, "both": 4}, "not what the"),
                          ({"none": 0, "input": 4, "output": 2, "both": 4}, "not what the"),
                          ({"none": 0, "input": 0, "output": 0, "both": 0}, "more --steps")):
        text = said_in(learned, 4)
        assert "does not show the input weight conflict" in text and hint in text, text
    assert said_in({"none": 0, "input": 3}, 4) is None  # not every cell run: nothing said
    said_out = gates["output_verdict"]
    one, all_ = {"none": 0, "input": 0, "output": 0, "both": 3}, {"none": 0, "input": 4,
                                                                  "output": 0, "both": 4}
    text = said_out(one, all_, 4)
    assert text.startswith("Output weight conflict") and "in 4 of 4" in text \
        and "(0 of 4)" in text and "learned in 3 of 4" in text
    for o, a, hint in (({**one, "input": 1}, all_, "not what the conflict predicts"),
                       ({**one, "none": 1}, all_, "not what the conflict predicts"),
                       (one, {**all_, "input": 0}, "did not store the values either"),
                       ({**one, "both": 0}, all_, "more --steps")):
        text = said_out(o, a, 4)
        assert "does not show the output weight conflict" in text and hint in text, text
    assert said_out(one, {}, 4) is None


# --------------------------------------------------------------------------- charlm

def test_restart_some_zeroes_about_p_of_the_streams(charlm):
    hx = Tensor(np.ones((1, 1000, 3), np.float32))
    assert charlm["restart_some"](hx, np.random.default_rng(0), 0.0) is hx
    out = charlm["restart_some"](hx, np.random.default_rng(0), 0.05)
    zeroed = float((out.data[0, :, 0] == 0).mean())
    assert 0.02 < zeroed < 0.09
    assert ((out.data == 0).all(axis=2) | (out.data == 1).all(axis=2)).all()  # whole streams


def _small_lm(charlm, text):
    from tinygrad_lstm.data import CharVocab
    vocab = CharVocab(text)
    cfg = SimpleNamespace(embedding=0, hidden=8, cell="lstm", forget_bias=0.0, layers=1,
                          dropout=0.0, tie=False)
    return charlm["CharLM"](len(vocab), cfg, np.random.default_rng(0)), vocab


def test_evaluation_weighs_every_character_once(charlm):
    text = "the quick brown fox jumps over the lazy dog " * 3
    model, vocab = _small_lm(charlm, text)
    ids = vocab.encode(text)
    whole = charlm["evaluate"](model, ids, batch_size=2, seq_len=10 ** 6)
    chunked = charlm["evaluate"](model, ids, batch_size=2, seq_len=7)  # a short last chunk
    assert chunked == pytest.approx(whole, rel=1e-5)


def test_a_cold_sample_is_the_most_likely_one(charlm):
    model, vocab = _small_lm(charlm, "abcdefgh")
    greedy = charlm["sample"](model, vocab, "ab", 12, temperature=0)
    assert charlm["sample"](model, vocab, "ab", 12, temperature=1e-4) == greedy


# --------------------------------------------------------------------------- rtrl

def test_rtrl_and_bptt_multiply_adds_as_counted():
    rtrl = load_demo("rtrl")
    H, I = 4, 3
    n = rtrl["n_params"](H, I)
    # RTRL: W_hh · P (H·H·n), tanh' and (h − y)ᵀP (H·n each), the forward (H·I + H²);
    # BPTT: the forward and the backward, 2·H·I + 3·H²
    assert rtrl["macs_per_step"](H, I) == (H * H * n + 2 * H * n + H * I + H * H,
                                           2 * H * I + 3 * H * H)


def test_training_starts_each_pass_over_the_text_from_a_fresh_state(charlm, tmp_path, monkeypatch):
    # the state carried from the text's end into its start again joins two unrelated places
    from tinygrad_lstm.data import CharStream, load_text
    path = tmp_path / "t.txt"
    path.write_text(load_text()[:3000], encoding="utf-8")
    starts, fresh = [], []
    next_batch, forward = CharStream.next_batch, charlm["CharLM"].forward

    def spy_batch(self):
        starts.append(self.at_epoch_start)
        return next_batch(self)

    def spy_forward(self, x, hx=None, **kw):
        if self.training:
            fresh.append(hx is None)
        return forward(self, x, hx, **kw)
    monkeypatch.setattr(CharStream, "next_batch", spy_batch)
    monkeypatch.setattr(charlm["CharLM"], "forward", spy_forward)
    charlm["main"](["--data", str(path), "--hidden", "8", "--batch-size", "4", "--seq-len", "16",
                    "--steps", "100", "--sample-chars", "0"])
    assert len(starts) == len(fresh) == 100 and sum(starts) >= 3  # three passes or more
    assert fresh == starts
