"""Models and optimizers through checkpoints: all-or-nothing loading, errors naming the file and
the key, and the round trip to and from torch.nn in both directions."""

import numpy as np
import pytest

from tinygrad_lstm import Tensor, checkpoint, nn, optim
from tinygrad_lstm.checkpoint import from_torch_state_dict


def trained_lstm(seed=0, hidden=5):
    lstm = nn.LSTM(3, hidden, num_layers=2, rng=np.random.default_rng(seed))
    opt = optim.Adam(lstm.parameters(), lr=0.01)
    out, _ = lstm(Tensor(np.ones((4, 2, 3), np.float32)))
    out.sum().backward()
    opt.step()
    return lstm, opt


def test_model_and_optimizer_round_trip(tmp_path):
    lstm, opt = trained_lstm()
    path = tmp_path / "ckpt.npz"
    checkpoint.save_model(path, lstm, opt, step=7, note="hi")
    fresh, fresh_opt = trained_lstm(seed=1)
    meta = checkpoint.load_model(path, fresh, fresh_opt)
    assert meta == {"step": 7, "note": "hi"}
    for k, v in lstm.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    sd, fsd = opt.state_dict(), fresh_opt.state_dict()
    for i, st in sd["state"].items():
        for name, value in st.items():
            np.testing.assert_array_equal(fsd["state"][i][name], value)


def test_mismatched_checkpoint_is_refused_and_changes_nothing(tmp_path):
    small, _ = trained_lstm(hidden=5)
    path = tmp_path / "small.npz"
    checkpoint.save_model(path, small)
    big, _ = trained_lstm(hidden=6)
    before = big.state_dict()
    with pytest.raises(ValueError, match=r"small.npz' does not fit: LSTM.load_state_dict: "
                                         r"'weight_ih_l0' has shape \(20, 3\) .* expected \(24, 3\)"):
        checkpoint.load_model(path, big)
    for k, v in before.items():
        np.testing.assert_array_equal(big.state_dict()[k], v)


class _Net(nn.Module):
    def __init__(self, layer):
        self.rnn, self.head = layer, nn.Linear(4, 2)


@pytest.mark.parametrize("saved, loaded, says", [
    (lambda: nn.GRU(3, 4), lambda: nn.GRU(3, 4, reset_after=False),
     r"the cells were saved as GRUCell\(reset_after=True\), this model's are "
     r"GRUCell\(reset_after=False\)"),
    (lambda: nn.LSTM(3, 4, cell=nn.LSTM1997Cell), lambda: nn.LSTM(3, 4, cell=nn.CoupledLSTMCell),
     r"saved as LSTM1997Cell\(\), this model's are CoupledLSTMCell\(\)"),
    (lambda: nn.RNN(3, 4), lambda: nn.RNN(3, 4, nonlinearity="relu"),
     r"RNNCell\(nonlinearity=tanh\), this model's are RNNCell\(nonlinearity=relu\)"),
    (lambda: nn.GRUCell(3, 4, reset_after=False), lambda: nn.GRUCell(3, 4), r"GRUCell"),
    (lambda: _Net(nn.GRU(3, 4)), lambda: _Net(nn.GRU(3, 4, reset_after=False)),
     r"the cells of 'rnn' were saved as GRUCell\(reset_after=True\)"),
])
def test_weights_of_another_cell_with_the_same_shapes_are_refused(tmp_path, saved, loaded, says):
    # the shapes agree, so load_state_dict took them: a Cho GRU ran torch's GRU's weights,
    # a coupled LSTM an LSTM1997's (its three gate blocks mean other gates) (review helper)
    path = tmp_path / "m.ckpt"
    checkpoint.save_model(path, saved())
    model = loaded()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"^load_model: .*m.ckpt' does not fit: .*" + says):
        checkpoint.load_model(path, model)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    checkpoint.load_model(path, saved())  # its own kind loads
    checkpoint.load_model(path, loaded(), strict=False)  # and strict=False loads what fits
    # (all of it: the shapes agree, so nothing is said)
    checkpoint.save_model(path, nn.LSTM(3, 4, dropout=0.0, forget_bias=1.0))
    checkpoint.load_model(path, nn.LSTM(3, 4))  # init-only options are not a kind


def test_a_cells_kind_is_noted_without_addresses_and_strict_false_starts_a_peephole(tmp_path):
    # a user's cell with a function for its nonlinearity was noted with the function's
    # address, so the same model refused its own file in a new process (review helper)
    from tinygrad_lstm.checkpoint import _kinds

    class MyCell(nn.RNNCell):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.nonlinearity = Tensor.tanh

    assert _kinds(nn.RNN(3, 4, cell=MyCell)) == {"": "MyCell(nonlinearity=Tensor.tanh)"}
    path = tmp_path / "plain.ckpt"
    checkpoint.save_model(path, nn.LSTM(3, 4))
    peep = nn.LSTM(3, 4, cell=nn.PeepholeLSTMCell)
    with pytest.raises(ValueError, match=r"strict=False loads the weights that fit anyway"):
        checkpoint.load_model(path, peep)
    with pytest.warns(UserWarning, match=r"plain.ckpt': kept 3 of this model's weights as they "
                                         r"were \(not in the file: weight_ci_l0, weight_cf_l0, "
                                         r"weight_co_l0\)$"):
        checkpoint.load_model(path, peep, strict=False)  # torch's warm start: the rest stays
    checkpoint.save_model(path, peep)
    with pytest.warns(UserWarning, match=r"skipped 3 of the file's \(not in this model: "
                                         r"weight_ci_l0, weight_cf_l0, weight_co_l0\)"):
        checkpoint.load_model(path, nn.LSTM(3, 4), strict=False)
    np.testing.assert_array_equal(peep.weight_hh_l0.data,
                                  checkpoint.load(path)["model"]["weight_hh_l0"])


def test_optimizer_mismatch_restores_the_model(tmp_path):
    lstm, opt = trained_lstm()
    path = tmp_path / "c.npz"
    checkpoint.save_model(path, lstm, opt)
    other, _ = trained_lstm(seed=3)
    before = other.state_dict()
    sgd = optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="c.npz' does not fit"):
        checkpoint.load_model(path, other, sgd)
    for k, v in before.items():
        np.testing.assert_array_equal(other.state_dict()[k], v)


def test_truncated_checkpoint_is_refused_naming_the_file(tmp_path):
    lstm, _ = trained_lstm()
    path = tmp_path / "broken.npz"
    checkpoint.save_model(path, lstm)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="broken.npz"):
        checkpoint.load_model(path, lstm)


def test_to_torch_and_back():
    torch = pytest.importorskip("torch")
    ours, _ = trained_lstm()
    theirs = torch.nn.LSTM(3, 5, num_layers=2)
    # ours -> torch: torch.from_numpy of each entry
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(theirs(torch.from_numpy(x))[0].detach().numpy(),
                               ours(Tensor(x))[0].data, rtol=1e-5, atol=1e-6)
    # torch -> ours
    theirs2 = torch.nn.LSTM(3, 5, num_layers=2)
    ours.load_state_dict(checkpoint.from_torch_state_dict(theirs2.state_dict()))
    np.testing.assert_allclose(theirs2(torch.from_numpy(x))[0].detach().numpy(),
                               ours(Tensor(x))[0].data, rtol=1e-5, atol=1e-6)


class _Stack(nn.Module):
    """Layers kept in a list: a plain list is not looked into (as torch), a ModuleList is."""

    def __init__(self, listed, rng):
        layers = [nn.Linear(3, 3, rng=rng), nn.Linear(3, 2, rng=rng)]
        self.layers = nn.ModuleList(layers) if listed else layers

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
        return x


def test_a_module_list_registers_its_modules_as_torch_names_them(tmp_path):
    plain = _Stack(False, np.random.default_rng(0))
    assert plain.parameters() == []  # the gap a user fell into: nothing to train or save
    model = _Stack(True, np.random.default_rng(0))
    names = ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert list(model.state_dict()) == names and len(model.parameters()) == 4
    assert len(model.layers) == 2 and model.layers[-1] is list(model.layers)[1]
    x = Tensor(np.ones((4, 3), np.float32))
    loss = (model(x) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    checkpoint.save_model(tmp_path / "m.npz", model)
    other = _Stack(True, np.random.default_rng(1))
    checkpoint.load_model(tmp_path / "m.npz", other)
    np.testing.assert_array_equal(other(x).data, model(x).data)
    assert not model.eval().layers[0].training
    with pytest.raises(IndexError, match="ModuleList: index 2 is out of range for 2 modules"):
        model.layers[2]
    with pytest.raises(TypeError, match="ModuleList: element 2 is a list, not a Module"):
        model.layers.append([])
    # slices and extend, as torch: a slice is a new ModuleList of the same modules
    tail = model.layers[1:]
    assert type(tail) is nn.ModuleList and list(tail) == [model.layers[1]]
    assert list(tail.state_dict()) == ["0.weight", "0.bias"]
    with pytest.raises(TypeError, match="ModuleList: indices must be ints or slices, got str"):
        model.layers["1"]
    longer = nn.ModuleList(model.layers).extend([nn.Linear(2, 2)])
    assert len(longer) == 3 and len(model.layers) == 2


def test_a_module_list_state_dict_loads_into_torch():
    torch = pytest.importorskip("torch")
    model = _Stack(True, np.random.default_rng(0))
    theirs = torch.nn.Module()
    theirs.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.ones((4, 3), np.float32)
    y = torch.from_numpy(x)
    for layer in theirs.layers:
        y = layer(y).tanh()
    np.testing.assert_allclose(y.detach().numpy(), model(Tensor(x)).data, rtol=1e-6)


class _OwnAfterChild(nn.Module):
    """A Parameter of its own assigned after a child module."""

    def __init__(self):
        self.fc = nn.Linear(4, 4, bias=False, dtype=np.float64)
        self.w = nn.Parameter(np.eye(4))

    def forward(self, x):
        return self.fc(x) @ self.w


def test_parameters_are_ordered_as_torch_orders_them_own_first_then_childrens():
    """Listed in assignment order (fc.weight, w) where torch lists a module's own first
    (w, fc.weight): an optimizer state moved from torch landed on the wrong weights, with no
    error when their shapes agree (found by the review helper)."""
    m = _OwnAfterChild()
    assert [k for k, _ in m.named_parameters()] == ["w", "fc.weight"]
    assert list(m.state_dict()) == ["w", "fc.weight"]
    torch = pytest.importorskip("torch")

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4, bias=False, dtype=torch.float64)
            self.w = torch.nn.Parameter(torch.eye(4, dtype=torch.float64))

        def forward(self, x):
            return self.fc(x) @ self.w

    t = Theirs()
    assert [k for k, _ in t.named_parameters()] == [k for k, _ in m.named_parameters()]
    t.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((8, 4))
    topt = torch.optim.Adam(t.parameters(), lr=0.1)
    for _ in range(3):
        topt.zero_grad()
        (t(torch.tensor(x)) ** 2).mean().backward()
        topt.step()
    m.load_state_dict(from_torch_state_dict(t.state_dict()))
    opt = optim.Adam(m.parameters(), lr=0.1)
    opt.load_state_dict(from_torch_state_dict(topt.state_dict()))
    for _ in range(3):
        topt.zero_grad()
        (t(torch.tensor(x)) ** 2).mean().backward()
        topt.step()
        opt.zero_grad()
        (m(Tensor(x)) ** 2).mean().backward()
        opt.step()
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(m.state_dict()[k], v.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_a_state_dict_is_a_snapshot_and_a_value_of_the_same_size_but_another_shape_is_refused():
    # (a second mutation review: neither was checked)
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    kept = {k: v.copy() for k, v in sd.items()}
    lin.weight.data -= 1.0  # training goes on in place
    for k in sd:
        np.testing.assert_array_equal(sd[k], kept[k])
    for key, value in (("bias", np.zeros((1, 2), np.float32)),
                       ("weight", np.zeros((3, 2), np.float32))):  # W.T: 6 numbers too
        before = {k: v.copy() for k, v in lin.state_dict().items()}
        with pytest.raises(ValueError, match=rf"'{key}' has shape \({value.shape[0]}, "
                                             rf"{value.shape[1]}\)"):
            lin.load_state_dict({**lin.state_dict(), key: value})
        for k, v in lin.state_dict().items():
            np.testing.assert_array_equal(v, before[k])


def test_linear_starts_as_torch_in_plus_minus_one_over_sqrt_in_features():
    lin = nn.Linear(100, 50)
    k = 1.0 / np.sqrt(100)
    for p in (lin.weight, lin.bias):
        top = np.abs(p.data).max()
        assert top <= k and top > 0.8 * k, top


def test_load_model_refuses_an_overflowing_weight_and_bad_kinds_and_restores_on_an_interrupt(
        tmp_path, monkeypatch):
    # a float64 1e300 became inf in a float32 weight after the others were copied (with
    # warnings as errors, a bare RuntimeWarning and the model half loaded); a Ctrl-C between
    # the model and the optimizer left the model changed (review helper)
    path = tmp_path / "m.ckpt"
    lstm = nn.LSTM(3, 4, num_layers=2)
    opt = optim.SGD(lstm.parameters(), lr=0.1, momentum=0.9)
    checkpoint.save_model(path, lstm, opt)
    ck = checkpoint.load(path)
    ck["model"]["bias_hh_l1"] = np.full(16, 1e300)
    checkpoint.save(ck, tmp_path / "big.ckpt")
    model = nn.LSTM(3, 4, num_layers=2)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"big.ckpt' does not fit: .*'bias_hh_l1' holds 1e\+300, "
                                         r"past the largest float32"):
        checkpoint.load_model(tmp_path / "big.ckpt", model)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    ck = checkpoint.load(path)
    ck["kinds"] = [""]
    checkpoint.save(ck, tmp_path / "kinds.ckpt")
    with pytest.raises(ValueError, match=r"kinds.ckpt' does not fit: its 'kinds' is \[''\]"):
        checkpoint.load_model(tmp_path / "kinds.ckpt", model)

    inf = {k: v.astype(np.float64) for k, v in before.items()}  # inf and NaN are no overflow:
    inf["bias_hh_l1"][:2] = [np.inf, np.nan]                    # they load, as torch's do
    model.load_state_dict(inf)
    assert np.isinf(model.bias_hh_l1.data[0]) and np.isnan(model.bias_hh_l1.data[1])
    model.load_state_dict(before)
    saved = checkpoint.load(path)
    checkpoint.save_model(path, nn.LSTM(3, 4, cell=nn.PeepholeLSTMCell))
    with pytest.warns(UserWarning) as rec:  # said where the caller is, not inside checkpoint.py
        checkpoint.load_model(path, nn.LSTM(3, 4), strict=False)
    assert rec[0].filename == __file__
    checkpoint.save(saved, path)

    def interrupted(self, sd):
        raise KeyboardInterrupt

    other = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    monkeypatch.setattr(optim.SGD, "load_state_dict", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.load_model(path, model, other)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_loaders_and_save_model_refuse_what_is_not_theirs(tmp_path):
    # bare TypeErrors that named no operation, and save_model(p, model, model) saved the
    # model's weights as the optimizer's state (error-policy review)
    m = nn.Linear(2, 2)
    opt = optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match=r"^Linear.load_state_dict: expected a dict of name "
                                           r"-> array \(a state_dict\(\)\), got a NoneType"):
        m.load_state_dict(None)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=r"^SGD.load_state_dict: param_groups\[0\] must be a "
                                         "dict of hyperparameters and 'params', got a int"):
        opt.load_state_dict({"state": {}, "param_groups": [5]})
    with pytest.raises(ValueError, match="^SGD.load_state_dict: state must be a dict of param "
                                         "index -> state, got a list"):
        opt.load_state_dict({"state": [1, 2], "param_groups": sd["param_groups"]})
    path = tmp_path / "m.ckpt"
    for who, call in [("save_model", checkpoint.save_model), ("load_model", checkpoint.load_model)]:
        with pytest.raises(TypeError, match=f"^{who}: optimizer must be an optimizer "
                                            r"\(optim.SGD, optim.Adam, ...\) or None, got a "
                                            "Linear"):
            call(path, m, m)
    assert not path.exists()
    checkpoint.save_model(path, m, opt, step=1)
    assert checkpoint.load_model(path, m, opt) == {"step": 1}


def test_torch_interchange_copies_and_keeps_the_structure():
    # from a third mutation review: the docstrings promise copies and "the same" structure
    torch = pytest.importorskip("torch")
    a = np.ones(3, np.float32)
    t = checkpoint.to_torch_state_dict({"a": a})["a"]
    a[0] = 5
    assert t[0].item() == 1.0  # a copy: training on afterwards does not move the export
    sd = from_torch_state_dict({"betas": (0.9, 0.99), "w": (torch.ones(1),), "l": [torch.ones(1)]})
    assert type(sd["betas"]) is tuple and type(sd["w"]) is tuple and type(sd["l"]) is list
    back = checkpoint.to_torch_state_dict(sd)
    assert type(back["betas"]) is tuple and type(back["w"]) is tuple


def test_a_module_without_forward_says_what_it_lacks():
    # a bare NotImplementedError, no message (a PyTorch user's review)
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match=r"NoForward: a Module defines forward\(\.\.\.\)"):
        NoForward()(np.zeros(2, np.float32))
