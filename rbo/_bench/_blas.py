"""BLAS threads off while the benchmark times small problems."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["single_threaded_blas"]


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while runs are timed, when threadpoolctl is installed.

    Multithreaded BLAS on the small vectors of these problems costs more in hand-offs than it
    saves (L-BFGS-B on Levy, n = 10, ran 6x slower with OpenBLAS's default threads here), and
    worker processes would contend for the cores. Without threadpoolctl this does nothing;
    set ``OPENBLAS_NUM_THREADS=1`` before starting Python instead.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
