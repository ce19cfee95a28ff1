"""Random numbers for the methods that need them (Entropy-SGD's Langevin noise).

The Array API has no random number generator. :func:`standard_normal` draws from the
namespace's own generator when it has NumPy's ``random.default_rng`` (NumPy, CuPy: the
draws are made where the arrays live) and otherwise on the host with Python's
:mod:`random`, then moves them to the array's device. Draws are a pure function of an
integer key, so a state stepped twice gives the same noise twice. A backend with a
faster device generator plugs in through the ``gaussian`` option of the method, a
function of the same signature.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ._arrays import Array

__all__ = ["Gaussian", "mix_key", "standard_normal"]

#: ``gaussian(key, like) -> array``: standard normal draws with ``like``'s shape,
#: namespace, dtype and device, the same for the same ``key``.
Gaussian = Callable[[int, Array], Array]

_MASK = (1 << 64) - 1


def mix_key(*ints: int) -> int:
    """One 63-bit key from several integers (SplitMix64 finalisation of each in turn).

    Examples
    --------
    >>> mix_key(0, 1, 2) == mix_key(0, 1, 2), mix_key(0, 1, 2) == mix_key(0, 2, 1)
    (True, False)
    """
    h = 0x9E3779B97F4A7C15
    for i in ints:
        h = (h ^ (i & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 31
    return h >> 1


def standard_normal(key: int, like: Array, /) -> Array:
    """Standard normal draws shaped like ``like``, a pure function of ``key``.

    Examples
    --------
    >>> import numpy as np
    >>> a = standard_normal(7, np.zeros((2, 3), dtype=np.float32))
    >>> a.dtype, a.shape
    (dtype('float32'), (2, 3))
    >>> bool(np.all(a == standard_normal(7, a))), bool(np.any(a == standard_normal(8, a)))
    (True, False)
    """
    xp = array_namespace(like)
    default_rng = getattr(getattr(xp, "random", None), "default_rng", None)
    if default_rng is not None:
        z = default_rng(key).standard_normal(like.shape)
        return xp.astype(xp.asarray(z, device=device_of(like)), like.dtype)
    rng = random.Random(key)
    size = 1
    for n in like.shape:
        size *= n
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    z = xp.asarray(values, dtype=like.dtype, device=device_of(like))
    return xp.reshape(z, like.shape)
