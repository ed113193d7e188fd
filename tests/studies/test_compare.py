"""Solver comparisons end to end, and Dolan-More profiles on tables built by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pyomo_llmprice.cli import main
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.outcomes import available_solvers
from pyomo_llmprice.studies.compare import compare, mark_solved, probe_solver, write_comparison
from pyomo_llmprice.studies.profiles import performance_profile, performance_ratios
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu
from pyomo_llmprice.types import theta_types

THETA = np.array([0.3, 0.5, 0.7, 0.9])
PROB = np.array([0.25, 0.25, 0.25, 0.25])
MISSING = "no_such_solver_xyz"


@pytest.fixture(scope="module")
def small() -> Instance:
    """Four theta types with the paper's technology: solved in well under a second."""
    return Instance(
        name="four_types",
        path=None,
        types=theta_types(THETA, PROB),
        technology=Technology.cobb_douglas(),
    )


@pytest.fixture(scope="module")
def table(small) -> pd.DataFrame:
    return compare(
        [small], solvers=["cyipopt_direct", "scipy_slsqp", MISSING], repeat=2, time_limit=60
    )


def test_every_solver_has_a_row_and_the_optimum_is_the_closed_form(table):
    exact = discrete_optimal_menu(THETA, PROB, Technology.cobb_douglas()).profit
    assert list(table["solver"]) == ["cyipopt_direct", "scipy_slsqp", MISSING]
    ran = table.set_index("solver").loc[["cyipopt_direct", "scipy_slsqp"]]
    assert (ran["status"] == "optimal").all()
    assert ran["profit"].to_numpy() == pytest.approx([exact, exact], rel=1e-6)
    assert (ran["max_violation"] <= 1e-6).all()
    assert (ran["wall_time"] > 0).all() and (ran["iterations"] > 0).all()
    assert ran["gap"].min() == 0.0 and ran["gap"].max() < 1e-6
    assert (table["exact_profit"] == exact).all()
    assert ran["gap_exact"].abs().max() < 1e-6


def test_missing_solver_is_reported_and_skipped(table):
    row = table.set_index("solver").loc[MISSING]
    assert row["status"] == "unavailable"
    assert MISSING in row["note"] and "not available" in row["note"]
    assert math.isnan(row["profit"]) and math.isnan(row["gap"])
    assert not probe_solver(MISSING).available
    assert probe_solver("cyipopt_direct").api == "new"


def test_outputs_table_markdown_and_profile(table, tmp_path):
    paths = write_comparison(table, tmp_path)
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == 3 and "solved" in csv
    text = paths["markdown"].read_text()
    assert (
        "| cyipopt_direct" in text and f"Not available on this machine (skipped): {MISSING}" in text
    )
    assert paths["profile"].stat().st_size > 1000


def test_gaps_span_formulations_of_concatenated_tables(table, tmp_path):
    worse = table.assign(formulation="generated", profit=table["profit"] * (1 - 1e-3))
    paths = write_comparison(pd.concat([table, worse], ignore_index=True), tmp_path)
    out = pd.read_csv(paths["csv"])
    generated = out[(out["formulation"] == "generated") & (out["status"] == "optimal")]
    assert generated["gap"].to_numpy() == pytest.approx(1e-3, rel=1e-3)
    assert not generated["solved"].any()


def test_tables_of_older_versions_are_read_with_todays_names(table, tmp_path):
    """Files written before the rename named the profit ``objective``: still accepted."""
    old = table.rename(columns={"profit": "objective", "exact_profit": "exact_objective"})
    out = pd.read_csv(write_comparison(old, tmp_path)["csv"])
    assert "objective" not in out and "exact_objective" not in out
    assert out["profit"].to_numpy() == pytest.approx(table["profit"].to_numpy(), nan_ok=True)
    assert out["gap"].to_numpy() == pytest.approx(table["gap"].to_numpy(), nan_ok=True)


def test_dense_solver_is_capped_by_size(small):
    out = compare([small], solvers=["scipy_slsqp"], dense_limit=10)
    assert out.loc[0, "status"] == "skipped"
    assert "dense Jacobian" in out.loc[0, "note"]


def test_generated_formulation_reaches_the_same_optimum(small):
    exact = discrete_optimal_menu(THETA, PROB, Technology.cobb_douglas()).profit
    out = compare([small], solvers=["cyipopt_direct"], formulation="generated")
    assert out.loc[0, "status"] == "optimal"
    assert out.loc[0, "profit"] == pytest.approx(exact, rel=1e-6)


def test_bad_arguments_are_user_errors(small):
    with pytest.raises(UserInputError, match="formulation"):
        compare([small], solvers=["cyipopt_direct"], formulation="some")
    with pytest.raises(UserInputError, match="repeat"):
        compare([small], solvers=["cyipopt_direct"], repeat=0)


def test_cli_compare_writes_table_and_profile(small, tmp_path, capsys):
    dat = tmp_path / "four.dat"
    write_dat(small, dat)
    out = tmp_path / "cmp"
    # a solver Pyomo knows but cannot run here is a row (a name nobody knows is exit 2)
    known_missing = [f",{name}" for name in available_solvers()[1][:1]]
    solvers = "cyipopt_direct" + "".join(known_missing)
    code = main(["compare", str(dat), "--solvers", solvers, "--out", str(out)])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "comparison.csv",
        "comparison.md",
        "performance_profile.png",
    }
    printed = capsys.readouterr().out
    assert "| four " in printed
    header = next(line for line in printed.splitlines() if line.startswith("| instance"))
    cells = [cell.strip() for cell in header.split("|")]
    assert "profit" in cells and "objective" not in header


def test_cli_compare_bad_instance_is_one_line(tmp_path, capsys):
    code = main(["compare", str(tmp_path / "missing.dat"), "--solvers", "cyipopt_direct"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "missing.dat" in err


# -- performance profiles on tables whose answers are known by construction ----------


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instance": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "solver": ["x", "y"] * 4,
            "wall_time": [1.0, 2.0, 4.0, 1.0, 1.0, 3.0, 5.0, 5.0],
            "solved": [True, True, True, True, True, False, False, False],
        }
    )


def test_performance_ratios():
    r = performance_ratios(_runs(), ["instance"])
    assert r.loc["a"].tolist() == [1.0, 2.0]
    assert r.loc["b"].tolist() == [4.0, 1.0]
    assert r.loc["c"].tolist() == [1.0, math.inf]
    assert r.loc["d"].tolist() == [math.inf, math.inf]  # nobody solved d


def test_performance_profile_steps():
    rho = performance_profile(performance_ratios(_runs(), ["instance"]), taus=[1, 2, 4, 100])
    assert rho["x"].tolist() == [0.5, 0.5, 0.75, 0.75]
    assert rho["y"].tolist() == [0.25, 0.5, 0.5, 0.5]


def test_mark_solved_uses_status_and_gap():
    t = pd.DataFrame({"status": ["optimal", "optimal", "not_converged"], "gap": [0, 1e-3, 0]})
    assert mark_solved(t, 1e-4)["solved"].tolist() == [True, False, False]
