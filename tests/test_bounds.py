"""Box bounds: parsed once for every method, and never left by the baselines."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds

import rbo
from rbo._bounds import clip, parse_bounds, projected_gradient
from tests.conftest import Backend, assert_array_like

backends_host = rbo.backends.to_host

BASELINES = ["sgd", "sam", "entropy-sgd"]
BOX = [(-1.0, 1.0), (-1.0, 1.0)]


def _bowl(backend: Backend, calls: list[Any]) -> tuple[Any, Any]:
    """A bowl whose minimum (3, 0.5) lies outside BOX: the box minimum is (1, 0.5)."""
    xp = backend.xp
    centre = backend.asarray([3.0, 0.5])

    def fun(x: Any) -> Any:
        calls.append(x)
        return xp.sum((x - centre) ** 2, axis=-1)

    def jac(x: Any) -> Any:
        calls.append(x)
        return 2.0 * (x - centre)

    return fun, jac


# -- parsing ------------------------------------------------------------------------------


def test_bounds_become_arrays_of_x0s_namespace_dtype_and_device(backend: Backend) -> None:
    x0 = backend.asarray([0.0, 0.0, 0.0], dtype=backend.xp.float32)
    lower, upper = parse_bounds([(0, 1), (None, 2.5), (-math.inf, None)], x0)
    assert_array_like(lower, x0)
    assert_array_like(upper, x0)
    assert [float(v) for v in lower] == [0.0, -math.inf, -math.inf]
    assert [float(v) for v in upper] == [1.0, 2.5, math.inf]


@pytest.mark.parametrize(
    "bounds",
    [
        Bounds([0.0, -1.0], [1.0, 2.0]),
        [(0.0, 1.0), (-1.0, 2.0)],
        ((0.0, 1.0), (-1.0, 2.0)),
        np.array([[0.0, 1.0], [-1.0, 2.0]]),
    ],
    ids=["Bounds", "pairs", "tuple", "array"],
)
def test_every_form_of_bounds_gives_the_same_box(bounds: Any) -> None:
    lower, upper = parse_bounds(bounds, np.zeros(2))
    assert (lower.tolist(), upper.tolist()) == ([0.0, -1.0], [1.0, 2.0])


def test_a_scalar_side_of_bounds_holds_for_every_coordinate() -> None:
    lower, upper = parse_bounds(Bounds(0.0, np.inf), np.zeros(3))
    assert (lower.tolist(), upper.tolist()) == ([0.0] * 3, [math.inf] * 3)


@pytest.mark.parametrize(
    ("bounds", "error", "match"),
    [
        ([(1.0, 0.0), (0.0, 1.0)], ValueError, r"low <= high.*coordinate 0"),
        ([(0.0, 1.0), (math.nan, 1.0)], ValueError, r"bounds\[1\]\[0\] is NaN"),
        (Bounds([0.0, 0.0], [1.0, math.nan]), ValueError, r"bounds.ub\[1\] is NaN"),
        ([(0.0, 1.0)], ValueError, "one .low, high. pair per coordinate of x0: 2 pairs"),
        (Bounds([0.0, 0.0, 0.0], 1.0), ValueError, "bounds.lb must be a scalar or"),
        ([(0.0, 1.0), (0.0, 1.0, 2.0)], ValueError, r"bounds\[1\] must be a \(low, high\)"),
        ([(0.0, "one"), (0.0, 1.0)], TypeError, r"bounds\[0\]\[1\] must be a real number"),
        (5.0, TypeError, "bounds must be a sequence of .low, high. pairs"),
        ("box", TypeError, "bounds must be a sequence"),
        ([(math.inf, math.inf), (0.0, 1.0)], ValueError, "coordinate 0"),
    ],
)
def test_bad_bounds_are_refused_naming_bounds(bounds: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        parse_bounds(bounds, np.zeros(2))
    with pytest.raises(error, match=match):
        rbo.minimize(lambda x: float(x @ x), np.zeros(2), method="sgd", bounds=bounds)


@pytest.mark.parametrize("method", ["rbo", "lbfgs", *BASELINES])
@pytest.mark.parametrize(
    ("sides", "error", "match"),
    [
        ({"lower": math.nan}, ValueError, "lower .*NaN"),
        ({"lower": np.zeros(3)}, ValueError, "lower must be a scalar or hold one value"),
        ({"upper": "one"}, TypeError, "upper must be"),
        ({"lower": 2.0, "upper": 1.0}, ValueError, "lower must be <= upper"),
        ({"lower": math.inf}, ValueError, "coordinate 0"),
    ],
)
def test_bad_lower_and_upper_options_are_refused_naming_them(
    method: str, sides: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        rbo.minimize(lambda x: (float(x @ x), 2 * x), np.ones(2), jac=True, method=method, **sides)


def test_the_box_given_both_as_bounds_and_as_options_is_refused() -> None:
    with pytest.raises(ValueError, match="the box is given twice"):
        rbo.minimize(lambda x: float(x @ x), np.ones(2), bounds=BOX, lower=0.0)


@pytest.mark.parametrize("method", ["rbo", "lbfgs", *BASELINES])
def test_lower_and_upper_options_bound_every_evaluation_as_bounds_do(method: str) -> None:
    # The polished rbo run used to drop the options: its polish left the box.
    calls: list[np.ndarray] = []

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        calls.append(np.array(x))
        return float(x @ x), 2 * x

    res = rbo.minimize(fg, np.ones(2), jac=True, method=method, lower=[0.5, None], maxfev=400)
    assert min(float(c[0]) for c in calls) >= 0.5
    np.testing.assert_allclose(res.x, [0.5, 0.0], atol=1e-3)
    assert res.x[0] == 0.5


# -- the two array operations ---------------------------------------------------------------


def test_clip_and_projected_gradient_on_every_backend(backend: Backend) -> None:
    lower, upper = backend.asarray([0.0, 0.0, 0.0, 0.0]), backend.asarray([1.0] * 4)
    x = clip(backend.asarray([-1.0, 0.0, 0.5, 2.0]), lower, upper)
    assert_array_like(x, lower)
    assert [float(v) for v in x] == [0.0, 0.0, 0.5, 1.0]
    # -g points out at the lower face (g > 0) and the upper one (g < 0): those go.
    g = projected_gradient(x, backend.asarray([1.0, -1.0, 3.0, -2.0]), lower, upper)
    assert [float(v) for v in g] == [0.0, -1.0, 3.0, 0.0]
    g = projected_gradient(x, backend.asarray([-1.0, 1.0, 3.0, 2.0]), lower, upper)
    assert [float(v) for v in g] == [-1.0, 0.0, 3.0, 2.0]


# -- runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_never_evaluate_outside_the_box(backend: Backend, method: str) -> None:
    calls: list[Any] = []
    fun, jac = _bowl(backend, calls)
    options = {"rho": 0.5} if method == "sam" else {}
    res = rbo.minimize(
        fun,
        backend.asarray([0.9, -0.9]),
        jac=jac,
        method=method,
        bounds=BOX,
        maxiter=60,
        **options,
    )
    points = np.array([[float(v) for v in x] for x in calls])
    assert len(points) > 60
    assert points.min() >= -1.0 and points.max() <= 1.0
    assert_array_like(res.x, backend.asarray([0.0]))


@pytest.mark.parametrize("method", BASELINES)
def test_the_box_minimum_on_a_face_is_found(method: str) -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    res = rbo.minimize(fun, np.zeros(2), jac=jac, method=method, bounds=BOX, maxiter=2000)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 0.5], atol=1e-3 if method != "sgd" else 1e-6)
    assert res.x[0] == 1.0  # on the face exactly
    assert res.fun == float(fun(res.x))


def test_bounded_lbfgs_reaches_a_tight_gtol_where_f_stops_changing() -> None:
    # Near a minimum on a face f's decrease falls below its rounding; the run still ends
    # at |pg| <= gtol instead of a failed line search (start 13 of this seed did fail).
    lo = np.array([-2, -2, 1.664, -2, -2, 1.524, 1.518, -2, -2, -2.0])
    hi = np.array([2, 2, 2, 2, 2, 2, 2, 2, 0.22, 0.312])
    rng = np.random.default_rng(0)
    for _ in range(20):
        x0 = rng.uniform(lo, hi)
        res = rbo.minimize(
            rbo.problems.rosenbrock.value_and_grad,
            x0,
            jac=True,
            method="lbfgs",
            bounds=Bounds(lo, hi),
            gtol=1e-8,
            ftol=0,
            xtol=0,
            patience=None,
        )
        assert res.status == 0, res.message
        assert float(np.linalg.norm(projected_gradient(res.x, res.jac, lo, hi))) <= 1e-8


@pytest.mark.parametrize("vectorized", [False, True])
def test_projected_search_never_pays_twice_for_the_same_point(vectorized: bool) -> None:
    # From (1.5, 0.8, 0.04, ...) a step along the L-BFGS direction projects to the box's
    # corner, and so does the next, shorter one: the second is known, not evaluated.
    rosen = rbo.problems.rosenbrock
    lower = np.full(10, -2.0)
    lower[::3] = 1.5
    seen: list[np.ndarray] = []

    def fg(x: np.ndarray) -> Any:
        seen.append(np.array(x))
        return rosen.value_and_grad(x)

    x0 = np.maximum(np.zeros(10), lower)
    start = x0[None] if vectorized else x0
    res = rbo.minimize(fg, start, jac=True, method="lbfgs", bounds=Bounds(lower, 2.0), gtol=1e-8,
                       vectorized=vectorized)  # fmt: skip
    assert bool(np.all(res.success))
    repeats = [i for i in range(1, len(seen)) if np.array_equal(seen[i], seen[i - 1])]
    assert repeats == []
    assert int(res.nfev) == len(seen)  # every evaluation counted, none past the calls


def test_sgd_on_the_face_succeeds_once_the_projected_gradient_vanishes() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    # lr = 1/2 reaches the bowl's minimum in one step, the box's by clipping it. The
    # gradient there does not vanish, but it only pushes against the face: stationary.
    res = rbo.minimize(fun, np.zeros(2), jac=jac, method="sgd", bounds=BOX, lr=0.5)
    assert np.linalg.norm(jac(res.x)) > 1.0
    assert res.status == rbo.Status.GTOL and res.success
    assert res.nit == 1
    assert res.x.tolist() == [1.0, 0.5]


def test_x0_outside_the_box_is_clipped_with_a_warning() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    with pytest.warns(UserWarning, match="x0 lies outside bounds"):
        res = rbo.minimize(fun, np.array([5.0, -3.0]), jac=jac, method="sgd", bounds=BOX, lr=0.5)
    assert calls[0].tolist() == [1.0, -1.0]
    assert res.x.tolist() == [1.0, 0.5]


def test_the_clipping_warning_points_at_the_users_line_through_scipy_too() -> None:
    from scipy.optimize import minimize as scipy_minimize

    for run in (
        lambda: rbo.minimize(lambda x: float(x @ x), np.array([3.0, 3.0]), bounds=BOX),
        lambda: scipy_minimize(
            lambda x: float(x @ x), np.array([3.0, 3.0]), method=rbo.scipy_method, bounds=BOX
        ),
    ):
        with pytest.warns(UserWarning, match="x0 lies outside bounds") as seen:
            run()
        assert [w.filename for w in seen if "outside" in str(w.message)] == [__file__]


def test_x0_on_the_boundary_is_not_warned_about() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rbo.minimize(fun, np.array([1.0, -1.0]), jac=jac, method="sgd", bounds=BOX)
    assert calls[0].tolist() == [1.0, -1.0]


def test_equal_bounds_fix_a_coordinate() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    res = rbo.minimize(fun, np.zeros(2), jac=jac, method="sgd", bounds=[(None, None), (0, 0)])
    assert all(float(x[1]) == 0.0 for x in calls)
    np.testing.assert_allclose(res.x, [3.0, 0.0], atol=1e-6)


def test_one_box_bounds_every_row_of_a_batch(backend: Backend) -> None:
    x0 = backend.asarray([[0.0, 0.0], [-0.5, 0.9], [0.9, -0.9]])
    lower, upper = parse_bounds(BOX, x0)
    assert tuple(lower.shape) == tuple(upper.shape) == (2,)
    x = clip(x0 * 4.0, lower, upper)
    assert tuple(x.shape) == (3, 2)
    rows = [[float(x[i, j]) for j in range(2)] for i in range(3)]
    assert rows == [[0.0, 0.0], [-1.0, 1.0], [1.0, -1.0]]


def test_float32_runs_stay_in_a_float64_box() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    x0 = np.zeros(2, dtype=np.float32)
    res = rbo.minimize(fun, x0, jac=jac, method="sgd", bounds=[(-0.1, 0.1), (-0.1, 0.1)])
    assert res.x.dtype == np.float32
    assert all(float(abs(x).max()) <= np.float32(0.1) for x in calls)


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@pytest.mark.parametrize("polish", [True, False], ids=["polished", "ball alone"])
def test_rbo_never_evaluates_outside_the_box(backend: Backend, polish: bool) -> None:
    calls: list[Any] = []
    fun, jac = _bowl(backend, calls)
    # A ball large enough to roll against the face, with a step that would leave the box.
    res = rbo.minimize(
        fun,
        backend.asarray([0.0, -0.9]),
        jac=jac,
        bounds=BOX,
        polish=polish,
        radius=0.5,
        lr=0.5,
        maxiter=200,
    )
    points = np.array([[float(v) for v in x] for x in calls])
    assert len(points) > 3
    assert points.min() >= -1.0 and points.max() <= 1.0
    assert_array_like(res.x, backend.asarray([0.0]))
    if polish:  # the polish ends at the box's minimum, on the face, stationary there
        assert res.success, res.message
        np.testing.assert_allclose(backends_host(res.x), [1.0, 0.5], atol=1e-6)


def test_rbo_batched_rows_stay_in_the_box_and_reach_its_minimum() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    x0 = np.array([[0.0, -0.9], [-0.9, 0.9], [0.5, 0.5]])
    res = rbo.minimize(fun, x0, jac=jac, bounds=BOX, vectorized=True)
    points = np.concatenate([np.reshape(x, (-1, 2)) for x in calls])
    assert points.min() >= -1.0 and points.max() <= 1.0
    assert res.success.all()
    np.testing.assert_allclose(res.x, [[1.0, 0.5]] * 3, atol=1e-6)


def test_multistart_keeps_the_runs_of_a_bounded_method_in_its_box() -> None:
    calls: list[Any] = []
    fun, jac = _bowl(Backend("numpy", rbo.backends.get("numpy").namespace()), calls)
    res = rbo.multistart(fun, BOX, 4, jac=jac, schedule="restart", method="sgd", rng=0, maxiter=200)
    points = np.array([x.tolist() for x in calls])
    assert points.min() >= -1.0 and points.max() <= 1.0
    np.testing.assert_allclose(res.x, [1.0, 0.5], atol=1e-6)


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
@pytest.mark.parametrize("method", ["lbfgs", "rbo", "sgd"])
def test_finite_differences_from_the_walls_stay_in_the_box(jac: str, method: str) -> None:
    # x0 on upper walls, one coordinate of zero width: forward steps there go backward, a
    # central step is one-sided, the zero-width coordinate is not stepped at all.
    lower, upper = np.array([-1.0, 0.5, 2.0]), np.array([1.0, 0.5, 2.5])
    outside = []

    def fun(x: np.ndarray) -> float:
        if np.any(x < lower) or np.any(x > upper):
            outside.append(x.copy())
        return float(np.sum((x - 3.0) ** 2))

    res = rbo.minimize(
        fun, np.array([1.0, 0.5, 2.0]), method=method, jac=jac,
        bounds=list(zip(lower, upper, strict=True)), maxfev=300,
    )  # fmt: skip
    assert outside == []
    np.testing.assert_allclose(res.x, upper, atol=1e-6)


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
@pytest.mark.parametrize("method", ["lbfgs", "rbo", "sgd"])
def test_a_box_narrower_than_the_difference_step_still_has_its_slope(
    backend: Backend, jac: str, method: str
) -> None:
    # At x ~ 1e6 the forward step is about 0.015, wider than the box's 0.01, and at 0 the
    # step 1.5e-8 is wider than 1e-12: neither direction fits, so the step goes to the
    # farther face. A zero difference there made the wrong face look stationary.
    xp = backend.xp
    for low, width in ((1e6, 0.01), (0.0, 1e-12)):
        outside = []

        def fun(x: Any, low: float = low, width: float = width, seen: list = outside) -> Any:
            if float(x[0]) < low or float(x[0]) > low + width:
                seen.append(float(x[0]))
            return -(x[0] - low) + (x[1] - 0.5) ** 2

        with warnings.catch_warnings():
            # (a ball in a box 1e-12 wide cannot settle its foot points: rbo says so)
            warnings.simplefilter("ignore", rbo.ProjectionWarning)
            res = rbo.minimize(
                fun, backend.asarray([low, 0.0]), method=method, jac=jac,
                bounds=[(low, low + width), (-1.0, 1.0)], maxfev=400,
            )  # fmt: skip
        assert outside == []
        assert float(res.x[0]) == low + width  # the upper face, where f is lowest
        assert float(res.jac[0]) == pytest.approx(-1.0, rel=1e-3)
        assert bool(res.success) == (float(xp.abs(res.jac[1])) <= 1e-5)


def test_a_narrow_box_in_float16_is_stepped_in_float16() -> None:
    # The farther-face step was formed in float32 and rounded beyond the face once cast to
    # float16 at the call: a wrong slope (5 for 3) and calls outside the box.
    for width, slope in ((0.5, 3.0), (0.3, None)):  # float16 holds 1000.5, not 1000.3
        outside = []

        def fun(x: Any, width: float = width, seen: list = outside) -> Any:
            assert x.dtype == np.float16
            if float(x[0]) < 1000.0 or float(x[0]) > 1000.0 + width:
                seen.append(float(x[0]))
            return 3.0 * (x[0] - 1000.0) + (x[1] - 0.5) ** 2

        res = rbo.minimize(
            fun, np.array([1000.0, 0.0], dtype=np.float16), method="lbfgs",
            bounds=[(1000.0, 1000.0 + width), (-1.0, 1.0)], maxfev=200,
        )  # fmt: skip
        assert outside == []
        if slope is not None:
            assert float(res.jac[0]) == slope
