"""``llmprice tariffs`` and ``llmprice plot`` in-process.

The printed and JSON plans are re-checked independently: every type faces the JSON's
plans again (best_response) and must choose as the JSON says; the full menu equals
theory.discrete_optimal_menu; the uniform baselines are checked against a brute-force
scan of the closed-form demand (theory.pointwise_bundle at theta / markup).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import pyomo_llmprice.analysis as tariffs_api
from pyomo_llmprice import theory
from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.tariffs import TariffMenu, TwoPartTariff, best_response
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types

C = 0.125
THETA = (2 * np.arange(1, 9) - 1) / 16  # 1/16, 3/16, ..., 15/16
PROB = np.full(8, 1 / 8)
TECH = Technology.cobb_douglas()
PLAN_KEYS = {"fixed_fee", "price_input", "price_output", "price_finetune", "markup", "types"}
DESIGN_KEYS = {"plans", "profit", "revenue", "consumer_surplus", "max_deviation_gain", "status"}


@pytest.fixture(scope="module")
def instance_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli_tariffs") / "eight.dat"
    inst = Instance("eight", None, theta_types(THETA, PROB), TECH)
    write_dat(inst, path, header="eight equally likely theta types, the paper's technology")
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tariffs_run(instance_file) -> tuple[int, str, dict]:
    path = instance_file
    target = path.with_name("eight.json")
    code, out, _ = run_cli(
        "tariffs", str(path), "--plans", "2", "--starts", "1", "--json", str(target)
    )
    return code, out, json.loads(target.read_text())


def test_prints_every_design_beside_the_full_menu(tariffs_run):
    code, out, _ = tariffs_run
    assert code == 0
    for head in ("linear: status optimal", "K=1: status optimal", "K=2: status optimal; 2 plans"):
        assert head in out
    assert "full_menu: status optimal" in out
    assert "checked on all 8x8 IC/IR pairs" in out
    # the comparison table lists every design with its numbers
    table = out.split("\n\n")[0]
    for row in ("linear", "K=1", "K=2", "full_menu"):
        assert any(line.startswith(row) for line in table.splitlines()), row


def test_json_plans_have_the_issue_fields_and_partition_the_types(tariffs_run):
    _, _, doc = tariffs_run
    assert doc["status"] == "optimal" and doc["setting"] == "packages"
    labels = {f"t{i}" for i in range(1, 9)}
    for name in ("linear", "K=1", "K=2"):
        design = doc["designs"][name]
        assert DESIGN_KEYS <= set(design), name
        assert design["status"] == "optimal"
        chosen: list[str] = []
        for plan in design["plans"]:
            assert PLAN_KEYS <= set(plan)
            for token_class in ("input", "output", "finetune"):
                assert plan[f"price_{token_class}"] == pytest.approx(plan["markup"] * C, rel=1e-12)
            chosen += plan["types"]
        assert len(chosen) == len(set(chosen))
        assert set(chosen) | set(design["excluded"]) == labels
    assert len(doc["designs"]["K=2"]["plans"]) == 2
    rows = {r["design"]: r for r in doc["comparison"]}
    assert {"linear", "K=1", "K=2", "full_menu"} <= set(rows)
    for name in ("linear", "K=1", "K=2"):
        assert rows[name]["profit"] == pytest.approx(doc["designs"][name]["profit"], rel=1e-12)


@pytest.mark.parametrize("name", ["linear", "K=1", "K=2"])
def test_json_plans_are_what_the_types_choose(name, tariffs_run):
    _, _, doc = tariffs_run
    design = doc["designs"][name]
    plans = [
        TwoPartTariff(
            p["name"],
            p["fixed_fee"],
            p["price_input"],
            p["price_output"],
            p["price_finetune"],
            p["markup"],
        )
        for p in design["plans"]
    ]
    outcome = best_response(THETA, TariffMenu(plans, TECH), prob=PROB)
    for k, plan in enumerate(design["plans"]):
        chosen = [f"t{i + 1}" for i in np.flatnonzero(outcome.choice == k)]
        assert chosen == plan["types"]
    assert outcome.profit == pytest.approx(design["profit"], rel=1e-9)
    assert outcome.revenue == pytest.approx(design["revenue"], rel=1e-9)
    assert outcome.consumer_surplus == pytest.approx(design["consumer_surplus"], rel=1e-9)
    assert design["max_deviation_gain"] <= 1e-9


def test_full_menu_is_the_exact_discrete_optimum(tariffs_run):
    _, _, doc = tariffs_run
    ref = theory.discrete_optimal_menu(THETA, PROB, TECH)
    full = doc["full_menu"]
    assert full["status"] == "optimal"
    assert full["profit"] == pytest.approx(ref.profit, rel=1e-7)
    assert full["max_ic_violation"] <= 1e-7
    served = np.flatnonzero(ref.served)
    assert [p["type"] for p in full["packages"]] == [f"t{i + 1}" for i in served]
    fees = [p["fixed_fee"] for p in full["packages"]]
    marks = [p["markup"] for p in full["packages"]]
    np.testing.assert_allclose(fees, ref.fixed_fee[served], atol=1e-6)
    np.testing.assert_allclose(marks, ref.markup[served], rtol=1e-5)
    np.testing.assert_allclose([p["price_output"] for p in full["packages"]], C * np.array(marks))


def one_tariff_profit(fee: float, markup: float) -> float:
    """Profit of one plan (fee, markup * c per token) from the closed-form demand.

    Facing prices m c, a type demands the pointwise bundle at virtual value theta / m
    (model.md section 3) and buys iff its surplus m (theta/m u - cost) covers the fee.
    """
    x, y, z = theory.pointwise_bundle(THETA / markup, TECH)
    u = TECH.cobb_douglas_precision.precision_of_tokens(x, y, z)
    cost = C * (x + y + z)
    surplus = THETA * u - markup * cost
    buys = surplus >= fee - 1e-12
    return float(PROB @ np.where(buys, fee + (markup - 1) * cost, 0.0))


def test_uniform_baselines_beat_a_brute_force_scan(tariffs_run):
    _, _, doc = tariffs_run
    linear = doc["designs"]["linear"]["plans"][0]
    one = doc["designs"]["K=1"]["plans"][0]
    assert linear["fixed_fee"] == 0
    assert doc["designs"]["linear"]["profit"] == pytest.approx(
        one_tariff_profit(0.0, linear["markup"]), rel=1e-9
    )
    assert doc["designs"]["K=1"]["profit"] == pytest.approx(
        one_tariff_profit(one["fixed_fee"], one["markup"]), rel=1e-9
    )
    markups = np.linspace(1.0, 4.0, 3001)
    best_linear = max(one_tariff_profit(0.0, m) for m in markups)
    best_one = 0.0
    for m in markups[::3]:
        x, y, z = theory.pointwise_bundle(THETA / m, TECH)
        u = TECH.cobb_douglas_precision.precision_of_tokens(x, y, z)
        surplus = THETA * u - m * C * (x + y + z)
        best_one = max(best_one, *(one_tariff_profit(f, m) for f in surplus[surplus > 0]))
    assert doc["designs"]["linear"]["profit"] >= best_linear - 1e-9
    assert doc["designs"]["K=1"]["profit"] >= best_one - 1e-9
    # more plans never earn less, and nothing beats the full screening menu
    profits = [doc["designs"][k]["profit"] for k in ("linear", "K=1", "K=2")]
    assert profits[0] <= profits[1] <= profits[2] <= doc["full_menu"]["profit"] + 1e-9


def sabotaged(monkeypatch, design):
    """compare_pricing as shipped, then one design marked non-optimal (a design's search
    cannot be made to fail from the command line)."""
    real = tariffs_api.compare_pricing

    def fake(*args, **kwds):
        comparison = real(*args, **kwds)
        comparison.designs[design].status = "iteration_limit"
        comparison.table.loc[design, "status"] = "iteration_limit"
        return comparison

    monkeypatch.setattr(tariffs_api, "compare_pricing", fake)


def test_non_optimal_design_is_reported_and_its_tariffs_withheld(
    monkeypatch, tmp_path, instance_file
):
    sabotaged(monkeypatch, design="K=1")
    target = tmp_path / "out.json"
    code, out, _ = run_cli(
        "tariffs", str(instance_file), "--plans", "1", "--starts", "0", "--json", str(target)
    )
    assert code == 5  # iteration_limit
    assert "K=1: status iteration_limit. NOT OPTIMAL: tariffs withheld" in out
    doc = json.loads(target.read_text())
    assert doc["status"] == "iteration_limit"
    assert doc["designs"]["K=1"]["plans"] is None
    assert doc["designs"]["linear"]["plans"]  # the others are still given


def test_non_optimal_full_menu_withholds_its_packages(tmp_path, instance_file):
    target = tmp_path / "out.json"
    common = ["--plans", "1", "--starts", "0", "--solver-options", "max_iter=3"]
    code, out, _ = run_cli("tariffs", str(instance_file), *common, "--json", str(target))
    assert code == 5  # iteration_limit of the full menu's solve
    assert "full_menu: status iteration_limit" in out and "NOT OPTIMAL" in out
    full_row = next(line for line in out.splitlines() if line.startswith("full_menu"))
    assert full_row.split()[3:] == ["NaN"] * 6  # the last iterate's numbers are blanked
    doc = json.loads(target.read_text())
    assert doc["status"] == "iteration_limit"
    assert doc["full_menu"]["packages"] is None and doc["full_menu"]["profit"] is None
    # strict JSON: an unverified menu's violations are null, never NaN
    json.loads(target.read_text(), parse_constant=lambda name: pytest.fail(name))
    assert doc["designs"]["K=1"]["plans"]  # designs do not depend on that solve
    code, out, _ = run_cli("plot", str(instance_file), "--out", str(tmp_path / "f"), *common)
    assert code == 5 and "no figures written" in out
    assert not (tmp_path / "f").exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path, instance_file):
    code, _, err = run_cli("tariffs", str(tmp_path / "missing.dat"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "missing.dat" in err
    code, _, err = run_cli("tariffs", str(instance_file), "--plans", "9")
    assert code == 2 and "--plans 9 is more plans than the instance's 8 types" in err
    code, _, err = run_cli("tariffs", str(instance_file), "--solver", "no_such_solver")
    assert code == 2 and "unknown solver 'no_such_solver'" in err
    code, _, err = run_cli("tariffs", str(instance_file), "--solver-options", "max_iter")
    assert code == 2 and "--solver-options" in err
    for bad in (["--plans", "0"], ["--starts", "-1"], ["--plans", "two"]):
        with pytest.raises(SystemExit) as exc, contextlib.redirect_stderr(io.StringIO()):
            main(["tariffs", str(instance_file), *bad])
        assert exc.value.code == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("plot", str(instance_file), "--out", str(blocker))
    assert code == 2 and "not a folder" in err


def test_plot_writes_and_lists_the_figures(tmp_path, instance_file):
    out_dir = tmp_path / "figures"
    code, out, _ = run_cli(
        "plot",
        str(instance_file),
        "--out",
        str(out_dir),
        "--plans",
        "1",
        "--starts",
        "0",
        "--format",
        "png",
        "pdf",
    )
    assert code == 0
    listed = [Path(line) for line in out.splitlines() if line.strip()]
    stems = {p.stem for p in listed}
    assert {
        "allocations",
        "markups_fees",
        "profit_by_plans",
        "schedules_linear",
        "schedules_k_1",
    } <= stems
    assert {p.suffix for p in listed} == {".png", ".pdf"}
    assert sorted(listed) == sorted(out_dir.iterdir())
    assert all(p.stat().st_size > 1000 for p in listed)
