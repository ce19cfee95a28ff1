"""Test landscapes with analytic gradients, for any array API namespace.

Every problem is a :class:`Problem`: ``problem.value_and_grad(x)`` maps ``x`` of shape
``(..., n)`` to the value ``f`` of shape ``(...)`` and the gradient ``g`` of shape
``(..., n)``, in the namespace, dtype and device of ``x`` (NumPy, array-api-strict, PyTorch,
CuPy, ...). Leading axes are a batch.

Fixed landscapes: ``quadratic``, ``rosenbrock``, ``rastrigin``, ``ackley``, ``griewank`` and
``levy`` (standard forms, boxes and minima). Parametrised ones are factories returning a
:class:`Problem`: ``weierstrass``, ``wrinkled_bowl``, ``riemann``, ``gaussian_wells`` and
``noisy_regression``. Objectives from the sciences, also factories: ``lennard_jones``
(registered as ``lj7``, ``lj13`` and ``lj38``, Lennard-Jones clusters with their known
global minima), ``sinusoids`` and ``gaussian_peaks`` (multimodal curve fits) and
``van_der_pol`` (a parameter fit through an RK4 simulation). ``PROBLEMS`` holds every
problem by name with default parameters; ``LANDSCAPES`` and ``SCIENCE`` name the two
groups; ``get(name, **kwargs)`` builds one with other parameters.

Examples
--------
>>> import numpy as np
>>> from rbo import problems
>>> f, g = problems.rastrigin.value_and_grad(np.zeros((4, 3)))
>>> f.shape, g.shape
((4,), (4, 3))
>>> float(problems.rosenbrock(np.array([1.0, 1.0, 1.0])))
0.0
>>> problems.rosenbrock.minimum(3)
([1.0, 1.0, 1.0], 0.0)
>>> bowl = problems.get("wrinkled_bowl", eps=0.5, omega=10.0)
>>> argmin, fmin = bowl.minimum(2)
>>> [round(t, 4) for t in argmin], round(fmin, 4)
([1.0976, 1.0976], -0.9903)
"""

import functools
import math
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, overload

import array_api_compat
from array_api_compat import array_namespace

__all__ = [
    "LANDSCAPES",
    "LJ_GLOBAL_MINIMA",
    "PROBLEMS",
    "SCIENCE",
    "Problem",
    "RegressionProblem",
    "ackley",
    "gaussian_peaks",
    "gaussian_wells",
    "get",
    "griewank",
    "lennard_jones",
    "levy",
    "noisy_regression",
    "quadratic",
    "rastrigin",
    "riemann",
    "rosenbrock",
    "sinusoids",
    "van_der_pol",
    "weierstrass",
    "wrinkled_bowl",
]

Array: TypeAlias = Any
ValueAndGrad: TypeAlias = Callable[[Array], tuple[Array, Array]]

_TAU = 2.0 * math.pi


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A test landscape: value with analytic gradient, search box and known minimum.

    Parameters
    ----------
    name : str
        Registry name, also used in error messages.
    value_and_grad : callable
        ``x -> (f, g)``: for ``x`` of shape ``(..., n)``, the value of shape ``(...)`` and
        the gradient of shape ``(..., n)``, in the namespace, dtype and device of ``x``.
    lower, upper : float
        The standard search box ``[lower, upper]**n``.
    fmin : float, callable or None
        Global minimum value; a callable ``n -> float`` where it depends on ``n``; None if
        unknown. :meth:`minimum` resolves both forms.
    argmin : callable or None
        ``n -> list[float]``, a global minimiser in dimension ``n``; None if unknown.
    ndim : int or None
        The dimension ``n`` when the problem has a fixed one.
    min_ndim : int
        The smallest ``n`` the problem is defined for.
    basin_radius : float or None
        Distance from ``argmin`` within which a point counts as having reached the global
        basin (for success rates); each problem's source says how it was chosen. None where
        no radius is meaningful.
    value_tol : float, callable or None
        Value gap ``f − f*`` within which a point counts as having reached the global
        minimum, where no radius is meaningful and the problem's own scale sets the rule (a
        callable ``n -> float`` where it depends on ``n``); None leaves the rule to the
        benchmark (a fraction of the typical gap, see :mod:`rbo._bench`).

    Examples
    --------
    >>> import numpy as np
    >>> from rbo.problems import Problem
    >>> def sphere(x):
    ...     return (x * x).sum(axis=-1), 2.0 * x
    >>> p = Problem(name="sphere", value_and_grad=sphere, lower=-1.0, upper=1.0,
    ...             fmin=0.0, argmin=lambda n: [0.0] * n)
    >>> float(p(np.array([1.0, 2.0])))
    5.0
    >>> p.jac(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> p.minimum(2)
    ([0.0, 0.0], 0.0)
    """

    name: str
    value_and_grad: ValueAndGrad
    lower: float
    upper: float
    fmin: float | Callable[[int], float] | None = None
    argmin: Callable[[int], list[float]] | None = None
    ndim: int | None = None
    min_ndim: int = 1
    basin_radius: float | None = None
    value_tol: float | Callable[[int], float] | None = None

    def __call__(self, x: Array) -> Array:
        """Value ``f(x)`` (computed with the gradient; call ``value_and_grad`` for both)."""
        return self.value_and_grad(x)[0]

    def jac(self, x: Array) -> Array:
        """Gradient ``∇f(x)``, of the shape of ``x``."""
        return self.value_and_grad(x)[1]

    def __reduce__(self) -> Any:
        # A registered problem pickles by name (its fields hold local functions); one
        # built otherwise pickles as a dataclass would, where its fields allow.
        if PROBLEMS.get(self.name) is self:
            return get, (self.name,)
        return super().__reduce__()

    def minimum(self, n: int) -> tuple[list[float] | None, float | None]:
        """Global minimiser (or None) and minimum value (or None) in dimension ``n``."""
        _check_n(self.name, n, self.ndim, self.min_ndim)
        fmin = self.fmin(n) if callable(self.fmin) else self.fmin
        return (None if self.argmin is None else self.argmin(n)), fmin


@dataclass(frozen=True, kw_only=True)
class RegressionProblem(Problem):
    """A :class:`Problem` fitted to data, which also records the data and true parameters.

    Parameters
    ----------
    true_params : tuple of float
        The parameters the clean data were generated with.
    t, y : tuple of float
        The sample abscissae and noisy observations.
    """

    true_params: tuple[float, ...]
    t: tuple[float, ...]
    y: tuple[float, ...]


def _check_n(name: str, n: int, ndim: int | None, min_ndim: int) -> None:
    if ndim is not None and n != ndim:
        raise ValueError(f"{name}: needs n = {ndim} coordinates, got n = {n}")
    if n < min_ndim:
        raise ValueError(f"{name}: needs n >= {min_ndim} coordinates, got n = {n}")


_P = TypeVar("_P", bound=Problem)
_Body: TypeAlias = Callable[[Array, Any], tuple[Array, Array]]


@overload
def _landscape(
    name: str, *, ndim: int | None = ..., min_ndim: int = ..., cls: type[_P], **fields: Any
) -> Callable[[_Body], _P]: ...
@overload
def _landscape(
    name: str, *, ndim: int | None = ..., min_ndim: int = ..., **fields: Any
) -> Callable[[_Body], Problem]: ...
def _landscape(
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int = 1,
    cls: type[Problem] = Problem,
    **fields: Any,
) -> Callable[[_Body], Problem]:
    """Decorator turning ``body(x, xp) -> (f, g)`` into a validated :class:`Problem`."""

    def build(body: Callable[[Array, Any], tuple[Array, Array]]) -> Problem:
        value_and_grad = _Evaluator(name, body, ndim, min_ndim)
        return cls(name=name, value_and_grad=value_and_grad, ndim=ndim, min_ndim=min_ndim, **fields)

    return build


class _Evaluator:
    """A landscape's ``value_and_grad``: ``x`` checked, then its body. The registered
    problems' evaluators (and the problems themselves) pickle by name, so that they run
    on worker processes (``rbo.multistart(..., workers=2)``)."""

    def __init__(
        self,
        name: str,
        body: Callable[[Array, Any], tuple[Array, Array]],
        ndim: int | None,
        min_ndim: int,
    ) -> None:
        self.name, self.body, self.ndim, self.min_ndim = name, body, ndim, min_ndim
        self.__name__ = self.__qualname__ = f"{name}_value_and_grad"
        self.__doc__ = body.__doc__

    def __call__(self, x: Array) -> tuple[Array, Array]:
        xp = array_namespace(x)
        if x.ndim == 0:
            raise ValueError(f"{self.name}: x must have shape (..., n), got a 0-d array")
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"{self.name}: x must have a real floating dtype, got {x.dtype}")
        _check_n(self.name, x.shape[-1], self.ndim, self.min_ndim)
        return self.body(x, xp)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        registered = PROBLEMS.get(self.name)
        if registered is None or registered.value_and_grad is not self:
            raise pickle.PicklingError(
                f"{self.name}: only the registered problem (rbo.problems.get({self.name!r})) "
                "pickles, by name; one built with other parameters does not"
            )
        return _registered_evaluator, (self.name,)


def _registered_evaluator(name: str) -> Any:
    return PROBLEMS[name].value_and_grad


def _asarray(xp: Any, values: Sequence, like: Array) -> Array:
    return xp.asarray(values, dtype=like.dtype, device=array_api_compat.device(like))


def _zeros(n: int) -> list[float]:
    return [0.0] * n


def _ones(n: int) -> list[float]:
    return [1.0] * n


def _cos_series(xp: Any, u: Any, terms: Sequence[tuple[float, float, float]]) -> tuple:
    """``Σ A cos(ω u + φ)`` and its derivative in ``u``, over ``terms`` of ``(A, ω, φ)``.

    ``xp`` is an array namespace, or the ``math`` module with ``u`` a float: the same code
    evaluates the landscape on arrays and its 1-D part in pure Python.
    """
    value = slope = 0.0
    for amp, freq, phase in terms:
        arg = freq * u + phase
        value = value + amp * xp.cos(arg)
        slope = slope - amp * freq * xp.sin(arg)
    return value, slope


# ---------------------------------------------------------------------------------------
# Pure-Python minimisation, run once per problem construction (no array library needed).


def _descend(
    fg: Callable[[list[float]], tuple[float, list[float]]],
    x: list[float],
    max_move: float,
    *,
    tol: float = 1e-13,
    max_iter: int = 2000,
) -> tuple[list[float], float]:
    """Local minimiser of ``fg`` from ``x``: gradient descent, Barzilai-Borwein steps, Armijo.

    Moves are capped at ``max_move`` so that the search stays in the basin it starts in.
    """
    f, g = fg(x)
    lr = math.inf
    for _ in range(max_iter):
        gnorm = math.hypot(*g)
        if gnorm <= tol:
            break
        lr = min(lr, max_move / gnorm)
        while True:
            y = [a - lr * b for a, b in zip(x, g, strict=True)]
            fy, gy = fg(y)
            if fy <= f - 1e-4 * lr * gnorm * gnorm:
                break
            lr *= 0.5
            if lr * gnorm <= 1e-15 * (1.0 + math.hypot(*x)):
                return x, f  # no decrease left that rounding can resolve: converged
        s = [a - b for a, b in zip(y, x, strict=True)]
        sd = sum(a * (b - c) for a, b, c in zip(s, gy, g, strict=True))
        lr = sum(a * a for a in s) / sd if sd > 0.0 else math.inf
        x, f, g = y, fy, gy
    return x, f


def _minimise_1d(
    h: Callable[[float], tuple[float, float]],
    lo: float,
    hi: float,
    step: float,
    curvature: float,
) -> tuple[float, float, float]:
    """Global minimiser ``t*`` of ``h(t) -> (value, slope)`` on ``[lo, hi]``, ``h(t*)``, radius.

    A grid of spacing ``step`` (a fraction of the shortest wiggle) is scanned. With
    ``|h''| <= curvature``, the grid point nearest the global minimiser lies at most
    ``curvature step² / 8`` above it, so only the grid's local minima that low are refined by
    descent; the lowest is kept. The radius is the distance from ``t*`` to the nearest local
    maximiser: under gradient flow the basin of ``t*`` ends there.
    """
    num = math.ceil((hi - lo) / step)
    ts = [lo + (hi - lo) * i / num for i in range(num + 1)]
    vs = [h(t)[0] for t in ts]

    def grid_extrema(sign: float) -> list[int]:
        return [
            i
            for i in range(1, num)
            if sign * vs[i] <= sign * vs[i - 1] and sign * vs[i] < sign * vs[i + 1]
        ]

    def refine(i: int, sign: float) -> float:
        def fg(z: list[float]) -> tuple[float, list[float]]:
            value, slope = h(z[0])
            return sign * value, [sign * slope]

        return _descend(fg, [ts[i]], step)[0][0]

    cutoff = min(vs) + curvature * step * step / 8.0
    candidates = [i for i in grid_extrema(1.0) if vs[i] <= cutoff]
    t_star = min((refine(i, 1.0) for i in candidates), key=lambda t: h(t)[0])
    maxima = grid_extrema(-1.0)
    left = [i for i in maxima if ts[i] < t_star]
    right = [i for i in maxima if ts[i] > t_star]
    nearest = left[-1:] + right[:1]
    radius = min((abs(refine(i, -1.0) - t_star) for i in nearest), default=math.inf)
    return t_star, h(t_star)[0], radius


# ---------------------------------------------------------------------------------------
# Fixed landscapes.


@_landscape(
    "quadratic", lower=-5.0, upper=5.0, fmin=0.0, argmin=_zeros, basin_radius=math.inf
)  # convex: the whole space is the basin
def quadratic(x: Array, xp: Any) -> tuple[Array, Array]:
    """Sphere ``½‖x‖²``, minimum 0 at 0."""
    # A new array, so that a caller may update the gradient in place without touching x.
    return 0.5 * xp.sum(x * x, axis=-1), x * 1.0


# For n >= 4 a second local minimum lies near (-1, 1, ..., 1), 1.99-2.10 away from the
# global one (measured for n = 4..100): the radius is half that distance, rounded down.
@_landscape(
    "rosenbrock", min_ndim=2, lower=-5.0, upper=10.0, fmin=0.0, argmin=_ones, basin_radius=0.99
)
def rosenbrock(x: Array, xp: Any) -> tuple[Array, Array]:
    """``Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²``, minimum 0 at 1."""
    a, b = x[..., :-1], x[..., 1:]
    d = b - a * a
    f = xp.sum(100.0 * d * d + (1.0 - a) ** 2, axis=-1)
    zero = xp.zeros_like(x[..., :1])
    # Term i depends on x_i and x_{i+1}: its two partial derivatives land one slot apart.
    g = xp.concat([-400.0 * a * d - 2.0 * (1.0 - a), zero], axis=-1) + xp.concat(
        [zero, 200.0 * d], axis=-1
    )
    return f, g


# Separable: the per-coordinate function's nearest local maxima are at ±0.50251.
@_landscape("rastrigin", lower=-5.12, upper=5.12, fmin=0.0, argmin=_zeros, basin_radius=0.5025)
def rastrigin(x: Array, xp: Any) -> tuple[Array, Array]:
    """``10n + Σ[x² − 10 cos 2πx]``, minimum 0 at 0."""
    f = 10.0 * x.shape[-1] + xp.sum(x * x - 10.0 * xp.cos(_TAU * x), axis=-1)
    return f, 2.0 * x + 10.0 * _TAU * xp.sin(_TAU * x)


# Nearest critical point off the minimum: along a coordinate axis, 0.6178 away at n = 3,
# farther for every other n (0.6731 at n = 1, 0.656 at n = 10, none below 1.5 from n = 30).
@_landscape("ackley", lower=-32.768, upper=32.768, fmin=0.0, argmin=_zeros, basin_radius=0.6)
def ackley(x: Array, xp: Any) -> tuple[Array, Array]:
    """``−20 exp(−0.2 √(Σx²/n)) − exp(Σ cos 2πx / n) + 20 + e``, minimum 0 at 0."""
    n = x.shape[-1]
    r = xp.sqrt(xp.sum(x * x, axis=-1) / n)
    e1 = xp.exp(-0.2 * r)
    e2 = xp.exp(xp.sum(xp.cos(_TAU * x), axis=-1) / n)
    f = 20.0 + math.e - 20.0 * e1 - e2
    # ∂r/∂x = x / (n r) is bounded but 0/0 at x = 0: divide by a safe r there (x is 0 too),
    # which gives the zero subgradient instead of NaN.
    safe_r = xp.where(r > 0.0, r, xp.ones_like(r))
    g = (4.0 / n) * xp.expand_dims(e1 / safe_r, axis=-1) * x + (_TAU / n) * xp.expand_dims(
        e2, axis=-1
    ) * xp.sin(_TAU * x)
    return f, g


# Nearest saddle: x_1 = π/2, x_2 = π/√2 (two cosines vanish), π√3/2 = 2.72 away. The basin
# boundary through it bends inwards: gradient flow escapes from 2.69 (n = 2..5), and the
# gradient points away from 0 everywhere within 2.6.
@_landscape("griewank", lower=-600.0, upper=600.0, fmin=0.0, argmin=_zeros, basin_radius=2.6)
def griewank(x: Array, xp: Any) -> tuple[Array, Array]:
    """``1 + Σx²/4000 − Π cos(x_i/√i)``, minimum 0 at 0."""
    root_i = xp.sqrt(
        xp.arange(1, x.shape[-1] + 1, dtype=x.dtype, device=array_api_compat.device(x))
    )
    u = x / root_i
    c = xp.cos(u)
    p = xp.prod(c, axis=-1)
    # Π_{i≠j} cos u_i = p / cos u_j, accurate to O(n eps): cos of a float is never exactly 0
    # (π/2 is not representable), so the O(n) quotient replaces n products.
    g = x / 2000.0 + xp.sin(u) / root_i * (xp.expand_dims(p, axis=-1) / c)
    return 1.0 + xp.sum(x * x, axis=-1) / 4000.0 - p, g


# Separable in w = 1 + (x - 1)/4 with three per-coordinate functions (first, middle, last);
# the nearest local maximum of any of them is the middle one's, 0.8518 from x = 1.
@_landscape("levy", lower=-10.0, upper=10.0, fmin=0.0, argmin=_ones, basin_radius=0.85)
def levy(x: Array, xp: Any) -> tuple[Array, Array]:
    """``sin²(πw₁) + Σ_{i<n}(wᵢ−1)²[1+10 sin²(πwᵢ+1)] + (wₙ−1)²[1+sin²(2πwₙ)]``, min 0 at 1."""
    n = x.shape[-1]
    w = 1.0 + (x - 1.0) / 4.0
    index = xp.arange(n, device=array_api_compat.device(x))
    is_last = index == n - 1
    s_mid, s_two = xp.sin(math.pi * w + 1.0), xp.sin(_TAU * w)
    # Coordinate i carries (wᵢ − 1)² times a wiggle factor: the middle one for i < n, the
    # last one for i = n; choosing per coordinate keeps n = 1 right with no slicing.
    factor = xp.where(is_last, 1.0 + s_two * s_two, 1.0 + 10.0 * s_mid * s_mid)
    dfactor = xp.where(
        is_last, _TAU * xp.sin(2.0 * _TAU * w), 10.0 * math.pi * xp.sin(2.0 * math.pi * w + 2.0)
    )
    wm1 = w - 1.0
    head = xp.sin(math.pi * w[..., 0])
    f = head * head + xp.sum(wm1 * wm1 * factor, axis=-1)
    dhead = xp.where(index == 0, math.pi * s_two, xp.zeros_like(w))
    return f, (2.0 * wm1 * factor + wm1 * wm1 * dfactor + dhead) / 4.0


# ---------------------------------------------------------------------------------------
# Parametrised landscapes.


def weierstrass(a: float = 0.5, b: int = 3, k_max: int = 20) -> Problem:
    """Weierstrass function, CEC form, minimum 0 at 0 on ``[-0.5, 0.5]^n``.

    ``Σᵢ Σ_{k=0}^{k_max} aᵏ cos(2π bᵏ (xᵢ + 0.5)) − n Σₖ aᵏ cos(π bᵏ)``.

    Parameters
    ----------
    a : float
        Amplitude ratio, in (0, 1).
    b : int
        Frequency ratio, an odd integer, so that every ``cos(π bᵏ) = −1`` and each term is
        non-negative with its minimum at 0.
    k_max : int
        Last term. At the standard 20 its frequencies reach ``2π 3²⁰ ≈ 2e10``: float32 cannot
        resolve them (its values are then only accurate to about 1e-3), and finite differences
        cannot check its gradient in float64.
    """
    if not 0.0 < a < 1.0 or b < 1 or b % 2 != 1 or k_max < 0:
        raise ValueError("weierstrass: needs 0 < a < 1, an odd integer b >= 1 and k_max >= 0")
    terms = [(a**k, _TAU * b**k, 0.0) for k in range(k_max + 1)]
    # The per-coordinate value at x = 0, computed with the same floating-point arguments as
    # the arrays use, so that f(0) is 0 to rounding.
    offset = _cos_series(math, 0.5, terms)[0]

    # Its highest term puts local minima about 3^-20 apart: no radius is a meaningful basin;
    # judge success by value instead.
    @_landscape("weierstrass", lower=-0.5, upper=0.5, fmin=0.0, argmin=_zeros)
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        value, slope = _cos_series(xp, x + 0.5, terms)
        return xp.sum(value, axis=-1) - x.shape[-1] * offset, slope

    return problem


def wrinkled_bowl(eps: float = 0.05, omega: float = 25.0) -> Problem:
    """Wrinkled bowl ``½‖x − 1‖² + ε Σ sin(ω xᵢ)``: a bowl plus a bounded perturbation.

    With ``|ε| ω > 1`` the wrinkles' slope beats the bowl's near its centre, so gradient
    descent stops in one of many local minima (about ``|ε|ω²/π`` per coordinate: 10 with
    the defaults, whose minimum for ``n = 10`` is about −0.484). The
    problem is separable: its global minimiser is ``t*`` in every coordinate, the global
    minimiser of ``h(t) = ½(t − 1)² + ε sin(ω t)`` (near 1, not at 1), found at construction
    by a grid and descent in pure Python; ``fmin = n h(t*)``.

    Parameters
    ----------
    eps : float
        Wrinkle amplitude.
    omega : float
        Wrinkle angular frequency, positive.
    """
    if not omega > 0.0:
        raise ValueError(f"wrinkled_bowl: omega must be positive, got {omega}")
    terms = [(eps, omega, -0.5 * math.pi)]  # ε sin(ω t) = ε cos(ω t − π/2)

    def h(t: float) -> tuple[float, float]:
        value, slope = _cos_series(math, t, terms)
        return 0.5 * (t - 1.0) ** 2 + value, (t - 1.0) + slope

    # |h'(t)| >= |t − 1| − |ε|ω: every critical point lies within |ε|ω of 1.
    reach = abs(eps) * omega + 1.0
    t_star, h_star, radius = _minimise_1d(
        h, 1.0 - reach, 1.0 + reach, _TAU / omega / 32, curvature=1.0 + abs(eps) * omega**2
    )

    # Separable: the ball of radius "distance to the nearest 1-D local maximum" lies in the
    # product of the 1-D basins, i.e. in the global basin.
    @_landscape(
        "wrinkled_bowl",
        lower=-5.0,
        upper=5.0,
        fmin=lambda n: n * h_star,
        argmin=lambda n: [t_star] * n,
        basin_radius=radius,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        value, slope = _cos_series(xp, x, terms)
        u = x - 1.0
        return xp.sum(0.5 * u * u + value, axis=-1), u + slope

    return problem


def riemann(n_terms: int = 10) -> Problem:
    """Riemann's ("Weierstrass-like") function ``Σᵢ Σ_{k=1}^{N} sin(k² xᵢ) / k²``.

    Its gradient is ``Σₖ cos(k² xᵢ)`` per coordinate. Each coordinate is 2π-periodic, so
    ``argmin`` returns the global minimiser in ``[−π, π]`` (every shift by 2π is another);
    it is found at construction by a grid and descent in pure Python
    (cost grows as ``N³``); ``fmin = n h(t*)``.

    Parameters
    ----------
    n_terms : int
        Number of terms ``N``, at least 1.
    """
    if n_terms < 1:
        raise ValueError(f"riemann: n_terms must be at least 1, got {n_terms}")
    terms = [(1.0 / k**2, float(k**2), -0.5 * math.pi) for k in range(1, n_terms + 1)]

    def h(t: float) -> tuple[float, float]:
        return _cos_series(math, t, terms)

    # Two periods, so that a minimiser near ±π has its neighbouring local maxima on the grid.
    t_star, h_star, radius = _minimise_1d(
        h,
        -2.0 * math.pi,
        2.0 * math.pi,
        _TAU / n_terms**2 / 16,
        curvature=sum(k * k for k in range(1, n_terms + 1)),
    )
    t_star = math.remainder(t_star, _TAU)

    # Separable, as for the wrinkled bowl: the nearest 1-D local maximum bounds the basin.
    @_landscape(
        "riemann",
        lower=-math.pi,
        upper=math.pi,
        fmin=lambda n: n * h_star,
        argmin=lambda n: [t_star] * n,
        basin_radius=radius,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        value, slope = _cos_series(xp, x, terms)
        return xp.sum(value, axis=-1), slope

    return problem


def gaussian_wells(n_wells: int = 10, sigma: float = 0.1, seed: int = 0) -> Problem:
    """Gaussian wells in a bowl, ``‖x‖² − Σᵢ exp(−‖x − mᵢ‖² / (2σ²))``, on ``[-3, 3]²``.

    The centres ``mᵢ`` are drawn uniformly from ``[-3, 3]²`` with ``random.Random(seed)``.
    The global minimum is found at construction: every local minimum lies in a well
    (which holds one while the bowl's slope ``2‖m‖`` stays below the well's ``e^{-1/2}/σ``)
    or in the bowl's own basin, so descents started at each centre and at the origin reach
    them all; the lowest is kept.

    Parameters
    ----------
    n_wells : int
        Number of wells, at least 1.
    sigma : float
        Well width, positive.
    seed : int
        Seed of the centres.
    """
    if n_wells < 1 or not sigma > 0.0:
        raise ValueError("gaussian_wells: needs n_wells >= 1 and sigma > 0")
    rng = random.Random(seed)
    centres = [(rng.uniform(-3.0, 3.0), rng.uniform(-3.0, 3.0)) for _ in range(n_wells)]
    inv_var = 1.0 / sigma**2

    def fg(p: list[float]) -> tuple[float, list[float]]:
        x0, x1 = p
        f, g0, g1 = x0 * x0 + x1 * x1, 2.0 * x0, 2.0 * x1
        for m0, m1 in centres:
            d0, d1 = x0 - m0, x1 - m1
            e = math.exp(-0.5 * (d0 * d0 + d1 * d1) * inv_var)
            f, g0, g1 = f - e, g0 + e * d0 * inv_var, g1 + e * d1 * inv_var
        return f, [g0, g1]

    minima = [_descend(fg, [m0, m1], sigma) for m0, m1 in [(0.0, 0.0), *centres]]
    best, fbest = min(minima, key=lambda m: m[1])
    others = [math.dist(best, m) for m, _ in minima if math.dist(best, m) > 1e-6]
    # Half the distance to the nearest other local minimum, and no more than σ when the
    # minimum sits in a well: a well's curvature changes sign σ from its centre, beyond
    # which the bowl can pull a point out.
    in_well = min(math.dist(best, m) for m in centres) < 2.0 * sigma
    radius = min([0.5 * d for d in others] + ([sigma] if in_well else []), default=math.inf)

    @_landscape(
        "gaussian_wells",
        ndim=2,
        lower=-3.0,
        upper=3.0,
        fmin=fbest,
        argmin=lambda n: list(best),
        basin_radius=radius,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        d = xp.expand_dims(x, axis=-2) - _asarray(xp, centres, x)  # (..., n_wells, 2)
        e = xp.exp(-0.5 * inv_var * xp.sum(d * d, axis=-1))
        f = xp.sum(x * x, axis=-1) - xp.sum(e, axis=-1)
        g = 2.0 * x + inv_var * xp.sum(xp.expand_dims(e, axis=-1) * d, axis=-2)
        return f, g

    return problem


def noisy_regression(
    n_samples: int = 50,
    noise: float = 0.1,
    seed: int = 0,
    true_params: tuple[float, float] = (2.0, 1.5),
) -> RegressionProblem:
    """Fit ``θ₂ sin(θ₁ t)`` to noisy samples: mean squared residual over ``θ = (θ₁, θ₂)``.

    The samples are ``yⱼ = θ*₂ sin(θ*₁ tⱼ) + noise·N(0, 1)`` at ``n_samples`` equally spaced
    ``tⱼ`` in ``[0, 2π]``, drawn with ``random.Random(seed)``. The loss is multimodal in the
    frequency θ₁. The noise moves the minimiser off ``true_params`` by an amount known only
    statistically, so ``fmin`` and ``argmin`` are None.

    Parameters
    ----------
    n_samples : int
        Number of samples, at least 2.
    noise : float
        Standard deviation of the Gaussian noise.
    seed : int
        Seed of the noise.
    true_params : tuple of float
        ``(θ*₁, θ*₂)``, frequency and amplitude.
    """
    if n_samples < 2:
        raise ValueError(f"noisy_regression: n_samples must be at least 2, got {n_samples}")
    rng = random.Random(seed)
    freq, amp = true_params
    t = tuple(_TAU * j / (n_samples - 1) for j in range(n_samples))
    y = tuple(amp * math.sin(freq * tj) + rng.gauss(0.0, noise) for tj in t)

    @_landscape(
        "noisy_regression",
        ndim=2,
        cls=RegressionProblem,
        lower=0.0,
        upper=5.0,
        true_params=(float(freq), float(amp)),
        t=t,
        y=y,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        # The samples travel to x's device and dtype on every call: simple, and small.
        tt, yy = _asarray(xp, t, x), _asarray(xp, y, x)
        a, b = x[..., 0:1], x[..., 1:2]  # frequency and amplitude, kept as (..., 1)
        s, c = xp.sin(a * tt), xp.cos(a * tt)
        r = b * s - yy
        g = xp.stack(
            [xp.mean(2.0 * r * b * tt * c, axis=-1), xp.mean(2.0 * r * s, axis=-1)], axis=-1
        )
        return xp.mean(r * r, axis=-1), g

    return problem


# ---------------------------------------------------------------------------------------
# Scientific objectives.

#: Global minimum energies of Lennard-Jones clusters in reduced units, from the Cambridge
#: Cluster Database (Wales and Doye, J. Phys. Chem. A 101, 5111 (1997)); 6 decimals.
LJ_GLOBAL_MINIMA = {7: -16.505384, 13: -44.326801, 38: -173.928427}

# Pair distances below this (r² < 1e-4: a pair energy of 4·10²⁴) continue the pair
# potential linearly in r², so that values stay finite even in float32 and coincident
# atoms still repel; no configuration a minimiser visits comes near.
_LJ_R2_FLOOR = 1e-4


def _lj_pair(r2: Any, xp: Any) -> tuple[Any, Any]:
    """Pair energy ``4(r⁻¹² − r⁻⁶)`` and its derivative in ``r²``, linear below the floor."""
    r2c = xp.maximum(r2, _LJ_R2_FLOOR * xp.ones_like(r2))
    s6 = 1.0 / (r2c * r2c * r2c)
    dphi = -12.0 * (2.0 * s6 * s6 - s6) / r2c
    return 4.0 * (s6 * s6 - s6) + dphi * (r2 - r2c), dphi


def _lj_energy_python(pos: list[list[float]]) -> tuple[float, list[list[float]]]:
    """Energy and per-atom gradient of a cluster, in pure Python (for its construction)."""
    e = 0.0
    grad = [[0.0, 0.0, 0.0] for _ in pos]
    for i, p in enumerate(pos):
        for j in range(i):
            d = [a - b for a, b in zip(p, pos[j], strict=True)]
            r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
            s6 = 1.0 / (r2 * r2 * r2)
            e += 4.0 * (s6 * s6 - s6)
            c = -24.0 * (2.0 * s6 * s6 - s6) / r2  # 2 dφ/dr²
            for k in range(3):
                grad[i][k] += c * d[k]
                grad[j][k] -= c * d[k]
    return e, grad


def _lj_seed(n_atoms: int) -> tuple[list[list[list[float]]], list[float]]:
    """The global minimum's symmetric structure: position vectors ``B_k`` (atoms × 3) with
    positions ``Σ p_k B_k``, and starting parameters ``p`` (nearest neighbours near 2^⅙).

    Only the parameters that the point group leaves free are kept: each orbit of atoms
    moves along the displacements its site symmetry fixes, so a stationary point in ``p``
    is one of the full energy (the gradient of a symmetric configuration is symmetric).
    """
    basis: list[list[list[float]]]
    if n_atoms == 7:  # pentagonal bipyramid, D5h: apex height h, ring radius r
        ring = [[math.cos(_TAU * k / 5), math.sin(_TAU * k / 5), 0.0] for k in range(5)]
        zeros = [[0.0, 0.0, 0.0]] * 5
        basis = [[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], *zeros], [[0.0] * 3, [0.0] * 3, *ring]]
        return basis, [0.59, 0.95]
    if n_atoms == 13:  # centred icosahedron, Ih: vertex distance ρ
        phi = 0.5 * (1.0 + math.sqrt(5.0))
        norm = math.hypot(1.0, phi)
        vertices = []
        for s1 in (1.0, -1.0):
            for s2 in (phi, -phi):
                for k in range(3):  # the cyclic permutations of (0, ±1, ±φ)
                    v = [0.0, s1 / norm, s2 / norm]
                    vertices.append(v[3 - k :] + v[: 3 - k])
        return [[[0.0, 0.0, 0.0], *vertices]], [1.1]
    if n_atoms == 38:  # fcc truncated octahedron, Oh: the sites (i, j, k), i + j + k odd,
        # of the cubic lattice nearest its centre: 6 at (1,0,0), 8 at (1,1,1) and 24 at
        # (2,1,0), in every permutation and sign; the last orbit has two free parameters.
        axes = [[1.0 if k == i else 0.0 for k in range(3)] for i in range(3)]
        zero = [0.0, 0.0, 0.0]
        b_oct, b_cube, b_long, b_short = [], [], [], []
        for i in range(3):
            for s in (1.0, -1.0):
                b_oct.append([s * a for a in axes[i]])
        for sx in (1.0, -1.0):
            for sy in (1.0, -1.0):
                for sz in (1.0, -1.0):
                    b_cube.append([sx, sy, sz])
        for i in range(3):
            for j in range(3):
                if i != j:
                    for si in (1.0, -1.0):
                        for sj in (1.0, -1.0):
                            b_long.append([si * a for a in axes[i]])
                            b_short.append([sj * a for a in axes[j]])
        n6, n8, n24 = [zero] * 6, [zero] * 8, [zero] * 24
        basis = [
            [*b_oct, *n8, *n24],
            [*n6, *b_cube, *n24],
            [*n6, *n8, *b_long],
            [*n6, *n8, *b_short],
        ]
        u = 2.0 ** (1.0 / 6.0) / math.sqrt(2.0)  # lattice unit with neighbours √2 apart
        return basis, [u, u, 2.0 * u, u]
    raise ValueError(f"no known structure for {n_atoms} atoms")


@functools.cache
def _lj_global_minimum(n_atoms: int) -> tuple[tuple[float, ...], float]:
    """Relaxed global minimiser (flattened coordinates) and its energy, by descent in the
    symmetric parameters from :func:`_lj_seed` (pure Python, once per process)."""
    basis, p0 = _lj_seed(n_atoms)

    def positions(p: list[float]) -> list[list[float]]:
        return [
            [sum(pk * b[atom][k] for pk, b in zip(p, basis, strict=True)) for k in range(3)]
            for atom in range(n_atoms)
        ]

    def fg(p: list[float]) -> tuple[float, list[float]]:
        e, grad = _lj_energy_python(positions(p))
        return e, [
            sum(g[k] * b[atom][k] for atom, g in enumerate(grad) for k in range(3)) for b in basis
        ]

    p, e = _descend(fg, p0, 0.02, tol=1e-12)
    p, e = _newton_polish(fg, p)
    return tuple(c for atom in positions(p) for c in atom), e


def _newton_polish(
    fg: Callable[[list[float]], tuple[float, list[float]]], p: list[float], iters: int = 4
) -> tuple[list[float], float]:
    """Newton steps on the gradient of ``fg`` (Hessian by central differences), which
    descent leaves short of rounding level where the curvatures differ widely; a step is
    kept only while it shrinks the gradient."""
    f, g = fg(p)
    k = len(p)
    for _ in range(iters):
        h = 1e-5
        cols = []
        for j in range(k):
            up = fg([v + h * (i == j) for i, v in enumerate(p)])[1]
            down = fg([v - h * (i == j) for i, v in enumerate(p)])[1]
            cols.append([(a - b) / (2.0 * h) for a, b in zip(up, down, strict=True)])
        # Solve H s = −g by Gaussian elimination with partial pivoting (H is k × k).
        a = [[cols[j][i] for j in range(k)] + [-g[i]] for i in range(k)]
        for c in range(k):
            piv = max(range(c, k), key=lambda r: abs(a[r][c]))
            a[c], a[piv] = a[piv], a[c]
            for r in range(c + 1, k):
                ratio = a[r][c] / a[c][c]
                a[r] = [x - ratio * y for x, y in zip(a[r], a[c], strict=True)]
        s = [0.0] * k
        for c in reversed(range(k)):
            s[c] = (a[c][k] - sum(a[c][j] * s[j] for j in range(c + 1, k))) / a[c][c]
        q = [v + d for v, d in zip(p, s, strict=True)]
        fq, gq = fg(q)
        if math.hypot(*gq) >= math.hypot(*g):
            break
        p, f, g = q, fq, gq
    return p, f


def lennard_jones(n_atoms: int = 13) -> Problem:
    """Energy of a cluster of ``n_atoms`` Lennard-Jones atoms, ``Σ_{i<j} 4(r_ij⁻¹² − r_ij⁻⁶)``.

    Reduced units (ε = σ = 1); ``x`` holds the coordinates ``(x₁, y₁, z₁, x₂, ...)``, so
    ``n = 3 n_atoms``. The classic hard test of global optimisation: the number of local
    minima grows exponentially with the size, and LJ38's global minimum (a truncated
    octahedron) sits at the bottom of a narrow funnel apart from the icosahedral minima.

    The known global minima (from the Cambridge Cluster Database, :data:`LJ_GLOBAL_MINIMA`)
    are rebuilt at first use: the symmetric structure (pentagonal bipyramid for 7 atoms,
    icosahedron for 13, truncated octahedron for 38) is relaxed in the parameters its point
    group leaves free; ``fmin`` is its energy, equal to the database's value to its six
    decimals. Every rotation, translation and relabelling of ``argmin`` is as low, so
    success is judged by value: ``f − f* ≤ 10⁻³ |f*|``, a fraction of the gap to the
    second-lowest minimum (0.57 for LJ7, 2.9 for LJ13 and 0.68 for LJ38).

    The box is ``[−L, L]^n`` with ``(2L)³ = 2 n_atoms``: uniform starts fill a cube at the
    reduced density 0.5 of a dilute liquid. Below ``r = 0.01`` a pair's energy continues
    linearly in ``r²``, so that values stay finite.

    Parameters
    ----------
    n_atoms : int
        Number of atoms, at least 2; the minimum is known for 7, 13 and 38.
    """
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, int) or n_atoms < 2:
        raise ValueError(f"lennard_jones: n_atoms must be an integer >= 2, got {n_atoms!r}")
    half = 0.5 * (2.0 * n_atoms) ** (1.0 / 3.0)
    known = n_atoms in LJ_GLOBAL_MINIMA
    name = f"lj{n_atoms}"

    @_landscape(
        name,
        ndim=3 * n_atoms,
        lower=-half,
        upper=half,
        fmin=(lambda n: _lj_global_minimum(n_atoms)[1]) if known else None,
        argmin=(lambda n: list(_lj_global_minimum(n_atoms)[0])) if known else None,
        value_tol=1e-3 * abs(LJ_GLOBAL_MINIMA[n_atoms]) if known else None,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        pos = xp.reshape(x, (*x.shape[:-1], n_atoms, 3))
        d = xp.expand_dims(pos, axis=-2) - xp.expand_dims(pos, axis=-3)  # (..., N, N, 3)
        r2 = xp.sum(d * d, axis=-1)
        # Every pair appears twice and each atom once with itself: mask the diagonal.
        off = 1.0 - xp.eye(n_atoms, dtype=x.dtype, device=array_api_compat.device(x))
        phi, dphi = _lj_pair(r2 + (1.0 - off), xp)
        f = 0.5 * xp.sum(xp.sum(off * phi, axis=-1), axis=-1)
        g = xp.sum(xp.expand_dims(2.0 * off * dphi, axis=-1) * d, axis=-2)
        return f, xp.reshape(g, x.shape)

    return problem


def _noisy_samples(
    model: Callable[[float], float], t: Sequence[float], noise: float, seed: int
) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(model(tj) + rng.gauss(0.0, noise) for tj in t)


def sinusoids(
    n_samples: int = 100,
    duration: float = 10.0,
    noise: float = 0.1,
    seed: int = 0,
    true_params: Sequence[float] = (1.1, 1.0, 0.5, 1.9, -0.8, 0.6, 2.7, 0.3, -1.0),
) -> RegressionProblem:
    """Fit a sum of ``K`` sinusoids ``Σₖ aₖ cos(ωₖ t) + bₖ sin(ωₖ t)`` to noisy samples.

    The classic multimodal fit of spectral estimation: the mean squared residual is a
    quadratic in the amplitudes but has a local minimum roughly every ``2π / duration`` in
    each frequency. ``θ = (ω₁, a₁, b₁, ..., ω_K, a_K, b_K)``, ``n = 3K``, in the box
    ``[−4, 4]^n``. The samples are ``yⱼ = model(θ*, tⱼ) + noise·N(0, 1)`` at ``n_samples``
    equally spaced ``tⱼ`` in ``[0, duration]``, drawn with ``random.Random(seed)``. Relabelling
    the sinusoids, or flipping the sign of a frequency with its ``b``, leaves the loss
    unchanged; the noise moves the minimum off ``θ*``, so ``fmin`` and ``argmin`` are None
    (the benchmark computes a reference minimum).

    Parameters
    ----------
    n_samples : int
        Number of samples, at least 2.
    duration : float
        Length of the sampled interval, positive.
    noise : float
        Standard deviation of the Gaussian noise.
    seed : int
        Seed of the noise.
    true_params : sequence of float
        ``θ*``, three numbers per sinusoid.
    """
    if n_samples < 2 or not duration > 0.0:
        raise ValueError("sinusoids: needs n_samples >= 2 and duration > 0")
    theta = tuple(float(v) for v in true_params)
    if not theta or len(theta) % 3:
        raise ValueError(f"sinusoids: true_params needs 3 numbers per sinusoid, got {len(theta)}")
    k_waves = len(theta) // 3
    waves = [theta[3 * k : 3 * k + 3] for k in range(k_waves)]
    t = tuple(duration * j / (n_samples - 1) for j in range(n_samples))

    def clean(tj: float) -> float:
        return sum(a * math.cos(w * tj) + b * math.sin(w * tj) for w, a, b in waves)

    y = _noisy_samples(clean, t, noise, seed)

    @_landscape(
        "sinusoids",
        ndim=3 * k_waves,
        cls=RegressionProblem,
        lower=-4.0,
        upper=4.0,
        true_params=theta,
        t=t,
        y=y,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        tt, yy = _asarray(xp, t, x), _asarray(xp, y, x)
        p = xp.reshape(x, (*x.shape[:-1], k_waves, 3))
        w, a, b = p[..., 0:1], p[..., 1:2], p[..., 2:3]  # (..., K, 1)
        c, s = xp.cos(w * tt), xp.sin(w * tt)  # (..., K, samples)
        r = xp.sum(a * c + b * s, axis=-2) - yy
        two_r = xp.expand_dims(2.0 * r, axis=-2)
        g = xp.stack(
            [
                xp.mean(two_r * tt * (b * c - a * s), axis=-1),
                xp.mean(two_r * c, axis=-1),
                xp.mean(two_r * s, axis=-1),
            ],
            axis=-1,
        )
        return xp.mean(r * r, axis=-1), xp.reshape(g, x.shape)

    return problem


def gaussian_peaks(
    n_samples: int = 200,
    noise: float = 0.1,
    seed: int = 0,
    true_params: Sequence[float] = (2.0, 2.0, 3.0, 4.5, 1.0, 2.0, 7.5, 3.0, 4.0),
) -> RegressionProblem:
    """Fit ``K`` Gaussian peaks ``Σₖ hₖ exp(−½ (sₖ (t − cₖ))²)`` to a noisy spectrum.

    Peak fitting as in spectroscopy and chromatography: ``θ = (c₁, s₁, h₁, ...)`` holds each
    peak's centre, inverse width and height, ``n = 3K``, in the box ``[0, 10]^n``, over
    ``n_samples`` equally spaced ``t`` in ``[0, 10]``. Its local minima put two model peaks
    on one true peak, or a peak far from the data where its gradient vanishes. The samples
    are ``model(θ*, tⱼ) + noise·N(0, 1)``, drawn with ``random.Random(seed)``; relabelling
    the peaks leaves the loss unchanged; ``fmin`` and ``argmin`` are None, as for
    :func:`sinusoids`.

    Parameters
    ----------
    n_samples : int
        Number of samples, at least 2.
    noise : float
        Standard deviation of the Gaussian noise.
    seed : int
        Seed of the noise.
    true_params : sequence of float
        ``θ*``, three numbers per peak.
    """
    if n_samples < 2:
        raise ValueError(f"gaussian_peaks: n_samples must be at least 2, got {n_samples}")
    theta = tuple(float(v) for v in true_params)
    if not theta or len(theta) % 3:
        raise ValueError(f"gaussian_peaks: true_params needs 3 numbers per peak, got {len(theta)}")
    k_peaks = len(theta) // 3
    peaks = [theta[3 * k : 3 * k + 3] for k in range(k_peaks)]
    t = tuple(10.0 * j / (n_samples - 1) for j in range(n_samples))

    def clean(tj: float) -> float:
        return sum(h * math.exp(-0.5 * (s * (tj - c)) ** 2) for c, s, h in peaks)

    y = _noisy_samples(clean, t, noise, seed)

    @_landscape(
        "gaussian_peaks",
        ndim=3 * k_peaks,
        cls=RegressionProblem,
        lower=0.0,
        upper=10.0,
        true_params=theta,
        t=t,
        y=y,
    )
    def problem(x: Array, xp: Any) -> tuple[Array, Array]:
        tt, yy = _asarray(xp, t, x), _asarray(xp, y, x)
        p = xp.reshape(x, (*x.shape[:-1], k_peaks, 3))
        c, s, h = p[..., 0:1], p[..., 1:2], p[..., 2:3]  # (..., K, 1)
        dt = tt - c
        u = s * dt
        e = xp.exp(-0.5 * u * u)  # (..., K, samples)
        r = xp.sum(h * e, axis=-2) - yy
        two_r_e = xp.expand_dims(2.0 * r, axis=-2) * e
        two_r_he_u = two_r_e * h * u
        g = xp.stack(
            [
                xp.mean(two_r_he_u * s, axis=-1),
                xp.mean(-two_r_he_u * dt, axis=-1),
                xp.mean(two_r_e, axis=-1),
            ],
            axis=-1,
        )
        return xp.mean(r * r, axis=-1), xp.reshape(g, x.shape)

    return problem


# Where the RK4 map is unstable (large ω or μ, beyond the box) the simulated state is held
# at ±100 after each step, so that it cannot overflow; the record stays within ±3.
_VDP_WALL = 100.0


def van_der_pol(
    duration: float = 20.0,
    step: float = 0.2,
    noise: float = 0.2,
    seed: int = 0,
    true_params: tuple[float, float] = (2.0, 1.0),
) -> RegressionProblem:
    """Fit the van der Pol oscillator ``ẍ = μ(1 − x²)ẋ − ω²x`` to a noisy simulated record.

    A parameter fit through a simulation: ``θ = (ω, μ)`` in the box ``[0, 4]²``; the model
    is the classical Runge-Kutta (RK4) map with a fixed ``step``, integrated from
    ``(x, ẋ) = (2, 0)`` over ``[0, duration]``, and its gradient is that of the discrete map
    (forward sensitivities through every stage), exact to rounding. The record is the
    simulated ``x`` at every step for ``θ* = true_params``, plus ``noise·N(0, 1)`` drawn
    with ``random.Random(seed)``; the loss is the mean squared residual. The oscillation
    slips by whole periods as ``ω`` moves, so the loss has a local minimum at nearly every
    period count, roughened by the noise; ``fmin`` and ``argmin`` are None (the noise moves
    the minimum; the benchmark computes a reference). Where the RK4 map is unstable (far
    outside the box) the state is clipped to ``±100`` after each step, and the gradient is
    that of the clipped map.

    Parameters
    ----------
    duration : float
        Length of the record, a positive multiple of ``step``.
    step : float
        RK4 step, positive.
    noise : float
        Standard deviation of the observation noise.
    seed : int
        Seed of the noise.
    true_params : tuple of float
        ``(ω*, μ*)``.
    """
    if not (step > 0.0 and duration > 0.0):
        raise ValueError("van_der_pol: needs step > 0 and duration > 0")
    steps = round(duration / step)
    if steps < 1 or abs(steps * step - duration) > 1e-9 * duration:
        raise ValueError(f"van_der_pol: duration must be a multiple of step, got {duration}")
    omega, mu = (float(v) for v in true_params)
    x_init, v_init = 2.0, 0.0
    half = 0.5 * step

    def clean_record() -> list[float]:
        def rhs(x: float, v: float) -> tuple[float, float]:
            return v, mu * (1.0 - x * x) * v - omega * omega * x

        x, v = x_init, v_init
        out = [x]
        for _ in range(steps):
            k1 = rhs(x, v)
            k2 = rhs(x + half * k1[0], v + half * k1[1])
            k3 = rhs(x + half * k2[0], v + half * k2[1])
            k4 = rhs(x + step * k3[0], v + step * k3[1])
            x = x + step / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
            v = v + step / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
            out.append(x)
        return out

    t = tuple(step * k for k in range(steps + 1))
    rng = random.Random(seed)
    y = tuple(xk + rng.gauss(0.0, noise) for xk in clean_record())

    @_landscape(
        "van_der_pol",
        ndim=2,
        cls=RegressionProblem,
        lower=0.0,
        upper=4.0,
        true_params=(omega, mu),
        t=t,
        y=y,
    )
    def problem(theta: Array, xp: Any) -> tuple[Array, Array]:
        yy = _asarray(xp, y, theta)
        e_omega, e_mu = _asarray(xp, [1.0, 0.0], theta), _asarray(xp, [0.0, 1.0], theta)
        w, m = theta[..., 0:1], theta[..., 1:2]  # (..., 1), broadcasting against (..., 2)
        w2 = w * w

        # State (x, v) as (..., 1) arrays; sensitivities d(x, v)/dθ as (..., 2).
        def rhs(x: Array, v: Array, sx: Array, sv: Array) -> tuple[Array, Array, Array, Array]:
            s = 1.0 - x * x
            dv = (-2.0 * m * x * v - w2) * sx + m * s * sv - 2.0 * w * x * e_omega
            return v, m * s * v - w2 * x, sv, dv + s * v * e_mu

        x = xp.full_like(w, x_init)
        v = xp.full_like(w, v_init)
        sx, sv = xp.zeros_like(theta), xp.zeros_like(theta)
        r = x - yy[0]
        loss, grad = r * r, xp.zeros_like(theta)  # x(0) does not depend on θ
        for k in range(1, steps + 1):
            k1 = rhs(x, v, sx, sv)
            k2 = rhs(x + half * k1[0], v + half * k1[1], sx + half * k1[2], sv + half * k1[3])
            k3 = rhs(x + half * k2[0], v + half * k2[1], sx + half * k2[2], sv + half * k2[3])
            k4 = rhs(x + step * k3[0], v + step * k3[1], sx + step * k3[2], sv + step * k3[3])
            x, v, sx, sv = (
                z + step / 6.0 * (a + 2.0 * b + 2.0 * c + d)
                for z, a, b, c, d in zip((x, v, sx, sv), k1, k2, k3, k4, strict=True)
            )
            # Held at the wall, a state no longer depends on θ (the clip's derivative).
            x, sx = xp.clip(x, -_VDP_WALL, _VDP_WALL), xp.where(xp.abs(x) <= _VDP_WALL, sx, 0.0)
            v, sv = xp.clip(v, -_VDP_WALL, _VDP_WALL), xp.where(xp.abs(v) <= _VDP_WALL, sv, 0.0)
            r = x - yy[k]
            loss = loss + r * r
            grad = grad + 2.0 * r * sx
        return loss[..., 0] / (steps + 1), grad / (steps + 1)

    return problem


# ---------------------------------------------------------------------------------------
# Registry.

_FACTORIES: dict[str, Callable[..., Problem]] = {
    f.__name__: f
    for f in (
        weierstrass,
        wrinkled_bowl,
        riemann,
        gaussian_wells,
        noisy_regression,
        sinusoids,
        gaussian_peaks,
        van_der_pol,
    )
}

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        quadratic,
        rosenbrock,
        rastrigin,
        ackley,
        griewank,
        levy,
        *(factory() for factory in _FACTORIES.values()),
        *(lennard_jones(n_atoms) for n_atoms in sorted(LJ_GLOBAL_MINIMA)),
    )
}

#: The test landscapes of the optimisation literature (``rbo bench``'s default suite).
LANDSCAPES = (
    "quadratic",
    "rosenbrock",
    "rastrigin",
    "ackley",
    "griewank",
    "levy",
    "weierstrass",
    "wrinkled_bowl",
    "riemann",
    "gaussian_wells",
    "noisy_regression",
)
#: Objectives from the sciences: Lennard-Jones clusters, multimodal curve fits and a
#: parameter fit through a noisy simulation.
SCIENCE = ("lj7", "lj13", "lj38", "sinusoids", "gaussian_peaks", "van_der_pol")


def get(name: str, **kwargs: Any) -> Problem:
    """The problem called ``name``; keyword arguments go to its factory.

    Examples
    --------
    >>> from rbo.problems import get
    >>> get("riemann", n_terms=5).name
    'riemann'
    """
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {sorted(PROBLEMS)}")
    if not kwargs:
        return PROBLEMS[name]
    if name not in _FACTORIES:
        raise TypeError(f"{name} takes no parameters, got {sorted(kwargs)}")
    return _FACTORIES[name](**kwargs)
