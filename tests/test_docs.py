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


needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[test]' or '.[docs]')",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with ``mkdocs build --strict`` (no network needed) into a temp dir."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _text(html: str) -> str:
    """The page's text: tags dropped, entities of the roles' characters decoded."""
    return re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">")


@needs_mkdocs
def test_docs_build_strictly_with_every_page_and_figure_present(site):
    # The API reference was generated from the docstrings, not left empty.
    api = (site / "api" / "index.html").read_text()
    assert "Minimise a scalar function" in api and "rastrigin" in api
    # Every image a page shows was built into the site.
    for page in site.rglob("index.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text()):
            if not src.startswith(("http:", "https:", "data:")):
                assert (page.parent / src).resolve().is_file(), f"{page}: {src}"


@needs_mkdocs
@pytest.mark.parametrize(
    "name",
    ["RollingBall", "Stepper", "SGD", "SAM", "EntropySGD", "multistart", "backends"],
)
def test_api_reference_documents_every_public_name(site, name):
    api = (site / "api" / "index.html").read_text()
    # Each object gets its own anchored heading, ``id="rbo.<name>"``.
    assert f'id="rbo.{name}"' in api, f"rbo.{name} has no entry in the API reference"


@needs_mkdocs
def test_api_reference_prints_no_raw_sphinx_role_and_typesets_its_math(site):
    text = _text((site / "api" / "index.html").read_text())
    raw = re.findall(r":(?:math|class|func|data|meth|attr|mod|exc|obj):`", text)
    assert not raw, f"raw roles in the API reference: {sorted(set(raw))}"
    api = (site / "api" / "index.html").read_text()
    assert api.count('class="arithmatex"') > 20  # the docstrings' math went to MathJax


@needs_mkdocs
def test_every_page_loads_mathjax_and_its_formulas_are_marked_for_it(site):
    for page in site.rglob("index.html"):
        html = page.read_text()
        if "404" in page.parts:
            continue
        assert "javascripts/mathjax.js" in html and "tex-mml-chtml.js" in html, page
    theory = (site / "theory" / "index.html").read_text()
    assert '<div class="arithmatex">' in theory  # a display formula
    # No formula is left in Markdown's dollar form outside an arithmatex span.
    for page in ("theory", "idea", "projection", "algorithm", "experiments", "choosing"):
        html = (site / page / "index.html").read_text()
        prose = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', "", html, flags=re.S)
        prose = re.sub(r"<(code|pre|script)[^>]*>.*?</\1>", "", prose, flags=re.S)
        assert "$" not in _text(prose), page


def test_docs_cite_the_paper_as_the_arxiv_preprint():
    for name in ("README.md", "docs/index.md", "docs/experiments.md", "docs/algorithm.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "arXiv:2505.19527" in text, name
        assert "ICLR 2026" not in text, name


def test_docs_and_tests_cite_only_files_in_the_repository():
    # The algorithm's statement lives in docs/algorithm.md, not in a file outside the repo.
    assert (ROOT / "docs" / "algorithm.md").is_file()
    for path in [
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "tests").glob("*.py"),
        ROOT / "README.md",
    ]:
        if path.name == "test_docs.py":
            continue
        assert "ALGORITHMS.md" not in path.read_text(encoding="utf-8"), path


def test_every_generated_table_the_pages_include_is_in_the_repository():
    included = []
    for page in (ROOT / "docs").glob("*.md"):
        for name in re.findall(r'--8<-- "([^":]+)(?::[0-9:]*)?"', page.read_text()):
            assert (ROOT / "docs" / name).is_file(), f"{page.name} includes missing {name}"
            included.append(name)
    assert "benchmarks/suite/results.md" in included


def _sphinx_roles():
    spec = importlib.util.spec_from_file_location("sphinx_roles", ROOT / "docs" / "sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(importlib.util.find_spec("griffe") is None, reason="griffe is not installed")
def test_sphinx_roles_become_math_code_spans_and_references():
    convert = _sphinx_roles().convert
    assert convert(r":math:`\gamma_t =" + "\n" + r"  \gamma_0`") == r"$\gamma_t = \gamma_0$"
    assert convert(":class:`~rbo.RBO`") == "[`RBO`][rbo.RBO]"
    assert convert(":func:`rbo.minimize`") == "[`rbo.minimize()`][rbo.minimize]"
    # Private or relative targets have no page entry: a code span, not a broken link.
    assert convert(":class:`~._budget.Counted`") == "`Counted`"
    assert convert(":func:`~rbo._validation.widened`") == "`widened()`"
    assert convert(":mod:`random`") == "`random`"
    assert convert("plain ``code`` stays") == "plain ``code`` stays"
