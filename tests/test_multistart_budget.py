"""``rbo.multistart`` as a global search: one budget over all balls, never exceeded, and
every call of ``fun`` inside the box."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rbo
from rbo.problems import rastrigin

BOX = [(-2.0, 3.0), (-1.0, 1.5)]
LOW, HIGH = np.array([lo for lo, _ in BOX]), np.array([hi for _, hi in BOX])
# Outside the box in the first coordinate: the minimum in the box lies on its wall.
CENTRE = np.array([4.0, 0.5])


class Recorded:
    """A wrinkled bowl whose minimum lies outside ``BOX``, recording every call.

    ``kind`` is what it returns: ``"fg"`` (value and gradient, for ``jac=True``) or
    ``"f"`` (the value); ``points`` holds every point it was called at, a row each.
    """

    def __init__(self, kind: str = "fg") -> None:
        self.kind = kind
        self.points: list[np.ndarray] = []
        self.grad_calls = 0

    @property
    def calls(self) -> int:
        return len(self.points)

    def __call__(self, x: Any) -> Any:
        x = np.asarray(x)
        self.points.extend(np.atleast_2d(x).copy())
        f, g = self.value_and_grad(x)
        return (f, g) if self.kind == "fg" else f

    def jac(self, x: Any) -> Any:
        self.grad_calls += 1
        return self.value_and_grad(np.asarray(x))[1]

    @staticmethod
    def value_and_grad(x: Any) -> tuple[Any, Any]:
        d = x - CENTRE
        f0, g0 = rastrigin.value_and_grad(x)
        return 0.1 * f0 + np.sum(d * d, axis=-1), 0.1 * g0 + 2.0 * d

    def all_inside(self) -> bool:
        p = np.stack(self.points)
        return bool(np.all((p >= LOW) & (p <= HIGH)))


JACS = ["fg", "callable", "2-point", "3-point"]


def run(rec: Recorded, jac: str, **kw: Any) -> Any:
    given: Any = {"fg": True, "callable": rec.jac}.get(jac, jac)
    return rbo.multistart(rec, BOX, jac=given, **kw)


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("jac", JACS)
@pytest.mark.parametrize("maxfev", [6, 41, 400])
def test_calls_of_fun_never_exceed_the_total_budget(
    maxfev: int, jac: str, vectorized: bool
) -> None:
    rec = Recorded("fg" if jac == "fg" else "f")
    if jac == "3-point" and maxfev < 10:
        maxfev = 10  # a start and a step: 2 (2n + 1) calls
    res = run(rec, jac, maxfev=maxfev, rng=0, vectorized=vectorized)
    assert rec.calls == res.nfev <= maxfev
    assert res.nfev == sum(res.runs.nfev_all)
    assert rec.calls >= maxfev // 2  # and the budget is spent, not left over
    if jac == "callable":
        assert rec.grad_calls > 0  # counted in njev, as by rbo.minimize, not in maxfev


@pytest.mark.parametrize("schedule", rbo._multistart.SCHEDULES)
@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("jac", JACS)
def test_every_call_lies_inside_the_box(jac: str, vectorized: bool, schedule: str) -> None:
    rec = Recorded("fg" if jac == "fg" else "f")
    cost = {"2-point": 3, "3-point": 5}.get(jac, 1)  # calls per evaluation
    ball = {} if schedule in ("basin", "basin-roll") else {"radius": 2.0}
    res = run(rec, jac, maxfev=300 * cost, rng=1, vectorized=vectorized, schedule=schedule, **ball)
    assert rec.all_inside()
    # The balls pressed on the wall x0 = 3 (the bowl's centre is beyond it): the best
    # point lies at it.
    assert float(res.x[0]) == pytest.approx(HIGH[0], abs=1e-2)
    assert np.all(np.stack(res.runs.x) >= LOW) and np.all(np.stack(res.runs.x) <= HIGH)


def test_float32_search_stays_in_the_box() -> None:
    rec = Recorded()
    res = rbo.multistart(rec, BOX, jac=True, maxfev=200, rng=2, dtype="float32")
    assert res.x.dtype == np.float32 and rec.all_inside() and rec.calls <= 200


@pytest.mark.parametrize("schedule", ["basin", "restart", "hop"])
@pytest.mark.parametrize("jac", ["fg", "2-point", "3-point"])
def test_a_zero_width_coordinate_is_held_fixed(jac: str, schedule: str) -> None:
    # low == high pins a coordinate, as in rbo.minimize: every call keeps it, and its
    # difference quotient is 0, not 0/0.
    def fun(x: Any) -> Any:
        assert x[1] == 0.5
        f = float(np.sum((x - 0.3) ** 2))
        return (f, 2 * (x - 0.3)) if jac == "fg" else f

    box = [(-1.0, 1.0), (0.5, 0.5), (-2.0, 2.0)]
    res = rbo.multistart(
        fun, box, jac=True if jac == "fg" else jac, maxfev=600, rng=0, schedule=schedule
    )
    assert res.success and res.fun == pytest.approx(0.04, abs=1e-8)
    np.testing.assert_allclose(res.x, [0.3, 0.5, 0.3], atol=1e-4)


def test_float16_by_name_is_the_same_search_as_by_dtype() -> None:
    named = rbo.multistart(rastrigin, BOX, jac=rastrigin.jac, maxfev=200, rng=0, dtype="float16")
    typed = rbo.multistart(rastrigin, BOX, jac=rastrigin.jac, maxfev=200, rng=0, dtype=np.float16)
    assert named.x.dtype == typed.x.dtype == np.float16
    np.testing.assert_array_equal(named.x, typed.x)


@pytest.mark.parametrize("dtype", ["int32", "float128x"])
def test_a_dtype_name_that_is_not_real_floating_is_named(dtype: str) -> None:
    with pytest.raises(ValueError, match=f"dtype must name a real floating dtype.*{dtype}"):
        rbo.multistart(rastrigin, BOX, jac=rastrigin.jac, maxfev=200, dtype=dtype)


def test_dropped_balls_leave_their_budget_to_new_balls() -> None:
    rec = Recorded()
    res = rbo.multistart(rec, BOX, 3, jac=True, maxfev=1500, rng=3)
    assert res.n_balls > 3  # more balls than ever rolled at once
    assert res.nfev >= 0.95 * 1500  # what the dropped balls did not use was spent
    assert len(res.polished) > 0 and res.best in range(res.n_balls)


def test_default_number_of_balls_follows_the_documented_rule() -> None:
    # n = 2, maxfev = 2000: (1 - 0.2) * 2000 // (4 * 30) = 13 balls.
    kw: dict[str, Any] = {"jac": True, "maxfev": 2000, "rng": 4, "schedule": "restart"}
    a = rbo.multistart(rastrigin.value_and_grad, BOX, **kw)
    b = rbo.multistart(rastrigin.value_and_grad, BOX, 13, **kw)
    c = rbo.multistart(rastrigin.value_and_grad, BOX, 12, **kw)
    np.testing.assert_array_equal(a.starts, b.starts)
    assert a.fun == b.fun and a.nfev == b.nfev
    assert a.runs.nfev_all != c.runs.nfev_all  # 12 balls at once search otherwise


@pytest.mark.parametrize("schedule", ["basin", "basin-roll"])
def test_basin_schedules_default_to_four_runs_a_round(schedule: str) -> None:
    kw: dict[str, Any] = {"jac": True, "maxfev": 2000, "rng": 4, "schedule": schedule}
    a = rbo.multistart(rastrigin.value_and_grad, BOX, **kw)
    b = rbo.multistart(rastrigin.value_and_grad, BOX, 4, **kw)
    c = rbo.multistart(rastrigin.value_and_grad, BOX, 3, **kw)
    np.testing.assert_array_equal(a.starts, b.starts)
    assert a.fun == b.fun and a.nfev == b.nfev
    assert not np.array_equal(a.starts[:4], c.starts[:4])  # 3 a round search otherwise


def test_the_default_schedule_is_basin() -> None:
    kw: dict[str, Any] = {"jac": True, "maxfev": 600, "rng": 4}
    a = rbo.multistart(rastrigin.value_and_grad, BOX, **kw)
    b = rbo.multistart(rastrigin.value_and_grad, BOX, schedule="basin", **kw)
    np.testing.assert_array_equal(a.starts, b.starts)
    assert a.fun == b.fun and a.polished == b.polished


def test_same_rng_same_search() -> None:
    a = rbo.multistart(rastrigin.value_and_grad, BOX, jac=True, maxfev=500, rng=5)
    b = rbo.multistart(
        rastrigin.value_and_grad, BOX, jac=True, maxfev=500, rng=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.runs.x, b.runs.x)
    assert a.fun == b.fun and a.nfev == b.nfev and a.polished == b.polished


@pytest.mark.parametrize(("schedule", "least"), [("basin", 5), ("restart", 3)])
def test_search_finds_the_global_minimum_of_a_rugged_problem_from_most_seeds(
    schedule: str, least: int
) -> None:
    # The default budget, 1000 n; the global-search benchmark finds it from 5 of 5 seeds
    # with "basin" (the default), 3 of 5 with "restart".
    found = 0
    for seed in range(5):
        res = rbo.multistart(
            rastrigin.value_and_grad, [(-5.12, 5.12)] * 2, jac=True, maxfev=2000, rng=seed,
            schedule=schedule,
        )  # fmt: skip
        assert res.success  # each ends at a stationary point
        found += res.fun == pytest.approx(0.0, abs=1e-9)
    assert found >= least


def banded(x: Any) -> Any:
    """Rastrigin raising wherever a row's first coordinate exceeds 1.2."""
    if np.any(np.atleast_2d(x)[:, 0] > 1.2):
        raise RuntimeError("out of range")
    return rastrigin.value_and_grad(x)


@pytest.mark.parametrize("vectorized", [False, True])
def test_balls_that_fail_do_not_end_the_search(vectorized: bool) -> None:
    res = rbo.multistart(
        banded, [(-2.0, 2.0)] * 2, jac=True, maxfev=600, rng=6, vectorized=vectorized
    )
    status = np.asarray(res.runs.status)
    assert np.any(status == 7) and np.any(status != 7)
    assert res.nfev > 300 and np.isfinite(res.fun) and float(res.x[0]) <= 1.2


def nan_on_the_left(x: Any) -> Any:
    f, g = rastrigin.value_and_grad(x)
    return (np.nan if x[0] < -1.0 else f), g


def test_a_start_with_no_finite_value_is_a_failed_ball() -> None:
    res = rbo.multistart(nan_on_the_left, [(-2.0, 2.0)] * 2, jac=True, maxfev=600, rng=0)
    status = np.asarray(res.runs.status)
    assert np.any(status == 5) and np.isfinite(res.fun) and float(res.x[0]) >= -1.0


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"schedule": "walk"}, ValueError, "schedule must be one of"),
        ({"polish_fraction": 1.0}, ValueError, r"polish_fraction must lie in \[0, 1\)"),
        ({"polish_fraction": "half"}, TypeError, "polish_fraction must be a number"),
        ({"basin_tol": -0.1}, ValueError, "basin_tol must lie in"),
        ({"radius": -1.0}, ValueError, "radius must be a positive number"),
        ({"maxfev": 0}, ValueError, "maxfev must be >= 1"),
        ({"maxfev": 5, "jac": None}, ValueError, "maxfev must cover two evaluations"),
        ({"maxfev": 2.5}, TypeError, "maxfev must be an integer"),
        ({"segment": 0}, ValueError, "segment must be >= 1"),
        ({"jac": "4-point"}, ValueError, "jac must be a callable"),
        ({"x0": np.zeros(2)}, TypeError, "multistart draws x0 itself"),
    ],
)
def test_bad_input_is_named(kw: dict[str, Any], error: type, match: str) -> None:
    kw = {"jac": True, "maxfev": 100, "rng": 0} | kw
    with pytest.raises(error, match=match):
        rbo.multistart(rastrigin.value_and_grad, BOX, **kw)


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ([(-1e308, 1e308), (0.0, 1.0)], r"finite width: coordinate 0 spans"),
        ([(0.0, 1.7e308)] * 2, "finite mean width"),
    ],
    ids=["one coordinate", "their sum"],
)
def test_a_box_whose_width_overflows_is_named(
    bounds: list[tuple[float, float]], match: str
) -> None:
    # Starts drawn in it were inf (x0 must be finite, said the first ball), and the
    # default radius, 0.3 of the mean width, inf.
    for schedule in ("basin", "restart"):
        with pytest.raises(ValueError, match=match):
            rbo.multistart(
                rastrigin.value_and_grad, bounds, jac=True, maxfev=100, rng=0, schedule=schedule
            )
