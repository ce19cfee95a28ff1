"""Tests of rbo.problems: analytic gradients, known minima, batching, backend fidelity."""

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest

from rbo import problems
from rbo.problems import PROBLEMS, Problem


@dataclass(frozen=True)
class Backend:
    """An array namespace and the device its test arrays live on."""

    name: str
    xp: Any
    device: Any = None

    def asarray(self, values: Any, dtype: str = "float64") -> Any:
        return self.xp.asarray(values, dtype=getattr(self.xp, dtype), device=self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        # Every backend refuses a direct conversion from some device: bring it home first.
        if self.name.startswith("strict"):
            a = a.to_device(self.xp.Device("CPU_DEVICE"))
        elif self.name == "torch":
            a = a.detach().cpu()
        elif self.name == "cupy":
            a = a.get()
        return np.asarray(a)


def _make_backend(name: str) -> Backend:
    if name == "numpy":
        return Backend(name, array_api_compat.array_namespace(np.ones(1)))
    if name.startswith("strict"):
        strict = pytest.importorskip("array_api_strict")
        device = strict.Device("device1") if name == "strict-device1" else None
        return Backend(name, strict, device)
    if name == "torch":
        torch = pytest.importorskip("torch", reason="torch is not installed")
        return Backend(name, array_api_compat.array_namespace(torch.ones(1)), torch.device("cpu"))
    cupy = pytest.importorskip("cupy", reason="cupy is not installed")
    if not cupy.cuda.is_available():
        pytest.skip("cupy is installed but no CUDA device is available")
    return Backend(name, array_api_compat.array_namespace(cupy.ones(1)))


@pytest.fixture(params=["numpy", "strict", "strict-device1", "torch", "cupy"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each available array backend in turn (skipped, with a reason, where missing)."""
    return _make_backend(request.param)


def _params(items: list[Problem]) -> list[Any]:
    return [pytest.param(p, id=p.name) for p in items]


# The standard Weierstrass reaches frequencies of 2e10: no finite difference resolves them in
# float64, so finite differences check the same code with fewer terms and autograd checks
# the standard one.
WEIERSTRASS_K4 = problems.weierstrass(k_max=4)
DIFFERENTIABLE = _params(
    [p for p in PROBLEMS.values() if p.name != "weierstrass"] + [WEIERSTRASS_K4]
)
ALL = _params(list(PROBLEMS.values()))
KNOWN_MINIMUM = [p for p in PROBLEMS.values() if p.argmin is not None] + [
    problems.wrinkled_bowl(eps=0.5, omega=10.0),
    problems.riemann(3),
    problems.gaussian_wells(seed=4),
]
# Problems whose radius bounds a region where the gradient points away from the minimiser
# (separable ones by construction). Rosenbrock is left out: its minimum lies in a curved
# valley, so the gradient is not radial there; its radius is half the distance to the
# second local minimum.
RADIAL_BASIN = _params(
    [
        p
        for p in PROBLEMS.values()
        if p.basin_radius is not None and math.isfinite(p.basin_radius) and p.name != "rosenbrock"
    ]
    + [problems.wrinkled_bowl(eps=0.5, omega=10.0), problems.riemann(3)]
    + [problems.gaussian_wells(seed=seed) for seed in range(1, 6)]
)


def _dims(problem: Problem) -> list[int]:
    return [problem.ndim] if problem.ndim is not None else [problem.min_ndim, 4]


def _points(problem: Problem, n: int, rng: np.random.Generator, count: int = 4) -> np.ndarray:
    """Random points of the box, plus one near the minimiser where the landscape is busiest."""
    x = rng.uniform(problem.lower, problem.upper, size=(count, n))
    if problem.argmin is not None:
        near = np.asarray(problem.argmin(n)) + 0.05 * rng.standard_normal(n)
    else:
        near = np.asarray(problem.true_params) + 0.05 * rng.standard_normal(n)
    return np.concatenate([x, near[None]])


@pytest.mark.parametrize("problem", DIFFERENTIABLE)
def test_gradient_matches_central_differences(problem: Problem, backend: Backend) -> None:
    rng = np.random.default_rng(0)
    for n in _dims(problem):
        x = _points(problem, n, rng)
        g = backend.to_numpy(problem.jac(backend.asarray(x)))
        # Axis 1 of the batch picks the perturbed coordinate: one call does them all.
        h = 1e-6 * np.maximum(1.0, np.abs(x))[:, :, None] * np.eye(n)
        plus, minus = x[:, None, :] + h, x[:, None, :] - h
        f_plus = backend.to_numpy(problem(backend.asarray(plus)))
        f_minus = backend.to_numpy(problem(backend.asarray(minus)))
        step = np.diagonal(plus - minus, axis1=1, axis2=2)  # the steps actually taken
        fd = (f_plus - f_minus) / step
        scale = max(1.0, float(np.max(np.abs(g))))
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7 * scale)


@pytest.mark.parametrize("problem", ALL)
def test_gradient_matches_torch_autograd(problem: Problem) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    rng = np.random.default_rng(1)
    for n in _dims(problem):
        x = torch.tensor(_points(problem, n, rng), dtype=torch.float64, requires_grad=True)
        problem(x).sum().backward()
        expected = problem.jac(x.detach())
        torch.testing.assert_close(x.grad, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("problem", _params(KNOWN_MINIMUM))
def test_value_at_argmin_equals_fmin(problem: Problem, backend: Backend) -> None:
    rng = np.random.default_rng(2)
    for n in _dims(problem):
        argmin, fmin = problem.minimum(n)
        assert len(argmin) == n
        f_star = float(backend.to_numpy(problem(backend.asarray(argmin))))
        assert f_star == pytest.approx(fmin, abs=1e-12 * n)
        # Dense in 1-D: no sample of the box does better.
        samples = rng.uniform(problem.lower, problem.upper, size=(20_000 // n, n))
        f = backend.to_numpy(problem(backend.asarray(samples)))
        assert f.min() >= fmin - 1e-12


# Weierstrass is left out: cos(2π 3²⁰ x) rounds its argument by ~1e-6 rad, which leaves a
# gradient of order 1e-2 at its exact minimiser.
@pytest.mark.parametrize("problem", _params([p for p in KNOWN_MINIMUM if p.name != "weierstrass"]))
def test_gradient_vanishes_at_argmin(problem: Problem) -> None:
    for n in _dims(problem):
        g = problem.jac(np.asarray(problem.argmin(n)))
        np.testing.assert_allclose(g, 0.0, atol=1e-9)


@pytest.mark.parametrize("problem", RADIAL_BASIN)
def test_gradient_points_outward_within_basin_radius(problem: Problem) -> None:
    rng = np.random.default_rng(3)
    for n in sorted({*_dims(problem), 3}) if problem.ndim is None else _dims(problem):
        centre = np.asarray(problem.argmin(n))
        u = rng.standard_normal((512, n))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        # Uniform in the ball, plus a shell just inside its edge where a basin would leak.
        r = problem.basin_radius * np.concatenate(
            [rng.uniform(0.0, 1.0, 256) ** (1.0 / n), np.full(256, 0.999)]
        )
        x = centre + r[:, None] * u
        outward = np.sum(problem.jac(x) * (x - centre), axis=1)
        assert np.all(outward > 0.0), problem.name


@pytest.mark.parametrize("problem", ALL)
def test_batched_rows_match_single_calls(problem: Problem, backend: Backend) -> None:
    rng = np.random.default_rng(4)
    n = _dims(problem)[-1]
    x = rng.uniform(problem.lower, problem.upper, size=(2, 3, n))
    f, g = (backend.to_numpy(a) for a in problem.value_and_grad(backend.asarray(x)))
    assert f.shape == (2, 3) and g.shape == (2, 3, n)
    for index in np.ndindex(2, 3):
        f_i, g_i = (backend.to_numpy(a) for a in problem.value_and_grad(backend.asarray(x[index])))
        assert f_i.shape == () and g_i.shape == (n,)
        np.testing.assert_allclose(f[index], f_i, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g[index], g_i, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("problem", ALL)
def test_output_keeps_input_namespace_dtype_and_device(
    problem: Problem, backend: Backend, dtype: str
) -> None:
    n = _dims(problem)[-1]
    x = backend.asarray(np.linspace(problem.lower, problem.upper, 2 * n).reshape(2, n), dtype)
    f, g = problem.value_and_grad(x)
    for out, shape in ((f, (2,)), (g, (2, n)), (problem(x), (2,)), (problem.jac(x), (2, n))):
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(x)
        assert out.dtype == x.dtype
        assert array_api_compat.device(out) == array_api_compat.device(x)
        assert tuple(out.shape) == shape


def test_riemann_gradient_is_sum_of_cosines(backend: Backend) -> None:
    x0 = 0.7
    f, g = problems.riemann(n_terms=10).value_and_grad(backend.asarray([x0, 0.0]))
    value = sum(math.sin(k * k * x0) / k**2 for k in range(1, 11))
    slope = sum(math.cos(k * k * x0) for k in range(1, 11))
    assert float(backend.to_numpy(f)) == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(backend.to_numpy(g), [slope, 10.0], rtol=1e-13)
    # Not the derivative with an extra 1/k², which differs here by about 0.5.
    assert abs(slope - sum(math.cos(k * k * x0) / k**2 for k in range(1, 11))) > 0.1


@pytest.mark.parametrize("problem", _params([p for p in PROBLEMS.values() if p.ndim]))
def test_fixed_ndim_problems_reject_wrong_n(problem: Problem, backend: Backend) -> None:
    for shape in [(3,), (4, 1), (2, 5, 3)]:
        with pytest.raises(ValueError, match=problem.name):
            problem.value_and_grad(backend.asarray(np.zeros(shape)))
    with pytest.raises(ValueError, match=problem.name):
        problem.minimum(3)


@pytest.mark.parametrize("problem", ALL)
def test_zero_dimensional_input_is_rejected(problem: Problem, backend: Backend) -> None:
    with pytest.raises(ValueError, match=problem.name):
        problem(backend.asarray(1.0))


def test_rosenbrock_rejects_a_single_coordinate() -> None:
    with pytest.raises(ValueError, match="rosenbrock"):
        problems.rosenbrock(np.ones(1))
    with pytest.raises(ValueError, match="rosenbrock"):
        problems.rosenbrock.minimum(1)


def test_integer_input_is_rejected() -> None:
    with pytest.raises(TypeError, match="rastrigin"):
        problems.rastrigin(np.zeros(3, dtype=np.int64))


def test_ackley_gradient_at_origin_is_zero_not_nan(backend: Backend) -> None:
    f, g = problems.ackley.value_and_grad(backend.asarray(np.zeros((2, 3))))
    np.testing.assert_allclose(backend.to_numpy(f), 0.0, atol=1e-15)
    np.testing.assert_array_equal(backend.to_numpy(g), 0.0)


def test_registry_and_factories() -> None:
    assert set(PROBLEMS) == {
        "quadratic",
        "rosenbrock",
        "rastrigin",
        "ackley",
        "griewank",
        "levy",
        "weierstrass",
        "wrinkled_bowl",
        "riemann",
        "gaussian_wells",
        "noisy_regression",
    }
    assert all(name == p.name for name, p in PROBLEMS.items())
    assert problems.get("levy") is problems.levy
    bowl = problems.get("wrinkled_bowl", eps=0.5, omega=10.0)
    t_star = bowl.argmin(1)[0]
    # Near 1, not at 1, and a stationary point of ½(t − 1)² + ε sin(ω t).
    assert 0.9 < t_star < 1.2 and t_star != 1.0
    assert (t_star - 1.0) + 5.0 * math.cos(10.0 * t_star) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown problem"):
        problems.get("sphere")
    with pytest.raises(TypeError, match="levy"):
        problems.get("levy", eps=1.0)


def test_noisy_regression_exposes_its_data() -> None:
    p = problems.noisy_regression(n_samples=40, noise=0.0)
    assert p.true_params == (2.0, 1.5) and len(p.t) == len(p.y) == 40
    assert p.fmin is None and p.argmin is None
    # Without noise the true parameters fit exactly.
    f, g = p.value_and_grad(np.asarray(p.true_params))
    assert float(f) == pytest.approx(0.0, abs=1e-28)
    np.testing.assert_allclose(g, 0.0, atol=1e-14)


def test_wells_are_reproducible_from_the_seed() -> None:
    a, b = problems.gaussian_wells(seed=7), problems.gaussian_wells(seed=7)
    x = np.linspace(-3.0, 3.0, 10).reshape(5, 2)
    np.testing.assert_array_equal(a(x), b(x))
    assert a.minimum(2) == b.minimum(2)
