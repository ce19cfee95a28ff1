"""The documentation site builds with warnings as errors, from the files in the repository."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[test]' or '.[docs]')",
)
def test_docs_build_strictly_with_every_page_and_figure_present(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The API reference was generated from the docstrings, not left empty.
    api = (tmp_path / "api" / "index.html").read_text()
    assert "Minimise a scalar function" in api and "rastrigin" in api
    # Every image a page shows was built into the site.
    for page in tmp_path.rglob("index.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text()):
            if not src.startswith(("http:", "https:", "data:")):
                assert (page.parent / src).resolve().is_file(), f"{page}: {src}"


def test_every_generated_table_the_pages_include_is_in_the_repository():
    included = []
    for page in (ROOT / "docs").glob("*.md"):
        for name in re.findall(r'--8<-- "([^":]+)(?::[0-9:]*)?"', page.read_text()):
            assert (ROOT / "docs" / name).is_file(), f"{page.name} includes missing {name}"
            included.append(name)
    assert "benchmarks/suite/results.md" in included
