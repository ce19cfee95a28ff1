"""``rbo.multistart``: many balls dropped at random in a box, the best one kept.

The balls run one after the other in this process, as the rows of one batch
(``vectorized=True``), or fanned out over ``workers``: a process pool, any map-like
callable (``multiprocessing.Pool.map``, ``ThreadPoolExecutor.map``, ...) or a
``dask.distributed.Client``. All starts are drawn on the host from ``rng`` before any
ball runs, so the same ``rng`` gives the same result whatever runs the balls.
"""

from __future__ import annotations

import math
import numbers
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from array_api_compat import device as device_of
from scipy.optimize import Bounds, OptimizeResult

from . import backends
from ._arrays import default_float
from ._bounds import supports_bounds
from ._minimize import minimize
from ._status import Status
from ._validation import check_count

__all__ = ["multistart"]


def multistart(
    fun: Callable[..., Any],
    bounds: Sequence[tuple[float, float]] | Bounds,
    n_starts: int,
    *,
    args: Any = (),
    jac: Callable[..., Any] | str | bool | None = None,
    rng: Any = None,
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
    """Minimise from ``n_starts`` uniform random starts in ``bounds``; return the best.

    The starts are drawn on the host from ``rng`` (NumPy's generator), then cast to the
    backend's dtype and moved to its device, so a given ``rng`` draws the same starts on
    every backend and gives the same result whatever ``workers`` run the balls. With
    ``vectorized=True`` all starts run at once as the rows of one batched
    :func:`rbo.minimize` (``fun`` maps ``(m, n)`` to ``(m,)``); otherwise each start is
    one :func:`rbo.minimize` ("a ball"), one after the other or on ``workers``.

    Parameters
    ----------
    fun, args, jac
        As for :func:`rbo.minimize`. With process or Dask workers they must be picklable
        (Dask uses cloudpickle, so lambdas are fine there).
    bounds : sequence of (low, high) pairs, or scipy.optimize.Bounds
        The box the starts are drawn from, one pair per coordinate; the runs of a method
        that takes bounds (see :func:`rbo.minimize`) stay in it, RBO's are unconstrained.
    n_starts : int
        Number of starts, ``m``.
    rng : int or numpy.random.Generator, optional
        Seed (a non-negative integer) or generator of the starts, as scipy's ``rng``. A
        method that draws random numbers (``method="entropy-sgd"``) gets a child seed per
        ball from it unless its ``seed`` is given.
    backend : str or rbo.backends.Backend, optional
        Where to run (default ``"numpy"``).
    dtype : optional
        Floating dtype of the starts, a dtype of the backend's namespace or its name
        (``"float32"``); default the namespace's default floating dtype.
    vectorized : bool
        Whether ``fun`` (and ``jac``) take all rows at once; needs ``workers=1``.
    workers : int, map-like callable or dask.distributed.Client
        What runs the balls: ``1`` (default) this process; an int ``k > 1``, a pool of
        ``k`` processes; a callable ``workers(func, iterable)`` returning the results in
        order (``multiprocessing.Pool.map``, ``ThreadPoolExecutor.map``,
        ``client.get_executor().map``, ...); or a ``dask.distributed.Client``, to which
        each ball is submitted as a task.
    retries : int
        How many times balls lost with their worker (a process pool broken by a dead
        process; for Dask, a task that failed outside ``fun``) are run again.
    disp : bool
        Print a line per finished ball (per round when vectorized).
    progress : bool
        Show a tqdm progress bar over the balls with the best value so far (needs
        ``tqdm``).
    callback : callable, optional
        ``callback(intermediate_result)`` after each finished ball (once when
        vectorized): an ``OptimizeResult`` with the best ``x`` and ``fun`` so far,
        ``best``, ``ball`` (the index just finished), ``result`` (its result),
        ``n_done`` and ``nfev``. Raising ``StopIteration`` ends the search: the best so
        far is returned with status 99, balls not run have status 99 and ``fun = inf``.
        (Per-step callbacks of each ball are not available here.)
    **kwargs
        Further arguments of :func:`rbo.minimize` (``maxiter``, ``radius``, ``lr``, ...).

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        The best run's ``x``, ``fun``, ``jac``, ``nit``, ``status``, ``success``,
        ``message``; ``best`` (its row), ``starts`` (``(m, n)``), ``nfev`` and ``njev``
        over all runs, and ``runs``: the per-row result of the batch (see
        :func:`rbo.minimize` with ``vectorized=True``); without ``vectorized`` it also
        has ``nfev_all`` and ``njev_all``, the counts of each ball. A ball whose ``fun``
        raised has status 7, the error in its message and the best point it had
        reached; it does not end the search.

    Raises
    ------
    TypeError, ValueError
        For bad input, naming it, and for a ``fun`` that cannot be pickled for worker
        processes.

    Examples
    --------
    >>> import rbo
    >>> from rbo.problems import rastrigin
    >>> res = rbo.multistart(rastrigin.value_and_grad, [(-5.12, 5.12)] * 2, 16, jac=True,
    ...                      rng=1, vectorized=True, radius=0.5, lr=0.01, maxiter=200)
    >>> res.starts.shape, bool(res.fun <= res.runs.fun.min())
    ((16, 2), True)
    """
    low, high = _box(bounds)
    n_starts = check_count("n_starts", n_starts, minimum=1)
    if "x0" in kwargs or "vectorized" in kwargs:
        raise TypeError("multistart draws x0 itself; pass bounds and n_starts")
    method = kwargs.get("method", "rbo")
    random_method = isinstance(method, str) and method.lower() == "entropy-sgd"
    if "seed" in kwargs and not random_method:
        raise TypeError(
            "multistart takes rng= (a non-negative int or a numpy.random.Generator), not seed="
        )
    retries = check_count("retries", retries) or 0  # never None here
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    runner = _runner(workers)
    if vectorized and runner is not None:
        raise ValueError(
            "vectorized=True runs all balls as one batch in this process; "
            "use workers=1 or vectorized=False"
        )
    bar = _bar(n_starts) if progress else None
    where = backends.get("numpy" if backend is None else backend)
    xp = where.namespace()
    dtype = _dtype(xp, dtype)
    host = backends.get("numpy")
    generator = _generator(host, rng)
    drawn = host.uniform(generator, low, high, (n_starts, len(low)), dtype=None)
    starts = where.asarray(drawn, dtype=dtype)
    # Drawn after the starts, so that they do not change the starts.
    seeds = [int(s) for s in generator.integers(0, 2**62, size=n_starts)]
    if supports_bounds(kwargs.get("method", "rbo")):
        kwargs.setdefault("bounds", bounds)  # the runs stay in the box too
    if random_method and "seed" not in kwargs:
        options = [{**kwargs, "seed": s} for s in seeds]
    else:
        options = [kwargs] * n_starts
    watch = _Watch(n_starts, disp, bar, callback)
    try:
        if vectorized:
            runs = minimize(fun, starts, args, jac, vectorized=True, backend=where, **options[0])
            watch.round(runs)
        else:
            ball = _Ball(fun, args, jac, where)
            items = [(starts[i, ...], options[i]) for i in range(n_starts)]
            done = watch.collect(_balls(runner, ball, items, retries))
            runs = _stack(done, starts, xp, watch.stopped)
    finally:
        if bar is not None:
            bar.close()
    best = runs.best
    status = Status.CALLBACK if watch.stopped else Status(int(runs.status[best]))
    return OptimizeResult(
        x=runs.x_best,
        fun=runs.fun_best,
        jac=runs.jac[best, ...],
        nit=int(runs.nit[best]),
        status=int(status),
        success=bool(runs.success[best]) and not watch.stopped,
        message=status.message if watch.stopped else runs.message[best],
        nfev=runs.nfev,
        njev=runs.njev,
        best=best,
        starts=starts,
        runs=runs,
        backend=runs.backend,
        device=runs.device,
    )


class _Ball:
    """One :func:`minimize` from one start: the task that workers run.

    A ball whose ``fun`` or ``jac`` raised comes back as a result with status 7 (with
    the best point it had reached), so one failing start does not end the search; any
    other error (bad options) propagates.
    """

    def __init__(self, fun: Any, args: Any, jac: Any, where: Any) -> None:
        # By name: a backend holds thread-local state, which does not pickle.
        self.fun, self.args, self.jac, self.backend = fun, args, jac, where.name

    def __call__(self, item: tuple[Any, dict[str, Any]]) -> OptimizeResult:
        start, options = item
        where = backends.get(self.backend)
        jac = _Flagged(self.jac) if callable(self.jac) else self.jac
        try:
            return minimize(_Flagged(self.fun), start, self.args, jac, backend=where, **options)
        except Exception as exc:
            partial = getattr(exc, "rbo_result", None)
            if partial is None and not getattr(exc, "_rbo_in_fun", False):
                raise
            return _failed(start, exc, partial, where)


class _Flagged:
    """``fun`` as it is, but marking the exceptions it raises as the objective's own."""

    def __init__(self, fun: Any) -> None:
        self.fun = fun

    def __call__(self, *args: Any) -> Any:
        try:
            return self.fun(*args)
        except Exception as exc:
            exc._rbo_in_fun = True  # type: ignore[attr-defined]
            raise


def _failed(start: Any, exc: Exception, partial: Any, where: Any) -> OptimizeResult:
    """The result of a ball whose objective raised: what it had reached, status 7."""
    message = f"{Status.ERROR.message} ({type(exc).__name__}: {exc})"
    if partial is not None:
        partial.status, partial.success, partial.message = int(Status.ERROR), False, message
        partial.backend = where.name
        partial.device = str(device_of(partial.x))
        if math.isnan(partial.fun):  # nothing finite was seen: rank it below every ball
            partial.fun = math.inf
        return partial
    # It raised on its first call: nothing was evaluated, the start is all there is.
    xp = where.namespace()
    nan = xp.full_like(start, math.nan)
    return OptimizeResult(
        x=start, fun=math.inf, jac=nan, nit=0, nfev=1, njev=0, status=int(Status.ERROR),
        success=False, message=message, x_last=start, fun_last=math.inf,
        backend=where.name, device=str(device_of(start)),
    )  # fmt: skip


def _not_run(start: Any, where: Any) -> OptimizeResult:
    nan = where.namespace().full_like(start, math.nan)
    return OptimizeResult(
        x=start, fun=math.inf, jac=nan, nit=0, nfev=0, njev=0, status=int(Status.CALLBACK),
        success=False, message="Not run: " + Status.CALLBACK.message, x_last=start,
        fun_last=math.inf, backend=where.name, device=str(device_of(start)),
    )  # fmt: skip


def _runner(workers: Any) -> Any:
    """``None`` (this process), ``("pool", k)``, ``("dask", client)`` or ``("map", f)``."""
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
    runner: Any, ball: _Ball, items: list[Any], retries: int
) -> Iterator[tuple[int, OptimizeResult]]:
    """``(index, result)`` of each ball as it finishes (in any order)."""
    if runner is None:
        for i, item in enumerate(items):
            yield i, ball(item)
        return
    kind, how = runner
    if kind == "pool":
        _check_picklable(ball, how)
        yield from _pool(how, ball, items, retries)
    elif kind == "dask":
        yield from _dask(how, ball, items, retries)
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


def _check_picklable(ball: _Ball, workers: int) -> None:
    try:
        pickle.dumps((ball.fun, ball.jac, ball.args))
    except Exception as exc:  # pickle raises PicklingError, AttributeError, TypeError
        raise TypeError(_PICKLE_HINT.format(why=f"workers={workers}: {exc}")) from exc


def _pool(
    k: int, ball: _Ball, items: list[Any], retries: int
) -> Iterator[tuple[int, OptimizeResult]]:
    """The balls on ``k`` processes; those lost when a process dies run again."""
    import multiprocessing

    # Not fork: the caller may have threads (a Dask client, BLAS), which fork can deadlock.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pending = list(range(len(items)))
    for attempt in range(retries + 1):
        pool = ProcessPoolExecutor(max_workers=min(k, len(pending)), mp_context=context)
        try:
            futures = {pool.submit(ball, items[i]): i for i in pending}
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
            if attempt == retries:
                raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _dask(
    client: Any, ball: _Ball, items: list[Any], retries: int
) -> Iterator[tuple[int, OptimizeResult]]:
    """The balls as Dask tasks; the scheduler reruns those lost with a worker."""
    from distributed import as_completed

    # pure=False: each call is its own task, rerun in full if its worker is lost.
    futures = client.map(ball, items, pure=False, retries=retries)
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in as_completed(futures):
            yield index[future.key], future.result()
    finally:
        client.cancel(futures)


class _Watch:
    """Collects finished balls; prints, updates the bar and calls back after each."""

    def __init__(self, m: int, disp: bool, bar: Any, callback: Any) -> None:
        self.m, self.disp, self.bar, self.callback = m, disp, bar, callback
        self.stopped = False
        self.best: int | None = None
        self.best_fun = math.inf
        self.nfev = 0

    def collect(self, finished: Iterator[tuple[int, OptimizeResult]]) -> dict[int, Any]:
        done: dict[int, Any] = {}
        try:
            for i, result in finished:
                done[i] = result
                f = _key(float(result.fun))
                # Ties go to the lower index, as argmin over the rows does.
                if self.best is None or f < self.best_fun or (f == self.best_fun and i < self.best):
                    self.best, self.best_fun = i, f
                self.nfev += int(result.nfev)
                if self.disp:
                    print(
                        f"multistart: ball {i} done ({len(done)}/{self.m}): "
                        f"fun={float(result.fun):.6g}, status {int(result.status)}; "
                        f"best {float(done[self.best].fun):.6g} (ball {self.best})"
                    )
                if self._notify(done[self.best], i, result, len(done)):
                    break
        finally:
            finished.close()  # type: ignore[attr-defined]
        return done

    def round(self, runs: OptimizeResult) -> None:
        if self.disp:
            print(
                f"multistart: round of {self.m} balls done: best {runs.fun_best:.6g} "
                f"(ball {runs.best})"
            )
        best = OptimizeResult(x=runs.x_best, fun=runs.fun_best)
        self.nfev = int(runs.nfev)
        self.best, self.best_fun = runs.best, _key(runs.fun_best)
        self._notify(best, runs.best, runs, self.m)

    def _notify(self, best: Any, i: int, result: Any, n_done: int) -> bool:
        """Update bar and call back; whether the callback asked to stop."""
        if self.bar is not None:
            self.bar.update(n_done - self.bar.n)
            self.bar.set_postfix(best=f"{float(best.fun):.6g}")
        if self.callback is None:
            return False
        info = OptimizeResult(
            x=best.x, fun=float(best.fun), best=self.best, ball=i, result=result,
            n_done=n_done, nfev=self.nfev,
        )  # fmt: skip
        try:
            self.callback(info)
        except StopIteration:
            self.stopped = True
        return self.stopped


def _key(f: float) -> float:
    """NaN ranks last, as no better than any number."""
    return math.inf if math.isnan(f) else f


def _stack(done: dict[int, Any], starts: Any, xp: Any, stopped: bool) -> OptimizeResult:
    """The batched result's fields from one result per ball (balls not run filled in)."""
    where = backends.of(starts)
    m = starts.shape[0]
    results = [done[i] if i in done else _not_run(starts[i, ...], where) for i in range(m)]
    dev = device_of(starts)

    def stack(key: str, dtype: Any) -> Any:
        return xp.asarray([r[key] for r in results], dtype=dtype, device=dev)

    funs = [_key(float(r.fun)) for r in results]
    best = min(range(m), key=funs.__getitem__)  # the first of equals, as argmin
    return OptimizeResult(
        x=xp.stack([r.x for r in results]),
        fun=stack("fun", starts.dtype),
        jac=xp.stack([r.jac for r in results]),
        nit=stack("nit", xp.int32),
        status=stack("status", xp.int32),
        success=stack("success", xp.bool),
        message=[r.message for r in results],
        nfev=sum(int(r.nfev) for r in results),
        njev=sum(int(r.njev) for r in results),
        nfev_all=[int(r.nfev) for r in results],
        njev_all=[int(r.njev) for r in results],
        x_last=xp.stack([r.x_last for r in results]),
        fun_last=stack("fun_last", starts.dtype),
        best=best,
        x_best=results[best].x,
        fun_best=float(results[best].fun),
        backend=where.name,
        device=str(dev),
    )


def _generator(host: Any, rng: Any) -> Any:
    """A host (NumPy) generator from ``rng``, or a TypeError/ValueError naming it."""
    kind = type(host.rng(0))
    if rng is None or isinstance(rng, kind):
        return host.rng(rng)
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(
            f"rng must be None, a non-negative integer or a numpy.random.Generator; got {rng!r}"
        )
    if rng < 0:
        raise ValueError(f"rng must be a non-negative integer; got {rng}")
    return host.rng(int(rng))


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
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(
                f"bounds must be finite with low < high; coordinate {i} has ({lo}, {hi})"
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
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
        return getattr(xp, dtype)
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"dtype must be a real floating dtype; got {dtype!r}")
    return dtype
