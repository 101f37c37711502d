"""tinygrad_lstm: recurrent networks written as their forward equations, on a tiny autograd.

    from tinygrad_lstm import Tensor, no_grad, gradcheck, nn, optim
    import tinygrad_lstm.functional as F
"""

from . import _malloc  # noqa: F401  (first: keeps freed arrays for the next step)
from . import _gc  # noqa: F401  (the graph is acyclic: fewer collector passes over it)
from . import functional
from .autograd import toposort
from .gradcheck import GradcheckError, gradcheck
from . import checkpoint, nn, optim
from ._blas import set_num_threads
from .tensor import Function, OpError, OpIndexError, Tensor, manual_seed, no_grad, scope

__version__ = "0.1.0"


def restore_process_defaults():
    """Undo what importing the package set for the whole process, for a program that trains
    and then goes on to other work: the collector's first threshold goes back to what it was
    (where the program has not set its own since), and glibc's malloc hands the freed memory
    it kept back to the kernel and keeps at most 64 MB of it from then on (its own defaults
    cannot be switched back on: `_malloc.RESTORED_TRIM`). Training after this runs slower:
    the collector's setting saved about 1% of an LSTM B=32 T=64 H=256 step and 6% at B=1.
    Returns (gc threshold restored, malloc restored)."""
    return _gc.restore(), _malloc.restore()


__all__ = ["Tensor", "Function", "OpError", "OpIndexError", "no_grad", "scope", "manual_seed",
           "toposort", "gradcheck", "GradcheckError", "functional", "nn", "optim", "checkpoint",
           "set_num_threads", "restore_process_defaults"]
