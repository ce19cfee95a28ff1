"""Tests of rbo.problems: analytic gradients, known minima, batching, backend fidelity."""

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest

import rbo
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
        "lj7",
        "lj13",
        "lj38",
        "sinusoids",
        "gaussian_peaks",
        "van_der_pol",
    }
    # The two suites split the registry between them.
    assert set(problems.LANDSCAPES) | set(problems.SCIENCE) == set(PROBLEMS)
    assert not set(problems.LANDSCAPES) & set(problems.SCIENCE)
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


# ---------------------------------------------------------------------------------------
# Scientific objectives.

LJ = _params([problems.get(name) for name in ("lj7", "lj13", "lj38")])


def _lj_reference(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Energy and gradient of a Lennard-Jones cluster by a plain loop over pairs."""
    pos = x.reshape(-1, 3)
    e, grad = 0.0, np.zeros_like(pos)
    for i in range(len(pos)):
        for j in range(i + 1, len(pos)):
            d = pos[i] - pos[j]
            r = math.sqrt(d @ d)
            e += 4.0 * (r**-12 - r**-6)
            force = 4.0 * (-12.0 * r**-13 + 6.0 * r**-7) * d / r  # dE/dx_i
            grad[i] += force
            grad[j] -= force
    return e, grad.ravel()


def _spread_cluster(n_atoms: int, rng: np.random.Generator) -> np.ndarray:
    """A random cluster with no two atoms closer than 0.8 (a start a minimiser might see)."""
    pos = []
    while len(pos) < n_atoms:
        p = rng.uniform(-1.6, 1.6, 3) * (n_atoms / 13) ** (1 / 3)
        if all(np.linalg.norm(p - q) > 0.8 for q in pos):
            pos.append(p)
    return np.concatenate(pos)


@pytest.mark.parametrize("problem", LJ)
def test_lennard_jones_matches_a_plain_pair_loop(problem: Problem, backend: Backend) -> None:
    rng = np.random.default_rng(7)
    n_atoms = problem.ndim // 3
    x = np.stack([_spread_cluster(n_atoms, rng) for _ in range(3)])
    f, g = (backend.to_numpy(a) for a in problem.value_and_grad(backend.asarray(x)))
    for row in range(3):
        e_ref, g_ref = _lj_reference(x[row])
        assert f[row] == pytest.approx(e_ref, rel=1e-12)
        np.testing.assert_allclose(g[row], g_ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("problem", LJ)
def test_lennard_jones_matches_ase(problem: Problem) -> None:
    ase = pytest.importorskip("ase", reason="ase is not installed")
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(8)
    x = _spread_cluster(problem.ndim // 3, rng)
    atoms = ase.Atoms("Ar" * (problem.ndim // 3), positions=x.reshape(-1, 3))
    # A cutoff far beyond the cluster: ase then computes the bare potential.
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=1e3)
    f, g = problem.value_and_grad(x)
    assert float(f) == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(-g.reshape(-1, 3), atoms.get_forces(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("problem", LJ)
def test_lennard_jones_minima_are_the_cambridge_cluster_database_values(problem: Problem) -> None:
    n_atoms = problem.ndim // 3
    argmin, fmin = problem.minimum(problem.ndim)
    assert fmin == pytest.approx(problems.LJ_GLOBAL_MINIMA[n_atoms], abs=1e-6)
    e_ref, g_ref = _lj_reference(np.asarray(argmin))
    assert e_ref == pytest.approx(fmin, rel=1e-13)
    np.testing.assert_allclose(g_ref, 0.0, atol=1e-9)
    # A minimum, not a saddle: the Hessian (by differences of the gradient) has no
    # negative eigenvalue beyond the six zero modes of rotation and translation.
    x, h = np.asarray(argmin), 1e-5
    eye = np.eye(x.size)
    hess = np.stack([(problem.jac(x + h * e) - problem.jac(x - h * e)) / (2 * h) for e in eye])
    eig = np.linalg.eigvalsh(0.5 * (hess + hess.T))
    assert eig[0] > -1e-5 and np.sum(np.abs(eig) < 1e-4) == 6 and eig[6] > 0.1
    assert np.all(np.abs(argmin) <= problem.upper)


def test_lennard_jones_pair_energy_has_its_minimum_at_two_to_the_sixth() -> None:
    p = problems.lennard_jones(2)
    r_min = 2.0 ** (1.0 / 6.0)
    f, g = p.value_and_grad(np.array([[0.0, 0.0, 0.0, r_min, 0.0, 0.0], [0, 0, 0, 1.0, 0, 0]]))
    np.testing.assert_allclose(f, [-1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(g[0], 0.0, atol=1e-14)
    assert p.minimum(6) == (None, None)


def test_coincident_atoms_give_finite_values_that_push_them_apart(backend: Backend) -> None:
    x = np.zeros((2, 9))
    x[1, 3] = 1e-3  # two atoms 1e-3 apart, one on top of another
    for dtype in ("float32", "float64"):
        f, g = (
            backend.to_numpy(a)
            for a in problems.lennard_jones(3).value_and_grad(backend.asarray(x, dtype))
        )
        assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
        assert g[1, 3] < 0.0 < g[1, 0]  # descent (−g) moves them apart


def test_lennard_jones_success_is_a_thousandth_of_the_minimum_energy() -> None:
    from rbo._bench import target

    t = target("lj38", 114)
    assert t.gap_tol == pytest.approx(0.173928427, rel=1e-6) and t.radius is None
    # The second-lowest LJ38 minimum (icosahedral, -173.252378) is not a success.
    assert not t.reached(None, -173.252378) and t.reached(None, -173.8)


@pytest.mark.parametrize("name", ["sinusoids", "gaussian_peaks", "van_der_pol"])
def test_noise_free_fit_is_exact_at_the_true_parameters(name: str) -> None:
    p = problems.get(name, noise=0.0)
    f, g = p.value_and_grad(np.asarray(p.true_params))
    assert float(f) == pytest.approx(0.0, abs=1e-26)
    np.testing.assert_allclose(g, 0.0, atol=1e-12)
    # Elsewhere the fit is off: the loss is not flat.
    assert float(p(np.asarray(p.true_params) + 0.1)) > 1e-3


@pytest.mark.parametrize("name", ["sinusoids", "gaussian_peaks", "van_der_pol"])
def test_fits_have_several_local_minima(name: str) -> None:
    from scipy.optimize import minimize

    p = problems.get(name)
    box = [(p.lower, p.upper)] * p.ndim

    def descend(x0: np.ndarray) -> float:
        return minimize(p.value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=box).fun

    best = descend(np.asarray(p.true_params))
    rng = np.random.default_rng(0)
    ends = [descend(x0) for x0 in rng.uniform(p.lower, p.upper, (12, p.ndim))]
    # Descents from the box end at distinct local minima, some far above the best fit.
    stuck = {round(e, 3) for e in ends if e > best + 0.1}
    assert len(stuck) >= 3 and min(ends) >= best - 1e-9


def test_van_der_pol_record_follows_the_ode() -> None:
    from scipy.integrate import solve_ivp

    p = problems.van_der_pol(noise=0.0, step=0.01, duration=10.0)
    w, mu = p.true_params
    sol = solve_ivp(
        lambda t, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - w * w * y[0]],
        (0.0, 10.0),
        [2.0, 0.0],
        t_eval=p.t,
        rtol=1e-11,
        atol=1e-12,
    )
    # RK4's global error at this step is about 1e-7.
    np.testing.assert_allclose(p.y, sol.y[0], atol=1e-6)


def test_van_der_pol_far_outside_the_box_stays_finite_without_warnings() -> None:
    p = problems.van_der_pol()
    f, g = p.value_and_grad(np.array([[50.0, 50.0], [1e3, 3.0], [-20.0, -30.0]]))
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))


def test_reference_minima_of_the_fits_are_no_worse_than_the_truth() -> None:
    from rbo._bench import target

    for name in ("sinusoids", "gaussian_peaks"):
        p = problems.get(name)
        t = target(name, p.ndim)
        assert t.fmin <= float(p(np.asarray(p.true_params)))
        assert t.fmin <= 0.1**2 * 1.1  # about the noise variance


def test_scientific_factories_reject_bad_parameters() -> None:
    with pytest.raises(ValueError, match="n_atoms"):
        problems.lennard_jones(1)
    with pytest.raises(ValueError, match="n_atoms"):
        problems.lennard_jones(7.0)
    with pytest.raises(ValueError, match=r"sinusoids.*3 numbers"):
        problems.sinusoids(true_params=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"gaussian_peaks.*3 numbers"):
        problems.gaussian_peaks(true_params=())
    with pytest.raises(ValueError, match=r"van_der_pol.*multiple"):
        problems.van_der_pol(duration=1.05, step=0.1)
    with pytest.raises(ValueError, match="van_der_pol"):
        problems.van_der_pol(step=0.0)


def test_registered_problems_pickle_by_name_and_run_on_worker_processes() -> None:
    import pickle

    for name in ("rastrigin", "rosenbrock", "riemann", "lj7"):
        problem = rbo.problems.get(name)
        assert pickle.loads(pickle.dumps(problem)) is problem
        assert pickle.loads(pickle.dumps(problem.value_and_grad)) is problem.value_and_grad
    with pytest.raises(pickle.PicklingError, match="only the registered problem"):
        pickle.dumps(rbo.problems.get("riemann", n_terms=5).value_and_grad)
    # The library's own landscapes in the docs' examples, on two processes.
    fg = rbo.problems.rastrigin.value_and_grad
    box = [(-5.12, 5.12)] * 2
    pooled = rbo.multistart(fg, box, 4, jac=True, maxfev=400, rng=0, workers=2)
    serial = rbo.multistart(fg, box, 4, jac=True, maxfev=400, rng=0)
    np.testing.assert_array_equal(pooled.x, serial.x)
    assert pooled.nfev == serial.nfev
