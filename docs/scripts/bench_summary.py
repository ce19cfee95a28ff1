"""Write the benchmark page's summary table from the suite's full results table.

Usage: ``python docs/scripts/bench_summary.py`` (after ``python -m rbo bench --out
docs/benchmarks/suite``). Reads ``docs/benchmarks/suite/results.md`` and writes
``docs/benchmarks/suite/summary.md``: one row per problem, one column per dimension, each
cell rbo's successes and its verdict against the local methods, as the full table gives
them.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "suite"


def summary(results: str) -> str:
    """The summary table (Markdown) of the full results table ``results`` (Markdown)."""
    lines = results.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| problem | n | rbo"))
    columns = [c.strip() for c in lines[head].strip("|").split("|")]
    cells: dict[str, dict[str, str]] = {}
    dims: list[str] = []
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        row = dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True))
        successes = row["rbo"].split("·")[0].strip()
        verdict = row["rbo vs local"]
        if verdict in ("wins", "ties"):
            verdict = f"**{verdict}**"
        cells.setdefault(row["problem"], {})[row["n"]] = f"{successes} · {verdict}"
        if row["n"] not in dims:
            dims.append(row["n"])
    dims.sort(key=int)
    out = ["| problem | " + " | ".join(f"n = {d}" for d in dims) + " |"]
    out.append("|---" * (len(dims) + 1) + "|")
    for problem, by_n in cells.items():
        out.append(f"| {problem} | " + " | ".join(by_n.get(d, "—") for d in dims) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    text = summary((SUITE / "results.md").read_text(encoding="utf-8"))
    (SUITE / "summary.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
