"""``rbo.multistart``: a global search of a box under one budget.

By default (``schedule="basin"``) it hops from basin to basin: rounds of L-BFGS runs in
the box, each from a random step away from the best point found so far, the steps
growing while they find nothing lower. The other schedules drop balls in the box and
roll them by :func:`rbo.minimize` in rounds of a few steps each. Between rounds, balls
that have stalled, left the box or rolled into a basin that a better ball already holds
are dropped, and the budget they did not use goes to new balls (where the ``schedule``
puts them). What is left at the end polishes the best points found with L-BFGS inside
the box. The total number of calls of ``fun`` never exceeds ``maxfev``, and ``fun`` is
never called outside the box.

The runs of a round go one after the other in this process, as the rows of one batch
(``vectorized=True``), or fanned out over ``workers``: a process pool, any map-like
callable (``multiprocessing.Pool.map``, ``ThreadPoolExecutor.map``, ...) or a
``dask.distributed.Client``. Every random number is drawn on the host from ``rng``
between rounds and every decision depends only on the results of whole rounds, so the
same ``rng`` gives the same result whatever runs the balls."""

from __future__ import annotations

import atexit
import math
import numbers
import os
import pickle
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import Bounds, OptimizeResult

from . import backends
from ._arrays import default_float, eps
from ._bounds import supports_bounds
from ._minimize import minimize
from ._status import Status
from ._validation import check_count

__all__ = ["SCHEDULES", "multistart"]

#: Where :func:`multistart` puts the ball that takes over a dropped ball's budget.
SCHEDULES = ("basin", "basin-roll", "restart", "hop", "radius")

# The hops of the "basin" schedule, in widths of the box: the first, its growth after a hop
# that found nothing lower, and the largest (past it, the next is the first again); and
# the steps of the ball of a ball hop.
_HOP_FIRST, _HOP_GROW, _HOP_LAST, _HOP_STEPS = 0.02, 1.5, 0.5, 10
# Runs of a round of "basin" and "basin-roll" (their default n_starts).
_BASIN_SLOTS = 4


_FD = ("2-point", "3-point")


def multistart(
    fun: Callable[..., Any],
    bounds: Sequence[tuple[float, float]] | Bounds,
    n_starts: int | None = None,
    *,
    args: Any = (),
    jac: Callable[..., Any] | str | bool | None = None,
    maxfev: int | None = None,
    rng: Any = None,
    schedule: str = "basin",
    radius: float | None = None,
    polish_fraction: float = 0.2,
    segment: int | None = None,
    basin_tol: float = 0.01,
    backend: str | backends.Backend | None = None,
    dtype: Any = None,
    vectorized: bool = False,
    workers: Any = 1,
    retries: int = 2,
    disp: bool = False,
    progress: bool = False,
    callback: Callable[[OptimizeResult], Any] | None = None,
    **kwargs: Any,
) -> OptimizeResult:
    r"""Search the box ``bounds`` for the global minimum of ``fun``: basin hopping from
    the best point found (default), or rolling balls.

    The search spends at most ``maxfev`` calls of ``fun`` in all and never calls it
    outside the box. ``schedule`` says how:

    ``"basin"`` (default)
        Basin hopping in rounds of ``n_starts`` runs (default 4), each an L-BFGS run in
        the box to a stationary point. The first round starts uniformly; after it, every
        run starts a hop away from the best point found so far: a normal step of
        ``size`` times the box's width in each coordinate (of every four slots, two step
        in all coordinates and two in one coordinate drawn at random; a step past a wall
        is mirrored back into the box). Each slot's ``size`` starts at 0.02; a run that
        lowers the slot's best value sets it back to 0.02, one that does not makes it
        1.5 times larger, and past 0.5 it starts again at 0.02: small hops while they
        find lower minima, larger ones as they stop doing so (as the growing ball of
        :func:`rbo.minimize`'s phases). A run that fails is recorded and the slot goes
        on. It rolls no ball: ``radius``, ``polish_fraction``, ``segment``,
        ``basin_tol`` and the balls' options (``**kwargs``) are refused with a
        ValueError naming them, rather than dropped.
    ``"basin-roll"``
        As ``"basin"``, but every other run first rolls a ball of radius (and ``lr``)
        ``size`` times the box's mean width for 10 steps from the hop's start (at most
        half the run's share of the budget), then polishes from the lowest point the
        ball touched. The balls' options apply; ``radius``, ``polish_fraction``,
        ``segment`` and ``basin_tol`` are refused.

    The other schedules keep ``n_starts`` balls rolling, in rounds of ``segment``
    calls per ball (each round one :func:`rbo.minimize` per ball, from where the ball
    stopped). After each round a ball is dropped when it

    - has stopped (converged, stagnated, or a failure: ``fun`` raised, or it pressed
      against the wall of the box until its learning rate had been halved
      ``max_halvings`` times),
    - has not lowered its best value in two rounds running, or
    - lies within ``basin_tol`` of the box's width (in every coordinate) of a point
      that a better ball holds or held;

    its slot and the budget it did not use go to a new ball, placed by ``schedule``:

    ``"restart"``
        Every other new ball starts near one of the three best points found so far
        (normal with standard deviation 5 % of the box's width); the others uniformly.
    ``"hop"``
        A ball that stopped or stalled in a basin is rolled on from its best point as
        a ball four times larger, for one round, to roll out of the basin (then at the
        normal radius again); other slots get a fresh uniform start.
    ``"radius"``
        Uniform starts; the slots' radii are spread from ``radius / 3`` to
        ``3 * radius``.

    With these, ``polish_fraction`` of the budget is kept for the end, when the best
    distinct points found are polished, best first, by ``rbo.minimize(...,
    method="lbfgs", bounds=bounds)``: the three best not polished yet, a third of the
    reserve each. A polish that converges early leaves its budget to another cycle of
    rolls (with the same share of what is left kept for its polish), until the budget
    is spent. The benchmark behind the default schedule is in ``docs/many-balls.md``:
    at a budget of ``1000 n`` evaluations, ``"basin"`` finds the global minimum in
    about twice as many runs as ``"restart"``.

    Parameters
    ----------
    fun, args
        As for :func:`rbo.minimize`. With process or Dask workers they must be
        picklable (Dask uses cloudpickle, so lambdas are fine there).
    bounds : sequence of (low, high) pairs, or scipy.optimize.Bounds
        The box, finite, one pair per coordinate.
    n_starts : int, optional
        Runs (balls) of a round, ``m``. Default: 4 for ``"basin"`` and
        ``"basin-roll"`` (with more workers than that, pass at least as many); for the
        others enough for the budget of the rolls to last four rounds,
        ``(1 - polish_fraction) * maxfev // (4 * segment)``, between 2 and 64 (13 balls
        for ``n = 2``, ``maxfev = 2000``; 18 for ``n = 10``, 10,000).
    jac : callable, True, None, '2-point' or '3-point'
        As for :func:`rbo.minimize`. Finite differences are taken here, inside the
        box (a step that would leave it goes the other way), and each of their calls
        counts in the budget: an evaluation costs ``n + 1`` calls (``2n + 1`` for
        ``'3-point'``).
    maxfev : int, optional
        Calls of ``fun`` allowed in all (with ``vectorized=True``, rows evaluated: a
        call on ``k`` rows counts ``k``); calls of a callable ``jac`` are counted in
        ``njev``, as by :func:`rbo.minimize`. Default ``1000 * n`` evaluations.
    rng : int, numpy.random.Generator or seed, optional
        Seed (a non-negative integer) or generator of the starts, as scipy's ``rng``:
        anything else ``numpy.random.default_rng`` takes (a ``SeedSequence``, a
        ``BitGenerator``, a sequence of ints) seeds a new generator.
    schedule : {"basin", "basin-roll", "restart", "hop", "radius"}
        How the search goes (above).
    radius : float, optional
        Radius of the balls (see :class:`rbo.RBO`); default 0.3 of the box's mean width.
        Unless given, RBO's ``lr`` is as much, ``max_step=1`` and ``proj_rtol=0.1``, as in
        the phases of :func:`rbo.minimize`.
    polish_fraction : float
        Share of ``maxfev`` kept for the final L-BFGS polish, in ``[0, 1)``.
    segment : int, optional
        Calls of ``fun`` per ball per round; default ``max(30, 10 (n + 1))``
        evaluations.
    basin_tol : float
        Two points closer than ``basin_tol`` times the box's width in every
        coordinate count as one basin.
    backend : str or rbo.backends.Backend, optional
        Where to run (default ``"numpy"``).
    dtype : optional
        Floating dtype of the starts, a dtype of the backend's namespace or its name
        (``"float32"``); default the namespace's default floating dtype.
    vectorized : bool
        Whether ``fun`` (and ``jac``) take all rows at once (``(k, n) -> (k,)``): the
        balls of a round of one radius then roll as the rows of one batch. Needs
        ``workers=1``.
    workers : int, map-like callable or dask.distributed.Client
        What runs the balls of a round: ``1`` (default) this process; an int ``k > 1``,
        a pool of ``k`` processes (started by the first search, kept for the next ones
        with as many workers, closed after five minutes unused); a callable
        ``workers(func, iterable)`` returning the results in order
        (``multiprocessing.Pool.map``, ``ThreadPoolExecutor.map``,
        ``client.get_executor().map``, ...); or a ``dask.distributed.Client``, to
        which a round's balls are submitted as one task per worker thread.
    retries : int
        How many times balls lost with their worker (a process pool broken by a dead
        process; for Dask, a task that failed outside ``fun``) are run again. The calls
        such a ball had made are lost with its worker and not counted: only there can
        the calls of ``fun`` exceed ``maxfev``.
    disp : bool
        Print a line per finished ball.
    progress : bool
        Show a tqdm progress bar over the budget with the best value so far (needs
        ``tqdm``).
    callback : callable, optional
        ``callback(intermediate_result)`` after each finished ball: an
        ``OptimizeResult`` with the best ``x`` and ``fun`` so far, ``best``, ``ball``
        (the index just finished), ``result`` (its result), ``n_done`` and ``nfev``.
        Raising ``StopIteration`` ends the search with the best so far, status 99.
    **kwargs
        Further options of the rolls, as for :func:`rbo.minimize` (``lr``,
        ``fscale``, ``method``, ...; ``maxiter`` caps each round's steps). ``"basin"``
        rolls no ball and does not use them; ``"basin-roll"`` sets the radius, ``lr``
        and ``maxiter`` of its balls itself and uses the others.

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac`` of the best point found (always inside the box), and
        ``status``, ``success``, ``message``, ``nit`` of the run that found it;
        ``best`` (its ball), ``nfev`` (calls of ``fun`` in all, at most ``maxfev``),
        ``njev``, ``n_balls``, ``starts`` (``(balls, n)``, where each ball started),
        ``polished`` (the balls polished), and ``runs``: per ball ``x``, ``fun``,
        ``jac``, ``nit``, ``status``, ``success``, ``message``, ``radius``, ``x_last``,
        ``fun_last``, ``nfev_all`` and ``njev_all`` (with ``"basin"``, a run's
        ``radius`` is its hop's size times the box's mean width, and ``radius`` for
        the first, uniform round). A ball whose ``fun`` raised has status 7, the error
        in its message and the best point it had reached; it does not end the search.

    Raises
    ------
    TypeError, ValueError
        For bad input, naming it, and for a ``fun`` that cannot be pickled for worker
        processes (by cloudpickle, for a Dask cluster).

    Examples
    --------
    >>> import rbo
    >>> from rbo.problems import rastrigin
    >>> calls = []
    >>> def f(x):
    ...     calls.append(x)
    ...     return rastrigin.value_and_grad(x)
    >>> res = rbo.multistart(f, [(-5.12, 5.12)] * 2, jac=True, maxfev=2000, rng=0)
    >>> len(calls) == res.nfev <= 2000, round(res.fun, 6)
    (True, 0.0)
    >>> res = rbo.multistart(f, [(-5.12, 5.12)] * 2, jac=True, maxfev=2000, rng=0,
    ...                      schedule="restart")
    >>> round(res.fun, 6)
    0.0
    """
    low, high = _box(bounds)
    n = len(low)
    if "x0" in kwargs or "vectorized" in kwargs:
        raise TypeError("multistart draws x0 itself; pass bounds and n_starts")
    if "seed" in kwargs:
        raise TypeError(
            "multistart takes rng= (a non-negative int or a numpy.random.Generator), not seed="
        )
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if jac is None or jac is False:
        jac = "2-point"
    if not (callable(jac) or jac is True or jac in _FD):
        raise ValueError(f"jac must be a callable, True, None, '2-point' or '3-point'; got {jac!r}")
    cost = 1 + n if jac == "2-point" else 1 + 2 * n if jac == "3-point" else 1
    maxfev = check_count("maxfev", maxfev, minimum=1, allow_none=True)
    if maxfev is None:
        maxfev = 1000 * n * cost
    if maxfev < 2 * cost:
        raise ValueError(
            f"maxfev must cover two evaluations (a start and one more), {2 * cost} calls "
            f"of fun with jac={jac!r} in {n} dimensions; got {maxfev}"
        )
    unused: list[str] = []
    if schedule in ("basin", "basin-roll"):
        # Said, not silently dropped: these shape the ball schedules only.
        unused = [
            name
            for name, value, default in (
                ("radius", radius, None),
                ("segment", segment, None),
                ("polish_fraction", polish_fraction, 0.2),
                ("basin_tol", basin_tol, 0.01),
            )
            if value is not default and value != default
        ]
        if schedule == "basin":
            unused += sorted(kwargs)  # the options of a ball, which "basin" never rolls
    segment = check_count("segment", segment, minimum=1, allow_none=True)
    if segment is None:
        segment = max(30, 10 * (n + 1)) * cost
    polish_fraction = _fraction("polish_fraction", polish_fraction, upper=1.0)
    basin_tol = _fraction("basin_tol", basin_tol, upper=math.inf)
    width = sum(h - lo for lo, h in zip(low, high, strict=True)) / n
    if radius is None:
        radius = 0.3 * width
    elif isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not radius > 0:
        raise ValueError(f"radius must be a positive number; got {radius!r}")
    if unused:
        raise ValueError(
            f"schedule={schedule!r} does not use {', '.join(unused)}: leave "
            f"{'it' if len(unused) == 1 else 'them'} out, or choose a schedule that "
            "rolls balls with them ('basin-roll' takes the balls' options; 'restart', "
            "'hop' and 'radius' take all of these)"
        )
    if str(kwargs.get("method", "rbo")).lower() == "rbo":
        # The ball of rbo.minimize's phases, in the box's units: a step of a radius at
        # most, rough foot points (benchmarks/global_search.py: 23 successes of 65
        # against 20 with RBO's fixed lr=0.1).
        for key, value in (("lr", 0.3 * width), ("max_step", 1.0), ("proj_rtol", 0.1)):
            kwargs.setdefault(key, value)
    if n_starts is None and schedule in ("basin", "basin-roll"):
        n_starts = _BASIN_SLOTS
    if n_starts is None:
        rolls = maxfev - int(polish_fraction * maxfev)
        n_starts = min(64, max(2, rolls // (4 * segment)))
    n_starts = int(check_count("n_starts", n_starts, minimum=1) or 1)  # never None here
    retries = check_count("retries", retries) or 0  # never None here
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    runner = _runner(workers)
    if vectorized and runner is not None:
        raise ValueError(
            "vectorized=True runs the balls as one batch in this process; "
            "use workers=1 or vectorized=False"
        )
    where = backends.get("numpy" if backend is None else backend)
    xp = where.namespace()
    dtype = _dtype(xp, dtype)
    generator = _generator(backends.get("numpy"), rng)
    task = _Task(fun, args, jac, where, low, high, vectorized)
    if runner is not None and runner[0] == "pool":
        _check_picklable(task, runner[1])
    bar = _bar(maxfev) if progress else None
    if runner is not None and runner[0] == "pool":
        runner = ("pool", _lease(runner[1]))  # nothing raises between here and the try
    elif runner is not None and runner[0] == "dask":
        runner = ("dask", _Fleet(runner[1], task))
    search = _Search(
        task=task, runner=runner, retries=retries, where=where, dtype=dtype,
        generator=generator, low=low, high=high, m=n_starts, budget=maxfev, cost=cost,
        segment=segment, reserve=int(polish_fraction * maxfev), radius=float(radius),
        schedule=schedule, basin_tol=basin_tol, options=kwargs,
        watch=_Watch(maxfev, disp, bar, callback),
    )  # fmt: skip
    try:
        search.run()
    except BaseException:
        if runner is not None and runner[0] == "pool":
            runner[1].close(cancel=True)  # a stop or an error: nothing more to wait for
        raise
    else:
        if runner is not None and runner[0] == "pool":
            _give_back(runner[1])
    finally:
        if runner is not None and runner[0] == "dask":
            runner[1].release()
        if search.watch.bar is not None:
            search.watch.bar.close()
    return search.result()


def _fraction(name: str, value: Any, *, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not (0.0 <= value < upper):
        raise ValueError(f"{name} must lie in [0, {upper:g}); got {value!r}")
    return float(value)


class _Task:
    """One ball's round (a roll, or the polish): what workers run.

    ``item`` is ``(kind, x0, options)``: ``kind`` ``"roll"`` or ``"polish"``, ``x0`` one
    point (a batch of rows when vectorized). A ball whose ``fun`` or ``jac`` raised, or
    whose start has no finite value, comes back as a result with status 7 or 5 (with
    the best point it had reached), so one failing ball does not end the search; any
    other error (bad options) propagates. The result's ``calls`` counts the calls of
    ``fun`` (rows evaluated, for a batch).
    """

    def __init__(
        self, fun: Any, args: Any, jac: Any, where: Any, low: Any, high: Any, vectorized: bool
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable; got {type(fun).__name__}")
        if not isinstance(args, tuple):
            args = (args,)
        # By name: a backend holds thread-local state, which does not pickle.
        self.fun, self.args, self.jac, self.backend = fun, args, jac, where.name
        self.low, self.high, self.vectorized = list(low), list(high), vectorized

    def __call__(self, item: tuple[str, Any, dict[str, Any]]) -> OptimizeResult:
        kind, x0, options = item
        where = backends.get(self.backend)
        boxed = _Boxed(self.fun, self.args, self.jac, self.low, self.high)
        bounds = list(zip(self.low, self.high, strict=True))
        try:
            if kind == "roll":
                res = _roll_ball(boxed, x0, where, bounds, self.vectorized, options)
            elif kind == "hop":
                res = _hop_ball(boxed, x0, where, bounds, self.vectorized, options)
            else:
                res = _polish_ball(boxed, x0, where, bounds, self.vectorized, options)
        except Exception as exc:
            nonfinite = isinstance(exc, ValueError) and str(exc).startswith("fun(x0) must be")
            if not (getattr(exc, "_rbo_in_fun", False) or nonfinite):
                raise
            res = _failed(x0, exc, getattr(exc, "rbo_result", None), where, nonfinite)
        res.calls = boxed.calls
        return res


def _roll_ball(
    fun: Any, x0: Any, where: Any, bounds: Any, vectorized: bool, options: dict[str, Any]
) -> OptimizeResult:
    """One round of one ball (of the rows of a batch): every roll of the search is this call.

    ``fun`` returns ``(f, g)`` and never calls the user's function outside the box.
    """
    options = dict(options)
    method = options.setdefault("method", "rbo")
    options.setdefault("polish", False)  # the search polishes the best balls itself
    if supports_bounds(method):
        options["bounds"] = bounds
    if not (isinstance(method, str) and method.lower() == "rbo"):
        options.pop("radius", None)  # the radius is RBO's: other methods have none
    return minimize(fun, x0, jac=True, vectorized=vectorized, backend=where, **options)


def _polish_ball(
    fun: Any, x0: Any, where: Any, bounds: Any, vectorized: bool, options: dict[str, Any]
) -> OptimizeResult:
    """L-BFGS inside the box from ``x0`` (each row), within ``options["maxfev"]``."""
    return minimize(
        fun, x0, jac=True, method="lbfgs", bounds=bounds, vectorized=vectorized,
        backend=where, **options,
    )  # fmt: skip


def _hop_ball(
    fun: Any, x0: Any, where: Any, bounds: Any, vectorized: bool, options: dict[str, Any]
) -> OptimizeResult:
    """A hop of the ``"basin"`` schedule: the ball rolled from ``x0`` with
    ``options["roll"]``, then L-BFGS in the box from the lowest point it touched (each
    row), within ``options["calls"]`` calls of ``fun`` in all (``options["cost"]`` per
    evaluation)."""
    roll = _roll_ball(fun, x0, where, bounds, vectorized, options["roll"])
    if vectorized:
        xp = array_namespace(roll.x)
        with where.quiet():
            lower = roll.fun_last <= roll.fun  # NaN (nothing finite) compares False
        start = xp.where(xp.expand_dims(lower, axis=-1), roll.x_last, roll.x)
    else:
        start = roll.x_last if float(roll.fun_last) <= float(roll.fun) else roll.x
    rows = x0.shape[0] if vectorized else 1
    # Each row's share of the calls left (a batch call evaluates every row).
    left = (options["calls"] * rows - fun.calls) // (options["cost"] * rows)
    if left < 1:
        roll.unpolished = True
        return roll
    res = _polish_ball(fun, start, where, bounds, vectorized, {"maxfev": left, "maxiter": left})
    res.nit = res.nit + roll.nit
    res.njev = int(res.njev) + int(roll.njev)
    return res


class _Boxed:
    """The user's ``fun`` (and ``jac``) as ``x -> (f, g)``, called only inside the box.

    A point outside the box gets NaN for its value and gradient without a call of
    ``fun``: RBO then stays where it is and halves its learning rate, so its contact
    points never leave the box. (A batch is evaluated at its rows clipped into the box,
    and the rows that were outside get NaN.) Finite differences step inside the box: a
    forward step that would leave it goes backward, a central one is cut at the wall.
    ``calls`` counts calls of ``fun``, a batch of ``k`` rows as ``k``; exceptions of
    ``fun`` and ``jac`` are marked as the objective's own.
    """

    def __init__(self, fun: Any, args: Any, jac: Any, low: Any, high: Any) -> None:
        self.fun, self.args, self.jac = fun, args, jac
        self.low, self.high = low, high
        self.calls = 0
        self._box: dict[tuple[str, str], tuple[Any, Any]] = {}

    def __call__(self, x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        lo, hi = self._bounds(x, xp)
        inside = xp.all((x >= lo) & (x <= hi), axis=-1)
        if x.ndim == 1:
            if bool(inside):
                return self._value_and_grad(x, xp, lo, hi)
            nan = xp.full_like(x, math.nan)
            return xp.asarray(math.nan, dtype=x.dtype, device=device_of(x)), nan
        if bool(xp.all(inside)):
            return self._value_and_grad(x, xp, lo, hi)
        f, g = self._value_and_grad(xp.minimum(xp.maximum(x, lo), hi), xp, lo, hi)
        f = xp.asarray(f, dtype=x.dtype, device=device_of(x))
        g = xp.asarray(g, dtype=x.dtype, device=device_of(x))
        f = xp.where(inside, f, xp.full_like(f, math.nan))
        g = xp.where(xp.expand_dims(inside, axis=-1), g, xp.full_like(g, math.nan))
        return f, g

    def _bounds(self, x: Any, xp: Any) -> tuple[Any, Any]:
        key = (str(x.dtype), str(device_of(x)))
        if key not in self._box:
            like = {"dtype": x.dtype, "device": device_of(x)}
            self._box[key] = (xp.asarray(self.low, **like), xp.asarray(self.high, **like))
        return self._box[key]

    def _call(self, what: Any, x: Any) -> Any:
        self.calls += 1 if x.ndim == 1 else x.shape[0]
        try:
            return what(x, *self.args)
        except Exception as exc:
            exc._rbo_in_fun = True  # type: ignore[attr-defined]
            raise

    def _value_and_grad(self, x: Any, xp: Any, lo: Any, hi: Any) -> tuple[Any, Any]:
        jac = self.jac
        if jac is True:
            return self._call(self.fun, x)
        f = self._call(self.fun, x)
        if callable(jac):
            self.calls -= 1 if x.ndim == 1 else x.shape[0]  # jac's calls are njev's
            return f, self._call(jac, x)
        return f, self._differences(x, f, xp, lo, hi)

    def _differences(self, x: Any, f0: Any, xp: Any, lo: Any, hi: Any) -> Any:
        like = {"dtype": x.dtype, "device": device_of(x)}
        central = self.jac == "3-point"
        rel = eps(x, xp=xp) ** (1.0 / 3.0 if central else 0.5)
        one = xp.ones_like(x)
        h = rel * xp.where(xp.abs(x) > 1.0, xp.abs(x), one)
        index = xp.arange(x.shape[-1], device=device_of(x))
        quiet = backends.of(x).quiet
        with quiet():
            up = xp.minimum(x + h, hi)
            if central:
                down = xp.maximum(x - h, lo)
            else:
                # Forward, or backward where the forward step would leave the box.
                up = xp.where(x + h <= hi, up, xp.maximum(x - h, lo))
                down = x
            width = up - down
            # A coordinate the box holds fixed (zero width) has no slope to measure: 0.
            fixed = width == 0
            width = xp.where(fixed, xp.ones_like(width), width)
        fx = None if central else xp.asarray(f0, **like)
        columns = []
        for i in range(x.shape[-1]):
            axis = index == i
            fp = xp.asarray(self._value(xp.where(axis, up, x)), **like)
            fm = xp.asarray(self._value(xp.where(axis, down, x)), **like) if central else fx
            with quiet():
                column = (fp - fm) / width[..., i]
                columns.append(xp.where(fixed[..., i], xp.zeros_like(column), column))
        return xp.stack(columns, axis=-1)

    def _value(self, x: Any) -> Any:
        return self._call(self.fun, x)


def _failed(
    start: Any, exc: Exception, partial: Any, where: Any, nonfinite: bool = False
) -> OptimizeResult:
    """The result of a ball whose objective raised (status 7) or had no finite value at
    its start (status 5): what it had reached."""
    code = Status.NONFINITE if nonfinite else Status.ERROR
    message = f"{code.message} ({type(exc).__name__}: {exc})"
    xp = where.namespace()
    if partial is not None:
        batched = partial.x.ndim == 2
        k = partial.x.shape[0] if batched else 1
        partial.status = xp.full(k, int(code), dtype=xp.int32) if batched else int(code)
        partial.success = xp.zeros(k, dtype=xp.bool) if batched else False
        partial.message = [message] * k if batched else message
        if batched:
            partial.fun = xp.where(xp.isnan(partial.fun), math.inf, partial.fun)
        elif math.isnan(float(partial.fun)):  # nothing finite was seen: rank it last
            partial.fun = math.inf
        return partial
    # Nothing was evaluated that counts: the start is all there is.
    batched = start.ndim == 2
    k = start.shape[0] if batched else 1
    nan = xp.full_like(start, math.nan)
    inf = xp.full(k, math.inf, dtype=start.dtype) if batched else math.inf
    return OptimizeResult(
        x=start, fun=inf, jac=nan, nit=xp.zeros(k, dtype=xp.int32) if batched else 0,
        nfev=1, njev=0, status=xp.full(k, int(code), dtype=xp.int32) if batched else int(code),
        success=xp.zeros(k, dtype=xp.bool) if batched else False,
        message=[message] * k if batched else message, x_last=start, fun_last=inf,
    )  # fmt: skip


class _Watch:
    """Counts the budget; prints, updates the bar and calls back after each finished ball."""

    def __init__(self, budget: int, disp: bool, bar: Any, callback: Any) -> None:
        self.budget, self.disp, self.bar, self.callback = budget, disp, bar, callback
        self.stopped = False
        self.spent = 0
        self.n_done = 0
        self.best: _Ball | None = None

    def spend(self, calls: int, ball: _Ball) -> None:
        self.spent += calls
        if self.best is None or (ball.best_f, ball.index) < (self.best.best_f, self.best.index):
            self.best = ball
        if self.bar is not None:
            self.bar.update(calls)
            self.bar.set_postfix(best=f"{self.best.best_f:.6g}")

    def finished(self, ball: _Ball, search: Any, *, polish: bool = False) -> None:
        if self.stopped:  # the callback ended the search: nothing more is reported
            return
        self.n_done += 1
        if self.best is None or (ball.best_f, ball.index) < (self.best.best_f, self.best.index):
            self.best = ball
        best = self.best
        if self.disp:
            what = "polished" if polish else "done"
            print(
                f"multistart: ball {ball.index} {what} ({self.spent}/{self.budget} calls): "
                f"fun={ball.best_f:.6g}, status {int(ball.result.status)}; "
                f"best {best.best_f:.6g} (ball {best.index})"
            )
        if self.callback is None:
            return
        info = OptimizeResult(
            x=_point(best), fun=best.best_f, best=best.index, ball=ball.index,
            result=ball.result, n_done=self.n_done, nfev=self.spent,
        )  # fmt: skip
        try:
            self.callback(info)
        except StopIteration:
            self.stopped = True


@dataclass
class _Ball:
    """One ball of the search: where it is, the best it found and what it spent."""

    index: int
    slot: int
    start: Any
    x: Any
    radius: float
    hop: bool = False  # rolling this round at the large radius, out of a basin
    best_x: Any = None
    best_f: float = math.inf
    best_g: Any = None
    last_f: float = math.inf
    calls: int = 0
    njev: int = 0
    nit: int = 0
    idle: int = 0  # rounds in a row without a lower best value
    result: Any = None  # the last run's result (status, message)
    polished: bool = False


@dataclass
class _Search:
    """The rounds of a search, the decisions between them and the final polish."""

    task: _Task
    runner: Any
    retries: int
    where: Any
    dtype: Any
    generator: Any
    low: list[float]
    high: list[float]
    m: int
    budget: int
    cost: int
    segment: int
    reserve: int
    radius: float
    schedule: str
    basin_tol: float
    options: dict[str, Any]
    watch: _Watch
    balls: list[_Ball] = field(default_factory=list)
    spent: int = 0
    njev: int = 0
    held: list[tuple[list[float], float]] = field(default_factory=list)
    hopped: list[list[float]] = field(default_factory=list)
    polished: list[int] = field(default_factory=list)
    _toggle: int = 0

    # -- the search --------------------------------------------------------------------

    def run(self) -> None:
        """Cycles of rolls then a polish of the best new points, until the budget is spent.

        Each cycle keeps ``reserve`` (the same share of what is left) for its polish; a
        polish that converges early leaves its budget to the next cycle's rolls.
        """
        if self.schedule in ("basin", "basin-roll"):
            self._basins()
            return
        share = self.reserve / self.budget
        reserve = self.reserve
        if self.budget - reserve < 2 * self.cost:  # a tiny budget: all of it to one ball
            share, reserve = 0.0, 0
        while not self.watch.stopped:
            before = self.spent
            self._rolls(self.budget - reserve)
            if self.watch.stopped:
                return
            last = self.budget - self.spent - reserve < 4 * self.cost  # no room to roll
            if share > 0 or last:
                self._polish(self.budget if last else self.spent + reserve, everything=last)
            if self.spent == before or self.budget - self.spent < 2 * self.cost:
                return
            reserve = int(share * (self.budget - self.spent))

    def _basins(self) -> None:
        """The ``"basin"`` schedule: rounds of one L-BFGS-ended run per slot, each from a
        hop away from the best point found so far, until the budget is spent."""
        width = sum(h - lo for lo, h in zip(self.low, self.high, strict=True)) / len(self.low)
        sizes = [_HOP_FIRST] * self.m  # each slot's hop, in widths of the box
        own = [math.inf] * self.m  # the lowest value each slot's runs reached
        incumbent: _Ball | None = None
        while not self.watch.stopped:
            left = self.budget - self.spent
            count = min(self.m, left // (2 * self.cost))
            if count < 1:
                return
            per = left // count
            # Every random number of the round is drawn here, slot by slot, before it runs.
            plan: list[tuple[str, Any, float | None]] = []
            for slot in range(count):
                if incumbent is None or incumbent.best_x is None or not math.isfinite(own[slot]):
                    plan.append(("polish", self._uniform(), None))
                    continue
                # Of every four slots, two step in every coordinate and two in one (where
                # coordinates are nearly separable, one wrong coordinate is all a hop
                # must fix); with "basin-roll", every other one rolls a ball first.
                x = self._step(_host(incumbent.best_x), sizes[slot], one=slot % 4 >= 2)
                roll = self.schedule == "basin-roll" and slot % 2 == 1
                plan.append(("hop" if roll else "polish", x, sizes[slot]))
            balls = [
                self._new(slot, x=x, radius=self.radius if size is None else size * width)
                for slot, (_, x, size) in enumerate(plan)
            ]
            results = self._run_hops(plan, per)
            for slot, ball in enumerate(balls):
                self._update(ball, results[slot])
                if not results[slot].get("unpolished", False):
                    ball.polished = True
                    self.polished.append(ball.index)
                if ball.best_f < own[slot] and (
                    math.isinf(own[slot])
                    or own[slot] - ball.best_f > 1e-12 * max(1.0, abs(own[slot]))
                ):
                    own[slot], sizes[slot] = ball.best_f, _HOP_FIRST  # lower: hop near again
                elif plan[slot][2] is not None:  # nothing lower within this hop: go further
                    sizes[slot] *= _HOP_GROW
                    if sizes[slot] > _HOP_LAST:
                        sizes[slot] = _HOP_FIRST
                if ball.best_x is not None and (
                    incumbent is None or ball.best_f < incumbent.best_f
                ):
                    incumbent = ball
            for ball in balls:
                self._finish(ball)
            if self.spent == self.budget - left:  # nothing could be spent
                return

    def _run_hops(
        self, plan: list[tuple[str, Any, float | None]], per: int
    ) -> list[OptimizeResult]:
        """The runs of a round of ``"basin"``, each within ``per`` calls of ``fun``."""
        polish = {"maxfev": per // self.cost, "maxiter": per}
        width = sum(h - lo for lo, h in zip(self.low, self.high, strict=True)) / len(self.low)
        items: list[tuple[str, Any, dict[str, Any]]] = []
        for kind, x, size in plan:
            if kind == "polish":
                items.append(("polish", x, polish))
                continue
            assert size is not None
            # The ball of a hop is as large as the hop: it irons out what lies within it.
            roll: dict[str, Any] = {**self.options, "radius": size * width, "lr": size * width}
            roll["maxiter"] = _HOP_STEPS
            roll["maxfev"] = max(1, per // (2 * self.cost))
            items.append(("hop", x, {"roll": roll, "calls": per, "cost": self.cost}))
        if not self.task.vectorized:
            return [
                r
                for _, r in sorted(
                    _balls(self.runner, self.task, items, self.retries), key=lambda t: t[0]
                )
            ]
        # A batch per kind and ball size: the rows of each run together.
        groups: dict[tuple[str, float], list[int]] = {}
        for i, (kind, _, size) in enumerate(plan):
            key = (kind, size if kind == "hop" and size is not None else 0.0)
            groups.setdefault(key, []).append(i)
        xp = self.where.namespace()
        out: dict[int, OptimizeResult] = {}
        for rows in groups.values():
            kind, _, options = items[rows[0]]
            res = self.task((kind, xp.stack([items[i][1] for i in rows]), options))
            for j, i in enumerate(rows):
                out[i] = _row(res, j, len(rows))
                out[i].unpolished = bool(res.get("unpolished", False))
        return [out[i] for i in range(len(items))]

    def _rolls(self, limit: int) -> None:
        """Rounds of ``m`` balls (fewer, a round's worth each, when little budget is left)
        while each can have a start and a step within ``limit``."""
        count = min(self.m, max(1, (limit - self.spent) // self.segment))
        alive = [self._new(slot) for slot in range(count)]
        while alive and not self.watch.stopped:
            per = min(self.segment, (limit - self.spent) // len(alive))
            if per < 2 * self.cost:  # not even a start and one step each: stop rolling
                break
            before = self.spent
            self._round(alive, per)
            keep = self._survivors(alive)
            for ball in alive:
                if ball not in keep:
                    self._finish(ball)
            if self.spent == before:  # nothing could be spent: no round will do better
                break
            alive = keep + [self._replace(b, b.slot) for b in alive if b not in keep]
        for ball in alive:
            if ball.result is not None:
                self._finish(ball)
        # Balls drawn for a round that did not come: the last ones made, dropped unrun.
        self.balls = [b for b in self.balls if b.result is not None]

    def _new(self, slot: int, x: Any = None, radius: float | None = None) -> _Ball:
        if x is None:
            x = self._uniform()
        if radius is None:
            radius = self._slot_radius(slot)
        ball = _Ball(index=len(self.balls), slot=slot, start=x, x=x, radius=radius)
        self.balls.append(ball)
        return ball

    def _slot_radius(self, slot: int) -> float:
        if self.schedule != "radius" or self.m == 1:
            return self.radius
        return self.radius * 3.0 ** (2.0 * slot / (self.m - 1) - 1.0)

    def _replace(self, gone: _Ball, slot: int) -> _Ball:
        """The ball that takes over the slot of ``gone``, placed by the schedule."""
        if self.schedule == "hop" and self._hops(gone):
            assert gone.best_x is not None
            self.hopped.append(_host(gone.best_x))
            ball = self._new(slot, x=gone.best_x, radius=4.0 * self.radius)
            ball.hop = True
            return ball
        if self.schedule == "restart":
            self._toggle += 1
            elites = self._elites(3)
            if elites and self._toggle % 2 == 0:
                centre = elites[(self._toggle // 2) % len(elites)]
                return self._new(slot, x=self._near(centre))
        return self._new(slot)

    def _hops(self, gone: _Ball) -> bool:
        """Whether ``gone`` stopped in a basin worth rolling out of, not hopped before."""
        if gone.best_x is None or gone.result is None or self._failed(gone):
            return False
        here = _host(gone.best_x)
        return not any(self._same(here, p) for p in self.hopped)

    def _round(self, alive: list[_Ball], per: int) -> None:
        """Roll every ball of ``alive`` for at most ``per`` calls of ``fun``."""
        options = {"maxiter": per, **self.options}
        options["maxfev"] = per // self.cost
        if self.task.vectorized:
            groups: dict[float, list[_Ball]] = {}
            for ball in alive:
                groups.setdefault(ball.radius, []).append(ball)
            xp = self.where.namespace()
            for radius, group in groups.items():
                # A batch call evaluates every row once: per // cost calls cost each row
                # at most its share, per.
                x = xp.stack([b.x for b in group])
                res = self.task(("roll", x, {**options, "radius": radius}))
                for i, ball in enumerate(group):
                    self._update(ball, _row(res, i, len(group)))
            return
        items = [("roll", b.x, {**options, "radius": b.radius}) for b in alive]
        results = dict(_balls(self.runner, self.task, items, self.retries))
        for i, ball in enumerate(alive):
            self._update(ball, results[i])

    def _count(self, ball: _Ball, res: OptimizeResult) -> int:
        """What a run of ``ball`` spent, on the ball and on the search: its calls."""
        calls = int(res.calls)
        self.spent += calls
        self.njev += int(res.njev)
        ball.calls += calls
        ball.njev += int(res.njev)
        ball.nit += int(res.nit)
        return calls

    def _update(self, ball: _Ball, res: OptimizeResult) -> None:
        calls = self._count(ball, res)
        ball.result = res
        f = _key(float(res.fun))
        if f < ball.best_f:
            improved = ball.best_f - f > 1e-10 * max(1.0, abs(f))
            ball.best_x, ball.best_f, ball.best_g = res.x, f, res.jac
            ball.idle = 0 if improved else ball.idle + 1
        else:
            ball.idle += 1
        ball.x, ball.last_f = res.x_last, _key(float(res.fun_last))
        self.watch.spend(calls, ball)

    def _survivors(self, alive: list[_Ball]) -> list[_Ball]:
        """The balls that roll on: still moving, improving, in a basin of their own."""
        keep = []
        for ball in alive:
            status = int(ball.result.status)
            hop, ball.hop = ball.hop, False
            if hop:
                ball.radius = self.radius  # the hop is over: roll on at the normal size
            if status not in (int(Status.MAXITER), int(Status.MAXFEV)):
                continue  # stopped: converged, stagnated, pressed on the wall, failed
            if ball.idle >= 2 and not hop:
                continue
            keep.append(ball)
        # Basins: a ball within basin_tol of a point a better ball holds is dropped.
        out: list[_Ball] = []
        for ball in sorted(keep, key=lambda b: (b.best_f, b.index)):
            here = _host(ball.x)
            if any(self._same(here, p) and f <= ball.best_f for p, f in self.held):
                continue
            if any(self._same(here, _host(b.x)) for b in out):
                continue
            out.append(ball)
        return sorted(out, key=keep.index)

    def _finish(self, ball: _Ball) -> None:
        if ball.best_x is not None:
            self.held.append((_host(ball.best_x), ball.best_f))
        self.watch.finished(ball, self)

    def _failed(self, ball: _Ball) -> bool:
        return int(ball.result.status) in (int(Status.ERROR), int(Status.NONFINITE))

    # -- the polish --------------------------------------------------------------------

    def _polish(self, limit: int, *, everything: bool) -> None:
        """L-BFGS in the box from the best distinct points not polished yet, best first:
        the three best within ``limit``, or as many as it allows when ``everything``."""
        done = [_host(self.balls[i].best_x) for i in self.polished]
        order = sorted(
            (b for b in self.balls if b.best_x is not None and not b.polished),
            key=lambda b: (b.best_f, b.index),
        )
        distinct: list[_Ball] = []
        for ball in order:
            here = _host(ball.best_x)
            if not any(self._same(here, q) for q in done):
                done.append(here)
                distinct.append(ball)
        share = max(2 * self.cost, (limit - self.spent) // 3)
        while distinct and not self.watch.stopped:
            left = limit - self.spent
            k = min(len(distinct), 3, max(1, left // share))
            per = min(share, left // k)
            if per < 2 * self.cost:
                return
            group, distinct = distinct[:k], distinct[k:]
            options = {"maxfev": per // self.cost, "maxiter": per}
            if self.task.vectorized:
                xp = self.where.namespace()
                res = self.task(("polish", xp.stack([b.best_x for b in group]), options))
                results = {i: _row(res, i, k) for i in range(k)}
            else:
                items = [("polish", b.best_x, options) for b in group]
                results = dict(_balls(self.runner, self.task, items, self.retries))
            for i, ball in enumerate(group):
                res = results[i]
                calls = self._count(ball, res)
                ball.polished = True
                self.polished.append(ball.index)
                f = _key(float(res.fun))
                if f <= ball.best_f:
                    ball.best_x, ball.best_f, ball.best_g = res.x, f, res.jac
                    ball.result = res
                self.watch.spend(calls, ball)
                self.watch.finished(ball, self, polish=True)
                if self.watch.stopped:
                    return
            if not everything:
                return

    # -- geometry and randomness ---------------------------------------------------------

    def _same(self, a: list[float], b: list[float]) -> bool:
        tol = self.basin_tol
        return all(
            abs(p - q) <= tol * (h - lo)
            for p, q, lo, h in zip(a, b, self.low, self.high, strict=True)
        )

    def _elites(self, k: int) -> list[list[float]]:
        points = sorted(
            ((b.best_f, b.index, _host(b.best_x)) for b in self.balls if b.best_x is not None),
        )
        out: list[list[float]] = []
        for _, _, p in points:
            if not any(self._same(p, q) for q in out):
                out.append(p)
            if len(out) == k:
                break
        return out

    def _uniform(self) -> Any:
        host = backends.get("numpy")
        drawn = host.uniform(self.generator, self.low, self.high, (len(self.low),), dtype=None)
        return self._inside(drawn.tolist())

    def _near(self, centre: list[float]) -> Any:
        step = self.generator.normal(size=len(centre)).tolist()
        return self._inside(
            [
                c + 0.05 * (h - lo) * s
                for c, s, lo, h in zip(centre, step, self.low, self.high, strict=True)
            ]
        )

    def _step(self, centre: list[float], size: float, one: bool = False) -> Any:
        """A normal step from ``centre`` of ``size`` times the box's width per coordinate
        (in one coordinate drawn uniformly, with ``one``)."""
        step = self.generator.normal(size=len(centre)).tolist()
        if one:
            i = int(self.generator.integers(len(centre)))
            step = [s if j == i else 0.0 for j, s in enumerate(step)]
        return self._inside(
            [
                _reflect(c + size * (h - lo) * s, lo, h)
                for c, s, lo, h in zip(centre, step, self.low, self.high, strict=True)
            ]
        )

    def _inside(self, values: list[float]) -> Any:
        """``values`` as a point of the backend, clipped into the box in its dtype."""
        xp = self.where.namespace()
        x = self.where.asarray(values, dtype=self.dtype)
        lo = self.where.asarray(self.low, dtype=self.dtype)
        hi = self.where.asarray(self.high, dtype=self.dtype)
        return xp.minimum(xp.maximum(x, lo), hi)

    # -- the result ----------------------------------------------------------------------

    def result(self) -> OptimizeResult:
        xp = self.where.namespace()
        ran = [b for b in self.balls if b.result is not None]
        best = min(ran, key=lambda b: (b.best_f, b.index))
        if best.best_x is None:  # no finite value anywhere: the first start
            best.best_x = best.start
            best.best_g = xp.full_like(best.start, math.nan)
        stopped = self.watch.stopped
        status = Status.CALLBACK if stopped else Status(int(best.result.status))
        dev = device_of(best.start)

        def column(key: str, dtype: Any) -> Any:
            return xp.asarray([key_of(b, key) for b in ran], dtype=dtype, device=dev)

        runs = OptimizeResult(
            x=xp.stack([_point(b) for b in ran]),
            fun=column("fun", self.dtype),
            jac=xp.stack([_grad(b, xp) for b in ran]),
            nit=column("nit", xp.int32),
            status=column("status", xp.int32),
            success=column("success", xp.bool),
            message=[str(b.result.message) for b in ran],
            radius=[b.radius for b in ran],
            x_last=xp.stack([b.x for b in ran]),
            fun_last=column("fun_last", self.dtype),
            nfev_all=[b.calls for b in ran],
            njev_all=[b.njev for b in ran],
        )
        n_ran = len(ran)
        return OptimizeResult(
            x=best.best_x,
            fun=best.best_f,
            jac=best.best_g,
            nit=best.nit,
            status=int(status),
            success=bool(best.result.success) and not stopped,
            message=status.message if stopped else str(best.result.message),
            nfev=self.spent,
            njev=self.njev,
            best=ran.index(best),
            n_balls=n_ran,
            starts=xp.stack([b.start for b in ran]),
            polished=sorted(set(self.polished)),
            runs=runs,
            backend=self.where.name,
            device=str(dev),
        )


def _reflect(v: float, low: float, high: float) -> float:
    """``v`` folded into ``[low, high]`` by mirroring at the walls (a step clipped to the
    wall instead would pile up there and start runs in the walls' corners)."""
    if low <= v <= high:
        return v  # (unchanged: folding would round it)
    width = high - low
    u = (v - low) % (2.0 * width)
    return low + (u if u <= width else 2.0 * width - u)


def key_of(ball: _Ball, key: str) -> Any:
    """A per-ball field of ``runs``."""
    if key == "fun":
        return ball.best_f
    if key == "fun_last":
        return ball.last_f
    if key == "nit":
        return ball.nit
    if key == "status":
        return int(ball.result.status)
    return bool(ball.result.success)


def _point(ball: _Ball) -> Any:
    return ball.start if ball.best_x is None else ball.best_x


def _grad(ball: _Ball, xp: Any) -> Any:
    return xp.full_like(ball.start, math.nan) if ball.best_g is None else ball.best_g


def _host(x: Any) -> list[float]:
    """A point as Python floats, for the decisions between rounds."""
    return [float(v) for v in backends.to_host(x).tolist()]


def _row(res: OptimizeResult, i: int, k: int) -> OptimizeResult:
    """Row ``i`` of a batched result of ``k`` rows, as the result of one ball."""
    return OptimizeResult(
        x=res.x[i, ...], fun=float(res.fun[i]), jac=res.jac[i, ...], nit=int(res.nit[i]),
        status=int(res.status[i]), success=bool(res.success[i]), message=res.message[i],
        x_last=res.x_last[i, ...], fun_last=float(res.fun_last[i]),
        njev=int(res.njev),  # every batch gradient is a gradient of each row
        # Every call evaluates all k rows: each row's share, the remainder on row 0.
        calls=int(res.calls) // k + (int(res.calls) % k if i == 0 else 0),
    )  # fmt: skip


def _runner(workers: Any) -> Any:
    """``None`` (this process), ``("pool", k)``, ``("dask", client)`` or ``("map", f)``;
    the pool's processes are leased by :func:`_lease` when the search starts."""
    if _is_dask_client(workers):
        return ("dask", workers)
    if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
        k = int(workers)
        if k < 1:
            raise ValueError(f"workers must be >= 1; got {k}")
        return None if k == 1 else ("pool", k)
    if callable(workers):
        return ("map", workers)
    raise TypeError(
        "workers must be an int, a map-like callable workers(func, iterable) or a "
        f"dask.distributed.Client; got {type(workers).__name__}"
    )


def _is_dask_client(obj: Any) -> bool:
    kind = type(obj)
    return kind.__name__ == "Client" and kind.__module__.split(".")[0] == "distributed"


def _balls(
    runner: Any, ball: Any, items: list[Any], retries: int
) -> Iterator[tuple[int, OptimizeResult]]:
    """``(index, result)`` of each ball as it finishes (in any order)."""
    if runner is None:
        for i, item in enumerate(items):
            yield i, ball(item)
        return
    kind, how = runner
    if kind in ("pool", "dask"):
        # A round's runs go out as a few chunks: a run may take only milliseconds, and
        # each task costs the engine as much. Two per process balance the pool's rounds;
        # one per Dask thread, as each Dask task costs far more (benchmarks/worker_costs.py
        # times both).
        k = how.k if kind == "pool" else how.threads
        chunks = _chunks(len(items), 2 * k if kind == "pool" else k)
        groups = [[items[i] for i in chunk] for chunk in chunks]
        if kind == "pool":
            done = _pool(how, _Chunk(ball), groups, retries)
        else:
            done = _dask(how, groups, retries)
        for c, results in done:
            yield from zip(chunks[c], results, strict=True)
    else:
        try:
            yield from enumerate(how(ball, items))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            if "pickle" not in str(exc).lower():
                raise
            raise TypeError(_PICKLE_HINT.format(why=exc)) from exc


_PICKLE_HINT = (
    "fun, jac and args must be picklable to run on worker processes ({why}); define fun "
    "at module level (not a lambda or a local function), or use workers= the map of a "
    "thread pool (concurrent.futures.ThreadPoolExecutor().map) or a "
    "dask.distributed.Client (which uses cloudpickle)"
)


_DASK_PICKLE_HINT = (
    "fun, jac and args must be picklable by cloudpickle to run on a Dask cluster ({why}); "
    "hold what cannot be pickled (a lock, an open file, a connection) outside them, or "
    "create it inside fun on first use, or use workers= the map of a thread pool "
    "(concurrent.futures.ThreadPoolExecutor().map)"
)


def _check_picklable(ball: Any, workers: int) -> None:
    try:
        pickle.dumps((ball.fun, ball.jac, ball.args))
    except Exception as exc:  # pickle raises PicklingError, AttributeError, TypeError
        raise TypeError(_PICKLE_HINT.format(why=f"workers={workers}: {exc}")) from exc


def _chunks(n: int, parts: int) -> list[list[int]]:
    """``range(n)`` in at most ``parts`` contiguous chunks of near-equal size."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    out, start = [], 0
    for c in range(parts):
        stop = start + size + (c < extra)
        out.append(list(range(start, stop)))
        start = stop
    return out


_SHIPPED: dict[str, Any] = {}  # on a Dask worker: the latest searches' tasks, by key
_SHIPPED_LOCK = threading.Lock()


def _run_chunk(key: str, blob: bytes, items: list[Any]) -> list[OptimizeResult]:
    """The task shipped as ``blob`` over a list of items, in order: one Dask task.

    The task is unpickled once per search on each worker and kept under ``key`` for the
    search's later rounds (until the search ends, or four later searches have come).
    """
    with _SHIPPED_LOCK:
        task = _SHIPPED.get(key)
    if task is None:
        task = pickle.loads(blob)
        with _SHIPPED_LOCK:
            while len(_SHIPPED) >= 4:
                del _SHIPPED[next(iter(_SHIPPED))]
            _SHIPPED[key] = task
    return [task(item) for item in items]


def _forget(key: str) -> None:
    """Drop the task kept under ``key`` (its search has ended) on a Dask worker."""
    with _SHIPPED_LOCK:
        _SHIPPED.pop(key, None)


class _Chunk:
    """``ball`` over a list of items, in order: one task of a worker."""

    def __init__(self, ball: Any) -> None:
        self.ball = ball

    def __call__(self, items: list[Any]) -> list[OptimizeResult]:
        return [self.ball(item) for item in items]


class _Pool:
    """``k`` worker processes kept for the whole search: the rounds of a search are many
    and short, and starting processes (each importing rbo) for every round cost more than
    the balls. A pool broken by a lost process is replaced."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.executor: ProcessPoolExecutor | None = None
        self.timer: threading.Timer | None = None

    def get(self) -> ProcessPoolExecutor:
        if self.executor is not None and not _healthy(self.executor):
            self.close(cancel=True)  # lost a process while it waited for a search
        if self.executor is None:
            import multiprocessing

            # Not fork: the caller may have threads (a Dask client, BLAS), which fork can
            # deadlock.
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            self.executor = ProcessPoolExecutor(
                max_workers=self.k, mp_context=multiprocessing.get_context(method)
            )
        return self.executor

    def stop_timer(self) -> None:
        """Cancel the idle pool's closing, if it was set."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self, *, cancel: bool = False) -> None:
        self.stop_timer()
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=cancel)
            self.executor = None


def _healthy(executor: ProcessPoolExecutor) -> bool:
    """Whether every process of ``executor`` is alive (it notices a death only later)."""
    if getattr(executor, "_broken", False):
        return False
    processes = getattr(executor, "_processes", None) or {}
    return all(process.is_alive() for process in processes.values())


# Pools that finished a search wait here for the next search with as many workers, so
# that a session of searches starts its processes once (each start imports numpy, scipy
# and rbo: about a second, more than many searches take). One idle pool per size, closed
# after _IDLE_S seconds unused or at exit; a search in progress never shares its pool.
_IDLE_S = 300.0
_idle: dict[int, _Pool] = {}
_idle_lock = threading.Lock()


def _lease(k: int) -> _Pool:
    """An idle pool of ``k`` processes, or a new one (started on first use)."""
    with _idle_lock:
        pool = _idle.pop(k, None)
    if pool is None:
        return _Pool(k)
    pool.stop_timer()
    return pool


def _give_back(pool: _Pool) -> None:
    """Keep ``pool`` for the next search of its size, replacing an older idle one."""
    if pool.executor is None:
        return
    with _idle_lock:
        older = _idle.pop(pool.k, None)
        _idle[pool.k] = pool
    if older is not None:
        older.close()
    pool.timer = threading.Timer(_IDLE_S, _expire, (pool,))
    pool.timer.daemon = True
    pool.timer.start()


def _expire(pool: _Pool) -> None:
    with _idle_lock:
        if _idle.get(pool.k) is not pool:
            return  # leased again, or replaced
        del _idle[pool.k]
    pool.close()


def _close_idle() -> None:
    with _idle_lock:
        pools = list(_idle.values())
        _idle.clear()
    for pool in pools:
        pool.close()


def _forget_idle() -> None:
    # A forked child shares none of the parent's processes or threads.
    _idle.clear()


atexit.register(_close_idle)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_idle)


def _pool(
    pool: _Pool, ball: Any, items: list[Any], retries: int
) -> Iterator[tuple[int, OptimizeResult]]:
    """The balls on the pool's processes; those lost when a process dies run again."""
    pending = list(range(len(items)))
    for attempt in range(retries + 1):
        try:
            executor = pool.get()
            futures = {executor.submit(ball, items[i]): i for i in pending}
            running = set(futures)
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()  # raises BrokenProcessPool if one died
                    i = futures[future]
                    pending.remove(i)
                    yield i, result
            return
        except BrokenProcessPool:
            pool.close(cancel=True)  # the next attempt starts fresh processes
            if attempt == retries:
                raise
        except BaseException:
            pool.close(cancel=True)  # an error or a stop: nothing more to wait for
            raise


def _bytes(blob: bytes) -> bytes:
    """The task's pickle, as the output of a task of its own (see :class:`_Fleet`)."""
    return blob


class _Fleet:
    """A Dask client with the search's task on its workers, sent once per search.

    Sent with each round's tasks instead, ``fun`` and what it closes over (a fit's data,
    say) would cross to the scheduler and on to a worker in every task of every round.
    The task goes once, as the bytes of its pickle: the output of a task that each round's
    tasks depend on, so that the scheduler hands it from worker to worker and recomputes
    it, from the graph, when the workers holding it are lost (scattered data could not
    be). Each worker unpickles the bytes itself: a NumPy array that Dask hands over as an
    object may lie at an address unaligned for its dtype, and NumPy then multiplies
    matrices without BLAS, tens of times slower. The workers a search starts with set its
    chunking (one task per worker thread).
    """

    def __init__(self, client: Any, task: Any) -> None:
        import cloudpickle  # a dependency of distributed

        self.client = client
        self.threads = max(1, sum(client.nthreads().values()))
        try:
            blob = cloudpickle.dumps(task)
        except Exception as exc:  # cloudpickle raises TypeError, PicklingError, ...
            raise TypeError(_DASK_PICKLE_HINT.format(why=exc)) from exc
        with warnings.catch_warnings():
            # Dask warns of a large graph (a fit's data, say) and advises what this does:
            # the data is sent once, not with every task.
            warnings.filterwarnings("ignore", "(Large object|Sending large graph)", UserWarning)
            self.blob = client.submit(_bytes, blob, pure=False)
        self.key = str(self.blob.key)

    def release(self) -> None:
        """Free the task on the workers: its bytes, and what each unpickled from them."""
        self.blob.release()
        try:
            self.client.run(_forget, self.key, on_error="ignore")
        except Exception:  # a closing client: the workers go with it
            pass


def _dask(fleet: _Fleet, groups: list[Any], retries: int) -> Iterator[tuple[int, Any]]:
    """The chunks as Dask tasks; the scheduler reruns those lost with a worker."""
    client = fleet.client
    n = len(groups)
    # pure=False: each call is its own task, rerun in full if its worker is lost.
    futures = client.map(
        _run_chunk, [fleet.key] * n, [fleet.blob] * n, groups, pure=False, retries=retries
    )
    try:
        # One gather for the round (every caller waits for all of it): fewer round trips
        # to the scheduler than a result fetched per future as each one finishes.
        results = client.gather(futures)
    finally:
        # Only a stop or an error leaves tasks running; cancel is a round trip to the
        # scheduler, and finished futures are released when dropped.
        running = [future for future in futures if not future.done()]
        if running:
            client.cancel(running)
    yield from enumerate(results)


def _key(f: float) -> float:
    """NaN ranks last, as no better than any number."""
    return math.inf if math.isnan(f) else f


def _generator(host: Any, rng: Any) -> Any:
    """A host (NumPy) generator from ``rng``, or a TypeError/ValueError naming it."""
    kind = type(host.rng(0))
    if rng is None or isinstance(rng, kind):
        return host.rng(rng)
    if isinstance(rng, bool):
        raise TypeError(f"rng must be None, a seed or a numpy.random.Generator; got {rng!r}")
    if isinstance(rng, numbers.Integral):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative integer; got {rng}")
        return host.rng(int(rng))
    # As scipy's rng: whatever numpy.random.default_rng takes (a SeedSequence, a
    # BitGenerator, a sequence of non-negative ints) seeds the generator.
    try:
        return host.rng(rng)
    except ValueError as exc:  # a seed of the right kind with a wrong value
        raise ValueError(f"rng: {exc}; got {rng!r}") from exc
    except TypeError as exc:
        raise TypeError(
            "rng must be None, a non-negative integer, a numpy.random.Generator or what "
            f"numpy.random.default_rng takes (a SeedSequence, a BitGenerator); got {rng!r}"
        ) from exc


def _bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError("progress=True needs tqdm: pip install tqdm") from exc
    return tqdm(total=total, desc="balls", unit="ball")


def _box(bounds: Any) -> tuple[list[float], list[float]]:
    if isinstance(bounds, Bounds):
        low, high = _floats(bounds.lb, "bounds.lb"), _floats(bounds.ub, "bounds.ub")
        if len(low) != len(high):
            raise ValueError(
                f"bounds.lb and bounds.ub must have the same length; got {len(low)}, {len(high)}"
            )
    else:
        try:
            pairs = [tuple(p) for p in bounds]
        except TypeError as exc:
            raise TypeError(
                f"bounds must be (low, high) pairs or a scipy.optimize.Bounds; got {bounds!r}"
            ) from exc
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError(
                f"bounds must be a non-empty sequence of (low, high) pairs; got {bounds!r}"
            )
        low = _floats([p[0] for p in pairs], "bounds")
        high = _floats([p[1] for p in pairs], "bounds")
    for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
        # low == high holds a coordinate fixed, as in rbo.minimize and scipy.
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(
                f"bounds must be finite with low <= high; coordinate {i} has ({lo}, {hi})"
            )
        if not math.isfinite(hi - lo):
            raise ValueError(
                f"bounds must have a finite width: coordinate {i} spans ({lo}, {hi}), wider "
                "than the largest float (starts are drawn uniformly in the box)"
            )
    if not math.isfinite(sum(hi - lo for lo, hi in zip(low, high, strict=True))):
        raise ValueError(
            "bounds must have a finite mean width (radii and hops are sizes of it); the "
            "widths of these coordinates add up beyond the largest float"
        )
    return low, high


def _floats(values: Any, name: str) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold real numbers; got {values!r}") from exc
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _dtype(xp: Any, dtype: Any) -> Any:
    if dtype is None:
        return default_float(xp)
    if isinstance(dtype, str):
        named = getattr(xp, dtype, None)
        if named is None or not _is_real_floating(xp, named):
            raise ValueError(
                f"dtype must name a real floating dtype of {xp.__name__} "
                f"('float32', 'float64', ...); got {dtype!r}"
            )
        return named
    if not _is_real_floating(xp, dtype):
        raise TypeError(f"dtype must be a real floating dtype; got {dtype!r}")
    return dtype


def _is_real_floating(xp: Any, dtype: Any) -> bool:
    try:
        return bool(xp.isdtype(dtype, "real floating"))
    except (TypeError, ValueError):
        return False
