"""The contract of ``rbo.minimize``: what goes in, what comes out, and when it stops.

- Arrays keep their namespace, device and dtype; scalars come back as Python floats.
- The result has scipy's keys plus ``x_last``/``fun_last``; evaluation counts are exact,
  finite differences included.
- ``x`` is the best point seen, never worse than a visited contact point.
- Callbacks, stopping rules and schedules behave as documented.
- Bad input fails at once with a TypeError/ValueError that names it; failures during a
  run (NaN, exceptions, a diverging projection) still hand back the best point.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import Backend, assert_array_like, make_backend, roll
from scipy.optimize import OptimizeResult

import rbo
from rbo.problems import rastrigin

X0 = [1.0, -2.0]
QUICK = {"radius": 0.1, "lr": 0.2}


def _values(a: Any) -> list[float]:
    """An array of any backend as a list of Python floats."""
    return [float(a[i]) for i in range(a.shape[0])]


def _quadratic(backend: Backend) -> tuple[Callable[..., Any], Callable[..., Any]]:
    xp = backend.xp
    return (lambda x: xp.sum(x * x)), (lambda x: 2 * x)


def _counted(fun: Callable[..., Any]) -> tuple[Callable[..., Any], list[Any]]:
    """``fun`` and the list of points it has been called at."""
    points: list[Any] = []

    def wrapped(x: Any, *args: Any) -> Any:
        points.append(x)
        return fun(x, *args)

    return wrapped, points


def _recorder() -> tuple[Callable[..., None], list[OptimizeResult]]:
    seen: list[OptimizeResult] = []

    def callback(intermediate_result: OptimizeResult) -> None:
        seen.append(intermediate_result)

    return callback, seen


@pytest.fixture
def numpy_backend() -> Backend:
    return make_backend("numpy", None)


# --------------------------------------------------------------------------------------
# 1. Namespace, device and dtype
# --------------------------------------------------------------------------------------


def test_result_arrays_keep_namespace_device_and_dtype(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    res = roll(fun, x0, jac=jac, **QUICK)
    for name in ("x", "jac", "x_last"):
        assert_array_like(res[name], x0)
        assert tuple(res[name].shape) == (2,)
    assert type(res.fun) is float
    assert type(res.fun_last) is float
    assert res.success


def test_float32_start_stays_float32(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0, dtype=backend.xp.float32)
    res = roll(fun, x0, jac=jac, maxiter=30, **QUICK)
    assert res.x.dtype == backend.xp.float32
    for name in ("x", "jac", "x_last"):
        assert_array_like(res[name], x0)
    assert type(res.fun) is float
    assert res.fun < 1e-3


@pytest.mark.parametrize("jac_mode", ["2-point", "3-point"])
def test_float32_finite_differences_stay_float32(backend: Backend, jac_mode: str) -> None:
    fun, _ = _quadratic(backend)
    x0 = backend.asarray(X0, dtype=backend.xp.float32)
    res = roll(fun, x0, jac=jac_mode, maxiter=0)
    assert_array_like(res.jac, x0)
    assert _values(res.jac) == pytest.approx([2.0, -4.0], rel=1e-2)


def _narrow_dtypes() -> list[Any]:
    params = [pytest.param(("numpy", "float16"), id="numpy-float16")]
    for dtype in ("float16", "bfloat16"):
        params.append(pytest.param(("torch", dtype), id=f"torch-{dtype}"))
    params.append(pytest.param(("cupy", "float16"), id="cupy-float16"))
    return params


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@pytest.mark.parametrize("jac_mode", ["analytic", "2-point"])
@pytest.mark.parametrize("where", _narrow_dtypes())
def test_narrow_start_is_optimised_in_float32_and_returned_in_its_dtype(
    where: tuple[str, str], jac_mode: str
) -> None:
    """float16 inner products overflow at gradients of a few tens (Rastrigin at 2.2 has
    |grad f| = 64): the run is made in float32, fun sees the start's dtype."""
    backend = make_backend(where[0], None)
    xp = backend.xp
    dtype = getattr(xp, where[1], None) or getattr(importlib.import_module(where[0]), where[1])
    x0 = xp.asarray(backend.asarray([2.2, 2.2, 2.2]), dtype=dtype)
    dtype = x0.dtype
    seen = set()

    def fun(x: Any) -> Any:
        seen.add(x.dtype)
        return rastrigin(x)

    jac = rastrigin.jac if jac_mode == "analytic" else "2-point"
    res = roll(fun, x0, jac=jac, maxiter=60, radius=0.5, lr=0.05)
    assert seen == {dtype}
    for name in ("x", "jac", "x_last"):
        assert res[name].dtype == dtype
    assert res.fun < 0.2 * float(rastrigin(x0))
    assert res.status != int(rbo.Status.NONFINITE)


def test_narrow_start_steps_in_float32_in_the_stepper() -> None:
    x0 = np.full(3, 2.2, dtype=np.float16)
    seen = set()

    def fg(x: Any) -> Any:
        seen.add(x.dtype)
        return rastrigin.value_and_grad(x)

    opt = rbo.RollingBall(x0, radius=0.5, lr=0.05)
    for _ in range(30):
        opt.step(fg)
    assert seen == {np.dtype(np.float16)}
    assert opt.x.dtype == opt.best.x.dtype == np.float16
    assert opt.status is None
    assert opt.best.fun < 0.2 * float(rastrigin(x0))


def test_integer_start_becomes_the_default_float_dtype(backend: Backend) -> None:
    xp = backend.xp
    fun, jac = _quadratic(backend)
    x0 = backend.asarray([1, -2], dtype=xp.int64)
    res = roll(fun, x0, jac=jac, maxiter=5, **QUICK)
    default = xp.__array_namespace_info__().default_dtypes(device=backend.device)
    assert res.x.dtype == default["real floating"]
    assert res.jac.dtype == default["real floating"]
    reference = xp.asarray([0.0], dtype=default["real floating"], device=backend.device)
    assert_array_like(res.x, reference)
    assert type(res.fun) is float


def test_integer_start_on_numpy_becomes_float64() -> None:
    res = roll(lambda x: np.sum(x * x), np.array([1, -2]), jac=lambda x: 2 * x, maxiter=3, **QUICK)
    assert res.x.dtype == np.float64


def test_list_start_gives_numpy_arrays() -> None:
    res = roll(lambda x: float(x @ x), X0, jac=lambda x: 2 * x, **QUICK)
    for name in ("x", "jac", "x_last"):
        assert isinstance(res[name], np.ndarray)
        assert res[name].dtype == np.float64
    assert type(res.fun) is float
    assert res.success


def test_scalar_start_is_one_dimensional() -> None:
    res = roll(lambda x: float(x @ x), 1.5, jac=lambda x: 2 * x, maxiter=2, **QUICK)
    assert isinstance(res.x, np.ndarray)
    assert res.x.shape == (1,)


def test_start_array_is_not_modified(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    roll(fun, x0, jac=jac, maxiter=5, **QUICK)
    assert _values(x0) == X0


# --------------------------------------------------------------------------------------
# 2. Result keys and evaluation counts
# --------------------------------------------------------------------------------------

RESULT_KEYS = {
    "x",
    "fun",
    "jac",
    "nit",
    "nfev",
    "njev",
    "status",
    "success",
    "message",
    "x_last",
    "fun_last",
}


def test_result_has_all_contract_keys(numpy_backend: Backend) -> None:
    fun, jac = _quadratic(numpy_backend)
    res = roll(fun, numpy_backend.asarray(X0), jac=jac, **QUICK)
    assert isinstance(res, OptimizeResult)
    assert RESULT_KEYS <= set(res.keys())
    assert isinstance(res.nit, int)
    assert isinstance(res.nfev, int)
    assert isinstance(res.njev, int)
    assert isinstance(res.status, int)
    assert isinstance(res.success, bool)
    assert isinstance(res.message, str)
    assert res.message


def test_callable_jac_counts_every_evaluation_once(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    counted_fun, fun_points = _counted(fun)
    counted_jac, jac_points = _counted(jac)
    res = roll(counted_fun, backend.asarray(X0), jac=counted_jac, maxiter=8, **QUICK)
    assert res.nfev == len(fun_points) > res.nit
    assert res.njev == len(jac_points)
    assert res.nfev == res.njev


def test_jac_true_costs_one_call_per_point(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    counted, points = _counted(lambda x: (fun(x), jac(x)))
    res = roll(counted, backend.asarray(X0), jac=True, maxiter=8, **QUICK)
    assert res.nit == 8
    assert res.nfev == res.njev == len(points)
    callable_run = roll(fun, backend.asarray(X0), jac=jac, maxiter=8, **QUICK)
    assert res.nfev == callable_run.nfev
    assert _values(res.x) == _values(callable_run.x)


def _weighted_quadratic(backend: Backend) -> tuple[Callable[..., Any], Callable[..., Any]]:
    xp = backend.xp
    c = backend.asarray([1.0, 2.0, 3.0])
    return (lambda x: xp.sum(c * x * x)), (lambda x: 2 * c * x)


@pytest.mark.parametrize(("jac_mode", "rel"), [(None, 1e-6), ("2-point", 1e-6), ("3-point", 1e-8)])
def test_finite_difference_gradient_matches_the_analytic_one(
    backend: Backend, jac_mode: str | None, rel: float
) -> None:
    fun, grad = _weighted_quadratic(backend)
    x0 = backend.asarray([1.0, -2.0, 0.5])
    res = roll(fun, x0, jac=jac_mode, maxiter=0)
    assert res.status == int(rbo.Status.MAXITER)
    assert_array_like(res.jac, x0)
    assert _values(res.jac) == pytest.approx(_values(grad(x0)), rel=rel)


@pytest.mark.parametrize(
    ("jac_mode", "calls_per_gradient"), [(None, 4), ("2-point", 4), ("3-point", 7)]
)
def test_finite_difference_calls_count_in_nfev(
    backend: Backend, jac_mode: str | None, calls_per_gradient: int
) -> None:
    fun, _ = _weighted_quadratic(backend)
    counted, points = _counted(fun)
    res = roll(counted, backend.asarray([1.0, -2.0, 0.5]), jac=jac_mode, maxiter=3, **QUICK)
    assert res.nit == 3
    assert res.njev > res.nit
    assert res.nfev == len(points)
    assert res.nfev == calls_per_gradient * res.njev


def test_jac_none_is_forward_differences(numpy_backend: Backend) -> None:
    fun, _ = _weighted_quadratic(numpy_backend)
    x0 = numpy_backend.asarray([1.0, -2.0, 0.5])
    default = roll(fun, x0, jac=None, maxiter=5, **QUICK)
    forward = roll(fun, x0, jac="2-point", maxiter=5, **QUICK)
    assert default.nfev == forward.nfev
    np.testing.assert_array_equal(default.x, forward.x)


def test_finite_difference_run_converges(numpy_backend: Backend) -> None:
    fun, _ = _weighted_quadratic(numpy_backend)
    res = roll(
        fun, numpy_backend.asarray([1.0, -2.0, 0.5]), jac="3-point", gtol=1e-5, radius=0.1, lr=0.05
    )
    assert res.status == int(rbo.Status.GTOL)
    assert res.fun < 1e-9


# --------------------------------------------------------------------------------------
# 3. The best point
# --------------------------------------------------------------------------------------


def test_result_is_no_worse_than_any_visited_contact_point(backend: Backend) -> None:
    xp = backend.xp

    def double_well(x: Any) -> Any:
        return xp.sum((x * x - 1.0) ** 2)

    def grad(x: Any) -> Any:
        return 4.0 * x * (x * x - 1.0)

    callback, seen = _recorder()
    x0 = backend.asarray([0.5, -0.3])
    res = roll(double_well, x0, jac=grad, radius=0.1, lr=0.3, maxiter=15, callback=callback)
    assert seen
    assert res.fun <= min(r.fun for r in seen)
    assert res.fun <= float(double_well(x0))
    assert res.fun <= res.fun_last
    assert res.fun == pytest.approx(float(double_well(res.x)), rel=1e-12, abs=0)


def test_bouncing_run_returns_the_earlier_better_point(backend: Backend) -> None:
    """A ball as large as the bowl with a large lr bounces from wall to wall: the last
    iterate is worse than the first step, and the result is no worse than that first step
    (a projection's trial point evaluated on the way may be better still)."""
    fun, jac = _quadratic(backend)
    callback, seen = _recorder()
    res = roll(
        fun, backend.asarray([1.0]), jac=jac, radius=1.0, lr=1.0, maxiter=10, callback=callback
    )
    assert res.status == int(rbo.Status.MAXITER)
    assert res.fun_last > 2 * res.fun
    best = min(seen, key=lambda r: r.fun)
    assert best.nit < res.nit
    assert res.fun <= best.fun
    assert res.fun == float(fun(res.x))
    assert _values(res.x) != _values(res.x_last)
    assert _values(res.jac) == pytest.approx(_values(jac(res.x)))


# --------------------------------------------------------------------------------------
# 4. Callbacks
# --------------------------------------------------------------------------------------


def test_intermediate_result_callback_gets_the_documented_fields(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    callback, seen = _recorder()
    res = roll(fun, x0, jac=jac, callback=callback, **QUICK)
    assert len(seen) == res.nit > 0
    for k, ir in enumerate(seen, start=1):
        assert isinstance(ir, OptimizeResult)
        assert {"x", "fun", "nit", "center", "radius", "lr", "proj_residual"} <= set(ir.keys())
        assert ir.nit == k
        assert_array_like(ir.x, x0)
        assert type(ir.fun) is float
        assert ir.fun == pytest.approx(float(fun(ir.x)), rel=1e-12, abs=1e-300)
        assert ir.radius == 0.1
        assert ir.lr == 0.2
        assert isinstance(ir.proj_residual, float)
        cx, cy = ir.center
        assert_array_like(cx, x0)
        assert tuple(cy.shape) == ()
    assert _values(seen[-1].x) == _values(res.x_last)


def test_xk_callback_gets_the_current_point(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    points: list[Any] = []
    res = roll(fun, x0, jac=jac, callback=points.append, return_trajectory=True, **QUICK)
    assert len(points) == res.nit > 0
    for xk in points:
        assert_array_like(xk, x0)
    for k, xk in enumerate(points, start=1):
        assert _values(xk) == _values(res.trajectory.x[k, :])
    assert _values(points[-1]) == _values(res.x_last)


def test_named_xk_callback_is_not_given_an_intermediate_result(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    got: list[Any] = []

    def callback(xk: Any) -> None:
        got.append(xk)

    roll(fun, x0, jac=jac, callback=callback, maxiter=3, **QUICK)
    assert len(got) == 3
    assert not isinstance(got[0], OptimizeResult)
    assert_array_like(got[0], x0)


def test_callback_stop_iteration_ends_with_status_99_and_the_best_point(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    seen: list[OptimizeResult] = []

    def callback(intermediate_result: OptimizeResult) -> None:
        seen.append(intermediate_result)
        if len(seen) == 3:
            raise StopIteration

    res = roll(fun, backend.asarray([1.0]), jac=jac, radius=1.0, lr=1.0, callback=callback)
    assert res.status == int(rbo.Status.CALLBACK) == 99
    assert res.success is False
    assert res.nit == len(seen) == 3
    best = min(seen, key=lambda r: r.fun)
    assert res.fun <= best.fun  # or a better trial point evaluated on the way
    assert res.fun == float(fun(res.x))
    assert res.fun_last == seen[-1].fun


def test_callback_is_called_once_per_iteration(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    calls = []
    res = roll(
        fun,
        backend.asarray(X0),
        jac=jac,
        maxiter=7,
        callback=lambda xk: calls.append(1),
        radius=1.0,
        lr=0.01,
    )
    assert res.status == int(rbo.Status.MAXITER)
    assert res.nit == len(calls) == 7


def test_non_callable_callback_is_rejected() -> None:
    with pytest.raises(TypeError, match="callback"):
        roll(lambda x: float(x @ x), X0, jac=lambda x: 2 * x, callback=3)


# --------------------------------------------------------------------------------------
# 5. Stopping
# --------------------------------------------------------------------------------------


def test_gtol_on_a_quadratic_is_success_with_status_0(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    res = roll(fun, backend.asarray(X0), jac=jac, gtol=1e-6, **QUICK)
    assert res.status == int(rbo.Status.GTOL) == 0
    assert res.success is True
    assert math.sqrt(sum(v * v for v in _values(res.jac))) <= 1e-6
    assert res.fun < 1e-12


def test_start_at_a_minimum_stops_before_any_step(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    res = roll(fun, backend.asarray([0.0, 0.0]), jac=jac)
    assert res.status == int(rbo.Status.GTOL)
    assert res.success is True
    assert (res.nit, res.nfev, res.njev) == (0, 1, 1)
    assert res.fun == 0.0


@pytest.mark.parametrize("method", ["rbo", "lbfgs", "sgd", "sam", "entropy-sgd"])
@pytest.mark.parametrize("how", [{"gtol": 0}, {"tol": 0}])
def test_gtol_zero_stops_at_an_exactly_zero_gradient(
    backend: Backend, method: str, how: dict[str, float]
) -> None:
    # |g| <= 0 holds at a minimum met exactly: the run ends there, a success, instead of
    # stepping on until maxiter. (RBO's default rolls on from the minimum its local phase
    # found, as it does from any, until the ball rests.)
    fun, jac = _quadratic(backend)
    res = rbo.minimize(
        fun, backend.asarray([0.0, 0.0]), jac=jac, method=method, xtol=0, patience=None,
        maxiter=500, **how,
    )  # fmt: skip
    assert (res.status, res.success, res.fun) == (0, True, 0.0)
    assert res.nit < 500
    if method != "rbo":
        assert (res.nit, res.nfev) == (0, 1)


@pytest.mark.parametrize("method", ["rbo", "lbfgs", "sgd", "sam", "entropy-sgd"])
@pytest.mark.parametrize("polish", [True, False])
def test_nan_gradient_at_the_start_ends_at_once_as_nonfinite(
    backend: Backend, method: str, polish: bool
) -> None:
    xp = backend.xp
    fun, _ = _quadratic(backend)
    x0 = backend.asarray(X0)
    res = rbo.minimize(
        fun, x0, jac=lambda x: xp.full_like(x, math.nan), method=method, polish=polish
    )
    assert (res.status, res.nfev, res.fun) == (int(rbo.Status.NONFINITE), 1, 5.0)
    assert res.message.startswith(rbo.Status.NONFINITE.message)
    assert "gradient at x0" in res.message
    assert_array_like(res.x, x0)


def test_nan_gradient_at_the_start_ends_only_its_own_row() -> None:
    def jac(x: Any) -> Any:
        g = 2 * x
        g[0] = np.nan
        return g

    res = roll(lambda x: np.sum(x * x, axis=-1), np.ones((3, 2)), jac=jac, vectorized=True, **QUICK)
    assert res.status.tolist()[0] == int(rbo.Status.NONFINITE)
    assert res.status.tolist()[1:] == [0, 0]
    assert "gradient at x0" in res.message[0] and res.message[1] == rbo.Status.GTOL.message


def test_xtol_stops_with_status_3(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    callback, seen = _recorder()
    res = roll(
        fun,
        backend.asarray(X0),
        jac=jac,
        gtol=0,
        xtol=1e-6,
        patience=None,
        callback=callback,
        **QUICK,
    )
    assert res.status == int(rbo.Status.XTOL) == 3
    assert res.success is False  # at rest, but |g| was not shown to be below gtol
    last_step = [a - b for a, b in zip(_values(seen[-1].x), _values(seen[-2].x), strict=True)]
    xnorm = math.sqrt(sum(v * v for v in _values(res.x_last)))
    assert math.sqrt(sum(v * v for v in last_step)) <= 1e-6 * (1 + xnorm)


def test_maxiter_stops_with_status_1(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    res = roll(fun, backend.asarray(X0), jac=jac, maxiter=4, radius=1.0, lr=0.01)
    assert res.status == int(rbo.Status.MAXITER) == 1
    assert res.success is False
    assert res.nit == 4


def test_maxiter_zero_evaluates_only_the_start(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    x0 = backend.asarray(X0)
    res = roll(fun, x0, jac=jac, maxiter=0)
    assert res.status == int(rbo.Status.MAXITER)
    assert res.nit == 0
    assert res.nfev == 1
    assert _values(res.x) == X0
    assert res.fun == 5.0


def test_maxfev_stops_with_status_2_without_exceeding_it(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    callback, seen = _recorder()
    maxfev = 20
    res = roll(
        fun, backend.asarray(X0), jac=jac, maxfev=maxfev, callback=callback, radius=1.0, lr=0.01
    )
    assert res.status == int(rbo.Status.MAXFEV) == 2
    assert res.success is False
    counts = [1] + [r.nfev for r in seen]
    step_costs = [b - a for a, b in itertools.pairwise(counts)]
    # The step that would overrun is cut short: its calls count, none beyond maxfev.
    assert counts[-1] <= res.nfev <= maxfev
    assert maxfev - counts[-1] <= 2 * max(step_costs)


def test_patience_stops_a_stalled_run_with_status_4(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    callback, seen = _recorder()
    res = roll(
        fun, backend.asarray(X0), jac=jac, gtol=0, xtol=0, patience=5, callback=callback, **QUICK
    )
    assert res.status == int(rbo.Status.STAGNATION) == 4
    assert res.success is False  # stalled, but |g| was not shown to be below gtol
    assert res.nit < 1000
    # The last `patience` iterations improved the best value by at most ftol (absolute
    # below 1).
    before = min([5.0] + [r.fun for r in seen[:-5]])
    assert before - res.fun <= 1e-10


def test_patience_none_never_stops_for_stagnation(numpy_backend: Backend) -> None:
    fun, jac = _quadratic(numpy_backend)
    x0 = numpy_backend.asarray(X0)
    options = {"gtol": 0, "xtol": 0, "maxiter": 40, **QUICK}
    patient = roll(fun, x0, jac=jac, patience=5, **options)
    assert patient.status == int(rbo.Status.STAGNATION)
    assert patient.nit < 40
    res = roll(fun, x0, jac=jac, patience=None, **options)
    assert res.status == int(rbo.Status.MAXITER)
    assert res.nit == 40


def test_tol_sets_gtol(numpy_backend: Backend) -> None:
    fun, jac = _quadratic(numpy_backend)
    x0 = numpy_backend.asarray(X0)
    default = roll(fun, x0, jac=jac, **QUICK)
    loose = roll(fun, x0, jac=jac, tol=1e-2, xtol=0, **QUICK)
    assert loose.status == int(rbo.Status.GTOL)
    assert math.sqrt(sum(v * v for v in _values(loose.jac))) <= 1e-2
    assert loose.nit < default.nit


def test_tol_also_sets_xtol_where_not_given(numpy_backend: Backend) -> None:
    fun, jac = _quadratic(numpy_backend)
    x0 = numpy_backend.asarray(X0)
    via_tol = roll(fun, x0, jac=jac, tol=0.5, **QUICK)
    explicit = roll(fun, x0, jac=jac, gtol=0.5, xtol=0.5, **QUICK)
    assert (via_tol.nit, via_tol.status) == (explicit.nit, explicit.status)
    np.testing.assert_array_equal(via_tol.x, explicit.x)


# --------------------------------------------------------------------------------------
# 6. Schedules
# --------------------------------------------------------------------------------------


def test_schedules_are_called_with_successive_iterations(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    radius_calls: list[int] = []
    lr_calls: list[int] = []

    def radius(k: int) -> float:
        radius_calls.append(k)
        return 0.1 / (1 + k)

    def lr(k: int) -> float:
        lr_calls.append(k)
        return 0.2

    callback, seen = _recorder()
    res = roll(
        fun, backend.asarray(X0), jac=jac, radius=radius, lr=lr, maxiter=6, callback=callback
    )
    assert res.nit == 6
    for calls in (radius_calls, lr_calls):
        assert calls[0] == 0
        assert calls == sorted(calls)
        assert sorted(set(calls)) == list(range(6))
    assert [ir.radius for ir in seen] == pytest.approx([0.1 / (1 + k) for k in range(6)])


@pytest.mark.parametrize("name", ["radius", "lr"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_schedule_returning_a_non_positive_value_raises(name: str, bad: float) -> None:
    def schedule(k: int) -> float:
        return 0.1 if k < 2 else bad

    with pytest.raises(ValueError, match=f"{name} schedule"):
        roll(lambda x: float(x @ x), X0, jac=lambda x: 2 * x, **{name: schedule})


@pytest.mark.parametrize("name", ["radius", "lr"])
def test_schedule_rejected_at_the_first_iteration(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} schedule"):
        roll(lambda x: float(x @ x), X0, jac=lambda x: 2 * x, **{name: lambda k: 0})


# --------------------------------------------------------------------------------------
# 7. Bad input
# --------------------------------------------------------------------------------------


def _fun(x: Any) -> Any:
    return float(np.sum(x * x))


def _jac(x: Any) -> Any:
    return 2 * x


@pytest.mark.parametrize(
    ("values", "dtype", "error", "match"),
    [
        ([1.0, math.nan], "float64", ValueError, "x0 must be finite"),
        ([math.inf, 1.0], "float64", ValueError, "x0 must be finite"),
        ([-math.inf], "float64", ValueError, "x0 must be finite"),
        ([1.0, 2.0], "complex128", TypeError, "complex"),
        ([True, False], "bool", TypeError, "bool"),
        ([[1.0, 2.0], [3.0, 4.0]], "float64", ValueError, r"shape \(n,\)"),
        ([], "float64", ValueError, "empty"),
    ],
)
def test_bad_start_is_rejected_on_every_backend(
    backend: Backend, values: list[Any], dtype: str, error: type[Exception], match: str
) -> None:
    xp = backend.xp
    x0 = backend.asarray(values, dtype=getattr(xp, dtype))
    with pytest.raises(error, match=match):
        roll(lambda x: xp.sum(x * x), x0, jac=lambda x: 2 * x)


@pytest.mark.parametrize(
    ("x0", "error", "match"),
    [
        ([1.0, math.nan], ValueError, "x0 must be finite"),
        ([1.0, math.inf], ValueError, "x0 must be finite"),
        ([1 + 2j, 1.0], TypeError, "complex"),
        ([True, False], TypeError, "bool"),
        (True, TypeError, "bool"),
        ([[1.0, 2.0]], ValueError, "shape"),
        ([], ValueError, "empty"),
        ("abc", TypeError, "x0"),
    ],
)
def test_bad_list_start_is_rejected(x0: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        roll(_fun, x0, jac=_jac)


def test_non_callable_fun_is_rejected() -> None:
    with pytest.raises(TypeError, match="fun must be callable"):
        roll(3.0, X0, jac=_jac)


def test_fun_returning_a_vector_is_rejected(backend: Backend) -> None:
    x0 = backend.asarray([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"fun must return shape .*got shape \(3,\)"):
        roll(lambda x: x * x, x0, jac=lambda x: 2 * x)


@pytest.mark.parametrize(
    ("value", "match"), [((1.0, 2.0), "real scalar"), (1j, "real scalar"), (True, "real scalar")]
)
def test_fun_returning_a_non_real_scalar_is_rejected(value: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        roll(lambda x: value, X0, jac=_jac)


def test_fun_returning_a_torch_vector_for_numpy_start_is_rejected() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"fun returned a torch\.Tensor.*own namespace"):
        roll(lambda x: torch.sum(torch.as_tensor(x) ** 2).reshape(1), np.array(X0), jac=_jac)


def test_fun_returning_a_numpy_vector_for_strict_start_is_rejected() -> None:
    strict = pytest.importorskip("array_api_strict")
    x0 = strict.asarray(X0)
    with pytest.raises(TypeError, match=r"fun returned a numpy\.ndarray.*own namespace"):
        roll(lambda x: np.asarray([1.0]), x0, jac=lambda x: 2 * x)


def test_jac_returning_numpy_for_strict_start_is_rejected() -> None:
    strict = pytest.importorskip("array_api_strict")
    x0 = strict.asarray(X0)
    with pytest.raises(TypeError, match=r"gradient is a numpy\.ndarray.*own namespace"):
        roll(lambda x: strict.sum(x * x), x0, jac=lambda x: np.asarray([1.0, 1.0]))


def test_jac_returning_the_wrong_shape_is_rejected(backend: Backend) -> None:
    xp = backend.xp
    x0 = backend.asarray(X0)
    with pytest.raises(ValueError, match=r"gradient must have x's shape \(2,\); got \(1,\)"):
        roll(lambda x: xp.sum(x * x), x0, jac=lambda x: 2 * x[:1])


def test_jac_true_without_a_pair_is_rejected() -> None:
    with pytest.raises(TypeError, match="pair"):
        roll(_fun, X0, jac=True)


@pytest.mark.parametrize("jac", ["bogus", "cs", 3])
def test_unknown_jac_is_rejected(jac: Any) -> None:
    with pytest.raises(ValueError, match="jac must be"):
        roll(_fun, X0, jac=jac)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"radius": 0.0}, ValueError, "radius"),
        ({"radius": -1.0}, ValueError, "radius"),
        ({"radius": math.nan}, ValueError, "radius"),
        ({"radius": math.inf}, ValueError, "radius"),
        ({"radius": "1"}, TypeError, "radius"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -0.1}, ValueError, "lr"),
        ({"lr": math.nan}, ValueError, "lr"),
        ({"maxiter": -1}, ValueError, "maxiter"),
        ({"maxiter": 1.5}, TypeError, "maxiter"),
        ({"maxiter": True}, TypeError, "maxiter"),
        ({"maxfev": 0}, ValueError, "maxfev"),
        ({"maxfev": 2.0}, TypeError, "maxfev"),
        ({"patience": 0}, ValueError, "patience"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"gtol": math.nan}, ValueError, "gtol"),
        ({"radus": 1}, TypeError, "radus"),
        ({"method": "bogus"}, ValueError, "unknown method 'bogus'"),
        ({"projection": "bogus"}, ValueError, "projection"),
    ],
)
def test_bad_option_is_rejected_by_name(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    calls = []

    def fun(x: Any) -> float:
        calls.append(x)
        return _fun(x)

    with pytest.raises(error, match=match):
        roll(fun, X0, jac=_jac, **options)
    assert calls == []


@pytest.mark.parametrize(
    "options", [{"radius": np.float32(0.1)}, {"tol": np.float32(1e-3)}], ids=["radius", "tol"]
)
def test_numpy_float32_scalars_are_accepted_as_numbers(options: dict[str, Any]) -> None:
    res = rbo.minimize(_fun, X0, jac=_jac, **{**QUICK, **options})
    assert res.success


def test_numpy_scalar_options_of_python_types_are_accepted() -> None:
    res = roll(_fun, X0, jac=_jac, radius=np.float64(0.1), lr=np.float64(0.2), maxiter=np.int32(5))
    assert res.nit == 5


def test_method_name_is_case_insensitive() -> None:
    res = rbo.minimize(_fun, X0, jac=_jac, method="RBO", **QUICK)
    assert res.success


# --------------------------------------------------------------------------------------
# 8. Non-finite values during a run
# --------------------------------------------------------------------------------------


def test_nan_outside_a_region_still_gives_a_finite_best_point(backend: Backend) -> None:
    xp = backend.xp
    nan_calls = []

    def fun(x: Any) -> Any:
        s = xp.sum(x * x)
        if bool(xp.all(xp.abs(x) < 3.0)):
            return s
        nan_calls.append(x)
        return s * math.nan

    x0 = backend.asarray([2.9])
    res = roll(fun, x0, jac=lambda x: 2 * x, radius=0.1, lr=10.0, maxiter=20)
    assert nan_calls  # the steps did leave the region
    # NaN there only halves the step: the run goes on to its step budget, not status 5.
    assert res.status == int(rbo.Status.MAXITER), res.message
    assert res.nit == 20
    assert all(math.isfinite(v) and abs(v) < 3.0 for v in _values(res.x))
    assert math.isfinite(res.fun) and res.fun < 0.1 * 2.9**2
    calls = len(nan_calls)
    assert res.fun == float(fun(res.x))  # x evaluates to fun, exactly
    assert len(nan_calls) == calls


def test_nan_everywhere_but_the_start_ends_with_status_5(backend: Backend) -> None:
    xp = backend.xp
    x0 = backend.asarray([0.5, -1.0])

    def fun(x: Any) -> Any:
        s = xp.sum(x * x)
        return s if bool(xp.all(x == x0)) else s * math.nan

    res = roll(fun, x0, jac=lambda x: 2 * x, **QUICK)
    assert res.status == int(rbo.Status.NONFINITE) == 5
    assert res.success is False
    assert res.fun == 1.25
    assert _values(res.x) == [0.5, -1.0]
    assert_array_like(res.x, x0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_fun_at_start_raises(backend: Backend, value: float) -> None:
    xp = backend.xp
    with pytest.raises(ValueError, match=r"fun\(x0\) must be finite"):
        roll(lambda x: xp.sum(x) * value, backend.asarray(X0), jac=lambda x: 2 * x)


# --------------------------------------------------------------------------------------
# 9. Exceptions raised by fun
# --------------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_exception_in_fun_propagates_with_the_best_result_so_far(backend: Backend) -> None:
    fun, jac = _quadratic(backend)
    calls = []

    def failing(x: Any) -> Any:
        calls.append(x)
        if len(calls) > 15:
            raise Boom("objective failed")
        return fun(x)

    callback, seen = _recorder()
    with pytest.raises(Boom, match="objective failed") as info:
        roll(failing, backend.asarray(X0), jac=jac, callback=callback, **QUICK)
    res = info.value.rbo_result
    assert isinstance(res, OptimizeResult)
    assert seen
    assert res.status == int(rbo.Status.ERROR) == 7
    assert res.success is False
    assert "Boom" in res.message
    assert math.isfinite(res.fun)
    assert res.fun <= min(r.fun for r in seen)
    assert res.fun == float(fun(res.x))
    assert res.fun < 5.0
    assert_array_like(res.x, backend.asarray(X0))
    assert res.nfev == 16


def test_exception_on_the_first_step_returns_the_start() -> None:
    calls = []

    def failing(x: Any) -> float:
        calls.append(x)
        if len(calls) > 1:
            raise Boom("second call")
        return _fun(x)

    with pytest.raises(Boom) as info:
        roll(failing, X0, jac=_jac)
    res = info.value.rbo_result
    assert res.status == 7
    assert res.fun == 5.0
    np.testing.assert_array_equal(res.x, X0)


@pytest.mark.parametrize("method", ["rbo", "lbfgs", "sgd"])
@pytest.mark.parametrize("polish", [True, False])
def test_an_error_in_the_first_gradient_keeps_the_value_without_calling_fun_again(
    method: str, polish: bool
) -> None:
    calls = []

    def fun(x: Any) -> float:
        calls.append(x)
        return _fun(x)

    def jac(x: Any) -> Any:
        raise Boom("jac failed")

    with pytest.raises(Boom) as info:
        rbo.minimize(fun, X0, jac=jac, method=method, polish=polish)
    res = info.value.rbo_result
    assert (res.status, res.fun, len(calls)) == (7, 5.0, 1)


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_an_error_in_the_first_value_calls_fun_once(error: type[BaseException]) -> None:
    calls = []

    def fun(x: Any) -> float:
        calls.append(x)
        raise error("first call")

    with pytest.raises(error) as info:
        rbo.minimize(fun, X0, jac=_jac)
    res = info.value.rbo_result  # type: ignore[attr-defined]
    assert res.status == 7 and math.isnan(res.fun) and len(calls) == 1
    np.testing.assert_array_equal(res.x, X0)


def test_exception_in_callback_propagates_with_the_best_result_so_far() -> None:
    def callback(xk: Any) -> None:
        if float(np.sum(xk * xk)) < 1.0:
            raise Boom("callback failed")

    with pytest.raises(Boom, match="callback failed") as info:
        roll(_fun, X0, jac=_jac, callback=callback, **QUICK)
    res = info.value.rbo_result
    assert res.status == 7
    assert res.fun < 1.0


def test_stop_iteration_from_fun_is_an_error_not_a_callback_stop() -> None:
    calls = []

    def stopping(x: Any) -> float:
        calls.append(x)
        if len(calls) > 3:
            raise StopIteration
        return _fun(x)

    with pytest.raises(StopIteration) as info:
        roll(stopping, X0, jac=_jac, **QUICK)
    assert info.value.rbo_result.status == 7


# --------------------------------------------------------------------------------------
# 10. A diverging fixed-step projection
# --------------------------------------------------------------------------------------


def test_diverging_gd_projection_ends_with_status_6_at_the_start(backend: Backend) -> None:
    xp = backend.xp
    x0 = backend.asarray([1.0, -0.5])
    res = roll(
        lambda x: 50.0 * xp.sum(x * x),
        x0,
        jac=lambda x: 100.0 * x,
        projection="gd",
        proj_step=1.0,
    )
    assert res.status == int(rbo.Status.PROJECTION_FAILED) == 6
    assert res.success is False
    assert "projection" in res.message
    assert res.fun == 62.5
    assert _values(res.x) == [1.0, -0.5]
    assert_array_like(res.x, x0)


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
def test_gd_projection_with_a_small_step_makes_progress(numpy_backend: Backend) -> None:
    fun, jac = _quadratic(numpy_backend)
    res = roll(
        fun,
        numpy_backend.asarray(X0),
        jac=jac,
        projection="gd",
        proj_step=0.1,
        maxiter=30,
        **QUICK,
    )
    assert res.status != int(rbo.Status.PROJECTION_FAILED)
    assert res.fun < 1e-2
