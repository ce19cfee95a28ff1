"""Small array-API helpers shared by the geometry, the projections and the solvers."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

__all__ = ["Array", "col", "dot", "eager", "eps", "select"]

Array = Any  # any array of a namespace array-api-compat knows


def dot(a: Array, b: Array, /, *, xp: Any = None) -> Array:
    """Row-wise inner product over the last axis: ``(..., n), (..., n) -> (...)``."""
    if xp is None:
        xp = array_namespace(a, b)
    return xp.sum(a * b, axis=-1)


def col(s: Array, /, *, xp: Any = None) -> Array:
    """Per-row scalars ``(...)`` as ``(..., 1)``, ready to scale rows of ``(..., n)``.

    A single scalar (0-d) broadcasts as it is and is returned unchanged.
    """
    if getattr(s, "ndim", 0) == 0:
        return s
    if xp is None:
        xp = array_namespace(s)
    return xp.expand_dims(s, axis=-1)


def eager(x: Array, /) -> bool:
    """Whether reading a scalar of ``x`` on the host is free (no device synchronisation).

    Branching in Python is then cheaper than ``where`` over whole arrays. The backend of
    ``x`` decides (:meth:`rbo.backends.Backend.eager`): NumPy and CPU arrays are eager;
    CuPy, JAX, torch on an accelerator and array-api-strict's non-CPU devices are not,
    and their loops branch with ``where`` and read flags back only every few iterations.
    """
    from .backends import of  # the registry imports this module

    return of(x).eager(x)


def select(cond: Array, a: Array, b: Array, /, *, xp: Any, host: bool) -> Array:
    """``a`` where ``cond`` holds, else ``b``; rows of ``(..., n)`` follow ``cond (...)``.

    With ``host`` true and a 0-d ``cond`` this is a Python branch, which copies nothing.
    """
    if host and cond.ndim == 0:
        return a if bool(cond) else b
    if getattr(a, "ndim", 0) > cond.ndim:
        cond = col(cond, xp=xp)
    return xp.where(cond, a, b)


def eps(x: Array, /, *, xp: Any = None) -> float:
    """Machine epsilon of ``x``'s floating dtype."""
    if xp is None:
        xp = array_namespace(x)
    return float(xp.finfo(x.dtype).eps)
