"""The protocol every iterative method of rbo follows, and the pieces they share.

A solver is an immutable configuration with four methods:

- ``init(fun, x0) -> state`` evaluates ``fun`` at ``x0`` and builds the first state;
- ``step(fun, state) -> state`` makes one iteration, evaluating ``fun`` wherever it needs
  (RBO's projection, SAM's perturbed point, Entropy-SGD's inner chain);
- ``terminate(state) -> codes`` reports, per row, a failure of the method itself: an
  int32 array of :class:`~rbo.Status` codes, :data:`RUNNING` (-1) where none;
- ``postprocess(state) -> dict`` gives the extra fields of the result (RBO's
  ``proj_residual``); with ``intermediate=True``, those of a callback's
  ``intermediate_result``.

and declares what a loop may rely on (:class:`SolverBase` holds the defaults):

- ``check_every``: on a device, how many steps a loop makes between two reads of its
  flags;
- ``masks_rows``: ``step(fun, state, active=mask)`` leaves the rows outside ``mask`` as
  they are, so the loop need not put stopped rows back itself;
- ``norms(state)``: ``(|g|^2, |x|^2)`` per row if the state keeps them, else None (the
  stopping tests then form them);
- ``retrying(state)``: per row, whether the last step stayed put to retry (with a
  smaller learning rate), so that its zero step is no convergence for the ``xtol`` test
  (None: never);
- ``explain(state)``: per row, what was NaN or inf, appended to the NONFINITE message;
- ``trace(state)``: extra per-state arrays stacked into ``res.trajectory``.

``fun`` maps ``x`` to ``(f(x), grad f(x))`` (:data:`ValueAndGrad`). States are
``NamedTuple`` s that share the fields of :class:`StateFields`. A single run is one row
of 0-d arrays. :func:`rbo.minimize` is a plain loop over this protocol, and the step-wise
classes drive the same methods one batch at a time.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from array_api_compat import array_namespace

from ._arrays import Array, codes
from ._status import Status, nonfinite_details

__all__ = [
    "RUNNING",
    "Schedule",
    "Solver",
    "SolverBase",
    "StateFields",
    "ValueAndGrad",
    "check_positive",
    "failure_codes",
    "option_names",
    "schedule_value",
    "single_failure",
]

ValueAndGrad = Callable[[Array], tuple[Array, Array]]
Schedule = float | Callable[[int], float]

RUNNING = -1  # per-row status code of a row that has not stopped (nor failed)

S = TypeVar("S")


@runtime_checkable
class StateFields(Protocol):
    """Fields every solver state has, so that loops and results treat all alike."""

    x: Array  # current point
    f: Array  # f(x)
    g: Array  # grad f(x)
    nit: int  # iterations made
    step_norm: Array  # |x - previous x|
    failure: Array  # per row: Status code of the method's failure, RUNNING where none


class Solver(Protocol[S]):
    """An iterative minimiser driven by ``init`` / ``step`` / ``terminate`` /
    ``postprocess``, with the capabilities of :class:`SolverBase`."""

    @property
    def check_every(self) -> int:
        """On a device, steps between two reads of the loop's flags."""
        ...

    @property
    def masks_rows(self) -> bool:
        """Whether ``step`` takes ``active=`` and leaves the other rows as they are."""
        ...

    def init(self, fun: ValueAndGrad, x0: Array, /) -> S: ...

    def step(self, fun: ValueAndGrad, state: S, /) -> S: ...

    def terminate(self, state: S, /) -> Array: ...

    def postprocess(self, state: S, /, *, intermediate: bool = False) -> dict[str, Any]: ...


class SolverBase:
    """Defaults of the protocol's capabilities; solvers inherit them and override.

    A solver with ``masks_rows = True`` takes ``step(fun, state, active=mask)``.
    """

    check_every: ClassVar[int] = 4
    masks_rows: ClassVar[bool] = False

    def terminate(self, state: Any, /) -> Array:
        """Per-row Status codes of the method's failures (``state.failure``)."""
        return state.failure

    def postprocess(self, state: Any, /, *, intermediate: bool = False) -> dict[str, Any]:
        """Extra fields of the result (or of an ``intermediate_result``): none."""
        return {}

    def norms(self, state: Any, /) -> tuple[Array, Array] | None:
        """``(|g|^2, |x|^2)`` per row when the state keeps them; None: not kept."""
        return None

    def retrying(self, state: Any, /) -> Array | None:
        """Per row, whether the last step stayed put to retry; None: never."""
        return None

    def explain(self, state: Any, /) -> list[str]:
        """Per row, what was found NaN or inf (``""``: nothing to add)."""
        nonfinite = getattr(state, "nonfinite", None)
        return (
            [""] * int(math.prod(state.f.shape))
            if nonfinite is None
            else (nonfinite_details(nonfinite))
        )

    def trace(self, state: Any, /) -> dict[str, Array]:
        """Extra arrays of ``state`` to stack into ``res.trajectory``: none."""
        return {}


def failure_codes(verdict: Any, like: Array) -> Array:
    """``terminate``'s verdict as per-row int32 codes shaped like ``like``: an array of
    codes as it is, a :class:`Status` for every row, None for none (``RUNNING``)."""
    if verdict is None:
        return codes(RUNNING, like)
    if isinstance(verdict, Status):
        return codes(int(verdict), like)
    return verdict


def single_failure(verdict: Any) -> Status | None:
    """The failure of a single run (one row) from ``terminate``'s verdict, or None."""
    if verdict is None or isinstance(verdict, Status):
        return verdict
    xp = array_namespace(verdict)
    code = int(xp.reshape(verdict, (-1,))[0])
    return None if code == RUNNING else Status(code)


def option_names(factory: Any) -> frozenset[str] | None:
    """The keyword options a solver class takes (its dataclass fields); None when it is
    not a dataclass and they cannot be listed.

    Examples
    --------
    >>> from rbo import SGD
    >>> {"lr", "momentum", "nesterov"} <= option_names(SGD)
    True
    """
    if not (isinstance(factory, type) and dataclasses.is_dataclass(factory)):
        return None
    return frozenset(f.name for f in dataclasses.fields(factory) if f.init)


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
