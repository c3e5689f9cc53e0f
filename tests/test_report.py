"""The HTML report: self-contained, captioned, escaped, written atomically."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from topophys.report import Report, flatten_metrics


def test_figures_are_embedded_as_png(tmp_path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    report = Report("T")
    report.add_figure(fig, "a line")
    plt.close(fig)
    png = tmp_path / "x.png"
    fig2, _ = plt.subplots()
    fig2.savefig(png)
    plt.close(fig2)
    report.add_figure(png, "from a file")
    html = report.write(tmp_path / "r.html").read_text()
    blobs = [part.split('"')[0] for part in html.split("data:image/png;base64,")[1:]]
    assert len(blobs) == 2
    for blob in blobs:
        assert base64.b64decode(blob)[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.count("<figcaption>") == 2
    assert not (tmp_path / "r.html.tmp").exists()


def test_every_figure_needs_a_caption() -> None:
    with pytest.raises(ValueError, match="caption"):
        Report("T").add_figure("missing.png", "  ")


def test_text_is_escaped_and_tables_flatten_nested_metrics() -> None:
    report = Report("<T>")
    report.add_text("a < b & c")
    report.add_table({"pd": {"k1": {"ratio": 0.5}}, "n": 3}, caption="m")
    report.add_table([{"model": "pd", "x": 1.23456789}, {"model": "image", "y": float("nan")}])
    html = report.to_html()
    assert "&lt;T&gt;" in html and "a &lt; b &amp; c" in html
    assert "pd.k1.ratio" in html and "1.235" in html and "nan" in html
    assert "<th>y</th>" in html


def test_flatten_metrics() -> None:
    assert flatten_metrics({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": 2}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": 2,
    }
