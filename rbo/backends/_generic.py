"""Any namespace array-api-compat knows (torch, JAX, Dask, array-api-strict, ...)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import array_api_compat

from ._base import Backend, to_numpy
from ._kernels import Kernels

__all__ = ["GenericBackend", "is_strict_array"]


def is_strict_array(x: Any) -> bool:
    """Whether ``x`` is an array-api-strict array."""
    return type(x).__module__.startswith("array_api_strict")


class GenericBackend(Backend):
    """A backend for one array-API namespace, with the plain array-API kernels.

    Arrays on a CPU device are eager (scalars read back for free); arrays on any other
    device, or lazy ones (Dask), keep their loop state on the device. Random numbers are
    drawn on the host with NumPy and moved, so the same seed gives the same numbers as on
    the NumPy backend.

    Parameters
    ----------
    name : str
        Registry name.
    namespace : str
        Module of the array-API namespace, imported on first use.
    is_array : callable
        ``is_array(x) -> bool``: whether ``x`` belongs to this backend.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as strict
    >>> b = GenericBackend("array_api_strict", "array_api_strict", is_strict_array)
    >>> x = b.asarray(np.array([1.0, 2.0]))
    >>> b.owns(x), b.eager(x), b.to_host(x).tolist()
    (True, True, [1.0, 2.0])
    >>> b.eager(strict.asarray([1.0], device=strict.Device("device1")))
    False
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        is_array: Callable[[Any], bool],
        *,
        host_floats: bool = False,
    ) -> None:
        self.name = name
        self._module = namespace
        self._is_array = is_array
        self._host_floats = host_floats

    @property
    def host_floats(self) -> bool:
        # Python floats reach kernels as a row's scalars: only the generic ones take them.
        return self._host_floats and type(self.kernels) is Kernels

    def owns(self, x: Any, /) -> bool:
        return bool(self._is_array(x))

    def namespace(self) -> Any:
        return importlib.import_module(self._module)

    def to_host(self, x: Any, /) -> Any:
        if array_api_compat.is_torch_array(x):
            x = x.detach().cpu()
            if x.dtype == x.new_empty(0).bfloat16().dtype:  # NumPy has no bfloat16
                x = x.float()
            return x.numpy()
        return to_numpy(x)

    def synchronize(self, x: Any = None, /) -> None:
        if x is None:
            return
        if array_api_compat.is_torch_array(x) and x.device.type == "cuda":
            importlib.import_module("torch").cuda.synchronize(x.device)
        elif hasattr(x, "block_until_ready"):  # JAX
            x.block_until_ready()

    def eager(self, x: Any, /) -> bool:
        # JAX dispatches asynchronously and Dask builds graphs: reading either back
        # waits for (or runs) the queued work, wherever it lives.
        if array_api_compat.is_jax_array(x) or array_api_compat.is_dask_array(x):
            return False
        return "cpu" in str(array_api_compat.device(x)).lower()


def namespace_backend(x: Any) -> GenericBackend:
    """A generic backend made on the fly for the namespace of ``x``."""
    xp = array_api_compat.array_namespace(x)
    return GenericBackend(xp.__name__, xp.__name__, lambda a: _in_namespace(a, xp))


def _in_namespace(a: Any, xp: Any) -> bool:
    try:
        return array_api_compat.array_namespace(a) is xp
    except TypeError:
        return False
