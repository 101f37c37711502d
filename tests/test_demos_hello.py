"""The hello demo (the README's main job) and the console script."""

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_demo(name):
    return runpy.run_path(str(ROOT / "demos" / f"{name}.py"), run_name=name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_hello_learns_ello(cell):
    loss, guess = load_demo("hello")["main"](["--steps", "150", "--cell", cell])
    assert guess == "ello" and loss < 0.05


def test_hello_refuses_bad_flags():
    with pytest.raises(SystemExit, match="--hidden must be positive"):
        load_demo("hello")["main"](["--hidden", "0"])


@pytest.mark.parametrize("argv,match", [
    (["--steps", "-1"], "argument --steps: must be at least 1, got -1"),
    (["--graph", "out/h.jpg"], "argument --graph: render: cannot write 'h.jpg': the extension"),
    (["--step", "--auto", "-1"], "argument --auto: must be 0 or more seconds"),
])
def test_shared_flags_are_refused_before_training(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        load_demo("hello")["main"](argv)
    out, err = capsys.readouterr()
    assert e.value.code == 2 and match in err and "after" not in out


def test_output_paths_are_checked_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    main = load_demo("hello")["main"]
    with pytest.raises(SystemExit, match=r"--graph .*afile/x.svg: cannot write there "
                                         r"\(.*afile is a file, not a folder\)"):
        main(["--graph", str(tmp_path / "afile" / "x.svg")])
    with pytest.raises(SystemExit, match="--lr must be positive, got nan"):
        main(["--lr", "nan"])
    assert "after" not in capsys.readouterr().out
    main(["--steps", "2", "--graph", str(tmp_path)])  # a folder: the picture goes inside
    assert (tmp_path / "hello.dot").exists()
    # `new/`, a folder that does not exist yet: inside it too (it wrote new.dot beside it)
    main(["--steps", "2", "--graph", str(tmp_path / "new") + "/"])
    assert (tmp_path / "new" / "hello.dot").exists() and not (tmp_path / "new.dot").exists()


def test_a_save_path_that_ends_in_a_slash_is_refused_before_training(tmp_path, capsys):
    # `--save ckdir/` passed the check (Path drops the slash), trained, then lost the run
    # to "checkpoint.save: 'ckdir/' names no file" (found by the review helper)
    with pytest.raises(SystemExit, match=r"^error: --save .*ckdir/: names a folder \(it ends in /\); "
                                         "give a file name"):
        load_demo("charlm")["main"](["--hidden", "8", "--steps", "2", "--save",
                                     str(tmp_path / "ckdir") + "/"])
    assert "model:" not in capsys.readouterr().out and not (tmp_path / "ckdir").exists()


@pytest.mark.parametrize("demo", ["hello", "charlm"])
def test_ctrl_c_ends_a_demo_with_a_line_and_status_130(demo, tmp_path):
    """Ctrl-C in hello, long_memory, timeseries or variants printed a KeyboardInterrupt
    traceback from inside the engine (found by the review helper); charlm's first Ctrl-C
    stops between steps, its second ends it so too."""
    code = ("import signal, sys, threading\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from tinygrad_lstm import Tensor\n"
            "backward, n = Tensor.backward, [0]\n"
            "def backward_and_interrupt(*a, **k):\n"
            "    n[0] += 1\n"
            "    if n[0] == 2:  # twice: charlm's first Ctrl-C asks it to stop between steps\n"
            "        signal.raise_signal(signal.SIGINT)\n"
            "        signal.raise_signal(signal.SIGINT)\n"
            "    return backward(*a, **k)\n"
            "Tensor.backward = backward_and_interrupt\n"
            "import runpy\n"
            f"sys.argv = ['{demo}.py', '--steps', '100000']\n"
            f"runpy.run_path('demos/{demo}.py', run_name='__main__')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.rstrip().endswith("interrupted")


def test_a_gru_graph_highlights_its_additive_h_path(tmp_path):
    load_demo("hello")["main"](["--steps", "2", "--cell", "gru", "--graph", str(tmp_path / "g.dot")])
    assert "orange: h[t−1] → h[t], through + and × only" in (tmp_path / "g.dot").read_text()


def test_python_dash_m_runs_the_console_script():
    run = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "hello", "--help"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("usage: tinygrad-lstm hello")
    assert "(default: None)" not in run.stdout and "(default: False)" not in run.stdout
    assert "(default: 200)" in run.stdout and "random seed (default: 0)" in run.stdout


def test_console_script_lists_and_runs_demos():
    from tinygrad_lstm.cli import list_demos
    assert "hello" in list_demos()
    run = subprocess.run([sys.executable, "-m", "tinygrad_lstm.cli", "hello", "--steps", "60"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "'hell' -> 'ello'" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "tinygrad_lstm.cli", "nosuch"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "no demo 'nosuch'" in bad.stderr


def test_version_and_a_closed_pipe():
    # `--version` said "no demo '--version'"; `demo | head` printed a BrokenPipeError traceback
    run = subprocess.run([sys.executable, "-m", "tinygrad_lstm", "--version"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    from tinygrad_lstm import __version__
    assert run.returncode == 0 and run.stdout == f"tinygrad-lstm {__version__}\n"
    code = ("import sys\n"
            "from tinygrad_lstm.cli import run_demo\n"
            "def main():\n"
            "    for i in range(100000):\n"
            "        print('line', i)\n"
            "run_demo(main)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.readline()
    p.stdout.close()  # as `| head -1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 1
    assert "Traceback" not in err and "stopped: the output's reader closed the pipe" in err


def test_a_size_too_big_for_memory_is_one_line(capsys, monkeypatch):
    # `hello.py --hidden 100000000` ended in numpy's MemoryError traceback (review helper)
    from tinygrad_lstm.cli import run_demo
    monkeypatch.setenv("TINYGRAD_LSTM_PROG", "tinygrad-lstm hello")

    def main():
        raise MemoryError("Unable to allocate 284. PiB for an array")

    with pytest.raises(SystemExit) as e:
        run_demo(main)
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        "tinygrad-lstm hello: error: out of memory (Unable to allocate 284. PiB for an array); "
        "try smaller sizes (--hidden, say)\n")


def test_demos_run_numpy_on_one_thread_unless_told(monkeypatch):
    """OpenBLAS takes a thread a core: a char-LM demo took 6-8 s instead of 1 s on a busy
    2-core machine. The demos now set one thread (--threads N for more), and leave it to
    OPENBLAS_NUM_THREADS / OMP_NUM_THREADS when those are set."""
    from tinygrad_lstm import _blas
    from tinygrad_lstm.cli import demo_parser
    before = _blas.get_threads()
    if before is None:
        pytest.skip("numpy here has no OpenBLAS to set")
    try:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            monkeypatch.delenv(var, raising=False)
        _blas.set_threads(2)
        demo_parser("x").parse_args([])
        assert _blas.get_threads() == 1
        demo_parser("x").parse_args(["--threads", "2"])
        assert _blas.get_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        demo_parser("x").parse_args([])
        assert _blas.get_threads() == 2  # the user's setting stands
        with pytest.raises(SystemExit):
            demo_parser("x").parse_args(["--threads", "0"])
    finally:
        _blas.set_threads(before)


def test_set_num_threads_is_torchs_and_checks_its_argument():
    import tinygrad_lstm
    from tinygrad_lstm import _blas
    before = _blas.get_threads()
    if before is None:
        pytest.skip("numpy here has no OpenBLAS to set")
    try:
        assert tinygrad_lstm.set_num_threads(1) is True and _blas.get_threads() == 1
    finally:
        _blas.set_threads(before)
    assert tinygrad_lstm.set_num_threads(np.int64(1)) is True  # any integer, as torch
    for bad in (0, 1.5, True, 2 ** 32 + 1):
        with pytest.raises(ValueError, match="^set_num_threads: n must be an int from 1 to"):
            tinygrad_lstm.set_num_threads(bad)


def test_blas_libraries_are_found_with_spaces_in_their_path_numpys_first():
    from tinygrad_lstm._blas import _openblas_paths
    maps = ("7f0-7f1 r-xp 00000000 08:01 123 /home/John Doe/v/scipy.libs/libscipy_openblas-1.so\n"
            "7f2-7f3 r-xp 00000000 08:01 124 /home/John Doe/v/numpy.libs/libscipy_openblas64_-x.so\n"
            "7f4-7f5 rw-p 00000000 00:00 0 [heap]\n")
    assert _openblas_paths(maps) == ["/home/John Doe/v/numpy.libs/libscipy_openblas64_-x.so",
                                     "/home/John Doe/v/scipy.libs/libscipy_openblas-1.so"]


def test_version_needs_no_demos_folder(monkeypatch, capsys, tmp_path):
    from tinygrad_lstm import __version__, cli
    monkeypatch.setattr(cli, "DEMOS_DIR", tmp_path / "none")  # a plain (not -e) install
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"tinygrad-lstm {__version__}\n"


def test_a_plain_install_has_no_demos_even_where_site_packages_has_a_demos_folder(
        monkeypatch, capsys, tmp_path):
    # another distribution's top-level `demos` in site-packages was listed and run
    from tinygrad_lstm import cli
    site = tmp_path / "site-packages"
    (site / "demos").mkdir(parents=True)
    (site / "demos" / "setup.py").write_text("raise SystemExit('ran')\n")
    monkeypatch.setattr(cli, "DEMOS_DIR", site / "demos")
    assert cli.main(["setup"]) == 2
    assert "no demos folder" in capsys.readouterr().err
    for asked in ([], ["--help"], ["list"]):  # help is given, and is no error
        assert cli.main(asked) == 0
        out = capsys.readouterr()
        assert out.out.startswith("usage: tinygrad-lstm DEMO") and "no demos folder" in out.err
    assert cli.have_demos() is False
    monkeypatch.setattr(cli, "DEMOS_DIR", ROOT / "demos")
    assert cli.have_demos() is True


def test_the_resume_hint_names_the_demo_when_its_main_is_called_from_elsewhere(monkeypatch):
    from tinygrad_lstm.cli import command
    monkeypatch.delenv("TINYGRAD_LSTM_PROG", raising=False)
    demo = ROOT / "demos" / "charlm.py"
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py"])  # a notebook's
    assert command(demo) == f"python {demo}"
    monkeypatch.setattr(sys, "argv", [str(demo)])
    assert command(demo) == f"python {demo}"
    monkeypatch.setenv("TINYGRAD_LSTM_PROG", "tinygrad-lstm charlm")
    assert command(demo) == "tinygrad-lstm charlm"


def test_an_ascii_output_gets_question_marks_not_a_traceback():
    # PYTHONIOENCODING=ascii (or a Latin-1 terminal): the stepper's · and σ, vanishing's −
    # ended the run in a UnicodeEncodeError, some demos after all their training
    import os
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    run = subprocess.run([sys.executable, str(ROOT / "demos" / "hello.py"), "--steps", "2",
                          "--step"], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "UnicodeEncodeError" not in run.stderr
    assert "backprop ? hello ? LSTM ? node 1 of" in run.stdout  # the title's · as '?'


def test_hello_probs_shows_the_softmax_and_what_the_two_ls_need(capsys):
    # the seed note's "hell" -> "ello" figure: the output layer's confidences at each step;
    # steps 3 and 4 both read "l" and must answer "l" and "o", from the state alone
    hello = load_demo("hello")
    plain = hello["main"](["--steps", "150"])
    capsys.readouterr()
    shown = hello["main"](["--steps", "150", "--probs"])
    out = " ".join(capsys.readouterr().out.split())
    assert shown == plain  # printing the tables changes no training
    assert "before training: p(next letter)" in out and "after 150 steps: p(next letter)" in out
    assert "steps 3 and 4 both read 'l'" in out and "they come from the state" in out


def test_hello_probs_table_and_sentence_on_made_up_numbers():
    import numpy as np

    from tinygrad_lstm import Tensor
    from tinygrad_lstm.data import hello_example
    hello = load_demo("hello")
    x, y, vocab = hello_example()
    logits = Tensor(np.log(np.array([[.7, .1, .1, .1], [.1, .1, .7, .1], [.1, .1, .6, .2],
                                     [.1, .1, .6, .2]], np.float32))[:, None, :])
    p = hello["probabilities"](logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)  # float32
    np.testing.assert_allclose(p[0], [.7, .1, .1, .1], rtol=1e-6)
    said = hello["memory_says"](p, x, y, vocab)  # step 4 answers "l" where "o" is wanted
    assert said == ("steps 3 and 4 both read 'l', and give p(l) = 0.60 and p(o) = 0.20: not "
                    "yet told apart (more --steps?).")
    p[3] = [.1, .1, .2, .6]
    assert hello["memory_says"](p, x, y, vocab).endswith("the memory of the letters before.")
