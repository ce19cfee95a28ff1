"""The package's type hints hold: mypy, configured by pyproject.toml, reports no error."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["-m", "mypy", "--no-incremental", "--config-file", "pyproject.toml"]


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it comes with the 'test' extra: pip install -e '.[test]')",
)
def test_mypy_reports_no_error_in_the_package() -> None:
    proc = subprocess.run(
        [sys.executable, *COMMAND],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"`python -m {' '.join(COMMAND[1:])}` exited with {proc.returncode}:\n"
        f"{proc.stdout}{proc.stderr}"
    )
