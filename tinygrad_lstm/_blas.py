"""How many threads numpy's OpenBLAS runs matrix products on, set at run time (the demos' and
the console script's `--threads`).

OpenBLAS reads OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) once, when numpy is imported, and
otherwise starts a thread per core. A demo's products are small (B ≤ 64, H ≤ 512): a second
thread gains little there and, on a shared machine, waits for the other jobs' cores; a
char-LM demo ran 6-8 s instead of 1 s on a busy 2-core machine (the benchmark's figures are
for one thread). numpy has no call for it, so this finds the OpenBLAS that numpy loaded and
calls its own `openblas_set_num_threads`, as threadpoolctl does; with another BLAS (MKL,
Accelerate) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import re

# numpy's wheels: scipy-openblas (numpy 2) names it scipy_openblas_set_num_threads64_, the
# older openblas64_ builds openblas_set_num_threads64_; a system OpenBLAS keeps the plain name
_NAMES = [f"{pre}openblas_{{}}_num_threads{suf}" for pre in ("scipy_", "")
          for suf in ("64_", "")]


@functools.lru_cache(maxsize=None)  # the libraries a process has loaded stay loaded
def _openblas():
    """The (set, get) functions of the OpenBLAS loaded in this process, or None."""
    import numpy  # noqa: F401  (numpy loads its BLAS on import)
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so[\w.]*)", f.read())))
    except OSError:  # not Linux
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _NAMES:
            if hasattr(lib, name.format("set")) and hasattr(lib, name.format("get")):
                set_, get = getattr(lib, name.format("set")), getattr(lib, name.format("get"))
                set_.argtypes, set_.restype, get.restype = (ctypes.c_int,), None, ctypes.c_int
                return set_, get
    return None


def set_threads(n):
    """Run OpenBLAS's products on `n` threads; True when that could be done."""
    fns = _openblas()
    if fns is None:
        return False
    fns[0](int(n))
    return True


def get_threads():
    """OpenBLAS's thread count now, or None when no OpenBLAS was found."""
    fns = _openblas()
    return None if fns is None else int(fns[1]())


def set_num_threads(n):
    """Run numpy's matrix products (OpenBLAS) on `n` threads from now on, as
    torch.set_num_threads does for torch's. The benchmark's figures are for one thread, and at
    this package's sizes one is often as fast (and, on a busy machine, faster). Returns True
    when it took effect, False when numpy's BLAS is not an OpenBLAS this could find (set
    OPENBLAS_NUM_THREADS or OMP_NUM_THREADS before numpy is imported then)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    return set_threads(n)
