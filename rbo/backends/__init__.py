"""Array backends: where arrays that are not yet arrays become arrays."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["host_namespace"]


def host_namespace() -> Any:
    """The array-API namespace for host memory (NumPy through array-api-compat).

    Used for inputs that are not arrays of any namespace yet (lists, tuples, Python
    numbers), as scipy does with ``np.asarray``.
    """
    return importlib.import_module("array_api_compat.numpy")
