"""The baselines (SGD, SAM, Entropy-SGD) against steps computed by hand on quadratics.

The quadratic is f(x) = ½ Σ aᵢ xᵢ² with a = (1, 2), so ∇f(x) = (x₁, 2x₂); every expected
point below is worked out from the update rules in docs/algorithm.md, step by step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from array_api_compat import array_namespace
from array_api_compat import device as device_of
from conftest import Backend, assert_array_like

import rbo
from rbo._random import mix_key, standard_normal

A = np.array([1.0, 2.0])


def quad(x):
    """f = ½ (x₁² + 2 x₂²) and its gradient, in x's namespace and device."""
    xp = array_namespace(x)
    g = x * xp.asarray([1.0, 2.0], dtype=x.dtype, device=device_of(x))
    return 0.5 * xp.sum(x * g), g


def to_list(a) -> list[float]:
    return [float(v) for v in a]


def run(solver, backend: Backend, x0, steps: int):
    state = solver.init(quad, backend.asarray(x0))
    for _ in range(steps):
        state = solver.step(quad, state)
    return state


# ---------------------------------------------------------------------------------------
# Hand-computed steps.


def test_sgd_step_is_x_minus_lr_gradient(backend: Backend) -> None:
    # g(2, 1) = (2, 2); x1 = (2, 1) - 0.25 (2, 2)
    state = run(rbo.SGD(lr=0.25), backend, [2.0, 1.0], 1)
    assert to_list(state.x) == pytest.approx([1.5, 0.5], abs=1e-15)
    assert_array_like(state.x, backend.asarray([0.0]))
    assert state.nit == 1 and state.evals == 1 and int(state.failure) == -1
    assert float(state.step_norm) == pytest.approx(0.25 * math.sqrt(8.0))


def test_heavy_ball_momentum_two_steps(backend: Backend) -> None:
    # v1 = g0 = (2, 2), x1 = (1.5, 0.5); g1 = (1.5, 1); v2 = 0.5 v1 + g1 = (2.5, 2);
    # x2 = x1 - 0.25 v2 = (0.875, 0)
    state = run(rbo.SGD(lr=0.25, momentum=0.5), backend, [2.0, 1.0], 2)
    assert to_list(state.x) == pytest.approx([0.875, 0.0], abs=1e-15)
    assert to_list(state.velocity) == pytest.approx([2.5, 2.0], abs=1e-15)


def test_nesterov_momentum_two_steps(backend: Backend) -> None:
    # v1 = (2, 2), u1 = g0 + 0.5 v1 = (3, 3), x1 = (1.25, 0.25); g1 = (1.25, 0.5);
    # v2 = (1, 1) + g1 = (2.25, 1.5), u2 = g1 + 0.5 v2 = (2.375, 1.25);
    # x2 = x1 - 0.25 u2 = (0.65625, -0.0625)
    state = run(rbo.SGD(lr=0.25, momentum=0.5, nesterov=True), backend, [2.0, 1.0], 2)
    assert to_list(state.x) == pytest.approx([0.65625, -0.0625], abs=1e-15)


def test_sam_step_uses_gradient_at_normalised_perturbation(backend: Backend) -> None:
    # x0 = (3, 2): g0 = (3, 4), |g0| = 5, e = 0.5 (3, 4) / 5 = (0.3, 0.4);
    # g(x0 + e) = g(3.3, 2.4) = (3.3, 4.8); x1 = x0 - 0.25 (3.3, 4.8) = (2.175, 0.8)
    state = run(rbo.SAM(lr=0.25, rho=0.5), backend, [3.0, 2.0], 1)
    assert to_list(state.x) == pytest.approx([2.175, 0.8], abs=1e-12)
    assert state.evals == 2 and state.rho == 0.5


def test_adaptive_sam_scales_perturbation_by_parameters(backend: Backend) -> None:
    # x0 = (3, 2), g0 = (3, 4): |x| g = (9, 8), norm sqrt(145); e = 0.5 x² g / sqrt(145)
    # = 0.5 (27, 16) / sqrt(145); the step is along g(x0 + e) = (x0 + e) * a.
    e = 0.5 * np.array([27.0, 16.0]) / math.sqrt(145.0)
    expected = np.array([3.0, 2.0]) - 0.25 * (np.array([3.0, 2.0]) + e) * A
    state = run(rbo.SAM(lr=0.25, rho=0.5, adaptive=True), backend, [3.0, 2.0], 1)
    assert to_list(state.x) == pytest.approx(expected.tolist(), abs=1e-12)


def test_sam_default_radii_are_the_references() -> None:
    s = rbo.SAM().step(quad, rbo.SAM().init(quad, np.array([3.0, 2.0])))
    a = rbo.SAM(adaptive=True).step(quad, rbo.SAM(adaptive=True).init(quad, np.array([3.0, 2.0])))
    assert (s.rho, a.rho) == (0.05, 2.0)


def test_entropy_sgd_two_langevin_steps_without_noise(backend: Backend) -> None:
    # gamma = 0.1, inner lr 0.5, x = (2, 1):
    # i=0: x' = x, d = g(x) = (2, 2), x'1 = (1, 0), mu = 0.75 x + 0.25 x'1 = (1.75, 0.75)
    # i=1: d = g(x'1) - 0.1 (x - x'1) = (1, 0) - (0.1, 0.1) = (0.9, -0.1),
    #      x'2 = (1, 0) - 0.5 d = (0.55, 0.05), mu = 0.75 mu + 0.25 x'2 = (1.45, 0.575)
    # outer: x1 = x - 0.5 (x - mu) = (1.725, 0.7875)
    solver = rbo.EntropySGD(lr=0.5, inner_steps=2, inner_lr=0.5, noise=0.0, gamma0=0.1, gamma1=0.0)
    state = run(solver, backend, [2.0, 1.0], 1)
    assert to_list(state.x) == pytest.approx([1.725, 0.7875], abs=1e-15)
    assert state.evals == 2  # one inner gradient (the first is the one at x), one landing
    assert state.gamma == 0.1


def _entropy_step_by_hand(x: np.ndarray, gamma: float, lr: float, inner_lr: float) -> np.ndarray:
    """Two noiseless Langevin steps on the quadratic, written out."""
    x1 = x - inner_lr * (A * x)
    mu = 0.75 * x + 0.25 * x1
    x2 = x1 - inner_lr * (A * x1 - gamma * (x - x1))
    mu = 0.75 * mu + 0.25 * x2
    return x - lr * (x - mu)


def test_entropy_sgd_scoping_grows_gamma_every_step() -> None:
    solver = rbo.EntropySGD(lr=0.5, inner_steps=2, inner_lr=0.5, noise=0.0, gamma0=0.1, gamma1=0.5)
    state = solver.init(quad, np.array([2.0, 1.0]))
    gammas, x, frozen = [], np.array([2.0, 1.0]), np.array([2.0, 1.0])
    for k in range(3):
        state = solver.step(quad, state)
        gammas.append(state.gamma)
        x = _entropy_step_by_hand(x, 0.1 * 1.5**k, 0.5, 0.5)
        np.testing.assert_allclose(state.x, x, rtol=0, atol=1e-15)
        frozen = _entropy_step_by_hand(frozen, 0.1, 0.5, 0.5)
    assert gammas == pytest.approx([0.1, 0.15, 0.225])
    # The coupling matters: the same steps with gamma frozen at gamma0 (the reference
    # code's behaviour) end elsewhere.
    assert np.max(np.abs(frozen - state.x)) > 1e-4


def test_entropy_sgd_noise_has_the_reference_scale_and_keys() -> None:
    keys = []

    def ones(key: int, like):
        keys.append(key)
        return like * 0.0 + 1.0

    flat = lambda x: (0.0 * float(np.sum(x)), np.zeros_like(x))  # noqa: E731
    solver = rbo.EntropySGD(lr=2.0, inner_steps=1, inner_lr=0.08, noise=0.01, seed=3, gaussian=ones)
    state = solver.step(flat, solver.init(flat, np.zeros(2)))
    # d = sigma xi with sigma = 0.01 / sqrt(0.04) = 0.05; x'1 = -0.08 * 0.05 = -0.004;
    # mu = 0.25 x'1 = -0.001; x1 = 0 - 2 (0 - mu) = -0.002
    np.testing.assert_allclose(state.x, [-0.002, -0.002], rtol=1e-12)
    state = solver.step(flat, state)
    assert keys == [mix_key(3, 0, 0), mix_key(3, 1, 0)]


def test_entropy_sgd_noise_is_reproducible_from_the_seed() -> None:
    def path(seed: int) -> np.ndarray:
        solver = rbo.EntropySGD(inner_steps=3, noise=1e-2, seed=seed)
        return run(solver, Backend("numpy", np), [2.0, 1.0], 3).x

    np.testing.assert_array_equal(path(1), path(1))
    assert not np.array_equal(path(1), path(2))


def test_standard_normal_stays_in_namespace_and_device(backend: Backend) -> None:
    like = backend.asarray(np.zeros((300,)))
    z = standard_normal(11, like)
    assert_array_like(z, like)
    values = np.asarray([float(v) for v in z])
    assert abs(values.mean()) < 0.3 and 0.7 < values.std() < 1.3
    assert to_list(standard_normal(11, like)) == values.tolist()


def test_entropy_sgd_chain_stops_at_nan_and_keeps_its_mean() -> None:
    # Finite only for |x| < 1.5: the second inner point, x'1 = x - 0.5 * 2 * 3 = -2, is
    # NaN there, so the chain stops and mu = 0.75 x + 0.25 x'1.
    def fg(x):
        bad = np.abs(x) >= 1.5
        return (np.nan if bad.any() else float(x @ x)), np.where(bad, np.nan, 2 * x)

    solver = rbo.EntropySGD(lr=0.5, inner_steps=3, inner_lr=1.5, noise=0.0, gamma0=0.1)
    state = solver.step(fg, solver.init(fg, np.array([1.0])))
    assert int(state.failure) == -1
    # x'1 = 1 - 1.5 * 2 = -2 (its gradient is NaN: the chain stops);
    # mu = 0.75 + 0.25 * -2 = 0.25; x1 = 1 - 0.5 * 0.75 = 0.625
    np.testing.assert_allclose(state.x, [0.625])


# ---------------------------------------------------------------------------------------
# NaN handling, shared with RBO: retry with half the learning rate, then NONFINITE.


def _finite_below(limit: float):
    def fg(x):
        if np.any(np.abs(x) >= limit):
            return np.nan, np.full_like(x, np.nan)
        return float(0.5 * x @ x), x.copy()

    return fg


def test_sgd_halves_lr_until_the_landing_is_finite() -> None:
    fg = _finite_below(3.0)
    solver = rbo.SGD(lr=3.0)
    state = solver.step(fg, solver.init(fg, np.array([2.0])))
    # 2 - 3 * 2 = -4 is NaN; 2 - 1.5 * 2 = -1 is finite.
    assert state.x.tolist() == [-1.0]
    assert state.lr == 1.5 and state.evals == 2


def test_sam_halves_rho_when_the_perturbed_point_is_not_finite() -> None:
    fg = _finite_below(2.4)
    solver = rbo.SAM(lr=0.1, rho=1.0)
    state = solver.step(fg, solver.init(fg, np.array([2.0])))
    # 2 + 1 is NaN, 2 + 0.5 is NaN, 2 + 0.25 is finite: the step is along 2.25.
    assert state.rho == 0.25
    np.testing.assert_allclose(state.x, [2.0 - 0.1 * 2.25])
    assert state.evals == 4


@pytest.mark.parametrize("method", ["sgd", "sam", "entropy-sgd"])
def test_unrecoverable_nan_ends_the_run_with_nonfinite(method: str) -> None:
    x0 = np.array([2.0])

    def fg(x):
        if not np.array_equal(x, x0):
            return np.nan, np.full_like(x, np.nan)
        return 2.0, x.copy()

    res = rbo.minimize(fg, x0, jac=True, method=method, max_halvings=3)
    assert res.status == rbo.Status.NONFINITE and not res.success
    assert res.x.tolist() == [2.0] and res.fun == 2.0


# ---------------------------------------------------------------------------------------
# rbo.minimize: the same protocol, result and counting.


@pytest.mark.parametrize(
    ("method", "options", "per_step"),
    [
        ("sgd", {"lr": 0.1}, 1),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, 1),
        ("sam", {"lr": 0.1, "rho": 0.05}, 2),
        ("sam", {"lr": 0.1, "adaptive": True}, 2),
        ("entropy-sgd", {"lr": 1.0, "inner_steps": 5, "noise": 0.0}, 5),
    ],
)
def test_minimize_runs_each_baseline_and_counts_its_evaluations(method, options, per_step):
    q = rbo.problems.quadratic
    res = rbo.minimize(
        q, np.full(4, 2.0), jac=q.jac, method=method, maxiter=30, patience=None, gtol=0, **options
    )
    assert res.nit == 30 and res.status == rbo.Status.MAXITER
    assert res.nfev == res.njev == 1 + per_step * 30
    assert res.fun < 0.5 * float(q(np.full(4, 2.0)))
    assert "proj_residual" not in res


def test_each_baseline_reaches_the_minimum_and_succeeds_only_where_the_gradient_is_small() -> None:
    q = rbo.problems.quadratic
    for method in ("sgd", "sam", "entropy-sgd"):
        res = rbo.minimize(q, np.full(3, 1.0), jac=q.jac, method=method, lr=0.5, maxiter=2000)
        # SAM with a fixed radius hovers within about rho of the minimum.
        assert res.fun < (0.5 * 0.05**2 if method == "sam" else 1e-6), method
        assert res.success == bool(np.linalg.norm(q.jac(res.x)) <= 1e-6), (method, res.message)
        if method == "sam":  # its ascent step keeps it off the minimum: not a success
            assert not res.success and res.status == rbo.Status.STAGNATION


def test_minimize_accepts_a_configured_baseline_instance() -> None:
    q = rbo.problems.quadratic
    res = rbo.minimize(q, [1.0, 1.0], jac=q.jac, method=rbo.SGD(lr=0.5), maxiter=3)
    np.testing.assert_allclose(res.x_last, [0.125, 0.125])


@pytest.mark.parametrize("method", ["sgd", "sam", "entropy-sgd"])
def test_baselines_keep_namespace_dtype_and_device(backend: Backend, method: str) -> None:
    q = rbo.problems.rastrigin
    start = [1.2, -0.7, 0.3]
    options = {"noise": 0.0} if method == "entropy-sgd" else {}
    x0 = backend.asarray(start)
    res = rbo.minimize(q, x0, jac=q.jac, method=method, lr=1e-3, maxiter=5, **options)
    assert_array_like(res.x, x0)
    ref = rbo.minimize(q, np.array(start), jac=q.jac, method=method, lr=1e-3, maxiter=5, **options)
    np.testing.assert_allclose(to_list(res.x), ref.x, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "match"),
    [
        (rbo.SGD, {"lr": -1.0}, ValueError, "lr"),
        (rbo.SGD, {"lr": "big"}, TypeError, "lr"),
        (rbo.SGD, {"momentum": 1.0}, ValueError, "momentum"),
        (rbo.SGD, {"momentum": -0.1}, ValueError, "momentum"),
        (rbo.SGD, {"nesterov": True}, ValueError, "nesterov"),
        (rbo.SGD, {"nesterov": 1, "momentum": 0.9}, TypeError, "nesterov"),
        (rbo.SGD, {"max_halvings": -1}, ValueError, "max_halvings"),
        (rbo.SAM, {"rho": -0.1}, ValueError, "rho"),
        (rbo.SAM, {"adaptive": "yes"}, TypeError, "adaptive"),
        (rbo.EntropySGD, {"inner_steps": 0}, ValueError, "inner_steps"),
        (rbo.EntropySGD, {"inner_steps": 2.5}, TypeError, "inner_steps"),
        (rbo.EntropySGD, {"inner_lr": 0.0}, ValueError, "inner_lr"),
        (rbo.EntropySGD, {"noise": -1e-4}, ValueError, "noise"),
        (rbo.EntropySGD, {"gamma0": 0.0}, ValueError, "gamma0"),
        (rbo.EntropySGD, {"gamma1": math.nan}, ValueError, "gamma1"),
        (rbo.EntropySGD, {"seed": "a"}, TypeError, "seed"),
        (rbo.EntropySGD, {"gaussian": 3}, TypeError, "gaussian"),
    ],
)
def test_bad_hyperparameters_are_named(factory, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        factory(**kwargs)


def test_unknown_option_for_a_baseline_is_named() -> None:
    q = rbo.problems.quadratic
    with pytest.raises(TypeError, match="radius"):
        rbo.minimize(q, [1.0], jac=q.jac, method="sgd", radius=1.0)
    with pytest.raises(ValueError, match="entropy-sgd"):
        rbo.minimize(q, [1.0], jac=q.jac, method="entropy_sgd")
