"""A small MLP classifier written against the Array API, and its training with rbo.

The model's forward and backward passes are written by hand with Array API calls only,
so the same code trains on NumPy, CuPy, torch or array-api-strict arrays. The
parameters are one flat vector, the shape every rbo solver works on.

Data: scikit-learn's bundled 8x8 digits (1797 images; no download), split into
train / validation / test with a seed, or MNIST from IDX files on disk.

Used by ``digits_mlp.py`` (the comparison table), ``radius_lr_sweep.py`` (the
radius x learning-rate study) and the test suite.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

import rbo

__all__ = [
    "METHODS",
    "MLP",
    "Data",
    "Run",
    "load_digits_split",
    "load_mnist",
    "make_stepper",
    "read_idx",
    "train",
]

#: Default hyperparameters of each optimizer for the digits comparison. SGD and SAM use
#: the same learning rate; SAM its reference radius; Entropy-SGD the settings of its
#: paper for MNIST (L = 20, gamma0 = 0.03, scoping 1e-3, outer lr 1); RBO the authors'
#: training demo (radius 10, lr 1; parameter units).
METHODS: dict[str, dict[str, Any]] = {
    "SGD": {"method": "sgd", "lr": 0.1},
    "Entropy-SGD": {"method": "entropy-sgd", "lr": 1.0, "inner_steps": 20, "inner_lr": 0.1},
    "SAM": {"method": "sam", "lr": 0.1, "rho": 0.05},
    "RBO": {"method": "rbo", "radius": 10.0, "lr": 1.0},
}

_SOLVERS: dict[str, Callable[..., Any]] = {
    "sgd": rbo.SGD,
    "sam": rbo.SAM,
    "entropy-sgd": rbo.EntropySGD,
    "rbo": rbo.RBO,
}


# ---------------------------------------------------------------------------------------
# Data.


@dataclasses.dataclass(frozen=True)
class Data:
    """A classification data set split three ways; features in [0, 1], labels 0..k-1."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max())) + 1

    def __repr__(self) -> str:
        sizes = f"{len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)}"
        return f"Data({self.name!r}, train/val/test = {sizes}, {self.n_features} features)"


def load_digits_split(split_seed: int = 0, val: float = 0.2, test: float = 0.2) -> Data:
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1], split by a seeded permutation.

    Examples
    --------
    >>> data = load_digits_split()
    >>> data
    Data('digits', train/val/test = 1079/359/359, 64 features)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - the examples extra brings it
        raise ImportError("the digits data need scikit-learn: pip install 'rbo[examples]'") from exc
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"val and test must be fractions summing below 1; got {val}, {test}")
    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(split_seed).permutation(len(y))
    n_val, n_test = round(val * len(y)), round(test * len(y))
    i_val, i_test, i_train = np.split(order, [n_val, n_val + n_test])
    return Data("digits", x[i_train], y[i_train], x[i_val], y[i_val], x[i_test], y[i_test])


def read_idx(path: str | Path) -> np.ndarray:
    """An array from an IDX file (MNIST's format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = raw[2], raw[3]
    if code not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{code:02x}")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[code], offset=4 + 4 * ndim)
    if data.size != math.prod(shape):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def _find(directory: Path, kind: str, what: str) -> Path:
    hits = sorted(directory.glob(f"{kind}*{what}*"))
    if not hits:
        raise FileNotFoundError(f"no {kind}-{what} IDX file in {directory}")
    return hits[0]


def load_mnist(directory: str | Path, split_seed: int = 0, val: int = 10000) -> Data:
    """MNIST from its four IDX files in ``directory`` (``train-images-idx3-ubyte`` ...,
    optionally ``.gz``); ``val`` training images, chosen by ``split_seed``, validate."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    images = {k: read_idx(_find(directory, k, "images")) for k in ("train", "t10k")}
    labels = {k: read_idx(_find(directory, k, "labels")) for k in ("train", "t10k")}
    x = {k: v.reshape(len(v), -1).astype(np.float64) / 255.0 for k, v in images.items()}
    y = {k: v.astype(np.int64) for k, v in labels.items()}
    order = np.random.default_rng(split_seed).permutation(len(y["train"]))
    i_val, i_train = order[:val], order[val:]
    return Data(
        "mnist",
        x["train"][i_train],
        y["train"][i_train],
        x["train"][i_val],
        y["train"][i_val],
        x["t10k"],
        y["t10k"],
    )


# ---------------------------------------------------------------------------------------
# Model.


@dataclasses.dataclass(frozen=True)
class MLP:
    """Fully connected ReLU network with a softmax cross-entropy loss.

    ``sizes = (inputs, hidden..., classes)``. Parameters are one flat vector: for each
    layer its weight matrix (row-major, ``(fan_in, fan_out)``), then its bias.

    Examples
    --------
    >>> import numpy as np
    >>> mlp = MLP((4, 3, 2))
    >>> p = mlp.init(0, np.zeros(0))
    >>> p.shape
    (23,)
    >>> loss, grad = mlp.value_and_grad(p, np.ones((5, 4)), np.array([0, 1, 0, 1, 1]))
    >>> grad.shape, bool(loss > 0)
    ((23,), True)
    """

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"sizes must be at least two positive ints; got {self.sizes}")

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def init(self, seed: int, like: Any) -> Any:
        """He-normal weights and zero biases, drawn with NumPy from ``seed`` and moved to
        ``like``'s namespace, dtype and device."""
        rng = np.random.default_rng(seed)
        parts = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            parts += [rng.normal(0.0, math.sqrt(2.0 / a), a * b), np.zeros(b)]
        flat = np.concatenate(parts)
        xp = array_api_compat.array_namespace(like)
        return xp.asarray(flat, dtype=like.dtype, device=array_api_compat.device(like))

    def _layers(self, params: Any) -> list[tuple[Any, Any]]:
        xp = array_api_compat.array_namespace(params)
        out, i = [], 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = xp.reshape(params[i : i + a * b], (a, b))
            out.append((w, params[i + a * b : i + a * b + b]))
            i += a * b + b
        return out

    def logits(self, params: Any, x: Any) -> Any:
        """Class scores ``(m, classes)`` for inputs ``x`` of shape ``(m, inputs)``."""
        xp = array_api_compat.array_namespace(params, x)
        layers = self._layers(params)
        h = x
        for w, b in layers[:-1]:
            z = h @ w + b
            h = xp.where(z > 0, z, xp.zeros_like(z))
        w, b = layers[-1]
        return h @ w + b

    def value_and_grad(self, params: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """Mean cross-entropy on ``(x, y)`` and its gradient in ``params``, by hand."""
        xp = array_api_compat.array_namespace(params, x)
        layers = self._layers(params)
        acts, pre = [x], []
        for w, b in layers[:-1]:
            z = acts[-1] @ w + b
            pre.append(z)
            acts.append(xp.where(z > 0, z, xp.zeros_like(z)))
        w, b = layers[-1]
        scores = acts[-1] @ w + b
        shifted = scores - xp.max(scores, axis=1, keepdims=True)
        log_norm = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        onehot = _onehot(y, scores.shape[1], like=scores)
        m = scores.shape[0]
        loss = -xp.sum(onehot * (shifted - log_norm)) / m
        delta = (xp.exp(shifted - log_norm) - onehot) / m  # d loss / d scores
        grads = []
        for i in range(len(layers) - 1, -1, -1):
            w = layers[i][0]
            grads.append(xp.sum(delta, axis=0))
            grads.append(xp.reshape(acts[i].T @ delta, (-1,)))
            if i > 0:
                back = delta @ w.T
                delta = xp.where(pre[i - 1] > 0, back, xp.zeros_like(back))
        return loss, xp.concat(grads[::-1])

    def evaluate(self, params: Any, x: Any, y: Any) -> tuple[float, float]:
        """``(mean cross-entropy, accuracy)`` on ``(x, y)``, as Python floats."""
        xp = array_api_compat.array_namespace(params, x)
        scores = self.logits(params, x)
        shifted = scores - xp.max(scores, axis=1, keepdims=True)
        log_norm = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        onehot = _onehot(y, scores.shape[1], like=scores)
        loss = float(-xp.sum(onehot * (shifted - log_norm)) / scores.shape[0])
        hits = xp.argmax(scores, axis=1) == y
        return loss, float(xp.mean(xp.astype(hits, scores.dtype)))


def _onehot(y: Any, k: int, like: Any) -> Any:
    xp = array_api_compat.array_namespace(like)
    classes = xp.arange(k, device=array_api_compat.device(like))
    return xp.astype(xp.reshape(y, (-1, 1)) == classes, like.dtype)


# ---------------------------------------------------------------------------------------
# Training.


@dataclasses.dataclass
class Run:
    """What one training run measured."""

    method: str
    seed: int
    options: dict[str, Any]
    epochs: float = 0.0  # epochs completed (fractional when a budget stopped it)
    steps: int = 0
    nfev: int = 0  # gradient evaluations (each call computes value and gradient)
    initial_loss: float = math.nan  # mean cross-entropy on the training set at the start
    train_loss: float = math.nan  # mean cross-entropy on the whole training set
    train_acc: float = math.nan
    val_acc: float = math.nan
    test_acc: float = math.nan
    proj_unconverged: int = 0  # RBO: steps whose projection did not meet its tolerance
    seconds: float = 0.0
    status: str = "ok"  # "ok", or why training stopped early
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    params: Any = None


def make_stepper(options: dict[str, Any], params0: Any) -> rbo.Stepper:
    """The step-wise optimizer for ``options`` (``method`` plus that solver's options)."""
    options = dict(options)
    name = options.pop("method")
    try:
        solver = _SOLVERS[name](**options)
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {sorted(_SOLVERS)}") from None
    return rbo.Stepper(solver, params0)


def train(
    options: dict[str, Any],
    data: Data,
    *,
    epochs: float,
    batch_size: int = 32,
    seed: int = 0,
    hidden: Sequence[int] = (64,),
    max_evals: int | None = None,
    xp: Any = None,
    dtype: Any = None,
    device: Any = None,
    progress: bool | str = False,
    label: str | None = None,
) -> Run:
    """Train the MLP on ``data`` with one optimizer and report what it reached.

    Parameters
    ----------
    options : dict
        ``{"method": "sgd" | "sam" | "entropy-sgd" | "rbo", **solver options}``.
    epochs : float
        Passes over the training set (a fraction stops mid-epoch).
    batch_size : int
        Minibatch size; each step's objective is the mean loss on one minibatch.
    seed : int
        Seeds the initial parameters and the batch order: runs with the same seed start
        from the same point and see the same batches, whatever the optimizer.
    hidden : sequence of int
        Hidden layer widths.
    max_evals : int, optional
        Stop once this many gradient evaluations are spent.
    xp, dtype, device
        Array namespace (default NumPy through array-api-compat), floating dtype
        (default float64) and device to train on.
    progress : bool or "bar"
        Print a line per epoch (True) or show a tqdm bar ("bar"; plain lines without
        tqdm).
    """
    if xp is None:
        xp = array_api_compat.array_namespace(np.zeros(0))
    dtype = xp.float64 if dtype is None else dtype
    label = label or str(options.get("method"))

    def put(a: np.ndarray, integer: bool = False) -> Any:
        return xp.asarray(a, dtype=xp.int64 if integer else dtype, device=device)

    x_train, y_train = put(data.x_train), put(data.y_train, True)
    sets = {
        "train": (x_train, y_train),
        "val": (put(data.x_val), put(data.y_val, True)),
        "test": (put(data.x_test), put(data.y_test, True)),
    }
    mlp = MLP((data.n_features, *hidden, data.n_classes))
    params0 = mlp.init(seed, put(np.zeros(0)))
    opt = make_stepper(options, params0)
    rng = np.random.default_rng(seed + 1_000_003)
    n = len(data.y_train)
    per_epoch = math.ceil(n / batch_size)
    total = math.ceil(epochs * per_epoch)
    run = Run(label, seed, dict(options))
    run.initial_loss = mlp.evaluate(params0, *sets["train"])[0]
    run.history.append(
        {
            "epoch": 0.0,
            "nfev": 0,
            "train_loss": run.initial_loss,
            "val_acc": mlp.evaluate(params0, *sets["val"])[1],
        }
    )
    bar = _progress_bar(progress, total, f"{label} seed {seed}")
    start = time.perf_counter()
    step, stop = 0, False
    try:
        while step < total and not stop:
            order = rng.permutation(n)
            for b in range(min(per_epoch, total - step)):
                idx = put(order[b * batch_size : (b + 1) * batch_size], True)
                xb, yb = xp.take(x_train, idx, axis=0), xp.take(y_train, idx, axis=0)
                loss = opt.step(lambda p, xb=xb, yb=yb: mlp.value_and_grad(p, xb, yb))
                step += 1
                proj = getattr(opt.state, "proj_status", None)
                if proj is not None and int(proj) != int(rbo.ProjStatus.CONVERGED):
                    run.proj_unconverged += 1
                if opt.status is not None:
                    run.status = f"stopped: {opt.status.name}"
                    stop = True
                    break
                if bar is not None:
                    bar.update(1)
                    if step % 10 == 0:
                        bar.set_postfix(loss=f"{float(loss):.4f}", evals=opt.nfev)
                if max_evals is not None and opt.nfev >= max_evals:
                    stop = True
                    break
            train_loss = mlp.evaluate(opt.x, *sets["train"])[0]
            val_acc = mlp.evaluate(opt.x, *sets["val"])[1]
            run.history.append(
                {
                    "epoch": step / per_epoch,
                    "nfev": opt.nfev,
                    "train_loss": train_loss,
                    "val_acc": val_acc,
                }
            )
            if progress is True or (progress and bar is None):
                print(
                    f"{label} seed {seed} epoch {step / per_epoch:5.2f}: train loss "
                    f"{train_loss:.4f}, val acc {val_acc:.4f}, evals {opt.nfev}",
                    file=sys.stderr,
                )
    finally:
        if bar is not None:
            bar.close()
    run.seconds = time.perf_counter() - start
    run.steps, run.nfev, run.epochs = step, opt.nfev, step / per_epoch
    run.params = opt.x
    run.train_loss, run.train_acc = mlp.evaluate(opt.x, *sets["train"])
    run.val_acc = mlp.evaluate(opt.x, *sets["val"])[1]
    run.test_acc = mlp.evaluate(opt.x, *sets["test"])[1]
    if not math.isfinite(run.train_loss) and run.status == "ok":
        run.status = "non-finite loss"
    return run


def _progress_bar(progress: bool | str, total: int, desc: str) -> Any:
    if progress != "bar":
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, file=sys.stderr)
