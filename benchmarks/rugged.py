"""rbo against one L-BFGS-B run and the local methods, on rugged and scientific problems.

Every method runs from the same seeded starts under the same evaluation budget (the
``rbo bench`` machinery: :class:`rbo._bench.Counted`, :func:`rbo._bench.run_suite`, its
targets and methods), on two suites:

- **rugged**: the rugged landscapes of ``rbo bench`` (every one but the quadratic and
  Rosenbrock) at n = 2 and 10; the Gaussian wells and the noisy regression at their n = 2;
- **science**: Lennard-Jones clusters LJ7, LJ13, LJ38, the sum-of-sinusoids and
  Gaussian-peaks fits, the van der Pol fit through an RK4 simulation (``rbo.problems``).

rbo runs at its current defaults (label ``rbo``; ``--rbo-options`` overrides them) and as
any number of labelled variants (``--variant NAME=JSON``, repeated), against one L-BFGS-B
run and the local methods of ``rbo bench`` (rbo's ``lbfgs``, ``sgd``, ``sam``,
``entropy-sgd``). Printed: per instance every method's successes and median gap and the
best method; then, for every rbo variant, the verdicts of four targets, PASS or FAIL with
their figures:

(a) on every instance at least as many successes as L-BFGS-B;
(b) over the rugged instances at least 3x L-BFGS-B's successes in total;
(c) a smaller median gap than L-BFGS-B on at least 80 % of the instances (gaps within 1 %
    or 1e-8 of each other are equal, not smaller);
(d) no instance with fewer successes than any local method;

and the median evaluations per rbo step (``nfev / nit`` of the roll, ``res.roll`` where
the result has one).

    python benchmarks/rugged.py --quick                    # about 1-2 minutes
    python benchmarks/rugged.py                            # under 10 minutes, one core
    python benchmarks/rugged.py --quick --rbo-options '{"radius": 0.3}'
    python benchmarks/rugged.py --quick --variant r03='{"radius": 0.3}' --variant lr1='{"lr": 1}'
    python benchmarks/rugged.py --out docs/benchmarks/rugged-results.md --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rbo import METHODS
from rbo._bench import SUITES, Summary, method, provenance, run_suite, summarize

REFERENCE = "L-BFGS-B"
LOCAL = [REFERENCE, *(m for m in ("lbfgs", "sgd", "sam", "entropy-sgd") if m in METHODS)]
# Median gaps this close count as equal (as in rbo bench's verdicts).
GAP_RTOL, GAP_ATOL = 1e-2, 1e-8


@dataclass(frozen=True)
class Size:
    starts: int
    budget: int
    science_budget: int


SIZES = {
    "quick": Size(starts=3, budget=300, science_budget=300),
    "default": Size(starts=10, budget=2000, science_budget=1000),
}


def _options(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{what}: not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{what}: needs a JSON object, got {text!r}")
    return value


def _variant(text: str) -> tuple[str, dict]:
    name, sep, options = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--variant needs NAME=JSON, got {text!r}")
    return name, _options(options, f"--variant {name}")


def smaller_gap(a: float, b: float) -> bool:
    """Whether median gap ``a`` is smaller than ``b`` beyond the tolerance of a tie."""
    return a < b and not math.isclose(a, b, rel_tol=GAP_RTOL, abs_tol=GAP_ATOL)


def best_method(row: dict[str, Summary]) -> str:
    """The method with the most successes, then the smallest median gap (ties: all named)."""

    def key(s: Summary) -> tuple[int, float]:
        return (s.successes, -s.median_gap)

    top = max(row.values(), key=key)
    tied = [
        m
        for m, s in row.items()
        if s.successes == top.successes and not smaller_gap(top.median_gap, s.median_gap)
    ]
    return ", ".join(tied)


def verdicts(
    label: str, rows: dict[tuple[str, int], dict[str, Summary]], rugged: set[tuple[str, int]]
) -> list[str]:
    """The four targets for rbo variant ``label``: one line each, PASS or FAIL with its figure."""
    out = []
    short = [k for k, row in rows.items() if row[label].successes < row[REFERENCE].successes]
    out.append(
        f"(a) {'PASS' if not short else 'FAIL'}: at least L-BFGS-B's successes on "
        f"{len(rows) - len(short)}/{len(rows)} instances"
        + (f"; fewer on {', '.join(f'{p} n={n}' for p, n in short)}" if short else "")
    )
    mine = sum(row[label].successes for k, row in rows.items() if k in rugged)
    ref = sum(row[REFERENCE].successes for k, row in rows.items() if k in rugged)
    ratio = f"{mine / ref:.2f}x" if ref else "L-BFGS-B has none, so any count passes"
    ok = mine >= 3 * ref
    out.append(
        f"(b) {'PASS' if ok else 'FAIL'}: rugged instances, {mine} successes against "
        f"L-BFGS-B's {ref} ({ratio}; target 3x)"
    )
    wins = [
        k
        for k, row in rows.items()
        if smaller_gap(row[label].median_gap, row[REFERENCE].median_gap)
    ]
    share = len(wins) / len(rows)
    out.append(
        f"(c) {'PASS' if share >= 0.8 else 'FAIL'}: smaller median gap than L-BFGS-B on "
        f"{len(wins)}/{len(rows)} instances ({100 * share:.0f} %; target 80 %)"
    )
    losses = [
        f"{p} n={n} to {m} ({row[m].successes} vs {row[label].successes})"
        for (p, n), row in rows.items()
        for m in LOCAL
        if m in row and row[m].successes > row[label].successes
    ]
    out.append(
        f"(d) {'PASS' if not losses else 'FAIL'}: {len(losses)} losses on successes to a "
        "local method" + (f": {'; '.join(losses)}" if losses else "")
    )
    return out


def _cell(s: Summary) -> str:
    gap = f"{s.median_gap:.2g}" if math.isfinite(s.median_gap) else str(s.median_gap)
    return f"{s.successes}/{s.runs} · {gap}"


def table(rows: dict[tuple[str, int], dict[str, Summary]], labels: Sequence[str]) -> str:
    """Markdown: one row per instance, each cell successes/starts · median gap; the best."""
    head = ["problem", "n", *labels, "best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (problem, n), row in rows.items():
        cells = [_cell(row[m]) for m in labels]
        lines.append("| " + " | ".join([problem, str(n), *cells, best_method(row)]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 starts, budget 300 (1-2 min)")
    parser.add_argument("--starts", type=int, help="starts per instance (default 10; quick 3)")
    parser.add_argument(
        "--budget", type=int, help="evaluations per run, rugged suite (default 2000; quick 300)"
    )
    parser.add_argument(
        "--science-budget",
        type=int,
        help="evaluations per run, science suite (default 1000; quick 300)",
    )
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 10], help="(default: 2 10)")
    parser.add_argument(
        "--suites", nargs="+", default=["rugged", "science"], choices=["rugged", "science"]
    )
    parser.add_argument("--problems", nargs="+", help="only these problems of the suites")
    parser.add_argument(
        "--rbo-options",
        type=lambda t: _options(t, "--rbo-options"),
        default={},
        help="JSON options of the run labelled rbo, e.g. '{\"radius\": 0.3}'",
    )
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="another rbo run, labelled NAME, with these options (repeatable)",
    )
    parser.add_argument("--no-default", action="store_true", help="run only the variants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--out", help="also write the report to this Markdown file")
    args = parser.parse_args(argv)

    size = SIZES["quick" if args.quick else "default"]
    starts = args.starts or size.starts
    budgets = {
        "rugged": args.budget or size.budget,
        "science": args.science_budget or size.science_budget,
    }
    rbo_runs = ([] if args.no_default else [method("rbo", **args.rbo_options)]) + [
        method("rbo", label=name, **options) for name, options in args.variant
    ]
    if not rbo_runs:
        parser.error("--no-default needs at least one --variant")
    labels = [m.label for m in rbo_runs] + LOCAL
    if len(set(labels)) != len(labels):
        parser.error(f"variant names must differ from each other and from {[*LOCAL, 'rbo']}")
    methods = rbo_runs + [method(name) for name in LOCAL]

    t0 = time.perf_counter()
    runs = []
    rugged: set[tuple[str, int]] = set()
    for suite in args.suites:
        names = [p for p in SUITES[suite] if args.problems is None or p in args.problems]
        if not names:
            continue
        print(
            f"{suite}: {len(names)} problems, {starts} starts, budget {budgets[suite]}",
            file=sys.stderr,
        )
        got = run_suite(
            names, args.dims, methods, starts, budgets[suite], seed=args.seed, jobs=args.jobs
        )
        runs += got
        if suite == "rugged":
            rugged |= {(r.problem, r.n) for r in got}
    elapsed = time.perf_counter() - t0
    if not runs:
        parser.error("no problem selected")

    rows: dict[tuple[str, int], dict[str, Summary]] = {}
    for s in summarize(runs):
        rows.setdefault((s.problem, s.n), {})[s.method] = s
    steps = {}
    for m in rbo_runs:
        per_step = [r.evals_per_step for r in runs if r.method == m.label]
        finite = [v for v in per_step if math.isfinite(v)]
        steps[m.label] = statistics.median(finite) if finite else math.nan
    command = "python benchmarks/rugged.py " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )
    report = [
        provenance(
            command,
            elapsed,
            args.jobs,
            f"{starts} starts per instance (seed {args.seed}); budget "
            + ", ".join(f"{budgets[s]} evaluations ({s})" for s in args.suites),
            "rbo options: "
            + "; ".join(f"{m.label} {dict(m.options[1:]) or 'defaults'}" for m in rbo_runs),
        ),
        "",
        "Each cell: successes/starts · median gap (best value found − reference minimum).",
        "",
        table(rows, labels),
        "",
    ]
    for m in rbo_runs:
        report += [f"**{m.label}** against one L-BFGS-B run and the local methods:", ""]
        report += [f"- {line}" for line in verdicts(m.label, rows, rugged)]
        step = steps[m.label]
        report += [
            "- median evaluations per rbo step: "
            + (f"{step:.2f}" if math.isfinite(step) else "not reported (no run returned a result)"),
            "",
        ]
    text = "\n".join(report)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
