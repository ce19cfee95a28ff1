"""``rbo.multistart``: many balls dropped at random in a box, the best one kept."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from array_api_compat import device as device_of
from scipy.optimize import Bounds, OptimizeResult

from . import backends
from ._arrays import default_float
from ._bounds import supports_bounds
from ._minimize import minimize
from ._validation import check_count

__all__ = ["multistart"]


def multistart(
    fun: Callable[..., Any],
    bounds: Sequence[tuple[float, float]] | Bounds,
    n_starts: int,
    *,
    args: Any = (),
    jac: Callable[..., Any] | str | bool | None = None,
    seed: int | None = None,
    backend: str | backends.Backend | None = None,
    dtype: Any = None,
    vectorized: bool = False,
    **kwargs: Any,
) -> OptimizeResult:
    """Minimise from ``n_starts`` uniform random starts in ``bounds``; return the best.

    The starts are drawn with the backend's own random generator (on its device), so a
    given ``seed`` and backend always draw the same starts. With ``vectorized=True`` all
    starts run at once as the rows of one batched :func:`rbo.minimize` (``fun`` maps
    ``(m, n)`` to ``(m,)``); otherwise one after the other, with the same results.

    Parameters
    ----------
    fun, args, jac
        As for :func:`rbo.minimize`.
    bounds : sequence of (low, high) pairs, or scipy.optimize.Bounds
        The box the starts are drawn from, one pair per coordinate; the runs of a method
        that takes bounds (see :func:`rbo.minimize`) stay in it, RBO's are unconstrained.
    n_starts : int
        Number of starts, ``m``.
    seed : int, optional
        Seed of the backend's random generator.
    backend : str or rbo.backends.Backend, optional
        Where to run (default ``"numpy"``).
    dtype : optional
        Floating dtype of the starts, a dtype of the backend's namespace or its name
        (``"float32"``); default the namespace's default floating dtype.
    vectorized : bool
        Whether ``fun`` (and ``jac``) take all rows at once.
    **kwargs
        Further arguments of :func:`rbo.minimize` (``maxiter``, ``radius``, ``lr``, ...).

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        The best run's ``x``, ``fun``, ``jac``, ``nit``, ``status``, ``success``,
        ``message``; ``best`` (its row), ``starts`` (``(m, n)``), ``nfev`` and ``njev``
        over all runs, and ``runs``: the per-row result of the batch (see
        :func:`rbo.minimize` with ``vectorized=True``).

    Examples
    --------
    >>> import rbo
    >>> from rbo.problems import rastrigin
    >>> res = rbo.multistart(rastrigin.value_and_grad, [(-5.12, 5.12)] * 2, 16, jac=True,
    ...                      seed=1, vectorized=True, radius=0.5, lr=0.01, maxiter=200)
    >>> res.starts.shape, bool(res.fun <= res.runs.fun.min())
    ((16, 2), True)
    """
    low, high = _box(bounds)
    n_starts = check_count("n_starts", n_starts, minimum=1)
    if "x0" in kwargs or "vectorized" in kwargs:
        raise TypeError("multistart draws x0 itself; pass bounds and n_starts")
    where = backends.get("numpy" if backend is None else backend)
    xp = where.namespace()
    dtype = _dtype(xp, dtype)
    starts = where.uniform(where.rng(seed), low, high, (n_starts, len(low)), dtype=dtype)
    if supports_bounds(kwargs.get("method", "rbo")):
        kwargs.setdefault("bounds", bounds)  # the runs stay in the box too
    if vectorized:
        runs = minimize(fun, starts, args, jac, vectorized=True, backend=where, **kwargs)
    else:
        runs = _one_by_one(fun, starts, args, jac, where, xp, kwargs)
    best = runs.best
    return OptimizeResult(
        x=runs.x_best,
        fun=runs.fun_best,
        jac=runs.jac[best, ...],
        nit=int(runs.nit[best]),
        status=int(runs.status[best]),
        success=bool(runs.success[best]),
        message=runs.message[best],
        nfev=runs.nfev,
        njev=runs.njev,
        best=best,
        starts=starts,
        runs=runs,
        backend=runs.backend,
        device=runs.device,
    )


def _one_by_one(
    fun: Any, starts: Any, args: Any, jac: Any, where: Any, xp: Any, kwargs: dict[str, Any]
) -> OptimizeResult:
    """The batched result's fields, from one :func:`minimize` per row."""
    results = [
        minimize(fun, starts[i, ...], args, jac, backend=where, **kwargs)
        for i in range(starts.shape[0])
    ]
    dev = device_of(starts)

    def stack(key: str, dtype: Any) -> Any:
        return xp.asarray([r[key] for r in results], dtype=dtype, device=dev)

    funs = [float(r.fun) for r in results]
    best = min(range(len(funs)), key=funs.__getitem__)  # the first of equals, as argmin
    return OptimizeResult(
        x=xp.stack([r.x for r in results]),
        fun=stack("fun", starts.dtype),
        jac=xp.stack([r.jac for r in results]),
        nit=stack("nit", xp.int32),
        status=stack("status", xp.int32),
        success=stack("success", xp.bool),
        message=[r.message for r in results],
        nfev=sum(r.nfev for r in results),
        njev=sum(r.njev for r in results),
        x_last=xp.stack([r.x_last for r in results]),
        fun_last=stack("fun_last", starts.dtype),
        best=best,
        x_best=results[best].x,
        fun_best=funs[best],
        backend=results[0].backend,
        device=results[0].device,
    )


def _box(bounds: Any) -> tuple[list[float], list[float]]:
    if isinstance(bounds, Bounds):
        low, high = _floats(bounds.lb, "bounds.lb"), _floats(bounds.ub, "bounds.ub")
        if len(low) != len(high):
            raise ValueError(
                f"bounds.lb and bounds.ub must have the same length; got {len(low)}, {len(high)}"
            )
    else:
        try:
            pairs = [tuple(p) for p in bounds]
        except TypeError as exc:
            raise TypeError(
                f"bounds must be (low, high) pairs or a scipy.optimize.Bounds; got {bounds!r}"
            ) from exc
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError(
                f"bounds must be a non-empty sequence of (low, high) pairs; got {bounds!r}"
            )
        low = _floats([p[0] for p in pairs], "bounds")
        high = _floats([p[1] for p in pairs], "bounds")
    for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(
                f"bounds must be finite with low < high; coordinate {i} has ({lo}, {hi})"
            )
    return low, high


def _floats(values: Any, name: str) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold real numbers; got {values!r}") from exc
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _dtype(xp: Any, dtype: Any) -> Any:
    if dtype is None:
        return default_float(xp)
    if isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
        return getattr(xp, dtype)
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(f"dtype must be a real floating dtype; got {dtype!r}")
    return dtype
