"""The engine keeps freed array memory between steps on glibc (tinygrad_lstm/_malloc.py): a
second round of the same allocations takes no page faults, while with the setting switched off
the same program faults the memory back in page by page."""

import os
import subprocess
import sys

import pytest

PROGRAM = r"""
import resource
import numpy as np
import tinygrad_lstm, tinygrad_lstm._malloc as m

def one_step():
    # what a training step does: many mid-sized arrays, alive together, then all freed
    arrays = [np.ones((32, 1024), np.float32) for _ in range(400)]   # 50 MB
    return sum(a[0, 0] for a in arrays)

one_step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
one_step()
print(m.KEPT, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run(keep):
    env = dict(os.environ, TINYGRAD_LSTM_KEEP_MEMORY="1" if keep else "0")
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning only")
def test_second_step_takes_no_page_faults():
    kept, faults = run(keep=True)
    if not kept:
        pytest.skip("not glibc: malloc is left as it is")
    off, faults_off = run(keep=False)
    assert not off
    assert faults < 200, f"{faults} minor faults on the second step with the memory kept"
    assert faults_off > 5000, f"only {faults_off} faults without: the test would prove nothing"
