r"""Geometry of a ball of radius :math:`\rho` touching the graph of ``f``.

Every function works row-wise: a contact point ``x`` of shape ``(..., n)`` with value
``f`` of shape ``(...)`` and gradient ``g`` of shape ``(..., n)``. A point of
:math:`\mathbb{R}^{n+1}` is held as the pair ``(px, py)``.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ._arrays import Array, col, dot

__all__ = [
    "center",
    "descended_center",
    "foot_residual",
    "gauss_newton_direction",
    "normal",
]


def normal(g: Array, /, *, xp: Any = None) -> tuple[Array, Array]:
    r"""Upward unit normal :math:`\nu = (-g, 1) / \sqrt{1 + \|g\|^2}` of the graph.

    Parameters
    ----------
    g : array, shape (..., n)
        Gradient of ``f`` at the point.

    Returns
    -------
    nu_x : array, shape (..., n)
    nu_y : array, shape (...)

    Examples
    --------
    >>> import numpy as np
    >>> nx, ny = normal(np.array([3.0, 4.0]))
    >>> round(float(np.sum(nx**2) + ny**2), 12), round(float(ny), 6)
    (1.0, 0.196116)
    """
    if xp is None:
        xp = array_namespace(g)
    inv_s = 1.0 / xp.sqrt(1.0 + dot(g, g, xp=xp))
    return -g * col(inv_s, xp=xp), inv_s


def center(
    x: Array, f: Array, g: Array, radius: float, /, *, xp: Any = None
) -> tuple[Array, Array]:
    r"""Centre :math:`c = (x, f) + \rho\,\nu` of the ball touching the graph at ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> cx, cy = center(np.zeros(2), np.asarray(0.0), np.zeros(2), 2.0)
    >>> cx.tolist(), float(cy)
    ([0.0, 0.0], 2.0)
    """
    if xp is None:
        xp = array_namespace(x, g)
    nu_x, nu_y = normal(g, xp=xp)
    return x + radius * nu_x, f + radius * nu_y


def descended_center(
    x: Array, f: Array, g: Array, radius: float, lr: float, /, *, xp: Any = None
) -> tuple[Array, Array]:
    r"""Centre after one descent step along the lifted gradient :math:`\tau = (g, \|g\|^2)`.

    :math:`\tilde c = c - \eta\,\tau`, that is
    :math:`\tilde c_x = x - (\rho/s + \eta)\,g` and
    :math:`\tilde c_y = f + \rho/s - \eta\|g\|^2` with :math:`s = \sqrt{1 + \|g\|^2}`.
    Both parts are formed in one pass over ``g``.

    Examples
    --------
    >>> import numpy as np
    >>> cx, cy = descended_center(np.ones(1), np.asarray(0.5), np.ones(1), 0.0, 0.1)
    >>> cx.tolist(), float(cy)
    ([0.9], 0.4)
    """
    if xp is None:
        xp = array_namespace(x, g)
    gg = dot(g, g, xp=xp)
    rho_s = radius / xp.sqrt(1.0 + gg)
    return x - col(rho_s + lr, xp=xp) * g, f + rho_s - lr * gg


def foot_residual(
    z: Array, fz: Array, gz: Array, cx: Array, cy: Array, /, *, xp: Any = None
) -> tuple[Array, Array]:
    r"""Foot-point objective :math:`D(z) = \tfrac12\|(z, f(z)) - \tilde c\|^2`, and its gradient.

    Returns ``(D, grad_D)`` with
    :math:`\nabla D = (z - \tilde c_x) + (f(z) - \tilde c_y)\,\nabla f(z)`.
    """
    if xp is None:
        xp = array_namespace(z, gz)
    dz = z - cx
    e = fz - cy
    value = 0.5 * (dot(dz, dz, xp=xp) + e * e)
    return value, dz + col(e, xp=xp) * gz


def gauss_newton_direction(
    v: Array, g: Array, gv: Array, gg: Array, /, *, xp: Any = None, shift: Any = 1.0
) -> Array:
    r"""Gauss--Newton step :math:`\delta = -(aI + g g^\top)^{-1} v` by Sherman--Morrison.

    :math:`\delta = -(v - g\,(g\cdot v) / (a + \|g\|^2)) / a`, in O(n) from the gradient
    alone. ``gv`` and ``gg`` are the precomputed :math:`g\cdot v` and :math:`\|g\|^2`;
    ``shift`` is :math:`a` (1 for plain Gauss--Newton, per row otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> g, v = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> d = gauss_newton_direction(v, g, g @ v, g @ g)
    >>> np.allclose((np.eye(2) + np.outer(g, g)) @ d, -v)
    True
    """
    if xp is None:
        xp = array_namespace(v, g)
    if isinstance(shift, float) and shift == 1.0:
        return g * col(gv / (1.0 + gg), xp=xp) - v
    return (g * col(gv / (shift + gg), xp=xp) - v) / col(shift, xp=xp)
