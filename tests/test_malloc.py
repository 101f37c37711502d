"""The engine keeps freed array memory between steps on glibc (tinygrad_lstm/_malloc.py): a
second round of the same allocations takes no page faults, while the same program with the
setting switched off, its freed memory handed back, faults it in again page by page.

Page faults depend on the machine, so nothing here is an absolute count: the program counts the
pages it touches (its page size: 4 KB, 16 KB or 64 KB), the run with the setting off is the
control (it must fault in at least half of those pages, else the test could show nothing), and
the run with the memory kept must take at most a twentieth of the control's faults (measured:
0 against 12,674 with 4 KB pages). The control calls malloc_trim between its two steps: left to
itself glibc hands back only the free top of its heap, and what import leaves above the first
step's arrays decides how much that is (with the package's .pyc files written, the control
faulted in 5,344 of 12,800 pages, and the test failed as unable to show anything).
Transparent huge pages are switched off for the program (prctl PR_SET_THP_DISABLE): with THP
"always" the kernel faults the heap in 2 MB at a time and the control would take only about 25
faults. The counts do not depend on CPU load."""

import os
import platform
import subprocess
import sys

import pytest

PROGRAM = r"""
import ctypes, os, resource
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: fault in base pages only
import numpy as np
import tinygrad_lstm, tinygrad_lstm._malloc as m

def one_step():
    # what a training step does: many mid-sized arrays, alive together, then all freed
    arrays = [np.ones((32, 1024), np.float32) for _ in range(400)]   # 50 MB
    return sum(a[0, 0] for a in arrays)

one_step()
if not m.KEPT:  # the control hands the freed memory back (see the module docstring)
    ctypes.CDLL(None).malloc_trim(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
one_step()
pages = 400 * 32 * 1024 * 4 // os.sysconf("SC_PAGE_SIZE")
print(m.KEPT, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, pages)
"""


def run(keep, env=None):
    env = dict(os.environ, **(env or {}), TINYGRAD_LSTM_KEEP_MEMORY="1" if keep else "0")
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1]), int(out[2])


def check(env=None):
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: malloc is left as it is")
    kept, faults, pages = run(keep=True, env=env)
    assert kept, "glibc, but keep_freed_memory() did not set malloc's thresholds"
    off, faults_off, pages_off = run(keep=False, env=env)
    assert not off and pages_off == pages
    assert faults_off >= pages // 2, (f"only {faults_off} faults for {pages} pages without "
                                      "the setting: the test would prove nothing")
    assert faults * 20 <= faults_off, (f"{faults} minor faults on the second step with the "
                                       f"memory kept, {faults_off} without")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning only")
def test_second_step_takes_no_page_faults():
    check()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning only")
def test_also_where_malloc_asks_for_huge_pages():
    # glibc.malloc.hugetlb=1 makes malloc madvise its heap for huge pages, which is what THP
    # "always" does to every heap: the program's prctl must keep the control meaningful.
    check({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})


def test_a_c_library_that_cannot_be_opened_so_leaves_malloc_alone(monkeypatch):
    # Windows's ctypes refuses CDLL(None) with a TypeError, which the import let through
    import ctypes

    from tinygrad_lstm import _malloc

    def refuses(name, *args, **kwargs):
        return "/" in name  # CPython's own first line on Windows: None is not iterable

    monkeypatch.setattr(ctypes, "CDLL", refuses)
    monkeypatch.delenv("TINYGRAD_LSTM_KEEP_MEMORY", raising=False)
    assert _malloc.keep_freed_memory() is False


RESTORE = r"""
import numpy as np
import tinygrad_lstm

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) >> 10  # MB

def round_of_arrays():  # other work of the program: 200 MB of 10 MB arrays, made and freed
    arrays = [np.ones(10 << 18, np.float32) for _ in range(20)]
    return sum(a[0] for a in arrays)

base = rss()
round_of_arrays()
kept = rss() - base
restored = tinygrad_lstm.restore_process_defaults()
after = rss() - base
round_of_arrays()
again = rss() - base
import resource
a = np.ones((512, 512))  # 2 MB temporaries, made and freed: reused, not faulted in anew
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    b = a * 2.0 + 1.0
print(restored[1], kept, after, again, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc tuning only")
def test_restore_process_defaults_hands_the_kept_memory_back():
    # the setting keeps what the rest of the program frees too (a review of the package's
    # process-wide settings); restore_process_defaults() gives it back and keeps less
    env = dict(os.environ)
    env.pop("TINYGRAD_LSTM_KEEP_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", RESTORE], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    restored, kept, after, again, faults = out[0] == "True", *map(int, out[1:])
    assert restored and kept >= 150, f"{kept} MB kept: the test would show nothing"
    assert after <= 30 and again <= 80, (kept, after, again)  # at most 64 MB kept from then on
    # glibc's starting thresholds, fixed for good, made every 2 MB array a fresh mmap (the
    # first restore did so: 100,000 faults here and numpy work at 11x the time)
    assert faults < 5_000, f"{faults} minor faults for 100 rounds of 2 MB temporaries"
