"""L-BFGS (method="lbfgs"): convergence, bounds, batches, NaN and its options."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import rbo
from rbo import LBFGS
from rbo._arrays import dot
from rbo._linesearch import strong_wolfe


def _np(a: Any) -> np.ndarray:
    return rbo.backends.to_host(a)


def bowl(x: Any) -> tuple[Any, Any]:
    xp = array_namespace(x)
    return xp.sum(x * x, axis=-1), 2.0 * x


def rosenbrock(x: Any) -> tuple[Any, Any]:
    xp = array_namespace(x)
    a, b = x[..., :-1], x[..., 1:]
    f = xp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, axis=-1)
    inner = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    outer = 200.0 * (b - a * a)
    zero = xp.zeros_like(x[..., :1])
    g = xp.concat([inner, zero], axis=-1) + xp.concat([zero, outer], axis=-1)
    return f, g


def ill_conditioned(n: int, backend: Any) -> Any:
    scales = backend.asarray(np.logspace(0, 6, n))

    def fg(x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        return 0.5 * xp.sum(scales * x * x, axis=-1), scales * x

    return fg


def grad_norm(res: Any) -> float:
    return float(np.linalg.norm(_np(res.jac)))


@pytest.mark.parametrize("n", [1, 5, 50])
def test_lbfgs_reaches_gtol_on_bowls(backend: Any, n: int) -> None:
    x0 = backend.asarray(np.linspace(-2.0, 3.0, n))
    res = rbo.minimize(bowl, x0, jac=True, method="lbfgs", gtol=1e-8, maxiter=200)
    assert res.status == 0 and grad_norm(res) <= 1e-8
    assert array_namespace(res.x) is backend.xp


def test_lbfgs_reaches_gtol_on_an_ill_conditioned_quadratic(backend: Any) -> None:
    fg = ill_conditioned(8, backend)
    x0 = backend.asarray(np.ones(8))
    res = rbo.minimize(
        fg, x0, jac=True, method="lbfgs", gtol=1e-8, xtol=0, maxiter=2000, patience=None
    )
    assert res.status == 0 and grad_norm(res) <= 1e-8


@pytest.mark.parametrize("n", [2, 10])
def test_lbfgs_reaches_gtol_on_rosenbrock(backend: Any, n: int) -> None:
    x0 = backend.asarray(np.full(n, -1.2) if n == 2 else np.zeros(n))
    res = rbo.minimize(rosenbrock, x0, jac=True, method="lbfgs", gtol=1e-8, xtol=0, maxiter=1000)
    assert res.status == 0 and grad_norm(res) <= 1e-8
    np.testing.assert_allclose(_np(res.x), np.ones(n), atol=1e-7)


def test_lbfgs_uses_about_as_many_evaluations_as_scipy() -> None:
    scipy_optimize = pytest.importorskip("scipy.optimize")
    x0 = np.zeros(10)
    res = rbo.minimize(rosenbrock, x0, jac=True, method="lbfgs", gtol=1e-8, xtol=0, maxiter=1000)
    ref = scipy_optimize.minimize(
        rosenbrock, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 0}
    )
    assert res.nfev <= 1.5 * ref.nfev


class Recorder:
    """An objective that keeps every point it was evaluated at."""

    def __init__(self, fg: Any) -> None:
        self.fg, self.points = fg, []

    def __call__(self, x: Any) -> Any:
        self.points.append(_np(x).copy())
        return self.fg(x)


def shifted_bowl(x: Any) -> tuple[Any, Any]:
    xp = array_namespace(x)
    return xp.sum((x - 3.0) ** 2, axis=-1), 2.0 * (x - 3.0)


def test_lbfgs_finds_a_minimum_on_a_face_exactly_and_stays_in_the_box(backend: Any) -> None:
    rec = Recorder(shifted_bowl)
    x0 = backend.asarray(np.array([0.5, -4.0, 0.2, 7.0]))  # clipped into the box
    with pytest.warns(UserWarning, match="x0 lies outside bounds"):
        res = rbo.minimize(
            rec, x0, jac=True, method="lbfgs", lower=0.0, upper=1.0, gtol=1e-8, xtol=0
        )
    assert res.status == 0
    assert _np(res.x).tolist() == [1.0, 1.0, 1.0, 1.0]
    points = np.array(rec.points)
    assert points.min() >= 0.0 and points.max() <= 1.0


def test_lbfgs_with_bounds_finds_interior_and_face_coordinates(backend: Any) -> None:
    rec = Recorder(rosenbrock)
    lower = np.array([-2.0, -2.0, -2.0, 1.5])
    upper = np.full(4, 2.0)
    x0 = backend.asarray(np.array([0.0, 0.0, 0.0, 1.5]))
    res = rbo.minimize(
        rec, x0, jac=True, method="lbfgs", lower=lower, upper=upper, gtol=1e-8, xtol=0, maxiter=500
    )
    assert res.status == 0
    x = _np(res.x)
    assert x[3] == 1.5  # on its face exactly
    points = np.array(rec.points)
    assert (points >= lower).all() and (points <= upper).all()
    # The projected gradient vanishes: free coordinates have g = 0, the held one g < 0.
    g = _np(res.jac)
    assert np.linalg.norm(g[:3]) <= 1e-8 and g[3] > 0


def test_lbfgs_batched_rows_equal_separate_runs(backend: Any) -> None:
    starts = np.array([[-1.2, 1.0, 0.5], [0.0, 0.0, 0.0], [2.0, -1.0, 1.0]])
    batch = rbo.minimize(
        rosenbrock,
        backend.asarray(starts),
        jac=True,
        method="lbfgs",
        gtol=1e-8,
        vectorized=True,
        maxiter=500,
    )
    for i, start in enumerate(starts):
        one = rbo.minimize(
            rosenbrock,
            backend.asarray(start),
            jac=True,
            method="lbfgs",
            gtol=1e-8,
            xtol=0,
            maxiter=500,
        )
        np.testing.assert_allclose(_np(batch.x)[i], _np(one.x), rtol=0, atol=1e-12)
        assert int(_np(batch.nit)[i]) == one.nit


def _wrong_gradient(x: Any) -> tuple[Any, Any]:
    """A bowl whose gradient points uphill: every line search fails."""
    xp = array_namespace(x)
    return xp.sum(x * x, axis=-1), -2.0 * x + 0.1


@pytest.mark.parametrize(
    "fg, start, options",
    [
        (rosenbrock, np.linspace(-1.0, 1.0, 10), {"method": "lbfgs"}),
        (rosenbrock, np.zeros(6), {"method": "lbfgs", "bounds": [(-0.5, 0.7)] * 6}),
        (rosenbrock, np.zeros(12), {"method": "lbfgs", "m": 3, "gtol": 1e-10}),
        (_wrong_gradient, np.ones(3), {"method": "lbfgs"}),
        (_wrong_gradient, np.ones(3), {"method": "lbfgs", "bounds": [(-2.0, 2.0)] * 3}),
        (rbo.problems.rastrigin.value_and_grad, np.full(5, 2.2), {}),
    ],
    ids=["rosenbrock", "bounded", "m3", "uphill", "uphill-bounded", "rbo"],
)
def test_single_run_takes_the_very_steps_of_a_batch_of_one(
    backend: Any, fg: Any, start: np.ndarray, options: dict[str, Any]
) -> None:
    # A single float64 run on the host keeps its scalars as Python floats; a batch runs
    # the array code. Both are the same IEEE arithmetic, so they take the same steps; the
    # values agree to rounding, as the BLAS kernel picked for the CPU may sum a stack of
    # one product in another order than the product alone (torch sums a batch's rows in
    # another order than one row, and a device run takes neither host path).
    if backend.name not in ("numpy", "strict-cpu"):
        pytest.skip("a batch's sums round as one row's only on NumPy")
    one = rbo.minimize(fg, backend.asarray(start), jac=True, **options)
    batch = rbo.minimize(fg, backend.asarray(start[None]), jac=True, vectorized=True, **options)
    assert (one.nfev, one.nit, one.status) == (
        batch.nfev,
        int(_np(batch.nit)[0]),
        int(_np(batch.status)[0]),
    )
    close = {"rtol": 1e-13, "atol": 1e-300}
    np.testing.assert_allclose(one.fun, float(_np(batch.fun)[0]), **close)
    np.testing.assert_allclose(one.fun_last, float(_np(batch.fun_last)[0]), **close)
    np.testing.assert_allclose(_np(one.x), _np(batch.x)[0], **close)
    np.testing.assert_allclose(_np(one.x_last), _np(batch.x_last)[0], **close)


@pytest.mark.parametrize("n", [1, 3, 10, 17, 1000, 5000])
def test_a_batch_row_product_is_the_sum_of_a_single_runs(backend: Any, n: int) -> None:
    # A batch's inner products are dot (vecdot), a single run's a 1-D a @ b: the same
    # steps need the same sum, to the last bit, for every length.
    if backend.name not in ("numpy", "strict-cpu"):
        pytest.skip("a batch's sums round as one row's only on NumPy")
    rng = np.random.default_rng(n)
    a, b = (backend.asarray(rng.standard_normal((4, n))) for _ in range(2))
    rows = _np(dot(a, b))
    for i in range(4):
        assert float(a[i, :] @ b[i, :]) == rows[i]


def test_lbfgs_freezes_finished_rows(backend: Any) -> None:
    solver = LBFGS()
    x0 = backend.asarray(np.array([[1.0, 2.0], [3.0, -1.0]]))
    state = solver.init(bowl, x0)
    xp = backend.xp
    active = xp.asarray([False, True], device=backend.device)
    new = solver.step(bowl, state, active=active)
    assert _np(new.x)[0].tolist() == [1.0, 2.0]
    assert _np(new.f)[0] == 5.0 and _np(new.step_norm)[0] == 0.0
    assert float(_np(new.rho)[0].max()) == 0.0  # no pair stored for the frozen row
    assert _np(new.f)[1] < 10.0


def test_lbfgs_line_search_shrinks_the_step_on_nan(backend: Any) -> None:
    def guarded(x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        f, g = shifted_bowl(x)
        bad = xp.any(x > 3.5, axis=-1)
        nan = xp.full_like(f, float("nan"))
        return xp.where(bad, nan, f), g

    x0 = backend.asarray(np.zeros(1))
    res = rbo.minimize(guarded, x0, jac=True, method="lbfgs", gtol=1e-8, maxiter=100)
    assert res.status == 0
    np.testing.assert_allclose(_np(res.x), [3.0], atol=1e-8)


def test_strong_wolfe_meets_both_conditions_after_nan(backend: Any) -> None:
    def guarded(x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        f, g = shifted_bowl(x)
        return xp.where(x[..., 0] > 4.0, xp.full_like(f, float("inf")), f), g

    x = backend.asarray(np.zeros(1))
    f, g = guarded(x)
    d = -g
    slope = backend.xp.sum(g * d)
    alpha = backend.asarray(1.0)  # x + d = 6 is infinite
    todo = backend.xp.asarray(True, device=backend.device)
    found, a = strong_wolfe(guarded, x, f, g, d, slope, alpha, todo, c1=1e-4, c2=0.9, maxls=20)
    assert bool(found.moved)
    step = float(_np(a))
    assert 0 < step < 1
    assert float(_np(found.f)) <= float(_np(f)) + 1e-4 * step * float(_np(slope))
    assert abs(float(_np(backend.xp.sum(found.g * d)))) <= 0.9 * abs(float(_np(slope)))


def test_lbfgs_reports_a_row_that_cannot_descend() -> None:
    # A gradient that lies: f only increases along -g, so no step can lower it.
    def liar(x: Any) -> tuple[Any, Any]:
        return float(x @ x), -2.0 * x

    res = rbo.minimize(liar, np.ones(2), jac=True, method="lbfgs", maxiter=20)
    assert not res.success and res.nit == 0
    assert np.array_equal(res.x, np.ones(2))  # the best point is kept


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"m": 0}, ValueError, "m must be >= 1"),
        ({"m": 2.5}, TypeError, "m must be an integer"),
        ({"maxls": 0}, ValueError, "maxls"),
        ({"c1": 0.0}, ValueError, "c1 must be in"),
        ({"c2": 1.0}, ValueError, "c2 must be in"),
        ({"c1": 0.5, "c2": 0.4}, ValueError, "c1 must be < c2"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"lower": "a"}, TypeError, "lower"),
        ({"upper": float("nan")}, ValueError, "upper must not be NaN"),
        ({"lower": 2.0, "upper": 1.0}, ValueError, "lower must be <= upper"),
        (
            {"lower": np.zeros(3)},
            ValueError,
            "lower must be a scalar or hold one value per coordinate",
        ),
        ({"memory": 3}, TypeError, "unknown option"),
    ],
)
def test_lbfgs_bad_options_are_named(options: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        rbo.minimize(bowl, np.ones(2), jac=True, method="lbfgs", **options)


@pytest.mark.parametrize("solver", [rbo.LBFGS(), rbo.LBFGS(lower=-0.5), rbo.RBO(radius=0.3)])
def test_a_single_runs_state_pickles_and_copies(solver: Any) -> None:
    """A state is plain data (a checkpoint may be pickled or copied), the single run's
    Python-number fields included; the copy steps on as the original does."""
    import copy
    import pickle

    fg = rbo.problems.rosenbrock.value_and_grad
    state = solver.step(fg, solver.init(fg, np.array([-1.2, 1.0, 0.3])))
    for twin in (copy.deepcopy(state), pickle.loads(pickle.dumps(state))):
        a, b = solver.step(fg, state), solver.step(fg, twin)
        np.testing.assert_array_equal(a.x, b.x)
        assert float(a.f) == float(b.f)
