"""What the first-order baselines (SGD, SAM, Entropy-SGD) share: their state, the
momentum step, and a landing that halves the learning rate on NaN or inf.

Each baseline is a :class:`Descent` that only says which direction ``d`` to descend
along; :class:`Descent` turns ``d`` into a step the way PyTorch's SGD does (heavy-ball
or Nesterov momentum), evaluates the objective at the new point, and retries with half
the learning rate while that value or gradient is not finite.

Besides the protocol's ``step``, a :class:`Descent` has ``advance``: the same step
without the evaluation at the new point. Minibatch training evaluates every point on
the next batch anyway, so :class:`rbo.Stepper` uses ``advance`` and spends one
gradient per SGD step, two per SAM step, as the reference implementations do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from array_api_compat import array_namespace

from ._arrays import Array, dot
from ._bounds import clip
from ._solver import Objective, Schedule, check_positive, schedule_value
from ._status import Status
from ._validation import check_count

__all__ = ["Descent", "DescentState", "halving", "momentum_update"]

T = TypeVar("T")


class DescentState(NamedTuple):
    """State of a first-order baseline (SGD, SAM, Entropy-SGD).

    Attributes
    ----------
    x, f, g : array
        Current point, ``f(x)`` and ``grad f(x)``. After :meth:`Descent.advance` (used
        for minibatch training) ``f`` and ``g`` are still those of the previous point:
        the next batch evaluates the new one.
    nit : int
        Steps made.
    step_norm : array
        Distance moved in the last step.
    failure : Status or None
        Set when a step could not be made.
    lr : float
        Learning rate the last step used (after any halving).
    velocity : array or None
        Momentum buffer; None without momentum.
    evals : int
        Evaluations of the objective the last step made.
    rho : float
        SAM's perturbation radius in the last step (after any halving); 0 otherwise.
    gamma : float
        Entropy-SGD's coupling :math:`\\gamma` in the last step; 0 otherwise.
    """

    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Status | None
    lr: float
    velocity: Array | None
    evals: int
    rho: float = 0.0
    gamma: float = 0.0


def halving(
    attempt: Callable[[float], tuple[T, Array]], value: float, max_halvings: int
) -> tuple[T | None, float, int]:
    """Try ``attempt(value)``, halving ``value`` while the attempt's flag is false.

    ``attempt`` returns ``(result, ok)`` with ``ok`` a 0-d boolean array (read once per
    try). Returns ``(result, value, tries)``; ``result`` is None when no try succeeded.

    Examples
    --------
    >>> import numpy as np
    >>> halving(lambda v: (v, np.asarray(v < 0.3)), 1.0, 8)
    (0.25, 0.25, 3)
    >>> halving(lambda v: (v, np.asarray(False)), 1.0, 2)
    (None, 0.25, 3)
    """
    for tries in range(1, max_halvings + 2):
        result, ok = attempt(value)
        if bool(ok):
            return result, value, tries
        if tries <= max_halvings:
            value *= 0.5
    return None, value, max_halvings + 1


def momentum_update(
    d: Array, velocity: Array | None, momentum: float, nesterov: bool
) -> tuple[Array, Array | None]:
    """PyTorch's SGD momentum: ``v = momentum v + d``; the step is along ``v``, or along
    ``d + momentum v`` with Nesterov. Returns ``(update, new_velocity)``.

    Examples
    --------
    >>> import numpy as np
    >>> u, v = momentum_update(np.array([1.0]), np.array([4.0]), 0.5, nesterov=False)
    >>> u.tolist(), v.tolist()
    ([3.0], [3.0])
    >>> momentum_update(np.array([1.0]), np.array([4.0]), 0.5, nesterov=True)[0].tolist()
    [2.5]
    """
    if momentum == 0.0:
        return d, None
    v = d if velocity is None else momentum * velocity + d
    return (d + momentum * v if nesterov else v), v


def _finite(f: Array, g: Array, xp: Any) -> Array:
    return xp.isfinite(f) & xp.all(xp.isfinite(g))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Descent:
    """Base of the first-order baselines: momentum, landing and learning-rate halving.

    Subclasses implement ``_direction(fun, state, k) -> (d, evals, fields)``: the
    descent direction at ``state.x`` for step ``k``, the evaluations it used, and
    extra :class:`DescentState` fields (``rho``, ``gamma``); ``d`` is None when it
    could not be made finite.
    """

    lr: Schedule = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    max_halvings: int = 8
    # The box every evaluated point is clipped into (set by minimize's `bounds`).
    lower: Array | None = dataclasses.field(default=None, repr=False, compare=False)
    upper: Array | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        if callable(self.momentum):
            raise TypeError("momentum must be a number in [0, 1)")
        check_positive("momentum", self.momentum, allow_zero=True)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be a bool; got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        check_count("max_halvings", self.max_halvings)

    def init(self, fun: Objective, x0: Array, /) -> DescentState:
        f, g = fun(x0)
        return DescentState(
            x=x0,
            f=f,
            g=g,
            nit=0,
            step_norm=array_namespace(x0).zeros_like(f),
            failure=None,
            lr=schedule_value("lr", self.lr, 0),
            velocity=None,
            evals=1,
        )

    def _direction(
        self, fun: Objective, state: DescentState, k: int, /
    ) -> tuple[Array | None, int, dict[str, float]]:
        raise NotImplementedError

    def _plan(
        self, fun: Objective, state: DescentState
    ) -> tuple[Array | None, Array | None, int, dict[str, float]]:
        d, evals, fields = self._direction(fun, state, state.nit)
        if d is None:
            return None, None, evals, fields
        update, velocity = momentum_update(d, state.velocity, self.momentum, self.nesterov)
        return update, velocity, evals, fields

    def step(self, fun: Objective, state: DescentState, /) -> DescentState:
        xp = array_namespace(state.x)
        k = state.nit
        update, velocity, evals, fields = self._plan(fun, state)
        if update is None:
            return state._replace(failure=Status.NONFINITE, evals=evals, **fields)

        def attempt(lr: float) -> tuple[tuple[Array, Array, Array], Array]:
            x = self._clip(state.x - lr * update)
            f, g = fun(x)
            return (x, f, g), _finite(f, g, xp)

        landed, lr, tries = halving(attempt, schedule_value("lr", self.lr, k), self.max_halvings)
        evals += tries
        if landed is None:
            return state._replace(failure=Status.NONFINITE, evals=evals, **fields)
        x, f, g = landed
        step_norm = lr * xp.sqrt(dot(update, update, xp=xp))
        if self.lower is not None:  # a face of the box may stop the step short
            step_norm = xp.sqrt(dot(x - state.x, x - state.x, xp=xp))
        return DescentState(
            x=x,
            f=f,
            g=g,
            nit=k + 1,
            step_norm=step_norm,
            failure=None,
            lr=lr,
            velocity=velocity,
            evals=evals,
            **fields,
        )

    def advance(self, fun: Objective, state: DescentState, /) -> DescentState:
        """One step that does not evaluate ``fun`` at the new point.

        For minibatch training, where the next batch evaluates it: ``f`` and ``g`` of
        the returned state are still those of ``state``. A non-finite direction is a
        failure; a non-finite landing shows at the next evaluation.
        """
        xp = array_namespace(state.x)
        update, velocity, evals, fields = self._plan(fun, state)
        if update is None:
            return state._replace(failure=Status.NONFINITE, evals=evals, **fields)
        lr = schedule_value("lr", self.lr, state.nit)
        return state._replace(
            x=self._clip(state.x - lr * update),
            nit=state.nit + 1,
            step_norm=lr * xp.sqrt(dot(update, update, xp=xp)),
            lr=lr,
            velocity=velocity,
            evals=evals,
            **fields,
        )

    def terminate(self, state: DescentState, /) -> Status | None:
        return state.failure

    def _clip(self, x: Array) -> Array:
        """``x`` projected onto the box, if there is one."""
        if self.lower is None or self.upper is None:
            return x
        return clip(x, self.lower, self.upper)
