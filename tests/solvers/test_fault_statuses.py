"""Every way a solve can end, end to end through the Python API and ``llmprice solve``.

Each case checks the status, the exit code, the JSON document and that no tariff
is presented as optimal. Optimal and first-best profits are pinned to theory.py.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from fault_data import INSTANCES, THETA3
from pyomo.contrib.solver.common.base import Availability

from pyomo_llmprice import limits, pipeline, theory
from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_CODES
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.outcomes import STATUSES
from pyomo_llmprice.pipeline import build_model, solve_model
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.technology import CobbDouglas, Technology

# -- model extensions that make a solve fail -------------------------------------------


def negative_capacity(model: pyo.Block) -> None:
    """Expected input tokens below zero: no menu satisfies it (tokens are nonnegative)."""
    menu = model.menu
    menu.capacity = pyo.Constraint(
        expr=sum(menu.prob[k] * menu.input_tokens[k] for k in menu.types) <= -0.1
    )


def log_of_negative(model: pyo.Block) -> None:
    """log(-1 - a) of a nonnegative factor a: NaN at every point Ipopt can visit."""
    menu = model.menu
    first = next(iter(menu.input_factor))
    menu.broken = pyo.Constraint(expr=pyo.log(-1 - menu.input_factor[first]) <= 5)


def interrupt(model: pyo.Block) -> None:
    """Ctrl-C as the solve starts (limits.request_interrupt, what the SIGINT handler sets):
    Ipopt stops at its first iteration; tests/cli/test_limits.py sends real signals."""
    limits.request_interrupt()


def drop_incentives(model: pyo.Block) -> None:
    """Solve without IC: the first-best menu, which the all-pairs check must catch."""
    menu = model.menu
    menu.incentive.deactivate()
    if hasattr(menu, "monotonicity"):  # Token Packages' chain has none (implied by IC)
        menu.monotonicity.deactivate()
    if len(menu.participation) < len(menu.distinct_types):  # IR there came from IC too
        menu.del_component(menu.participation)
        menu.participation = pyo.Constraint(
            menu.distinct_types,
            rule=lambda b, i: b._value_of(b._type_pos[i], i) - b.payment[i] >= 0,
        )


#: Ipopt stops at "Solved_To_Acceptable_Level" after one iteration
ACCEPTABLE = {
    "tol": 1e-12,
    "acceptable_iter": 1,
    "acceptable_tol": 1e10,
    "acceptable_constr_viol_tol": 1e10,
    "acceptable_dual_inf_tol": 1e10,
    "acceptable_compl_inf_tol": 1e10,
}


@dataclass
class Case:
    status: str
    argv: list[str] = field(default_factory=list)  # extra arguments of llmprice solve
    kwds: dict[str, Any] = field(default_factory=dict)  # of solve_model
    extension: Callable[[pyo.Block], None] | None = None
    instance: Path | None = None  # default: THETA3
    unavailable: bool = False


CASES = {
    "optimal": Case("optimal"),
    "iteration_limit": Case(
        "iteration_limit", ["--solver-options", "max_iter=2"], {"options": {"max_iter": 2}}
    ),
    # 1e-9 s (Ipopt is given its floor of 1 ms) on 100 types, which take ~0.2 s to solve
    "time_limit": Case(
        "time_limit",
        ["--time-limit", "1e-9"],
        {"time_limit": 1e-9},
        instance=INSTANCES / "paper_theta_100.dat",
    ),
    "infeasible": Case("infeasible", extension=negative_capacity),
    "evaluation_error": Case("evaluation_error", extension=log_of_negative),
    "not_converged": Case(
        "not_converged",
        ["--solver-options", " ".join(f"{k}={v}" for k, v in ACCEPTABLE.items())],
        {"options": ACCEPTABLE},
    ),
    "verification_failed": Case("verification_failed", extension=drop_incentives),
    "solver_unavailable": Case("solver_unavailable", unavailable=True),
    "interrupted": Case("interrupted", extension=interrupt),
}


def test_every_status_has_a_case_and_its_own_exit_code():
    assert set(CASES) == set(STATUSES) == set(EXIT_CODES)
    codes = list(EXIT_CODES.values())
    assert len(set(codes)) == len(codes)
    assert EXIT_CODES["optimal"] == 0
    assert not {1, 2} & set(codes)  # internal error and bad input keep their own


@pytest.fixture
def case_setup(request, monkeypatch, tmp_path):
    """The case's instance path, with its extension and availability patched in."""
    case: Case = CASES[request.param]
    if case.unavailable:
        monkeypatch.setattr(CyIpoptDirect, "available", lambda self: Availability.NotFound)
    if case.extension is not None:
        real = pipeline.build_model

        def build(*args: Any, **kwds: Any) -> pyo.ConcreteModel:
            model = real(*args, **kwds)
            case.extension(model)
            return model

        monkeypatch.setattr(pipeline, "build_model", build)
    path = case.instance
    if path is None:
        path = tmp_path / "theta3.dat"
        path.write_text(THETA3)
    return case, path


def check_withheld(result: pipeline.MenuResult) -> None:
    """A non-optimal result: no tariffs anywhere, the report says so."""
    assert not result.optimal
    assert result.menu["markup"].isna().all() and result.menu["fixed_fee"].isna().all()
    doc = result.to_dict()
    assert doc["status"] == result.status
    assert all(r["markup"] is None and r["fixed_fee"] is None for r in doc["menu"])
    json.dumps(doc, allow_nan=False)  # NaN never leaks into the JSON
    report = result.report()
    assert f"status {result.status} " in report
    assert "NOT OPTIMAL" in report and STATUSES[result.status] in report


@pytest.mark.parametrize("case_setup", list(CASES), indirect=True)
def test_python_api(case_setup):
    case, path = case_setup
    inst = read_instance(path)
    model = pipeline.build_model(inst, "packages")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN in the evaluation case
        result = solve_model(model, **case.kwds)
    assert result.status == case.status
    if case.status == "optimal":
        ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
        assert result.profit == pytest.approx(ref.profit, rel=1e-7)
        served = result.menu["served"].to_numpy()
        assert np.isfinite(result.menu["markup"].to_numpy()[served]).all()
    else:
        check_withheld(result)


@pytest.mark.parametrize("case_setup", list(CASES), indirect=True)
def test_cli(case_setup, tmp_path, capsys):
    case, path = case_setup
    out = tmp_path / "menu.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # the statuses of the NLP door: auto would solve these one-dimensional cases exactly
        rc = main(["solve", str(path), "--method", "nlp", *case.argv, "--json", str(out)])
    printed = capsys.readouterr()
    assert rc == EXIT_CODES[case.status], printed.err
    assert "Traceback" not in printed.err
    doc = json.loads(out.read_text())
    assert doc["status"] == case.status
    assert f"status {case.status} " in printed.out
    if case.status != "optimal":
        assert "NOT OPTIMAL" in printed.out
        assert all(r["markup"] is None and r["fixed_fee"] is None for r in doc["menu"])


def test_verification_failure_reports_its_violations(theta3):
    """Without IC the solver finds the first best; verification names the violated pair."""
    inst = read_instance(theta3)
    model = build_model(inst)
    drop_incentives(model)
    result = solve_model(model)
    assert result.status == "verification_failed"
    # the first best: each type gets its efficient bundle and pays its whole value
    theta, prob, tech = inst.theta, inst.types.prob, inst.technology
    x, y, z = theory.pointwise_bundle(theta, tech)
    u = theory.pointwise_precision(theta, tech)
    first_best = float(prob @ (theta * u - tech.cost(x, y, z)))
    assert math.isnan(result.profit)  # not an answer: kept apart as the last point
    assert result.last_point["profit"] == pytest.approx(first_best, rel=1e-7)
    np.testing.assert_allclose(result.menu["rent"], 0.0, atol=1e-8)
    # high gains by taking mid's bundle: (theta_high - theta_mid) * u_mid
    gain = (theta[2] - theta[1]) * u[1]
    assert result.verification.max_ic_violation == pytest.approx(gain, rel=1e-6)
    assert result.verification.max_ic_violation > result.tolerance
    doc = result.to_dict()
    assert doc["worst_ic_pair"] == ["high", "mid"]
    assert doc["worst_ir_type"] is None
    assert doc["max_ic_violation"] == pytest.approx(gain, rel=1e-6)
    assert "VIOLATED: type high gains" in result.report()
    assert "bundle of type mid (IC)" in result.report()
    check_withheld(result)


def test_optimal_json_names_no_violation(theta3):
    doc = solve_model(build_model(read_instance(theta3))).to_dict()
    assert doc["status"] == "optimal"
    assert doc["worst_ic_pair"] is None and doc["worst_ir_type"] is None


def test_infeasible_extension_keeps_iterate_but_no_tariffs(theta3):
    model = build_model(read_instance(theta3))
    negative_capacity(model)
    result = solve_model(model)
    assert result.status == "infeasible"
    assert result.termination == "locallyInfeasible"
    check_withheld(result)


@dataclass(frozen=True)
class RootOfShortfall(CobbDouglas):
    """A user precision function that is NaN below one fine-tuning token."""

    def precision(self, a_in: Any, a_out: Any, z: Any) -> Any:
        return a_in * a_out * (z - 1.0) ** 0.5


@pytest.mark.parametrize("solver", ["cyipopt_direct", "casadi_ipopt"])
def test_nan_from_a_user_precision_function(theta3, solver):
    inst = read_instance(theta3)
    broken = Instance("broken", None, inst.types, Technology(precision=RootOfShortfall()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = solve_model(build_model(broken), solver=solver)
    assert result.status == "evaluation_error"
    check_withheld(result)


def test_unavailable_solver_keeps_the_model_untouched(theta3, monkeypatch):
    monkeypatch.setattr(CyIpoptDirect, "available", lambda self: Availability.NotFound)
    model = build_model(read_instance(theta3))
    before = [v.value for v in model.component_data_objects(pyo.Var)]
    result = solve_model(model)
    assert result.status == "solver_unavailable"
    assert result.iterations is None
    assert [v.value for v in model.component_data_objects(pyo.Var)] == before
    assert math.isnan(result.profit)  # no solve, no profit: not a made-up 0
    assert result.to_dict()["profit"] is None
    assert "the solver returned no usable point" in result.report()
    check_withheld(result)


def test_known_but_missing_solver_from_the_cli(theta3, capsys, monkeypatch):
    """A factory solver that cannot run here (patched, so that CI with it still tests)."""
    from pyomo.contrib.solver.common.factory import SolverFactory

    cls = type(SolverFactory("casadi_ipopt"))
    monkeypatch.setattr(cls, "available", lambda self: Availability.NotFound)
    rc = main(["solve", str(theta3), "--solver", "casadi_ipopt"])
    out = capsys.readouterr().out
    assert rc == EXIT_CODES["solver_unavailable"]
    assert "status solver_unavailable" in out and "NOT OPTIMAL" in out


def test_time_limit_result_is_finite_and_honest():
    """A run stopped at the clock reports no profit as if it were an answer: the
    aggregates are NaN (null in JSON) and the last point's numbers are kept apart."""
    result = solve_model(
        build_model(read_instance(INSTANCES / "paper_theta_100.dat")), time_limit=1e-9
    )
    assert result.status == "time_limit"
    assert result.termination == "maxTimeLimit"
    assert math.isnan(result.profit) and result.wall_time is not None
    doc = result.to_dict()
    assert doc["profit"] is None
    if result.has_point:
        assert math.isfinite(result.last_point["profit"])
        assert doc["last_point"]["profit"] == result.last_point["profit"]
    assert "profit " not in result.report().replace("profit are withheld", "")
    check_withheld(result)


def test_a_menu_edited_after_the_solve_fails_verification(theta3):
    """Raise the price of the lowest served plan after an optimal solve: its buyer now
    pays more than the plan is worth (IR) by exactly the raise, and read_menu says so."""
    model = build_model(read_instance(theta3))
    solved = solve_model(model)
    assert solved.status == "optimal"
    served = solved.menu[solved.menu["served"]]
    lowest = served.loc[served["payment"].idxmin(), "type"]
    rent = float(served.set_index("type").loc[lowest, "rent"])
    assert rent == pytest.approx(0.0, abs=1e-8)  # IR binds at the lowest served type
    raise_by = 0.01  # in the instance's money; the block's variables are normalized
    model.menu.payment[lowest].value += model.menu.units.money_from_instance(raise_by)
    edited = pipeline.read_menu(model.menu, outcome="optimal", solver="edited")
    assert edited.status == "verification_failed"
    assert edited.verification.max_ir_violation == pytest.approx(raise_by - rent, abs=1e-8)
    doc = edited.to_dict()
    assert doc["worst_ir_type"] == lowest
    assert f"VIOLATED: type {lowest} pays" in edited.report()
    check_withheld(edited)
