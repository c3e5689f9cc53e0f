"""End-to-end XY pipeline on a tiny dataset (seconds), resuming, and its config checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from topophys.pipelines.xy import (
    DEMO_CONFIG,
    LARGE_CONFIG,
    TEMPERATURES_CONFIG,
    XYPipelineConfig,
    run,
)
from topophys.simulate.xy import XYConfig, write_dataset
from topophys.training.wgan import CWGANConfig


def tiny_config(**changes: object) -> XYPipelineConfig:
    cfg = XYPipelineConfig(
        simulation=XYConfig(
            distances=(0.0, 1.0, 2.0, 4.12),
            samples=24,
            n_replicas=12,
            equilibration_sweeps=20,
            decorrelation_sweeps=2,
        ),
        reference_samples=10,
        gan=CWGANConfig(
            width=0.125,
            critic_width=0.125,
            noise_channels=4,
            epochs=2,
            batch_size=16,
            monitor_samples=8,
            physics_start_epoch=1,
            accelerator="cpu",
        ),
        eval_samples=10,
        morphology_samples=4,
        thresholds=5,
        jackknife_blocks=5,
        refine_sweeps=(0, 2),
        refine_samples=10,
        transfer_sizes=(32,),
        transfer_distances=(0.0, 2.0),
        transfer_samples=10,
    )
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("xy") / "run"
    run(tiny_config(), run_dir, progress=False)
    return run_dir


def test_run_writes_report_metrics_and_figures(tiny_run) -> None:
    for name in (
        "config.yaml",
        "metrics.json",
        "report.html",
        "generated.npz",
        "gan/generator.pt",
        "gan/history.csv",
        "fields_T0.1.png",
        "training.png",
        "observables_T0.1.png",
        "correlation_T0.1.png",
        "topology_T0.1.png",
        "refine_T0.1.png",
    ):
        assert (tiny_run / name).is_file(), name
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert m["data"]["conditions"] == 4
    assert m["data"]["training_fields_per_condition"] == 14
    assert m["data"]["mc_held"] == [1.0] * 4
    assert m["training"]["epochs"] == 2 and m["training"]["training_fields"] == 56
    scores = m["scores"]["T=0.1"]
    assert set(scores) == {"generated", "baseline", "baseline_scha", "mc_independent"}
    for s in scores.values():
        assert set(s["r2"]) >= {"energy", "specific_heat", "magnetization", "vorticity"}
        assert set(s["correlation_r2"]) == {"d=0", "d=2", "d=4.12"}
        assert s["correlation_r2_shown_min"] == min(s["correlation_r2"].values())
        assert s["correlation_r2_all_min"] <= s["correlation_r2_all_mean"] <= 1.0
        assert set(s["topological_accuracy"]) == {"d=0", "d=2", "d=4.12"}
        assert all(v is None or 0 <= v <= 1 for v in s["topological_accuracy_mean"].values())
        assert 0 <= s["match_rate"]["mean"] <= 1 and len(s["match_rate"]["by_d"]) == 4
        assert s["consistency"]["energy"]["dof"] == 4
        assert 0.0 <= s["consistency"]["energy"]["p_value"] <= 1.0
    # the Monte Carlo fields always carry their map: the independent half matches it exactly
    assert scores["mc_independent"]["match_rate"]["mean"] == 1.0
    assert scores["mc_independent"]["r2"]["vorticity"] == 1.0
    speed = m["speed"]
    assert speed["generator_samples_per_s"] > 0
    assert speed["T=0.1"]["mc_decorrelated_samples_per_s"] > 0
    refine = m["refine"]["T=0.1"]
    assert set(refine) == {"generator", "baseline", "baseline_scha", "analytic"}
    for start in refine:
        rows = refine[start]["by_k"]
        assert [r["k"] for r in rows] == [0, 2]
        assert all(r["match_rate"] == 1.0 for r in rows)  # refined fields carry the target
    assert refine["analytic"]["by_k"][0]["diversity_aligned_ratio"] == pytest.approx(0, abs=1e-6)
    transfer = m["transfer"]["L=32"]["T=0.1"]
    assert set(transfer["scores"]) == {
        "generated",
        "baseline",
        "generated + 2 sweeps",
        "analytic + 2 sweeps",
    }
    for name in ("generated + 2 sweeps", "analytic + 2 sweeps"):
        assert transfer["scores"][name]["match_rate"]["mean"] == 1.0
    assert transfer["distances"] == [0.0, 2.0]
    assert set(m["timings_s"]) >= {"simulate", "train", "generate", "evaluate", "report", "total"}
    assert m["across_temperatures"] is None  # one temperature
    assert len(m["machine"]["at_start"]["load_average"]) == 3
    html = (tiny_run / "report.html").read_text()
    assert html.count("<figure>") == html.count("<figcaption>") >= 7
    assert "not expected to match" in html  # a reduced-scale run says so


def test_a_temperature_sweep_is_scored_along_T(tmp_path) -> None:
    cfg = tiny_config(
        simulation=tiny_config().simulation.replace(
            temperatures=(0.1, 0.9), distances=(0.0, 2.0, 4.12), samples=36
        ),
        train_samples=14,  # 14 training + 10 independent + 10 reference fields (+ 2 unused)
        gan=tiny_config().gan.replace(
            generator_output="defect_residual",
            noise_injection="all",
            spin_waves=True,
            defect_base="blend",
            physics_start_epoch=None,
            energy_moments_weight=0.3,
            spectrum_moments_weight=1.0,  # the demo's moments, pooled per temperature
            moments_groups="temperature",
        ),
        refine_sweeps=(),
        transfer_sizes=(),
    )
    run_dir = run(cfg, tmp_path / "run", progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["data"]["temperatures"] == [0.1, 0.9]
    assert m["data"]["training_fields_per_condition"] == 14
    assert m["training"]["training_fields"] == 14 * 6
    assert set(m["scores"]) == {"T=0.1", "T=0.9"}
    across = m["across_temperatures"]
    assert across["temperatures"] == [0.1, 0.9]
    assert [e["d"] for e in across["by_distance"]] == pytest.approx([0.0, 2.0, 17**0.5])
    for entry in across["by_distance"]:
        assert set(entry["scores"]) == {
            "generated",
            "baseline",
            "baseline_scha",
            "mc_independent",
        }
        gen = entry["scores"]["generated"]
        # Energy rises with T in every ensemble: R² along T is defined.
        assert gen["r2"]["energy"] is not None
        assert gen["consistency"]["energy"]["dof"] == 2
        assert len(gen["relative_error"]["energy"]) == 2
    # The residual generator holds every map at both temperatures.
    for T in ("T=0.1", "T=0.9"):
        assert m["scores"][T]["generated"]["match_rate"]["mean"] == 1.0
    assert (run_dir / "temperatures.png").is_file()
    html = (run_dir / "report.html").read_text()
    assert "Across temperatures" in html and "energy per condition" in html
    assert "structure factor" in html  # the report names the spectrum moments
    history = (run_dir / "gan" / "history.csv").read_text()
    assert "spectrum_moments_loss" in history.splitlines()[0]


def test_heldout_maps_are_other_images_in_the_same_sector() -> None:
    from topophys.observables.spins import energy
    from topophys.pipelines.xy import _heldout_targets
    from topophys.simulate.xy import defect_field, pair_charge_map

    maps = np.stack([pair_charge_map(16, d) for d in (0, 1, 2.24, 4.12, 5)])
    images = _heldout_targets(maps, seed=0)
    np.testing.assert_array_equal(images[0], maps[0])  # d = 0 has no other image
    for k, image in zip(maps[1:], images[1:], strict=True):
        assert not np.array_equal(image, k)
        assert sorted(image.ravel().tolist()) == sorted(k.ravel().tolist())
        assert energy(defect_field(image)[None]) == pytest.approx(energy(defect_field(k)[None]))
    np.testing.assert_array_equal(_heldout_targets(maps, seed=0), images)  # deterministic


def test_rerun_resumes_and_other_config_is_refused(tiny_run) -> None:
    stages = {p.name: p.read_bytes() for p in (tiny_run / "stages").iterdir()}
    generated = (tiny_run / "generated.npz").read_bytes()
    run(tiny_config(), tiny_run, progress=False)  # everything finished: nothing is redone
    assert {p.name: p.read_bytes() for p in (tiny_run / "stages").iterdir()} == stages
    assert (tiny_run / "generated.npz").read_bytes() == generated
    with pytest.raises(ValueError, match="another configuration"):
        run(tiny_config(eval_samples=12), tiny_run, progress=False)


def test_reusing_a_store_checks_it(tiny_run, tmp_path) -> None:
    cfg = tiny_config(data=str(tiny_run / "mc.zarr"), reference_samples=24)
    with pytest.raises(ValueError, match="no training fields"):
        run(cfg, tmp_path / "other", progress=False)
    cfg = tiny_config(data=str(tiny_run / "mc_L32.zarr"), reference_samples=5)
    with pytest.raises(ValueError, match="correlation_distances"):
        run(cfg, tmp_path / "third", progress=False)
    hot = XYConfig(
        temperatures=(2.0,),
        distances=(0.0, 2.0, 4.12),
        samples=12,
        n_replicas=6,
        equilibration_sweeps=5,
        decorrelation_sweeps=1,
        constrained=False,
    )
    write_dataset(hot, tmp_path / "hot.zarr", progress=False)  # thermal vortices everywhere
    with pytest.raises(ValueError, match="not held"):
        run(tiny_config(data=str(tmp_path / "hot.zarr")), tmp_path / "fourth", progress=False)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"simulation": {"L": 24}}, "multiple of 16"),
        ({"simulation": {"constrained": False}}, "constrained"),
        ({"reference_samples": 24}, "no training fields"),
        ({"correlation_distances": [3.0]}, "not among"),
        ({"correlation_distances": [1.5]}, "lattice distance"),
        ({"refine_samples": 11}, "refine_samples"),
        ({"train_samples": 20}, "train_samples"),
        ({"refine_sweeps": [4, 2]}, "ascending"),
        ({"transfer_sizes": [40]}, "multiple of 16"),
        ({"transfer_sizes": [16], "transfer_distances": [9.0]}, "L/2"),
        ({"eval_samples": 3}, "jackknife_blocks"),
        ({"jackknife_blocks": 1}, "at least 2"),
        ({"topo_tol": 0.0}, "topo_tol"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_config_errors_name_the_field(changes, match) -> None:
    base = tiny_config().to_dict()
    for key, value in changes.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ValueError, match=match):
        XYPipelineConfig.from_dict(base)


@pytest.mark.parametrize("width", [0.25, 0.125])
def test_benchmark_configs_at_l32_are_the_temperature_scale_with_the_named_changes(width):
    # benchmarks/configs/xy_temperatures_L32*.yaml say what they change; nothing else differs.
    name = "xy_temperatures_L32" + ("" if width == 0.25 else "_w0125") + ".yaml"
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / name
    config = XYPipelineConfig.from_yaml(path.read_text())
    expected = TEMPERATURES_CONFIG.replace(
        simulation=TEMPERATURES_CONFIG.simulation.replace(L=32, decorrelation_sweeps=20),
        gan=TEMPERATURES_CONFIG.gan.replace(width=width, critic_width=width),
        refine_sweeps=(),
    )
    assert config == expected


def test_embedded_configs_round_trip_and_have_the_paper_scale() -> None:
    assert XYPipelineConfig.from_yaml(DEMO_CONFIG.to_yaml()) == DEMO_CONFIG
    assert XYPipelineConfig.from_yaml(LARGE_CONFIG.to_yaml()) == LARGE_CONFIG
    assert XYPipelineConfig.from_yaml(TEMPERATURES_CONFIG.to_yaml()) == TEMPERATURES_CONFIG
    temps = TEMPERATURES_CONFIG.simulation.temperatures
    assert min(temps) == 0.1 and max(temps) > 0.89  # across the BKT transition
    # The demo's generator, with the spin-wave stiffness calibrated per temperature (the SCHA's
    # runs too hot above T_BKT).
    assert TEMPERATURES_CONFIG.gan == DEMO_CONFIG.gan.replace(spin_wave_stiffness="calibrated")
    assert DEMO_CONFIG.gan.spin_wave_stiffness == "scha"
    sim = LARGE_CONFIG.simulation
    n_train = (sim.samples - LARGE_CONFIG.reference_samples) * len(sim.distances)
    assert n_train >= 250_000 and LARGE_CONFIG.gan.epochs == 120
    assert LARGE_CONFIG.gan.width == 1.0 and LARGE_CONFIG.gan.physics_start_epoch == 40
    # The paper's generator at scale; the demo uses our charge-exact residual generator.
    large, demo = LARGE_CONFIG.gan, DEMO_CONFIG.gan
    assert (large.generator_output, large.noise_injection, large.spin_waves) == (
        "spins",
        "bottleneck",
        False,
    )
    assert (demo.generator_output, demo.noise_injection, demo.spin_waves) == (
        "defect_residual",
        "fine",
        True,
    )
    assert len(DEMO_CONFIG.simulation.distances) == 13
    assert np.isclose(DEMO_CONFIG.simulation.temperatures, [0.1]).all()


def test_run_rejects_a_wrong_config_type(tmp_path) -> None:
    with pytest.raises(TypeError, match="XYPipelineConfig"):
        run(tiny_config().to_dict(), tmp_path)  # type: ignore[arg-type]


def test_report_names_the_options_beyond_the_paper() -> None:
    from topophys.pipelines.xy_report import _beyond_paper

    assert _beyond_paper(LARGE_CONFIG.gan) == []
    demo = " ".join(_beyond_paper(DEMO_CONFIG.gan))
    for phrase in (
        "analytic defect field",
        "spin waves",
        "two finest decoder blocks",
        "critic",
        "energy per condition",
    ):
        assert phrase in demo


@pytest.mark.gpu
def test_the_paper_scale_generator_runs_end_to_end_on_cuda(tmp_path) -> None:
    """`topophys run xy --scale large --device cuda` on a tiny store: LARGE_CONFIG's network,
    training on the GPU (accelerator auto), Monte Carlo, generation and refinement on cuda."""
    gan = LARGE_CONFIG.gan.replace(
        epochs=2, physics_start_epoch=1, batch_size=16, monitor_samples=8
    )
    cfg = tiny_config(gan=gan, transfer_sizes=())
    run_dir = run(cfg, tmp_path / "run", device="cuda", progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["speed"]["device"] == "cuda"
    assert m["training"]["epochs"] == 2
    assert m["refine"]["T=0.1"]["analytic"]["by_k"][-1]["match_rate"] == 1.0


def _regenerate_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "regenerate.py"
    spec = importlib.util.spec_from_file_location("regenerate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_tables_are_written_from_a_run(tiny_run) -> None:
    """The XY docs generators read a run's metrics.json, and every block they write is on its
    page (regenerate refuses a page without it)."""
    regen = _regenerate_module()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key, fn in regen.PAGES["xy"][2].items():
        text = fn(metrics)
        assert "| " in text and "None" not in text, key
    assert "generated" in regen.xy_demo(metrics) and "MC (independent half)" in regen.xy_demo(
        metrics
    )
    for page, (filename, _, blocks) in regen.PAGES.items():
        if page.startswith("xy"):
            body = (regen.DOCS / filename).read_text()
            for key in blocks:
                assert f"<!-- BEGIN GENERATED {key} -->" in body, (page, key)


def test_regenerated_blocks_name_the_commit_the_numbers_were_measured_at(
    tiny_run, tmp_path
) -> None:
    """A block says at which commit its run was made: ``commit`` (``--commit``), else the
    JSON's ``"commit"``, else HEAD; a malformed --commit is refused by name."""
    import shutil

    regen = _regenerate_module()
    shutil.copy(regen.DOCS / "xy_pipeline.md", tmp_path / "xy_pipeline.md")
    keys = regen.regenerate("xy", tiny_run, docs=tmp_path, commit="abc1234")
    text = (tmp_path / "xy_pipeline.md").read_text()
    assert keys and text.count("at commit `abc1234`") == len(keys)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert "at commit `fedcba9`" in regen.provenance("cmd", metrics | {"commit": "fedcba9"})
    assert "at commit `abc1234`" not in regen.provenance("cmd", metrics)
    with pytest.raises(SystemExit):
        regen.main(["xy", str(tiny_run), "--commit", "not a hash"])
