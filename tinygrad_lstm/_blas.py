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
import numbers
import re

# numpy's wheels: scipy-openblas (numpy 2) names it scipy_openblas_set_num_threads64_, the
# older openblas64_ builds openblas_set_num_threads64_; a system OpenBLAS keeps the plain name
_NAMES = [f"{pre}openblas_{{}}_num_threads{suf}" for pre in ("scipy_", "")
          for suf in ("64_", "")]


def _openblas():
    """The (set, get) functions of every OpenBLAS loaded in this process now (numpy's, and
    scipy's once it is imported: each has its own threads), numpy's first; [] off Linux or
    with another BLAS."""
    import numpy  # noqa: F401  (numpy loads its BLAS on import)
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:  # not Linux
        return []
    # read again at each call (a library imported later, scipy's, has threads of its own);
    # each library's functions are looked up once
    return [fns for fns in map(_functions, _openblas_paths(maps)) if fns is not None]


@functools.lru_cache(maxsize=None)  # a loaded library stays loaded
def _functions(path):
    """(set, get) of the OpenBLAS at `path`, or None."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for name in _NAMES:
        if hasattr(lib, name.format("set")) and hasattr(lib, name.format("get")):
            set_, get = getattr(lib, name.format("set")), getattr(lib, name.format("get"))
            set_.argtypes, set_.restype, get.restype = (ctypes.c_int,), None, ctypes.c_int
            return set_, get
    return None


def _openblas_paths(maps):
    """The OpenBLAS libraries named in /proc/self/maps text, numpy's first. The path is a
    line's sixth column, spaces and all ("/home/John Doe/...")."""
    paths = set()
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and "openblas" in parts[5] and re.search(r"\.so[\w.]*$", parts[5]):
            paths.add(parts[5].rstrip())
    return sorted(paths, key=lambda p: ("numpy" not in p, p))


def set_threads(n):
    """Run every OpenBLAS's products on `n` threads; True when there was one to set. Best
    called before the work starts: OpenBLAS does not say it is safe while another thread
    is inside a product."""
    fns = _openblas()
    for set_, _ in fns:
        set_(int(n))
    return bool(fns)


def get_threads():
    """numpy's OpenBLAS's thread count now, or None when no OpenBLAS was found."""
    fns = _openblas()
    return int(fns[0][1]()) if fns else None


def set_num_threads(n):
    """Run numpy's matrix products (OpenBLAS) on `n` threads from now on, as
    torch.set_num_threads does for torch's. The benchmark's figures are for one thread, and at
    this package's sizes one is often as fast (and, on a busy machine, faster). Returns True
    when it took effect, False when numpy's BLAS is not an OpenBLAS this could find (set
    OPENBLAS_NUM_THREADS or OMP_NUM_THREADS before numpy is imported then)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= 2 ** 31 - 1:
        # (a C int: 2**32 + 1 became 1 thread)
        raise ValueError(f"set_num_threads: n must be an int from 1 to 2**31 - 1, got {n!r}")
    return set_threads(int(n))
