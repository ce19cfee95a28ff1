"""CuPy: arrays on a CUDA device, with the step's updates as fused kernels.

Reading a scalar back from the device synchronises with it, so loops over CuPy arrays
keep their state on the device, branch with ``where`` and read flags back only every few
iterations. Each update below is one kernel launch over the rows, without temporaries:
element-wise ones are ``ElementwiseKernel`` s and every inner product a
``ReductionKernel`` that forms its factors (the foot-point gradient included) on the fly.
``import cupy`` itself succeeds without a GPU; nothing here touches the device before it
is used.
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat

from ._base import Backend, to_numpy
from ._kernels import Centre, Dots, Kernels, Previous

__all__ = ["CuPyBackend", "CuPyKernels"]


def _cupy() -> Any:
    return importlib.import_module("cupy")


class CuPyKernels(Kernels):
    """:class:`Kernels` as CUDA kernels (compiled on first use, cached by CuPy)."""

    def __init__(self) -> None:
        cp = _cupy()
        ew, red = cp.ElementwiseKernel, cp.ReductionKernel
        # The expressions of centre_x and trial_point, in the same order.
        self._centre = ew("T x, T g, T c", "T out", "out = x - c * g", "rbo_centre")
        self._trial = ew(
            "T z, T g, T cx, T a, T b", "T out", "out = z + a * g - b * (z - cx)", "rbo_trial"
        )

        def reduction(params: str, product: str, name: str) -> Any:
            # `a` and `b` are the reduction's own names: no input may use them.
            return red(params, "T out", product, "a + b", "out = a", "0", name)

        v = "((z - cx) + e * g)"  # the foot-point gradient, formed on the fly
        self._dot = reduction("T u, T w", "u * w", "rbo_dot")
        self._sqdist = reduction("T u, T w", "(u - w) * (u - w)", "rbo_sqdist")
        self._vv = reduction("T z, T cx, T g, T e", f"{v} * {v}", "rbo_foot_vv")
        self._gv = reduction("T z, T cx, T g, T e", f"g * {v}", "rbo_foot_gv")
        self._gs = reduction("T g, T z, T zp", "g * (z - zp)", "rbo_secant_gs")

    def dot(self, a: Any, b: Any, /) -> Any:
        return self._dot(a, b, axis=-1)

    def step_norms(self, z: Any, x: Any, /) -> tuple[Any, Any]:
        return self._dot(z, z, axis=-1), self._sqdist(z, x, axis=-1)

    def centre(self, x: Any, g: Any, c: Any, /) -> Any:
        return self._centre(x, g, _col(c))

    def trial(self, z: Any, g: Any, cx: Any, a: Any, b: Any, /) -> Any:
        return self._trial(z, g, _materialise(self, cx), _col(a), _col(b))

    def residual(self, z: Any, g: Any, e: Any, cx: Any, /, prev: Previous | None = None) -> Dots:
        cx = _materialise(self, cx)
        e = _col(e)
        d = Dots(
            dd=self._sqdist(z, cx, axis=-1),
            vv=self._vv(z, cx, g, e, axis=-1),
            gg=self._dot(g, g, axis=-1),
            gv=self._gv(z, cx, g, e, axis=-1),
        )
        if prev is None:
            return d
        return d._replace(
            ss=self._sqdist(z, prev.z, axis=-1),
            gs=self._gs(g, z, prev.z, axis=-1),
            gps=self._gs(prev.g, z, prev.z, axis=-1),
        )


def _col(s: Any) -> Any:
    """Per-row scalars ``(...)`` as ``(..., 1)`` for the kernels' broadcasting."""
    return s[..., None] if getattr(s, "ndim", 0) > 0 else s


def _materialise(k: CuPyKernels, cx: Any) -> Any:
    return k.centre(cx.x, cx.g, cx.c) if isinstance(cx, Centre) else cx


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
