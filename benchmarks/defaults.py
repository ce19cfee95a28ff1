"""Evidence for rbo's defaults: radius × learning rate, the vertical scale, a shrinking radius.

Three experiments, all with rbo alone, the same seeded starts and budget as ``rbo bench``:

1. **sweep**: radius in {0.1, 0.3, 1, 3} × lr in {0.01, 0.1, 1} over every problem at
   n = 10 (gaussian_wells and noisy_regression at their n = 2), with ``fscale = 1`` and
   with ``fscale`` set to the spread of f over the box (the standard deviation of f at
   1000 uniform points of the box, seed 0);
2. **ring**: on ½‖x‖² from ones(3), the value where the ball comes to rest for several
   radii, with the radius constant and shrinking (``radius(k) = max(r₀ 0.97ᵏ, 1e-3)``),
   and a picture of both;
3. **schedule**: the default radius constant against the same shrinking schedule over the
   sweep's problems.

Run from the repository root (about 10 minutes on 2 cores with the defaults)::

    python benchmarks/defaults.py --out docs/benchmarks/defaults

It writes ``sweep.md``, ``sweep.csv``, ``ring.md``, ``ring.png``, ``schedule.md`` and
``schedule.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbo import minimize, problems
from rbo._bench import instances, method, provenance, run_suite, summarize, write_csv

RADII = (0.1, 0.3, 1.0, 3.0)
LRS = (0.01, 0.1, 1.0)
DEFAULT = (1.0, 0.1)


@dataclass(frozen=True)
class Shrink:
    """Radius schedule ``k -> max(start · factor**k, floor)`` (a class, so it pickles)."""

    start: float
    factor: float = 0.97
    floor: float = 1e-3

    def __call__(self, k: int) -> float:
        return max(self.start * self.factor**k, self.floor)


def spread(name: str, n: int) -> float:
    """Standard deviation of f at 1000 uniform points of the problem's box (seed 0)."""
    p = problems.get(name)
    f, _ = p.value_and_grad(np.random.default_rng(0).uniform(p.lower, p.upper, (1000, n)))
    return float(np.std(f))


def _label(radius: float, lr: float) -> str:
    return f"r={radius:g} lr={lr:g}"


def sweep(names, n, starts, budget, jobs, progress):
    """Success and median gap of every (radius, lr), with fscale 1 and fscale = spread."""
    rows = []
    for name, dim in instances(names, [n]):
        scales = {"1": 1.0, "spread": spread(name, dim)}
        for scale_name, fscale in scales.items():
            methods = [
                method(
                    "rbo",
                    label=f"{_label(r, lr)} fscale={scale_name}",
                    radius=r,
                    lr=lr,
                    fscale=fscale,
                )
                for r in RADII
                for lr in LRS
            ]
            rows += summarize(
                run_suite([name], [dim], methods, starts, budget, jobs=jobs, progress=progress)
            )
    return rows


def sweep_table(rows, scale_name: str) -> str:
    """Markdown: one row per (radius, lr), one column per problem, and the totals."""
    rows = [s for s in rows if s.method.endswith(f"fscale={scale_name}")]
    problems_ = list(dict.fromkeys((s.problem, s.n) for s in rows))
    configs = list(dict.fromkeys(s.method for s in rows))
    by = {(s.method, s.problem, s.n): s for s in rows}
    # Rank of the median gap on each problem (1 = lowest), averaged: a score for problems
    # where no setting succeeds.
    ranks: dict[str, list[float]] = {c: [] for c in configs}
    for pn in problems_:
        gaps = sorted(by[c, *pn].median_gap for c in configs)
        for c in configs:
            ranks[c].append(gaps.index(by[c, *pn].median_gap) + 1)
    head = ["radius, lr", *(f"{p} ({n})" for p, n in problems_), "successes", "mean gap rank"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best_total = max(sum(by[c, *pn].successes for pn in problems_) for c in configs)
    for c in configs:
        total = sum(by[c, *pn].successes for pn in problems_)
        name = c.removesuffix(f" fscale={scale_name}")
        if name == _label(*DEFAULT):
            name = f"**{name} (default)**"
        cells = [f"{by[c, *pn].successes} · {by[c, *pn].median_gap:.2g}" for pn in problems_]
        total_cell = f"**{total}**" if total == best_total else str(total)
        lines.append(
            "| " + " | ".join([name, *cells, total_cell, f"{statistics.mean(ranks[c]):.1f}"]) + " |"
        )
    return "\n".join(lines)


def ring(path_png: Path | None):
    """Where the ball rests on ½‖x‖² from ones(3), radius constant or shrinking."""
    q = problems.quadratic
    x0 = np.ones(3)
    rows, curves = [], {}
    for r in (0.3, 0.5, 1.0, 2.0, 4.0):
        for kind, radius in (("constant", r), ("shrinking", Shrink(r))):
            values = []
            res = minimize(
                q.value_and_grad,
                x0,
                jac=True,
                radius=radius,
                lr=0.1,
                maxiter=2000,
                callback=lambda xk, values=values: values.append(0.5 * xk @ xk),
            )
            rows.append((r, kind, res.fun, res.nit, res.nfev, float(np.linalg.norm(res.x))))
            curves[r, kind] = values
    lines = [
        "| radius r₀ | radius | best f | steps | evaluations | ‖x‖ at best |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r:g} | {kind} | {f:.3g} | {nit} | {nfev} | {norm:.3g} |"
        for r, kind, f, nit, nfev, norm in rows
    ]
    if path_png is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for (r, kind), values in curves.items():
            if r in (0.5, 1.0, 2.0):
                ax.semilogy(
                    values, ls="-" if kind == "constant" else "--", label=f"radius {r:g}, {kind}"
                )
        ax.set_xlabel("step")
        ax.set_ylabel("f = ½‖x‖²")
        ax.set_title("½‖x‖² from ones(3), lr 0.1: constant radius rests on a ring", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path_png, dpi=90)
        plt.close(fig)
    return "\n".join(lines)


def schedule(names, n, starts, budget, jobs, progress):
    methods = [
        method("rbo", label="radius 1 constant", radius=1.0, lr=0.1),
        method("rbo", label="radius 1 shrinking", radius=Shrink(1.0), lr=0.1),
    ]
    return summarize(run_suite(names, [n], methods, starts, budget, jobs=jobs, progress=progress))


def schedule_table(rows) -> str:
    head = ["problem", "n", "constant: successes · median gap", "shrinking: successes · median gap"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(s.problem, s.n, s.method): s for s in rows}
    for p, dim in dict.fromkeys((s.problem, s.n) for s in rows):
        cells = [
            f"{by[p, dim, m].successes}/{by[p, dim, m].runs} · {by[p, dim, m].median_gap:.2g}"
            for m in ("radius 1 constant", "radius 1 shrinking")
        ]
        lines.append("| " + " | ".join([p, str(dim), *cells]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=sorted(problems.PROBLEMS))
    parser.add_argument("--n", type=int, default=10, help="dimension (default: 10)")
    parser.add_argument("--starts", type=int, default=10, help="starts (default: 10)")
    parser.add_argument("--budget", type=int, default=2000, help="evaluations (default: 2000)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--out", default="docs/benchmarks/defaults", help="output directory")
    parser.add_argument(
        "--only",
        choices=["sweep", "ring", "schedule"],
        nargs="+",
        default=["sweep", "ring", "schedule"],
        help="experiments to run",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/defaults.py " + " ".join(sys.argv[1:] if argv is None else argv)
    done = 0

    def progress(run) -> None:
        nonlocal done
        done += 1
        if done % 50 == 0:
            print(f"  {done} runs", file=sys.stderr, flush=True)

    note = (
        f"{args.starts} starts per problem, budget {args.budget} evaluations, n = {args.n} "
        "(gaussian_wells and noisy_regression: n = 2)"
    )
    if "sweep" in args.only:
        t0 = time.perf_counter()
        rows = sweep(args.problems, args.n, args.starts, args.budget, args.jobs, progress)
        meta = provenance(command, time.perf_counter() - t0, args.jobs, note)
        text = [
            meta,
            "",
            f"Each cell: successes out of {args.starts} · median gap to the global minimum.",
            "",
        ]
        for scale_name, title in (
            ("1", "fscale = 1 (the default)"),
            ("spread", "fscale = spread of f over the box"),
        ):
            text += [f"#### {title}", "", sweep_table(rows, scale_name), ""]
        (out / "sweep.md").write_text("\n".join(text))
        write_csv(rows, out / "sweep.csv")
        print("\n".join(text))
    if "ring" in args.only:
        t0 = time.perf_counter()
        table = ring(out / "ring.png")
        meta = provenance(
            command,
            time.perf_counter() - t0,
            1,
            "rbo.minimize, lr 0.1, maxiter 2000, default stopping rules",
        )
        (out / "ring.md").write_text(meta + "\n\n" + table + "\n")
        print(table)
    if "schedule" in args.only:
        t0 = time.perf_counter()
        rows = schedule(args.problems, args.n, args.starts, args.budget, args.jobs, progress)
        meta = provenance(
            command,
            time.perf_counter() - t0,
            args.jobs,
            note,
            "lr 0.1; shrinking radius: max(0.97ᵏ, 1e-3) at step k",
        )
        table = schedule_table(rows)
        (out / "schedule.md").write_text(meta + "\n\n" + table + "\n")
        write_csv(rows, out / "schedule.csv")
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
