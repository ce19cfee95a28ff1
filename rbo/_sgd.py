"""Gradient descent / SGD, with heavy-ball or Nesterov momentum."""

from __future__ import annotations

import dataclasses
from typing import Any

from array_api_compat import array_namespace

from ._arrays import Array
from ._descent import Descent, DescentState
from ._solver import ValueAndGrad

__all__ = ["SGD"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SGD(Descent):
    r"""Gradient descent; stochastic gradient descent when each step sees a minibatch.

    :math:`x \leftarrow x - \eta\,u` with :math:`u = g` or, with momentum :math:`\mu`,
    PyTorch's :math:`v \leftarrow \mu v + g`, :math:`u = v` (Nesterov:
    :math:`u = g + \mu v`). One gradient per step.

    Parameters
    ----------
    lr : float or callable
        Learning rate :math:`\eta > 0`, or a schedule ``lr(k)``.
    momentum : float
        :math:`\mu \in [0, 1)`.
    nesterov : bool
        Nesterov's momentum (needs ``momentum > 0``).
    max_halvings : int
        How often a step that meets NaN or inf is retried with half the learning rate.

    Examples
    --------
    >>> import numpy as np
    >>> fg = lambda x: (0.5 * x @ x, x)
    >>> solver = SGD(lr=0.5)
    >>> state = solver.step(fg, solver.init(fg, np.array([2.0, -4.0])))
    >>> state.x.tolist(), state.nit
    ([1.0, -2.0], 1)
    """

    def _direction(
        self, fun: ValueAndGrad, state: DescentState, k: int, /
    ) -> tuple[Array, int, dict[str, Any], Array]:
        xp = array_namespace(state.g)
        return state.g, 0, {}, xp.all(xp.isfinite(state.g), axis=-1)
