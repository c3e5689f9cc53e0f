"""A report section is saved when finished and loaded, not recomputed, on the next run."""

from __future__ import annotations

import json

import numpy as np

from topophys.pipelines.mlpot.section import Section, cached_section


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_cached_section_saves_once_and_loads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return Section(
            "A section",
            {"value": np.float64(1.5), "array": np.arange(3), "nan": float("nan")},
            ["a paragraph"],
            [([{"a": 1}], "a table")],
            [("fig_one", _figure(), "a caption")],
        )

    first, seconds = cached_section(tmp_path, "one", compute)
    assert first.metrics["compute_s"] >= 0
    assert seconds > 0 and calls == [1]
    assert (tmp_path / "fig_one.png").exists() and (tmp_path / "sections" / "one.json").exists()
    stored = json.loads((tmp_path / "sections" / "one.json").read_text())
    assert stored["metrics"]["array"] == [0, 1, 2] and stored["metrics"]["nan"] is None
    again, seconds = cached_section(tmp_path, "one", compute)
    assert seconds == 0.0 and calls == [1]
    assert again.metrics["value"] == 1.5 and again.text == ["a paragraph"]
    assert again.tables == [([{"a": 1}], "a table")]
    assert again.figures == [("fig_one", tmp_path / "fig_one.png", "a caption")]
    # A section whose figure went missing is computed again.
    (tmp_path / "fig_one.png").unlink()
    cached_section(tmp_path, "one", compute)
    assert calls == [1, 1]
