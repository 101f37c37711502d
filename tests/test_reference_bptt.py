"""The hand-derived BPTT reference (benchmarks/reference.py) is exact.

Checked three ways: float64 central differences for every gradient, PyTorch's
nn.LSTM / nn.GRU / nn.RNN + Linear + F.cross_entropy as an oracle (skipped when
torch is missing), and float32 in -> float32 everywhere.
"""
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REF_PATH = ROOT / "benchmarks" / "reference.py"
_spec = importlib.util.spec_from_file_location("reference_under_test", REF_PATH)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

KINDS = ["lstm", "gru", "rnn"]


def make_case(kind, V=5, H=4, T=3, B=2, seed=0, dtype=np.float64, states=True):
    """Parameters, one-hot x, targets and (optionally random) initial states."""
    rng = np.random.default_rng(seed)
    params = ref.init_params(kind, V, H, rng, dtype)
    ids = rng.integers(0, V, size=(T, B))
    targets = rng.integers(0, V, size=(T, B))
    x = ref.one_hot(ids, V, dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype) if states else None
    c0 = rng.standard_normal((B, H)).astype(dtype) if states and kind == "lstm" else None
    return params, ids, x, targets, h0, c0


def rel_error(a, n):
    """||a - n|| / (||a|| + ||n||): relative error of a whole tensor."""
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if denom == 0 else np.linalg.norm(a - n) / denom


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_central_differences(kind):
    params, _, x, targets, h0, c0 = make_case(kind)
    loss, grads, extras = ref.forward_backward(kind, params, x, targets, h0, c0)
    inputs = dict(params, h0=h0)                           # every array the loss depends on
    analytic = dict(grads, h0=extras["dh0"])
    if kind == "lstm":
        inputs["c0"], analytic["c0"] = c0, extras["dc0"]

    def f():
        return ref.forward_backward(kind, params, x, targets, inputs["h0"], inputs.get("c0"))[0]

    eps = 1e-6
    for name, arr in inputs.items():
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = f()
            arr[idx] = old - eps
            down = f()
            arr[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        assert analytic[name].shape == arr.shape, name
        err = rel_error(analytic[name], numeric)
        assert err < 1e-6, f"{kind} d{name}: relative error {err:.2e}"
    assert f() == loss                                     # inputs were restored exactly


# ---------------------------------------------------------------- PyTorch as oracle

def torch_step(torch, kind, params, ids, targets, h0, c0):
    """Loss, grads, dh0, dc0, hs, hT, cT from torch.nn with the same weights (float64)."""
    import torch.nn.functional as F
    V, H = params["head.weight"].shape
    T, B = ids.shape
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](V, H).double()
    head = torch.nn.Linear(H, V).double()
    rnn.load_state_dict({k: torch.tensor(v) for k, v in params.items() if not k.startswith("head.")})
    head.load_state_dict({k[len("head."):]: torch.tensor(v) for k, v in params.items() if k.startswith("head.")})
    th0 = torch.tensor(np.zeros((1, B, H)) if h0 is None else h0[None], requires_grad=True)
    tc0 = torch.tensor(np.zeros((1, B, H)) if c0 is None else c0[None], requires_grad=True)
    x = torch.tensor(ref.one_hot(ids, V, np.float64))
    out, state = rnn(x, (th0, tc0) if kind == "lstm" else th0)
    loss = F.cross_entropy(head(out).reshape(T * B, V), torch.tensor(targets).reshape(-1))
    loss.backward()
    named = dict(rnn.named_parameters())
    named.update({"head." + k: v for k, v in head.named_parameters()})
    result = {
        "grads": {k: named[k].grad.numpy() for k in params},
        "dh0": th0.grad.numpy()[0], "hs": out.detach().numpy(),
        "hT": (state[0] if kind == "lstm" else state).detach().numpy()[0],
    }
    if kind == "lstm":
        result["dc0"], result["cT"] = tc0.grad.numpy()[0], state[1].detach().numpy()[0]
    return loss.item(), result


@pytest.mark.parametrize("states", [True, False], ids=["given_states", "zero_states"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(kind, states):
    torch = pytest.importorskip("torch")
    params, ids, _, targets, h0, c0 = make_case(kind, V=11, H=7, T=6, B=3, seed=1, states=states)
    loss, grads, extras = ref.forward_backward(kind, params, ids, targets, h0, c0)  # ids: one-hot built inside
    t_loss, t = torch_step(torch, kind, params, ids, targets, h0, c0)
    assert abs(loss - t_loss) < 1e-10
    for name in params:
        np.testing.assert_allclose(grads[name], t["grads"][name], rtol=0, atol=1e-10, err_msg=f"{kind} d{name}")
    keys = ["dh0", "hs", "hT"] + (["dc0", "cT"] if kind == "lstm" else [])
    for key in keys:
        np.testing.assert_allclose(extras[key], t[key], rtol=0, atol=1e-10, err_msg=f"{kind} {key}")


@pytest.mark.parametrize("kind", KINDS)
def test_both_gemm_layouts_of_the_recurrent_product_agree(kind, monkeypatch):
    # (W_hh @ h^T)^T for 8..32 rows of a big W_hh: lowered threshold, so a small case takes it;
    # the plain layout is the one checked against finite differences and torch above
    params, _, x, targets, h0, c0 = make_case(kind, V=7, H=5, T=4, B=8, seed=3)
    monkeypatch.setattr(ref, "TRANSPOSED_SIZE", 1)
    loss, grads, extras = ref.forward_backward(kind, params, x, targets, h0, c0)
    monkeypatch.setattr(ref, "TRANSPOSED_ROWS", (0, 0))
    loss0, grads0, extras0 = ref.forward_backward(kind, params, x, targets, h0, c0)
    assert abs(loss - loss0) < 1e-12
    for name in grads:
        np.testing.assert_allclose(grads[name], grads0[name], rtol=1e-12, atol=1e-13, err_msg=name)
    for key in extras:
        np.testing.assert_allclose(extras[key], extras0[key], rtol=1e-12, atol=1e-13, err_msg=key)


# ---------------------------------------------------------------- float32 stays float32

@pytest.mark.parametrize("kind", KINDS)
def test_float32_in_float32_out(kind):
    params, _, x, targets, h0, c0 = make_case(kind, V=9, H=6, T=5, B=4, seed=2, dtype=np.float32)
    seen = set()                                           # (function, local) holding a non-float32 float array

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != str(REF_PATH):
            return None

        def check(frame, event, arg):
            for name, value in frame.f_locals.items():
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != np.float32:
                    seen.add((frame.f_code.co_name, name, str(value.dtype)))
            return check
        return check

    sys.settrace(tracer)
    try:
        loss, grads, extras = ref.forward_backward(kind, params, x, targets, h0, c0)
    finally:
        sys.settrace(None)
    assert not seen, f"{kind}: float arrays that are not float32: {sorted(seen)}"
    assert type(loss) is float
    for name, g in grads.items():
        assert g.dtype == np.float32, f"{kind} d{name} is {g.dtype}"
    for name, value in extras.items():
        assert value.dtype == np.float32, f"{kind} {name} is {value.dtype}"
    # and it agrees with the float64 computation to float32 precision
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss64, grads64, _ = ref.forward_backward(kind, p64, x.astype(np.float64), targets,
                                              h0.astype(np.float64), None if c0 is None else c0.astype(np.float64))
    assert abs(loss - loss64) < 1e-5
    for name in grads:
        np.testing.assert_allclose(grads[name], grads64[name], rtol=0, atol=1e-5, err_msg=f"{kind} d{name}")


@pytest.mark.parametrize("kind", KINDS)
def test_saturated_gates_stay_finite_and_silent(kind):
    """Huge pre-activations: the sigmoid's exp(-x) overflows to inf, silently and exactly."""
    params, _, x, targets, h0, c0 = make_case(kind, V=6, H=5, T=4, B=3, seed=3, dtype=np.float32)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        params[name] *= 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # any RuntimeWarning fails the test
        loss, grads, extras = ref.forward_backward(kind, params, x, targets, h0, c0)
    assert np.isfinite(loss)
    for name, value in list(grads.items()) + list(extras.items()):
        assert np.all(np.isfinite(value)), name


# ---------------------------------------------------------------- API

@pytest.mark.parametrize("kind", KINDS)
def test_init_params_names_shapes_and_range(kind):
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    V, H = 7, 5
    params = ref.init_params(kind, V, H, np.random.default_rng(0))
    assert list(params) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias"]
    shapes = [(G * H, V), (G * H, H), (G * H,), (G * H,), (V, H), (V,)]
    assert [p.shape for p in params.values()] == shapes
    k = np.float32(1 / np.sqrt(H))                         # the bound, rounded like the draws
    for p in params.values():
        assert p.dtype == np.float32 and np.all(np.abs(p) <= k)
    again = ref.init_params(kind, V, H, np.random.default_rng(0))
    assert all(np.array_equal(params[n], again[n]) for n in params)


@pytest.mark.parametrize("kind", KINDS)
def test_train_step_is_forward_backward_then_sgd(kind):
    params, ids, x, targets, h0, c0 = make_case(kind, seed=4)
    before = {k: v.copy() for k, v in params.items()}
    loss, grads, _ = ref.forward_backward(kind, params, ids, targets, h0, c0)   # ids == one-hot x
    assert ref.forward_backward(kind, params, x, targets, h0, c0)[0] == loss
    grads_copy = {k: v.copy() for k, v in grads.items()}
    assert ref.train_step(kind, params, x, targets, 0.5, h0, c0) == loss
    for name in params:
        np.testing.assert_allclose(params[name], before[name] - 0.5 * grads_copy[name], rtol=0, atol=1e-15)


def test_bad_input_names_the_shapes():
    params, ids, x, targets, h0, c0 = make_case("lstm")
    with pytest.raises(ValueError, match="kind"):
        ref.forward_backward("transformer", params, x, targets)
    with pytest.raises(ValueError, match=r"x has shape \(3, 2, 4\)"):
        ref.forward_backward("lstm", params, x[:, :, :4], targets)
    with pytest.raises(ValueError, match="targets"):
        ref.forward_backward("lstm", params, x, targets[:2])
    with pytest.raises(ValueError, match="h0 has shape"):
        ref.forward_backward("lstm", params, x, targets, h0[:1])


def test_importable_as_package_module():
    code = "import benchmarks.reference as r; print(r.forward_backward.__name__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "forward_backward"
