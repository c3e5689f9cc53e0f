"""Ordinary mistakes on the command line: exit code 2, one line on stderr naming the option or
file, no traceback, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from topophys.cli import app

runner = CliRunner()

TINY = ["--alpha", "1,2", "--seeds", "0", "--size", "8", "--dt", "0.5", "--snapshots", "3"]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _refused(args: list[str], *needles: str, cwd: Path) -> str:
    """Run ``args`` in ``cwd``; check the mistake is refused cleanly; return the error line."""
    before = _tree(cwd)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, args)
    finally:
        os.chdir(old)
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == "", (args, result.stdout)
    assert _tree(cwd) == before, f"{args} wrote {_tree(cwd) - before}"
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def stores(tmp_path: Path) -> Path:
    """A finished field store, its diagram store and a spin store, in tmp_path."""
    from topophys.data import SpinStore, compute_field_diagrams

    result = runner.invoke(app, ["simulate", "tdgl", str(tmp_path / "f.zarr"), *TINY])
    assert result.exit_code == 0, result.output
    compute_field_diagrams(tmp_path / "f.zarr", tmp_path / "f.diagrams.zarr")
    SpinStore.create(tmp_path / "s.zarr", L=4, conditions=[(0.5, 0.0)], samples=2)
    return tmp_path


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no file"),
        ("directory", "is a directory"),
        ("tdgl: [unclosed\n", "not valid YAML"),
        ("- a list\n", "expects a mapping"),
        ("tdgl:\n  sise: 3\n", "sise"),
        (b"\xff\xfe\x00binary", "cannot read"),
    ],
)
def test_a_bad_config_file(tmp_path: Path, content: object, needle: str) -> None:
    config = tmp_path / "c.yaml"
    if content == "directory":
        config.mkdir()
    elif isinstance(content, bytes):
        config.write_bytes(content)
    elif content is not None:
        config.write_text(content)
    args = ["simulate", "tdgl", "out.zarr", "--config", str(config)]
    _refused(args, "--config", needle, cwd=tmp_path)


@pytest.mark.parametrize("device", ["nonsense", "cuda:99", "meta"])
def test_a_device_this_machine_lacks(tmp_path: Path, device: str) -> None:
    for command in (["simulate", "tdgl", "a.zarr", *TINY], ["simulate", "xy", "x.zarr"]):
        _refused([*command, "--device", device], "--device", cwd=tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path: Path) -> None:
    _refused(["simulate", "tdgl", "a.zarr", *TINY, "--device", "cuda"], "CUDA", cwd=tmp_path)
    _refused(["run", "nrp", "--accelerator", "gpu", "-o", "r"], "--accelerator", cwd=tmp_path)


def test_an_output_path_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    _refused(["simulate", "tdgl", "file.txt", *TINY], "OUT", "existing file", cwd=tmp_path)
    _refused(["simulate", "tdgl", "file.txt/sub.zarr", *TINY], "is a file", cwd=tmp_path)
    _refused(["run", "xy", "-o", "file.txt"], "--out", cwd=tmp_path)
    _refused(["demo", "-o", "file.txt/run"], "--out", cwd=tmp_path)
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder only stops others
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        _refused(["simulate", "tdgl", "locked/a.zarr", *TINY], "cannot write", cwd=tmp_path)


def test_a_store_of_the_wrong_kind(stores: Path) -> None:
    _refused(["plot", "tdgl", "f.diagrams.zarr"], "not a field store", cwd=stores)
    _refused(["plot", "tdgl", "s.zarr"], "not a field store", cwd=stores)
    _refused(["diagrams", "fields", "s.zarr", "-o", "d.zarr"], "not a field store", cwd=stores)
    _refused(["simulate", "tdgl", "s.zarr", *TINY], "not a field store", cwd=stores)
    _refused(["simulate", "xy", "f.zarr"], "not a spin store", cwd=stores)
    _refused(["run", "nrp", "--fields", "s.zarr", "-o", "r"], "--fields", cwd=stores)
    _refused(["run", "xy", "--data", "f.zarr", "-o", "r"], "--data", cwd=stores)


def test_a_directory_where_a_file_is_expected(stores: Path) -> None:
    _refused(["diagrams", "atoms", "f.zarr"], "FILE", "is a directory", cwd=stores)
    _refused(["plot", "tdgl", "f.zarr", "-o", "f.diagrams.zarr"], "--out", cwd=stores)


def test_a_dimension_that_was_not_computed(stores: Path) -> None:
    _refused(["plot", "diagram", "f.diagrams.zarr", "--dim", "7"], "--dim", cwd=stores)
    _refused(["plot", "diagram", "f.diagrams.zarr", "--index", "99"], "--index", cwd=stores)


@pytest.mark.parametrize("address", ["notaurl", "tcp://127.0.0.1:1"])
def test_a_scheduler_that_does_not_answer(
    tmp_path: Path, address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import topophys.parallel

    monkeypatch.setattr(topophys.parallel, "CONNECT_TIMEOUT", 1.0)
    args = ["simulate", "tdgl", "a.zarr", *TINY, "--scheduler", address]
    _refused(args, "--scheduler", cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "tdgl", "a.zarr", "--alpha", "one"], "--alpha"),
        (["simulate", "tdgl", "a.zarr", "--size", "2"], "--size"),
        (["simulate", "tdgl", "a.zarr", "--size", "big"], "--size"),
        (["simulate", "tdgl", "a.zarr", "--sise", "8"], "--sise"),
        (["simulate", "tdgl", "a.zarr", "--dt", "1e-300", "--snapshots", "2"], "--dt"),
        (["simulate", "xy", "x.zarr", "--distances", "-1"], "distances"),
        (["simulate", "tdgl"], "OUT"),
        (["run", "nrp", "--scale", "huge"], "--scale"),
        (["diagrams", "fields", "missing.zarr"], "no field store"),
        (["simulate", "tdgl", "a.zarr", "--repair"], "--repair"),
        (["simulate", "tdgl", "a.zarr", "-j", "0"], "--workers"),
    ],
)
def test_a_bad_option(tmp_path: Path, args: list[str], needle: str) -> None:
    _refused(args, needle, cwd=tmp_path)


def test_a_damaged_store_is_named_with_its_array_run_and_remedy(stores: Path) -> None:
    from topophys.data import DiagramStore

    (stores / "f.zarr" / "phi" / "c" / "1" / "0" / "0" / "0").write_bytes(b"garbage")
    line = _refused(["plot", "tdgl", "f.zarr", "-o", "p.png"], cwd=stores)
    for needle in ("f.zarr", "'phi'", "run 1", "--repair"):
        assert needle in line
    line = _refused(["diagrams", "fields", "f.zarr", "-o", "new.zarr"], cwd=stores)
    assert "'phi'" in line and "run 1" in line and "--repair" in line

    store = DiagramStore.open(stores / "f.diagrams.zarr")
    chunk = next((store.path / "chunks" / "000000" / "diagrams" / "data").rglob("c/*/*"))
    chunk.write_bytes(chunk.read_bytes()[:7])
    line = _refused(["plot", "diagram", "f.diagrams.zarr", "-i", "0", "-o", "d.png"], cwd=stores)
    for needle in ("f.diagrams.zarr", "chunk 0", "run 0", "--repair"):
        assert needle in line


def test_a_traceback_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("TOPOPHYS_TRACEBACK", "1")
    result = runner.invoke(app, ["plot", "diagram", str(tmp_path / "f")])
    assert result.exit_code != 0 and isinstance(result.exception, ValueError)


def test_a_refused_resume_leaves_the_store_as_it_was(stores: Path) -> None:
    import zarr

    before = np.asarray(zarr.open_group(str(stores / "f.zarr"))["phi"][...])
    _refused(["simulate", "tdgl", "f.zarr", *TINY, "--device", "nonsense"], cwd=stores)
    after = np.asarray(zarr.open_group(str(stores / "f.zarr"))["phi"][...])
    np.testing.assert_array_equal(before, after)
