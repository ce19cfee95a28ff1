"""Limited-memory BFGS, optionally projected onto a box, as a solver of the protocol.

Every row of a batch keeps its own curvature pairs, line search and failure: the history
is held as arrays ``S``, ``Y`` of shape ``(..., m, n)``, oldest pair first, and a pair
with ``rho = 0`` takes no part in the two-loop recursion, so rows that skipped or reset
their memory need no bookkeeping of their own.

With bounds, a coordinate on its face whose gradient points out of the box is held
there: the direction is the two-loop recursion on the free coordinates only, the step
follows the projection arc ``clip(x + a d)`` with Armijo backtracking, and the gradient
the stopping test sees (``gg``) is the projected one.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, codes, col, dot, eps, max_float, min_float, namespace, select
from ._linesearch import backtracking, backtracking_scalar, strong_wolfe, wolfe_scalar
from ._solver import SolverBase, ValueAndGrad
from ._status import Status
from .backends._base import to_numpy
from .backends._numpy import vector_from_floats

__all__ = ["LBFGS", "LBFGSState"]

_NO_FAILURE = -1  # failure code of a row that has not failed
# A row where no line search (nor a steepest-descent step) lowered f. Reported as
# NONFINITE until Status has a member of its own for it.
_LINE_SEARCH_FAILED = int(Status.LINE_SEARCH_FAILED)


class LBFGSState(NamedTuple):
    """State of L-BFGS.

    Attributes
    ----------
    x, f, g : array
        Current point, ``f(x)`` and ``grad f(x)``.
    nit : int
        Steps made.
    step_norm : array
        Distance moved in the last step.
    failure : array
        Per row, the :class:`~rbo.Status` code of a failure, or -1.
    s, y : array, shape (..., m, n)
        Curvature pairs, oldest first.
    rho : array, shape (..., m)
        ``1 / s.y`` of each pair, 0 for a slot that holds none (a tuple of floats when
        ``scalar``).
    gamma : array
        Initial inverse-Hessian scaling ``s.y / y.y`` of the newest pair (a float when
        ``scalar``).
    count : array
        Pairs held per row (an int when ``scalar``).
    filled : int
        Slots (from the newest) any row may hold a pair in.
    gg : array
        Squared norm of the (projected) gradient, what ``gtol`` is tested against.
    lower, upper : array or None
        The box.
    evals : int
        Evaluations of the objective the last step made.
    scalar : bool
        A single float64 row on the host: its scalars are Python numbers, and a step is
        the same IEEE double arithmetic without arrays for them.
    codes : tuple
        With ``scalar``, the failure codes a step reports (none, a failed search, as
        arrays), the dtype's smallest normal number and whether NumPy itself converts
        the recursion's lists (``x`` is NumPy's), found once.
    held : tuple of arrays, optional
        With ``scalar`` and bounds, ``(g, held)``: the coordinates the box holds at
        ``x`` for this very ``g`` (the next step starts from them).
    """

    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Array
    s: Array
    y: Array
    rho: Array
    gamma: Array
    count: Array
    filled: int
    gg: Array
    lower: Array | None
    upper: Array | None
    evals: int
    scalar: bool = False
    codes: tuple[Array, Array, float, bool] | None = None
    held: tuple[Array, Array] | None = None


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")


def _check_fraction(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1); got {value!r}")
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")


@dataclasses.dataclass(frozen=True)
class LBFGS(SolverBase):
    """Limited-memory BFGS with a strong-Wolfe line search, optionally within a box.

    Parameters
    ----------
    m : int
        Curvature pairs kept.
    c1, c2 : float
        Sufficient-decrease and curvature constants of the Wolfe conditions,
        ``0 < c1 < c2 < 1``.
    maxls : int
        Trials per line search.
    check_every : int
        On GPU arrays, how often loops read their flags back to the host.
    lower, upper : float or array, optional
        Bounds (broadcast against ``x``); ``x0`` is clipped into the box and every
        evaluation lies in it.

    Examples
    --------
    >>> import numpy as np
    >>> fg = lambda x: ((x - 3) @ (x - 3), 2 * (x - 3))
    >>> solver = LBFGS(upper=1.0)
    >>> state = solver.init(fg, np.zeros(2))
    >>> for _ in range(3):
    ...     state = solver.step(fg, state)
    >>> state.x.tolist(), float(state.gg)
    ([1.0, 1.0], 0.0)
    """

    m: int = 10
    c1: float = 1e-4
    c2: float = 0.9
    maxls: int = 20
    check_every: int = 4  # type: ignore[misc]
    masks_rows: ClassVar[bool] = True
    lower: Any = None
    upper: Any = None

    def __post_init__(self) -> None:
        _check_int("m", self.m, 1)
        _check_int("maxls", self.maxls, 1)
        _check_int("check_every", self.check_every, 1)
        _check_fraction("c1", self.c1)
        _check_fraction("c2", self.c2)
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be < c2; got c1={self.c1!r}, c2={self.c2!r}")
        for name in ("lower", "upper"):
            value = getattr(self, name)
            if isinstance(value, bool) or isinstance(value, str | bytes):
                raise TypeError(f"{name} must be None, a number or an array; got {value!r}")
            if isinstance(value, numbers.Real) and math.isnan(float(value)):
                raise ValueError(f"{name} must not be NaN")

    def _box(self, x0: Array) -> tuple[Array | None, Array | None]:
        if self.lower is None and self.upper is None:
            return None, None
        xp = array_namespace(x0)
        n = x0.shape[-1]

        def bound(value: Any, default: float, name: str) -> Array:
            if value is None:
                value = default
            try:
                b = xp.asarray(to_numpy(value), dtype=x0.dtype, device=device_of(x0))
            except Exception as exc:
                raise TypeError(
                    f"{name} must be None, a number or an array; got {value!r}"
                ) from exc
            if b.ndim > 1 or (b.ndim == 1 and b.shape[0] not in (1, n)):
                raise ValueError(
                    f"{name} must be a number or have shape ({n},); got shape {tuple(b.shape)}"
                )
            if bool(xp.any(xp.isnan(b))):
                raise ValueError(f"{name} must not contain NaN")
            return xp.broadcast_to(xp.reshape(b, (-1,)), (n,)) if b.ndim else b

        lo = bound(self.lower, -math.inf, "lower")
        hi = bound(self.upper, math.inf, "upper")
        if bool(xp.any(lo > hi)):
            raise ValueError("lower must be <= upper in every coordinate")
        return lo, hi

    def init(self, fun: ValueAndGrad, x0: Array, /) -> LBFGSState:
        xp = array_namespace(x0)
        lower, upper = self._box(x0)
        if lower is not None:
            x0 = xp.minimum(xp.maximum(x0, lower), upper)
        f, g = fun(x0)
        rows = tuple(x0.shape[:-1])
        dev = device_of(x0)
        backend = backends.of(x0)
        if f.ndim == 0 and x0.dtype == xp.float64 and backend.eager(x0):
            pg, held = g, None
            if lower is not None:
                held = _held(x0, g, lower, upper)
                pg = xp.where(held, xp.zeros_like(g), g)  # _projected's
            return LBFGSState(
                x=x0,
                f=f,
                g=g,
                nit=0,
                step_norm=xp.zeros_like(f),
                failure=codes(_NO_FAILURE, f),
                s=xp.zeros((self.m, x0.shape[-1]), dtype=x0.dtype, device=dev),
                y=xp.zeros((self.m, x0.shape[-1]), dtype=x0.dtype, device=dev),
                rho=(0.0,) * self.m,
                gamma=1.0,
                count=0,
                filled=0,
                gg=dot(pg, pg, xp=xp),
                lower=lower,
                upper=upper,
                evals=1,
                scalar=True,
                codes=(
                    codes(_NO_FAILURE, f),
                    codes(_LINE_SEARCH_FAILED, f),
                    float(xp.finfo(x0.dtype).smallest_normal),
                    isinstance(backend, backends.NumPyBackend),
                ),
                held=None if held is None else (g, held),
            )
        pg = g if lower is None else _projected(x0, g, lower, upper, xp)
        return LBFGSState(
            x=x0,
            f=f,
            g=g,
            nit=0,
            step_norm=xp.zeros_like(f),
            failure=xp.full(f.shape, _NO_FAILURE, dtype=xp.int32, device=dev),
            s=xp.zeros((*rows, self.m, x0.shape[-1]), dtype=x0.dtype, device=dev),
            y=xp.zeros((*rows, self.m, x0.shape[-1]), dtype=x0.dtype, device=dev),
            rho=xp.zeros((*rows, self.m), dtype=x0.dtype, device=dev),
            gamma=xp.ones_like(f),
            count=xp.zeros(f.shape, dtype=xp.int32, device=dev),
            filled=0,
            gg=dot(pg, pg, xp=xp),
            lower=lower,
            upper=upper,
            evals=1,
        )

    def _direction(
        self, q: Array, state: LBFGSState, free: Array | None, xp: Any, host: bool
    ) -> Array:
        """``-H q``: the two-loop recursion over the pairs held (on free coordinates).

        The recursion's inner products all come from ``S q``, ``S Y^T`` and ``Y q'``
        (three matrix products), so that only the m-by-m scalar recurrences are looped
        over -- on Python floats for a single row on the host.
        """
        k = state.filled
        gamma = state.gamma
        if k == 0:
            return -(col(gamma, xp=xp) * q)
        lo = self.m - k
        s, y, rho = state.s[..., lo:, :], state.y[..., lo:, :], state.rho[..., lo:]
        if free is not None:
            held_out = xp.expand_dims(free, axis=-2)
            s, y = s * held_out, y * held_out
            sy = dot(s, y, xp=xp)
            keep = (rho != 0) & (sy > eps(sy, xp=xp) * dot(y, y, xp=xp))
            one = xp.ones_like(sy)
            rho = xp.where(keep, one / xp.where(keep, sy, one), xp.zeros_like(sy))
        sy_ij = xp.matmul(s, xp.matrix_transpose(y))  # s_i . y_j
        sq = xp.matmul(s, xp.expand_dims(q, axis=-1))[..., 0]
        host = host and q.ndim == 1
        if host:
            to_host = to_numpy
            sy_h, sq_h, rho_h = (to_host(a).tolist() for a in (sy_ij, sq, rho))
            gamma_h = float(gamma)
            al = [0.0] * k
            for j in reversed(range(k)):
                acc = sq_h[j]
                for i in range(j + 1, k):
                    acc = acc - al[i] * sy_h[j][i]
                al[j] = rho_h[j] * acc
            alpha = xp.asarray(al, dtype=q.dtype, device=device_of(q))
        else:
            alist: list[Array] = [None] * k
            for j in reversed(range(k)):
                acc = sq[..., j]
                for i in range(j + 1, k):
                    acc = acc - alist[i] * sy_ij[..., j, i]
                alist[j] = rho[..., j] * acc
            alpha = xp.stack(alist, axis=-1)
        q = q - xp.matmul(xp.expand_dims(alpha, axis=-2), y)[..., 0, :]
        yq = xp.matmul(y, xp.expand_dims(q, axis=-1))[..., 0]
        if host:
            yq_h = to_host(yq).tolist()
            diff = [0.0] * k
            for j in range(k):
                acc = gamma_h * yq_h[j]
                for i in range(j):
                    acc = acc + diff[i] * sy_h[i][j]
                diff[j] = al[j] - rho_h[j] * acc
            coef = xp.asarray(diff, dtype=q.dtype, device=device_of(q))
        else:
            dlist: list[Array] = [None] * k
            for j in range(k):
                acc = gamma * yq[..., j]
                for i in range(j):
                    acc = acc + dlist[i] * sy_ij[..., i, j]
                dlist[j] = alist[j] - rho[..., j] * acc
            coef = xp.stack(dlist, axis=-1)
        r = col(gamma, xp=xp) * q + xp.matmul(xp.expand_dims(coef, axis=-2), s)[..., 0, :]
        return -r

    def step(
        self, fun: ValueAndGrad, state: LBFGSState, /, *, active: Array | None = None
    ) -> LBFGSState:
        """One iteration of every row in ``active`` (default all); the others stay put."""
        if state.scalar:
            if active is None or bool(active):
                return self._step_scalar(fun, state)
            state = _as_arrays(state)
        x, f, g = state.x, state.f, state.g
        xp = namespace(x)
        lower, upper = state.lower, state.upper
        bounded = lower is not None
        host = backends.of(x).eager(x)
        one = xp.ones_like(f)
        todo = xp.ones(f.shape, dtype=xp.bool, device=device_of(f))
        if active is not None:
            todo = todo & active
        free = None
        pg = g
        if bounded:
            free = xp.astype(~_held(x, g, lower, upper), x.dtype)
            pg = g * free
        d = self._direction(pg, state, free, xp, host)
        if free is not None:
            d = d * free
        slope = dot(g, d, xp=xp)
        # A direction that does not descend (or is not finite) resets the row's memory.
        reset = todo & ~(slope < 0)
        rho, count, gamma = state.rho, state.count, state.gamma
        if bool(xp.any(reset)):
            d = select(reset, -pg, d, xp=xp, host=False)
            slope = dot(g, d, xp=xp)
            rho = xp.where(col(reset, xp=xp), xp.zeros_like(rho), rho)
            count = xp.where(reset, xp.zeros_like(count), count)
            gamma = xp.where(reset, one, gamma)
        todo = todo & (slope < 0)
        if f.ndim:
            d = xp.where(col(todo, xp=xp), d, xp.zeros_like(d))
        # The first step of a fresh memory moves at most a unit distance.
        dn = xp.sqrt(dot(d, d, xp=xp))
        tiny = float(xp.finfo(x.dtype).smallest_normal)
        first = xp.minimum(one, 1.0 / xp.maximum(dn, xp.full_like(dn, tiny)))
        alpha = xp.where(count == 0, first, one)
        c1, maxls = float(self.c1), self.maxls
        if bounded:
            found = backtracking(
                fun, x, f, g, d, alpha, todo, c1=c1, maxls=maxls, lower=lower, upper=upper
            )
        else:
            found, _ = strong_wolfe(
                fun, x, f, g, d, slope, alpha, todo, c1=c1, c2=float(self.c2), maxls=maxls
            )
        evals = found.evals
        moved = found.moved
        x_new, f_new, g_new = found.x, found.f, found.g
        retry = todo & ~moved
        if not bounded and bool(xp.any(retry)):
            # The Wolfe search failed: plain Armijo backtracking along the same direction.
            back = backtracking(fun, x, f, g, d, alpha, retry, c1=c1, maxls=maxls)
            x_new, f_new, g_new, moved = _merge(back, x_new, f_new, g_new, moved, xp)
            evals += back.evals
            retry = retry & ~back.moved
        if bool(xp.any(retry)):
            # Then steepest descent from a fresh memory.
            rho = xp.where(col(retry, xp=xp), xp.zeros_like(rho), rho)
            count = xp.where(retry, xp.zeros_like(count), count)
            gamma = xp.where(retry, one, gamma)
            pn = xp.sqrt(dot(pg, pg, xp=xp))
            a0 = xp.minimum(one, 1.0 / xp.maximum(pn, xp.full_like(pn, tiny)))
            back = backtracking(
                fun, x, f, g, -pg, a0, retry, c1=c1, maxls=maxls, lower=lower, upper=upper
            )
            x_new, f_new, g_new, moved = _merge(back, x_new, f_new, g_new, moved, xp)
            evals += back.evals
            retry = retry & ~back.moved
        failed = retry

        s = x_new - x
        y = g_new - g
        sy = dot(s, y, xp=xp)
        yy = dot(y, y, xp=xp)
        accept = moved & (sy > eps(x, xp=xp) * yy)
        s_all, y_all, filled = state.s, state.y, state.filled
        if f.ndim == 0 and host:
            take = bool(accept)
        else:
            take = True
        if take:
            safe = xp.where(accept, sy, one)
            s_new = xp.concat([s_all[..., 1:, :], xp.expand_dims(s, axis=-2)], axis=-2)
            y_new = xp.concat([y_all[..., 1:, :], xp.expand_dims(y, axis=-2)], axis=-2)
            rho_new = xp.concat([rho[..., 1:], xp.expand_dims(1.0 / safe, axis=-1)], axis=-1)
            if f.ndim == 0:
                s_all, y_all, rho = s_new, y_new, rho_new
            else:
                keep = xp.expand_dims(col(accept, xp=xp), axis=-1)
                s_all = xp.where(keep, s_new, s_all)
                y_all = xp.where(keep, y_new, y_all)
                rho = xp.where(col(accept, xp=xp), rho_new, rho)
            filled = min(self.m, filled + 1)
            gamma = xp.where(accept, sy / xp.where(accept, yy, one), gamma)
            count = xp.where(accept, xp.minimum(count + 1, xp.full_like(count, self.m)), count)
        pg_new, held_new = g_new, None
        if bounded:
            held_new = _held(x_new, g_new, lower, upper)
            pg_new = xp.where(held_new, xp.zeros_like(g_new), g_new)  # _projected's
        return LBFGSState(
            x=x_new,
            f=f_new,
            g=g_new,
            nit=state.nit + 1,
            step_norm=xp.sqrt(dot(s, s, xp=xp)),
            failure=xp.where(
                failed,
                xp.full_like(state.failure, _LINE_SEARCH_FAILED),
                xp.full_like(state.failure, _NO_FAILURE),
            ),
            s=s_all,
            y=y_all,
            rho=rho,
            gamma=gamma,
            count=count,
            filled=filled,
            gg=dot(pg_new, pg_new, xp=xp),
            lower=lower,
            upper=upper,
            evals=evals,
        )

    def _direction_scalar(self, q: Array, state: LBFGSState, free: Array | None, xp: Any) -> Array:
        """:meth:`_direction` of a ``scalar`` state: the same products and recurrences."""
        k = state.filled
        gamma = state.gamma
        if k == 0:
            return -(gamma * q)
        lo = self.m - k
        s, y, rho = state.s, state.y, state.rho
        if lo:
            s, y, rho = s[lo:, :], y[lo:, :], rho[lo:]
        if free is not None:
            held_out = free[None, :]
            s, y = s * held_out, y * held_out
            sy_l = to_numpy(dot(s, y, xp=xp)).tolist()
            yy_l = to_numpy(dot(y, y, xp=xp)).tolist()
            e = eps(q, xp=xp)
            rho = tuple(
                1.0 / a if (r != 0 and a > e * b) else 0.0
                for r, a, b in zip(rho, sy_l, yy_l, strict=True)
            )
        # The products of _direction as 2-D and 1-D operators: the same sums, without the
        # wrappers of matrix_transpose and expand_dims.
        sy_ij = s @ y.T
        sy = to_numpy(sy_ij).tolist()  # sy[i][j] = s_i . y_j
        ys = to_numpy(sy_ij.T).tolist()  # ys[j][i] = s_i . y_j
        sq = to_numpy(s @ q).tolist()
        # Indexed loops over local rows: the cheapest form of these recurrences in Python.
        al = [0.0] * k
        for j in range(k - 1, -1, -1):
            acc = sq[j]
            row = sy[j]
            for i in range(j + 1, k):
                acc -= al[i] * row[i]
            al[j] = rho[j] * acc
        assert state.codes is not None
        by_numpy = state.codes[3]
        q = q - _vector(al, q, by_numpy, xp) @ y
        yq = to_numpy(y @ q).tolist()
        diff = [0.0] * k
        for j in range(k):
            acc = gamma * yq[j]
            col = ys[j]
            for i in range(j):
                acc += diff[i] * col[i]
            diff[j] = al[j] - rho[j] * acc
        r = gamma * q + _vector(diff, q, by_numpy, xp) @ s
        return -r

    def _step_scalar(self, fun: ValueAndGrad, state: LBFGSState) -> LBFGSState:
        """:meth:`step` of a ``scalar`` state: every per-row scalar a Python number."""
        assert state.codes is not None
        no_failure, failed, tiny, _ = state.codes
        x, f, g = state.x, state.f, state.g
        xp = namespace(x)
        lower, upper = state.lower, state.upper
        bounded = lower is not None
        free = None
        pg = g
        if bounded:
            known = state.held
            held = known[1] if known is not None and known[0] is g else _held(x, g, lower, upper)
            free = xp.astype(~held, x.dtype)
            pg = g * free
        d = self._direction_scalar(pg, state, free, xp)
        if free is not None:
            d = d * free
        slope_f = float(g @ d)
        rho, count, gamma = state.rho, state.count, state.gamma
        if not slope_f < 0:
            # A direction that does not descend (or is not finite) resets the memory.
            d = -pg
            slope_f = float(g @ d)
            rho, count, gamma = (0.0,) * self.m, 0, 1.0
        todo = slope_f < 0
        alpha = 1.0
        if count == 0:  # the first step of a fresh memory moves at most a unit distance
            dn = math.sqrt(float(d @ d))
            alpha = min_float(1.0, 1.0 / max_float(dn, tiny))
        c1, maxls = float(self.c1), self.maxls
        if bounded:
            x_new, f_new, g_new, moved, evals = backtracking_scalar(
                fun, x, f, g, d, alpha, todo, c1=c1, maxls=maxls, lower=lower, upper=upper,
                xp=xp,
            )  # fmt: skip
        else:
            x_new, f_new, g_new, moved, evals, _ = wolfe_scalar(
                fun, x, f, g, d, slope_f, alpha, todo, c1, float(self.c2), maxls, xp
            )
        retry = todo and not moved
        if not bounded and retry:
            # The Wolfe search failed: plain Armijo backtracking along the same direction.
            xb, fb, gb, ok, n = backtracking_scalar(
                fun, x, f, g, d, alpha, True, c1=c1, maxls=maxls, xp=xp
            )
            if ok:
                x_new, f_new, g_new, moved = xb, fb, gb, True
            evals += n
            retry = not ok
        if retry:
            # Then steepest descent from a fresh memory.
            rho, count, gamma = (0.0,) * self.m, 0, 1.0
            pn = math.sqrt(float(pg @ pg))
            a0 = min_float(1.0, 1.0 / max_float(pn, tiny))
            xb, fb, gb, ok, n = backtracking_scalar(
                fun, x, f, g, -pg, a0, True, c1=c1, maxls=maxls, lower=lower, upper=upper,
                xp=xp,
            )  # fmt: skip
            if ok:
                x_new, f_new, g_new, moved = xb, fb, gb, True
            evals += n
            retry = not ok

        s = x_new - x
        y = g_new - g
        sy = float(s @ y)
        yy = float(y @ y)
        s_all, y_all, filled = state.s, state.y, state.filled
        if moved and sy > eps(x, xp=xp) * yy:
            s_all = xp.concat([s_all[1:, :], s[None, :]], axis=0)
            y_all = xp.concat([y_all[1:, :], y[None, :]], axis=0)
            rho = (*rho[1:], 1.0 / sy)
            filled = min(self.m, filled + 1)
            gamma = sy / yy
            count = min(count + 1, self.m)
        pg_new, held_new = g_new, None
        if bounded:
            held_new = _held(x_new, g_new, lower, upper)
            pg_new = xp.where(held_new, xp.zeros_like(g_new), g_new)  # _projected's
        return LBFGSState(
            x=x_new,
            f=f_new,
            g=g_new,
            nit=state.nit + 1,
            step_norm=xp.sqrt(s @ s),
            failure=failed if retry else no_failure,
            s=s_all,
            y=y_all,
            rho=rho,
            gamma=gamma,
            count=count,
            filled=filled,
            gg=pg_new @ pg_new,
            lower=lower,
            upper=upper,
            evals=evals,
            scalar=True,
            codes=state.codes,
            held=None if held_new is None else (g_new, held_new),
        )

    def postprocess(self, state: LBFGSState, /, *, intermediate: bool = False) -> dict[str, Any]:
        """``curvature``: per row, the largest ``y.y / s.y`` of the pairs held, an estimate
        of the largest curvature of ``f`` near the point (0 when no pair is held)."""
        if state.scalar:
            state = _as_arrays(state)
        xp = namespace(state.x)
        with backends.of(state.x).quiet():
            ratio = xp.sum(state.y * state.y, axis=-1) * state.rho
            curvature = xp.max(xp.where(xp.isfinite(ratio), ratio, xp.zeros_like(ratio)), axis=-1)
        return {"curvature": curvature}

    def norms(self, state: LBFGSState, /) -> tuple[Array, None]:
        """``|projected g|^2`` (what ``gtol`` tests); ``|x|^2`` is not kept (None: the
        ``xtol`` test forms it, and only when it is on)."""
        return state.gg, None


def _held(x: Array, g: Array, lower: Array, upper: Array) -> Array:
    """Coordinates on a face of the box whose gradient points out of it."""
    return ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))


def _projected(x: Array, g: Array, lower: Array, upper: Array, xp: Any) -> Array:
    """The gradient with the held coordinates zeroed."""
    return xp.where(_held(x, g, lower, upper), xp.zeros_like(g), g)


def _merge(
    back: Any, x: Array, f: Array, g: Array, moved: Array, xp: Any
) -> tuple[Array, Array, Array, Array]:
    """The fallback's point on the rows where it moved, the earlier one elsewhere."""
    ok = back.moved
    return (
        select(ok, back.x, x, xp=xp, host=False),
        xp.where(ok, back.f, f),
        select(ok, back.g, g, xp=xp, host=False),
        moved | ok,
    )


def _as_arrays(state: LBFGSState) -> LBFGSState:
    """A ``scalar`` state with its Python numbers as the arrays of the general step."""
    xp = namespace(state.x)
    f = state.f
    return state._replace(
        rho=xp.asarray(list(state.rho), dtype=state.x.dtype, device=device_of(state.x)),
        gamma=xp.asarray(state.gamma, dtype=f.dtype, device=device_of(f)),
        count=codes(state.count, f),
        scalar=False,
        codes=None,
        held=None,
    )


def _vector(values: list[float], like: Array, by_numpy: bool, xp: Any) -> Array:
    """A list of floats as a 1-D array of ``like``'s namespace, dtype and device. NumPy's
    own conversion, where ``like`` is NumPy's, costs a third of the Array API wrapper's (a
    single run converts two lists a step)."""
    if by_numpy:
        return vector_from_floats(values, like.dtype)
    return xp.asarray(values, dtype=like.dtype, device=device_of(like))
