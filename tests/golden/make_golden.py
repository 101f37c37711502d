"""Generate the PyTorch golden fixtures in tests/golden/*.npz.

Run from the repository root:

    python tests/golden/make_golden.py                      # all cases, into tests/golden/
    python tests/golden/make_golden.py lstm_1layer grucell  # only these cases
    python tests/golden/make_golden.py --out /tmp/golden    # elsewhere, e.g. to compare with cmp

Needs torch (the fixtures were made with torch 2.13.0, CPU build); nothing else in the
project needs it. Everything is float64 with fixed seeds, and the .npz files are written
with fixed zip timestamps, so rerunning reproduces them byte for byte.

Each case builds a torch recurrent module (default init after ``torch.manual_seed``), draws
an input (and an initial state for some cases), runs it, takes the scalar

    loss = sum(out * R_out) + sum(h_n * R_h) [+ sum(c_n * R_c)]      (layers)
    loss = sum(h' * R_h) [+ sum(c' * R_c)]                           (cells)

with fixed random weights R, and backpropagates. Parameters, inputs, R's, outputs, the loss
and the gradients of every parameter and input are stored; see README.md for the key layout.

``build_case(name)`` is also used by test_golden_selfcheck.py to regenerate a case in memory
and compare it with the stored file. torch is only imported inside the functions that need
it, so ``CASES`` and the shape helpers can be imported without torch.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# Sizes shared by every case: input_size != hidden_size so transposed weights are caught.
INPUT_SIZE = 3
HIDDEN_SIZE = 5
SEQ_LEN = 4
BATCH = 2

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3, "RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}


def _layer(module, num_layers=1, nonlinearity=None, bidirectional=False,
           batch_first=False, has_h0=False):
    spec = {"module": module, "num_layers": num_layers, "bidirectional": bidirectional,
            "batch_first": batch_first, "has_h0": has_h0}
    if module == "RNN":
        spec["nonlinearity"] = nonlinearity
    return spec


def _cell(module, nonlinearity=None):
    # A cell always takes its state explicitly (nonzero here).
    spec = {"module": module, "num_layers": 1, "bidirectional": False,
            "batch_first": False, "has_h0": True}
    if module == "RNNCell":
        spec["nonlinearity"] = nonlinearity
    return spec


# One case per family is run with a nonzero initial state (has_h0); the rest pass None.
CASES = {
    "rnn_tanh_1layer": _layer("RNN", 1, "tanh"),
    "rnn_relu_2layer": _layer("RNN", 2, "relu", has_h0=True),
    "rnn_tanh_bidir": _layer("RNN", 1, "tanh", bidirectional=True),
    "lstm_1layer": _layer("LSTM", 1),
    "lstm_2layer": _layer("LSTM", 2),
    "lstm_bidir_2layer_batchfirst": _layer("LSTM", 2, bidirectional=True,
                                           batch_first=True, has_h0=True),
    "gru_1layer": _layer("GRU", 1),
    "gru_2layer": _layer("GRU", 2),
    "gru_bidir_batchfirst": _layer("GRU", 1, bidirectional=True, batch_first=True,
                                   has_h0=True),
    "rnncell_tanh": _cell("RNNCell", "tanh"),
    "rnncell_relu": _cell("RNNCell", "relu"),
    "lstmcell": _cell("LSTMCell"),
    "grucell": _cell("GRUCell"),
}


def is_cell(module: str) -> bool:
    return module.endswith("Cell")


def loss_string(module: str) -> str:
    if is_cell(module):
        return "sum(h*R_h)+sum(c*R_c)" if module == "LSTMCell" else "sum(h*R_h)"
    if module == "LSTM":
        return "sum(out*R_out)+sum(h_n*R_h)+sum(c_n*R_c)"
    return "sum(out*R_out)+sum(h_n*R_h)"


def case_seed(name: str) -> int:
    """A fixed seed per case, independent of the order of CASES."""
    return zlib.crc32(name.encode("utf-8")) % (2 ** 31)


def expected_shapes(config: dict) -> dict:
    """Shape of every stored array (without the "grad/" copies) implied by a config.

    Returns {key: shape} for params, inputs, R's and outputs, following torch's layout.
    """
    module = config["module"]
    I, H = config["input_size"], config["hidden_size"]
    B = config["batch_size"]
    G = GATES[module]
    shapes = {}
    if is_cell(module):
        shapes["param/weight_ih"] = (G * H, I)
        shapes["param/weight_hh"] = (G * H, H)
        shapes["param/bias_ih"] = (G * H,)
        shapes["param/bias_hh"] = (G * H,)
        shapes["input/x"] = (B, I)
        shapes["input/h"] = (B, H)
        shapes["R/h"] = (B, H)
        shapes["output/h"] = (B, H)
        if module == "LSTMCell":
            shapes["input/c"] = (B, H)
            shapes["R/c"] = (B, H)
            shapes["output/c"] = (B, H)
        return shapes

    L, T = config["num_layers"], config["seq_len"]
    D = 2 if config["bidirectional"] else 1
    for layer in range(L):
        in_size = I if layer == 0 else H * D
        for suffix in ([""] + (["_reverse"] if D == 2 else [])):
            shapes[f"param/weight_ih_l{layer}{suffix}"] = (G * H, in_size)
            shapes[f"param/weight_hh_l{layer}{suffix}"] = (G * H, H)
            shapes[f"param/bias_ih_l{layer}{suffix}"] = (G * H,)
            shapes[f"param/bias_hh_l{layer}{suffix}"] = (G * H,)
    bf = config["batch_first"]
    shapes["input/x"] = (B, T, I) if bf else (T, B, I)
    out_shape = (B, T, D * H) if bf else (T, B, D * H)
    state_shape = (L * D, B, H)  # never batch-first, as in torch
    if config["has_h0"]:
        shapes["input/h0"] = state_shape
        if module == "LSTM":
            shapes["input/c0"] = state_shape
    shapes["R/out"] = out_shape
    shapes["R/h"] = state_shape
    shapes["output/out"] = out_shape
    shapes["output/h_n"] = state_shape
    if module == "LSTM":
        shapes["R/c"] = state_shape
        shapes["output/c_n"] = state_shape
    return shapes


def make_config(name: str, torch_version: str) -> dict:
    spec = CASES[name]
    module = spec["module"]
    config = {
        "case": name,
        "module": module,
        "input_size": INPUT_SIZE,
        "hidden_size": HIDDEN_SIZE,
        "num_layers": spec["num_layers"],
    }
    if "nonlinearity" in spec:
        config["nonlinearity"] = spec["nonlinearity"]
    config.update({
        "bidirectional": spec["bidirectional"],
        "batch_first": spec["batch_first"],
        "bias": True,
        "dropout": 0.0,
        "has_h0": spec["has_h0"],
        "batch_size": BATCH,
        "seq_len": None if is_cell(module) else SEQ_LEN,
        "dtype": "float64",
        "seed": case_seed(name),
        "torch_version": torch_version,
        "loss": loss_string(module),
    })
    return config


def build_case(name: str) -> dict:
    """Run case `name` in torch and return the flat {key: np.ndarray} stored in its .npz.

    torch's global state (RNG, deterministic-algorithms flag, thread count) is restored
    afterwards, so tests can call this without disturbing other tests.
    """
    import torch

    if name not in CASES:
        raise KeyError(f"build_case: unknown case {name!r} (have: {', '.join(CASES)})")
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    try:
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):
            return _build_case(name)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def _build_case(name: str) -> dict:
    import torch

    spec = CASES[name]
    module_name = spec["module"]
    dt = torch.float64
    I, H, T, B = INPUT_SIZE, HIDDEN_SIZE, SEQ_LEN, BATCH
    config = make_config(name, torch.__version__)

    torch.manual_seed(case_seed(name))
    cls = getattr(torch.nn, module_name)
    kwargs = {"dtype": dt}
    if "nonlinearity" in spec:
        kwargs["nonlinearity"] = spec["nonlinearity"]
    if is_cell(module_name):
        module = cls(I, H, **kwargs)
    else:
        module = cls(I, H, num_layers=spec["num_layers"], bidirectional=spec["bidirectional"],
                     batch_first=spec["batch_first"], dropout=0.0, **kwargs)
    module.train(False)  # nothing here depends on it (dropout is 0); stated for clarity

    shapes = expected_shapes(config)

    def draw(key):
        return torch.randn(shapes[key], dtype=dt)

    # Draw order is fixed: inputs, then the R's.
    inputs = {"x": draw("input/x")}
    state_keys = (["h", "c"] if module_name == "LSTMCell" else ["h"]) if is_cell(module_name) \
        else ((["h0", "c0"] if module_name == "LSTM" else ["h0"]) if spec["has_h0"] else [])
    for k in state_keys:
        inputs[k] = draw(f"input/{k}")
    R = {k.split("/", 1)[1]: draw(k) for k in shapes if k.startswith("R/")}
    for t in inputs.values():
        t.requires_grad_(True)

    if module_name in ("RNNCell", "GRUCell"):
        outputs = {"h": module(inputs["x"], inputs["h"])}
    elif module_name == "LSTMCell":
        h, c = module(inputs["x"], (inputs["h"], inputs["c"]))
        outputs = {"h": h, "c": c}
    elif module_name == "LSTM":
        state = (inputs["h0"], inputs["c0"]) if spec["has_h0"] else None
        out, (h_n, c_n) = module(inputs["x"], state)
        outputs = {"out": out, "h_n": h_n, "c_n": c_n}
    else:
        out, h_n = module(inputs["x"], inputs["h0"] if spec["has_h0"] else None)
        outputs = {"out": out, "h_n": h_n}

    # R/out pairs with output/out, R/h with output/h_n (or the cell's h), R/c with c_n / c.
    pair = {"out": "out", "h": "h_n", "c": "c_n"} if not is_cell(module_name) \
        else {"h": "h", "c": "c"}
    loss = sum((outputs[pair[k]] * R[k]).sum() for k in R)
    loss.backward()

    params = dict(module.named_parameters())
    state_dict = module.state_dict()
    assert list(params) == list(state_dict), (list(params), list(state_dict))

    arrays = {"config": np.array(json.dumps(config, sort_keys=True))}

    def np64(t):
        a = t.detach().cpu().numpy().astype(np.float64, copy=True)
        return np.ascontiguousarray(a)

    for k, v in state_dict.items():
        arrays[f"param/{k}"] = np64(v)
    for k, v in inputs.items():
        arrays[f"input/{k}"] = np64(v)
    for k, v in R.items():
        arrays[f"R/{k}"] = np64(v)
    for k, v in outputs.items():
        arrays[f"output/{k}"] = np64(v)
    arrays["loss"] = np64(loss).reshape(())
    for k, v in params.items():
        arrays[f"grad/param/{k}"] = np64(v.grad)
    for k, v in inputs.items():
        arrays[f"grad/input/{k}"] = np64(v.grad)

    # The layout must match what the config implies.
    for k, shape in shapes.items():
        assert arrays[k].shape == shape, (name, k, arrays[k].shape, shape)
    return arrays


def write_npz(path: Path, arrays: dict) -> None:
    """Write an .npz that np.load reads, byte-identical across runs (fixed zip timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            arr = np.asanyarray(arrays[key])
            assert arr.dtype != object, key
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    tmp = path.with_suffix(".npz.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def main(argv=None) -> int:
    import argparse

    import torch

    parser = argparse.ArgumentParser(description="Generate the PyTorch golden fixtures.")
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help=f"cases to build (default: all): {', '.join(CASES)}")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="directory to write the .npz files to (default: %(default)s)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.cases if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; have: {', '.join(CASES)}")
    names = args.cases or list(CASES)
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in names:
        arrays = build_case(name)
        path = args.out / f"{name}.npz"
        write_npz(path, arrays)
        size = path.stat().st_size
        total += size
        print(f"{path.name:40s} {size:7d} bytes  loss={float(arrays['loss']):+.12f}")
    print(f"{len(names)} files, {total} bytes, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
