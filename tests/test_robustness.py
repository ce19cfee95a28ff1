"""Property-based robustness of :func:`rbo.minimize` (and, lightly, :func:`rbo.multistart`).

Generated problems (ill-conditioned quadratics, Rosenbrock, Rastrigin, objectives that are
NaN or inf in a region, raise at their k-th call or return the wrong thing), starts (every
dtype, lists, ints, bools, complex, empty, NaN, 1e300 and 1e-300, 2-D batches),
hyperparameters (valid and not), backends and callbacks. Whatever is drawn:

- a valid input returns an ``OptimizeResult``; an invalid one raises ``TypeError`` or
  ``ValueError`` naming the argument;
- ``res.fun`` is finite, not above ``f(x0)``, equal to ``fun(res.x)``, and not above any
  value seen where the gradient was computed (every call of ``fun`` and ``jac`` is
  recorded);
- an exception from ``fun`` or the callback carries ``rbo_result`` with a finite best
  point once one was seen;
- a rerun of the same input is bitwise identical.

Profiles: ``RBO_HYPOTHESIS_PROFILE`` picks ``rbo-ci`` (the default: derandomised, no
deadline, about a minute), ``rbo-dev`` (random, with a deadline) or ``thorough`` (over
10,000 cases in all); ``RBO_HYPOTHESIS_EXAMPLES=N`` sets the examples per test of any of
them. Every run is kept small (``maxiter``, ``maxfev``) and under a wall-clock alarm, so
that a hang fails instead of stalling the suite.

Inputs on which the current code is known to fail are listed once, in
:data:`KNOWN_FAILURES`: the generated tests skip them (counted as hypothesis events), and
each has a minimal strict-xfail example test below, to be un-marked once it is fixed.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np
import pytest
from array_api_compat import array_namespace
from array_api_compat import device as device_of
from conftest import roll
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from scipy.optimize import OptimizeResult

import rbo
from rbo.problems import rastrigin, rosenbrock

# ---------------------------------------------------------------------------- profiles

_COMMON = {
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("rbo-ci", max_examples=600, derandomize=True, deadline=None, **_COMMON)
settings.register_profile("rbo-dev", max_examples=100, deadline=20_000, **_COMMON)
# 2,500 examples for the full-share tests: over 10,000 cases in all.
settings.register_profile("thorough", max_examples=2500, deadline=60_000, **_COMMON)


def _profile() -> settings:
    base = settings.get_profile(os.environ.get("RBO_HYPOTHESIS_PROFILE", "rbo-ci"))
    examples = os.environ.get("RBO_HYPOTHESIS_EXAMPLES")
    return settings(base, max_examples=int(examples)) if examples else base


PROFILE = _profile()


def _examples(fraction: float) -> settings:
    """The profile with a share of its examples, for the costlier tests."""
    return settings(PROFILE, max_examples=max(1, int(PROFILE.max_examples * fraction)))


#: Seconds one generated case may take before it counts as a hang.
HANG_SECONDS = 60


class Hang(Exception):
    """A generated case ran past :data:`HANG_SECONDS`."""


@contextlib.contextmanager
def _alarm(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail a case that hangs, instead of stalling the suite (main thread, POSIX only)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"a generated case ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------- backends


def _strict() -> Any:
    import array_api_strict

    return array_api_strict


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass(frozen=True)
class Where:
    """A backend of the generated cases: namespace, device and the float dtypes it has."""

    name: str
    xp: Any
    device: Any
    floats: tuple[str, ...]

    def dtype(self, name: str) -> Any:
        torch = _torch()
        if name == "bfloat16" and torch is not None:
            return torch.bfloat16
        return getattr(self.xp, name)

    def asarray(self, values: Any, dtype: str) -> Any:
        return self.xp.asarray(values, dtype=self.dtype(dtype), device=self.device)


def _wheres() -> dict[str, Where]:
    out = {
        "numpy": Where(
            "numpy",
            array_namespace(np.ones(1)),
            None,
            ("float16", "float32", "float64"),
        ),
        "strict": Where("strict", _strict(), None, ("float32", "float64")),
        "strict-device1": Where(
            "strict-device1", _strict(), _strict().Device("device1"), ("float32", "float64")
        ),
    }
    torch = _torch()
    if torch is not None:
        out["torch"] = Where(
            "torch",
            array_namespace(torch.ones(1)),
            torch.device("cpu"),
            ("float16", "bfloat16", "float32", "float64"),
        )
    return out


WHERES = _wheres()
BACKENDS = sorted(WHERES)
METHOD_NAMES = ("rbo", "sgd", "sam", "entropy-sgd")


def _host(x: Any) -> np.ndarray:
    """``x`` as a float64 NumPy array (exact for every float dtype up to float64)."""
    xp = array_namespace(x)
    return np.asarray(rbo.backends.to_host(xp.astype(x, xp.float64)), dtype=np.float64)


# ---------------------------------------------------------------------------- problems


def _quadratic(cond: float) -> Callable[[Any], tuple[Any, Any]]:
    def value_and_grad(x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        n = x.shape[-1]
        w = [cond ** (i / (n - 1)) if n > 1 else 1.0 for i in range(n)]
        w = xp.asarray(w, dtype=x.dtype, device=device_of(x))
        return 0.5 * xp.sum(w * x * x, axis=-1), w * x

    return value_and_grad


def _with_bad_region(
    base: Callable[[Any], tuple[Any, Any]], bad: float, threshold: float
) -> Callable[[Any], tuple[Any, Any]]:
    """``base``, but ``bad`` (NaN or inf), gradient included, where ``x[0] > threshold``."""

    def value_and_grad(x: Any) -> tuple[Any, Any]:
        xp = array_namespace(x)
        f, g = base(x)
        inside = x[..., 0] > threshold
        f = xp.where(inside, xp.asarray(bad, dtype=f.dtype, device=device_of(f)), f)
        g = xp.where(inside[..., None], xp.asarray(bad, dtype=g.dtype, device=device_of(g)), g)
        return f, g

    return value_and_grad


def _landscape(kind: str, cond: float) -> Callable[[Any], tuple[Any, Any]]:
    if kind == "quadratic":
        return _quadratic(cond)
    if kind == "rosenbrock":
        return rosenbrock.value_and_grad
    return rastrigin.value_and_grad


class Boom(Exception):
    """The objective's own error, raised at a chosen call."""


@dataclass
class Recorder:
    """The user's ``fun`` and ``jac``: every call recorded, misbehaving when told to.

    ``returns`` is how ``fun`` hands back its value: a 0-d array (``"array"``), a Python
    float or a NumPy float. ``raise_at`` raises :class:`Boom` at that call of ``fun``
    (``raise_in="jac"``: of ``jac``); ``wrong_at`` returns ``wrong`` at that call instead.
    """

    value_and_grad: Callable[[Any], tuple[Any, Any]]
    returns: str = "array"
    raise_at: int | None = None
    raise_in: str = "fun"
    wrong_at: int | None = None
    wrong: Any = None
    calls: list[tuple[bytes, bytes]] = field(default_factory=list)
    seen: list[tuple[np.ndarray, float]] = field(default_factory=list)
    jac_points: list[bytes] = field(default_factory=list)
    nfun: int = 0
    njac: int = 0

    def evaluate(self, x: Any) -> tuple[Any, Any]:
        # The objective's own floating-point warnings are its business, not rbo's.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return self.value_and_grad(x)

    def _value(self, f: Any) -> Any:
        if self.returns == "float":
            return float(f) if f.ndim == 0 else f
        if self.returns == "numpy":
            return np.float64(float(f)) if f.ndim == 0 else _host(f)
        return f

    def fun(self, x: Any) -> Any:
        self.nfun += 1
        if self.raise_in == "fun" and self.nfun == self.raise_at:
            raise Boom(f"fun failed at call {self.nfun}")
        f, _ = self.evaluate(x)
        host = _host(x)
        # Bytes, not floats, so that NaN compares equal to itself between reruns.
        self.calls.append((host.tobytes(), _host(f).tobytes()))
        self.seen.append((host, _host(f)))
        if self.nfun == self.wrong_at:
            return self.wrong
        return self._value(f)

    def jac(self, x: Any) -> Any:
        self.njac += 1
        if self.raise_in == "jac" and self.njac == self.raise_at:
            raise Boom(f"jac failed at call {self.njac}")
        self.jac_points.append(_host(x).tobytes())
        return self.evaluate(x)[1]

    def fun_and_grad(self, x: Any) -> Any:
        value = self.fun(x)
        if self.nfun == self.wrong_at:
            return value
        return value, self.evaluate(x)[1]

    def best_at_gradients(self) -> float:
        """The least finite value of ``fun`` at a point where ``jac`` was called."""
        points = set(self.jac_points)
        values = [float(f.ravel()[0]) for (x, f) in self.seen if x.tobytes() in points]
        return min((v for v in values if math.isfinite(v)), default=math.inf)

    def best_seen(self) -> float:
        values = [float(f.ravel()[0]) for (_, f) in self.seen]
        return min((v for v in values if math.isfinite(v)), default=math.inf)


# ---------------------------------------------------------------------------- known failures


def _known_vectorized_baseline(case: dict[str, Any]) -> bool:
    return case.get("m") is not None and case.get("method") != "rbo"


def _known_multistart_seed(case: dict[str, Any]) -> bool:
    return case.get("bad_name") == "seed"


def _known_init_error(case: dict[str, Any]) -> bool:
    """An exception raised by a call that ``init`` makes after ``fun(x0)``."""
    k = case.get("raise_at")
    if k is None:
        return False
    if case.get("raise_in") == "jac":
        return k == 1
    n, jac = case["n"], case["jac"]
    after_x0 = {"2-point": n, "3-point": 2 * n}.get(jac, 0)
    return 1 < k <= 1 + after_x0


WARNINGS_ESCAPE = "NumPy RuntimeWarnings (overflow, invalid) escape from rbo"

#: Inputs on which the current code fails, by failure class: each predicate takes a
#: generated case (a dict) and says whether it is in the class. The generated tests skip
#: such cases (see :func:`_known`); each class has a strict-xfail example test below.
#: Delete an entry (and un-mark its example) once the class is fixed.
KNOWN_FAILURES: dict[str, Callable[[dict[str, Any]], bool]] = {
    # Empty: every class found so far is fixed, and its example below is a regression test.
}


@contextlib.contextmanager
def _warnings_of_known_failure() -> Iterator[None]:
    """While :data:`WARNINGS_ESCAPE` is a known failure, a RuntimeWarning from rbo is
    counted instead of failing the case (the objective's own are silenced in Recorder)."""
    if WARNINGS_ESCAPE not in KNOWN_FAILURES:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield
    if any(issubclass(w.category, RuntimeWarning) for w in caught):
        event(f"skipped, known failure: {WARNINGS_ESCAPE}")
    for w in caught:
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _known(case: dict[str, Any]) -> bool:
    """Whether ``case`` is in a known failure class (counted as a hypothesis event)."""
    for name, predicate in KNOWN_FAILURES.items():
        if predicate(case):
            event(f"skipped, known failure: {name}")
            return True
    return False


# ---------------------------------------------------------------------------- strategies

_MAGNITUDES = (1.0, 1.0, 1.0, 1e-300, 1e-5, 1e5, 1e150, 1e300)


@st.composite
def runs(draw: st.DrawFn, *, batched: bool = False) -> dict[str, Any]:
    """A valid run: problem, start, method and options, backend, callback."""
    backend = draw(st.sampled_from(BACKENDS))
    where = WHERES[backend]
    kind = draw(st.sampled_from(["quadratic", "rosenbrock", "rastrigin"]))
    low = 2 if kind == "rosenbrock" else 1
    # Mostly small, sometimes up to 50 (finite differences cost n calls a gradient).
    n = draw(st.integers(low, 6) | st.integers(low, 8 if batched else 50))
    m = draw(st.integers(1, 8)) if batched else None
    start_kind = draw(st.sampled_from(["float", "float", "float", "int", "list"]))
    if backend != "numpy" and start_kind == "list":
        start_kind = "float"
    dtype = draw(st.sampled_from(where.floats)) if start_kind == "float" else "float64"
    magnitude = draw(st.sampled_from(_MAGNITUDES)) if start_kind != "int" else 1.0
    count = n * (m or 1)
    unit = draw(
        st.lists(st.floats(-3.0, 3.0, allow_nan=False, width=32), min_size=count, max_size=count)
    )
    values = [v * magnitude for v in unit]
    if start_kind == "int":
        values = [int(v) for v in unit]
    region = draw(st.sampled_from([None, None, "nan", "inf"]))
    threshold = draw(st.floats(-1.0, 3.0, width=32)) if region else 0.0
    method = draw(st.sampled_from(METHOD_NAMES))
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["lr"] = draw(st.floats(1e-4, 1.0))
    if method == "rbo" and draw(st.booleans()):
        options["radius"] = draw(st.floats(1e-3, 10.0))
    if method == "entropy-sgd":
        options["inner_steps"] = draw(st.integers(1, 3))
    case = {
        "backend": backend,
        "kind": kind,
        "cond": draw(st.sampled_from([1.0, 10.0, 1e4, 1e8])) if kind == "quadratic" else 1.0,
        "n": n,
        "m": m,
        "start_kind": start_kind,
        "dtype": dtype,
        "values": values,
        "region": region,
        "threshold": threshold,
        "method": method,
        "options": options,
        "jac": draw(st.sampled_from(["callable", "callable", "true", "2-point", "3-point"])),
        "returns": draw(st.sampled_from(["array", "array", "float", "numpy"])),
        "maxiter": draw(st.integers(0, 12)),
        "maxfev": draw(st.one_of(st.none(), st.integers(1, 150))),
        "gtol": draw(st.one_of(st.none(), st.sampled_from([0.0, 1e-12, 1e-6, 1.0]))),
        "patience": draw(st.one_of(st.none(), st.integers(1, 5))),
        "callback": draw(st.sampled_from([None, None, "xk", "intermediate"])),
        "callback_does": draw(st.sampled_from(["nothing", "stop", "raise"])),
        "callback_at": draw(st.integers(1, 6)),
    }
    if batched:
        # The batched objective returns arrays; scalar return kinds do not apply.
        case["returns"] = "array"
    return case


def _problem(case: dict[str, Any]) -> Callable[[Any], tuple[Any, Any]]:
    base = _landscape(case["kind"], case["cond"])
    if case["region"] is None:
        return base
    return _with_bad_region(
        base, math.nan if case["region"] == "nan" else math.inf, case["threshold"]
    )


def _start(case: dict[str, Any]) -> Any:
    where = WHERES[case["backend"]]
    values = case["values"]
    if case["m"] is not None:
        n = case["n"]
        values = [values[i : i + n] for i in range(0, len(values), n)]
    if case["start_kind"] == "list":
        return values
    if case["start_kind"] == "int":
        return where.xp.asarray(values, dtype=where.xp.int64, device=where.device)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # 1e300 overflows float32: the start is inf then
        return where.asarray(values, case["dtype"])


class CallbackStop(Exception):
    """The callback's own error."""


def _callback(case: dict[str, Any]) -> Callable[..., None] | None:
    if case["callback"] is None:
        return None
    state = {"calls": 0}

    def act() -> None:
        state["calls"] += 1
        if state["calls"] == case["callback_at"]:
            if case["callback_does"] == "stop":
                raise StopIteration
            if case["callback_does"] == "raise":
                raise CallbackStop("the callback failed")

    if case["callback"] == "xk":
        return lambda xk: act()

    def with_result(intermediate_result: OptimizeResult) -> None:
        act()

    return with_result


def _call(case: dict[str, Any], recorder: Recorder, x0: Any, **extra: Any) -> OptimizeResult:
    jac: Any = {"callable": recorder.jac, "true": True}.get(case["jac"], case["jac"])
    fun = recorder.fun_and_grad if case["jac"] == "true" else recorder.fun
    kwargs = {
        "method": case["method"],
        "maxiter": case["maxiter"],
        "maxfev": case["maxfev"],
        "gtol": case["gtol"],
        "patience": case["patience"],
        "callback": _callback(case),
        "vectorized": case["m"] is not None,
        **case["options"],
        **extra,
    }
    with _alarm(), _warnings_of_known_failure():
        return roll(fun, x0, jac=jac, **kwargs)


def _finite_start(x0: Any) -> bool:
    if isinstance(x0, list):
        return bool(np.all(np.isfinite(np.asarray(x0, dtype=np.float64))))
    xp = array_namespace(x0)
    if xp.isdtype(x0.dtype, "integral"):
        return True
    return bool(xp.all(xp.isfinite(x0)))


def _host_or_float(value: Any) -> Any:
    return _host(value) if array_api_compat.is_array_api_obj(value) else float(value)


def _value_at(recorder: Recorder, x: Any) -> np.ndarray:
    """``fun(x)`` as the user's objective computes it, on the host."""
    return _host(recorder.evaluate(x)[0])


def _check_best(case: dict[str, Any], res: OptimizeResult, recorder: Recorder) -> None:
    """The result's best point: finite, not above f(x0), x evaluating to fun, not above
    any value seen where a gradient was computed."""
    f0 = recorder.seen[0][1]
    fun = res.fun
    funs = np.atleast_1d(_host(fun) if array_api_compat.is_array_api_obj(fun) else float(fun))
    assert np.all(np.isfinite(funs)), funs
    assert np.all(funs <= np.atleast_1d(f0)), (funs, f0)
    at_x = np.atleast_1d(_value_at(recorder, res.x))
    np.testing.assert_array_equal(at_x, funs, err_msg="fun(res.x) != res.fun")
    if case["m"] is None and case["jac"] == "callable" and case["method"] in ("rbo", "sgd"):
        # RBO and SGD compute gradients only at the points they move to.
        assert funs[0] <= recorder.best_at_gradients(), (funs[0], recorder.best_at_gradients())
    if case["m"] is None:
        event(
            "best of all values seen kept"
            if funs[0] <= recorder.best_seen()
            else "a lower value was seen than res.fun (projection or probe point)"
        )


def _check_run(case: dict[str, Any]) -> None:
    note(repr(case))
    if _known(case):
        return
    recorder = Recorder(_problem(case), returns=case["returns"])
    x0 = _start(case)
    try:
        res = _call(case, recorder, x0)
    except ValueError as exc:
        if not _finite_start(x0):
            assert "x0" in str(exc), exc
            event("non-finite start refused")
            return
        if case["maxfev"] is not None and "maxfev" in str(exc) and recorder.nfun == 0:
            event("maxfev below the first evaluation's cost refused")
            return
        if recorder.seen and not np.all(np.isfinite(recorder.seen[0][1])):
            assert "fun(x0)" in str(exc), exc
            event("non-finite f(x0) refused")
            return
        raise
    except CallbackStop as exc:
        assert case["callback_does"] == "raise"
        result = exc.rbo_result  # type: ignore[attr-defined]
        statuses = np.atleast_1d(np.asarray(rbo.backends.to_host(result.status)))
        assert np.all(statuses == int(rbo.Status.ERROR)), statuses
        _check_best(case, result, recorder)
        event("callback error carried rbo_result")
        return
    assert isinstance(res, OptimizeResult)
    assert _finite_start(x0)
    _check_best(case, res, recorder)
    event(f"status {res.status}" if case["m"] is None else "batched result")
    # The same input again: the same calls and the same result, bit for bit.
    again = Recorder(_problem(case), returns=case["returns"])
    res2 = _call(case, again, _start(case))
    assert again.calls == recorder.calls
    np.testing.assert_array_equal(_host(res2.x), _host(res.x))
    assert res2.nfev == res.nfev
    np.testing.assert_array_equal(
        np.asarray(rbo.backends.to_host(res2.nit)), np.asarray(rbo.backends.to_host(res.nit))
    )
    np.testing.assert_array_equal(np.asarray(_host_or_float(res2.fun)), _host_or_float(res.fun))


# ---------------------------------------------------------------------------- valid runs


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@_examples(0.5)
@given(case=runs())
def test_a_valid_run_returns_its_best_point_or_names_the_bad_start(case: dict[str, Any]) -> None:
    _check_run(case)


@pytest.mark.filterwarnings("ignore::rbo.ProjectionWarning")  # its settings are meant
@_examples(0.25)
@given(case=runs(batched=True))
def test_a_vectorized_run_returns_each_rows_best_point(case: dict[str, Any]) -> None:
    _check_run(case)


# ---------------------------------------------------------------------------- bad input

_GOOD = {"maxiter": 3}
_BAD_VALUES: dict[str, list[Any]] = {
    "radius": [0.0, -1.0, math.nan, math.inf, "1", None],
    "lr": [0.0, -0.5, math.nan, math.inf, "0.1", None],
    "maxiter": [-1, 1.5, "3", True, math.nan],  # None: the default
    "maxfev": [0, -2, 2.5, "10", True],
    "gtol": [-1.0, math.nan, math.inf, "1e-6", True, 1j],
    "xtol": [-1.0, math.nan, "x"],
    "ftol": [-1.0, math.inf],
    "tol": [-1e-3, math.nan],
    "patience": [0, -3, 1.5, "5", False],
    "method": [None, 3, "nope", "", "newton", ["rbo"]],
    "callback": [3, "print"],
    "jac": ["4-point", 3, "cs"],
    "backend": ["abacus", 3, "jax"],
}


@st.composite
def bad_hyperparameters(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(_BAD_VALUES)))
    return {
        "bad_name": name,
        "bad_value": draw(st.sampled_from(_BAD_VALUES[name])),
        "method": draw(st.sampled_from(METHOD_NAMES)),
        "backend": draw(st.sampled_from(BACKENDS)),
        "n": draw(st.integers(1, 4)),
    }


@PROFILE
@given(case=bad_hyperparameters())
def test_a_bad_hyperparameter_raises_naming_it(case: dict[str, Any]) -> None:
    note(repr(case))
    if _known(case):
        return
    name, value = case["bad_name"], case["bad_value"]
    kwargs: dict[str, Any] = {"method": case["method"], **_GOOD, name: value}
    if name == "radius" and case["method"] != "rbo":
        kwargs["method"] = "rbo"
    recorder = Recorder(_quadratic(1.0))
    kwargs.setdefault("jac", recorder.jac)
    x0 = WHERES[case["backend"]].asarray([0.5] * case["n"], "float64")
    # A missing backend may say so with ImportError; everything else is a bad value.
    errors: tuple[type[BaseException], ...] = (TypeError, ValueError)
    if name == "backend":
        errors = (TypeError, ValueError, ImportError)
    with _alarm(), pytest.raises(errors) as info:
        roll(recorder.fun, x0, **kwargs)
    shown = repr(value) if isinstance(value, str) else name
    assert name in str(info.value) or shown in str(info.value), str(info.value)
    assert recorder.nfun == 0, "fun was called before the arguments were checked"


_BAD_STARTS: dict[str, Callable[[Where], Any]] = {
    "bool": lambda w: w.xp.asarray([True, False], device=w.device),
    "complex": lambda w: w.xp.asarray([1 + 1j, 2.0], dtype=w.xp.complex128, device=w.device),
    "empty": lambda w: w.xp.asarray([], dtype=w.xp.float64, device=w.device),
    "nan": lambda w: w.asarray([1.0, math.nan], "float64"),
    "inf": lambda w: w.asarray([-math.inf, 1.0], "float64"),
    "2-D": lambda w: w.asarray([[1.0, 2.0], [3.0, 4.0]], "float64"),
    "3-D": lambda w: w.asarray([[[1.0]]], "float64"),
    "1e300 in float32": lambda w: w.asarray([1e300, 1.0], "float64") * 1e300,
    "strings": lambda w: ["a", "b"],
    "None": lambda w: None,
    "ragged": lambda w: [[1.0], [1.0, 2.0]],
    "dict": lambda w: {"x": 1.0},
    "empty list": lambda w: [],
}


@_examples(0.5)
@given(kind=st.sampled_from(sorted(_BAD_STARTS)), backend=st.sampled_from(BACKENDS))
def test_a_bad_start_raises_naming_x0(kind: str, backend: str) -> None:
    recorder = Recorder(_quadratic(1.0))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # building an overflowing start is the test's doing
        x0 = _BAD_STARTS[kind](WHERES[backend])
    with _alarm():
        with pytest.raises((TypeError, ValueError)) as info:
            roll(recorder.fun, x0, jac=recorder.jac, maxiter=2)
    assert "x0" in str(info.value), str(info.value)
    assert recorder.nfun == 0


@PROFILE
@given(
    case=runs(),
    raise_at=st.integers(1, 40),
    raise_in=st.sampled_from(["fun", "fun", "jac"]),
)
def test_an_error_in_fun_carries_the_best_point_so_far(
    case: dict[str, Any], raise_at: int, raise_in: str
) -> None:
    if raise_in == "jac":
        case["jac"] = "callable"
    case.update(raise_at=raise_at, raise_in=raise_in, callback=None, maxfev=None, region=None)
    case["values"] = [max(-3.0, min(3.0, v)) for v in case["values"]]  # a finite f(x0)
    case["maxiter"] = max(case["maxiter"], 4)
    note(repr(case))
    if _known(case):
        return
    recorder = Recorder(
        _problem(case), returns=case["returns"], raise_at=raise_at, raise_in=raise_in
    )
    try:
        _call(case, recorder, _start(case))
    except Boom as exc:
        if not recorder.seen or not np.all(np.isfinite(recorder.seen[0][1])):
            return
        assert hasattr(exc, "rbo_result"), "the best point so far was lost"
        _check_best(case, exc.rbo_result, recorder)
        event("error carried rbo_result")
    except ValueError as exc:
        # A non-finite f(x0) (float16 overflow, say) is refused before the error comes.
        assert "fun(x0)" in str(exc), exc
    else:
        event("the run ended before the error")


_WRONG_RETURNS: dict[str, Any] = {
    "string": "1.0",
    "None": None,
    "complex": 1 + 2j,
    "list": [1.0],
    "bool": True,
    "dict": {"f": 1.0},
    "vector": np.ones(3),
}


@_examples(0.5)
@given(
    wrong=st.sampled_from(sorted(_WRONG_RETURNS)),
    wrong_at=st.integers(1, 12),
    backend=st.sampled_from(BACKENDS),
    jac=st.sampled_from(["callable", "2-point", "true"]),
)
def test_a_wrong_return_value_raises_naming_fun(
    wrong: str, wrong_at: int, backend: str, jac: str
) -> None:
    where = WHERES[backend]
    value = _WRONG_RETURNS[wrong]
    if wrong == "vector":
        value = where.asarray([1.0, 2.0, 3.0], "float64")
    case = {
        "jac": jac,
        "method": "rbo",
        "maxiter": 5,
        "maxfev": None,
        "gtol": None,
        "patience": None,
        "callback": None,
        "m": None,
        "options": {},
    }
    recorder = Recorder(_quadratic(1.0), wrong_at=wrong_at, wrong=value)
    x0 = where.asarray([0.5, -0.25], "float64")
    try:
        _call(case, recorder, x0)
    except (TypeError, ValueError) as exc:
        assert "fun" in str(exc), str(exc)
        if wrong_at > 1 and recorder.nfun > 1:
            result = getattr(exc, "rbo_result", None)
            if result is not None:
                assert math.isfinite(result.fun)
    else:
        assert recorder.nfun < wrong_at, "a wrong return value was accepted"


# ---------------------------------------------------------------------------- multistart


@_examples(0.15)  # a search runs many balls, and strict and torch arrays cost
@given(
    n=st.integers(1, 4),
    n_starts=st.integers(1, 5),
    seed=st.one_of(st.none(), st.integers(0, 2**32)),
    vectorized=st.booleans(),
    backend=st.sampled_from(["numpy", "array_api_strict", "torch"]),
    dtype=st.sampled_from([None, "float32", "float64"]),
)
def test_multistart_returns_the_best_of_its_runs(
    n: int, n_starts: int, seed: int | None, vectorized: bool, backend: str, dtype: str | None
) -> None:
    if backend == "torch" and _torch() is None:
        return
    recorder = Recorder(rastrigin.value_and_grad)
    with _alarm(), _warnings_of_known_failure():
        res = rbo.multistart(
            recorder.fun,
            [(-2.0, 2.0)] * n,
            n_starts,
            jac=recorder.jac,
            rng=seed,
            vectorized=vectorized,
            backend=backend,
            dtype=dtype,
            schedule="restart",  # balls, whose steps maxiter bounds
            maxiter=5,
            maxfev=40 * n,  # the budget of the whole search
        )
    assert isinstance(res, OptimizeResult)
    assert math.isfinite(res.fun)
    starts = _host(res.starts)
    assert res.fun <= float(np.min(_host(recorder.evaluate(res.starts)[0]))) + 0.0
    assert float(_value_at(recorder, res.x)) == res.fun
    # Dropped balls hand their budget to new ones: at least the first round's starts.
    assert starts.shape == (res.n_balls, n) and res.n_balls >= 1


@_examples(0.25)
@given(seed=st.sampled_from([-1, 1.5, "a", [1.0], True]))
def test_multistart_bad_rng_raises_naming_it(seed: Any) -> None:
    case = {"bad_name": "rng", "bad_value": seed}
    note(repr(case))
    if _known(case):
        return
    with pytest.raises((TypeError, ValueError), match="rng"):
        rbo.multistart(rastrigin, [(-1.0, 1.0)], 2, jac=rastrigin.jac, rng=seed, maxfev=20)


# ---------------------------------------------------------------------------- known failures
# One minimal example per class of failure the suite found; each class is fixed, and its
# example stays as a regression test (a new class: a strict-xfail example and an entry in
# KNOWN_FAILURES until it is fixed).


@pytest.mark.parametrize("method", ["sgd", "sam", "entropy-sgd"])
def test_vectorized_baseline_runs_return_a_value_per_row(method: str) -> None:
    q = rbo.problems.quadratic
    res = roll(q, np.ones((3, 2)), jac=q.jac, method=method, vectorized=True, maxiter=3)
    assert res.fun.shape == (3,)


def test_an_error_in_the_first_gradient_carries_rbo_result() -> None:
    recorder = Recorder(_quadratic(1.0), raise_at=2)
    with pytest.raises(Boom) as info:
        roll(recorder.fun, np.ones(2), maxiter=3)  # call 2: the first difference
    assert math.isfinite(info.value.rbo_result.fun)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_multistart_bad_rng_names_rng(seed: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="rng"):
        rbo.multistart(rastrigin, [(-1.0, 1.0)], 2, jac=rastrigin.jac, rng=seed, maxfev=20)


@pytest.mark.parametrize(
    ("method", "dtype", "x0"),
    [("rbo", np.float16, [0.0, 0.0]), ("sgd", np.float32, [0.0] * 5)],
    ids=["rbo-float16", "sgd-float32"],
)
def test_no_runtime_warning_escapes_from_rbo(method: str, dtype: Any, x0: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        recorder = Recorder(rosenbrock.value_and_grad)  # silences the objective's own
        roll(recorder.fun, np.asarray(x0, dtype=dtype), jac=recorder.jac, method=method, maxiter=4)


@pytest.mark.parametrize("bounded", [False, True], ids=["free", "box"])
@pytest.mark.parametrize("vectorized", [False, True], ids=["single", "batched"])
@pytest.mark.parametrize("method", ["rbo", "lbfgs", "sgd", "sam", "entropy-sgd"])
def test_no_runtime_warning_escapes_when_the_squared_gradient_overflows(
    backend: Any, method: str, vectorized: bool, bounded: bool
) -> None:
    # |g|^2 of a gradient of 1e200 per coordinate overflows in every inner product of a
    # step (L-BFGS's slopes and pairs, the stopping test): rbo handles that, silently.
    xp = backend.xp
    x0 = backend.asarray(np.zeros((2, 3) if vectorized else 3))

    def fg(x: Any) -> tuple[Any, Any]:
        return xp.sum(x, axis=-1), xp.full_like(x, 1e200)

    bounds = [(-1e300, 1e300)] * 3 if bounded else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = rbo.minimize(
            fg, x0, jac=True, method=method, bounds=bounds, vectorized=vectorized,
            options={"maxiter": 5},
        )  # fmt: skip
    success = _host(res.success) if vectorized else res.success
    assert not np.any(success)  # |g| = 1e200 meets no gtol


def test_the_objective_and_callback_keep_the_callers_error_handling() -> None:
    # The loop is quiet inside, but fun, jac and the callback are the user's: under
    # np.errstate(over="raise") an overflow in each still raises, with the best point.
    big = np.float64(1e200)
    calls = {"fun": 0, "jac": 0, "callback": 0}

    def overflows(part: str) -> None:
        if calls[part] == 1:
            big * big  # the overflow is the point
        calls[part] += 1

    def fun(x: Any) -> float:
        overflows("fun")
        return float(rosenbrock(x))

    def jac(x: Any) -> Any:
        overflows("jac")
        return rosenbrock.jac(x)

    for part in calls:
        calls.update(fun=-9, jac=-9, callback=-9)
        calls[part] = 0

        def callback(xk: Any) -> None:
            overflows("callback")

        with np.errstate(over="raise"), pytest.raises(FloatingPointError) as info:
            rbo.minimize(fun, np.zeros(2), jac=jac, method="lbfgs", callback=callback)
        assert math.isfinite(info.value.rbo_result.fun)  # type: ignore[attr-defined]


def test_a_run_nested_in_the_objective_is_quiet_and_its_objective_loud() -> None:
    # The inner run is set up inside the outer one's fun, under the caller's state: its
    # own overflowing products stay silent, its objective raises as the caller said.
    def inner_fg(x: Any) -> tuple[Any, Any]:
        return np.sum(x), np.full_like(x, 1e200)

    def fun(x: Any) -> float:
        inner = rbo.minimize(inner_fg, x, jac=True, method="lbfgs", options={"maxiter": 3})
        assert not inner.success
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            rbo.minimize(lambda z: float(np.float64(1e200) * 1e200 + z @ z), x)
        return float(x @ x)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = rbo.minimize(fun, np.ones(2), jac=lambda x: 2 * x, method="lbfgs")
    assert res.success


def test_to_host_takes_torch_bfloat16() -> None:
    torch = pytest.importorskip("torch")
    host = rbo.backends.to_host(torch.ones(2, dtype=torch.bfloat16))
    assert host.shape == (2,)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_an_error_in_a_batch_gives_every_row_status_error(dtype: Any) -> None:
    # Found by the batched property: row 0 starts at Rastrigin's minimum, so gtol holds at
    # x0 and it stops there; row 1 runs on until the callback raises. The error ends the
    # call for the whole batch, so row 0 too is ERROR (it used to stay SUCCESS), and still
    # at its best point.
    x0 = np.zeros((2, 5), dtype=dtype)
    x0[1, 4] = 1.0

    def callback(xk: Any) -> None:
        raise CallbackStop("the callback failed")

    recorder = Recorder(rastrigin.value_and_grad)
    with pytest.raises(CallbackStop) as info:
        roll(recorder.fun, x0, jac=recorder.jac, vectorized=True, maxiter=1, callback=callback)
    partial = info.value.rbo_result  # type: ignore[attr-defined]
    assert partial.status.tolist() == [int(rbo.Status.ERROR)] * 2
    assert not np.any(partial.success)
    assert all("CallbackStop: the callback failed" in m for m in partial.message)
    np.testing.assert_array_equal(_host(partial.x[0]), np.zeros(5))
    assert partial.fun[0] == 0.0


def test_a_batched_float16_run_warns_nothing_when_a_diagnostic_leaves_float16s_range() -> None:
    # Found by the batched property: the last row's projection residual reached 8e4 in
    # float32, and casting the result back to float16 warned "overflow in cast". It is
    # inf in float16 now, silently; the rows' points and values are float16 as before.
    x0 = np.zeros((5, 4), dtype=np.float16)
    x0[4, 1:] = [2.765625e-05, 6.25e-07, 3.125e-07]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # rbo's own warning on its projections is not what this checks.
        warnings.simplefilter("ignore", rbo.ProjectionWarning)
        recorder = Recorder(rastrigin.value_and_grad)  # silences the objective's own
        res = roll(
            recorder.fun,
            x0,
            jac=recorder.jac,
            vectorized=True,
            lr=0.4504973261634588,
            radius=9.262699331471941,
            maxiter=8,
        )
    assert res.x.dtype == res.fun.dtype == np.float16
    assert np.all(np.isfinite(res.fun)) and np.all(res.fun <= rastrigin(x0))


@pytest.mark.parametrize("vectorized", [True, False], ids=["batched", "single"])
def test_a_float16_run_warns_nothing_when_a_trial_point_leaves_float16s_range(
    vectorized: bool,
) -> None:
    # Found by the batched property: with lr=1 the projection's first trial point on
    # Rosenbrock lies beyond 65504, and casting it to float16 for fun warned "overflow in
    # cast". fun now sees it as inf, silently, and the run keeps its best point.
    x0 = np.asarray([[0.0, 1.0, 0.0]], dtype=np.float16)
    start = x0 if vectorized else x0[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        recorder = Recorder(rosenbrock.value_and_grad)  # silences the objective's own
        res = roll(recorder.fun, start, jac=recorder.jac, vectorized=vectorized, lr=1.0, maxiter=1)
    fun = np.atleast_1d(_host_or_float(res.fun))
    assert np.all(np.isfinite(fun)) and np.all(fun <= _host(rosenbrock(start)))
