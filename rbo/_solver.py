"""The protocol every iterative method of rbo follows, and the pieces they share.

A solver is an immutable configuration with three methods:

- ``init(fun, x0) -> state`` evaluates ``fun`` at ``x0`` and builds the first state;
- ``step(fun, state) -> state`` makes one iteration, evaluating ``fun`` wherever it needs
  (RBO's projection, SAM's perturbed point, Entropy-SGD's inner chain);
- ``terminate(state) -> Status | None`` reports a failure of the method itself.

``fun`` maps ``x`` to ``(f(x), grad f(x))``. States are ``NamedTuple`` s that share the
fields of :class:`StateFields`. :func:`rbo.minimize` is a plain loop over this protocol,
and the step-wise classes drive the same methods one batch at a time.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._arrays import Array
from ._status import Status

__all__ = ["Objective", "Schedule", "Solver", "StateFields", "check_positive", "schedule_value"]

Objective = Callable[[Array], tuple[Array, Array]]
Schedule = float | Callable[[int], float]

S = TypeVar("S")


@runtime_checkable
class StateFields(Protocol):
    """Fields every solver state has, so that loops and results treat all alike."""

    x: Array  # current point
    f: Array  # f(x)
    g: Array  # grad f(x)
    nit: int  # iterations made
    step_norm: Array  # |x - previous x|
    failure: Status | None  # set when the method itself cannot go on


class Solver(Protocol[S]):
    """An iterative minimiser driven by ``init`` / ``step`` / ``terminate``."""

    def init(self, fun: Objective, x0: Array, /) -> S: ...

    def step(self, fun: Objective, state: S, /) -> S: ...

    def terminate(self, state: S, /) -> Status | None: ...


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Reject a hyperparameter that is not a finite positive real (or a callable schedule)."""
    if callable(value):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number or a callable schedule; got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}; got {value!r}")


def schedule_value(name: str, value: Schedule, k: int) -> float:
    """The value of a constant or of a schedule ``value(k)`` at iteration ``k``, checked."""
    if not callable(value):
        return float(value)
    out = value(k)
    try:
        out = float(out)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the {name} schedule returned {out!r} at iteration {k}") from exc
    if not (math.isfinite(out) and out > 0):
        raise ValueError(
            f"the {name} schedule returned {out!r} at iteration {k}; it must be finite and > 0"
        )
    return out
