"""Recurrent cells and layers: PyTorch golden fixtures (the LSTM variants and the Cho-form GRU
through torch's autograd of their equations, tests/golden/make_golden.py), a live torch
comparison (float64 and float32, at the sizes where the engine's fast paths run), gradchecks of
every cell (variants included), and the layer features (states, TBPTT, forget bias, errors)."""

import itertools

import numpy as np
import pytest
from golden.load import list_cases, load_case

import tinygrad_lstm.ops as ops
import tinygrad_lstm.rnn as rnn
from golden import make_golden
from tinygrad_lstm import Tensor, gradcheck, nn

MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU,
           "RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell,
           "LSTM1997Cell": nn.LSTM1997Cell, "CoupledLSTMCell": nn.CoupledLSTMCell,
           "PeepholeLSTMCell": nn.PeepholeLSTMCell}


def build(config, dtype=np.float64):
    """Our module for a golden config (weights to be loaded from the fixture)."""
    kind = config["module"]
    kw = {"dtype": dtype}
    if "nonlinearity" in config:
        kw["nonlinearity"] = config["nonlinearity"]
    if "cell" in config:
        kw["cell"] = MODULES[config["cell"]]
    if "reset_after" in config:
        kw["reset_after"] = config["reset_after"]
    if "forget_bias" in config:
        kw["forget_bias"] = config["forget_bias"]
    if kind.endswith("Cell"):
        return MODULES[kind](config["input_size"], config["hidden_size"], **kw)
    return MODULES[kind](config["input_size"], config["hidden_size"], config["num_layers"],
                         batch_first=config["batch_first"], bidirectional=config["bidirectional"],
                         **kw)


def run_case(case):
    """Our module loaded with the fixture's weights, run and backpropagated the same way."""
    cfg = case["config"]
    model = build(cfg)
    model.load_state_dict(case["params"])
    inp = {k: Tensor(v, requires_grad=True) for k, v in case["inputs"].items()}
    R = {k: Tensor(v) for k, v in case["R"].items()}
    if cfg["module"].endswith("Cell"):
        state = (inp["h"], inp["c"]) if "c" in inp else inp["h"]
        res = model(inp["x"], state)
        outs = {"h": res[0], "c": res[1]} if "c" in inp else {"h": res}
        loss = sum(((outs[k] * R[k]).sum() for k in R), Tensor(0.0, dtype=np.float64))
    else:
        hx = None
        if "h0" in inp:
            hx = (inp["h0"], inp["c0"]) if "c0" in inp else inp["h0"]
        out, final = model(inp["x"], hx)
        outs = {"out": out}
        if isinstance(final, tuple):
            outs["h_n"], outs["c_n"] = final
        else:
            outs["h_n"] = final
        loss = (out * R["out"]).sum() + (outs["h_n"] * R["h"]).sum()
        if "c_n" in outs:
            loss = loss + (outs["c_n"] * R["c"]).sum()
    loss.backward()
    return model, inp, outs, loss


@pytest.mark.parametrize("name", list_cases())
def test_matches_pytorch_golden_fixture(name):
    case = load_case(name)
    model, inp, outs, loss = run_case(case)
    assert loss.item() == pytest.approx(case["loss"], rel=1e-12)
    for k, v in case["outputs"].items():
        np.testing.assert_allclose(outs[k].data, v, rtol=1e-10, atol=1e-12, err_msg=k)
    params = dict(model.named_parameters())
    assert sorted(params) == sorted(case["grads"]["params"])
    for k, g in case["grads"]["params"].items():
        np.testing.assert_allclose(params[k].grad, g, rtol=1e-10, atol=1e-12, err_msg=k)
    for k, g in case["grads"]["inputs"].items():
        np.testing.assert_allclose(inp[k].grad, g, rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", [n for n in list_cases() if "forget_bias" in
                                  load_case(n)["config"]])
def test_forget_bias_init_shifts_the_block_the_fixture_shifts(name):
    """The fixture's torch init shifted the f block of every bias_ih by forget_bias (torch's
    gate order i, f, g, o); our init with the same forget_bias shifts the same blocks (the
    golden comparison above loads the fixture's weights, so it cannot see the init)."""
    case = load_case(name)
    cfg = case["config"]
    H, k = cfg["hidden_size"], cfg["hidden_size"] ** -0.5
    assert cfg["forget_bias"] - k > k  # a shifted block lies apart from U(-k, k)
    ours = build(cfg).state_dict()
    names = [n for n in case["params"] if n.startswith("bias_ih")]
    assert names and sorted(names) == sorted(n for n in ours if n.startswith("bias_ih"))
    for n in names:
        shifted = [b for b in range(4) if case["params"][n][b * H:(b + 1) * H].min() > k]
        assert shifted == [1], n
        assert [b for b in range(4) if ours[n][b * H:(b + 1) * H].min() > k] == shifted, n


# ---------------------------------------------------------------------------- live, with torch
def _named_outputs(result, cell):
    """{"out", "h_n"[, "c_n"]} of a layer's result, {"h"[, "c"]} of a cell's (ours or torch's)."""
    if cell:
        return dict(zip(("h", "c"), result if isinstance(result, tuple) else (result,)))
    out, final = result
    final = final if isinstance(final, tuple) else (final,)
    return {"out": out, **dict(zip(("h_n", "c_n"), final))}


def torch_reference(torch, ours, kind, kw):
    """(fn, params): torch computing what our `ours` (built as MODULES[kind](..., **kw))
    computes, with its weights. torch.nn's own module where torch has one (forget_bias only
    moves the init, so the weights carry it); the equation functions of make_golden.py for
    the LSTM variants and the Cho-form GRU. fn(x, hx) returns what torch's module would."""
    sd = ours.state_dict()
    cell = kind.endswith("Cell")
    variant = kind in make_golden.VARIANT_CELLS or "cell" in kw or kw.get("reset_after") is False
    dtype = {"float32": torch.float32, "float64": torch.float64}[ours.parameters()[0].dtype.name]
    if not variant:
        torch_kw = {k: v for k, v in kw.items() if k != "forget_bias"}
        theirs = getattr(torch.nn, kind)(ours.input_size, ours.hidden_size, dtype=dtype,
                                         **torch_kw)
        theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
        return theirs, dict(theirs.named_parameters())
    params = {k: torch.tensor(v, requires_grad=True) for k, v in sd.items()}
    config = {"module": kind, "reset_after": kw.get("reset_after", True)}
    if "cell" in kw:
        config["cell"] = kw["cell"].__name__
    step = make_golden.equation_step(config)

    def as_tuple(hx):
        return hx if isinstance(hx, tuple) or hx is None else (hx,)

    if cell:
        def fn(x, hx):
            new = step(x, as_tuple(hx), params)
            return new if len(new) > 1 else new[0]
    else:
        def fn(x, hx):
            out, final = make_golden.torch_layer(
                step, x, params, as_tuple(hx), kw.get("num_layers", 1),
                kw.get("bidirectional", False), kw.get("batch_first", False))
            return out, final if len(final) > 1 else final[0]
    return fn, params


def live_compare(kind, kw, *, B, T, I, H, dtype, rtol, atol, with_state=True, seed=7):
    """Our module (own init) against torch with the same weights: every output (out, h_n,
    c_n / h, c) and the gradients of a random linear loss of them with respect to every
    parameter, the input and the initial states. Returns our module.

    In float32, atol is per unit of the array's largest entry (when that is above 1): a
    weight's gradient sums B·T products, up to ~75 at B=32, and rounding leaves any entry
    off by ~1e-7..1e-6 of the largest, torch's own float32 as much as ours (both measured
    against float64), so an entry that cancels to near 0 cannot meet a fixed 1e-5."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    ours = MODULES[kind](I, H, dtype=dtype, rng=rng, **kw)
    theirs, tparams = torch_reference(torch, ours, kind, kw)
    cell = kind.endswith("Cell")
    if cell:
        x_shape, state_shape = (B, I), (B, H)
    else:
        D = 2 if kw.get("bidirectional") else 1
        x_shape = (B, T, I) if kw.get("batch_first") else (T, B, I)
        state_shape = (kw.get("num_layers", 1) * D, B, H)
    x = rng.standard_normal(x_shape).astype(dtype)
    states = [rng.standard_normal(state_shape).astype(dtype) for _ in ours.state_names] \
        if with_state else []

    def run(make, model):
        xs, sts = make(x), [make(s) for s in states]
        hx = None if not sts else sts[0] if len(sts) == 1 else tuple(sts)
        return xs, sts, _named_outputs(model(xs, hx), cell)

    x_o, st_o, outs = run(lambda a: Tensor(a, requires_grad=True), ours)
    x_t, st_t, touts = run(lambda a: torch.tensor(a, requires_grad=True), theirs)
    names = ["h", "c"][:len(ours.state_names)]
    assert set(outs) == set(touts) == set(names if cell else ["out"] + [n + "_n" for n in names])
    R = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in outs.items()}
    sum((outs[k] * Tensor(R[k])).sum() for k in R).backward()
    sum((touts[k] * torch.tensor(R[k])).sum() for k in R).backward()

    def check(a, b, what):
        assert a is not None and a.dtype == dtype, what
        b = b.detach().numpy()
        tol = atol * max(1.0, float(np.abs(b).max())) if dtype == np.float32 else atol
        np.testing.assert_allclose(a, b, rtol=rtol, atol=tol,
                                   err_msg=f"{kind} {kw} {np.dtype(dtype).name}: {what}")

    for k in outs:
        check(outs[k].data, touts[k], k)
    params = dict(ours.named_parameters())
    assert sorted(params) == sorted(tparams)
    for k, p in params.items():
        check(p.grad, tparams[k].grad, f"grad {k}")
    check(x_o.grad, x_t.grad, "grad x")
    for name, a, b in zip(ours.state_names, st_o, st_t):
        check(a.grad, b.grad, f"grad {name}0")
    return ours


# Every module kind of the golden fixtures, at small sizes: torch.nn's modules where torch has
# them, the equation functions of make_golden.py for the variants.
LIVE = [
    ("LSTM", dict(num_layers=2)), ("GRU", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu")), ("RNN", dict(num_layers=2, bidirectional=True,
                                                     batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(batch_first=True)), ("LSTM", dict(bidirectional=True, forget_bias=1.0)),
    ("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu")), ("LSTMCell", {}),
    ("LSTMCell", dict(forget_bias=1.0)), ("GRUCell", {}),
    ("LSTM1997Cell", {}), ("CoupledLSTMCell", {}), ("PeepholeLSTMCell", {}),
    ("GRUCell", dict(reset_after=False)),
    ("LSTM", dict(cell=nn.LSTM1997Cell)), ("LSTM", dict(cell=nn.CoupledLSTMCell, num_layers=2)),
    ("LSTM", dict(cell=nn.PeepholeLSTMCell, num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(reset_after=False, num_layers=2, bidirectional=True)),
]
LIVE_IDS = [f"{k}-" + "-".join(f"{a}={getattr(v, '__name__', v)}" for a, v in kw.items())
            for k, kw in LIVE]


@pytest.mark.parametrize("kind,kw", LIVE, ids=LIVE_IDS)
def test_live_against_torch_with_our_weights(kind, kw):
    live_compare(kind, kw, B=3, T=5, I=4, H=6, dtype=np.float64, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind,kw", LIVE, ids=LIVE_IDS)
def test_live_against_torch_float32(kind, kw):
    live_compare(kind, kw, B=3, T=5, I=4, H=6, dtype=np.float32, rtol=1e-4, atol=1e-5)


def test_live_without_initial_state_and_bias():
    live_compare("LSTM", dict(batch_first=True, bias=False), B=3, T=5, I=4, H=6,
                 dtype=np.float64, rtol=1e-9, atol=1e-12, with_state=False)
    live_compare("GRU", dict(reset_after=False, bias=False), B=3, T=5, I=4, H=6,
                 dtype=np.float64, rtol=1e-9, atol=1e-12, with_state=False)


# Every layer kind across every combination of the layer options, so that no pairing is
# left to the shared code's good behaviour (bias=False with a variant cell, a stacked or
# bidirectional LSTM1997, a relu RNN both ways, forget_bias with the coupled and peephole
# cells): 10 kinds x 16 option sets (8 for the two that need a bias), ~10 ms each.
GRID_KINDS = [
    ("RNN", {}), ("RNN", dict(nonlinearity="relu")), ("LSTM", {}), ("GRU", {}),
    ("GRU", dict(reset_after=False)), ("LSTM", dict(cell=nn.LSTM1997Cell)),
    ("LSTM", dict(cell=nn.CoupledLSTMCell)), ("LSTM", dict(cell=nn.PeepholeLSTMCell)),
    ("LSTM", dict(cell=nn.CoupledLSTMCell, forget_bias=1.0)),
    ("LSTM", dict(cell=nn.PeepholeLSTMCell, forget_bias=1.0)),
]
GRID = [(kind, {**kw, **dict(zip(("bias", "num_layers", "bidirectional", "batch_first"), opts))})
        for kind, kw in GRID_KINDS
        for opts in itertools.product((True, False), (1, 2), (False, True), (False, True))
        if opts[0] or "forget_bias" not in kw]  # forget_bias needs a bias to shift


@pytest.mark.parametrize("kind,kw", GRID, ids=[
    f"{k}-" + "-".join(f"{a}={getattr(v, '__name__', v)}" for a, v in kw.items())
    for k, kw in GRID])
def test_live_option_grid_against_torch(kind, kw):
    live_compare(kind, kw, B=2, T=3, I=4, H=5, dtype=np.float64, rtol=1e-9, atol=1e-12,
                 with_state=kw["num_layers"] == 2 or kw["bidirectional"])


@pytest.mark.parametrize("kind,kw", [
    ("RNNCell", dict(bias=False)), ("RNNCell", dict(nonlinearity="relu", bias=False)),
    ("LSTMCell", dict(bias=False)), ("GRUCell", dict(bias=False)),
    ("GRUCell", dict(reset_after=False, bias=False)), ("LSTM1997Cell", dict(bias=False)),
    ("CoupledLSTMCell", dict(bias=False)), ("PeepholeLSTMCell", dict(bias=False)),
    ("CoupledLSTMCell", dict(forget_bias=1.0)), ("PeepholeLSTMCell", dict(forget_bias=1.0)),
])
def test_live_cells_without_bias_against_torch(kind, kw):
    live_compare(kind, kw, B=2, T=1, I=4, H=5, dtype=np.float64, rtol=1e-9, atol=1e-12)


def test_live_dropout_of_one_between_layers_against_torch():
    # in training both drop everything between the layers, so the outputs can be compared
    for kind in ("LSTM", "GRU", "RNN"):
        ours = live_compare(kind, dict(num_layers=2, dropout=1.0), B=3, T=4, I=4, H=5,
                            dtype=np.float64, rtol=1e-9, atol=1e-12)
        assert ours.training


def _fast_paths_apply(kind, kw, B, H):
    """The engine's size-dependent paths this size takes (asserted, so that a change of
    sizes or thresholds cannot quietly leave them untested): the release of a step's
    intermediates (a gate block of at least RELEASE_BYTES) and the transposed GEMM for
    h @ W_hhᵀ (8 to 32 rows, W_hh of at least TRANSPOSED_SIZE elements)."""
    G = make_golden.GATES[kw["cell"].__name__ if "cell" in kw else kind + "Cell"]
    lo, hi = ops.TRANSPOSED_ROWS
    assert B * G * H * np.dtype(np.float32).itemsize >= rnn.RELEASE_BYTES
    assert lo <= B <= hi and G * H * H >= ops.TRANSPOSED_SIZE


# B=32, H=128, T=8 in float32: the sizes at which the engine's fast paths run (lazy weight-
# gradient products, the transposed GEMM, the release of intermediates; benchmarks/README.md
# "How the engine keeps up"), unpatched, against torch. An RNN's gate block is 16 KB at
# H=128, under the release threshold, so it runs once more at H=256.
@pytest.mark.parametrize("kind,kw,H", [
    ("LSTM", dict(num_layers=2), 128), ("GRU", dict(num_layers=2), 128),
    ("RNN", dict(num_layers=2), 128), ("RNN", dict(bidirectional=True), 256),
    ("LSTM", dict(bidirectional=True, batch_first=True, forget_bias=1.0), 128),
], ids=["LSTM", "GRU", "RNN", "RNN-H256", "LSTM-forget_bias"])
def test_live_against_torch_float32_at_size(kind, kw, H):
    if (kind, H) != ("RNN", 128):
        _fast_paths_apply(kind, kw, 32, H)
    live_compare(kind, kw, B=32, T=8, I=64, H=H, dtype=np.float32, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,kw", [
    ("LSTM", dict(cell=nn.LSTM1997Cell)), ("LSTM", dict(cell=nn.CoupledLSTMCell)),
    ("LSTM", dict(cell=nn.PeepholeLSTMCell, bidirectional=True)),
    ("GRU", dict(reset_after=False, num_layers=2)),
], ids=["LSTM1997", "Coupled", "Peephole", "GRU-Cho"])
def test_variants_live_against_torch_equations_float32_at_size(kind, kw):
    _fast_paths_apply(kind, kw, 32, 128)
    live_compare(kind, kw, B=32, T=8, I=64, H=128, dtype=np.float32, rtol=1e-4, atol=1e-5)


def test_state_dict_moves_from_torch_unchanged():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    ours = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy())


CELLS = [
    (nn.RNNCell, {}), (nn.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, {}),
    (nn.LSTMCell, {"forget_bias": 1.0}), (nn.GRUCell, {}), (nn.GRUCell, {"reset_after": False}),
    (nn.LSTM1997Cell, {}), (nn.CoupledLSTMCell, {}), (nn.PeepholeLSTMCell, {}),
    (nn.LSTMCell, {"bias": False}), (nn.GRUCell, {"bias": False, "reset_after": False}),
]


@pytest.mark.parametrize("cell_cls,kw", CELLS)
def test_cell_gradients_by_finite_differences(cell_cls, kw):
    rng = np.random.default_rng(3)
    cell = cell_cls(3, 4, dtype=np.float64, rng=rng, **kw)
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    state = [Tensor(rng.standard_normal((2, 4)), requires_grad=True) for _ in cell.state_names]
    params = cell.parameters()

    def f(x, *args):
        st = args[:len(state)]
        out = cell(x, st[0] if len(st) == 1 else tuple(st))
        return out if isinstance(out, Tensor) else Tensor.stack(list(out))

    assert gradcheck(f, [x, *state, *params])


@pytest.mark.parametrize("cell_cls,kw", CELLS[2:])
def test_layer_with_any_cell_gradients(cell_cls, kw):
    rng = np.random.default_rng(4)
    layer = (nn.GRU if cell_cls is nn.GRUCell else nn.LSTM)(
        3, 4, num_layers=2, cell=cell_cls, dtype=np.float64, rng=rng, **kw)
    x = Tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    assert gradcheck(lambda x, *ps: layer(x)[0], [x, *layer.parameters()])


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_variant_equations_in_numpy():
    """The variants' numbers equal their equations written out in numpy."""
    rng = np.random.default_rng(5)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))

    def pre(cell):
        return (x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T
                + cell.bias_hh.data)

    cell = nn.LSTM1997Cell(3, 4, dtype=np.float64, rng=rng)
    a_i, a_g, a_o = np.split(pre(cell), 3, axis=1)
    c1 = c + np_sigmoid(a_i) * (4 * np_sigmoid(a_g) - 2)   # the paper's g, in [−2, 2]
    h1 = np_sigmoid(a_o) * (2 * np_sigmoid(c1) - 1)        # the paper's h, in [−1, 1]
    hh, cc = cell(Tensor(x), (Tensor(h), Tensor(c)))
    np.testing.assert_allclose(cc.data, c1, rtol=1e-12)
    np.testing.assert_allclose(hh.data, h1, rtol=1e-12)

    cell = nn.CoupledLSTMCell(3, 4, dtype=np.float64, rng=rng)
    a_f, a_g, a_o = np.split(pre(cell), 3, axis=1)
    f = np_sigmoid(a_f)
    c1 = f * c + (1 - f) * np.tanh(a_g)
    hh, cc = cell(Tensor(x), (Tensor(h), Tensor(c)))
    np.testing.assert_allclose(cc.data, c1, rtol=1e-12)
    np.testing.assert_allclose(hh.data, np_sigmoid(a_o) * np.tanh(c1), rtol=1e-12)

    cell = nn.PeepholeLSTMCell(3, 4, dtype=np.float64, rng=rng)
    a_i, a_f, a_g, a_o = np.split(pre(cell), 4, axis=1)
    i = np_sigmoid(a_i + cell.weight_ci.data * c)
    f = np_sigmoid(a_f + cell.weight_cf.data * c)
    c1 = f * c + i * np.tanh(a_g)
    o = np_sigmoid(a_o + cell.weight_co.data * c1)
    hh, cc = cell(Tensor(x), (Tensor(h), Tensor(c)))
    np.testing.assert_allclose(cc.data, c1, rtol=1e-12)
    np.testing.assert_allclose(hh.data, o * np.tanh(c1), rtol=1e-12)

    cell = nn.GRUCell(3, 4, dtype=np.float64, rng=rng, reset_after=False)
    W_ir, W_iz, W_in = np.split(cell.weight_ih.data, 3)
    W_hr, W_hz, W_hn = np.split(cell.weight_hh.data, 3)
    b_ir, b_iz, b_in = np.split(cell.bias_ih.data, 3)
    b_hr, b_hz, b_hn = np.split(cell.bias_hh.data, 3)
    r = np_sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = np_sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).data, (1 - z) * n + z * h, rtol=1e-12)


def test_forget_bias_shifts_only_the_f_block():
    a = nn.LSTMCell(3, 4, rng=np.random.default_rng(0))
    b = nn.LSTMCell(3, 4, rng=np.random.default_rng(0), forget_bias=2.0)
    diff = b.bias_ih.data - a.bias_ih.data
    np.testing.assert_allclose(diff, np.r_[np.zeros(4), np.full(4, 2.0), np.zeros(8)], atol=1e-6)
    assert nn.LSTM(3, 4, forget_bias=3.0).bias_ih_l0.data[4:8].min() > 2.0
    for cell, f in ((rnn.CoupledLSTMCell, 0), (rnn.PeepholeLSTMCell, 1)):  # f, g, o / i, f, g, o
        plain = cell(3, 4, rng=np.random.default_rng(0))
        biased = cell(3, 4, rng=np.random.default_rng(0), forget_bias=2.0)
        want = np.zeros_like(plain.bias_ih.data)
        want[4 * f:4 * f + 4] = 2.0
        np.testing.assert_allclose(biased.bias_ih.data - plain.bias_ih.data, want, atol=1e-6)
    with pytest.raises(ValueError, match="LSTM1997Cell: forget_bias=1.0 but the cell has no forget gate"):
        nn.LSTM1997Cell(3, 4, forget_bias=1.0)


def test_states_give_every_timestep_and_gate():
    lstm = nn.LSTM(3, 4, num_layers=2, dtype=np.float64, rng=np.random.default_rng(1))
    x = Tensor(np.random.default_rng(2).standard_normal((6, 2, 3)))
    out, (h, c), states = lstm(x, return_states=True)
    assert states.names == ("i", "f", "g", "o", "c", "h")
    assert states.numpy("f", layer=1).shape == (6, 2, 4)
    np.testing.assert_array_equal(states.numpy("h", layer=1), out.data)
    np.testing.assert_array_equal(states.get("c", layer=0)[-1].data, c.data[0])
    hs = states.get("h", layer=0)
    call = hs[0].scope["_call"]  # the forward call's own number (hidden from labels)
    assert [t.scope for t in hs[:2]] == [{"layer": 0, "_call": call, "t": 1},
                                         {"layer": 0, "_call": call, "t": 2}]
    assert hs[0].label == "h[layer=0,t=1]"
    assert states.initial[0][1].label == "c[layer=0,t=0]"
    with pytest.raises(KeyError, match="no 'r'"):
        states.get("r")


def test_truncated_bptt_carries_detached_state():
    lstm = nn.LSTM(3, 4, dtype=np.float64, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((8, 2, 3))
    full, _ = lstm(Tensor(x))
    out1, (h, c) = lstm(Tensor(x[:4]))
    out2, _ = lstm(Tensor(x[4:]), (h.detach(), c.detach()))
    np.testing.assert_allclose(np.concatenate([out1.data, out2.data]), full.data, rtol=1e-12)
    out2.sum().backward()
    g_trunc = lstm.weight_hh_l0.grad.copy()
    lstm.zero_grad()
    full[4:].sum().backward()
    assert not np.allclose(g_trunc, lstm.weight_hh_l0.grad)  # the cut really cut


def test_dropout_only_between_layers():
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=np.random.default_rng(0))
    x = Tensor(np.ones((3, 2, 3), np.float32))
    ops = set()
    _, _, states = lstm(x, return_states=True)
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    np.testing.assert_array_equal(a.data, b.data)
    lstm.train()
    c, _ = lstm(x)
    d, _ = lstm(x)
    assert not np.array_equal(c.data, d.data)
    # one layer: nothing to drop between, so training mode is deterministic
    with pytest.warns(UserWarning, match="LSTM: dropout=0.5 acts between layers, so with "
                                         "num_layers=1 it does nothing"):
        one = nn.LSTM(3, 4, dropout=0.5, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(one(x)[0].data, one(x)[0].data)
    del ops, states


def test_weight_tying_counts_the_parameter_once():
    class TiedLM(nn.Module):
        def __init__(self):
            self.emb = nn.Embedding(10, 6)
            self.lstm = nn.LSTM(6, 6)
            self.head = nn.Linear(6, 10)
            self.head.weight = self.emb.weight

    m = TiedLM()
    names = [n for n, _ in m.named_parameters()]
    assert "head.weight" not in names and "emb.weight" in names
    assert len(m.parameters()) == 1 + 4 + 1
    assert "head.weight" in m.state_dict()  # as torch: every name in the state dict
    ids = np.array([[1, 2], [3, 1]])
    out, _ = m.lstm(m.emb(ids))
    m.head(out).sum().backward()
    assert m.emb.weight.grad.shape == (10, 6)


@pytest.mark.parametrize("layer", [nn.RNN, nn.LSTM, nn.GRU])
def test_a_weight_assigned_to_a_layer_is_the_one_its_forward_uses(layer):
    """As torch: `lstm.weight_hh_l1_reverse = Parameter(...)` replaces the weight the layer
    runs with (custom init, tying), so it gets the gradient and the optimizer trains it."""
    rng = np.random.default_rng(0)
    m = layer(3, 4, num_layers=2, bidirectional=True, rng=rng)
    x = rng.standard_normal((2, 1, 3)).astype(np.float32)
    old = m.weight_hh_l1_reverse
    before = m(x)[0].data.copy()
    new = nn.Parameter(np.zeros_like(old.data))
    m.weight_hh_l1_reverse = new
    out, _ = m(x)
    assert not np.array_equal(out.data, before)
    out.sum().backward()
    assert new.grad is not None and old.grad is None
    assert dict(m.named_parameters())["weight_hh_l1_reverse"] is new
    # the same output as a fresh layer loaded with the new weights
    fresh = layer(3, 4, num_layers=2, bidirectional=True)
    fresh.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(fresh(x)[0].data, out.data)
    with pytest.raises(TypeError, match=r"cannot assign a ndarray as parameter 'weight_ih_l0'"):
        m.weight_ih_l0 = np.zeros_like(m.weight_ih_l0.data)
    assert isinstance(m.weight_ih_l0, nn.Parameter)  # left as it was
    m.other = np.zeros(2)  # any other attribute is set as usual
    assert m.other.shape == (2,)


def test_embedding_repeated_indices_accumulate():
    emb = nn.Embedding(5, 3, dtype=np.float64)
    emb(np.array([1, 1, 4, 1])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [0, 3, 0, 0, 1])
    with pytest.raises(ValueError, match="Embedding: id 5 is out of range for num_embeddings=5"):
        emb(np.array([5]))


def test_embedding_padding_idx_as_torchs():
    emb = nn.Embedding(5, 3, padding_idx=-1, dtype=np.float64, rng=np.random.default_rng(0))
    assert emb.padding_idx == 4 and not emb.weight.data[4].any() and "padding_idx=4" in repr(emb)
    emb.weight.data[4] = 7.0  # a row set later is read as it is, and still not trained
    ids = np.array([[0, 4, 2], [4, 4, 1]])
    R = np.random.default_rng(1).standard_normal((2, 3, 3))
    y = emb(ids)
    (y * Tensor(R)).sum().backward()
    np.testing.assert_array_equal(y.data, emb.weight.data[ids])
    assert not emb.weight.grad[4].any()
    np.testing.assert_allclose(emb.weight.grad[0], R[0, 0])  # the others as without padding
    assert np.array_equal(emb(np.array([0, 1])).data, emb.weight.data[[0, 1]])  # no pad: plain
    plain = nn.Embedding(5, 3, padding_idx=0)(np.array([1, 2]))  # no padding id: a plain
    assert plain.op == "getitem" and isinstance(plain.parents[0], nn.Parameter)  # lookup
    for pad in (0, 4):  # no empty piece in the graph at either end
        first = nn.Embedding(5, 3, padding_idx=pad, dtype=np.float64)
        looked_up = first(np.array([pad, 2]))
        table = looked_up.parents[0]
        assert all(p.data.size for p in table.parents) and not looked_up.data[0].any()
    for bad in (5, -6, 1.0, True):
        with pytest.raises(ValueError, match="Embedding: padding_idx must be an int in "
                                             r"\[-5, 5\)"):
            nn.Embedding(5, 3, padding_idx=bad)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(5, 3, padding_idx=4, dtype=torch.float64)
    theirs.weight.data = torch.tensor(emb.weight.data)
    ty = theirs(torch.tensor(ids))
    (ty * torch.tensor(R)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy())
    np.testing.assert_allclose(emb.weight.grad, theirs.weight.grad.numpy())


def test_sequential_and_activation_modules_as_torchs():
    seq = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.Tanh(), nn.Identity(),
                        nn.Linear(4, 4, dtype=np.float64), nn.ReLU(),
                        nn.Linear(4, 2, dtype=np.float64), nn.Sigmoid())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "5.weight",
                                      "5.bias"]
    assert len(seq) == 7 and isinstance(seq[:2], nn.Sequential) and isinstance(seq[1], nn.Tanh)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    assert gradcheck(lambda x: seq(x), [x])
    with pytest.raises(TypeError, match="Sequential: takes the modules themselves, in order"):
        nn.Sequential({"a": nn.Tanh()})
    with pytest.raises(TypeError, match="^Sequential: element 1 is a function, not a Module"):
        nn.Sequential(nn.Tanh(), lambda v: v)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Identity(),
                                 torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2),
                                 torch.nn.Sigmoid()).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in seq.state_dict().items()})
    tx = torch.tensor(x.data, requires_grad=True)
    seq(x).sum().backward()
    theirs(tx).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10)
    for k, p in seq.named_parameters():
        np.testing.assert_allclose(p.grad, dict(theirs.named_parameters())[k].grad.numpy(),
                                   rtol=1e-10, atol=1e-14)


def test_linear_matches_its_equation_and_gradchecks():
    lin = nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    np.testing.assert_allclose(lin(x).data, x.data @ lin.weight.data.T + lin.bias.data)
    assert gradcheck(lambda x, w, b: lin(x), [x, lin.weight, lin.bias])
    assert np.abs(lin.weight.data).max() <= 1 / np.sqrt(3)


def test_load_state_dict_errors_name_the_key_and_shapes():
    lstm = nn.LSTM(3, 4)
    sd = lstm.state_dict()
    before = lstm.weight_ih_l0.data.copy()
    bad = dict(sd, weight_hh_l0=np.zeros((16, 5)))
    bad["weight_ih_l0"] = np.ones((16, 3))
    with pytest.raises(ValueError, match=r"'weight_hh_l0' has shape \(16, 5\) in the state dict, expected \(16, 4\)"):
        lstm.load_state_dict(bad)
    np.testing.assert_array_equal(lstm.weight_ih_l0.data, before)  # nothing written
    missing = {k: v for k, v in sd.items() if k != "bias_hh_l0"}
    with pytest.raises(KeyError, match=r"missing keys \['bias_hh_l0'\]"):
        lstm.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        lstm.load_state_dict(dict(sd, extra=np.zeros(1)))
    assert lstm.load_state_dict(missing, strict=False) == (["bias_hh_l0"], [])
    words = dict(sd, weight_hh_l0=np.full((16, 4), "a"))  # copying would fail half-way
    with pytest.raises(TypeError, match=r"'weight_hh_l0' has dtype <U1 in the state dict"):
        lstm.load_state_dict(dict(words, weight_ih_l0=np.ones((16, 3))))
    np.testing.assert_array_equal(lstm.weight_ih_l0.data, before)
    for odd, what in (("oops", "is a str"), (None, "is a NoneType"),  # was "has shape ()"
                      ([1] * 15 + ["a"], "is a list of non-numbers")):
        with pytest.raises(TypeError, match=rf"'bias_hh_l0' {what} in the state dict, expected "
                                            r"numbers \(float32\)"):
            lstm.load_state_dict(dict(sd, bias_hh_l0=odd))
    other = nn.LSTM(3, 4)  # another module's Parameters, as torch takes them (was an AttributeError)
    assert lstm.load_state_dict(dict(other.named_parameters())) == ([], [])
    np.testing.assert_array_equal(lstm.weight_hh_l0.data, other.weight_hh_l0.data)
    assert lstm.weight_hh_l0.data is not other.weight_hh_l0.data  # copied, not shared


def test_a_torch_state_dict_with_projections_is_named_as_such():
    torch = pytest.importorskip("torch")
    sd = torch.nn.LSTM(3, 4, proj_size=2).state_dict()
    with pytest.raises(KeyError, match=r"unexpected keys \['weight_hr_l0'\]; the weight_hr keys "
                                       r"are torch's projections \(LSTM proj_size\)"):
        nn.LSTM(3, 4).load_state_dict(sd)


def test_load_state_dict_errors_are_runtime_errors_too_as_torchs():
    lstm = nn.LSTM(3, 4)
    sd = lstm.state_dict()
    bads = (dict(sd, extra=np.zeros(1)), dict(sd, weight_hh_l0=np.zeros((16, 5))),
            dict(sd, weight_hh_l0=np.full((16, 4), "a")))
    for bad, kind in zip(bads, (KeyError, ValueError, TypeError)):
        with pytest.raises(RuntimeError) as e:  # what ported code catches
            lstm.load_state_dict(bad)
        assert isinstance(e.value, kind)  # and what it was before
    assert str(e.value).startswith("LSTM.load_state_dict: ")
    with pytest.raises(KeyError) as e:
        lstm.load_state_dict(bads[0])
    assert str(e.value).startswith("LSTM.load_state_dict: unexpected")  # not in quotes
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(3, 4)
    for bad in bads[:2]:  # torch raises a RuntimeError for each
        with pytest.raises(RuntimeError):
            theirs.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})


def test_layer_input_errors():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: x \(5, 2, 7\) has 7 features, expected input_size=3"):
        lstm(Tensor(np.zeros((5, 2, 7), np.float32)))
    with pytest.raises(ValueError, match=r"LSTM: x has shape \(5, 3\), expected \(T, B, input_size\)"):
        lstm(Tensor(np.zeros((5, 3), np.float32)))
    with pytest.raises(ValueError, match=r"LSTM: h0 has shape \(1, 2, 4\), expected .* = \(2, 2, 4\)"):
        lstm(Tensor(np.zeros((5, 2, 3), np.float32)),
             (Tensor(np.zeros((1, 2, 4), np.float32)), Tensor(np.zeros((2, 2, 4), np.float32))))
    with pytest.raises(ValueError, match="LSTM: x is float64 but the parameters are float32"):
        lstm(Tensor(np.zeros((5, 2, 3))))
    with pytest.raises(ValueError, match="RNNCell: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="GRU: hidden_size must be a positive int, got 0"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match=r"LSTMCell: c has shape \(3, 4\), expected \(2, 4\)"):
        nn.LSTMCell(3, 4)(Tensor(np.zeros((2, 3), np.float32)),
                          (Tensor(np.zeros((2, 4), np.float32)), Tensor(np.zeros((3, 4), np.float32))))



def test_a_dtype_error_names_what_the_caller_passed():
    """Integers and Python numbers become float32 Tensors; on a float64 layer the error says
    that the caller's int64 (or list) was made float32, not that the caller passed float32."""
    lstm = nn.LSTM(3, 4, dtype=np.float64)
    with pytest.raises(ValueError, match=r"LSTM: x is float32 \(made from int64 data\) but the "
                                         r"parameters are float64"):
        lstm(np.ones((2, 1, 3), np.int64))
    with pytest.raises(ValueError, match=r"x is float32 \(made from a list\) but"):
        lstm([[[1.0, 2.0, 3.0]]])
    with pytest.raises(ValueError, match=r"LSTM: h0 is float32 \(made from int64 data\) but"):
        lstm(np.ones((2, 1, 3)), (np.zeros((1, 1, 4), np.int64),) * 2)
    with pytest.raises(ValueError, match=r"GRUCell: x is float32 \(made from int32 data\) but"):
        nn.GRUCell(3, 4, dtype=np.float64)(np.ones((2, 3), np.int32))
    # numpy's default dtype meeting the default float32 weights: the error says the way out
    with pytest.raises(ValueError, match=r"LSTM: x is float64 but the parameters are float32; "
                                         r"make x float32 \(e\.g\. Tensor\(x, "
                                         r"dtype=np\.float32\)\), or the model float64 "
                                         r"\(LSTM\(\.\.\., dtype=np\.float64\)\)$"):
        nn.LSTM(3, 4)(np.ones((2, 1, 3)))


def test_input_a_tensor_cannot_hold_is_refused_naming_the_layer():
    # was "Tensor: ..." (the layers and cells) or an AttributeError on a list (Linear)
    with pytest.raises(TypeError, match=r"^LSTM: x: object data is not supported"):
        nn.LSTM(3, 4)(None)
    with pytest.raises(TypeError, match=r"^GRUCell: x: float16 data is not supported"):
        nn.GRUCell(3, 4)(np.ones((2, 3), np.float16))
    with pytest.raises(TypeError, match=r"^Linear: x: <U3 data is not supported"):
        nn.Linear(3, 2)("abc")
    lin = nn.Linear(3, 2)
    x = [[1.0, 2.0, 3.0]]  # a list becomes float32, as Tensor(list) does
    np.testing.assert_array_equal(lin(x).data, lin(Tensor(np.array(x, np.float32))).data)

def test_initial_states_of_the_wrong_kind_are_named():
    x = Tensor(np.zeros((5, 2, 3), np.float32))
    h0 = np.zeros((1, 2, 4), np.float32)
    lstm, gru = nn.LSTM(3, 4), nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"LSTM: hx must be a tuple \(h0, c0\), got Tensor"):
        lstm(x, Tensor(h0))
    with pytest.raises(ValueError, match=r"LSTM: hx must be a tuple \(h0, c0\), got 3 states"):
        lstm(x, (h0, h0, h0))
    with pytest.raises(TypeError, match="GRU: h0 is a tuple, expected a Tensor"):
        gru(x, (Tensor(h0),))
    with pytest.raises(ValueError, match="LSTM: c0 is float64 but the parameters are float32"):
        lstm(x, (Tensor(h0), Tensor(h0.astype(np.float64))))
    # a learnable h0 from np.zeros is float64: the message says how to make it float32
    with pytest.raises(ValueError, match=r"GRU: h0 is float64 but the parameters are float32; "
                       r"make it float32 \(e\.g\. Tensor\(\.\.\., dtype=np\.float32\) or "
                       r"nn\.Parameter\(\.\.\., dtype=np\.float32\)\)"):
        gru(x, nn.Parameter(np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match="RNNCell: h is a list, expected a Tensor"):
        nn.RNNCell(3, 4)(x[0], [[0.0] * 4] * 2)
    out, (h, c) = lstm(x, (h0, h0))  # numpy arrays are taken as constant states
    np.testing.assert_array_equal(out.data, lstm(x, (Tensor(h0), Tensor(h0)))[0].data)


def test_dtypes_and_sizes_that_are_not_supported_are_refused():
    for make, who in ((lambda: nn.Linear(4, 3, dtype=np.int64), "Linear"),
                      (lambda: nn.Embedding(5, 3, dtype=np.int64), "Embedding"),
                      (lambda: nn.GRUCell(2, 3, dtype=np.float16), "GRUCell"),
                      (lambda: nn.LSTM(2, 3, dtype=np.int32), "LSTM")):
        with pytest.raises(TypeError, match=f"{who}: dtype .* is not supported; use np.float32"):
            make()  # an int Linear used to be all zeros, an int Embedding float32
    with pytest.raises(ValueError, match="Linear: in_features must be a positive int, got True"):
        nn.Linear(True, 3)
    with pytest.raises(ValueError, match="Dropout: p must be a number in"):
        nn.Dropout("a")
    lin = nn.Linear(4, 3, dtype=np.float64, rng=np.random.default_rng(0))
    one = lin(Tensor(np.arange(4.0)))  # one sample, as torch takes it
    assert one.shape == (3,)
    np.testing.assert_allclose(one.data, lin(Tensor(np.arange(4.0)[None]))[0].data)
    with pytest.raises(ValueError, match=r"Linear: x \(\) has no features"):
        lin(Tensor(np.float64(1.0)))


def test_module_repr_train_eval_zero_grad():
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.1)
    assert repr(lstm).startswith("LSTM(3, 4, num_layers=2, dropout=0.1")
    lstm.eval()
    assert not lstm.training
    x = Tensor(np.ones((2, 1, 3), np.float32))
    np.testing.assert_array_equal(lstm(x)[0].data, lstm(x)[0].data)  # eval: no dropout
    lstm(x)[0].sum().backward()
    assert lstm.weight_ih_l0.grad is not None
    lstm.zero_grad()
    assert all(p.grad is None for p in lstm.parameters())


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_bidirectional_two_layer_with_initial_state_gradients(kind):
    rng = np.random.default_rng(8)
    layer = MODULES[kind](3, 2, num_layers=2, bidirectional=True, dtype=np.float64, rng=rng)
    x = Tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    states = [Tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)
              for _ in layer.state_names]

    def f(x, *args):
        st = args[:len(states)]
        out, final = layer(x, st[0] if len(st) == 1 else tuple(st))
        return out

    assert gradcheck(f, [x, *states, *layer.parameters()])


def test_two_gru_forms_differ_for_the_same_weights():
    torch_form = nn.GRUCell(3, 4, dtype=np.float64, rng=np.random.default_rng(0))
    cho_form = nn.GRUCell(3, 4, dtype=np.float64, rng=np.random.default_rng(0), reset_after=False)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3)))
    h = Tensor(np.random.default_rng(2).standard_normal((2, 4)))
    assert np.abs(torch_form(x, h).data - cho_form(x, h).data).max() > 1e-3


def test_batch_mismatch_between_x_and_h0():
    gru = nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU: h0 has shape \(1, 5, 4\), expected .* = \(1, 2, 4\)"):
        gru(Tensor(np.zeros((6, 2, 3), np.float32)), Tensor(np.zeros((1, 5, 4), np.float32)))


@pytest.mark.parametrize("make", [
    lambda H: nn.LSTM(7, H), lambda H: nn.GRU(7, H), lambda H: nn.RNN(7, H, num_layers=2),
    lambda H: nn.LSTM(7, H, cell=nn.PeepholeLSTMCell), lambda H: nn.LSTM(7, H, cell=nn.LSTM1997Cell),
    lambda H: nn.LSTM(7, H, cell=nn.CoupledLSTMCell), lambda H: nn.LSTMCell(7, H),
    lambda H: nn.GRUCell(7, H), lambda H: nn.RNNCell(7, H)],
    ids=["LSTM", "GRU", "RNN", "Peephole", "LSTM1997", "Coupled", "LSTMCell", "GRUCell", "RNNCell"])
def test_every_parameter_starts_uniform_in_plus_minus_one_over_sqrt_h(make):
    # torch's init, U(−1/√H, 1/√H), peephole weights included; the golden and live torch
    # comparisons load their weights, so a wrong scale (1/H) went unseen (a mutation review)
    H = 100
    k = 1.0 / np.sqrt(H)
    for name, p in make(H).named_parameters():
        top = np.abs(p.data).max()
        assert top <= k and top > 0.9 * k, (name, top, k)
