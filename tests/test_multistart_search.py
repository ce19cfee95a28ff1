"""The ``"basin"`` schedule of ``rbo.multistart``: every run ends in an L-BFGS polish at a
stationary point, hops leave from the best point found, one budget over all of it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import rbo
from rbo.problems import rastrigin

BOX = [(-5.12, 5.12)] * 3
LOW, HIGH = np.array([lo for lo, _ in BOX]), np.array([hi for _, hi in BOX])
WIDTH = HIGH - LOW


class Recorded:
    """Rastrigin recording every point it is called at (a row each)."""

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []

    def __call__(self, x: Any) -> Any:
        self.points.extend(np.atleast_2d(np.asarray(x)).copy())
        return rastrigin.value_and_grad(x)


def projected(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The gradient with the components that push out of the box at its walls removed."""
    g = g.copy()
    g[(x <= LOW) & (g > 0)] = 0.0
    g[(x >= HIGH) & (g < 0)] = 0.0
    return g


@pytest.mark.parametrize("vectorized", [False, True])
def test_basin_runs_end_at_stationary_points(vectorized: bool) -> None:
    res = rbo.multistart(
        rastrigin.value_and_grad, BOX, jac=True, maxfev=3000, rng=0, schedule="basin",
        vectorized=vectorized,
    )  # fmt: skip
    # Every run ended in a polish (but perhaps the last round, cut by the budget).
    assert set(range(res.n_balls - 4)) <= set(res.polished)
    converged = np.asarray(res.runs.status) == 0
    assert converged.mean() > 0.8
    xs, gs = np.asarray(res.runs.x)[converged], np.asarray(res.runs.jac)[converged]
    for x, g in zip(xs, gs, strict=True):
        assert np.linalg.norm(projected(x, g), np.inf) <= 1e-5
        _, g_here = rastrigin.value_and_grad(x)  # the gradient returned is the one at x
        np.testing.assert_allclose(g, g_here, atol=1e-12)


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("jac", [True, "2-point", "3-point"])
@pytest.mark.parametrize("maxfev", [40, 2500])
def test_basin_spends_its_budget_inside_the_box_and_never_more(
    maxfev: int, jac: Any, vectorized: bool
) -> None:
    rec = Recorded()
    fun: Any = rec if jac is True else (lambda x: rec(x)[0])
    cost = {"2-point": 4, "3-point": 7}.get(jac, 1)
    res = rbo.multistart(
        fun, BOX, jac=jac, maxfev=maxfev * cost, rng=1, schedule="basin", vectorized=vectorized
    )
    calls = len(rec.points)
    assert calls == res.nfev <= maxfev * cost
    assert res.nfev == sum(res.runs.nfev_all)
    assert calls >= 0.9 * maxfev * cost  # the budget is used, not left over
    points = np.stack(rec.points)
    assert np.all((points >= LOW) & (points <= HIGH))


def test_hops_leave_from_the_best_point_found_before_them() -> None:
    m = 4
    res = rbo.multistart(
        rastrigin.value_and_grad, BOX, m, jac=True, maxfev=4000, rng=2, schedule="basin"
    )
    starts, best = np.asarray(res.starts), np.asarray(res.runs.x)
    fun, radius = np.asarray(res.runs.fun), np.asarray(res.runs.radius)
    assert res.n_balls > 3 * m
    z = []
    # Rounds of m: each run of a later round starts a normal step from the best point of
    # the rounds before, of its recorded size (radius) in widths of the box: in every
    # coordinate from slots 0 and 1, in one from slots 2 and 3.
    for first in range(m, res.n_balls - m + 1, m):
        incumbent = best[np.argmin(fun[:first])]
        for i in range(first, first + m):
            moved = starts[i] != incumbent
            if i % m < 2:
                assert np.all(moved)
            else:
                assert np.sum(moved) == 1
            sigma = radius[i] / WIDTH.mean() * WIDTH
            # Where a step of 6 sigma could not reach a wall, none was mirrored back.
            far = moved & (incumbent - 6 * sigma > LOW) & (incumbent + 6 * sigma < HIGH)
            z.append(((starts[i] - incumbent) / sigma)[far])
    z = np.concatenate(z)
    assert z.size > 30
    assert np.max(np.abs(z)) < 6.0  # uniform starts would be many sizes away
    assert 0.6 < np.std(z) < 1.5


def test_hops_past_a_wall_are_mirrored_into_the_box() -> None:
    res = rbo.multistart(
        rastrigin.value_and_grad, BOX, jac=True, maxfev=4000, rng=2, schedule="basin"
    )
    starts = np.asarray(res.starts)
    # Clipping would start many runs on a wall; mirrored, a start lies there with
    # probability zero.
    assert not np.any((starts == LOW) | (starts == HIGH))


def test_hop_sizes_grow_while_nothing_lower_is_found_and_restart_after_the_largest() -> None:
    res = rbo.multistart(
        rastrigin.value_and_grad, BOX, 1, jac=True, maxfev=3000, rng=3, schedule="basin"
    )
    sizes = np.asarray(res.runs.radius) / WIDTH.mean()  # run 0 started uniformly
    fun = np.asarray(res.runs.fun)
    best = np.minimum.accumulate(fun)
    assert sizes[1] == pytest.approx(0.02)
    for i in range(2, len(sizes)):
        # Run i hops a size that depends on what run i - 1 found.
        if fun[i - 1] < best[i - 2] - 1e-12 * max(1.0, abs(best[i - 2])):
            expected = 0.02
        else:
            expected = sizes[i - 1] * 1.5
            expected = 0.02 if expected > 0.5 else expected
        assert sizes[i] == pytest.approx(expected)
    sizes = sizes[1:]
    assert sizes.max() > 0.3 and np.sum(np.isclose(sizes, 0.02)) > 1


def test_basin_same_rng_same_result_on_threads() -> None:
    kw: dict[str, Any] = {"jac": True, "maxfev": 1500, "rng": 4, "schedule": "basin"}
    a = rbo.multistart(rastrigin.value_and_grad, BOX, **kw)
    with ThreadPoolExecutor(2) as pool:
        b = rbo.multistart(rastrigin.value_and_grad, BOX, workers=pool.map, **kw)
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.runs.x, b.runs.x)
    assert a.fun == b.fun and a.nfev == b.nfev and a.runs.nfev_all == b.runs.nfev_all


def test_basin_finds_the_global_minimum_of_rastrigin_in_five_dimensions() -> None:
    # Budget 1000 n; L-BFGS from uniform starts would need about 3**5 / 2 of them.
    found = 0
    for seed in range(3):
        res = rbo.multistart(
            rastrigin.value_and_grad, [(-5.12, 5.12)] * 5, jac=True, maxfev=5000, rng=seed,
            schedule="basin",
        )  # fmt: skip
        found += res.fun == pytest.approx(0.0, abs=1e-9)
    assert found >= 2


def raises_right(x: Any) -> Any:
    if np.any(np.atleast_2d(x)[:, 0] > 2.0):
        raise RuntimeError("out of range")
    return rastrigin.value_and_grad(x)


def test_basin_records_failed_runs_and_goes_on() -> None:
    res = rbo.multistart(raises_right, BOX, jac=True, maxfev=2000, rng=5, schedule="basin")
    status = np.asarray(res.runs.status)
    assert np.any(status == 7) and np.any(status != 7)
    assert res.nfev > 1000 and np.isfinite(res.fun) and float(res.x[0]) <= 2.0
