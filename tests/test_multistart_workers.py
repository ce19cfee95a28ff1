"""``rbo.multistart`` on workers: processes, map-like callables, a Dask cluster; the same
``rng`` gives the same search on each."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rbo
from rbo.problems import rastrigin

BOX = [(-3.0, 3.0)] * 2
KW: dict[str, Any] = {"jac": True, "maxfev": 300}
M = 4


def objective(x: Any) -> Any:
    return rastrigin.value_and_grad(x)


def fails_in_bands(x: Any) -> Any:
    """Rastrigin, but raising for first coordinates in (-0.2, -0.01) or above 1.3."""
    if float(x[0]) > 1.3 or -0.2 < float(x[0]) < -0.01:
        raise RuntimeError("out of range")
    return rastrigin.value_and_grad(x)


class DiesOnce:
    """Rastrigin whose first call in the whole search ends its process (a lost worker)."""

    def __init__(self, marker: Path) -> None:
        self.marker, self.parent = marker, os.getpid()

    def __call__(self, x: Any) -> Any:
        if os.getpid() != self.parent:
            try:
                self.marker.touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return rastrigin.value_and_grad(x)


class CountsPickles:
    """Rastrigin that counts, in the process that pickles it, how often it was pickled."""

    pickled = 0

    def __getstate__(self) -> dict[str, Any]:
        type(self).pickled += 1
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        pass

    def __call__(self, x: Any) -> Any:
        return rastrigin.value_and_grad(x)


class RecordsPid:
    """Rastrigin that leaves a file named by the id of each process that calls it."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def __call__(self, x: Any) -> Any:
        (self.where / str(os.getpid())).touch()
        return rastrigin.value_and_grad(x)


def pids(where: Path) -> set[int]:
    return {int(p.name) for p in where.iterdir()}


def assert_same(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.runs.x, b.runs.x)
    np.testing.assert_array_equal(a.runs.status, b.runs.status)
    assert a.best == b.best
    assert a.fun == b.fun
    assert a.nfev == b.nfev
    assert a.runs.nfev_all == b.runs.nfev_all
    assert a.polished == b.polished


@pytest.fixture(scope="module", params=["basin", "restart"])
def kw(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of the searches compared, with the default schedule and an old one."""
    kw = {**KW, "schedule": request.param}
    if request.param == "restart":
        kw["radius"] = 0.5  # (basin rolls no ball, and says so when given a radius)
    return kw


@pytest.fixture(scope="module")
def serial(kw: dict[str, Any]) -> Any:
    return rbo.multistart(objective, BOX, M, rng=7, **kw)


@pytest.fixture(scope="module")
def client() -> Any:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_serial_result_is_the_best_ball_with_counts_over_all(
    serial: Any, kw: dict[str, Any]
) -> None:
    assert serial.best == int(np.argmin(serial.runs.fun))
    assert serial.fun == float(serial.runs.fun[serial.best])
    assert kw["maxfev"] >= serial.nfev == sum(serial.runs.nfev_all) > 0
    # Balls were dropped and their budget given to new ones.
    assert serial.n_balls == len(serial.runs.nfev_all) == len(serial.starts) > M


def test_process_pool_gives_the_serial_result(serial: Any, kw: dict[str, Any]) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=2, **kw), serial)


def test_thread_pool_map_gives_the_serial_result(serial: Any, kw: dict[str, Any]) -> None:
    with ThreadPoolExecutor(2) as pool:
        assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=pool.map, **kw), serial)


def test_multiprocessing_pool_map_gives_the_serial_result(serial: Any, kw: dict[str, Any]) -> None:
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=pool.map, **kw), serial)


def test_dask_cluster_gives_the_serial_result(client: Any, serial: Any, kw: dict[str, Any]) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=client, **kw), serial)


def test_dask_worker_lost_mid_search_changes_nothing(
    client: Any, serial: Any, kw: dict[str, Any], tmp_path: Path
) -> None:
    marker = tmp_path / "died"
    res = rbo.multistart(DiesOnce(marker), BOX, M, rng=7, workers=client, **kw)
    assert marker.exists()  # a worker did die
    assert_same(res, serial)


def test_dask_gets_fun_once_per_search_not_once_a_round(client: Any) -> None:
    # fun (and all it closes over: a fit's data) goes to the workers at the start of a
    # search; each round's tasks then carry only their starts.
    CountsPickles.pickled = 0
    res = rbo.multistart(CountsPickles(), BOX, M, rng=7, workers=client, **KW)
    rounds = len(res.runs.x) // M
    assert rounds >= 4
    assert 1 <= CountsPickles.pickled <= 2
    # ... and leaves them when the search ends.
    kept = client.run(_tasks_kept)
    assert kept and all(n == 0 for n in kept.values())


def _tasks_kept() -> int:
    import rbo._multistart

    return len(rbo._multistart._SHIPPED)


def test_process_lost_mid_search_is_rerun(serial: Any, kw: dict[str, Any], tmp_path: Path) -> None:
    marker = tmp_path / "died"
    res = rbo.multistart(DiesOnce(marker), BOX, M, rng=7, workers=2, **kw)
    assert marker.exists()
    assert_same(res, serial)


def test_searches_on_processes_reuse_their_processes(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    rbo.multistart(RecordsPid(first), BOX, M, rng=7, workers=2, **KW)
    rbo.multistart(RecordsPid(second), BOX, M, rng=7, workers=2, **KW)
    assert pids(first) and pids(second)  # both searches ran on workers
    assert os.getpid() not in pids(first)
    assert pids(second) <= pids(first)  # no process started for the second search


def test_a_process_lost_between_searches_is_replaced(
    serial: Any, kw: dict[str, Any], tmp_path: Path
) -> None:
    rbo.multistart(RecordsPid(tmp_path), BOX, M, rng=7, workers=2, **KW)
    assert pids(tmp_path)
    for pid in pids(tmp_path):
        os.kill(pid, 9)  # the kept processes die while no search runs
    for pid in pids(tmp_path):
        for _ in range(1000):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break  # gone (and reaped by its parent)
            time.sleep(0.01)
    assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=2, retries=0, **kw), serial)


@pytest.mark.parametrize("threads", [False, True])
def test_a_failing_ball_is_recorded_and_the_search_goes_on(threads: bool) -> None:
    with ThreadPoolExecutor(2) as pool:
        workers = pool.map if threads else 1
        res = rbo.multistart(fails_in_bands, [(-2.5, 2.5)] * 2, M, rng=3, workers=workers, **KW)
    status = np.asarray(res.runs.status)
    failed = np.flatnonzero(status == 7)
    assert failed.size > 0 and failed.size < res.n_balls  # some failed, others ran on
    for i in failed:
        assert "RuntimeError: out of range" in res.runs.message[i]
        # The best point it had reached (or its start) is kept, with its value or inf.
        x, f = res.runs.x[i], float(res.runs.fun[i])
        assert f == np.inf or f == rastrigin(x)
    assert res.nfev > KW["maxfev"] // 2  # the search went on after the failures
    # The best point, that of a ball which may have failed later, lies outside the bands.
    assert np.isfinite(res.fun) and res.fun == np.min(res.runs.fun) == rastrigin(res.x)
    assert not (float(res.x[0]) > 1.3 or -0.2 < float(res.x[0]) < -0.01)


def test_same_rng_same_result_and_generator_accepted(serial: Any, kw: dict[str, Any]) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, **kw), serial)
    a = rbo.multistart(objective, BOX, M, rng=np.random.default_rng(7), **kw)
    assert_same(a, serial)
    other = rbo.multistart(objective, BOX, M, rng=8, **kw)
    assert not np.array_equal(other.starts, serial.starts)
    # As scipy's rng: what numpy.random.default_rng takes seeds it, the same stream as 7.
    for seed in (np.random.SeedSequence(7), np.random.PCG64(7)):
        assert_same(rbo.multistart(objective, BOX, M, rng=seed, **kw), serial)


@pytest.mark.parametrize(
    ("rng", "error", "match"),
    [
        ("seven", TypeError, "rng must be None, a non-negative integer"),
        (1.5, TypeError, "rng must be"),
        (True, TypeError, "rng must be"),
        (-1, ValueError, "rng must be a non-negative integer; got -1"),
        ([1, -1], ValueError, r"rng: .*got \[1, -1\]"),
    ],
)
def test_bad_rng_is_named(rng: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        rbo.multistart(objective, BOX, 2, rng=rng, **KW)


def test_old_seed_argument_points_to_rng() -> None:
    with pytest.raises(TypeError, match="rng="):
        rbo.multistart(objective, BOX, 2, seed=1, **KW)


@pytest.mark.parametrize(
    ("workers", "error", "match"),
    [(0, ValueError, "workers must be >= 1"), ("four", TypeError, "workers must be an int")],
)
def test_bad_workers_are_named(workers: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        rbo.multistart(objective, BOX, 2, rng=0, workers=workers, **KW)


def test_unpicklable_fun_on_processes_says_how_to_fix() -> None:
    with pytest.raises(TypeError, match=r"picklable.*module level.*ThreadPoolExecutor"):
        rbo.multistart(lambda x: rastrigin.value_and_grad(x), BOX, 2, rng=0, workers=2, **KW)


class HoldsALock:
    """Rastrigin with a lock among its attributes: no pickler takes it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, x: Any) -> Any:
        return rastrigin.value_and_grad(x)


def test_unpicklable_fun_on_dask_says_how_to_fix(client: Any) -> None:
    with pytest.raises(TypeError, match=r"cloudpickle.*Dask.*lock.*ThreadPoolExecutor"):
        rbo.multistart(HoldsALock(), BOX, 2, rng=0, workers=client, **KW)


def test_vectorized_with_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="vectorized=True"):
        rbo.multistart(objective, BOX, 2, rng=0, workers=2, vectorized=True, **KW)


def test_callback_stops_the_search_with_the_best_so_far(serial: Any, kw: dict[str, Any]) -> None:
    seen: list[int] = []

    def stop_after_three(intermediate_result: Any) -> None:
        seen.append(intermediate_result.ball)
        assert intermediate_result.nfev <= kw["maxfev"]
        if intermediate_result.n_done == 3:
            raise StopIteration

    res = rbo.multistart(objective, BOX, M, rng=7, callback=stop_after_three, **kw)
    assert len(seen) == 3
    assert res.status == 99 and not res.success
    assert res.fun == float(np.min(res.runs.fun)) and res.nfev < serial.nfev
    # Until it stopped, the search was the serial one: the same balls from the same starts.
    np.testing.assert_array_equal(res.starts, serial.starts[: res.n_balls])


def test_disp_prints_a_line_per_finished_ball(capsys: pytest.CaptureFixture[str]) -> None:
    res = rbo.multistart(objective, BOX, 3, rng=0, disp=True, **KW)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= res.n_balls
    assert all(line.startswith("multistart: ball ") for line in lines)
    assert f"({res.nfev}/{KW['maxfev']} calls)" in lines[-1]


def test_progress_without_tqdm_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        rbo.multistart(objective, BOX, 2, rng=0, progress=True, **KW)


def test_progress_bar_counts_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    res = rbo.multistart(objective, BOX, 3, rng=0, progress=True, **KW)
    assert f"{res.nfev}/{KW['maxfev']}" in capsys.readouterr().err


@pytest.mark.parametrize(("n", "parts"), [(16, 4), (5, 4), (3, 8), (1, 1), (7, 2)])
def test_a_round_goes_out_in_contiguous_chunks_covering_every_run_once(n: int, parts: int) -> None:
    from rbo._multistart import _chunks

    chunks = _chunks(n, parts)
    assert [i for c in chunks for i in c] == list(range(n))
    assert len(chunks) == min(n, parts) and all(chunks)
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


@pytest.mark.parametrize(
    ("schedule", "given", "named"),
    [
        ("basin", {"radius": 0.5}, "radius"),
        ("basin", {"lr": 0.1, "proj_rtol": 0.2}, "lr, proj_rtol"),
        ("basin", {"segment": 30}, "segment"),
        ("basin-roll", {"polish_fraction": 0.5}, "polish_fraction"),
        ("basin-roll", {"basin_tol": 0.1}, "basin_tol"),
    ],
)
def test_options_a_schedule_does_not_use_are_named_not_dropped(
    schedule: str, given: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=f"does not use {named}"):
        rbo.multistart(objective, BOX, jac=True, maxfev=300, schedule=schedule, **given)
