"""Load the PyTorch golden fixtures in this folder without torch (numpy, json, pathlib only).

    from golden.load import load_case, list_cases      # or tests.golden.load, or by file path
    case = load_case("lstm_1layer")
    case["config"]["hidden_size"]          # parsed JSON config
    case["params"]["weight_ih_l0"]         # torch state_dict names
    case["inputs"]["x"], case["inputs"].get("h0")
    case["R"]["out"], case["outputs"]["h_n"], case["loss"]
    case["grads"]["params"]["weight_ih_l0"], case["grads"]["inputs"]["x"]
"""

import json
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent

__all__ = ["GOLDEN_DIR", "list_cases", "load_case", "load_arrays"]


def list_cases():
    """Names of the stored cases (file stems of the .npz files here), sorted."""
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.npz"))


def load_arrays(name):
    """The flat {key: np.ndarray} of a case's .npz, exactly as stored."""
    path = GOLDEN_DIR / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no golden case {name!r} (have: {', '.join(list_cases())})")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_case(name):
    """A case as nested dicts.

    Returns {"name", "config" (dict), "params", "inputs", "R", "outputs",
    "loss" (float), "grads": {"params", "inputs"}}; the inner dicts map the name after the
    key prefix (e.g. "weight_hh_l0_reverse", "h0", "out") to a float64 np.ndarray.
    """
    arrays = load_arrays(name)
    case = {
        "name": name,
        "config": json.loads(str(arrays["config"][()])),
        "params": {},
        "inputs": {},
        "R": {},
        "outputs": {},
        "loss": float(arrays["loss"]),
        "grads": {"params": {}, "inputs": {}},
    }
    prefixes = [
        ("grad/param/", case["grads"]["params"]),
        ("grad/input/", case["grads"]["inputs"]),
        ("param/", case["params"]),
        ("input/", case["inputs"]),
        ("R/", case["R"]),
        ("output/", case["outputs"]),
    ]
    for key, value in arrays.items():
        if key in ("config", "loss"):
            continue
        for prefix, target in prefixes:
            if key.startswith(prefix):
                target[key[len(prefix):]] = value
                break
        else:
            raise KeyError(f"{name}: unexpected key {key!r} in fixture")
    return case
