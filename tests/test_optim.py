"""Optimizers and gradient clipping: against torch.optim (when installed) and by hand."""

import math
import re

import numpy as np
import pytest

from tinygrad_lstm import optim


class P:
    """A stand-in parameter: .data (updated in place) and .grad."""

    def __init__(self, data, grad=None):
        self.data = np.asarray(data)
        self.grad = None if grad is None else np.asarray(grad)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.0, 0.5))),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True)),
]
SHAPES = [(3, 4), (4,), (2, 1, 3)]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for n, kw in CASES]


def make_problem(steps, dtype=np.float64, seed=0):
    """Initial values and per-step grads for SHAPES; grad None for param 1 at step 2."""
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[None if (t, k) == (2, 1) else rng.standard_normal(s).astype(dtype) for k, s in enumerate(SHAPES)]
             for t in range(steps)]
    return inits, grads


def run(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = None if g is None else g.copy()
        opt.step()


# ---------------------------------------------------------------- against torch.optim

def assert_state_matches_torch(sd, tsd, where):
    """Our state_dict() against torch.optim's: the same params have state, under the same
    names (momentum_buffer, exp_avg, exp_avg_sq, sum, square_avg, grad_avg, step), with the same
    values; torch keeps step as a float tensor, we keep an int. Our param group is torch's
    without the keys for what we do not implement (maximize, foreach, fused, capturable,
    differentiable; Adam's amsgrad and decoupled_weight_decay)."""
    assert sorted(sd["state"]) == sorted(tsd["state"]), where
    for i, st in sd["state"].items():
        tst = tsd["state"][i]
        assert sorted(st) == sorted(tst), f"{where} param {i}: {sorted(st)} != {sorted(tst)}"
        for key, v in st.items():
            if key == "step":
                assert type(v) is int and v == float(tst[key]), f"{where} param {i} step"
            else:
                assert v.dtype == np.float64, f"{where} param {i} {key}"
                np.testing.assert_allclose(v, tst[key].numpy(), rtol=1e-12, atol=1e-15,
                                           err_msg=f"{where} param {i} {key}")
    (group,), (tgroup,) = sd["param_groups"], tsd["param_groups"]
    assert {k: tuple(v) if k == "betas" else v for k, v in tgroup.items() if k in group} == group
    assert not tgroup.get("maximize") and not tgroup.get("amsgrad"), where


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_for_5_steps(name, kw):
    torch = pytest.importorskip("torch")
    inits, grads = make_problem(5)
    ours = [P(a.copy()) for a in inits]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in inits]
    opt, topt = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for t, gs in enumerate(grads):
        for p, tp, g in zip(ours, theirs, gs):
            p.grad = None if g is None else g.copy()
            tp.grad = None if g is None else torch.tensor(g)
        opt.step()
        topt.step()
        for k, (p, tp) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-12,
                                       err_msg=f"{name} {kw} step {t} param {k}")
        # and the state the next step starts from (param 1 had no grad at step 2: one fewer)
        assert_state_matches_torch(opt.state_dict(), topt.state_dict(), f"{name} {kw} step {t}")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    _, grads = make_problem(1, seed=1)
    ours = [P(np.zeros(s), g) for s, g in zip(SHAPES, grads[0])]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for tp, g in zip(theirs, grads[0]):
        tp.grad = torch.tensor(g)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- first steps by hand

def one_step(cls, data, grad, **kw):
    p = P(np.array(data, dtype=np.float64), np.array(grad, dtype=np.float64))
    cls([p], **kw).step()
    return p.data


def test_sgd_first_step_by_hand():
    np.testing.assert_allclose(one_step(optim.SGD, [1.0, -2.0], [0.5, 1.0], lr=0.1), [0.95, -2.1])
    # momentum: the buffer starts as the gradient itself
    np.testing.assert_allclose(one_step(optim.SGD, [1.0], [0.5], lr=0.1, momentum=0.9), [0.95])
    # nesterov: g + momentum * b = 0.5 + 0.9 * 0.5
    np.testing.assert_allclose(one_step(optim.SGD, [1.0], [0.5], lr=0.1, momentum=0.9, nesterov=True),
                               [1.0 - 0.1 * 0.95])
    # weight decay: g = 0.5 + 0.1 * 1.0
    np.testing.assert_allclose(one_step(optim.SGD, [1.0], [0.5], lr=0.1, weight_decay=0.1), [0.94])


def test_adam_first_step_by_hand():
    # m = 0.1 g, v = 0.001 g^2; bias-corrected: p -= lr * g / (|g| + eps)
    g = np.array([0.5, -2.0])
    got = one_step(optim.Adam, [1.0, 1.0], g, lr=0.1)
    np.testing.assert_allclose(got, 1.0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adagrad_first_step_by_hand():
    # s = init + g^2; p -= lr * g / (sqrt(s) + eps)
    got = one_step(optim.Adagrad, [1.0], [0.5], lr=0.1, initial_accumulator_value=0.75)
    np.testing.assert_allclose(got, [1.0 - 0.1 * 0.5 / (1.0 + 1e-10)], rtol=1e-14)


def test_rmsprop_first_step_by_hand():
    # a = (1 - alpha) g^2; p -= lr * g / (sqrt(a) + eps)
    got = one_step(optim.RMSprop, [1.0], [0.5], lr=0.1, alpha=0.75)
    np.testing.assert_allclose(got, [1.0 - 0.1 * 0.5 / (0.5 * 0.5 + 1e-8)], rtol=1e-14)
    # centered: ga = (1 - alpha) g; d = sqrt(a - ga^2) + eps
    got = one_step(optim.RMSprop, [1.0], [0.5], lr=0.1, alpha=0.75, centered=True)
    d = math.sqrt(0.25 * 0.25 - 0.125 ** 2) + 1e-8
    np.testing.assert_allclose(got, [1.0 - 0.1 * 0.5 / d], rtol=1e-14)


# ---------------------------------------------------------------- dtype, in place, state_dict

@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_float32_kept_and_updated_in_place(name, kw, grad_dtype):
    inits, grads = make_problem(3, dtype=np.float32)
    params = [P(a) for a in inits]
    arrays = [p.data for p in params]
    opt = getattr(optim, name)(params, **kw)
    run(opt, params, [[None if g is None else g.astype(grad_dtype) for g in gs] for gs in grads])
    for p, a, a0 in zip(params, arrays, make_problem(3, dtype=np.float32)[0]):
        assert p.data is a and p.data.dtype == np.float32
        assert not np.array_equal(p.data, a0)
    for st in opt.state.values():
        for v in st.values():
            assert isinstance(v, int) or v.dtype == np.float32


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_round_trip_continues_identically(name, kw):
    inits, grads = make_problem(5)
    a = [P(x.copy()) for x in inits]
    opt_a = getattr(optim, name)(a, **kw)
    run(opt_a, a, grads[:3])
    sd = opt_a.state_dict()
    b = [P(p.data.copy()) for p in a]
    opt_b = getattr(optim, name)(b, lr=0.5) if name == "SGD" else getattr(optim, name)(b)
    opt_b.load_state_dict(sd)
    run(opt_a, a, grads[3:])
    run(opt_b, b, grads[3:])
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert opt_b.lr == opt_a.lr


def test_state_dict_layout_and_copies():
    p = P(np.ones(3), np.ones(3))
    opt = optim.Adam([p], lr=0.01)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                   "params": [0]}]
    assert set(sd["state"]) == {0} and sd["state"][0]["step"] == 1
    sd["state"][0]["exp_avg"][...] = 123.0
    assert not np.any(opt.state[0]["exp_avg"] == 123.0)


def test_lr_is_settable_and_used():
    p = P(np.zeros(2), np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [-0.5, -0.5])
    assert opt.state_dict()["param_groups"][0]["lr"] == 0.5
    with pytest.raises(ValueError, match=r"^SGD: lr must be 0 or more, got -0.1$"):
        opt.lr = -0.1
    assert opt.lr == 0.5
    opt.lr = 0  # as torch: a warm-up from 0, or a cosine decay to 0 (it was refused)
    opt.step()
    np.testing.assert_allclose(p.data, [-0.5, -0.5])
    optim.Adam([p], lr=0.0).step()
    np.testing.assert_allclose(p.data, [-0.5, -0.5])


def test_params_any_iterable_deduped_zero_grad_and_skip_none():
    a, b = P(np.ones(2), np.ones(2)), P(np.ones(2))
    opt = optim.SGD((p for p in [a, b, a]), lr=1.0)
    assert opt.params == [a, b]
    opt.step()  # a shared param is updated once; grad None is skipped
    np.testing.assert_array_equal(a.data, [0.0, 0.0])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_tensor_params():
    from tinygrad_lstm.tensor import Tensor
    t = Tensor(np.ones(3), requires_grad=True)
    t.grad = np.full(3, 2.0)
    optim.SGD([t], lr=0.25).step()
    np.testing.assert_allclose(t.data, 0.5)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("make,msg", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "SGD: lr must be 0 or more, got -0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "SGD: momentum must be non-negative, got -0.5"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "SGD: weight_decay must be non-negative, got -1"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True),
     "SGD: nesterov requires momentum > 0 and dampening = 0, got momentum=0.0, dampening=0.0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "SGD: nesterov requires momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "Adam: lr must be 0 or more, got -0.001"),
    (lambda ps: optim.Adam(ps, lr=float("nan")), "Adam: lr must be 0 or more, got nan"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Adam: betas[0] must be in [0, 1), got 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Adam: betas[1] must be in [0, 1), got -0.1"),
    (lambda ps: optim.Adam(ps, betas=(0.9,)), "Adam: betas must be a pair (beta1, beta2), got (0.9,)"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "Adam: eps must be non-negative, got -1e-08"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Adagrad: lr_decay must be non-negative, got -1"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-0.1),
     "Adagrad: initial_accumulator_value must be non-negative, got -0.1"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.9), "RMSprop: alpha must be non-negative, got -0.9"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "RMSprop: momentum must be non-negative, got -1"),
    (lambda ps: optim.SGD([], lr=0.1), "SGD: params is an empty list"),
    (lambda ps: optim.Adam(iter([])), "Adam: params is an empty list"),
    (lambda ps: optim.SGD([P(np.arange(3))], lr=0.1),
     "SGD: params[0] has dtype int64, expected a floating-point dtype"),
    (lambda ps: optim.clip_grad_norm_(ps, -1.0), "clip_grad_norm_: max_norm must be non-negative, got -1.0"),
    (lambda ps: optim.clip_grad_norm_(ps, 1.0, 0), "clip_grad_norm_: norm_type must be positive (or inf), got 0.0"),
    (lambda ps: optim.clip_grad_value_(ps, -1), "clip_grad_value_: clip_value must be non-negative, got -1"),
])
def test_bad_arguments_raise_value_error(make, msg):
    with pytest.raises(ValueError) as e:
        make([P(np.zeros(2), np.ones(2))])
    assert str(e.value) == msg


def test_bad_param_types_raise_type_error():
    with pytest.raises(TypeError, match=r"SGD: params must be an iterable of parameters, got a single P"):
        optim.SGD(P(np.zeros(2)), lr=0.1)
    with pytest.raises(TypeError, match=r"SGD: params\[1\] \(list\) has no np.ndarray .data"):
        optim.SGD([P(np.zeros(2)), [1.0]], lr=0.1)


@pytest.mark.parametrize("make,msg", [
    (lambda ps: optim.SGD(ps, lr="0.1"), "SGD: lr must be a number, got '0.1' (str)"),
    (lambda ps: optim.Adam(ps, lr=None), "Adam: lr must be a number, got None (NoneType)"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=True), "SGD: momentum must be a number, got True (bool)"),
    (lambda ps: optim.Adam(ps, betas=(0.9, "x")), "Adam: betas[1] must be a number, got 'x' (str)"),
])
def test_hyperparameters_that_are_not_numbers_raise_type_error(make, msg):
    with pytest.raises(TypeError) as e:
        make([P(np.zeros(2), np.ones(2))])
    assert str(e.value) == msg
    opt = optim.SGD([P(np.zeros(2))], lr=np.float32(0.1))  # numpy scalars are numbers
    with pytest.raises(TypeError, match="SGD: lr must be a number"):
        opt.lr = "0.2"
    assert opt.lr == np.float32(0.1)


def test_step_refuses_grad_shape_mismatch_before_updating_anything():
    a, b = P(np.zeros(2), np.ones(2)), P(np.zeros(3), np.ones(2))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"^SGD.step: params\[1\] has grad shape \(2,\) but data shape \(3,\)$"):
        opt.step()
    np.testing.assert_array_equal(a.data, [0.0, 0.0])
    assert opt.state == {}



@pytest.mark.parametrize("bad", [np.ones(2, complex), np.ones(2, np.int64), np.array(["1", "2"])])
def test_a_grad_that_is_not_float_is_refused_before_anything_changes(bad):
    # was numpy's UFuncTypeError after params[0] had moved and params[1]'s state was made
    a, b = P(np.ones(2), np.ones(2)), P(np.ones(2), bad)
    opt = optim.Adam([a, b], lr=0.1)
    with pytest.raises(TypeError, match=rf"^Adam.step: params\[1\].grad is {bad.dtype}; gradients "
                                        "must be float arrays$"):
        opt.step()
    np.testing.assert_array_equal(a.data, [1.0, 1.0])
    assert opt.state == {}
    with pytest.raises(TypeError, match=r"^clip_grad_norm_: params\[1\].grad is"):
        optim.clip_grad_norm_([a, b], 0.5)
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])  # not scaled

def stepped_adam():
    params = [P(np.zeros((2, 3)), np.ones((2, 3))), P(np.zeros(4), np.ones(4))]
    opt = optim.Adam(params, lr=0.01)
    opt.step()
    return opt


def test_load_state_dict_refuses_mismatched_shape_and_changes_nothing():
    opt, sd = stepped_adam(), stepped_adam().state_dict()
    sd["state"][1]["exp_avg_sq"] = np.zeros(5)
    sd["param_groups"][0]["lr"] = 0.5
    before = opt.state_dict()
    with pytest.raises(ValueError) as e:
        opt.load_state_dict(sd)
    assert str(e.value) == ("Adam.load_state_dict: state[1]['exp_avg_sq'] has shape (5,), "
                            "but params[1] has shape (4,)")
    assert opt.lr == 0.01
    after = opt.state_dict()
    for i in before["state"]:
        for k, v in before["state"][i].items():
            np.testing.assert_array_equal(after["state"][i][k], v)


@pytest.mark.parametrize("edit,msg", [
    (lambda sd: sd["param_groups"][0].update(params=[0]), "state_dict has 1 params, optimizer has 2"),
    (lambda sd: sd["param_groups"][0].pop("eps"), "param group keys ['betas', 'lr', 'weight_decay'] differ"),
    (lambda sd: sd["param_groups"][0].update(lr=-1.0), "Adam.load_state_dict: lr must be 0 or more, got -1.0"),
    (lambda sd: sd["param_groups"].append({}), "expected a list of 1 param group"),
    (lambda sd: sd["state"].update({7: {}}), "state index 7 is not among the group's params [0, 1]"),
    (lambda sd: sd["state"][0].update(momentum_buffer=np.zeros((2, 3))), "state[0] has keys"),
    (lambda sd: sd["state"][0].update(step=-2), "state[0]['step'] must be a non-negative integer, got -2"),
    (lambda sd: sd.pop("state"), "expected a dict with keys 'param_groups' and 'state', got ['param_groups']"),
])
def test_load_state_dict_errors(edit, msg):
    opt, sd = stepped_adam(), stepped_adam().state_dict()
    edit(sd)
    with pytest.raises(ValueError) as e:
        opt.load_state_dict(sd)
    assert msg in str(e.value)
    assert opt.lr == 0.01 and opt.state[0]["step"] == 1



@pytest.mark.parametrize("edit,msg", [
    # were loaded: strings parsed as numbers, complex cast with a warning, True taken as step 1
    (lambda sd: sd["state"][0].update(exp_avg=np.full((2, 3), "1")),
     "Adam.load_state_dict: state[0]['exp_avg'] holds <U1 data; expected real numbers"),
    (lambda sd: sd["state"][0].update(exp_avg=np.ones((2, 3), complex)), "holds complex128 data"),
    (lambda sd: sd["state"][0].update(step=True), "state[0]['step'] holds bool True"),
])
def test_load_state_dict_refuses_state_that_is_not_real_numbers(edit, msg):
    opt, sd = stepped_adam(), stepped_adam().state_dict()
    opt.lr = 0.02
    edit(sd)
    with pytest.raises(TypeError, match=re.escape(msg)):
        opt.load_state_dict(sd)
    assert opt.lr == 0.02 and opt.state[0]["step"] == 1


def test_a_switch_that_is_not_a_bool_is_refused():
    # nesterov='no' read as True
    with pytest.raises(TypeError, match=r"^SGD: nesterov must be True or False, got 'no'$"):
        optim.SGD([P(np.zeros(2))], lr=0.1, momentum=0.9, nesterov="no")
    opt = optim.RMSprop([P(np.zeros(2), np.ones(2))])
    sd = opt.state_dict()
    sd["param_groups"][0]["centered"] = "yes"
    with pytest.raises(TypeError, match=r"^RMSprop.load_state_dict: centered must be True or"):
        opt.load_state_dict(sd)
    assert opt.centered is False

# ---------------------------------------------------------------- clipping by hand

def test_clip_grad_norm_by_hand():
    a, b, c = P(np.zeros(2), [3.0, 0.0]), P(np.zeros(1), [4.0]), P(np.zeros(1))
    total = optim.clip_grad_norm_([a, b, c], 1.0)
    assert total == 5.0
    np.testing.assert_allclose(a.grad, [3.0 / (5.0 + 1e-6), 0.0])
    np.testing.assert_allclose(b.grad, [4.0 / (5.0 + 1e-6)])
    assert c.grad is None
    assert optim.clip_grad_norm_([a, b], 10.0) == pytest.approx(1.0)  # under max_norm: unchanged
    np.testing.assert_allclose(b.grad, [4.0 / (5.0 + 1e-6)])
    assert optim.clip_grad_norm_([c], 1.0) == 0.0


def test_clip_grad_norm_inf_float32_and_single_param():
    p = P(np.zeros(3, np.float32), np.array([1.0, -6.0, 2.0], np.float32))
    g = p.grad
    assert optim.clip_grad_norm_(p, 3.0, norm_type="inf") == 6.0
    assert p.grad is g and g.dtype == np.float32
    np.testing.assert_allclose(g, np.array([1.0, -6.0, 2.0]) * 3.0 / (6.0 + 1e-6), rtol=1e-6)


def test_clip_grad_norm_of_huge_float32_grads_is_finite():
    # taken in float64 (the docstring says so): torch's float32 norm of these is inf, and
    # its clip zeroes them; here they are scaled to the norm asked for
    p = P(np.zeros(2, np.float32), np.full(2, 1e30, np.float32))
    assert optim.clip_grad_norm_(p, 1.0) == pytest.approx(math.sqrt(2) * 1e30, rel=1e-6)
    np.testing.assert_allclose(p.grad, [2 ** -0.5] * 2, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")
def test_clip_grad_norm_non_finite_total_is_returned():
    p, q = P(np.zeros(2), [np.inf, 1.0]), P(np.zeros(1), [2.0])
    assert optim.clip_grad_norm_([p, q], 1.0) == math.inf
    assert q.grad[0] == 0.0 and np.isnan(p.grad[0])  # coef 0, as in torch
    # a NaN total makes every grad NaN, as in torch (they used to be left unclipped, so the
    # parameters without a NaN took a full-size step); with the inf norm too, wherever the
    # NaN is (the builtin max() kept 3.0 over a NaN that came after it)
    for norm_type in (2.0, "inf"):
        r, s = P(np.zeros(2), [3.0, 1.0]), P(np.zeros(2), [np.nan, 1.0])
        assert math.isnan(optim.clip_grad_norm_([r, s], 10.0, norm_type))
        assert np.isnan(r.grad).all() and np.isnan(s.grad).all()


def test_clip_grad_value():
    p, q = P(np.zeros(3), [-2.0, 0.5, 3.0]), P(np.zeros(1))
    g = p.grad
    optim.clip_grad_value_([p, q], 1.0)
    assert p.grad is g
    np.testing.assert_array_equal(g, [-1.0, 0.5, 1.0])
    assert q.grad is None


def test_a_loaded_state_is_copied_not_shared_with_the_dict_it_came_from():
    # two optimizers loaded from one dict would otherwise update the same moment arrays
    ps = [P(np.zeros(3), np.ones(3))]
    a = optim.Adam(ps)
    a.step()
    sd = a.state_dict()
    before = {k: np.array(v, copy=True) for k, v in sd["state"][0].items()
              if isinstance(v, np.ndarray)}
    b = optim.Adam([P(np.zeros(3), np.ones(3))])
    b.load_state_dict(sd)
    b.step()
    for k, v in before.items():
        np.testing.assert_array_equal(sd["state"][0][k], v)


def test_clipping_refuses_a_grad_of_another_shape_before_scaling_any():
    # it rescaled the wrong-shaped grad, which step() then refused
    good, bad = P(np.zeros(2), np.full(2, 10.0)), P(np.zeros(4), np.full(3, 10.0))
    for clip in (lambda: optim.clip_grad_norm_([good, bad], 1.0),
                 lambda: optim.clip_grad_value_([good, bad], 1.0)):
        with pytest.raises(ValueError, match=r"params\[1\] has grad shape \(3,\) but data "
                                             r"shape \(4,\)"):
            clip()
        np.testing.assert_array_equal(good.grad, [10.0, 10.0])


def test_clipping_and_loading_refuse_what_is_not_a_number():
    ps = [P(np.zeros(2), np.ones(2))]
    with pytest.raises(TypeError, match="clip_grad_value_: clip_value must be a number, got 'a'"):
        optim.clip_grad_value_(ps, "a")
    with pytest.raises(TypeError, match="clip_grad_value_: clip_value must be a number, got True"):
        optim.clip_grad_value_(ps, True)
    with pytest.raises(TypeError, match="clip_grad_norm_: max_norm must be a number"):
        optim.clip_grad_norm_(ps, "a")
    assert optim.clip_grad_norm_(ps, 1.0, "inf") == 1.0  # torch's spelling of the inf-norm
    opt = optim.Adam(ps)
    ps[0].grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = None  # the moments without their count
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state\[0\]\['step'\] is None"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_loads_torch_optimizer_state_and_goes_on_as_torch_does(name, kw):
    # resuming in tinygrad_lstm a run that torch trained: the state torch.optim saved, its
    # tensors made arrays, loads as it is (group keys such as foreach and maximize=False
    # included), and the next steps equal torch's
    torch = pytest.importorskip("torch")
    from tinygrad_lstm import checkpoint
    inits, grads = make_problem(6)
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in inits]
    topt = getattr(torch.optim, name)(theirs, **kw)

    def torch_step(gs):
        for tp, g in zip(theirs, gs):
            tp.grad = None if g is None else torch.tensor(g)
        topt.step()

    for gs in grads[:3]:
        torch_step(gs)
    ours = [P(tp.detach().numpy().copy()) for tp in theirs]
    opt = getattr(optim, name)(ours, lr=123.0)  # the group's hyperparameters come from torch
    opt.load_state_dict(checkpoint.from_torch_state_dict(topt.state_dict()))
    assert opt.lr == kw.get("lr", topt.param_groups[0]["lr"])
    run(opt, ours, grads[3:])
    for gs in grads[3:]:
        torch_step(gs)
    for k, (p, tp) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-12,
                                   err_msg=f"{name} {kw} param {k}")


def test_torch_state_of_a_scheduled_optimizer_loads():
    # an LR scheduler adds initial_lr to torch's param group: bookkeeping, not arithmetic,
    # so the state loads (it was refused as "param group keys ... differ"), with the lr the
    # schedule had reached
    torch = pytest.importorskip("torch")
    from tinygrad_lstm import checkpoint
    theirs = [torch.zeros(3, requires_grad=True)]
    topt = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(topt, 1, gamma=0.5)
    theirs[0].grad = torch.ones(3)
    topt.step()
    sched.step()
    opt = optim.SGD([P(np.zeros(3))], lr=1.0)
    opt.load_state_dict(checkpoint.from_torch_state_dict(topt.state_dict()))
    assert opt.lr == pytest.approx(0.05) and opt.momentum == 0.9
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], np.ones(3))


def test_torch_state_with_a_switch_we_do_not_implement_is_refused_by_name():
    torch = pytest.importorskip("torch")
    from tinygrad_lstm import checkpoint
    theirs = [torch.zeros(3, requires_grad=True)]
    sd = checkpoint.from_torch_state_dict(torch.optim.Adam(theirs, amsgrad=True).state_dict())
    opt = optim.Adam([P(np.zeros(3))], lr=0.5)
    with pytest.raises(ValueError, match="Adam.load_state_dict: param group has amsgrad=True, "
                                         "which Adam does not implement"):
        opt.load_state_dict(sd)
    assert opt.lr == 0.5
    sd = checkpoint.from_torch_state_dict(torch.optim.SGD(theirs, lr=0.1, maximize=True)
                                          .state_dict())
    with pytest.raises(ValueError, match="SGD.load_state_dict: param group has maximize=True"):
        optim.SGD([P(np.zeros(3))], lr=0.5).load_state_dict(sd)


# --- torch's spellings: zero_grad(set_to_none), param_groups, named parameters, the norm ---


def test_zero_grad_set_to_none_false_zeroes_in_place_as_torch():
    from tinygrad_lstm import nn
    a, b = P([1.0, 2.0], [3.0, 4.0]), P([1.0])
    grad = a.grad
    opt = optim.SGD([a, b], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and not grad.any() and b.grad is None  # None stays None, as torch
    opt.zero_grad()
    assert a.grad is None
    m = nn.Linear(2, 1)
    m.weight.grad = np.ones((1, 2), np.float32)
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and not m.weight.grad.any()
    m.zero_grad(set_to_none=True)
    assert m.weight.grad is None
    with pytest.raises(TypeError, match="SGD.zero_grad: set_to_none must be True or False"):
        opt.zero_grad(set_to_none="no")
    a.grad, b.grad = np.ones(2), np.broadcast_to(np.ones(1), (1,))  # b's is read-only
    opt.zero_grad(set_to_none=False)  # failed half-way, a's zeroed and b's not
    assert not a.grad.any() and not b.grad.any() and b.grad.flags.writeable


def test_param_groups_read_and_write_the_hyperparameters():
    a = P([1.0, 2.0], [1.0, 1.0])
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    (group,) = opt.param_groups
    assert group["params"] == (a,) and group["lr"] == 0.1 and "momentum" in group
    assert list(group) == ["params", "lr", "momentum", "dampening", "weight_decay", "nesterov"]
    for g in opt.param_groups:  # torch's hand-written decay
        g["lr"] *= 0.5
    assert opt.lr == 0.05 and opt.state_dict()["param_groups"][0]["lr"] == 0.05
    opt.step()
    np.testing.assert_allclose(a.data, [0.95, 1.95])  # the step used the new lr
    with pytest.raises(ValueError, match="SGD.param_groups: lr must be 0 or more, got -1"):
        group["lr"] = -1
    with pytest.raises(ValueError, match="nesterov requires momentum > 0"):
        optim.SGD([a], lr=0.1, momentum=0.9, nesterov=True).param_groups[0]["momentum"] = 0.0
    with pytest.raises(KeyError, match="'params' cannot be set"):
        group["params"] = []
    assert opt.lr == 0.05  # refused: nothing changed
    adam = optim.Adam([a])
    adam.param_groups[0]["betas"] = [0.8, 0.99]
    assert adam.betas == (0.8, 0.99)
    with pytest.raises(ValueError, match=r"Adam.param_groups: betas must be a pair \(beta1, "
                                         r"beta2\), got 0.9"):
        adam.param_groups[0]["betas"] = 0.9


def test_param_groups_keep_a_schedulers_keys_and_update_all_or_nothing():
    opt = optim.Adam([P([1.0], [1.0])], lr=0.01)
    g = opt.param_groups[0]
    assert g.setdefault("initial_lr", g["lr"]) == 0.01
    opt.lr = 0.005
    assert opt.param_groups[0]["initial_lr"] == 0.01 and "initial_lr" in g.copy()
    g.update(lr=0.5, weight_decay=0.1)
    assert (opt.lr, opt.weight_decay) == (0.5, 0.1)
    with pytest.raises(ValueError, match="Adam.param_groups: eps must be non-negative, got -1"):
        g.update({"lr": 0.2}, eps=-1)
    assert (opt.lr, opt.eps) == (0.5, 1e-8)  # all or nothing
    assert g.pop("initial_lr") == 0.01 and "initial_lr" not in g and g.pop("x", 3) == 3
    with pytest.raises(KeyError, match="'lr' cannot be removed"):
        g.pop("lr")
    with pytest.raises(KeyError, match="the param group has no 'nope'"):
        g["nope"]


def test_named_parameters_are_taken_as_torch_2_takes_them():
    from tinygrad_lstm import nn
    m = nn.Linear(3, 2)
    assert optim.Adam(m.named_parameters()).params == optim.Adam(m.parameters()).params
    tied = [("a", m.weight), ("b", m.weight), ("c", m.bias)]  # one weight under two names
    assert optim.SGD(tied, lr=0.1).params == [m.weight, m.bias]


def test_clip_grad_norm_returns_a_float_with_item_and_can_refuse_a_nonfinite_norm():
    a = P([0.0, 0.0], [3.0, 4.0])
    total = optim.clip_grad_norm_([a], 1.0, foreach=None)
    assert isinstance(total, float) and total.item() == pytest.approx(5.0)
    assert optim.clip_grad_norm_([P([0.0])], 1.0).item() == 0.0  # no grads
    b = P([0.0, 0.0], [np.nan, 1.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of "
                                           "the gradients is nan"):
        optim.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    assert b.grad[1] == 1.0 and a.grad[0] == pytest.approx(0.6)  # unchanged by the refusal
    with pytest.raises(TypeError, match="error_if_nonfinite must be True or False"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite="yes")


def test_param_groups_refuse_a_typo_and_save_a_schedulers_initial_lr():
    a = P([1.0, 2.0], [1.0, 1.0])
    opt = optim.Adam([a], lr=0.01)
    g = opt.param_groups[0]
    for typo in ("lR", "momentum"):  # set nothing without a word: refused, naming the keys
        with pytest.raises(KeyError, match=f"Adam: the param group has no '{typo}' to set"):
            g[typo] = 0.5
    with pytest.raises(KeyError, match="no 'lR' to set"):
        g.update(lr=0.5, lR=0.5)
    assert opt.lr == 0.01  # update is all or nothing
    g["betas"] = np.array([0.8, 0.9])  # an array, as a list, becomes the tuple
    assert opt.betas == (0.8, 0.9)
    g["initial_lr"] = 0.01
    sd = opt.state_dict()
    assert sd["param_groups"][0]["initial_lr"] == 0.01  # saved, as torch's
    fresh = optim.Adam([P([1.0, 2.0], [1.0, 1.0])], lr=0.5)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["initial_lr"] == 0.01 and fresh.lr == 0.01
    fresh.load_state_dict(optim.Adam([a], lr=0.2).state_dict())  # none in this one: cleared
    assert "initial_lr" not in fresh.param_groups[0]
    assert opt.param_groups[0] == opt.param_groups[0]  # params compared by identity
    assert opt.param_groups[0] != optim.Adam([P([1.0, 2.0])], lr=0.01).param_groups[0]


def test_param_group_equality_pop_and_initial_lr_are_checked():
    w, v = P([1.0], [1.0]), P([2.0], [1.0])
    g = optim.SGD([w, v], lr=0.1).param_groups[0]
    assert g == g.copy() and g == optim.SGD([w, v], lr=0.1).param_groups[0]
    assert g != optim.SGD([v, w], lr=0.1).param_groups[0]  # the same params, another order
    assert g != {**g.copy(), "params": g["params"][:1]}
    assert g != {**g.copy(), "lr": 9.0} and g != {**g.copy(), "x": 1} and g != {"lr": 0.1}
    with pytest.raises(KeyError, match="'lr' cannot be removed"):
        g.pop("lr", None)  # a default is for a key that is not there
    for setting in (lambda: g.__setitem__("initial_lr", "abc"),
                    lambda: g.update(initial_lr="abc")):
        with pytest.raises(TypeError, match="initial_lr must be a number"):
            setting()
    sd = optim.SGD([w], lr=0.1).state_dict()
    sd["param_groups"][0]["initial_lr"] = "abc"
    with pytest.raises(TypeError, match="initial_lr must be a number"):
        optim.SGD([w], lr=0.1).load_state_dict(sd)


def test_a_computed_tensor_is_refused_and_a_failed_step_or_clip_changes_nothing():
    # found by the error-policy review: a non-leaf never gets a .grad, so step() skipped it
    # without a word; a read-only .data at params[1] failed after params[0] had moved and
    # Adam's count and moments had changed; a read-only grad failed clip half-way
    from tinygrad_lstm.tensor import Tensor
    with pytest.raises(ValueError, match=r"^SGD: params\[0\] is computed by an op \(mul\), not a "
                                         r"leaf: .*can't optimize a non-leaf Tensor"):
        optim.SGD([Tensor([1.0], requires_grad=True) * 2], lr=0.1)
    a, b = P([1.0, 2.0], [1.0, 1.0]), P([3.0], [1.0])
    opt = optim.Adam([a, b], lr=0.1)
    b.data.flags.writeable = False
    with pytest.raises(ValueError, match=r"^Adam.step: params\[1\].data is read-only; no "
                                         "parameter was updated"):
        opt.step()
    assert a.data.tolist() == [1.0, 2.0] and opt.state == {}
    b.data.flags.writeable = True
    b.grad = np.broadcast_to(np.ones(1), (1,))  # read-only
    with pytest.raises(ValueError, match=r"clip_grad_norm_: params\[1\].grad is read-only"):
        optim.clip_grad_norm_([a, b], 0.1)
    assert a.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, weight_decay=0.1),
    lambda ps: optim.Adagrad(ps, weight_decay=0.1),
    lambda ps: optim.RMSprop(ps, weight_decay=0.1)],
    ids=["sgd", "sgd-momentum", "adam", "adagrad", "rmsprop"])
def test_step_leaves_grad_as_it_was(make):
    # the L2 penalty joins the gradient inside the step only (as torch): written into .grad
    # in place (g += wd * p), a second step() or a clip after it would count it again; no
    # test pinned it (mutation review)
    a = P([1.0, -2.0], [0.5, 0.25])
    before = a.grad.copy()
    make([a]).step()
    np.testing.assert_array_equal(a.grad, before)


def test_clip_counts_a_parameter_given_twice_once():
    # each parameter once, as its docstring says (torch would count it twice: 7.07 here, and
    # scale its grad by the factor squared)
    q = P([0.0, 0.0], [3.0, 4.0])
    assert optim.clip_grad_norm_([q, q], 1.0) == 5.0
    np.testing.assert_allclose(q.grad, [0.6, 0.8], rtol=1e-5)
    optim.clip_grad_value_([q, q], 0.7)
    np.testing.assert_allclose(q.grad, [0.6, 0.7], rtol=1e-5)
