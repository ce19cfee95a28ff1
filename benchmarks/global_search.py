"""Global search of a box under one evaluation budget: ``rbo.multistart`` against
scipy's basinhopping, L-BFGS-B from random starts, dual_annealing and BIPOP-CMA-ES.

Every method sees the problem only through :class:`rbo._bench._budget.Counted`: one
evaluation is one new point (its gradient comes with it), and the evaluation past the
budget raises, so no method can overrun it; the best point is recorded there, the same
way for every method, and judged by :mod:`rbo._bench._targets` (success: the global
basin reached, or 99 % of the typical gap closed). Same box (the problem's), same budget
(``1000 n`` evaluations), same seeds for all.

- ``rbo <schedule>``: ``rbo.multistart(fun, box, jac=True, maxfev=budget, rng=seed,
  schedule=...)``, its defaults otherwise (the schedules ``basin``, the default,
  ``basin-roll``, ``hop``, ``restart`` and ``radius`` are compared to pick the default).
- ``rbo.minimize`` (and ``x4``): ``rbo.minimize`` at its defaults in the box from one
  uniform random start with the whole budget (from four, a quarter each): the phases of a
  single run as a global search.
- ``basinhopping``: L-BFGS-B in the box inside, ``niter = budget`` (the budget ends it),
  scipy's default step.
- ``L-BFGS-B restarts``: L-BFGS-B in the box from uniform random starts until the
  budget is spent.
- ``dual_annealing``: ``maxfun = budget``, its L-BFGS-B local search given the gradient.
- ``CMA-ES BIPOP``: ``cma.fmin`` with ``restarts=9, bipop=True``, ``sigma0`` a quarter
  of the box's width, the box as CMA's bounds, ``maxfevals = budget`` (value only: it
  uses no gradient).

With ``--fd`` every gradient method is given values only and pays each
finite-difference value (``rbo basin`` with ``jac='2-point'``, scipy's default
differences); CMA-ES is unchanged by it and not rerun.

It also times balls per second of ``rbo.multistart`` (``schedule="restart"``) with
``vectorized=True`` (the balls of a round as the rows of one batch) against one ball at a
time, on NumPy (``--throughput``: only that).

Run: ``PYTHONPATH=. python3 benchmarks/global_search.py [--quick] [--fd] [--jobs 2]
[--seeds 5] [--first-seed 0] [--methods ...] [--problems ...] [--throughput]``
(``--problems sinusoids gaussian_peaks van_der_pol lj7``: the scientific objectives, each
at its own n).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

import rbo  # noqa: E402
from rbo import problems  # noqa: E402
from rbo._bench._budget import BudgetExhausted, Counted  # noqa: E402
from rbo._bench._targets import target  # noqa: E402

PROBLEMS = ["rastrigin", "ackley", "griewank", "levy", "riemann", "gaussian_wells", "weierstrass"]
SCHEDULES = ["basin", "basin-roll", "restart", "hop", "radius"]
BASELINES = ["basinhopping", "L-BFGS-B restarts", "dual_annealing", "CMA-ES BIPOP"]


def _rbo(schedule: str, units: bool = False) -> Any:
    def run(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
        box = [(p.lower, p.upper)] * n
        extra: dict[str, Any] = {}
        if units:  # the phases' ball: in the box's units, its step capped, rough feet
            width = p.upper - p.lower
            extra = {"radius": 0.3 * width, "lr": 0.3 * width, "max_step": 1.0}
            extra["proj_rtol"] = 0.1
        if fd:
            rbo.multistart(
                obj.value, box, jac="2-point", maxfev=budget, rng=seed, schedule=schedule,
                **extra,
            )  # fmt: skip
        else:
            rbo.multistart(
                obj.value_and_grad, box, jac=True, maxfev=budget, rng=seed, schedule=schedule,
                **extra,
            )  # fmt: skip

    return run


def _minimize(pieces: int) -> Any:
    """``rbo.minimize`` at its defaults, in the box, from ``pieces`` random starts that
    share the budget equally (the last one takes what is left)."""

    def run(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
        rng = np.random.default_rng(seed)
        local = _local(obj, fd)
        box = [(p.lower, p.upper)] * n
        for i in range(pieces):
            share = budget // pieces if i < pieces - 1 else budget - obj.nfev
            if share < 2 * (n + 1):
                return
            x0 = rng.uniform(p.lower, p.upper, n)
            kwargs = {"jac": True} if local["jac"] else {}
            rbo.minimize(local["fun"], x0, bounds=box, maxfev=share, **kwargs)

    return run


def _local(obj: Counted, fd: bool) -> dict[str, Any]:
    return {"fun": obj.value, "jac": None} if fd else {"fun": obj.value_and_grad, "jac": True}


def _basinhopping(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
    from scipy.optimize import basinhopping

    rng = np.random.default_rng(seed)
    local = _local(obj, fd)
    basinhopping(
        local["fun"],
        rng.uniform(p.lower, p.upper, n),
        niter=budget,
        minimizer_kwargs={
            "method": "L-BFGS-B", "jac": local["jac"], "bounds": [(p.lower, p.upper)] * n
        },
        rng=seed,
    )  # fmt: skip


def _restarts(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    local = _local(obj, fd)
    while True:  # until the budget raises
        x0 = rng.uniform(p.lower, p.upper, n)
        minimize(
            local["fun"], x0, jac=local["jac"], method="L-BFGS-B", bounds=[(p.lower, p.upper)] * n
        )


def _dual_annealing(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
    from scipy.optimize import dual_annealing

    box = [(p.lower, p.upper)] * n
    local = {"method": "L-BFGS-B", "jac": None if fd else obj.grad, "bounds": box}
    dual_annealing(obj.value, box, maxiter=budget, maxfun=budget, minimizer_kwargs=local, rng=seed)


def _cma(obj: Counted, p: Any, n: int, seed: int, budget: int, fd: bool) -> None:
    import cma

    rng = np.random.default_rng(seed)
    x0 = rng.uniform(p.lower, p.upper, n)
    options = {
        "bounds": [p.lower, p.upper], "maxfevals": budget, "seed": seed + 1, "verbose": -9,
    }  # fmt: skip
    if n == 1:
        raise ValueError("CMA-ES needs n >= 2")
    cma.fmin(obj.value, x0, 0.25 * (p.upper - p.lower), options, restarts=9, bipop=True)


RUNNERS: dict[str, Any] = {f"rbo {s}": _rbo(s) for s in SCHEDULES} | {
    "rbo restart, box units": _rbo("restart", units=True),
    "rbo hop, box units": _rbo("hop", units=True),
    "rbo.minimize": _minimize(1),
    "rbo.minimize x4": _minimize(4),
    "basinhopping": _basinhopping,
    "L-BFGS-B restarts": _restarts,
    "dual_annealing": _dual_annealing,
    "CMA-ES BIPOP": _cma,
}


def run_one(task: tuple[str, str, int, int, int, bool]) -> dict[str, Any]:
    label, name, n, seed, budget, fd = task
    p = problems.get(name)
    tgt = target(name, n)
    obj = Counted(p.value_and_grad, budget, tgt.reached)
    error = ""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            RUNNERS[label](obj, p, n, seed, budget, fd)
        except BudgetExhausted:
            pass
        except Exception as exc:  # the best point so far still counts
            error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - t0
    ok = obj.best_x is not None and tgt.reached(obj.best_x, obj.best_f)
    return {
        "method": label, "problem": name, "n": n, "seed": seed, "success": bool(ok),
        "gap": obj.best_f - tgt.fmin, "nfev": obj.nfev, "time": wall, "error": error,
    }  # fmt: skip


def instances(dims: list[int], names: list[str] | None = None) -> list[tuple[str, int]]:
    """The problems of free dimension at every n of ``dims``; one of fixed dimension at its
    own n, where ``dims`` holds it or where it was named in ``names``."""
    out = []
    for name in names or PROBLEMS:
        p = problems.get(name)
        if p.ndim is None:
            out += [(name, n) for n in dims]
        elif p.ndim in dims or names:
            out.append((name, p.ndim))
    return sorted(out, key=lambda t: (t[1], (names or PROBLEMS).index(t[0])))


def table(rows: list[dict[str, Any]], labels: list[str], seeds: int) -> str:
    """Per instance: successes out of ``seeds`` and the median gap, each method side by side."""
    head = f"{'problem':<16}" + "".join(f"{m:>21}" for m in labels)
    lines = [head, "-" * len(head)]
    keys = sorted({(r["n"], r["problem"]) for r in rows})
    for n, name in keys:
        cells = []
        for m in labels:
            mine = [r for r in rows if r["method"] == m and r["problem"] == name and r["n"] == n]
            if not mine:
                cells.append(f"{'-':>21}")
                continue
            s = sum(r["success"] for r in mine)
            gap = statistics.median(r["gap"] for r in mine)
            cells.append(f"{s:>5}/{len(mine):<2} {gap:>12.3g}")
        lines.append(f"{name + ' n=' + str(n):<16}" + "".join(cells))
    lines.append("-" * len(head))
    tot = []
    for m in labels:
        mine = [r for r in rows if r["method"] == m]
        tot.append(f"{sum(r['success'] for r in mine):>5}/{len(mine):<15}")
    lines.append(f"{'total':<16}" + "".join(tot))
    return "\n".join(lines)


def totals(rows: list[dict[str, Any]], labels: list[str], reference: str) -> str:
    """Successes and wall time of each method, as ratios to ``reference``'s."""

    def succ(m: str) -> int:
        return sum(r["success"] for r in rows if r["method"] == m)

    def wall(m: str) -> float:
        return statistics.median(r["time"] for r in rows if r["method"] == m)

    def worst(m: str) -> int:
        return max(r["nfev"] for r in rows if r["method"] == m)

    lines = [
        f"{'method':<20}{'successes':>10}{'vs ' + reference:>16}{'median wall s':>15}"
        f"{'wall vs':>10}{'max nfev/budget':>17}"
    ]
    ref_s, ref_t = succ(reference), wall(reference)
    for m in labels:
        budget_share = max(r["nfev"] / (1000 * r["n"]) for r in rows if r["method"] == m)
        ratio = succ(m) / ref_s if ref_s else float("nan")
        lines.append(
            f"{m:<20}{succ(m):>10}{ratio:>16.2f}{wall(m):>15.3f}{wall(m) / ref_t:>10.2f}"
            f"{budget_share:>17.3f}"
        )
        _ = worst
    errors = sorted({(r["method"], r["error"]) for r in rows if r["error"]})
    for m, e in errors[:10]:
        lines.append(f"  error in {m}: {e[:100]}")
    return "\n".join(lines)


def throughput(n: int, balls: int, budget_per_ball: int, repeats: int) -> str:
    """Balls per second of one search, vectorized against one ball at a time (NumPy), with
    the rolling schedule ``"restart"``."""
    p = problems.get("rastrigin")
    box = [(p.lower, p.upper)] * n
    out = []
    walls: dict[bool, list[float]] = {False: [], True: []}
    counts: dict[bool, int] = {}
    for _ in range(repeats):
        for vec in (False, True):
            t0 = time.perf_counter()
            res = rbo.multistart(
                p.value_and_grad, box, balls, jac=True, maxfev=balls * budget_per_ball,
                rng=0, vectorized=vec, schedule="restart",
            )  # fmt: skip
            walls[vec].append(time.perf_counter() - t0)
            counts[vec] = res.n_balls
    for vec in (False, True):
        w = statistics.median(walls[vec])
        out.append((vec, counts[vec], w, counts[vec] / w))
    one, batch = out
    return "\n".join(
        [
            f"rastrigin n={n}, {balls} balls at once, maxfev={balls * budget_per_ball}, "
            f"median of {repeats}:",
            f"  one at a time : {one[1]:>4} balls in {one[2]:.3f} s = {one[3]:8.1f} balls/s",
            f"  vectorized    : {batch[1]:>4} balls in {batch[2]:.3f} s = {batch[3]:8.1f} balls/s",
            f"  ratio vectorized / one at a time: {batch[3] / one[3]:.2f}x (balls/s)",
            "  GPU: not measured (no GPU lent to this run)",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, n = 2 and 10, short")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds from this one on")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 10])
    ap.add_argument(
        "--problems", nargs="+", default=None, help="only these (default: the rugged seven)"
    )
    ap.add_argument("--fd", action="store_true", help="also the finite-difference variant")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=None, help="only these (labels above)")
    ap.add_argument(
        "--throughput", action="store_true", help="only the balls per second, batched or not"
    )
    args = ap.parse_args()
    if args.throughput:
        print(throughput(10, 32, 200 if args.quick else 400, 1 if args.quick else 3))
        return
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    labels = [f"rbo {s}" for s in SCHEDULES] + ["rbo restart, box units", "rbo hop, box units"]
    labels += ["rbo.minimize", "rbo.minimize x4", *BASELINES]
    if args.methods:
        labels = [m for m in labels if m in args.methods]
    t0 = time.perf_counter()
    tasks = [
        (m, name, n, seed, 1000 * n, False)
        for name, n in instances(args.dims, args.problems)
        for seed in range(args.first_seed, args.first_seed + seeds)
        for m in labels
    ]
    if args.fd:
        fd_labels = [f"rbo {SCHEDULES[0]}", "basinhopping", "L-BFGS-B restarts", "dual_annealing"]
        tasks += [
            (m, name, n, seed, 1000 * n, True)
            for name, n in instances(args.dims, args.problems)
            for seed in range(args.first_seed, args.first_seed + seeds)
            for m in fd_labels
        ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_one, tasks, chunksize=1))
    grad = [r for r, t in zip(rows, tasks, strict=True) if not t[5]]
    print(f"budget 1000 n evaluations, {seeds} seeds; cell: successes/seeds, median gap f - f*")
    print("\n## analytic gradients\n")
    print(table(grad, labels, seeds))
    print()
    print(totals(grad, labels, labels[0]))
    if args.fd:
        fd = [r for r, t in zip(rows, tasks, strict=True) if t[5]]
        print("\n## finite differences (every difference value paid)\n")
        print(table(fd, fd_labels, seeds))
        print()
        print(totals(fd, fd_labels, fd_labels[0]))
    print("\n## balls per second on one device (NumPy, this CPU)\n")
    print(throughput(10, 32, 200 if args.quick else 400, 1 if args.quick else 3))
    print(f"\n{len(rows)} runs, {time.perf_counter() - t0:.0f} s wall, {args.jobs} jobs")


if __name__ == "__main__":
    main()
