"""CuPy: arrays on a CUDA device, with the step's updates as fused kernels.

Reading a scalar back from the device synchronises with it, so loops over CuPy arrays
keep their state on the device, branch with ``where`` and read flags back only every few
iterations. Each update below is one kernel launch over the rows, without temporaries:
element-wise ones are ``ElementwiseKernel`` s, and the inner products a pass needs are
formed together by one ``ReductionKernel`` that carries all its sums at once (the
foot-point gradient formed on the fly), so the residual pass reads ``z``, ``g`` and
``c_x`` once, as the bandwidth bound of ``benchmarks/batched.py`` assumes.
``import cupy`` itself succeeds without a GPU; nothing here touches the device before it
is used.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import array_api_compat

from .._arrays import col
from ._base import Backend, to_numpy
from ._kernels import Dots, Kernels, Previous, materialise

__all__ = [
    "CENTRE",
    "FOOT",
    "FOOT_SECANT",
    "STEP",
    "SUMS_PREAMBLE",
    "TRIAL",
    "CuPyBackend",
    "CuPyKernels",
    "ElementwiseSource",
    "SumsSource",
]


def _cupy() -> Any:
    return importlib.import_module("cupy")


class ElementwiseSource(NamedTuple):
    """An ``ElementwiseKernel``'s CUDA source: parameters and the per-element operation."""

    in_params: str
    out_params: str
    operation: str
    name: str


class SumsSource(NamedTuple):
    """A ``ReductionKernel`` that forms several row sums in one pass over its inputs: the
    map expression builds the terms of every sum as one ``rbo_sums`` value, the reduction
    adds them, and the post-map expression hands each sum to its output."""

    in_params: str
    out_params: str
    map_expr: str
    reduce_type: str
    post_map_expr: str
    name: str


# The sources are data so that they can be compiled and checked without a GPU
# (tests/test_cuda_sources.py). The element-wise operations are those of centre_x and
# trial_point, in the same order.
CENTRE = ElementwiseSource("T x, T g, T c", "T out", "out = x - c * g", "rbo_centre")
TRIAL = ElementwiseSource(
    "T z, T g, T cx, T a, T b", "T out", "out = z + a * g - b * (z - cx)", "rbo_trial"
)

# K sums carried together: an aggregate, so that `rbo_sums<T, K>()` is all zeros (the
# reduction's identity) and it may live in shared memory. Parameters named `a` or `b`
# would shadow the reduction's own names.
SUMS_PREAMBLE = r"""
template <typename T, int K>
struct rbo_sums {
    T s[K];
};

template <typename T, int K>
__device__ rbo_sums<T, K> operator+(const rbo_sums<T, K>& x, const rbo_sums<T, K>& y) {
    rbo_sums<T, K> r;
    for (int k = 0; k < K; ++k) r.s[k] = x.s[k] + y.s[k];
    return r;
}

// The terms of Kernels.residual at one element: v = (z - cx) + e g, and with the
// previous iterate s = z - zp.
template <typename T>
__device__ rbo_sums<T, 4> rbo_foot(T z, T g, T cx, T e) {
    const T dz = z - cx;
    const T v = dz + e * g;
    rbo_sums<T, 4> r;
    r.s[0] = dz * dz;
    r.s[1] = v * v;
    r.s[2] = g * g;
    r.s[3] = g * v;
    return r;
}

template <typename T>
__device__ rbo_sums<T, 7> rbo_foot_secant(T z, T g, T cx, T e, T zp, T gp) {
    const rbo_sums<T, 4> f = rbo_foot<T>(z, g, cx, e);
    const T d = z - zp;
    rbo_sums<T, 7> r;
    for (int k = 0; k < 4; ++k) r.s[k] = f.s[k];
    r.s[4] = d * d;
    r.s[5] = g * d;
    r.s[6] = gp * d;
    return r;
}

// Kernels.step_norms: |z|^2 and |z - x|^2.
template <typename T>
__device__ rbo_sums<T, 2> rbo_step(T z, T x) {
    const T d = z - x;
    rbo_sums<T, 2> r;
    r.s[0] = z * z;
    r.s[1] = d * d;
    return r;
}
"""


def _outputs(names: str) -> str:
    # A comma expression, not statements: CuPy wraps the post-map in parentheses.
    return ", ".join(f"{n} = a.s[{k}]" for k, n in enumerate(names.split()))


FOOT = SumsSource(
    "T z, T g, T cx, T e",
    "T dd, T vv, T gg, T gv",
    "rbo_foot<T>(z, g, cx, e)",
    "rbo_sums<T, 4>",
    _outputs("dd vv gg gv"),
    "rbo_foot",
)
FOOT_SECANT = SumsSource(
    "T z, T g, T cx, T e, T zp, T gp",
    "T dd, T vv, T gg, T gv, T ss, T gs, T gps",
    "rbo_foot_secant<T>(z, g, cx, e, zp, gp)",
    "rbo_sums<T, 7>",
    _outputs("dd vv gg gv ss gs gps"),
    "rbo_foot_secant",
)
STEP = SumsSource(
    "T z, T x", "T zz, T dd", "rbo_step<T>(z, x)", "rbo_sums<T, 2>", _outputs("zz dd"), "rbo_step"
)


class CuPyKernels(Kernels):
    """:class:`Kernels` as CUDA kernels (compiled on first use, cached by CuPy)."""

    def __init__(self) -> None:
        cp = _cupy()

        def elementwise(src: ElementwiseSource) -> Any:
            return cp.ElementwiseKernel(src.in_params, src.out_params, src.operation, src.name)

        def sums(src: SumsSource) -> Any:
            return cp.ReductionKernel(
                src.in_params,
                src.out_params,
                src.map_expr,
                "a + b",
                src.post_map_expr,
                "",  # the identity: rbo_sums<T, K>(), all zeros
                src.name,
                reduce_type=src.reduce_type,
                preamble=SUMS_PREAMBLE,
            )

        self._centre = elementwise(CENTRE)
        self._trial = elementwise(TRIAL)
        self._dot = cp.ReductionKernel(
            "T u, T w", "T out", "u * w", "a + b", "out = a", "0", "rbo_dot"
        )
        self._foot = sums(FOOT)
        self._foot_secant = sums(FOOT_SECANT)
        self._step = sums(STEP)

    def dot(self, a: Any, b: Any, /) -> Any:
        return self._dot(a, b, axis=-1)

    def step_norms(self, z: Any, x: Any, /) -> tuple[Any, Any]:
        zz, dd = _sums(self._step, 2, z, x)
        return zz, dd

    def centre(self, x: Any, g: Any, c: Any, /) -> Any:
        return self._centre(x, g, col(c))

    def trial(self, z: Any, g: Any, cx: Any, a: Any, b: Any, /) -> Any:
        return self._trial(z, g, materialise(cx, self.centre), col(a), col(b))

    def residual(self, z: Any, g: Any, e: Any, cx: Any, /, prev: Previous | None = None) -> Dots:
        # One pass over z, g, c_x (and the previous iterate) for all the products.
        cx, e = materialise(cx, self.centre), col(e)
        if prev is None:
            return Dots(*_sums(self._foot, 4, z, g, cx, e))
        return Dots(*_sums(self._foot_secant, 7, z, g, cx, e, prev.z, prev.g))


def _sums(kernel: Any, k: int, *args: Any) -> Any:
    """The ``k`` row sums of a :class:`SumsSource` kernel over the last axis of ``args``.

    The outputs are handed in: a ``ReductionKernel`` writes every output given to it but
    returns only the first it made.
    """
    rows = args[0].shape[:-1]
    out = _cupy().empty((k, *rows), dtype=args[0].dtype)
    kernel(*args, *(out[i] for i in range(k)), axis=-1)
    return out


class CuPyBackend(Backend):
    """CuPy arrays on the current CUDA device."""

    name = "cupy"

    def __init__(self) -> None:
        self._kernels: CuPyKernels | None = None

    @property
    def kernels(self) -> Kernels:  # type: ignore[override]
        if self._kernels is None:
            self._kernels = CuPyKernels()
        return self._kernels

    def owns(self, x: Any, /) -> bool:
        return array_api_compat.is_cupy_array(x)

    def namespace(self) -> Any:
        return importlib.import_module("array_api_compat.cupy")

    def asarray(self, x: Any, /, *, dtype: Any = None) -> Any:
        cp = _cupy()
        if self.owns(x):
            return x if dtype is None else x.astype(dtype, copy=False)
        return cp.asarray(to_numpy(x), dtype=dtype)

    def to_host(self, x: Any, /) -> Any:
        return _cupy().asnumpy(x) if self.owns(x) else to_numpy(x)

    def synchronize(self, x: Any = None, /) -> None:
        _cupy().cuda.get_current_stream().synchronize()

    def eager(self, x: Any, /) -> bool:
        return False

    def rng(self, seed: Any = None) -> Any:
        return _cupy().random.default_rng(seed)

    def describe(self) -> str:
        cp = _cupy()
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"cupy {cp.__version__} on {name}"

    def uniform(self, rng: Any, low: Any, high: Any, shape: tuple[int, ...], *, dtype: Any) -> Any:
        cp = _cupy()
        low = cp.asarray(low, dtype=cp.float64)
        high = cp.asarray(high, dtype=cp.float64)
        u = rng.random(shape, dtype=cp.float64)
        return (low + (high - low) * u).astype(dtype if dtype is not None else cp.float64)
