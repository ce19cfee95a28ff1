"""Backends every behavioural test runs on: NumPy, array-api-strict (CPU and its emulated
second device), torch on CPU when installed, and CuPy when a GPU is present."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import array_api_compat
import pytest


@dataclass(frozen=True)
class Backend:
    """A namespace plus the device arrays are made on."""

    name: str
    xp: Any
    device: Any = None

    def asarray(self, values: Any, dtype: Any = None) -> Any:
        dtype = self.xp.float64 if dtype is None else dtype
        return self.xp.asarray(values, dtype=dtype, device=self.device)

    def __repr__(self) -> str:
        return self.name


def _backends() -> list[Any]:
    params = [pytest.param(("numpy", None), id="numpy")]
    params.append(pytest.param(("array_api_strict", None), id="strict"))
    params.append(pytest.param(("array_api_strict", "device1"), id="strict-device1"))
    params.append(pytest.param(("torch", None), id="torch"))
    params.append(pytest.param(("cupy", None), id="cupy"))
    return params


def make_backend(name: str, device_name: str | None) -> Backend:
    if name == "numpy":
        return Backend(
            "numpy", array_api_compat.array_namespace(importlib.import_module("numpy").ones(1))
        )
    if name == "array_api_strict":
        strict = pytest.importorskip("array_api_strict")
        device = strict.Device(device_name) if device_name else None
        return Backend(f"strict-{device_name or 'cpu'}", strict, device)
    if name == "torch":
        torch = pytest.importorskip("torch", reason="torch is not installed")
        return Backend(
            "torch", array_api_compat.array_namespace(torch.ones(1)), torch.device("cpu")
        )
    if name == "cupy":
        cupy = pytest.importorskip("cupy", reason="cupy is not installed")
        if not cupy.cuda.is_available():
            pytest.skip("cupy is installed but no CUDA device is available")
        return Backend("cupy", array_api_compat.array_namespace(cupy.ones(1)))
    raise ValueError(name)


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each available array backend in turn (skips with a reason where missing)."""
    return make_backend(*request.param)


def assert_array_like(actual: Any, reference: Any) -> None:
    """``actual`` has ``reference``'s namespace, dtype and device."""
    assert array_api_compat.array_namespace(actual) is array_api_compat.array_namespace(reference)
    assert actual.dtype == reference.dtype
    assert array_api_compat.device(actual) == array_api_compat.device(reference)


def roll(*args: Any, **kwargs: Any) -> Any:
    """``rbo.minimize`` without its L-BFGS polish: the rolling ball's own run, for tests
    of what the roll itself does (its statuses, counts and steps)."""
    import rbo

    kwargs.setdefault("polish", False)
    return rbo.minimize(*args, **kwargs)
