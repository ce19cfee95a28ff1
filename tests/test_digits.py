"""The digits experiment (examples/): the hand-written MLP, the data, and a fast end-to-end
run of the comparison, the sweep and the ironing landscapes."""

from __future__ import annotations

import doctest
import gzip
import itertools
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import Backend, assert_array_like

pytest.importorskip("sklearn", reason="the digits data need scikit-learn")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import digits
from digits import MLP, load_digits_split, load_mnist, read_idx


def test_example_docstrings_run() -> None:
    assert doctest.testmod(digits).failed == 0


def test_mlp_gradient_matches_central_differences() -> None:
    mlp = MLP((5, 4, 3, 3))
    rng = np.random.default_rng(0)
    params = mlp.init(1, np.zeros(0)) + 0.1 * rng.normal(size=mlp.n_params)
    x, y = rng.normal(size=(7, 5)), np.array([0, 1, 2, 0, 1, 2, 1])
    _, grad = mlp.value_and_grad(params, x, y)
    h = 1e-6
    numeric = np.array(
        [
            (
                mlp.value_and_grad(params + h * e, x, y)[0]
                - mlp.value_and_grad(params - h * e, x, y)[0]
            )
            / (2 * h)
            for e in np.eye(mlp.n_params)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_mlp_loss_is_the_mean_cross_entropy() -> None:
    mlp = MLP((2, 3))
    # One layer: scores = x W + b with W = [[1, 0, 0], [0, 1, 0]], b = 0.
    params = np.array([1.0, 0, 0, 0, 1, 0, 0, 0, 0])
    x, y = np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0, 2])
    loss, _ = mlp.value_and_grad(params, x, y)
    expected = (-np.log(np.exp(2) / (np.exp(2) + 2)) - np.log(1 / 3)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-14)
    # Ties go to the first class: the second sample (scores all 0, label 2) is a miss.
    assert mlp.evaluate(params, x, y) == pytest.approx((expected, 0.5))


def test_mlp_runs_on_every_backend(backend: Backend) -> None:
    mlp = MLP((6, 5, 4))
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(9, 6)), rng.integers(0, 4, size=9)
    p = mlp.init(3, np.zeros(0))
    ref_loss, ref_grad = mlp.value_and_grad(p, x, y)
    xp = backend.xp
    params = backend.asarray(p)
    loss, grad = mlp.value_and_grad(
        params, backend.asarray(x), xp.asarray(y, dtype=xp.int64, device=backend.device)
    )
    assert_array_like(grad, params)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-12)
    np.testing.assert_allclose([float(v) for v in grad], ref_grad, rtol=1e-10, atol=1e-14)


def test_digits_split_is_seeded_and_disjoint() -> None:
    a, b, c = load_digits_split(0), load_digits_split(0), load_digits_split(1)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (1079, 359, 359)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_test, c.y_test)
    rows = {tuple(r) for r in a.x_train} | {tuple(r) for r in a.x_val}
    overlap = sum(tuple(r) in rows for r in a.x_test)
    assert overlap < 10  # a few digits images are exact duplicates in the data set itself
    assert a.x_train.min() == 0.0 and a.x_train.max() == 1.0 and a.n_classes == 10
    with pytest.raises(ValueError, match="fractions"):
        load_digits_split(val=0.6, test=0.5)


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(">u1").tobytes()
    with (gzip.open if compress else open)(path, "wb") as fh:
        fh.write(raw)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files_are_read(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    train_x = rng.integers(0, 256, size=(30, 4, 4))
    train_y = rng.integers(0, 10, size=30)
    test_x, test_y = rng.integers(0, 256, size=(6, 4, 4)), rng.integers(0, 10, size=6)
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", train_x, compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", train_y, compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test_x, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", test_y, compress)
    np.testing.assert_array_equal(read_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}"), test_x)
    data = load_mnist(tmp_path, val=10)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (20, 10, 6)
    assert data.n_features == 16
    np.testing.assert_allclose(data.x_test, test_x.reshape(6, 16) / 255.0)
    np.testing.assert_array_equal(data.y_test, test_y)
    assert sorted(np.concatenate([data.y_train, data.y_val]).tolist()) == sorted(train_y.tolist())


def test_bad_mnist_input_is_named(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_mnist(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist(tmp_path)


def test_digits_comparison_runs_end_to_end(tmp_path: Path) -> None:
    """The script in its fast configuration (2 epochs, 1 seed, about 5 s).

    Threshold: each of SGD, Entropy-SGD, SAM and RBO must lower the training loss and
    reach 60 % test accuracy. Chance is 10 %; after 2 epochs (68 steps of batch 32) the
    four reach 73-91 % on this split, so 60 % fails only when training is broken.
    """
    pytest.importorskip("matplotlib")
    import digits_mlp

    results = digits_mlp.main(
        [
            "--fast",
            "--quiet",
            "--markdown",
            str(tmp_path / "t.md"),
            "--plot",
            str(tmp_path / "c.png"),
        ]
    )
    for name in ("SGD", "Entropy-SGD", "SAM", "RBO"):
        (run,) = results["epochs"][name]
        assert run.status == "ok" and run.epochs == 2.0
        assert run.train_loss < run.initial_loss, name
        assert run.test_acc >= 0.6, (name, run.test_acc)
    # Table 2: every optimizer spent the same budget, give or take its last step.
    budget = results["budget_evals"]
    for name, (run,) in results["budget"].items():
        if run.status != "ok":
            continue  # stopped early (the authors' projection diverges at once)
        per_step = run.nfev / run.steps
        assert budget <= run.nfev < budget + 2 * per_step + 1, name
    # Steps cost what the methods say they cost.
    epochs = results["epochs"]
    assert epochs["SGD"][0].nfev == epochs["SGD"][0].steps
    assert epochs["SAM"][0].nfev == 2 * epochs["SAM"][0].steps
    assert epochs["Entropy-SGD"][0].nfev == 20 * epochs["Entropy-SGD"][0].steps
    assert epochs["RBO"][0].nfev > 2 * epochs["RBO"][0].steps
    text = (tmp_path / "t.md").read_text()
    assert "Table 1" in text and "Table 2" in text and "| RBO |" in text
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_sweep_classifies_cells_by_its_stated_rules(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import radius_lr_sweep as sweep

    result = sweep.main(
        [
            "--radii",
            "0.1",
            "30",
            "--lrs",
            "1",
            "100",
            "--epochs",
            "0.5",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "h.png"),
            "--markdown",
            str(tmp_path / "h.md"),
        ]
    )
    assert result["point_radius"] == pytest.approx(0.01)
    for cell in result["cells"].values():
        unstable = any(r.status != "ok" or not r.train_loss < r.initial_loss for r in cell["runs"])
        if unstable:
            assert cell["regime"] == "unstable"
        elif cell["to_point"] < sweep.MICRO:
            assert cell["regime"] == "microscopic"
        else:
            assert cell["regime"] == "macroscopic"
        assert 0.0 <= cell["unconverged"] <= 1.0
    assert (tmp_path / "h.png").stat().st_size > 10_000
    assert "| 30 |" in (tmp_path / "h.md").read_text()


def test_offset_curve_flattens_as_the_radius_grows() -> None:
    """Weak ironing on the Riemann landscape: the offset curve of a larger ball varies
    less, and every offset curve lies at least one radius above the graph."""
    import ironing

    p = ironing.problems.riemann(n_terms=10)
    xs = np.linspace(-3.6, 1.6, 2601)
    f = np.asarray(p(xs[:, None]))
    variation = [np.sum(np.abs(np.diff(f)))]
    for radius in (0.05, 0.5, 2.0, 8.0):
        h = ironing.offset_curve(p, xs, radius)
        assert np.all(h >= f + radius - 1e-12)
        variation.append(np.sum(np.abs(np.diff(h))))
    assert all(a > b for a, b in itertools.pairwise(variation))
    assert variation[-1] < 0.2 * variation[0]


def test_larger_ball_rolls_past_the_wrinkle_that_traps_gradient_descent() -> None:
    import ironing

    paths = ironing.riemann_paths(radii=(0.5,), steps=150)
    gd, ball = paths["gd"], paths["balls"][0.5]
    assert abs(float(gd.x_last[0]) - 0.3) < 0.05  # trapped next to the start
    assert ball.fun < gd.fun - 1.0  # the ball found a far lower valley
