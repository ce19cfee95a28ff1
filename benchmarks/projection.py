"""Projection solvers side by side: residual |grad D| after k evaluations.

Along a 30-step RBO run (Gauss-Newton projections drive the run), each step's foot-point
problem is also solved by the reference fixed-step descent ("gd") with the step sizes of
the reference code, with the same number of evaluations. Prints medians over the steps,
the fraction of steps where Gauss-Newton is ahead, and how often gd diverged.

Run: ``python benchmarks/projection.py``
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np

import rbo
from rbo._geometry import descended_center
from rbo._projection import ProjStatus, project

EVALS = (1, 2, 3, 5, 10, 20)
GD_STEPS = (1e-2, 1e-3, 1e-4)
CASES = [
    # (name, problem, start, radius, lr): radius * curvature below and above 1.
    ("rosenbrock n=2, radius 1e-3", rbo.problems.rosenbrock, np.array([-1.2, 1.0]), 1e-3, 1e-3),
    ("rosenbrock n=2, radius 0.1", rbo.problems.rosenbrock, np.array([-1.2, 1.0]), 0.1, 1e-3),
    ("rastrigin n=10, radius 2e-3", rbo.problems.rastrigin, np.linspace(-4.5, 4.0, 10), 2e-3, 1e-3),
    ("rastrigin n=10, radius 1", rbo.problems.rastrigin, np.linspace(-4.5, 4.0, 10), 1.0, 1e-3),
]


def residuals(problem, x0, radius, lr, steps=30):
    fg = problem.value_and_grad
    solver = rbo.RBO(radius=radius, lr=lr)
    state = solver.init(fg, x0)
    gn = {k: [] for k in EVALS}
    gd = {(k, h): [] for k in EVALS for h in GD_STEPS}
    diverged = {h: 0 for h in GD_STEPS}
    for _ in range(steps):
        cx, cy = descended_center(state.x, state.f, state.g, radius, lr)
        args = (fg, state.x, state.f, state.g, cx, cy)
        for k in EVALS:
            gn[k].append(float(project(*args, maxiter=k, rtol=0.0).residual))
            for h in GD_STEPS:
                p = project(*args, method="gd", maxiter=k, step=h, rtol=0.0)
                gd[k, h].append(float(p.residual))
                if k == EVALS[-1] and int(p.status) == ProjStatus.DIVERGED:
                    diverged[h] += 1
        state = solver.step(fg, state)
    return gn, gd, diverged, steps


def main() -> None:
    print(
        f"# Projection residual per evaluation ({platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')})\n"
    )
    for name, problem, x0, radius, lr in CASES:
        gn, gd, diverged, steps = residuals(problem, x0, radius, lr)
        print(f"## {name}, lr {lr}\n")
        head = "| evaluations | Gauss-Newton | " + " | ".join(f"gd h={h:g}" for h in GD_STEPS)
        print(head + " | GN ahead of best gd |")
        print("|" + "---|" * (3 + len(GD_STEPS)))
        for k in EVALS:
            med_gn = statistics.median(gn[k])
            cells = [f"{statistics.median(gd[k, h]):.2e}" for h in GD_STEPS]
            best_gd = np.min([gd[k, h] for h in GD_STEPS], axis=0)
            ahead = np.mean(np.asarray(gn[k]) < best_gd)
            print(f"| {k} | {med_gn:.2e} | " + " | ".join(cells) + f" | {ahead:.0%} |")
        div = ", ".join(f"h={h:g}: {diverged[h]}/{steps}" for h in GD_STEPS)
        print(f"\ngd diverged (after {EVALS[-1]} evaluations): {div}\n")


if __name__ == "__main__":
    main()
