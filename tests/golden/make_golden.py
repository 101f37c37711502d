"""Generate the PyTorch golden fixtures in tests/golden/*.npz.

Run from the repository root:

    python tests/golden/make_golden.py                      # all cases, into tests/golden/
    python tests/golden/make_golden.py lstm_1layer grucell  # only these cases
    python tests/golden/make_golden.py --out /tmp/golden    # elsewhere, e.g. to compare with cmp

Needs torch (the fixtures were made with torch 2.13.0, CPU build); nothing else in the
project needs it. Everything is float64 with fixed seeds, and the .npz files are written
with fixed zip timestamps, so rerunning on one machine reproduces them byte for byte (on
another CPU the computed numbers may differ in the last bits: README.md).

Each case builds a torch recurrent module (default init after ``torch.manual_seed``), draws
an input (and an initial state for some cases), runs it, takes the scalar

    loss = sum(out * R_out) + sum(h_n * R_h) [+ sum(c_n * R_c)]      (layers)
    loss = sum(h' * R_h) [+ sum(c' * R_c)]                           (cells)

with fixed random weights R, and backpropagates. Parameters, inputs, R's, outputs, the loss
and the gradients of every parameter and input are stored; see README.md for the key layout.

torch has no module for the LSTM variants (1997, coupled, peephole) nor for the GRU in Cho's
form (reset_after=False). Those cases (config "reference": "equations") run the torch
functions below, each written op by op from the cell's equations, over weights drawn
U(-1/sqrt(H), 1/sqrt(H)) after ``torch.manual_seed`` as torch's own init does; torch's
autograd gives the gradients. ``forget_bias`` cases are torch.nn modules whose f block of
every bias_ih is shifted by forget_bias after the default init.

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

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3, "RNNCell": 1, "LSTMCell": 4, "GRUCell": 3,
         "LSTM1997Cell": 3, "CoupledLSTMCell": 3, "PeepholeLSTMCell": 4}
# Modules (cells, or layers of them) whose state is (h, c).
WITH_C = {"LSTM", "LSTMCell", "LSTM1997Cell", "CoupledLSTMCell", "PeepholeLSTMCell"}
# The cells torch.nn has no module for, computed by the equation functions below.
VARIANT_CELLS = ("LSTM1997Cell", "CoupledLSTMCell", "PeepholeLSTMCell")
PEEPHOLES = ("weight_ci", "weight_cf", "weight_co")  # PeepholeLSTMCell's diagonal weights (H,)

# Options a case may set; each appears in the spec and config only when set, so the
# configs of the plain torch.nn cases are unchanged.
#   cell:        the cell a layer ("LSTM") unrolls, one of VARIANT_CELLS
#   reset_after: False for the GRU / GRUCell in Cho's form
#   forget_bias: added to the f block of every bias_ih after torch's default init
OPTIONS = ("cell", "reset_after", "forget_bias")


def _options(spec, options):
    unknown = set(options) - set(OPTIONS)
    assert not unknown, unknown
    spec.update(options)
    if spec.get("cell") or spec["module"] in VARIANT_CELLS or spec.get("reset_after") is False:
        spec["reference"] = "equations"
    return spec


def _layer(module, num_layers=1, nonlinearity=None, bidirectional=False,
           batch_first=False, has_h0=False, **options):
    spec = {"module": module, "num_layers": num_layers, "bidirectional": bidirectional,
            "batch_first": batch_first, "has_h0": has_h0}
    if module == "RNN":
        spec["nonlinearity"] = nonlinearity
    return _options(spec, options)


def _cell(module, nonlinearity=None, **options):
    # A cell always takes its state explicitly (nonzero here).
    spec = {"module": module, "num_layers": 1, "bidirectional": False,
            "batch_first": False, "has_h0": True}
    if module == "RNNCell":
        spec["nonlinearity"] = nonlinearity
    return _options(spec, options)


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
    # The variants: no torch.nn module, so torch's autograd over their equations (below).
    "lstm1997cell": _cell("LSTM1997Cell"),
    "coupledlstmcell": _cell("CoupledLSTMCell"),
    "peepholelstmcell": _cell("PeepholeLSTMCell"),
    "grucell_cho": _cell("GRUCell", reset_after=False),
    "lstm1997_1layer": _layer("LSTM", 1, has_h0=True, cell="LSTM1997Cell"),
    "coupledlstm_2layer": _layer("LSTM", 2, cell="CoupledLSTMCell"),
    "peepholelstm_bidir_2layer_batchfirst": _layer("LSTM", 2, bidirectional=True,
                                                   batch_first=True, has_h0=True,
                                                   cell="PeepholeLSTMCell"),
    "gru_cho_2layer": _layer("GRU", 2, reset_after=False),
    "gru_cho_bidir_batchfirst": _layer("GRU", 1, bidirectional=True, batch_first=True,
                                       has_h0=True, reset_after=False),
    # forget_bias only moves the init; torch.nn computes the rest.
    "lstmcell_forgetbias": _cell("LSTMCell", forget_bias=1.0),
    "lstm_forgetbias_bidir": _layer("LSTM", 1, bidirectional=True, forget_bias=1.0),
}


def is_cell(module: str) -> bool:
    return module.endswith("Cell")


def has_c(module: str) -> bool:
    """Whether the module's state is (h, c) rather than h."""
    return module in WITH_C


def cell_name(config: dict) -> str:
    """The cell a config's module is or unrolls: "PeepholeLSTMCell", "GRUCell", ..."""
    module = config["module"]
    return module if is_cell(module) else config.get("cell") or module + "Cell"


def param_names(config: dict) -> list:
    """A cell's parameter names, in our (and torch's) state_dict order, without suffix."""
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    return names + list(PEEPHOLES) if cell_name(config) == "PeepholeLSTMCell" else names


def loss_string(module: str) -> str:
    if is_cell(module):
        return "sum(h*R_h)+sum(c*R_c)" if has_c(module) else "sum(h*R_h)"
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
    G = GATES[cell_name(config)]
    shapes = {}

    def cell_params(in_size, suffix=""):
        for name in param_names(config):
            shape = {"weight_ih": (G * H, in_size), "weight_hh": (G * H, H)}.get(
                name, (H,) if name in PEEPHOLES else (G * H,))
            shapes[f"param/{name}{suffix}"] = shape

    if is_cell(module):
        cell_params(I)
        shapes["input/x"] = (B, I)
        shapes["input/h"] = (B, H)
        shapes["R/h"] = (B, H)
        shapes["output/h"] = (B, H)
        if has_c(module):
            shapes["input/c"] = (B, H)
            shapes["R/c"] = (B, H)
            shapes["output/c"] = (B, H)
        return shapes

    L, T = config["num_layers"], config["seq_len"]
    D = 2 if config["bidirectional"] else 1
    for layer in range(L):
        in_size = I if layer == 0 else H * D
        for suffix in ([""] + (["_reverse"] if D == 2 else [])):
            cell_params(in_size, f"_l{layer}{suffix}")
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
    for key in OPTIONS + ("reference",):
        if key in spec:
            config[key] = spec[key]
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


# ---------------------------------------------------------------------------- torch equations
# The cells torch.nn lacks, each written op by op from its equations (the docstrings of
# tinygrad_lstm/cells.py), on torch tensors so that torch's autograd differentiates them.
# p holds one cell's parameters under their names without suffix: weight_ih (G*H, in),
# weight_hh (G*H, H), bias_ih and bias_hh (G*H,) or absent (bias=False), and the peephole
# cell's weight_ci, weight_cf, weight_co (H,). A state is a tuple: (h,) or (h, c).


def _block(p, name, k, H):
    """Gate block k (rows k*H .. (k+1)*H) of parameter `name`, or None if it is absent."""
    return None if p.get(name) is None else p[name][k * H:(k + 1) * H]


def _affine(v, W, b):
    return v @ W.T if b is None else v @ W.T + b


def gate_preactivation(x, h, p, k):
    """a_k = x W_ih[k]ᵀ + b_ih[k] + h W_hh[k]ᵀ + b_hh[k], for gate block k."""
    H = h.shape[-1]
    return (_affine(x, _block(p, "weight_ih", k, H), _block(p, "bias_ih", k, H))
            + _affine(h, _block(p, "weight_hh", k, H), _block(p, "bias_hh", k, H)))


def lstm1997_step(x, state, p):
    """Hochreiter & Schmidhuber 1997, gate order i, g, o, with the paper's own squashing
    functions (Appendix A), written with the logistic σ as the paper does, not with tanh as
    the cell is: g(z) = 4σ(z) − 2 in [−2, 2] and h(z) = 2σ(z) − 1 in [−1, 1];
    c = c_prev + σ(a_i) * g(a_g);  h = σ(a_o) * h(c)."""
    import torch
    h_prev, c_prev = state
    i = torch.sigmoid(gate_preactivation(x, h_prev, p, 0))
    g = 4.0 * torch.sigmoid(gate_preactivation(x, h_prev, p, 1)) - 2.0
    o = torch.sigmoid(gate_preactivation(x, h_prev, p, 2))
    c = c_prev + i * g
    return o * (2.0 * torch.sigmoid(c) - 1.0), c


def coupled_lstm_step(x, state, p):
    """Coupled input and forget gates, gate order f, g, o:
    c = f * c_prev + (1 - f) * tanh(a_g);  h = σ(a_o) * tanh(c)."""
    import torch
    h_prev, c_prev = state
    f = torch.sigmoid(gate_preactivation(x, h_prev, p, 0))
    g = torch.tanh(gate_preactivation(x, h_prev, p, 1))
    o = torch.sigmoid(gate_preactivation(x, h_prev, p, 2))
    c = f * c_prev + (1.0 - f) * g
    return o * torch.tanh(c), c


def peephole_lstm_step(x, state, p):
    """Gers & Schmidhuber 2000, gate order i, f, g, o: i and f peek at c_prev, o at the new c."""
    import torch
    h_prev, c_prev = state
    i = torch.sigmoid(gate_preactivation(x, h_prev, p, 0) + p["weight_ci"] * c_prev)
    f = torch.sigmoid(gate_preactivation(x, h_prev, p, 1) + p["weight_cf"] * c_prev)
    g = torch.tanh(gate_preactivation(x, h_prev, p, 2))
    c = f * c_prev + i * g
    o = torch.sigmoid(gate_preactivation(x, h_prev, p, 3) + p["weight_co"] * c)
    return o * torch.tanh(c), c


def gru_cho_step(x, state, p):
    """GRU with the reset gate before W_hn (Cho 2014), gate order r, z, n, torch's z:
    n = tanh(x W_inᵀ + b_in + (r * h_prev) W_hnᵀ + b_hn);  h = (1 - z) * n + z * h_prev."""
    import torch
    (h_prev,) = state
    H = h_prev.shape[-1]
    r = torch.sigmoid(gate_preactivation(x, h_prev, p, 0))
    z = torch.sigmoid(gate_preactivation(x, h_prev, p, 1))
    n = torch.tanh(_affine(x, _block(p, "weight_ih", 2, H), _block(p, "bias_ih", 2, H))
                   + _affine(r * h_prev, _block(p, "weight_hh", 2, H),
                             _block(p, "bias_hh", 2, H)))
    return ((1.0 - z) * n + z * h_prev,)


# How many states each step function carries: (h, c) or (h,).
STEP_STATES = {lstm1997_step: 2, coupled_lstm_step: 2, peephole_lstm_step: 2, gru_cho_step: 1}


def equation_step(config: dict):
    """The torch step function of a config that torch.nn has no module for."""
    cell = cell_name(config)
    if cell == "GRUCell" and config.get("reset_after") is False:
        return gru_cho_step
    return {"LSTM1997Cell": lstm1997_step, "CoupledLSTMCell": coupled_lstm_step,
            "PeepholeLSTMCell": peephole_lstm_step}[cell]


def torch_layer(step, x, params, hx=None, num_layers=1, bidirectional=False,
                batch_first=False):
    """Unroll `step` as torch.nn.LSTM / GRU unroll their cells.

    params: {name + "_l{layer}" [+ "_reverse"]: tensor}; hx: None (zeros) or a tuple of
    (num_layers * D, B, H) tensors, one per state. Returns out (T, B, D*H) (or batch first)
    with the last layer's forward then backward features, and the tuple of final states,
    each (num_layers * D, B, H), index layer * D + direction.
    """
    import torch
    if batch_first:
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    D = 2 if bidirectional else 1
    H = params["weight_hh_l0"].shape[1]
    n_states = STEP_STATES[step]
    finals = []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            p = {base: params[base + suffix] for base in
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + PEEPHOLES
                 if base + suffix in params}
            k = layer * D + d
            state = tuple(torch.zeros(B, H, dtype=x.dtype) for _ in range(n_states)) \
                if hx is None else tuple(s[k] for s in hx)
            hs = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                state = step(x[t], state, p)
                hs[t] = state[0]
            outs.append(torch.stack(hs))
            finals.append(state)
        x = torch.cat(outs, dim=-1)
    out = x.transpose(0, 1) if batch_first else x
    return out, tuple(torch.stack([f[j] for f in finals]) for j in range(n_states))


# ---------------------------------------------------------------------------- building a case
def _build_case(name: str) -> dict:
    import torch

    spec = CASES[name]
    module_name = spec["module"]
    dt = torch.float64
    I, H = INPUT_SIZE, HIDDEN_SIZE
    config = make_config(name, torch.__version__)
    shapes = expected_shapes(config)
    equations = spec.get("reference") == "equations"

    torch.manual_seed(case_seed(name))
    if equations:
        # Weights as torch's init draws them, U(-1/sqrt(H), 1/sqrt(H)), in state_dict order.
        k = H ** -0.5
        params = {key.split("/", 1)[1]: torch.empty(shape, dtype=dt).uniform_(-k, k)
                  for key, shape in shapes.items() if key.startswith("param/")}
        for v in params.values():
            v.requires_grad_(True)
        state_dict = {k_: v.detach() for k_, v in params.items()}
    else:
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
        if spec.get("forget_bias"):
            with torch.no_grad():
                for pname, v in module.named_parameters():
                    if pname.startswith("bias_ih"):
                        v[H:2 * H] += spec["forget_bias"]  # gate order i, f, g, o
        params = dict(module.named_parameters())
        state_dict = module.state_dict()
        assert list(params) == list(state_dict), (list(params), list(state_dict))

    def draw(key):
        return torch.randn(shapes[key], dtype=dt)

    # Draw order is fixed: inputs, then the R's.
    inputs = {"x": draw("input/x")}
    state_keys = (["h", "c"] if has_c(module_name) else ["h"]) if is_cell(module_name) \
        else ((["h0", "c0"] if module_name == "LSTM" else ["h0"]) if spec["has_h0"] else [])
    for k in state_keys:
        inputs[k] = draw(f"input/{k}")
    R = {k.split("/", 1)[1]: draw(k) for k in shapes if k.startswith("R/")}
    for t in inputs.values():
        t.requires_grad_(True)

    if equations:
        step = equation_step(config)
        if is_cell(module_name):
            new = step(inputs["x"], tuple(inputs[k] for k in state_keys), params)
            outputs = dict(zip(state_keys, new))
        else:
            hx = tuple(inputs[k] for k in state_keys) if spec["has_h0"] else None
            out, finals = torch_layer(step, inputs["x"], params, hx, spec["num_layers"],
                                      spec["bidirectional"], spec["batch_first"])
            outputs = dict(zip(["out", "h_n", "c_n"], (out,) + finals))
    elif module_name in ("RNNCell", "GRUCell"):
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
    assert set(outputs) == {pair[k] for k in R}, (name, set(outputs))
    loss = sum((outputs[pair[k]] * R[k]).sum() for k in R)
    loss.backward()

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
