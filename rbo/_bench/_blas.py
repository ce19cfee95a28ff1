"""BLAS threads off while the benchmark times small problems."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["blas_kernels", "single_threaded_blas"]


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


def blas_kernels() -> str:
    """The BLAS NumPy calls and the kernels it chose for this CPU ("unknown" without
    threadpoolctl).

    A rugged landscape sends a run to another wrinkle on a last-bit difference, and the
    kernels of one BLAS build round dot products differently from CPU to CPU (OpenBLAS's
    AVX2 and AVX-512 kernels, say): a benchmark's figures are tied to them.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    found = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        # Wheels bundle their own: say whose (numpy.libs/, scipy.libs/ in the path).
        path = str(lib.get("filepath", ""))
        owner = next((f"{p}'s " for p in ("numpy", "scipy") if f"{p}." in path), "")
        found.append(
            f"{owner}{lib.get('internal_api', '?')} {lib.get('version', '?')} "
            f"({lib.get('architecture', '?')} kernels)"
        )
    return ", ".join(found) if found else "none loaded"
