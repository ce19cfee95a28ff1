"""Variants of the phases of ``method="rbo"`` (``rbo._polish.Plan``) side by side with one
L-BFGS-B run: same seeded starts, same evaluation budget, the rules of ``rbo bench``.

    python benchmarks/phases.py rastrigin,ackley,levy 2,10 5 2000 \\
        '{"r0.3": {"radius": 0.3}, "r1": {"radius": 1.0}}'

Arguments: problems, dimensions, starts, budget, a JSON object mapping a label to the
:class:`rbo._polish.Plan` fields of that variant (``{}``: the defaults), and optionally the
seed of the starts (default 0, the starts of ``benchmarks/rugged.py --seed``). Each line:
per method, successes / median gap / median evaluations; then the total successes.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import rbo._polish as phases
from rbo._bench._methods import method
from rbo._bench._suite import instances, run_one, start_points


def main(argv: list[str]) -> None:
    names, dims = argv[0].split(","), [int(d) for d in argv[1].split(",")]
    starts, budget, variants = int(argv[2]), int(argv[3]), json.loads(argv[4])
    seed = int(argv[5]) if len(argv) > 5 else 0
    warnings.simplefilter("ignore")  # rbo's advice on proj_maxiter, scipy's on its limits
    t0 = time.time()
    totals: dict[str, int] = {}
    for name, n in instances(names, dims):
        x0s = start_points(name, n, starts, seed)
        row = {}
        runs = [run_one(name, n, method("L-BFGS-B"), i, x0, i, budget) for i, x0 in enumerate(x0s)]
        row["L-BFGS-B"] = runs
        for label, fields in variants.items():
            phases.PLAN = phases.Plan(**fields)
            m = method("rbo", label=label)
            row[label] = [run_one(name, n, m, i, x0, i, budget) for i, x0 in enumerate(x0s)]
        cells = []
        for label, rs in row.items():
            ok = sum(r.success for r in rs)
            totals[label] = totals.get(label, 0) + ok
            gap = statistics.median(r.gap for r in rs)
            cells.append(f"{label}: {ok}/{gap:.2g}/{statistics.median(r.nfev for r in rs):.0f}")
        print(f"{name:16} {n:3d}  " + "  ".join(cells), flush=True)
    print("total successes", totals, f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
