"""The README's Python blocks run as printed, in order, in one namespace (a newcomer pastes them
one after another: a later block once failed because an earlier one reused the name x), and the
block quoting cells.py quotes it word for word."""

import code
import contextlib
import importlib.util
import io
import re
import shutil
import traceback
from pathlib import Path

import pytest

from tinygrad_lstm import cells
from tinygrad_lstm.viz import stepper

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_quotes_the_lstm_cell_word_for_word():
    quoted = [b for b in BLOCKS if b.startswith("i, f, g, o = (xw + h_prev @ w_hh)")]
    assert len(quoted) == 1
    source = Path(cells.__file__).read_text(encoding="utf-8")
    for line in quoted[0].splitlines():  # the code; the comments are the README's own
        code = line.split("#", 1)[0].strip()
        assert code in source, line


class _Prompt(code.InteractiveConsole):
    """The plain `python` prompt a block is pasted into, line by line: there (3.9 to 3.12) a
    blank line ends an indented block, and a statement right after a block's last line,
    with no blank line between them, is a SyntaxError. Errors are kept, not printed."""

    def __init__(self, namespace):
        super().__init__(namespace)
        self.errors = []

    def showsyntaxerror(self, *args, **kwargs):
        self.errors.append(traceback.format_exc())

    def showtraceback(self):
        self.errors.append(traceback.format_exc())


def test_the_readme_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write out/ and run/
    # the stepper prints one screen per node without a terminal: the walk is recorded for
    # real, the screens are left to the stepper's own tests
    monkeypatch.setattr(stepper, "make_step_panel", lambda *args, **kwargs: "")
    # pasted into the prompt as they are printed (two blocks failed so, though each ran as a
    # file: a blank line inside a class, and none after a for loop's body)
    namespace, ran = {}, 0
    prompt = _Prompt(namespace)
    for k, block in enumerate(BLOCKS):
        if block.startswith("i, f, g, o = (xw"):
            continue  # the quote of cells.py, checked above
        if "import torch" in block and importlib.util.find_spec("torch") is None:
            block = ""  # "With PyTorch installed": a block of its own
        with contextlib.redirect_stdout(io.StringIO()):
            for line in block.splitlines() + [""]:
                more = prompt.push(line)
        assert not prompt.errors, f"README.md, Python block {k + 1}:\n{prompt.errors[0]}"
        assert not more, f"README.md, Python block {k + 1} ends inside a statement"
        ran += 1
    assert ran == len(BLOCKS) - 1
    assert (tmp_path / "out" / ("graph.svg" if shutil.which("dot") else "graph.dot")).exists()
    assert (tmp_path / "run" / "ckpt.npz").exists()
    # the stepper block's walk, one Step per node: 2 layers × 4 steps (the whole T = 35 printed
    # 1,143 screens into a newcomer's notebook)
    assert 100 < len(namespace["steps"]) < 300


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
