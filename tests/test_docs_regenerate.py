"""The measured tables in docs/ are what docs/regenerate.py writes from the committed JSON."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_COMMIT = re.compile(r"at commit `[^`]*`")


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("regenerate", DOCS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regenerate = _regenerate_module()


def _committed_sources() -> list[tuple[str, Path]]:
    """Pages whose command regenerates them from a JSON file kept in docs/data."""
    out = []
    for page, (_, command, _) in sorted(regenerate.PAGES.items()):
        match = re.search(r"regenerate\.py \S+ (docs/data/\S+\.json)", command)
        if match:
            out.append((page, DOCS.parent / match.group(1)))
    return out


@pytest.mark.parametrize(("page", "source"), _committed_sources(), ids=lambda v: str(v))
def test_committed_tables_match_their_json(page: str, source: Path, tmp_path: Path) -> None:
    """Regenerating from the committed JSON changes nothing but the commit in the note.

    A page whose benchmark has not run yet must say so in each of its blocks ("Awaits ..."),
    never show numbers that no committed file backs.
    """
    filename, _, blocks = regenerate.PAGES[page]
    if not source.is_file():
        text = (DOCS / filename).read_text()
        bodies = {m.group("key"): m.group("body") for m in regenerate._BLOCK.finditer(text)}
        for key in blocks:
            assert bodies.get(key, "").lstrip().startswith("**Awaits"), (
                f"{source} is named by the {page!r} command but is not committed, and block "
                f"{key} of docs/{filename} does not say that it awaits it"
            )
        return
    shutil.copy(DOCS / filename, tmp_path / filename)
    keys = regenerate.regenerate(page, source, docs=tmp_path)
    assert keys
    before = _COMMIT.sub("at commit ``", (DOCS / filename).read_text())
    after = _COMMIT.sub("at commit ``", (tmp_path / filename).read_text())
    assert after == before, f"docs/{filename} drifted from {source.name}: run the page's command"


def test_every_page_is_checked_or_comes_from_a_run() -> None:
    """A page without a committed JSON must be one regenerated from a run directory."""
    checked = {page for page, _ in _committed_sources()}
    for page, (_, command, _) in regenerate.PAGES.items():
        assert page in checked or "runs/" in command, page


def test_a_benchmark_with_a_plain_machine_string_gets_a_provenance_line() -> None:
    note = regenerate.provenance(
        "cmd", {"machine": "x86_64", "cpus": 2, "load_average": {"start": [1.0], "end": [2.0]}}
    )
    assert "2 CPUs, load average 1.0 at the start and 2.0 at the end" in note
