"""The one rule every benchmarked method obeys: a counted, capped objective that keeps its best.

Every method sees the problem only through :class:`Counted`. One evaluation is one point at
which the value (and, for gradient methods, the gradient with it) is computed; asking again
for the gradient at the point just evaluated is free, so a method that calls ``fun`` and
``jac`` separately pays what one calling ``fun_and_jac`` pays. When the budget is spent the
next new point raises :class:`BudgetExhausted`, which the harness catches: no method can
overrun it, however loosely it honours its own ``maxfun``. The best point is recorded here,
for every method alike, so what a method returns at the end does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np  # the harness feeds scipy's optimizers, which are NumPy-only

__all__ = ["BudgetExhausted", "Counted"]


class BudgetExhausted(Exception):
    """Raised by :class:`Counted` when a method asks for one evaluation past the budget."""


class Counted:
    """An objective ``x -> (f, g)`` wrapped to count, cap and remember its best point.

    Parameters
    ----------
    value_and_grad : callable
        ``x -> (f, g)`` on NumPy arrays of shape ``(n,)``.
    budget : int
        Evaluations allowed.
    reached : callable, optional
        ``(x, f) -> bool``: whether a point counts as a success. Evaluated at every new
        best point, so that the success of the best-so-far point is known at every
        evaluation count (the success-against-evaluations curve).

    Attributes
    ----------
    nfev : int
        Evaluations made.
    best_x, best_f : ndarray or None, float
        Best point seen and its value (``inf`` before any finite value).
    trace : list of (int, bool)
        ``(nfev, success)`` each time the success of the best point changed.
    result : object or None
        What the method returned, where the harness keeps it (rbo's result); None when the
        budget stopped the method.

    Examples
    --------
    >>> import numpy as np
    >>> c = Counted(lambda x: (float(x @ x), 2 * x), budget=2)
    >>> c.value(np.array([1.0])), c.grad(np.array([1.0])), c.nfev  # one point, one count
    (1.0, array([2.]), 1)
    >>> c.value(np.array([0.5]))
    0.25
    >>> try:
    ...     c.value(np.array([0.0]))
    ... except BudgetExhausted:
    ...     print("budget spent; best", c.best_f, "after", c.nfev)
    budget spent; best 0.25 after 2
    """

    def __init__(
        self,
        value_and_grad: Callable[[Any], tuple[Any, Any]],
        budget: int,
        reached: Callable[[Any, float], bool] | None = None,
    ) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be a positive integer; got {budget!r}")
        self._fg = value_and_grad
        self.budget = budget
        self._reached = reached
        self.nfev = 0
        self.best_x: Any = None
        self.best_f = math.inf
        self.trace: list[tuple[int, bool]] = []
        self.result: Any = None
        self._last_x: Any = None
        self._last: tuple[float, Any] = (math.nan, None)

    def value_and_grad(self, x: Any) -> tuple[float, Any]:
        """``(f(x), grad f(x))``, counted once per new point."""
        x = np.asarray(x, dtype=float)
        if self._last_x is not None and np.array_equal(x, self._last_x):
            return self._last
        if self.nfev >= self.budget:
            raise BudgetExhausted(f"evaluation budget of {self.budget} spent")
        self.nfev += 1
        f, g = self._fg(x)
        f = float(f)
        g = np.asarray(g, dtype=float)
        self._last_x, self._last = x.copy(), (f, g)
        if f < self.best_f:  # NaN compares false: never best
            self.best_f, self.best_x = f, x.copy()
            if self._reached is not None:
                success = bool(self._reached(x, f))
                if not self.trace or self.trace[-1][1] != success:
                    self.trace.append((self.nfev, success))
        return self._last

    def value(self, x: Any) -> float:
        """``f(x)``; the gradient is computed with it and kept for :meth:`grad`."""
        return self.value_and_grad(x)[0]

    def grad(self, x: Any) -> Any:
        """``grad f(x)``; free right after :meth:`value` at the same point."""
        return self.value_and_grad(x)[1]
