"""``rbo.scipy_method``: RBO as a custom method of ``scipy.optimize.minimize``."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, Protocol, cast

import scipy
from scipy.optimize import OptimizeResult, OptimizeWarning

from . import backends
from ._minimize import METHODS, did_you_mean, minimize
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
        "polish",
        "scale",
        "return_trajectory",
        "backend",
        "disp",
    }
)


class _MemoizeJac(Protocol):
    """scipy's wrapper of a ``fun`` returning ``(f, grad f)``, for ``jac=True``."""

    fun: Callable[..., Any]  # the wrapped function


# Frames of these packages are skipped so that a warning points at the user's call.
_INTERNAL = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep for path in (scipy.__file__, __file__)
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
    ...). scipy's ``bounds`` are passed on (every method of :func:`rbo.minimize` keeps
    to them); ``hess``, ``hessp`` and ``constraints`` are accepted and ignored (rbo
    handles no other constraints); other unknown keywords are ignored with an
    ``OptimizeWarning``, as scipy does, issued at the line that called scipy and naming
    the nearest known option. ``jac=True`` is unwrapped from scipy's memoising
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
    bounds = None
    for name in _SCIPY_KEYWORDS & options.keys():
        value = options.pop(name)
        given = value is not None and not (isinstance(value, tuple | list) and not value)
        if name == "bounds" and given:
            bounds = value
        elif name == "constraints" and given:
            warnings.warn(
                f"rbo is unconstrained: {name} are ignored", OptimizeWarning, stacklevel=_level()
            )
    # scipy wraps fun for jac=True as MemoizeJac(fun) and passes its bound `derivative`.
    owner = getattr(jac, "__self__", None)
    if owner is not None and owner is fun and getattr(jac, "__name__", "") == "derivative":
        fun, jac = cast(_MemoizeJac, owner).fun, True
    if options.pop("vectorized", False):
        raise ValueError(
            "vectorized runs need x0 of shape (m, n), and scipy.optimize.minimize passes a "
            "1-D x0; call rbo.minimize(..., vectorized=True) or rbo.multistart instead"
        )
    method = options.pop("method", "rbo")
    solver_fields = _solver_option_names(method)
    known = _MINIMIZE_KEYWORDS | solver_fields
    unknown = sorted(set(options) - known)
    if unknown:
        warnings.warn(
            f"Unknown solver options: {', '.join(unknown)}{did_you_mean(unknown, known)}",
            OptimizeWarning,
            stacklevel=_level(),
        )
        for name in unknown:
            options.pop(name)
    res = minimize(fun, x0, args, jac, method=method, bounds=bounds, callback=callback, **options)
    if res.backend != "numpy":
        res = backends.to_host(res)
        res.backend, res.device = "numpy", "cpu"  # where the arrays now live
    res.fun = float(res.fun)
    return res


def _solver_option_names(method: Any) -> frozenset[str]:
    factory = METHODS.get(method.lower()) if isinstance(method, str) else None
    return option_names(factory) or frozenset()


def _level() -> int:
    """The ``stacklevel`` that makes a warning of :func:`scipy_method` point at the line
    that called into scipy or rbo (``scipy.optimize.minimize(...)``, or a
    ``basinhopping`` call), not inside scipy."""
    frame = sys._getframe(1)  # scipy_method's own frame: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame = frame.f_back
        level += 1
    return level
