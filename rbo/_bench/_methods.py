"""The methods the benchmark compares, as a registry of picklable descriptions.

A :class:`Method` names a runner and its options. Runners take a :class:`~._budget.Counted`
objective and a start, and simply run: the budget and the best point live in the objective.
Every method runs with its library's defaults (rbo: :func:`rbo.minimize`'s, the ball in the
problem's units), except the settings that let the evaluation budget, not an iteration cap,
end a global search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np  # the harness feeds scipy's optimizers, which are NumPy-only

from .._minimize import METHODS as SOLVERS
from .._minimize import minimize
from .._solver import option_names
from ._budget import Counted

__all__ = ["BASELINES", "LOCAL_METHODS", "SCIPY_METHODS", "Method", "default_methods", "method"]

# A runner returns the method's own result where it has one (rbo's, for its step counts).
Runner = Callable[[Counted, np.ndarray, float, float, int, int, dict[str, Any]], Any]


def _rbo_family(
    obj: Counted, x0: np.ndarray, lo: float, hi: float, seed: int, budget: int, opts: dict
) -> Any:
    options = dict(opts)
    solver = options.pop("solver", "rbo")
    factory = SOLVERS[solver]
    if "seed" in (option_names(factory) or ()):
        options.setdefault("seed", seed)
    # maxiter=budget: every step costs at least one evaluation, so only the budget or the
    # method's own stopping test ends the run.
    return minimize(
        obj.value_and_grad, x0, jac=True, method=solver, maxiter=budget, maxfev=budget, **options
    )


def _scipy_local(
    obj: Counted, x0: np.ndarray, lo: float, hi: float, seed: int, budget: int, opts: dict
) -> None:
    from scipy.optimize import minimize as scipy_minimize

    options = dict(opts)
    name = options.pop("solver")
    caps = {"maxiter": budget} | ({"maxfun": budget} if name == "L-BFGS-B" else {})
    scipy_minimize(obj.value_and_grad, x0, jac=True, method=name, options=caps | options)


def _basinhopping(
    obj: Counted, x0: np.ndarray, lo: float, hi: float, seed: int, budget: int, opts: dict
) -> None:
    from scipy.optimize import basinhopping

    # niter=budget: each hop costs at least one evaluation, so the budget ends the search.
    basinhopping(
        obj.value_and_grad,
        x0,
        niter=budget,
        minimizer_kwargs={"method": "L-BFGS-B", "jac": True},
        rng=seed,
        **opts,
    )


def _dual_annealing(
    obj: Counted, x0: np.ndarray, lo: float, hi: float, seed: int, budget: int, opts: dict
) -> None:
    from scipy.optimize import dual_annealing

    n = x0.size
    bounds = [(lo, hi)] * n
    # scipy's default local search (L-BFGS-B in the box, maxiter as scipy sets it), given
    # the analytic gradient instead of finite differences; the gradient at the point just
    # valued is free (see Counted), as for every gradient method here.
    local = {
        "method": "L-BFGS-B",
        "jac": obj.grad,
        "bounds": bounds,
        "options": {"maxiter": min(max(6 * n, 100), 1000)},
    }
    dual_annealing(
        obj.value,
        bounds,
        x0=x0,
        maxiter=budget,
        maxfun=budget,
        minimizer_kwargs=local,
        rng=seed,
        **opts,
    )


#: The baselines of the paper, compared whenever rbo provides them.
BASELINES = ("sgd", "sam", "entropy-sgd")
_SCIPY_LOCAL = ("L-BFGS-B", "BFGS", "CG")
_SCIPY_GLOBAL = ("basinhopping", "dual_annealing")
#: scipy's minimizers in the benchmark.
SCIPY_METHODS = _SCIPY_LOCAL + _SCIPY_GLOBAL
#: Methods that follow one path downhill from the start: rbo's natural rivals (rbo's own
#: L-BFGS, ``lbfgs``, among them). The global searchers (basinhopping, dual_annealing)
#: restart and sample the box.
LOCAL_METHODS = frozenset({*_SCIPY_LOCAL, *BASELINES, "lbfgs"})

_RUNNERS: dict[str, Runner] = {
    "rbo": _rbo_family,
    "scipy": _scipy_local,
    "basinhopping": _basinhopping,
    "dual_annealing": _dual_annealing,
}


@dataclass(frozen=True)
class Method:
    """A benchmarked method: a label, a runner and its options (picklable, for workers).

    Examples
    --------
    >>> import numpy as np
    >>> from rbo._bench._budget import Counted
    >>> m = Method("L-BFGS-B", "scipy", (("solver", "L-BFGS-B"),))
    >>> obj = Counted(lambda x: (float(x @ x), 2 * x), budget=50)
    >>> m.run(obj, np.array([1.0, -2.0]), lower=-5.0, upper=5.0, seed=0, budget=50)
    >>> bool(obj.best_f < 1e-12), obj.nfev <= 50
    (True, True)
    """

    label: str
    runner: str
    options: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.runner not in _RUNNERS:
            raise ValueError(f"unknown runner {self.runner!r}; known: {sorted(_RUNNERS)}")

    def run(
        self, obj: Counted, x0: np.ndarray, *, lower: float, upper: float, seed: int, budget: int
    ) -> Any:
        """Run from ``x0`` until the method stops or ``obj`` raises ``BudgetExhausted``;
        returns the method's result where its runner keeps one (rbo's), else None."""
        return _RUNNERS[self.runner](obj, x0, lower, upper, seed, budget, dict(self.options))


def method(name: str, *, label: str | None = None, **options: Any) -> Method:
    """A :class:`Method` by name: ``"rbo"`` or another solver of :data:`rbo.METHODS`,
    ``"L-BFGS-B"``, ``"BFGS"``, ``"CG"``, ``"basinhopping"`` or ``"dual_annealing"``;
    ``options`` go to the method (e.g. ``radius`` and ``lr`` for rbo); ``label`` names it in
    reports (default: ``name``).

    Examples
    --------
    >>> m = method("rbo", label="rbo r=0.3", radius=0.3)
    >>> m.label, m.options
    ('rbo r=0.3', (('solver', 'rbo'), ('radius', 0.3)))
    >>> method("simplex")
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'simplex'; known: ...
    """
    label = name if label is None else label
    if name in SOLVERS:
        return Method(label, "rbo", (("solver", name), *options.items()))
    if name in _SCIPY_LOCAL:
        return Method(label, "scipy", (("solver", name), *options.items()))
    if name in _SCIPY_GLOBAL:
        return Method(label, name, tuple(options.items()))
    raise ValueError(f"unknown method {name!r}; known: {[*SOLVERS, *SCIPY_METHODS]}")


def default_methods() -> list[Method]:
    """rbo, the paper's baselines present in :data:`rbo.METHODS`, then scipy's methods."""
    names = ["rbo", *(b for b in BASELINES if b in SOLVERS), *SCIPY_METHODS]
    return [method(name) for name in names]
