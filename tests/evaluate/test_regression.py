"""Errors of energy models and the papers' tables, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from topophys.evaluate.regression import (
    PAPER_RMSE_MEV,
    baseline_table,
    regression_metrics,
    size_transfer_table,
    split_errors,
)


def test_metrics_analytic_values():
    m = regression_metrics([0.0, 0.0, 0.0, 0.0], [0.003, -0.001, 0.001, -0.003])
    assert m["rmse_meV"] == pytest.approx(np.sqrt(5.0))
    assert m["mae_meV"] == pytest.approx(2.0)
    assert m["n"] == 4


@pytest.mark.parametrize(
    ("t", "p", "match"),
    [([1.0, 2.0], [1.0], "same length"), ([], [], "at least one"), ([np.nan], [1.0], "finite")],
)
def test_metrics_bad_input(t, p, match):
    with pytest.raises(ValueError, match=match):
        regression_metrics(t, p)


def test_split_errors_score_each_side_and_the_transfer_set():
    y = np.array([0.0, 0.0, 1.0, 1.0])
    pred = np.array([0.001, -0.001, 1.004, 1.0])
    test = np.array([False, False, True, True])
    e = split_errors(y, pred, test, [2.0], [2.003])
    assert e["train"]["rmse_meV"] == pytest.approx(1.0)
    assert e["test"]["mae_meV"] == pytest.approx(2.0) and e["test"]["n"] == 2
    assert e["transfer"]["rmse_meV"] == pytest.approx(3.0)
    assert "transfer" not in split_errors(y, pred, test)
    with pytest.raises(ValueError, match="test must mark"):
        split_errors(y, pred, np.zeros(4, bool))
    with pytest.raises(ValueError, match="bool mask"):
        split_errors(y, pred, [0, 1, 0, 1])


def test_baseline_table_rows_beside_the_papers():
    metrics = {
        "ridge": {"random": {"test": {"rmse_meV": 1.0}}},
        "soap_nn": {
            "random": {"test": {"rmse_meV": 3.0}},
            "grouped": {"test": {"rmse_meV": 4.0}, "transfer": {"rmse_meV": 5.0}},
        },
        "ph_soap": {"random": {"test": {"rmse_meV": 2.0}}},
    }
    rows = baseline_table(metrics)
    assert [r["model"] for r in rows] == ["ridge", "soap_nn", "ph_soap"]
    assert rows[1]["paper_rmse"] == str(PAPER_RMSE_MEV["soap_nn"]) == "16.4"
    assert rows[1]["grouped_transfer_rmse"] == 5.0 and rows[1]["transfer_rmse"] is None
    assert rows[2]["paper_rmse"] is None


def test_paper_table_values():
    cnn = baseline_table({"cnn": {"grouped": {"test": {"rmse_meV": 2.0}}}})[0]
    assert cnn["paper_rmse"] == "40.7 / 33.3" and cnn["test_rmse"] is None
    assert cnn["grouped_test_rmse"] == 2.0
    assert PAPER_RMSE_MEV["ridge"] == 59.2 and PAPER_RMSE_MEV["schnet"] == 30.5


def test_size_transfer_table_rows_and_ratio():
    m = {
        "ridge": {
            "random": {
                "test": {"rmse_meV": 50.0},
                "transfer": {"rmse_meV": 75.0, "mae_meV": 60.0},
            },
            "grouped": {"test": {"rmse_meV": 80.0}},  # no transfer: no row
        },
        "schnet": {"random": {"test": {"rmse_meV": 40.0}, "transfer": {"rmse_meV": 20.0}}},
    }
    rows = size_transfer_table(m, ([216], [512]))
    assert [(r["model"], r["split"]) for r in rows] == [
        ("PH + Ridge", "random"),
        ("SchNet", "random"),
    ]
    assert rows[0]["ratio"] == 1.5 and rows[0]["MAE, 512 atoms"] == 60.0
    assert rows[1]["RMSE, 512 atoms"] == 20.0 and rows[1]["test RMSE, 216 atoms"] == 40.0
