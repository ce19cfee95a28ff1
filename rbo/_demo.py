"""The main job: RBO beside L-BFGS-B and basinhopping on a rugged landscape, same starts and
the same evaluation budget, with a picture of the paths on the problem's 2-D version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["demo", "plot_paths"]


def demo(
    problem: str = "levy",
    n: int = 2,
    starts: int = 10,
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
    given = f"options {options}" if options else "its defaults"
    print(f"rbo: {given}; L-BFGS-B and basinhopping: scipy's defaults")
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


def first_roll(trajectory: Any) -> Any:
    """The rows of ``res.trajectory`` that are the ball's own path: its first roll (every
    row when the ball ran alone, ``polish=False``; none when it never rolled)."""
    import numpy as np

    rows = np.ones(len(trajectory.x), dtype=bool)
    if "phase" in trajectory:
        phase, part = np.asarray(trajectory.phase), np.asarray(trajectory.part)
        rolled = part[phase == 1]
        rows = part == (rolled[0] if len(rolled) else -1)
    return rows


def plot_paths(
    problem: str, path: str | Path, *, seed: int = 0, budget: int = 2000, **options: Any
) -> dict[str, Any]:
    """Draw RBO and L-BFGS-B on ``problem`` in 2-D from one seeded start.

    For RBO the picture shows the path of the ball's centre (a line) and the contact points
    it touched (dots, which jump where the ball rolls from one wrinkle to the next), for
    L-BFGS-B its iterates; a star marks each method's best point and a gold star every copy
    of the global minimum in view. The view is fitted to the paths, not to the problem's box.

    Returns
    -------
    dict
        What was drawn: ``contacts`` and ``centres`` (RBO's, one row per step), ``lbfgs``
        (L-BFGS-B's iterates), ``best`` (method -> (point, value), the best point each
        evaluated), ``minima`` (the copies of the global minimiser in view) and ``view``
        (``(lower, upper)`` corners).
    """
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
    # Both methods see the objective through the benchmark's counter: the same budget, and
    # the best point marked is the best point evaluated, the one the table scores.
    counted = Counted(p.value_and_grad, budget)
    seen: list[Any] = []

    def logged(x: Any) -> Any:
        seen.append(np.array(x, dtype=float))
        return counted.value_and_grad(x)

    try:
        res = minimize(logged, x0, jac=True, maxfev=budget, return_trajectory=True, **options)
    except BudgetExhausted as exc:
        res = exc.rbo_result  # type: ignore[attr-defined]
    evaluated = np.array(seen)
    walk = res.trajectory
    rows = first_roll(walk)
    contacts = np.asarray(walk.x, dtype=float)[rows]
    centres = np.asarray(walk.center_x, dtype=float)[rows]
    rbo_best, rbo_fbest = counted.best_x, counted.best_f

    lbfgs = [np.array(x0, dtype=float)]
    counted = Counted(p.value_and_grad, budget)
    try:
        scipy_minimize(
            counted.value_and_grad,
            x0,
            jac=True,
            method="L-BFGS-B",
            callback=lambda xk: lbfgs.append(np.array(xk, dtype=float)),
        )
    except BudgetExhausted:
        pass
    iterates = np.array(lbfgs)
    lbfgs_best, lbfgs_fbest = counted.best_x, counted.best_f

    # The view holds every point drawn, with a margin; the landscape is drawn over it.
    shown = np.concatenate([contacts, centres, iterates, evaluated, [rbo_best, lbfgs_best]])
    lo, hi = shown.min(axis=0), shown.max(axis=0)
    pad = 0.08 * max(float(np.max(hi - lo)), 1e-3)
    # No further out than the problem's box (a grown ball's trial points may leave it).
    lo = np.maximum(lo - pad, np.minimum(p.lower, np.minimum(rbo_best, lbfgs_best)))
    hi = np.minimum(hi + pad, np.maximum(p.upper, np.maximum(rbo_best, lbfgs_best)))

    def inside(a: Any) -> Any:
        return np.all((a >= lo) & (a <= hi), axis=-1)

    keep = inside(contacts) & inside(centres)
    contacts, centres = contacts[keep], centres[keep]
    evaluated, iterates = evaluated[inside(evaluated)], iterates[inside(iterates)]
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    zz, _ = p.value_and_grad(np.stack([gx, gy], axis=-1))

    fig, ax = plt.subplots(figsize=(7.6, 5.6))
    cs = ax.contourf(gx, gy, zz, levels=40, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="f", shrink=0.8)
    radius = float(res.get("radius", options.get("radius", 0.0)))
    label = "rbo's first ball" if "radius" not in options else f"rbo (radius {radius:.3g})"
    ax.plot(
        evaluated[:, 0],
        evaluated[:, 1],
        ".",
        color="0.85",
        ms=1.5,
        alpha=0.6,
        label="every point rbo evaluated",
    )
    ax.plot(
        centres[:, 0],
        centres[:, 1],
        "-",
        color="white",
        lw=0.9,
        alpha=0.8,
        label=f"{label}: centre",
    )
    ax.plot(contacts[:, 0], contacts[:, 1], "o", color="orange", ms=2.5, label=f"{label}: contact")
    ax.plot(iterates[:, 0], iterates[:, 1], "-o", color="tab:red", ms=3, lw=1.2, label="L-BFGS-B")
    ax.plot(*x0, "o", color="k", ms=8, label="start")
    ax.plot(*rbo_best, "*", color="orange", ms=15, mec="k", label=f"rbo best, f = {rbo_fbest:.3g}")
    ax.plot(
        *lbfgs_best,
        "*",
        color="tab:red",
        ms=15,
        mec="k",
        label=f"L-BFGS-B best, f = {lbfgs_fbest:.3g}",
    )
    minima = _global_minima_in_view(p, lo, hi)
    for xstar in minima:
        ax.plot(*xstar, "*", color="gold", ms=17, mec="k", label="global minimum")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_title(f"{p.name}, n = 2, {budget} evaluations from one start", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))  # one legend line per copy of f*
    # Below the axes, so that it hides none of the paths.
    ax.legend(
        unique.values(),
        unique.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        ncol=3,
        fontsize=7.5,
        facecolor="0.75",  # the centre path is drawn in white
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {
        "contacts": contacts,
        "centres": centres,
        "lbfgs": iterates,
        "evaluated": evaluated,
        "best": {"rbo": (rbo_best, rbo_fbest), "L-BFGS-B": (lbfgs_best, lbfgs_fbest)},
        "minima": minima,
        "view": (lo, hi),
    }


def _global_minima_in_view(p: Any, lo: Any, hi: Any) -> list[Any]:
    """The global minimiser and those of its copies shifted by one box width (there are such
    copies on periodic landscapes) that lie in the view ``[lo, hi]`` and have the global
    minimum's value."""
    import numpy as np  # plotting only

    argmin, fmin = p.minimum(2)
    if argmin is None or fmin is None:
        return []
    width = p.upper - p.lower
    found = []
    for shift in ((i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)):
        x = np.asarray(argmin, dtype=float) + width * np.asarray(shift, dtype=float)
        inside = bool(np.all(x >= lo) and np.all(x <= hi))
        if inside and abs(float(p.value_and_grad(x)[0]) - fmin) <= 1e-9 * max(1.0, abs(fmin)):
            found.append(x)
    return found


def _text_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as an aligned plain-text table."""
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    head = list(rows[0])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
