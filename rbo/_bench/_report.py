"""The benchmark's outputs: a Markdown report, CSV files and the success-rate plot."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
import os
import platform
from collections.abc import Collection, Sequence
from pathlib import Path

from ._methods import LOCAL_METHODS
from ._suite import Run, Summary, success_curve

__all__ = [
    "details_table",
    "evaluation_grid",
    "headline_table",
    "plot_success",
    "provenance",
    "tally",
    "verdict",
    "write_csv",
]

# Median gaps this close count as equal when success rates tie.
_GAP_RTOL, _GAP_ATOL = 1e-2, 1e-8


def _fmt_gap(g: float) -> str:
    return f"{g:.2g}" if math.isfinite(g) else str(g)


def _instances(summaries: Sequence[Summary]) -> dict[tuple[str, int], list[Summary]]:
    rows: dict[tuple[str, int], list[Summary]] = {}
    for s in summaries:
        rows.setdefault((s.problem, s.n), []).append(s)
    return rows


def verdict(
    row: Sequence[Summary], reference: str = "rbo", among: Collection[str] | None = None
) -> str:
    """How ``reference`` fared on one problem instance against the best other method
    (of those named in ``among``, if given).

    Methods are ranked by success rate, then by median gap (gaps within 1 % or 1e-8 of
    each other are equal). Returns ``"wins"``, ``"ties"`` or ``"loses to <method>"``.

    Examples
    --------
    >>> S = lambda m, k, gap: Summary("p", 2, m, 10, k, gap, 1.0, 0.1, "", 0)
    >>> verdict([S("rbo", 7, 0.1), S("BFGS", 5, 0.0)])
    'wins'
    >>> verdict([S("rbo", 5, 0.1), S("BFGS", 5, 0.0)])
    'loses to BFGS'
    >>> verdict([S("rbo", 5, 0.1), S("BFGS", 5, 0.1001)])
    'ties'
    >>> verdict([S("rbo", 5, 0.1), S("BFGS", 4, 0.0), S("basinhopping", 9, 0.0)], among={"BFGS"})
    'wins'
    """
    ref = next((s for s in row if s.method == reference), None)
    others = [s for s in row if s.method != reference and (among is None or s.method in among)]
    if ref is None or not others:
        return ""
    best = max(others, key=lambda s: (s.success_rate, -s.median_gap))
    if ref.success_rate != best.success_rate:
        return "wins" if ref.success_rate > best.success_rate else f"loses to {best.method}"
    a, b = ref.median_gap, best.median_gap
    if math.isclose(a, b, rel_tol=_GAP_RTOL, abs_tol=_GAP_ATOL):
        return "ties"
    return "wins" if a < b else f"loses to {best.method}"


def headline_table(summaries: Sequence[Summary], reference: str | None = "rbo") -> str:
    """Markdown: one row per problem instance, one column per method, each cell the
    success count and the median gap; two last columns with ``reference``'s verdict against
    all methods and against the local ones (:data:`LOCAL_METHODS`)."""
    rows = _instances(summaries)
    methods = list(dict.fromkeys(s.method for s in summaries))
    with_verdict = reference is not None and reference in methods
    verdicts = [f"{reference} vs all", f"{reference} vs local"] if with_verdict else []
    head = ["problem", "n", *methods, *verdicts]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, n), row in rows.items():
        by = {s.method: s for s in row}
        cells = [
            f"{by[m].successes}/{by[m].runs} · {_fmt_gap(by[m].median_gap)}" if m in by else ""
            for m in methods
        ]
        extra = (
            # with_verdict implies reference is not None, which mypy does not follow
            [verdict(row, reference), verdict(row, reference, LOCAL_METHODS)]  # type: ignore[arg-type]
            if with_verdict
            else []
        )
        lines.append("| " + " | ".join([name, str(n), *cells, *extra]) + " |")
    return "\n".join(lines)


def tally(
    summaries: Sequence[Summary], reference: str = "rbo", among: Collection[str] | None = None
) -> dict[str, int]:
    """How many instances ``reference`` wins, ties and loses (against ``among``)."""
    counts = {"wins": 0, "ties": 0, "loses": 0}
    for row in _instances(summaries).values():
        v = verdict(row, reference, among)
        if v:
            counts[v.split()[0]] += 1
    return counts


def details_table(summaries: Sequence[Summary]) -> str:
    """Markdown: one row per method and instance, with every measured column."""
    head = [
        "problem",
        "n",
        "method",
        "success",
        "median gap",
        "median evals",
        "median time [s]",
        "errors",
        "success means",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [
            s.problem,
            str(s.n),
            s.method,
            f"{s.successes}/{s.runs}",
            _fmt_gap(s.median_gap),
            f"{s.median_nfev:g}",
            f"{s.median_time:.3g}",
            str(s.errors),
            f"`{s.rule}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: Sequence[Run] | Sequence[Summary], path: str | Path) -> None:
    """One CSV line per run or per summary (the dataclass fields as columns)."""
    if not rows:
        raise ValueError("nothing to write")
    fields = [f.name for f in dataclasses.fields(rows[0]) if f.name != "trace"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields + (["success_rate"] if isinstance(rows[0], Summary) else []))
        for r in rows:
            extra = [f"{r.success_rate:.4g}"] if isinstance(r, Summary) else []
            w.writerow([getattr(r, f) for f in fields] + extra)


def evaluation_grid(budget: int, points: int = 60) -> list[int]:
    """Evaluation counts from 1 to ``budget``, spaced evenly in log scale."""
    grid = {round(budget ** (i / (points - 1))) for i in range(points)}
    return sorted(grid)


def plot_success(runs: Sequence[Run], path: str | Path, budget: int) -> None:
    """Success rate against evaluations, one panel per problem instance (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, int], dict[str, list[Run]]] = {}
    for r in runs:
        groups.setdefault((r.problem, r.n), {}).setdefault(r.method, []).append(r)
    grid = evaluation_grid(budget)
    cols = min(6, len(groups))
    nrows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(3.0 * cols, 2.4 * nrows), squeeze=False, sharex=True, sharey=True
    )
    for ax, ((name, n), by_method) in zip(axes.flat, groups.items(), strict=False):
        for label, group in by_method.items():
            style = {"lw": 2.2, "color": "k", "zorder": 3} if label == "rbo" else {"lw": 1.2}
            ax.step(grid, success_curve(group, grid), where="post", label=label, **style)
        ax.set_title(f"{name}, n={n}", fontsize=9)
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("evaluations")
    for ax in axes[:, 0]:
        ax.set_ylabel("success rate")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def provenance(command: str, elapsed: float, jobs: int, *notes: str) -> str:
    """Markdown list: the command, date, machine and software a result came from."""
    import numpy
    import scipy

    from .. import __version__
    from ..backends._base import cpu_model
    from ._blas import blas_kernels

    cpu = cpu_model()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"- command: `{command}`",
        f"- date: {date}; total time {elapsed:.0f} s with {jobs} process(es)",
        f"- machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.platform()}",
        f"- software: rbo {__version__}, Python {platform.python_version()}, "
        f"NumPy {numpy.__version__}, SciPy {scipy.__version__}; BLAS {blas_kernels()}",
    ]
    return "\n".join(lines + [f"- {note}" for note in notes])
