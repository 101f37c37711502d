"""Let CPython's cyclic garbage collector run less often (its first-generation threshold).

The collector starts a pass over the newest objects after every 700 allocations of tracked
objects not matched by frees. Every node of the graph is three such objects (the Tensor, its
Function, the tuple of parents), so a training step that builds a graph of thousands of nodes
sets off several passes, and each scans the graph built so far. They never find anything: the
graph is acyclic (a Function does not point back to its output), so reference counting alone
frees it once the loss is dropped. Measured with `gc.callbacks` on the benchmark's steps, the
passes took 0.67 ms of a 64 ms LSTM B=32 T=64 H=256 step and 0.12 of a 2.2 ms B=1 T=25 H=100
one; paired against the default threshold, the steps took 0.990x, 0.985x (GRU) and 0.944x
(LSTM B=1) of the time.

`collect_less_often()` raises the threshold, once, at import, to GEN0 = 20,000: a step's graph
is then usually freed before a pass starts. The cost falls on the rest of the program: cyclic
garbage it makes waits longer to be collected, up to 20,000 objects and all they hold, which
is a lot where each holds an array (30,000 self-referencing objects holding 40 KB each peaked
at 764 MB against 53 MB at the default threshold; exceptions kept with their tracebacks, a
frame cycle each, at 591 against 85 MB: a review of the package's process-wide settings). A
threshold the program has already set higher, or 0 (automatic collection off), is left alone,
and so is everything when TINYGRAD_LSTM_GC=0 is set before the import; `restore()` (the
package's `restore_process_defaults()`) puts the threshold back later.
"""

from __future__ import annotations

import gc
import os

GEN0 = 20_000


BEFORE = gc.get_threshold()  # the program's own, at the import


def collect_less_often():
    """Raise the collector's first threshold to GEN0 (see the module docstring). Returns True
    when it did."""
    if os.environ.get("TINYGRAD_LSTM_GC", "1") == "0":
        return False
    first, *rest = gc.get_threshold()
    if first == 0 or first >= GEN0:
        return False
    gc.set_threshold(GEN0, *rest)
    return True


def restore():
    """Put the first threshold back to what it was before the import, where it is still the
    one set here (a threshold the program has set since is its own). Returns True when it
    did."""
    global RAISED
    if not RAISED or gc.get_threshold()[0] != GEN0:
        return False
    gc.set_threshold(BEFORE[0], *gc.get_threshold()[1:])
    RAISED = False
    return True


RAISED = collect_less_often()
