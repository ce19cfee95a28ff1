"""Checks of user input that fail early, with messages that name the problem."""

from __future__ import annotations

import math
import numbers
import operator
import os
import sys
from typing import Any, Literal, overload

import array_api_compat
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array
from .backends import DASK_REFUSED, host_namespace

__all__ = ["as_start", "cast_floats", "check_count", "check_tolerance", "widened"]


def as_start(x0: Any, /, *, batched: bool = False) -> Array:
    """``x0`` as a real floating array of its own namespace, 1-D (2-D when batched).

    Integer input becomes the namespace's default floating dtype; float32 stays float32.
    Lists, tuples and numbers become NumPy arrays. Dask arrays are refused: every step
    would build a task graph and compute it, to read a few numbers back.
    """
    if array_api_compat.is_dask_array(x0):
        raise TypeError(DASK_REFUSED)
    if not array_api_compat.is_array_api_obj(x0) or isinstance(x0, bool | int | float):
        try:
            x0 = host_namespace().asarray(x0)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"x0 must be an array or a sequence of numbers; got {x0!r}") from exc
    xp = array_namespace(x0)
    dtype = x0.dtype
    if xp.isdtype(dtype, "bool"):
        raise TypeError("x0 must be real floating or integer; got dtype bool")
    if xp.isdtype(dtype, "complex floating"):
        raise TypeError(f"x0 must be real; got complex dtype {dtype}")
    if xp.isdtype(dtype, "integral"):
        x0 = xp.astype(x0, _default_float(xp, x0))
    elif not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"x0 must be a real floating array; got dtype {dtype}")
    want = 2 if batched else 1
    if x0.ndim == 0 and not batched:
        x0 = xp.reshape(x0, (1,))
    if x0.ndim != want:
        shape = "(m, n)" if batched else "(n,)"
        raise ValueError(f"x0 must have shape {shape}; got shape {tuple(x0.shape)}")
    if x0.shape[-1] == 0 or (batched and x0.shape[0] == 0):
        raise ValueError(f"x0 must not be empty; got shape {tuple(x0.shape)}")
    finite = xp.isfinite(x0)
    if not bool(xp.all(finite)):
        bad = int(xp.argmax(xp.astype(~xp.reshape(finite, (-1,)), xp.int32)))
        raise ValueError(f"x0 must be finite; entry {bad} (flat index) is NaN or inf")
    return x0


def widened(x0: Array, /) -> tuple[Array, Any]:
    r"""``x0`` in float32 when its dtype is narrower (float16, bfloat16), and the dtype it
    came in (None when it is kept as it is).

    RBO's inner products, such as :math:`|(f - c_y)\nabla f|^2`, leave float16's range
    (65504) for gradients of a few tens, so narrow starts are optimised in float32 -- as
    mixed-precision training keeps float32 master weights -- while the objective is still
    called on arrays of the dtype it was given.
    """
    xp = array_namespace(x0)
    if xp.finfo(x0.dtype).bits >= 32:
        return x0, None
    return xp.astype(x0, xp.float32), x0.dtype


def cast_floats(result: Any, source: Any, target: Any, /) -> Any:
    """``result`` (an array, or a dict such as an ``OptimizeResult``, possibly nested)
    with every array of dtype ``source`` cast to ``target``; the rest as it is."""
    if isinstance(result, dict):
        for key, value in result.items():
            result[key] = cast_floats(value, source, target)
        return result
    if array_api_compat.is_array_api_obj(result) and not isinstance(result, bool | int | float):
        if result.dtype == source:
            # A value beyond the narrow dtype's range (RBO's proj_residual, a last point far
            # out) rounds to inf there, which is what it is in that dtype: no warning.
            with backends.of(result).quiet():
                return array_namespace(result).astype(result, target)
    return result


def _default_float(xp: Any, x: Array) -> Any:
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device_of(x))["real floating"]
    except AttributeError:
        return xp.float64


@overload
def check_count(
    name: str, value: Any, *, minimum: int = ..., allow_none: Literal[False] = ...
) -> int: ...
@overload
def check_count(name: str, value: Any, *, minimum: int = ..., allow_none: bool) -> int | None: ...
def check_count(name: str, value: Any, *, minimum: int = 0, allow_none: bool = False) -> int | None:
    """An integer option (``maxiter``, ``maxfev``, ...) or a TypeError/ValueError naming it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    try:
        value = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer; got {value!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


def check_tolerance(name: str, value: Any) -> float:
    """A non-negative finite tolerance, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number; got {value!r}")
    tol = float(value)
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return tol


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_level() -> int:
    """The ``stacklevel`` of a warning that points at the first frame outside rbo (and
    scipy, which calls rbo as a custom method): the user's line."""
    import scipy

    outside = (_PACKAGE, os.path.dirname(os.path.abspath(scipy.__file__)) + os.sep)
    frame = sys._getframe(1)  # the caller's frame: stacklevel 1 is the warn call's
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(outside):
        frame = frame.f_back
        level += 1
    return level
