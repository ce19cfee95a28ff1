"""Command line: ``rbo demo`` and ``rbo bench`` (also ``python -m rbo ...``)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

_BENCH_EPILOG = """\
Every method runs from the same seeded random starts, uniform in the problem's box, and
may evaluate the objective at most BUDGET times (value and gradient at one point count as
one evaluation); the best point it saw is scored. A run succeeds when that point lies in
the global basin (within the problem's basin radius of the minimiser), or, on problems with
no meaningful basin (weierstrass and the fits to data), when its value closes 99% of the
typical gap to the minimum; a Lennard-Jones cluster succeeds within 0.1% of its minimum
energy. Every method runs untuned, with its library's defaults (rbo: a local L-BFGS phase,
then the ball in the problem's own units, then a polish).

Writes to OUT: results.md (the tables), results.csv (one line per method and problem),
runs.csv (one line per run) and success.png (success rate against evaluations; needs
matplotlib)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``rbo`` argument parser with its ``demo`` and ``bench`` subcommands."""
    from . import __version__, problems
    from ._bench import SUITES, default_methods

    names = sorted(problems.PROBLEMS)
    parser = argparse.ArgumentParser(
        prog="rbo",
        description="Rolling Ball Optimizer: a demo and a benchmark against scipy's minimizers.",
    )
    parser.add_argument("--version", action="version", version=f"rbo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,bench}")

    demo = sub.add_parser(
        "demo",
        help="rbo beside L-BFGS-B and basinhopping on one rugged problem",
        description="Run rbo, L-BFGS-B and basinhopping from the same random starts on one "
        "rugged problem, print a table, and draw both paths on the problem in 2-D.",
    )
    demo.add_argument(
        "--problem",
        default="levy",
        choices=names,
        metavar="NAME",
        help=f"problem (default: levy); one of {', '.join(names)}",
    )
    demo.add_argument(
        "--n",
        type=_positive_int,
        default=2,
        help="dimension, for problems of free dimension (default: 2)",
    )
    demo.add_argument(
        "--starts",
        type=_positive_int,
        default=10,
        help="random starts, uniform in the problem's box (default: 10)",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the starts (default: 0)")
    demo.add_argument(
        "--budget",
        type=_positive_int,
        default=2000,
        help="evaluations allowed to each method per start (default: 2000)",
    )
    demo.add_argument(
        "--radius",
        type=_positive_float,
        default=None,
        help="rbo's ball radius (default: set in the problem's units)",
    )
    demo.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="rbo's learning rate (default: set in the problem's units)",
    )
    demo.add_argument(
        "--png", default="rbo-demo.png", help="picture of the paths in 2-D (default: rbo-demo.png)"
    )
    demo.add_argument("--no-png", action="store_true", help="draw no picture")

    known = [m.label for m in default_methods()]
    fixed = " and ".join(p.name for p in problems.PROBLEMS.values() if p.ndim is not None)
    bench = sub.add_parser(
        "bench",
        help="benchmark rbo against scipy's minimizers and the baselines",
        description="Benchmark rbo against scipy's minimizers (and the baselines SGD, SAM\n"
        "and Entropy-SGD where rbo provides them) on the test landscapes of rbo.problems.",
        epilog=_BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--problems",
        nargs="+",
        default=None,
        choices=names,
        metavar="NAME",
        help=f"problems, instead of a suite's; any of {' '.join(names)}",
    )
    bench.add_argument(
        "--suite",
        default="landscapes",
        choices=sorted(SUITES),
        help="the problems when --problems is not given: landscapes (the test landscapes, "
        "default), rugged (those without quadratic and rosenbrock), science (Lennard-Jones "
        "clusters, curve fits, a simulation fit) or all",
    )
    bench.add_argument(
        "--dims",
        nargs="+",
        type=_positive_int,
        default=[2, 10, 100],
        metavar="N",
        help=f"dimensions of the problems whose dimension is free; {fixed} always run at "
        "their own (default: 2 10 100)",
    )
    bench.add_argument(
        "--methods",
        nargs="+",
        default=known,
        choices=known,
        metavar="NAME",
        help=f"methods (default: all: {' '.join(known)})",
    )
    bench.add_argument(
        "--starts",
        type=_positive_int,
        default=10,
        help="random starts per problem and dimension (default: 10)",
    )
    bench.add_argument(
        "--budget",
        type=_positive_int,
        default=2000,
        help="evaluations allowed to every method per start (default: 2000)",
    )
    bench.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the starts and of stochastic methods (default: 0)",
    )
    bench.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="worker processes; more than 1 shortens the run but the "
        "times of parallel runs disturb each other (default: 1)",
    )
    bench.add_argument(
        "--out", default="rbo-bench", help="directory for the results (default: rbo-bench)"
    )
    bench.add_argument("--no-plot", action="store_true", help="skip success.png")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rbo`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import demo

        demo(
            args.problem,
            args.n,
            args.starts,
            args.seed,
            budget=args.budget,
            png=None if args.no_png else args.png,
            **{k: v for k, v in (("radius", args.radius), ("lr", args.lr)) if v is not None},
        )
        return 0
    return _bench(args, list(sys.argv[1:] if argv is None else argv))


def _bench(args: argparse.Namespace, argv: list[str]) -> int:
    from ._bench import (
        LOCAL_METHODS,
        SUITES,
        details_table,
        headline_table,
        instances,
        method,
        plot_success,
        provenance,
        run_suite,
        summarize,
        tally,
        write_csv,
    )

    methods = [method(name) for name in args.methods]
    if args.problems is None:
        args.problems = list(SUITES[args.suite])
    total = len(instances(args.problems, args.dims)) * len(methods) * args.starts
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"rbo bench: {total} runs, {args.budget} evaluations each, into {out}/", file=sys.stderr)
    t0 = time.perf_counter()
    tick, close = _progress_bar(total, enabled=not args.quiet)
    try:
        runs = run_suite(
            args.problems,
            args.dims,
            methods,
            args.starts,
            args.budget,
            seed=args.seed,
            jobs=args.jobs,
            progress=tick,
        )
    finally:
        close()
    elapsed = time.perf_counter() - t0
    summaries = summarize(runs)
    command = "python -m rbo bench " + shlex.join(argv[1:] if argv[:1] == ["bench"] else argv)
    headline = headline_table(summaries)
    counts = None
    if "rbo" in args.methods:
        counts = {"all": tally(summaries), "local": tally(summaries, among=LOCAL_METHODS)}
    report = [
        "# rbo benchmark results",
        "",
        provenance(
            command,
            elapsed,
            args.jobs,
            f"{args.starts} starts per problem (seed {args.seed}), budget {args.budget} "
            "evaluations, every method untuned (library defaults)",
        ),
        "",
        "Each cell: successes out of starts · median gap between the best value found and "
        "the global minimum. The last two columns compare rbo with the best other method, "
        "and with the best local method (L-BFGS-B, BFGS, CG and the baselines, which follow "
        "one path downhill as rbo does): success rate first, then median gap.",
        "",
        headline,
        "",
    ]
    if counts is not None:
        report += [_tally_line(counts), ""]
    report += ["## Every measured column", "", details_table(summaries), ""]
    errors = [r for r in runs if r.error]
    if errors:
        report += ["## Runs that raised an error (their best point still counts)", ""]
        report += [
            f"- {r.problem} n={r.n} {r.method} start {r.start}: {r.error}" for r in errors
        ] + [""]
    (out / "results.md").write_text("\n".join(report))
    write_csv(summaries, out / "results.csv")
    write_csv(runs, out / "runs.csv")
    written = ["results.md", "results.csv", "runs.csv"]
    if not args.no_plot:
        try:
            plot_success(runs, out / "success.png", args.budget)
            written.append("success.png")
        except ImportError:
            print(
                "matplotlib is not installed: no success.png (pip install 'rbo[plot]')",
                file=sys.stderr,
            )
    print(headline)
    if counts is not None:
        print("\n" + _tally_line(counts))
    print(f"\n{len(runs)} runs in {elapsed:.1f} s; wrote {', '.join(written)} to {out}/")
    return 0


def _tally_line(counts: dict[str, dict[str, int]]) -> str:
    def line(c: dict[str, int]) -> str:
        return f"wins on {c['wins']}, ties on {c['ties']} and loses on {c['loses']}"

    total = sum(counts["all"].values())
    return (
        f"Of {total} problem instances, rbo {line(counts['all'])} against all methods; "
        f"against the local methods it {line(counts['local'])}."
    )


def _progress_bar(total: int, enabled: bool) -> tuple[Callable[[Any], None], Callable[[], object]]:
    """A progress callback for finished runs and a function closing the bar: tqdm where it
    is installed, a plain bar on stderr otherwise."""
    if not enabled:
        return (lambda run: None), (lambda: None)
    try:
        from tqdm import tqdm
    except ImportError:
        done = 0

        def tick(run: Any) -> None:
            nonlocal done
            done += 1
            width = 30
            filled = width * done // total
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"{run.problem} n={run.n} {run.method:<16}"
            )
            sys.stderr.flush()

        return tick, lambda: sys.stderr.write("\n")
    bar = tqdm(total=total, unit="run", file=sys.stderr)

    def tick_tqdm(run: Any) -> None:
        bar.set_postfix_str(f"{run.problem} n={run.n} {run.method}", refresh=False)
        bar.update()

    return tick_tqdm, bar.close
