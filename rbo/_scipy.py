"""``rbo.scipy_method``: RBO as a custom method of ``scipy.optimize.minimize``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from scipy.optimize import OptimizeResult, OptimizeWarning

from . import backends
from ._minimize import METHODS, minimize
from ._solver import option_names

__all__ = ["scipy_method"]

# Keywords scipy.optimize.minimize hands to every custom method, whether used or not.
_SCIPY_KEYWORDS = frozenset({"hess", "hessp", "bounds", "constraints"})
_MINIMIZE_KEYWORDS = frozenset(
    {
        "method",
        "maxiter",
        "maxfev",
        "tol",
        "gtol",
        "xtol",
        "ftol",
        "patience",
        "return_trajectory",
        "backend",
    }
)


def scipy_method(
    fun: Callable[..., Any],
    x0: Any,
    args: tuple[Any, ...] = (),
    jac: Any = None,
    callback: Callable[..., Any] | None = None,
    **options: Any,
) -> OptimizeResult:
    """Run :func:`rbo.minimize` as ``scipy.optimize.minimize(..., method=rbo.scipy_method)``.

    ``options`` are those of :func:`rbo.minimize` and of the method (``radius``, ``lr``,
    ...). scipy's ``hess``, ``hessp``, ``bounds`` and ``constraints`` are accepted and
    ignored (RBO is unconstrained); other unknown keywords are ignored with an
    ``OptimizeWarning``, as scipy does. ``jac=True`` is unwrapped from scipy's memoising
    wrapper, so each point costs one call. ``backend`` runs where the objective's arrays
    live (``fun`` and ``jac`` then receive that backend's arrays, say torch tensors),
    while the result comes back with ``fun`` as a Python float and every array as a
    NumPy array, as ``basinhopping`` expects. ``vectorized`` is refused: scipy hands a
    method a 1-D ``x0``; batches run through :func:`rbo.minimize` or
    :func:`rbo.multistart`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> import rbo
    >>> res = minimize(rbo.problems.rosenbrock, np.array([-1.2, 1.0]),
    ...                jac=rbo.problems.rosenbrock.jac, method=rbo.scipy_method,
    ...                options={"radius": 1e-2, "lr": 1e-3, "maxiter": 5000})
    >>> bool(res.fun < 1e-3), type(res.fun).__name__
    (True, 'float')
    """
    for name in _SCIPY_KEYWORDS & options.keys():
        value = options.pop(name)
        given = value is not None and not (isinstance(value, tuple | list) and not value)
        if name in ("bounds", "constraints") and given:
            warnings.warn(
                f"rbo is unconstrained: {name} are ignored", OptimizeWarning, stacklevel=2
            )
    # scipy wraps fun for jac=True as MemoizeJac(fun) and passes its bound `derivative`.
    owner = getattr(jac, "__self__", None)
    if owner is not None and owner is fun and getattr(jac, "__name__", "") == "derivative":
        fun, jac = owner.fun, True
    if options.pop("vectorized", False):
        raise ValueError(
            "vectorized runs need x0 of shape (m, n), and scipy.optimize.minimize passes a "
            "1-D x0; call rbo.minimize(..., vectorized=True) or rbo.multistart instead"
        )
    method = options.pop("method", "rbo")
    solver_fields = _solver_option_names(method)
    unknown = sorted(set(options) - _MINIMIZE_KEYWORDS - solver_fields)
    if unknown:
        warnings.warn(
            f"Unknown solver options: {', '.join(unknown)}", OptimizeWarning, stacklevel=2
        )
        for name in unknown:
            options.pop(name)
    res = minimize(fun, x0, args, jac, method=method, callback=callback, **options)
    if res.backend != "numpy":
        res = backends.to_host(res)
        res.backend, res.device = "numpy", "cpu"  # where the arrays now live
    res.fun = float(res.fun)
    return res


def _solver_option_names(method: Any) -> frozenset[str]:
    factory = METHODS.get(method.lower()) if isinstance(method, str) else None
    return option_names(factory) or frozenset()
