"""YAML round trips and field-named errors of the configuration dataclasses."""

import pytest

from topophys.simulate.sweep import TDGLSweepConfig
from topophys.simulate.tdgl import TDGLConfig


def test_yaml_round_trip_is_exact(tmp_path):
    config = TDGLSweepConfig(
        tdgl=TDGLConfig(size=64, dt=0.05, dipolar_kernel="lattice"), alphas=(1.0, 2.5), seeds=(3, 4)
    )
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    assert TDGLSweepConfig.from_yaml(path) == config
    assert TDGLSweepConfig.from_yaml(path.read_text()) == config


def test_partial_yaml_takes_defaults_for_missing_fields():
    config = TDGLSweepConfig.from_yaml("tdgl:\n  size: 32\nseeds: [5]\n")
    assert config.tdgl.size == 32 and config.tdgl.dt == TDGLConfig().dt
    assert config.seeds == (5,)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("tdgl:\n  sise: 32\n", ValueError, "sise"),
        ("tdgl:\n  size: big\n", TypeError, "TDGLConfig.size"),
        ("tdgl:\n  dt: -1\n", ValueError, "dt"),
        ("alphas: [1.0, 99.0]\n", ValueError, r"alphas\[1\]"),
        ("seeds: [0, 0]\n", ValueError, "distinct"),
        ("tdgl:\n  dipolar_kernel: ewald\n", ValueError, "dipolar_kernel"),
        ("batch_size: 0\n", ValueError, "batch_size"),
        ("tdgl: 3\n", TypeError, "mapping"),
    ],
)
def test_bad_yaml_names_the_field(text, error, match):
    with pytest.raises(error, match=match):
        TDGLSweepConfig.from_yaml(text)


def test_replace_validates():
    config = TDGLConfig()
    assert config.replace(size=16).size == 16
    with pytest.raises(ValueError, match="size"):
        config.replace(size=-3)
