"""compare_pricing: uniform baselines, K plans and the full menu side by side."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.analysis import PricingComparison, compare_pricing
from pyomo_llmprice.io import read_instance

INSTANCES = Path(__file__).resolve().parents[2] / "instances"


@functools.cache
def comparison() -> PricingComparison:
    return compare_pricing(INSTANCES / "paper_theta_20.dat", plans=(1, 2, 3), starts=1)


def test_rows_and_columns_of_the_table():
    table = comparison().table
    assert list(table.index) == ["linear", "K=1", "K=2", "K=3", "full_menu", "full_menu_tangent"]
    for col in ("profit", "revenue", "consumer_surplus", "welfare", "gain_vs_linear", "status"):
        assert col in table.columns
    np.testing.assert_allclose(table["welfare"], table["profit"] + table["consumer_surplus"])
    np.testing.assert_allclose(
        table["gain_vs_linear"], table["profit"] / table.loc["linear", "profit"] - 1
    )
    assert table.loc["linear", "gain_vs_linear"] == 0


def test_profit_ordering_and_the_exact_screening_optimum():
    table = comparison().table
    inst = read_instance(INSTANCES / "paper_theta_20.dat")
    exact = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    assert table.loc["full_menu", "profit"] == pytest.approx(exact.profit, rel=1e-7)
    profits = table.loc[["linear", "K=1", "K=2", "K=3", "full_menu"], "profit"].to_numpy()
    assert np.all(np.diff(profits) > 0)
    # designed plans are exactly IC; tangent tariffs of the discrete optimum are not
    assert (table.loc[["K=1", "K=2", "K=3"], "max_deviation_gain"] <= 1e-9).all()
    assert (table.loc[["K=1", "K=2", "K=3", "full_menu"], "status"] == "optimal").all()
    assert table.loc["full_menu_tangent", "max_deviation_gain"] > 1e-6
    assert table.loc["full_menu_tangent", "status"] == "verification_failed"
    assert table.loc["full_menu_tangent", "profit"] < table.loc["full_menu", "profit"]


def test_json_document():
    doc = json.loads(json.dumps(comparison().to_dict()))
    assert doc["instance"] == "paper_theta_20"
    assert set(doc["designs"]) == {"linear", "K=1", "K=2", "K=3", "full_menu_tangent"}
    k2 = doc["designs"]["K=2"]
    assert len(k2["plans"]) == 2
    for plan in k2["plans"]:
        assert {
            "fixed_fee",
            "price_input",
            "price_output",
            "price_finetune",
            "markup",
            "types",
        } <= set(plan)
    assert {"profit", "revenue", "consumer_surplus", "max_deviation_gain", "status"} <= set(k2)
    assert doc["table"]["full_menu"]["status"] == "optimal"
