"""The paper's radius x learning-rate study, on the digits MLP: where RBO's microscopic,
macroscopic and unstable regimes fall, and how SGD fares at the same learning rates.

For every radius rho and learning rate eta on the grid, RBO trains the MLP for a few
epochs from the same start and on the same batches as SGD with the same eta. Each cell
is classified:

- unstable: a run stopped (NaN/inf, failed projection) or some seed ended with a
  training loss no lower than its initial one;
- microscopic: stable, and RBO's final parameters lie close to those of a ball of
  negligible radius (``min(radii) / 10``) with the same learning rate,
  ``|theta - theta_point| < 0.25 |theta_point - theta_0|`` (mean over seeds): the ball
  behaves like a point. (At large learning rates even that point is not SGD: the
  projection bends every step onto the curved graph; the table reports the distance
  to SGD as well.)
- macroscopic: stable and not microscopic.

Writes a heatmap of validation accuracy (PNG) and a markdown table.
Run ``python examples/radius_lr_sweep.py --out docs/figures/radius_lr_sweep.png``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits import MLP, Data, Run, load_digits_split, train

RADII = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
LRS = (0.01, 0.1, 1.0, 6.0, 100.0)
#: Relative parameter distance to SGD below which RBO counts as microscopic.
MICRO = 0.25


def _unstable(runs: list[Run]) -> bool:
    return any(r.status != "ok" or not r.train_loss < r.initial_loss for r in runs)


def _distance(runs: list[Run], refs: list[Run], starts: dict[int, np.ndarray]) -> float:
    """Mean over seeds of |theta - theta_ref| / |theta_ref - theta_0|."""
    return statistics.mean(
        float(
            np.linalg.norm(np.asarray(r.params) - np.asarray(q.params))
            / np.linalg.norm(np.asarray(q.params) - starts[r.seed])
        )
        for r, q in zip(runs, refs, strict=True)
    )


def sweep(
    data: Data,
    *,
    radii: Sequence[float] = RADII,
    lrs: Sequence[float] = LRS,
    epochs: float = 3,
    seeds: Sequence[int] = (0, 1, 2),
    batch_size: int = 32,
    hidden: Sequence[int] = (64,),
) -> dict[str, Any]:
    """Train SGD at every ``lr`` and RBO at every ``(radius, lr)``; classify the cells."""
    common = {"epochs": epochs, "batch_size": batch_size, "hidden": tuple(hidden)}
    mlp = MLP((data.n_features, *hidden, data.n_classes))
    starts = {s: mlp.init(s, np.zeros(0)) for s in seeds}

    def runs_of(options: dict[str, Any]) -> list[Run]:
        return [train(options, data, seed=s, **common) for s in seeds]

    point_radius = min(radii) / 10
    sgd = {lr: runs_of({"method": "sgd", "lr": lr}) for lr in lrs}
    point = {lr: runs_of({"method": "rbo", "radius": point_radius, "lr": lr}) for lr in lrs}
    cells: dict[tuple[float, float], dict[str, Any]] = {}
    for radius in radii:
        for lr in lrs:
            runs = runs_of({"method": "rbo", "radius": radius, "lr": lr})
            to_point = _distance(runs, point[lr], starts)
            to_sgd = _distance(runs, sgd[lr], starts)
            if _unstable(runs):
                regime = "unstable"
            elif to_point < MICRO and not _unstable(point[lr]):
                regime = "microscopic"
            else:
                regime = "macroscopic"
            unconverged = sum(r.proj_unconverged for r in runs) / sum(r.steps for r in runs)
            cells[radius, lr] = {
                "runs": runs,
                "to_point": to_point,
                "to_sgd": to_sgd,
                "unconverged": unconverged,
                "regime": regime,
            }
            print(
                f"radius {radius:g}, lr {lr:g}: val acc {_mean(runs, 'val_acc'):.3f}, "
                f"loss {_mean(runs, 'train_loss'):.4g}, distance to point {to_point:.3g}, "
                f"to SGD {to_sgd:.3g}, unconverged projections {unconverged:.0%}, {regime}",
                file=sys.stderr,
            )
    return {
        "sgd": sgd,
        "point": point,
        "point_radius": point_radius,
        "cells": cells,
        "radii": tuple(radii),
        "lrs": tuple(lrs),
    }


def _mean(runs: list[Run], field: str) -> float:
    return statistics.mean(getattr(r, field) for r in runs)


def markdown(result: dict[str, Any]) -> str:
    """Three tables, one row per radius: validation accuracy (%) / final training loss /
    regime; distances to the point-sized ball and to SGD, and the share of projections
    that stopped at their iteration cap; validation accuracy seed by seed."""
    lrs = result["lrs"]
    head = "| radius \\ lr | " + " | ".join(f"{lr:g}" for lr in lrs) + " |"
    rule = "|---" * (len(lrs) + 1) + "|"
    letter = {"microscopic": "micro", "macroscopic": "macro", "unstable": "**unstable**"}
    acc, diag = [head, rule], [head, rule]
    for radius in result["radii"]:
        row, drow = [f"{radius:g}"], [f"{radius:g}"]
        for lr in lrs:
            c = result["cells"][radius, lr]
            row.append(
                f"{100 * _mean(c['runs'], 'val_acc'):.1f} / {_mean(c['runs'], 'train_loss'):.3g}"
                f" / {letter[c['regime']]}"
            )
            drow.append(f"{c['to_point']:.2f} / {c['to_sgd']:.2f} / {c['unconverged']:.0%}")
        acc.append("| " + " | ".join(row) + " |")
        diag.append("| " + " | ".join(drow) + " |")
    row = ["SGD"]
    for lr in lrs:
        runs = result["sgd"][lr]
        state = "**unstable**" if _unstable(runs) else "stable"
        row.append(
            f"{100 * _mean(runs, 'val_acc'):.1f} / {_mean(runs, 'train_loss'):.3g} / {state}"
        )
    acc.append("| " + " | ".join(row) + " |")
    seeds = [head, rule]
    for radius in result["radii"]:
        row = [f"{radius:g}"]
        for lr in lrs:
            runs = result["cells"][radius, lr]["runs"]
            row.append(" / ".join(f"{100 * r.val_acc:.0f}" for r in runs))
        seeds.append("| " + " | ".join(row) + " |")
    row = ["SGD"]
    for lr in lrs:
        row.append(" / ".join(f"{100 * r.val_acc:.0f}" for r in result["sgd"][lr]))
    seeds.append("| " + " | ".join(row) + " |")
    return (
        "\n".join(acc)
        + "\n\nDistance of the final parameters to the point-sized ball's (radius "
        + f"{result['point_radius']:g}) / to SGD's, relative to how far those moved; share of "
        + "steps whose projection stopped at its iteration cap:\n\n"
        + "\n".join(diag)
        + "\n\nValidation accuracy (%) seed by seed:\n\n"
        + "\n".join(seeds)
    )


def heatmap(result: dict[str, Any], path: str | Path, title: str) -> None:
    """Validation accuracy over (lr, radius), SGD as the bottom row; regimes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    radii, lrs = result["radii"], result["lrs"]
    acc = np.array(
        [[_mean(result["cells"][r, lr]["runs"], "val_acc") for lr in lrs] for r in radii]
        + [[_mean(result["sgd"][lr], "val_acc") for lr in lrs]]
    )
    fig, ax = plt.subplots(
        figsize=(1.3 * len(lrs) + 2.5, 0.6 * len(radii) + 2.2), layout="constrained"
    )
    image = ax.imshow(100 * acc, cmap="viridis", vmin=0, vmax=100, aspect="auto", origin="lower")
    mark = {"microscopic": "micro", "macroscopic": "macro", "unstable": "unstable"}
    for i, r in enumerate(radii):
        for j, lr in enumerate(lrs):
            c = result["cells"][r, lr]
            _annotate(ax, j, i, f"{100 * acc[i, j]:.1f}\n{mark[c['regime']]}", acc[i, j])
    for j, lr in enumerate(lrs):
        label = "unstable" if _unstable(result["sgd"][lr]) else "stable"
        _annotate(ax, j, len(radii), f"{100 * acc[-1, j]:.1f}\n{label}", acc[-1, j])
    ax.axhline(len(radii) - 0.5, color="white", lw=2)
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(radii) + 1), [f"{r:g}" for r in radii] + ["SGD"])
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("radius ρ")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="validation accuracy (%)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _annotate(ax: Any, x: int, y: int, text: str, value: float) -> None:
    ax.text(
        x, y, text, ha="center", va="center", fontsize=7, color="black" if value > 0.6 else "white"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--radii", type=float, nargs="+", default=list(RADII))
    parser.add_argument("--lrs", type=float, nargs="+", default=list(LRS))
    parser.add_argument("--epochs", type=float, default=3, help="epochs per run (default 3)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, help="heatmap PNG")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    data = load_digits_split()
    start = time.perf_counter()
    result = sweep(
        data,
        radii=args.radii,
        lrs=args.lrs,
        epochs=args.epochs,
        seeds=range(args.seeds),
        batch_size=args.batch_size,
    )
    elapsed = time.perf_counter() - start
    text = (
        f"{data!r}; MLP 64-64-10, batch {args.batch_size}, {args.epochs:g} epochs, "
        f"seeds 0..{args.seeds - 1}. Cells: validation accuracy (%) / final training loss / "
        f"regime (mean over seeds).\n\n{markdown(result)}\n\ntotal time {elapsed:.0f} s"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.out:
        title = (
            f"RBO on the digits MLP, {args.epochs:g} epochs, batch {args.batch_size}: "
            "validation accuracy (%), regime"
        )
        heatmap(result, args.out, title)
    return result


if __name__ == "__main__":
    main()
