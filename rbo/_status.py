"""Status codes of a run: one table of codes, success flags and messages."""

from __future__ import annotations

import enum

__all__ = ["Status", "nonfinite_details"]


class Status(enum.IntEnum):
    """Why a run ended, in the spirit of scipy's integer status codes.

    Each member carries its message and whether the run counts as a success.
    Only ``0`` (GTOL) is a success: the returned point meets the stated test
    :math:`\\|\nabla f\\| \\le` ``gtol`` (the projected gradient in a box). ``3`` (XTOL)
    and ``4`` (STAGNATION) mean the run came to rest without meeting it -- a ball resting
    on a ring above a minimum narrower than itself, a step rule that can shrink no more --
    and ``1`` and ``2`` that a budget ran out; ``5`` and ``6`` are
    failures of the method, ``7`` an exception raised by the objective, ``8`` a line
    search that found no descent (L-BFGS), ``9`` a run whose last point met ``gtol`` while
    the lower point it returns does not, ``10`` a rolling ball at rest where ``f`` is not
    stationary, and ``99`` a callback's ``StopIteration``.

    Examples
    --------
    >>> [s.name for s in Status if s.success]
    ['GTOL']
    """

    GTOL = 0
    MAXITER = 1
    MAXFEV = 2
    XTOL = 3
    STAGNATION = 4
    NONFINITE = 5
    PROJECTION_FAILED = 6
    ERROR = 7
    LINE_SEARCH_FAILED = 8
    NOT_STATIONARY = 9
    AT_REST = 10
    CALLBACK = 99

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def success(self) -> bool:
        return self is Status.GTOL


_MESSAGES = {
    Status.GTOL: "Optimization terminated successfully: gradient norm is below gtol.",
    Status.MAXITER: "Maximum number of iterations has been exceeded.",
    Status.MAXFEV: "Maximum number of function evaluations has been exceeded.",
    Status.XTOL: (
        "Stopped: the step size fell below xtol before the gradient norm reached gtol; "
        "the point is not a minimum within the stated tolerance."
    ),
    Status.STAGNATION: (
        "Stopped: the best value improved by less than ftol for `patience` iterations "
        "while the gradient norm stayed above gtol; the point is not a minimum within the "
        "stated tolerance (with method='rbo', keep polish=True or shrink the radius)."
    ),
    Status.NONFINITE: (
        "The objective returned NaN or inf and no step could be taken that avoided it; "
        "shorter steps were tried where a step was possible."
    ),
    Status.PROJECTION_FAILED: (
        "The projection onto the graph diverged; with projection='gd' this happens when "
        "proj_step * (1 + |grad f|^2) > 2: use projection='gauss-newton' or a smaller "
        "proj_step."
    ),
    Status.ERROR: "The objective raised an exception.",
    Status.LINE_SEARCH_FAILED: (
        "The line search found no point that lowers f, even along steepest descent after "
        "the memory was reset: the gradient may be inaccurate (try jac='3-point' or an "
        "analytic jac)."
    ),
    Status.NOT_STATIONARY: (
        "Stopped: the last point met gtol, but the lower point returned (found earlier) "
        "does not; it is not a minimum within the stated tolerance (run method='lbfgs' "
        "from it)."
    ),
    Status.AT_REST: (
        "Stopped: the ball came to rest where f, ironed at its radius, is flat; f itself "
        "is not stationary there (a minimum narrower than the ball, or wrinkles under it): "
        "keep polish=True, or shrink the radius."
    ),
    Status.CALLBACK: "`callback` raised `StopIteration`.",
}


_NONFINITE_DETAILS = {1: "the value f was NaN or inf", 2: "the gradient was NaN or inf"}


def nonfinite_details(which: object) -> list[str]:
    """Per row, what a code of a solver's ``nonfinite`` field says was not finite: 0
    nothing (``""``), 1 the value, 2 the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> nonfinite_details(np.array([0, 2]))
    ['', 'the gradient was NaN or inf']
    """
    import array_api_compat

    xp = array_api_compat.array_namespace(which)
    flat = xp.reshape(which, (-1,))
    return [_NONFINITE_DETAILS.get(int(flat[i]), "") for i in range(flat.shape[0])]
