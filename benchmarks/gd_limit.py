"""How far the gradient-descent limit of RBO reaches, on Rosenbrock.

One RBO step with radius 1e-8 against one gradient step of the same learning rate: the
relative difference of the two steps, beside the prediction
``lr * |g.H.g| / (2 (1 + |g|^2))`` (the bend of the graph under the lifted step).

Run: ``python benchmarks/gd_limit.py``
"""

from __future__ import annotations

import time

import numpy as np

import rbo

POINTS = ([0.01, 0.0], [0.5, 0.2], [-1.2, 1.0])
LRS = (1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2)


def hessian(x: np.ndarray) -> np.ndarray:
    a, b = x
    return np.array([[2 - 400 * (b - 3 * a * a), -400 * a], [-400 * a, 200.0]])


def deviation(x0: np.ndarray, lr: float) -> float:
    fg = rbo.problems.rosenbrock.value_and_grad
    solver = rbo.RBO(radius=1e-8, lr=lr)
    state = solver.init(fg, x0)
    after = solver.step(fg, state)
    d_gd = -lr * state.g
    return float(np.linalg.norm((after.x - state.x) - d_gd) / np.linalg.norm(d_gd))


def main() -> None:
    print(f"# RBO step vs gradient step on Rosenbrock, radius 1e-8 ({time.strftime('%Y-%m-%d')})\n")
    print("| point | " + " | ".join(f"lr={lr:g}" for lr in LRS) + " | predicted / lr |")
    print("|" + "---|" * (len(LRS) + 2))
    for p in POINTS:
        x = np.asarray(p)
        g = rbo.problems.rosenbrock.jac(x)
        slope = 0.5 * abs(g @ hessian(x) @ g) / (1 + g @ g)
        cells = " | ".join(f"{deviation(x, lr):.1e}" for lr in LRS)
        print(f"| {tuple(p)} | {cells} | {slope:.3g} |")


if __name__ == "__main__":
    main()
