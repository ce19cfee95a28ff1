"""The polish: an L-BFGS phase from the best point a rolling ball found.

A ball of radius ``rho`` rests where the graph, ironed at its scale, is flat; that is not
a stationary point of ``f`` itself (a contact point sits on the wrinkles' crests, and a
minimum sharper than ``1/rho`` is never touched). The polish takes the roll's best point
(per row of a batch) and runs :class:`~rbo.LBFGS` from it on the same objective, so that
the budget (``maxfev`` counts both phases), the box and the best point kept by the
objective carry over: its result is never worse than the roll's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scipy.optimize import OptimizeResult

from ._lbfgs import LBFGS
from ._loop import run
from ._objective import Objective
from ._status import Status
from ._termination import Tolerances
from .backends import Backend

__all__ = ["PHASE_FIELDS", "polish"]

#: What the result says of each phase (``res.roll``, ``res.polish``).
PHASE_FIELDS = ("nit", "nfev", "status", "message")

# A roll that ended so is not polished: the user stopped it (the callback), or nothing
# is left to spend (``maxfev`` and ``maxiter`` count both phases). Every other end is
# polished from the best point.
_FINAL = (int(Status.CALLBACK), int(Status.MAXFEV), int(Status.MAXITER))


def polish(
    roll: OptimizeResult,
    objective: Objective,
    tolerances: Tolerances,
    *,
    lower: Any,
    upper: Any,
    backend: Backend,
    batched: bool,
    maxiter: int,
    maxfev: int | None,
    callback: Callable[..., Any] | None,
) -> OptimizeResult:
    """The result of polishing ``roll`` (the loop's result) with L-BFGS, both phases in it.

    ``nit`` and ``nfev`` of the result count both phases; ``status``, ``success`` and
    ``message`` are the polish's (``success`` only where it met ``gtol``); ``roll`` and
    ``polish`` hold each phase's own counts and status.
    """
    nfev_roll = objective.nfev
    codes = _codes(roll.status, backend)
    skip = all(c in _FINAL for c in codes)
    remaining = None if maxfev is None else maxfev - nfev_roll
    start = roll.x if objective.best_x is None else objective.best_x
    steps = max(_codes(roll.nit, backend))  # of the row that made the most
    if skip or steps >= maxiter or (remaining is not None and remaining < objective.cost(start)):
        roll.roll = _phase(roll, nfev_roll)
        roll.polish = None
        return roll
    # The polish's stopping tests are the user's, but patience: L-BFGS's own steps show
    # when it is done, and a patience counted in its iterations would cut it early.
    tests = Tolerances(
        gtol=tolerances.gtol, xtol=tolerances.xtol, ftol=tolerances.ftol, patience=None
    )
    solver = LBFGS(lower=lower, upper=upper)
    if objective.best_f is not None and objective.best_g is not None:
        objective.replay = (start, objective.best_f, objective.best_g)
    res = run(
        solver,
        objective,
        start,
        tests,
        backend=backend,
        batched=batched,
        maxiter=maxiter - steps,
        maxfev=maxfev,
        callback=callback,
        return_trajectory=False,
    )
    res.roll = _phase(roll, nfev_roll)
    res.polish = _phase(res, objective.nfev - nfev_roll)
    res.nit = roll.nit + res.nit
    res.x_last = roll.x_last
    res.fun_last = roll.fun_last
    for field in ("proj_residual", "trajectory"):
        if field in roll:
            res[field] = roll[field]
    return res


def _codes(status: Any, backend: Backend) -> list[int]:
    if isinstance(status, int):
        return [status]
    return [int(c) for c in backend.to_host(status).reshape(-1).tolist()]


def _phase(res: OptimizeResult, nfev: int) -> OptimizeResult:
    """One phase's own counts and status."""
    out = OptimizeResult({k: res[k] for k in PHASE_FIELDS if k in res})
    out.nfev = nfev
    return out
