r"""Projection of the descended centre back onto the graph: the foot-point problem.

The new contact point is :math:`\arg\min_z D(z)`, :math:`D(z) = \tfrac12\|z - \tilde c_x\|^2
+ \tfrac12(f(z) - \tilde c_y)^2`, warm-started at the previous contact point, whose value
and gradient are already known: the first iteration costs no evaluation.

Two step rules share one loop, one evaluation of ``fun`` per iteration (``_GaussNewton``
and ``_FixedStep``: each says where its trial point goes, when it is taken and when a
row stops):

``"gauss-newton"`` (default)
    :math:`D` is a least-squares problem with Jacobian :math:`[I; \nabla f^\top]`, so the
    Gauss--Newton step costs O(n) by Sherman--Morrison. The curvature term it neglects is
    estimated as one scalar from the last step (a secant, free of evaluations), and a
    backtracking line search on :math:`D` (Armijo, with quadratic interpolation) makes it
    robust on steep or non-convex landscapes; it stops once :math:`\|\nabla D\|` is below
    its tolerance.
``"gd"``
    The reference implementation's fixed-step gradient descent :math:`z \leftarrow z -
    h\nabla D(z)`, kept for comparison. It diverges when :math:`h(1 + \|\nabla f\|^2) > 2`;
    that is reported as ``DIVERGED``, never hidden.

Rows of a batch are independent: finished rows are frozen with ``where``. On devices where
reading a flag back costs a synchronisation, the loop reads its ``done`` flags only every
``check_every`` iterations. A single float64 row on the host (a plain ``rbo.minimize``)
runs the Gauss--Newton loop with its per-row scalars as Python floats: the same IEEE
operations in the same order, at a fraction of the cost of 0-d array operations.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, codes, col, dot, eps, max_float, min_float, select, sqrt_float
from .backends import Backend, Centre, Dots, Previous
from .backends._kernels import materialise

__all__ = ["PROJECTIONS", "ProjStatus", "Projection", "project"]

PROJECTIONS = ("gauss-newton", "gd")

# Armijo's sufficient-decrease constant, and the smallest step fraction tried before the
# line search counts as stalled (2**-20: about 20 wasted evaluations at worst).
_ARMIJO = 1e-4
_MIN_ALPHA = 2.0**-20
# Up to this many coordinates a single row's projection forms the descended centre once
# (two array operations fewer in each trial point and residual pass); a longer row's
# centre is left to the kernels, which recompute it in their passes and hold one array
# less.
_FORMED = 1 << 13


class ProjStatus(enum.IntEnum):
    """Outcome of one projection (per row)."""

    CONVERGED = 0  # |grad D| below tolerance
    MAXITER = 1  # iteration cap reached; the point is still the best foot point found
    STALLED = 2  # the line search could not decrease D any further
    NONFINITE = 3  # the objective gave NaN/inf and no step could be accepted
    DIVERGED = 4  # fixed-step gd made the residual grow or overflow


class Projection(NamedTuple):
    """Foot point found by :func:`project`, with its value, gradient and diagnostics."""

    z: Array
    f: Array
    g: Array
    residual: Array  # |grad D(z)|, shape (...)
    iters: int  # evaluations of fun used
    status: Array  # ProjStatus codes, shape (...)
    alpha: Array  # Gauss-Newton step fraction reached, a warm start for the next projection
    gg: Array | None = None  # |g|^2, shape (...): the next step's normal needs it
    nonfinite: Array | None = None  # per row: 1 f, 2 the gradient was met NaN or inf; 0


def project(
    fun: Callable[[Array], tuple[Array, Array]],
    x: Array,
    f: Array,
    g: Array,
    cx: Array | Centre,
    cy: Array,
    /,
    *,
    method: str = "gauss-newton",
    maxiter: int = 20,
    rtol: float | None = None,
    step: float = 1e-2,
    check_every: int = 4,
    alpha: Array | float = 1.0,
    active: Array | None = None,
    xx: Array | None = None,
    backend: Backend | None = None,
    box: tuple[Array, Array] | None = None,
) -> Projection:
    r"""Foot point of :math:`(c_x, c_y)` on the graph of ``fun``, warm-started at ``x``.

    Parameters
    ----------
    fun : callable
        ``fun(z) -> (f(z), grad f(z))``, on the same rows as ``x``.
    x, f, g : array
        Warm start and its known value ``(...)`` and gradient ``(..., n)``.
    cx, cy : array
        The point to project, shapes ``(..., n)`` and ``(...)``; ``cx`` may also be the
        :class:`~rbo.backends.Centre` its backend's ``kernels.centre`` returned.
    method : {"gauss-newton", "gd"}
    maxiter : int
        Evaluations of ``fun`` allowed.
    rtol : float, optional
        Stop when :math:`\|\nabla D\| \le rtol\,\|\nabla D(x)\|` plus a round-off floor;
        default :math:`\sqrt{\varepsilon}` of the dtype.
    step : float
        Step size :math:`h` of ``"gd"``.
    check_every : int
        On devices that synchronise to read a flag, how many iterations run between two
        reads of whether every row is done (no read before the first such batch).
    alpha : float or array
        First Gauss--Newton step fraction (per row); the previous projection's final one
        spares the line search from rediscovering the landscape's scale.
    active : array of bool, optional
        Rows to project; the others are left as they are (their status reads CONVERGED).
    xx : array, optional
        :math:`\|x\|^2` per row, if known.
    box : (lower, upper), optional
        Keep every trial point in this box (clipped): the foot point is then sought on
        the part of the graph over the box.
    backend : Backend, optional
        Whose kernels to use; default the backend of ``x``.

    Returns
    -------
    Projection

    Examples
    --------
    The foot point of ``(0, 1)`` on the parabola ``y = x^2`` is the vertex when the
    point lies inside the osculating circle:

    >>> import numpy as np
    >>> fg = lambda z: (np.sum(z**2), 2 * z)
    >>> x = np.array([0.3])
    >>> p = project(fg, x, *fg(x), np.array([0.0]), np.asarray(0.4))
    >>> round(float(p.z[0]), 12), int(p.status)
    (0.0, 0)
    """
    if method not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}; got {method!r}")
    xp = array_namespace(x, g)
    if backend is None:
        backend = backends.of(x)
    k = backend.kernels
    host = backend.eager(x)
    quiet = backend.quiet  # overflow here is detected and handled: no warnings
    tiny = eps(x, xp=xp)
    if rtol is None:
        rtol = math.sqrt(tiny)

    if (
        host
        and backend.host_floats
        and method == "gauss-newton"
        and getattr(f, "ndim", 0) == 0
        and x.dtype == xp.float64
        and (active is None or active.ndim == 0)
    ):
        return _project_host(
            fun, x, f, g, cx, cy, maxiter, rtol, tiny, alpha, active, xx, backend, box, xp
        )
    with quiet():
        z = x
        e = f - cy
        d = k.residual(x, g, e, cx)
        D = 0.5 * (d.dd + e * e)
        gg, gv, vv = d.gg, d.gv, d.vv
        r = r0 = xp.sqrt(vv) if box is None else _box_residual(x, g, e, cx, box, xp)
        if xx is None:
            xx = k.dot(x, x)
        # Round-off floor: |grad D| cannot be resolved below a few ulps of z.
        tol = rtol * r0 + 8.0 * tiny * (xp.sqrt(xx) + 1.0)
        # A residual that overflows at the start (|f - c_y| |grad f| beyond the dtype's
        # range) leaves nothing to measure progress by: the caller retries with a
        # smaller step.
        overflow = ~(xp.isfinite(r0) & xp.isfinite(D))
    if active is not None:
        overflow = overflow & active
    done = (r <= tol) | overflow
    if active is not None:
        done = done | ~active
    status = xp.where(done, codes(ProjStatus.CONVERGED, r), codes(ProjStatus.MAXITER, r))
    status = xp.where(overflow, codes(ProjStatus.NONFINITE, r), status)
    which = xp.where(overflow, _culprit(f, xp), codes(0, r))
    rule: _Rule = _GaussNewton(alpha, r, tiny) if method == "gauss-newton" else _FixedStep(step)
    moved = xp.zeros_like(done)
    nonfinite = xp.zeros_like(done)
    iters = 0
    for it in range(maxiter):
        if (host or (it > 0 and it % check_every == 0)) and bool(xp.all(done)):
            break
        # The trial point z + a g - b (z - c_x) (see rbo.backends.Kernels.trial); finished
        # rows take a zero step, so they are evaluated where they already are.
        with quiet():
            a, b = rule.coefficients(e, gg, gv, done, xp)
            zt = k.trial(z, g, cx, a, b)
            if box is not None:  # the foot point on the part of the graph over the box
                zt = xp.minimum(xp.maximum(zt, box[0]), box[1])
        ft, gt = fun(zt)
        iters += 1
        with quiet():
            et = ft - cy
            dt = k.residual(zt, gt, et, cx, prev=Previous(z, g) if rule.secant else None)
            Dt = 0.5 * (dt.dd + et * et)
            vvt = dt.vv
            finite = xp.isfinite(Dt) & xp.isfinite(vvt)
            ok = rule.accepts(D, Dt, vv, vvt, gg, gv, xp) & finite & ~done
            bad = ~finite & ~done
            which = xp.where(bad & (which == 0), _culprit(ft, xp), which)
            nonfinite = nonfinite | bad
            moved = moved | ok
            rule.measure(ok, dt, e, et, xp)
            z = select(ok, zt, z, xp=xp, host=host)
            f = select(ok, ft, f, xp=xp, host=host)
            g = select(ok, gt, g, xp=xp, host=host)
            del zt, gt  # a rejected trial's arrays go now, not when the next one is made
            e = xp.where(ok, et, e)
            D = xp.where(ok, Dt, D)
            vv = xp.where(ok, vvt, vv)
            gg = xp.where(ok, dt.gg, gg)
            gv = xp.where(ok, dt.gv, gv)
            r = xp.sqrt(vv) if box is None else _box_residual(z, g, e, cx, box, xp)
            stopped, why = rule.stops(ok, done, finite, D, Dt, vvt, r0, xp)
        status = xp.where(stopped, codes(why, r), status)
        done = done | stopped
        converged = (r <= tol) & ~done
        status = xp.where(converged, codes(ProjStatus.CONVERGED, r), status)
        done = done | converged

    unfinished = status != int(ProjStatus.CONVERGED)
    failed, why = rule.failed(nonfinite & ~moved & unfinished, (r > r0) & unfinished)
    status = xp.where(failed, codes(why, r), status)
    return Projection(z, f, g, r, iters, status, rule.alpha(r, xp), gg, which)


def _project_host(
    fun: Callable[[Array], tuple[Array, Array]],
    x: Array,
    f: Array,
    g: Array,
    cx: Array | Centre,
    cy: Array,
    maxiter: int,
    rtol: float,
    tiny: float,
    alpha: Array | float,
    active: Array | None,
    xx: Array | None,
    backend: Backend,
    box: tuple[Array, Array] | None,
    xp: Any,
) -> Projection:
    """The Gauss--Newton projection of a single float64 row on the host, its per-row
    scalars as Python floats.

    The same expressions in the same order as :func:`project` with ``_GaussNewton``, in
    the same IEEE double arithmetic, so that it finds the very foot point a batch of one
    finds; a 0-d array operation costs a microsecond or more, a float one tens of
    nanoseconds, and an iteration makes about eighty. Only the products over ``x``'s
    coordinates (the kernels) stay array operations. Divisions are guarded as the
    array code guards them (a Python float raises on a division by zero).
    """
    isfinite = math.isfinite
    k, quiet = backend.kernels, backend.quiet
    cy_ = float(cy)
    f_ = float(f)
    e = f_ - cy_
    with quiet():
        if isinstance(cx, Centre) and x.shape[-1] <= _FORMED:
            cx = materialise(cx)  # the same array the kernels would form at each pass
        d = k.residual(x, g, e, cx)
        if box is not None:
            r0 = float(_box_residual(x, g, e, cx, box, xp))
        if xx is None:
            xx = k.dot(x, x)
    gg, gv, vv = float(d.gg), float(d.gv), float(d.vv)
    D = 0.5 * (float(d.dd) + e * e)
    if box is None:
        r0 = sqrt_float(vv)
    r = r0
    tol = rtol * r0 + 8.0 * tiny * (sqrt_float(float(xx)) + 1.0)
    overflow = not (isfinite(r0) and isfinite(D))
    if active is not None and not bool(active):
        overflow, done = False, True
    else:
        done = r <= tol or overflow
    status = int(ProjStatus.CONVERGED) if done else int(ProjStatus.MAXITER)
    which = 0
    if overflow:
        status = int(ProjStatus.NONFINITE)
        which = 2 if isfinite(f_) else 1
    a = float(alpha)  # _GaussNewton's step fraction and secant shift
    shift = 1.0
    z = x
    moved = nonfinite = False
    iters = 0
    for _ in range(maxiter):
        if done:
            break
        b = a / shift
        with quiet():
            zt = k.trial(z, g, cx, b * (gv / (shift + gg) - e), b)
            if box is not None:
                zt = xp.minimum(xp.maximum(zt, box[0]), box[1])
        ft, gt = fun(zt)
        iters += 1
        et = float(ft) - cy_
        with quiet():
            dt = k.residual(zt, gt, et, cx, prev=Previous(z, g))
        assert dt.ss is not None and dt.gs is not None and dt.gps is not None
        vvt = float(dt.vv)
        Dt = 0.5 * (float(dt.dd) + et * et)
        finite = isfinite(Dt) and isfinite(vvt)
        slope = (gv * gv / (shift + gg) - vv) / shift  # v . delta, negative
        ok = finite and (
            Dt <= D + _ARMIJO * a * slope or (Dt <= D * (1.0 + 4.0 * tiny) and vvt < vv)
        )
        if not finite:
            if which == 0:
                which = 2 if isfinite(float(ft)) else 1
            nonfinite = True
        if ok:
            moved = True
            ss, gs = float(dt.ss), float(dt.gs)
            shift = _secant_shift_host(ss, gs, ss + et * gs - e * float(dt.gps))
            z, f, g = zt, ft, gt
            e, D, vv, gg, gv = et, Dt, vvt, float(dt.gg), float(dt.gv)
        del zt, gt
        if box is None:
            r = sqrt_float(vv)
        else:
            with quiet():
                r = float(_box_residual(z, g, e, cx, box, xp))
        a = min_float(2.0 * a, 1.0) if ok else _shrink_host(a, slope, D, Dt)
        if a < _MIN_ALPHA:
            status, done = int(ProjStatus.STALLED), True
        if not done and r <= tol:
            status, done = int(ProjStatus.CONVERGED), True
    if nonfinite and not moved and status != int(ProjStatus.CONVERGED):
        status = int(ProjStatus.NONFINITE)
    dtype, dev = x.dtype, device_of(x)
    r_, a_, gg_ = (xp.asarray(v, dtype=dtype, device=dev) for v in (r, a, gg))
    return Projection(z, f, g, r_, iters, codes(status, r_), a_, gg_, codes(which, r_))


def _secant_shift_host(ss: float, gs: float, sy: float) -> float:
    """:func:`_secant_shift` on floats."""
    a = (sy - gs * gs) / (ss if ss > 0 else 1.0)
    if math.isfinite(a) and ss > 0 and a > 0:
        return min_float(max_float(a, 1e-2), 1e8)
    return 1.0


def _shrink_host(alpha: float, slope: float, D: float, Dt: float) -> float:
    """:func:`_shrink` on floats."""
    curvature = 2.0 * (Dt - D - slope * alpha)
    quad = -slope * alpha * alpha / (curvature if curvature > 0 else 1.0)
    if not (math.isfinite(quad) and curvature > 0):
        quad = 0.1 * alpha
    return min_float(max_float(quad, 0.1 * alpha), 0.5 * alpha)


def _box_residual(
    z: Array, g: Array, e: Array, cx: Array | Centre, box: tuple[Array, Array], xp: Any
) -> Array:
    """``|grad D(z)|`` without the coordinates on a face of the box where ``-grad D``
    points out of it: the residual that vanishes at the foot point on the part of the
    graph over the box (the full one does not, when the nearest point lies outside)."""
    v = (z - materialise(cx)) + col(e, xp=xp) * g
    held = ((z <= box[0]) & (v > 0)) | ((z >= box[1]) & (v < 0))
    v = xp.where(held, xp.zeros_like(v), v)
    return xp.sqrt(dot(v, v, xp=xp))


def _culprit(f: Array, xp: Any) -> Array:
    """What made a point non-finite: the value (1), or else the gradient or a product of
    it (2), as :func:`rbo._status.nonfinite_details` reads the codes."""
    return xp.where(xp.isfinite(f), codes(2, f), codes(1, f))


class _Rule(Protocol):
    """A step rule of :func:`project`: where the trial point goes, when it is taken,
    and when a row stops. Rules keep their per-row state (step fractions) themselves."""

    secant: bool  # whether the residual pass forms the secant's products

    def coefficients(self, e: Array, gg: Array, gv: Array, done: Array, xp: Any) -> tuple:
        """Per-row ``(a, b)`` of the trial point ``z + a g - b (z - c_x)``."""
        ...

    def accepts(
        self, D: Array, Dt: Array, vv: Array, vvt: Array, gg: Array, gv: Array, xp: Any
    ) -> Array:
        """Per row: the (finite) trial is taken."""
        ...

    def measure(self, ok: Array, dt: Dots, e: Array, et: Array, xp: Any) -> None:
        """Learn from the trial before the iterate moves (the Gauss-Newton secant)."""
        ...

    def stops(
        self,
        ok: Array,
        done: Array,
        finite: Array,
        D: Array,
        Dt: Array,
        vvt: Array,
        r0: Array,
        xp: Any,
    ) -> tuple[Array, int]:
        """Rows the trial ends, and the status they end with."""
        ...

    def failed(self, met_nan: Array, grew: Array) -> tuple[Array, int]:
        """Unconverged rows that failed in the end, and their status."""
        ...

    def alpha(self, like: Array, xp: Any) -> Array:
        """The step fraction reached (a warm start for the next projection)."""
        ...


class _GaussNewton:
    """Gauss--Newton by Sherman--Morrison with a secant shift, and a backtracking
    Armijo line search on ``D``."""

    secant = True

    def __init__(self, alpha: Array | float, like: Array, tiny: float) -> None:
        self.a = array_namespace(like).ones_like(like) * alpha
        self.shift = array_namespace(like).ones_like(like)
        self.tiny = tiny
        self.slope: Array = None

    def coefficients(self, e: Array, gg: Array, gv: Array, done: Array, xp: Any) -> tuple:
        b = xp.where(done, xp.zeros_like(self.a), self.a / self.shift)
        return b * (gv / (self.shift + gg) - e), b

    def accepts(
        self, D: Array, Dt: Array, vv: Array, vvt: Array, gg: Array, gv: Array, xp: Any
    ) -> Array:
        self.slope = (gv * gv / (self.shift + gg) - vv) / self.shift  # v . delta, negative
        # Armijo on D; near the solution D's change drowns in round-off, so a step that
        # keeps D within round-off and shrinks |grad D| is taken too.
        return (Dt <= D + _ARMIJO * self.a * self.slope) | (
            (Dt <= D * (1.0 + 4.0 * self.tiny)) & (vvt < vv)
        )

    def measure(self, ok: Array, dt: Dots, e: Array, et: Array, xp: Any) -> None:
        # s . (v_t - v) from the pass's products: s . s + e_t g_t . s - e g . s
        sy = dt.ss + et * dt.gs - e * dt.gps
        self.shift = xp.where(ok, _secant_shift(dt.ss, dt.gs, sy, xp), self.shift)

    def stops(
        self,
        ok: Array,
        done: Array,
        finite: Array,
        D: Array,
        Dt: Array,
        vvt: Array,
        r0: Array,
        xp: Any,
    ) -> tuple[Array, int]:
        a = self.a
        self.a = xp.where(
            ok, xp.minimum(2.0 * a, 1.0), xp.where(done, a, _shrink(a, self.slope, D, Dt, xp))
        )
        return (self.a < _MIN_ALPHA) & ~done, int(ProjStatus.STALLED)

    def failed(self, met_nan: Array, grew: Array) -> tuple[Array, int]:
        # A projection that met NaN or inf and never moved failed; one that moved stands.
        return met_nan, int(ProjStatus.NONFINITE)

    def alpha(self, like: Array, xp: Any) -> Array:
        return self.a


class _FixedStep:
    """The reference's fixed-step descent ``z <- z - h grad D(z)``."""

    secant = False

    def __init__(self, step: float) -> None:
        self.h = step

    def coefficients(self, e: Array, gg: Array, gv: Array, done: Array, xp: Any) -> tuple:
        zero = xp.zeros_like(e)
        b = xp.where(done, zero, self.h + zero)
        return -b * e, b

    def accepts(
        self, D: Array, Dt: Array, vv: Array, vvt: Array, gg: Array, gv: Array, xp: Any
    ) -> Array:
        return xp.ones_like(Dt, dtype=xp.bool)

    def measure(self, ok: Array, dt: Dots, e: Array, et: Array, xp: Any) -> None:
        return None

    def stops(
        self,
        ok: Array,
        done: Array,
        finite: Array,
        D: Array,
        Dt: Array,
        vvt: Array,
        r0: Array,
        xp: Any,
    ) -> tuple[Array, int]:
        return (~finite | (vvt > 1e12 * r0 * r0)) & ~done, int(ProjStatus.DIVERGED)

    def failed(self, met_nan: Array, grew: Array) -> tuple[Array, int]:
        # Fixed-step descent that ends with a larger residual than it started with has
        # moved away from the foot point: divergence, whatever the iteration count.
        return grew, int(ProjStatus.DIVERGED)

    def alpha(self, like: Array, xp: Any) -> Array:
        return xp.ones_like(like)


def _secant_shift(ss: Array, gs: Array, sy: Array, xp: Any) -> Array:
    r"""Scalar ``a`` with ``s . (a I + g g^T) s = s . y``: the curvature term that
    Gauss--Newton neglects, :math:`(f - c_y)\nabla^2 f`, measured along the last step
    ``s`` (``y`` is the change of :math:`\nabla D`; ``ss``, ``gs``, ``sy`` are the
    products the residual pass formed).

    Where the landscape is curved on the ball's scale this term is what slows plain
    Gauss--Newton down; measured along the step it costs no evaluation. Negative or
    unusable measurements give 1 (plain Gauss--Newton); the rest is kept in [1e-2, 1e8].
    """
    a = (sy - gs * gs) / xp.where(ss > 0, ss, xp.ones_like(ss))
    usable = xp.isfinite(a) & (ss > 0) & (a > 0)
    return xp.where(usable, xp.minimum(xp.maximum(a, 1e-2), 1e8), xp.ones_like(a))


def _shrink(alpha: Array, slope: Array, D: Array, Dt: Array, xp: Any) -> Array:
    """Step fraction after a rejected trial: the minimiser of the quadratic through
    ``D``, the slope and ``Dt``, kept within [0.1, 0.5] of ``alpha`` (0.1 when ``Dt`` is
    not finite). Far overshoots shrink tenfold at once instead of by halves."""
    curvature = 2.0 * (Dt - D - slope * alpha)
    quad = -slope * alpha * alpha / xp.where(curvature > 0, curvature, xp.ones_like(curvature))
    quad = xp.where(xp.isfinite(quad) & (curvature > 0), quad, 0.1 * alpha)
    return xp.minimum(xp.maximum(quad, 0.1 * alpha), 0.5 * alpha)
