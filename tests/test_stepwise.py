"""Step-wise (ask/tell) use: rbo.Stepper and rbo.RollingBall, one objective per step."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Backend, assert_array_like, roll

import rbo
from rbo.problems import quadratic, rastrigin

X0 = [1.3, -0.4, 2.1, 0.7, -1.6]
STEPS = 25


def _minimize_path(method: str, **options):
    res = roll(
        rastrigin,
        np.array(X0),
        jac=rastrigin.jac,
        method=method,
        maxiter=STEPS,
        patience=None,
        gtol=0,
        xtol=0,
        return_trajectory=True,
        **options,
    )
    assert res.nit == STEPS
    return res


@pytest.mark.parametrize(
    ("method", "options", "make"),
    [
        ("rbo", {"radius": 0.5, "lr": 0.01}, lambda o: rbo.RBO(**o)),
        ("sgd", {"lr": 0.005, "momentum": 0.9}, lambda o: rbo.SGD(**o)),
        ("sam", {"lr": 0.005, "rho": 0.1}, lambda o: rbo.SAM(**o)),
        (
            "entropy-sgd",
            {"lr": 0.5, "inner_steps": 3, "noise": 1e-3},
            lambda o: rbo.EntropySGD(**o),
        ),
    ],
)
def test_stepwise_equals_minimize_step_for_step(method, options, make) -> None:
    res = _minimize_path(method, **options)
    for minibatch in (False, True):
        opt = rbo.Stepper(make(options), X0, minibatch=minibatch)
        for k in range(STEPS):
            loss = opt.step(rastrigin.value_and_grad)
            assert float(loss) == float(res.trajectory.fun[k])
            np.testing.assert_array_equal(opt.x, res.trajectory.x[k + 1])
        if not minibatch:
            assert (opt.nfev, opt.njev) == (res.nfev, res.njev)
        elif method == "rbo":
            # One more evaluation per step after the first: the contact point on the new batch.
            assert opt.nfev == res.nfev + STEPS - 1
        else:
            # No evaluation at the landing point: SGD 1, SAM 2, Entropy-SGD L per step.
            per_step = {"sgd": 1, "sam": 2, "entropy-sgd": 3}[method]
            assert opt.nfev == per_step * STEPS
        assert opt.nit == STEPS and opt.status is None


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
def test_rolling_ball_is_rbo_with_its_options() -> None:
    res = _minimize_path("rbo", radius=0.5, lr=0.01, fscale=5.0, proj_maxiter=4)
    opt = rbo.RollingBall(X0, radius=0.5, lr=0.01, fscale=5.0, proj_maxiter=4, minibatch=False)
    for _ in range(STEPS):
        opt.step(rastrigin.value_and_grad)
    np.testing.assert_array_equal(opt.x, res.x_last)
    assert opt.nfev == res.nfev
    assert float(opt.residual) == res.proj_residual


class Batches:
    """Objectives f_t(x) = ½|x - c_t|² with a different centre per batch, each recording
    the evaluations made on it."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.centres = np.random.default_rng(seed).normal(size=(n, 3))
        self.calls: list[int] = []

    def __getitem__(self, t: int):
        c = self.centres[t]

        def fg(x):
            self.calls.append(t)
            return 0.5 * np.sum((x - c) ** 2), x - c  # solvers take arrays

        return fg


@pytest.mark.parametrize(
    ("solver", "cost"),
    [
        (rbo.SGD(lr=0.3), lambda s: 1),
        (rbo.SAM(lr=0.3, rho=0.2), lambda s: 2),
        (rbo.EntropySGD(inner_steps=4, noise=0.0), lambda s: 4),
        (rbo.RBO(radius=2.0, lr=0.3), lambda s: 1 + s.proj_iters),
    ],
    ids=["sgd", "sam", "entropy-sgd", "rbo"],
)
def test_one_minibatch_serves_every_evaluation_of_its_step(solver, cost) -> None:
    batches = Batches(6)
    opt = rbo.Stepper(solver, np.zeros(3))
    for t in range(6):
        before = len(batches.calls)
        opt.step(batches[t])
        made = batches.calls[before:]
        assert set(made) == {t}
        assert len(made) == cost(opt.state)
    assert opt.nfev == len(batches.calls)


def test_minibatch_rbo_step_is_the_solver_step_on_the_new_batch() -> None:
    """The step on a new batch is the step from a state evaluated afresh on that batch:
    nothing computed from the previous batch's gradient (such as |g|^2) leaks into it.
    Only the solver's own memory (the step count and the line search's warm start)
    carries over."""
    batches = Batches(3)
    solver = rbo.RBO(radius=2.0, lr=0.3)
    opt = rbo.Stepper(solver, np.zeros(3))
    opt.step(batches[0])
    state = opt.state
    opt.step(batches[1])
    fresh = solver.init(batches[1], state.x)
    g_old, g_new = state.g, fresh.g
    assert not np.allclose(g_old @ g_old, g_new @ g_new)  # the batches disagree
    expected = solver.step(batches[1], fresh._replace(nit=state.nit, proj_alpha=state.proj_alpha))
    np.testing.assert_array_equal(opt.x, expected.x)


def test_best_is_the_lowest_evaluated_point() -> None:
    batches = Batches(8, seed=3)
    opt = rbo.Stepper(rbo.SGD(lr=0.5), np.full(3, 4.0))
    losses, points = [], []
    for t in range(8):
        points.append(opt.x)
        losses.append(float(opt.step(batches[t])))
    best = opt.best
    assert best.fun == min(losses)
    np.testing.assert_array_equal(best.x, points[int(np.argmin(losses))])
    assert best.nit == int(np.argmin(losses))


def test_reset_returns_to_the_start_or_a_new_point() -> None:
    opt = rbo.RollingBall([1.0, 2.0], radius=0.1, lr=0.1)
    for _ in range(3):
        opt.step(quadratic.value_and_grad)
    assert opt.nit == 3 and opt.nfev > 0
    opt.reset()
    assert opt.nit == 0 and opt.nfev == opt.njev == 0 and opt.best is None and opt.state is None
    assert opt.x.tolist() == [1.0, 2.0]
    opt.step(quadratic.value_and_grad)
    first = opt.x
    opt.reset()
    opt.step(quadratic.value_and_grad)
    np.testing.assert_array_equal(opt.x, first)
    opt.reset([5.0, 5.0])
    assert opt.x.tolist() == [5.0, 5.0]


def test_rolling_ball_exposes_contact_point_centre_and_residual() -> None:
    opt = rbo.RollingBall([0.8, -0.3], radius=0.5, lr=0.1)
    with pytest.raises(RuntimeError, match="first step"):
        _ = opt.center
    opt.step(quadratic.value_and_grad)
    state = opt.state
    cx, cy = opt.center
    # The centre is the contact point plus radius times the upward unit normal.
    g = state.g
    s = np.sqrt(1 + g @ g)
    np.testing.assert_allclose(cx, state.x - 0.5 * g / s)
    np.testing.assert_allclose(cy, state.f + 0.5 / s)
    np.testing.assert_allclose(np.hypot(np.linalg.norm(cx - opt.x), cy - state.f), 0.5)
    assert float(opt.residual) == float(state.residual) and float(opt.residual) < 1e-6


def test_non_finite_landing_is_redone_from_the_previous_point() -> None:
    # Finite for |x| < 3 only. SGD from 2 with lr 3 lands at -4 without looking (the next
    # batch evaluates it); that batch redoes the step with halving: 2 - 1.5 * 2 = -1.
    def fg(x):
        if np.any(np.abs(x) >= 3.0):
            return np.nan, np.full_like(x, np.nan)
        return float(0.5 * x @ x), x.copy()

    opt = rbo.Stepper(rbo.SGD(lr=3.0), [2.0])
    opt.step(fg)
    assert opt.x.tolist() == [-4.0]
    loss = opt.step(fg)
    assert float(loss) == 2.0  # the value where the redone step started
    assert opt.x.tolist() == [-1.0] and opt.status is None
    assert opt.state.lr == 1.5


def test_unrecoverable_nan_stops_the_stepper_until_reset() -> None:
    calls = {"n": 0}

    def fg(x):
        calls["n"] += 1
        if calls["n"] > 1:
            return np.nan, np.full_like(x, np.nan)
        return float(x @ x), 2 * x

    opt = rbo.Stepper(rbo.SGD(lr=0.1), [1.0])
    opt.step(fg)
    loss = opt.step(fg)
    assert np.isnan(float(loss))
    assert opt.status == rbo.Status.NONFINITE
    with pytest.raises(RuntimeError, match="stopped"):
        opt.step(fg)
    opt.reset()
    calls["n"] = 0
    opt.step(fg)
    assert opt.status is None


def test_an_exception_in_the_objective_propagates_and_is_counted() -> None:
    opt = rbo.RollingBall([1.0], radius=0.1, lr=0.1)
    opt.step(quadratic.value_and_grad)
    x, nfev = opt.x, opt.nfev

    def broken(x):
        raise KeyError("no batch")

    with pytest.raises(KeyError, match="no batch"):
        opt.step(broken)
    assert opt.x is x and opt.nfev == nfev + 1
    opt.step(quadratic.value_and_grad)
    assert opt.nit == 2


def test_stepper_keeps_namespace_dtype_and_device(backend: Backend) -> None:
    x0 = backend.asarray([0.9, -1.1, 0.4])
    for opt in (
        rbo.RollingBall(x0, radius=0.3, lr=0.05),
        rbo.Stepper(rbo.SAM(lr=0.01), x0),
        rbo.Stepper(rbo.EntropySGD(inner_steps=2), x0),
    ):
        for _ in range(3):
            loss = opt.step(rastrigin.value_and_grad)
        assert_array_like(opt.x, x0)
        assert_array_like(opt.best.x, x0)
        assert_array_like(loss, backend.asarray(0.0))


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="init, step and terminate"):
        rbo.Stepper(object(), [1.0])
    with pytest.raises(TypeError, match="minibatch"):
        rbo.Stepper(rbo.SGD(), [1.0], minibatch=1)
    with pytest.raises(ValueError, match="x0"):
        rbo.Stepper(rbo.SGD(), [[1.0, 2.0]])
    with pytest.raises(TypeError, match="radus"):
        rbo.RollingBall([1.0], radius=1.0, lr=0.1, radus=2.0)
    opt = rbo.Stepper(rbo.SGD(), [1.0, 2.0])
    with pytest.raises(TypeError, match="value_and_grad must be callable"):
        opt.step(3)
    with pytest.raises(ValueError, match="gradient must have x's shape"):
        opt.step(lambda x: (1.0, np.ones(3)))
    with pytest.raises(ValueError, match="must be finite"):
        opt.step(lambda x: (np.inf, x))
    assert opt.state is None
