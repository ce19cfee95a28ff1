"""The loop of :func:`rbo.minimize`: ``init``, then ``step`` and the stopping tests until
one holds, for one run or a batch of independent runs, on the host or on a device.

A single run is a batch of one row, 0-d arrays in place of per-row ones. All bookkeeping
is per row on the rows' device (:class:`~rbo._termination.Rows`): a row stops when a test
holds for it, or its method reports a failure (``terminate``), and is frozen from then on
while the others go on. The only values read back to the host are whether any row still
runs -- every step on the host or with a callback, every ``check_every`` steps on a
device -- and the statuses once at the end. ``nit`` and ``nfev`` are host integers, so the
iteration and evaluation budgets cost no read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import OptimizeResult

from ._arrays import Array, select
from ._objective import BudgetExhausted, Objective
from ._solver import Solver
from ._status import Status
from ._termination import RUNNING, Rows, Tolerances
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
    """Run ``solver`` from ``x0`` (each row of ``x0`` when ``batched``) until it stops."""
    xp = array_namespace(x0)
    host = backend.eager(x0)
    notify = _wrap_callback(callback, batched=batched)
    # A callback reads the state every step anyway; then the loop reads its flags too, so
    # that no step is made (and reported) after the last row has stopped.
    every = 1 if host or notify is not None else int(getattr(solver, "check_every", 4))
    objective.start(maxfev)
    try:
        state = solver.init(objective, x0)
    except BudgetExhausted as exc:
        raise ValueError(f"maxfev does not cover the first evaluation at x0: {exc}") from None
    _check_start(state.f, xp, batched=batched)
    rows = Rows(state, tolerances, host=host)
    rows.check(state)
    path = [state] if return_trajectory else None
    skips = "active" in getattr(state, "_fields", ())  # the method leaves stopped rows be
    # Otherwise stopped rows are put back after each step; a single run on the host never
    # steps once stopped, so it needs no such pass over x and g.
    freeze = not skips and (batched or not host)
    ended: Status | None = None
    steps = 0
    while steps % every != 0 or rows.running():
        if state.nit >= maxiter:
            ended = Status.MAXITER
            break
        if maxfev is not None and objective.nfev >= maxfev:
            ended = Status.MAXFEV
            break
        active = rows.active
        # A stopped row's later points (a batch steps on as a whole) do not count as best.
        objective.active = active if freeze or skips else None
        objective.tag = rows.nit + 1
        try:
            if skips:
                new = solver.step(objective, state._replace(active=active))
            elif freeze:
                new = _frozen(state, solver.step(objective, state), active, xp)
            else:
                new = solver.step(objective, state)
            state = new
            steps += 1
            rows.update(state, _failures(solver, state, xp))
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
            rows.stop(Status.ERROR)
            error = f"{Status.ERROR.message} ({type(exc).__name__}: {exc})"
            attach(
                exc, _result(rows, state, objective, path, backend, batched=batched, error=error)
            )
            raise
        rows.check(state)
    if ended is not None:
        rows.stop(ended)
    return _result(rows, state, objective, path, backend, batched=batched)


def attach(exc: BaseException, result: Any) -> None:
    """Hand the best point(s) found so far to whoever catches ``exc`` (status 7)."""
    exc.rbo_result = result  # type: ignore[attr-defined]
    exc.add_note("rbo: the best point found so far is in this exception's .rbo_result")


def _check_start(f: Array, xp: Any, *, batched: bool) -> None:
    finite = xp.isfinite(f)
    if bool(xp.all(finite)):
        return
    if not batched:
        raise ValueError(f"fun(x0) must be finite; got {float(f)}")
    bad = int(xp.argmax(xp.astype(~finite, xp.int32)))
    raise ValueError(f"fun(x0) must be finite in every row; row {bad} gives {float(f[bad])}")


def _failures(solver: Solver[Any], state: Any, xp: Any) -> Array:
    """Per-row Status codes of the method's failures in the last step (RUNNING: none):
    ``terminate``'s verdict for all rows, else the state's per-row ``row_failure``."""
    failure = solver.terminate(state)
    if failure is not None:
        return xp.full(state.f.shape, int(failure), dtype=xp.int32, device=device_of(state.f))
    codes = getattr(state, "row_failure", None)
    if codes is not None:
        return codes
    return xp.full(state.f.shape, RUNNING, dtype=xp.int32, device=device_of(state.f))


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
    callback: Callable[..., Any] | None, *, batched: bool
) -> Callable[[Any, Objective], None] | None:
    """``callback`` as ``notify(state, objective)``: given an ``intermediate_result`` when
    that is its only parameter (scipy's convention), else the point ``xk``."""
    if callback is None:
        return None
    try:
        params = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = []
    make = _row_intermediate if batched else _intermediate
    if params == ["intermediate_result"]:
        return lambda state, objective: callback(intermediate_result=make(state, objective))
    return lambda state, objective: callback(state.x)


def _intermediate(state: Any, objective: Objective) -> OptimizeResult:
    """What a callback of a single run sees; ``fun`` and ``proj_residual`` as floats."""
    res = _row_intermediate(state, objective)
    res.fun = float(state.f)
    if "proj_residual" in res:
        res.proj_residual = float(state.residual)
    return res


def _row_intermediate(state: Any, objective: Objective) -> OptimizeResult:
    """What a callback of a batched run sees: the rows' arrays, left on the device
    (nothing is read back unless the callback reads it)."""
    res = OptimizeResult(x=state.x, fun=state.f, jac=state.g, nit=state.nit, nfev=objective.nfev)
    if hasattr(state, "residual"):
        res.update(
            center=state.center, radius=state.radius, lr=state.lr, proj_residual=state.residual
        )
    return res


def _result(
    rows: Rows,
    state: Any,
    objective: Objective,
    path: list[Any] | None,
    backend: Backend,
    *,
    batched: bool,
    error: str | None = None,
) -> OptimizeResult:
    """The result of the loop; ``error`` is the message of rows that ended in an error.

    Each row's point is the better of its best state and the best point the objective
    returned ``(f, g)`` for (a trial point of a projection, SAM's perturbed point, a step
    cut short by ``maxfev``), so that no evaluated point better than the result is lost.
    """
    xp = rows.xp
    codes = [Status(int(c)) for c in backend.to_host(xp.reshape(rows.status, (-1,))).tolist()]
    messages = [error if c == Status.ERROR and error else c.message for c in codes]
    x, f, g, best_nit = _best(rows, objective, xp)
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
            status=rows.status,
            success=xp.asarray([c.success for c in codes], device=device_of(rows.f)),
            message=messages,
            fun_last=state.f,
            best_nit=best_nit,
            best=best,
            x_best=x[best, ...],
            fun_best=float(f[best]),
        )
        if hasattr(state, "residual"):
            res.proj_residual = state.residual
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
        if hasattr(state, "residual"):
            res.proj_residual = float(state.residual)
    if path is not None:
        res.trajectory = _trajectory(path)
    return res


def _best(rows: Rows, objective: Objective, xp: Any) -> tuple[Array, Array, Array, Array]:
    """Per row ``(x, f, g, best_nit)``: Rows' best, or the objective's where it is lower
    (its ``best_nit`` then the step during which that point was evaluated)."""
    bf = objective.best_f
    if bf is None:
        return rows.x, rows.f, rows.g, rows.best_nit
    better = bf < rows.f
    x = select(better, objective.best_x, rows.x, xp=xp, host=rows.host)
    g = select(better, objective.best_g, rows.g, xp=xp, host=rows.host)
    return x, xp.where(better, bf, rows.f), g, xp.where(better, objective.best_tag, rows.best_nit)


def _trajectory(path: list[Any]) -> OptimizeResult:
    """Every state's point and value (and, for RBO, centre), stacked along a first axis."""
    xp = array_namespace(path[0].x)
    out = OptimizeResult(
        x=xp.stack([s.x for s in path]),
        fun=xp.stack([s.f for s in path]),
    )
    if hasattr(path[0], "center"):
        centers = [s.center for s in path]
        out.center_x = xp.stack([c[0] for c in centers])
        out.center_y = xp.stack([c[1] for c in centers])
    return out
