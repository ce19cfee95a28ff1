"""The Rolling Ball Optimizer as a solver of the ``init`` / ``step`` / ``terminate`` protocol."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ._arrays import Array, dot
from ._geometry import center, descended_center
from ._projection import PROJECTIONS, ProjStatus, project
from ._solver import Objective, Schedule, check_positive, schedule_value
from ._status import Status

__all__ = ["RBO", "RBOState"]


class RBOState(NamedTuple):
    """State of the rolling ball: the contact point is the whole state.

    Attributes
    ----------
    x, f, g : array
        Contact point, ``f(x)`` and ``grad f(x)`` (the next step's normal needs no new
        evaluation).
    nit : int
        Steps made.
    step_norm : array
        Distance moved by the contact point in the last step.
    failure : Status or None
        Set when a step could not be made.
    radius, lr : float
        Radius and learning rate the last step used (after any halving of ``lr``).
    fscale : float
        The landscape's vertical unit: the ball rolls on the graph of ``f / fscale``.
    residual : array
        :math:`\\|\\nabla D\\|` at the last foot point.
    proj_iters : int
        Evaluations the last projection used.
    proj_status : array
        :class:`~rbo.ProjStatus` code of the last projection.
    proj_alpha : array
        Gauss--Newton step fraction the last projection ended with; the next starts
        from twice that (at most 1).
    """

    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Status | None
    radius: float
    lr: float
    fscale: float
    residual: Array
    proj_iters: int
    proj_status: Array
    proj_alpha: Array

    @property
    def center(self) -> tuple[Array, Array]:
        """The ball's centre ``(cx, cy)`` in the coordinates ``(x, f / fscale)``."""
        s = 1.0 / self.fscale
        return center(self.x, self.f * s, self.g * s, self.radius)


@dataclasses.dataclass(frozen=True)
class RBO:
    r"""Rolling Ball Optimizer (Belgoumri et al., ICLR 2026).

    One step: the centre :math:`c = (x, f) + \rho\nu` of a ball touching the graph at
    ``x`` descends along the lifted gradient, :math:`\tilde c = c - \eta(g, \|g\|^2)`, and
    the new contact point is the foot point of :math:`\tilde c` on the graph.

    Parameters
    ----------
    radius : float or callable
        Ball radius :math:`\rho > 0`, or a schedule ``radius(k)``. Wrinkles and wells
        with curvature above :math:`1/\rho` are rolled over -- and so is a minimum whose
        curvature exceeds :math:`1/\rho`: the ball then rests on the walls around it.
        To pin such a minimum down, shrink the radius (a schedule) once the ball has
        found its basin.
    lr : float or callable
        Learning rate :math:`\eta > 0` of the centre's descent, or a schedule ``lr(k)``.
    fscale : float
        Vertical unit of the landscape: the ball rolls on the graph of ``f / fscale``.
        RBO is not invariant to rescaling ``f``; set ``fscale`` to the size of the
        variations of ``f`` that should count as one unit of length.
    projection : {"gauss-newton", "gd"}
        Foot-point solver; ``"gd"`` is the reference code's fixed-step descent.
    proj_maxiter : int, optional
        Evaluations allowed per projection (default 20 for Gauss--Newton, 10 for gd).
    proj_rtol : float, optional
        Relative tolerance on :math:`\|\nabla D\|` (default :math:`\sqrt{\varepsilon}`).
    proj_step : float
        Step size of ``projection="gd"``.
    max_halvings : int
        How often a step that meets NaN or inf is retried with half the learning rate.
    check_every : int
        On GPU arrays, how often loops read their flags back to the host.

    Examples
    --------
    >>> import numpy as np
    >>> fg = lambda x: (x @ x, 2 * x)
    >>> solver = RBO(radius=0.1, lr=0.2)
    >>> state = solver.init(fg, np.array([1.0, -2.0]))
    >>> for _ in range(30):
    ...     state = solver.step(fg, state)
    >>> bool(np.linalg.norm(state.x) < 1e-6)
    True
    """

    radius: Schedule = 1.0
    lr: Schedule = 0.1
    fscale: float = 1.0
    projection: str = "gauss-newton"
    proj_maxiter: int | None = None
    proj_rtol: float | None = None
    proj_step: float = 1e-2
    max_halvings: int = 8
    check_every: int = 4

    def __post_init__(self) -> None:
        check_positive("radius", self.radius)
        check_positive("lr", self.lr)
        if callable(self.fscale):
            raise TypeError("fscale must be a positive number")
        check_positive("fscale", self.fscale)
        check_positive("proj_step", self.proj_step)
        if self.proj_rtol is not None:
            check_positive("proj_rtol", self.proj_rtol, allow_zero=True)
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}; got {self.projection!r}")
        for name in ("proj_maxiter", "max_halvings", "check_every"):
            value = getattr(self, name)
            if value is None and name == "proj_maxiter":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if self.check_every == 0:
            raise ValueError("check_every must be >= 1")

    def init(self, fun: Objective, x0: Array, /) -> RBOState:
        f, g = fun(x0)
        xp = array_namespace(x0)
        return RBOState(
            x=x0,
            f=f,
            g=g,
            nit=0,
            step_norm=xp.zeros_like(f),
            failure=None,
            radius=schedule_value("radius", self.radius, 0),
            lr=schedule_value("lr", self.lr, 0),
            fscale=float(self.fscale),
            residual=xp.zeros_like(f),
            proj_iters=0,
            proj_status=xp.zeros(f.shape, dtype=xp.int32, device=device_of(x0)),
            proj_alpha=xp.ones_like(f),
        )

    def step(self, fun: Objective, state: RBOState, /) -> RBOState:
        xp = array_namespace(state.x)
        k = state.nit
        radius = schedule_value("radius", self.radius, k)
        lr = schedule_value("lr", self.lr, k)
        scale = 1.0 / self.fscale
        graph = fun if scale == 1.0 else _scaled(fun, scale)
        x, fs, gs = state.x, state.f * scale, state.g * scale
        maxiter = self.proj_maxiter
        if maxiter is None:
            maxiter = 20 if self.projection == "gauss-newton" else 10
        iters = 0
        for _ in range(self.max_halvings + 1):
            cx, cy = descended_center(x, fs, gs, radius, lr, xp=xp)
            p = project(
                graph,
                x,
                fs,
                gs,
                cx,
                cy,
                method=self.projection,
                maxiter=maxiter,
                rtol=None if self.proj_rtol is None else float(self.proj_rtol),
                step=float(self.proj_step),
                check_every=self.check_every,
                alpha=xp.minimum(2.0 * state.proj_alpha, 1.0),
            )
            iters += p.iters
            if bool(xp.any(p.status == int(ProjStatus.DIVERGED))):
                return state._replace(
                    failure=Status.PROJECTION_FAILED,
                    residual=p.residual,
                    proj_iters=iters,
                    proj_status=p.status,
                )
            if not bool(xp.any(p.status == int(ProjStatus.NONFINITE))):
                break
            lr *= 0.5
        else:
            return state._replace(failure=Status.NONFINITE, proj_iters=iters, proj_status=p.status)
        dx = p.z - x
        f, g = (p.f, p.g) if scale == 1.0 else (p.f / scale, p.g / scale)
        return RBOState(
            x=p.z,
            f=f,
            g=g,
            nit=k + 1,
            step_norm=xp.sqrt(dot(dx, dx, xp=xp)),
            failure=None,
            radius=radius,
            lr=lr,
            fscale=float(self.fscale),
            residual=p.residual,
            proj_iters=iters,
            proj_status=p.status,
            proj_alpha=p.alpha,
        )

    def terminate(self, state: RBOState, /) -> Status | None:
        return state.failure


def _scaled(fun: Objective, scale: float) -> Objective:
    def graph(x: Any) -> tuple[Any, Any]:
        f, g = fun(x)
        return f * scale, g * scale

    return graph
