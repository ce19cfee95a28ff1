"""What a backend is: a namespace plus the few things the Array API leaves out."""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ._errors import as_called, silenced
from ._kernels import Kernels

__all__ = ["Backend", "to_numpy"]

_T = TypeVar("_T")


class Backend:
    """Where arrays live and how rbo works with them there.

    A backend knows its array-API namespace, moves arrays to and from the host, waits for
    queued work (for timing), draws random numbers on its device (the Array API has no
    random numbers) and may supply fused :class:`~rbo.backends.Kernels` for the hot
    updates. Subclass it and :func:`rbo.backends.register` an instance to add one; only
    :attr:`name`, :meth:`owns` and :meth:`namespace` have no default.

    Attributes
    ----------
    name : str
        Registry name, as passed to ``rbo.minimize(..., backend=name)``.
    kernels : Kernels
        The step's row-wise updates; the default is plain array-API code.
    """

    name: str = ""
    kernels: Kernels = Kernels()

    @property
    def host_floats(self) -> bool:
        """Whether a single float64 row on the host may keep its per-row scalars as
        Python floats and reach the very numbers the namespace's 0-d arrays would.

        True where the namespace rounds its float64 arithmetic and ``sqrt`` as IEEE 754
        does (NumPy and what is built on it; torch's CPU ``sqrt`` is sometimes an ulp
        off) and the kernels are rbo's own, which take those floats for a row's scalars.
        The projection and the step of a single run are then far cheaper. The default
        is False.
        """
        return False

    def owns(self, x: Any, /) -> bool:
        """Whether ``x`` is an array of this backend (automatic selection asks this)."""
        raise NotImplementedError

    def namespace(self) -> Any:
        """The array-API namespace (as ``array_api_compat.array_namespace`` returns it)."""
        raise NotImplementedError

    def device(self) -> Any:
        """The device arrays moved to this backend are put on (None: the default)."""
        return None

    def asarray(self, x: Any, /, *, dtype: Any = None) -> Any:
        """``x`` (host data or another namespace's array) as an array of this backend."""
        xp = self.namespace()
        return xp.asarray(to_numpy(x), dtype=dtype, device=self.device())

    def to_host(self, x: Any, /) -> Any:
        """``x`` as a NumPy array."""
        return to_numpy(x)

    def synchronize(self, x: Any = None, /) -> None:
        """Wait until queued work on ``x`` (or on the device) is done; a no-op on the host."""

    def quiet(self) -> contextlib.AbstractContextManager[Any]:
        """A context in which rbo's own arithmetic may overflow without a warning.

        rbo detects and handles overflow and NaN where they arise (the projection's
        NONFINITE status, a halved step), so warnings about them would only be noise.
        :func:`rbo.minimize` runs its whole loop inside this context, with the user's
        objective and callback wrapped by :meth:`as_caller`. The default silences
        NumPy's floating-point warnings, which also covers namespaces built on NumPy
        (array-api-strict, Dask); for others it does nothing. Nested in itself, it costs
        nothing.
        """
        return silenced()

    def as_caller(self, func: Callable[..., _T], /) -> Callable[..., _T]:
        """``func``, made to run under the floating-point error handling in force now.

        The user's objective and callback are wrapped with this before a run enters
        :meth:`quiet`: called from inside it, they warn (or raise) as the caller's own
        settings say (and an rbo run nested in ``func`` is quiet again). The default brings
        back NumPy's error state, which :meth:`quiet` changes.

        Examples
        --------
        >>> import numpy as np
        >>> from rbo.backends import get
        >>> backend = get("numpy")
        >>> with np.errstate(over="raise"):
        ...     strict = backend.as_caller(lambda x: x * x)
        >>> with backend.quiet():
        ...     strict(np.float64(1e200))
        Traceback (most recent call last):
        ...
        FloatingPointError: overflow encountered in scalar multiply
        """
        return as_called(func)

    def eager(self, x: Any, /) -> bool:
        """Whether reading a scalar of ``x`` back costs nothing (no device synchronisation).

        Eager arrays are looped over with Python branches; the others with ``where`` and
        flags read back only every few iterations.
        """
        return True

    def rng(self, seed: Any = None) -> Any:
        """A random generator for :meth:`uniform`, seeded reproducibly by ``seed``.

        The default draws on the host with NumPy and moves the numbers, so any two
        backends with this default draw the same numbers from the same seed.
        """
        return np.random.default_rng(seed)

    def uniform(self, rng: Any, low: Any, high: Any, shape: tuple[int, ...], *, dtype: Any) -> Any:
        """Uniform numbers in ``[low, high)`` (broadcast over the last axis), of ``dtype``."""
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        host = low + (high - low) * rng.random(shape)
        return self.asarray(host, dtype=dtype)

    def describe(self) -> str:
        """The library and the machine it computes on, for benchmark reports."""
        version = getattr(_module_of(self.namespace()), "__version__", "?")
        return f"{self.name} {version} on {_cpu()}"

    def __repr__(self) -> str:
        return f"<rbo backend {self.name!r}>"


def _module_of(xp: Any) -> Any:
    """The library behind an array-API namespace (``array_api_compat.numpy`` -> numpy)."""
    name = xp.__name__.removeprefix("array_api_compat.").split(".")[0]
    return importlib.import_module(name)


def cpu_model() -> str:
    """The host CPU's model name (``/proc/cpuinfo`` where there is one)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return model


def _cpu() -> str:
    """The host CPU's model name and its number of logical cores."""
    return f"{cpu_model()} ({os.cpu_count()} logical cores)"


def to_numpy(x: Any, /) -> Any:
    """Host data or an array of any namespace as a NumPy array (through DLPack if need be)."""
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)
