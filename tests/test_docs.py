"""The documentation builds with warnings as errors: guides, the index and the API reference
generated from the docstrings, so a docstring Sphinx cannot parse fails here."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_sphinx_builds_the_docs_without_warnings(tmp_path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    from sphinx.cmd.build import build_main

    # A copy: autosummary writes the API pages into the source folder.
    source = tmp_path / "src" / "docs"
    shutil.copytree(ROOT / "docs", source, ignore=shutil.ignore_patterns("_build", "api"))
    for name in ("CHANGELOG.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, source.parent / name)
    out = tmp_path / "html"
    with warnings.catch_warnings():
        # Sphinx's and MyST's own deprecation notices, not warnings about the docs (those go
        # to Sphinx's log and, with -W, fail the build).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(
            ["-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
             str(source), str(out)]
        )  # fmt: skip
    assert status == 0, "sphinx-build reported warnings or errors (see the output above)"
    for page in ("index.html", "api.html", "api/topophys.diagrams.html",
                 "api/topophys.pipelines.mlpot.core.html"):  # fmt: skip
        assert (out / page).is_file(), page
