"""RBO's time per evaluation of the objective, over the objective's own time (NumPy).

For n = 10^3 and 10^6 (float64), on the quadratic (a cheap objective) and on Rastrigin (a
costlier one), this runs, side by side in one process:

- the objective alone on a point of that size: its own time (the fastest of batches of
  calls, measured before and after the runs);
- RBO for a fixed number of steps, timing also the calls of the objective inside the run
  (the fastest of three runs);
- the same RBO run with the plain array-API kernels instead of NumPy's fused ones;
- plain gradient descent ``x <- x - lr g`` for as many evaluations.

and prints, per evaluation, each method's time over the objective's own time (1.0 would be
no overhead at all). ``rbo / in-run`` divides by the time the objective took inside the
very run instead (cache effects included). The RBO runs never stop early (gtol = xtol = 0,
patience off), so every step projects.

    python benchmarks/overhead.py            # the figures in benchmarks/README.md
    python benchmarks/overhead.py --quick    # n = 10^3 and 10^5, fewer repeats
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import rbo
from rbo import backends
from rbo.backends import Kernels
from rbo.backends._numpy import NumPyBackend
from rbo.problems import quadratic, rastrigin

PROBLEMS = {
    # name: (problem, RBO options); the runs stay far from a minimum for every step made
    "quadratic": (quadratic, {"radius": 1.0, "lr": 0.1}),
    "rastrigin": (rastrigin, {"radius": 1.0, "lr": 1e-3}),
}


class PlainNumPy(NumPyBackend):
    """NumPy with the plain array-API kernels: what the fused ones are measured against."""

    name = "numpy-plain"

    def __init__(self) -> None:
        self.kernels = Kernels()


def own_time(fg: Callable[[Any], Any], x: Any, seconds: float) -> float:
    """Time of one call of ``fg`` at ``x``: the fastest of 5 batches of ``seconds / 5``
    (other work on the machine only ever slows a batch down)."""
    fg(x)
    calls = 1
    while True:  # calls per batch so that a batch takes a fifth of the budget
        t = time.perf_counter()
        for _ in range(calls):
            fg(x)
        if time.perf_counter() - t > seconds / 5 or calls > 1 << 20:
            break
        calls *= 2
    batches = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fg(x)
        batches.append((time.perf_counter() - t) / calls)
    return min(batches)


class Timed:
    """``fg`` that adds up the time spent in it."""

    def __init__(self, fg: Callable[[Any], Any]) -> None:
        self.fg, self.seconds, self.calls = fg, 0.0, 0

    def __call__(self, x: Any) -> Any:
        t = time.perf_counter()
        out = self.fg(x)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


def rbo_run(
    fg: Any, x0: Any, steps: int, options: dict[str, Any], repeats: int = 3
) -> tuple[float, float, int]:
    """Run time, time inside ``fg`` and evaluations of the fastest of ``repeats`` runs."""
    best = (np.inf, np.inf, 0)
    for _ in range(repeats):
        timed = Timed(fg)
        t = time.perf_counter()
        # polish=False: the ball's own steps (the local L-BFGS phase that starts a run by
        # default would stop at once on the quadratic, and is L-BFGS's cost, not RBO's).
        res = rbo.minimize(
            timed,
            x0,
            jac=True,
            maxiter=steps,
            gtol=0.0,
            xtol=0.0,
            patience=None,
            polish=False,
            **options,
        )
        elapsed = time.perf_counter() - t
        assert res.nit == steps, res.message
        best = min(best, (elapsed, timed.seconds, res.nfev))
    return best


def gd_run(fg: Any, x0: Any, evaluations: int, lr: float, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        x = x0
        t = time.perf_counter()
        for _ in range(evaluations):
            _, g = fg(x)
            x = x - lr * g
        times.append(time.perf_counter() - t)
    return min(times)


def measure(name: str, n: int, steps: int, seconds: float) -> dict[str, float]:
    problem, options = PROBLEMS[name]
    fg = problem.value_and_grad
    x0 = np.random.default_rng(0).uniform(-3.0, 3.0, n)
    own = own_time(fg, x0, seconds)
    rbo_run(fg, x0, 2, options, repeats=1)  # warm-up
    elapsed, inside, nfev = rbo_run(fg, x0, steps, options)
    plain = backends.register(PlainNumPy())
    try:
        plain_elapsed, _, plain_nfev = rbo_run(fg, x0, steps, options)
    finally:
        backends.unregister(plain.name)
    gd = gd_run(fg, x0, nfev, options["lr"])
    own = min(own, own_time(fg, x0, seconds))
    return {
        "own_ms": own * 1e3,
        "evals_per_step": nfev / steps,
        "rbo": elapsed / nfev / own,
        "rbo_in_run": elapsed / inside,
        "plain": plain_elapsed / plain_nfev / own,
        "gd": gd / nfev / own,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    sizes = {1_000: 200, 100_000: 20} if args.quick else {1_000: 200, 1_000_000: 15}
    seconds = 0.5 if args.quick else 2.0
    print(f"# RBO overhead per evaluation -- {backends.get('numpy').describe()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, Python {sys.version.split()[0]}")
    print("# ratio = time per evaluation / the objective's own time (1.0: no overhead)")
    header = "| problem | n | own time | evals/step | RBO | RBO / in-run | RBO plain kernels | GD |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows = {}
    for name in PROBLEMS:
        for n, steps in sizes.items():
            r = measure(name, n, steps, seconds)
            rows[name, n] = r
            print(
                f"| {name} | {n:.0e} | {r['own_ms']:.3g} ms | {r['evals_per_step']:.1f} | "
                f"{r['rbo']:.2f} | {r['rbo_in_run']:.2f} | {r['plain']:.2f} | {r['gd']:.2f} |",
                flush=True,
            )
    big = max(sizes)
    for name, target in (("rastrigin", 1.3), ("quadratic", 2.0)):
        got = rows[name, big]["rbo"]
        verdict = "holds" if got <= target else "does not hold"
        print(f"target: {name} at n = {big:.0e}: RBO <= {target}x -> {got:.2f}x, {verdict}")


if __name__ == "__main__":
    main()
