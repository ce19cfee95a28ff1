"""The user's objective as the solvers see it: ``x -> (f, grad f)``, counted and checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ._arrays import Array, eps

__all__ = ["FD_METHODS", "Objective"]

FD_METHODS = ("2-point", "3-point")


class Objective:
    """Wraps ``fun``/``jac`` into one callable returning ``(f, g)`` and counts the calls.

    ``nfev`` counts calls of ``fun`` (finite-difference ones included), ``njev`` the
    gradients computed (by ``jac`` or by differences). Each output is checked for its
    namespace and shape and brought to ``x``'s dtype, so a wrong return value fails at
    once with a message that names it. With ``call_dtype``, ``fun`` and ``jac`` are called
    on points cast to it (a narrow dtype the solver works above, see
    :func:`~rbo._validation.widened`), and finite differences step in it. ``name`` is
    what the messages call ``fun``: the name the user knows it by.
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
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable; got {type(fun).__name__}")
        if jac is False or jac is None:
            jac = "2-point"
        if not (callable(jac) or jac is True or jac in FD_METHODS):
            raise ValueError(
                f"jac must be a callable, True, None, '2-point' or '3-point'; got {jac!r}"
            )
        self.fun, self.jac, self.args = fun, jac, args
        self.name = name
        self.xp = array_namespace(like)
        self.dtype, self.device = like.dtype, device_of(like)
        self.call_dtype = None if call_dtype == like.dtype else call_dtype
        self.value_shape = tuple(like.shape[:-1])
        self.nfev = 0
        self.njev = 0

    def __call__(self, x: Array) -> tuple[Array, Array]:
        jac = self.jac
        if jac is True:
            out = self._call_fun(x)
            if not (isinstance(out, tuple | list) and len(out) == 2):
                what = "with jac=True, fun" if self.name == "fun" else self.name
                raise TypeError(
                    f"{what} must return a pair (value, gradient); got {type(out).__name__}"
                )
            self.njev += 1
            return self._value(out[0]), self._grad(out[1], x)
        f = self._value(self._call_fun(x))
        if callable(jac):
            self.njev += 1
            return f, self._grad(jac(self._cast(x), *self.args), x)
        return f, self._finite_difference(x, f)

    def value(self, x: Array) -> Array:
        """``f(x)`` alone (with ``jac=True`` the gradient is computed and dropped)."""
        out = self._call_fun(x)
        return self._value(out[0] if self.jac is True else out)

    def _call_fun(self, x: Array) -> Any:
        self.nfev += 1
        return self.fun(self._cast(x), *self.args)

    def _cast(self, x: Array) -> Array:
        return x if self.call_dtype is None else self.xp.astype(x, self.call_dtype)

    def _value(self, f: Any) -> Array:
        xp, name, shape = self.xp, self.name, self.value_shape
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
        f = xp.reshape(f, shape)
        return f if f.dtype == self.dtype else xp.astype(f, self.dtype)

    def _grad(self, g: Any, x: Array) -> Array:
        xp = self.xp
        if not array_api_compat.is_array_api_obj(g):
            try:
                g = xp.asarray(g, dtype=self.dtype, device=self.device)
            except Exception as exc:
                raise TypeError(f"the gradient must be an array; got {type(g).__name__}") from exc
        self._check_namespace(g, "the gradient")
        if g.shape != x.shape:
            raise ValueError(
                f"the gradient must have x's shape {tuple(x.shape)}; got {tuple(g.shape)}"
            )
        if not xp.isdtype(g.dtype, "real floating"):
            raise TypeError(f"the gradient must be real floating; got dtype {g.dtype}")
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
        """Forward (``2-point``) or central (``3-point``) differences, one coordinate at a time."""
        xp = self.xp
        x = self._cast(x)  # step where fun is evaluated, so that each step is exact there
        central = self.jac == "3-point"
        rel = eps(x, xp=xp) ** (1.0 / 3.0 if central else 0.5)
        ax = xp.abs(x)
        one = xp.ones_like(x)
        h = rel * xp.where(x >= 0, one, -one) * xp.where(ax > 1.0, ax, one)
        h = (x + h) - x  # a step that is exactly representable at x
        n = x.shape[-1]
        index = xp.arange(n, device=self.device)
        zero = xp.zeros_like(h)
        columns = []
        for i in range(n):
            e = xp.where(index == i, h, zero)
            hi = xp.sum(e, axis=-1)
            fp = self.value(x + e)
            if central:
                columns.append((fp - self.value(x - e)) / (2.0 * hi))
            else:
                columns.append((fp - f0) / hi)
        self.njev += 1
        g = xp.stack(columns, axis=-1)
        return g if g.dtype == self.dtype else xp.astype(g, self.dtype)
