"""`topophys run xy`: config resolution, a tiny run through the CLI, and clean errors."""

from __future__ import annotations

from typer.testing import CliRunner

from topophys.cli import app
from topophys.pipelines.xy import DEMO_CONFIG, LARGE_CONFIG, XYPipelineConfig

runner = CliRunner()

TINY = """
simulation:
  distances: [0, 2]
  samples: 16
  n_replicas: 8
  equilibration_sweeps: 10
  decorrelation_sweeps: 2
reference_samples: 6
gan:
  width: 0.125
  critic_width: 0.125
  noise_channels: 2
  epochs: 1
  batch_size: 8
  monitor_samples: 4
  accelerator: cpu
eval_samples: 6
morphology_samples: 2
thresholds: 3
correlation_distances: [0, 2]
jackknife_blocks: 3
refine_sweeps: []
refine_samples: 6
transfer_sizes: []
transfer_samples: 6
"""


def test_dump_config_of_each_scale() -> None:
    for scale, expected in (("demo", DEMO_CONFIG), ("large", LARGE_CONFIG)):
        result = runner.invoke(app, ["run", "xy", "--scale", scale, "--dump-config"])
        assert result.exit_code == 0, result.output
        assert XYPipelineConfig.from_yaml(result.output) == expected
    result = runner.invoke(app, ["run", "xy", "--data", "some.zarr", "--dump-config"])
    assert XYPipelineConfig.from_yaml(result.output).data == "some.zarr"


def test_bad_scale_and_bad_config_are_clean_errors(tmp_path) -> None:
    result = runner.invoke(app, ["run", "xy", "--scale", "huge"])
    assert result.exit_code == 2 and "demo" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval_samples: 1\n")
    result = runner.invoke(app, ["run", "xy", "--config", str(bad)])
    assert result.exit_code == 2 and "eval_samples" in result.output
    missing = runner.invoke(
        app, ["run", "xy", "--data", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "r")]
    )
    assert missing.exit_code == 2 and "no spin store" in missing.output


def test_tiny_run_through_the_cli(tmp_path) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "xy", "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()
    assert XYPipelineConfig.from_yaml(out / "config.yaml").refine_sweeps == ()
