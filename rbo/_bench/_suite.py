"""Run methods × problems × dimensions × seeded starts under one evaluation budget."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np  # the harness feeds scipy's optimizers, which are NumPy-only

from .. import problems
from ._blas import single_threaded_blas
from ._budget import BudgetExhausted, Counted
from ._methods import Method
from ._targets import Target, target

__all__ = [
    "SUITES",
    "Run",
    "Summary",
    "evals_per_step",
    "instances",
    "run_counted",
    "run_one",
    "run_suite",
    "start_points",
    "success_at",
    "success_curve",
    "summarize",
]


@dataclass(frozen=True)
class Run:
    """One method from one start on one problem: what the counted objective recorded."""

    problem: str
    n: int
    method: str
    start: int
    success: bool
    gap: float  # best value found minus the known (or reference) minimum
    fun: float
    nfev: int
    time: float  # seconds
    trace: tuple[tuple[int, bool], ...]  # (nfev, success) where the best point's success changed
    error: str = ""  # an exception other than the budget's, if the method raised one
    # Evaluations per step of rbo's roll (NaN for other methods, or when the budget stopped
    # the method before it returned a result).
    evals_per_step: float = math.nan


@dataclass(frozen=True)
class Summary:
    """Medians over the starts of one method on one problem in one dimension."""

    problem: str
    n: int
    method: str
    runs: int
    successes: int
    median_gap: float
    median_nfev: float
    median_time: float
    rule: str
    errors: int
    median_evals_per_step: float = math.nan  # over the runs that report it

    @property
    def success_rate(self) -> float:
        return self.successes / self.runs


#: Named problem suites: the optimisation literature's landscapes (``rbo bench``'s default),
#: the rugged ones among them (the smooth quadratic and Rosenbrock left out) and the
#: scientific objectives.
SUITES: dict[str, tuple[str, ...]] = {
    "landscapes": problems.LANDSCAPES,
    "rugged": tuple(n for n in problems.LANDSCAPES if n not in ("quadratic", "rosenbrock")),
    "science": problems.SCIENCE,
    "all": (*problems.LANDSCAPES, *problems.SCIENCE),
}


def instances(names: Iterable[str], dims: Sequence[int]) -> list[tuple[str, int]]:
    """``(problem, n)`` pairs: each problem at each dimension it is defined for; a problem of
    fixed dimension runs once, at its own, whatever ``dims`` says."""
    out = []
    for name in names:
        p = problems.get(name)
        ns = [p.ndim] if p.ndim is not None else [n for n in dims if n >= p.min_ndim]
        out += [(name, n) for n in ns]
    return out


def start_points(name: str, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` starts uniform in the problem's box, the same for every method.

    Seeded by ``(seed, n, crc32(name))``, so adding a problem or a dimension leaves the
    starts of the others unchanged.
    """
    p = problems.get(name)
    rng = np.random.default_rng([seed, n, zlib.crc32(name.encode())])
    return rng.uniform(p.lower, p.upper, (count, n))


def run_counted(
    problem: problems.Problem,
    tgt: Target,
    method: Method,
    x0: np.ndarray,
    *,
    seed: int,
    budget: int,
) -> tuple[Counted, float, str]:
    """Run ``method`` from ``x0`` on ``problem`` through a :class:`Counted` objective.

    Returns the objective (its best point, count and success trace), the wall time in
    seconds and the error message of an exception other than the budget's ("" if none).
    """
    obj = Counted(problem.value_and_grad, budget, tgt.reached)
    error = ""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # A method's warnings (an overflow far out in the box, a line search that gave up)
        # change nothing the counted objective records.
        warnings.simplefilter("ignore")
        try:
            obj.result = method.run(
                obj, x0, lower=problem.lower, upper=problem.upper, seed=seed, budget=budget
            )
        except BudgetExhausted:
            pass
        except Exception as exc:  # the best point so far still counts; the error is reported
            error = f"{type(exc).__name__}: {exc}"
    return obj, time.perf_counter() - t0, error


def run_one(
    name: str, n: int, method: Method, start: int, x0: np.ndarray, seed: int, budget: int
) -> Run:
    """Run ``method`` from ``x0`` on problem ``name`` under ``budget`` evaluations."""
    tgt = target(name, n)
    obj, elapsed, error = run_counted(problems.get(name), tgt, method, x0, seed=seed, budget=budget)
    success = obj.best_x is not None and tgt.reached(obj.best_x, obj.best_f)
    return Run(
        problem=name,
        n=n,
        method=method.label,
        start=start,
        success=bool(success),
        gap=obj.best_f - tgt.fmin,
        fun=obj.best_f,
        nfev=obj.nfev,
        time=elapsed,
        trace=tuple(obj.trace),
        error=error,
        evals_per_step=evals_per_step(obj.result),
    )


def _run_task(task: tuple) -> Run:
    return run_one(*task)


# Each worker process enters the BLAS limit once and keeps it for its life.
_WORKER_LIMIT: Any = None


def _init_worker() -> None:
    global _WORKER_LIMIT
    _WORKER_LIMIT = single_threaded_blas()
    _WORKER_LIMIT.__enter__()


def run_suite(
    names: Iterable[str],
    dims: Sequence[int],
    methods: Sequence[Method],
    starts: int,
    budget: int,
    *,
    seed: int = 0,
    jobs: int = 1,
    progress: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Every method from the same ``starts`` seeded starts on every problem instance.

    Parameters
    ----------
    names : iterable of str
        Problem names (keys of :data:`rbo.problems.PROBLEMS`).
    dims : sequence of int
        Dimensions of the problems whose dimension is free.
    methods : sequence of Method
        See :func:`rbo._bench.method`.
    starts : int
        Random starts per problem instance.
    budget : int
        Evaluations per run, the same for every method.
    seed : int
        Seed of the starts; start ``i`` also seeds stochastic methods with ``seed·10⁶ + i``.
    jobs : int
        Worker processes (1: run in this process).
    progress : callable, optional
        Called with each finished :class:`Run`.

    Returns
    -------
    list of Run
        Ordered by problem, dimension, method and start.
    """
    if starts < 1 or budget < 1 or jobs < 1:
        raise ValueError(f"starts, budget and jobs must be >= 1; got {starts}, {budget}, {jobs}")
    order = {m.label: i for i, m in enumerate(methods)}
    if len(order) != len(methods):
        raise ValueError("method labels must be distinct")
    tasks = []
    for name, n in instances(names, dims):
        target(name, n)  # computed once, before the workers fork
        x0s = start_points(name, n, starts, seed)
        for m in methods:
            tasks += [(name, n, m, i, x0s[i], seed * 10**6 + i, budget) for i in range(starts)]
    runs = []
    with contextlib.ExitStack() as stack:
        if jobs == 1:
            stack.enter_context(single_threaded_blas())
            results: Iterable[Run] = map(_run_task, tasks)
        else:
            import multiprocessing

            pool = stack.enter_context(
                multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker)
            )
            results = pool.imap_unordered(_run_task, tasks)
        for run in results:
            runs.append(run)
            if progress is not None:
                progress(run)
    index = {(name, n): i for i, (name, n) in enumerate(instances(names, dims))}
    return sorted(runs, key=lambda r: (index[r.problem, r.n], order[r.method], r.start))


def summarize(runs: Sequence[Run], targets: Callable[[str, int], Target] = target) -> list[Summary]:
    """One :class:`Summary` per (problem, dimension, method), in the order of ``runs``;
    ``targets(problem, n)`` gives the success rule quoted in each."""
    groups: dict[tuple[str, int, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.problem, r.n, r.method), []).append(r)
    return [
        Summary(
            problem=name,
            n=n,
            method=label,
            runs=len(group),
            successes=sum(r.success for r in group),
            median_gap=statistics.median(r.gap for r in group),
            median_nfev=statistics.median(r.nfev for r in group),
            median_time=statistics.median(r.time for r in group),
            rule=targets(name, n).rule,
            errors=sum(bool(r.error) for r in group),
            median_evals_per_step=_median_finite(r.evals_per_step for r in group),
        )
        for (name, n, label), group in groups.items()
    ]


def _median_finite(values: Iterable[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def evals_per_step(result: Any) -> float:
    """Evaluations per step of an rbo result: ``nfev / nit`` of its roll (``result.roll``,
    where the result separates the roll from a final polish), else of the whole run; NaN
    when there is no result or no step.

    Examples
    --------
    >>> from scipy.optimize import OptimizeResult
    >>> evals_per_step(OptimizeResult(nfev=30, nit=10))
    3.0
    >>> evals_per_step(OptimizeResult(nfev=40, nit=10, roll=OptimizeResult(nfev=30, nit=10)))
    3.0
    >>> evals_per_step(None)
    nan
    """
    if result is None:
        return math.nan
    roll = getattr(result, "roll", None)
    source = roll if roll is not None else result
    try:
        nfev, nit = int(source.nfev), int(source.nit)
    except (AttributeError, TypeError, ValueError):
        return math.nan
    return nfev / nit if nit > 0 else math.nan


def success_at(run: Run, k: int) -> bool:
    """Whether the best point ``run`` had after ``k`` evaluations counted as a success.

    Examples
    --------
    >>> r = Run("p", 2, "m", 0, True, 0.0, 0.0, 9, 0.0, trace=((1, False), (5, True)))
    >>> [success_at(r, k) for k in (0, 4, 5, 100)]
    [False, False, True, True]
    """
    flag = False
    for nfev, success in run.trace:
        if nfev > k:
            break
        flag = success
    return flag


def success_curve(runs: Sequence[Run], grid: Sequence[int]) -> list[float]:
    """Fraction of ``runs`` whose best point counted as a success after ``k`` evaluations,
    for each ``k`` in ``grid``."""
    if not runs:
        raise ValueError("success_curve needs at least one run")
    return [sum(success_at(r, k) for r in runs) / len(runs) for k in grid]
