"""The ironing picture: how the ball's radius smooths the landscape it rolls on.

1. 1-D: the authors' Riemann ("Weierstrass-like") landscape f(x) = sum_k sin(k^2 x)/k^2
   (10 terms; its gradient is sum_k cos(k^2 x)). For several radii: the offset curve
   where a centre of that radius can rest above the graph (the upper envelope of the
   radius-rho circles around its points, lowered by rho so that all share the graph's
   scale), and the centre's path from the same start. Gradient descent is trapped in
   the first wrinkle; larger balls roll over the wrinkles into the global basin, and
   the largest cannot settle in it at all.
2. 2-D: the wrinkled bowl 0.5 |x - 1|^2 + eps sum_i sin(omega x_i), with gradient
   descent's and RBO's paths from the same start.

Run ``python examples/ironing.py --outdir docs/figures``.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rbo
from rbo import problems

RIEMANN_RADII = (0.05, 0.2, 0.5, 2.0)


def offset_curve(f: Any, xs: np.ndarray, radius: float) -> np.ndarray:
    """Height of the lowest centre of a radius-``radius`` disc above ``xs`` that does not
    cut the graph of ``f``: ``max_x f(x) + sqrt(radius^2 - (X - x)^2)`` over the grid."""
    values = np.asarray(f(xs[:, None]))
    dx = xs[1] - xs[0]
    width = int(np.ceil(radius / dx))
    out = np.full(xs.shape, -np.inf)
    for shift in range(-width, width + 1):
        lift = radius**2 - (shift * dx) ** 2
        if lift < 0:
            continue
        rolled = np.roll(values, shift)
        if shift > 0:
            rolled[:shift] = -np.inf
        elif shift < 0:
            rolled[shift:] = -np.inf
        out = np.maximum(out, rolled + np.sqrt(lift))
    return out


def riemann_paths(
    x0: float = 0.3, radii: Sequence[float] = RIEMANN_RADII, lr: float = 0.01, steps: int = 300
) -> dict[str, Any]:
    """Gradient descent's path and RBO's contact and centre paths for each radius."""
    p = problems.riemann(n_terms=10)
    # Every run makes exactly `steps` steps from the same start.
    run = functools.partial(
        rbo.minimize,
        p,
        np.array([x0]),
        jac=p.jac,
        lr=lr,
        maxiter=steps,
        patience=None,
        gtol=0,
        xtol=0,
        return_trajectory=True,
    )
    out: dict[str, Any] = {"problem": p, "gd": run(method="sgd"), "balls": {}, "lr": lr, "x0": x0}
    for radius in radii:
        out["balls"][radius] = run(radius=radius)
    return out


def plot_riemann(paths: dict[str, Any], path: str | Path) -> None:
    """One panel per radius, equal axes so that the balls look round: the graph, the
    offset curve (where a centre can rest without cutting the graph), the centre's
    path, the contact points, and the ball where it ended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    p = paths["problem"]
    xs = np.linspace(-3.6, 1.6, 5201)
    fs = np.asarray(p(xs[:, None]))
    balls = paths["balls"]
    gd = paths["gd"]
    x_star, f_star = p.minimum(1)
    heights = [2.9 + r for r in balls]
    fig, axes = plt.subplots(
        len(balls),
        1,
        figsize=(9, 1.55 * sum(heights)),
        sharex=True,
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    for ax, (radius, res) in zip(np.atleast_1d(axes), balls.items(), strict=True):
        tr = res.trajectory
        ax.plot(xs, fs, color="black", lw=0.8)
        ax.plot(
            xs,
            offset_curve(p, xs, radius),
            color="C0",
            lw=1.0,
            alpha=0.7,
            label="offset curve (centre of a ball resting on the graph)",
        )
        ax.plot(tr.center_x[:, 0], tr.center_y, ".", color="C1", ms=2.5, label="centre path")
        ax.plot(tr.x[:, 0], tr.fun, ".", color="C2", ms=2.5, label="contact points")
        ax.add_patch(
            Circle(
                (float(tr.center_x[-1, 0]), float(tr.center_y[-1])),
                radius,
                fill=False,
                color="C1",
                lw=1.2,
            )
        )
        ax.plot(x_star, [f_star], "*", color="gold", ms=12, mec="black")
        ax.plot(
            [float(gd.x_last[0])],
            [gd.fun_last],
            "x",
            color="red",
            ms=8,
            mew=2,
            label="gradient descent's end",
        )
        ax.set_aspect("equal")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(-1.6, 1.3 + radius)
        ax.set_title(
            f"radius {radius:g}: best f = {res.fun:.2f} at x = {float(res.x[0]):.2f}, "
            f"last x = {float(res.x_last[0]):.2f}  (global minimum ★ f = {f_star:.2f})",
            fontsize=9,
        )
    axes[0].legend(fontsize=7, loc="upper left", ncols=2)
    axes[-1].set_xlabel("x")
    fig.suptitle(
        f"Riemann landscape Σ sin(k²x)/k², 10 terms: {len(gd.trajectory.x) - 1} steps "
        f"of lr {paths['lr']:g} from x = {paths['x0']:g}; the offset curve flattens as "
        "the radius grows",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bowl_paths(
    x0: Sequence[float] = (-1.5, 2.6),
    radii: Sequence[float] = (0.3, 1.0),
    lr: float = 0.05,
    steps: int = 2000,
    eps: float = 0.05,
    omega: float = 25.0,
) -> dict[str, Any]:
    """Gradient descent's and RBO's paths on the 2-D wrinkled bowl."""
    p = problems.wrinkled_bowl(eps=eps, omega=omega)
    start = np.asarray(x0, dtype=float)
    runs = {
        "gradient descent": rbo.minimize(
            p, start, jac=p.jac, method="sgd", lr=lr, maxiter=steps, return_trajectory=True
        )
    }
    for radius in radii:
        runs[f"RBO, radius {radius:g}"] = rbo.minimize(
            p, start, jac=p.jac, radius=radius, lr=lr, maxiter=steps, return_trajectory=True
        )
    return {"problem": p, "runs": runs, "lr": lr, "eps": eps, "omega": omega}


def plot_bowl(paths: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = paths["problem"]
    grid = np.linspace(-2.0, 3.0, 501)
    gx, gy = np.meshgrid(grid, grid)
    values = p(np.stack([gx, gy], axis=-1))
    fig, ax = plt.subplots(figsize=(7, 6.2), layout="constrained")
    contours = ax.contourf(gx, gy, values, levels=40, cmap="Greys")
    fig.colorbar(contours, ax=ax, label="f")
    colours = ["red", "C0", "C2", "C1"]
    for colour, (name, res) in zip(colours, paths["runs"].items(), strict=False):
        tr = np.asarray(res.trajectory.x)
        ax.plot(
            tr[:, 0],
            tr[:, 1],
            ".-",
            color=colour,
            ms=2,
            lw=0.8,
            label=f"{name}: f = {res.fun:.3f} after {res.nit} steps",
        )
    x_star, f_star = p.minimum(2)
    ax.plot(
        *x_star, "*", color="gold", ms=14, mec="black", label=f"global minimum, f = {f_star:.3f}"
    )
    start = paths["runs"]["gradient descent"].trajectory.x[0]
    ax.plot(*start, "o", color="black", ms=6, label="start")
    ax.set_title(
        f"Wrinkled bowl ½|x − 1|² + {paths['eps']:g} Σ sin({paths['omega']:g} xᵢ), "
        f"lr {paths['lr']:g}",
        fontsize=10,
    )
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=Path("."), help="where the PNGs go")
    parser.add_argument("--steps", type=int, default=300, help="steps on the 1-D landscape")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    riemann = riemann_paths(steps=args.steps)
    plot_riemann(riemann, args.outdir / "ironing_riemann.png")
    bowl = bowl_paths()
    plot_bowl(bowl, args.outdir / "ironing_bowl.png")
    print(f"1-D Riemann landscape, {args.steps} steps of lr {riemann['lr']} from x = 0.3:")
    gd = riemann["gd"]
    print(f"  gradient descent: x = {float(gd.x_last[0]):.3f}, f = {gd.fun_last:.3f}")
    for radius, res in riemann["balls"].items():
        print(
            f"  radius {radius:g}: best x = {float(res.x[0]):.3f}, f = {res.fun:.3f}; "
            f"last x = {float(res.x_last[0]):.3f}; {res.nfev} evaluations"
        )
    x_star, f_star = riemann["problem"].minimum(1)
    print(f"  global minimum: x = {x_star[0]:.3f}, f = {f_star:.3f}")
    print("2-D wrinkled bowl from (-1.5, 2.6):")
    for name, res in bowl["runs"].items():
        print(f"  {name}: x = {np.round(res.x, 3).tolist()}, f = {res.fun:.4f}, {res.nit} steps")
    print(f"  global minimum: f = {bowl['problem'].minimum(2)[1]:.4f}")
    return {"riemann": riemann, "bowl": bowl}


if __name__ == "__main__":
    main()
