"""Box bounds ``lower <= x <= upper``: parsed once for every method, and the two array
operations a bounded method needs, projection onto the box and the projected gradient."""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Any

import array_api_compat
from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import Bounds

from ._arrays import Array
from ._validation import caller_level

__all__ = [
    "clip",
    "into_box",
    "parse_bounds",
    "projected_gradient",
    "supports_bounds",
    "with_bounds",
]


def parse_bounds(bounds: Any, x0: Array, /) -> tuple[Array, Array]:
    """``bounds`` as ``(lower, upper)``, arrays of ``x0``'s namespace, dtype and device.

    ``bounds`` is a :class:`scipy.optimize.Bounds` (``lb``, ``ub`` scalars or one value
    per coordinate) or a sequence of ``n`` pairs ``(low, high)``; ``None`` or an infinite
    value leaves a side free, and ``low == high`` fixes a coordinate. Both arrays have
    shape ``(n,)`` and broadcast over the rows of a batch ``x0`` of shape ``(m, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> lower, upper = parse_bounds([(0, 1), (None, 2.5)], np.zeros(2))
    >>> lower.tolist(), upper.tolist()
    ([0.0, -inf], [1.0, 2.5])
    """
    n = x0.shape[-1]
    if isinstance(bounds, Bounds):
        low = _side(bounds.lb, n, "bounds.lb", -math.inf)
        high = _side(bounds.ub, n, "bounds.ub", math.inf)
    else:
        pairs = _pairs(bounds)
        if len(pairs) != n:
            raise ValueError(
                f"bounds must give one (low, high) pair per coordinate of x0: {n} pairs; "
                f"got {len(pairs)}"
            )
        low = [_number(p[0], f"bounds[{i}][0]", -math.inf) for i, p in enumerate(pairs)]
        high = [_number(p[1], f"bounds[{i}][1]", math.inf) for i, p in enumerate(pairs)]
    return _as_box(low, high, x0, "bounds must have low <= high")


def parse_sides(lower: Any, upper: Any, x0: Array, /) -> tuple[Array, Array]:
    """The box given as a method's ``lower`` and ``upper`` options (each ``None``, a
    number or one value per coordinate), checked as :func:`parse_bounds` checks
    ``bounds``.

    Examples
    --------
    >>> import numpy as np
    >>> lower, upper = parse_sides(0.0, [1.0, None], np.zeros(2))
    >>> lower.tolist(), upper.tolist()
    ([0.0, 0.0], [1.0, inf])
    """
    n = x0.shape[-1]
    low = _side(lower, n, "lower", -math.inf)
    high = _side(upper, n, "upper", math.inf)
    return _as_box(low, high, x0, "lower must be <= upper")


def _as_box(low: list[float], high: list[float], x0: Array, rule: str) -> tuple[Array, Array]:
    for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if lo > hi or lo == math.inf or hi == -math.inf:
            raise ValueError(f"{rule} and allow a finite x; coordinate {i} has ({lo}, {hi})")
    xp = array_namespace(x0)
    like = {"dtype": x0.dtype, "device": device_of(x0)}
    return xp.asarray(low, **like), xp.asarray(high, **like)


def into_box(x0: Array, lower: Array, upper: Array, /) -> Array:
    """``x0`` clipped into the box, with a ``UserWarning`` when it lay outside."""
    xp = array_namespace(x0)
    inside = clip(x0, lower, upper)
    if not bool(xp.all(inside == x0)):
        warnings.warn(
            "x0 lies outside bounds: it is clipped into the box before the run",
            UserWarning,
            stacklevel=caller_level(),  # the user's line, through scipy_method too
        )
    return inside


def clip(x: Array, lower: Array, upper: Array, /) -> Array:
    """``x`` projected onto the box: each coordinate clipped to ``[lower, upper]``.

    Examples
    --------
    >>> import numpy as np
    >>> clip(np.array([-2.0, 0.5, 3.0]), np.zeros(3), np.ones(3)).tolist()
    [0.0, 0.5, 1.0]
    """
    xp = array_namespace(x)
    return xp.minimum(xp.maximum(x, lower), upper)


def projected_gradient(x: Array, g: Array, lower: Array, upper: Array, /) -> Array:
    """``g`` with the components zeroed where ``x`` lies on a bound and ``-g`` points
    out of the box: its norm is 0 exactly at a stationary point of the bounded problem.

    Examples
    --------
    >>> import numpy as np
    >>> x, g = np.array([0.0, 0.0, 0.5]), np.array([1.0, -1.0, 2.0])
    >>> projected_gradient(x, g, np.zeros(3), np.ones(3)).tolist()
    [0.0, -1.0, 2.0]
    """
    xp = array_namespace(x, g)
    blocked = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
    return xp.where(blocked, xp.zeros_like(g), g)


def _pairs(bounds: Any) -> list[Any]:
    if array_api_compat.is_array_api_obj(bounds) and hasattr(bounds, "tolist"):
        bounds = bounds.tolist()  # an (n, 2) array of pairs
    if isinstance(bounds, str | bytes) or not hasattr(bounds, "__iter__"):
        raise TypeError(
            "bounds must be a sequence of (low, high) pairs or a scipy.optimize.Bounds; "
            f"got {type(bounds).__name__}"
        )
    pairs = list(bounds)
    for i, p in enumerate(pairs):
        if isinstance(p, str | bytes) or not hasattr(p, "__len__") or len(p) != 2:
            raise ValueError(f"bounds[{i}] must be a (low, high) pair; got {p!r}")
    return pairs


def _side(values: Any, n: int, name: str, free: float) -> list[float]:
    """One side of a ``Bounds``: a scalar or ``n`` values, as floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, list | tuple):
        flat = list(values)
        if len(flat) == 1:  # Bounds keeps a scalar side as one value
            flat = flat * n
        if len(flat) != n:
            raise ValueError(
                f"{name} must be a scalar or hold one value per coordinate of x0 ({n}); "
                f"got {len(flat)}"
            )
        return [_number(v, f"{name}[{i}]", free) for i, v in enumerate(flat)]
    return [_number(values, name, free)] * n


def _number(value: Any, name: str, free: float) -> float:
    """A bound as a float; None is ``free`` (an infinite bound)."""
    if value is None:
        return free
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or None; got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} is NaN; use None or inf for a free side")
    return value


def with_bounds(solver: Any, lower: Array, upper: Array, /) -> Any:
    """``solver`` configured to keep every point it evaluates in the box.

    A method takes bounds through its ``lower`` and ``upper`` fields; one without them
    (a user's own solver) is refused.
    """
    if not supports_bounds(solver):
        raise NotImplementedError(
            f"bounds are not supported by {type(solver).__name__}: a solver takes them "
            "through lower and upper fields; configure its box yourself, or leave bounds out"
        )
    return dataclasses.replace(solver, lower=lower, upper=upper)


def supports_bounds(method: Any, /) -> bool:
    """Whether ``method`` (a name of :data:`rbo.METHODS`, a solver or its class) takes
    bounds: whether it has ``lower`` and ``upper`` fields."""
    if isinstance(method, str):
        from ._minimize import METHODS  # which imports this module

        method = METHODS.get(method.lower())
    if not dataclasses.is_dataclass(method):
        return False
    return {"lower", "upper"} <= {f.name for f in dataclasses.fields(method)}
