"""The evaluation budget is exact, and a run keeps the best point it evaluated."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import roll

import rbo
from tests.conftest import Backend

METHODS = ["rbo", "sgd", "sam", "entropy-sgd"]
JACS = ["callable", True, "2-point", "3-point"]
X0 = [0.2, -1.3, 0.7]


class Recorder:
    """A wavy bowl in ``backend``'s namespace that records the points of every call."""

    def __init__(self, backend: Backend, jac: Any) -> None:
        self.xp = backend.xp
        self.mode = jac
        self.calls: list[Any] = []  # points fun was called at
        self.graded: list[Any] = []  # points where fun returned a gradient or jac was called

    def value(self, x: Any) -> Any:
        xp = self.xp
        return xp.sum((x - 1.0) ** 2, axis=-1) + 0.5 * xp.sum(xp.sin(4.0 * x), axis=-1)

    def grad(self, x: Any) -> Any:
        return 2.0 * (x - 1.0) + 2.0 * self.xp.cos(4.0 * x)

    def fun(self, x: Any) -> Any:
        self.calls.append(x)
        f = self.value(x)
        if self.mode is True:
            self.graded.append(x)
            return f, self.grad(x)
        return f

    def jac(self, x: Any) -> Any:
        self.graded.append(x)
        return self.grad(x)

    def best_graded(self) -> float:
        """The lowest value at a point where the gradient was asked for."""
        return min(float(self.value(x)) for x in self.graded)

    def minimize(self, x0: Any, **kwargs: Any) -> Any:
        jac = self.jac if self.mode == "callable" else self.mode
        return roll(self.fun, x0, jac=jac, **kwargs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("jac", JACS)
@pytest.mark.parametrize("maxfev", [7, 50])
def test_maxfev_is_never_exceeded_and_the_best_evaluated_point_is_returned(
    method: str, jac: Any, maxfev: int
) -> None:
    np_backend = Backend("numpy", rbo.backends.get("numpy").namespace())
    f = Recorder(np_backend, jac)
    res = f.minimize(np.array(X0), method=method, maxfev=maxfev, maxiter=10_000)
    assert len(f.calls) == res.nfev <= maxfev
    assert res.status == rbo.Status.MAXFEV
    # Stopped because the next evaluation did not fit, not earlier.
    per_gradient = {"2-point": 4, "3-point": 7}.get(jac, 1)
    assert res.nfev > maxfev - per_gradient * (20 if method == "entropy-sgd" else 9)
    assert res.fun == float(f.value(res.x))
    assert res.fun <= float(f.value(np.array(X0)))
    if f.graded:
        assert res.fun <= f.best_graded()
    np.testing.assert_allclose(res.jac, f.grad(res.x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_maxfev_is_exact_on_every_backend(backend: Backend, method: str) -> None:
    f = Recorder(backend, "callable")
    res = f.minimize(backend.asarray(X0), method=method, maxfev=23)
    assert len(f.calls) == res.nfev <= 23
    assert res.status == int(rbo.Status.MAXFEV)
    assert res.fun == float(f.value(res.x))
    assert res.fun <= f.best_graded()


def test_maxfev_is_exact_for_a_batch(backend: Backend) -> None:
    f = Recorder(backend, True)
    x0 = backend.asarray([X0, [1.5, 0.0, -0.4]])
    res = f.minimize(x0, maxfev=13, vectorized=True)
    assert len(f.calls) == res.nfev <= 13
    assert [int(s) for s in res.status] == [int(rbo.Status.MAXFEV)] * 2
    values = f.value(res.x)
    for row in range(2):
        assert float(res.fun[row]) == float(values[row])
        assert float(res.fun[row]) <= min(float(f.value(x)[row]) for x in f.graded)


def test_a_budget_below_one_gradient_is_refused_naming_maxfev() -> None:
    f = Recorder(Backend("numpy", rbo.backends.get("numpy").namespace()), "2-point")
    with pytest.raises(ValueError, match="maxfev"):
        f.minimize(np.array(X0), maxfev=3)  # one forward-difference gradient needs 4
    assert f.calls == []


def test_a_step_cut_short_by_maxfev_counts_and_keeps_its_points() -> None:
    f = Recorder(Backend("numpy", rbo.backends.get("numpy").namespace()), "callable")
    full = f.minimize(np.array(X0), maxiter=1, radius=0.5, lr=0.5)
    f.graded.clear()
    f.calls.clear()
    res = f.minimize(np.array(X0), maxfev=full.nfev + 2, radius=0.5, lr=0.5)
    assert res.nfev == len(f.calls) == full.nfev + 2  # the second step was cut short
    assert res.nit == 1
    assert res.fun == f.best_graded() <= full.fun


def test_a_better_trial_point_than_every_contact_point_is_returned() -> None:
    # A ball as wide as the bowl with a large lr bounces from wall to wall; its
    # projections pass closer to the bottom than any contact point they settle on.
    xp = rbo.backends.get("numpy").namespace()
    graded: list[Any] = []

    def fun(x: Any) -> Any:
        return float(x @ x)

    def jac(x: Any) -> Any:
        graded.append(x)
        return 2.0 * x

    contacts: list[float] = []
    res = roll(
        fun,
        xp.asarray([1.0]),
        jac=jac,
        radius=1.0,
        lr=1.0,
        maxiter=10,
        callback=lambda intermediate_result: contacts.append(intermediate_result.fun),
    )
    assert res.fun == min(fun(x) for x in graded) < min(contacts)
    assert res.fun == fun(res.x)
    assert res.jac.tolist() == (2.0 * res.x).tolist()
