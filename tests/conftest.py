import sys
from pathlib import Path

# tests/golden is imported as `golden`; the repository root gives `benchmarks`.
HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
