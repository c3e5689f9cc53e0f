"""The CLI package: lazy verbs, options derived from configs, every option's default shown."""

import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from topophys.cli import COMMANDS, app

runner = CliRunner()


def _leaves(table=COMMANDS, prefix=()):
    for name, (target, _) in table.items():
        if isinstance(target, dict):
            yield from _leaves(target, (*prefix, name))
        else:
            yield (*prefix, name)


def _command(path):
    group = get_command(app)
    ctx = group.make_context("topophys", [*path, "--help"], resilient_parsing=True)
    cmd = group
    for name in path:
        cmd = cmd.get_command(ctx, name)
    return cmd


def test_top_level_help_imports_no_command_module():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom topophys.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0, r.output\n"
        "assert 'simulate' in r.output and 'demo' in r.output\n"
        "heavy = {'torch', 'xarray', 'zarr', 'matplotlib', 'scipy', 'topophys.cli.simulate'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("path", list(_leaves()), ids=" ".join)
def test_every_option_shows_its_default(path):
    cmd = _command(path)
    for param in cmd.params:
        if param.param_type_name != "option" or param.name in ("help", "dump_config"):
            continue
        if param.is_flag and not param.secondary_opts:
            continue  # a plain flag is off unless given
        shown = param.show_default if isinstance(param.show_default, str) else param.default
        assert shown is not None, (path, param.name)


def test_config_options_keep_the_file_value_unless_given(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("tdgl:\n  size: 24\n  dt: 0.05\n")
    args = ["simulate", "tdgl", "x.zarr", "--config", str(config), "--dump-config"]
    from topophys.simulate.sweep import TDGLSweepConfig

    kept = TDGLSweepConfig.from_yaml(runner.invoke(app, args).output)
    assert (kept.tdgl.size, kept.tdgl.dt) == (24, 0.05)
    changed = TDGLSweepConfig.from_yaml(runner.invoke(app, [*args, "--size", "32"]).output)
    assert (changed.tdgl.size, changed.tdgl.dt) == (32, 0.05)


def test_an_option_shared_by_two_fields_sets_both():
    result = runner.invoke(app, ["run", "nrp", "--accelerator", "auto", "--dump-config"])
    assert result.exit_code == 0, result.output
    from topophys.pipelines.nrp import NRPPipelineConfig

    cfg = NRPPipelineConfig.from_yaml(result.output)
    assert cfg.pd_model.accelerator == cfg.image_model.accelerator == "auto"


def test_an_invalid_combination_names_the_option_at_fault():
    result = runner.invoke(app, ["simulate", "tdgl", "x.zarr", "--dt", "100", "--dump-config"])
    assert result.exit_code == 2
    assert "--dt" in result.output and "n_snapshots" in result.output


def test_lazy_group_main_takes_click_positional_arguments(capsys):
    # click's signature is main(args, prog_name, complete_var, standalone_mode, ...); the group
    # once took *args and standalone_mode by keyword only, so a positional False raised TypeError
    group = get_command(app)
    assert group.main(["--help"], "topophys", None, False) == 0
    assert "simulate" in capsys.readouterr().out
