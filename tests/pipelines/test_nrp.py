"""End-to-end NRP pipeline on a tiny sweep (seconds), its config checks and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from topophys.cli import app
from topophys.pipelines.nrp import (
    DEMO_CONFIG,
    LARGE_CONFIG,
    FreshRuns,
    NRPPipelineConfig,
    PDFeatures,
    block_average,
    image_window,
    run,
)
from topophys.simulate.sweep import TDGLSweepConfig
from topophys.simulate.tdgl import TDGLConfig
from topophys.training.nrp import NRPConfig


def tiny_config(**changes: object) -> NRPPipelineConfig:
    model = NRPConfig(
        epochs=2,
        batch_size=16,
        hidden=(16,),
        conv_channels=(4, 8),
        conv_hidden=8,
        potential_hidden=(8,),
    )
    cfg = NRPPipelineConfig(
        simulation=TDGLSweepConfig(
            tdgl=TDGLConfig(size=16, dt=0.05, n_snapshots=8, t_first_snapshot=0.5),
            alphas=(1.0, 2.0, 3.0, 4.0),
            seeds=(0, 1),
            batch_size=4,
        ),
        holdout_alphas=(3.0,),
        validation_seeds=(1,),
        fresh=FreshRuns(alphas=(1.5,), seeds=(7,)),
        features=PDFeatures(resolution=5),
        image_size=8,
        pd_model=model.replace(early_stopping_patience=1),
        image_model=model,
        rollout_steps=(1, 3),
    )
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("nrp") / "run"
    run(tiny_config(), run_dir, progress=False)
    return run_dir


def test_run_writes_report_metrics_and_figures(tiny_run) -> None:
    for name in (
        "config.yaml",
        "metrics.json",
        "report.html",
        "potential.png",
        "latent.png",
        "grad_t_init.png",
        "training.png",
        "prediction_pd.png",
        "prediction_image.png",
        "prediction_error.png",
        "snapshots.png",
        "t_init.png",
        "energy.png",
        "errors_by_start.png",
        "fresh_fields.zarr",
        "fresh_diagrams.zarr",
    ):
        assert (tiny_run / name).exists(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    data = metrics["data"]
    assert (data["runs"], data["train_runs"], data["validation_runs"]) == (8, 3, 3)
    assert (data["heldout_runs"], data["fresh_runs"]) == (2, 1)
    assert data["snapshots_per_run"] == 7  # t = 0 dropped
    assert set(data["energy_monotone_fraction"]) == {"all", "train", "validation", "heldout"}
    for model in ("pd", "image"):
        m = metrics[model]
        for key in ("monotone_fraction", "anchored_monotone_fraction"):
            assert 0.0 <= m[key]["all"] <= 1.0
            assert set(m[key]) == {"all", "train", "validation", "heldout"}
        for kind in ("raw", "anchored"):
            assert -1.0 <= m["energy_rank_correlation"][kind]["heldout"] <= 1.0
        assert set(m["rollout"]) == {"train", "heldout", "fresh"}
        assert set(m["rollout"]["train"]) == {"k1", "k3"}
        assert m["rollout"]["heldout"]["k1"]["n"] == 12
        assert m["rollout"]["fresh"]["k3"]["n"] == 4
        assert 0.0 <= m["latent"]["smoothness"] <= 1.0
        assert np.isfinite(m["final_losses"]["train_loss"])
    html = (tiny_run / "report.html").read_text()
    assert html.count("<figure>") >= 8
    assert html.count("data:image/png;base64,") >= 8
    assert "<figcaption>" in html


def test_rerun_resumes_and_other_config_is_refused(tiny_run) -> None:
    before = (tiny_run / "pd_model" / "model.pt").read_bytes()
    first = json.loads((tiny_run / "metrics.json").read_text())
    logs = sorted(str(p) for p in tiny_run.glob("*_model/logs/*"))
    run(tiny_config(), tiny_run, progress=False)  # everything finished: nothing retrained
    assert (tiny_run / "pd_model" / "model.pt").read_bytes() == before
    again = json.loads((tiny_run / "metrics.json").read_text())
    # The stage times are the first run's; the resume's own seconds are kept apart.
    assert again["timings_s"] == first["timings_s"]
    assert set(again["resume_timings_s"]) == set(first["timings_s"]) - {"total"}
    assert again["resume_timings_s"]["train"] < 5.0
    # No training happened: no new log folders.
    assert sorted(str(p) for p in tiny_run.glob("*_model/logs/*")) == logs
    assert again["pd"]["rollout"] == first["pd"]["rollout"]
    with pytest.raises(ValueError, match="another configuration"):
        run(tiny_config(image_size=4), tiny_run, progress=False)


def test_reusing_a_field_store(tiny_run, tmp_path) -> None:
    cfg = tiny_config(fields=str(tiny_run / "fields.zarr"), holdout_alphas=(9.0,))
    with pytest.raises(ValueError, match="holdout_alphas"):
        run(cfg, tmp_path / "other", progress=False)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="holdout_alphas"):
        tiny_config(holdout_alphas=(2.5,))
    with pytest.raises(ValueError, match="validation_seeds"):
        tiny_config(validation_seeds=(5,))
    with pytest.raises(ValueError, match="validation_seeds take every seed"):
        tiny_config(validation_seeds=(0, 1))
    with pytest.raises(ValueError, match=r"fresh\.seeds"):
        tiny_config(fresh=FreshRuns(alphas=(1.5,), seeds=(0,)))
    with pytest.raises(ValueError, match=r"fresh.alphas\[0\]"):
        FreshRuns(alphas=(100.0,))
    with pytest.raises(ValueError, match="needs validation runs"):
        tiny_config(validation_seeds=())
    with pytest.raises(ValueError, match="latent_dim"):
        tiny_config(pd_model={"latent_dim": 3})
    with pytest.raises(ValueError, match="dims"):
        PDFeatures(dims=(2,))
    with pytest.raises(ValueError, match="birth_range"):
        PDFeatures(birth_range=(1.0, 0.0))
    assert NRPPipelineConfig.from_yaml(DEMO_CONFIG.to_yaml()) == DEMO_CONFIG
    assert NRPPipelineConfig.from_yaml(LARGE_CONFIG.to_yaml()) == LARGE_CONFIG


def test_holding_out_everything_is_an_error(tmp_path) -> None:
    cfg = tiny_config(holdout_alphas=(1.0, 2.0, 3.0, 4.0))
    with pytest.raises(ValueError, match="nothing is left to train"):
        run(cfg, tmp_path / "r", progress=False)


def test_block_average() -> None:
    f = np.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_allclose(block_average(f, 2), [[[2.5, 4.5], [10.5, 12.5]]])
    np.testing.assert_allclose(block_average(f, 1), [[[7.5]]])
    with pytest.raises(ValueError, match="image_size"):
        block_average(f, 3)


def test_image_window_fits_the_points() -> None:
    from topophys.diagrams import Diagrams

    d = Diagrams.from_list(
        [np.array([[0, -1.0, 0.5], [1, 0.0, 2.0], [0, -3.0, np.inf]]), np.array([[1, 1.0, 1.5]])]
    )
    w = image_window(d, PDFeatures(resolution=10))
    lo, hi = w["birth_range"]
    assert lo < -1.0 and hi > 1.0  # essential point ignored, finite births covered
    assert w["persistence_range"][0] == 0.0 and w["persistence_range"][1] >= 2.0
    assert w["bandwidth"] == pytest.approx((hi - lo) / 10)
    fixed = image_window(d, PDFeatures(birth_range=(-2.0, 2.0), persistence_range=(0.0, 3.0)))
    assert fixed["birth_range"] == (-2.0, 2.0) and fixed["persistence_range"] == (0.0, 3.0)


def test_cli_dump_config_and_bad_scale() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["run", "nrp", "--dump-config"])
    assert result.exit_code == 0, result.output
    assert NRPPipelineConfig.from_yaml(result.output) == DEMO_CONFIG
    result = runner.invoke(app, ["run", "nrp", "--scale", "huge", "--dump-config"])
    assert result.exit_code != 0
    assert "scale" in result.output
    result = runner.invoke(
        app, ["run", "nrp", "--scale", "large", "--accelerator", "cpu", "--dump-config"]
    )
    cfg = NRPPipelineConfig.from_yaml(result.output)
    assert cfg.pd_model.accelerator == cfg.image_model.accelerator == "cpu"


def test_cli_runs_a_config_file(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    tiny_config().to_yaml(path)
    result = CliRunner().invoke(
        app, ["run", "nrp", "--config", str(path), "--out", str(tmp_path / "run"), "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "report.html").is_file()


def test_config_checks_shapes_and_devices_before_any_work() -> None:
    with pytest.raises(ValueError, match="divisible by 2"):
        tiny_config(image_size=6)
    with pytest.raises(ValueError, match="must divide the simulated grid"):
        tiny_config(
            image_size=12, image_model={**tiny_config().image_model.to_dict(), "conv_channels": [4]}
        )
    with pytest.raises(ValueError, match="devices=2"):
        tiny_config(pd_model={**tiny_config().pd_model.to_dict(), "devices": 2})


def test_a_run_resumes_on_other_hardware_settings(tiny_run) -> None:
    cfg = tiny_config()
    other = cfg.replace(pd_model={**cfg.pd_model.to_dict(), "accelerator": "auto"})
    run(other, tiny_run, progress=False)  # same results expected: not refused
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert 0.0 <= metrics["pd"]["descent_fraction"] <= 1.0


def test_the_demo_tables_are_generated_from_metrics(tiny_run, tmp_path) -> None:
    import importlib.util
    import shutil
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs"
    spec = importlib.util.spec_from_file_location("regenerate", docs / "regenerate.py")
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    shutil.copy(docs / "nrp.md", tmp_path / "nrp.md")
    keys = regenerate.regenerate("nrp", tiny_run, docs=tmp_path)
    assert keys == ["nrp:demo", "nrp:energy", "nrp:timings"]
    text = (tmp_path / "nrp.md").read_text()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    held = metrics["pd"]["rollout"]["heldout"]["k1"]
    assert f"| k = 1, held-out α | {held['ratio']:.2f} / " in text
    assert "python docs/regenerate.py nrp runs/demo" in text
    # A page that lost a block is refused, so a table cannot silently stop being regenerated.
    (tmp_path / "nrp.md").write_text(text.replace("BEGIN GENERATED nrp:energy", "x"))
    with pytest.raises(ValueError, match="nrp:energy"):
        regenerate.regenerate("nrp", tiny_run, docs=tmp_path)


def test_the_same_configuration_gives_the_same_metrics(tiny_run, tmp_path) -> None:
    # Determinism of the whole pipeline under its seeds: a second run in another directory.
    run(tiny_config(), tmp_path / "again", progress=False)
    first = json.loads((tiny_run / "metrics.json").read_text())
    second = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for volatile in ("timings_s", "resume_timings_s", "machine"):
        first.pop(volatile, None)
        second.pop(volatile, None)
    assert first == second


def test_cli_sets_the_papers_latent_dimension_and_lambda_for_both_models() -> None:
    result = CliRunner().invoke(
        app, ["run", "nrp", "--latent-dim", "2", "--lambda-v", "0.1", "--dump-config"]
    )
    assert result.exit_code == 0, result.output
    cfg = NRPPipelineConfig.from_yaml(result.output)
    assert cfg.pd_model.latent_dim == cfg.image_model.latent_dim == 2
    assert cfg.pd_model.lambda_v == cfg.image_model.lambda_v == 0.1
    assert cfg.pd_model.epochs == DEMO_CONFIG.pd_model.epochs  # nothing else changed
