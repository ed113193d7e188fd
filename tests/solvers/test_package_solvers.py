"""SCIP, Gurobi and HiGHS in ``llmprice compare`` and ``llmprice tariffs --certify``.

Numbers from closed forms: Mussa-Rosen with N = 10 types earns 1/12 + 1/40 + 1/600 =
0.11 exactly (docs/model.md section 5); the certified plans are re-checked by every
type's best response to the JSON's plans.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.studies.compare import compare, to_markdown
from pyomo_llmprice.tariffs import TariffMenu, TwoPartTariff, best_response
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types

REPO = Path(__file__).resolve().parents[2]
MUSSA_ROSEN = REPO / "instances" / "screening" / "mussa_rosen_10.dat"
MUSSA_ROSEN_PROFIT = 1 / 12 + 1 / 40 + 1 / 600


def test_scip_and_highs_solve_mussa_rosen_with_a_proven_bound() -> None:
    pytest.importorskip("pyscipopt")
    pytest.importorskip("highspy")
    table = compare([MUSSA_ROSEN], solvers=["scip_direct", "highs"], setting="screening")
    for row in table.itertuples():
        assert row.status == "optimal", row.note
        assert row.profit == pytest.approx(MUSSA_ROSEN_PROFIT, rel=1e-7)
        assert row.bound == pytest.approx(MUSSA_ROSEN_PROFIT, rel=1e-6)
        assert abs(row.global_gap) <= 1e-6
    assert "global_gap" in to_markdown(table)


def test_highs_is_skipped_on_a_nonlinear_menu() -> None:
    pytest.importorskip("highspy")
    table = compare([REPO / "instances" / "paper_theta_20.dat"], solvers=["highs"])
    row = table.iloc[0]
    assert row["status"] == "skipped"
    assert row["note"].startswith("skipped: problem class")


def test_gurobi_beyond_its_licence_is_skipped_size_limit() -> None:
    pytest.importorskip("gurobipy")
    table = compare([REPO / "instances" / "paper_theta_100.dat"], solvers=["gurobi_direct_minlp"])
    row = table.iloc[0]
    if row["status"] not in ("skipped", "error") or "size" not in str(row["note"]):
        pytest.skip("this Gurobi licence is not size-limited")
    assert row["status"] == "skipped"
    assert row["note"].startswith("skipped: size limit")


THETA = np.array([0.2, 0.35, 0.5, 0.6, 0.75, 0.9])
PROB = np.array([0.25, 0.2, 0.15, 0.15, 0.15, 0.1])


def test_tariffs_certify_reports_bound_and_gap_per_k(tmp_path: Path) -> None:
    pytest.importorskip("pyscipopt")
    tech = Technology.cobb_douglas()
    path = tmp_path / "six.dat"
    inst = Instance("six", None, theta_types(THETA, PROB), tech)
    write_dat(inst, path, header="six theta types, the paper's technology")
    target = tmp_path / "six.json"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["tariffs", str(path), "--plans", "2", "--certify", "--json", str(target)])
    assert code == 0, err.getvalue()
    assert "Global certificates" in out.getvalue()
    doc = json.loads(target.read_text())
    assert [c["K"] for c in doc["certificates"]] == [1, 2]
    for k in (1, 2):
        design = doc["designs"][f"K={k}"]
        assert design["global_status"] == "optimal"
        assert 0 <= design["global_gap"] <= 1e-5
        assert design["global_bound"] >= design["profit"] * (1 - 1e-9)
        # the published plans, faced again by every type, earn the published profit
        plans = [
            TwoPartTariff(
                p["name"], p["fixed_fee"], p["price_input"], p["price_output"],
                p["price_finetune"], p["markup"],
            )
            for p in design["plans"]
        ]  # fmt: skip
        again = best_response(THETA, TariffMenu(plans, tech), prob=PROB)
        assert again.profit == pytest.approx(design["profit"], rel=1e-9)


def test_certify_without_the_solver_package_is_one_line(monkeypatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyscipopt", None)  # import pyscipopt: ImportError
    path = tmp_path / "six.dat"
    write_dat(Instance("six", None, theta_types(THETA, PROB), Technology.cobb_douglas()), path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["tariffs", str(path), "--plans", "1", "--certify"])
    assert code == 2
    assert "pip install 'pyomo_llmprice[solvers]'" in err.getvalue()
    assert "Traceback" not in err.getvalue()
