"""The user's objective as the solvers see it: ``x -> (f, grad f)``, counted and checked."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backends
from ._arrays import Array, _by_type, eps, namespace

__all__ = ["FD_METHODS", "BudgetExhausted", "Objective"]

FD_METHODS = ("2-point", "3-point")


class BudgetExhausted(Exception):
    """An evaluation would take ``nfev`` past ``maxfev``; raised before ``fun`` is called."""


class Objective:
    """Wraps ``fun``/``jac`` into one callable returning ``(f, g)`` and counts the calls.

    ``nfev`` counts calls of ``fun`` (finite-difference ones included), ``njev`` the
    gradients computed (by ``jac`` or by differences). Each output is checked for its
    namespace and shape and brought to ``x``'s dtype, so a wrong return value fails at
    once with a message that names it. With ``call_dtype``, ``fun`` and ``jac`` are called
    on points cast to it (a narrow dtype the solver works above, see
    :func:`~rbo._validation.widened`), and finite differences step in it. ``name`` is
    what the messages call ``fun``: the name the user knows it by.

    :meth:`start` sets a budget ``maxfev`` and has the objective keep its best point: an
    evaluation that would need more calls of ``fun`` than remain (a finite-difference
    gradient needs ``n + 1`` or ``2n + 1``) raises :class:`BudgetExhausted` before calling
    ``fun``, and every call ``(f, g) = objective(x)`` is compared with the best so far, per
    row: ``best_x``, ``best_f``, ``best_g`` hold the lowest finite value returned with its
    gradient (value-only calls, those of finite differences, do not count: no gradient is
    known there). ``best_tag`` is the ``tag`` the caller had set when it was evaluated.
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        jac: Callable[..., Any] | str | bool | None,
        args: tuple[Any, ...],
        like: Array,
        call_dtype: Any = None,
        *,
        name: str = "fun",
        lower: Array | None = None,
        upper: Array | None = None,
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable; got {type(fun).__name__}")
        if jac is False or jac is None:
            jac = "2-point"
        if not (callable(jac) or jac is True or jac in FD_METHODS):
            raise ValueError(
                f"jac must be a callable, True, None, '2-point' or '3-point'; got {jac!r}"
            )
        # The loop runs inside the backend's quiet(): fun and jac are called under the
        # error handling in force where the run was set up, the user's own.
        caller = backends.of(like).as_caller
        self.fun, self.jac, self.args = caller(fun), jac, args
        self._jac: Any = caller(jac) if callable(jac) else jac
        self.name = name
        self.xp = array_namespace(like)
        self.dtype, self.device = like.dtype, device_of(like)
        self.call_dtype = None if call_dtype == like.dtype else call_dtype
        self.value_shape = tuple(like.shape[:-1])
        self.nfev = 0
        self.njev = 0
        self.maxfev: int | None = None
        self.keeping = False
        self.best_x: Array | None = None
        self.best_f: Array | None = None
        self.best_g: Array | None = None
        self.best_tag: Array | None = None
        self.active: Array | None = None  # rows whose points may become best (None: all)
        self.tag: Array | None = None  # what best_tag records (the loop: the step number)
        # (x, f, g) known already: a call with this very x returns them, free (a second
        # phase starting from the best point of the first need not pay for it again)
        self.replay: tuple[Array, Array, Array] | None = None
        self.first_f: Array | None = None  # the values of the first evaluation, f(x0)
        # The last point valued and its value, kept before its gradient is computed: a
        # gradient that raises leaves the value known.
        self.valued_x: Array | None = None
        self.valued_f: Array | None = None
        # The box finite differences keep to.
        self.lower, self.upper = lower, upper
        # A single run's lowest points, pairwise apart (see pool_start); None: not kept.
        self._pool: list[tuple[float, Array]] | None = None
        self._pool_size = 0
        self._pool_gap = 0.0
        self._host: bool | None = None  # whether reading a flag back is free; found once
        # A single row on the host compares its values as Python floats: best_f as one.
        self._scalar = False
        self._best_value = math.inf
        # Array types of fun's values and gradients already checked (the type decides
        # their namespace): later ones of the same type, shape and dtype pass at once.
        self._value_type: Any = None
        self._grad_type: Any = None

    def start(self, maxfev: int | None) -> None:
        """Enforce the budget ``maxfev`` (None: none) and keep the best point from now on."""
        self.maxfev = maxfev
        self.keeping = True

    def pool_start(self, size: int, gap: float) -> None:
        """From now on keep the ``size`` lowest points evaluated (with a gradient) whose
        coordinates differ pairwise by more than ``gap`` in some coordinate: a point near
        a lower one is dropped, a lower point displaces those near it. A single run only
        (a 0-d value): a batch keeps its best points alone."""
        self._pool, self._pool_size, self._pool_gap = [], size, gap

    def pool_take(self) -> list[Array]:
        """The points kept since :meth:`pool_start`, lowest first; keeping stops."""
        pool, self._pool = self._pool or [], None
        return [z for _, z in pool]

    def _pooled(self, x: Array, f: Array) -> None:
        assert self._pool is not None
        pool = self._pool
        value = float(f)
        if not math.isfinite(value):
            return
        if len(pool) >= self._pool_size and value >= pool[-1][0]:
            return
        xp, gap = self.xp, self._pool_gap
        near = [i for i, (_, z) in enumerate(pool) if float(xp.max(xp.abs(x - z))) <= gap]
        if any(pool[i][0] <= value for i in near):
            return
        kept = [entry for i, entry in enumerate(pool) if i not in near]
        kept.append((value, x))
        kept.sort(key=lambda entry: entry[0])
        self._pool = kept[: self._pool_size]

    def cost(self, x: Array) -> int:
        """Calls of ``fun`` one evaluation of ``(f, g)`` at ``x`` makes."""
        if self.jac == "2-point":
            return 1 + x.shape[-1]
        if self.jac == "3-point":
            return 1 + 2 * x.shape[-1]
        return 1

    def __call__(self, x: Array) -> tuple[Array, Array]:
        if self.replay is not None:
            known, self.replay = self.replay, None
            if x is known[0] or (x.shape == known[0].shape and bool(self.xp.all(x == known[0]))):
                return known[1], known[2]
        self._reserve(self.cost(x))
        f, g = self._evaluate(x)
        if self.keeping:
            self._keep(x, f, g)
            if self._pool is not None and f.ndim == 0:
                self._pooled(x, f)
        return f, g

    def _reserve(self, calls: int) -> None:
        if self.maxfev is not None and self.nfev + calls > self.maxfev:
            raise BudgetExhausted(
                f"the next evaluation needs {calls} call(s) of fun and "
                f"{self.maxfev - self.nfev} of maxfev={self.maxfev} remain"
            )

    def _keep(self, x: Array, f: Array, g: Array) -> None:
        """Make ``(x, f, g)`` the best of each row where ``f`` is finite and lower.

        On the host a single row costs one comparison, a batch a ``where`` only when some
        row improved; elsewhere ``where`` runs every time, so that nothing is read back.
        """
        if self._scalar:
            value = float(f)
            active = self.active
            if (
                value < self._best_value
                and math.isfinite(value)
                and (active is None or bool(active))
            ):
                self.best_x, self.best_f, self.best_g = x, f, g
                self.best_tag = 0 if self.tag is None else self.tag
                self._best_value = value
            return
        xp = self.xp
        better = xp.isfinite(f)
        if self.best_f is not None:
            better = better & (f < self.best_f)
        if self.active is not None:
            better = better & self.active
        tag = self.tag
        if tag is None:
            tag = xp.zeros(f.shape, dtype=xp.int32, device=self.device)
        if self.best_f is None:
            self.first_f = f
            inf = xp.full(f.shape, float("inf"), dtype=f.dtype, device=self.device)
            self.best_x, self.best_g = x, g
            self.best_f, self.best_tag = xp.where(better, f, inf), tag
            if f.ndim == 0 and backends.of(f).eager(f):
                self._scalar = True
                self._best_value = float(self.best_f)
            return
        if self._host is None:
            self._host = backends.of(f).eager(f)
        if self._host:
            if not bool(xp.any(better)):
                return
            if bool(xp.all(better)):
                self.best_x, self.best_f, self.best_g, self.best_tag = x, f, g, tag
                return
        assert self.best_x is not None and self.best_g is not None and self.best_tag is not None
        rows = better if f.ndim == 0 else xp.expand_dims(better, axis=-1)
        self.best_x = xp.where(rows, x, self.best_x)
        self.best_g = xp.where(rows, g, self.best_g)
        self.best_f = xp.where(better, f, self.best_f)
        self.best_tag = xp.where(better, tag, self.best_tag)

    def _evaluate(self, x: Array) -> tuple[Array, Array]:
        jac = self.jac
        if jac is True:
            out = self._call_fun(x)
            if not (isinstance(out, tuple | list) and len(out) == 2):
                what = "with jac=True, fun" if self.name == "fun" else self.name
                raise TypeError(
                    f"{what} must return a pair (value, gradient); got {type(out).__name__}"
                )
            f = self._value(out[0])
            self.valued_x, self.valued_f = x, f
            self.njev += 1
            return f, self._grad(out[1], x)
        f = self._value(self._call_fun(x))
        self.valued_x, self.valued_f = x, f
        if callable(jac):
            self.njev += 1
            return f, self._grad(self._jac(self._cast(x), *self.args), x)
        return f, self._finite_difference(x, f)

    def value(self, x: Array) -> Array:
        """``f(x)`` alone (with ``jac=True`` the gradient is computed and dropped)."""
        out = self._call_fun(x)
        return self._value(out[0] if self.jac is True else out)

    def _call_fun(self, x: Array) -> Any:
        self._reserve(1)
        self.nfev += 1
        return self.fun(self._cast(x), *self.args)

    def _cast(self, x: Array) -> Array:
        if self.call_dtype is None:
            return x
        # A point beyond the narrow dtype's range (a trial point far out) is inf there:
        # fun is called on that, and its non-finite value is handled as any other.
        with backends.of(x).quiet():
            return self.xp.astype(x, self.call_dtype)

    def _value(self, f: Any) -> Array:
        xp, name, shape = self.xp, self.name, self.value_shape
        if type(f) is self._value_type and f.shape == shape and f.dtype == self.dtype:
            return f
        if isinstance(f, float) and not shape:  # a Python (or NumPy) float
            # A 0-d array of x's namespace and dtype (a NumPy float64 from np.sum) is
            # already what the solvers take (the namespace first: dtypes of two libraries
            # may warn when compared).
            value: Any = f
            if type(value) is not float and _by_type(value) and namespace(value) is xp:
                if value.dtype == self.dtype:
                    self._value_type = type(f)
                    return f
            return xp.asarray(f, dtype=self.dtype, device=self.device)
        if isinstance(f, bool) or not (
            isinstance(f, int | float) or array_api_compat.is_array_api_obj(f)
        ):
            raise TypeError(f"{name} must return a real scalar; got {type(f).__name__}")
        if array_api_compat.is_array_api_obj(f) and not isinstance(f, int | float):
            fxp = array_namespace(f)
            if not fxp.isdtype(f.dtype, ("real floating", "integral")):
                raise TypeError(f"{name} must return a real value; got dtype {f.dtype}")
            if fxp is not xp and f.ndim == 0:
                # A NumPy scalar (np.sum on a host copy, say) or another 0-d array is one
                # number, unambiguous whatever its namespace.
                f = float(f)
        if isinstance(f, int | float) or f.ndim == 0:
            if shape:
                rows = shape[0]
                raise ValueError(
                    f"{name} returned one value for {rows} row{'s' if rows != 1 else ''}: "
                    f"with vectorized=True it must return shape {shape}, a value per row "
                    "(reduce over the last axis only, e.g. xp.sum(x**2, axis=-1))"
                )
            if isinstance(f, int | float):
                return xp.asarray(f, dtype=self.dtype, device=self.device)
        self._check_namespace(f, name)
        if tuple(f.shape) not in (shape, (*shape, 1)):
            raise ValueError(
                f"{name} must return shape {shape} (a scalar per point); got shape {tuple(f.shape)}"
            )
        if _by_type(f) and tuple(f.shape) == shape:
            self._value_type = type(f)
        f = xp.reshape(f, shape)
        return f if f.dtype == self.dtype else xp.astype(f, self.dtype)

    def _grad(self, g: Any, x: Array) -> Array:
        xp = self.xp
        if type(g) is self._grad_type and g.shape == x.shape and g.dtype == self.dtype:
            return g
        if not array_api_compat.is_array_api_obj(g):
            if g is None or isinstance(g, bool | str | bytes):
                raise TypeError(f"the gradient must be an array; got {type(g).__name__}")
            try:
                g = xp.asarray(g, dtype=self.dtype, device=self.device)
            except Exception as exc:
                raise TypeError(f"the gradient must be an array; got {type(g).__name__}") from exc
        self._check_namespace(g, "the gradient")
        if g.shape != x.shape:
            raise ValueError(
                f"the gradient must have x's shape {tuple(x.shape)}; got {tuple(g.shape)}"
            )
        # Integers are exact values of a gradient (as a list of ints is, and as scipy takes
        # them); booleans and complex numbers are not.
        if not xp.isdtype(g.dtype, ("real floating", "signed integer", "unsigned integer")):
            raise TypeError(f"the gradient must be real; got dtype {g.dtype}")
        if _by_type(g):
            self._grad_type = type(g)
        return g if g.dtype == self.dtype else xp.astype(g, self.dtype)

    def _check_namespace(self, a: Array, what: str) -> None:
        if array_namespace(a) is not self.xp:
            verb = "is" if what == "the gradient" else "returned"
            raise TypeError(
                f"{what} {verb} a {type(a).__module__}.{type(a).__name__} for x in "
                f"{self.xp.__name__}; return arrays of x's own namespace (a Python float or "
                "0-d array is accepted for the value)"
            )

    def _finite_difference(self, x: Array, f0: Array) -> Array:
        """Forward (``2-point``) or central (``3-point``) differences, one coordinate at a time.

        Within the box (``lower``/``upper``): a forward step that would leave it goes
        backward; a central one with a side outside is one-sided on the other; where the
        box is narrower than the step, the step goes to the farther face; a coordinate
        of zero width gets 0.
        """
        xp = self.xp
        x = self._cast(x)  # step where fun is evaluated, so that each step is exact there
        central = self.jac == "3-point"
        rel = eps(x, xp=xp) ** (1.0 / 3.0 if central else 0.5)
        ax = xp.abs(x)
        one = xp.ones_like(x)
        h = rel * xp.where(x >= 0, one, -one) * xp.where(ax > 1.0, ax, one)
        h = (x + h) - x  # a step that is exactly representable at x
        n = x.shape[-1]
        lower, upper = self.lower, self.upper
        boxed = lower is not None or upper is not None

        def inside(z: Array) -> Array:
            ok = xp.ones(z.shape, dtype=xp.bool, device=self.device)
            if lower is not None:
                ok = ok & (z >= lower)
            if upper is not None:
                ok = ok & (z <= upper)
            return ok

        up_ok = down_ok = sides = None
        if boxed:
            with backends.of(x).quiet():
                # A box narrower there than the step fits it neither way: step to the
                # farther face instead (a coordinate of zero width gets a zero step).
                inf = xp.full_like(x, float("inf"))
                room_up = inf if upper is None else upper - x
                room_down = inf if lower is None else x - lower
                farther = xp.where(room_up >= room_down, room_up, -room_down)
                # (x may be the narrower call dtype: the step must be exact in it)
                farther = (x + xp.astype(farther, x.dtype)) - x
                fits = inside(x + h) | inside(x - h)
                h = xp.where(fits | ~inside(x + farther), h, farther)
                if central:
                    # The steps up and down that stay inside; 1 or 2 per coordinate.
                    up_ok, down_ok = inside(x + h), inside(x - h)
                    sides = xp.astype(up_ok, h.dtype) + xp.astype(down_ok, h.dtype)
                else:
                    h = xp.where(inside(x + h), h, -h)
                    up_ok = inside(x + h)
                    sides = xp.astype(up_ok, h.dtype)

        index = xp.arange(n, device=self.device)
        zero = xp.zeros_like(h)
        columns = []
        # Infinite values make NaN or infinite columns, which the solvers handle: the
        # arithmetic (never the calls of fun) runs without NumPy's warnings about them.
        # In a box, a side outside it is replaced by x itself (inside, and f(x) there).
        quiet = backends.of(x).quiet
        for i in range(n):
            mine = index == i
            with quiet():
                up = x + xp.where(mine if up_ok is None else mine & up_ok, h, zero)
            fp = self.value(up)
            fm = f0
            if central:
                with quiet():
                    down = x - xp.where(mine if down_ok is None else mine & down_ok, h, zero)
                fm = self.value(down)
            hi = xp.sum(xp.where(mine, h, zero), axis=-1)
            with quiet():
                if sides is None:
                    columns.append((fp - fm) / (2.0 * hi) if central else (fp - fm) / hi)
                else:
                    span = hi * xp.sum(xp.where(mine, sides, zero), axis=-1)
                    safe = xp.where(span == 0, xp.ones_like(span), span)
                    columns.append(xp.where(span == 0, xp.zeros_like(span), (fp - fm) / safe))
        self.njev += 1
        g = xp.stack(columns, axis=-1)
        return g if g.dtype == self.dtype else xp.astype(g, self.dtype)
