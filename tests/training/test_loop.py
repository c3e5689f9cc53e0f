"""The Lightning loop the energy regressors share: epoch order, held-out rows, devices, and the
run-directory identity that refuses another training's directory."""

from __future__ import annotations

import pytest

from topophys.training._loop import (
    EpochBatchSampler,
    claim_run_dir,
    holdout_split,
    lightning_device,
)


def test_epoch_sampler_orders_depend_on_seed_and_epoch() -> None:
    sampler = EpochBatchSampler(10, 3, seed=0, drop_last=True)
    first = list(sampler)
    assert len(first) == len(sampler) == 3  # the partial last batch is dropped
    assert all(len(b) == 3 for b in first)
    assert len({i for b in first for i in b}) == 9
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(EpochBatchSampler(2, 3, seed=0, drop_last=True)) in ([[0, 1]], [[1, 0]])
    every = EpochBatchSampler(10, 3, seed=0)
    assert len(every) == 4 and sorted(i for b in every for i in b) == list(range(10))


def test_holdout_split_is_seeded_and_disjoint() -> None:
    train, held = holdout_split(20, 0.25, 3)
    assert len(held) == 5 and not set(train) & set(held)
    assert sorted([*train, *held]) == list(range(20))
    assert holdout_split(20, 0.25, 3)[1].tolist() == held.tolist()
    assert holdout_split(20, 0.25, 4)[1].tolist() != held.tolist()
    assert len(holdout_split(20, 0.0, 3)[1]) == 0
    assert len(holdout_split(2, 0.5, 0)[0]) == 1  # at least one training row


def test_lightning_device_and_bad_device() -> None:
    assert lightning_device("cuda:2") == ("gpu", [2])
    with pytest.raises(ValueError, match="device must be"):
        lightning_device("tpu")


def test_a_run_directory_serves_one_identity(tmp_path) -> None:
    claim_run_dir(tmp_path, {"config": {"a": (1, 2)}, "data": "x"}, "toy")
    claim_run_dir(tmp_path, {"config": {"a": [1, 2]}, "data": "x"}, "toy")  # the same, as JSON
    with pytest.raises(ValueError, match="toy training of another config and data"):
        claim_run_dir(tmp_path, {"config": {"a": 3}, "data": "y"}, "toy")


def test_a_model_without_standardized_is_refused_before_training() -> None:
    import torch

    from topophys.training._loop import fit_regression
    from topophys.training._options import LoopSettings

    settings = LoopSettings(epochs=1, batch_size=2, seed=0, milestones=(), gamma=0.5)
    with pytest.raises(TypeError, match=r"standardized\(inputs\).*Linear"):
        fit_regression(
            torch.nn.Linear(3, 1),
            4,
            lambda idx: (torch.zeros(len(idx), 3), torch.zeros(len(idx))),
            optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
            settings=settings,
            scale=1.0,
            name="toy",
        )
