"""One section of the ``mlpot`` report, saved when finished so that a resumed run skips it.

Every report section is a :class:`Section`: its numbers (for ``metrics.json``), paragraphs,
tables and captioned figures. :func:`cached_section` saves a finished section
(``run_dir/sections/<key>.json`` and its PNGs) and loads it again on the next run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import atomic_write_text
from .._run_dir import jsonable

__all__ = ["Section", "cached_section"]


@dataclass
class Section:
    """One section of the report.

    Attributes
    ----------
    title : str
        Its heading.
    metrics : dict
        Its numbers, stored under the section's key in ``metrics.json``.
    text : list of str
        Paragraphs, in order, before the tables.
    tables : list of (rows, caption)
        ``rows`` a list of row mappings or one mapping (name → value).
    figures : list of (name, figure, caption)
        ``figure`` a matplotlib Figure, or the path of its saved PNG; ``name`` the PNG's stem.
    """

    title: str
    metrics: dict[str, Any]
    text: list[str] = field(default_factory=list)
    tables: list[tuple[Any, str]] = field(default_factory=list)
    figures: list[tuple[str, Any, str]] = field(default_factory=list)

    def save(self, run_dir: str | Path, key: str, seconds: float | None = None) -> Section:
        """Write the figures to ``run_dir/<name>.png`` and the rest to
        ``run_dir/sections/<key>.json``; returns the section with figure paths."""
        import matplotlib.pyplot as plt

        run_dir = Path(run_dir)
        figures = []
        for name, fig, caption in self.figures:
            path = run_dir / f"{name}.png"
            if not isinstance(fig, (str, Path)):
                tmp = path.with_name(path.stem + ".tmp.png")
                fig.savefig(tmp, dpi=110, bbox_inches="tight")
                plt.close(fig)
                tmp.replace(path)
            figures.append((name, path, caption))
        saved = Section(self.title, self.metrics, list(self.text), list(self.tables), figures)
        record = {
            "title": saved.title,
            "metrics": saved.metrics,
            "text": saved.text,
            "tables": [[rows, caption] for rows, caption in saved.tables],
            "figures": [[name, path.name, caption] for name, path, caption in figures],
            "seconds": seconds,
        }
        atomic_write_text(
            run_dir / "sections" / f"{key}.json", json.dumps(jsonable(record), indent=1) + "\n"
        )
        return saved

    @classmethod
    def load(cls, run_dir: str | Path, key: str) -> Section | None:
        """The section saved under ``key``, or None when it is missing or incomplete."""
        run_dir = Path(run_dir)
        path = run_dir / "sections" / f"{key}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        figures = [(name, run_dir / file, caption) for name, file, caption in record["figures"]]
        if not all(p.exists() for _, p, _ in figures):
            return None
        tables = [(rows, caption) for rows, caption in record["tables"]]
        return cls(record["title"], record["metrics"], record["text"], tables, figures)


def cached_section(
    run_dir: str | Path, key: str, compute: Callable[[], Section]
) -> tuple[Section, float]:
    """The section saved under ``key`` in ``run_dir``, else ``compute()`` saved there.

    Returns the section (figures as PNG paths) and the seconds spent computing it (0 when it
    was loaded). The run directory serves one configuration (see
    :func:`~topophys.pipelines.mlpot.pipeline.run`), so a saved section is that configuration's.
    """
    found = Section.load(run_dir, key)
    if found is not None:
        return found, 0.0
    t0 = time.perf_counter()
    section = compute()
    seconds = time.perf_counter() - t0
    section.metrics["compute_s"] = round(seconds, 3)  # kept when a resumed run loads it
    return section.save(run_dir, key, round(seconds, 3)), seconds
