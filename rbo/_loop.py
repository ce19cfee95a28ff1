"""The loop of :func:`rbo.minimize`: ``init``, then ``step`` and the stopping tests until
one holds, for one run or a batch of independent runs, on the host or on a device.

A single run is a batch of one row, 0-d arrays in place of per-row ones. All bookkeeping
is per row on the rows' device (:class:`~rbo._termination.Rows`): a row stops when a test
holds for it, or its method reports a failure (``terminate``), and is frozen from then on
while the others go on. The only values read back to the host are whether any row still
runs -- every step on the host or with a callback, every ``check_every`` steps on a
device -- and the statuses once at the end. ``nit`` and ``nfev`` are host integers, so the
iteration and evaluation budgets cost no read. A single float64 run on the host keeps
that bookkeeping in Python numbers (:class:`~rbo._termination.ScalarRow`): the same
arithmetic, without an array operation per test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import OptimizeResult

from ._arrays import Array, codes, dot, eps, select
from ._bounds import projected_gradient
from ._objective import BudgetExhausted, Objective
from ._solver import Solver
from ._status import Status
from ._termination import Rows, ScalarRow, Tolerances, rows_for
from .backends import Backend

__all__ = ["attach", "run"]


def run(
    solver: Solver[Any],
    objective: Objective,
    x0: Array,
    tolerances: Tolerances,
    *,
    backend: Backend,
    batched: bool,
    maxiter: int,
    maxfev: int | None,
    callback: Callable[..., Any] | None,
    return_trajectory: bool,
) -> OptimizeResult:
    """Run ``solver`` from ``x0`` (each row of ``x0`` when ``batched``) until it stops.

    The whole run is inside the backend's ``quiet()``: every overflow and NaN in rbo's
    own arithmetic is handled where it arises, and ``fun``, ``jac`` (wrapped so by the
    :class:`~rbo._objective.Objective`) and ``callback`` run under the caller's error
    handling all the same.
    """
    notify = _wrap_callback(solver, callback, batched=batched, backend=backend)
    with backend.quiet():
        return _run(
            solver,
            objective,
            x0,
            tolerances,
            backend=backend,
            batched=batched,
            maxiter=maxiter,
            maxfev=maxfev,
            notify=notify,
            return_trajectory=return_trajectory,
        )


def _run(
    solver: Solver[Any],
    objective: Objective,
    x0: Array,
    tolerances: Tolerances,
    *,
    backend: Backend,
    batched: bool,
    maxiter: int,
    maxfev: int | None,
    notify: Callable[[Any, Objective], None] | None,
    return_trajectory: bool,
) -> OptimizeResult:
    """:func:`run`, inside the backend's ``quiet()``."""
    xp = array_namespace(x0)
    host = backend.eager(x0)
    # A callback reads the state every step anyway; then the loop reads its flags too, so
    # that no step is made (and reported) after the last row has stopped.
    every = 1 if host or notify is not None else int(getattr(solver, "check_every", 4))
    masks = bool(getattr(solver, "masks_rows", False))
    norms = getattr(solver, "norms", None)
    retrying = getattr(solver, "retrying", None)

    def check(state: Any) -> None:
        # |g|^2 may overflow (the run is quiet): the test then holds for no row
        rows.check(
            state,
            None if norms is None else norms(state),
            None if retrying is None else retrying(state),
        )

    objective.start(maxfev)
    try:
        state = solver.init(objective, x0)
    except BudgetExhausted as exc:
        raise ValueError(f"maxfev does not cover the first evaluation at x0: {exc}") from None
    except (Exception, KeyboardInterrupt) as exc:
        # fun raised while the start was evaluated (its finite differences, say): the
        # start is the best point there is, if its value is finite.
        attach(exc, _start_result(objective, x0, backend, batched=batched, exc=exc))
        raise
    _check_start(state.f, xp, batched=batched)
    rows = rows_for(state, tolerances, host=host)
    # A gradient that is NaN or inf at the start gives no method a direction, and a
    # shorter step cannot mend it: those rows end at once.
    blind = ~xp.all(xp.isfinite(state.g), axis=-1)
    rows.refuse(blind, Status.NONFINITE)
    # A single run on the host never steps once stopped: every step is of a running row.
    scalar = isinstance(rows, ScalarRow)
    check(state)
    path = [state] if return_trajectory else None
    # Stopped rows are put back after each step unless the method leaves them be; a
    # single run on the host never steps once stopped, so it needs no such pass.
    freeze = not masks and (batched or not host)
    ended: Status | None = None
    steps = 0
    while steps % every != 0 or rows.running():
        if state.nit >= maxiter:
            ended = Status.MAXITER
            break
        if maxfev is not None and objective.nfev >= maxfev:
            ended = Status.MAXFEV
            break
        active = None if scalar else rows.active
        # A stopped row's later points (a batch steps on as a whole) do not count as best.
        objective.active = active if freeze or masks else None
        objective.tag = rows.tag()
        try:
            if masks:
                new = solver.step(objective, state, active=active)  # type: ignore[call-arg]
            elif freeze:
                new = _frozen(state, solver.step(objective, state), active, xp)
            else:
                new = solver.step(objective, state)
            state = new
            steps += 1
            rows.update(state, solver.terminate(state))
            if path is not None:
                path.append(state)
            # A step that ended the last running row in a failure is not reported.
            if notify is not None and rows.running():
                try:
                    notify(state, objective)
                except StopIteration:
                    ended = Status.CALLBACK
                    break
        except BudgetExhausted:
            # The step that would overrun maxfev is dropped; its evaluations are kept.
            ended = Status.MAXFEV
            break
        except (Exception, KeyboardInterrupt) as exc:
            # fun ran on every row and the callback saw every row: the error is the
            # batch's, and it ends the call for every row, those that had stopped too.
            rows.stop(Status.ERROR, every_row=True)
            error = f"{Status.ERROR.message} ({type(exc).__name__}: {exc})"
            attach(
                exc,
                _result(
                    solver,
                    rows,
                    state,
                    objective,
                    path,
                    backend,
                    batched=batched,
                    error=error,
                    blind=blind,
                ),
            )
            raise
        check(state)
    if ended is not None:
        rows.stop(ended)
    return _result(solver, rows, state, objective, path, backend, batched=batched, blind=blind)


def attach(exc: BaseException, result: Any) -> None:
    """Hand the best point(s) found so far to whoever catches ``exc`` (status 7)."""
    exc.rbo_result = result  # type: ignore[attr-defined]
    exc.add_note("rbo: the best point found so far is in this exception's .rbo_result")


def _start_result(
    objective: Objective, x0: Array, backend: Backend, *, batched: bool, exc: BaseException
) -> OptimizeResult:
    """The result of a run whose ``init`` raised: ``x0`` (status 7), with ``f(x0)`` if
    fun returned it before the error (NaN otherwise: the start has no value to be best
    by). fun is not called again: it may raise again, or cost what the user cannot spare."""
    xp = array_namespace(x0)
    shape = x0.shape[:-1]
    known = objective.valued_x
    if known is not None and (known is x0 or bool(xp.all(known == x0))):
        f = xp.reshape(xp.asarray(objective.valued_f, dtype=x0.dtype), shape)
    else:
        f = xp.full(shape, xp.nan, dtype=x0.dtype, device=device_of(x0))
    state = SimpleNamespace(
        x=x0, f=f, g=xp.full(x0.shape, xp.nan, dtype=x0.dtype, device=device_of(x0)), nit=0
    )
    rows = Rows(state, Tolerances(), host=backend.eager(x0))
    rows.stop(Status.ERROR)
    error = f"{Status.ERROR.message} ({type(exc).__name__}: {exc})"
    return _result(None, rows, state, objective, None, backend, batched=batched, error=error)


def _check_start(f: Array, xp: Any, *, batched: bool) -> None:
    finite = xp.isfinite(f)
    if bool(xp.all(finite)):
        return
    if not batched:
        raise ValueError(f"fun(x0) must be finite; got {float(f)}")
    bad = int(xp.argmax(xp.astype(~finite, xp.int32)))
    raise ValueError(f"fun(x0) must be finite in every row; row {bad} gives {float(f[bad])}")


def _frozen(old: Any, new: Any, active: Array, xp: Any) -> Any:
    """``new`` with the rows that had stopped put back as they were in ``old``."""

    def pick(a: Array, b: Array) -> Array:
        return select(active, a, b, xp=xp, host=False)

    return new._replace(
        x=pick(new.x, old.x),
        f=pick(new.f, old.f),
        g=pick(new.g, old.g),
        step_norm=pick(new.step_norm, xp.zeros_like(new.step_norm)),
    )


def _wrap_callback(
    solver: Solver[Any], callback: Callable[..., Any] | None, *, batched: bool, backend: Backend
) -> Callable[[Any, Objective], None] | None:
    """``callback`` as ``notify(state, objective)``: given an ``intermediate_result`` when
    that is its only parameter (scipy's convention), else the point ``xk``; called under
    the caller's error handling."""
    if callback is None:
        return None
    try:
        params = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = []
    callback = backend.as_caller(callback)
    if params == ["intermediate_result"]:
        return lambda state, objective: callback(
            intermediate_result=_intermediate(solver, state, objective, batched=batched)
        )
    return lambda state, objective: callback(state.x)


def _extra(solver: Solver[Any] | None, state: Any, *, batched: bool, intermediate: bool) -> dict:
    """The solver's extra result fields; for a single run its 0-d arrays as floats."""
    post = getattr(solver, "postprocess", None)
    fields = {} if post is None else dict(post(state, intermediate=intermediate))
    if not batched:
        for key, value in fields.items():
            if getattr(value, "ndim", None) == 0:
                fields[key] = float(value)
    return fields


def _intermediate(
    solver: Solver[Any], state: Any, objective: Objective, *, batched: bool
) -> OptimizeResult:
    """What a callback sees: for a batched run the rows' arrays, left on the device
    (nothing is read back unless the callback reads it); for a single run ``fun`` and
    the solver's 0-d fields as floats."""
    res = OptimizeResult(x=state.x, fun=state.f, jac=state.g, nit=state.nit, nfev=objective.nfev)
    if not batched:
        res.fun = float(state.f)
    res.update(_extra(solver, state, batched=batched, intermediate=True))
    return res


def _result(
    solver: Solver[Any] | None,
    rows: Rows,
    state: Any,
    objective: Objective,
    path: list[Any] | None,
    backend: Backend,
    *,
    batched: bool,
    error: str | None = None,
    blind: Array | None = None,
) -> OptimizeResult:
    """The result of the loop; ``error`` is the message of rows that ended in an error,
    ``blind`` per row whether the gradient at the start was NaN or inf.

    Each row's point is the better of its best state and the best point the objective
    returned ``(f, g)`` for (a trial point of a projection, SAM's perturbed point, a step
    cut short by ``maxfev``), so that no evaluated point better than the result is lost.
    """
    xp = rows.xp
    rows.finish()
    x, f, g, best_nit = _best(rows, objective, xp)
    x, f, g, status = _honest(rows, solver, state, (x, f, g), backend)
    codes = [Status(int(c)) for c in backend.to_host(xp.reshape(status, (-1,))).tolist()]
    messages = [error if c == Status.ERROR and error else c.message for c in codes]
    explain = getattr(solver, "explain", None)
    if explain is not None and Status.NONFINITE in codes:
        details = explain(state)
        messages = [
            f"{m} ({d})" if c == Status.NONFINITE and d else m
            for m, c, d in zip(messages, codes, details, strict=True)
        ]
    if blind is not None and Status.NONFINITE in codes:
        at_start = backend.to_host(xp.reshape(blind, (-1,))).tolist()
        messages = [
            f"{m} (the gradient at x0 was NaN or inf)" if c == Status.NONFINITE and b else m
            for m, c, b in zip(messages, codes, at_start, strict=True)
        ]
    res = OptimizeResult(
        x=x,
        jac=g,
        nfev=objective.nfev,
        njev=objective.njev,
        x_last=state.x,
    )
    if batched:
        best = int(xp.argmin(f))
        res.update(
            fun=f,
            nit=rows.nit,
            status=status,
            success=xp.asarray([c.success for c in codes], device=device_of(rows.f)),
            message=messages,
            fun_last=state.f,
            best_nit=best_nit,
            best=best,
            x_best=x[best, ...],
            fun_best=float(f[best]),
        )
    else:
        (code,) = codes
        res.update(
            fun=float(f),
            nit=int(rows.nit),
            status=int(code),
            success=code.success,
            message=messages[0],
            fun_last=float(state.f),
            best_nit=int(best_nit),
        )
    if solver is not None:
        res.update(_extra(solver, state, batched=batched, intermediate=False))
    if path is not None:
        res.trajectory = _trajectory(solver, path)
    return res


def _honest(
    rows: Rows,
    solver: Solver[Any] | None,
    state: Any,
    best: tuple[Array, Array, Array],
    backend: Backend,
) -> tuple[Array, Array, Array, Array]:
    """Per row, the point to return and its status, tested on that point.

    A run that is not monotone (SGD, SAM, a rolling ball, a line search's trial points)
    may have seen a lower point than the last one, which its tests judged. Where the last
    point met ``gtol`` and the lower one does not, the last point is returned if it is
    higher by no more than ``ftol`` (relative, floored at 1; at least f's rounding), else
    the lower one with ``NOT_STATIONARY``. A row that came to rest (``XTOL``,
    ``STAGNATION``, ``AT_REST``) at a point that meets ``gtol`` is a ``GTOL``. In a box the
    gradient tested is the projected one.
    """
    xp, status = rows.xp, rows.status
    x, f, g = best
    # The box as the state holds it (on the rows' device), else as the solver was given it.
    holder = state if hasattr(state, "lower") else solver
    lower, upper = getattr(holder, "lower", None), getattr(holder, "upper", None)

    def meets(x: Array, g: Array) -> Array:
        if lower is not None and upper is not None:
            g = projected_gradient(x, g, lower, upper)
        return xp.sqrt(dot(g, g, xp=xp)) <= rows.tol.gtol  # an overflowing |g|^2 meets none

    ok = meets(x, g)
    gtol = status == int(Status.GTOL)
    # ftol, floored at f's rounding: a last point level with the best to rounding is as
    # low as the best (even with ftol=0).
    rtol = max(float(rows.tol.ftol), 4.0 * eps(f, xp=xp))
    close = state.f - f <= rtol * xp.maximum(xp.abs(f), xp.ones_like(f))
    last = gtol & ~ok & close & meets(state.x, state.g)
    x = select(last, state.x, x, xp=xp, host=rows.host)
    g = select(last, state.g, g, xp=xp, host=rows.host)
    f = xp.where(last, state.f, f)
    status = xp.where(gtol & ~ok & ~last, codes(Status.NOT_STATIONARY, status), status)
    at_rest = (
        (status == int(Status.XTOL))
        | (status == int(Status.STAGNATION))
        | (status == int(Status.AT_REST))
    )
    return x, f, g, xp.where(at_rest & ok, codes(Status.GTOL, status), status)


def _best(rows: Rows, objective: Objective, xp: Any) -> tuple[Array, Array, Array, Array]:
    """Per row ``(x, f, g, best_nit)``: Rows' best, or the objective's where it is lower
    (its ``best_nit`` then the step during which that point was evaluated)."""
    bf = objective.best_f
    if bf is None:
        return rows.x, rows.f, rows.g, rows.best_nit
    better = bf < rows.f
    x = select(better, objective.best_x, rows.x, xp=xp, host=rows.host)
    g = select(better, objective.best_g, rows.g, xp=xp, host=rows.host)
    tag = objective.best_tag
    if isinstance(tag, int):  # a single run's step number, kept as a Python int
        tag = codes(tag, rows.f)
    return x, xp.where(better, bf, rows.f), g, xp.where(better, tag, rows.best_nit)


def _trajectory(solver: Solver[Any] | None, path: list[Any]) -> OptimizeResult:
    """Every state's point and value, and the solver's ``trace`` fields (RBO's centre),
    stacked along a first axis."""
    xp = array_namespace(path[0].x)
    out = OptimizeResult(
        x=xp.stack([s.x for s in path]),
        fun=xp.stack([s.f for s in path]),
    )
    trace = getattr(solver, "trace", None)
    if trace is not None:
        traces = [trace(s) for s in path]
        for key in traces[0]:
            out[key] = xp.stack([t[key] for t in traces])
    return out
