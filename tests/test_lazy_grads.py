"""The engine's fast paths give the same gradients as the plain ones: x[t] pieces written into
one buffer, chunk pieces joined by one concatenate, weight gradients multiplied in chunks,
and a layer's released intermediates (recomputed when read)."""

import numpy as np
import pytest

from tinygrad_lstm import Tensor, autograd, nn
import tinygrad_lstm.rnn as rnn

RNG = np.random.default_rng(0)


def grads_of(fn, *arrays, on_step=None):
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    fn(*xs).backward(on_step=on_step)
    return [x.grad for x in xs]


def test_rows_taken_by_int_index_repeated_negative_and_missing():
    a = RNG.standard_normal((5, 3))
    w = RNG.standard_normal((5, 3))

    def fn(x):  # rows 0, 2 (twice, once as -3), 4; rows 1 and 3 get no gradient
        return (x[0] * w[0] + x[2] * w[2] + x[-3] * 3.0 + x[4] * x[4]).sum()

    (g,) = grads_of(fn, a)
    want = np.zeros_like(a)
    want[0], want[2], want[4] = w[0], w[2] + 3.0, 2 * a[4]
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_int_rows_then_a_slice_of_the_same_tensor():
    a = RNG.standard_normal((4, 3))

    def fn(x):
        return (x[1] * 2.0).sum() + (x[3] * 5.0).sum() + (x[1:3] * 7.0).sum()

    (g,) = grads_of(fn, a)
    want = np.zeros_like(a)
    want[1], want[3], want[2] = 2.0 + 7.0, 5.0, 7.0
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_chunks_partly_used_used_twice_and_uneven():
    a = RNG.standard_normal((2, 10))

    def fn(x):
        p, q, r, s = x.chunk(4, axis=1)          # sizes 3, 3, 3, 1
        return (p * 2.0).sum() + (r * r).sum() + (r * 3.0).sum()  # q and s unused

    (g,) = grads_of(fn, a)
    want = np.zeros_like(a)
    want[:, 0:3] = 2.0
    want[:, 6:9] = 2 * a[:, 6:9] + 3.0
    np.testing.assert_allclose(g, want, rtol=1e-12)

    b = RNG.standard_normal((3, 4, 6))
    (g,) = grads_of(lambda x: sum((c * k).sum() for k, c in enumerate(x.split([1, 2, 3], axis=2))),
                    b)
    np.testing.assert_allclose(g, np.broadcast_to([0, 1, 1, 2, 2, 2], b.shape), rtol=1e-12)


def test_weight_gradient_in_chunks_equals_one_matmul(monkeypatch):
    xs = RNG.standard_normal((30, 4, 5))
    w = RNG.standard_normal((5, 6))

    def fn(w):
        return sum(((Tensor(xs[t]) @ w).tanh() * float(t)).sum() for t in range(30))

    (whole,) = grads_of(fn, w)
    monkeypatch.setattr(autograd, "OUTER_CHUNK_BYTES", 500)  # a flush every few steps
    (chunked,) = grads_of(fn, w)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)


def test_observer_sees_the_same_gradients_bit_for_bit(monkeypatch):
    monkeypatch.setattr(autograd, "OUTER_CHUNK_BYTES", 500)
    a = RNG.standard_normal((6, 2, 4))
    w = RNG.standard_normal((4, 4))

    def fn(a, w):
        h = Tensor(np.zeros((2, 4)))
        for t in (0, 1, 2, 2, 5):
            h = (a[t] + h @ w).tanh()
        return (h * h).sum()

    plain = grads_of(fn, a, w)
    seen = []
    watched = grads_of(fn, a, w, on_step=lambda node, g, pgs: seen.append(pgs))
    assert seen
    for p, q in zip(plain, watched):
        assert p.tobytes() == q.tobytes()


@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU, nn.RNN])
def test_released_intermediates_same_gradients_and_recomputed_values(layer, monkeypatch):
    x = RNG.standard_normal((4, 3, 5))

    def run(release_bytes):
        monkeypatch.setattr(rnn, "RELEASE_BYTES", release_bytes)
        model = layer(5, 6, dtype=np.float64, rng=np.random.default_rng(1))
        out, _ = model(Tensor(x))
        loss = (out * out).mean()
        return model, loss

    kept_model, kept_loss = run(1 << 40)
    model, loss = run(0)
    kept, walk = autograd.toposort(kept_loss), autograd.toposort(loss)
    assert [t.op for t in kept] == [t.op for t in walk]  # the same graph, node for node
    released = [k for k, t in enumerate(walk) if t._released is not None]
    assert released  # the pre-activations, chunks and products inside each step
    kept_loss.backward()
    loss.backward()  # through the released nodes: backward never needs their values
    for (name, p), (_, q) in zip(model.named_parameters(), kept_model.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)
    assert all(walk[k]._released is not None and walk[k].name is None for k in released)
    for k in released:  # a read recomputes the value (and any released input's on the way)
        t = walk[k]
        assert t.shape == kept[k].shape and t.dtype == np.float64
        np.testing.assert_array_equal(t.data, kept[k].data)
        assert t._released is None
