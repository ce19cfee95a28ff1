"""Peak extra memory of an RBO run, in copies of ``x0`` (NumPy, float64, tracemalloc).

For each problem and size, side by side in one process:

- the objective alone: the peak memory one call allocates (its temporaries and outputs);
- RBO runs of 10 to 1000 steps: the peak memory allocated during the run, above what
  was allocated before it (``x0`` itself is not counted);

both divided by ``x0.nbytes``. ``RBO share`` is the run's peak less the objective's own
(the temporaries of the objective and RBO's arrays are alive together at the peak). The
peak must not grow with the number of steps. Every run starts without the NumPy
kernels' cached scratch tiles (a fixed 1 MB in float64, whatever n), so each pays for them as a
first run does. NumPy reports its array buffers to tracemalloc, so the figures are the
arrays' bytes.

    python benchmarks/memory.py                                # the figures in benchmarks/README.md
    python benchmarks/memory.py --quick                        # n = 2 10^5, up to 100 steps
    python benchmarks/memory.py --size 100000 --steps 1000 4000   # longer runs at one size
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import rbo
from rbo import backends
from rbo.problems import quadratic, rastrigin

PROBLEMS = {
    "quadratic": (quadratic, {"radius": 1.0, "lr": 0.1}),
    "rastrigin": (rastrigin, {"radius": 1.0, "lr": 1e-3}),
}


def peak_of(work: Callable[[], Any]) -> int:
    """Bytes allocated at the peak of ``work()`` above what was allocated before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = work()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - before


def run(fg: Any, x0: Any, steps: int, options: dict[str, Any]) -> Any:
    res = rbo.minimize(
        fg, x0, jac=True, maxiter=steps, gtol=0.0, xtol=0.0, patience=None, **options
    )
    assert res.nit == steps, res.message
    return res


def cold_peak(fg: Any, x0: Any, steps: int, options: dict[str, Any]) -> int:
    """Peak of one run that starts without the NumPy kernels' cached scratch tiles, so
    that every run pays for them as a first run does."""
    backends.get("numpy").kernels.release()
    return peak_of(lambda: run(fg, x0, steps, options))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size, fewer steps")
    parser.add_argument("--size", type=int, help="one size n instead of the default plan")
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[10, 100, 1000], help="step counts with --size"
    )
    args = parser.parse_args(argv)
    if args.size is not None:
        plan = {args.size: tuple(args.steps)}
    elif args.quick:
        plan = {200_000: (10, 100)}
    else:  # a thousand steps at n = 10^6 would take most of an hour on Rastrigin
        plan = {100_000: (10, 100, 1000), 1_000_000: (10, 30, 100)}
    print(f"# RBO peak extra memory -- {backends.get('numpy').describe()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, Python {sys.version.split()[0]}")
    print("# in copies of x0 (x0.nbytes); the run's peak includes the result it returns")
    print("| problem | n | objective alone | peak of runs of k steps | RBO share (max) |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for name, (problem, options) in PROBLEMS.items():
        fg = problem.value_and_grad
        for n, step_counts in plan.items():
            x0 = np.random.default_rng(0).uniform(-3.0, 3.0, n)
            size = x0.nbytes
            own = peak_of(lambda fg=fg, x0=x0: fg(x0)) / size
            peaks = [cold_peak(fg, x0, k, options) / size for k in step_counts]
            share = max(peaks) - own
            worst = max(worst, share)
            cells = ", ".join(f"{k}: {p:.2f}" for k, p in zip(step_counts, peaks, strict=True))
            print(f"| {name} | {n:.0e} | {own:.2f} | {cells} | {share:.2f} |", flush=True)
    verdict = "holds" if worst <= 8.0 else "does not hold"
    print(f"target: RBO's share <= 8 copies of x0 -> {worst:.2f}, {verdict}")


if __name__ == "__main__":
    main()
