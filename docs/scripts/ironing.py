"""Draw docs/img/ironing.png: what the rolling ball sees of a wrinkled landscape.

Left: a 1-D wrinkled bowl ``½(x − 1)² + 0.2 sin(10 x)`` and, for several radii, the lowest
point of a ball of that radius resting on it above each abscissa (the landscape "ironed" by
the ball). Right: rbo's contact points from the same start with a tiny radius (close to
gradient descent) and with radius 1.

    python docs/scripts/ironing.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import rbo

OUT = Path(__file__).resolve().parents[1] / "img" / "ironing.png"
BOWL = rbo.problems.get("wrinkled_bowl", eps=0.2, omega=10.0)


def f(x: np.ndarray) -> np.ndarray:
    return BOWL(x[:, None])


def ironed(u: np.ndarray, radius: float, x: np.ndarray) -> np.ndarray:
    """Height of the lowest point of a ball of ``radius`` resting on the graph above ``u``:
    its centre sits at ``max_x f(x) + sqrt(radius² − (u − x)²)`` over ``|u − x| <= radius``."""
    fx = f(x)
    d = u[:, None] - x[None, :]
    lift = np.sqrt(np.clip(radius**2 - d**2, 0.0, None))
    centre = np.where(np.abs(d) <= radius, fx[None, :] + lift, -np.inf).max(axis=1)
    return centre - radius


def main() -> None:
    x = np.linspace(-2.5, 4.5, 4001)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(x, f(x), color="k", lw=1, label="f")
    u = x[(x > -2.0) & (x < 4.0)]
    for radius, color in ((0.1, "tab:blue"), (0.5, "tab:orange"), (2.0, "tab:red")):
        left.plot(
            u, ironed(u, radius, x), color=color, lw=2, label=f"ball bottom, radius {radius:g}"
        )
    left.set_xlim(-2, 4)
    left.set_ylim(-0.5, 5)
    left.set_title("The landscape as a ball of each radius sees it", fontsize=10)
    left.set_xlabel("x")
    left.legend(fontsize=8)

    right.plot(x, f(x), color="k", lw=1)
    x0 = np.array([-1.5])
    for radius, color, marker in ((0.01, "tab:blue", "o"), (1.0, "tab:red", "s")):
        res = rbo.minimize(
            BOWL, x0, jac=BOWL.jac, radius=radius, lr=0.1, maxiter=300, return_trajectory=True,
            polish=False,  # the ball alone, as the text describes it
        )  # fmt: skip
        xs = res.trajectory.x[:, 0]
        right.plot(
            xs,
            f(xs),
            marker,
            color=color,
            ms=4,
            alpha=0.6,
            label=f"rbo radius {radius:g}: ends at f = {res.fun:.2f}",
        )
    argmin, fmin = BOWL.minimum(1)
    right.plot(argmin, [fmin], "*", color="gold", ms=14, mec="k", label="global minimum")
    right.set_xlim(-2, 4)
    right.set_ylim(-0.5, 5)
    right.set_title("Contact points of rbo from x = -1.5 (lr 0.1)", fontsize=10)
    right.set_xlabel("x")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
