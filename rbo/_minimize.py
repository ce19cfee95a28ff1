"""``rbo.minimize``: checks the input, picks the solver and runs the protocol loop (``_loop``)."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import OptimizeResult

from . import backends
from ._bounds import into_box, parse_bounds, parse_sides, with_bounds
from ._entropy_sgd import EntropySGD
from ._lbfgs import LBFGS
from ._loop import run
from ._objective import Objective
from ._polish import roll_and_polish
from ._rolling_ball import RBO
from ._sam import SAM
from ._sgd import SGD
from ._solver import Solver
from ._termination import Tolerances
from ._validation import (
    as_start,
    caller_level,
    cast_floats,
    check_count,
    check_tolerance,
    widened,
)
from ._warnings import ProjectionWarning

__all__ = ["METHODS", "make_solver", "minimize"]

#: Methods of :func:`minimize` by name: each a solver class configured by keywords.
METHODS: dict[str, Callable[..., Solver[Any]]] = {"rbo": RBO}
METHODS["sgd"] = SGD
METHODS["sam"] = SAM
METHODS["entropy-sgd"] = EntropySGD
METHODS["lbfgs"] = LBFGS


def make_solver(method: str | Solver[Any], options: dict[str, Any]) -> Solver[Any]:
    """The solver for ``method`` configured by ``options``; unknown options are an error.

    ``method`` is a name in :data:`METHODS` or a configured solver: an object with
    callable ``init``, ``step`` and ``terminate``.
    """
    if not isinstance(method, str):
        if isinstance(method, type):
            raise TypeError(
                f"method must be a name or a configured solver; got the class "
                f"{method.__name__} itself: pass an instance, {method.__name__}(...)"
            )
        if not all(callable(getattr(method, m, None)) for m in ("init", "step", "terminate")):
            raise TypeError(
                f"method must be one of {sorted(METHODS)} or a solver with init, step and "
                f"terminate methods (such as rbo.RBO(radius=0.5)); got {_describe(method)}"
            )
        if options:
            raise TypeError(
                f"options {sorted(options)} were given with a solver instance; "
                "configure the solver itself"
            )
        return method
    try:
        factory = METHODS[method.lower()]
    except KeyError:
        hint = did_you_mean([method.lower()], METHODS)
        raise ValueError(f"unknown method {method!r}{hint}; known: {sorted(METHODS)}") from None
    if dataclasses.is_dataclass(factory):
        known = {f.name for f in dataclasses.fields(factory)}
        unknown = sorted(set(options) - known)
        if unknown:
            hint = did_you_mean(unknown, known | _KEYWORDS)
            raise TypeError(
                f"unknown option(s) {unknown} for method {method!r}{hint}; known: {sorted(known)}"
            )
    return factory(**options)


def did_you_mean(unknown: Collection[str], known: Collection[str]) -> str:
    """`` (did you mean 'radius'?)`` for the known names closest to the unknown ones, or
    an empty string when none is close."""
    pairs = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        if close:
            pairs.append((name, close[0]))
    if not pairs:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {pairs[0][1]!r}?)"
    return " (did you mean " + ", ".join(f"{c!r} for {u!r}" for u, c in pairs) + "?)"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else type(value).__name__


def minimize(
    fun: Callable[..., Any],
    x0: Any,
    args: Any = (),
    jac: Callable[..., Any] | str | bool | None = None,
    *,
    method: str | Solver[Any] = "rbo",
    bounds: Any = None,
    maxiter: int | None = None,
    maxfev: int | None = None,
    tol: float | None = None,
    gtol: float | None = None,
    xtol: float | None = None,
    ftol: float | None = None,
    patience: int | None = 100,
    callback: Callable[..., Any] | None = None,
    return_trajectory: bool = False,
    vectorized: bool = False,
    backend: str | backends.Backend | None = None,
    polish: bool = True,
    scale: float | None = None,
    disp: bool = False,
    options: Mapping[str, Any] | None = None,
    **method_options: Any,
) -> OptimizeResult:
    r"""Minimise a scalar function with the Rolling Ball Optimizer.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, or ``(float, gradient)`` when ``jac=True``. ``x`` is
        an array of ``x0``'s namespace and device; return a Python float or a 0-d array
        of that namespace.
    x0 : array_like, shape (n,) or (m, n)
        Start. NumPy, CuPy, torch, JAX and array-api-strict arrays are used as they are
        (the result comes back in the same namespace, on the same device, in the same
        floating dtype); lists and numbers become NumPy arrays; integers become the
        default floating dtype. float16 and bfloat16 starts are optimised in float32
        (RBO's inner products overflow float16), with ``fun`` called on arrays of their
        own dtype; callbacks see the float32 iterates. With ``vectorized=True``, ``m``
        starts, one per row.
    args : tuple
        Extra arguments passed to ``fun`` and ``jac``.
    jac : callable, True, None, '2-point' or '3-point'
        Gradient: ``jac(x, *args)``; ``True`` if ``fun`` returns ``(f, g)``; otherwise
        forward (``None``, ``'2-point'``) or central (``'3-point'``) finite
        differences, whose calls of ``fun`` count in ``nfev``. A gradient of integers
        (or a list) becomes ``x``'s dtype.
    method : str or solver
        ``"rbo"`` (default) or another name in :data:`rbo.METHODS`, or a configured
        solver instance.
    bounds : sequence of (low, high) pairs, or scipy.optimize.Bounds, optional
        Box bounds, one pair per coordinate (``None`` or ``inf`` for a free side); the
        same box holds for every row of a batch. The baselines (``"sgd"``, ``"sam"``,
        ``"entropy-sgd"``) clip every point they evaluate into the box; an ``x0``
        outside is clipped with a ``UserWarning``; ``"rbo"`` and ``"lbfgs"`` keep every
        point they evaluate in it (the ball rolls on the part of the graph over the box).
    maxiter : int, optional
        Maximum number of steps (of all phases, with ``polish``). Default: 15000 for
        ``"lbfgs"`` and for ``"rbo"`` with ``polish=True`` (scipy's L-BFGS-B default), 1000
        for the others.
    maxfev : int, optional
        Maximum number of calls of ``fun``, never exceeded: an evaluation that would
        exceed it (a finite-difference gradient needs ``n + 1`` or ``2n + 1`` calls) is
        not made, and the run ends there with status 2 and the best point so far. A
        budget that does not cover the first evaluation is a ValueError.
    tol : float, optional
        Sets ``gtol`` and ``xtol`` where they are not given.
    gtol : float
        Stop when :math:`\|\nabla f(x)\| \le` ``gtol`` (default 1e-6); 0 stops only at
        an exactly zero gradient.
    xtol : float
        Stop when a step moves less than ``xtol * (1 + |x|)`` (default 1e-10); 0 turns
        the test off.
    ftol : float
        An improvement of the best value by more than ``ftol * max(1, |f|)`` counts as
        progress (default 1e-10).
    patience : int or None
        Stop after this many steps without progress: status 4, not a success, unless
        the point returned meets ``gtol`` (then status 0); ``None`` never stops for that.
    callback : callable, optional
        Called after each step as ``callback(intermediate_result)`` when its only
        parameter has that name (an ``OptimizeResult`` with ``x``, ``fun``, ``jac``,
        ``nit``, ``nfev`` and, for RBO, ``center``, ``radius``, ``lr``,
        ``proj_residual``), else as ``callback(xk)``. Raising ``StopIteration`` ends
        the run with status 99.
    return_trajectory : bool
        Also return the path in ``res.trajectory``: every point (for RBO the contact
        point) and value, from ``x0`` on, stacked along a first axis, and for RBO every
        centre (``center_x``, ``center_y``). With ``method="rbo"`` and ``polish``, the
        path runs through every phase in order: ``phase`` says which each row belongs to
        (0 the local L-BFGS phase, 1 a roll of the ball, 2 a polish), ``part`` which run
        of the phases (each run's first row is its start), and the centres are NaN
        outside the rolls.
    polish : bool
        With ``method="rbo"`` (default True): a local L-BFGS phase (:class:`rbo.LBFGS`)
        from ``x0`` first, then the ball rolls from its minimum, and an L-BFGS polish from
        the best point found ends each roll -- with ``maxfev``, for a single run, two more
        from the roll's next lowest points apart from it (the ball rolls again from a
        polished point lower than the last), all within the same ``maxfev``, ``maxiter``,
        bounds and tolerances, so that the run ends at a stationary point of ``f`` itself (a ball
        rests where ``f`` ironed at its radius is flat, not where ``f`` is). A radius,
        ``lr`` or ``fscale`` not given is set in the problem's units (see ``scale``). The
        result's ``local``, ``roll`` and ``polish`` say what each phase did (``nit``,
        ``nfev``, ``status``, ``message``; ``roll.proj_capped`` counts the projections
        that ended at ``proj_maxiter``), and ``radius``, ``lr``, ``fscale`` the ball's
        units; ``status`` and ``success`` are those of the last phase. ``radius_too_large``
        says where the minimum returned is sharper than the first ball (the curvature of
        ``f / fscale`` there, estimated from L-BFGS's last pairs, above ``1 / radius``): the
        ball alone could not have reached it, the polish did. False: the ball
        alone, with the given (or :class:`rbo.RBO`'s) settings. Ignored by the other
        methods.
    scale : float, optional
        With ``polish=True`` and ``method="rbo"``: the length, in the units of ``x``, that
        the ball's radius is measured in (``radius = 0.3 * scale`` unless given). Default:
        the median width of ``bounds``, else the largest of ``|x0|``, ``|x_loc|`` and
        ``|x_loc - x0|`` (max-norms; ``x_loc`` the local phase's minimum), else 1 (also
        where such a length gives a radius or ``fscale`` that ``x``'s dtype cannot hold;
        a ``scale`` that does is a ValueError).
    vectorized : bool
        Run the ``m`` rows of ``x0`` as ``m`` independent problems at once: ``fun`` maps
        ``(m, n)`` to ``(m,)`` and ``jac`` ``(m, n)`` to ``(m, n)``. Every norm and test
        is per row; a row that stops is frozen while the others go on.
    backend : str or rbo.backends.Backend, optional
        Where to run: by default the backend of ``x0``; a name (``"numpy"``, ``"cupy"``,
        ``"torch"``, ... see :func:`rbo.backends.available`) moves ``x0`` there first.
    disp : bool
        Print the outcome when the run ends (the message, the best value, the counts).
    options : dict, optional
        Keyword arguments as a dict, as ``scipy.optimize.minimize`` takes them:
        ``options={"maxiter": 500, "radius": 0.5}`` is ``maxiter=500, radius=0.5``. A
        key may not also be given as a keyword (one away from its default).
    **method_options
        Options of the method. For ``"rbo"`` (see :class:`rbo.RBO`): ``radius``
        (default 1.0), ``lr`` (default 0.1), either a number or a schedule ``k ->
        value``; ``fscale`` (vertical unit, default 1.0); ``projection``
        (``"gauss-newton"`` or ``"gd"``), ``proj_maxiter``, ``proj_rtol``,
        ``proj_step``, ``max_halvings``, ``check_every``.

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        ``x`` and ``fun`` are the best point found and its value (never worse than any
        point where ``fun`` and its gradient were evaluated: contact points, trial
        points of the projection, SAM's perturbed points; points evaluated by finite
        differences alone do not count), ``jac`` the gradient there; ``nit``, ``nfev``,
        ``njev``, ``status`` (see :class:`rbo.Status`), ``success``, ``message``;
        ``x_last`` and ``fun_last`` the final iterate; for RBO ``proj_residual``, the
        last projection's :math:`\|\nabla D\|`; ``trajectory`` if asked for;
        ``backend`` (its name) and ``device``: where the arrays live
        (:func:`rbo.backends.to_host` brings them to NumPy). With ``vectorized=True``,
        ``x``, ``fun``, ``jac``, ``nit``, ``status``, ``success`` are per row (arrays,
        ``message`` a list), ``nfev`` counts calls of ``fun`` on the whole batch, and
        ``best``, ``x_best``, ``fun_best`` name the best row.

    Raises
    ------
    ModuleNotFoundError
        For a ``backend`` whose package is not installed, saying how to install it.
    TypeError, ValueError
        For bad input, naming it. An exception raised by ``fun`` or ``callback`` during
        the run propagates with the best result so far attached as its ``rbo_result``
        attribute (status 7).

    Examples
    --------
    >>> import numpy as np
    >>> import rbo
    >>> from rbo.problems import rastrigin
    >>> res = rbo.minimize(rastrigin, np.full(2, 2.2), jac=rastrigin.jac,
    ...                    radius=1.0, lr=0.05, maxiter=300)
    >>> bool(res.fun < rastrigin(np.full(2, 2.2)))
    True
    >>> res.x.dtype
    dtype('float64')
    """
    if options is not None:
        given = locals()
        keywords = {name: given[name] for name in _KEYWORDS}
        merged = _merge_options(options, keywords, method_options)
        return minimize(fun, x0, args, jac, **merged)
    where, x0 = backends.resolve(backend, as_start(x0, batched=vectorized))
    array_namespace(x0)
    if not isinstance(args, tuple):
        args = (args,)
    if maxiter is None:
        name = method.lower() if isinstance(method, str) else ""
        maxiter = 15000 if name == "lbfgs" or (name == "rbo" and polish) else 1000
    maxiter = check_count("maxiter", maxiter)
    maxfev = check_count("maxfev", maxfev, minimum=1, allow_none=True)
    patience = check_count("patience", patience, minimum=1, allow_none=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    defaults = Tolerances()
    if tol is not None:
        tol = check_tolerance("tol", tol)
    tolerances = Tolerances(
        gtol=_tolerance("gtol", gtol, tol, defaults.gtol),
        xtol=_tolerance("xtol", xtol, tol, defaults.xtol),
        ftol=_tolerance("ftol", ftol, None, defaults.ftol),
        patience=patience,
    )
    solver = make_solver(method, method_options)
    if not isinstance(polish, bool):
        raise TypeError(f"polish must be True or False; got {polish!r}")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(f"scale must be a positive number; got {scale!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(
                f"scale must be finite and > 0 (a length in the units of x); got {scale!r}"
            )
        scale = float(scale)
    x0, narrow = widened(x0)
    lower = upper = None
    sides = getattr(solver, "lower", None), getattr(solver, "upper", None)
    if any(side is not None for side in sides):
        # The box as the method's own lower/upper options: checked as bounds are, and
        # kept by every phase (the polish included) as bounds are.
        if bounds is not None:
            raise ValueError(
                "the box is given twice: pass bounds= or the method's lower=/upper= "
                "options, not both"
            )
        lower, upper = parse_sides(*sides, x0)
    elif bounds is not None:
        lower, upper = parse_bounds(bounds, x0)
    if lower is not None and upper is not None:
        solver = with_bounds(solver, lower, upper)
        x0 = into_box(x0, lower, upper)
    objective = Objective(fun, jac, args, x0, call_dtype=narrow, lower=lower, upper=upper)
    # What every phase shares: the loop's settings.
    shared: dict[str, Any] = dict(
        backend=where,
        batched=vectorized,
        maxiter=maxiter,
        maxfev=maxfev,
        callback=callback,
        return_trajectory=return_trajectory,
    )
    try:
        if polish and isinstance(solver, RBO):
            chosen = set(method_options) if isinstance(method, str) else _all_fields(solver)
            if patience != _PATIENCE:
                chosen.add("patience")
            if xtol is not None or tol is not None:
                chosen.add("xtol")
            res = roll_and_polish(
                solver, chosen, objective, x0, tolerances,
                lower=lower, upper=upper, scale=scale, **shared,
            )  # fmt: skip
        else:
            res = run(solver, objective, x0, tolerances, **shared)
    except BaseException as exc:
        if narrow is not None and hasattr(exc, "rbo_result"):
            cast_floats(exc.rbo_result, x0.dtype, narrow)
        raise
    if narrow is not None:
        res = cast_floats(res, x0.dtype, narrow)
    _warn_if_capped(res.get("roll") if "local" in res else res, where)
    res.backend = where.name
    res.device = str(device_of(res.x))
    if disp:
        _report(res, batched=vectorized)
    return res


_PATIENCE = 100  # minimize's default patience
_CAPPED = 0.5  # warn when more of the ball's steps than this ended at proj_maxiter


def _warn_if_capped(res: Any, where: backends.Backend) -> None:
    """Warn when most of the ball's projections ended at ``proj_maxiter``: the steps are
    then not the ball's (its contact point is not where the ball touches the graph)."""
    if res is None or "proj_capped" not in res:
        return
    capped = max(float(v) for v in _flat(res.proj_capped, where))
    steps = max(float(v) for v in _flat(res.nit, where))
    if steps >= 5 and capped > _CAPPED * steps:
        warnings.warn(
            f"{capped / steps:.0%} of the ball's steps ended their projection at "
            "proj_maxiter before it converged: the ball moves too fast for its landscape; "
            "lower lr (or max_step), or raise proj_maxiter",
            ProjectionWarning,
            stacklevel=caller_level(),
        )


def _flat(v: Any, where: backends.Backend) -> list[float]:
    if isinstance(v, int | float):
        return [float(v)]
    return [float(x) for x in where.to_host(v).reshape(-1).tolist()]


def _all_fields(solver: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(solver)}


# minimize's keyword-only parameters but ``options``: the names an ``options`` dict may
# set besides the method's own.
_KEYWORDS = frozenset(
    name
    for name, p in inspect.signature(minimize).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "options"
)
_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(minimize).parameters.items()
    if name in _KEYWORDS
}


def _merge_options(
    options: Any, keywords: dict[str, Any], method_options: dict[str, Any]
) -> dict[str, Any]:
    """``keywords`` and ``method_options`` with ``options`` merged in, for the call that
    runs without ``options``."""
    if not isinstance(options, Mapping):
        raise TypeError(
            f"options must be a dict of option names to values; got {type(options).__name__}"
        )
    names = list(options)
    odd = [k for k in names if not isinstance(k, str)]
    if odd:
        raise TypeError(f"options must have str keys; got {odd!r}")
    positional = sorted({"fun", "x0", "args", "jac", "options"} & set(names))
    if positional:
        raise TypeError(f"options may not hold {positional}; pass them as arguments")
    both = sorted(
        k
        for k in names
        if k in method_options or (k in keywords and not _is_default(k, keywords[k]))
    )
    if both:
        raise TypeError(f"option(s) {both} given both as keywords and in options; give each once")
    merged = {**keywords, **method_options}
    merged.update(options)
    return merged


def _is_default(name: str, value: Any) -> bool:
    default = _DEFAULTS[name]
    return value is default or (type(value) is type(default) and value == default)


def _report(res: OptimizeResult, *, batched: bool) -> None:
    """Print the outcome of a run, as scipy's ``disp=True`` does."""
    pad = " " * 9
    if batched:
        lines = [
            f"Best row {res.best} of {len(res.message)}: {res.message[res.best]}",
            f"{pad}Best function value: {res.fun_best:.6g}",
        ]
    else:
        lines = [
            res.message,
            f"{pad}Current function value: {float(res.fun):.6g}",
            f"{pad}Iterations: {res.nit}",
        ]
    lines += [f"{pad}Function evaluations: {res.nfev}", f"{pad}Gradient evaluations: {res.njev}"]
    print("\n".join(lines))


def _tolerance(name: str, value: float | None, tol: float | None, default: float) -> float:
    if value is None:
        return default if tol is None else tol
    return check_tolerance(name, value)
