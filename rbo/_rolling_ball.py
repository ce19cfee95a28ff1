"""The Rolling Ball Optimizer as a solver of the ``init`` / ``step`` / ``terminate`` protocol."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, select
from ._geometry import center
from ._projection import PROJECTIONS, Projection, ProjStatus, project
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
    gg, xx : array
        :math:`\\|g\\|^2` and :math:`\\|x\\|^2` per row, kept so that the next step and
        the stopping tests need no pass over ``g`` or ``x`` of their own.
    halvings : array
        Per row, how often the learning rate is halved in the next step: on devices a
        row whose projection met NaN or inf stays put and retries next step with half
        its learning rate (on the host it retries within the step).
    row_failure : array
        Per row, the :class:`~rbo.Status` code of a failure, or -1 (batched and device
        runs report failures here; ``failure`` is for single host runs).
    active : array of bool or None
        Rows the next step moves; the others stay as they are (None: all).
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
    gg: Array | None = None
    xx: Array | None = None
    halvings: Array | None = None
    row_failure: Array | None = None
    active: Array | None = None

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
        k = backends.of(x0).kernels
        ints = {"dtype": xp.int32, "device": device_of(x0)}
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
            proj_status=xp.zeros(f.shape, **ints),
            proj_alpha=xp.ones_like(f),
            gg=k.dot(g, g),
            xx=k.dot(x0, x0),
            halvings=xp.zeros(f.shape, **ints),
            row_failure=xp.full(f.shape, _NO_FAILURE, **ints),
        )

    def step(self, fun: Objective, state: RBOState, /) -> RBOState:
        x = state.x
        xp = array_namespace(x)
        backend = backends.of(x)
        k = backend.kernels
        host = backend.eager(x)
        nit = state.nit
        radius = schedule_value("radius", self.radius, nit)
        lr = schedule_value("lr", self.lr, nit)
        scale = 1.0 / self.fscale
        graph = fun if scale == 1.0 else _scaled(fun, scale)
        fs, gs = (state.f, state.g) if scale == 1.0 else (state.f * scale, state.g * scale)
        # |g|^2 from g itself, not from state.gg: a step-wise driver re-evaluates f and g
        # on each minibatch, and a cached norm would belong to the previous batch's g.
        gg = k.dot(gs, gs)
        maxiter = self.proj_maxiter
        if maxiter is None:
            maxiter = 20 if self.projection == "gauss-newton" else 10
        ints = {"dtype": xp.int32, "device": device_of(x)}

        def attempt(lr: Any, active: Array | None) -> Projection:
            # The descended centre (rbo._geometry.descended_center), through the kernels.
            rho_s = radius / xp.sqrt(1.0 + gg)
            cx = k.centre(x, gs, rho_s + lr)
            return project(
                graph,
                x,
                fs,
                gs,
                cx,
                fs + rho_s - lr * gg,
                method=self.projection,
                maxiter=maxiter,
                rtol=None if self.proj_rtol is None else float(self.proj_rtol),
                step=float(self.proj_step),
                check_every=self.check_every,
                alpha=xp.minimum(2.0 * state.proj_alpha, 1.0),
                active=active,
                xx=state.xx,
                backend=backend,
            )

        def code(status: int) -> Array:
            return xp.full(fs.shape, int(status), **ints)

        halvings = state.halvings
        if halvings is None:
            halvings = code(0)
        fail = code(_NO_FAILURE)
        diverged, nonfinite = int(ProjStatus.DIVERGED), int(ProjStatus.NONFINITE)
        iters = 0
        if host and fs.ndim == 0:
            # One row on the host: reading its status is free, so NaN is retried at once.
            for _ in range(self.max_halvings + 1):
                p = attempt(lr, state.active)
                iters += p.iters
                if bool(p.status == diverged):
                    return state._replace(
                        failure=Status.PROJECTION_FAILED,
                        residual=p.residual,
                        proj_iters=iters,
                        proj_status=p.status,
                    )
                if not bool(p.status == nonfinite):
                    break
                lr *= 0.5
            else:
                return state._replace(
                    failure=Status.NONFINITE, proj_iters=iters, proj_status=p.status
                )
        elif host:
            # Rows on the host: the rows that met NaN retry within the step, alone.
            pending = xp.ones(fs.shape, dtype=xp.bool, device=device_of(x))
            if state.active is not None:
                pending = pending & state.active
            lr = lr + xp.zeros_like(fs)
            p = None
            for _ in range(self.max_halvings + 1):
                trial = attempt(lr, pending)
                iters += trial.iters
                p = trial if p is None else _merge(pending, trial, p, xp)
                fail = xp.where(
                    pending & (trial.status == diverged), code(Status.PROJECTION_FAILED), fail
                )
                pending = pending & (trial.status == nonfinite)
                if not bool(xp.any(pending)):
                    break
                lr = xp.where(pending, 0.5 * lr, lr)
            else:
                fail = xp.where(pending, code(Status.NONFINITE), fail)
        else:
            # On a device nothing is read back: a row that met NaN stays where it is and
            # retries next step with half its learning rate, up to max_halvings times.
            lr = lr * 0.5 ** xp.astype(halvings, fs.dtype)
            p = attempt(lr, state.active)
            iters = p.iters
            halvings = xp.where(p.status == nonfinite, halvings + 1, xp.zeros_like(halvings))
            fail = xp.where(halvings > self.max_halvings, code(Status.NONFINITE), fail)
            fail = xp.where(p.status == diverged, code(Status.PROJECTION_FAILED), fail)

        z, f, g, gg_z = p.z, p.f, p.g, p.gg
        if scale != 1.0:
            f, g, gg_z = f / scale, g / scale, gg_z / (scale * scale)
        failed = fail != _NO_FAILURE
        if not (host and fs.ndim == 0):  # failed rows keep their point (a diverged gd moved)
            z = select(failed, x, z, xp=xp, host=False)
            f = xp.where(failed, state.f, f)
            g = select(failed, state.g, g, xp=xp, host=False)
            gg_z = xp.where(failed, gg / (scale * scale), gg_z)
        zz, dd = k.step_norms(z, x)
        return RBOState(
            x=z,
            f=f,
            g=g,
            nit=nit + 1,
            step_norm=xp.sqrt(dd),
            failure=None,
            radius=radius,
            lr=lr,
            fscale=float(self.fscale),
            residual=p.residual,
            proj_iters=iters,
            proj_status=p.status,
            proj_alpha=p.alpha,
            gg=gg_z,
            xx=zz,
            halvings=halvings,
            row_failure=fail,
            active=state.active,
        )

    def terminate(self, state: RBOState, /) -> Status | None:
        return state.failure


_NO_FAILURE = -1  # row_failure of a row that has not failed


def _merge(rows: Array, new: Projection, old: Projection, xp: Any) -> Projection:
    """``new`` on ``rows``, ``old`` elsewhere."""

    def pick(a: Array, b: Array) -> Array:
        return select(rows, a, b, xp=xp, host=False)

    return Projection(
        pick(new.z, old.z),
        pick(new.f, old.f),
        pick(new.g, old.g),
        pick(new.residual, old.residual),
        new.iters,
        pick(new.status, old.status),
        pick(new.alpha, old.alpha),
        pick(new.gg, old.gg),
    )


def _scaled(fun: Objective, scale: float) -> Objective:
    def graph(x: Any) -> tuple[Any, Any]:
        f, g = fun(x)
        return f * scale, g * scale

    return graph
