"""Array backends: where rbo's arrays live, and how it works with them there.

A backend (:class:`Backend`) knows its array-API namespace, moves arrays to and from the
host, synchronises with its device (for timing), draws random numbers there and may
supply fused :class:`Kernels` for the hot updates of a step. Built in: ``"numpy"``
(tiled, fused kernels), ``"cupy"`` (CUDA kernels), and generic backends for
``"torch"``, ``"jax"``, ``"dask"`` and ``"array_api_strict"``; an array of any other
namespace array-api-compat knows gets a generic backend of its own.

:func:`rbo.minimize` picks the backend of ``x0`` (:func:`of`), or the one named by its
``backend=`` argument, moving ``x0`` there (``backend="cupy"`` puts a NumPy ``x0`` on
the GPU). A third party adds one with :func:`register`.

Examples
--------
>>> import numpy as np
>>> from rbo import backends
>>> backends.of(np.zeros(3)).name
'numpy'
>>> backends.get("numpy") is backends.of(np.zeros(3))
True
>>> backends.get("abacus")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown backend 'abacus'; registered: ['array_api_strict', 'cupy', ...]
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
from scipy.optimize import OptimizeResult

from ._base import Backend
from ._cupy import CuPyBackend
from ._generic import GenericBackend, is_strict_array, namespace_backend
from ._kernels import Centre, Dots, Kernels, Previous
from ._numpy import NumPyBackend

__all__ = [
    "Backend",
    "Centre",
    "Dots",
    "Kernels",
    "Previous",
    "available",
    "get",
    "host_namespace",
    "of",
    "register",
    "resolve",
    "to_host",
    "unregister",
]

_BUILTIN: list[Backend] = [
    NumPyBackend(),
    CuPyBackend(),
    GenericBackend("torch", "array_api_compat.torch", array_api_compat.is_torch_array),
    GenericBackend("jax", "jax.numpy", array_api_compat.is_jax_array),
    GenericBackend("dask", "array_api_compat.dask.array", array_api_compat.is_dask_array),
    GenericBackend("array_api_strict", "array_api_strict", is_strict_array),
]
_REGISTRY: dict[str, Backend] = {b.name: b for b in _BUILTIN}


def host_namespace() -> Any:
    """The array-API namespace for host memory (NumPy through array-api-compat).

    Used for inputs that are not arrays of any namespace yet (lists, tuples, Python
    numbers), as scipy does with ``np.asarray``.
    """
    return importlib.import_module("array_api_compat.numpy")


def register(backend: Backend, /, *, replace: bool = False) -> Backend:
    """Add ``backend`` to the registry under ``backend.name``; returns it.

    Automatic selection asks the most recently registered backends first, so a backend
    registered here takes over the arrays it :meth:`~Backend.owns` from a built-in one.

    Raises
    ------
    TypeError
        If ``backend`` is not a :class:`Backend`.
    ValueError
        If its name is empty, or taken and ``replace`` is false.
    """
    if not isinstance(backend, Backend):
        raise TypeError(
            f"a backend must be an instance of rbo.backends.Backend; got {type(backend).__name__}"
        )
    name = backend.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"a backend needs a non-empty string name; got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered; pass replace=True")
    _REGISTRY.pop(name, None)
    _REGISTRY[name] = backend
    return backend


def unregister(name: str, /) -> None:
    """Remove the backend ``name`` (a built-in one comes back as it was)."""
    get(name)
    del _REGISTRY[name]
    for b in _BUILTIN:
        if b.name == name:
            _REGISTRY[name] = b


def available() -> list[str]:
    """Names of the registered backends, sorted."""
    return sorted(_REGISTRY)


def get(name: str | Backend, /) -> Backend:
    """The backend registered as ``name``; a registered :class:`Backend` is returned as it
    is (the solvers find a backend from its arrays, so one must be registered to be used).
    """
    if isinstance(name, Backend):
        if _REGISTRY.get(name.name) is not name:
            raise ValueError(
                f"backend {name.name!r} is not registered; rbo.backends.register it first"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"backend must be a name or an rbo.backends.Backend; got {type(name).__name__}"
        )
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; registered: {available()}") from None


def of(x: Any, /) -> Backend:
    """The backend of array ``x``: the latest registered one that owns it, else a generic
    one for its namespace.

    Raises
    ------
    TypeError
        If ``x`` is not an array of a namespace array-api-compat knows.
    """
    for backend in reversed(_REGISTRY.values()):
        if backend.owns(x):
            return backend
    return namespace_backend(x)


def resolve(backend: str | Backend | None, x: Any, /) -> tuple[Backend, Any]:
    """The backend to run on and ``x`` there: ``x``'s own when ``backend`` is None, else the
    named one, with ``x`` moved to it (dtype kept) if it is not already its array."""
    if backend is None:
        return of(x), x
    b = get(backend)
    if b.owns(x):
        return b, x
    return b, b.asarray(x, dtype=_same_dtype(b, x))


def to_host(result: Any, /) -> Any:
    """A copy of ``result`` with every array as a NumPy array.

    ``result`` is an array, or a result of :func:`rbo.minimize` (or any dict, list or
    tuple of them); everything else is kept as it is.

    Examples
    --------
    >>> import numpy as np
    >>> import rbo
    >>> res = rbo.minimize(rbo.problems.quadratic, np.ones(2), jac=rbo.problems.quadratic.jac)
    >>> type(to_host(res).x).__name__, res.backend
    ('ndarray', 'numpy')
    """
    if isinstance(result, dict):
        out = {k: to_host(v) for k, v in result.items()}
        return OptimizeResult(out) if isinstance(result, OptimizeResult) else out
    if isinstance(result, list | tuple) and not hasattr(result, "_fields"):
        return type(result)(to_host(v) for v in result)
    if array_api_compat.is_array_api_obj(result) and not isinstance(result, bool | int | float):
        return of(result).to_host(result)
    return result


def _same_dtype(backend: Backend, x: Any) -> Any:
    """``x``'s floating dtype in ``backend``'s namespace, matched by name."""
    xp = backend.namespace()
    text = str(x.dtype)
    return getattr(xp, next((n for n in ("float16", "float32") if n in text), "float64"))
