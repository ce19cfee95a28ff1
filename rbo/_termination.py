"""Stopping tests shared by every method: pure functions of the state and the best point."""

from __future__ import annotations

from dataclasses import dataclass

from array_api_compat import array_namespace

from ._arrays import dot
from ._solver import StateFields
from ._status import Status

__all__ = ["Best", "Tolerances", "check"]


@dataclass(frozen=True)
class Tolerances:
    """When a run may stop; each test is off when its tolerance is 0 (``patience``: None)."""

    gtol: float = 1e-6  # |grad f| <= gtol
    xtol: float = 1e-10  # |step| <= xtol * (1 + |x|)
    ftol: float = 1e-10  # improvement of the best value that resets `patience`
    patience: int | None = 100  # iterations without such an improvement before stopping


class Best:
    """The best point seen so far; a run hands it back whatever ends it.

    Only a finite value can become best. ``stale`` counts the iterations since the best
    value last improved by more than ``ftol`` (relative, floored at 1).
    """

    def __init__(self, state: StateFields, ftol: float) -> None:
        self.ftol = ftol
        self.x, self.f, self.g, self.nit = state.x, state.f, state.g, state.nit
        self.value = float(state.f)
        self.anchor = self.value
        self.stale = 0

    def update(self, state: StateFields) -> None:
        value = float(state.f)
        if value < self.value:  # NaN compares false: never best
            self.x, self.f, self.g, self.nit = state.x, state.f, state.g, state.nit
            self.value = value
        if self.anchor - self.value > self.ftol * max(1.0, abs(self.anchor)):
            self.anchor = self.value
            self.stale = 0
        else:
            self.stale += 1


def check(state: StateFields, best: Best, tol: Tolerances) -> Status | None:
    """The first stopping test that holds, or None to go on."""
    xp = array_namespace(state.x)
    if tol.gtol > 0 and float(xp.sqrt(dot(state.g, state.g, xp=xp))) <= tol.gtol:
        return Status.GTOL
    if state.nit > 0 and tol.xtol > 0:
        xnorm = float(xp.sqrt(dot(state.x, state.x, xp=xp)))
        if float(state.step_norm) <= tol.xtol * (1.0 + xnorm):
            return Status.XTOL
    if tol.patience is not None and best.stale >= tol.patience:
        return Status.STAGNATION
    return None
