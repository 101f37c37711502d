"""The PyTorch golden fixtures in tests/golden/ are complete and self-consistent.

Without torch: every fixture loads, its keys and shapes follow its config, its loss is
sum(out * R_out) + ... of the stored arrays, a plain numpy forward pass reproduces its outputs,
and its gradients agree with a central difference of that forward pass along a random direction.
With torch: regenerating every case reproduces the stored arrays to rounding (and the .npz
bytes where the numbers are equal).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden_load = _load_module("golden_load", GOLDEN / "load.py")
make_golden = _load_module("golden_make", GOLDEN / "make_golden.py")  # numpy only at import
CASES = sorted(make_golden.CASES)


# ---------------------------------------------------------------------------- a numpy reference
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))




def cell_step(module, x, state, p, nonlinearity="tanh", reset_after=True):
    """One step of a cell (torch's RNN/LSTM/GRU cells, or a variant named by its class);
    state is h, or (h, c) for the LSTM kinds."""
    if module in ("LSTM1997Cell", "CoupledLSTMCell", "PeepholeLSTMCell"):
        h, c = state
        a = np.split(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"],
                     make_golden.GATES[module], axis=-1)
        if module == "LSTM1997Cell":  # i, g, o; the paper's g in [−2, 2] and h in [−1, 1]
            c = c + sigmoid(a[0]) * (4.0 * sigmoid(a[1]) - 2.0)
            return sigmoid(a[2]) * (2.0 * sigmoid(c) - 1.0), c
        if module == "CoupledLSTMCell":  # f, g, o
            f = sigmoid(a[0])
            c = f * c + (1 - f) * np.tanh(a[1])
            return sigmoid(a[2]) * np.tanh(c), c
        i = sigmoid(a[0] + p["weight_ci"] * c)  # peephole: i, f, g, o
        f = sigmoid(a[1] + p["weight_cf"] * c)
        c = f * c + i * np.tanh(a[2])
        return sigmoid(a[3] + p["weight_co"] * c) * np.tanh(c), c
    if module in ("LSTM", "LSTMCell"):
        h, c = state
        i, f, g, o = np.split(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T
                              + p["bias_hh"], 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    if module in ("GRU", "GRUCell"):
        gi = np.split(x @ p["weight_ih"].T + p["bias_ih"], 3, axis=-1)
        if reset_after:
            gh = np.split(state @ p["weight_hh"].T + p["bias_hh"], 3, axis=-1)
        else:  # Cho 2014: r scales h_prev before W_hn
            w_hh, b_hh = np.split(p["weight_hh"], 3), np.split(p["bias_hh"], 3)
            gh = [state @ w_hh[0].T + b_hh[0], state @ w_hh[1].T + b_hh[1], None]
        r, z = sigmoid(gi[0] + gh[0]), sigmoid(gi[1] + gh[1])
        if reset_after:
            n = np.tanh(gi[2] + r * gh[2])
        else:
            n = np.tanh(gi[2] + (r * state) @ w_hh[2].T + b_hh[2])
        return (1 - z) * n + z * state
    pre = x @ p["weight_ih"].T + p["bias_ih"] + state @ p["weight_hh"].T + p["bias_hh"]
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0.0)


def forward(config, params, inputs):
    """The outputs torch computes for this config, as {"out", "h_n"[, "c_n"]} or {"h"[, "c"]}."""
    module, act = config["module"], config.get("nonlinearity", "tanh")
    lstm = make_golden.has_c(module)
    cell = make_golden.cell_name(config)  # "LSTMCell" for an LSTM layer, ...
    reset_after = config.get("reset_after", True)
    if make_golden.is_cell(module):
        state = (inputs["h"], inputs["c"]) if lstm else inputs["h"]
        new = cell_step(cell, inputs["x"], state, params, act, reset_after)
        return {"h": new[0], "c": new[1]} if lstm else {"h": new}
    x = inputs["x"].swapaxes(0, 1) if config["batch_first"] else inputs["x"]  # (T, B, I)
    T, B, _ = x.shape
    L, H, D = config["num_layers"], config["hidden_size"], 2 if config["bidirectional"] else 1
    zeros = np.zeros((L * D, B, H))
    h0 = inputs.get("h0", zeros)
    c0 = inputs.get("c0", zeros)
    h_n, c_n = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            p = {k: params[k + sfx] for k in make_golden.param_names(config)}
            k = layer * D + d  # torch's state index: layer-major, then direction
            state = (h0[k], c0[k]) if lstm else h0[k]
            hs = [None] * T
            for t in (reversed(range(T)) if d else range(T)):
                state = cell_step(cell, x[t], state, p, act, reset_after)
                hs[t] = state[0] if lstm else state
            outs.append(np.stack(hs))
            h_n.append(state[0] if lstm else state)
            if lstm:
                c_n.append(state[1])
        x = np.concatenate(outs, axis=-1)  # (T, B, D*H): forward features, then backward
    result = {"out": x.swapaxes(0, 1) if config["batch_first"] else x, "h_n": np.stack(h_n)}
    if lstm:
        result["c_n"] = np.stack(c_n)
    return result


PAIR = {"out": "out", "h": "h_n", "c": "c_n"}  # R/<key> multiplies output/<PAIR[key]>


def loss_of(config, outputs, R):
    pair = {"h": "h", "c": "c"} if make_golden.is_cell(config["module"]) else PAIR
    return sum(float(np.sum(outputs[pair[k]] * r)) for k, r in R.items())


# ---------------------------------------------------------------------------- completeness
def test_every_case_is_stored_and_nothing_else():
    assert golden_load.list_cases() == CASES


def test_the_cases_cover_every_module_and_option():
    configs = [golden_load.load_case(name)["config"] for name in CASES]
    assert {c["module"] for c in configs} == {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell",
                                              "GRUCell", *make_golden.VARIANT_CELLS}
    # Every variant as a cell and as a layer, with a 2-layer and a bidirectional one among
    # the variant layers; the Cho-form GRU and forget_bias likewise.
    variants = [c for c in configs if c.get("reference") == "equations"]
    assert {c["cell"] for c in variants if "cell" in c} == set(make_golden.VARIANT_CELLS)
    assert {c["module"] for c in variants if c.get("reset_after") is False} == {"GRU", "GRUCell"}
    assert {c["module"] for c in configs if c.get("forget_bias")} == {"LSTM", "LSTMCell"}
    for option in ("num_layers", "bidirectional", "has_h0", "batch_first"):
        assert {c[option] for c in variants if c["module"] in ("LSTM", "GRU")} == \
            ({1, 2} if option == "num_layers" else {False, True}), option
    assert all(c.get("reference") == "equations" for c in configs
               if c["module"] in make_golden.VARIANT_CELLS or "cell" in c
               or c.get("reset_after") is False)
    assert {c["nonlinearity"] for c in configs if c["module"] == "RNN"} == {"tanh", "relu"}
    assert {c["nonlinearity"] for c in configs if c["module"] == "RNNCell"} == {"tanh", "relu"}
    for module in ("RNN", "LSTM", "GRU"):
        layers = [c for c in configs if c["module"] == module]
        assert {c["num_layers"] for c in layers} == {1, 2}, module
        assert {c["bidirectional"] for c in layers} == {False, True}, module
        assert {c["has_h0"] for c in layers} == {False, True}, module
    assert any(c["batch_first"] for c in configs if c["module"] == "LSTM")
    assert any(c["batch_first"] for c in configs if c["module"] == "GRU")
    assert any(c["num_layers"] == 2 and c["bidirectional"] for c in configs)


# ---------------------------------------------------------------------------- each fixture
@pytest.mark.parametrize("name", CASES)
def test_fixture_is_self_consistent(name):
    arrays = golden_load.load_arrays(name)
    case = golden_load.load_case(name)
    config = case["config"]
    assert config == json.loads(str(arrays["config"][()]))
    assert config == make_golden.make_config(name, config["torch_version"])
    assert config["dtype"] == "float64" and config["input_size"] != config["hidden_size"]

    # Keys and shapes follow the config; every parameter and input has a gradient.
    shapes = make_golden.expected_shapes(config)
    grads = {f"grad/{k}": s for k, s in shapes.items() if k.startswith(("param/", "input/"))}
    assert set(arrays) == set(shapes) | set(grads) | {"config", "loss"}
    for key, shape in {**shapes, **grads}.items():
        assert arrays[key].shape == shape, (key, arrays[key].shape, shape)
        assert arrays[key].dtype == np.float64, key
        assert np.isfinite(arrays[key]).all(), key
    assert arrays["loss"].shape == () and arrays["loss"].dtype == np.float64

    # The stored loss is the stated function of the stored outputs and R's.
    assert config["loss"] == make_golden.loss_string(config["module"])
    assert loss_of(config, case["outputs"], case["R"]) == pytest.approx(case["loss"], rel=1e-12,
                                                                        abs=1e-12)

    # A numpy forward pass from the stored parameters and inputs gives the stored outputs.
    outputs = forward(config, case["params"], case["inputs"])
    assert set(outputs) == set(case["outputs"])
    for key, value in outputs.items():
        np.testing.assert_allclose(value, case["outputs"][key], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: output/{key}")


@pytest.mark.parametrize("name", CASES)
def test_fixture_gradients_match_a_directional_difference(name):
    case = golden_load.load_case(name)
    config, R = case["config"], case["R"]
    leaves = {("params", k): v for k, v in case["params"].items()}
    leaves.update({("inputs", k): v for k, v in case["inputs"].items()})
    rng = np.random.default_rng(0)
    direction = {k: rng.standard_normal(v.shape) for k, v in leaves.items()}

    def loss_at(eps):
        moved = {"params": {}, "inputs": {}}
        for (group, k), v in leaves.items():
            moved[group][k] = v + eps * direction[(group, k)]
        return loss_of(config, forward(config, moved["params"], moved["inputs"]), R)

    eps = 1e-6
    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    analytic = sum(float(np.sum(case["grads"][group][k] * direction[(group, k)]))
                   for group, k in leaves)
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-8), name


# ---------------------------------------------------------------------------- against torch
def test_regenerating_with_torch_reproduces_the_fixtures(tmp_path):
    # The same torch on another CPU (AVX2 vs AVX-512 kernels) sums in another order, so the
    # fresh numbers are compared to rounding; the bytes are compared where the numbers are
    # the same, and the writer's own determinism is checked on the stored arrays everywhere.
    torch = pytest.importorskip("torch")
    for name in CASES:
        stored = golden_load.load_arrays(name)
        made_with = json.loads(str(stored["config"][()]))["torch_version"]
        fresh = make_golden.build_case(name)
        assert set(fresh) == set(stored), name
        rtol = 1e-12 if torch.__version__ == made_with else 1e-9
        for key in fresh:
            assert fresh[key].dtype == stored[key].dtype, (name, key)
            if key != "config":
                np.testing.assert_allclose(fresh[key], stored[key], rtol=rtol, atol=1e-14,
                                           err_msg=f"{name}: {key} (torch {torch.__version__}"
                                                   f" vs {made_with})")
        assert fresh["config"] == stored["config"], name
        golden = (GOLDEN / f"{name}.npz").read_bytes()
        path = tmp_path / f"{name}.npz"
        make_golden.write_npz(path, stored)
        assert path.read_bytes() == golden, name
        if all(np.array_equal(fresh[k], stored[k]) for k in fresh):
            make_golden.write_npz(path, fresh)
            assert path.read_bytes() == golden, name
