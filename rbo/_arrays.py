"""Small array-API helpers shared by the geometry, the projections and the solvers."""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
from array_api_compat import array_namespace
from array_api_compat import device as device_of

__all__ = [
    "Array",
    "as_value",
    "codes",
    "col",
    "default_float",
    "dot",
    "eps",
    "finite_rows",
    "max_float",
    "min_float",
    "namespace",
    "select",
    "sqrt_float",
]

Array = Any  # any array of a namespace array-api-compat knows

# Namespaces by array type, for the types whose namespace depends on the type alone:
# ``array_namespace`` costs about a microsecond, which a small step pays dozens of times.
_NAMESPACES: dict[type, Any] = {}
_EPS: dict[Any, float] = {}
_CODES: dict[Any, Any] = {}


def _by_type(x: Any) -> bool:
    return (
        array_api_compat.is_numpy_array(x)
        or array_api_compat.is_torch_array(x)
        or array_api_compat.is_cupy_array(x)
        or type(x).__module__.startswith("array_api_strict")
    )


def namespace(x: Array, /) -> Any:
    """``array_namespace(x)``, remembered per array type where the type decides it.

    Examples
    --------
    >>> import numpy as np
    >>> namespace(np.zeros(2)) is array_namespace(np.zeros(2))
    True
    """
    xp = _NAMESPACES.get(type(x))
    if xp is None:
        xp = array_namespace(x)
        if _by_type(x):
            _NAMESPACES[type(x)] = xp
    return xp


def dot(a: Array, b: Array, /, *, xp: Any = None) -> Array:
    """Row-wise inner product over the last axis: ``(..., n), (..., n) -> (...)``.

    The namespace's ``vecdot``: on NumPy the BLAS dot of each row, the very sum of a 1-D
    ``a @ b``, so that a single run (whose inner products are ``a @ b``) and a batch of
    one round alike."""
    if xp is None:
        xp = array_namespace(a, b)
    return xp.vecdot(a, b)


def col(s: Array, /, *, xp: Any = None) -> Array:
    """Per-row scalars ``(...)`` as ``(..., 1)``, ready to scale rows of ``(..., n)``.

    A single scalar (0-d) broadcasts as it is and is returned unchanged.
    """
    if getattr(s, "ndim", 0) == 0:
        return s
    if xp is None:
        xp = namespace(s)
    return xp.expand_dims(s, axis=-1)


def max_float(a: float, b: float, /) -> float:
    """``maximum`` of two Python floats as the Array API takes it: NaN if either is NaN.

    Examples
    --------
    >>> max_float(1.0, 2.0), max_float(float("nan"), 2.0), max_float(1.0, float("nan"))
    (2.0, nan, nan)
    """
    return a if (a >= b or a != a) else b


def min_float(a: float, b: float, /) -> float:
    """``minimum`` of two Python floats as the Array API takes it: NaN if either is NaN.

    Examples
    --------
    >>> min_float(1.0, 2.0), min_float(float("nan"), 2.0), min_float(1.0, float("nan"))
    (1.0, nan, nan)
    """
    return a if (a <= b or a != a) else b


def sqrt_float(v: float, /) -> float:
    """``sqrt`` of a Python float as the Array API takes it: NaN below zero, and a NaN
    passed through as it is.

    Examples
    --------
    >>> sqrt_float(4.0), sqrt_float(-1.0), sqrt_float(float("inf"))
    (2.0, nan, inf)
    """
    if v >= 0:
        return math.sqrt(v)
    return v if v != v else math.nan


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
    dtype = x.dtype
    # Keyed by the dtype's type too: dtypes of two libraries may hash alike, and some
    # warn when compared with another library's.
    key = (type(dtype), dtype)
    try:
        return _EPS[key]
    except (KeyError, TypeError):  # a dtype not seen yet (or not hashable)
        pass
    if xp is None:
        xp = namespace(x)
    value = float(xp.finfo(dtype).eps)
    try:
        _EPS[key] = value
    except TypeError:
        pass
    return value


def codes(value: int, like: Array, /) -> Array:
    """Per-row int32 codes (statuses), all ``value``, shaped like ``like`` and on its device.

    Examples
    --------
    >>> import numpy as np
    >>> codes(-1, np.zeros(2)).tolist()
    [-1, -1]
    """
    xp = namespace(like)
    dev = device_of(like)
    if like.ndim == 0:
        # A single run asks for the same few 0-d codes every step; arrays are never
        # written to in place here, so one of each (per type and device) serves all.
        key = (type(like), dev, int(value))
        try:
            return _CODES[key]
        except KeyError:
            pass
        except TypeError:  # a device that is not hashable
            return xp.full((), int(value), dtype=xp.int32, device=dev)
        out = _CODES[key] = xp.full((), int(value), dtype=xp.int32, device=dev)
        return out
    return xp.full(like.shape, int(value), dtype=xp.int32, device=dev)


def finite_rows(f: Array, g: Array, /, *, xp: Any = None) -> Array:
    """Per row: ``f`` and every entry of ``g``'s row are finite."""
    if xp is None:
        xp = array_namespace(f, g)
    return xp.isfinite(f) & xp.all(xp.isfinite(g), axis=-1)


def default_float(xp: Any, like: Array | None = None, /) -> Any:
    """The namespace's default real floating dtype (on ``like``'s device); float64 for a
    namespace that does not say."""
    try:
        info = xp.__array_namespace_info__()
    except AttributeError:
        return xp.float64
    device = None if like is None else device_of(like)
    return info.default_dtypes(device=device)["real floating"]


def as_value(f: Any, like: Array, /) -> Array:
    """A value ``fun`` returned (a Python number when a solver is driven by hand) as an
    array of ``like``'s namespace, dtype and device; arrays are kept as they are."""
    if array_api_compat.is_array_api_obj(f) and not isinstance(f, bool | int | float):
        return f
    xp = array_namespace(like)
    return xp.asarray(f, dtype=like.dtype, device=device_of(like))
