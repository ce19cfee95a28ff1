"""``rbo.minimize`` at its defaults on smooth problems, against scipy's L-BFGS-B.

The target: from every start the defaults reach ``|grad f| <= 1e-6`` (at the point they
return) with at most 4x the evaluations L-BFGS-B needs to reach the same test from the
same start. Problems: a bowl (n = 10), a shifted bowl with finite differences (n = 3,
every value counted), a quadratic of condition 1e6 (n = 20) and Rosenbrock (n = 2, 10,
50, 100); starts uniform in ``[-2, 2]^n`` (seeded). L-BFGS-B runs to its own gradient
test (``gtol=1e-6`` on the max-norm, ``ftol=0``), so its count is what it needs, not what
it chose to spend.

Each row gives, over the starts: how many reached the test, the median evaluations of
rbo and of L-BFGS-B and the median of their ratio (per start), the worst ratio, and how
rbo's evaluations split between the roll and the polish with the roll's median
evaluations per step.

    python benchmarks/smooth.py                      # 5 starts per problem
    python benchmarks/smooth.py --starts 10
    python benchmarks/smooth.py --variant small='{"radius": 0.01}'   # more rows, side by side
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

import rbo  # noqa: E402

GTOL = 1e-6


def bowl(x: np.ndarray) -> tuple[float, np.ndarray]:
    return float(x @ x), 2.0 * x


def shifted(x: np.ndarray) -> float:
    return float(np.sum((x - 3.0) ** 2))


def shifted_grad(x: np.ndarray) -> np.ndarray:
    return 2.0 * (x - 3.0)


def conditioned(n: int) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    scales = np.logspace(0, 6, n)

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        sx = scales * x
        return 0.5 * float(x @ sx), sx

    return fg


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    a, b = x[:-1], x[1:]
    t = b - a * a
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * t - 2.0 * (1.0 - a)
    g[1:] += 200.0 * t
    return float(np.sum(100.0 * t * t + (1.0 - a) ** 2)), g


# name, n, fun, jac (True: fun returns (f, g); None: finite differences), true gradient
PROBLEMS: list[tuple[str, int, Callable[..., Any], Any, Callable[[np.ndarray], np.ndarray]]] = [
    ("bowl", 10, bowl, True, lambda x: 2.0 * x),
    ("shifted bowl (FD)", 3, shifted, None, shifted_grad),
    ("quadratic cond 1e6", 20, conditioned(20), True, lambda x: np.logspace(0, 6, 20) * x),
    ("rosenbrock", 2, rosenbrock, True, lambda x: rosenbrock(x)[1]),
    ("rosenbrock", 10, rosenbrock, True, lambda x: rosenbrock(x)[1]),
    ("rosenbrock", 50, rosenbrock, True, lambda x: rosenbrock(x)[1]),
    ("rosenbrock", 100, rosenbrock, True, lambda x: rosenbrock(x)[1]),
]


def run_rbo(fun: Any, jac: Any, x0: np.ndarray, options: dict) -> Any:
    if jac is None:
        return rbo.minimize(fun, x0, **options)
    return rbo.minimize(fun, x0, jac=True, **options)


def run_scipy(fun: Any, jac: Any, x0: np.ndarray) -> Any:
    return optimize.minimize(
        fun,
        x0,
        jac=jac is True,
        method="L-BFGS-B",
        options={"gtol": GTOL / np.sqrt(x0.size), "ftol": 0.0, "maxiter": 100000, "maxfun": 10**6},
    )


def table(variants: dict[str, dict], starts: int) -> None:
    print(
        f"{'problem':22} {'n':>4} {'variant':10} {'ok':>6} {'rbo nfev':>9} {'scipy':>7} "
        f"{'ratio':>6} {'worst':>6} {'roll':>6} {'polish':>6} {'ev/step':>7}"
    )
    verdict: dict[str, list[bool]] = {v: [] for v in variants}
    for name, n, fun, jac, grad in PROBLEMS:
        rng = np.random.default_rng(n)
        x0s = [rng.uniform(-2.0, 2.0, n) for _ in range(starts)]
        scipy_runs = [run_scipy(fun, jac, x0) for x0 in x0s]
        for label, options in variants.items():
            ok, nfev, ratios, roll, pol, per_step = 0, [], [], [], [], []
            for x0, s in zip(x0s, scipy_runs, strict=True):
                r = run_rbo(fun, jac, x0, options)
                good = bool(np.linalg.norm(grad(np.asarray(r.x))) <= GTOL)
                ok += good
                nfev.append(r.nfev)
                ratios.append(r.nfev / s.nfev)
                phase = r.get("roll")
                if phase is not None:
                    roll.append(phase.nfev)
                    pol.append(0 if r.polish is None else r.polish.nfev)
                    if phase.nit:
                        per_step.append(phase.nfev / phase.nit)
            worst = max(ratios)
            verdict[label].append(ok == starts and worst <= 4.0)

            def med(v: list) -> str:
                return f"{statistics.median(v):.0f}" if v else "-"

            print(
                f"{name:22} {n:4d} {label:10} {ok:3d}/{starts:<2d} {med(nfev):>9} "
                f"{statistics.median(s.nfev for s in scipy_runs):7.0f} "
                f"{statistics.median(ratios):6.2f} {worst:6.2f} {med(roll):>6} {med(pol):>6} "
                f"{(statistics.median(per_step) if per_step else float('nan')):7.2f}"
            )
    for label, v in verdict.items():
        held = sum(v)
        print(f"{label}: target (every start, <= 4x L-BFGS-B) holds on {held}/{len(v)} problems")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="rbo.minimize options of one more row per problem (default row: the defaults)",
    )
    args = parser.parse_args()
    variants: dict[str, dict] = {"defaults": {}}
    for spec in args.variant:
        label, _, options = spec.partition("=")
        variants[label] = json.loads(options)
    table(variants, args.starts)


if __name__ == "__main__":
    main()
