"""Optimizers: Keras' update rules, convergence, state, specs and errors."""

import math

import numpy as np
import pytest
from nengo.exceptions import ValidationError

from nengo_native import optimizers
from nengo_native.optimizers import SGD, Adam, Optimizer, RMSprop, get_optimizer

# a quadratic f(p) = 0.5 (p - c)^T A (p - c), gradient A (p - c)
A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
C = np.array([1.0, -2.0, 0.5])
P0 = np.array([0.3, 0.7, -1.1])


def quad_grad(p):
    return A @ (p - C)


# --- reference implementations, one step at a time, written from the formulas


def ref_sgd(p, n, lr, mu=0.0, nesterov=False):
    p, v = p.copy(), np.zeros_like(p)
    for _ in range(n):
        g = quad_grad(p)
        if mu == 0:
            p = p - lr * g
        else:
            v = mu * v - lr * g
            p = p + (mu * v - lr * g if nesterov else v)
    return p


def ref_adam(p, n, lr, b1=0.9, b2=0.999, eps=1e-7):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t in range(1, n + 1):
        g = quad_grad(p)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return p


def ref_rmsprop(p, n, lr, rho=0.9, mu=0.0, eps=1e-7):
    p, s, w = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for _ in range(n):
        g = quad_grad(p)
        s = rho * s + (1 - rho) * g**2
        d = lr * g / np.sqrt(s + eps)
        if mu > 0:
            w = mu * w + d
            p = p - w
        else:
            p = p - d
    return p


def run(opt, n, p0=P0, dtype=np.float64):
    params = {"p": p0.astype(dtype)}
    for _ in range(n):
        opt.apply(params, {"p": quad_grad(params["p"]).astype(dtype)})
    return params["p"]


CASES = [
    (SGD(0.1), lambda n: ref_sgd(P0, n, 0.1)),
    (SGD(0.1, momentum=0.9), lambda n: ref_sgd(P0, n, 0.1, 0.9)),
    (SGD(0.1, momentum=0.5, nesterov=True), lambda n: ref_sgd(P0, n, 0.1, 0.5, True)),
    (Adam(0.05), lambda n: ref_adam(P0, n, 0.05)),
    (
        Adam(0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3),
        lambda n: ref_adam(P0, n, 0.05, 0.5, 0.9, 1e-3),
    ),
    (RMSprop(0.05), lambda n: ref_rmsprop(P0, n, 0.05)),
    (
        RMSprop(0.05, rho=0.8, momentum=0.7, epsilon=1e-4),
        lambda n: ref_rmsprop(P0, n, 0.05, 0.8, 0.7, 1e-4),
    ),
]


@pytest.mark.parametrize("opt, ref", CASES, ids=[repr(c[0]) for c in CASES])
def test_matches_reference_formulas(opt, ref):
    opt.reset()
    for n in (1, 2, 5):
        opt.reset()
        np.testing.assert_allclose(run(opt, n), ref(n), rtol=1e-12, atol=1e-14)
        assert opt.iterations == n
        assert opt.state("p")["t"] == n


@pytest.mark.parametrize("opt, ref", CASES, ids=[repr(c[0]) for c in CASES])
def test_float32_preserved(opt, ref):
    opt.reset()
    params = {"p": P0.astype(np.float32)}
    for _ in range(5):
        opt.apply(params, {"p": quad_grad(params["p"])})  # float64 grads are cast
        assert params["p"].dtype == np.float32
    for v in opt.state("p").values():
        if isinstance(v, np.ndarray):
            assert v.dtype == np.float32
    np.testing.assert_allclose(params["p"], ref(5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "opt",
    [
        SGD(0.2, momentum=0.9),
        SGD(0.2, momentum=0.9, nesterov=True),
        Adam(0.05),
        RMSprop(0.01, momentum=0.5),
    ],
    ids=repr,
)
def test_least_squares_converges(opt):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    w_true = rng.normal(size=(5, 2))
    Y = X @ w_true
    params = {"w": np.zeros((5, 2)), "b": np.zeros(2)}
    for _ in range(1500):
        err = X @ params["w"] + params["b"] - Y
        grads = {"w": X.T @ err * (2 / err.size), "b": err.sum(0) * (2 / err.size)}
        opt.apply(params, grads)
    np.testing.assert_allclose(params["w"], w_true, atol=2e-2)
    np.testing.assert_allclose(params["b"], 0, atol=2e-2)


def numpy_step(opt, p, g, state, t):
    """One update with numpy, in the parameter's dtype, as the rules are documented:
    the core's pass must give the same bits."""
    dt = p.dtype.type
    lr = opt.learning_rate
    if isinstance(opt, SGD):
        step = g * dt(lr)
        if opt.momentum == 0:
            p -= step
            return
        v = state.setdefault("velocity", np.zeros_like(p))
        v *= dt(opt.momentum)
        v -= step
        if opt.nesterov:
            p += v * dt(opt.momentum)
            p -= step
        else:
            p += v
    elif isinstance(opt, Adam):
        m = state.setdefault("m", np.zeros_like(p))
        v = state.setdefault("v", np.zeros_like(p))
        m += (g - m) * dt(1 - opt.beta_1)
        v += (g * g - v) * dt(1 - opt.beta_2)
        # 1 - b**t, computed as the optimizer documents it
        c1 = -math.expm1(t * math.log(opt.beta_1))
        c2 = -math.expm1(t * math.log(opt.beta_2))
        alpha = lr * math.sqrt(c2) / c1
        p -= m * dt(alpha) / (np.sqrt(v) + dt(opt.epsilon))
    else:
        s = state.setdefault("s", np.zeros_like(p))
        s += (g * g - s) * dt(1 - opt.rho)
        d = g * dt(lr)
        d /= np.sqrt(s + dt(opt.epsilon))
        if opt.momentum > 0:
            w = state.setdefault("w", np.zeros_like(p))
            w *= dt(opt.momentum)
            w += d
            p -= w
        else:
            p -= d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", [c[0] for c in CASES], ids=repr)
def test_core_update_is_numpys(opt, dtype):
    # many elements (vector lanes and a remainder), values over several decades
    rng = np.random.default_rng(1)
    p = (rng.normal(size=203) * 10.0 ** rng.integers(-6, 3, size=203)).astype(dtype)
    ref, state = p.copy(), {}
    opt.reset()
    for t in range(1, 4):
        g = (rng.normal(size=203) * 10.0 ** rng.integers(-8, 2, size=203)).astype(dtype)
        opt.apply({"p": p}, {"p": g})
        numpy_step(opt, ref, g, state, t)
        np.testing.assert_array_equal(p, ref)


def test_strided_parameters_and_other_dtypes():
    # a strided view is updated in place; its neighbours are not touched
    arena = np.zeros((4, 6))
    view = arena[:, ::2]
    Adam(0.1).apply({"w": view}, {"w": np.ones((4, 3))})
    np.testing.assert_allclose(arena[:, ::2], -0.1, rtol=1e-5)
    np.testing.assert_array_equal(arena[:, 1::2], 0.0)
    with pytest.raises(ValidationError, match="float32 or float64"):
        SGD(0.1).apply({"h": np.ones(3, np.float16)}, {"h": np.ones(3)})


def test_in_place_and_only_given_keys():
    opt = Adam(0.1)
    a, b = np.ones(3), np.ones(2)
    params = {"a": a, "b": b}
    grad = np.array([1.0, -1.0, 0.0])
    grad_copy = grad.copy()
    opt.apply(params, {"a": grad})
    assert params["a"] is a  # same array, changed in place
    np.testing.assert_allclose(a, [0.9, 1.1, 1.0], rtol=1e-5)  # first step ~lr
    np.testing.assert_array_equal(b, 1.0)
    np.testing.assert_array_equal(grad, grad_copy)  # gradients are not touched
    with pytest.raises(KeyError):
        opt.state("b")
    # views are updated in place too (e.g. a slice of a flat arena)
    arena = np.zeros(10)
    SGD(1.0).apply({"x": arena[2:5]}, {"x": np.ones(3)})
    np.testing.assert_array_equal(arena, [0, 0, -1, -1, -1, 0, 0, 0, 0, 0])


def test_reset():
    opt = Adam(0.05)
    first = run(opt, 3)
    assert opt.iterations == 3
    opt.reset()
    assert opt.iterations == 0
    with pytest.raises(KeyError):
        opt.state("p")
    np.testing.assert_array_equal(run(opt, 3), first)

    # without a reset the moments carry over
    opt2 = SGD(0.1, momentum=0.9)
    run(opt2, 3)
    np.testing.assert_raises(
        AssertionError,
        np.testing.assert_array_equal,
        run(opt2, 3),
        run(SGD(0.1, momentum=0.9), 3),
    )


def test_adam_bias_correction_per_key():
    # a parameter first updated late starts its own bias correction at t=1
    opt = Adam(0.1)
    params = {"a": np.zeros(1), "b": np.zeros(1)}
    opt.apply(params, {"a": np.ones(1)})
    opt.apply(params, {"a": np.ones(1), "b": np.ones(1)})
    assert opt.state("a")["t"] == 2 and opt.state("b")["t"] == 1
    np.testing.assert_allclose(params["b"], -0.1, rtol=1e-5)


def test_learning_rate_schedule():
    opt = SGD(lambda it: 0.1 / (1 + it))
    params = {"p": np.zeros(1)}
    for _ in range(3):
        opt.apply(params, {"p": np.ones(1)})
    np.testing.assert_allclose(params["p"], -(0.1 + 0.05 + 0.1 / 3))
    bad = SGD(lambda it: -1.0)
    with pytest.raises(ValidationError, match="learning_rate"):
        bad.apply(params, {"p": np.ones(1)})


def test_numerical_care():
    # tiny gradients in float32 do not underflow Adam's denominator to 0
    opt = Adam(0.01)
    params = {"p": np.zeros(4, dtype=np.float32)}
    opt.apply(params, {"p": np.full(4, 1e-30, dtype=np.float32)})
    assert np.all(np.isfinite(params["p"]))
    # beta near 1 after many steps: correction stays accurate
    opt = Adam(0.01, beta_1=0.9, beta_2=0.999999)
    params = {"p": np.zeros(1)}
    for _ in range(3):
        opt.apply(params, {"p": np.ones(1)})
    root = np.sqrt(1 - 0.999999 ** np.arange(1, 4))  # sqrt(v_t) for g = 1
    np.testing.assert_allclose(
        params["p"], -np.sum(0.01 * root / (root + 1e-7)), rtol=1e-9
    )
    # zero gradient: no change and no NaN
    for opt in (Adam(), RMSprop(), SGD(momentum=0.5)):
        params = {"p": np.ones(2)}
        opt.apply(params, {"p": np.zeros(2)})
        np.testing.assert_array_equal(params["p"], 1.0)


def test_bad_inputs_change_nothing():
    opt = SGD(0.1)
    params = {"a": np.ones(2), "b": np.ones(3)}
    cases = [
        ({"a": np.ones(2), "c": np.ones(1)}, "no such parameter"),
        ({"a": np.ones(2), "b": np.ones(2)}, r"shape \(2,\), parameter has shape \(3,"),
    ]
    for grads, match in cases:
        with pytest.raises(ValidationError, match=match):
            opt.apply(params, grads)
    np.testing.assert_array_equal(params["a"], 1.0)
    assert opt.iterations == 0
    with pytest.raises(ValidationError, match="floating-point numpy array"):
        opt.apply({"a": np.ones(2, dtype=int)}, {"a": np.ones(2)})
    with pytest.raises(ValidationError, match="floating-point numpy array"):
        opt.apply({"a": [1.0, 2.0]}, {"a": np.ones(2)})
    ro = np.ones(2)
    ro.setflags(write=False)
    with pytest.raises(ValidationError, match="read-only"):
        opt.apply({"a": ro}, {"a": np.ones(2)})
    opt.apply({"a": np.ones(2)}, {"a": np.ones(2)})  # SGD keeps no arrays, still
    with pytest.raises(ValidationError, match="reset"):
        opt.apply({"a": np.ones(3)}, {"a": np.ones(3)})


def test_bad_hyperparameters():
    for kwargs, attr in [
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"nesterov": 1}, "nesterov"),
    ]:
        with pytest.raises(ValidationError, match=attr):
            SGD(**kwargs)
    for kwargs in ({"beta_1": 1.0}, {"beta_2": -0.5}, {"epsilon": 0}):
        with pytest.raises(ValidationError, match=next(iter(kwargs))):
            Adam(**kwargs)
    for kwargs in ({"rho": 1.0}, {"momentum": 2}, {"epsilon": -1e-7}):
        with pytest.raises(ValidationError, match=next(iter(kwargs))):
            RMSprop(**kwargs)


def test_get_optimizer():
    for name, cls, lr in [
        ("sgd", SGD, 0.01),
        ("Adam", Adam, 0.001),
        ("rmsprop", RMSprop, 0.001),
    ]:
        opt = get_optimizer(name)
        assert type(opt) is cls and opt.learning_rate == lr
    adam = Adam(0.01)
    assert get_optimizer(adam) is adam
    assert isinstance(get_optimizer(optimizers.RMSprop), RMSprop)
    with pytest.raises(ValidationError, match="unknown optimizer 'adamw'") as info:
        get_optimizer("adamw")
    for name in ("'sgd'", "'adam'", "'rmsprop'"):
        assert name in str(info.value)
    with pytest.raises(ValidationError, match="cannot use 3 as an optimizer"):
        get_optimizer(3)
    assert issubclass(SGD, Optimizer)
    assert "learning_rate=0.01" in repr(adam)
