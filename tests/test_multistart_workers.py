"""``rbo.multistart`` on workers: processes, map-like callables, a Dask cluster."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rbo
from rbo.problems import rastrigin

BOX = [(-3.0, 3.0)] * 2
KW: dict[str, Any] = {"jac": True, "radius": 0.5, "lr": 0.01, "maxiter": 15}
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


def assert_same(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(a.starts, b.starts)
    np.testing.assert_array_equal(a.runs.x, b.runs.x)
    np.testing.assert_array_equal(a.runs.status, b.runs.status)
    assert a.best == b.best
    assert a.fun == b.fun
    assert a.nfev == b.nfev
    assert a.runs.nfev_all == b.runs.nfev_all


@pytest.fixture(scope="module")
def serial() -> Any:
    return rbo.multistart(objective, BOX, M, rng=7, **KW)


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


def test_serial_result_is_the_best_ball_with_counts_over_all(serial: Any) -> None:
    assert serial.best == int(np.argmin(serial.runs.fun))
    assert serial.fun == serial.runs.fun_best == float(serial.runs.fun[serial.best])
    assert serial.nfev == sum(serial.runs.nfev_all) > 0
    assert len(serial.runs.nfev_all) == len(serial.runs.njev_all) == M


def test_process_pool_gives_the_serial_result(serial: Any) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=2, **KW), serial)


def test_thread_pool_map_gives_the_serial_result(serial: Any) -> None:
    with ThreadPoolExecutor(2) as pool:
        assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=pool.map, **KW), serial)


def test_multiprocessing_pool_map_gives_the_serial_result(serial: Any) -> None:
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=pool.map, **KW), serial)


def test_dask_cluster_gives_the_serial_result(client: Any, serial: Any) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, workers=client, **KW), serial)


def test_dask_worker_lost_mid_search_changes_nothing(
    client: Any, serial: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "died"
    res = rbo.multistart(DiesOnce(marker), BOX, M, rng=7, workers=client, **KW)
    assert marker.exists()  # a worker did die
    assert_same(res, serial)


def test_process_lost_mid_search_is_rerun(serial: Any, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    res = rbo.multistart(DiesOnce(marker), BOX, M, rng=7, workers=2, **KW)
    assert marker.exists()
    assert_same(res, serial)


@pytest.mark.parametrize("threads", [False, True])
def test_a_failing_ball_is_recorded_and_the_search_goes_on(threads: bool) -> None:
    # With rng=3, balls 1 and 3 start in a band (they fail on their first call) and
    # ball 6 rolls into one after a few steps; the others never meet one.
    with ThreadPoolExecutor(2) as pool:
        workers = pool.map if threads else 1
        res = rbo.multistart(fails_in_bands, [(-2.5, 2.5)] * 2, 8, rng=3, workers=workers, **KW)
    status = np.asarray(res.runs.status)
    assert np.flatnonzero(status == 7).tolist() == [1, 3, 6]
    assert all(status[i] == 1 for i in (0, 2, 4, 5, 7))  # they ran to maxiter
    for i in (1, 3, 6):
        assert "RuntimeError: out of range" in res.runs.message[i]
    # Failed on the first call: the start is kept, with no value.
    np.testing.assert_array_equal(res.runs.x[[1, 3]], res.starts[[1, 3]])
    assert np.all(res.runs.fun[[1, 3]] == np.inf)
    # Failed mid-run: the best point it had reached, with its value.
    assert res.runs.nit[6] > 0 and res.runs.fun[6] == rastrigin(res.runs.x[6])
    assert res.fun == np.min(res.runs.fun) and res.nfev == sum(res.runs.nfev_all)


def test_same_rng_same_result_and_generator_accepted(serial: Any) -> None:
    assert_same(rbo.multistart(objective, BOX, M, rng=7, **KW), serial)
    a = rbo.multistart(objective, BOX, M, rng=np.random.default_rng(7), **KW)
    assert_same(a, serial)
    other = rbo.multistart(objective, BOX, M, rng=8, **KW)
    assert not np.array_equal(other.starts, serial.starts)


@pytest.mark.parametrize(
    ("rng", "error", "match"),
    [
        ("seven", TypeError, "rng must be None, a non-negative integer"),
        (1.5, TypeError, "rng must be"),
        (True, TypeError, "rng must be"),
        (-1, ValueError, "rng must be a non-negative integer; got -1"),
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


def test_vectorized_with_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="vectorized=True"):
        rbo.multistart(objective, BOX, 2, rng=0, workers=2, vectorized=True, **KW)


def test_callback_stops_the_search_with_the_best_so_far(serial: Any) -> None:
    seen: list[int] = []

    def stop_after_three(intermediate_result: Any) -> None:
        seen.append(intermediate_result.ball)
        if intermediate_result.n_done == 3:
            raise StopIteration

    res = rbo.multistart(objective, BOX, M, rng=7, callback=stop_after_three, **KW)
    assert seen == [0, 1, 2]
    assert res.status == 99 and not res.success
    first = serial.runs.fun[:3]
    assert res.fun == float(np.min(first)) and res.best == int(np.argmin(first))
    assert list(res.runs.status[3:]) == [99] * (M - 3)
    assert res.nfev == sum(serial.runs.nfev_all[:3])


def test_disp_prints_a_line_per_ball(capsys: pytest.CaptureFixture[str]) -> None:
    rbo.multistart(objective, BOX, 3, rng=0, disp=True, **KW)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("multistart: ball 2 done (3/3)")


def test_progress_without_tqdm_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        rbo.multistart(objective, BOX, 2, rng=0, progress=True, **KW)


def test_progress_bar_counts_the_balls(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    rbo.multistart(objective, BOX, 3, rng=0, progress=True, **KW)
    assert "3/3" in capsys.readouterr().err
