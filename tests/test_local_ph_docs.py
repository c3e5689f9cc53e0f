"""The local PH tables of docs/local_ph.md regenerate from benchmark JSON of the scripts' shape."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
LOAD = {"start": [1.0, 1.0, 1.0], "end": [2.0, 2.0, 2.0]}


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", DOCS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _errors(e, f):
    return {"energy_rmse_meV": e, "force_rmse_meV": f, "n_structures": 9, "n_force_components": 99}


def _model(e, f):
    return {
        "n_parameters": 1000,
        "test": {**_errors(e, f), "cold": _errors(e / 2, f / 2)},
        "train": _errors(e / 3, f / 3),
        "epochs_run": 50,
        "best_holdout_epoch": 40,
        "fit_s": 600.0,
    }


def _run(drift):
    return {
        "drift_meV_per_atom_per_ps": drift,
        "fluctuation_meV_per_atom": 0.1,
        "max_excursion_meV_per_atom": 0.5,
        "temperature_K": {"mean": 300.0, "std": 20.0},
        "coordination": {"sp": 0.05, "sp2": 0.8, "sp3": 0.15, "other": 0.0},
        "energy_per_atom_eV": {"potential_mean": -6.8, "total_start": -6.76},
        "ms_per_step": 900.0,
    }


def test_local_ph_pages_regenerate(tmp_path):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")
    accuracy = {
        "models": {"ph": _model(60.0, 1500.0), "ph_both": _model(25.0, 1200.0),
                   "soap": _model(30.0, 900.0),
                   "schnet": _model(80.0, 2000.0), "reference": _model(90.0, 1800.0),
                   "ph_cycles": _model(20.0, 1000.0) | {"force_weight": 0.3},
                   "soap_w_f0.3": _model(25.0, 800.0) | {"force_weight": 0.3},
                   "ph_linear": _model(22.0, 1100.0) | {"epochs_run": 0, "fit_s": 60.0},
                   "soap_linear": _model(11.0, 950.0) | {"epochs_run": 0, "fit_s": 60.0},
                   "ph_root_seed1": _model(26.0, 1100.0) | {"force_weight": 0.3},
                   "ph_root": _model(30.0, 1050.0) | {"force_weight": 0.3}},
        "n_train_structures": 288, "n_test_structures": 144, "atoms_per_structure": 216,
        "force_atoms": {"train": 16, "test": 32}, "cpus": 2, "load_average": LOAD,
    }  # fmt: skip
    md = {
        "nve": {
            "ph": _run(2.5),
            "lammps": _run(0.01),
            "ps": 10.0,
            "rdf_comparison": {
                "first_peak_A": [1.45, 1.47], "first_peak_height": [5.0, 6.0],
                "relative_l1_difference": 0.1,
            },
        },
        "switches": {"steps": 100, "by_min_persistence": {
            "0.0": {"atoms_changed_per_step": 0.7, "steps_with_a_change": 1.0},
            "0.1": {"atoms_changed_per_step": 0.3, "steps_with_a_change": 1.0}}},
        "cost": {
            "sizes": {str(n): {"ph_ms_per_step": 4.0 * n, "lammps_ms_per_step": 0.004 * n}
                      for n in (216, 512, 1728)},
            "ph_ms_per_atom_step": [4.0, 4.0, 4.0],
            "ph_linear_fit": {"ms_per_atom": 4.0, "ms_offset": 0.0},
        },
        "cpus": 2, "load_average": LOAD, "model": "runs/local_ph/ph/model",
    }  # fmt: skip
    md_circumradius = md | {"model": "runs/local_ph/ph_circumradius/model"}
    md_cycles = md | {"model": "runs/local_ph/ph_cycles/model"}
    md_root = md | {"model": "runs/local_ph/ph_root/model"}
    for page, data in (
        ("local-ph-accuracy", accuracy),
        ("local-ph-md", md),
        ("local-ph-md-circumradius", md_circumradius),
        ("local-ph-md-cycles", md_cycles),
        ("local-ph-md-root", md_root),
        ("local-ph-md-root-10ps", md_root),
    ):
        source = tmp_path / f"{page}.json"
        source.write_text(json.dumps(data))
        regenerate.regenerate(page, source, docs=tmp_path)
    text = (tmp_path / "local_ph.md").read_text()
    # Each MD table names the potential it ran.
    assert "| 216 atoms, NVE, 1 fs | local PH (ours) | Tersoff (LAMMPS) |" in text
    assert "| 216 atoms, NVE, 1 fs | local PH, graph by the triangles (ours) | Tersoff" in text
    assert "| 216 atoms, NVE, 1 fs | local PH, graph with its cycles (ours) | Tersoff" in text
    assert "| atoms | local PH, graph with its cycles, ms/step |" in text
    assert "| 216 atoms, NVE, 1 fs | local PH on root axes (ours) | Tersoff (LAMMPS) |" in text
    assert "| local PH + NN (ours) | 1000 | 60.0 / 30.0 | 1500 / 750 |" in text
    assert "| reference: training mean energy, zero forces | — | 90.0 / 45.0 | 1800 / 900 |" in text
    assert (
        "local PH: energy not met (60.0 against 30.0 meV/atom), forces 1.67× those of SOAP + "
        "NN (not met); local PH on both complexes: energy met (25.0 against 30.0 meV/atom), "
        "forces 1.33× those of SOAP + NN (met); local PH, graph with its cycles: energy met "
        "(20.0 against 25.0 meV/atom), forces 1.25× those of SOAP + NN at force weight 0.3 "
        "(met); "
    ) in text
    assert "| SOAP + NN, per atom, force weight 0.3 | 1000 | 25.0 / 12.5 |" in text
    # A rerun with another fit seed follows its model, labelled by the seed.
    root = "| local PH + NN, the same on images of the values' square roots (ours) | 1000 | 30.0"
    rerun = (
        "| local PH + NN, the same on images of the values' square roots, fit seed 1 (ours) | "
        "1000 | 26.0 / 13.0 | 1100 / 550 |"
    )
    assert root in text and rerun in text and text.index(root) < text.index(rerun)
    assert "local PH on root axes, fit seed 1: energy not met (26.0 against 25.0 meV/atom)" in text
    assert (
        "Test errors on all frames, local PH on root axes over 2 fit seeds: energy 26.0–30.0 "
        "(mean 28.0) meV/atom, forces 1050–1100 (mean 1075) meV/Å.\n"
    ) in text
    # The linear terms alone: no epochs; set side by side (the pair without both is left out).
    assert (
        "| SOAP, linear per-atom energy, exact fit, force weight 0.3 | 1000 | 11.0 / 5.5 | 950 "
        "/ 475 | 3.7 / 317 | — | 1 |" in text
    )
    assert (
        "Like for like at force weight 0.3 (test energy all / cold, meV/atom; forces all / cold, "
        "meV/Å): local PH, linear term alone 22.0 / 11.0 and 1100 / 550 against SOAP, linear "
        "term alone 11.0 / 5.5 and 950 / 475.\n"
    ) in text
    assert "| local PH + NN, complexes with and without the centre (ours) | 1000 | 25.0" in text
    assert "| energy drift, meV/atom/ps | 2.500 | 0.010 |" in text
    assert "| > 0.1 Å² | 30.0 | 100 |" in text
    assert "| 1728 | 6912 | 6.91 | 1000 |" in text
    for script in ("local_ph_md.py", "local_ph_accuracy.py"):
        assert f"(run `benchmarks/{script}`)" not in text


def _study(variants, md):
    """A local_ph_study.py JSON: ``variants`` {name: (label, energy, force, correlation)},
    ``md`` {name: (label, excursion, fluctuation, drift, end temperature, potential change)}."""
    out = {"variants": {}, "md": {}}
    for name, (label, e, f, corr) in variants.items():
        forces = {"predicted_rms_meV": 2500.0, "label_rms_meV": 2300.0, "correlation": corr}
        out["variants"][name] = {
            **_model(e, f), "label": label, "forces": {"all": forces, "cold": forces},
            "load_average": LOAD, **({"epochs_run": 0} if label == "linear" else {}),
        }  # fmt: skip
    for name, (label, excursion, fluctuation, drift, end, change) in md.items():
        run = {
            "steps": 30, "max_excursion_meV_per_atom": excursion,
            "fluctuation_meV_per_atom": fluctuation, "drift_meV_per_atom_per_ps": drift,
            "temperature_end_K": end, "potential_meV_per_atom": [0.0, change],
        }  # fmt: skip
        out["md"][name] = {
            "label": label,
            "simulated_fs": 30.0,
            "runs": {"1.0": run},
            "load_average": LOAD,
        }
    return {
        **out, "n_train_structures": 288, "n_test_structures": 144, "atoms_per_structure": 216,
        "force_atoms": {"train": 16, "test": 32}, "epochs": 30, "cpus": 2, "load_average": LOAD,
    }  # fmt: skip


def test_local_ph_study_page_regenerates(tmp_path):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")
    study = _study(
        {
            "baseline": ("the accuracy table's fit", 60.0, 1500.0, 0.55),
            "linear": ("linear", 60.0, 1500.0, 0.55),
        },
        {"ph": ("model", 1.5, 0.2, 40.0, 310.0, -12.5)},
    )
    source = tmp_path / "study.json"
    source.write_text(json.dumps(study))
    regenerate.regenerate("local-ph-study", source, docs=tmp_path)
    text = (tmp_path / "local_ph.md").read_text()
    assert (
        "| the accuracy table's fit | 60.0 / 30.0 | 1500 / 750 | 2500 / 2300 | 0.55 / 0.55 |"
        in text
    )
    assert "| linear | 60.0 / 30.0 | 1500 / 750 | 2500 / 2300 | 0.55 / 0.55 | — |" in text
    assert "| model | 1.0 | 30 | -12.5 | 1.500 | 0.200 | 40.0 | 310 |" in text


def test_local_ph_centre_page_regenerates(tmp_path):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")
    study = _study(
        {"centre_both": ("complexes with and without the centre", 40.0, 1200.0, 0.7)},
        {"ph_both": ("on both", 1.2, 0.3, 0.8, 1050.0, -96.4)},
    )
    source = tmp_path / "centre.json"
    source.write_text(json.dumps(study))
    blocks = regenerate.regenerate("local-ph-centre", source, docs=tmp_path)
    assert blocks == ["local_ph:centre", "local_ph:centre_md"]
    text = (tmp_path / "local_ph.md").read_text()
    row = "| complexes with and without the centre | 40.0 / 20.0 | 1200 / 600 | 2500 / 2300 |"
    assert row in text
    assert "--variants baseline linear linear_centre_removed" in text
    assert "| on both | 1.0 | 30 | -96.4 | 1.200 | 0.300 | 0.8 | 1050 |" in text


def test_local_ph_ridge_page_regenerates(tmp_path):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")

    def row(weight, ridge, loss):
        return {
            "force_weight": weight, "ridge": ridge, "test_energy_rmse_meV": [20.0, 10.0],
            "test_force_rmse_meV": [2000.0, 1500.0], "holdout_energy_rmse_meV": 30.0,
            "holdout_loss": loss,
        }  # fmt: skip

    bench = {
        "rows": [row(1.0, 1e-4, 0.3), row(1.0, 1e-6, 0.2), row(0.3, 1e-6, 0.09),
                 row(0.3, 1e-2, 0.05)],
        "n_train_structures": 288, "n_test_structures": 144, "n_fit_structures": 260,
        "n_holdout_structures": 28, "force_atoms": {"train": 16, "test": 32},
        "cpus": 2, "load_average": LOAD,
    }  # fmt: skip
    source = tmp_path / "ridge.json"
    source.write_text(json.dumps(bench))
    assert regenerate.regenerate("local-ph-ridge", source, docs=tmp_path) == ["local_ph:ridge"]
    text = (tmp_path / "local_ph.md").read_text()
    # Rows by weight (largest first), then by ridge; the lowest held-out loss per weight kept.
    assert "| 1 | 1e-06 | 20.0 / 10.0 | 2000 / 1500 | 30.0 | 0.2 (kept) |" in text
    assert "| 1 | 1e-04 | 20.0 / 10.0 | 2000 / 1500 | 30.0 | 0.3 |" in text
    assert text.index("| 1 | 1e-04 |") < text.index("| 0.3 | 1e-06 |")
    assert "| 0.3 | 1e-02 | 20.0 / 10.0 | 2000 / 1500 | 30.0 | 0.05 (kept) |" in text
    assert "keeps at force weight 1, 1e-06; at force weight 0.3, 1e-02." in text


@pytest.mark.parametrize(
    ("page", "block"),
    [
        ("local-ph-images", "local_ph:images"),
        ("local-ph-bandwidth", "local_ph:bandwidth"),
        ("local-ph-root", "local_ph:root"),
    ],
)
def test_local_ph_image_study_pages_regenerate(tmp_path, page, block):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")
    study = _study({"linear_circumradius_both_cycles_32": ("a variant", 25.0, 2000.0, 0.8)}, {})
    source = tmp_path / "study.json"
    source.write_text(json.dumps(study))
    assert regenerate.regenerate(page, source, docs=tmp_path) == [block]
    text = (tmp_path / "local_ph.md").read_text()
    body = text[text.index(f"BEGIN GENERATED {block} ") : text.index(f"END GENERATED {block} ")]
    assert "| a variant | 25.0 / 12.5 | 2000 / 1000 | 2500 / 2300 | 0.80 / 0.80 |" in body


def test_local_ph_time_step_page_draws_its_figure(tmp_path, monkeypatch):
    regenerate = _regenerate()
    monkeypatch.setattr(regenerate, "DOCS", tmp_path)  # the figure goes beside the page
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")
    study = _study({}, {"ph_root": ("on root axes", 2.0, 0.4, 12.0, 650.0, -30.0)})
    run = study["md"]["ph_root"]["runs"]["1.0"]
    run["total_meV_per_atom"] = [0.0, 0.5, 1.0]
    run["potential_meV_per_atom"] = [0.0, -15.0, -30.0]
    source = tmp_path / "dt.json"
    source.write_text(json.dumps(study))
    assert regenerate.regenerate("local-ph-dt", source, docs=tmp_path) == ["local_ph:dt"]
    text = (tmp_path / "local_ph.md").read_text()
    assert "![Total and potential energy along NVE at each time step](img/local_ph_dt.png)" in text
    assert "| on root axes | 1.0 | 30 | -30.0 | 2.000 | 0.400 | 12.0 | 650 |" in text
    assert (tmp_path / "img" / "local_ph_dt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_local_ph_jumps_page_regenerates(tmp_path):
    regenerate = _regenerate()
    shutil.copy(DOCS / "local_ph.md", tmp_path / "local_ph.md")

    def step(jump):
        return {
            "energy_difference_meV_per_atom": 0.5,
            "jump_rms_meV": jump,
            "jump_rms_by_block_meV": [jump, 0.0, 0.0, 0.0, 0.0],
            "step_change_rms_meV": 2 * jump,
            "force_rms_meV": 1000.0,
        }

    run = {
        "timestep_fs": 1.0,
        "steps": 2,
        "blocks": ["H0", "H1", "H2", "graph's H0", "graph's H1"],
        "rows": [step(30.0), step(40.0)],  # RMS over the steps: 35.36
        "load_average": LOAD,
        "label": "on root axes",
    }
    source = tmp_path / "jumps.json"
    source.write_text(json.dumps({"jumps": {"ph_root": run}}))
    assert regenerate.regenerate("local-ph-jumps", source, docs=tmp_path) == ["local_ph:jumps"]
    text = (tmp_path / "local_ph.md").read_text()
    assert "| on root axes | 1000 | 71 | 35 | 35 | 0 | 0 | 0 | 0 | 0.500 |" in text
    run["blocks"] = run["blocks"][:3]
    source.write_text(json.dumps({"jumps": {"ph_root": run}}))
    with pytest.raises(ValueError, match="five images"):
        regenerate.regenerate("local-ph-jumps", source, docs=tmp_path)
