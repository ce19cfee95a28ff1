"""Wall time of ``rbo.multistart`` on 1 and 2 workers: a process pool and a Dask cluster.

The objective is Rastrigin plus a dense matrix-vector product chain that makes each
call cost about a millisecond, so the runs dominate and the speed-up shows what the
workers add. The search is the default one (``schedule="basin"``) with ``--balls`` runs a
round and ``--maxfev`` calls in all. Dask's overhead per run is its wall time minus the
time spent inside the runs (the serial time over two), divided by the number of runs:
the cost per run seen by the caller. BLAS is held to one thread (in the workers too), so
that the serial run uses one core and the two workers two.

The three take ``--repeat`` turns, one search each a turn, and the table gives the median
wall time and the median of the turns' speed-ups (the machine is shared, its load moves).
The Dask cluster stands (idle) through the serial and process-pool searches too.
``benchmarks/worker_costs.py`` breaks the figures down.

Run: ``PYTHONPATH=. python3 benchmarks/workers.py [--balls 16] [--maxfev 4000]
[--schedule basin] [--repeat 5]`` (``--schedule restart``: balls rolling in longer rounds).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

# Before NumPy loads, and inherited by the workers.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

import rbo  # noqa: E402
from rbo.problems import rastrigin  # noqa: E402

_W = np.random.default_rng(0).standard_normal((300, 300)) / 300.0


def costly(x: Any) -> Any:
    """Rastrigin's value and gradient after about 1 ms of numeric work."""
    v = np.ones(300)
    for _ in range(100):
        v = np.tanh(_W @ v)
    f, g = rastrigin.value_and_grad(x)
    return f + 0.0 * float(v[0]), g


@contextlib.contextmanager
def two_workers() -> Iterator[Any]:
    """A client of a Dask ``LocalCluster`` of 2 single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def timed(**kw: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    res = rbo.multistart(
        costly,
        [(-3.0, 3.0)] * 4,
        ARGS.balls,
        jac=True,
        rng=0,
        maxfev=ARGS.maxfev,
        schedule=ARGS.schedule,
        **kw,
    )
    return time.perf_counter() - t, res


def main() -> None:
    t0 = time.perf_counter()
    for _ in range(100):
        costly(np.zeros(4))
    per_call = (time.perf_counter() - t0) / 100
    print(
        f"objective: {per_call * 1e3:.2f} ms per call; {ARGS.balls} runs a round, "
        f"maxfev {ARGS.maxfev}; {os.cpu_count()} CPUs (shared: timings may be noisy)"
    )
    # The first search on processes starts them (and the forkserver); later searches
    # with as many workers reuse them: the start is timed alone.
    start = time.perf_counter()
    rbo.multistart(costly, [(-3.0, 3.0)] * 4, 2, jac=True, rng=0, maxfev=8, workers=2)
    start = time.perf_counter() - start
    times: dict[str, list[float]] = {"serial": [], "pool": [], "dask": []}
    same = True
    with two_workers() as client:
        timed(workers=client)  # warm the workers (imports)
        # The three take turns, so that a change in the machine's load falls on all.
        for _ in range(ARGS.repeat):
            serial, ref = timed()
            pool, res_pool = timed(workers=2)
            dask, res_dask = timed(workers=client)
            for key, value in (("serial", serial), ("pool", pool), ("dask", dask)):
                times[key].append(value)
            same &= all(np.array_equal(r.runs.x, ref.runs.x) for r in (res_pool, res_dask))
    serial = float(np.median(times["serial"]))
    print(f"{'workers':<28}{'wall s':>8}{'speed-up':>10}   speed-ups of the {ARGS.repeat} turns")
    for key, label in (("serial", "1 (this process)"), ("pool", "2 (process pool)"),
                       ("dask", "2 (Dask LocalCluster)")):  # fmt: skip
        ratios = [a / b for a, b in zip(times["serial"], times[key], strict=True)]
        wall = float(np.median(times[key]))
        print(
            f"{label:<28}{wall:8.2f}{float(np.median(ratios)):10.2f}   "
            + " ".join(f"{r:.2f}" for r in ratios)
        )
    print(f"start of the processes (a first search of 8 calls, not in the table): {start:.2f} s")
    runs = len(ref.runs.x)
    dask = float(np.median(times["dask"]))
    print(
        f"Dask overhead per run: {(dask - serial / 2) / runs * 1e3:.1f} ms (median wall with "
        f"Dask minus serial/2, over {runs} runs); same result every turn: {same}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balls", type=int, default=16)
    parser.add_argument("--maxfev", type=int, default=4000)
    parser.add_argument("--schedule", default="basin", help="the search's schedule")
    parser.add_argument("--repeat", type=int, default=5, help="turns of the three")
    ARGS = parser.parse_args()
    main()
