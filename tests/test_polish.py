"""method="rbo" with polish=True: a local phase, rolls in the problem's units, a polish;
success only at a stationary point; step control; the ball at rest."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import rbo
from tests.conftest import Backend, assert_array_like

ROSENBROCK = rbo.problems.rosenbrock


def _grad_norm(problem: Any, x: Any) -> float:
    return float(np.linalg.norm(problem.jac(np.asarray(rbo.backends.to_host(x), dtype=float))))


def test_a_bowl_from_ones_ends_at_its_minimum_with_success() -> None:
    res = rbo.minimize(lambda x: float(np.sum(x**2)), np.ones(3), jac=lambda x: 2 * x)
    assert res.success and res.status == rbo.Status.GTOL
    assert res.fun < 1e-12
    assert np.linalg.norm(2 * res.x) <= 1e-6


def test_every_backend_reaches_a_shifted_bowls_minimum_by_finite_differences(
    backend: Backend,
) -> None:
    xp = backend.xp
    res = rbo.minimize(lambda x: xp.sum((x - 3.0) ** 2), backend.asarray([0.0, 0.0, 0.0]))
    assert_array_like(res.x, backend.asarray([0.0]))
    assert res.success, res.message
    np.testing.assert_allclose(np.asarray(rbo.backends.to_host(res.x)), 3.0, atol=1e-6)


@pytest.mark.parametrize("n", [2, 10])
def test_rosenbrock_from_random_starts_reaches_a_gradient_below_gtol(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(3):
        x0 = rng.uniform(-2.0, 2.0, n)
        res = rbo.minimize(ROSENBROCK, x0, jac=ROSENBROCK.jac)
        assert res.success, res.message
        assert _grad_norm(ROSENBROCK, res.x) <= 1e-6


def test_an_ill_conditioned_quadratic_reaches_a_gradient_below_gtol(backend: Backend) -> None:
    scales = np.logspace(0, 6, 8)
    s = backend.asarray(scales.tolist())
    res = rbo.minimize(
        lambda x: 0.5 * backend.xp.sum(s * x * x), backend.asarray([1.0] * 8), jac=lambda x: s * x
    )
    assert res.success, res.message
    x = np.asarray(rbo.backends.to_host(res.x), dtype=float)
    assert np.linalg.norm(scales * x) <= 1e-6


def test_the_result_says_what_each_phase_did_and_the_counts_add_up() -> None:
    p = rbo.problems.get("rastrigin")
    res = rbo.minimize(p, np.array([2.3, -1.7]), jac=p.jac, maxfev=600)
    assert res.nfev == res.local.nfev + res.roll.nfev + res.polish.nfev
    assert res.nfev <= 600
    assert res.nit >= res.local.nit
    assert res.radius > 0 and res.lr > 0 and res.fscale > 0
    assert res.roll.proj_capped >= 0 and res.roll.runs >= 1
    # Rolling only adds to the local phase: never worse than L-BFGS from the same start.
    local = rbo.minimize(p, np.array([2.3, -1.7]), jac=p.jac, method="lbfgs")
    assert res.fun <= local.fun + 1e-12


def test_a_counted_budget_is_never_exceeded_across_the_phases() -> None:
    calls = []
    p = rbo.problems.get("ackley")

    def fun(x: np.ndarray) -> float:
        calls.append(1)
        return float(p.value_and_grad(x)[0])

    for maxfev in (7, 50, 333):
        calls.clear()
        res = rbo.minimize(fun, np.array([1.3, 2.1, -0.7]), maxfev=maxfev)
        assert len(calls) == res.nfev <= maxfev
        if not res.success:
            assert _grad_norm(p, res.x) > 1e-6 or res.status == rbo.Status.MAXFEV


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@pytest.mark.parametrize(
    "how",
    ["ring", "patience", "budget", "iterations", "nan", "callback", "polished"],
)
def test_success_implies_the_returned_point_is_stationary(how: str) -> None:
    bowl = rbo.problems.quadratic
    x0 = np.array([1.5, -0.5])
    kwargs: dict[str, Any] = {}
    fun: Any = bowl
    if how == "ring":  # a ball larger than the bowl's curvature radius rests on a ring
        kwargs = {"polish": False, "radius": 2.0, "lr": 0.05, "patience": 20}
    elif how == "patience":
        kwargs = {"polish": False, "radius": 2.0, "lr": 0.5, "patience": 3}
    elif how == "budget":
        kwargs = {"maxfev": 2}
    elif how == "iterations":
        kwargs = {"maxiter": 1}
    elif how == "nan":

        def fun(x: np.ndarray) -> float:
            return float("nan") if x[0] < 0.2 else float(bowl(x))

    elif how == "callback":

        def stop(intermediate_result: Any) -> None:
            raise StopIteration

        kwargs = {"callback": stop}
    with warnings.catch_warnings():
        # A ball on a ring has no unique foot point: its projections end at proj_maxiter,
        # and it says so.
        warnings.filterwarnings("ignore", "of the ball's steps", RuntimeWarning)
        res = rbo.minimize(fun, x0, jac=bowl.jac, **kwargs)
    stationary = _grad_norm(bowl, res.x) <= 1e-6
    assert res.success == (res.status == rbo.Status.GTOL)
    if res.success:
        assert stationary
    if how in ("ring", "patience", "budget", "iterations", "callback"):
        assert not res.success, (how, res.message)
        assert "successfully" not in res.message
    if how == "ring":  # its best contact point stops improving: patience ends it
        assert res.status == rbo.Status.STAGNATION
        assert "polish=True" in res.message
    if how == "polished":
        assert res.success


def test_a_steep_start_does_not_throw_the_ball_away() -> None:
    # |g| = 1e7 at the start: without step control one step of lr 0.1 moves 1e6 away.
    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(1e7 * np.sum(x**2) / 2), 1e7 * x

    x0 = np.array([1.0, 0.0])
    centres: list[float] = []
    res = rbo.minimize(
        fg,
        x0,
        jac=True,
        polish=False,
        radius=0.1,
        lr=0.1,
        max_step=1.0,
        maxiter=30,
        callback=lambda intermediate_result: centres.append(
            float(np.linalg.norm(intermediate_result.x))
        ),
    )
    assert max(centres) <= 1.0 + 1e-9  # never further out than the start
    assert np.all(np.isfinite(res.x))
    polished = rbo.minimize(fg, x0, jac=True)
    assert polished.success and np.linalg.norm(polished.x) < 1e-12


def test_step_control_caps_each_move_of_the_centre_at_max_step_radii() -> None:
    p = rbo.problems.get("rastrigin")
    path: list[np.ndarray] = []
    rbo.minimize(
        p,
        np.array([3.3, -2.2]),
        jac=p.jac,
        polish=False,
        radius=0.2,
        lr=5.0,  # far too long a step but for the cap
        max_step=0.5,
        maxiter=40,
        callback=lambda intermediate_result: path.append(intermediate_result.center[0].copy()),
    )
    moves = np.linalg.norm(np.diff(np.array(path), axis=0), axis=1)
    # The descended centre moves at most 0.5 radius; the projection adds at most about one
    # radius more (the new centre is a radius above the new contact point).
    assert moves.max() <= 0.5 * 0.2 + 2 * 0.2


def test_a_ball_at_rest_stops_with_its_own_status() -> None:
    # A shallow bowl (curvature radius 50) holds a ball of radius 0.5 at its bottom, where
    # its centre stops: at rest, though the contact point meets no gtol of 1e-12.
    res = rbo.minimize(
        lambda x: float(0.01 * x @ x),
        np.array([1.0, 1.0]),
        jac=lambda x: 0.02 * x,
        polish=False,
        radius=0.5,
        lr=5.0,
        rest=1e-3,
        gtol=1e-12,
        patience=None,
        maxiter=2000,
    )
    assert res.status == rbo.Status.AT_REST and not res.success
    assert "rest" in res.message and "polish" in res.message
    assert res.nit < 2000


@pytest.mark.parametrize("polish", [True, False], ids=["polished", "ball alone"])
def test_projections_that_end_at_proj_maxiter_are_counted_and_warned_of(polish: bool) -> None:
    p = rbo.problems.get("rastrigin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = rbo.minimize(
            p,
            np.array([3.3, -2.2, 1.1]),
            jac=p.jac,
            proj_maxiter=1,
            maxfev=400,
            lr=3.0,
            xtol=0,
            polish=polish,
        )
    ball = res.roll if polish else res
    assert ball.proj_capped > ball.nit / 2
    (w,) = [w for w in caught if "proj_maxiter" in str(w.message)]
    assert issubclass(w.category, rbo.ProjectionWarning) and w.filename == __file__
    assert "lower lr" in str(w.message)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_narrow_starts_reach_their_precision_or_report_failure(dtype: str) -> None:
    x0 = np.ones(3, dtype=dtype)
    res = rbo.minimize(lambda x: (x * x).sum(), x0, jac=lambda x: 2 * x)
    assert res.x.dtype == np.dtype(dtype)
    tiny = float(np.finfo(dtype).eps)
    if res.success:
        assert float(res.fun) <= 10 * tiny
    else:
        assert res.status != rbo.Status.GTOL


def test_scale_sets_the_balls_radius_in_the_units_of_x() -> None:
    p = rbo.problems.get("rastrigin")
    x0 = np.array([2.3, -1.7])
    small = rbo.minimize(p, x0, jac=p.jac, scale=0.01, maxfev=300)
    large = rbo.minimize(p, x0, jac=p.jac, scale=10.0, maxfev=300)
    # (a ball that finds nothing lower grows, at most grow**max_growth times)
    import rbo._polish as phases

    assert large.radius / small.radius >= 1000 / phases.PLAN.grow**phases.PLAN.max_growth
    with pytest.raises(ValueError, match="scale"):
        rbo.minimize(p, x0, jac=p.jac, scale=0.0)
    with pytest.raises(TypeError, match="scale"):
        rbo.minimize(p, x0, jac=p.jac, scale="1")


def test_bad_step_control_values_are_named() -> None:
    with pytest.raises(ValueError, match="max_step"):
        rbo.RBO(max_step=-1.0)
    with pytest.raises(ValueError, match="rest"):
        rbo.RBO(rest=-1.0)
    with pytest.raises(TypeError, match="max_step"):
        rbo.RBO(max_step=lambda k: 1.0)


def test_the_result_says_when_the_minimum_found_is_sharper_than_the_ball() -> None:
    sharp = rbo.minimize(ROSENBROCK, np.zeros(4), jac=ROSENBROCK.jac)
    assert sharp.success and sharp.radius_too_large
    assert sharp.curvature > 100  # Rosenbrock's valley floor curves by about 1000
    shallow = rbo.minimize(lambda x: float(0.001 * x @ x), np.ones(3), jac=lambda x: 0.002 * x)
    assert shallow.success and not shallow.radius_too_large
    assert shallow.curvature == pytest.approx(0.002, rel=1e-6)


def _wavy(x: np.ndarray) -> tuple[float, np.ndarray]:
    return float(np.sum(np.cos(3 * x)) + 0.1 * x @ x), -3 * np.sin(3 * x) + 0.2 * x


def test_fine_balls_follow_spent_growth_each_smaller_than_the_first(monkeypatch: Any) -> None:
    # Plan.fine (off by default; see docs/choosing.md for the sweep): once growth is spent,
    # balls grow, grow**2, ... times smaller than the first roll from the best point.
    import rbo._polish as phases

    plain = rbo.minimize(_wavy, np.array([1.0, 2.0]), jac=True, maxfev=3000)
    monkeypatch.setattr(phases, "PLAN", phases.Plan(fine=2))
    fine = rbo.minimize(_wavy, np.array([1.0, 2.0]), jac=True, maxfev=3000)
    assert fine.roll.runs == plain.roll.runs + 2
    grow = phases.PLAN.grow
    first = plain.radius / grow**phases.PLAN.max_growth
    assert fine.radius == pytest.approx(first / grow**2)
    assert fine.fun <= plain.fun + 1e-12 and fine.success


def test_a_float16_start_stops_when_f_stops_falling_by_more_than_its_rounding() -> None:
    # f in float16 falls in steps of its rounding; the local phase and the polish used
    # to spin on those quantised values to maxiter (51,612 evaluations on Rosenbrock).
    rosenbrock = rbo.problems.rosenbrock
    res = rbo.minimize(rosenbrock.value_and_grad, np.array([-1.2, 1.0], np.float16), jac=True)
    assert res.nfev < 5000
    assert res.x.dtype == np.float16 and float(res.fun) < 1e-3
    assert res.status in (rbo.Status.GTOL, rbo.Status.STAGNATION)
    if res.success:  # only where the gradient test holds
        g = np.asarray(rosenbrock.jac(res.x.astype(np.float64)))
        assert np.linalg.norm(g) <= 1e-5


def test_the_objective_pools_its_lowest_points_pairwise_apart() -> None:
    from rbo._objective import Objective

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        return (float("nan") if x[0] < -2 else float(x @ x)), 2 * x

    obj = Objective(fun, True, (), np.zeros(2))
    obj.start(None)
    obj.pool_start(3, 0.5)
    # f = 9; 8.41 beside it and lower (displaces it); 4; 2; 2.65 beside 2 (dropped);
    # 4.01 beside 4 (dropped); NaN (dropped); 50 above the worst of a full pool (dropped).
    points = [[3.0, 0.0], [2.9, 0.0], [0.0, 2.0], [1.0, 1.0], [1.2, 1.1], [0.1, 2.0]]
    for p in [*points, [-3.0, -3.0], [5.0, 5.0]]:
        obj(np.array(p))
    assert [z.tolist() for z in obj.pool_take()] == [[1.0, 1.0], [0.0, 2.0], [2.9, 0.0]]
    obj(np.array([0.5, 0.5]))
    assert obj.pool_take() == []  # keeping stopped with the first take
    # A lower point displaces every kept point beside it.
    obj.pool_start(3, 2.5)
    for p in ([2.0, 0.0], [-2.0, 0.0], [0.0, 0.0]):
        obj(np.array(p))
    assert [z.tolist() for z in obj.pool_take()] == [[0.0, 0.0]]


def test_a_search_polishes_each_roll_from_its_next_lowest_points_too(monkeypatch: Any) -> None:
    import rbo._polish as phases

    p = rbo.problems.get("rastrigin")
    x0 = np.array([2.3, -1.7])
    search = rbo.minimize(p, x0, jac=p.jac, maxfev=2000)
    assert search.polish.runs > search.roll.runs
    assert search.nfev == search.local.nfev + search.roll.nfev + search.polish.nfev <= 2000
    # Without a budget (a short look around) each roll has one polish, as with
    # polish_points=1 in a search.
    look = rbo.minimize(p, x0, jac=p.jac)
    assert look.polish.runs <= look.roll.runs
    monkeypatch.setattr(phases, "PLAN", phases.Plan(polish_points=1))
    single = rbo.minimize(p, x0, jac=p.jac, maxfev=2000)
    assert single.polish.runs <= single.roll.runs


def test_difference_gradients_that_stall_above_gtol_end_the_run_promptly() -> None:
    # A 2-point gradient of Rosenbrock never falls below gtol near its minimum; the
    # phases used to run to maxiter (897,291 calls).
    res = rbo.minimize(ROSENBROCK, np.array([-1.2, 1.0]))
    assert res.nfev < 10_000
    assert _grad_norm(ROSENBROCK, res.x) < 1e-4
    if res.success:
        assert np.linalg.norm(res.jac) <= 1e-5


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
def test_a_budget_short_of_the_first_difference_gradient_is_refused(jac: str) -> None:
    calls = []

    def fun(x: np.ndarray) -> float:
        calls.append(1)
        return float(x @ x)

    with pytest.raises(ValueError, match="maxfev does not cover the first evaluation"):
        rbo.minimize(fun, np.ones(4), jac=jac, maxfev=4)
    assert calls == []


@pytest.mark.parametrize(
    "x0", [[1e-320, 1e-320], [0.0, 5e-324], [1e-300, -1e-300]], ids=["subnormal", "tiny", "small"]
)
def test_units_at_the_ends_of_the_float_range_are_usable_numbers(
    backend: Backend, x0: list[float]
) -> None:
    # A start of 1e-320 made the length subnormal: fscale = 1 / 1e-320 = inf, and the run
    # stopped with "fscale must be finite and > 0", an error about options never given.
    xp = backend.xp
    start = backend.asarray(x0)
    res = rbo.minimize(lambda x: xp.sum(x * x), start, jac=lambda x: 2.0 * x)
    assert res.status == 0 and res.success
    for unit in (res.radius, res.lr, res.fscale):
        assert 2.2250738585072014e-308 <= unit <= 1.7976931348623157e308


def test_a_box_wider_than_the_largest_float_is_taken_quietly(backend: Backend) -> None:
    # upper - lower overflows there: the box has no finite width, so the length comes from
    # the start, with no NumPy warning (an error under the caller's errstate) from rbo.
    xp = backend.xp

    def fun(x: Any) -> Any:
        return xp.sum(xp.log1p(x * x))

    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        res = rbo.minimize(
            fun, backend.asarray([1.0, 1.0]), jac=lambda x: 2.0 * x / (1.0 + x * x),
            bounds=[(-1e308, 1e308)] * 2,
        )  # fmt: skip
    assert res.success
    assert float(xp.max(xp.abs(res.x))) < 1e-5


@pytest.mark.parametrize("maxiter", [5, 15000], ids=["ends in the local phase", "defaults"])
def test_the_trajectory_runs_through_every_phase_in_order(backend: Backend, maxiter: int) -> None:
    # It held the first roll alone (10 rows for 52 steps), and nothing when the run ended
    # before the ball rolled.
    xp = backend.xp
    p = rbo.problems.rosenbrock
    res = rbo.minimize(
        lambda x: p(x), backend.asarray([-1.2, 1.0]), jac=lambda x: p.jac(x),
        return_trajectory=True, maxiter=maxiter,
    )  # fmt: skip
    t = res.trajectory
    phase = [int(v) for v in t.phase]
    part = [int(v) for v in t.part]
    runs = 1 + sum(r.runs for r in (res.roll, res.polish) if r is not None)
    assert len(phase) == int(res.nit) + runs  # every step, and each run's start
    assert part == sorted(part) and part[-1] == runs - 1 and phase[0] == 0
    assert sum(c == 1 for c in phase) == (0 if res.roll is None else res.roll.nit + res.roll.runs)
    if res.roll is None:  # no ball rolled: no centres
        assert "center_y" not in t and set(phase) == {0}
    else:
        assert [bool(v) for v in xp.isnan(t.center_y)] == [c != 1 for c in phase]
    assert float(t.fun[0]) == float(p(backend.asarray([-1.2, 1.0])))
    assert float(xp.min(t.fun)) == float(res.fun)


def test_a_scale_whose_units_the_dtype_cannot_hold_is_refused_naming_it() -> None:
    # It was replaced by 1 without a word: radius 0.3 for scale=1e-200.
    with pytest.raises(ValueError, match=r"scale=1e-200 gives a radius of 3e-201 and an fscale"):
        rbo.minimize(
            lambda x: 1e200 * float(x @ x), np.ones(2), jac=lambda x: 2e200 * x, scale=1e-200
        )


def test_an_error_mid_run_hands_back_the_path_of_every_phase_so_far() -> None:
    # The partial result held the path of the phase that raised alone, without its codes.
    p = rbo.problems.rosenbrock
    calls = [0]

    def fun(x: Any) -> Any:
        calls[0] += 1
        if calls[0] > 60:  # after the local phase (about 45 calls), in the first roll
            raise RuntimeError("the simulation failed")
        return p(x)

    with pytest.raises(RuntimeError, match="simulation failed") as caught:
        rbo.minimize(fun, np.array([-1.2, 1.0]), jac=p.jac, return_trajectory=True)
    t = caught.value.rbo_result.trajectory  # type: ignore[attr-defined]
    phase = [int(v) for v in t.phase]
    assert phase[0] == 0 and phase[-1] == 1 and 0 in phase and len(t.x) == len(phase)
    assert [bool(v) for v in np.isnan(t.center_y)] == [c != 1 for c in phase]
