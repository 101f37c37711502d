"""The hello demo (the README's main job) and the console script."""

import runpy
import subprocess
import sys
from pathlib import Path

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
