"""NumPy's floating-point warnings, silenced once for a whole run.

rbo handles overflow and NaN where they arise, so its own arithmetic runs without
NumPy's warnings about them, while the user's objective and callback keep the error
handling of their caller. Entering ``np.errstate`` costs about 1.7 us; a run of the
rolling ball would enter it some ten times an evaluation. So the context is entered once
at the outside, a context variable says it is in force, and every inner :func:`silenced`
(and :func:`quietly`) costs one lookup of that variable. A function wrapped by
:func:`as_called` clears the variable while it runs, so that an rbo run nested inside
the user's objective silences its own arithmetic again.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["as_called", "quietly", "silenced"]

_T = TypeVar("_T")

_SILENT: contextvars.ContextVar[bool] = contextvars.ContextVar("rbo_silent", default=False)
_ALREADY = contextlib.nullcontext()  # reusable: entering it does nothing


class _Silence:
    """NumPy's warnings off, and :data:`_SILENT` set, until the context ends."""

    __slots__ = ("_state", "_token")

    def __enter__(self) -> None:
        self._token = _SILENT.set(True)
        self._state = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
        self._state.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._state.__exit__(*exc)
        _SILENT.reset(self._token)


def silenced() -> contextlib.AbstractContextManager[Any]:
    """A context without NumPy's floating-point warnings (free when one is in force).

    Examples
    --------
    >>> import numpy as np
    >>> with silenced():
    ...     float(np.float64(1e200) * np.float64(1e200))
    inf
    """
    return _ALREADY if _SILENT.get() else _Silence()


def quietly(func: Callable[..., _T], /) -> Callable[..., _T]:
    """``func`` run inside :func:`silenced`."""

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> _T:
        if _SILENT.get():
            return func(*args, **kwargs)
        with _Silence():
            return func(*args, **kwargs)

    return inner


def as_called(func: Callable[..., _T], /) -> Callable[..., _T]:
    """``func``, made to run under NumPy's error handling in force now (the caller's),
    even from inside :func:`silenced`."""
    handler = np.geterrcall()  # silenced() keeps it: only a set one need come back
    state = (
        np.errstate(**np.geterr()) if handler is None else np.errstate(call=handler, **np.geterr())
    )
    restored = state(func)

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> _T:
        token = _SILENT.set(False)
        try:
            return restored(*args, **kwargs)
        finally:
            _SILENT.reset(token)

    return inner
