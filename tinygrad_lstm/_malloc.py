"""Keep freed array memory in the process between training steps (glibc only).

Every op returns a fresh numpy array, so one training step allocates the whole graph's values
(tens of MB for a mid-sized LSTM) and frees them when the walk is done. glibc's malloc then
hands the freed top of its heap back to the kernel (it trims above M_TRIM_THRESHOLD, which it
keeps near 2x its mmap threshold, a few MB), and the next step takes it back one page fault at
a time, each page zero-filled by the kernel. Measured on the benchmark's LSTM B=32 T=64 H=256
step: about 4,400 minor faults and 12 ms of an 84 ms step; the hand-written numpy reference,
which allocates a few big arrays, saw none.

`keep_freed_memory()` sets the two thresholds once, at import: arrays below 32 MB come from the
heap (glibc's own dynamic threshold climbs to 32 MB as a program frees big arrays; this fixes
it there) and up to 256 MB of freed heap stays with the process, to be reused by the next
step. Peak memory is unchanged; what changes is that the process's resident size after a step
stays near its peak, as with PyTorch's caching allocators (its CPU tuning guide recommends
jemalloc or tcmalloc for the same reason). The setting is the whole process's: whatever else
the program allocates and frees also stays, up to 256 MB in each of malloc's arenas (a thread
has its own: four threads that each made and freed 200 MB of arrays left 397 MB resident,
against 46 MB; a review of the package's process-wide settings). Set
TINYGRAD_LSTM_KEEP_MEMORY=0 before the import to leave malloc as it is, or call `restore()`
(the package's `restore_process_defaults()`) later, which hands the memory back and keeps at
most 64 MB from then on.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def _glibc():
    """The process's C library with mallopt and malloc_trim typed, where it is glibc; else
    None."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols; Windows refuses None (TypeError)
        libc.gnu_get_libc_version  # glibc, not musl or another C library  # noqa: B018
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def keep_freed_memory():
    """Raise glibc's trim and mmap thresholds (see the module docstring). Returns True when
    they were set; False off glibc or when TINYGRAD_LSTM_KEEP_MEMORY=0."""
    if os.environ.get("TINYGRAD_LSTM_KEEP_MEMORY", "1") == "0":
        return False
    libc = _glibc()
    if libc is None:
        return False
    # M_TRIM_THRESHOLD alone would switch off glibc's dynamic mmap threshold and leave it at
    # 128 KB, so that every gate-sized array would be a fresh mmap: set both.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


# What `restore()` leaves: glibc's sliding thresholds cannot be switched back on once a program
# has set one, and its starting values (128 KB each) fixed for good make every array of 128 KB
# or more a fresh mmap and every free a trim: numpy work on 2 MB arrays took 11x the time,
# an LSTM B=32 step 2x (a review of this module). These are where glibc's own would end after
# a program frees arrays of 32 MB (its ceiling, and twice that for the trim).
RESTORED_TRIM = 2 * MMAP_THRESHOLD


def restore():
    """Hand the freed memory malloc holds back to the kernel (malloc_trim) and keep at most
    RESTORED_TRIM of it from then on, in place of TRIM_THRESHOLD; the mmap threshold stays at
    32 MB (see RESTORED_TRIM). Returns True when it did."""
    global KEPT
    if not KEPT:
        return False
    libc = _glibc()  # (KEPT: it is glibc)
    libc.mallopt(M_TRIM_THRESHOLD, RESTORED_TRIM)
    libc.malloc_trim(0)
    KEPT = False
    return True


KEPT = keep_freed_memory()
