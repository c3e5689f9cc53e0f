"""The measured tables in docs/ are what docs/regenerate.py writes from the committed JSON."""

from __future__ import annotations

import importlib.util
import json
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
        match = re.search(r"regenerate\.py \S+ (docs/data(?:/\S+\.json)?)(?:\s|$)", command)
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
    if not source.exists():
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


def _errors(rmse: float) -> dict[str, float]:
    return {"rmse_meV": rmse, "mae_meV": rmse / 2}


def _tiny_mlpot_metrics() -> dict:
    """The keys of a ``topophys run mlpot`` metrics.json that the mlpot-demo page reads."""

    def model(base: float) -> dict:
        return {
            split: {"train": _errors(base / 4), "test": _errors(base + k),
                    "transfer": _errors(2 * base + k)}
            for k, split in enumerate(("random", "grouped"))
        }  # fmt: skip

    maps_scores = {
        method: {prop: {"knn_r2": 0.5, "spearman": 0.25, "n": 8} for prop in ("density", "energy")}
        for method in ("tsne_p30", "pca")
    }
    region = {
        "bins": 3, "rings": 7, "mean_ring_size": 5.0, "bond_length_mean_A": 1.5,
        "bond_length_std_A": 0.25, "bond_angle_mean_deg": 100.0, "bond_angle_std_deg": 10.0,
        "bond_length_max_A": 2.5, "angles_50_80_share": 0.25,
    }  # fmt: skip
    attention = {
        "frame": 1, "energy_eV": -5.0, "predicted_eV": -5.5, "attention_mean_birth_A2": 1.0,
        "attention_mean_persistence_A2": 0.75, "points_mean_birth_A2": 1.25,
        "points_mean_persistence_A2": 0.5,
    }  # fmt: skip
    return {
        "data": {
            "train_atoms": [216], "frames": 10, "runs": 4, "random_test_frames": 2,
            "grouped_test_frames": 3, "grouped_test_runs": 1, "transfer_atoms": [512],
            "transfer_frames": 4,
        },
        "ridge": model(100.0), "cnn": model(200.0), "mean_baseline": model(600.0),
        "baselines": {
            "frames": 8, "transfer_frames": 2, "test_frames": {"random": 2, "grouped": 2},
            "models": {m: model(50.0 + i) for i, m in enumerate(
                ("ridge", "cnn", "soap_nn", "ph_soap", "schnet", "mean_baseline"))},
            "timings_s": {"soap": 1.5, "schnet": 2.5},
        },
        "maps": {"PH": maps_scores, "SOAP": maps_scores, "frames": 8, "skipped": []},
        "inverse": {
            "frames": {"density": 2.5, "run": 0, "process": "anneal", "frames": 2},
            "max_birth_A2": None, "thresholds": {"high": 0.004, "low": -0.002},
            "high": region, "low": region, "bond_length_ks_distance": 0.5,
            "bond_angle_ks_distance": 0.25,
        },
        "gradcam": {"method": "gradcam", "split": "random", "high": attention, "low": attention},
        "cyclooctane": {
            "n_conformers": 5, "convergence_rate": 1.0, "max_residual_A": 0.0,
            "representations": {"soap": {"features": 9, "local_dimension_3d": 2.0,
                                         "local_dimension_full": 2.5,
                                         "explained_variance": [0.5, 0.25, 0.125]}},
        },
        "graphene": {
            "data": {"train_atoms": 680, "frames": 6, "runs": 2, "test_frames": 2,
                     "cooling_rates_K_per_ps": [50.0, 100.0], "transfer_atoms": 2720,
                     "transfer_frames": 1, "final_states_threefold_share": 0.97},
            "ridge": model(10.0)["random"], "cnn": {**model(20.0)["random"], "epochs": 3},
            "mean_baseline": model(300.0)["random"],
            "letter_rmse_meV": {"cnn_train": 7.9, "cnn_test": 8.3, "cnn_transfer_2720": 3.1},
            "timings_s": {"quenches": 3.0},
        },
        "timings_s": {"data": 60.0, "baselines": 4.0, "graphene": 3.5, "total": 67.5},
        "machine": {
            "at_start": {"cpus": 2, "load_average": [4.0, 4.0, 4.0]},
            "load_average_at_end": [5.0, 5.0, 5.0],
            "peak_rss_mb": {"self": 1536.0, "children": 512.0},
        },
    }  # fmt: skip


def test_the_mlpot_demo_page_is_generated_from_a_runs_metrics(tmp_path: Path) -> None:
    """Every measured table of mlpot.md's "Measured here" comes from the run's metrics.json."""
    filename, command, blocks = regenerate.PAGES["mlpot-demo"]
    assert "runs/mlpot" in command and filename == "mlpot.md"
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(_tiny_mlpot_metrics()))
    shutil.copy(DOCS / filename, tmp_path / filename)
    assert regenerate.regenerate("mlpot-demo", run, docs=tmp_path) == sorted(blocks)
    text = (tmp_path / filename).read_text()
    for line in (
        "| generation (melt-quench runs) | 60.0 |  |",
        "| baselines | 4.0 | SOAP 1.5, SchNet 2.5 |",
        "All stages: 1 min 08 s; peak resident memory 1.50 GiB (main process), 0.50 GiB",
        "| Ridge | 25.0 / 12.5 | 100.0 / 50.0 | 101.0 / 50.5 | 200.0 / 100.0 |",
        "10 frames of 216 atoms from 4 runs (8 train / 2 test on the random split; 3 test",
        "| SOAP + NN | 52.0 | 53.0 | 104.0 / 105.0 | 2.00 | 16.4 |",
        "| PH | 0.50 / 0.25 | 0.50 / 0.25 | 0.50 / 0.25 | 0.50 / 0.25 |",
        "| angles in 50–80° | 25% | 25% |",
        "| highest-energy frame (#1) | -5.000 (-5.500) | 0.75 / 0.50 | 1.00 / 1.25 |",
        "| SOAP | 9 | 2.00 | 2.50 | 0.50, 0.25, 0.12 |",
        "| CNN | 5.0 | 20.0 | 40.0 |",
        "| the letter's CNN (its 1,830 frames) | 7.9 | 8.3 | 3.1 |",
        "the CNN ran 3 epochs; 97% of the atoms of the final states are threefold-coordinated",
        "python docs/regenerate.py mlpot-demo runs/mlpot` at commit",
        "2 CPUs, load average 4.0 at the start and 5.0 at the end",
    ):
        assert line in text, line
    # A page that lost a block is refused, so a table cannot silently stop being regenerated.
    (tmp_path / filename).write_text(text.replace("BEGIN GENERATED mlpot:demo-maps", "x"))
    with pytest.raises(ValueError, match="mlpot:demo-maps"):
        regenerate.regenerate("mlpot-demo", run, docs=tmp_path)
