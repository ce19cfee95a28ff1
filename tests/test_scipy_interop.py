"""``rbo.scipy_method`` as a custom method of ``scipy.optimize.minimize`` and of
``scipy.optimize.basinhopping``: options, ``jac=True``, ``tol``, ``args``, callbacks and
the warnings scipy's own methods give for what they ignore."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, OptimizeResult, OptimizeWarning, basinhopping, minimize

import rbo

X0 = np.array([1.0, -2.0])
OPTIONS = {"radius": 0.1, "lr": 0.2, "polish": False}  # the ball itself


def quadratic(x: np.ndarray) -> float:
    return float(x @ x)


def quadratic_grad(x: np.ndarray) -> np.ndarray:
    return 2 * x


def double_well(x: np.ndarray) -> float:
    return float(np.sum((x * x - 1.0) ** 2))


def double_well_grad(x: np.ndarray) -> np.ndarray:
    return 4.0 * x * (x * x - 1.0)


def test_scipy_minimize_with_a_gradient_returns_a_float_and_numpy_x() -> None:
    res = minimize(quadratic, X0, method=rbo.scipy_method, jac=quadratic_grad, options=OPTIONS)
    assert isinstance(res, OptimizeResult)
    assert type(res.fun) is float
    assert isinstance(res.x, np.ndarray)
    assert res.x.shape == (2,)
    assert res.success is True
    assert res.status == int(rbo.Status.GTOL)
    assert res.fun < 1e-10
    np.testing.assert_allclose(res.x, 0.0, atol=1e-5)


def test_scipy_minimize_matches_rbo_minimize() -> None:
    res = minimize(quadratic, X0, method=rbo.scipy_method, jac=quadratic_grad, options=OPTIONS)
    direct = rbo.minimize(quadratic, X0, jac=quadratic_grad, **OPTIONS)
    assert (res.nit, res.nfev, res.status) == (direct.nit, direct.nfev, direct.status)
    np.testing.assert_array_equal(res.x, direct.x)


def test_scipy_jac_true_costs_one_call_of_fun_per_point() -> None:
    calls: list[np.ndarray] = []

    def fun_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        calls.append(np.copy(x))
        return float(x @ x), 2 * x

    res = minimize(fun_and_grad, X0, method=rbo.scipy_method, jac=True, options=OPTIONS)
    assert res.success
    assert type(res.fun) is float
    assert len(calls) == res.nfev == res.njev
    direct = rbo.minimize(quadratic, X0, jac=quadratic_grad, **OPTIONS)
    assert res.nfev == direct.nfev
    for a, b in itertools.pairwise(calls):
        assert not np.array_equal(a, b)


def test_scipy_jac_true_with_args_reaches_fun() -> None:
    seen: list[float] = []

    def fun_and_grad(x: np.ndarray, scale: float) -> tuple[float, np.ndarray]:
        seen.append(scale)
        return scale * float(x @ x), 2 * scale * x

    res = minimize(
        fun_and_grad,
        X0,
        args=(3.0,),
        method=rbo.scipy_method,
        jac=True,
        options={"radius": 0.1, "lr": 0.05},
    )
    assert res.success
    assert seen
    assert set(seen) == {3.0}
    assert len(seen) == res.nfev


def test_scipy_args_reach_fun_and_jac() -> None:
    fun_args: list[tuple[Any, ...]] = []
    jac_args: list[tuple[Any, ...]] = []
    shift = np.array([0.5, -0.25])

    def fun(x: np.ndarray, c: np.ndarray, weight: float) -> float:
        fun_args.append((c, weight))
        return weight * float((x - c) @ (x - c))

    def jac(x: np.ndarray, c: np.ndarray, weight: float) -> np.ndarray:
        jac_args.append((c, weight))
        return 2 * weight * (x - c)

    res = minimize(
        fun,
        X0,
        args=(shift, 2.0),
        method=rbo.scipy_method,
        jac=jac,
        options={"radius": 0.1, "lr": 0.1},
    )
    assert res.success
    assert fun_args
    assert jac_args
    assert all(c is shift and w == 2.0 for c, w in fun_args + jac_args)
    np.testing.assert_allclose(res.x, shift, atol=1e-5)


def test_scipy_tol_reaches_rbo_as_gtol() -> None:
    options = {**OPTIONS, "xtol": 0}
    loose = minimize(
        quadratic, X0, method=rbo.scipy_method, jac=quadratic_grad, tol=1e-2, options=options
    )
    default = minimize(quadratic, X0, method=rbo.scipy_method, jac=quadratic_grad, options=options)
    direct = rbo.minimize(quadratic, X0, jac=quadratic_grad, tol=1e-2, **options)
    assert loose.status == int(rbo.Status.GTOL)
    assert np.linalg.norm(loose.jac) <= 1e-2
    assert np.linalg.norm(default.jac) <= 1e-6
    assert loose.nit < default.nit
    assert loose.nit == direct.nit


def test_scipy_tol_does_not_override_an_explicit_gtol() -> None:
    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        tol=0.5,
        options={**OPTIONS, "gtol": 1e-8, "xtol": 0},
    )
    assert res.status == int(rbo.Status.GTOL)
    assert np.linalg.norm(res.jac) <= 1e-8


def test_scipy_minimize_without_jac_uses_finite_differences() -> None:
    calls: list[np.ndarray] = []

    def fun(x: np.ndarray) -> float:
        calls.append(x)
        return quadratic(x)

    res = minimize(fun, X0, method=rbo.scipy_method, options={**OPTIONS, "gtol": 1e-5})
    assert res.success
    assert len(calls) == res.nfev == 3 * res.njev


def test_scipy_unknown_option_warns_and_is_ignored() -> None:
    with pytest.warns(OptimizeWarning, match="radus"):
        res = minimize(
            quadratic,
            X0,
            method=rbo.scipy_method,
            jac=quadratic_grad,
            options={**OPTIONS, "radus": 5.0},
        )
    assert res.success
    direct = rbo.minimize(quadratic, X0, jac=quadratic_grad, **OPTIONS)
    assert res.nit == direct.nit
    np.testing.assert_array_equal(res.x, direct.x)


@pytest.mark.parametrize(
    "bounds",
    [
        [(0.5, 2.0), (-3.0, -1.0)],
        Bounds([0.5, -3.0], [2.0, -1.0]),
        np.array([[0.5, 2.0], [-3.0, -1.0]]),
    ],
    ids=["pairs", "Bounds", "array"],
)
def test_scipy_bounds_are_passed_on(bounds: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither "ignored" nor "outside the box"
        res = minimize(
            quadratic,
            X0,
            method=rbo.scipy_method,
            jac=quadratic_grad,
            bounds=bounds,
            options={"method": "sgd", "lr": 0.2},
        )
    assert res.success
    # The unconstrained minimum 0 lies outside: the box's nearest corner is the answer.
    np.testing.assert_allclose(res.x, [0.5, -1.0])


def test_scipy_bounds_keep_every_point_rbo_evaluates_in_the_box() -> None:
    seen: list[np.ndarray] = []

    def fun(x: np.ndarray) -> float:
        seen.append(np.copy(x))
        return quadratic(x)

    box = [(0.5, 2.0), (-3.0, -1.0)]
    res = minimize(fun, X0, method=rbo.scipy_method, jac=quadratic_grad, bounds=box)
    points = np.array(seen)
    assert (points >= [0.5, -3.0]).all() and (points <= [2.0, -1.0]).all()
    assert res.success
    np.testing.assert_allclose(res.x, [0.5, -1.0])


def test_scipy_constraints_warn_that_they_are_ignored() -> None:
    constraint = {"type": "ineq", "fun": lambda x: x[0] - 0.5}
    with pytest.warns(OptimizeWarning, match="constraints"):
        res = minimize(
            quadratic,
            X0,
            method=rbo.scipy_method,
            jac=quadratic_grad,
            constraints=[constraint],
            options=OPTIONS,
        )
    assert res.success


def test_scipy_hess_is_accepted_silently() -> None:
    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        hess=lambda x: 2 * np.eye(2),
        options=OPTIONS,
    )
    assert res.success


def test_scipy_minimize_options_reach_rbo() -> None:
    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        options={"radius": 1.0, "lr": 0.01, "maxiter": 3, "polish": False},
    )
    assert res.status == int(rbo.Status.MAXITER)
    assert res.nit == 3
    assert res.success is False


def test_scipy_bad_option_value_raises() -> None:
    with pytest.raises(ValueError, match="radius"):
        minimize(
            quadratic,
            X0,
            method=rbo.scipy_method,
            jac=quadratic_grad,
            options={"radius": -1.0},
        )


def test_basinhopping_with_rbo_improves_on_the_start() -> None:
    x0 = np.array([0.3, -0.2])
    res = basinhopping(
        double_well,
        x0,
        niter=5,
        minimizer_kwargs={
            "method": rbo.scipy_method,
            "jac": double_well_grad,
            "options": {"radius": 0.1, "lr": 0.05, "maxiter": 200},
        },
        seed=0,
    )
    assert type(res.fun) is float
    assert math.isfinite(res.fun)
    assert res.fun <= double_well(x0)
    assert res.fun < 1e-3
    assert isinstance(res.x, np.ndarray)
    assert res.fun == pytest.approx(double_well(res.x))


def test_scipy_callback_with_intermediate_result_reaches_rbo() -> None:
    seen: list[OptimizeResult] = []

    def callback(intermediate_result: OptimizeResult) -> None:
        seen.append(intermediate_result)

    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        callback=callback,
        options=OPTIONS,
    )
    assert len(seen) == res.nit > 0
    assert [ir.nit for ir in seen] == list(range(1, res.nit + 1))
    assert {"x", "fun", "radius", "lr"} <= set(seen[-1].keys())


def test_scipy_callback_with_xk_reaches_rbo() -> None:
    points: list[np.ndarray] = []
    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        callback=lambda xk: points.append(np.copy(xk)),
        options=OPTIONS,
    )
    assert len(points) == res.nit > 0
    assert all(isinstance(p, np.ndarray) and p.shape == (2,) for p in points)
    np.testing.assert_array_equal(points[-1], res.x_last)


def test_scipy_callback_stop_iteration_stops_the_run() -> None:
    calls: list[int] = []

    def callback(intermediate_result: OptimizeResult) -> None:
        calls.append(intermediate_result.nit)
        if len(calls) == 2:
            raise StopIteration

    res = minimize(
        quadratic,
        X0,
        method=rbo.scipy_method,
        jac=quadratic_grad,
        callback=callback,
        options=OPTIONS,
    )
    assert res.status == 99
    assert res.success is False
    assert res.nit == 2
    assert type(res.fun) is float


@pytest.mark.parametrize("name", ["torch", "array_api_strict"])
def test_scipy_backend_option_runs_there_and_returns_numpy(name: str) -> None:
    """The objective sees the backend's arrays; scipy gets NumPy arrays back."""
    xp = pytest.importorskip(name)
    seen: list[str] = []

    def fun(x: Any) -> Any:
        seen.append(type(x).__module__.split(".")[0])
        return xp.sum((x - 1.0) ** 2), 2.0 * (x - 1.0)

    res = minimize(
        fun,
        X0,
        jac=True,
        method=rbo.scipy_method,
        options={"backend": name, "radius": 0.1, "lr": 0.2, "maxiter": 200},
    )
    assert set(seen) == {name}
    assert type(res.x) is np.ndarray and type(res.jac) is np.ndarray
    assert type(res.fun) is float and res.fun < 1e-8
    assert (res.backend, res.device) == ("numpy", "cpu")
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-4)


def test_scipy_vectorized_option_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"1-D x0.*rbo.multistart"):
        minimize(
            quadratic,
            X0,
            method=rbo.scipy_method,
            jac=quadratic_grad,
            options={"vectorized": True},
        )
