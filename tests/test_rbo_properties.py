"""The paper's properties of RBO, checked on the implementation.

- GD limit: with a vanishing radius and learning rate, an RBO step is a gradient step.
- Linear ironing: on a tilted plane with wrinkles that trap gradient descent, a large ball
  rolls down the plane.
- Unreachable points: a well sharper than the ball cannot hold it still.
- Projection: the Gauss-Newton default beats the reference fixed-step descent per
  evaluation, and a diverging fixed-step projection is reported.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace
from conftest import Backend, roll
from hypothesis import given, settings
from hypothesis import strategies as st

import rbo
from rbo._geometry import descended_center
from rbo._projection import ProjStatus, project
from rbo.problems import rastrigin, rosenbrock


def _rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    a, b = x
    return np.array([[2 - 400 * (b - 3 * a * a), -400 * a], [-400 * a, 200.0]])


def _step_deviation(backend: Backend, x0: list[float], lr: float) -> float:
    """Relative difference between one RBO step (radius 1e-8) and one gradient step."""
    xp = backend.xp
    solver = rbo.RBO(radius=1e-8, lr=lr)
    state = solver.init(rosenbrock.value_and_grad, backend.asarray(x0))
    after = solver.step(rosenbrock.value_and_grad, state)
    d_rbo = np.asarray([float(v) for v in (after.x - state.x)])
    d_gd = -lr * np.asarray([float(v) for v in state.g])
    assert int(after.failure) == -1  # RUNNING: no failure
    del xp
    return float(np.linalg.norm(d_rbo - d_gd) / np.linalg.norm(d_gd))


@pytest.mark.parametrize("x0", [[0.01, 0.0], [0.5, 0.2], [-1.2, 1.0]])
def test_small_radius_and_lr_step_is_a_gradient_step(backend: Backend, x0: list[float]) -> None:
    assert _step_deviation(backend, x0, 1e-10) < 1e-6


@pytest.mark.parametrize("x0", [[0.01, 0.0], [0.5, 0.2]])
def test_gd_limit_deviation_is_the_curvature_correction(x0: list[float]) -> None:
    """At radius -> 0 the step leaves GD by the bend of the graph under the lifted step:
    relative deviation ~ lr * (g.H.g) / (2 (1 + |g|^2)), first order in lr."""
    x = np.asarray(x0)
    _, g = rosenbrock.value_and_grad(x)
    predicted = 0.5 * abs(g @ _rosenbrock_hessian(x) @ g) / (1 + g @ g)
    for lr in (1e-7, 1e-6, 1e-5):
        measured = _step_deviation_numpy(x0, lr)
        assert measured == pytest.approx(predicted * lr, rel=0.05)


def _step_deviation_numpy(x0: list[float], lr: float) -> float:
    from conftest import make_backend

    return _step_deviation(make_backend("numpy", None), x0, lr)


def _wrinkled_plane(a: np.ndarray, eps: float, omega: float):
    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        return a @ x + eps * np.sum(np.sin(omega * x)), a + eps * omega * np.cos(omega * x)

    return fg


def test_large_ball_irons_out_wrinkles_that_trap_gradient_descent() -> None:
    # eps * omega = 2 > |a_i|: every coordinate has local minima, so GD stops in one wrinkle.
    a = np.array([0.5, 0.5])
    eps, omega, lr = 0.1, 20.0, 0.02
    fg = _wrinkled_plane(a, eps, omega)
    period = 2 * math.pi / omega
    # Start on wrinkle crests: the tangent ball there touches the landscape only there.
    crest = np.full(2, 0.5 * math.pi / omega)
    starts = [crest + period * np.array([i, j]) for i in (-1, 0, 2) for j in (-2, 1)]
    for x0 in starts:
        x = x0.copy()
        for _ in range(1000):
            x = x - lr * fg(x)[1]
        assert np.linalg.norm(x - x0) < period  # gradient descent is trapped

        solver = rbo.RBO(radius=1.0, lr=lr)
        state = solver.init(fg, x0)
        for _ in range(40):
            state = solver.step(fg, state)
        moved = state.x - x0
        cosine = -(moved @ a) / (np.linalg.norm(moved) * np.linalg.norm(a))
        assert cosine >= 0.99
        assert np.linalg.norm(moved) > 3 * period


def _sharp_beside_broad(depth: float = 0.3, width: float = 0.02, centre: float = 0.6):
    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        bump = depth * np.exp(-(x**2) / (2 * width**2))
        return float(np.sum(0.5 * (x - centre) ** 2 - bump)), (x - centre) + bump * x / width**2

    sigma = depth / width**2 + 1.0  # curvature at the bottom of the sharp well
    return fg, sigma, width


def test_small_ball_settles_in_sharp_well() -> None:
    fg, sigma, _ = _sharp_beside_broad()
    res = roll(fg, [0.005], jac=True, radius=0.1 / sigma, lr=1e-3, maxiter=2000)
    # The sharp well's bottom, shifted by the broad well's slope.
    bottom = roll(fg, [0.0], jac=True, radius=1e-12, lr=1e-3, gtol=1e-12).x
    assert res.success
    assert abs(float(res.x_last[0] - bottom[0])) < 1e-5


@pytest.mark.parametrize("factor", [4.0, 40.0])
def test_ball_wider_than_sharp_well_never_settles_in_it(factor: float) -> None:
    fg, sigma, _width = _sharp_beside_broad()
    bottom = 0.0008  # within 1e-5 of the well's minimiser (see the test above)
    res = roll(
        fg,
        [0.005],
        jac=True,
        radius=factor / sigma,
        lr=1e-3,
        maxiter=300,
        patience=None,
        return_trajectory=True,
    )
    path = np.asarray(res.trajectory.x[-50:, 0])
    steps = np.abs(np.diff(path))
    # The contact point keeps jumping between the walls and never reaches the bottom.
    assert np.min(np.abs(path - bottom)) > 20 * 1e-5
    assert np.median(steps) > 1e-3
    assert res.status == rbo.Status.MAXITER


def test_ball_much_wider_than_sharp_well_leaves_it() -> None:
    fg, sigma, width = _sharp_beside_broad()
    res = roll(fg, [0.005], jac=True, radius=375 / sigma, lr=5e-3, maxiter=400, patience=None)
    assert abs(float(res.x_last[0])) > 3 * width


def _residuals(fg, x0: np.ndarray, radius: float, lr: float, evals: int, steps: int = 30):
    """Projection residuals of Gauss-Newton and of fixed-step gd (best of the reference
    step sizes 1e-2 and 1e-3) for the same number of evaluations, along an RBO run."""
    solver = rbo.RBO(radius=radius, lr=lr)
    state = solver.init(fg, x0)
    gn, gd = [], []
    for _ in range(steps):
        cx, cy = descended_center(state.x, state.f, state.g, radius, lr)
        p = project(fg, state.x, state.f, state.g, cx, cy, maxiter=evals, rtol=0.0)
        assert p.iters <= evals
        gn.append(float(p.residual))
        gd.append(
            min(
                float(
                    project(
                        fg,
                        state.x,
                        state.f,
                        state.g,
                        cx,
                        cy,
                        method="gd",
                        maxiter=evals,
                        step=h,
                        rtol=0.0,
                    ).residual
                )
                for h in (1e-2, 1e-3)
            )
        )
        state = solver.step(fg, state)
    return np.asarray(gn), np.asarray(gd)


@pytest.mark.parametrize(
    ("name", "x0", "radius"),
    [
        ("rosenbrock", np.array([-1.2, 1.0]), 1e-3),
        ("rastrigin", np.linspace(-4.5, 4.0, 10), 2e-3),
    ],
)
def test_gauss_newton_projection_beats_fixed_step_gd_per_evaluation(name, x0, radius) -> None:
    fg = {"rosenbrock": rosenbrock, "rastrigin": rastrigin}[name].value_and_grad
    gn, gd = _residuals(fg, x0, radius, 1e-3, evals=5)
    assert np.mean(gn < gd) >= 0.9
    assert np.median(gn / gd) < 1e-2


def test_diverging_gd_projection_is_reported() -> None:
    # The reference settings on Rastrigin (radius 1, h = 1e-3) violate h (1 + |g|^2) < 2.
    x0 = np.linspace(-4.5, 4.0, 10)
    res = roll(
        rastrigin, x0, jac=rastrigin.jac, radius=1.0, lr=1e-3, projection="gd", proj_step=1e-3
    )
    assert res.status == rbo.Status.PROJECTION_FAILED
    assert not res.success
    assert np.all(np.isfinite(res.x))
    # The start, or a better trial point the diverging projection evaluated on the way.
    assert res.fun <= float(rastrigin(x0))
    assert res.fun == float(rastrigin(res.x))
    cx, cy = descended_center(x0, *rastrigin.value_and_grad(x0)[:1], rastrigin.jac(x0), 1.0, 1e-3)
    p = project(
        rastrigin.value_and_grad, x0, *rastrigin.value_and_grad(x0), cx, cy, method="gd", step=1e-3
    )
    assert int(p.status) == ProjStatus.DIVERGED


def test_projection_in_a_box_converges_at_the_foot_point_on_a_face() -> None:
    # The graph's nearest point to the centre lies outside the box: the residual tested
    # is the one that vanishes on the face (the full |grad D| never does there).
    def fg(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.sum(z**2), 2 * z

    x = np.array([0.6])
    box = (np.array([0.5]), np.array([math.inf]))
    p = project(fg, x, *fg(x), np.array([0.0]), np.asarray(0.4), box=box)
    assert int(p.status) == ProjStatus.CONVERGED
    assert float(p.z[0]) == 0.5
    assert int(p.iters) <= 2


def test_first_projection_iteration_is_the_reference_gauss_newton_step(backend: Backend) -> None:
    """The fused projection's first iterate equals the textbook formulas of rbo._geometry:
    z1 = x + delta, delta = -(I + g g^T)^-1 grad D(x)."""
    from rbo._geometry import foot_residual, gauss_newton_direction

    xp = backend.xp
    fg = rosenbrock.value_and_grad
    x = backend.asarray([0.3, 0.1])
    f, g = fg(x)
    cx, cy = descended_center(x, f, g, 0.05, 1e-3)
    _, v = foot_residual(x, f, g, cx, cy)
    delta = gauss_newton_direction(v, g, xp.sum(g * v), xp.sum(g * g))
    p = project(fg, x, f, g, cx, cy, maxiter=1, rtol=0.0)
    expected = x + delta
    for i in range(2):
        assert float(p.z[i]) == pytest.approx(float(expected[i]), rel=1e-12, abs=1e-15)


def _pitted(xp: Any) -> Any:
    """A wrinkled bowl whose value is NaN past |z_0| = 2.5 (a trial point there is NaN)."""

    def fg(z: Any) -> tuple[Any, Any]:
        w = xp.sin(5.0 * z)
        f = xp.sum(z * z + 0.3 * w, axis=-1)
        f = xp.where(xp.abs(z[..., 0]) > 2.5, xp.full_like(f, xp.nan), f)
        return f, 2.0 * z + 1.5 * xp.cos(5.0 * z)

    return fg


@pytest.mark.parametrize(
    ("case", "radius", "lr", "alpha", "maxiter", "boxed", "active"),
    [
        ("converges", 0.5, 0.05, 1.0, 20, False, True),
        ("capped", 2.0, 0.5, 1.0, 3, False, True),
        ("boxed", 1.0, 0.3, 1.0, 20, True, True),
        ("stalls from a tiny step", 1.0, 0.3, 2.0**-22, 20, False, True),
        ("meets NaN", 1.0, 30.0, 1.0, 20, False, True),
        ("inactive", 0.5, 0.05, 1.0, 20, False, False),
        ("overflows at the start", 0.5, 0.05, 1.0, 20, False, True),
    ],
)
def test_a_single_row_projects_as_a_batch_of_one_bit_for_bit(
    backend: Backend,
    case: str,
    radius: float,
    lr: float,
    alpha: float,
    maxiter: int,
    boxed: bool,
    active: bool,
) -> None:
    """A single float64 row on the host projects with Python floats for its scalars; a
    batch of one with arrays. Both make the same IEEE operations in the same order, so
    every field agrees exactly, whatever way the projection ends."""
    from rbo import backends

    xp = backend.xp
    fg = _pitted(xp)
    kernels = backends.of(backend.asarray([0.0])).kernels
    rng = np.random.default_rng(len(case))
    ends, met_nan = set(), False
    for _ in range(4):
        x = backend.asarray(rng.uniform(-2.0, 2.0, 3))
        f, g = fg(x)
        gg = xp.sum(g * g)
        rho = radius / xp.sqrt(1.0 + gg)
        c, cy = rho + lr, f + rho - lr * gg
        if case == "overflows at the start":
            cy = cy - 1e300  # (f - c_y)^2 is inf: nothing to measure progress by
        box = (backend.asarray([-2.0] * 3), backend.asarray([2.0] * 3)) if boxed else None
        kw: dict[str, Any] = {"maxiter": maxiter, "box": box}
        one = project(
            fg, x, f, g, kernels.centre(x, g, c), cy, alpha=backend.asarray(alpha),
            active=backend.asarray(active, dtype=xp.bool), **kw,
        )  # fmt: skip
        rows = [xp.reshape(a, (1, *a.shape)) for a in (x, f, g, c, cy)]
        batch = project(
            fg, rows[0], rows[1], rows[2], kernels.centre(rows[0], rows[2], rows[3]), rows[4],
            alpha=backend.asarray([alpha]), active=backend.asarray([active], dtype=xp.bool), **kw,
        )  # fmt: skip
        assert one.iters == batch.iters
        for name in ("z", "f", "g", "residual", "status", "alpha", "gg", "nonfinite"):
            a = backends.to_host(getattr(one, name))
            b = backends.to_host(getattr(batch, name))[0]
            np.testing.assert_array_equal(a, b, err_msg=f"{case}: {name}")
        ends.add(int(one.status))
        met_nan |= int(one.nonfinite) != 0
    # NumPy and array-api-strict on the CPU take the floats; the others the array code.
    b = backends.of(x)
    assert (b.host_floats and b.eager(x)) == (backend.name in ("numpy", "strict-cpu"))
    expected = {
        "overflows at the start": ProjStatus.NONFINITE,
        "converges": ProjStatus.CONVERGED,
        "capped": ProjStatus.MAXITER,
        "stalls from a tiny step": ProjStatus.STALLED,
        "inactive": ProjStatus.CONVERGED,
    }.get(case)
    if expected is not None:
        assert int(expected) in ends, ends
    assert met_nan == (case in ("meets NaN", "overflows at the start"))


def _walled(xp: Any) -> Any:
    """A wrinkled slope down towards +z_0, NaN past z_0 = 2: a ball rolls into the wall."""

    def fg(z: Any) -> tuple[Any, Any]:
        f = xp.sum(-z + 0.3 * xp.sin(5.0 * z), axis=-1)
        f = xp.where(z[..., 0] > 2.0, xp.full_like(f, xp.nan), f)
        return f, -1.0 + 1.5 * xp.cos(5.0 * z)

    return fg


@pytest.mark.parametrize(
    "options",
    [
        {"radius": 0.5, "lr": 0.05},
        {"radius": 0.5, "lr": 0.5, "max_step": 1.0, "rest": 0.05, "slow_down": 3},
        {"radius": 1.0, "lr": 2.0, "fscale": 3.0, "slow_down": 2, "proj_maxiter": 6},
        {"radius": 0.5, "lr": 2.0, "max_halvings": 1, "proj_maxiter": 2, "fscale": 0.5},
        {"radius": 0.8, "lr": 0.3, "lower": -2.0, "upper": 2.0},
        {"radius": 0.5, "lr": 0.05, "rest": 0.5},
    ],
    ids=["plain", "step control", "fscale and slow-down", "meets NaN", "boxed", "comes to rest"],
)
def test_a_single_row_steps_as_a_batch_of_one_bit_for_bit(
    backend: Backend, options: dict[str, Any]
) -> None:
    """A single float64 row on the host keeps its step's scalars as Python numbers, a
    batch of one as arrays: every field of the state agrees exactly, step after step."""
    from rbo import backends

    xp = backend.xp
    fg = _walled(xp) if "max_halvings" in options else _pitted(xp)
    solver = rbo.RBO(**options)
    x0 = backend.asarray([1.9, -1.2, 0.4])
    one = solver.init(fg, x0)
    batch = solver.init(fg, xp.reshape(x0, (1, 3)))
    seen = set()
    for _ in range(25):
        one, batch = solver.step(fg, one), solver.step(fg, batch)
        for name, a in one._asdict().items():
            b = getattr(batch, name)
            if isinstance(a, int | float):
                assert a == b, name
                continue
            a, b = backends.to_host(a), backends.to_host(b)
            np.testing.assert_array_equal(a, b[0] if b.ndim > a.ndim else b, err_msg=name)
        seen.add(int(one.proj_status))
        if int(one.failure) != -1:
            break
    b = backends.of(x0)
    assert (b.host_floats and b.eager(x0)) == (backend.name in ("numpy", "strict-cpu"))
    if options.get("rest") == 0.5:
        assert int(one.failure) == rbo.Status.AT_REST
    if "max_halvings" in options:  # NaN met until the halvings ran out
        assert int(ProjStatus.NONFINITE) in seen
        assert int(one.failure) == rbo.Status.NONFINITE
    if "proj_maxiter" in options:
        assert int(ProjStatus.MAXITER) in seen


_ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1e300, 1e-2, 1e8, 0.5, 2.0**-21]),
)


@settings(max_examples=400, deadline=None)
@given(_ANY_FLOAT, _ANY_FLOAT, _ANY_FLOAT, _ANY_FLOAT)
def test_the_projections_float_helpers_give_the_numbers_of_their_array_forms(
    a: float, b: float, c: float, d: float
) -> None:
    """The secant shift and the step-fraction shrink on floats equal the array code's for
    any input, NaN and inf included (and raise nothing)."""
    from rbo._projection import _secant_shift, _secant_shift_host, _shrink, _shrink_host

    xp = array_namespace(np.zeros(1))

    def same(x: float, y: Any) -> bool:
        y = float(y)
        return (math.isnan(x) and math.isnan(y)) or x == y

    with np.errstate(all="ignore"):
        ref = _secant_shift(np.asarray(a), np.asarray(b), np.asarray(c), xp)
        assert same(_secant_shift_host(a, b, c), ref)
        alpha = abs(a) if a == a else 1.0  # a step fraction is >= 0
        ref = _shrink(np.asarray(alpha), np.asarray(b), np.asarray(c), np.asarray(d), xp)
        assert same(_shrink_host(alpha, b, c, d), ref)


@pytest.mark.parametrize("method", ["gauss-newton", "gd"])
def test_a_residual_that_overflows_at_the_start_is_reported_not_converged(method: str) -> None:
    """|grad D| overflowing float32 gives an infinite tolerance too; the projection must
    say NONFINITE (the step then retries with a smaller learning rate)."""
    x = np.full(4, 1e10, dtype=np.float32)
    f, g = np.float32(1e19), np.full(4, 1e19, dtype=np.float32)
    with np.errstate(over="ignore"):
        p = project(lambda z: (np.float32(1e19), g), x, f, g, x, np.float32(0.0), method=method)
    assert int(p.status) == ProjStatus.NONFINITE
    assert p.iters == 0
    np.testing.assert_array_equal(p.z, x)


def test_slow_down_halves_the_step_after_a_capped_projection_and_recovers() -> None:
    fg = rastrigin.value_and_grad
    x0 = np.array([1.3, -2.1])
    capped = rbo.RBO(radius=1.0, lr=0.01, proj_maxiter=1, proj_rtol=0.0, slow_down=3)
    state = capped.init(fg, x0)
    lrs, slowed = [], []
    for _ in range(5):
        state = capped.step(fg, state)
        lrs.append(float(state.lr))
        slowed.append(int(state.slowed))
    assert slowed == [1, 2, 3, 3, 3]  # every projection capped: halved up to 3 times
    assert lrs == [0.01, 0.005, 0.0025, 0.00125, 0.00125]
    # A projection that converges takes one halving back.
    easy = dataclasses.replace(capped, proj_maxiter=20, proj_rtol=0.5)
    state = easy.step(fg, state)
    assert int(state.slowed) == 2 and float(state.lr) == 0.00125
