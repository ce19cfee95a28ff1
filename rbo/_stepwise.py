"""Step-wise (ask/tell) use of any solver, one objective per step: minibatch training.

:class:`Stepper` drives a solver's ``init`` / ``step`` by hand, the way
:func:`rbo.minimize` does in its loop, but takes the objective anew at every step:
``opt.step(value_and_grad)`` with the current minibatch's loss. Everything one step
evaluates -- the point it starts from, SAM's perturbed point, Entropy-SGD's Langevin
chain, every iteration of RBO's projection -- uses that one objective.

With ``minibatch=True`` (the default) each step first evaluates the current point on
its objective, since the value and gradient the state holds came from the previous
batch. Solvers that have an ``advance`` method (the first-order baselines) then move
without evaluating the new point, which the next batch evaluates anyway: SGD spends one
gradient per step, SAM two, Entropy-SGD ``L``, RBO one plus its projection's
iterations. With ``minibatch=False`` the objective must be the same at every step and
the stepper makes exactly :func:`rbo.minimize`'s steps and evaluations.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import backends
from ._arrays import Array, codes
from ._objective import Objective
from ._rolling_ball import RBO
from ._solver import Solver, single_failure
from ._status import Status
from ._validation import as_start, widened

__all__ = ["Incumbent", "RollingBall", "Stepper"]


class Incumbent(NamedTuple):
    """The lowest evaluated point so far: ``x``, its value ``fun`` and the step ``nit``
    it was evaluated at. With minibatches the values come from different batches."""

    x: Array
    fun: float
    nit: int


class Stepper:
    """Ask/tell driver of a solver: ``opt.step(value_and_grad)`` once per minibatch.

    Parameters
    ----------
    solver : solver
        A configured solver (:class:`rbo.RBO`, :class:`rbo.SGD`, :class:`rbo.SAM`,
        :class:`rbo.EntropySGD`, or any object with ``init`` / ``step`` /
        ``terminate``).
    x0 : array_like, shape (n,)
        Start, in any Array API namespace; kept in its namespace, dtype and device.
    minibatch : bool
        Each step's objective may differ from the last (default). The state's value and
        gradient are then re-evaluated on it before the step. False: the objective is
        the same at every step, and the steps and evaluation counts are exactly those
        of :func:`rbo.minimize`.

    Attributes
    ----------
    nfev, njev : int
        Calls of the objectives and gradients they returned, over all steps.

    Notes
    -----
    When the point the last step reached is not finite on the new batch, the step is
    redone from the point before it, on the new batch, with the solver's own ``step``
    (which halves the learning rate while it meets NaN or inf). A step that still fails
    sets :attr:`status`; later steps raise until :meth:`reset`.

    Examples
    --------
    >>> import numpy as np
    >>> import rbo
    >>> opt = rbo.Stepper(rbo.SGD(lr=0.5), np.array([2.0, -4.0]))
    >>> loss = opt.step(lambda x: (0.5 * x @ x, x))
    >>> float(loss), opt.x.tolist(), opt.nfev
    (10.0, [1.0, -2.0], 1)
    """

    def __init__(self, solver: Solver[Any], x0: Any, /, *, minibatch: bool = True) -> None:
        if isinstance(solver, type):
            # Its methods would be called unbound, the objective taken for self.
            raise TypeError(
                f"solver must be a configured solver; got the class {solver.__name__} "
                f"itself: pass an instance and the start, Stepper({solver.__name__}(...), x0)"
            )
        if not all(callable(getattr(solver, m, None)) for m in ("init", "step", "terminate")):
            raise TypeError(
                f"solver must have init, step and terminate methods; got {type(solver).__name__}"
            )
        if not isinstance(minibatch, bool):
            raise TypeError(f"minibatch must be a bool; got {minibatch!r}")
        if x0 is None:
            raise TypeError("x0 (the start) must be given: Stepper(solver, x0)")
        self.solver = solver
        self.minibatch = minibatch
        self._x0, self._narrow = widened(as_start(x0))
        self.reset()

    def reset(self, x0: Any = None) -> None:
        """Start again from ``x0`` (default: the last start): state, counts and best
        point are cleared."""
        if x0 is not None:
            self._x0, self._narrow = widened(as_start(x0))
        self._state: Any = None
        self._previous: Any = None  # the state the last move started from
        self._best: Incumbent | None = None
        self.nfev = 0
        self.njev = 0

    @property
    def state(self) -> Any:
        """The solver's state (None before the first step)."""
        return self._state

    @property
    def x(self) -> Array:
        """The current point (in the start's dtype)."""
        return self._given(self._x0 if self._state is None else self._state.x)

    @property
    def nit(self) -> int:
        """Steps made."""
        return 0 if self._state is None else self._state.nit

    @property
    def status(self) -> Status | None:
        """The failure that stopped the stepper, or None."""
        return None if self._state is None else single_failure(self.solver.terminate(self._state))

    @property
    def best(self) -> Incumbent | None:
        """The lowest evaluated point so far (None before the first step)."""
        b = self._best
        return None if b is None else b._replace(x=self._given(b.x))

    def _given(self, x: Array) -> Array:
        """``x`` in the start's dtype (a float16 start is stepped in float32)."""
        return x if self._narrow is None else array_namespace(x).astype(x, self._narrow)

    def step(self, value_and_grad: Any, /) -> Array:
        """One step on the objective ``value_and_grad(x) -> (f, grad f)``.

        Returns
        -------
        array
            The objective's value at the point the step started from (as PyTorch's
            ``optimizer.step(closure)`` returns the closure's loss).
        """
        if not callable(value_and_grad):
            raise TypeError(f"value_and_grad must be callable; got {type(value_and_grad).__name__}")
        failure = self.status
        if failure is not None:
            raise RuntimeError(f"the stepper has stopped: {failure.message} Call reset().")
        objective = Objective(
            value_and_grad, True, (), self._x0, call_dtype=self._narrow, name="value_and_grad"
        )
        # As rbo.minimize's loop: the step's own arithmetic quiet, value_and_grad (wrapped
        # by the objective) under the caller's error handling.
        try:
            with backends.of(self._x0).quiet():
                start, redo = self._start(objective)
                if single_failure(self.solver.terminate(start)) is not None:
                    self._state = start
                    return start.f
                # Only the descent methods can step without evaluating the new point.
                advance = getattr(self.solver, "advance", None)
                if self.minibatch and not redo and callable(advance):
                    state = advance(objective, start)
                else:
                    state = self.solver.step(objective, start)
                    if single_failure(self.solver.terminate(state)) is None:
                        self._track(state)
                self._previous, self._state = start, state
                return start.f
        finally:
            self.nfev += objective.nfev
            self.njev += objective.njev

    def _start(self, objective: Objective) -> tuple[Any, bool]:
        """The state to step from, its value and gradient taken on ``objective``, and
        whether the last step is being redone."""
        if self._state is None:
            state = self.solver.init(objective, self._x0)
            if not _finite(state):
                raise ValueError(f"value_and_grad(x0) must be finite; got {float(state.f)}")
            self._track(state)
            return state, False
        if not self.minibatch:
            return self._state, False
        state = self._evaluate(self._state, objective)
        if _finite(state):
            self._track(state)
            return state, False
        if self._previous is not None:
            redo = self._evaluate(self._previous, objective)
            if _finite(redo):
                return redo, True
        return state._replace(failure=codes(Status.NONFINITE, state.f)), False

    @staticmethod
    def _evaluate(state: Any, objective: Objective) -> Any:
        f, g = objective(state.x)
        return state._replace(f=f, g=g)

    def _track(self, state: Any) -> None:
        value = float(state.f)
        if self._best is None or value < self._best.fun:  # NaN compares false: never best
            self._best = Incumbent(state.x, value, state.nit)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.solver!r}, nit={self.nit}, nfev={self.nfev})"


def _finite(state: Any) -> bool:
    xp = array_namespace(state.x)
    return math.isfinite(float(state.f)) and bool(xp.all(xp.isfinite(state.g)))


class RollingBall(Stepper):
    """Step-wise Rolling Ball Optimizer: ``opt.step(value_and_grad)`` per minibatch.

    As the authors train, one minibatch serves the descent step and every iteration of
    its projection. A step costs one evaluation at the contact point plus the
    projection's iterations (``minibatch=False``: the projection's alone).

    Parameters
    ----------
    x0 : array_like, shape (n,)
        First contact point.
    radius, lr : float or callable
        Ball radius and learning rate, in the units of ``x`` (see :class:`rbo.RBO`).
    minibatch : bool
        See :class:`rbo.Stepper`.
    **options
        Other options of :class:`rbo.RBO` (``fscale``, ``projection``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> import rbo
    >>> fg = lambda x: (x @ x, 2 * x)
    >>> opt = rbo.RollingBall(np.array([1.0, -2.0]), radius=0.1, lr=0.2)
    >>> for _ in range(30):
    ...     _ = opt.step(fg)
    >>> bool(np.linalg.norm(opt.x) < 1e-6), float(opt.residual) < 1e-6
    (True, True)
    >>> cx, cy = opt.center  # the ball rests on the bowl's bottom
    >>> round(float(cy), 6)
    0.1
    """

    def __init__(
        self,
        x0: Any,
        /,
        radius: Any = 1.0,
        lr: Any = 0.1,
        *,
        minibatch: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(RBO(radius=radius, lr=lr, **options), x0, minibatch=minibatch)

    @property
    def center(self) -> tuple[Array, Array]:
        """The ball's centre ``(cx, cy)`` over the contact point."""
        self._require_state("center")
        return self._state.center

    @property
    def residual(self) -> Array:
        r"""The last projection's :math:`\|\nabla D\|` at the foot point."""
        self._require_state("residual")
        return self._state.residual

    def _require_state(self, name: str) -> None:
        if self._state is None:
            raise RuntimeError(f"{name} is known after the first step")
