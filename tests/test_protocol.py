"""The solver protocol as the loop uses it, and what a run reports at its edges."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, NamedTuple

import array_api_strict as strict
import numpy as np
import pytest
from conftest import roll

import rbo
from rbo._arrays import Array, codes
from rbo._solver import RUNNING, SolverBase

# --- first-order baselines on rows --------------------------------------------------------


def _bowl(x: Any) -> Any:
    """Anisotropic bowl, row-wise, so rows of a batch move differently."""
    w = np.arange(1.0, x.shape[-1] + 1.0)
    return np.sum(w * x * x, axis=-1)


def _bowl_jac(x: Any) -> Any:
    return 2.0 * np.arange(1.0, x.shape[-1] + 1.0) * x


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("sgd", {"lr": 0.05, "momentum": 0.5}),
        ("sam", {"lr": 0.05, "rho": 0.1}),
        ("sam", {"lr": 0.05, "adaptive": True}),
        ("entropy-sgd", {"lr": 1.0, "inner_steps": 3, "noise": 0.0}),
    ],
)
def test_batched_baseline_rows_equal_separate_runs(method: str, options: dict[str, Any]) -> None:
    x0 = np.array([[1.0, -2.0, 0.5], [0.1, 0.2, -0.3], [3.0, 0.0, 1.0]])
    kw = {"jac": _bowl_jac, "method": method, "maxiter": 25, **options}
    batch = roll(_bowl, x0, vectorized=True, **kw)
    for i, row in enumerate(x0):
        alone = roll(_bowl, row, **kw)
        np.testing.assert_allclose(batch.x[i], alone.x, rtol=1e-12, atol=1e-15)
        assert float(batch.fun[i]) == pytest.approx(alone.fun, rel=1e-12, abs=1e-300)
        assert int(batch.nit[i]) == alone.nit


def test_batched_sgd_halves_the_learning_rate_of_the_failing_row_only() -> None:
    # Row 0 lands in a NaN region (x > 1.5) with the full step and retries with less;
    # row 1 is never near it and keeps the full learning rate.
    def fg(x: Any) -> tuple[Any, Any]:
        f = np.where(x[..., 0] > 1.5, np.nan, np.sum(x * x, axis=-1))
        return f, -2.0 * x  # a gradient that pushes outwards

    solver = rbo.SGD(lr=1.0)
    state = solver.step(fg, solver.init(fg, np.array([[1.0, 0.0], [0.0, 0.1]])))
    assert state.lr.tolist() == [0.25, 1.0]
    assert state.failure.tolist() == [RUNNING, RUNNING]
    np.testing.assert_allclose(state.x, [[1.5, 0.0], [0.0, 0.3]])


# --- the protocol --------------------------------------------------------------------------


class _GDState(NamedTuple):
    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Array


@dataclasses.dataclass(frozen=True)
class _PlainGD(SolverBase):
    """A solver that knows nothing of RBO: fixed-step gradient descent."""

    lr: float = 0.1

    def init(self, fun: Any, x0: Array, /) -> _GDState:
        f, g = fun(x0)
        return _GDState(x0, f, g, 0, np.zeros_like(f), codes(RUNNING, f))

    def step(self, fun: Any, state: _GDState, /) -> _GDState:
        x = state.x - self.lr * state.g
        f, g = fun(x)
        return _GDState(x, f, g, state.nit + 1, np.linalg.norm(x - state.x, axis=-1), state.failure)

    def postprocess(self, state: _GDState, /, *, intermediate: bool = False) -> dict[str, Any]:
        return {"last_lr": self.lr} if intermediate else {"steps_made": state.nit}


def test_a_new_solver_runs_in_the_loop_with_its_own_result_fields() -> None:
    seen: list[Any] = []

    def callback(intermediate_result: Any) -> None:
        seen.append(intermediate_result)

    res = roll(_bowl, np.array([1.0, 1.0]), jac=_bowl_jac, method=_PlainGD(), callback=callback)
    assert res.success and res.status == 0
    assert res.steps_made == res.nit
    assert seen and seen[0].last_lr == 0.1 and "steps_made" not in seen[0]
    assert "proj_residual" not in res


def test_every_solver_terminates_with_per_row_codes() -> None:
    x0 = np.array([[1.0, 2.0], [0.5, -1.0]])
    for solver in (rbo.RBO(), rbo.SGD(), rbo.SAM(), rbo.EntropySGD(inner_steps=2), _PlainGD()):
        fg = lambda x: (_bowl(x), _bowl_jac(x))  # noqa: E731
        state = solver.step(fg, solver.init(fg, x0))
        verdict = solver.terminate(state)
        assert verdict.shape == (2,) and verdict.tolist() == [RUNNING, RUNNING]


def test_rbo_result_and_intermediate_fields_are_kept() -> None:
    seen: list[Any] = []

    def callback(intermediate_result: Any) -> None:
        seen.append(intermediate_result)

    res = roll(_bowl, np.array([1.0, 1.0]), jac=_bowl_jac, callback=callback)
    assert isinstance(res.proj_residual, float)
    ir = seen[0]
    assert {"center", "radius", "lr", "proj_residual"} <= set(ir)
    assert isinstance(ir.proj_residual, float)
    batch = roll(_bowl, np.ones((2, 2)), jac=_bowl_jac, vectorized=True)
    assert batch.proj_residual.shape == (2,)


# --- NaN is retried the same way on every backend ------------------------------------------


def _cliff(x: Any) -> tuple[Any, Any]:
    """A bowl that is NaN below x[0] = 0.8: a long step from the right overshoots into it."""
    xp = strict if type(x).__module__.startswith("array_api_strict") else np
    f = xp.sum(x * x, axis=-1)
    f = xp.where(x[..., 0] < 0.8, xp.asarray(xp.nan, dtype=x.dtype, device=x.device), f)
    return f, 2.0 * x


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
def test_nan_retry_is_the_same_on_the_host_and_on_a_device() -> None:
    kw = {"jac": True, "radius": 0.5, "lr": 3.0, "proj_maxiter": 2, "maxiter": 15, "patience": None}
    start = np.array([1.0, 0.3])
    host = roll(_cliff, strict.asarray(start), **kw)
    device = roll(_cliff, strict.asarray(start, device=strict.Device("device1")), **kw)
    # A row that stays put to retry has not converged: no XTOL at its zero step.
    assert host.status == device.status == rbo.Status.MAXITER
    # (nfev differs: a projection on a device reads its flags only every few iterations)
    assert host.nit == device.nit and host.fun == device.fun
    np.testing.assert_array_equal(rbo.backends.to_host(host.x), rbo.backends.to_host(device.x))


# --- exceptions, warnings and messages -----------------------------------------------------


def test_exception_during_the_start_carries_the_start_as_result() -> None:
    calls = {"n": 0}

    def fun(x: Any) -> float:
        calls["n"] += 1
        if calls["n"] == 2:  # the first finite-difference probe
            raise RuntimeError("simulator crashed")
        return float(x @ x)

    x0 = np.array([1.0, 2.0])
    with pytest.raises(RuntimeError, match="simulator crashed") as info:
        roll(fun, x0)
    res = info.value.rbo_result
    assert res.status == 7 and not res.success
    assert "simulator crashed" in res.message
    np.testing.assert_array_equal(res.x, x0)
    assert res.fun == 5.0


def test_exception_during_a_batched_start_carries_every_start() -> None:
    def fun(x: Any) -> Any:
        raise ValueError("no")

    x0 = np.ones((3, 2))
    with pytest.raises(ValueError, match="no") as info:
        roll(fun, x0, vectorized=True)
    res = info.value.rbo_result
    assert res.status.tolist() == [7, 7, 7]
    np.testing.assert_array_equal(res.x, x0)


def test_nan_gradient_message_names_the_gradient() -> None:
    res = roll(lambda x: x @ x, np.ones(2), jac=lambda x: np.full(2, np.nan))
    assert res.status == rbo.Status.NONFINITE
    assert res.message.startswith(rbo.Status.NONFINITE.message)
    assert "gradient" in res.message and "x0" in res.message


def test_nan_value_message_names_the_value() -> None:
    def fun(x: Any) -> float:
        return float(x @ x) if np.array_equal(x, np.ones(2)) else float("nan")

    res = roll(fun, np.ones(2), jac=lambda x: 2 * x)
    assert res.status == rbo.Status.NONFINITE
    assert "value" in res.message and "gradient" not in res.message


def test_baseline_nan_gradient_message_names_the_gradient() -> None:
    res = roll(lambda x: x @ x, np.ones(2), jac=lambda x: np.full(2, np.nan), method="sgd")
    assert res.status == rbo.Status.NONFINITE and "gradient" in res.message


@pytest.mark.parametrize("projection", ["gauss-newton", "gd"])
@pytest.mark.parametrize("n", [3, 70_000])  # whole arrays, and the NumPy backend's tiles
def test_overflow_inside_rbo_warns_nothing(projection: str, n: int) -> None:
    # |f - c_y|^2 and |grad f|^2 overflow float64: rbo handles that (it retries with a
    # halved learning rate and reports status 5), and NumPy must not warn about it.
    def fg(x: Any) -> tuple[Any, Any]:
        return 1e200 * (1.0 + x @ x), 2e200 * x

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = roll(fg, np.ones(n), jac=True, maxiter=12, projection=projection)
    assert res.fun == pytest.approx(1e200 * (1.0 + n))
    assert "NaN or inf" in res.message or res.status in (1, 3, 4, 6)


@pytest.mark.parametrize("method", ["sgd", "sam", "entropy-sgd"])
def test_overflow_inside_the_baselines_warns_nothing(method: str) -> None:
    def fg(x: Any) -> tuple[Any, Any]:
        with np.errstate(over="ignore"):  # the objective's own overflow is its business
            return 1e200 * (1.0 + x @ x), 2e200 * x

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = roll(fg, np.ones(3), jac=True, maxiter=5, method=method)
    assert res.status == rbo.Status.NONFINITE and "value" in res.message
    assert res.fun == pytest.approx(4e200)  # the start, still the best point
