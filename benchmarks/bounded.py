"""Bounded ``method="lbfgs"`` against scipy's L-BFGS-B on many random boxes (NumPy).

One bounded problem says little about a projected method: which faces end active, and
how many steps reach them, depends on the box and the start. This draws, from one seed,

- 12 Rosenbrock problems, n = 10: a box ``[-2, 2]`` with three lower sides raised into
  ``[1.2, 1.8]`` and two upper sides lowered into ``[0.2, 0.8]``, a uniform start in it;
- 8 quadratics ``sum(s_i (x_i - c_i)^2) / 2``, n = 20, ``s`` from 1 to 1e3, centres
  ``c ~ N(0, 2)`` (most outside the box ``[-1, 1]``), a uniform start in the box;

and runs both methods from the same start: rbo to ``gtol = 1e-8`` on the projected
gradient's 2-norm (``ftol = xtol = 0``), scipy at the same ``gtol`` on its max-norm and
``ftol = 0`` (it stops where f no longer changes). Each row prints the evaluations, their
ratio (rbo / scipy), the difference of the final values and the distance of the final
points. A bounded Rosenbrock has several stationary points on the faces: rows where the
two end at different points (``|dx| > 1e-4``) are shown but left out of the ratios.

    python benchmarks/bounded.py
"""

from __future__ import annotations

import os
import statistics
import warnings
from collections.abc import Callable, Iterator
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

import rbo  # noqa: E402
from rbo.problems import rosenbrock  # noqa: E402

Problem = tuple[str, Callable[[np.ndarray], tuple[Any, np.ndarray]], np.ndarray, Any, Any]


def problems(seed: int = 1) -> Iterator[Problem]:
    rng = np.random.default_rng(seed)
    for k in range(12):
        n = 10
        lo, hi = np.full(n, -2.0), np.full(n, 2.0)
        lo[rng.choice(n, 3, replace=False)] = rng.uniform(1.2, 1.8, 3)
        hi[rng.choice(n, 2, replace=False)] = rng.uniform(0.2, 0.8, 2)
        lo = np.minimum(lo, hi - 0.1)
        yield f"rosenbrock {k}", rosenbrock.value_and_grad, rng.uniform(lo, hi), lo, hi
    for k in range(8):
        n = 20
        scales, centre = np.logspace(0, 3, n), rng.normal(0.0, 2.0, n)

        def fg(x: np.ndarray, s: np.ndarray = scales, c: np.ndarray = centre) -> Any:
            d = x - c
            return 0.5 * float(np.sum(s * d * d)), s * d

        lo, hi = np.full(n, -1.0), np.full(n, 1.0)
        yield f"quadratic {k}", fg, rng.uniform(lo, hi), lo, hi


def main() -> None:
    head = f"{'problem':14} {'rbo nfev':>8} {'scipy nfev':>10}"
    print(f"{head} {'ratio':>6} {'f diff':>9} {'|dx|':>8}")
    ratios = []
    for name, fg, x0, lo, hi in problems():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = rbo.minimize(
                fg,
                x0,
                jac=True,
                method="lbfgs",
                bounds=optimize.Bounds(lo, hi),
                gtol=1e-8,
                ftol=0,
                xtol=0,
                patience=None,
                maxiter=2000,
            )
            s = optimize.minimize(
                fg,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=optimize.Bounds(lo, hi),
                options={"gtol": 1e-8, "ftol": 0.0, "maxiter": 2000},
            )
        dx = float(np.max(np.abs(r.x - s.x)))
        same = dx <= 1e-4
        if same:
            ratios.append(r.nfev / s.nfev)
        mark = "" if same else "  (different points)"
        print(
            f"{name:14} {r.nfev:8d} {s.nfev:10d} {r.nfev / s.nfev:6.2f} "
            f"{r.fun - s.fun:+9.1e} {dx:8.1e}{mark}"
        )
    print(
        f"\nsame point in {len(ratios)} of 20: evaluations rbo / scipy median "
        f"{statistics.median(ratios):.2f}, worst {max(ratios):.2f}, best {min(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
