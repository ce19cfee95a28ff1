"""The CUDA sources of the CuPy kernels, checked without a GPU.

``rbo.backends._cupy`` keeps every kernel's source as data. Here each is placed in a
translation unit laid out as CuPy lays out its ``ElementwiseKernel`` and
``ReductionKernel`` code (the type ``typedef``, the preamble, one ``const T name`` per
input, ``static_cast`` of the map expression to the reduce type, ``REDUCE`` and
``POST_MAP`` as macros), then

- compiled for the host with the C++ compiler and run through ctypes on NumPy arrays,
  where it must give what the generic :class:`rbo.backends.Kernels` give;
- compiled for the device with ``nvcc`` (to PTX: no GPU is needed), with the
  shared-memory tree a reduction kernel uses.

What this cannot check is CuPy's own launch of them; the CuPy tests do that on a GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rbo.backends import Kernels, Previous
from rbo.backends._cupy import (
    CENTRE,
    FOOT,
    FOOT_SECANT,
    STEP,
    SUMS_PREAMBLE,
    TRIAL,
    ElementwiseSource,
    SumsSource,
)

CTYPES = {"double": np.float64, "float": np.float32}
BLOCK = 512  # CuPy's reduction block size on CUDA


def _names(params: str) -> list[str]:
    return [p.split()[-1] for p in params.split(",")]


def _elementwise(src: ElementwiseSource, ctype: str, *, device: bool) -> str:
    ins, outs = _names(src.in_params), _names(src.out_params)
    args = [f"const T* _raw_{n}" for n in ins] + [f"T* _raw_{n}" for n in outs] + ["long _n"]
    loop = (
        "for (long _i = blockIdx.x * blockDim.x + threadIdx.x; _i < _n;"
        " _i += (long)gridDim.x * blockDim.x)"
        if device
        else "for (long _i = 0; _i < _n; ++_i)"
    )
    body = "\n".join(
        [f"    const T {n} = _raw_{n}[_i];" for n in ins]
        + [f"    T &{n} = _raw_{n}[_i];" for n in outs]
        + [f"    {src.operation};"]
    )
    return f"""
namespace {src.name}_{ctype} {{
typedef {ctype} T;
extern "C" {"__global__ " if device else ""}void {src.name}_{ctype}({", ".join(args)}) {{
  {loop} {{
{body}
  }}
}}
}}
"""


def _sums(src: SumsSource, ctype: str, *, device: bool) -> str:
    ins, outs = _names(src.in_params), _names(src.out_params)
    args = [f"const T* _raw_{n}" for n in ins] + [f"T* _raw_{n}" for n in outs] + ["long _n"]
    inputs = "\n".join(f"      const T {n} = _raw_{n}[_j];" for n in ins)
    outputs = "\n".join(f"    T &{n} = _raw_{n}[0];" for n in outs)
    if device:
        reduce = f"""
  __shared__ char _sdata_raw[{BLOCK} * sizeof(_type_reduce)];
  _type_reduce *_sdata = reinterpret_cast<_type_reduce*>(_sdata_raw);
  const unsigned int _tid = threadIdx.x;
  _type_reduce _s = _type_reduce();
  for (long _j = _tid; _j < _n; _j += {BLOCK}) {{
{inputs}
      _type_reduce _a = static_cast<_type_reduce>({src.map_expr});
      _s = REDUCE(_s, _a);
  }}
  _sdata[_tid] = _s;
  __syncthreads();
  for (unsigned int _block = {BLOCK} / 2; _block > 0; _block >>= 1) {{
    if (_tid < _block) {{
      _type_reduce _a = _sdata[_tid], _b = _sdata[_tid + _block];
      _sdata[_tid] = REDUCE(_a, _b);
    }}
    __syncthreads();
  }}
  if (_tid == 0) {{
    _s = _sdata[0];
{outputs}
    POST_MAP(_s);
  }}"""
    else:
        reduce = f"""
  _type_reduce _s = _type_reduce();
  for (long _j = 0; _j < _n; ++_j) {{
{inputs}
      _type_reduce _a = static_cast<_type_reduce>({src.map_expr});
      _s = REDUCE(_s, _a);
  }}
  {{
{outputs}
    POST_MAP(_s);
  }}"""
    return f"""
namespace {src.name}_{ctype} {{
typedef {ctype} T;
#define REDUCE(a, b) (a + b)
#define POST_MAP(a) ({src.post_map_expr})
typedef {src.reduce_type} _type_reduce;
extern "C" {"__global__ " if device else ""}void {src.name}_{ctype}({", ".join(args)}) {{
{reduce}
}}
#undef REDUCE
#undef POST_MAP
}}
"""


ELEMENTWISE = (CENTRE, TRIAL)
SUMS = (FOOT, FOOT_SECANT, STEP)


def _unit(*, device: bool) -> str:
    parts = ["#define __device__\n" if not device else "", SUMS_PREAMBLE]
    for ctype in CTYPES:
        parts += [_elementwise(s, ctype, device=device) for s in ELEMENTWISE]
        parts += [_sums(s, ctype, device=device) for s in SUMS]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def host_library(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler on this machine to build the kernel sources for the host")
    work = tmp_path_factory.mktemp("cuda_sources")
    source, library = work / "kernels.cpp", work / "kernels.so"
    source.write_text(_unit(device=False))
    _compile([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", str(source), "-o", str(library)])
    return ctypes.CDLL(str(library))


def _compile(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}"


def _call(lib: Any, name: str, inputs: list[np.ndarray], n_out: int, out_len: int) -> list[Any]:
    dtype = inputs[0].dtype
    ctype = next(c for c, d in CTYPES.items() if d == dtype)
    outs = [np.zeros(out_len, dtype=dtype) for _ in range(n_out)]
    fn = getattr(lib, f"{name}_{ctype}")
    arrays = [np.ascontiguousarray(a, dtype=dtype) for a in inputs] + outs
    fn(*(a.ctypes.data_as(ctypes.c_void_p) for a in arrays), ctypes.c_long(inputs[0].size))
    return outs


def _data(dtype: Any, n: int = 1000, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    z, g, x, zp, gp = rng.standard_normal((5, n)).astype(dtype)
    return {"z": z, "g": g, "x": x, "zp": zp, "gp": gp, "c": dtype(0.7), "e": dtype(-1.3)}


def _rtol(dtype: Any) -> float:
    return 1e-12 if dtype == np.float64 else 2e-5


@pytest.mark.parametrize("dtype", list(CTYPES.values()), ids=list(CTYPES))
def test_elementwise_sources_give_the_generic_kernels_values(host_library: Any, dtype: Any) -> None:
    d, k = _data(dtype), Kernels()
    n = d["z"].size
    cx = k.centre(d["x"], d["g"], d["c"])
    (got,) = _call(host_library, CENTRE.name, [d["x"], d["g"], np.full(n, d["c"])], 1, n)
    np.testing.assert_array_equal(got, cx)  # the same operations in the same order
    a, b = dtype(0.25), dtype(0.8)
    want = k.trial(d["z"], d["g"], cx, a, b)
    (got,) = _call(
        host_library, TRIAL.name, [d["z"], d["g"], cx, np.full(n, a), np.full(n, b)], 1, n
    )
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", list(CTYPES.values()), ids=list(CTYPES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sums_sources_give_the_generic_kernels_products(
    host_library: Any, dtype: Any, seed: int
) -> None:
    d, k = _data(dtype, seed=seed), Kernels()
    n = d["z"].size
    cx = k.centre(d["x"], d["g"], d["c"])
    e = np.full(n, d["e"])
    base = [d["z"], d["g"], cx, e]
    want = k.residual(d["z"], d["g"], d["e"], cx)
    got = _call(host_library, FOOT.name, base, 4, 1)
    np.testing.assert_allclose([v[0] for v in got], want[:4], rtol=_rtol(dtype))

    want = k.residual(d["z"], d["g"], d["e"], cx, Previous(d["zp"], d["gp"]))
    got = _call(host_library, FOOT_SECANT.name, [*base, d["zp"], d["gp"]], 7, 1)
    np.testing.assert_allclose([v[0] for v in got], list(want), rtol=_rtol(dtype))

    got = _call(host_library, STEP.name, [d["z"], d["x"]], 2, 1)
    np.testing.assert_allclose([v[0] for v in got], k.step_norms(d["z"], d["x"]), rtol=_rtol(dtype))


def test_sums_start_from_zero_for_every_sum(host_library: Any) -> None:
    """The reduction's identity ``rbo_sums<T, K>()`` is all zeros: an empty row sums to 0."""
    empty = np.zeros(0)
    got = _call(host_library, FOOT_SECANT.name, [empty] * 6, 7, 1)
    assert [float(v[0]) for v in got] == [0.0] * 7


def test_sources_compile_for_the_device(tmp_path: Path) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed: the device compile of the kernel sources is not run")
    source = tmp_path / "kernels.cu"
    source.write_text(_unit(device=True))
    _compile([nvcc, "-std=c++17", "--ptx", str(source), "-o", str(tmp_path / "kernels.ptx")])
    ptx = (tmp_path / "kernels.ptx").read_text()
    for src in (*ELEMENTWISE, *SUMS):
        for ctype in CTYPES:
            assert f".entry {src.name}_{ctype}(" in ptx
