"""Every differentiable op against float64 central differences, one line per op (tinygrad's
helper_test_op), plus numpy forward values and, when installed, torch's gradients."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_lstm import Tensor, gradcheck, ops

RNG = np.random.default_rng(0)


def check_op(shapes, fn, np_fn=None, torch_fn=None, positive=False, low=-2.0, high=2.0):
    """Run fn on random float64 inputs of `shapes`: forward equals np_fn, gradients equal
    finite differences and (when torch is installed and torch_fn given) torch's."""
    arrays = [RNG.uniform(low, high, s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    if np_fn is not None:
        np.testing.assert_allclose(out.data, np_fn(*arrays), rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64
    assert gradcheck(fn, xs)
    if torch_fn is not None:
        torch = pytest.importorskip("torch")
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        tout = torch_fn(*ts)
        direction = RNG.standard_normal(out.shape)
        (tout * torch.tensor(direction)).sum().backward()
        for x in xs:
            x.grad = None
        out = fn(*xs)
        out.backward(direction)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


# binary ops, same shapes and broadcasting: (3,1)*(1,4), (5,)+(2,5), scalars on both sides
BROADCASTS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((5,), (2, 5)), ((2, 5), (5,)),
              ((2, 1, 3), (4, 1)), ((), (2, 3))]


@pytest.mark.parametrize("sa,sb", BROADCASTS)
def test_add(sa, sb): check_op([sa, sb], lambda a, b: a + b, np.add, lambda a, b: a + b)
@pytest.mark.parametrize("sa,sb", BROADCASTS)
def test_sub(sa, sb): check_op([sa, sb], lambda a, b: a - b, np.subtract, lambda a, b: a - b)
@pytest.mark.parametrize("sa,sb", BROADCASTS)
def test_mul(sa, sb): check_op([sa, sb], lambda a, b: a * b, np.multiply, lambda a, b: a * b)
@pytest.mark.parametrize("sa,sb", BROADCASTS)
def test_div(sa, sb): check_op([sa, sb], lambda a, b: a / b, np.divide, lambda a, b: a / b, positive=True)


def test_scalar_on_either_side():
    check_op([(3, 2)], lambda a: 2.0 + a, lambda a: 2.0 + a)
    check_op([(3, 2)], lambda a: a + 2, lambda a: a + 2)
    check_op([(3, 2)], lambda a: 1.5 - a, lambda a: 1.5 - a)
    check_op([(3, 2)], lambda a: a - 1.5, lambda a: a - 1.5)
    check_op([(3, 2)], lambda a: 3 * a, lambda a: 3 * a)
    check_op([(3, 2)], lambda a: a * 3, lambda a: a * 3)
    check_op([(3, 2)], lambda a: 1.0 / a, lambda a: 1.0 / a, positive=True)
    check_op([(3, 2)], lambda a: a / 4, lambda a: a / 4)


def test_numpy_array_on_either_side():
    c = RNG.standard_normal((3, 2))
    check_op([(3, 2)], lambda a: c * a, lambda a: c * a)
    check_op([(3, 2)], lambda a: a - c, lambda a: a - c)


def test_neg(): check_op([(3, 4)], lambda a: -a, np.negative, lambda a: -a)
def test_pow(): check_op([(3, 4)], lambda a: a ** 3, lambda a: a ** 3, lambda a: a ** 3)
def test_pow_fractional(): check_op([(3, 4)], lambda a: a ** 0.5, np.sqrt, lambda a: a ** 0.5, positive=True)
def test_exp(): check_op([(3, 4)], lambda a: a.exp(), np.exp, lambda a: a.exp())
def test_log(): check_op([(3, 4)], lambda a: a.log(), np.log, lambda a: a.log(), positive=True)
def test_sigmoid(): check_op([(3, 4)], lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid(), low=-6, high=6)
def test_tanh(): check_op([(3, 4)], lambda a: a.tanh(), np.tanh, lambda a: a.tanh())
def test_relu(): check_op([(3, 4)], lambda a: a.relu(), lambda a: np.maximum(a, 0), lambda a: a.relu())
def test_matmul_2d(): check_op([(3, 4), (4, 5)], lambda a, b: a @ b, np.matmul, lambda a, b: a @ b)
def test_matmul_nd(): check_op([(2, 3, 4), (4, 5)], lambda a, b: a @ b, np.matmul, lambda a, b: a @ b)
# numpy's matmul: batch axes broadcast, a 1-D operand a row (left) or a column (right)
MATMUL_BROADCASTS = [((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((3, 4), (2, 4, 5)),
                     ((1, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (1, 2, 4, 2)), ((4,), (2, 4, 5)),
                     ((2, 3, 4), (4,)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5))]


@pytest.mark.parametrize("sa,sb", MATMUL_BROADCASTS)
def test_matmul_broadcast(sa, sb):
    check_op([sa, sb], lambda a, b: a @ b, np.matmul, lambda a, b: a @ b)


def test_matmul_broadcast_float32_and_a_constant_side():
    rng = np.random.default_rng(1)
    a = Tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    v = rng.standard_normal(4).astype(np.float32)
    y = a @ v  # a numpy operand, lifted; its side gets no gradient
    assert y.dtype == np.float32 and y.shape == (2, 3)
    y.backward(np.ones((2, 3), np.float32))
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, np.broadcast_to(v, (2, 3, 4)), rtol=1e-6)


def test_matmul_shared_weight(): check_op([(3, 4), (4, 4)], lambda a, w: (a @ w).tanh() @ w, lambda a, w: np.tanh(a @ w) @ w)


@pytest.mark.parametrize("rows", [7, 8, 32, 33])
def test_matmul_by_a_transposed_weight_in_either_gemm_layout(rows, monkeypatch):
    # a @ W.T is computed as (W @ aᵀ)ᵀ for 8..32 rows of a and a big enough W (ops._matmul):
    # both layouts, against numpy, finite differences and torch; the threshold is lowered so
    # that the small shapes here take that path too
    from tinygrad_lstm import ops
    monkeypatch.setattr(ops, "TRANSPOSED_SIZE", 1)
    fn = lambda a, w: (a @ w.T).tanh() @ w  # noqa: E731  (w.T: a transposed view)
    check_op([(rows, 4), (5, 4)], fn, lambda a, w: np.tanh(a @ w.T) @ w, fn)
    a, w = RNG.standard_normal((rows, 4)), RNG.standard_normal((5, 4))
    out = (Tensor(a) @ Tensor(w).T).data
    assert out.flags.f_contiguous == (8 <= rows <= 32)  # the path taken
    monkeypatch.setattr(ops, "TRANSPOSED_SIZE", 1 << 15)
    assert (Tensor(a) @ Tensor(w).T).data.flags.c_contiguous  # a small W: the plain call


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_matmul_with_many_rows_takes_np_matmul(shape, monkeypatch):
    # from MATMUL_ROWS rows on, _matmul calls np.matmul instead of np.dot (ops.py); lowered
    # here so that small shapes take that path, and checked that they do
    from tinygrad_lstm import ops
    monkeypatch.setattr(ops, "MATMUL_ROWS", 2)
    calls, real = [], np.matmul
    monkeypatch.setattr(ops.np, "matmul", lambda *a: calls.append(1) or real(*a))
    check_op([shape, (4, 5)], lambda a, b: a @ b, lambda a, b: np.einsum("...k,kn->...n", a, b),
             lambda a, b: a @ b)
    assert calls


def test_sum_all(): check_op([(3, 4)], lambda a: a.sum(), np.sum, lambda a: a.sum())
def test_sum_axis(): check_op([(3, 4, 2)], lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), lambda a: a.sum(dim=1))
def test_sum_keepdims(): check_op([(3, 4, 2)], lambda a: a.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(axis=(0, 2), keepdims=True))
def test_mean_all(): check_op([(3, 4)], lambda a: a.mean(), np.mean, lambda a: a.mean())
def test_mean_axis(): check_op([(3, 4)], lambda a: a.mean(axis=-1, keepdims=True), lambda a: a.mean(axis=-1, keepdims=True), lambda a: a.mean(dim=-1, keepdim=True))
def test_max_all(): check_op([(3, 4)], lambda a: a.max(), np.max, lambda a: a.max())
def test_max_axis(): check_op([(3, 4)], lambda a: a.max(axis=1), lambda a: a.max(axis=1), lambda a: a.max(dim=1).values)
# a 0-d tensor has axis 0 (and -1) to reduce over, as in torch (numpy's sum and max take them
# too); they reduce over nothing. Refused before, as out of range for a 0-D tensor.
@pytest.mark.parametrize("axis", [0, -1, (0,), [-1]])
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions_of_a_0d_tensor_along_its_one_axis(op, axis):
    dim = tuple(axis) if isinstance(axis, list) else axis
    check_op([()], lambda a: getattr(a, op)(axis=axis), lambda a: a,
             lambda a: getattr(a, "amax" if op == "max" else op)(dim=dim))
    check_op([()], lambda a: getattr(a, op)(axis=axis, keepdims=True), lambda a: a)
    with pytest.raises(ops.OpIndexError, match=rf"{op}: axis 1 is out of range for a 0-D tensor"):
        getattr(Tensor(np.array(1.0)), op)(axis=1)
    with pytest.raises(ops.OpError, match=rf"{op}: axis \(0, -1\) names an axis twice"):
        getattr(Tensor(np.array(1.0)), op)(axis=(0, -1))
def test_max_keepdims(): check_op([(3, 4)], lambda a: a.max(axis=0, keepdims=True), lambda a: a.max(axis=0, keepdims=True))
def test_reshape(): check_op([(3, 4)], lambda a: a.reshape(2, 6) * a.reshape(2, 6), lambda a: a.reshape(2, 6) ** 2)
def test_transpose(): check_op([(3, 4)], lambda a: a.T, lambda a: a.T, lambda a: a.T)
def test_transpose_axes(): check_op([(2, 3, 4)], lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1))
def test_transpose_negative_axes(): check_op([(2, 3, 4)], lambda a: a.transpose(-1, 0, 1), lambda a: a.transpose(-1, 0, 1), lambda a: a.permute(-1, 0, 1))


@pytest.mark.parametrize("axes", [(), (1, 0), (-1, 0), (1, -2), (-1, -2)])
def test_a_weight_swapped_by_transpose_into_a_matmul(axes):
    # the weight's pending products pass through the swap still pending (autograd._hands_on)
    check_op([(5, 3), (4, 3)], lambda x, w: x @ w.transpose(*axes), lambda x, w: x @ w.T,
             lambda x, w: x @ w.T)


def test_an_identity_permutation_into_a_matmul_is_not_taken_for_a_swap():
    """Transpose with axes (0, 1) handed the weight's pending products on transposed, as for
    W.T: a square weight got its gradient's transpose, another a gradient of the wrong
    shape, with no error (found by the review helper)."""
    from tinygrad_lstm.ops import Transpose
    check_op([(5, 3), (3, 4)], lambda x, w: x @ Transpose.apply(w, axes=(0, 1)),
             lambda x, w: x @ w)
    check_op([(5, 3), (3, 3)], lambda x, w: (x @ Transpose.apply(w, axes=(0, 1))).tanh(),
             lambda x, w: np.tanh(x @ w))


@pytest.mark.parametrize("axes", [(0, 1), (-2, -1), (0, -1), (-2, 1)])
def test_transpose_0_1_of_a_matrix_is_refused_not_read_as_torchs_swap(axes):
    # numpy's identity permutation; torch's transpose(0, 1) swaps: refused, naming both
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(ops.OpError, match=r"^transpose: axes .* leave a 2-D tensor \(3, 4\) as "
                                          r"it is .* write \.T or transpose\(1, 0\)"):
        w.transpose(*axes)
    assert w.transpose(1, 0).shape == (4, 3)


# torch's spellings of reshape and transpose: the same spelling on both sides, numpy's result
# written out (a tensor * itself so the gradient depends on the placement of every entry)
@pytest.mark.parametrize("spelling, np_fn", [
    ("view(3, 2, 2)", lambda a: a.reshape(3, 2, 2)),
    ("view(-1)", lambda a: a.reshape(-1)),
    ("flatten()", lambda a: a.reshape(-1)),
    ("flatten(1)", lambda a: a.reshape(2, 6)),
    ("flatten(0, 1)", lambda a: a.reshape(2, 3, 2)),
    ("flatten(-3, -2)", lambda a: a.reshape(2, 3, 2)),
    ("unsqueeze(0)", lambda a: a[None]),
    ("unsqueeze(-1)", lambda a: a[..., None]),
    ("unsqueeze(4)", lambda a: a[..., None]),
    ("unsqueeze(-5)", lambda a: a[None]),
    ("squeeze()", lambda a: a.reshape(2, 3, 2)),
    ("squeeze(1)", lambda a: a.reshape(2, 3, 2)),
    ("squeeze(0)", lambda a: a),
    ("permute(3, 1, 0, 2)", lambda a: a.transpose(3, 1, 0, 2)),
    ("permute((0, 1, 2, 3))", lambda a: a),
    ("permute(-1, 0, 1, 2)", lambda a: a.transpose(3, 0, 1, 2)),
])
def test_torch_spellings_of_reshape_and_permute(spelling, np_fn):
    fn = eval(f"lambda a: a.{spelling} * a.{spelling}")
    check_op([(2, 1, 3, 2)], fn, lambda a: np_fn(a) ** 2, fn)


@pytest.mark.parametrize("spelling, op", [("view(6)", "reshape"), ("flatten()", "reshape"),
                                          ("unsqueeze(0)", "reshape"), ("squeeze()", "reshape"),
                                          ("permute(1, 0)", "transpose")])
def test_torch_spellings_record_the_op_they_stand_for(spelling, op):
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    assert eval(f"a.{spelling}").op == op


def test_squeeze_takes_a_tuple_of_dims_as_torch_2():
    # "dim must be an int" (a PyTorch user's review); compared with torch where installed
    a = Tensor(np.zeros((1, 3, 1, 2)), requires_grad=True)
    for dim, want in (((0, 2), (3, 2)), ((0, 1), (3, 1, 2)), ([-1, -2], (1, 3, 2)), ((), None)):
        assert a.squeeze(dim).shape == (want or a.shape), dim
    with pytest.raises(ops.OpError, match=r"squeeze: dims \(0, -4\) name a dim more than once"):
        a.squeeze((0, -4))
    torch = pytest.importorskip("torch")
    for dim in ((0, 2), (0, 1), (-1, -2), ()):
        assert a.squeeze(dim).shape == tuple(torch.zeros(a.shape).squeeze(dim).shape), dim


def test_squeeze_and_unsqueeze_of_a_0d_tensor_as_torch():
    s = Tensor(np.float64(2.0), requires_grad=True)
    assert s.squeeze().shape == s.squeeze(0).shape == s.squeeze(-1).shape == ()
    assert s.unsqueeze(0).shape == s.unsqueeze(-1).shape == s.flatten().shape == (1,)
    assert s.flatten(0, -1).shape == (1,)
    with pytest.raises(ops.OpError, match=r"flatten: dim 7 is out of range for a 0-D tensor"):
        s.flatten(7, -9)  # torch: expected [-1, 0]


@pytest.mark.parametrize("spelling, message", [
    ("unsqueeze(5)", r"unsqueeze: dim 5 is out of range for a 4-D tensor \(2, 1, 3, 2\) "
                     r"\(from -5 to 4\)"),
    ("unsqueeze(-6)", r"unsqueeze: dim -6 is out of range"),
    ("squeeze(4)", r"squeeze: dim 4 is out of range for a 4-D tensor \(2, 1, 3, 2\) "
                   r"\(from -4 to 3\)"),
    ("flatten(2, 1)", r"flatten: start_dim 2 comes after end_dim 1 for shape \(2, 1, 3, 2\)"),
    ("flatten(0.5)", r"flatten: dim must be an int, got 0.5"),
    ("unsqueeze(True)", r"unsqueeze: dim must be an int, got True"),
    ("permute(1, 0)", r"permute: 2 dims \(1, 0\) for a 4-D tensor \(2, 1, 3, 2\)"),
    ("permute(0, 0, 1, 2)", r"permute: dims \(0, 0, 1, 2\) repeat a dim of the 4-D tensor"),
    ("permute(0, 1, 2, 5)", r"permute: dim 5 is out of range for a 4-D tensor \(2, 1, 3, 2\) "
                            r"\(from -4 to 3\)"),
    ("permute(True, 0, 2, 3)", r"permute: dim must be an int, got True"),
    ("view(5, 2)", r"reshape"),
])
def test_torch_spellings_refuse_what_torch_refuses_naming_the_op(spelling, message):
    a = Tensor(np.ones((2, 1, 3, 2)), requires_grad=True)
    with pytest.raises(ops.OpError, match=message):
        eval(f"a.{spelling}")
def test_pow_zero_at_zero(): check_op([(3,)], lambda a: (a * 0.0) ** 0 * a, lambda a: a ** 1.0, lambda a: (a * 0.0) ** 0 * a)


def test_pow_zero_has_no_gradient():
    # the test above multiplies by 0 before the power, so a wrong gradient of x ** 0 itself
    # (g instead of 0) went unseen (a mutation review)
    x = Tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])

def test_iterating_gives_the_rows(): check_op([(3, 2)], lambda a: Tensor.stack([r * k for k, r in enumerate(a)]), lambda a: a * np.arange(3)[:, None])
def test_getitem_int(): check_op([(3, 4)], lambda a: a[1], lambda a: a[1], lambda a: a[1])
def test_getitem_slice(): check_op([(5, 4)], lambda a: a[1:4, ::2], lambda a: a[1:4, ::2], lambda a: a[1:4, ::2])
def test_getitem_repeated_indices(): check_op([(5, 3)], lambda a: a[np.array([0, 2, 2, 0, 0])], lambda a: a[[0, 2, 2, 0, 0]], lambda a: a[[0, 2, 2, 0, 0]])
def test_getitem_gather(): check_op([(4, 3)], lambda a: a[np.arange(4), np.array([2, 0, 2, 1])], lambda a: a[np.arange(4), [2, 0, 2, 1]])
def test_cat(): check_op([(2, 3), (4, 3)], lambda a, b: Tensor.cat([a, b], axis=0), lambda a, b: np.concatenate([a, b]), lambda a, b: __import__("torch").cat([a, b]))
def test_cat_axis1(): check_op([(2, 3), (2, 1)], lambda a, b: Tensor.cat([a, b, a], axis=1), lambda a, b: np.concatenate([a, b, a], 1))
def test_stack(): check_op([(2, 3), (2, 3)], lambda a, b: Tensor.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1), lambda a, b: __import__("torch").stack([a, b], 1))
def test_chunk(): check_op([(2, 8)], lambda a: Tensor.stack([c * (k + 1) for k, c in enumerate(a.chunk(4, axis=1))]), lambda a: np.stack([c * (k + 1) for k, c in enumerate(np.split(a, 4, 1))]))
def test_chunk_uneven(): check_op([(7, 2)], lambda a: a.chunk(3)[2] * 2, lambda a: a[6:] * 2, lambda a: a.chunk(3)[2] * 2)
def test_split_sizes(): check_op([(6, 2)], lambda a: a.split([1, 5])[1].exp(), lambda a: np.exp(a[1:]), lambda a: a.split([1, 5])[1].exp())
def test_split_int(): check_op([(5, 2)], lambda a: a.split(2)[2] * 3, lambda a: a[4:] * 3, lambda a: a.split(2)[2] * 3)
def test_chunk_pieces_partly_used(): check_op([(2, 8)], lambda a: a.chunk(4, axis=1)[1].tanh(), lambda a: np.tanh(a[:, 2:4]))


def test_max_ties_share_the_gradient():
    a = Tensor(np.array([[1.0, 3.0, 3.0]]), requires_grad=True)
    a.max().backward()
    np.testing.assert_array_equal(a.grad, [[0.0, 0.5, 0.5]])


def test_max_at_a_nan_sends_the_gradient_to_the_nan():
    # x == max is False for a NaN maximum, so the tie count was 0 and every element's
    # gradient NaN (with a warning); torch's max() puts it on the NaN
    a = Tensor(np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    with np.errstate(all="raise"):
        a.max().backward()
    np.testing.assert_array_equal(a.grad, [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    b = Tensor(np.array([[np.nan, 1.0, np.nan], [4.0, 6.0, 6.0]]), requires_grad=True)
    b.max(axis=1).sum().backward()  # ties share it, NaNs as numbers do
    np.testing.assert_array_equal(b.grad, [[0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])


@pytest.mark.parametrize("shape,axis", [((0, 3), None), ((0, 3), 0), ((3, 0), 1), ((0, 3), 1)])
def test_mean_over_nothing_is_nan_without_warnings(shape, axis):
    # torch's answer, NaN, without numpy's three RuntimeWarnings about an empty slice and 0/0
    import warnings
    x = Tensor(np.zeros(shape), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.mean(axis=axis)
        y.sum().backward()
    assert y.shape == np.sum(np.zeros(shape), axis=axis).shape and y.dtype == x.dtype
    assert np.all(np.isnan(y.data))  # (vacuously for an empty result)
    assert x.grad.shape == shape


@pytest.mark.parametrize("shape, axis", [((5000, 3), 0), ((3000, 2, 4), (0, 1)),
                                         ((2049, 5), 0), ((1024, 3), 0), ((0, 3), 0),
                                         ((4, 6, 5), (0, 1)), ((7, 5), 1), ((4, 6, 5), (0, 2))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sums_and_means_over_leading_axes_in_blocks_agree_with_numpy(shape, axis, keepdims):
    # over leading axes the sum is taken as gemvs over blocks of rows (ops.SUM_BLOCK): shapes
    # and values as numpy's, and over other axes numpy's own
    x = RNG.standard_normal(shape).astype(np.float32)
    for op in ("sum", "mean"):
        got = getattr(Tensor(x), op)(axis=axis, keepdims=keepdims).data
        with warnings.catch_warnings():  # numpy's mean of nothing warns (the engine's not)
            warnings.simplefilter("ignore", RuntimeWarning)
            want = getattr(x.astype(np.float64), op)(axis=axis, keepdims=keepdims)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(x.shape[0]))


def test_a_float32_sum_over_a_million_rows_keeps_its_accuracy():
    # numpy's sum(axis=0) and one BLAS gemv both add the rows one after another: of a million
    # rows of like sign they lost 1e-2 and 6e-4 of the sum (a review against torch, whose
    # cascaded sums lose ~1e-6); in blocks of rows the loss is torch's. The bias of a Linear
    # over a million rows gets its gradient by the same sum.
    from tinygrad_lstm import nn
    x = (0.1 * RNG.uniform(0.5, 1.5, (10 ** 6, 4))).astype(np.float32)
    truth = x.astype(np.float64).sum(axis=0)
    rel = lambda v: np.max(np.abs(v - truth)) / np.max(np.abs(truth))  # noqa: E731
    assert rel(Tensor(x).sum(axis=0).data) < 2e-6
    assert rel(Tensor(x).mean(axis=0).data * 10 ** 6) < 2e-6
    lin = nn.Linear(3, 4)
    lin(Tensor(np.zeros((10 ** 6, 3), np.float32))).backward(x)
    assert rel(lin.bias.grad) < 2e-6


def test_sigmoid_tanh_stable_at_extremes():
    for dtype in (np.float32, np.float64):
        x = Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype), requires_grad=True)
        with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
            s, t = x.sigmoid(), x.tanh()
            (s + t).sum().backward()
        assert s.data.tolist() == pytest.approx([0.0, 1.9287e-22, 0.5, 1.0, 1.0], rel=1e-3)
        assert t.data.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
        assert np.all(np.isfinite(x.grad)) and s.dtype == dtype


def test_float32_stays_float32():
    a = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    out = ((a @ w).sigmoid() * 2 + 1.5 - a.sum() / 3) ** 2
    out = out.mean()
    assert out.dtype == np.float32
    out.backward()
    assert a.grad.dtype == np.float32 and w.grad.dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       st.sampled_from(["add", "sub", "mul", "div"]))
def test_broadcasting_hypothesis(shapes, op):
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[op]
    check_op(list(shapes.input_shapes), fn, positive=(op == "div"))


@settings(max_examples=15, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_reductions_hypothesis(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    check_op([shape], lambda a: a.sum(axis=axis, keepdims=keep), lambda a: a.sum(axis=axis, keepdims=keep))
    check_op([shape], lambda a: a.mean(axis=axis, keepdims=keep), lambda a: a.mean(axis=axis, keepdims=keep))


def test_relu_at_infinities_has_no_nan():
    # relu was x * (x > 0): relu(−inf) = −inf · 0 = NaN, a negative x gave −0 (1/relu = −inf),
    # and an inf gradient arriving at a negative x became inf · 0 = NaN (torch: 0)
    x = Tensor([-np.inf, -1.0, 0.0, 3.0, np.inf], requires_grad=True, dtype=np.float64)
    y = x.relu()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.0, 3.0, np.inf])
    assert not np.signbit(y.data).any()
    y.backward(np.full(5, np.inf))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, np.inf, np.inf])
    assert np.isnan(Tensor([np.nan]).relu().data).all()  # NaN stays NaN, as torch


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 0), (0, 4)), ((2, 3, 4), (4, 0)),
                                              ((2, 0, 4), (4, 5)), ((0, 3, 4), (4, 5))])
def test_batched_matmul_with_a_size_0_axis(a_shape, b_shape):
    # reshape(-1, k) cannot infer the rows when a size is 0: k = 0 failed in forward, m = 0
    # in backward, with numpy's bare "cannot reshape array of size 0"
    a = Tensor(np.ones(a_shape), requires_grad=True, dtype=np.float64)
    b = Tensor(np.ones(b_shape), requires_grad=True, dtype=np.float64)
    y = a @ b
    np.testing.assert_array_equal(y.data, np.ones(a_shape) @ np.ones(b_shape))
    y.sum().backward()
    g = np.ones(y.shape)
    np.testing.assert_array_equal(a.grad, np.einsum("abm,km->abk", g, np.ones(b_shape)))
    np.testing.assert_array_equal(b.grad, np.einsum("abk,abm->km", np.ones(a_shape), g))


@pytest.mark.parametrize("n", [7, ops.FULL_MAX + 1])  # the cached bound array, the 0-d one
def test_sigmoid_values_do_not_depend_on_the_clip_path(n):
    for dtype in (np.float32, np.float64):
        x = np.random.default_rng(0).uniform(-800, 60, n).astype(dtype)
        x[:5] = [-1e4, -750.0, -100.0, -88.5, 0.0]
        with np.errstate(over="ignore"):  # the plain formula overflows where the op clips
            low = -88.0 if dtype == np.float32 else -708.0
            want = 1 / (1 + np.exp(-np.maximum(x, dtype(low))))
        got = Tensor(x).sigmoid().data
        np.testing.assert_array_equal(got, want.astype(dtype))
        assert got.dtype == dtype and np.all(got > 0)


@pytest.mark.parametrize("make, message", [
    (lambda a: Tensor.cat([a, a], axis=None), r"cat: axis must be an int, got None"),
    (lambda a: Tensor.cat([a, a], axis=1.0), r"cat: axis must be an int, got 1.0"),
    (lambda a: Tensor.stack([a, a], axis=True), r"stack: axis must be an int, got True"),
    (lambda a: a.chunk(True), r"chunk: the number of chunks must be a positive int, got True"),
])
def test_bools_floats_and_none_are_no_axis_or_count(make, message):
    # numpy read True as 1 and cat's None as "flatten first" (found by the code-reading helper)
    a = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ops.OpError, match=f"^{message}$"):
        make(a)


def test_len_of_a_0d_tensor_says_so():
    with pytest.raises(TypeError, match=r"^len\(\) of a 0-d tensor$"):
        len(Tensor(1.0))
    assert len(Tensor(np.ones((3, 2)))) == 3
