"""The recurrent layers and cells at their edges, used the way a PyTorch user would: options
in every combination against torch.nn, and what happens to input this package does not take
(unbatched, empty, torch states, unknown options), which must be refused by name."""

import functools
import itertools
import re
from fractions import Fraction

import numpy as np
import pytest

import tinygrad_lstm.functional as F
from tinygrad_lstm import OpError, Tensor, manual_seed, nn
from tinygrad_lstm.tensor import default_rng

f32 = np.float32


# ---------------------------------------------------------------------------- States
def test_states_refuse_a_layer_or_direction_out_of_range():
    rng = np.random.default_rng(0)
    lstm = nn.LSTM(3, 4, num_layers=2, dtype=np.float64, rng=rng)
    _, (h, _), states = lstm(Tensor(rng.standard_normal((5, 2, 3))), return_states=True)
    # direction=1 of a one-way layer used to return the next layer's steps
    with pytest.raises(IndexError, match=r"States: layer=0, direction=1 is out of range: "
                                         r"2 layer\(s\) \(-2 to 1\), 1 direction\(s\)"):
        states.get("h", layer=0, direction=1)
    for layer, direction in ((2, 0), (-3, 0), (0, -1), ("1", 0)):
        with pytest.raises(IndexError, match="States: layer="):
            states.numpy("h", layer=layer, direction=direction)
    np.testing.assert_array_equal(states.numpy("h", layer=-1)[-1], h.data[1])
    np.testing.assert_array_equal(states.numpy("h", layer=np.int64(1))[-1], h.data[1])

    bi = nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, rng=rng)
    out, h, states = bi(Tensor(rng.standard_normal((5, 2, 3))), return_states=True)
    np.testing.assert_array_equal(states.numpy("h", layer=1, direction=1)[0], h.data[3])
    np.testing.assert_array_equal(states.numpy("h", layer=-1, direction=0)[-1], h.data[2])
    with pytest.raises(IndexError, match=r"layer=0, direction=2 .* 2 direction\(s\) \(0 to 1\)"):
        states.get("h", direction=2)


# ---------------------------------------------------------------------------- what is refused
def test_an_initial_state_from_torch_is_named_as_torchs():
    torch = pytest.importorskip("torch")
    x = np.zeros((5, 2, 3), f32)
    # was "LSTM: h0 is a Tensor, expected a Tensor"
    with pytest.raises(TypeError, match=r"LSTM: h0 is a torch\.Tensor, expected a Tensor or a "
                                        r"numpy array"):
        nn.LSTM(3, 4)(x, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match=r"GRUCell: h is a torch\.Tensor"):
        nn.GRUCell(3, 4)(x[0], torch.zeros(2, 4))
    out, _ = nn.LSTM(3, 4)(x, (np.zeros((1, 2, 4), f32),) * 2)  # numpy states still taken
    assert out.shape == (5, 2, 4)
    # x from torch likewise: numpy read one without grad silently, and one with grad raised
    # torch's own "Can't call numpy() on Tensor that requires grad"
    for tx in (torch.zeros(5, 2, 3), torch.zeros(5, 2, 3, requires_grad=True)):
        with pytest.raises(TypeError, match=r"^LSTM: x is a torch\.Tensor, expected a Tensor "
                                            r"or a numpy array \(from torch: x\.detach\(\)"):
            nn.LSTM(3, 4)(tx)
    with pytest.raises(TypeError, match=r"^Linear: x is a torch\.Tensor"):
        nn.Linear(3, 4)(torch.zeros(2, 3))
    with pytest.raises(TypeError, match=r"^LSTM: x is a torch\.Parameter"):  # a subclass
        nn.LSTM(3, 4)(torch.nn.Parameter(torch.zeros(5, 2, 3)))
    with pytest.raises(TypeError, match=r"^mse_loss: target must be .*, got torch\.Tensor"):
        from tinygrad_lstm import functional as F
        F.mse_loss(Tensor(np.zeros(3)), torch.zeros(3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None])
def test_forget_bias_must_be_a_finite_number(bad):
    # nan filled the f block with NaN; a string failed inside numpy's add
    if bad is None:  # the layer's default: the cell's own (LSTMCell's 0)
        assert nn.LSTM(3, 4, forget_bias=None)._cells[0].forget_bias == 0.0
    else:
        with pytest.raises(ValueError, match="LSTMCell: forget_bias must be a finite number, "
                                             "got"):
            nn.LSTM(3, 4, forget_bias=bad)
    with pytest.raises(ValueError, match="CoupledLSTMCell: forget_bias must be a finite number"):
        nn.CoupledLSTMCell(3, 4, forget_bias=bad)
    assert nn.LSTM(3, 4, forget_bias=np.float32(1.5))._cells[0].forget_bias == 1.5


def test_dropout_that_is_not_a_number_is_refused_by_name():
    # was a TypeError from '<=' naming neither the layer nor the argument
    for bad, shown in (("a", "'a'"), (None, "None"), ([0.1], r"\[0.1\]")):
        with pytest.raises(ValueError, match=f"LSTM: dropout must be in \\[0, 1\\], got {shown}"):
            nn.LSTM(3, 4, num_layers=2, dropout=bad)
    with pytest.raises(ValueError, match=r"GRU: dropout must be in \[0, 1\], got 1.01"):
        nn.GRU(3, 4, dropout=1.01)
    assert nn.GRU(3, 4, num_layers=2, dropout=1.0).dropout == 1.0  # as torch: all dropped
    assert nn.GRU(3, 4, num_layers=2, dropout=np.float64(0.25)).dropout == 0.25
    with pytest.raises(ValueError, match=r"LSTM: dropout must be in \[0, 1\], got True"):
        nn.LSTM(3, 4, num_layers=2, dropout=True)  # as torch
    # any real number is stored as a float, as torch does; a Fraction was stored as given
    # and then refused by Dropout, naming Dropout and leaving the layer saying dropout=1/2
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=Fraction(1, 2))
    assert type(lstm.dropout) is float and lstm.dropout == 0.5 and "dropout=0.5" in repr(lstm)
    lstm.dropout = Fraction(1, 4)
    assert type(lstm.dropout) is float and lstm.dropout == 0.25
    # a number, not a child module: torch's layers list none for it (ours listed 'drop')
    assert [name for name, _ in lstm.named_modules()] == [""]


def test_dropout_set_after_construction_takes_effect_as_in_torch():
    # torch reads self.dropout at every forward; here it was read once, in __init__, so
    # `lstm.dropout = 0.5` on a layer built without dropout changed nothing
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((5, 3, 4)).astype(np.float32))
    lstm = nn.LSTM(4, 6, num_layers=2, rng=np.random.default_rng(1))
    plain = lstm(x)[0].data
    lstm.dropout = 0.5
    assert lstm.dropout == 0.5 and "dropout=0.5" in repr(lstm)
    assert not np.allclose(lstm(x)[0].data, plain)                 # dropped between layers
    np.testing.assert_array_equal(lstm.eval()(x)[0].data, plain)   # eval: off
    lstm.train()
    with pytest.raises(ValueError, match=r"LSTM: dropout must be in \[0, 1\], got 1.5"):
        lstm.dropout = 1.5
    assert lstm.dropout == 0.5                                      # refused: nothing changed
    lstm.eval()
    lstm.dropout = 0.25                                             # set in eval: stays off
    np.testing.assert_array_equal(lstm(x)[0].data, plain)
    lstm.train()
    lstm.dropout = 0.0                                              # off again
    np.testing.assert_array_equal(lstm(x)[0].data, plain)


def test_an_unknown_option_is_named_with_the_layer_and_its_cell():
    # each was "_Cell.__init__() got an unexpected keyword argument ..."
    cases = [(lambda: nn.LSTM(3, 4, proj_size=2), "LSTM", "proj_size", "LSTMCell"),
             (lambda: nn.LSTM(3, 4, nonlinearity="relu"), "LSTM", "nonlinearity", "LSTMCell"),
             (lambda: nn.RNN(3, 4, reset_after=False), "RNN", "reset_after", "RNNCell"),
             (lambda: nn.LSTM(3, 4, cell=nn.PeepholeLSTMCell, reset_after=False), "LSTM",
              "reset_after", "PeepholeLSTMCell")]
    for make, layer, arg, cell in cases:
        with pytest.raises(TypeError, match=f"{layer}: unexpected keyword argument '{arg}' "
                                            f"\\({cell} does not take it\\)"):
            make()
    # what the cells do take still goes through, and a cell factory is still called
    assert nn.GRU(3, 4, reset_after=False)._cells[0].reset_after is False
    assert nn.GRU(3, 4, cell=nn.RNNCell, nonlinearity="relu")._cells[0].nonlinearity == "relu"
    gru = nn.GRU(3, 4, cell=functools.partial(nn.GRUCell, reset_after=False))
    assert gru(np.zeros((2, 1, 3), f32))[0].shape == (2, 1, 4)
    # its repr raised AttributeError: a partial has no __name__
    assert repr(gru).startswith("GRU(3, 4, reset_after=False, cell=functools.partial(")


def test_a_cell_instance_is_refused():
    # was "_Cell.forward() got an unexpected keyword argument 'bias'"
    with pytest.raises(TypeError, match=r"LSTM: cell must be a cell class such as "
                                        r"nn.PeepholeLSTMCell .*got LSTMCell\(3, 4\)"):
        nn.LSTM(3, 4, cell=nn.LSTMCell(3, 4))
    with pytest.raises(TypeError, match=r"LSTM: cell must be a cell class .*got 'peephole'"):
        nn.LSTM(3, 4, cell="peephole")  # was "'str' object is not callable"


def test_rnn_takes_torchs_positional_arguments():
    # torch.nn.RNN(input, hidden, num_layers, nonlinearity, bias, batch_first, dropout,
    # bidirectional); ours stopped at nonlinearity ("takes from 3 to 5 positional arguments")
    rnn = nn.RNN(3, 4, 2, "relu", False, True, 0.25, True)
    assert (rnn.num_layers, rnn._cells[0].nonlinearity, rnn.bias, rnn.batch_first, rnn.dropout,
            rnn.bidirectional) == (2, "relu", False, True, 0.25, True)
    assert [n for n, _ in rnn.named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse"]
    lstm = nn.LSTM(3, 4, 2, False, True, 0.25, True)  # as torch's order, already
    assert (lstm.bias, lstm.batch_first, lstm.dropout, lstm.bidirectional) == \
        (False, True, 0.25, True)


def test_unbatched_input_is_refused_with_the_reshape_that_works():
    """torch takes (T, input_size) for a layer and (input_size,) for a cell; this package does
    not, and says how to add the batch axis."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3)).astype(f32)
    lstm = nn.LSTM(3, 4, rng=rng)
    with pytest.raises(ValueError, match=r"LSTM: x has shape \(5, 3\), expected \(T, B, "
                                         r"input_size\); unbatched \(T, input_size\) input is "
                                         r"not taken: add a batch axis of 1, x.reshape\(5, 1, 3\)"):
        lstm(x)
    out, (h, c) = lstm(x.reshape(5, 1, 3))
    assert out.shape == (5, 1, 4) and h.shape == (1, 1, 4)
    with pytest.raises(ValueError, match=r"GRU: x has shape \(5, 3\), expected \(B, T, "
                                         r"input_size\); .*x.reshape\(1, 5, 3\)"):
        nn.GRU(3, 4, batch_first=True)(x)
    cell = nn.GRUCell(3, 4, rng=rng)
    with pytest.raises(ValueError, match=r"GRUCell: x has shape \(3,\), expected \(batch, "
                                         r"input_size\); one unbatched sample is not taken: add "
                                         r"a batch axis of 1, x.reshape\(1, 3\)"):
        cell(x[0])
    assert cell(x[0].reshape(1, 3)).shape == (1, 4)
    with pytest.raises(ValueError, match=r"LSTM: x has shape \(5, 2, 3, 1\), expected "
                                         r"\(T, B, input_size\)$"):  # no hint for other ranks
        lstm(np.zeros((5, 2, 3, 1), f32))


def test_an_empty_sequence_is_named_with_the_shape_as_given():
    # batch_first reported the transposed shape, (0, 2, 3), not the (2, 0, 3) passed
    with pytest.raises(ValueError, match=r"LSTM: x has shape \(2, 0, 3\): the sequence is empty"):
        nn.LSTM(3, 4, batch_first=True)(np.zeros((2, 0, 3), f32))
    with pytest.raises(ValueError, match=r"RNN: x has shape \(0, 2, 3\): the sequence is empty"):
        nn.RNN(3, 4)(np.zeros((0, 2, 3), f32))


# ---------------------------------------------------------------------------- repr
def test_repr_shows_the_cell_options_that_change_the_model():
    # a relu RNN, a Cho-form GRU and a forget bias all printed as the plain layer
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity=relu)"
    assert repr(nn.GRU(3, 4, 2, reset_after=False)) == "GRU(3, 4, num_layers=2, reset_after=False)"
    assert repr(nn.LSTM(3, 4, forget_bias=1.0, cell=nn.CoupledLSTMCell)) == \
        "LSTM(3, 4, forget_bias=1.0, cell=CoupledLSTMCell)"
    assert repr(nn.LSTM(3, 4, bias=False, bidirectional=True)) == \
        "LSTM(3, 4, bias=False, bidirectional=True)"
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == \
        "RNNCell(3, 4, bias=False, nonlinearity=relu)"  # as torch's
    assert repr(nn.RNNCell(3, 4)) == "RNNCell(3, 4)"
    # one line, as torch's: the between-layer Dropout is how the layer works, not a child
    # (it printed as "LSTM(3, 4, num_layers=2, dropout=0.5\n  (drop): Dropout(p=0.5)\n)")
    assert repr(nn.LSTM(3, 4, 2, dropout=0.5)) == "LSTM(3, 4, num_layers=2, dropout=0.5)"


@pytest.mark.parametrize("kind, kw, says", [
    ("GRU", dict(forget_bias=1.0), "GRU: GRUCell: forget_bias=1.0 but the cell has no forget gate "
                                   "of its own (its z, the share of h_prev kept, is a coupled one"),
    ("LSTM", dict(bias=False, forget_bias=1.0),
     "LSTM: LSTMCell: forget_bias=1.0 but the cell has no bias"),
    ("RNN", dict(nonlinearity="gelu"), "RNN: RNNCell: nonlinearity must be 'tanh' or 'relu'"),
])
def test_a_cell_option_the_cell_refuses_names_the_layer_too(kind, kw, says):
    # the error named only the cell (GRUCell: ...), which the caller of nn.GRU never built
    with pytest.raises(ValueError) as e:
        getattr(nn, kind)(3, 4, **kw)
    assert str(e.value).startswith(says)


def test_cell_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for kind, kw in (("RNNCell", dict(nonlinearity="relu")),
                     ("RNNCell", dict(bias=False, nonlinearity="relu")),
                     ("LSTMCell", dict(bias=False)), ("GRUCell", {})):
        assert repr(getattr(nn, kind)(3, 4, **kw)) == repr(getattr(torch.nn, kind)(3, 4, **kw))


# ---------------------------------------------------------------------------- torch interchange
def test_load_state_dict_takes_torch_bfloat16():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(3, 4).to(torch.bfloat16)
    ours = nn.LSTM(3, 4)
    # was "Got unsupported ScalarType BFloat16", naming neither the load nor the key
    assert ours.load_state_dict(theirs.state_dict()) == ([], [])
    np.testing.assert_array_equal(ours.weight_hh_l0.data,
                                  theirs.weight_hh_l0.detach().float().numpy())


def test_every_layer_option_against_torch_with_initial_state_gradients():
    """num_layers x bidirectional x batch_first x bias, dropout set but in eval mode, hx with
    requires_grad: outputs, final states, and the gradients of x, every initial state and
    every parameter equal torch's; parameters() in torch's order."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    I, H, T, B = 3, 4, 3, 2
    for kind, layers, bi, bf, bias in itertools.product(
            ["RNN", "LSTM", "GRU"], [1, 2], [False, True], [False, True], [True, False]):
        what = f"{kind} layers={layers} bidirectional={bi} batch_first={bf} bias={bias}"
        kw = dict(num_layers=layers, bidirectional=bi, batch_first=bf, bias=bias,
                  dropout=0.3 if layers > 1 else 0.0)
        ours = getattr(nn, kind)(I, H, dtype=np.float64, rng=rng, **kw).eval()
        theirs = getattr(torch.nn, kind)(I, H, dtype=torch.float64, **kw).eval()
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
        assert [n for n, _ in ours.named_parameters()] == \
            [n for n, _ in theirs.named_parameters()], what
        x = rng.standard_normal((B, T, I) if bf else (T, B, I))
        states = [rng.standard_normal((layers * (1 + bi), B, H)) for _ in ours.state_names]

        def run(make, model):
            xs, sts = make(x), [make(s) for s in states]
            out, final = model(xs, sts[0] if len(sts) == 1 else tuple(sts))
            return xs, sts, [out, *(final if isinstance(final, tuple) else (final,))]

        x_o, st_o, res_o = run(lambda a: Tensor(a, requires_grad=True), ours)
        x_t, st_t, res_t = run(lambda a: torch.tensor(a, requires_grad=True), theirs)
        R = [rng.standard_normal(r.shape) for r in res_o]
        zero = Tensor(0.0, dtype=np.float64)
        sum(((r * Tensor(w)).sum() for r, w in zip(res_o, R)), zero).backward()
        sum((r * torch.tensor(w)).sum() for r, w in zip(res_t, R)).backward()
        for a, b in zip(res_o, res_t):
            np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-12, err_msg=what)
        pairs = [(x_o, x_t)] + list(zip(st_o, st_t)) + list(zip(ours.parameters(),
                                                                theirs.parameters()))
        for a, b in pairs:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), atol=1e-11, err_msg=what)


def test_a_refused_cell_leaves_the_generator_as_it_was():
    # the forget-bias checks ran after the init had drawn the weights from rng
    for make in (lambda rng: nn.LSTM(3, 4, cell=nn.LSTM1997Cell, forget_bias=1.0, rng=rng),
                 lambda rng: nn.LSTMCell(3, 4, bias=False, forget_bias=1.0, rng=rng),
                 lambda rng: nn.LSTM(3, 4, forget_bias=float("nan"), rng=rng),
                 lambda rng: nn.LSTM(3, 4, dropout=2.0, rng=rng),
                 lambda rng: nn.LSTM(3, 4, proj_size=2, rng=rng)):
        rng = np.random.default_rng(0)
        with pytest.raises((ValueError, TypeError)):
            make(rng)
        assert rng.random() == np.random.default_rng(0).random()


@pytest.mark.parametrize("layer,cell", [(nn.LSTM, nn.GRUCell), (nn.GRU, nn.LSTMCell),
                                        (nn.RNN, nn.PeepholeLSTMCell)])
def test_a_cell_must_carry_the_layers_states(layer, cell):
    # LSTM(cell=GRUCell) ran and returned (out, h_n) where an LSTM returns (out, (h_n, c_n))
    with pytest.raises(TypeError, match=rf"{layer.__name__}: cell {cell.__name__} carries .*"
                                        rf", but the {layer.__name__} layer carries"):
        layer(3, 4, cell=cell)
    assert isinstance(nn.GRU(3, 4, cell=nn.RNNCell), nn.GRU)  # the same states: allowed
    assert nn.LSTM(3, 4, cell=functools.partial(nn.PeepholeLSTMCell)).state_names == ("h", "c")


def test_a_bug_in_ones_own_cell_keeps_its_frames_in_the_traceback():
    # the layer's "LSTM: ..." re-raise was `from None`: the line of the user's bug was gone
    class Buggy(nn.LSTMCell):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.s = None + 1

    with pytest.raises(TypeError, match="^LSTM: unsupported operand") as e:
        nn.LSTM(4, 6, cell=Buggy)
    cause = e.value.__cause__
    assert isinstance(cause, TypeError) and "self.s = None + 1" in "".join(
        __import__("traceback").format_tb(cause.__traceback__))


def test_a_plain_tensor_set_over_a_parameter_is_refused_as_torch():
    """lin.weight = Tensor(...) dropped the weight from parameters() and state_dict(): the
    forward read it, the optimizer never trained it, load_state_dict called its key
    unexpected (found by the review helper)."""
    lin = nn.Linear(3, 2)
    before = lin.weight
    with pytest.raises(TypeError, match=r"^Linear: cannot assign a Tensor as parameter 'weight' "
                                        r"\(a Parameter or None is expected, as torch\)"):
        lin.weight = Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    assert lin.weight is before and [k for k, _ in lin.named_parameters()] == ["weight", "bias"]
    lin.weight = nn.Parameter(np.zeros((2, 3), np.float32))  # a Parameter, or None: taken
    lin.bias = None
    assert [k for k, _ in lin.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign a Tensor as parameter 'bias'"):
        lin.bias = Tensor(np.zeros(2, np.float32))  # through None, the slot is still one
    lin.bias = nn.Parameter(np.zeros(2, np.float32))
    assert [k for k, _ in lin.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError, match="GRU: cannot assign a ndarray as parameter 'weight_hh_l0'"):
        nn.GRU(3, 4).weight_hh_l0 = np.zeros((12, 4), np.float32)


def test_a_non_module_set_over_a_submodule_and_a_non_bool_mode_are_refused_as_torch():
    class Model(nn.Module):
        def __init__(self):
            self.rnn, self.head = nn.GRU(2, 3), nn.Linear(3, 2)

    m = Model()
    head = m.head
    with pytest.raises(TypeError, match=r"^Model: cannot assign a ndarray over submodule "
                                        r"'head' \(a Module or None is expected, as torch\)"):
        m.head = np.ones(2)
    assert m.head is head and "head.weight" in m.state_dict()
    m.head = nn.Linear(3, 4)  # another Module, or None: taken
    m.head = None
    assert not any(k.startswith("head.") for k in m.state_dict())
    with pytest.raises(TypeError, match="cannot assign a int over submodule 'head'"):
        m.head = 5  # through None, the slot is still a submodule's (torch's _modules entry)
    assert m.head is None
    m.head = nn.Linear(3, 2)
    assert "head.weight" in m.state_dict()
    del m.head  # del frees the name, as torch
    m.head = 5
    lin = nn.Linear(2, 2)
    lin.bias = None
    del lin.bias
    lin.bias = None  # now a plain attribute
    lin.bias = "free"
    assert [k for k, _ in lin.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="Model.train: mode must be True or False, got 'no'"):
        m.train("no")
    assert m.training is True and m.train(False).rnn.training is False


def test_next_of_parameters_is_the_first_one_as_torchs_generator_gives():
    m = nn.LSTM(3, 4)
    assert next(m.parameters()) is m.weight_ih_l0  # torch's idiom for a model's dtype
    ps = m.parameters()
    assert next(ps) is ps[0] and next(ps) is ps[1]  # one object read on, as a generator
    assert len(ps) == 4 and ps[3] is m.bias_hh_l0 and list(ps) == list(ps)  # still a list
    assert not nn.Linear(2, 2, bias=False).parameters()[1:]  # sliced: a plain list
    with pytest.raises(StopIteration):
        next(nn.Module().parameters())


def test_requires_grad_and_apply_on_a_module_as_torch():
    class Model(nn.Module):
        def __init__(self):
            self.rnn, self.head = nn.LSTM(2, 3), nn.Linear(3, 2)

    m = Model()
    visited = []
    assert m.apply(lambda mod: visited.append(type(mod).__name__)) is m
    assert visited == ["LSTM", "Linear", "Model"]  # children first, as torch
    assert m.rnn.requires_grad_(False) is m.rnn
    out, _ = m.rnn(Tensor(np.ones((2, 1, 2), np.float32)))
    m.head(out).sum().backward()
    assert all(p.grad is None for p in m.rnn.parameters())  # frozen: no grad
    assert all(p.grad is not None for p in m.head.parameters())


def test_module_list_deletes_inserts_pops_and_extends_renumbered_as_torchs():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(2, 2), nn.Linear(3, 3)])
    del ml[1]
    assert [m.in_features for m in ml] == [1, 3]
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # renumbered
    ml.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "Linear"] and ml[1].in_features == 1
    assert ml.pop().in_features == 3 and len(ml) == 2
    ml += [nn.ReLU()]
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "ReLU"]
    del ml[0:2]
    assert [type(m).__name__ for m in ml] == ["ReLU"] and list(ml.state_dict()) == []
    assert len(nn.ModuleList(None)) == 0
    with pytest.raises(TypeError, match="ModuleList: insert takes a Module, got a int"):
        ml.insert(0, 5)
    seq = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
    del seq[1]  # a Sequential is one too
    assert seq(Tensor(np.ones((3, 2), np.float32))).shape == (3, 1)


def test_module_traversal_and_returns_as_torch():
    """children(), named_modules(), ModuleList item assignment, load_state_dict's named
    (missing_keys, unexpected_keys) and a clear word on parameter groups (each an
    AttributeError, TypeError or unclear message before; found by the review helper)."""
    from tinygrad_lstm import optim

    class Net(nn.Module):
        def __init__(self):
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.head = nn.Linear(2, 1)
            self.same = self.head  # held twice: listed once, under its first name

    net = Net()
    assert [type(m).__name__ for m in net.children()] == ["ModuleList", "Linear"]  # once
    assert len(list(net.modules())) == 5  # net, the list, its two, the head (not twice)
    assert [k for k, _ in net.named_modules()] == ["", "layers", "layers.0", "layers.1", "head"]
    fresh = nn.Linear(2, 2)
    net.layers[-1] = fresh
    assert net.layers[1] is fresh and net.state_dict()["layers.1.weight"] is not None
    with pytest.raises(TypeError, match="ModuleList: element 0 would be a int, not a Module"):
        net.layers[0] = 3
    with pytest.raises(IndexError, match="ModuleList: index 2 is out of range for 2 modules"):
        net.layers[2] = fresh
    with pytest.raises(TypeError, match="ModuleList: slice assignment is not supported"):
        net.layers[0:1] = [fresh]
    sd = {k: v for k, v in net.state_dict().items() if k != "head.bias"}
    sd["extra"] = np.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result  # still a pair
    with pytest.raises(TypeError, match=r"SGD: params\[0\] is a dict: parameter groups are not "
                                        "supported"):
        optim.SGD([{"params": net.parameters(), "lr": 0.1}], lr=0.1)


def test_a_module_list_may_hold_one_module_more_than_once_and_bias_false_is_a_slot():
    # dedup in named_children made ModuleList([blk, blk]) one long: a loop over it applied
    # the layer once, and append overwrote slot "1" (found by the review helper)
    blk = nn.Linear(2, 2)
    ml = nn.ModuleList([blk, blk])
    assert len(ml) == 2 and ml[1] is blk and len(nn.ModuleList([blk] * 3)) == 3
    ml.append(nn.Linear(2, 2))
    assert len(ml) == 3 and ml[1] is blk and ml[2] is not blk
    assert "(1): Linear" in repr(ml)
    lin = nn.Linear(2, 2, bias=False)  # torch registers the empty slot: only a Parameter fits
    with pytest.raises(TypeError, match="Linear: cannot assign a Tensor as parameter 'bias'"):
        lin.bias = Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="LSTMCell: cannot assign a Tensor as parameter 'bias_ih'"):
        nn.LSTMCell(2, 3, bias=False).bias_ih = Tensor(np.ones(12, np.float32))


def test_dropout_between_layers_follows_manual_seed_called_after_the_build():
    """The layer kept the default generator of its build: manual_seed(42) before each of two
    runs gave nn.Dropout the same masks twice but the layer different ones (found by the
    review helper). An rng passed to the layer is still the one it uses."""
    from tinygrad_lstm import manual_seed, no_grad
    manual_seed(0)
    lstm = nn.LSTM(4, 8, num_layers=2, dropout=0.5)
    x = np.ones((3, 2, 4), np.float32)

    def run():
        with no_grad():
            return lstm(x)[0].numpy().copy()

    manual_seed(42)
    a = run()
    manual_seed(42)
    np.testing.assert_array_equal(run(), a)
    assert not np.array_equal(run(), a)  # the generator moved on
    own = nn.LSTM(4, 8, num_layers=2, dropout=0.5, rng=np.random.default_rng(1))
    manual_seed(42)
    with no_grad():
        b = own(x)[0].numpy().copy()
    manual_seed(42)
    with no_grad():
        assert not np.array_equal(own(x)[0].numpy(), b)  # its own generator, not reseeded


def test_an_initial_state_of_zeros_keeps_the_scope_around_the_call():
    # the encoder's h[t=0] lost `scope(part="enc")`, so its start box named no row
    from tinygrad_lstm import scope
    enc = nn.LSTM(3, 4)
    with scope(part="enc"):
        _, _, states = enc(np.ones((2, 1, 3), np.float32), return_states=True)
    h0, c0 = states.initial[0]
    assert h0.scope["part"] == "enc" and h0.scope["t"] == 0 and c0.scope["part"] == "enc"


def test_friendly_errors_for_torch_habits():
    from tinygrad_lstm import Tensor, gradcheck, optim
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"^Linear: x is float64 but the parameters are float32; "
                                         r"make x float32"):
        lin(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^Linear: x is float32 \(made from int64 data\) but "
                                         r"the parameters are float64"):
        nn.Linear(3, 2, dtype=np.float64)(np.ones((2, 3), np.int64))
    with pytest.raises(TypeError, match=r"^Adam: params must be an iterable of parameters, got "
                                        r"a LSTM module; pass model.parameters\(\)"):
        optim.Adam(nn.LSTM(3, 4))
    x = Tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True)
    np.testing.assert_allclose((2 ** x).data, 2.0 ** x.data)
    assert gradcheck(lambda x: 3.0 ** x, [x])
    with pytest.raises(OpError, match=r"^pow: -2 \*\* a Tensor: the base must be positive"):
        (-2) ** x


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dropped", ["bias_ih_l0", "bias_hh_l0"])
def test_one_bias_set_to_none_leaves_the_other_in_use(kind, dropped):
    """Setting bias_ih to None dropped bias_hh from the forward too (it was added only when
    bias_ih was there), while bias_hh stayed a listed, saved Parameter that never trained
    (found by the code-reading helper). Each bias now counts on its own: the same outputs and
    gradients as the dropped bias held at zero."""
    x = Tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))
    zeroed = getattr(nn, kind)(3, 5, rng=manual_seed(0), dtype=np.float64)
    getattr(zeroed, dropped).data[:] = 0
    model = getattr(nn, kind)(3, 5, rng=manual_seed(0), dtype=np.float64)
    setattr(model, dropped, None)
    outs = [m(x)[0] for m in (zeroed, model)]
    for y in outs:
        (y * y).sum().backward()
    np.testing.assert_allclose(outs[1].data, outs[0].data, rtol=1e-12)
    kept = dict(model.named_parameters())
    assert dropped not in kept and len(kept) == 3
    full = dict(zeroed.named_parameters())
    for name, p in kept.items():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name
        np.testing.assert_allclose(p.grad, full[name].grad, rtol=1e-10)
    assert "bias=False" not in repr(model)


@pytest.mark.parametrize("value", ["no", None, 1, 0.0])
def test_reset_after_must_be_a_bool(value):
    # "no" read as True and None as Cho's form, without a word (found by the code-reading helper)
    with pytest.raises(TypeError, match=rf"GRUCell: reset_after must be True or False, "
                                        rf"got {re.escape(repr(value))}"):
        nn.GRU(2, 3, reset_after=value)
    assert nn.GRUCell(2, 3, reset_after=np.bool_(False)).reset_after is False


def test_true_or_false_options_refuse_other_values_and_rng_a_seed():
    # a string is truthy: batch_first="False" read a (T, B, I) input as (B, T, I), bias="no"
    # kept the biases, and the printout hid it (error-policy review). torch refuses a string
    # for a layer's bias and batch_first (and takes one elsewhere); here every flag does
    lstm = nn.LSTM(3, 4)
    cases = [
        (lambda: nn.LSTM(3, 4, batch_first="False"),
         r"^LSTM: batch_first must be True or False, got 'False'"),
        (lambda: nn.GRU(3, 4, bidirectional="False"), "GRU: bidirectional must be True or False"),
        (lambda: nn.RNN(3, 4, bias="no"), "RNN: bias must be True or False"),
        (lambda: nn.Linear(2, 2, bias="no"), "Linear: bias must be True or False"),
        (lambda: nn.LSTMCell(2, 2, bias="True"), "LSTMCell: bias must be True or False, got 'True'"),
        (lambda: nn.GRU(2, 2, batch_first=2), "GRU: batch_first must be True or False, got 2"),
        (lambda: lstm(Tensor(np.ones((2, 1, 3), np.float32)), return_states="no"),
         "LSTM: return_states must be True or False"),
        (lambda: nn.LSTM(3, 4, rng=3), r"LSTM: rng must be a numpy Generator or None, got int 3 "
                                        r"\(a seed: rng=np.random.default_rng\(3\)\)"),
        (lambda: nn.GRUCell(3, 4, rng="a"), "GRUCell: rng must be a numpy Generator or None"),
        (lambda: nn.Linear(3, 4, rng=1), "Linear: rng must be"),
        (lambda: nn.Embedding(3, 4, rng=1), "Embedding: rng must be"),
        (lambda: nn.Dropout(0.5, rng=1), "Dropout: rng must be"),
        (lambda: F.dropout(Tensor(np.ones(3)), 0.5, rng=5), "dropout: rng must be"),
    ]
    state = default_rng().bit_generator.state
    for make, message in cases:
        with pytest.raises(TypeError, match=message):
            make()
    assert default_rng().bit_generator.state == state  # refused before drawing any weight
    m = nn.LSTM(3, 4, batch_first=np.bool_(True), bias=True, rng=np.random.default_rng(0))
    assert m.batch_first is True and m(Tensor(np.ones((2, 5, 3), np.float32)))[0].shape == (2, 5, 4)
    nn.Linear(2, 2, rng=np.random.RandomState(0))  # the legacy generator draws as well
    nn.Linear(2, 2, rng=np.random)  # and numpy's module-level one
    # 0 and 1, which torch takes for a Linear's bias and a layer's bidirectional
    assert nn.Linear(2, 2, bias=0).bias is None and nn.LSTMCell(2, 2, bias=1).bias_ih is not None
    assert nn.LSTM(3, 4, bidirectional=1).bidirectional is True


# --- from a third mutation review: behaviour no test pinned -------------------------------------

def test_a_big_layer_releases_its_input_projection():
    # the (T, B, G·H) input projection is what a step reads a row of; kept, it doubled the
    # graph's memory for the life of the graph (the memory goal in benchmarks/ measures it)
    from tinygrad_lstm.tensor import _Released
    lstm = nn.LSTM(8, 256, rng=np.random.default_rng(0))  # a (B, 4H) block of 32 KiB a step
    out, _ = lstm(Tensor(np.ones((3, 8, 8), np.float32)))
    seen, stack, big = set(), [out], []
    while stack:
        t = stack.pop()
        if id(t) in seen or t._ctx is None:
            continue
        seen.add(id(t))
        stack.extend(t._ctx.parents)
        if t.shape == (3, 8, 1024):
            big.append(t)
    assert big and all(type(t) is _Released for t in big)


def test_a_peephole_layer_draws_its_peepholes_from_the_rng_given():
    # weight_ci/cf/co came from the global generator: a build with rng= could not be repeated
    manual_seed(0)
    before = default_rng().bit_generator.state
    a = nn.LSTM(3, 4, cell=nn.PeepholeLSTMCell, rng=np.random.default_rng(7)).state_dict()
    assert default_rng().bit_generator.state == before
    b = nn.LSTM(3, 4, cell=nn.PeepholeLSTMCell, rng=np.random.default_rng(7)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_module_defaults_as_torchs():
    m = nn.Linear(2, 2).requires_grad_(False).requires_grad_()  # no argument: unfreeze
    assert all(p.requires_grad for p in m.parameters())
    assert nn.Dropout().p == 0.5
    x = Tensor(np.ones(1000, np.float32))
    seq = nn.Sequential(nn.Dropout(0.5))
    assert (seq(x).data == 0).any()  # training: drops
    assert np.array_equal(seq.eval()(x).data, x.data)  # eval() reaches it through Sequential
