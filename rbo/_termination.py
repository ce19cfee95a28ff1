"""Stopping tests shared by every method, and the bookkeeping of the runs they stop.

The tests are pure functions of a state. :class:`Rows` keeps, per row, the best point,
the progress and the status of a batch of independent runs (a single run is one row):
everything it holds is an array updated with ``where``, so that on a device the loop
reads a single flag back (:meth:`Rows.running`) only every few steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import device as device_of

from ._arrays import Array, codes, dot, namespace, select
from ._solver import RUNNING, StateFields, failure_codes
from ._status import Status

__all__ = ["RUNNING", "Rows", "ScalarRow", "Tolerances", "gradient_small", "rows_for", "step_small"]


@dataclass(frozen=True)
class Tolerances:
    """When a run may stop.

    ``gtol = 0`` still stops at an exactly zero gradient (a negative ``gtol`` turns the
    test off); ``xtol`` and ``ftol`` are off at 0, ``patience`` at None.
    """

    gtol: float = 1e-6  # |grad f| <= gtol
    xtol: float = 1e-10  # |step| <= xtol * (1 + |x|)
    ftol: float = 1e-10  # improvement of the best value that resets `patience`
    patience: int | None = 100  # iterations without such an improvement before stopping


def gradient_small(state: StateFields, tol: Tolerances, xp: Any, gg: Array | None = None) -> Array:
    """Per row: ``|grad f| <= gtol`` (``gg``: ``|grad f|^2`` if known)."""
    if gg is None:
        gg = dot(state.g, state.g, xp=xp)
    return xp.sqrt(gg) <= tol.gtol


def step_small(state: StateFields, tol: Tolerances, xp: Any, xx: Array | None = None) -> Array:
    """Per row: the last step moved less than ``xtol * (1 + |x|)`` (``xx``: ``|x|^2`` if
    known)."""
    if xx is None:
        xx = dot(state.x, state.x, xp=xp)
    return state.step_norm <= tol.xtol * (1.0 + xp.sqrt(xx))


class Rows:
    """Best point, progress and status of every row, kept on the rows' device.

    A row's status is :data:`RUNNING` until a test holds for it (or the method reports it
    failed), and from then on the row is frozen: its best point and counts no longer
    change. ``nit`` counts the steps each row made while running. Only a finite value can
    become best; ``stale`` counts the steps since the best value last improved by more
    than ``ftol`` (relative, floored at 1). A single run is one row of 0-d arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(x=np.zeros((2, 1)), f=np.array([1.0, 2.0]),
    ...                     g=np.array([[0.0], [1.0]]), nit=0, step_norm=np.zeros(2))
    >>> rows = Rows(s, Tolerances(), host=True)
    >>> rows.check(s)
    >>> rows.status.tolist(), rows.running()
    ([0, -1], True)
    """

    def __init__(self, state: StateFields, tol: Tolerances, *, host: bool) -> None:
        xp = namespace(state.x)
        self.xp, self.tol, self.host = xp, tol, host
        self.x, self.f, self.g = state.x, state.f, state.g
        self.best_nit = codes(0, state.f)
        self.nit = codes(0, state.f)
        self.stale = codes(0, state.f)
        self.anchor = state.f
        self.status = codes(RUNNING, state.f)

    @property
    def active(self) -> Array:
        """Per row: still running."""
        return self.status == RUNNING

    def running(self) -> bool:
        """Whether any row still runs: the one value the loop reads back."""
        return bool(self.xp.any(self.active))

    def tag(self) -> Any:
        """What the objective records as the step of the points the next step evaluates."""
        return self.nit + 1

    def update(self, state: StateFields, failure: Any) -> None:
        """Account for a step: ``failure`` is the method's verdict (per-row Status codes,
        ``RUNNING`` where none; a :class:`Status` for every row; None for none)."""
        xp = self.xp
        failure = failure_codes(failure, state.f)
        run = self.active
        # A step that failed was not made; one that brought the ball to rest was.
        made = (failure == RUNNING) | (failure == int(Status.AT_REST))
        self.nit = xp.where(run & made, self.nit + 1, self.nit)
        self.status = xp.where(run, failure, self.status)
        run = self.active
        better = run & (state.f < self.f)  # NaN compares false: never best
        self.x = select(better, state.x, self.x, xp=xp, host=self.host)
        self.g = select(better, state.g, self.g, xp=xp, host=self.host)
        self.f = xp.where(better, state.f, self.f)
        self.best_nit = xp.where(better, self.nit, self.best_nit)
        floor = self.tol.ftol * xp.maximum(xp.abs(self.anchor), xp.ones_like(self.anchor))
        progress = (self.anchor - self.f) > floor
        self.anchor = xp.where(run & progress, self.f, self.anchor)
        stale = xp.where(progress, xp.zeros_like(self.stale), self.stale + 1)
        self.stale = xp.where(run, stale, self.stale)

    def check(
        self,
        state: StateFields,
        norms: tuple[Array, Array] | None = None,
        retrying: Array | None = None,
    ) -> None:
        """Stop the rows for which a test holds (the first that holds names the status).

        ``norms``: ``(|g|^2, |x|^2)`` per row, if the state keeps them (either may be
        None: not kept); ``retrying``: per row, the method stayed put to retry its step (so
        a zero step is no convergence).
        """
        xp, tol = self.xp, self.tol
        gg, xx = (None, None) if norms is None else norms
        tests = []
        if tol.gtol >= 0:
            tests.append((gradient_small(state, tol, xp, gg), Status.GTOL))
        if state.nit > 0 and tol.xtol > 0:
            small = step_small(state, tol, xp, xx)
            tests.append((small if retrying is None else small & ~retrying, Status.XTOL))
        if tol.patience is not None:
            tests.append((self.stale >= tol.patience, Status.STAGNATION))
        run = self.active
        for holds, status in reversed(tests):  # the first test that holds wins: apply it last
            self.status = xp.where(run & holds, self._code(status), self.status)

    def finish(self) -> None:
        """Make the fields arrays for the result (they are already)."""

    def stop(self, status: Status, *, every_row: bool = False) -> None:
        """Give every running row ``status`` (a budget ran out, or the run was stopped);
        with ``every_row``, the rows that had stopped too (an error ended the batch)."""
        if every_row:
            self.status = self.xp.full_like(self.status, int(status))
            return
        self.status = self.xp.where(self.active, self._code(status), self.status)

    def refuse(self, holds: Array, status: Status) -> None:
        """Give the running rows for which ``holds`` is true ``status``."""
        self.status = self.xp.where(self.active & holds, self._code(status), self.status)

    def _code(self, status: Status) -> Array:
        return codes(int(status), self.status)


class ScalarRow(Rows):
    """:class:`Rows` for a single float64 run on the host, kept in Python numbers.

    Every test and update is the same IEEE double arithmetic as the array version's on
    0-d float64 arrays, so the run stops at the same step with the same status; the
    loop's bookkeeping then costs no array operations. :meth:`finish` turns the fields
    into the 0-d arrays the result is built from.
    """

    def __init__(
        self,
        state: StateFields,
        tol: Tolerances,
        *,
        host: bool,
    ) -> None:
        self.xp, self.tol, self.host = namespace(state.x), tol, host
        self.x, self.f, self.g = state.x, state.f, state.g
        self.best = float(state.f)
        self.best_nit = 0
        self.nit = 0
        self.stale = 0
        self.anchor = self.best
        self.status = RUNNING
        self.finished = False

    @property
    def active(self) -> Any:
        """Still running (a Python bool)."""
        return self.status == RUNNING

    def running(self) -> bool:
        return self.status == RUNNING

    def update(self, state: StateFields, failure: Any) -> None:
        code = RUNNING if failure is None else int(failure)  # a Status or a 0-d code
        run = self.status == RUNNING
        if run:
            if code == RUNNING or code == int(Status.AT_REST):
                self.nit += 1
            self.status = code
            run = code == RUNNING
        f = float(state.f)
        if run and f < self.best:  # NaN compares false: never best
            self.x, self.f, self.g = state.x, state.f, state.g
            self.best = f
            self.best_nit = self.nit
        anchor = self.anchor
        floor = self.tol.ftol * _at_least_one(abs(anchor))
        progress = (anchor - self.best) > floor
        if run:
            if progress:
                self.anchor = self.best
                self.stale = 0
            else:
                self.stale += 1

    def check(
        self,
        state: StateFields,
        norms: tuple[Array, Array] | None = None,
        retrying: Array | None = None,
    ) -> None:
        if self.status != RUNNING:
            return
        tol = self.tol
        gg, xx = (None, None) if norms is None else norms
        if tol.gtol >= 0:
            if gg is None:
                gg = state.g @ state.g  # the sum of dot's vecdot
            if math.sqrt(float(gg)) <= tol.gtol:  # sqrt(NaN) is NaN: no test holds
                self.status = int(Status.GTOL)
                return
        if state.nit > 0 and tol.xtol > 0 and not (retrying is not None and bool(retrying)):
            if xx is None:
                xx = state.x @ state.x
            if float(state.step_norm) <= tol.xtol * (1.0 + math.sqrt(float(xx))):
                self.status = int(Status.XTOL)
                return
        if tol.patience is not None and self.stale >= tol.patience:
            self.status = int(Status.STAGNATION)

    def stop(self, status: Status, *, every_row: bool = False) -> None:
        if every_row or self.status == RUNNING:
            self.status = int(status)

    def refuse(self, holds: Array, status: Status) -> None:
        if self.status == RUNNING and bool(holds):
            self.status = int(status)

    def finish(self) -> None:
        """The fields as 0-d arrays, as :class:`Rows` holds them (for the result)."""
        if self.finished:
            return
        self.finished = True
        like = self.f
        self.status = codes(self.status, like)
        self.nit = codes(self.nit, like)
        self.best_nit = codes(self.best_nit, like)
        self.stale = codes(self.stale, like)
        self.anchor = self.xp.asarray(self.anchor, dtype=like.dtype, device=device_of(like))


def _at_least_one(a: float) -> float:
    """``maximum(a, 1)`` as NumPy takes it (NaN stays NaN)."""
    return a if (a >= 1.0 or a != a) else 1.0


def rows_for(
    state: StateFields,
    tol: Tolerances,
    *,
    host: bool,
) -> Rows:
    """The bookkeeping of a run: :class:`ScalarRow` for a single float64 row on the host,
    else :class:`Rows`."""
    xp = namespace(state.x)
    if host and state.f.ndim == 0 and state.x.dtype == xp.float64:
        return ScalarRow(state, tol, host=host)
    return Rows(state, tol, host=host)
