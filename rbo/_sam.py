"""Sharpness-Aware Minimization (SAM) and its adaptive variant (ASAM)."""

from __future__ import annotations

import dataclasses
from typing import Any

from array_api_compat import array_namespace

from . import backends
from ._arrays import Array, as_value, col, dot, finite_rows
from ._descent import Descent, DescentState, halving_rows
from ._solver import Schedule, ValueAndGrad, check_positive, schedule_value

__all__ = ["SAM"]

# The reference's guard against a zero gradient in the normalisation.
_TINY = 1e-12


@dataclasses.dataclass(frozen=True, kw_only=True)
class SAM(Descent):
    r"""Sharpness-Aware Minimization (Foret et al., ICLR 2021), as ``davda54/sam`` does it.

    1. :math:`e = \rho\,g / (\|g\| + 10^{-12})`; adaptive (Kwon et al., 2021):
       :math:`e = \rho\,x^2 \odot g / (\|\,|x| \odot g\,\| + 10^{-12})`.
    2. :math:`g_{sam} = \nabla f(x + e)`, on the same objective (the same minibatch).
    3. The base step (SGD, with momentum if asked) from :math:`x` along :math:`g_{sam}`.

    Two gradients per step: the one at ``x`` and the one at ``x + e``.

    Parameters
    ----------
    lr : float or callable
        Learning rate of the base step, or a schedule ``lr(k)``.
    rho : float or callable, optional
        Perturbation radius :math:`\rho \ge 0` (default 0.05; 2.0 when adaptive), or a
        schedule ``rho(k)``. A perturbed point whose gradient is NaN or inf is retried
        with half the radius.
    adaptive : bool
        Scale the perturbation by the parameters (ASAM).
    momentum, nesterov, max_halvings
        As for :class:`rbo.SGD`.

    Examples
    --------
    On :math:`f = \tfrac12\|x\|^2` the perturbed gradient is :math:`x + e`:

    >>> import numpy as np
    >>> fg = lambda x: (0.5 * x @ x, x)
    >>> solver = SAM(lr=0.5, rho=1.0)
    >>> state = solver.step(fg, solver.init(fg, np.array([3.0, 4.0])))
    >>> np.round(state.x, 9).tolist(), state.evals
    ([1.2, 1.6], 2)
    """

    rho: Schedule | None = None
    adaptive: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.adaptive, bool):
            raise TypeError(f"adaptive must be a bool; got {self.adaptive!r}")
        if self.rho is not None:
            check_positive("rho", self.rho, allow_zero=True)

    def _direction(
        self, fun: ValueAndGrad, state: DescentState, k: int, /
    ) -> tuple[Array, int, dict[str, Any], Array]:
        xp = array_namespace(state.x)
        x, g = state.x, state.g
        if self.rho is None:
            rho = 2.0 if self.adaptive else 0.05
        elif callable(self.rho):
            rho = schedule_value("rho", self.rho, k)
        else:
            rho = float(self.rho)
        # Norms per row: each row of a batch is perturbed as it would be alone. A norm
        # that overflows gives a non-finite perturbed point, which halving handles.
        with backends.of(x).quiet():
            if self.adaptive:
                scaled = xp.abs(x) * g
                e_unit = x * x * g / col(xp.sqrt(dot(scaled, scaled, xp=xp)) + _TINY, xp=xp)
            else:
                e_unit = g / col(xp.sqrt(dot(g, g, xp=xp)) + _TINY, xp=xp)

        def attempt(r: Array) -> tuple[tuple[Array], Array]:
            f, gs = fun(self._clip(x + col(r, xp=xp) * e_unit))
            return (gs,), finite_rows(as_value(f, state.f), gs, xp=xp)

        pending = xp.all(xp.isfinite(g), axis=-1)
        (g_sam,), rho, ok, tries = halving_rows(
            attempt,
            rho + xp.zeros_like(state.f),
            self.max_halvings,
            pending=pending,
            host=backends.of(x).eager(x),
        )
        return g_sam, tries, {"rho": rho}, ok
