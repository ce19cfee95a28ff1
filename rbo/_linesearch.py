"""Line searches on batches of rows: a strong-Wolfe search and a (projected) backtracking.

Both work on points of shape ``(..., n)`` with per-row scalars of shape ``(...)``: every
row has its own step, bracket and outcome, and one trial is one call of ``fun`` on the
whole batch (rows that are not searching are evaluated where they stand). Whether any
row still searches is read back to the host once per trial; on a device that is one
synchronisation per trial (a device-resident variant would run a fixed number of trials).

The strong-Wolfe search follows Nocedal & Wright (Algorithms 3.5 and 3.6): the step grows
until it brackets an acceptable one, then the bracket is shrunk by safeguarded cubic
interpolation (bisection when the cubic is not trustworthy). A trial where ``f`` or the
gradient is not finite counts as a step too long.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, col, dot, eps, max_float, min_float, select
from ._solver import ValueAndGrad

__all__ = ["Search", "backtracking", "backtracking_scalar", "strong_wolfe", "wolfe_scalar"]

_BRACKET, _ZOOM, _DONE = 0, 1, 2


class Search(NamedTuple):
    """Outcome of a line search, per row.

    ``moved`` tells the rows that found an acceptable point; ``x``, ``f``, ``g`` are that
    point (the start where ``moved`` is false); ``evals`` counts the calls of ``fun``.
    """

    x: Array
    f: Array
    g: Array
    moved: Array
    evals: int


def _held_out(x: Array, g: Array, lower: Array, upper: Array, xp: Any) -> Array:
    """``g`` without the coordinates on a face whose gradient points out of the box."""
    held = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
    return xp.where(held, xp.zeros_like(g), g)


def _finite(f: Array, g: Array, xp: Any) -> Array:
    return xp.isfinite(f) & xp.all(xp.isfinite(g), axis=-1)


def _cubic(
    a_lo: Array,
    f_lo: Array,
    d_lo: Array,
    a_hi: Array,
    f_hi: Array,
    d_hi: Array,
    bad: Array,
    xp: Any,
) -> Array:
    """The minimiser of the cubic through both ends of the bracket, kept at least a tenth
    of the bracket away from its ends; the midpoint where that fails (N&W eq. 3.59)."""
    h = a_hi - a_lo
    nonzero = h != 0
    one = xp.ones_like(h)
    safe_h = xp.where(nonzero, h, one)
    d1 = d_lo + d_hi - 3.0 * (f_hi - f_lo) / safe_h
    disc = d1 * d1 - d_lo * d_hi
    d2 = xp.sqrt(xp.where(disc > 0, disc, xp.zeros_like(disc)))
    d2 = xp.where(h < 0, -d2, d2)
    den = d_hi - d_lo + 2.0 * d2
    safe_den = xp.where(den != 0, den, one)
    a_c = a_hi - h * (d_hi + d2 - d1) / safe_den
    lo = xp.minimum(a_lo, a_hi)
    width = xp.abs(h)
    inside = (a_c >= lo + 0.1 * width) & (a_c <= lo + 0.9 * width)
    ok = ~bad & nonzero & (disc >= 0) & (den != 0) & xp.isfinite(a_c) & inside
    return xp.where(ok, a_c, a_lo + 0.5 * h)


def strong_wolfe(
    fun: ValueAndGrad,
    x: Array,
    f0: Array,
    g0: Array,
    d: Array,
    slope: Array,
    alpha: Array,
    todo: Array,
    *,
    c1: float,
    c2: float,
    maxls: int,
) -> tuple[Search, Array]:
    """Search ``x + a d`` for a step meeting the strong Wolfe conditions, per row.

    ``slope`` is ``g0 . d`` (negative on the rows in ``todo``), ``alpha`` the first trial.
    A row that runs out of trials takes its lowest point meeting the sufficient-decrease
    condition, if it met one. Returns the search and the step taken per row (0 where
    none).

    Examples
    --------
    >>> import numpy as np
    >>> fg = lambda x: (x @ x, 2 * x)
    >>> x = np.array([1.0]); f, g = fg(x); d = -g
    >>> s, a = strong_wolfe(fg, x, f, g, d, g @ d, np.asarray(1.0), np.asarray(True),
    ...                     c1=1e-4, c2=0.9, maxls=20)
    >>> bool(s.moved), float(s.f) < 1e-12
    (True, True)
    """
    xp = array_namespace(x)
    if f0.ndim == 0 and backends.of(x).eager(x):
        return _strong_wolfe_host(fun, x, f0, g0, d, slope, alpha, todo, c1, c2, maxls, xp)
    zero = xp.zeros_like(f0)
    stage = xp.where(
        todo,
        xp.full(f0.shape, _BRACKET, dtype=xp.int8, device=device_of(f0)),
        xp.full(f0.shape, _DONE, dtype=xp.int8, device=device_of(f0)),
    )
    a_cur = xp.where(todo, alpha, zero)
    a_prev, f_prev, d_prev = zero, f0, slope
    a_lo, f_lo, d_lo = zero, f0, slope
    a_hi, f_hi, d_hi = zero, f0, slope
    hi_bad = xp.zeros(f0.shape, dtype=xp.bool, device=device_of(f0))
    # The lowest point meeting sufficient decrease (or the Wolfe point once found).
    a_b, f_b, g_b = zero, f0, g0
    decrease = c1 * slope
    curvature = -c2 * slope
    tiny = 10.0 * eps(x, xp=xp)
    evals = 0
    for _ in range(maxls):
        bracketing = stage == _BRACKET
        zooming = stage == _ZOOM
        pending = bracketing | zooming
        if not bool(xp.any(pending)):
            break
        a_z = _cubic(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, hi_bad, xp)
        a = xp.where(bracketing, a_cur, xp.where(zooming, a_z, zero))
        ft, gt = fun(x + col(a, xp=xp) * d)
        evals += 1
        finite = _finite(ft, gt, xp)
        if not bool(xp.all(finite)):
            gt_safe = select(finite, gt, g0, xp=xp, host=False)
            ft_safe = xp.where(finite, ft, f0)
        else:
            gt_safe, ft_safe = gt, ft
        dt = dot(gt_safe, d, xp=xp)
        sufficient = finite & (ft_safe <= f0 + a * decrease)
        wolfe = sufficient & (xp.abs(dt) <= curvature)

        # Bracketing (N&W Alg. 3.5).
        too_far = bracketing & finite & (~sufficient | ((a_prev > 0) & (ft_safe >= f_prev)))
        b_done = bracketing & finite & ~too_far & wolfe
        b_rise = bracketing & finite & ~too_far & ~b_done & (dt >= 0)
        b_grow = bracketing & finite & ~too_far & ~b_done & ~b_rise
        b_nan = bracketing & ~finite
        # Zoom (N&W Alg. 3.6).
        z_hi = zooming & (~sufficient | (ft_safe >= f_lo))
        z_done = zooming & ~z_hi & wolfe
        z_lo = zooming & ~z_hi & ~z_done
        z_flip = z_lo & (dt * (a_hi - a_lo) >= 0)

        # New bracket ends: hi first (it may take the old lo), then lo.
        to_hi_prev = b_rise
        to_hi_a = too_far | z_hi
        to_hi_lo = z_flip
        new_a_hi = xp.where(
            to_hi_a, a, xp.where(to_hi_prev, a_prev, xp.where(to_hi_lo, a_lo, a_hi))
        )
        new_f_hi = xp.where(
            to_hi_a, ft_safe, xp.where(to_hi_prev, f_prev, xp.where(to_hi_lo, f_lo, f_hi))
        )
        new_d_hi = xp.where(
            to_hi_a, dt, xp.where(to_hi_prev, d_prev, xp.where(to_hi_lo, d_lo, d_hi))
        )
        hi_bad = xp.where(to_hi_a | to_hi_prev | to_hi_lo, z_hi & ~finite, hi_bad)
        to_lo_prev = too_far
        to_lo_a = b_rise | z_lo
        a_lo = xp.where(to_lo_a, a, xp.where(to_lo_prev, a_prev, a_lo))
        f_lo = xp.where(to_lo_a, ft_safe, xp.where(to_lo_prev, f_prev, f_lo))
        d_lo = xp.where(to_lo_a, dt, xp.where(to_lo_prev, d_prev, d_lo))
        a_hi, f_hi, d_hi = new_a_hi, new_f_hi, new_d_hi

        # Growing: the next trial doubles the step; after NaN it goes halfway back.
        a_prev = xp.where(b_grow, a, a_prev)
        f_prev = xp.where(b_grow, ft_safe, f_prev)
        d_prev = xp.where(b_grow, dt, d_prev)
        a_cur = xp.where(b_grow, 2.0 * a, xp.where(b_nan, a_prev + 0.5 * (a - a_prev), a_cur))

        done = b_done | z_done
        best = pending & (done | (sufficient & (ft_safe < f_b)))
        a_b = xp.where(best, a, a_b)
        f_b = xp.where(best, ft_safe, f_b)
        g_b = select(best, gt_safe, g_b, xp=xp, host=False)
        stage = xp.where(too_far | b_rise, xp.full_like(stage, _ZOOM), stage)
        # A bracket shrunk to rounding cannot be searched further.
        collapsed = (stage == _ZOOM) & (xp.abs(a_hi - a_lo) <= tiny * xp.maximum(a_hi, a_lo))
        stage = xp.where(done | collapsed, xp.full_like(stage, _DONE), stage)
    moved = a_b > 0
    x_b = x + col(a_b, xp=xp) * d
    return Search(x_b, f_b, g_b, moved, evals), a_b


def _cubic_host(
    a_lo: float, f_lo: float, d_lo: float, a_hi: float, f_hi: float, d_hi: float, bad: bool
) -> float:
    """:func:`_cubic` on floats, the same expressions in the same order."""
    h = a_hi - a_lo
    safe_h = h if h != 0 else 1.0
    d1 = d_lo + d_hi - 3.0 * (f_hi - f_lo) / safe_h
    disc = d1 * d1 - d_lo * d_hi
    d2 = math.sqrt(disc) if disc > 0 else 0.0
    if h < 0:
        d2 = -d2
    den = d_hi - d_lo + 2.0 * d2
    a_c = a_hi - h * (d_hi + d2 - d1) / (den if den != 0 else 1.0)
    lo = min(a_lo, a_hi)
    width = abs(h)
    inside = lo + 0.1 * width <= a_c <= lo + 0.9 * width
    if not bad and h != 0 and disc >= 0 and den != 0 and math.isfinite(a_c) and inside:
        return a_c
    return a_lo + 0.5 * h


def _strong_wolfe_host(
    fun: ValueAndGrad,
    x: Array,
    f0_: Array,
    g0: Array,
    d: Array,
    slope_: Array,
    alpha: Array,
    todo: Array,
    c1: float,
    c2: float,
    maxls: int,
    xp: Any,
) -> tuple[Search, Array]:
    """:func:`strong_wolfe` for one row on the host: the same search on Python floats
    (IEEE arithmetic, so it takes the very steps the batched search takes)."""
    x_b, f_b, g_b, moved, evals, a_b = wolfe_scalar(
        fun, x, f0_, g0, d, float(slope_), float(alpha), bool(todo), c1, c2, maxls, xp
    )
    return Search(x_b, f_b, g_b, xp.asarray(moved, device=device_of(x)), evals), xp.asarray(
        a_b, dtype=x.dtype
    )


def wolfe_scalar(
    fun: ValueAndGrad,
    x: Array,
    f0_: Array,
    g0: Array,
    d: Array,
    slope: float,
    alpha: float,
    todo: bool,
    c1: float,
    c2: float,
    maxls: int,
    xp: Any,
) -> tuple[Array, Array, Array, bool, int, float]:
    """The strong-Wolfe search of one row on the host, its scalars as Python floats:
    ``(x, f, g)`` of the step taken, whether it moved, the evaluations and the step.
    Inner products are ``a @ b``, the sum of the batch's ``vecdot`` row."""
    f0 = float(f0_)
    decrease = c1 * slope
    curvature = -c2 * slope
    tiny = 10.0 * eps(x, xp=xp)
    stage = _BRACKET if todo else _DONE
    a_cur = alpha
    a_prev, f_prev, d_prev = 0.0, f0, slope
    a_lo, f_lo, d_lo = 0.0, f0, slope
    a_hi, f_hi, d_hi = 0.0, f0, slope
    hi_bad = False
    a_b, f_b, g_b, fa_b, x_b = 0.0, f0, g0, f0_, None
    evals = 0
    isfinite = math.isfinite
    for _ in range(maxls):
        if stage == _DONE:
            break
        a = a_cur if stage == _BRACKET else _cubic_host(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, hi_bad)
        xt = x + a * d
        ft_, gt = fun(xt)
        evals += 1
        ft = float(ft_)
        dt = float(gt @ d)
        # A gradient with NaN or inf makes its product with d NaN or inf: only then need
        # its entries be looked at (a finite gradient may still overflow the product).
        finite = True
        if not (isfinite(ft) and isfinite(dt)):
            finite = isfinite(ft) and bool(xp.all(xp.isfinite(gt)))
            if not finite:
                ft, gt = f0, g0
                dt = float(gt @ d)
        sufficient = finite and ft <= f0 + a * decrease
        wolfe = sufficient and abs(dt) <= curvature
        done = False
        if stage == _BRACKET:
            if not finite:
                a_cur = a_prev + 0.5 * (a - a_prev)
            elif not sufficient or (a_prev > 0 and ft >= f_prev):
                a_lo, f_lo, d_lo = a_prev, f_prev, d_prev
                a_hi, f_hi, d_hi, hi_bad = a, ft, dt, False
                stage = _ZOOM
            elif wolfe:
                done = True
            elif dt >= 0:
                a_hi, f_hi, d_hi, hi_bad = a_prev, f_prev, d_prev, False
                a_lo, f_lo, d_lo = a, ft, dt
                stage = _ZOOM
            else:
                a_prev, f_prev, d_prev = a, ft, dt
                a_cur = 2.0 * a
        elif not sufficient or ft >= f_lo:
            a_hi, f_hi, d_hi, hi_bad = a, ft, dt, not finite
        elif wolfe:
            done = True
        else:
            if dt * (a_hi - a_lo) >= 0:
                a_hi, f_hi, d_hi, hi_bad = a_lo, f_lo, d_lo, False
            a_lo, f_lo, d_lo = a, ft, dt
        if done or (sufficient and ft < f_b):
            a_b, f_b, g_b, fa_b, x_b = a, ft, gt, ft_, xt
        if done or (stage == _ZOOM and abs(a_hi - a_lo) <= tiny * max(a_hi, a_lo)):
            stage = _DONE
    moved = a_b > 0
    # x + a_b d is the very point evaluated at a_b (the same float a_b, the same sum).
    if x_b is None or not moved:
        x_b = x + a_b * d
    return x_b, fa_b, g_b, moved, evals, a_b


def backtracking_scalar(
    fun: ValueAndGrad,
    x: Array,
    f0_: Array,
    g0: Array,
    d: Array,
    alpha: float,
    todo: bool,
    *,
    c1: float,
    maxls: int,
    lower: Array | None = None,
    upper: Array | None = None,
    xp: Any,
) -> tuple[Array, Array, Array, bool, int]:
    """:func:`backtracking` for one float64 row on the host, its scalars as Python
    floats (the same IEEE double arithmetic): ``(x, f, g)`` of the point taken, whether
    it moved, the evaluations. Inner products as in :func:`wolfe_scalar`."""
    bounded = lower is not None
    f0 = float(f0_)
    pending = todo
    a = alpha if todo else 0.0
    slope = float(g0 @ d)
    x_b, f_b, g_b = x, f0_, g0
    moved = False
    evals = 0
    if bounded:
        pg = _held_out(x, g0, lower, upper, xp)
        pg0 = 0.81 * float(pg @ pg)  # as backtracking: 10 % smaller at least
        level = f0 + 4.0 * float(xp.finfo(x.dtype).eps) * abs(f0)
    last: tuple[Array, Any, Array] | None = None
    for _ in range(maxls):
        if not pending:
            break
        xt = x + a * d
        if bounded:
            xt = xp.minimum(xp.maximum(xt, lower), upper)
        ft_, gt, last, paid = _projected_value(fun, xt, last, bounded, xp)
        evals += paid
        ft = float(ft_)
        finite = math.isfinite(ft) and bool(xp.all(xp.isfinite(gt)))
        ft_safe = ft if finite else f0
        decrease = float(g0 @ (xt - x)) if bounded else a * slope
        ok = finite and decrease < 0 and ft_safe <= f0 + c1 * decrease
        if bounded and not ok and finite and ft_safe <= level:
            # Level with f0 to rounding and a smaller projected gradient: see backtracking.
            pgt = _held_out(xt, gt, lower, upper, xp)
            ok = float(pgt @ pgt) < pg0
        if ok:
            x_b, f_b, g_b = xt, ft_, gt
            moved = True
            break
        # The minimiser of the quadratic through f0, the slope and f(a), in [a/10, a/2].
        excess = ft_safe - f0 - a * slope
        if finite and excess > 0:
            q = -slope * a * a / (2.0 * excess)
        else:
            q = 0.5 * a
        a = min_float(max_float(q, 0.1 * a), 0.5 * a)
    return x_b, f_b, g_b, moved, evals


def _projected_value(
    fun: ValueAndGrad, xt: Array, last: tuple[Array, Any, Array] | None, bounded: bool, xp: Any
) -> tuple[Any, Array, tuple[Array, Any, Array] | None, int]:
    """``(f, g)`` at the trial point ``xt``, the point kept for the next trial, and the
    evaluations paid (0 or 1). Past the path's last bend a shorter step projects to the
    point just evaluated: its value is known, and the step shrinks on without paying."""
    if last is not None and bool(xp.all(xt == last[0])):
        return last[1], last[2], last, 0
    ft, gt = fun(xt)
    return ft, gt, ((xt, ft, gt) if bounded else None), 1


def backtracking(
    fun: ValueAndGrad,
    x: Array,
    f0: Array,
    g0: Array,
    d: Array,
    alpha: Array,
    todo: Array,
    *,
    c1: float,
    maxls: int,
    lower: Array | None = None,
    upper: Array | None = None,
) -> Search:
    """Backtrack along ``x + a d`` (projected onto ``[lower, upper]`` when given) until
    ``f <= f0 + c1 g0 . (x(a) - x)``, per row, shrinking ``a`` by safeguarded quadratic
    interpolation (halving after NaN or inf).

    Every point evaluated lies in the box when ``x`` does.

    Examples
    --------
    >>> import numpy as np
    >>> fg = lambda x: (x @ x, 2 * x)
    >>> x = np.array([1.0]); f, g = fg(x)
    >>> s = backtracking(fg, x, f, g, -g, np.asarray(4.0), np.asarray(True), c1=1e-4, maxls=10)
    >>> bool(s.moved), float(s.f) < 1.0
    (True, True)
    """
    xp = array_namespace(x)
    zero = xp.zeros_like(f0)
    bounded = lower is not None
    pending = todo
    a = xp.where(todo, alpha, zero)
    slope = dot(g0, d, xp=xp)
    x_b, f_b, g_b = x, f0, g0
    moved = xp.zeros(f0.shape, dtype=xp.bool, device=device_of(f0))
    evals = 0
    if bounded:
        pg = _held_out(x, g0, lower, upper, xp)
        pg0 = 0.81 * dot(pg, pg, xp=xp)  # the projected gradient shrinks by 10 % at least
    last: tuple[Array, Any, Array] | None = None
    for _ in range(maxls):
        if not bool(xp.any(pending)):
            break
        xt = x + col(a, xp=xp) * d
        if bounded:
            xt = xp.minimum(xp.maximum(xt, lower), upper)
        # (Rows no longer pending keep their points.)
        ft, gt, last, paid = _projected_value(fun, xt, last, bounded, xp)
        evals += paid
        finite = _finite(ft, gt, xp)
        ft_safe = xp.where(finite, ft, f0)
        decrease = dot(g0, xt - x, xp=xp) if bounded else a * slope
        ok = pending & finite & (decrease < 0) & (ft_safe <= f0 + c1 * decrease)
        if bounded:
            # Near a minimum on a face the decrease falls below f's rounding and Armijo's
            # test fails at every step; a point level with f0 to rounding whose projected
            # gradient is smaller is progress all the same (as approximate Wolfe
            # conditions accept), and it lets the gradient test end the run.
            level = ft_safe <= f0 + 4.0 * eps(f0, xp=xp) * xp.abs(f0)
            pgt = _held_out(xt, select(finite, gt, g0, xp=xp, host=False), lower, upper, xp)
            smaller = dot(pgt, pgt, xp=xp) < pg0
            ok = ok | (pending & finite & level & smaller)
        x_b = select(ok, xt, x_b, xp=xp, host=False)
        f_b = xp.where(ok, ft_safe, f_b)
        g_b = select(ok, select(finite, gt, g0, xp=xp, host=False), g_b, xp=xp, host=False)
        moved = moved | ok
        pending = pending & ~ok
        # The minimiser of the quadratic through f0, the slope and f(a), in [a/10, a/2].
        excess = ft_safe - f0 - a * slope
        safe = xp.where(finite & (excess > 0), excess, xp.ones_like(excess))
        q = -slope * a * a / (2.0 * safe)
        q = xp.where(finite & (excess > 0), q, 0.5 * a)
        a = xp.where(pending, xp.minimum(xp.maximum(q, 0.1 * a), 0.5 * a), a)
    return Search(x_b, f_b, g_b, moved, evals)
