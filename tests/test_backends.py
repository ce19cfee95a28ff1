"""Backends: the same behaviour on every array library, the registry, the fused kernels,
and no reads back from a device inside the loop.

Reads back are counted on array-api-strict's ``device1``, which stands in for an
accelerator: every ``bool``/``float``/``int``/``__index__``/``__array__``/``__dlpack__``
of an array on that device is what would synchronise with a GPU, and each is counted by
wrapping those methods of the array class.
"""

from __future__ import annotations

import collections
import importlib
from typing import Any

import array_api_compat
import numpy as np
import pytest
from conftest import Backend, assert_array_like, make_backend, roll

import rbo
from rbo import backends
from rbo.backends import Kernels, Previous
from rbo.backends._numpy import _SEG, NumPyKernels
from rbo.problems import quadratic, rastrigin

strict = pytest.importorskip("array_api_strict")

# ------------------------------------------------------------------------------------
# The same behaviour on every available backend


def test_minimize_keeps_namespace_device_and_dtype(backend: Backend) -> None:
    x0 = backend.asarray([1.0, -2.0, 0.5])
    res = rbo.minimize(quadratic.value_and_grad, x0, jac=True, radius=0.1, lr=0.2)
    assert_array_like(res.x, x0)
    assert_array_like(res.jac, x0)
    assert_array_like(res.x_last, x0)
    assert res.success
    assert res.fun < 1e-10
    assert res.backend == backends.of(x0).name
    assert res.device == str(array_api_compat.device(x0))


def test_float32_stays_float32(backend: Backend) -> None:
    x0 = backend.asarray([1.0, -2.0, 0.5], dtype=backend.xp.float32)
    res = rbo.minimize(quadratic.value_and_grad, x0, jac=True, radius=0.1, lr=0.2)
    assert_array_like(res.x, x0)
    assert res.success
    assert res.fun < 1e-8


def test_batched_run_keeps_namespace_and_finds_each_minimum(backend: Backend) -> None:
    starts = [[0.3, -0.2], [2.0, 1.0], [-1.0, 0.5]]
    x0 = backend.asarray(starts)
    res = roll(
        rastrigin.value_and_grad,
        x0,
        jac=True,
        vectorized=True,
        radius=0.05,
        lr=0.004,
        patience=15,
    )
    assert_array_like(res.x, x0)
    assert res.x.shape == (3, 2)
    assert res.fun.shape == (3,)
    host = backends.to_host(res)
    # Each row settles in the Rastrigin well nearest its start (a small ball, a small
    # step); the wells' minima lie within 0.011 of the integer points.
    assert np.allclose(host.x, np.round(np.asarray(starts)), atol=0.02)
    # The ball alone rests near, not at, each minimum: not a success.
    assert not host.success.any()
    assert res.best == int(np.argmin(host.fun))
    assert res.fun_best == pytest.approx(float(host.fun.min()))


def test_batched_polished_rows_are_stationary_and_no_worse_than_a_local_run(
    backend: Backend,
) -> None:
    starts = [[0.3, -0.2], [2.0, 1.0], [-1.0, 0.5]]
    x0 = backend.asarray(starts)
    res = rbo.minimize(rastrigin.value_and_grad, x0, jac=True, vectorized=True)
    local = rbo.minimize(rastrigin.value_and_grad, x0, jac=True, vectorized=True, method="lbfgs")
    assert_array_like(res.x, x0)
    host, ref = backends.to_host(res), backends.to_host(local)
    assert host.success.all()
    g = np.stack([rastrigin.jac(row) for row in host.x])
    assert (np.linalg.norm(g, axis=1) <= 1e-6).all()
    assert (host.fun <= ref.fun + 1e-12).all()


def test_multistart_finds_rastrigin_global_minimum(backend: Backend) -> None:
    like = backend.asarray([0.0])
    res = rbo.multistart(
        rastrigin.value_and_grad,
        [(-1.5, 1.5)] * 2,
        8,
        jac=True,
        rng=3,
        backend=backends.of(like),
        dtype="float64",
        vectorized=True,
        schedule="restart",  # balls, as rows of one batch
        radius=0.5,
        lr=0.01,
        patience=15,
    )
    assert array_api_compat.array_namespace(res.starts) is array_api_compat.array_namespace(like)
    assert res.starts.dtype == like.dtype
    assert res.fun < 1e-5
    assert np.allclose(backends.to_host(res.x), 0.0, atol=1e-3)


def test_device_run_matches_host_run() -> None:
    """array-api-strict's device1 takes the device path (flags kept on the device, read
    every few steps); its CPU device the host path (Python branches). Same iterates."""
    x0 = np.linspace(-2.0, 2.0, 5)
    kw = {"jac": True, "radius": 0.5, "lr": 0.01, "maxiter": 40}
    ref = roll(rastrigin.value_and_grad, strict.asarray(x0), **kw)
    dev = strict.Device("device1")
    res = roll(rastrigin.value_and_grad, strict.asarray(x0, device=dev), **kw)
    assert res.x.device == dev
    assert not backends.of(res.x).eager(res.x)
    assert backends.of(ref.x).eager(ref.x)
    np.testing.assert_allclose(backends.to_host(res.x), backends.to_host(ref.x), rtol=1e-12)
    assert (res.nit, res.status, res.success) == (ref.nit, ref.status, ref.success)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)
    assert res.nfev >= ref.nfev  # the device also evaluates between its reads


# ------------------------------------------------------------------------------------
# Choosing and registering backends


@pytest.mark.parametrize("name", ["array_api_strict", "torch", "numpy"])
def test_explicit_backend_moves_x0_there(name: str) -> None:
    if name == "torch":
        pytest.importorskip("torch", reason="torch is not installed")
    res = roll(quadratic.value_and_grad, np.array([1.0, -2.0]), jac=True, backend=name, radius=0.1)
    assert backends.of(res.x).name == name == res.backend
    assert str(res.x.dtype).endswith("float64")
    np.testing.assert_allclose(backends.to_host(res).x, 0.0, atol=1e-6)


def test_explicit_cupy_backend_moves_x0_to_the_gpu() -> None:
    make_backend("cupy", None)  # skips with a reason without cupy or a GPU
    res = roll(quadratic.value_and_grad, np.ones(3), jac=True, backend="cupy")
    assert array_api_compat.is_cupy_array(res.x)
    assert isinstance(backends.to_host(res).x, np.ndarray)


def test_unknown_backend_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'abacus'; registered: \["):
        roll(quadratic.value_and_grad, np.ones(2), jac=True, backend="abacus")
    with pytest.raises(TypeError, match="backend must be a name"):
        roll(quadratic.value_and_grad, np.ones(2), jac=True, backend=3)


class _Recording(backends.Backend):
    """A third-party backend: array-api-strict arrays, recording what rbo asks of it."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.kernels = _CountingKernels(self.calls)

    def owns(self, x: Any, /) -> bool:
        return type(x).__module__.startswith("array_api_strict")

    def namespace(self) -> Any:
        return strict

    def eager(self, x: Any, /) -> bool:
        self.calls["eager"] += 1
        return True


class _CountingKernels(Kernels):
    def __init__(self, calls: collections.Counter[str]) -> None:
        self.calls = calls

    def residual(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["residual"] += 1
        return super().residual(*args, **kwargs)


@pytest.fixture
def recording() -> Any:
    b = backends.register(_Recording())
    yield b
    backends.unregister("recording")


def test_registered_backend_is_picked_by_name_and_from_x0(recording: _Recording) -> None:
    assert "recording" in backends.available()
    kw = {"jac": True, "radius": 0.1, "lr": 0.2}
    res = roll(quadratic.value_and_grad, [1.0, 2.0], backend="recording", **kw)
    assert res.backend == "recording"
    assert type(res.x).__module__.startswith("array_api_strict")
    used = recording.calls["residual"]
    assert used > 0
    # Registered last, it takes over the arrays it owns from the built-in backend.
    res = roll(quadratic.value_and_grad, strict.asarray([1.0, 2.0]), **kw)
    assert res.backend == "recording"
    assert recording.calls["residual"] > used


def test_unregistering_restores_the_builtin_backend() -> None:
    backends.register(_Recording())
    backends.unregister("recording")
    assert backends.of(strict.asarray([1.0])).name == "array_api_strict"
    with pytest.raises(ValueError, match="unknown backend 'recording'"):
        backends.unregister("recording")


class _Long(_Recording):
    """Owns array-api-strict arrays of more than one element only: more than the type."""

    name = "long"

    def owns(self, x: Any, /) -> bool:
        return super().owns(x) and x.size > 1


def test_the_backend_of_an_array_follows_registration_even_after_it_was_asked() -> None:
    """The backend of an array type is remembered while only the built-in backends are
    registered; registering or unregistering one forgets it, and a registered backend
    that looks beyond the type is asked for every array."""
    one, two = strict.asarray([1.0]), strict.asarray([1.0, 2.0])
    assert backends.of(one).name == backends.of(two).name == "array_api_strict"
    backends.register(_Long())
    try:
        assert [backends.of(a).name for a in (one, two, one, two)] == [
            "array_api_strict",
            "long",
            "array_api_strict",
            "long",
        ]
    finally:
        backends.unregister("long")
    assert backends.of(two).name == "array_api_strict"


class _ArrayScalarsKernels(NumPyKernels):
    """A user's kernels that read a row's scalars as arrays (their ``ndim``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def trial(self, z: Any, g: Any, cx: Any, a: Any, b: Any, /) -> Any:
        self.calls += 1
        assert a.ndim == b.ndim == 0, (type(a), type(b))
        return super().trial(z, g, cx, a, b)


class _OwnKernels(backends.NumPyBackend):
    name = "own-kernels"

    def __init__(self) -> None:
        super().__init__()
        self.kernels = _ArrayScalarsKernels()


def test_kernels_of_the_users_own_get_a_single_rows_scalars_as_arrays() -> None:
    """A single row on NumPy keeps its scalars as Python floats only with rbo's own
    kernels; a backend with kernels of its own gets the 0-d arrays the kernels promise."""
    assert backends.get("numpy").host_floats
    own = backends.register(_OwnKernels())
    try:
        assert not own.host_floats
        res = roll(quadratic.value_and_grad, np.array([1.0, 2.0]), jac=True, maxiter=20)
    finally:
        backends.unregister("own-kernels")
    assert res.backend == "own-kernels"
    assert own.kernels.calls > 0


def test_register_rejects_non_backends_and_name_clashes() -> None:
    with pytest.raises(TypeError, match=r"instance of rbo\.backends\.Backend"):
        backends.register(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'numpy' is already registered"):
        backends.register(backends.get("numpy"))


def test_backend_rng_is_reproducible_and_in_bounds(backend: Backend) -> None:
    b = backends.of(backend.asarray([0.0]))
    low, high = [-1.0, 0.0, 10.0], [1.0, 0.5, 11.0]
    draws = [b.to_host(b.uniform(b.rng(7), low, high, (50, 3), dtype=backend.xp.float64))]
    draws.append(b.to_host(b.uniform(b.rng(7), low, high, (50, 3), dtype=backend.xp.float64)))
    other = b.to_host(b.uniform(b.rng(8), low, high, (50, 3), dtype=backend.xp.float64))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], other)
    assert np.all(draws[0] >= low) and np.all(draws[0] < high)


# ------------------------------------------------------------------------------------
# Fused kernels agree with the plain array-API ones


def _kernel_inputs(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    arrays = {
        k: rng.standard_normal(shape).astype(dtype) for k in ("z", "g", "x", "g0", "zp", "gp")
    }
    scalars = {k: rng.standard_normal(shape[:-1]).astype(dtype) for k in ("c", "e", "a", "b")}
    return arrays | scalars


# 1-D longer than one dot segment (with a remainder), short rows (one tile, many tiles),
# long rows, float32.
@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((3 * _SEG + 17,), "float64"),
        ((70, 9), "float64"),
        ((5000, 9), "float64"),
        ((2, _SEG + 5), "float64"),
        ((40, 33), "float32"),
    ],
)
def test_numpy_kernels_agree_with_generic_kernels(shape: tuple[int, ...], dtype: str) -> None:
    i = _kernel_inputs(shape, np.dtype(dtype))
    fused, plain = NumPyKernels(), Kernels()
    rtol = 1e-4 if dtype == "float32" else 1e-10
    cx_fused, cx_plain = (
        fused.centre(i["x"], i["g0"], i["c"]),
        plain.centre(i["x"], i["g0"], i["c"]),
    )
    # Element-wise updates evaluate the same expressions in the same order: bit for bit.
    np.testing.assert_array_equal(
        fused.trial(i["z"], i["g"], cx_fused, i["a"], i["b"]),
        plain.trial(i["z"], i["g"], cx_plain, i["a"], i["b"]),
    )
    got = fused.residual(i["z"], i["g"], i["e"], cx_fused, prev=Previous(i["zp"], i["gp"]))
    want = plain.residual(i["z"], i["g"], i["e"], cx_plain, prev=Previous(i["zp"], i["gp"]))
    for name in got._fields:
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=rtol, err_msg=name)
    for a, b in zip(
        fused.step_norms(i["z"], i["x"]), plain.step_norms(i["z"], i["x"]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=rtol)
    np.testing.assert_allclose(fused.dot(i["z"], i["g"]), plain.dot(i["z"], i["g"]), rtol=rtol)


@pytest.mark.parametrize(
    ("shape", "dtype"), [((50, 300), "float64"), ((3001,), "float64"), ((40, 33), "float32")]
)
def test_cupy_kernels_agree_with_generic_kernels(shape: tuple[int, ...], dtype: str) -> None:
    """Batched rows, one long row (0-d sums) and float32, through CuPy's launch of the
    kernels whose sources tests/test_cuda_sources.py checks without a GPU."""
    make_backend("cupy", None)  # skips with a reason without cupy or a GPU
    cp = importlib.import_module("cupy")
    i = {k: cp.asarray(v) for k, v in _kernel_inputs(shape, np.dtype(dtype)).items()}
    fused, plain = backends.get("cupy").kernels, Kernels()
    rtol = 1e-4 if dtype == "float32" else 1e-10

    def close(got: Any, want: Any, what: str) -> None:
        assert got.shape == want.shape and got.dtype == want.dtype, what
        np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(want), rtol=rtol, err_msg=what)

    cx = fused.centre(i["x"], i["g0"], i["c"])
    close(cx, plain.centre(i["x"], i["g0"], i["c"]), "centre")
    close(
        fused.trial(i["z"], i["g"], cx, i["a"], i["b"]),
        plain.trial(i["z"], i["g"], cx, i["a"], i["b"]),
        "trial",
    )
    for prev in (None, Previous(i["zp"], i["gp"])):
        got = fused.residual(i["z"], i["g"], i["e"], cx, prev=prev)
        want = plain.residual(i["z"], i["g"], i["e"], cx, prev=prev)
        for name in got._fields:
            if getattr(want, name) is None:
                assert getattr(got, name) is None, name
            else:
                close(getattr(got, name), getattr(want, name), name)
    for k, (a, b) in enumerate(
        zip(fused.step_norms(i["z"], i["x"]), plain.step_norms(i["z"], i["x"]), strict=True)
    ):
        close(a, b, f"step_norms[{k}]")
    close(fused.dot(i["z"], i["g"]), plain.dot(i["z"], i["g"]), "dot")


# ------------------------------------------------------------------------------------
# Reads back from a device


class _Reads:
    """Counts reads back of arrays on array-api-strict's device1 (see the module doc)."""

    METHODS = ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.device = strict.Device("device1")
        cls = type(strict.asarray(0.0))
        for name in self.METHODS:
            original = getattr(cls, name)
            monkeypatch.setattr(cls, name, self._counting(original))

    def _counting(self, original: Any) -> Any:
        def method(array: Any, *args: Any, **kwargs: Any) -> Any:
            if array.device == self.device:
                self.count += 1
            return original(array, *args, **kwargs)

        return method


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> _Reads:
    return _Reads(monkeypatch)


def test_counter_sees_a_read(reads: _Reads) -> None:
    x = strict.asarray([1.0, 2.0], device=reads.device)
    float(x[0])
    bool(x[1] > 0)
    assert reads.count == 2


@pytest.mark.parametrize("shape", [(6,), (8, 5)])
def test_device_step_reads_nothing_back(reads: _Reads, shape: tuple[int, ...]) -> None:
    x0 = np.random.default_rng(0).uniform(-2.0, 2.0, shape)
    x0 = strict.asarray(x0, device=reads.device)
    solver = rbo.RBO(radius=0.5, lr=0.01, check_every=20)  # proj_maxiter is 20
    state = solver.init(rastrigin.value_and_grad, x0)
    reads.count = 0
    evaluations = 0
    for _ in range(4):
        state = solver.step(rastrigin.value_and_grad, state)
        evaluations += state.proj_iters
    assert reads.count == 0
    assert evaluations >= 4  # the steps did evaluate (the count covers real work)


def test_device_run_reads_back_once_per_check(reads: _Reads) -> None:
    """Reads back grow by one per ``check_every`` steps, not with the iterations: a run
    three times as long reads back exactly two more values."""

    def run(steps: int) -> tuple[int, int]:
        reads.count = 0
        res = roll(
            rastrigin.value_and_grad,
            strict.asarray(np.linspace(-2.0, 2.0, 6), device=reads.device),
            jac=True,
            radius=0.5,
            lr=0.01,
            maxiter=steps,
            gtol=0.0,
            xtol=0.0,
            patience=None,
            check_every=10,
            proj_maxiter=10,  # a projection's 10 iterations fit between two of its reads
        )
        assert res.nit == steps
        return reads.count, res.nfev

    short, long = run(10), run(30)
    assert long[0] - short[0] == 2
    assert long[1] - short[1] > 20 * 3  # several evaluations per step in between
