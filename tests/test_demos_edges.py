"""The demos' command lines at their edges: nonsense values are refused with one clear line
(exit status 2, as argparse's own errors) before any training, and nothing a user saved is
overwritten. Short settings only."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_lstm import checkpoint
from tinygrad_lstm.data import load_text

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--hidden", "16", "--embedding", "8", "--batch-size", "4", "--seq-len", "8",
         "--sample-chars", "0", "--eval-every", "0", "--eval-chars", "200"]


def load_demo(name):
    return runpy.run_path(str(ROOT / "demos" / f"{name}.py"), run_name=name)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("edges") / "small.txt"
    path.write_text(load_text()[:5000], encoding="utf-8")
    return path


def test_a_negative_seed_is_refused_by_the_parser(capsys):
    # was: a numpy traceback from manual_seed, after the parser had accepted it
    with pytest.raises(SystemExit) as e:
        load_demo("hello")["main"](["--seed", "-1"])
    assert e.value.code == 2
    assert "argument --seed: must be 0 or more, got -1" in capsys.readouterr().err


def _kernel(monkeypatch, argv):
    """A Jupyter kernel as ipykernel's kernel app leaves it: the app, and the argv it parsed."""
    import types
    kernelapp = types.ModuleType("ipykernel.kernelapp")

    class IPKernelApp:
        @classmethod
        def initialized(cls):
            return True

        @classmethod
        def instance(cls):
            return types.SimpleNamespace(argv=argv[1:])

    kernelapp.IPKernelApp = IPKernelApp
    monkeypatch.setitem(sys.modules, "ipykernel.kernelapp", kernelapp)
    monkeypatch.setattr(sys, "argv", list(argv))


@pytest.mark.parametrize("launcher", ["/x/ipykernel_launcher.py", "/x/colab_kernel_launcher.py",
                                      "/x/spyder_kernels/console/__main__.py"])
def test_main_in_a_notebook_reads_no_command_line_of_the_kernels(monkeypatch, text_file,
                                                                 launcher):
    """`hello.main()` in a notebook parsed the kernel's own sys.argv (`-f …json`) and exited
    with "unrecognized arguments"; charlm's Result echoed the whole text it trained on (a
    notebook review helper). Any launcher: the first fix knew ipykernel_launcher's name only,
    and Colab's and Spyder's kernels failed again (a review of it)."""
    _kernel(monkeypatch, [launcher, "-f", "/tmp/kernel-1.json"])
    load_demo("hello")["main"]()  # its defaults, 200 steps
    r = load_demo("charlm")["main"](SMALL + ["--data", str(text_file), "--steps", "1"])
    assert r.text and r.text[:20] not in repr(r) and len(repr(r)) < 2000
    # `%run demos/charlm.py --steps x` in a kernel: the demo's own command line, read
    monkeypatch.setattr(sys, "argv", ["demos/charlm.py", "--steps", "x"])
    with pytest.raises(SystemExit):
        load_demo("charlm")["main"]()
    monkeypatch.delitem(sys.modules, "ipykernel.kernelapp")
    monkeypatch.setattr(sys, "argv", [launcher, "-f", "/tmp/kernel-1.json"])
    with pytest.raises(SystemExit):  # without a kernel, a command line is read as ever
        load_demo("charlm")["main"]()


def test_a_progress_bar_is_drawn_in_a_notebook_where_ipywidgets_can_draw_it(monkeypatch):
    """A notebook's training cells showed no bar until done: it was drawn on terminals only
    (a notebook review helper). In a kernel rich draws it with ipywidgets; without them
    rich only warns, so there it stays off."""
    import types
    from tinygrad_lstm import cli
    have = {"ipywidgets": object()}
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: have.get(name))
    shown = {(term, nb): cli.bar_shown(types.SimpleNamespace(is_terminal=term, is_jupyter=nb))
             for term in (False, True) for nb in (False, True)}
    assert shown == {(False, False): False, (False, True): True, (True, False): True,
                     (True, True): True}
    have.clear()
    assert not cli.bar_shown(types.SimpleNamespace(is_terminal=False, is_jupyter=True))


@pytest.mark.parametrize("argv,says", [
    (["--no-pause"], "argument --no-pause: goes with --step, which was not given"),
    (["--auto", "0.3"], "argument --auto: goes with --step, which was not given"),
    (["--step", "50"], "unrecognized arguments: 50 (--step takes no value; --steps 50 sets "
                       "the steps)"),
])
def test_stepper_flags_without_step_and_a_count_after_step_are_refused_by_name(argv, says,
                                                                                capsys):
    # was: --no-pause or --auto alone trained and exited without a word
    with pytest.raises(SystemExit) as e:
        load_demo("hello")["main"](argv)
    assert e.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("argv,says", [
    # was: an OverflowError traceback from time.sleep at the first screen
    (["--step", "--auto", "inf"], "argument --auto: must be 0 or more seconds (finite), got inf"),
    # was: trained, exited 0 and drew nothing (an unset shell variable, say)
    (["--graph", ""], "argument --graph: the path is empty; give a file or a folder, or "
                      "--graph alone for out/hello.svg"),
])
def test_an_infinite_auto_and_an_empty_graph_path_are_refused(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        load_demo("hello")["main"](argv)
    assert e.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("cmd,prog", [
    (["demos/hello.py"], "hello.py"),
    (["-m", "tinygrad_lstm", "hello"], "tinygrad-lstm hello"),
])
def test_a_demos_own_errors_exit_2_in_one_line_like_argparse(cmd, prog):
    # was: exit status 1 (Python's for a SystemExit with a message), unlike --steps 0's 2
    run = subprocess.run([sys.executable, *cmd, "--hidden", "0"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2
    assert run.stderr == f"{prog}: error: --hidden must be positive, got 0\n"
    assert run.stdout == ""


def test_charlm_refuses_a_text_too_short_to_validate(tmp_path):
    # was: a CharStream traceback from the final evaluation, after the training
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij", encoding="utf-8")
    main = load_demo("charlm")["main"]
    with pytest.raises(SystemExit, match=r"^error: --data .*short\.txt: 10 characters leave 1 "
                                         r"for validation .*at least 11 characters"):
        main(SMALL + ["--data", str(short), "--steps", "1", "--batch-size", "1"])
    short.write_text("abcdefghijk", encoding="utf-8")                  # 11: the least that runs
    r = main(SMALL + ["--data", str(short), "--steps", "1", "--batch-size", "1"])
    assert r.step == 1


def test_charlm_save_never_overwrites_a_file_it_did_not_resume(text_file, tmp_path):
    # was: --save onto the training text (or another model's checkpoint) replaced it
    main = load_demo("charlm")["main"]
    data = tmp_path / "data.txt"
    data.write_bytes(text_file.read_bytes())
    with pytest.raises(SystemExit, match=r"^error: --save .*data\.txt: a file is already there"):
        main(SMALL + ["--data", str(data), "--steps", "1", "--save", str(data)])
    assert data.read_bytes() == text_file.read_bytes()
    ck = tmp_path / "lstm.npz"
    main(SMALL + ["--data", str(data), "--steps", "2", "--save", str(ck)])
    saved = ck.read_bytes()
    with pytest.raises(SystemExit, match=r"--save .*lstm\.npz: a file is already there; "
                                         r"continue it with --resume"):
        main(SMALL + ["--data", str(data), "--steps", "1", "--cell", "gru", "--save", str(ck)])
    assert ck.read_bytes() == saved
    # resuming the file it saves to is what --save is for
    r = main(["--data", str(data), "--resume", str(ck), "--steps", "3", "--save", str(ck),
              "--sample-chars", "0", "--eval-chars", "200"])
    assert r.step == 3 and checkpoint.load(ck)["step"] == 3


@pytest.mark.parametrize("demo,argv,match", [
    # each was: NaN losses (inf) or a traceback at sampling / at the loss chart (nan)
    ("hello", ["--lr", "inf"], "--lr must be finite, got inf"),
    ("charlm", SMALL + ["--forget-bias", "nan"], "--forget-bias must be finite, got nan"),
    ("charlm", SMALL + ["--lr", "inf"], "--lr must be finite, got inf"),
    ("charlm", SMALL + ["--temperature", "nan"], "^error: --temperature must be >= 0, got nan$"),
    # named the three flags together
    ("charlm", SMALL + ["--sample-chars", "-1"], "^error: --sample-chars must be >= 0, got -1$"),
    ("long_memory", ["--T", "10", "--forget-bias", "nan"], "--forget-bias must be finite, got nan"),
    ("timeseries", ["--lr", "inf"], "--lr must be finite, got inf"),
    ("activations", ["--threshold", "nan"], r"--threshold is an \|r\|, so in \[0, 1\]; got nan"),
])
def test_non_finite_numbers_are_refused_before_training(demo, argv, match, text_file, capsys):
    argv = argv + (["--data", str(text_file)] if demo in ("charlm", "activations") else [])
    with pytest.raises(SystemExit, match=match):
        load_demo(demo)["main"](argv + ["--steps", "1"])
    assert "after" not in capsys.readouterr().out


def test_charlm_clip_inf_still_means_no_clipping(text_file):
    r = load_demo("charlm")["main"](SMALL + ["--data", str(text_file), "--steps", "1",
                                             "--clip", "inf"])
    assert r.step == 1


def test_variants_says_how_many_chars_a_seq_len_needs():
    # was: a char_batches traceback
    main = load_demo("variants")["main"]
    with pytest.raises(SystemExit, match=r"^error: --chars 200: .* 20 validation characters .*"
                                         r"--seq-len 32 needs 33; use --chars 321 or more"):
        main(["--chars", "200", "--steps", "1", "--variants", "lstm", "--hidden", "4"])
    r = main(["--chars", "321", "--steps", "1", "--variants", "lstm", "--hidden", "4"])
    assert set(r) == {"lstm"}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow, as it diverges
def test_charlm_a_diverged_run_does_not_overwrite_the_checkpoint_it_resumed(text_file, tmp_path):
    # was: NaN weights saved over the good checkpoint, and the run reported "saved"
    main = load_demo("charlm")["main"]
    ck = tmp_path / "good.npz"
    main(SMALL + ["--data", str(text_file), "--steps", "2", "--save", str(ck)])
    saved = ck.read_bytes()
    with pytest.raises(SystemExit, match=r"^error: training diverged: .* not finite|"
                                         r"^error: training diverged: the loss is nan"):
        main(["--data", str(text_file), "--resume", str(ck), "--save", str(ck), "--steps", "10",
              "--lr", "1e30", "--clip", "1e30", "--sample-chars", "0", "--eval-chars", "200"])
    assert ck.read_bytes() == saved


def test_save_and_graph_may_not_write_the_same_file(text_file, tmp_path):
    # was: the checkpoint was saved, then replaced by the graph's DOT source (and activations'
    # --svg replaced the --graph picture)
    ck = tmp_path / "c.dot"
    with pytest.raises(SystemExit, match=r"^error: --save .*c\.dot: --graph writes there too"):
        load_demo("charlm")["main"](SMALL + ["--data", str(text_file), "--steps", "1",
                                             "--save", str(ck), "--graph", str(tmp_path / "c.svg")])
    assert not ck.exists()
    svg = tmp_path / "a.svg"
    with pytest.raises(SystemExit, match=r"^error: --svg .*a\.svg: --graph writes there too"):
        load_demo("activations")["main"](["--data", str(text_file), "--hidden", "8", "--steps",
                                          "1", "--svg", str(svg), "--graph", str(svg)])
    assert not svg.exists()


def test_a_seq_len_longer_than_the_streams_is_refused(text_file):
    # was: clamped without a word, the header saying T=100000000 while every step unrolled a
    # whole stream (3.4 GB for a tiny model; found by the review helper)
    with pytest.raises(SystemExit, match=r"^error: --seq-len 100000000 is longer than each of "
                                         r"the 4 streams the text is cut into \([0-9,]+ "
                                         r"characters\); give at most"):
        load_demo("charlm")["main"](SMALL + ["--data", str(text_file), "--steps", "1",
                                             "--seq-len", "100000000"])


def test_a_short_text_gets_a_shorter_t_where_seq_len_was_not_typed(tmp_path, capsys):
    # the refusal above, taken without the flag typed, refused activations on any text under
    # ~2,300 characters, naming a --seq-len it does not have (review helper)
    short = tmp_path / "short.txt"
    short.write_text(load_text()[:2000], encoding="utf-8")
    r = load_demo("charlm")["main"](["--data", str(short), "--hidden", "8", "--steps", "1",
                                     "--sample-chars", "0", "--eval-chars", "100"])
    assert r.config.seq_len == 55
    assert ("note: T=64 is longer than each of the 32 streams the text is cut into (56 "
            "characters): using T=55") in capsys.readouterr().out
    load_demo("activations")["main"](["--data", str(short), "--hidden", "8", "--steps", "1",
                                      "--chars", "200"])
    assert "using T=55" in capsys.readouterr().out


def test_a_symlink_loop_as_an_input_is_named_by_its_read_not_a_traceback(tmp_path):
    # graph_clash's Path.resolve() raised RuntimeError on a loop (Python 3.11; review helper)
    loop = tmp_path / "l1"
    loop.symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(loop)
    for demo, flags in (("charlm", SMALL + ["--graph", str(tmp_path / "g.svg")]),
                        ("activations", ["--svg", str(tmp_path / "a.svg")])):
        with pytest.raises(SystemExit, match=r"^error: --data: load_text: cannot read .*l1.*"
                                             r"symbolic links"):
            load_demo(demo)["main"](flags + ["--data", str(loop), "--steps", "1"])


def test_graph_and_svg_may_not_write_over_the_runs_own_inputs(text_file, tmp_path):
    # was: `--data corpus.dot --graph corpus.svg` trained, then wrote the DOT source over the
    # training text (found by the review helper)
    corpus = tmp_path / "corpus.dot"
    corpus.write_bytes(Path(text_file).read_bytes())
    before = corpus.read_bytes()
    for demo, extra in (("charlm", SMALL), ("activations", ["--hidden", "8"])):
        with pytest.raises(SystemExit, match=r"^error: --data .*corpus\.dot: --graph writes "
                                             r"there too"):
            load_demo(demo)["main"](extra + ["--data", str(corpus), "--steps", "1",
                                             "--graph", str(tmp_path / "corpus.svg")])
    view = tmp_path / "view.svg"
    view.write_bytes(before)
    with pytest.raises(SystemExit, match=r"^error: --svg .*view\.svg is the run's --data"):
        load_demo("activations")["main"](["--data", str(view), "--hidden", "8", "--steps", "1",
                                          "--svg", str(view)])
    assert corpus.read_bytes() == before == view.read_bytes()


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_lines_printed_under_the_progress_bar_stay_on_a_redirected_stdout(tmp_path):
    """The bar is on stderr (a terminal here); `demo > log` must still get the demo's lines.
    rich swapped sys.stdout for the bar's console while it was live, so they went to stderr."""
    import os
    master, slave = os.openpty()
    code = ("from tinygrad_lstm import cli\n"
            "with cli.progress(2) as update:\n"
            "    print('step 1: val 2.5')\n"
            "    update(loss=1.0)\n")
    log = tmp_path / "log.txt"
    try:
        with open(log, "w") as out:
            subprocess.run([sys.executable, "-c", code], stdout=out, stderr=slave, cwd=ROOT,
                           check=True, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert log.read_text() == "step 1: val 2.5\n"


def _on_a_terminal(code, columns=160):
    """What `code` (run in a child Python) writes to its stderr when that is a terminal."""
    import os
    import threading
    import select
    master, slave = os.openpty()
    chunks = []
    child_done = threading.Event()

    def drain():  # a full pseudo-terminal buffer would block the child
        # Reads until the child is done and nothing is left. Our end of the terminal stays
        # open until then: closing it first hung the terminal up, and Linux drops what the
        # reader had not read yet (the bar's last frame, on a busy machine).
        while True:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    return
                if not data:
                    return
                chunks.append(data)
            elif child_done.is_set():
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=slave,
                       cwd=ROOT, check=True, timeout=60, env={**os.environ, "COLUMNS": str(columns)})
    finally:
        child_done.set()
        reader.join(timeout=10)
        os.close(slave)
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_a_time_budget_bar_fills_with_time_and_counts_steps():
    """charlm --time-budget 590 --steps 1000000 showed 1,234/1,000,000 and hours left: the bar
    now fills with whichever ends the run first and says how many steps were done."""
    code = ("import time\n"
            "from tinygrad_lstm import cli\n"
            "with cli.progress(10**6, 'budget', seconds=0.4) as update:\n"
            "    t0 = time.perf_counter()  # after the bar's own clock started: no race\n"
            "    while time.perf_counter() - t0 < 0.6:\n"
            "        update(loss=1.0)\n"
            "        time.sleep(0.05)\n")
    screen = _on_a_terminal(code)
    assert "steps" in screen and "100%" in screen, screen
    # a run that stops when its own clock says the budget is spent, checked before each
    # step (as charlm does): the bar ends full, by that clock (it showed the last step's
    # share of the time, e.g. 98%)
    at_budget = _on_a_terminal("import time\n"
                               "from tinygrad_lstm import cli\n"
                               "t0 = time.perf_counter()\n"
                               "with cli.progress(10**6, 'budget', seconds=0.5, start=t0) as update:\n"
                               "    while time.perf_counter() - t0 < 0.5:\n"
                               "        update(loss=1.0)  # the step, then its time\n"
                               "        time.sleep(0.3)\n")
    assert re.search(r"[12] steps  100%", at_budget), at_budget  # 1 on a very slow start
    assert "1000000" not in screen and "1,000,000" not in screen, screen
    by_steps = _on_a_terminal("from tinygrad_lstm import cli\n"
                              "with cli.progress(3, 'steps') as update:\n"
                              "    for _ in range(3):\n"
                              "        update(loss=1.0)\n")
    assert "3/3" in by_steps, by_steps


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_on_80_columns_the_bar_keeps_its_count_and_times_and_drops_the_last_fields():
    """rich cut every column alike when the line was too long: at 80 columns charlm's bar read
    `104… loss 2.5647  chars/s 6496  203.0 it/s 0:00:… 0:07:59` (review helper)."""
    code = ("from tinygrad_lstm import cli\n"
            "with cli.progress(100000, 'charlm (lstm)') as update:\n"
            "    for _ in range(959):\n"
            "        update(loss=2.5647, val=3.7732, **{'chars/s': 6496})\n")
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _on_a_terminal(code, columns=80))
    last = [line for line in screen.replace("\r", "\n").splitlines() if "charlm" in line][-1]
    assert re.search(r"959/100000 loss 2\.5647  val 3\.7732 \d:\d\d:\d\d \d:\d\d:\d\d$",
                     last.rstrip()), last
    narrow = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _on_a_terminal(code, columns=60))
    last = [line for line in narrow.replace("\r", "\n").splitlines() if "charlm" in line][-1]
    assert re.search(r"959/100000 +\d:\d\d:\d\d \d:\d\d:\d\d$", last.rstrip()), last  # no fields
    wide = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _on_a_terminal(code, columns=160))
    assert re.search(r"chars/s 6496  [\d.]+ it/s", wide), wide  # room: every field


def test_output_paths_that_pathlib_chokes_on_are_refused_in_one_line(tmp_path):
    """A symlink loop passed the check (pathlib says it does not exist) and failed the save
    after the training; a file name too long was a traceback at argument parsing (found by
    the review helper)."""
    from tinygrad_lstm.cli import demo_parser, writable
    loop = tmp_path / "l1"
    loop.symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(loop)
    with pytest.raises(SystemExit, match=r"^error: --save .*l1: cannot write there \(Too many "
                                         r"levels of symbolic links\)"):
        writable(loop, "--save")
    long = str(tmp_path / ("a" * 300))
    with pytest.raises(SystemExit, match=r"^error: --save .*: cannot write there \(File name "
                                         r"too long\)"):
        writable(long + ".npz", "--save")
    with pytest.raises(SystemExit, match=r"^error: --graph .*: cannot write there \(File name "
                                         r"too long\)"):
        demo_parser("x").parse_args(["--graph", long + ".svg"])
    for flag in ("--graph", "--save"):  # empty: an unset shell variable
        with pytest.raises(SystemExit):
            p = demo_parser("x")
            p.add_argument("--save")
            p.parse_args([flag, ""])
    dangling = tmp_path / "d.npz"
    dangling.symlink_to(tmp_path / "target.npz")  # not there yet: writing creates it
    assert writable(dangling, "--save") == dangling
    # a folder in the path that is a link to nothing: the run trained, then its save found
    # "a file" there (File exists); and a file link's own folder is probed, not the link's
    (tmp_path / "dl").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SystemExit, match=r"^error: --save .*dl/x\.npz: cannot write there "
                                         r"\(.*dl is a symbolic link to .*nowhere, which does "
                                         r"not exist\)"):
        writable(tmp_path / "dl" / "x.npz", "--save")
    into_a_file = tmp_path / "f.npz"
    (tmp_path / "plain").write_text("x")
    into_a_file.symlink_to(tmp_path / "plain" / "x.npz")  # its target's folder is a file
    with pytest.raises(SystemExit, match=r"^error: --save .*f\.npz: cannot write there"):
        writable(into_a_file, "--save")


def test_graph_and_steps_leave_each_grad_as_its_view_showed_it(tmp_path, capsys):
    """--graph and --step each run one more backward: a parameter's .grad after them held
    that plus the last training step's (twice what the screens showed, a review found)."""
    import argparse

    import numpy as np

    from tinygrad_lstm import Tensor, cli, nn

    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))

    def make_loss():
        return (model(x) * model(x)).mean()

    make_loss().backward()
    once = {n: p.grad.copy() for n, p in model.named_parameters()}
    make_loss().backward()  # the last training step's, left in .grad
    args = argparse.Namespace(graph=str(tmp_path / "g.svg"), step=True, no_pause=True, auto=None)
    cli.graph_and_steps(args, make_loss, model)
    capsys.readouterr()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, once[n], rtol=1e-6, err_msg=n)
