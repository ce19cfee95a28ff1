"""``method="rbo"`` with ``polish=True``: a local phase, then rolls of the ball, each
ended by an L-BFGS polish.

A ball of radius ``rho`` rests where the graph, ironed at its scale, is flat; that is not
a stationary point of ``f`` itself (a contact point sits on the wrinkles' crests, and a
minimum sharper than ``1/rho`` is never touched). So a run is:

1. **local**: L-BFGS from ``x0`` to its minimum ``x_loc`` (what a local method from the
   same start finds: rolling can only add to it);
2. **units**: where the user gave no radius, learning rate or ``fscale``, they are set in
   the problem's own units, a length ``L`` (``scale=``, else the box's median width, else
   how far the start and ``x_loc`` lie from the origin and from each other) and a
   vertical unit ``F = f(x0) - f(x_loc)``: ``radius = 0.3 L``, ``lr = radius``,
   ``fscale = F / L`` (the ball rolls on a graph whose slopes are of order one), and its
   projection stops at 10 % of its first residual (``proj_rtol=0.1``: the ball needs
   its foot points roughly, the polish finds the minimum exactly);
3. **roll**: the ball rolls from ``x_loc`` (its centre's step capped at the radius, see
   :class:`~rbo.RBO`'s ``max_step``) until it comes to rest or finds no lower point for
   ``Plan.roll_patience`` steps;
4. **polish**: L-BFGS from the best point found so far and, in a search (``maxfev``
   given, a single run), from the roll's ``Plan.polish_points - 1`` next lowest points
   that lie apart from each other and from its lowest. Where that lowered ``f`` below
   the previous minimum, the ball rolls again from the new one (a hop), while budget is
   left.

Every phase runs on the same :class:`~rbo._objective.Objective`, so ``maxfev`` counts
them all, the box holds in each, and the best point carries over (a phase's first point,
already evaluated, is not paid for again). ``maxiter`` counts the steps of all phases.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of
from scipy.optimize import OptimizeResult

from ._lbfgs import LBFGS
from ._loop import run
from ._objective import FD_METHODS, Objective
from ._rolling_ball import RBO
from ._status import Status
from ._termination import Tolerances
from .backends import Backend

__all__ = ["PHASE_FIELDS", "PLAN", "Plan", "roll_and_polish"]

#: What the result says of each phase (``res.local``, ``res.roll``, ``res.polish``).
PHASE_FIELDS = ("nit", "nfev", "status", "message")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The constants of the phases; see ``docs/choosing.md`` for the evidence."""

    radius: float = 0.3  # radius, in units of the problem's length L
    lr: float = 1.0  # learning rate, in units of the radius
    max_step: float = 1.0  # the centre moves at most this many radii per step
    rest: float = 1e-3  # at rest below this many radii per step
    proj_rtol: float = 0.1  # the ball's foot points to 10 % of the first residual
    roll_patience: int = 20  # steps without a lower point that end a roll
    max_hops: int = 2  # rolls at most without maxfev (with it, the budget ends them)
    grow: float = 1.3  # a roll that found nothing lower is followed by one this much larger
    max_growth: int = 10  # ... at most this many times in a row (then the rolls end)
    roll_share: float = 1.0  # without maxfev, each roll may spend this many local phases
    roll_floor: int = 20  # ... and at least this many evaluations
    local_share: float = 0.25  # of maxfev, the most the local phase may spend
    fine: int = 0  # once growth is spent, balls this many times smaller than the first
    # With maxfev, a roll is also polished from its next lowest points, this many in all,
    # each farther than `distinct` radii (in some coordinate) from the lower ones.
    polish_points: int = 3
    distinct: float = 0.1


PLAN = Plan()

# The phases' codes in ``res.trajectory.phase``.
_LOCAL, _ROLL, _POLISH = 0, 1, 2

# A phase that ended so ends the run: the user stopped it. (A phase cut by its share of
# the budget does not: the run ends when the whole maxfev or maxiter is spent.)
_FINAL = (int(Status.CALLBACK),)


def roll_and_polish(
    solver: RBO,
    given: set[str],
    objective: Objective,
    x0: Any,
    tolerances: Tolerances,
    *,
    lower: Any,
    upper: Any,
    scale: float | None,
    backend: Backend,
    batched: bool,
    maxiter: int,
    maxfev: int | None,
    callback: Callable[..., Any] | None,
    return_trajectory: bool,
    plan: Plan | None = None,
) -> OptimizeResult:
    """Run the phases from ``x0``; ``given`` names the options of ``solver`` the user set
    (the others are set in the problem's units)."""
    plan = PLAN if plan is None else plan
    # L-BFGS's phases run to gtol: its line search, not a step or patience test, says
    # when no more progress can be made (unless the user asked for xtol).
    local_tests = dataclasses.replace(
        tolerances, patience=None, xtol=tolerances.xtol if "xtol" in given else 0.0
    )
    if objective.jac in FD_METHODS and "patience" not in given:
        # A difference gradient carries noise of about sqrt(eps) |f| / h: near the minimum
        # it may never fall below gtol, and without a patience test only maxiter ended the
        # phase (2-D Rosenbrock: 897,291 calls). Stop once the value stops falling.
        local_tests = dataclasses.replace(local_tests, patience=plan.roll_patience)
    narrow = objective.call_dtype
    if narrow is not None and "patience" not in given:
        # f computed in float16 or bfloat16 changes in steps of its rounding: once it
        # stops falling by more than that, the line searches only spin on its
        # quantised values (a float16 Rosenbrock took 51,612 evaluations to reach gtol).
        rounding = float(array_namespace(x0).finfo(narrow).eps)
        local_tests = dataclasses.replace(
            local_tests, patience=plan.roll_patience, ftol=max(tolerances.ftol, rounding)
        )
    lbfgs = LBFGS(lower=lower, upper=upper)

    paths: list[tuple[int, Any]] = []  # (phase code, path) of every phase, in order

    def phase(solver: Any, start: Any, tests: Tolerances, cap: int | None, code: int) -> Any:
        """``solver`` from ``start`` within ``cap`` calls and the steps left; a start that is
        the best point so far is not evaluated again."""
        if objective.best_x is not None and start is objective.best_x:
            assert objective.best_f is not None and objective.best_g is not None
            objective.replay = (start, objective.best_f, objective.best_g)
        try:
            out = run(
                solver,
                objective,
                start,
                tests,
                backend=backend,
                batched=batched,
                maxiter=max(maxiter - done, 0),
                maxfev=cap,
                callback=callback,
                return_trajectory=return_trajectory,
            )
        except BaseException as exc:
            # The partial result of an error carries the run's whole path too.
            partial = getattr(exc, "rbo_result", None)
            if return_trajectory and partial is not None and "trajectory" in partial:
                partial.trajectory = _joined([*paths, (code, partial.trajectory)])
            raise
        if return_trajectory and "trajectory" in out:
            paths.append((code, out.pop("trajectory")))
        return out

    def over(phase_result: Any) -> bool:
        """Whether the run ends after this phase: the user stopped it, or steps or
        budget are spent."""
        return _ends(phase_result, backend) or done >= maxiter or _spent(objective, maxfev, x0)

    done = 0
    # At least the first evaluation, never past maxfev (a budget short of it is refused).
    cap = (
        None
        if maxfev is None
        else min(maxfev, max(int(maxfev * plan.local_share), objective.cost(x0)))
    )
    local = phase(lbfgs, x0, local_tests, cap, _LOCAL)
    done += _most(local.nit, backend)
    nit = local.nit  # per row
    curvature = local.get("curvature")  # of the last L-BFGS phase that held pairs, per row
    phases = {"local": _phase(local, objective.nfev)}
    res = local
    if over(local):
        return _finish(res, phases, nit, None, backend, paths)

    assert objective.first_f is not None and objective.best_x is not None
    ball = _in_units(solver, given, x0, objective, lower, upper, scale, backend, plan)
    # A ball is not meant to be stationary (the polish is): it rolls until it rests, or
    # finds nothing lower for a while.
    roll_tests = dataclasses.replace(
        tolerances,
        gtol=-1.0,
        xtol=0.0,
        patience=tolerances.patience if "patience" in given else plan.roll_patience,
    )
    rolls: list[Any] = []
    polishes: list[Any] = []
    previous = _best_value(objective, backend)
    first_radius = ball.radius
    first_ball = ball
    grown = 0  # times in a row the ball grew
    shrunk = 0  # balls smaller than the first tried
    for _ in range(plan.max_hops if maxfev is None else maxiter):
        # The roll leaves the polish as much as the local phase needed (a polish from a
        # nearby point needs about as much; it takes what is left in any case).
        reserve = phases["local"].nfev
        if maxfev is None:
            share = max(int(plan.roll_share * reserve), plan.roll_floor * objective.cost(x0))
            cap = objective.nfev + share
        else:
            cap = max(maxfev - reserve, objective.nfev + 1)
        before = objective.nfev
        pooling = maxfev is not None and plan.polish_points > 1 and not callable(ball.radius)
        if pooling:
            radius = float(ball.radius)  # type: ignore[arg-type]
            objective.pool_start(plan.polish_points, plan.distinct * radius)
        try:
            roll = phase(ball, objective.best_x, roll_tests, cap, _ROLL)
        finally:
            lowest = objective.pool_take() if pooling else []
        done += _most(roll.nit, backend)
        nit = nit + roll.nit
        rolls.append(_phase(roll, objective.nfev - before))
        rolls[-1].proj_capped = roll.get("proj_capped")
        res = roll
        if _ends(roll, backend):
            break
        if done >= maxiter or _spent(objective, maxfev, x0):
            break
        before = objective.nfev
        # The lowest point of the roll is near the best one, which the first polish
        # starts from; the next lowest, apart from it, may lie in other wrinkles.
        for start in [objective.best_x, *lowest[1:]]:
            before = objective.nfev
            pol = phase(lbfgs, start, local_tests, maxfev, _POLISH)
            done += _most(pol.nit, backend)
            nit = nit + pol.nit
            curvature = _newer(curvature, pol.get("curvature"))
            polishes.append(_phase(pol, objective.nfev - before))
            res = pol
            if over(pol):
                break
        if over(res):
            break
        now = _best_value(objective, backend)
        if now < previous - tolerances.ftol * max(1.0, abs(previous)):
            previous, grown = now, 0  # a lower basin: the ball rolls on from its minimum
        elif callable(ball.radius) or callable(ball.lr) or "radius" in given or plan.grow == 1.0:
            break  # from the same point the same ball finds the same: nothing to gain
        elif grown >= plan.max_growth:
            if shrunk >= plan.fine:
                break
            shrunk += 1
            # (fixed numbers here: a schedule ended the rolls above)
            small = float(first_radius) * plan.grow**-shrunk  # type: ignore[arg-type]
            ball = dataclasses.replace(
                first_ball,
                radius=small,
                lr=small * plan.lr if "lr" not in given else first_ball.lr,
            )
        else:  # nothing lower within this ball's reach: a larger one reaches further
            grown += 1
            radius, lr = float(ball.radius), float(ball.lr)  # type: ignore[arg-type]
            ball = dataclasses.replace(
                ball,
                radius=radius * plan.grow,
                lr=lr * plan.grow if "lr" not in given else ball.lr,
            )
    phases["roll"] = _merged(rolls, backend)
    phases["polish"] = _merged(polishes, backend) if polishes else None
    res = _finish(res, phases, nit, ball, backend, paths)
    if curvature is not None:
        res.curvature = curvature
    if curvature is not None and not callable(first_radius):  # (a schedule has no one radius)
        # The graph of f / fscale curves by curvature / fscale at the minimum returned: a
        # ball larger than the inverse rests above it, on its walls.
        res.radius_too_large = first_radius * curvature / ball.fscale > 1.0
    return res


def _in_units(
    solver: RBO,
    given: set[str],
    x0: Any,
    objective: Objective,
    lower: Any,
    upper: Any,
    scale: float | None,
    backend: Backend,
    plan: Plan,
) -> RBO:
    """``solver`` with what the user did not set put in the problem's units."""
    xloc = objective.best_x
    assert xloc is not None and objective.first_f is not None and objective.best_f is not None
    length = _length(x0, xloc, lower, upper, scale, backend)
    f0 = _values(objective.first_f, backend)
    fl = _values(objective.best_f, backend)
    drops = [a - b for a, b in zip(f0, fl, strict=True) if math.isfinite(a - b) and a > b]
    if drops:
        height = statistics.median(drops)
    else:  # the start was the minimum: the value itself, or 1
        finite = [abs(v) for v in fl if math.isfinite(v) and v != 0]
        height = statistics.median(finite) if finite else 1.0
    # Lengths and heights near the ends of x's dtype (a start of 1e-320, a drop of 1e-310)
    # make a radius or fscale that is 0, subnormal or inf there: such a scale says
    # nothing of the problem, and 1 stands in for it.
    info = array_namespace(x0).finfo(x0.dtype)
    normal = float(info.smallest_normal), float(info.max)

    def fits(v: float) -> bool:
        return normal[0] <= v <= normal[1]

    if not fits(height):
        height = 1.0
    if not (fits(plan.radius * length) and fits(height / length)):
        if scale is not None:
            raise ValueError(
                f"scale={scale!r} gives a radius of {plan.radius * length:.3g} and an fscale "
                f"of {height / length:.3g} (f falls by {height:.3g}), which {x0.dtype} cannot "
                "hold; give a scale nearer the size of the problem's x"
            )
        length = 1.0
    auto: dict[str, Any] = {}
    radius = plan.radius * length
    if "radius" not in given:
        auto["radius"] = radius
    if "lr" not in given:
        auto["lr"] = plan.lr * (auto.get("radius", radius))
    if "fscale" not in given:
        auto["fscale"] = height / length
    if "max_step" not in given:
        auto["max_step"] = plan.max_step
    if "rest" not in given:
        auto["rest"] = plan.rest
    if "proj_rtol" not in given:
        auto["proj_rtol"] = plan.proj_rtol
    return dataclasses.replace(solver, **auto)


def _length(
    x0: Any, xloc: Any, lower: Any, upper: Any, scale: float | None, backend: Backend
) -> float:
    """The problem's length: ``scale``, else the box's median width, else the largest of
    ``|x0|``, ``|x_loc|`` and ``|x_loc - x0|`` (max-norms, median over rows), else 1."""
    if scale is not None:
        return float(scale)
    if lower is not None and upper is not None:
        with backend.quiet():  # (a box wider than the largest float has no finite width)
            spans = upper - lower
        widths = [w for w in _values(spans, backend) if math.isfinite(w) and w > 0]
        if widths:
            return statistics.median(widths)
    xp = array_namespace(x0)
    with backend.quiet():
        spans = [xp.max(xp.abs(a), axis=-1) for a in (x0, xloc, xloc - x0)]
    per_row = [max(v) for v in zip(*(_values(s, backend) for s in spans), strict=True)]
    finite = [v for v in per_row if math.isfinite(v) and v > 0]
    return statistics.median(finite) if finite else 1.0


def _newer(old: Any, new: Any) -> Any:
    """Per row, ``new`` where it holds an estimate (> 0), else ``old``."""
    if new is None or old is None:
        return old if new is None else new
    if isinstance(new, float):
        return new if new > 0 else old
    return array_namespace(new).where(new > 0, new, old)


def _values(a: Any, backend: Backend) -> list[float]:
    return [float(v) for v in backend.to_host(a).reshape(-1).tolist()]


def _best_value(objective: Objective, backend: Backend) -> float:
    """The best value so far (the lowest over rows)."""
    assert objective.best_f is not None
    finite = [v for v in _values(objective.best_f, backend) if math.isfinite(v)]
    return min(finite) if finite else math.inf


def _spent(objective: Objective, maxfev: int | None, x: Any) -> bool:
    return maxfev is not None and maxfev - objective.nfev < objective.cost(x)


def _ends(res: OptimizeResult, backend: Backend) -> bool:
    """Whether the user's callback stopped the phase."""
    return any(c in _FINAL for c in _codes(res.status, backend))


def _codes(status: Any, backend: Backend) -> list[int]:
    if isinstance(status, int):
        return [status]
    return [int(c) for c in backend.to_host(status).reshape(-1).tolist()]


def _most(nit: Any, backend: Backend) -> int:
    """Steps of the row that made the most."""
    if isinstance(nit, int | float):
        return int(nit)
    return max(_codes(nit, backend))


def _phase(res: OptimizeResult, nfev: int) -> OptimizeResult:
    """One phase's own counts and status."""
    out = OptimizeResult({k: res[k] for k in PHASE_FIELDS if k in res})
    out.nfev = nfev
    return out


def _merged(phases: list[OptimizeResult], backend: Backend) -> OptimizeResult:
    """Several runs of one phase: their counts added (steps and capped projections of
    the row that made the most), the last one's status."""
    out = OptimizeResult(phases[-1])
    out.nit = sum(_most(p.nit, backend) for p in phases)
    out.nfev = sum(p.nfev for p in phases)
    out.runs = len(phases)
    capped = [p.get("proj_capped") for p in phases if p.get("proj_capped") is not None]
    if capped:
        out.proj_capped = sum(_most(c, backend) for c in capped)
    return out


def _joined(paths: list[tuple[int, Any]]) -> OptimizeResult:
    """The phases' paths as one, in the order they ran: points and values, per row its
    ``phase`` (0 local, 1 roll, 2 polish) and ``part`` (0 the local phase, then one number
    a phase run), and the ball's own fields (its centre) on the roll's rows, NaN on the
    others."""
    xp = array_namespace(paths[0][1].x)
    device = device_of(paths[0][1].x)
    out = OptimizeResult(
        x=xp.concat([p.x for _, p in paths], axis=0),
        fun=xp.concat([p.fun for _, p in paths], axis=0),
    )
    own = sorted({key for _, p in paths for key in p} - {"x", "fun"})
    for key in own:
        like = next(p[key] for _, p in paths if key in p)
        out[key] = xp.concat(
            [
                p[key]
                if key in p
                else xp.full(
                    (p.x.shape[0], *like.shape[1:]), float("nan"), dtype=like.dtype, device=device
                )
                for _, p in paths
            ],
            axis=0,
        )
    rows = [p.x.shape[0] for _, p in paths]
    out.phase = xp.asarray(
        [code for (code, _), k in zip(paths, rows, strict=True) for _ in range(k)],
        dtype=xp.int32,
        device=device,
    )
    out.part = xp.asarray(
        [i for i, k in enumerate(rows) for _ in range(k)], dtype=xp.int32, device=device
    )
    return out


def _finish(
    res: OptimizeResult,
    phases: dict[str, Any],
    nit: Any,
    ball: RBO | None,
    backend: Backend,
    paths: list[tuple[int, Any]],
) -> OptimizeResult:
    """The last phase's result with every phase's counts, the units of the ball and the
    whole path (when asked for)."""
    if paths:
        res.trajectory = _joined(paths)
    res.local = phases["local"]
    res.roll = phases.get("roll")
    res.polish = phases.get("polish")
    res.nit = nit
    if ball is not None:
        res.radius = float(ball.radius) if not callable(ball.radius) else ball.radius
        res.lr = float(ball.lr) if not callable(ball.lr) else ball.lr
        res.fscale = float(ball.fscale)
    return res
