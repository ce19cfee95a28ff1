"""NumPy: host arrays, with the step's updates fused by tiling.

NumPy evaluates one operation at a time, each a full pass over memory with a new
temporary. The kernels here walk the rows in tiles that stay in cache and do all of an
update's arithmetic on a tile before moving on, writing into reused scratch tiles: one
pass over each input and no temporaries the size of ``x`` (at most two scratch tiles,
1 MB in float64, whatever the size of ``x``). The centre is recomputed
inside the passes rather than stored, which holds one array less and moves no more
memory. Inner products are BLAS dots on segments of at most 8192 elements: OpenBLAS
spreads longer dots over threads, and on small machines that costs far more than it
saves when it alternates with NumPy's own loops.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ._base import Backend, to_numpy
from ._errors import quietly
from ._kernels import Centre, Dots, Kernels, Previous, residual_dots

__all__ = ["NumPyBackend", "NumPyKernels", "vector_from_floats"]

# Overflow in a kernel is detected by its caller (a non-finite product makes the
# projection NONFINITE): the kernels run quietly, NumPy's warnings silenced at the source.

_TILE = 1 << 16  # elements per tile: its few scratch tiles stay in cache
_SEG = 1 << 13  # longest single dot (OpenBLAS goes multi-threaded above 10**4)


class NumPyKernels(Kernels):
    """Tiled, in-place versions of :class:`Kernels` for NumPy arrays.

    Arrays of one tile or less are updated whole. Scratch tiles are kept between calls
    (per thread): allocating and freeing them each time would hand their pages back to the
    system and fault them in again.

    Each evaluates the same element-wise expressions, in the same order, as the generic
    bodies, one tile at a time; only the order in which inner products are summed differs.

    Examples
    --------
    >>> import numpy as np
    >>> k, ref = NumPyKernels(), Kernels()
    >>> rng = np.random.default_rng(0)
    >>> z, g, x = rng.random((3, 5, 7))
    >>> c, e = rng.random(5), rng.random(5)
    >>> d, d_ref = k.residual(z, g, e, k.centre(x, g, c)), ref.residual(z, g, e, x - c[:, None] * g)
    >>> bool(np.allclose(d.vv, d_ref.vv)), bool(np.allclose(d.gv, d_ref.gv))
    (True, True)
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def release(self) -> None:
        """Drop this thread's scratch tiles; they are made again when next needed.

        Examples
        --------
        >>> k = NumPyKernels()
        >>> k.release()
        """
        self._local.__dict__.pop("tiles", None)

    def _scratch(self, t: _Tiles, k: int) -> list[Any]:
        """``k`` scratch tiles for ``t``, reused across calls."""
        cache = self._local.__dict__.setdefault("tiles", {})
        key = (t.tile, t.dtype)
        tiles = cache.setdefault(key, [])
        while len(tiles) < k:
            tiles.append(np.empty(t.tile, dtype=t.dtype))
        return tiles[:k]

    @quietly
    def dot(self, a: Any, b: Any, /) -> Any:
        if _fits(a):
            return np.vecdot(a, b)
        t = _Tiles(a)
        acc = np.zeros((1, t.m), dtype=a.dtype)
        A, B = t.rows(a), t.rows(b)
        for tile in t:
            t.add(acc[0], tile, tile.of(A), tile.of(B))
        return t.out(acc[0])

    @quietly
    def step_norms(self, z: Any, x: Any, /) -> tuple[Any, Any]:
        if _fits(z):
            return super().step_norms(z, x)
        t = _Tiles(z)
        acc = np.zeros((2, t.m), dtype=z.dtype)
        (d,) = self._scratch(t, 1)
        Z, X = t.rows(z), t.rows(x)
        for tile in t:
            zt = tile.of(Z)
            dt = _fit(d, zt)
            np.subtract(zt, tile.of(X), out=dt)
            t.add(acc[0], tile, zt, zt)
            t.add(acc[1], tile, dt, dt)
        return t.out(acc[0]), t.out(acc[1])

    def centre(self, x: Any, g: Any, c: Any, /) -> Centre:
        return Centre(x, g, c)

    @quietly
    def trial(self, z: Any, g: Any, cx: Any, a: Any, b: Any, /) -> Any:
        if _fits(z):
            return super().trial(z, g, cx, a, b)
        t = _Tiles(z)
        out = np.empty((t.m, t.n), dtype=z.dtype)
        (w,) = self._scratch(t, 1)
        centre = _CentreTiles(t, cx, w)  # a recomputed centre lands in w, then z - cx
        Z, G, A, B = t.rows(z), t.rows(g), t.col(a), t.col(b)
        for tile in t:
            zt, ot = tile.of(Z), tile.of(out)
            w_ = _fit(w, zt)
            # z + a * g - b * (z - cx), as trial_point evaluates it; z + a * g in the output
            np.multiply(tile.of(G), tile.scalar(A), out=ot)
            np.add(zt, ot, out=ot)
            np.subtract(zt, centre.of(tile), out=w_)
            np.multiply(w_, tile.scalar(B), out=w_)
            np.subtract(ot, w_, out=ot)
        return t.out(out)

    @quietly
    def residual(self, z: Any, g: Any, e: Any, cx: Any, /, prev: Previous | None = None) -> Dots:
        if _fits(z):
            # The generic body, its products the very dots of self.dot taken directly: a
            # small projection makes a residual pass of seven products an evaluation.
            return residual_dots(z, g, e, cx, prev, np.vecdot)
        t = _Tiles(z)
        acc = np.zeros((4 if prev is None else 7, t.m), dtype=z.dtype)
        dzb, vb = self._scratch(t, 2)
        centre = _CentreTiles(t, cx, dzb)  # a recomputed centre lands in dz, then z - cx
        Z, G, E = t.rows(z), t.rows(g), t.col(e)
        if prev is not None:
            Zp, Gp = t.rows(prev.z), t.rows(prev.g)
        for tile in t:
            zt, gt = tile.of(Z), tile.of(G)
            dz, v = _fit(dzb, zt), _fit(vb, zt)
            np.subtract(zt, centre.of(tile), out=dz)
            np.multiply(gt, tile.scalar(E), out=v)
            np.add(dz, v, out=v)  # (z - cx) + e * g
            t.add(acc[0], tile, dz, dz)
            t.add(acc[1], tile, v, v)
            t.add(acc[2], tile, gt, gt)
            t.add(acc[3], tile, gt, v)
            if prev is None:
                continue
            np.subtract(zt, tile.of(Zp), out=dz)  # s = z - z_prev
            t.add(acc[4], tile, dz, dz)
            t.add(acc[5], tile, gt, dz)
            t.add(acc[6], tile, tile.of(Gp), dz)
        return Dots(*(t.out(a) for a in acc))


class _Tile(NamedTuple):
    """A 2-D view into the rows: ``rows`` and ``cols`` of the ``(m, n)`` view, and the
    ``(k, _SEG)`` shape a segment of one long row is folded into (None: whole rows)."""

    rows: Any
    cols: slice
    fold: tuple[int, int] | None

    def of(self, a2: Any) -> Any:
        v = a2[self.rows, self.cols]
        return v if self.fold is None else v.reshape(self.fold)

    def scalar(self, s: Any) -> Any:
        return s if s.ndim == 0 else s[self.rows]


class _Tiles:
    """Tiles of an array of rows ``(..., n)``, viewed as ``(m, n)``: whole rows when rows
    are short, else segments of one row folded to ``(k, 8192)`` so that every dot is short.
    """

    def __init__(self, like: Any) -> None:
        self.shape = like.shape
        self.dtype = like.dtype
        self.n = n = like.shape[-1]
        self.m = m = math.prod(like.shape[:-1])
        tiles: list[_Tile] = []
        if n <= _SEG:
            h = min(m, max(1, _TILE // n))
            tiles = [_Tile(slice(r, r + h), slice(None), None) for r in range(0, m, h)]
            self.tile = (h, n)
        else:
            k = _TILE // _SEG
            for r in range(m):
                c = 0
                while n - c >= _SEG:
                    kk = min(k, (n - c) // _SEG)
                    tiles.append(_Tile(r, slice(c, c + kk * _SEG), (kk, _SEG)))
                    c += kk * _SEG
                if c < n:
                    tiles.append(_Tile(r, slice(c, n), (1, n - c)))
            self.tile = (k, _SEG)
        self._tiles = tiles

    def __iter__(self) -> Iterator[_Tile]:
        return iter(self._tiles)

    def rows(self, a: Any) -> Any:
        return a.reshape(self.m, self.n)

    def col(self, s: Any) -> Any:
        """Per-row scalars as ``(m, 1)``; a single scalar stays one."""
        s = np.asarray(s)
        return s if s.ndim == 0 else np.reshape(s, (self.m, 1))

    def add(self, acc: Any, tile: _Tile, a: Any, b: Any) -> None:
        """``acc[row] += a . b`` for the rows of ``tile``."""
        d = np.vecdot(a, b)
        acc[tile.rows] += d if tile.fold is None else np.add.reduce(d)

    def out(self, a: Any) -> Any:
        return np.reshape(a, self.shape if a.ndim == 2 else self.shape[:-1])


class _CentreTiles:
    """Tiles of the centre ``c_x``: read where it is stored, else recomputed into scratch
    as ``centre_x`` computes it (once per tile)."""

    def __init__(self, t: _Tiles, cx: Any, buf: Any) -> None:
        self.lazy = isinstance(cx, Centre)
        self.buf = buf
        if self.lazy:
            self.x, self.g, self.c = t.rows(cx.x), t.rows(cx.g), t.col(cx.c)
        else:
            self.cx = t.rows(cx)

    def of(self, tile: _Tile) -> Any:
        if not self.lazy:
            return tile.of(self.cx)
        x = tile.of(self.x)
        buf = _fit(self.buf, x)
        np.multiply(tile.of(self.g), tile.scalar(self.c), out=buf)
        np.subtract(x, buf, out=buf)
        return buf


def _fits(a: Any) -> bool:
    """Whether ``a`` is one tile: whole-array operations then stay in cache by themselves
    (and cost fewer calls). Their products are the same dots, row by row."""
    return a.size <= _TILE and a.shape[-1] <= _SEG


def _fit(buf: Any, like: Any) -> Any:
    """The part of a scratch tile the size of ``like`` (the last tiles may be shorter)."""
    h, w = like.shape
    return buf[:h, :w]


def vector_from_floats(values: list[float], dtype: Any) -> Any:
    """A list of Python floats as a 1-D NumPy array of ``dtype``: NumPy's own conversion, a
    third of the cost of the Array API wrapper's ``asarray``.

    Examples
    --------
    >>> vector_from_floats([1.0, 2.5], np.float64).tolist()
    [1.0, 2.5]
    """
    return np.asarray(values, dtype=dtype)


class NumPyBackend(Backend):
    """NumPy arrays on the host: reading a scalar is free, so loops branch in Python."""

    name = "numpy"

    def __init__(self) -> None:
        self.kernels = NumPyKernels()

    def owns(self, x: Any) -> bool:
        return isinstance(x, np.ndarray | np.generic)

    def namespace(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def asarray(self, x: Any, /, *, dtype: Any = None) -> Any:
        if isinstance(x, list):  # host data: one conversion
            return vector_from_floats(x, dtype)
        return np.asarray(to_numpy(x), dtype=dtype)

    def eager(self, x: Any, /) -> bool:
        return True

    @property
    def host_floats(self) -> bool:
        # Python floats reach the kernels as a row's scalars: rbo's own take them, a
        # subclass's may not.
        return type(self.kernels) is NumPyKernels
