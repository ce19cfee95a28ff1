"""The main job: RBO beside L-BFGS-B and basinhopping on a rugged landscape, same starts and
the same evaluation budget, with a picture of the paths on the problem's 2-D version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["demo", "plot_paths"]


def demo(
    problem: str = "riemann",
    n: int = 10,
    starts: int = 5,
    seed: int = 0,
    *,
    budget: int = 2000,
    png: str | Path | None = "rbo-demo.png",
    **options: Any,
) -> list[dict[str, Any]]:
    """Run RBO, L-BFGS-B and basinhopping from the same seeded starts and print a table.

    Parameters
    ----------
    problem : str
        A name in :data:`rbo.problems.PROBLEMS`.
    n : int
        Dimension (ignored by problems of fixed dimension).
    starts : int
        Number of random starts, drawn uniformly in the problem's box.
    seed : int
        Seed of the starts.
    budget : int
        Evaluations allowed to every method from every start.
    png : str or Path or None
        Where to draw the paths of RBO and L-BFGS-B on the problem in 2-D from the first
        start; None (or no matplotlib) draws nothing.
    **options
        Options of rbo (``radius``, ``lr``, ...).

    Returns
    -------
    list of dict
        One row per method: successes, median and best gap to the global minimum, median
        evaluations and median time per run.
    """
    from . import problems
    from ._bench import method, run_suite, summarize, target

    p = problems.get(problem)
    if p.ndim is not None:
        n = p.ndim
    options = {"radius": 1.0, "lr": 0.1, **options}
    methods = [method("rbo", **options), method("L-BFGS-B"), method("basinhopping")]
    runs = run_suite([problem], [n], methods, starts, budget, seed=seed)
    rows = []
    for s in summarize(runs):
        gaps = [r.gap for r in runs if r.method == s.method]
        rows.append(
            {
                "method": s.method,
                "success": f"{s.successes}/{s.runs}",
                "median gap": s.median_gap,
                "best gap": min(gaps),
                "median evals": s.median_nfev,
                "median time [s]": s.median_time,
            }
        )
    tgt = target(problem, n)
    print(f"{p.name}, n = {n}: {starts} random starts (seed {seed}), {budget} evaluations each")
    print(f"global minimum f* = {tgt.fmin:.6g}; success means {tgt.rule}")
    print(f"rbo options: {options}; L-BFGS-B and basinhopping: scipy's defaults")
    print()
    print(_text_table(rows))
    if png is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("\n(matplotlib is not installed: no picture; pip install 'rbo[plot]')")
        else:
            plot_paths(problem, png, seed=seed, budget=budget, **options)
            print(f"\npaths of rbo and L-BFGS-B on {p.name} in 2-D: {png}")
    return rows


def plot_paths(
    problem: str, path: str | Path, *, seed: int = 0, budget: int = 2000, **options: Any
) -> None:
    """Draw the paths of RBO and L-BFGS-B on ``problem`` in 2-D from one seeded start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np  # plotting only
    from scipy.optimize import minimize as scipy_minimize

    from . import problems
    from ._bench import BudgetExhausted, Counted, start_points
    from ._minimize import minimize

    p = problems.get(problem)
    if p.ndim not in (None, 2):
        raise ValueError(f"{problem} has dimension {p.ndim}; the picture needs n = 2")
    x0 = start_points(problem, 2, 1, seed)[0]

    def record(run: Any) -> np.ndarray:
        points = [x0]
        obj = Counted(p.value_and_grad, budget)
        try:
            run(obj, lambda xk: points.append(np.array(xk, dtype=float)))
        except BudgetExhausted:
            pass
        return np.array(points)

    paths = {
        f"rbo (radius {options.get('radius', 1.0)}, lr {options.get('lr', 0.1)})": record(
            lambda obj, cb: minimize(
                obj.value_and_grad, x0, jac=True, maxiter=budget, callback=cb, **options
            )
        ),
        "L-BFGS-B": record(
            lambda obj, cb: scipy_minimize(
                obj.value_and_grad, x0, jac=True, method="L-BFGS-B", callback=cb
            )
        ),
    }
    grid = np.linspace(p.lower, p.upper, 300)
    xx, yy = np.meshgrid(grid, grid)
    zz, _ = p.value_and_grad(np.stack([xx, yy], axis=-1))
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    cs = ax.contourf(xx, yy, zz, levels=40, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="f")
    for (label, pts), color in zip(paths.items(), ("white", "tab:red"), strict=True):
        ax.plot(pts[:, 0], pts[:, 1], "-o", color=color, ms=2.5, lw=1.2, label=label)
        ax.plot(*pts[-1], "s", color=color, ms=7, mec="k")
    ax.plot(*x0, "o", color="k", ms=8, label="start")
    argmin, _ = p.minimum(2)
    if argmin is not None:
        ax.plot(*argmin, "*", color="gold", ms=16, mec="k", label="global minimum")
    ax.set_xlim(p.lower, p.upper)
    ax.set_ylim(p.lower, p.upper)
    ax.set_title(f"{p.name}, n = 2: paths from one start (squares: last points)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _text_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as an aligned plain-text table."""
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    head = list(rows[0])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
