"""Array backends: where rbo's arrays live, and how it works with them there.

A backend (:class:`Backend`) knows its array-API namespace, moves arrays to and from the
host, synchronises with its device (for timing), draws random numbers there and may
supply fused :class:`Kernels` for the hot updates of a step. Built in: ``"numpy"``
(tiled, fused kernels), ``"cupy"`` (CUDA kernels), and generic backends for
``"torch"``, ``"jax"``, ``"dask"`` and ``"array_api_strict"``; an array of any other
namespace array-api-compat knows gets a generic backend of its own. Dask arrays are
recognised but refused as starts: each step would build and compute a task graph.

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
import re
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
    # array-api-strict computes with NumPy: its scalars round as NumPy's do.
    GenericBackend("array_api_strict", "array_api_strict", is_strict_array, host_floats=True),
]
_REGISTRY: dict[str, Backend] = {b.name: b for b in _BUILTIN}
# The backend of each array type (and dtype) seen, while only the built-in backends are
# registered: each of those owns arrays by these alone (a registered one may look further).
# A small step asks for the backend of its arrays several times an evaluation.
_OWNERS: dict[tuple[type, Any], Backend] = {}

# How to install what a built-in backend imports.
_INSTALL = {
    "cupy": "pip install 'rbo[cuda12]' or 'rbo[cuda13]', to match your CUDA",
    "torch": "pip install torch",
    "jax": "pip install jax",
    "dask": "pip install dask",
    "array_api_strict": "pip install array-api-strict",
}

# Dask arrays are lazy: each step would build a task graph and compute it to read a
# few numbers back, seconds a step for a handful of variables.
_DASK_COST = "each step would build and compute a task graph (seconds a step)"
_DASK_SPREAD = "submit independent rbo.minimize runs to a dask client (client.map)"
#: Why a Dask array cannot be a start, and what to do instead.
DASK_REFUSED = (
    f"dask arrays are not supported as x0: {_DASK_COST}; call x0.compute() first, "
    f"or, to spread runs over a cluster, {_DASK_SPREAD}"
)


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
    _OWNERS.clear()
    return backend


def unregister(name: str, /) -> None:
    """Remove the backend ``name`` (a built-in one comes back as it was)."""
    if name not in _REGISTRY:
        get(name)  # the error for a name that is not registered
    del _REGISTRY[name]
    _OWNERS.clear()
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
        backend = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; registered: {available()}") from None
    _importable(backend)
    return backend


def _importable(backend: Backend) -> None:
    """Import ``backend``'s namespace, or say which package it needs and how to get it."""
    try:
        backend.namespace()
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0] or "its package"
        hint = _INSTALL.get(backend.name, f"pip install {missing}")
        raise ModuleNotFoundError(
            f"backend {backend.name!r} needs {missing} installed ({hint})", name=exc.name
        ) from exc


def of(x: Any, /) -> Backend:
    """The backend of array ``x``: the latest registered one that owns it, else a generic
    one for its namespace.

    Raises
    ------
    TypeError
        If ``x`` is not an array of a namespace array-api-compat knows.
    """
    # By type and dtype: array-api-compat counts a NumPy array of JAX's float0 dtype as
    # JAX's. A dtype that cannot be hashed is looked up the long way.
    kind = (type(x), getattr(x, "dtype", None))
    try:
        known = _OWNERS.get(kind)
        hashable = True
    except TypeError:
        known, hashable = None, False
    if known is not None:
        return known
    for backend in reversed(_REGISTRY.values()):
        if backend.owns(x):
            if (
                hashable
                and len(_REGISTRY) == len(_BUILTIN)
                and all(_REGISTRY.get(b.name) is b for b in _BUILTIN)
            ):
                _OWNERS[kind] = backend
            return backend
    return namespace_backend(x)


def resolve(backend: str | Backend | None, x: Any, /) -> tuple[Backend, Any]:
    """The backend to run on and ``x`` there: ``x``'s own when ``backend`` is None, else the
    named one, with ``x`` moved to it (dtype kept) if it is not already its array."""
    if backend is None:
        return of(x), x
    b = get(backend)
    if b.name == "dask":
        raise ValueError(
            f"backend='dask' is not supported: {_DASK_COST}; run on the host (the default "
            f"for NumPy x0), or, to spread runs over a cluster, {_DASK_SPREAD}"
        )
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
    """``x``'s floating dtype in ``backend``'s namespace, matched by name (``float64``
    when the name is not one the Array API knows, such as ``longdouble``)."""
    xp = backend.namespace()
    found = re.search(r"b?float(16|32|64)", str(x.dtype))
    name = found.group(0) if found else "float64"
    dtype = getattr(xp, name, None)
    if dtype is None:
        wider = "a dtype it has" if name == "float32" else "float32"
        raise TypeError(
            f"x0's dtype {name} does not exist in backend {backend.name!r} "
            f"({getattr(xp, '__name__', xp)} has no {name}); cast x0 to {wider} first"
        )
    return dtype
