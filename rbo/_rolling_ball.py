"""The Rolling Ball Optimizer as a solver of the protocol of :mod:`rbo._solver`."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, as_value, codes, min_float, select, sqrt_float
from ._geometry import center
from ._projection import PROJECTIONS, ProjStatus, project
from ._solver import RUNNING, Schedule, SolverBase, ValueAndGrad, check_positive, schedule_value
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
    failure : array
        Per row, the :class:`~rbo.Status` code of a failure of the last step, or -1.
    radius : float
        Radius the last step used.
    lr : array
        Per row, the learning rate the last step used (after any halving).
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
        Per row, how often the learning rate is halved in the next step: a row whose
        projection met NaN or inf stays put and retries next step with half its
        learning rate.
    nonfinite : array
        Per row, what was first found NaN or inf (:func:`~rbo._status.nonfinite_details`
        codes: 0 nothing, 1 the value, 2 the gradient).
    proj_capped : array
        Per row, how many steps' projections ended at ``proj_maxiter`` before meeting
        their tolerance.
    slowed : array
        Per row, how often the next step's learning rate is halved because projections
        ended at ``proj_maxiter`` (with ``slow_down``).
    """

    x: Array
    f: Array
    g: Array
    nit: int
    step_norm: Array
    failure: Array
    radius: float
    lr: Array
    fscale: float
    residual: Array
    proj_iters: int
    proj_status: Array
    proj_alpha: Array
    gg: Array
    xx: Array
    halvings: Array
    nonfinite: Array
    proj_capped: Array
    slowed: Array

    @property
    def center(self) -> tuple[Array, Array]:
        """The ball's center ``(cx, cy)`` in the coordinates ``(x, f / fscale)``."""
        s = 1.0 / self.fscale
        with backends.of(self.x).quiet():  # an infinite gradient has no finite centre
            return center(self.x, self.f * s, self.g * s, self.radius)


@dataclasses.dataclass(frozen=True)
class RBO(SolverBase):
    r"""Rolling Ball Optimizer (Belgoumri et al., arXiv:2505.19527).

    One step: the center :math:`c = (x, f) + \rho\nu` of a ball touching the graph at
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
        Learning rate :math:`\eta > 0` of the center's descent, or a schedule ``lr(k)``.
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
    max_step : float or None
        Step control: the centre's descent moves at most ``max_step * radius`` in one step
        (along the lifted gradient, in the coordinates ``(x, f / fscale)``); the learning
        rate of a row is cut to fit. A rolling ball moves continuously: no gradient can
        throw it away, and each projection starts near its answer. None: no cap.
    rest : float
        The ball is at rest, and the row stops with ``Status.AT_REST``, once its
        centre moves less than ``rest * radius`` in a step (0: never).
    slow_down : int
        Step control by the projection: a step whose projection ended at
        ``proj_maxiter`` halves the next step's learning rate, up to ``slow_down`` times
        in a row, and each step whose projection converged takes one halving back
        (0: off).
    lower, upper : array, optional
        A box (arrays broadcasting against ``x``) that every contact point, and every
        point the projection evaluates, stays in: the ball rolls on the part of the graph
        over the box. Set by ``bounds=`` of :func:`rbo.minimize`.
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
    max_step: float | None = None
    rest: float = 0.0
    slow_down: int = 0
    lower: Any = None
    upper: Any = None
    check_every: int = 4  # type: ignore[misc]

    masks_rows: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_positive("radius", self.radius)
        check_positive("lr", self.lr)
        if callable(self.fscale):
            raise TypeError("fscale must be a positive number")
        check_positive("fscale", self.fscale)
        check_positive("proj_step", self.proj_step)
        if self.max_step is not None:
            if callable(self.max_step):
                raise TypeError("max_step must be a positive number or None")
            check_positive("max_step", self.max_step)
        if callable(self.rest):
            raise TypeError("rest must be a non-negative number")
        check_positive("rest", self.rest, allow_zero=True)
        if self.proj_rtol is not None:
            check_positive("proj_rtol", self.proj_rtol, allow_zero=True)
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}; got {self.projection!r}")
        for name in ("proj_maxiter", "max_halvings", "slow_down", "check_every"):
            value = getattr(self, name)
            if value is None and name == "proj_maxiter":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if self.check_every == 0:
            raise ValueError("check_every must be >= 1")

    def init(self, fun: ValueAndGrad, x0: Array, /) -> RBOState:
        f, g = fun(x0)
        f = as_value(f, x0)
        xp = array_namespace(x0)
        backend = backends.of(x0)
        with backend.quiet():
            gg, xx = backend.kernels.dot(g, g), backend.kernels.dot(x0, x0)
        return RBOState(
            x=x0,
            f=f,
            g=g,
            nit=0,
            step_norm=xp.zeros_like(f),
            failure=codes(RUNNING, f),
            radius=schedule_value("radius", self.radius, 0),
            lr=schedule_value("lr", self.lr, 0) + xp.zeros_like(f),
            fscale=float(self.fscale),
            residual=xp.zeros_like(f),
            proj_iters=0,
            proj_status=codes(0, f),
            proj_alpha=xp.ones_like(f),
            gg=gg,
            xx=xx,
            halvings=codes(0, f),
            nonfinite=codes(0, f),
            proj_capped=codes(0, f),
            slowed=codes(0, f),
        )

    def step(
        self, fun: ValueAndGrad, state: RBOState, /, *, active: Array | None = None
    ) -> RBOState:
        """One step of every row in ``active`` (default all); the others stay as they are.

        A row whose projection meets NaN or inf stays where it is and retries at the next
        step with half its learning rate, up to ``max_halvings`` times in a row. This is
        the same on every backend: it reads nothing back to the host (a retry within the
        step would need to know whether any row met NaN), so a host run and a device run
        make the same steps.
        """
        x = state.x
        xp = array_namespace(x)
        backend = backends.of(x)
        k, quiet, host = backend.kernels, backend.quiet, backend.eager(x)
        nit = state.nit
        radius = schedule_value("radius", self.radius, nit)
        lr0 = schedule_value("lr", self.lr, nit)
        scale = 1.0 / self.fscale
        graph = fun if scale == 1.0 else _scaled(fun, scale)
        single = active is None and state.f.ndim == 0 and x.dtype == xp.float64
        if single and host and backend.host_floats:
            return self._step_host(graph, state, xp, backend, radius, lr0, scale)
        with quiet():  # overflow is handled: it makes the projection NONFINITE
            fs, gs = (state.f, state.g) if scale == 1.0 else (state.f * scale, state.g * scale)
            # |g|^2 from g itself, not from state.gg: a step-wise driver re-evaluates f and g
            # on each minibatch, and a cached norm would belong to the previous batch's g.
            gg = k.dot(gs, gs)
            lr = lr0 + xp.zeros_like(fs)
            if self.max_step is not None:  # |lr * (g, |g|^2)| <= max_step * radius
                lr = xp.minimum(lr, self.max_step * radius / xp.sqrt(gg * (1.0 + gg)))
            # Halved after the cap, so that a retry (or a slowed step) is a shorter one.
            lr = lr * 0.5 ** xp.astype(state.halvings + state.slowed, fs.dtype)
            # The descended center (rbo._geometry.descended_center), through the kernels.
            rho_s = radius / xp.sqrt(1.0 + gg)
            cx, cy = k.centre(x, gs, rho_s + lr), fs + rho_s - lr * gg
        p = project(
            graph,
            x,
            fs,
            gs,
            cx,
            cy,
            method=self.projection,
            maxiter=self._proj_cap(),
            rtol=None if self.proj_rtol is None else float(self.proj_rtol),
            step=float(self.proj_step),
            check_every=self.check_every,
            alpha=xp.minimum(2.0 * state.proj_alpha, 1.0),
            active=active,
            xx=state.xx,
            backend=backend,
            box=None if self.lower is None else (self.lower, self.upper),
        )
        with quiet():
            capped = p.status == int(ProjStatus.MAXITER)
            slowed = state.slowed
            if self.slow_down:
                up = xp.minimum(slowed + 1, codes(self.slow_down, slowed))
                down = xp.maximum(slowed - 1, codes(0, slowed))
                converged = p.status == int(ProjStatus.CONVERGED)
                slowed = xp.where(capped, up, xp.where(converged, down, slowed))
            met_nan = p.status == int(ProjStatus.NONFINITE)
            halvings = xp.where(met_nan, state.halvings + 1, xp.zeros_like(state.halvings))
            fail = codes(RUNNING, fs)
            fail = xp.where(halvings > self.max_halvings, codes(Status.NONFINITE, fs), fail)
            fail = xp.where(
                p.status == int(ProjStatus.DIVERGED), codes(Status.PROJECTION_FAILED, fs), fail
            )
            # Rows that failed or retry keep their point (a diverged gd moved it).
            stay = met_nan | (fail != RUNNING)
            pf, pg, pgg = p.f, p.g, p.gg if p.gg is not None else gg
            if scale != 1.0:
                pf, pg, pgg = pf / scale, pg / scale, pgg / (scale * scale)
            # (a single row on the host branches instead of copying x and g)
            z = select(stay, x, p.z, xp=xp, host=host)
            f = xp.where(stay, state.f, pf)
            g = select(stay, state.g, pg, xp=xp, host=host)
            gg_z = xp.where(stay, gg / (scale * scale), pgg)
            zz, dd = k.step_norms(z, x)
            if self.rest > 0:
                # At rest is the centre's (a ball resting on a ring above a minimum keeps
                # its centre while its contact point slides round the ring).
                ox, oy = center(x, fs, gs, radius)
                nx, ny = center(p.z, p.f, p.g, radius)  # the projection's, already scaled
                dc = k.dot(nx - ox, nx - ox) + (ny - oy) * (ny - oy)
                reach = self.rest * radius  # squared as a product: ** raises on overflow
                resting = ~stay & (dc <= reach * reach)
                fail = xp.where(resting & (fail == RUNNING), codes(Status.AT_REST, fs), fail)
        return RBOState(
            x=z,
            f=f,
            g=g,
            nit=nit + 1,
            step_norm=xp.sqrt(dd),
            failure=fail,
            radius=radius,
            lr=lr,
            fscale=float(self.fscale),
            residual=p.residual,
            proj_iters=p.iters,
            proj_status=p.status,
            proj_alpha=p.alpha,
            gg=gg_z,
            xx=zz,
            halvings=halvings,
            nonfinite=xp.where(met_nan & (state.nonfinite == 0), p.nonfinite, state.nonfinite),
            proj_capped=state.proj_capped + xp.astype(capped, state.proj_capped.dtype),
            slowed=slowed,
        )

    def _proj_cap(self) -> int:
        """Evaluations a projection may use: ``proj_maxiter``, or the method's default."""
        if self.proj_maxiter is not None:
            return self.proj_maxiter
        return 20 if self.projection == "gauss-newton" else 10

    def _step_host(
        self,
        graph: ValueAndGrad,
        state: RBOState,
        xp: Any,
        backend: backends.Backend,
        radius: float,
        lr0: float,
        scale: float,
    ) -> RBOState:
        """:meth:`step` of a single float64 row on the host: its per-row scalars (the
        learning rate, the counters, the statuses) as Python numbers, the same IEEE
        operations in the same order; only what spans the coordinates stays arrays."""
        x = state.x
        k, quiet = backend.kernels, backend.quiet
        with quiet():
            fs, gs = (state.f, state.g) if scale == 1.0 else (state.f * scale, state.g * scale)
            gg_a = k.dot(gs, gs)
        gg = float(gg_a)
        lr = lr0
        if self.max_step is not None:
            q = sqrt_float(gg * (1.0 + gg))
            lr = min_float(lr, self.max_step * radius / q if q != 0 else math.inf)
        lr = lr * 0.5 ** (int(state.halvings) + int(state.slowed))
        rho_s = radius / sqrt_float(1.0 + gg)
        with quiet():
            cx = k.centre(x, gs, rho_s + lr)
        p = project(
            graph,
            x,
            fs,
            gs,
            cx,
            float(fs) + rho_s - lr * gg,
            method=self.projection,
            maxiter=self._proj_cap(),
            rtol=None if self.proj_rtol is None else float(self.proj_rtol),
            step=float(self.proj_step),
            check_every=self.check_every,
            alpha=min_float(2.0 * float(state.proj_alpha), 1.0),
            xx=state.xx,
            backend=backend,
            box=None if self.lower is None else (self.lower, self.upper),
        )
        status = int(p.status)
        capped = status == int(ProjStatus.MAXITER)
        slowed = int(state.slowed)
        if self.slow_down:
            if capped:
                slowed = min(slowed + 1, self.slow_down)
            elif status == int(ProjStatus.CONVERGED):
                slowed = max(slowed - 1, 0)
        met_nan = status == int(ProjStatus.NONFINITE)
        halvings = int(state.halvings) + 1 if met_nan else 0
        fail = RUNNING
        if halvings > self.max_halvings:
            fail = int(Status.NONFINITE)
        if status == int(ProjStatus.DIVERGED):
            fail = int(Status.PROJECTION_FAILED)
        # Rows that failed or retry keep their point (a diverged gd moved it).
        stay = met_nan or fail != RUNNING
        with quiet():
            if stay:
                z, f, g, gg_z = x, state.f, state.g, gg_a / (scale * scale)
            else:
                z, f, g, gg_z = p.z, p.f, p.g, p.gg if p.gg is not None else gg_a
                if scale != 1.0:
                    f, g, gg_z = f / scale, g / scale, gg_z / (scale * scale)
            zz, dd = k.step_norms(z, x)
            if self.rest > 0 and not stay:
                ox, oy = center(x, fs, gs, radius)
                nx, ny = center(p.z, p.f, p.g, radius)  # the projection's, already scaled
                dc = float(k.dot(nx - ox, nx - ox) + (ny - oy) * (ny - oy))
                reach = self.rest * radius  # squared as a product: ** raises on overflow
                if dc <= reach * reach and fail == RUNNING:
                    fail = int(Status.AT_REST)
        like = state.failure
        same_lr = lr == float(state.lr)  # the usual case: no new array for it
        return RBOState(
            x=z,
            f=f,
            g=g,
            nit=state.nit + 1,
            step_norm=xp.sqrt(dd),
            failure=codes(fail, like),
            radius=radius,
            lr=state.lr if same_lr else xp.asarray(lr, dtype=x.dtype, device=device_of(x)),
            fscale=float(self.fscale),
            residual=p.residual,
            proj_iters=p.iters,
            proj_status=p.status,
            proj_alpha=p.alpha,
            gg=gg_z,
            xx=zz,
            halvings=codes(halvings, like),
            nonfinite=p.nonfinite if met_nan and int(state.nonfinite) == 0 else state.nonfinite,
            proj_capped=codes(int(state.proj_capped) + capped, like),
            slowed=codes(slowed, like),
        )

    def postprocess(self, state: RBOState, /, *, intermediate: bool = False) -> dict[str, Any]:
        """``proj_residual`` and ``proj_capped``; for a callback also ``center``,
        ``radius`` and ``lr``."""
        if not intermediate:
            return {"proj_residual": state.residual, "proj_capped": state.proj_capped}
        return {
            "center": state.center,
            "radius": state.radius,
            "lr": state.lr,
            "proj_residual": state.residual,
        }

    def norms(self, state: RBOState, /) -> tuple[Array, Array]:
        """The kept ``(|g|^2, |x|^2)``."""
        return state.gg, state.xx

    def retrying(self, state: RBOState, /) -> Array:
        """Per row: staying put to retry with a smaller learning rate (not converged)."""
        return state.halvings > 0

    def trace(self, state: RBOState, /) -> dict[str, Array]:
        """The center, ``center_x`` and ``center_y``."""
        cx, cy = state.center
        return {"center_x": cx, "center_y": cy}


def _scaled(fun: ValueAndGrad, scale: float) -> ValueAndGrad:
    def graph(x: Any) -> tuple[Any, Any]:
        f, g = fun(x)
        with backends.of(g).quiet():
            return f * scale, g * scale

    return graph
