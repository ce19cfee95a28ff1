"""Mistakes a new user makes get a message that names the mistake and its fix, raised
from rbo's own checks rather than from deep inside the loop, a backend or scipy."""

from __future__ import annotations

import importlib.util
import math
import types
import warnings
from typing import Any

import array_api_compat
import numpy as np
import pytest
from conftest import Backend
from scipy.optimize import OptimizeWarning
from scipy.optimize import minimize as scipy_minimize

import rbo
from rbo import backends
from rbo.backends import GenericBackend


def _sphere(x: Any) -> float:
    return float(np.sum(x * x))


# ------------------------------------------------------------------------------------
# What fun returns


def test_a_single_value_for_a_batch_names_the_rows() -> None:
    with pytest.raises(ValueError, match=r"fun returned one value for 8 rows.*shape \(8,\)"):
        rbo.minimize(lambda x: float(np.sum(x**2)), np.ones((8, 5)), vectorized=True)


def test_a_0d_array_for_a_batch_names_the_rows(backend: Backend) -> None:
    xp = backend.xp
    x0 = backend.asarray(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"fun returned one value for 3 rows"):
        rbo.minimize(lambda x: xp.sum(x * x), x0, jac=lambda x: 2 * x, vectorized=True)


@pytest.mark.parametrize("kind", ["numpy scalar", "numpy 0-d array", "python float"])
def test_a_host_scalar_is_accepted_as_the_value_for_torch_x(kind: str) -> None:
    torch = pytest.importorskip("torch")
    make = {
        "numpy scalar": np.float64,
        "numpy 0-d array": np.asarray,
        "python float": float,
    }[kind]

    def fun(x: Any) -> Any:
        return make(float(torch.sum((x - 1.0) ** 2)))

    x0 = torch.tensor([0.0, 3.0], dtype=torch.float64)
    res = rbo.minimize(fun, x0, jac=lambda x: 2 * (x - 1.0), radius=0.1, lr=0.2)
    want = rbo.minimize(
        lambda x: torch.sum((x - 1.0) ** 2), x0, jac=lambda x: 2 * (x - 1.0), radius=0.1, lr=0.2
    )
    assert res.success, res.message
    assert isinstance(res.x, torch.Tensor)
    assert torch.equal(res.x, want.x)
    assert res.fun == want.fun


def test_a_numpy_vector_for_torch_x_is_still_refused() -> None:
    torch = pytest.importorskip("torch")
    x0 = torch.tensor([0.0, 3.0], dtype=torch.float64)
    with pytest.raises(TypeError, match=r"fun returned a numpy\.ndarray.*own namespace"):
        rbo.minimize(lambda x: np.asarray([1.0]), x0, jac=lambda x: 2 * x)


def test_a_numpy_gradient_for_torch_x_is_refused_with_its_type() -> None:
    torch = pytest.importorskip("torch")
    x0 = torch.tensor([0.0, 3.0], dtype=torch.float64)
    with pytest.raises(TypeError, match=r"gradient is a numpy\.ndarray for x in .*torch"):
        rbo.minimize(lambda x: torch.sum(x * x), x0, jac=lambda x: np.asarray([1.0, 1.0]))


def test_a_0d_array_of_non_real_dtype_is_refused() -> None:
    torch = pytest.importorskip("torch")
    x0 = torch.tensor([0.0, 3.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="fun must return a real value; got dtype complex"):
        rbo.minimize(lambda x: np.complex128(1.0), x0, jac=lambda x: 2 * x)


def test_an_integer_gradient_is_taken_as_scipy_takes_it(backend: Backend) -> None:
    # Integers are exact gradient values (a list of ints was accepted, an int array not).
    xp = backend.xp
    slope = backend.asarray([1, 2], dtype=xp.int64)
    for method in ("rbo", "lbfgs", "sgd"):
        res = rbo.minimize(
            lambda x: x[0] + 2.0 * x[1], backend.asarray([0.5, 0.5]), jac=lambda x: slope,
            bounds=[(0.0, 1.0)] * 2, method=method,
        )  # fmt: skip
        assert res.success and res.jac.dtype == xp.float64
        assert [float(v) for v in res.x] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("jac", "match"),
    [
        (lambda x: None, "the gradient must be an array; got NoneType"),
        (lambda x: "ab", "the gradient must be an array; got str"),
        (lambda x: np.array([True, False]), "the gradient must be real; got dtype bool"),
        (lambda x: np.array([1j, 0j]), "the gradient must be real; got dtype complex128"),
    ],
    ids=["None", "str", "bool", "complex"],
)
def test_a_gradient_that_is_not_real_numbers_is_named(jac: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        rbo.minimize(_sphere, np.ones(2), jac=jac)


@pytest.mark.parametrize("scale", [0, -1.0, math.inf, math.nan])
def test_a_scale_that_is_no_length_says_it_must_be_positive(scale: float) -> None:
    with pytest.raises(ValueError, match=r"scale must be finite and > 0 .*got"):
        rbo.minimize(_sphere, np.ones(2), scale=scale)


# ------------------------------------------------------------------------------------
# Options: misspelt, passed scipy's way, method of the wrong kind


def test_a_misspelt_option_of_minimize_suggests_the_known_one() -> None:
    with pytest.raises(TypeError, match=r"\['radus'\].*did you mean 'radius'\?"):
        rbo.minimize(_sphere, np.ones(2), radus=0.5)
    with pytest.raises(TypeError, match=r"did you mean 'maxiter'\?"):
        rbo.minimize(_sphere, np.ones(2), maxitr=5)


def test_a_misspelt_method_suggests_the_known_one() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'sdg' \(did you mean 'sgd'\?\)"):
        rbo.minimize(_sphere, np.ones(2), method="sdg")


def test_scipy_method_warns_at_the_callers_line_and_suggests_the_option() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scipy_minimize(_sphere, np.ones(2), method=rbo.scipy_method, options={"radus": 0.5})
    (w,) = [w for w in caught if issubclass(w.category, OptimizeWarning)]
    assert "Unknown solver options: radus (did you mean 'radius'?)" in str(w.message)
    assert w.filename == __file__


def test_scipy_method_warns_about_constraints_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scipy_minimize(
            _sphere,
            np.ones(2),
            method=rbo.scipy_method,
            constraints=[{"type": "ineq", "fun": lambda x: x[0]}],
            options={"maxiter": 5},
        )
    (w,) = [w for w in caught if issubclass(w.category, OptimizeWarning)]
    assert "constraints are ignored" in str(w.message)
    assert w.filename == __file__


def test_an_options_dict_runs_as_the_same_keywords() -> None:
    x0 = np.array([2.0, -1.0])
    res = rbo.minimize(
        _sphere, x0, options={"maxiter": 7, "radius": 0.5, "gtol": 1e-3, "polish": False}
    )
    want = rbo.minimize(_sphere, x0, maxiter=7, radius=0.5, gtol=1e-3, polish=False)
    assert res.nit == want.nit == 7
    assert np.array_equal(res.x, want.x)
    assert res.nfev == want.nfev


def test_an_options_dict_merges_with_keywords() -> None:
    x0 = np.array([2.0, -1.0])
    res = rbo.minimize(_sphere, x0, lr=0.05, options={"maxiter": 4, "radius": 0.5})
    want = rbo.minimize(_sphere, x0, lr=0.05, maxiter=4, radius=0.5)
    assert np.array_equal(res.x, want.x)


@pytest.mark.parametrize(
    "given", [{"maxiter": 5, "options": {"maxiter": 3}}, {"radius": 1.0, "options": {"radius": 2}}]
)
def test_an_option_given_both_ways_is_an_error(given: dict[str, Any]) -> None:
    (key,) = given["options"]
    with pytest.raises(TypeError, match=rf"\['{key}'\] given both as keywords and in options"):
        rbo.minimize(_sphere, np.ones(2), **given)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ([("maxiter", 3)], "options must be a dict"),
        ({1: 3}, "options must have str keys"),
        ({"x0": [1.0]}, r"options may not hold \['x0'\]"),
        ({"maxiter": 3, "bogus": 1}, r"unknown option\(s\) \['bogus'\]"),
    ],
)
def test_a_bad_options_dict_is_named(options: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        rbo.minimize(_sphere, np.ones(2), options=options)


def test_disp_prints_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    res = rbo.minimize(_sphere, np.ones(2), options={"maxiter": 3, "disp": True})
    out = capsys.readouterr().out
    assert res.message in out
    assert f"Iterations: {res.nit}" in out and f"Function evaluations: {res.nfev}" in out
    rbo.minimize(_sphere, np.ones(2), maxiter=3)
    assert capsys.readouterr().out == ""


def test_disp_through_scipy_is_known() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scipy_minimize(
            _sphere, np.ones(2), method=rbo.scipy_method, options={"disp": False, "maxiter": 3}
        )


@pytest.mark.parametrize("method", [None, 3, b"rbo", object(), 1.5])
def test_a_method_that_is_neither_a_name_nor_a_solver_is_named(method: Any) -> None:
    with pytest.raises(TypeError, match=r"method must be one of \[.*'rbo'.*\] or a solver"):
        rbo.minimize(_sphere, np.ones(2), method=method)


def test_a_solver_class_as_method_asks_for_an_instance() -> None:
    with pytest.raises(TypeError, match=r"the class SGD itself: pass an instance"):
        rbo.minimize(_sphere, np.ones(2), method=rbo.SGD)


# ------------------------------------------------------------------------------------
# Step-wise use


def test_rolling_ball_speaks_of_value_and_grad_not_jac() -> None:
    opt = rbo.RollingBall(np.ones(2))
    with pytest.raises(TypeError, match=r"value_and_grad must return a pair") as info:
        opt.step(lambda x: float(x @ x))
    assert "jac" not in str(info.value)


def test_stepper_value_errors_speak_of_value_and_grad() -> None:
    opt = rbo.Stepper(rbo.SGD(lr=0.1), np.ones(2))
    with pytest.raises(TypeError, match=r"value_and_grad must return a real scalar"):
        opt.step(lambda x: ("loss", x))


def test_stepper_given_a_solver_class_asks_for_an_instance_and_x0() -> None:
    with pytest.raises(TypeError, match=r"class SGD itself.*Stepper\(SGD\(\.\.\.\), x0\)"):
        rbo.Stepper(rbo.SGD, np.ones(2))


def test_stepper_without_a_start_names_x0() -> None:
    with pytest.raises(TypeError, match="x0"):
        rbo.Stepper(rbo.SGD(lr=0.1))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"x0 \(the start\) must be given"):
        rbo.Stepper(rbo.SGD(lr=0.1), None)


# ------------------------------------------------------------------------------------
# Backends


@pytest.mark.parametrize(("name", "module"), [("jax", "jax"), ("cupy", "cupy")])
def test_a_backend_whose_package_is_missing_says_how_to_install_it(name: str, module: str) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    with pytest.raises(ModuleNotFoundError, match=rf"backend '{name}' needs {module} installed"):
        rbo.minimize(_sphere, np.ones(2), backend=name)
    with pytest.raises(ModuleNotFoundError, match=r"\(pip install "):
        rbo.multistart(_sphere, [(-1, 1)] * 2, 2, backend=name)


def test_a_registered_backend_whose_module_is_missing_names_it() -> None:
    ghost = GenericBackend("ghost", "no_such_array_library", lambda x: False)
    backends.register(ghost)
    try:
        with pytest.raises(
            ModuleNotFoundError,
            match=r"backend 'ghost' needs no_such_array_library installed "
            r"\(pip install no_such_array_library\)",
        ):
            rbo.minimize(_sphere, np.ones(2), backend="ghost")
    finally:
        backends.unregister("ghost")


def test_a_float16_start_moved_to_array_api_strict_names_the_dtype() -> None:
    pytest.importorskip("array_api_strict")
    x0 = np.ones(2, dtype=np.float16)
    with pytest.raises(TypeError, match=r"float16 does not exist in backend 'array_api_strict'"):
        rbo.minimize(_sphere, x0, backend="array_api_strict")


class _NoFloat64(GenericBackend):
    """NumPy's namespace without float64, as on a device that has none."""

    def namespace(self) -> Any:
        xp = array_api_compat.array_namespace(np.ones(1))
        names = {k: getattr(xp, k) for k in dir(xp) if k != "float64" and not k.startswith("__")}
        return types.SimpleNamespace(__name__="nof64", **names)


def test_a_float64_start_moved_to_a_namespace_without_float64_names_the_dtype() -> None:
    backends.register(_NoFloat64("nof64", "numpy", lambda x: False))
    try:
        with pytest.raises(TypeError, match=r"float64 does not exist in backend 'nof64'"):
            rbo.minimize(_sphere, np.ones(2), backend="nof64")
    finally:
        backends.unregister("nof64")


def test_dask_starts_are_refused_at_once() -> None:
    da = pytest.importorskip("dask.array")
    x0 = da.from_array(np.ones((2, 7)))
    with pytest.raises(TypeError, match=r"dask arrays are not supported as x0.*compute\(\)"):
        rbo.minimize(lambda x: (x * x).sum(axis=-1), x0, jac="3-point", vectorized=True)
    with pytest.raises(TypeError, match="dask arrays are not supported as x0"):
        rbo.Stepper(rbo.SGD(lr=0.1), da.from_array(np.ones(3)))


def test_the_dask_backend_is_refused_at_once() -> None:
    pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match=r"backend='dask' is not supported"):
        rbo.minimize(
            lambda x: (x * x).sum(axis=-1),
            np.ones((2, 7)),
            jac="3-point",
            vectorized=True,
            backend="dask",
        )
