"""A run's self-contained HTML report: captioned figures (embedded PNG) and tables of metrics.

Examples
--------
>>> import tempfile, pathlib
>>> report = Report("Demo")
>>> report.add_text("Two numbers.")
>>> report.add_table({"a": 1, "b": 0.5}, caption="Metrics")
>>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
>>> _ = report.write(path)
>>> "<table" in path.read_text()
True
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import atomic_write_text

__all__ = ["Report", "flatten_metrics"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #ccc; padding-bottom: .2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .92em; color: #444; margin-top: .4em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return html.escape(str(value))


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (lists of scalars are kept whole)."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, name + "."))
        else:
            flat[name] = value
    return flat


class Report:
    """An HTML page built section by section and written as one file.

    Parameters
    ----------
    title : str
        Page title and top heading.
    """

    def __init__(self, title: str) -> None:
        self.title = str(title)
        self._parts: list[str] = []

    def add_heading(self, text: str, level: int = 2) -> None:
        """A section heading (``<h2>`` by default)."""
        level = min(max(int(level), 2), 4)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def add_text(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def add_figure(self, figure: Any, caption: str, *, dpi: int = 110) -> None:
        """Embed a matplotlib Figure or an existing PNG file, with a caption saying what it shows.

        Parameters
        ----------
        figure : matplotlib.figure.Figure or path-like
        caption : str
            Required: every figure in a report says what it shows.
        """
        if not caption or not str(caption).strip():
            raise ValueError("caption must be a non-empty description of the figure")
        if isinstance(figure, (str, Path)):
            data = Path(figure).read_bytes()
        else:
            buf = io.BytesIO()
            figure.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
            data = buf.getvalue()
        encoded = base64.b64encode(data).decode("ascii")
        self._parts.append(
            f'<figure><img alt="{html.escape(caption[:80])}" '
            f'src="data:image/png;base64,{encoded}"/>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def add_table(
        self,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        caption: str = "",
        columns: Sequence[str] | None = None,
    ) -> None:
        """A table from a mapping (two columns: name, value) or from a list of row mappings."""
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        if isinstance(rows, Mapping):
            body = "".join(
                f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>"
                for k, v in flatten_metrics(rows).items()
            )
            self._parts.append(f"<table>{cap}<tr><th>metric</th><th>value</th></tr>{body}</table>")
            return
        rows = list(rows)
        cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows
        )
        self._parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")

    def to_html(self) -> str:
        """The whole page as a string."""
        title = html.escape(self.title)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{title}</h1>\n" + "\n".join(self._parts) + "\n</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page atomically; returns the path."""
        path = Path(path)
        atomic_write_text(path, self.to_html())
        return path
