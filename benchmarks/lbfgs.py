"""``method="lbfgs"`` against scipy's L-BFGS-B, side by side in one run (NumPy, float64).

Three tables:

- convergence: on Rosenbrock (n = 2, 10, 100), a quadratic of condition 1e6 (n = 20,
  1000) and a bounded Rosenbrock with active faces, each method's final f, the norm of
  its projected gradient, its evaluations and the ratio of evaluations (rbo / scipy).
  Both stop at the same gtol (rbo tests the 2-norm, scipy the max-norm of the projected
  gradient, so rbo's test is the stricter) or at the same iteration budget;
- per-evaluation overhead on Rosenbrock n = 10 with its analytic gradient:
  ``(wall time - time in fun) / nfev``, the median of several repeats, for
  ``method="lbfgs"``, for ``method="rbo"`` (its defaults: the local L-BFGS phase, the
  rolls and the polish) and for scipy, side by side;
- batched L-BFGS on a 4096 x 64 Rosenbrock batch: problem-iterations per second, against
  running rows one at a time.

    python benchmarks/lbfgs.py            # the figures quoted in the report
    python benchmarks/lbfgs.py --quick    # fewer repeats, a smaller batch
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

# One BLAS thread for both: on a shared machine threaded BLAS calls of a few flops spin
# and wait, and scipy's timings then vary a hundredfold from run to run.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

import rbo  # noqa: E402


def rosenbrock(x: np.ndarray) -> tuple[Any, np.ndarray]:
    a, b = x[..., :-1], x[..., 1:]
    t = b - a * a
    f = np.sum(100.0 * t * t + (1.0 - a) ** 2, axis=-1)
    g = np.zeros_like(x)
    g[..., :-1] = -400.0 * a * t - 2.0 * (1.0 - a)
    g[..., 1:] += 200.0 * t
    return f, g


def quadratic(n: int) -> Callable[[np.ndarray], tuple[Any, np.ndarray]]:
    scales = np.logspace(0, 6, n)

    def fg(x: np.ndarray) -> tuple[Any, np.ndarray]:
        sx = scales * x
        return 0.5 * np.sum(x * sx, axis=-1), sx

    return fg


class Timed:
    """``fg`` that adds up the time spent in it."""

    def __init__(self, fg: Callable[[Any], Any]) -> None:
        self.fg, self.seconds = fg, 0.0

    def __call__(self, x: Any) -> Any:
        t = time.perf_counter()
        out = self.fg(x)
        self.seconds += time.perf_counter() - t
        return out


def projected_norm(x: np.ndarray, g: np.ndarray, lower: Any, upper: Any) -> float:
    held = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
    return float(np.linalg.norm(np.where(held, 0.0, g)))


def run_rbo(
    fg: Any, x0: np.ndarray, gtol: float, maxiter: int, bounds: Any, method: str = "lbfgs"
) -> Any:
    opts = {} if bounds is None else {"lower": bounds[0], "upper": bounds[1]}
    return rbo.minimize(
        fg,
        x0,
        jac=True,
        method=method,
        gtol=gtol,
        xtol=0,
        ftol=0,
        patience=None,
        maxiter=maxiter,
        **opts,
    )


def run_scipy(fg: Any, x0: np.ndarray, gtol: float, maxiter: int, bounds: Any) -> Any:
    b = None if bounds is None else list(zip(*np.broadcast_arrays(*bounds, x0)[:2], strict=True))
    return optimize.minimize(
        fg,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=b,
        options={"gtol": gtol, "ftol": 0.0, "maxiter": maxiter, "maxfun": 10 * maxiter},
    )


def convergence(gtol: float) -> None:
    n_b = 10
    lower = np.full(n_b, -2.0)
    lower[::3] = 1.5  # these coordinates end on their lower face
    problems = [
        ("rosenbrock n=2", rosenbrock, np.array([-1.2, 1.0]), None, 1000),
        ("rosenbrock n=10", rosenbrock, np.zeros(10), None, 1000),
        ("rosenbrock n=100", rosenbrock, np.zeros(100), None, 5000),
        ("quadratic 1e6 n=20", quadratic(20), np.ones(20), None, 20000),
        ("quadratic 1e6 n=1000", quadratic(1000), np.ones(1000), None, 20000),
        (
            "bounded rosenbrock n=10",
            rosenbrock,
            np.maximum(np.zeros(n_b), lower),
            (lower, 2.0),
            1000,
        ),
    ]
    print(f"convergence (gtol = {gtol:g}; budget in iterations in brackets)")
    head = f"{'problem':26} {'rbo f':>10} {'rbo |pg|':>10} {'nfev':>6}"
    print(f"{head} {'scipy f':>10} {'scipy |pg|':>10} {'nfev':>6} {'ratio':>6} {'|dx|':>8}")
    for name, fg, x0, bounds, maxiter in problems:
        r = run_rbo(fg, x0, gtol, maxiter, bounds)
        s = run_scipy(fg, x0, gtol, maxiter, bounds)
        lo, hi = (-np.inf, np.inf) if bounds is None else bounds
        # At the last iterate, the one the gtol test saw: the best point is the last one
        # that lowered f, which may be an earlier one once f changes below its rounding.
        pr = projected_norm(r.x_last, fg(r.x_last)[1], lo, hi)
        ps = projected_norm(s.x, s.jac, lo, hi)
        dx = float(np.max(np.abs(r.x - s.x)))
        print(
            f"{name + f' [{maxiter}]':26} {r.fun:10.2e} {pr:10.2e} {r.nfev:6d} "
            f"{s.fun:10.2e} {ps:10.2e} {s.nfev:6d} {r.nfev / s.nfev:6.2f} {dx:8.1e}"
        )
        if "PROJECTED GRADIENT" not in str(s.message):
            print(f"{'':26} scipy: {s.message}")


def overhead(repeats: int) -> None:
    x0 = np.zeros(10)
    gtol, maxiter = 1e-8, 1000

    def per_eval(run: Callable[[Any], Any]) -> tuple[float, float]:
        timed = Timed(rosenbrock)
        t = time.perf_counter()
        res = run(timed)
        wall = time.perf_counter() - t
        return (wall - timed.seconds) / res.nfev, timed.seconds / res.nfev

    rows = {
        "rbo lbfgs": lambda fg: run_rbo(fg, x0, gtol, maxiter, None),
        "rbo rbo": lambda fg: run_rbo(fg, x0, gtol, maxiter, None, method="rbo"),
        "scipy L-BFGS-B": lambda fg: run_scipy(fg, x0, gtol, maxiter, None),
    }
    print(f"\nper-evaluation overhead, Rosenbrock n=10 (median of {repeats} runs)")
    for run in rows.values():
        run(rosenbrock)  # warm up
    # The methods take turns, so that a slower spell of a shared machine falls on all.
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    nfev = {name: run(rosenbrock).nfev for name, run in rows.items()}
    for _ in range(repeats):
        for name, run in rows.items():
            samples[name].append(per_eval(run))
    results = {}
    for name in rows:
        over = statistics.median(s[0] for s in samples[name])
        own = statistics.median(s[1] for s in samples[name])
        results[name] = over
        print(
            f"{name:16} {over * 1e6:8.1f} us/eval overhead   (fun itself {own * 1e6:.1f} us, "
            f"{nfev[name]} evaluations)"
        )
    scipy = results["scipy L-BFGS-B"]
    for name in ("rbo lbfgs", "rbo rbo"):
        print(f"ratio {name} / scipy: {results[name] / scipy:.2f}")


def batched(rows: int, n: int, iters: int, singles: int) -> None:
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-2.0, 2.0, (rows, n))

    def go(x: np.ndarray, vectorized: bool) -> Any:
        return rbo.minimize(
            rosenbrock,
            x,
            jac=True,
            method="lbfgs",
            gtol=0,
            xtol=0,
            ftol=0,
            patience=None,
            maxiter=iters,
            vectorized=vectorized,
        )

    t = time.perf_counter()
    res = go(x0, True)
    wall = time.perf_counter() - t
    done = int(np.sum(res.nit))
    t = time.perf_counter()
    one = 0
    for i in range(singles):
        one += go(x0[i], False).nit
    wall_one = time.perf_counter() - t
    print(f"\nbatched lbfgs on NumPy, Rosenbrock {rows} x {n}, {iters} iterations")
    print(f"batch:          {done / wall:12.0f} problem-iterations/s  ({wall:.2f} s)")
    print(f"one at a time:  {one / wall_one:12.0f} problem-iterations/s  ({singles} rows)")
    print(f"speed-up:       {(done / wall) / (one / wall_one):12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    convergence(1e-8)
    overhead(3 if args.quick else 9)
    if args.quick:
        batched(512, 64, 20, 8)
    else:
        batched(4096, 64, 50, 32)


if __name__ == "__main__":
    main()
