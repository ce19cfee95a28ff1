"""What counts as a success on each problem: reaching its global basin, or its minimum value.

Success is judged on the best point a run found:

- where the problem defines a ``basin_radius`` (see :mod:`rbo.problems`), the point must lie
  within that distance of the global minimiser; on the 2π-periodic Riemann function the
  distance is taken to the nearest periodic copy of the minimiser;
- where it does not (the Weierstrass function, whose local minima nest at every scale, and
  the noisy regression), the value gap ``f − f*`` must be at most :data:`GAP_FRACTION` of
  the problem's typical gap, the median of ``f − f*`` over uniform points of the box (1000
  points, seed 0): a run succeeds when it closed 99 % of the typical gap.

The noisy regression has no known minimum (the noise moves it): its reference ``f*`` is the
lowest value L-BFGS-B reaches from a 12 × 12 grid of starts over the box.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np  # the harness feeds scipy's optimizers, which are NumPy-only

from .. import problems
from ._blas import single_threaded_blas

__all__ = ["GAP_FRACTION", "REFERENCE_STARTS", "Target", "target"]

#: Fraction of the typical value gap a run may leave on problems judged by value.
GAP_FRACTION = 0.01
#: Uniform starts (besides the true parameters) of the reference minimum of a fit to data.
REFERENCE_STARTS = 32

# Problems whose minimiser repeats with this period in every coordinate.
_PERIODS = {"riemann": 2.0 * math.pi}


@dataclass(frozen=True)
class Target:
    """The known minimum of a problem in one dimension and the rule that judges success.

    Exactly one of ``radius`` (success by distance to ``argmin``) and ``gap_tol`` (success by
    value gap) is set.

    Examples
    --------
    >>> import numpy as np
    >>> t = Target(fmin=0.0, argmin=(0.0, 0.0), radius=0.5)
    >>> t.reached(np.array([0.3, 0.3]), 1.0), t.reached(np.array([0.4, 0.4]), 1.0)
    (True, False)
    >>> Target(fmin=1.0, gap_tol=0.1).reached(np.zeros(2), 1.05)
    True
    >>> Target(fmin=0.0, argmin=(0.0,), radius=0.1, period=1.0).reached(np.array([2.05]), 0.0)
    True
    """

    fmin: float
    argmin: tuple[float, ...] | None = None
    radius: float | None = None
    gap_tol: float | None = None
    period: float | None = None

    def __post_init__(self) -> None:
        if (self.radius is None) == (self.gap_tol is None):
            raise ValueError("a Target needs exactly one of radius and gap_tol")
        if self.radius is not None and self.argmin is None:
            raise ValueError("success by distance needs argmin")

    def distance(self, x: np.ndarray) -> float:
        """Distance from ``x`` to the minimiser (to its nearest periodic copy)."""
        d = np.asarray(x, dtype=float) - np.asarray(self.argmin, dtype=float)
        if self.period is not None:
            d = np.remainder(d + 0.5 * self.period, self.period) - 0.5 * self.period
        return float(np.linalg.norm(d))

    def reached(self, x: np.ndarray, f: float) -> bool:
        """Whether the point ``x`` with value ``f`` counts as a success."""
        if self.radius is not None:
            return self.distance(x) <= self.radius
        # __post_init__ makes gap_tol a float where radius is None; mypy does not follow
        return f - self.fmin <= self.gap_tol  # type: ignore[operator]

    @property
    def rule(self) -> str:
        """The success rule in words, for reports."""
        if self.radius is not None:
            where = " (mod 2π)" if self.period is not None else ""
            return f"‖x − x*‖{where} ≤ {self.radius:.4g}"
        return f"f − f* ≤ {self.gap_tol:.4g}"


@functools.cache
def target(name: str, n: int) -> Target:
    """The :class:`Target` of problem ``name`` (a key of :data:`rbo.problems.PROBLEMS`) in
    dimension ``n``."""
    p = problems.get(name)
    argmin, fmin = p.minimum(n)
    if fmin is None:
        argmin, fmin = _reference_minimum(p, n)
    if p.basin_radius is not None and argmin is not None:
        return Target(
            fmin=fmin, argmin=tuple(argmin), radius=p.basin_radius, period=_PERIODS.get(name)
        )
    if p.value_tol is not None:
        tol = p.value_tol(n) if callable(p.value_tol) else p.value_tol
        return Target(fmin=fmin, argmin=None if argmin is None else tuple(argmin), gap_tol=tol)
    rng = np.random.default_rng(0)
    f, _ = p.value_and_grad(rng.uniform(p.lower, p.upper, (1000, n)))
    typical = float(np.median(f)) - fmin
    return Target(
        fmin=fmin, argmin=None if argmin is None else tuple(argmin), gap_tol=GAP_FRACTION * typical
    )


def _reference_minimum(p: problems.Problem, n: int) -> tuple[list[float], float]:
    """Lowest point L-BFGS-B reaches from many starts.

    A fit to data that records its true parameters starts from them and from
    :data:`REFERENCE_STARTS` uniform points of the box (seed 0): with small noise the
    global minimum lies next to the truth. Other problems start from a 12-per-axis grid
    (small n only).
    """
    from scipy.optimize import minimize

    true_params = getattr(p, "true_params", None)
    bounds = None
    if true_params is not None:
        bounds = [(p.lower, p.upper)] * n
        rng = np.random.default_rng(0)
        starts = np.concatenate(
            [
                np.asarray(true_params, dtype=float)[None],
                rng.uniform(p.lower, p.upper, (REFERENCE_STARTS, n)),
            ]
        )
    elif n > 3:
        raise ValueError(f"{p.name}: no known minimum, and n = {n} is too large for a grid")
    else:
        axis = np.linspace(p.lower, p.upper, 12)
        starts = np.stack(np.meshgrid(*[axis] * n), axis=-1).reshape(-1, n)
    with single_threaded_blas():
        best = min(
            (
                minimize(p.value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds)
                for x0 in starts
            ),
            key=lambda r: r.fun,
        )
    return best.x.tolist(), float(best.fun)
