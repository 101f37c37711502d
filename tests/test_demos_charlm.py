"""The character-level LM demo (demos/charlm.py) and the activations demo (demos/activations.py):
short runs on a 30,000-character slice of the corpus that must move the right way."""

import math
import re
import runpy
import shlex
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lstm import checkpoint, optim
from tinygrad_lstm.data import load_text

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--hidden", "32", "--embedding", "16", "--batch-size", "8", "--seq-len", "16",
         "--sample-chars", "0", "--eval-every", "0"]


def load_demo(name):
    return runpy.run_path(str(ROOT / "demos" / f"{name}.py"), run_name=name)


@pytest.fixture(scope="module")
def charlm():
    return load_demo("charlm")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("charlm") / "small.txt"
    path.write_text(load_text()[:30000], encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("layers,embedding", [(1, 8), (2, 8)])
def test_charlm_drops_out_on_every_non_recurrent_connection(charlm, layers, embedding):
    # Zaremba et al. 2014: into the first layer, between layers and into the head, L + 1 in
    # all; the embedding's output went into layer 0 undropped (a review of the seed notes)
    from tinygrad_lstm import autograd
    cfg = charlm["Config"](layers=layers, hidden=6, embedding=embedding, dropout=0.5)
    model = charlm["CharLM"](11, cfg, np.random.default_rng(0))
    logits, _ = model(np.arange(8).reshape(4, 2) % 11)
    masks = [p for t in autograd.toposort(logits.sum()) if t._ctx is not None
             for p in t._ctx.parents if p.name == "dropout mask"]  # (constants: not walked)
    assert len(masks) == layers + 1
    assert {m.shape[-1] for m in masks} == {6, embedding}


def test_charlm_learns_well_below_uniform(charlm, text_file):
    r = charlm["main"](["--data", text_file, "--hidden", "48", "--batch-size", "16",
                        "--seq-len", "32", "--lr", "0.01", "--steps", "60", "--sample-chars", "0"])
    uniform = math.log(len(r.vocab))                  # ln(58) = 4.06 for this slice
    assert r.step == 60 and r.chars_per_s > 0
    assert r.val_loss < uniform - 1.0, (r.val_loss, uniform)   # at least 1 nat/char learned
    assert r.train_loss < uniform - 1.0


def test_resume_continues_exactly_where_it_stopped(charlm, text_file, tmp_path, capsys):
    # two layers with dropout: the carried state, the stream position, Adam's moments and the
    # dropout generator must all come back for the resumed run to equal the uninterrupted one
    flags = SMALL + ["--data", text_file, "--layers", "2", "--dropout", "0.2", "--lr-final", "1"]
    a, b, c = (str(tmp_path / n) for n in ("a.npz", "b.npz", "c.npz"))
    charlm["main"](flags + ["--steps", "3", "--save", a])
    assert checkpoint.load(a)["step"] == 3
    shutil_copy(a, b)
    r = charlm["main"](["--data", text_file, "--resume", b, "--steps", "6", "--save", b,
                        "--sample-chars", "0"])
    out = capsys.readouterr().out
    assert "resumed" in out and r.step == 6 and "note:" not in out
    # a --seed that is not used, and a resumed run that keeps nothing, are said (both went
    # without a word)
    charlm["main"](["--data", text_file, "--resume", b, "--steps", "7", "--seed", "3",
                    "--sample-chars", "5"])
    out = capsys.readouterr().out
    assert "note: --seed only seeds the final sample when resuming" in out
    assert f"note: no --save: the 1 step of this run will not be kept (--save {b}" in out
    charlm["main"](["--data", text_file, "--resume", b, "--steps", "7", "--seed", "3",
                    "--sample-chars", "0"])
    assert "note: --seed is not used when resuming" in capsys.readouterr().out  # no sample
    # other chunks: the run read the text from the start without a word (review helper)
    charlm["main"](["--data", text_file, "--resume", b, "--steps", "7", "--batch-size", "4",
                    "--sample-chars", "0"])
    assert ("note: --batch-size 4 / --seq-len 16 cut the text into other chunks than the "
            "checkpoint's (8 / 16): reading it from the start" in capsys.readouterr().out)
    # a --steps not past the checkpoint's step trained nothing without a word (review helper)
    charlm["main"](["--data", text_file, "--resume", b, "--steps", "5", "--sample-chars", "0"])
    assert ("note: --steps 5 is not past the checkpoint's step 6: nothing to train"
            in capsys.readouterr().out)
    charlm["main"](flags + ["--steps", "6", "--save", c])
    resumed, straight = checkpoint.load(b), checkpoint.load(c)
    assert resumed["step"] == straight["step"] == 6
    assert resumed["stream"] == straight["stream"]
    # the printed `step N: train X` (a moving average of the step losses) restarted from the
    # first resumed step's loss and read differently for hundreds of steps (review helper)
    assert resumed["smooth"] == straight["smooth"] and math.isfinite(straight["smooth"])
    assert_same(resumed["optimizer"], straight["optimizer"])
    assert_same(resumed["model"], straight["model"])
    assert r.config.layers == 2 and r.config.dropout == 0.2   # taken from the checkpoint


def ctrl_c_in_step(k, monkeypatch):
    """Ctrl-C arrives in training step k, mid-step (in the clip, before the update: the step
    completes). Returns the real clip_grad_norm_, to put back."""
    calls, clip = [], optim.clip_grad_norm_

    def clip_and_signal(*args):
        calls.append(1)
        if len(calls) == k:
            signal.raise_signal(signal.SIGINT)
        return clip(*args)

    monkeypatch.setattr(optim, "clip_grad_norm_", clip_and_signal)
    return clip


def test_ctrl_c_stops_between_steps_and_saves_a_resumable_checkpoint(charlm, text_file, tmp_path,
                                                                     capsys, monkeypatch):
    flags = SMALL + ["--data", text_file, "--lr-final", "1"]
    a, c = str(tmp_path / "a.npz"), str(tmp_path / "c.npz")
    clip = ctrl_c_in_step(3, monkeypatch)
    before = signal.getsignal(signal.SIGINT)  # not always Python's default (nohup, &)
    # run as the console script runs it: the hint names that command (it said `python
    # demos/charlm.py`, which fails where there is no demos/ folder)
    monkeypatch.setenv("TINYGRAD_LSTM_PROG", "tinygrad-lstm charlm")
    r = charlm["main"](flags + ["--steps", "50", "--save", a, "--temperature", "0.5",
                                "--seed", "3"])
    out = capsys.readouterr().out
    assert r.step == 3 and "stopped by Ctrl-C at step 3" in out
    # the hint repeats --save and --data (without them it saved nothing, or refused the
    # checkpoint's vocabulary: found by the review helper), and the flags given that the
    # checkpoint does not keep (a resumed run printed the 400-character sample asked away)
    hint = re.search(r"to go on: tinygrad-lstm charlm (.*)", out).group(1)
    assert shlex.split(hint) == ["--resume", a, "--save", a, "--steps", "50", "--data", text_file,
                                 "--temperature", "0.5", "--sample-chars", "0", "--seed", "3"]
    assert signal.getsignal(signal.SIGINT) is before  # given back
    monkeypatch.setattr(optim, "clip_grad_norm_", clip)
    again = shlex.split(hint)
    again[again.index("--steps") + 1] = "6"
    charlm["main"](again + ["--sample-chars", "0"])  # the hint's command, for 6 steps
    charlm["main"](flags + ["--steps", "6", "--save", c, "--seed", "3"])
    assert_same(checkpoint.load(a)["model"], checkpoint.load(c)["model"])


def test_a_resumed_run_goes_on_to_its_own_steps(charlm, text_file, tmp_path, capsys,
                                               monkeypatch):
    """--steps was not saved: a --steps 6 run stopped at step 3 and resumed without --steps
    went on to the default 1000, its learning rate decaying over 1000 steps from then on
    (found by a review helper). The planned total is saved now and is the default on resume."""
    flags = SMALL + ["--data", text_file, "--sample-chars", "0"]  # the rate decays
    a, c = str(tmp_path / "a.npz"), str(tmp_path / "c.npz")
    clip = ctrl_c_in_step(3, monkeypatch)
    assert charlm["main"](flags + ["--steps", "6", "--save", a]).step == 3
    monkeypatch.setattr(optim, "clip_grad_norm_", clip)
    capsys.readouterr()
    r = charlm["main"](["--resume", a, "--save", a, "--data", text_file, "--sample-chars", "0"])
    assert r.step == 6 and checkpoint.load(a)["steps"] == 6
    assert "note: going on to step 6, the run's --steps (saved with it)" in capsys.readouterr().out
    charlm["main"](flags + ["--steps", "6", "--save", c])
    assert_same(checkpoint.load(a)["model"], checkpoint.load(c)["model"])
    assert_same(checkpoint.load(a)["optimizer"], checkpoint.load(c)["optimizer"])
    # a finished run resumed without --steps trains nothing, and says so
    r = charlm["main"](["--resume", c, "--data", text_file, "--sample-chars", "0"])
    assert r.step == 6 and ("note: --steps 6 (the run's own, saved with it) is not past the "
                            "checkpoint's step 6: nothing to train" in capsys.readouterr().out)
    # a given --steps still wins
    assert charlm["main"](["--resume", c, "--data", text_file, "--sample-chars", "0",
                           "--steps", "7"]).step == 7


def test_sigterm_stops_between_steps_saves_and_ends(charlm, text_file, tmp_path, capsys,
                                                    monkeypatch):
    """`kill`, `timeout` or a scheduler's stop (SIGTERM) ended the run at once and lost it
    (found by the review helper): it now stops after the step, saves, and ends with status
    128 + 15, without the evaluation and sample."""
    a = str(tmp_path / "a.npz")
    calls, clip = [], optim.clip_grad_norm_

    def term_in_step_2(*args):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
        return clip(*args)

    monkeypatch.setattr(optim, "clip_grad_norm_", term_in_step_2)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        charlm["main"](SMALL + ["--data", text_file, "--steps", "50", "--save", a])
    assert e.value.code == 128 + signal.SIGTERM
    out = capsys.readouterr()
    assert "SIGTERM: stopping after this step" in out.err
    assert "stopped by SIGTERM at step 2" in out.out and "to go on:" in out.out
    assert "after 2 steps" not in out.out  # no evaluation
    assert int(checkpoint.load(a)["step"]) == 2
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_sigterm_quits_at_once_as_sigterm(charlm, text_file, tmp_path, capsys,
                                                    monkeypatch):
    # it said "interrupted", status 130, as for Ctrl-C (review helper)
    calls, clip = [], optim.clip_grad_norm_

    def two_terms(*args):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
        return clip(*args)

    monkeypatch.setattr(optim, "clip_grad_norm_", two_terms)
    with pytest.raises(SystemExit) as e:
        charlm["main"](SMALL + ["--data", text_file, "--steps", "50"])
    assert e.value.code == 128 + signal.SIGTERM
    assert "SIGTERM again: quitting at once" in capsys.readouterr().err


def test_stop_between_steps_leaves_a_handler_not_set_from_python(monkeypatch):
    # signal.signal() gives None for a handler a host program set; restoring None raised
    from tinygrad_lstm.cli import StopBetweenSteps
    real = signal.signal
    monkeypatch.setattr(signal, "signal", lambda s, h: None if h is not None and
                        getattr(h, "__self__", None) is not None else real(s, h))
    with StopBetweenSteps():
        pass


def test_ctrl_c_during_the_final_save_lets_it_finish(charlm, text_file, tmp_path, capsys,
                                                     monkeypatch):
    """The final save ran after the Ctrl-C handler was given back: one Ctrl-C there ended the
    process and the run's steps were lost (found by the review helper)."""
    a = tmp_path / "a.npz"
    save = checkpoint.save

    def ctrl_c_while_saving(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", ctrl_c_while_saving)
    charlm["main"](SMALL + ["--data", text_file, "--steps", "3", "--save", str(a),
                            "--sample-chars", "0"])
    out = capsys.readouterr().out
    assert "saved" in out and "to go on" not in out  # nothing is left to run (review helper)
    monkeypatch.setattr(checkpoint, "save", save)
    assert int(checkpoint.load(a)["step"]) == 3


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["config"].__setitem__("cell", "foo"),
     r"config 'cell' is 'foo', expected gru or lstm or rnn"),
    (lambda c: c.__setitem__("step", "12"), r"step is '12', expected a whole number"),
    (lambda c: c.__setitem__("seconds", "x"), r"seconds is 'x', expected a number"),
    (lambda c: c["config"].__setitem__("hidden", "32"),
     r"config 'hidden' is '32', expected an int"),
    (lambda c: c["config"].__setitem__("dropout", "0.1"), r"config 'dropout' is '0.1'"),
    (lambda c: c.__setitem__("vocab", 5), r"vocab is 5, expected the text's characters"),
    (lambda c: c.__setitem__("rng", {"bit_generator": "MT19937"}),
     r"rng: state must be for a PCG64"),
    (lambda c: c.__setitem__("stream", {"position": 1}), r"stream is \{'position': 1\}"),
    (lambda c: c.__setitem__("hx", [np.zeros((1, 2, 3), np.float32)] * 2),
     r"hx holds \[\(\(1, 2, 3\), 'float32'\), .*\], expected 2 float32 arrays of \(1, 8, 32\)"),
    (lambda c: c.__setitem__("hx", c["hx"][:1]), r"hx holds .*expected 2 float32 arrays"),
    (lambda c: c.__setitem__("smooth", "2.5"), r"smooth is '2.5', expected the smoothed"),
    # (review helper: a traceback; then "training diverged (a lower --lr?)", blaming the lr)
    (lambda c: c["rng"]["state"].__setitem__("state", 2 ** 200), r"rng: "),  # (numpy 1.22
    # takes −1, wrapped; 2**200 is an OverflowError in every numpy)
    (lambda c: c["model"]["rnn.weight_hh_l0"].__setitem__((0, 0), np.nan),
     r"model 'rnn.weight_hh_l0' is not finite \(the file, not this run"),
    (lambda c: next(iter(c["optimizer"]["state"].values()))["exp_avg"].__setitem__(0, np.inf),
     r"optimizer state 'exp_avg' of parameter \d+ is not finite"),
])
def test_a_checkpoint_holding_values_charlm_never_saves_is_refused_in_one_line(
        charlm, text_file, tmp_path, edit, message):
    """A hand-edited or foreign checkpoint (a string step, an unknown cell, a carried state of
    another shape) ended in a traceback (found by the review helper)."""
    good = tmp_path / "good.npz"
    charlm["main"](SMALL + ["--data", text_file, "--steps", "2", "--save", str(good)])
    ck = checkpoint.load(good)
    edit(ck)
    bad = tmp_path / "bad.npz"
    checkpoint.save(ck, bad)
    with pytest.raises(SystemExit, match=r"^error: cannot resume from .*bad\.npz: " + message):
        charlm["main"](["--data", text_file, "--resume", str(bad), "--steps", "3",
                        "--sample-chars", "0"])


def test_a_resumed_run_that_trains_nothing_leaves_its_checkpoint_alone(charlm, text_file,
                                                                      tmp_path, capsys):
    # it wrote the file anew with this run's flags: another --batch-size put its place in the
    # text back to 0 and dropped its carried state, without a word (review helper)
    path = tmp_path / "k.npz"
    charlm["main"](SMALL + ["--data", text_file, "--steps", "3", "--save", str(path)])
    before = path.read_bytes()
    flags = [f for f in SMALL if f not in ("--batch-size", "8")]
    charlm["main"](flags + ["--batch-size", "4", "--data", text_file, "--steps", "2",
                            "--resume", str(path), "--save", str(path)])
    assert "nothing trained: " + str(path) + " not written" in capsys.readouterr().out
    assert path.read_bytes() == before
    charlm["main"](SMALL + ["--data", text_file, "--steps", "4", "--resume", str(path),
                            "--save", str(path)])  # one step trained: saved
    assert checkpoint.load(path)["step"] == 4


def test_resume_refuses_corrupt_and_mismatched_checkpoints(charlm, text_file, tmp_path):
    good = tmp_path / "good.npz"
    charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--save", str(good)])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:-200])          # truncated
    with pytest.raises(SystemExit, match=r"bad\.npz"):
        charlm["main"](["--data", text_file, "--resume", str(bad), "--steps", "2"])
    with pytest.raises(SystemExit, match=r"good\.npz was saved with hidden=32 .* --hidden 64"):
        charlm["main"](["--data", text_file, "--resume", str(good), "--hidden", "64"])
    other = tmp_path / "other.txt"
    other.write_text("abc abc abc\n" * 100, encoding="utf-8")
    with pytest.raises(SystemExit, match=r"good\.npz key 'vocab'.*…, but this text's is 5 "):
        charlm["main"](["--data", str(other), "--resume", str(good), "--steps", "2"])
    with pytest.raises(SystemExit, match=r"was saved with tie=False but this run asks for --tie; "
                                         r"drop --tie to resume it"):
        charlm["main"](["--data", text_file, "--resume", str(good), "--tie"])
    ck = checkpoint.load(good)
    ck["model"]["rnn.weight_hh_l0"] = np.zeros((3, 3), np.float32)
    checkpoint.save(ck, tmp_path / "shapes.npz")
    with pytest.raises(SystemExit, match=r"shapes\.npz.*weight_hh_l0"):
        charlm["main"](["--data", text_file, "--resume", str(tmp_path / "shapes.npz")])


def test_sampling_starts_with_the_prime(charlm, text_file):
    r = charlm["main"](SMALL[:-4] + ["--data", text_file, "--steps", "5", "--prime", "ROMEO:",
                                     "--sample-chars", "30"])
    assert r.sample.startswith("ROMEO:") and len(r.sample) == 36
    greedy = [charlm["sample"](r.model, r.vocab, "MENENIUS", 10, temperature=0) for _ in range(2)]
    assert greedy[0] == greedy[1] and greedy[0].startswith("MENENIUS")
    with pytest.raises(SystemExit, match="--prime.*'~'"):
        charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--prime", "~"])


@pytest.mark.parametrize("flags", [["--cell", "gru"], ["--cell", "rnn", "--embedding", "0"],
                                   ["--tie", "--embedding", "32", "--layers", "2"]])
def test_cells_one_hot_and_tying_run(charlm, text_file, flags):
    r = charlm["main"](SMALL + ["--data", text_file, "--steps", "3"] + flags)
    assert np.isfinite(r.val_loss) and r.step == 3
    if "--tie" in flags:
        assert r.model.head.weight is r.model.embed.weight
    if "--embedding" in flags and "0" in flags:
        assert r.model.embed is None


def test_bad_flags_are_refused(charlm, text_file, capsys):
    with pytest.raises(SystemExit, match="--hidden .* must equal --embedding"):
        charlm["main"](SMALL + ["--data", text_file, "--tie"])
    with pytest.raises(SystemExit, match="--every needs --save"):
        charlm["main"](SMALL + ["--data", text_file, "--every", "5"])
    with pytest.raises(SystemExit, match="--time-budget must be 0 .none. or more, got -5"):
        charlm["main"](SMALL + ["--data", text_file, "--time-budget", "-5"])
    with pytest.raises(SystemExit, match=r"--save .*: is a folder; give a file name"):
        charlm["main"](SMALL + ["--data", text_file, "--save", str(Path(text_file).parent)])
    with pytest.raises(SystemExit, match=r"^error: --batch-size 4 / --seq-len \d+: CharStream: "
                                         r"batch_size=4 leaves"):
        tiny = Path(text_file).with_name("tiny.txt")
        tiny.write_text("ab")
        charlm["main"](SMALL + ["--data", str(tiny), "--batch-size", "4"])
    # empty paths (an unset shell variable): --save '' saved nothing, without a word
    for flag in ("--save", "--resume", "--data"):
        with pytest.raises(SystemExit) as e:
            charlm["main"](SMALL + [flag, ""])
        assert e.value.code == 2
    assert f"argument {flag}: the path is empty" in capsys.readouterr().err


def test_time_budget_stops_training(charlm, text_file, capsys):
    r = charlm["main"](SMALL + ["--data", text_file, "--steps", "100000", "--time-budget", "0.5"])
    assert 0 < r.step < 100000 and "time budget of 0.5 s reached" in capsys.readouterr().out


def test_graph_and_step_flags_are_wired(charlm, text_file, monkeypatch):
    import tinygrad_lstm.cli as cli

    seen = []

    def names(model):
        return sorted(dict(model.named_parameters()))

    monkeypatch.setattr(cli, "show_graph", lambda loss, out, model=None:
                        seen.append(("graph", out, loss.shape, names(model))))
    monkeypatch.setattr(cli, "show_steps", lambda loss, args, title=None, model=None:
                        seen.append(("step", title, loss.shape, names(model))))
    r = charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--graph", "--step"])
    params = names(r.model)
    assert "rnn.weight_hh_l0" in params
    # both views name the parameters (the stepper did not, before graph_and_steps)
    assert seen == [("graph", "out/charlm.svg", (), params), ("step", "charlm · LSTM · one step on a slice T=4, B=1", (), params)]


# --------------------------------------------------------------------------- activations


def test_features_and_correlations():
    act = load_demo("activations")
    f = act["features"]('say "hi" (a (b) c)\nAB:\nx')
    assert f["inside quotes"].tolist()[:9] == [0, 0, 0, 0, 1, 1, 1, 1, 0]
    assert f["inside parentheses"].nonzero()[0].tolist() == list(range(9, 18))
    assert f["position in line"][:3].tolist() == [0, 1, 2] and f["position in line"][-1] == 0
    assert f["start of line"].nonzero()[0].tolist() == [0, 19, 23]
    assert f["speaker's name"].nonzero()[0].tolist() == [19, 20, 21]
    x = np.linspace(0, 1, 50)
    r = act["correlations"](np.stack([x, -2 * x, np.ones(50)], axis=1), x)
    assert np.allclose(r, [1, -1, 0])


def test_activations_picks_units_with_correlations(text_file, tmp_path):
    act = load_demo("activations")
    svg = tmp_path / "act.svg"
    report = act["main"](["--data", text_file, "--hidden", "32", "--steps", "30",
                          "--chars", "1500", "--svg", str(svg)])
    assert report.findings and report.picked
    for fd in report.findings:
        assert -1.0 <= fd.r <= 1.0 and -1.0 <= fd.untrained_r <= 1.0
        assert fd.kind in ("c", "tanh(c)", "h") and 0 <= fd.unit < 32
    assert {"inside quotes", "inside parentheses"} <= set(report.absent)  # none in Shakespeare
    assert "position in line" in {fd.feature for fd in report.findings}
    assert svg.exists() and "<svg" in svg.read_text(encoding="utf-8")[:500]


def test_activations_in_a_colourless_output_says_where_the_colours_are(text_file, capsys,
                                                                        tmp_path):
    # piped, to a file or under NO_COLOR the coloured text printed as plain text, still
    # captioned "(red +, blue -)": the unit's values were nowhere in the output
    act = load_demo("activations")
    argv = ["--data", text_file, "--hidden", "8", "--steps", "3", "--chars", "1500"]
    act["main"](argv)
    assert "(no colours in this output: --svg OUT saves them" in capsys.readouterr().out
    svg = str(tmp_path / "a.svg")
    act["main"](argv + ["--svg", svg])
    out = " ".join(capsys.readouterr().out.split())  # (rich wraps the long path)
    assert f"(no colours in this output: they are in {svg})" in out
    # not in the SVG itself, whose colours it said were elsewhere (a newcomer's review)
    picture = open(svg, encoding="utf-8").read()
    assert "no&#160;colours" not in picture and "no colours" not in picture
    assert "red&#160;+" in picture or "red +" in picture  # the caption before it is there


@pytest.mark.parametrize("name", ["act.pdf", "act"])
def test_activations_refuses_an_svg_path_that_is_not_svg(tmp_path, name):
    # rich saves SVG only: --svg x.pdf wrote an SVG named .pdf and said "wrote x.pdf"
    with pytest.raises(SystemExit, match=r"--svg .*: the file must end in \.svg"):
        load_demo("activations")["main"](["--steps", "1", "--svg", str(tmp_path / name)])
    assert list(tmp_path.iterdir()) == []

def test_activations_on_a_checkpoint_says_which_flags_it_does_not_use(charlm, text_file,
                                                                     tmp_path, capsys):
    # --steps and --seed were ignored without a word with --resume (and charlm, handed
    # activations' own --seed, said it was not used, a flag the user never gave)
    ck = str(tmp_path / "a.npz")
    charlm["main"](SMALL + ["--data", text_file, "--steps", "2", "--save", ck])
    capsys.readouterr()
    act = load_demo("activations")
    act["main"](["--data", text_file, "--resume", ck, "--chars", "800"])
    assert "note:" not in capsys.readouterr().out
    act["main"](["--data", text_file, "--resume", ck, "--chars", "800", "--steps", "5000"])
    out = capsys.readouterr().out
    assert "note: --steps not used with --resume" in out and "--seed" not in out


def test_activations_hands_its_threads_to_charlm(text_file, monkeypatch):
    # charlm's own parse set one thread again: `activations --threads 2` ran on 1
    from tinygrad_lstm import _blas
    calls = []
    monkeypatch.setattr(_blas, "set_threads", lambda n: calls.append(n) or True)
    load_demo("activations")["main"](["--data", text_file, "--hidden", "8", "--steps", "1",
                                      "--chars", "300", "--threads", "2"])
    assert calls and set(calls) == {2}


def test_activations_says_so_when_no_unit_tracks_anything(text_file, capsys):
    report = load_demo("activations")["main"](["--data", text_file, "--hidden", "16",
                                               "--steps", "2", "--chars", "800",
                                               "--threshold", "1.0"])
    assert all(fd.verdict == "no unit tracks it well" for fd in report.findings)
    assert len(report.picked) == 1                     # the closest, shown with its numbers
    out = capsys.readouterr().out
    assert "No unit tracks any of these features well" in out and "Showing the closest" in out


def shutil_copy(src, dst):
    Path(dst).write_bytes(Path(src).read_bytes())


def assert_same(x, y, where="<root>"):
    """Exact equality of two nested checkpoint structures."""
    assert type(x) is type(y) or (np.isscalar(x) and np.isscalar(y)), where
    if isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_same(x[k], y[k], f"{where}/{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            assert_same(a, b, f"{where}/{i}")
    else:
        assert np.array_equal(x, y), where


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_checkpoint_whose_vocabulary_has_a_carriage_return_says_why_it_cannot_resume(
        charlm, text_file, tmp_path):
    # load_text now reads \r\n as \n: a checkpoint made on such a file before says "same
    # --data?" to a user who gave the same --data (found by the review helper)
    ck = tmp_path / "ck.npz"
    charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--save", str(ck)])
    saved = checkpoint.load(ck)
    vocab = saved["vocab"]
    # made on \r\n line ends (\r beside \n), or on old Mac ones (\r instead of \n)
    for old in ("".join(sorted(set(vocab) | {"\r"})),
                "".join(sorted(set(vocab) - {"\n"} | {"\r"}))):
        saved["vocab"] = old
        checkpoint.save(saved, ck)
        with pytest.raises(SystemExit, match=r"older than load_text's reading of \\r\\n line "
                                             "ends.*cannot resume: train afresh"):
            charlm["main"](["--data", text_file, "--resume", str(ck), "--steps", "2"])


def test_lr_final_0_decays_to_zero(charlm, text_file):
    # refused as outside (0, 1], though a decay to 0 is torch's eta_min default
    r = charlm["main"](SMALL + ["--data", text_file, "--steps", "2", "--lr-final", "0"])
    assert r.step == 2
    assert charlm["lr_at"](r.config, 1.0) == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflows it provokes
def test_a_diverging_last_step_and_a_failing_save_end_in_one_line(charlm, text_file, tmp_path,
                                                                  monkeypatch, capsys):
    """A last step whose update made the weights NaN went on to sample from NaN
    probabilities (a traceback); a save that failed (a full disk) was a traceback after the
    whole run (found by the review helper)."""
    with pytest.raises(SystemExit, match=r"^error: training diverged: .* is not finite at step "
                                         r"1 \(a lower --lr\?\)$"):  # inf weights (float32)
        charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--lr", "1e300",
                                "--sample-chars", "5"])
    # finite weights of 1e30 whose logits overflow: the probe before the final save finds
    # it (one error line), or, where the probe's stretch of text stays finite, the sample
    # does (no sample, said so); which of the two depends on numpy's float32 arithmetic
    # (numpy 1.22 and 2.4 differ here). Never a traceback.
    try:
        r = charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--lr", "1e30",
                                    "--sample-chars", "5"])
    except SystemExit as e:
        assert str(e.code).startswith("error: training diverged: the model's logits are not "
                                      "finite at step 1 (a lower --lr?)"), e.code
    else:
        assert r.sample is None and "no sample: the model's logits are not finite" in \
            capsys.readouterr().out

    def full(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", full)
    ck = tmp_path / "c.npz"
    with pytest.raises(SystemExit, match=r"^error: --save .*c\.npz: could not write the "
                                         r"checkpoint at step 1 \(No space left on device\)"):
        charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--save", str(ck)])
    monkeypatch.undo()  # and through checkpoint.save's own naming of the error, once
    monkeypatch.setattr(np.lib.format, "write_array", full)
    with pytest.raises(SystemExit, match=r"^error: --save .*c\.npz: could not write the "
                                         r"checkpoint at step 1 \(No space left on device\); a "
                                         r"checkpoint already there is unchanged$"):
        charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--save", str(ck)])


def test_a_disk_too_full_for_the_checkpoint_is_refused_before_training(charlm, text_file,
                                                                      tmp_path, monkeypatch):
    """A full disk at the final save lost the whole run (a review helper's 64 KB tmpfs)."""
    from tinygrad_lstm import cli
    real = cli.shutil.disk_usage
    free = []

    def disk_usage(folder):
        free.append(folder)
        return real(folder)._replace(free=40 << 10)

    monkeypatch.setattr(cli.shutil, "disk_usage", disk_usage)
    monkeypatch.setattr(optim.Adam, "step", lambda self: pytest.fail("it trained"))
    ck = tmp_path / "new" / "c.npz"
    with pytest.raises(SystemExit, match=r"^error: --save .*c\.npz: 40\.0 KB free on its disk, "
                                         r"and a checkpoint of this run takes about 1\d\d\.\d KB; "
                                         r"free some space or give another path$"):
        charlm["main"](SMALL + ["--data", text_file, "--steps", "3", "--save", str(ck)])
    assert free == [tmp_path] and not ck.parent.exists()
    # --every writes each checkpoint beside the last: two at once (a review found 1.5× taken,
    # and every save after the first failing, the final one too)
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda f: real(f)._replace(free=300 << 10))
    with pytest.raises(SystemExit, match=r"takes about 1\d\d\.\d KB, and 2 at once while one "
                                         r"replaces the last; free some space"):
        charlm["main"](SMALL + ["--data", text_file, "--steps", "3", "--save", str(ck),
                                "--every", "1"])
    monkeypatch.undo()
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda f: real(f)._replace(free=300 << 10))
    assert charlm["main"](SMALL + ["--data", text_file, "--steps", "1", "--save",
                                   str(ck)]).step == 1  # one save: room enough
    ck.unlink()  # an --every past the run's end makes no save before the last one
    assert charlm["main"](SMALL + ["--data", text_file, "--steps", "2", "--every", "2",
                                   "--save", str(ck)]).step == 2


def test_an_every_save_that_fails_warns_and_training_goes_on(charlm, text_file, tmp_path,
                                                              capsys, monkeypatch):
    """A failed `--every` save ended the run: the steps since the last save were lost."""
    saves, save = [], checkpoint.save

    def full_at_step_4(obj, path):
        saves.append(obj["step"])
        if obj["step"] == 4:
            raise OSError(28, "No space left on device")
        return save(obj, path)

    monkeypatch.setattr(checkpoint, "save", full_at_step_4)
    ck = str(tmp_path / "c.npz")
    r = charlm["main"](SMALL + ["--data", text_file, "--steps", "6", "--every", "2",
                                "--save", ck])
    out = capsys.readouterr().out
    # (no --every save at the last step: the final save follows at once; step 6 was saved
    # twice, and a failure there said "training goes on" after the last step)
    assert r.step == 6 and saves == [2, 4, 6] and checkpoint.load(ck)["step"] == 6
    assert (f"warning: --save {ck}: could not write the checkpoint at step 4 (No space left on "
            "device); a checkpoint already there is unchanged; training goes on, and the next "
            "save tries again") in out


def test_resuming_on_another_text_of_the_same_characters(charlm, text_file, tmp_path, capsys):
    # the saved place in the text was past the new text's end: a crash at the first step
    ck = str(tmp_path / "c.npz")
    charlm["main"](SMALL + ["--data", text_file, "--steps", "12", "--save", ck])
    text = Path(text_file).read_text()
    short = tmp_path / "short.txt"
    short.write_text(text[:600] + "".join(sorted(set(text))))  # every character, few chunks
    capsys.readouterr()
    r = charlm["main"](["--data", str(short), "--resume", ck, "--steps", "14", "--save", ck,
                        "--sample-chars", "0"])
    assert r.step == 14
    assert "is past this text's" in capsys.readouterr().out


def test_sample_every_shows_a_line_of_text_and_leaves_training_as_it_was(charlm, text_file,
                                                                         capsys):
    # the seed note's "more training, more complete sentences", watched as it happens; each
    # glimpse samples in eval mode from its own generator, so the run trains as without them
    args = SMALL + ["--data", text_file, "--steps", "4", "--dropout", "0.2"]
    plain = charlm["main"](args)
    capsys.readouterr()
    seen = charlm["main"](args + ["--sample-every", "2"])
    lines = [l for l in capsys.readouterr().out.splitlines() if " sample: " in l]
    assert [l.split(" sample: ")[0] for l in lines] == ["step 2", "step 4"]
    glimpse = lines[0].split(" sample: ")[1]
    assert glimpse[0] == glimpse[-1] and glimpse[0] in "'\"" and \
        len(eval(glimpse)) == 1 + charlm["GLIMPSE"]  # the prime and the glimpse, quoted
    assert "\n" not in eval(glimpse)
    for (name, p), q in zip(plain.model.named_parameters(), seen.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    with pytest.raises(SystemExit, match=r"--sample-every must be >= 0, got -1"):
        charlm["main"](args + ["--sample-every", "-1"])
