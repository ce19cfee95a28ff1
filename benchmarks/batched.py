"""Batched multi-start throughput, NumPy against CuPy, and one large problem on the GPU.

Side by side in one process:

1. ``m x n = 4096 x 64`` Rastrigin, ``vectorized=True``: problems x steps per second on
   NumPy (CPU) and, where a GPU is present, on CuPy; their ratio. For scale, the same
   problems one ``rbo.minimize`` at a time on NumPy (a subset of rows).
2. One problem of ``n = 10^8`` float32 on the GPU (CuPy): time per evaluation of the
   objective (one projection iteration) against the memory-bandwidth bound, the bytes an
   iteration must move divided by the bandwidth of a device-to-device copy measured here.
3. Reads back to the host per step and per projection iteration, counted on
   array-api-strict's ``device1`` (a stand-in for an accelerator: every
   ``bool``/``float``/``int``/``__array__``/``__dlpack__`` of an array there is counted,
   as in ``tests/test_backends.py``), for the same loop the GPU runs.

Runs never stop early (gtol = xtol = 0, patience off), so every row steps every time.
Without a GPU, parts 1 (CuPy) and 2 print that they are open.

    python benchmarks/batched.py            # the figures in benchmarks/README.md
    python benchmarks/batched.py --quick    # 512 x 64, fewer steps
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any

import numpy as np

import rbo
from rbo import backends
from rbo.problems import rastrigin

OPTIONS: dict[str, Any] = {"radius": 0.5, "lr": 0.01, "gtol": 0.0, "xtol": 0.0, "patience": None}


def gpu() -> Any:
    """The cupy module if a CUDA device can be used, else None."""
    try:
        cp = importlib.import_module("cupy")
        return cp if cp.cuda.is_available() else None
    except ImportError:
        return None


def timed_run(x0: Any, steps: int, backend: backends.Backend, **kw: Any) -> tuple[float, Any]:
    backend.synchronize(x0)
    t = time.perf_counter()
    res = rbo.minimize(rastrigin.value_and_grad, x0, jac=True, maxiter=steps, **(OPTIONS | kw))
    backend.synchronize(res.x)
    return time.perf_counter() - t, res


def throughput(m: int, n: int, steps: int, loop_rows: int) -> None:
    host = np.random.default_rng(0).uniform(-5.12, 5.12, (m, n))
    numpy = backends.get("numpy")
    timed_run(host[:8], 2, numpy, vectorized=True)  # warm-up
    t_np, res = timed_run(host, steps, numpy, vectorized=True)
    rate_np = m * steps / t_np
    print(
        f"numpy batched  {m} x {n}: {rate_np:,.0f} problem-steps/s "
        f"({res.nfev / steps:.1f} evaluations per step, {t_np:.1f} s)"
    )
    t_loop = sum(timed_run(host[i], steps, numpy)[0] for i in range(loop_rows))
    rate_loop = loop_rows * steps / t_loop
    print(
        f"numpy one by one ({loop_rows} rows): {rate_loop:,.0f} problem-steps/s; "
        f"batched / one by one = {rate_np / rate_loop:.1f}x"
    )
    cp = gpu()
    if cp is None:
        print("cupy batched: open (no CUDA device here); target >= 50x numpy batched")
        return
    cupy = backends.get("cupy")
    x0 = cp.asarray(host)
    timed_run(x0[:8], 2, cupy, vectorized=True)  # compiles the kernels
    t_cp, res = timed_run(x0, steps, cupy, vectorized=True)
    rate_cp = m * steps / t_cp
    verdict = "holds" if rate_cp >= 50 * rate_np else "does not hold"
    print(
        f"cupy batched   {m} x {n}: {rate_cp:,.0f} problem-steps/s on {cupy.describe()}; "
        f"cupy / numpy = {rate_cp / rate_np:.1f}x (target >= 50x: {verdict})"
    )


def large(n: int, steps: int) -> None:
    cp = gpu()
    if cp is None:
        print(
            f"large problem n = {n:.0e} float32: open (no CUDA device here); "
            "target within 2x of the bandwidth bound"
        )
        return
    cupy = backends.get("cupy")
    x = cp.random.default_rng(0).random(n, dtype=cp.float32) * 10.24 - 5.12
    y = cp.empty_like(x)
    cupy.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        y[...] = x
    cupy.synchronize()
    bandwidth = 2 * x.nbytes * 10 / (time.perf_counter() - t)
    del y
    # An iteration must at least read z, g, c_x and write the trial point (4 passes), let
    # the objective read it and write its gradient (2), and read z_t, g_t, c_x, z, g for
    # the residual's inner products (5): 11 passes over n floats.
    bound = 11 * x.nbytes / bandwidth
    timed_run(x, 1, cupy)  # compiles the kernels
    elapsed, res = timed_run(x, steps, cupy)
    per_eval = elapsed / res.nfev
    verdict = "holds" if per_eval <= 2 * bound else "does not hold"
    print(
        f"large problem n = {n:.0e} float32 on {cupy.describe()}: bandwidth "
        f"{bandwidth / 1e9:.0f} GB/s (copy), bound {bound * 1e3:.2f} ms per iteration, "
        f"measured {per_eval * 1e3:.2f} ms per evaluation = {per_eval / bound:.2f}x bound "
        f"(target <= 2x: {verdict})"
    )


def reads_back(m: int, n: int, steps: int) -> None:
    try:
        strict = importlib.import_module("array_api_strict")
    except ImportError:
        print("reads back: array-api-strict is not installed")
        return
    device = strict.Device("device1")
    cls = type(strict.asarray(0.0))
    count = [0]
    names = ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__")
    originals = {name: getattr(cls, name) for name in names}

    def counting(original: Any) -> Any:
        def method(a: Any, *args: Any, **kwargs: Any) -> Any:
            count[0] += a.device == device
            return original(a, *args, **kwargs)

        return method

    x0 = strict.asarray(np.random.default_rng(0).uniform(-5.12, 5.12, (m, n)), device=device)
    try:
        for name, original in originals.items():
            setattr(cls, name, counting(original))
        for every in (4, 20):
            count[0] = 0
            _, res = timed_run(
                x0, steps, backends.get("array_api_strict"), vectorized=True, check_every=every
            )
            evaluations = res.nfev
            print(
                f"reads back, check_every = {every} (proj_maxiter 20): {count[0]} in "
                f"{steps} steps and {evaluations} projection iterations = "
                f"{count[0] / steps:.2f} per step, {count[0] / evaluations:.3f} per iteration"
            )
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller batch, fewer steps")
    args = parser.parse_args(argv)
    print(f"# batched throughput -- {backends.get('numpy').describe()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')}, Python {sys.version.split()[0]}")
    if args.quick:
        throughput(512, 64, 10, 8)
    else:
        throughput(4096, 64, 30, 32)
    large(10**8, 5)
    reads_back(16, 8, 40)


if __name__ == "__main__":
    main()
