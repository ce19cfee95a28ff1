"""Per-evaluation overhead at n = 10 in instructions, not seconds: a count that the load of a
shared machine does not move.

The same runs as the overhead part of ``benchmarks/lbfgs.py`` (Rosenbrock n = 10 from
zeros, its analytic gradient, ``gtol=1e-8``): ``method="lbfgs"``, ``method="rbo"`` and
scipy's L-BFGS-B. Each is run under ``valgrind --tool=callgrind`` twice, with 0 and with
``--runs`` runs after the same warm-up, so that the difference is the instructions of the
runs alone (imports and start-up cancel out); the objective alone is counted the same way
per call. A run's overhead is its instructions less its evaluations' share of the
objective's, per evaluation; the ratio to L-BFGS-B's is the target of 1.5x. BLAS is held
to one thread (a spinning BLAS thread would count too). Needs valgrind; the pairs of
counts run two at a time.

Run: ``python benchmarks/instructions.py [--runs 10]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from lbfgs import rosenbrock, run_rbo, run_scipy  # noqa: E402

X0 = np.zeros(10)
RUNS = {
    "lbfgs": lambda: run_rbo(rosenbrock, X0, 1e-8, 1000, None),
    "rbo": lambda: run_rbo(rosenbrock, X0, 1e-8, 1000, None, method="rbo"),
    "scipy": lambda: run_scipy(rosenbrock, X0, 1e-8, 1000, None),
    "objective": lambda: rosenbrock(X0 + 0.3),
}


def child(name: str, k: int) -> None:
    run = RUNS[name]
    run(), run()  # warm-up: the same in both counts
    for _ in range(k):
        run()


def count(name: str, k: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += [os.path.abspath(__file__), "--child", name, str(k)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--child", nargs=2, metavar=("NAME", "K"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    k = args.runs
    calls = 100 * k  # calls of the objective alone, counted the same way
    jobs = [(name, n) for name in RUNS for n in (0, calls if name == "objective" else k)]
    with ThreadPoolExecutor(2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: count(*job), jobs), strict=True))
    per_call = (counts["objective", calls] - counts["objective", 0]) / calls
    print(f"instructions, Rosenbrock n = 10 (callgrind, {k} runs each); objective {per_call:,.0f}")
    print(f"{'method':8} {'nfev':>5} {'per run':>12} {'overhead/eval':>14} {'vs L-BFGS-B':>12}")
    over = {}
    for name in ("scipy", "lbfgs", "rbo"):
        nfev = int(RUNS[name]().nfev)
        run = (counts[name, k] - counts[name, 0]) / k
        over[name] = (run - nfev * per_call) / nfev
        print(
            f"{name:8} {nfev:5d} {run:12,.0f} {over[name]:14,.0f} "
            f"{over[name] / over['scipy']:12.2f}"
        )


if __name__ == "__main__":
    main()
