"""Losses: values against direct formulas, gradients against finite differences."""

import numpy as np
import pytest
from nengo.exceptions import ValidationError

from nengo_native import losses
from nengo_native.losses import (
    EPSILON,
    CategoricalCrossentropy,
    CustomLoss,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    Regularize,
    SparseCategoricalCrossentropy,
    get_loss,
)

SHAPE = (3, 4, 5)  # (batch, n_steps, features)


def numeric_gradient(f, y, h=1e-6):
    """Central finite differences of scalar f at y (float64)."""
    y = np.array(y, dtype=np.float64)
    g = np.zeros_like(y)
    flat, gflat = y.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f(y)
        flat[i] = old - h
        down = f(y)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


def check_gradient(loss, y_true, y_pred, tol=1e-6):
    g = loss.gradient(y_true, y_pred)
    assert g.shape == np.shape(y_pred)
    assert g.dtype == np.float64
    assert g.flags.c_contiguous
    fd = numeric_gradient(lambda y: loss.value(y_true, y), y_pred)
    rel = np.linalg.norm(g - fd) / np.linalg.norm(fd)
    assert rel <= tol, f"{loss!r}: relative error {rel:.2e}"
    v, g2 = loss.value_and_gradient(y_true, y_pred)
    assert v == loss.value(y_true, y_pred)
    np.testing.assert_array_equal(g2, g)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def probabilities(rng, shape=SHAPE):
    return softmax(rng.uniform(-1, 1, size=shape))


def one_hot(ids, n):
    return np.eye(n)[ids]


@pytest.fixture
def rng():
    return np.random.default_rng(4)


def test_mse_mae_values_and_gradients(rng):
    y_true = rng.normal(size=SHAPE)
    y_pred = rng.normal(size=SHAPE)
    d = y_pred - y_true
    assert losses.mse(y_true, y_pred) == pytest.approx(np.mean(d**2), rel=1e-14)
    assert losses.mae(y_true, y_pred) == pytest.approx(np.mean(np.abs(d)), rel=1e-14)
    assert isinstance(losses.mse.value(y_true, y_pred), float)
    np.testing.assert_allclose(losses.mse.gradient(y_true, y_pred), 2 * d / d.size)
    check_gradient(MeanSquaredError(), y_true, y_pred)
    check_gradient(MeanAbsoluteError(), y_true, y_pred)
    # mean reduction: the value does not depend on batch size or n_steps
    tiled = np.tile(y_pred, (2, 3, 1)), np.tile(y_true, (2, 3, 1))
    assert losses.mse(tiled[1], tiled[0]) == pytest.approx(losses.mse(y_true, y_pred))


def test_any_leading_shape(rng):
    for shape in [(7,), (2, 3), (2, 3, 4, 2)]:
        y_true, y_pred = rng.normal(size=shape), rng.normal(size=shape)
        assert losses.mse(y_true, y_pred) == pytest.approx(
            np.mean((y_pred - y_true) ** 2)
        )
        check_gradient(losses.mse, y_true, y_pred)


def test_float32_preserved(rng):
    y_true = rng.normal(size=SHAPE).astype(np.float32)
    y_pred = rng.normal(size=SHAPE).astype(np.float32)
    probs = probabilities(rng).astype(np.float32)
    ids = rng.integers(0, SHAPE[-1], size=SHAPE[:-1] + (1,))
    for loss, yt, yp in [
        (losses.mse, y_true, y_pred),
        (losses.mae, y_true, y_pred),
        (CategoricalCrossentropy(), one_hot(ids[..., 0], 5), probs),
        (SparseCategoricalCrossentropy(from_logits=True), ids, y_pred),
        (Regularize(), None, y_pred),
    ]:
        g = loss.gradient(yt, yp)
        assert g.dtype == np.float32, loss
        assert isinstance(loss.value(yt, yp), float)
    # integer predictions give float64 gradients
    assert losses.mse.gradient([[1, 2]], [[0, 0]]).dtype == np.float64


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy(rng, from_logits):
    ids = rng.integers(0, SHAPE[-1], size=SHAPE[:-1])
    y_true = one_hot(ids, SHAPE[-1])
    if from_logits:
        y_pred = rng.normal(scale=2, size=SHAPE)
        p = softmax(y_pred)
    else:
        # unnormalized positive scores: Keras normalizes them first
        y_pred = rng.uniform(0.2, 2, size=SHAPE)
        p = y_pred / y_pred.sum(-1, keepdims=True)
    loss = CategoricalCrossentropy(from_logits=from_logits)
    expected = np.mean(-np.sum(y_true * np.log(p), axis=-1))
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    check_gradient(loss, y_true, y_pred)
    # soft targets too
    soft = probabilities(rng)
    assert loss(soft, y_pred) == pytest.approx(
        np.mean(-np.sum(soft * np.log(p), axis=-1)), rel=1e-12
    )
    check_gradient(loss, soft, y_pred)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("trailing_one", [True, False])
def test_sparse_categorical_crossentropy(rng, from_logits, trailing_one):
    ids = rng.integers(0, SHAPE[-1], size=SHAPE[:-1])
    y_true = ids[..., None] if trailing_one else ids
    if from_logits:
        y_pred = rng.normal(scale=2, size=SHAPE)
        p = softmax(y_pred)
    else:
        y_pred = probabilities(rng)
        p = y_pred
    loss = SparseCategoricalCrossentropy(from_logits=from_logits)
    expected = np.mean(-np.log(np.take_along_axis(p, ids[..., None], -1)))
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    # float ids (the usual target array dtype) work the same
    assert loss(y_true.astype(np.float32), y_pred) == loss(y_true, y_pred)
    check_gradient(loss, y_true, y_pred)
    # same as the dense version with one-hot targets (for normalized p)
    dense = CategoricalCrossentropy(from_logits=from_logits)
    assert loss(y_true, y_pred) == pytest.approx(dense(one_hot(ids, 5), y_pred))
    np.testing.assert_allclose(
        loss.gradient(y_true, y_pred),
        dense.gradient(one_hot(ids, 5), y_pred)
        if from_logits
        else -one_hot(ids, 5) / p / ids.size,
        rtol=1e-10,
    )


def test_crossentropy_logits_are_stable():
    y_pred = np.array([[[1000.0, 0.0, -1000.0]]])
    loss = SparseCategoricalCrossentropy(from_logits=True)
    assert loss([[[0]]], y_pred) == pytest.approx(0.0, abs=1e-12)
    assert loss([[[2]]], y_pred) == pytest.approx(2000.0)
    g = loss.gradient([[[2]]], y_pred)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [[[1.0, 0.0, -1.0]]], atol=1e-12)


def test_crossentropy_clipping():
    # a zero probability on the true class: finite loss -log(EPSILON), and
    # no gradient through the clipped entry (Keras' behaviour)
    y_pred = np.array([[[0.0, 0.5, 0.5]]])
    loss = SparseCategoricalCrossentropy()
    assert loss([[[0]]], y_pred) == pytest.approx(-np.log(EPSILON))
    np.testing.assert_array_equal(loss.gradient([[[0]]], y_pred), 0.0)
    dense = CategoricalCrossentropy()
    assert dense([[[1.0, 0, 0]]], y_pred) == pytest.approx(-np.log(EPSILON))
    assert np.all(np.isfinite(dense.gradient([[[1.0, 0, 0]]], y_pred)))


@pytest.mark.parametrize("order", [1, 2, 3, 1.5, np.inf])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_regularize(rng, order, axis):
    y_pred = rng.normal(size=(2, 3, 4, 3))  # (batch, steps, 4, 3) e.g. weights
    target = 0.25
    loss = Regularize(order=order, axis=axis, target=target, weight=0.5)
    d = y_pred - target
    if axis is None:
        norms = np.linalg.norm(d.reshape(2, 3, -1), ord=order, axis=-1)
    else:
        norms = np.linalg.norm(d, ord=order, axis=axis % 2 + 2)
    assert loss(None, y_pred) == pytest.approx(0.5 * np.mean(norms), rel=1e-12)
    assert loss(np.zeros(5), y_pred) == loss(None, y_pred)  # y_true ignored
    check_gradient(loss, None, y_pred)


def test_regularize_rates_toward_target(rng):
    # firing rates (batch, steps, neurons) pulled toward 100 Hz, squared-free
    rates = rng.uniform(50, 150, size=(4, 6, 10))
    target = np.full(10, 100.0)
    loss = Regularize(order=2, target=target, weight=1e-3)
    expected = 1e-3 * np.mean(np.linalg.norm(rates - 100, axis=-1))
    assert loss(None, rates) == pytest.approx(expected)
    check_gradient(loss, None, rates)
    # at the target the value and gradient are zero (no NaN)
    at = np.full((1, 2, 10), 100.0)
    assert loss(None, at) == 0.0
    np.testing.assert_array_equal(loss.gradient(None, at), 0.0)
    # huge values do not overflow for a general order
    big = np.full((1, 1, 3), 1e200)
    assert np.isfinite(Regularize(order=3)(None, big))


def test_regularize_bad_arguments(rng):
    for order in (0.5, 0, "fro", None, True):
        with pytest.raises(ValidationError, match="order"):
            Regularize(order=order)
    with pytest.raises(ValidationError, match="axis"):
        Regularize(axis=1.0)
    with pytest.raises(ValidationError, match=r"\(batch, n_steps, features"):
        Regularize()(None, np.ones((3, 4)))
    with pytest.raises(ValidationError, match="out of range"):
        Regularize(axis=1)(None, np.ones((2, 3, 4)))
    with pytest.raises(ValidationError, match="does not broadcast"):
        Regularize(target=np.ones(3))(None, np.ones((2, 3, 4)))
    assert "order=2" in repr(Regularize())


def test_bad_shapes_and_values(rng):
    a, b = np.ones((2, 3, 4)), np.ones((2, 3, 5))
    for loss in (losses.mse, losses.mae, CategoricalCrossentropy()):
        with pytest.raises(ValidationError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
            loss.value(a, b)
        with pytest.raises(ValidationError, match="shape"):
            loss.gradient(a, b)
    with pytest.raises(ValidationError, match="non-empty"):
        losses.mse(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(ValidationError, match="numeric"):
        losses.mse([["a"]], [[1.0]])

    sparse = SparseCategoricalCrossentropy()
    probs = probabilities(rng)
    with pytest.raises(ValidationError, match=r"class ids of shape \(3, 4, 1\)"):
        sparse(np.zeros((3, 4, 5)), probs)
    with pytest.raises(ValidationError, match=r"whole class ids in \[0, 5\)"):
        sparse(np.full((3, 4, 1), 5), probs)
    with pytest.raises(ValidationError, match="whole class ids"):
        sparse(np.full((3, 4, 1), 0.5), probs)
    with pytest.raises(ValidationError, match="whole class ids"):
        sparse(np.full((3, 4, 1), -1), probs)
    with pytest.raises(ValidationError, match="from_logits=True"):
        sparse(np.zeros((3, 4, 1)), -probs)
    with pytest.raises(ValidationError, match="at least 2 classes"):
        sparse(np.zeros((3, 4, 1)), np.ones((3, 4, 1)))
    with pytest.raises(ValidationError, match="positive sum"):
        CategoricalCrossentropy()(np.ones((1, 1, 3)), np.zeros((1, 1, 3)))
    with pytest.raises(ValidationError, match="from_logits"):
        CategoricalCrossentropy(from_logits="yes")


def test_custom_loss_without_gradient(rng):
    def sse(y_true, y_pred):
        return np.sum((y_pred - y_true) ** 2)

    y_true, y_pred = rng.normal(size=SHAPE), rng.normal(size=SHAPE)
    loss = get_loss(sse)  # fine for evaluation
    assert isinstance(loss, CustomLoss) and not loss.has_gradient
    assert loss.name == "sse"
    assert loss(y_true, y_pred) == pytest.approx(np.sum((y_pred - y_true) ** 2))
    with pytest.raises(ValidationError, match="no gradient") as info:
        get_loss(sse, need_gradient=True)
    msg = str(info.value)
    assert "'sse'" in msg and "custom(fn, gradient=" in msg and "fn.gradient" in msg
    with pytest.raises(ValidationError, match="no gradient"):
        loss.gradient(y_true, y_pred)

    # per-sample arrays are averaged (Keras' mean reduction)
    per_sample = get_loss(lambda t, p: np.mean((p - t) ** 2, axis=-1))
    assert per_sample(y_true, y_pred) == pytest.approx(losses.mse(y_true, y_pred))
    with pytest.raises(ValidationError, match="must return a number"):
        get_loss(lambda t, p: "x")(y_true, y_pred)


def test_custom_loss_with_gradient(rng):
    def sse(y_true, y_pred):
        return np.sum((y_pred - y_true) ** 2)

    def sse_grad(y_true, y_pred):
        return 2 * (y_pred - y_true)

    y_true, y_pred = rng.normal(size=SHAPE), rng.normal(size=SHAPE)
    for loss in (
        losses.custom(sse, gradient=sse_grad),
        get_loss(losses.custom(sse, sse_grad), need_gradient=True),
    ):
        assert loss.has_gradient
        check_gradient(loss, y_true, y_pred)

    sse.gradient = sse_grad  # the attribute form
    loss = get_loss(sse, need_gradient=True)
    check_gradient(loss, y_true, y_pred)
    assert loss.gradient(y_true, y_pred.astype(np.float32)).dtype == np.float32

    bad = losses.custom(sse, gradient=lambda t, p: np.zeros(3))
    with pytest.raises(ValidationError, match=r"must have y_pred's shape \(3, 4, 5\)"):
        bad.gradient(y_true, y_pred)
    with pytest.raises(ValidationError, match="callable"):
        losses.custom(sse, gradient=1)
    with pytest.raises(ValidationError, match="callable"):
        losses.custom(3)


def test_loss_subclass(rng):
    class Cubic(Loss):
        name = "cubic"

        def value(self, y_true, y_pred):
            return float(np.mean((np.asarray(y_pred) - y_true) ** 3))

        def gradient(self, y_true, y_pred):
            d = np.asarray(y_pred) - y_true
            return 3 * d**2 / d.size

    y_true, y_pred = rng.normal(size=SHAPE), rng.normal(size=SHAPE)
    for spec in (Cubic, Cubic()):
        loss = get_loss(spec, need_gradient=True)
        assert isinstance(loss, Cubic)
        check_gradient(loss, y_true, y_pred)


def test_get_loss_strings():
    assert isinstance(get_loss("mse"), MeanSquaredError)
    assert isinstance(get_loss("mean_squared_error"), MeanSquaredError)
    assert isinstance(get_loss("MAE"), MeanAbsoluteError)
    assert isinstance(get_loss("mean_absolute_error"), MeanAbsoluteError)
    cce = get_loss("categorical_crossentropy", need_gradient=True)
    assert isinstance(cce, CategoricalCrossentropy) and not cce.from_logits
    scce = get_loss("sparse_categorical_crossentropy")
    assert isinstance(scce, SparseCategoricalCrossentropy)
    assert get_loss(losses.mse) is losses.mse
    with pytest.raises(ValidationError, match="unknown loss 'msee'") as info:
        get_loss("msee")
    for name in ("'mse'", "'mae'", "'sparse_categorical_crossentropy'"):
        assert name in str(info.value)
    with pytest.raises(ValidationError, match="cannot use 3 as a loss"):
        get_loss(3)
