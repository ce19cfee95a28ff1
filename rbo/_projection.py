r"""Projection of the descended centre back onto the graph: the foot-point problem.

The new contact point is :math:`\arg\min_z D(z)`, :math:`D(z) = \tfrac12\|z - \tilde c_x\|^2
+ \tfrac12(f(z) - \tilde c_y)^2`, warm-started at the previous contact point, whose value
and gradient are already known: the first iteration costs no evaluation.

Two solvers share one loop, one evaluation of ``fun`` per iteration:

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
``check_every`` iterations.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import backends
from ._arrays import Array, codes, eps, select
from .backends import Backend, Centre, Previous

__all__ = ["PROJECTIONS", "ProjStatus", "Projection", "project"]

PROJECTIONS = ("gauss-newton", "gd")

# Armijo's sufficient-decrease constant, and the smallest step fraction tried before the
# line search counts as stalled (2**-20: about 20 wasted evaluations at worst).
_ARMIJO = 1e-4
_MIN_ALPHA = 2.0**-20


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
    gauss_newton = method == "gauss-newton"
    if rtol is None:
        rtol = math.sqrt(eps(x, xp=xp))

    z = x
    e = f - cy
    d = k.residual(x, g, e, cx)
    D = 0.5 * (d.dd + e * e)
    gg, gv, vv = d.gg, d.gv, d.vv
    r = r0 = xp.sqrt(vv)
    if xx is None:
        xx = k.dot(x, x)
    # Round-off floor: |grad D| cannot be resolved below a few ulps of z.
    tol = rtol * r0 + 8.0 * eps(x, xp=xp) * (xp.sqrt(xx) + 1.0)

    def code(c: int) -> Array:
        return codes(c, r)

    def culprit(fz: Array) -> Array:
        # What made a trial non-finite: the value, or else the gradient (or its square).
        return xp.where(xp.isfinite(fz), code(2), code(1))

    # A residual that overflows at the start (|f - c_y| |grad f| beyond the dtype's range)
    # leaves nothing to measure progress by: the caller retries with a smaller step.
    overflow = ~(xp.isfinite(r0) & xp.isfinite(D))
    if active is not None:
        overflow = overflow & active
    done = (r <= tol) | overflow
    if active is not None:
        done = done | ~active
    status = xp.where(done, code(ProjStatus.CONVERGED), code(ProjStatus.MAXITER))
    status = xp.where(overflow, code(ProjStatus.NONFINITE), status)
    which = xp.where(overflow, culprit(f), code(0))
    alpha = xp.ones_like(r) * alpha
    zero = xp.zeros_like(r)
    shift = xp.ones_like(r)
    moved = xp.zeros_like(done)
    nonfinite = xp.zeros_like(done)
    iters = 0
    for it in range(maxiter):
        if (host or (it > 0 and it % check_every == 0)) and bool(xp.all(done)):
            break
        # The trial point z + a g - b (z - c_x) (see rbo.backends.Kernels.trial); finished
        # rows take a zero step, so they are evaluated where they already are.
        if gauss_newton:
            b = xp.where(done, zero, alpha / shift)
            a = b * (gv / (shift + gg) - e)
        else:
            b = xp.where(done, zero, step + zero)
            a = -b * e
        zt = k.trial(z, g, cx, a, b)
        ft, gt = fun(zt)
        iters += 1
        et = ft - cy
        dt = k.residual(zt, gt, et, cx, prev=Previous(z, g) if gauss_newton else None)
        Dt = 0.5 * (dt.dd + et * et)
        vvt = dt.vv
        finite = xp.isfinite(Dt) & xp.isfinite(vvt)
        if gauss_newton:
            slope = (gv * gv / (shift + gg) - vv) / shift  # v . delta, negative
            # Armijo on D; near the solution D's change drowns in round-off, so a step
            # that keeps D within round-off and shrinks |grad D| is taken too.
            ok = (Dt <= D + _ARMIJO * alpha * slope) | (
                (Dt <= D * (1.0 + 4.0 * eps(x, xp=xp))) & (vvt < vv)
            )
            ok = ok & finite
        else:
            ok = finite
        ok = ok & ~done
        bad = ~finite & ~done
        which = xp.where(bad & (which == 0), culprit(ft), which)
        nonfinite = nonfinite | bad
        moved = moved | ok

        if gauss_newton:
            # s . (v_t - v) from the pass's products: s . s + e_t g_t . s - e g . s
            sy = dt.ss + et * dt.gs - e * dt.gps
            shift = xp.where(ok, _secant_shift(dt.ss, dt.gs, sy, xp), shift)
        z = select(ok, zt, z, xp=xp, host=host)
        f = select(ok, ft, f, xp=xp, host=host)
        g = select(ok, gt, g, xp=xp, host=host)
        del zt, gt  # a rejected trial's arrays go now, not when the next one is made
        e = xp.where(ok, et, e)
        D = xp.where(ok, Dt, D)
        vv = xp.where(ok, vvt, vv)
        gg = xp.where(ok, dt.gg, gg)
        gv = xp.where(ok, dt.gv, gv)
        r = xp.sqrt(vv)

        if gauss_newton:
            alpha = xp.where(
                ok,
                xp.minimum(2.0 * alpha, 1.0),
                xp.where(done, alpha, _shrink(alpha, slope, D, Dt, xp)),
            )
            stalled = (alpha < _MIN_ALPHA) & ~done
            status = xp.where(stalled, code(ProjStatus.STALLED), status)
            done = done | stalled
        else:
            blew_up = (~finite | (vvt > 1e12 * r0 * r0)) & ~done
            status = xp.where(blew_up, code(ProjStatus.DIVERGED), status)
            done = done | blew_up
        converged = (r <= tol) & ~done
        status = xp.where(converged, code(ProjStatus.CONVERGED), status)
        done = done | converged

    unfinished = status != int(ProjStatus.CONVERGED)
    if gauss_newton:
        failed = nonfinite & ~moved & unfinished
        status = xp.where(failed, code(ProjStatus.NONFINITE), status)
    else:
        # Fixed-step descent that ends with a larger residual than it started with has
        # moved away from the foot point: divergence, whatever the iteration count.
        grew = (r > r0) & unfinished
        status = xp.where(grew, code(ProjStatus.DIVERGED), status)
    return Projection(z, f, g, r, iters, status, alpha, gg, which)


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
