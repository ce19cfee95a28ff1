"""What the workers of ``rbo.multistart`` cost, part by part: the figures behind
``benchmarks/workers.py``'s speed-ups.

On the objective and the search of ``benchmarks/workers.py`` (16 runs a round, ``maxfev``
4000, about 1 ms a call, BLAS on one thread), with one 2-worker Dask ``LocalCluster``:

1. the objective's time per call in this process, in one Dask worker, and in both at once;
2. Dask's round trip: one trivial task, and four (a round's worth of chunks);
3. the median time of a round of the search (one call of the engine that runs a round's
   balls) serially, on 2 processes and on Dask;
4. Dask's rounds as one task per worker thread (the default) against two, in interleaved
   pairs of searches;
5. what data ``fun`` closes over costs on Dask: a search with a cheap objective (Rastrigin,
   no matrix work) that refers to 20 MB of data, against the same objective without it.
   The data goes to each worker once per search, not with every round's tasks;
6. how fast the balls themselves run on the Dask workers: the compute time that Dask's
   task stream records for a search's tasks, summed over both workers, against the time
   of the same balls run one by one in this process (the serial rounds in all), in
   interleaved pairs. Above 1, a ball runs slower on a Dask worker while both compute
   (the worker's event loop, the scheduler and this client share the two cores).

Run: ``PYTHONPATH=. python3 benchmarks/worker_costs.py [--pairs 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# Before NumPy loads, and inherited by the workers.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from workers import costly, two_workers  # noqa: E402

import rbo  # noqa: E402
import rbo._multistart as engine  # noqa: E402
from rbo.problems import rastrigin  # noqa: E402

_DATA = np.random.default_rng(0).standard_normal(2_500_000)  # 20 MB, as a fit's data


def with_data(x: Any) -> Any:
    """Rastrigin that refers to ``_DATA`` (pickled with it, as a script's function is)."""
    f, g = rastrigin.value_and_grad(x)
    return f + 0.0 * float(_DATA[0]), g


def without_data(x: Any) -> Any:
    return rastrigin.value_and_grad(x)


def per_call(calls: int = 500) -> float:
    """Milliseconds per call of the objective, in the process that runs it."""
    x = np.zeros(4)
    t = time.perf_counter()
    for _ in range(calls):
        costly(x)
    return (time.perf_counter() - t) / calls * 1e3


def search(**kw: Any) -> float:
    t = time.perf_counter()
    rbo.multistart(costly, [(-3.0, 3.0)] * 4, 16, jac=True, rng=0, maxfev=4000, **kw)
    return time.perf_counter() - t


def rounds(**kw: Any) -> list[float]:
    """Seconds of each round of one search: each call of the engine's ``_balls``."""
    original = engine._balls
    spent: list[float] = []

    def timed(*args: Any) -> Any:
        t = time.perf_counter()
        out = list(original(*args))
        spent.append(time.perf_counter() - t)
        yield from out

    engine._balls = timed
    try:
        search(**kw)
    finally:
        engine._balls = original
    return spent


def task_seconds(client: Any) -> float:
    """Seconds the Dask workers spent computing a search's tasks (Dask's task stream)."""
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        search(workers=client)
    return sum(
        part["stop"] - part["start"]
        for task in stream.data
        if str(task["key"]).startswith("_run_chunk")
        for part in task["startstops"]
        if part["action"] == "compute"
    )


def mean_ms(f: Callable[[], Any], repeats: int = 30) -> float:
    t = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - t) / repeats * 1e3


def main() -> None:
    print(f"{os.cpu_count()} CPUs (shared: timings may be noisy)")
    search(workers=2)  # start the processes, kept for the searches below
    with two_workers() as client:
        search(workers=client)  # warm the workers (imports)
        local = per_call()
        alone = client.submit(per_call, pure=False).result()
        both = client.gather(client.map(per_call, [500, 500], pure=False))
        print(
            f"objective, ms per call: this process {local:.2f}; one Dask worker {alone:.2f}; "
            f"both at once {both[0]:.2f}, {both[1]:.2f}"
        )
        one = mean_ms(lambda: client.submit(abs, 1, pure=False).result())
        four = mean_ms(lambda: client.gather(client.map(abs, [1, 2, 3, 4], pure=False)))
        print(f"Dask round trip, ms: one trivial task {one:.1f}; four {four:.1f}")
        for label, kw in (("serial", {}), ("2 processes", {"workers": 2}),
                          ("Dask", {"workers": client})):  # fmt: skip
            spent = rounds(**kw)
            print(
                f"rounds {label:12} {len(spent)} rounds, median "
                f"{statistics.median(spent) * 1e3:.0f} ms, in all {sum(spent):.2f} s"
            )
        chunks = engine._chunks
        one_each, two_each = [], []
        for _ in range(ARGS.pairs):
            one_each.append(search(workers=client))
            engine._chunks = lambda n, parts: chunks(n, 2 * parts)
            try:
                two_each.append(search(workers=client))
            finally:
                engine._chunks = chunks
        print(
            "Dask search, s: one task per worker thread "
            + " ".join(f"{t:.2f}" for t in one_each)
            + "; two "
            + " ".join(f"{t:.2f}" for t in two_each)
        )
        cheap = {"jac": True, "rng": 0, "maxfev": 4000}
        box = [(-3.0, 3.0)] * 4
        times: dict[str, list[float]] = {"with": [], "without": [], "serial": []}
        for _ in range(ARGS.pairs):
            for key, fun, kw in (("with", with_data, {"workers": client}),
                                 ("without", without_data, {"workers": client}),
                                 ("serial", with_data, {})):  # fmt: skip
                t = time.perf_counter()
                rbo.multistart(fun, box, 16, **cheap, **kw)
                times[key].append(time.perf_counter() - t)
        w, wo, s = (statistics.median(times[k]) for k in ("with", "without", "serial"))
        print(
            f"Dask search, cheap objective, s: with 20 MB of data {w:.2f}, without "
            f"{wo:.2f} ({w / wo:.2f}x); serially {s:.2f}"
        )
        pairs = [(task_seconds(client), sum(rounds())) for _ in range(ARGS.pairs)]
        print(
            "the balls' own time, s: in Dask's tasks "
            + " ".join(f"{d:.2f}" for d, _ in pairs)
            + "; serially "
            + " ".join(f"{r:.2f}" for _, r in pairs)
            + f" (median ratio {statistics.median(d / r for d, r in pairs):.2f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="interleaved pairs of searches")
    ARGS = parser.parse_args()
    main()
