import sys
from pathlib import Path

# tests/golden is imported as `golden`; the repository root gives `benchmarks`.
HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _a_plain_terminal_environment(monkeypatch):
    """The tests assert what the demos print on an ordinary terminal, or in a pipe: a runner's
    COLUMNS=40, FORCE_COLOR=1 (CI logs) or TERM=dumb (Emacs) changed widths, added escape
    codes or stopped the animation, failing tests for how they were launched (review helper).
    The children the tests start inherit this environment too."""
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE",
                 "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
