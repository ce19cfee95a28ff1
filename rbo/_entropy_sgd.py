"""Entropy-SGD: descent on the local entropy, estimated by a short Langevin chain."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from array_api_compat import array_namespace

from . import backends
from ._arrays import Array, select
from ._descent import Descent, DescentState
from ._random import Gaussian, mix_key, standard_normal
from ._solver import Schedule, ValueAndGrad, check_positive
from ._validation import check_count

__all__ = ["EntropySGD"]

# Weight of the newest Langevin iterate in the running mean mu (the reference's 1 - 0.75).
_MEAN_WEIGHT = 0.25


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntropySGD(Descent):
    r"""Entropy-SGD (Chaudhari et al., ICLR 2017), with working :math:`\gamma` scoping.

    At step :math:`t`, with :math:`\gamma_t = \gamma_0 (1 + \gamma_1)^t`, a chain of
    ``inner_steps`` :math:`= L` Langevin steps explores around :math:`x` on the same
    objective (the same minibatch):

    - :math:`x' = x`, :math:`\mu = x`;
    - :math:`L` times: :math:`d = \nabla f(x') - \gamma_t (x - x') + \sigma\xi`,
      :math:`x' \leftarrow x' - \eta' d`, :math:`\mu \leftarrow 0.75\mu + 0.25 x'`;
    - outer step along :math:`x - \mu` (the local-entropy gradient over
      :math:`\gamma_t`): :math:`x \leftarrow x - \eta (x - \mu)`, with momentum if asked.

    The noise scale is the reference's :math:`\sigma = \varepsilon/\sqrt{\eta'/2}`
    (``noise`` is :math:`\varepsilon`), so each Langevin step adds
    :math:`\varepsilon\sqrt{2\eta'}\,\xi`. The first inner gradient is the one at
    :math:`x`, so a step costs :math:`L` gradients (the reference spends :math:`L + 1`).
    Unlike the reference, :math:`t` advances, so the scoping works; a non-finite inner
    gradient ends the chain, whose mean so far is used.

    Parameters
    ----------
    lr : float or callable
        Outer learning rate :math:`\eta` (default 1: :math:`\gamma` is folded into it),
        or a schedule ``lr(k)``.
    inner_steps : int
        Langevin steps :math:`L \ge 1` per step.
    inner_lr : float
        Langevin step size :math:`\eta'`.
    noise : float
        Thermal noise :math:`\varepsilon \ge 0`; 0 makes the method deterministic.
    gamma0, gamma1 : float
        Coupling :math:`\gamma_0 > 0` and scoping rate :math:`\gamma_1 \ge 0`.
    seed : int
        Seed of the noise: the draw for step ``t`` and inner step ``i`` is
        ``gaussian(mix_key(seed, t, i), x)``.
    gaussian : callable, optional
        ``gaussian(key, like) -> array`` of standard normals shaped like ``like``
        (default: the namespace's ``random.default_rng`` where it exists, else Python's
        :mod:`random` on the host). A backend with a device generator passes its own.
    momentum, nesterov, max_halvings
        Of the outer step, as for :class:`rbo.SGD`.

    Examples
    --------
    Without noise, one inner step on :math:`f = \tfrac12\|x\|^2` gives
    :math:`\mu = x - \eta' x / 4`:

    >>> import numpy as np
    >>> fg = lambda x: (0.5 * x @ x, x)
    >>> solver = EntropySGD(lr=2.0, inner_steps=1, inner_lr=0.5, noise=0.0)
    >>> state = solver.step(fg, solver.init(fg, np.array([4.0])))
    >>> state.x.tolist(), state.gamma
    ([3.0], 0.03)
    """

    lr: Schedule = 1.0
    inner_steps: int = 20
    inner_lr: float = 0.1
    noise: float = 1e-4
    gamma0: float = 0.03
    gamma1: float = 1e-3
    seed: int = 0
    gaussian: Gaussian | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("inner_steps", self.inner_steps, minimum=1)
        for name in ("inner_lr", "gamma0"):
            if callable(getattr(self, name)):
                raise TypeError(f"{name} must be a positive number")
            check_positive(name, getattr(self, name))
        for name in ("noise", "gamma1"):
            if callable(getattr(self, name)):
                raise TypeError(f"{name} must be a non-negative number")
            check_positive(name, getattr(self, name), allow_zero=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an integer; got {self.seed!r}")
        if self.gaussian is not None and not callable(self.gaussian):
            raise TypeError(f"gaussian must be callable; got {type(self.gaussian).__name__}")

    def gamma(self, k: int) -> float:
        r"""The coupling :math:`\gamma_k = \gamma_0 (1 + \gamma_1)^k` of step ``k``."""
        return self.gamma0 * (1.0 + self.gamma1) ** k

    def _direction(
        self, fun: ValueAndGrad, state: DescentState, k: int, /
    ) -> tuple[Array, int, dict[str, Any], Array]:
        xp = array_namespace(state.x)
        host = backends.of(state.x).eager(state.x)
        gamma = self.gamma(k)
        sigma = self.noise / math.sqrt(0.5 * self.inner_lr)
        draw = self.gaussian or standard_normal
        x = state.x
        chain, mean = x, x
        ok = xp.all(xp.isfinite(state.g), axis=-1)  # per row: the chain is still finite
        g = state.g
        evals = 0
        for i in range(self.inner_steps):
            if i > 0:
                g = fun(chain)[1]
                evals += 1
                ok = ok & xp.all(xp.isfinite(g), axis=-1)
            d = g - gamma * (x - chain)
            if sigma > 0.0:
                d = d + sigma * draw(mix_key(self.seed, k, i), x)
            nxt = self._clip(chain - self.inner_lr * d)
            # A chain that met NaN or inf stops where it was; its mean so far stands.
            chain = select(ok, nxt, chain, xp=xp, host=host)
            mean = select(
                ok, (1.0 - _MEAN_WEIGHT) * mean + _MEAN_WEIGHT * nxt, mean, xp=xp, host=host
            )
        return x - mean, evals, {"gamma": gamma}, xp.all(xp.isfinite(state.g), axis=-1)
