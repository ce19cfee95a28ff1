"""Command line: ``python -m rbo demo``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rbo", description="Rolling Ball Optimizer")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="RBO beside L-BFGS-B on a rugged landscape")
    demo.add_argument("--problem", default="riemann", help="problem name (default: riemann)")
    demo.add_argument("--n", type=int, default=10, help="dimension (default: 10)")
    demo.add_argument("--starts", type=int, default=5, help="random starts (default: 5)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the starts (default: 0)")
    demo.add_argument("--radius", type=float, default=1.0, help="ball radius (default: 1.0)")
    demo.add_argument("--lr", type=float, default=0.1, help="learning rate (default: 0.1)")
    demo.add_argument("--maxiter", type=int, default=500, help="steps per run (default: 500)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import demo as run_demo

        run_demo(
            args.problem,
            args.n,
            args.starts,
            args.seed,
            radius=args.radius,
            lr=args.lr,
            maxiter=args.maxiter,
        )
    return 0
