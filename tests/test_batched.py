"""Batched runs: m independent balls in one ``(m, n)`` array.

Rows are independent: a batch gives what m separate runs give, a row that stops is
frozen while the others go on, and a row that fails fails alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import roll
from scipy.optimize import Bounds

import rbo
from rbo import backends
from rbo.problems import quadratic, rastrigin, rosenbrock

strict = pytest.importorskip("array_api_strict")

RUN = {"jac": True, "radius": 0.5, "lr": 0.01, "maxiter": 120}


def _starts(m: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3.0, 3.0, (m, n))


@pytest.mark.parametrize(("device", "m", "steps"), [(None, 6, 120), ("device1", 3, 25)])
def test_batch_equals_separate_runs(device: str | None, m: int, steps: int) -> None:
    """On the host (NumPy) and on a device (array-api-strict's device1) alike."""
    x0 = _starts(m, 3)
    x0[0] = 0.0  # a row that stops at once, next to rows that run
    run = RUN | {"maxiter": steps}
    if device is None:
        batch_x0, single = x0, list(x0)
    else:
        dev = strict.Device(device)
        batch_x0 = strict.asarray(x0, device=dev)
        single = [strict.asarray(row, device=dev) for row in x0]
    batch = backends.to_host(roll(rastrigin.value_and_grad, batch_x0, vectorized=True, **run))
    for i, row in enumerate(single):
        one = roll(rastrigin.value_and_grad, row, **run)
        np.testing.assert_allclose(batch.x[i], backends.to_host(one.x), rtol=1e-12, atol=1e-14)
        assert batch.fun[i] == pytest.approx(one.fun, rel=1e-12)
        assert (batch.nit[i], batch.status[i], batch.best_nit[i]) == (
            one.nit,
            one.status,
            one.best_nit,
        )
        assert batch.message[i] == one.message
    # The statuses differ between rows: rows did stop independently.
    assert len(set(batch.nit.tolist())) > 1


def test_multistart_batch_and_one_by_one_share_their_first_round() -> None:
    kw: dict[str, Any] = {"jac": True, "rng": 11, "radius": 1.0, "lr": 0.02, "maxfev": 600}
    kw["schedule"] = "restart"  # balls, as rows of one batch
    box = [(-4.0, 4.0)] * 3
    batch = rbo.multistart(rastrigin.value_and_grad, box, 8, vectorized=True, **kw)
    loop = rbo.multistart(rastrigin.value_and_grad, box, 8, **kw)
    # The same first round of starts; later rounds may differ, as a batch evaluates rows
    # that have stopped, which the budget counts.
    np.testing.assert_array_equal(batch.starts[:8], loop.starts[:8])
    assert batch.nfev <= 600 and loop.nfev <= 600
    # The best row is the row with the lowest value, and its fields are that row's.
    assert batch.best == int(np.argmin(batch.runs.fun))
    np.testing.assert_array_equal(batch.x, batch.runs.x[batch.best])
    assert batch.nfev == sum(batch.runs.nfev_all)


def test_multistart_is_reproducible_from_its_rng() -> None:
    kw: dict[str, Any] = {"jac": True, "vectorized": True, "maxiter": 20, "schedule": "restart"}
    box = Bounds([-1.0, 0.0], [1.0, 2.0])
    a = rbo.multistart(rosenbrock.value_and_grad, box, 5, rng=4, **kw)
    b = rbo.multistart(rosenbrock.value_and_grad, box, 5, rng=4, **kw)
    c = rbo.multistart(rosenbrock.value_and_grad, box, 5, rng=5, **kw)
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.runs.x, b.runs.x)
    assert not np.array_equal(a.starts, c.starts)
    assert np.all((a.starts >= [-1.0, 0.0]) & (a.starts <= [1.0, 2.0]))


@pytest.mark.parametrize("device", [None, "device1"])
def test_stopped_rows_do_not_move(device: str | None) -> None:
    x0 = _starts(5, 2, seed=2)
    x0[0] = 0.0  # the minimum of the bowl: stops before the first step
    if device is not None:
        x0 = strict.asarray(x0, device=strict.Device(device))
    res = roll(
        quadratic.value_and_grad,
        x0,
        jac=True,
        vectorized=True,
        radius=0.1,
        lr=0.05,
        return_trajectory=True,
    )
    res = backends.to_host(res)
    path = res.trajectory.x  # (steps + 1, m, n)
    assert res.nit[0] == 0 and res.status[0] == rbo.Status.GTOL
    assert np.all(path[:, 0] == 0.0)
    assert len(set(res.nit.tolist())) > 1
    for i, nit in enumerate(res.nit):
        # After its last step a row's contact point is frozen, bit for bit.
        assert np.all(path[nit:, i] == path[nit, i])
        assert np.all(res.x_last[i] == path[nit, i])
    assert path.shape[0] - 1 >= res.nit.max()


def _bowl_with_hole(xp: Any, row: int, device: Any = None) -> Any:
    """The bowl ``|x|^2 / 2``, except that row ``row`` gives NaN wherever its first
    coordinate is below 0.6, where it starts: every step downhill falls into the hole,
    however much the learning rate is halved."""

    def fg(x: Any) -> tuple[Any, Any]:
        f, g = quadratic.value_and_grad(x)
        hole = (xp.arange(x.shape[0], device=device) == row) & (x[:, 0] < 0.6)
        return xp.where(hole, xp.nan, f), g

    return fg


def test_a_failing_row_fails_alone() -> None:
    x0 = np.array([[0.3, 0.2], [0.6, 0.1], [-0.4, 0.3]])
    res = roll(
        _bowl_with_hole(np, 1), x0, jac=True, vectorized=True, radius=0.1, lr=0.2, max_halvings=3
    )
    assert res.status[1] == rbo.Status.NONFINITE
    assert not res.success[1]
    assert np.isfinite(res.fun[1]) and np.all(res.x[1] == x0[1])  # its best: the start
    assert res.status[0] == res.status[2] == rbo.Status.GTOL  # the others reached the minimum


def test_reads_back_nothing_to_fail_a_row_on_a_device() -> None:
    """On a device a row that meets NaN stays put and halves its learning rate at the next
    step; past max_halvings it fails, and the other rows carry on."""
    dev = strict.Device("device1")
    x0 = np.array([[0.3, 0.2], [0.6, 0.1]])
    res = backends.to_host(
        roll(
            _bowl_with_hole(strict, 1, dev),
            strict.asarray(x0, device=dev),
            jac=True,
            vectorized=True,
            radius=0.1,
            lr=0.2,
            max_halvings=3,
        )
    )
    assert res.status.tolist() == [rbo.Status.GTOL, rbo.Status.NONFINITE]
    assert res.nit[1] == 3  # three steps stayed put to halve, the fourth failed (uncounted)
    assert np.all(res.x[1] == x0[1])
    assert np.all(np.abs(res.x[0]) < 1e-3)


def test_budgets_stop_the_running_rows() -> None:
    x0 = _starts(4, 3)
    x0[0] = 0.0
    res = roll(rastrigin.value_and_grad, x0, vectorized=True, **(RUN | {"maxiter": 5}))
    assert res.status.tolist() == [rbo.Status.GTOL] + [rbo.Status.MAXITER] * 3
    assert res.nit.tolist() == [0, 5, 5, 5]
    res = roll(rastrigin.value_and_grad, x0, vectorized=True, maxfev=30, **RUN)
    assert res.status.tolist() == [rbo.Status.GTOL] + [rbo.Status.MAXFEV] * 3
    assert res.nfev <= 30  # calls of fun on the whole batch, never beyond maxfev


def test_callback_sees_every_row_and_can_stop_the_batch() -> None:
    seen = []

    def callback(intermediate_result: Any) -> None:
        seen.append(intermediate_result.fun.shape)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = roll(rastrigin.value_and_grad, _starts(4, 2), vectorized=True, callback=callback, **RUN)
    assert seen == [(4,)] * 3
    assert res.status.tolist() == [rbo.Status.CALLBACK] * 4
    assert res.nit.tolist() == [3] * 4


def test_an_exception_carries_every_rows_best_point() -> None:
    calls = {"n": 0}

    def fg(x: Any) -> tuple[Any, Any]:
        calls["n"] += 1
        if calls["n"] > 25:
            raise RuntimeError("disk full")
        return rastrigin.value_and_grad(x)

    with pytest.raises(RuntimeError, match="disk full") as info:
        roll(fg, _starts(3, 2), vectorized=True, **RUN)
    partial = info.value.rbo_result
    assert partial.x.shape == (3, 2)
    assert partial.status.tolist() == [rbo.Status.ERROR] * 3
    assert "RuntimeError: disk full" in partial.message[0]
    assert np.all(partial.fun <= rastrigin(_starts(3, 2)))


def test_vectorized_needs_a_matrix_of_starts() -> None:
    with pytest.raises(ValueError, match=r"x0 must have shape \(m, n\)"):
        roll(rastrigin.value_and_grad, np.ones(3), jac=True, vectorized=True)


def test_vectorized_fun_must_return_one_value_per_row() -> None:
    with pytest.raises(ValueError, match=r"fun must return shape \(4,\)"):
        roll(lambda x: rastrigin(x)[:2], np.ones((4, 3)), vectorized=True)


@pytest.mark.parametrize(
    ("bounds", "n_starts", "error", "match"),
    [
        ([(0.0, 1.0), (2.0, 1.0)], 3, ValueError, r"coordinate 1 has \(2.0, 1.0\)"),
        ([(0.0, 1.0, 2.0)], 3, ValueError, "pairs"),
        (5.0, 3, TypeError, "bounds must be"),
        ([(0.0, float("inf"))], 3, ValueError, "finite"),
        ([(0.0, 1.0)], 0, ValueError, "n_starts must be >= 1"),
    ],
)
def test_multistart_input_errors(bounds: Any, n_starts: int, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        rbo.multistart(quadratic.value_and_grad, bounds, n_starts, jac=True)


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@pytest.mark.parametrize("device", [None, "device1"])
def test_a_diverging_projection_fails_its_row_where_it_stood(device: str | None) -> None:
    """The reference fixed-step projection diverges where h (1 + |g|^2) > 2 (h = 1e-3 on
    Rastrigin far from 0); that row stops at its last good point, a gentle row goes on."""
    x0 = np.stack([np.linspace(-4.5, 4.0, 10), np.full(10, 1e-3)])
    start = x0 if device is None else strict.asarray(x0, device=strict.Device(device))
    res = backends.to_host(
        roll(
            rastrigin.value_and_grad,
            start,
            jac=True,
            vectorized=True,
            radius=1e-3,
            lr=1e-3,
            projection="gd",
            proj_step=1e-3,
            maxiter=30,
            return_trajectory=True,
        )
    )
    assert res.status[0] == rbo.Status.PROJECTION_FAILED
    assert res.status[1] != rbo.Status.PROJECTION_FAILED
    assert res.nit[0] < res.nit[1]
    path = res.trajectory.x[:, 0]
    # From its last good point on, the failed row never moves (no diverged point kept).
    assert np.all(path[res.nit[0] :] == path[res.nit[0]])
    assert np.all(res.x_last[0] == path[res.nit[0]])
    assert np.all(np.isfinite(res.x[0])) and res.fun[0] <= rastrigin(x0[0])
