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

__all__ = ["Tensor", "Function", "OpError", "OpIndexError", "no_grad", "scope", "manual_seed",
           "toposort", "gradcheck", "GradcheckError", "functional", "nn", "optim", "checkpoint",
           "set_num_threads"]
