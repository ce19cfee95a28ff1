"""The benchmark suite as a script: the same as ``python -m rbo bench``, with its options.

    python benchmarks/suite.py --out docs/benchmarks/suite
    python benchmarks/suite.py --problems rastrigin riemann --dims 10 --starts 20

The implementation lives in ``rbo._bench`` so that an installed package runs it too; see
``python -m rbo bench --help`` for every option and the rules of the comparison.
"""

from __future__ import annotations

import sys

from rbo._cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
