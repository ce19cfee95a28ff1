"""The main job: RBO beside scipy's L-BFGS-B on a rugged landscape, from the same starts."""

from __future__ import annotations

import statistics
import time
from typing import Any

__all__ = ["demo"]


def demo(
    problem: str = "riemann", n: int = 10, starts: int = 5, seed: int = 0, **options: Any
) -> list[dict[str, Any]]:
    """Run RBO and L-BFGS-B from the same seeded starts and print a comparison table.

    Parameters
    ----------
    problem : str
        A name in :data:`rbo.problems.PROBLEMS`.
    n : int
        Dimension.
    starts : int
        Number of random starts, drawn uniformly in the problem's box.
    seed : int
        Seed of the starts.
    **options
        Options of :func:`rbo.minimize` (``radius``, ``lr``, ``maxiter``, ...).

    Returns
    -------
    list of dict
        One row per method: median final value, best value, median evaluations and median
        time per run.
    """
    import numpy as np
    from scipy.optimize import minimize as scipy_minimize

    from . import problems
    from ._minimize import minimize

    p = problems.get(problem)
    if p.ndim is not None:
        n = p.ndim
    rng = np.random.default_rng(seed)
    x0s = [rng.uniform(p.lower, p.upper, n) for _ in range(starts)]
    options = {"radius": 1.0, "lr": 0.1, "maxiter": 500, **options}
    runs = {
        "rbo": lambda x0: minimize(p, x0, jac=p.jac, **options),
        "L-BFGS-B": lambda x0: scipy_minimize(p, x0, jac=p.jac, method="L-BFGS-B"),
    }
    rows = []
    for name, run in runs.items():
        values, evals, times = [], [], []
        for x0 in x0s:
            t = time.perf_counter()
            res = run(x0)
            times.append(time.perf_counter() - t)
            values.append(float(res.fun))
            evals.append(int(res.nfev))
        rows.append(
            {
                "method": name,
                "median f": statistics.median(values),
                "best f": min(values),
                "median nfev": statistics.median(evals),
                "median time [s]": statistics.median(times),
            }
        )
    _, fmin = p.minimum(n)
    print(f"{p.name}, n = {n}, {starts} starts (seed {seed}); global minimum f = {fmin}")
    print(f"rbo options: {options}")
    header = list(rows[0])
    print(" | ".join(f"{h:>16}" for h in header))
    for row in rows:
        print(" | ".join(f"{_fmt(row[h]):>16}" for h in header))
    return rows


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
