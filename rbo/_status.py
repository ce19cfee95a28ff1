"""Status codes of a run: one table of codes, success flags and messages."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Why a run ended, in the spirit of scipy's integer status codes.

    Each member carries its message and whether the run counts as a success.
    Codes ``0``-``4`` are successes, ``1`` and ``2`` mean a budget ran out, and the
    larger codes are failures.
    """

    GTOL = 0
    MAXITER = 1
    MAXFEV = 2
    XTOL = 3
    STAGNATION = 4
    NONFINITE = 5
    PROJECTION_FAILED = 6
    ERROR = 7
    CALLBACK = 99

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def success(self) -> bool:
        return self in (Status.GTOL, Status.XTOL, Status.STAGNATION)


_MESSAGES = {
    Status.GTOL: "Optimization terminated successfully: gradient norm is below gtol.",
    Status.MAXITER: "Maximum number of iterations has been exceeded.",
    Status.MAXFEV: "Maximum number of function evaluations has been exceeded.",
    Status.XTOL: "Optimization terminated successfully: step size is below xtol.",
    Status.STAGNATION: (
        "Optimization terminated successfully: the best value improved by less than "
        "ftol for `patience` iterations."
    ),
    Status.NONFINITE: (
        "The objective returned NaN or inf and steps halved repeatedly did not avoid it."
    ),
    Status.PROJECTION_FAILED: (
        "The projection onto the graph diverged; with projection='gd' this happens when "
        "proj_step * (1 + |grad f|^2) > 2: use projection='gauss-newton' or a smaller "
        "proj_step."
    ),
    Status.ERROR: "The objective raised an exception.",
    Status.CALLBACK: "`callback` raised `StopIteration`.",
}
