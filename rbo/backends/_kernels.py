r"""The hot row-wise updates of an RBO step, in plain array-API code.

A backend may replace any of them with fused versions (one pass over memory instead of
several, no temporaries the size of ``x``); the results must agree to rounding. Every
method works on rows: points of shape ``(..., n)`` and per-row scalars of shape ``(...)``.

The projection iterates on a foot point ``z`` with value ``f`` and gradient ``g``. With
``e = f - c_y`` and the centre's ``x`` part ``c_x``, the gradient of the foot-point
objective is ``v = (z - c_x) + e g``. Both the Gauss--Newton and the fixed-step trial
points are ``z + a g - b (z - c_x)`` for per-row scalars ``a``, ``b``, so ``v`` is never
stored: the residual pass forms it on the fly for its inner products. A fused backend may
also leave ``c_x`` unformed (``centre`` then returns a :class:`Centre`) and recompute it
inside its passes, which holds one array less and moves no more memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .._arrays import Array, col, dot

__all__ = ["Centre", "Dots", "Kernels", "Previous", "centre_x", "materialise", "trial_point"]


class Centre(NamedTuple):
    """The centre's ``x`` part ``x - c g``, held without forming it."""

    x: Array
    g: Array
    c: Array  # per-row scalars


class Dots(NamedTuple):
    """Per-row inner products one residual pass produces at a point ``z``.

    ``dd = |z - c_x|^2``, ``vv = |v|^2``, ``gg = |g|^2`` and ``gv = g . v``; given the
    previous iterate ``(z_p, g_p)`` also ``ss = |s|^2``, ``gs = g . s`` and
    ``gps = g_p . s`` with ``s = z - z_p``, from which the secant of the Gauss--Newton
    shift follows: ``s . (v - v_p) = ss + e gs - e_p gps``.
    """

    dd: Array
    vv: Array
    gg: Array
    gv: Array
    ss: Array | None = None
    gs: Array | None = None
    gps: Array | None = None


class Previous(NamedTuple):
    """The accepted iterate a trial point is compared with."""

    z: Array
    g: Array


# Element-wise bodies: operators only, so that every namespace (and a fused CUDA kernel)
# evaluates the same expressions in the same order.


def centre_x(x: Array, g: Array, c: Any) -> Array:
    """``x - c g``: the descended centre's ``x`` part (``c = rho / s + lr``)."""
    return x - c * g


def trial_point(z: Array, g: Array, cx: Array, a: Any, b: Any) -> Array:
    r"""``z + a g - b (z - c_x)``: a trial point of the projection.

    Gauss--Newton: :math:`z + \alpha\,(c\,g - v)/\sigma` with :math:`c = g\cdot v /
    (\sigma + \|g\|^2)` (Sherman--Morrison for :math:`(\sigma I + g g^T)^{-1}`) and
    :math:`v = (z - c_x) + e\,g`, so ``a = alpha (c - e) / shift`` and
    ``b = alpha / shift``. Fixed-step descent :math:`z - h v`: ``a = -h e``, ``b = h``.
    """
    return z + a * g - b * (z - cx)


class Kernels:
    """The updates of one RBO step in plain array-API code; backends subclass to fuse them.

    A row's scalars (``c``, ``a``, ``b``, ``e``) are arrays of shape ``(...)``; for a
    single float64 row on a backend whose ``host_floats`` is true (rbo's own kernels
    only) they come as Python floats, which these bodies take as they are.

    Examples
    --------
    >>> import numpy as np
    >>> k = Kernels()
    >>> x, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> cx = k.centre(x, g, np.asarray(2.0))
    >>> cx.tolist()
    [0.0, 4.0]
    >>> d = k.residual(x, g, np.asarray(0.0), cx)
    >>> float(d.dd), float(d.gv)
    (5.0, 2.5)
    >>> k.trial(x, g, cx, np.asarray(0.0), np.asarray(1.0)).tolist()  # a full step to c_x
    [0.0, 4.0]
    """

    def dot(self, a: Array, b: Array, /) -> Array:
        """Row-wise inner product, ``(..., n), (..., n) -> (...)``."""
        return dot(a, b)

    def step_norms(self, z: Array, x: Array, /) -> tuple[Array, Array]:
        """``(|z|^2, |z - x|^2)`` per row: the new point's norm and the step's length."""
        d = z - x
        return self.dot(z, z), self.dot(d, d)

    def centre(self, x: Array, g: Array, c: Array, /) -> Array | Centre:
        """The centre's ``x`` part ``x - c g`` (``c`` per row), or a :class:`Centre`."""
        return centre_x(x, g, col(c))

    def trial(self, z: Array, g: Array, cx: Array | Centre, a: Array, b: Array, /) -> Array:
        """The trial point :func:`trial_point` (``a``, ``b`` per row)."""
        return trial_point(z, g, materialise(cx), col(a), col(b))

    def residual(
        self, z: Array, g: Array, e: Array, cx: Array | Centre, /, prev: Previous | None = None
    ) -> Dots:
        """The :class:`Dots` at ``z`` (``e = f(z) - c_y`` per row); with ``prev``, the
        secant's products too."""
        return residual_dots(z, g, e, cx, prev, self.dot)


def residual_dots(
    z: Array,
    g: Array,
    e: Any,
    cx: Array | Centre,
    prev: Previous | None,
    dot: Callable[[Array, Array], Array],
) -> Dots:
    """The body of :meth:`Kernels.residual`, with the row-wise inner product ``dot``."""
    dz = z - materialise(cx)
    v = dz + col(e) * g
    d = Dots(dd=dot(dz, dz), vv=dot(v, v), gg=dot(g, g), gv=dot(g, v))
    if prev is None:
        return d
    s = z - prev.z
    return d._replace(ss=dot(s, s), gs=dot(g, s), gps=dot(prev.g, s))


def materialise(cx: Array | Centre, centre: Any = None) -> Array:
    """The centre's ``x`` part as an array: ``cx`` itself, or a :class:`Centre` formed
    by ``centre(x, g, c)`` (default :func:`centre_x`)."""
    if not isinstance(cx, Centre):
        return cx
    if centre is None:
        return centre_x(cx.x, cx.g, col(cx.c))
    return centre(cx.x, cx.g, cx.c)
