"""`python -m tinygrad_lstm DEMO [flags]`: the same as the `tinygrad-lstm` console script."""

import sys

from .cli import main

sys.exit(main())
