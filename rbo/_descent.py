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

from . import backends
from ._arrays import Array, as_value, codes, col, dot, finite_rows, select
from ._bounds import clip, projected_gradient
from ._solver import RUNNING, Schedule, SolverBase, ValueAndGrad, check_positive, schedule_value
from ._status import Status
from ._validation import check_count

__all__ = ["Descent", "DescentState", "halving", "halving_rows", "momentum_update"]

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
    failure : array
        Per row, the :class:`~rbo.Status` code of a failure of the last step, or -1.
    lr : array
        Per row, the learning rate the last step used (after any halving).
    velocity : array or None
        Momentum buffer; None without momentum.
    evals : int
        Evaluations of the objective the last step made.
    nonfinite : array
        Per row, what was first found NaN or inf: 0 nothing, 1 the value, 2 the
        gradient.
    rho : float or array
        SAM's perturbation radius in the last step, per row (after any halving); 0
        otherwise.
    gamma : float
        Entropy-SGD's coupling :math:`\\gamma` in the last step; 0 otherwise.
    """

    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Array
    lr: Array
    velocity: Array | None
    evals: int
    nonfinite: Array
    rho: Any = 0.0
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


def halving_rows(
    attempt: Callable[[Array], tuple[T, Array]],
    value: Array,
    max_halvings: int,
    *,
    pending: Array,
    host: bool,
) -> tuple[T, Array, Array, int]:
    """:func:`halving` per row: ``attempt(values)`` returns ``(result, ok)`` with ``ok``
    per row; rows that are not ok retry with half their value, the others keep theirs.

    ``result`` is a tuple of per-row arrays (``(..., n)`` or ``(...)``), each row taken
    from its first successful try (the last try for rows that never succeeded).
    ``pending`` marks the rows to try at all. Whether any row still retries is read back
    once per try. Returns ``(result, values, ok, tries)``.

    Examples
    --------
    >>> import numpy as np
    >>> out, v, ok, tries = halving_rows(
    ...     lambda v: ((v,), v < 0.3), np.array([1.0, 0.2]), 8,
    ...     pending=np.array([True, True]), host=True)
    >>> v.tolist(), ok.tolist(), tries
    ([0.25, 0.2], [True, True], 3)
    """
    xp = array_namespace(value)
    done = ~pending
    landed = xp.zeros_like(pending)
    kept: Any = None
    tries = 0
    for tries in range(1, max_halvings + 2):
        result, ok = attempt(value)
        take = ok & ~done
        if kept is None:
            kept = result
        else:
            kept = tuple(
                select(take, new, old, xp=xp, host=False)
                for new, old in zip(result, kept, strict=True)  # type: ignore[call-overload]
            )
        landed = landed | take
        done = done | ok
        if bool(xp.all(done)):
            break
        if tries <= max_halvings:
            value = xp.where(done, value, 0.5 * value)
    return kept, value, landed, tries


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Descent(SolverBase):
    """Base of the first-order baselines: momentum, landing and learning-rate halving.

    Subclasses implement ``_direction(fun, state, k) -> (d, evals, fields, ok)``: the
    descent direction at ``state.x`` for step ``k``, the evaluations it used, extra
    :class:`DescentState` fields (``rho``, ``gamma``) and, per row, whether ``d`` could be
    made finite. Everything is per row: a batch of rows makes the steps each row would
    make alone (per-row norms, halvings and failures).
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

    def init(self, fun: ValueAndGrad, x0: Array, /) -> DescentState:
        f, g = fun(x0)
        f = as_value(f, x0)
        xp = array_namespace(x0)
        return DescentState(
            x=x0,
            f=f,
            g=g,
            nit=0,
            step_norm=xp.zeros_like(f),
            failure=codes(RUNNING, f),
            lr=schedule_value("lr", self.lr, 0) + xp.zeros_like(f),
            velocity=None,
            evals=1,
            nonfinite=codes(0, f),
        )

    def _direction(
        self, fun: ValueAndGrad, state: DescentState, k: int, /
    ) -> tuple[Array, int, dict[str, Any], Array]:
        raise NotImplementedError

    def _plan(
        self, fun: ValueAndGrad, state: DescentState
    ) -> tuple[Array, Array | None, int, dict[str, Any], Array]:
        d, evals, fields, ok = self._direction(fun, state, state.nit)
        update, velocity = momentum_update(d, state.velocity, self.momentum, self.nesterov)
        return update, velocity, evals, fields, ok

    def step(self, fun: ValueAndGrad, state: DescentState, /) -> DescentState:
        xp = array_namespace(state.x)
        host = backends.of(state.x).eager(state.x)
        k = state.nit
        update, velocity, evals, fields, ok = self._plan(fun, state)
        update = select(ok, update, xp.zeros_like(update), xp=xp, host=host)
        lr = schedule_value("lr", self.lr, k) + xp.zeros_like(state.f)

        def attempt(lr: Array) -> tuple[tuple[Array, Array, Array], Array]:
            x = self._clip(state.x - col(lr, xp=xp) * update)
            f, g = fun(x)
            f = as_value(f, x)
            return (x, f, g), finite_rows(f, g, xp=xp)

        (x, f, g), lr, landed, tries = halving_rows(
            attempt, lr, self.max_halvings, pending=ok, host=host
        )
        evals += tries
        stay = ~landed
        failure = xp.where(stay, codes(Status.NONFINITE, state.f), codes(RUNNING, state.f))
        culprit = xp.where(xp.isfinite(f), codes(2, f), codes(1, f))
        nonfinite = xp.where(~ok, codes(2, f), xp.where(stay, culprit, codes(0, f)))
        with backends.of(x).quiet():  # a step too long to measure is simply inf
            step_norm = lr * xp.sqrt(dot(update, update, xp=xp))
            if self.lower is not None:  # a face of the box may stop the step short
                step_norm = xp.sqrt(dot(x - state.x, x - state.x, xp=xp))
        return DescentState(
            x=select(stay, state.x, x, xp=xp, host=host),
            f=xp.where(stay, state.f, f),
            g=select(stay, state.g, g, xp=xp, host=host),
            nit=k + 1,
            step_norm=xp.where(stay, xp.zeros_like(step_norm), step_norm),
            failure=failure,
            lr=lr,
            velocity=velocity,
            evals=evals,
            nonfinite=xp.where(state.nonfinite == 0, nonfinite, state.nonfinite),
            **fields,
        )

    def advance(self, fun: ValueAndGrad, state: DescentState, /) -> DescentState:
        """One step that does not evaluate ``fun`` at the new point.

        For minibatch training, where the next batch evaluates it: ``f`` and ``g`` of
        the returned state are still those of ``state``. A non-finite direction is a
        failure; a non-finite landing shows at the next evaluation.
        """
        xp = array_namespace(state.x)
        update, velocity, evals, fields, ok = self._plan(fun, state)
        lr = schedule_value("lr", self.lr, state.nit) + xp.zeros_like(state.f)
        failure = xp.where(ok, codes(RUNNING, state.f), codes(Status.NONFINITE, state.f))
        with backends.of(state.x).quiet():  # a step too long to measure is simply inf
            step_norm = lr * xp.sqrt(dot(update, update, xp=xp))
        return state._replace(
            x=select(ok, self._clip(state.x - col(lr, xp=xp) * update), state.x, xp=xp, host=False),
            nit=state.nit + 1,
            step_norm=xp.where(ok, step_norm, xp.zeros_like(step_norm)),
            failure=failure,
            lr=lr,
            velocity=velocity,
            evals=evals,
            **fields,
        )

    def norms(self, state: DescentState, /) -> tuple[Array, Array]:
        """``(|g|^2, |x|^2)`` per row; in a box, ``g`` is the projected gradient (the
        components that push against a face they rest on do not count), so that ``gtol``
        tests stationarity in the box."""
        xp = array_namespace(state.x)
        g = state.g
        if self.lower is not None and self.upper is not None:
            g = projected_gradient(state.x, g, self.lower, self.upper)
        return dot(g, g, xp=xp), dot(state.x, state.x, xp=xp)

    def _clip(self, x: Array) -> Array:
        """``x`` projected onto the box, if there is one."""
        if self.lower is None or self.upper is None:
            return x
        return clip(x, self.lower, self.upper)
