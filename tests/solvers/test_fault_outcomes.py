"""Every Ipopt return code, and every Pyomo termination, lands on a documented status."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.opt import SolverStatus
from pyomo.opt import TerminationCondition as LegacyTC

from pyomo_llmprice.cli._common import EXIT_CODES, exit_code
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.outcomes import STATUSES, legacy_outcome, solver_outcome
from pyomo_llmprice.pipeline import build_model
from pyomo_llmprice.solvers.status import IPOPT_STATUS, map_status

TC = TerminationCondition

#: Ipopt codes whose status is not "not_converged"
SPECIFIC = {
    0: "optimal",  # Solve_Succeeded
    2: "infeasible",  # Infeasible_Problem_Detected
    5: "interrupted",  # User_Requested_Stop: Ctrl-C via the intermediate callback
    -1: "iteration_limit",  # Maximum_Iterations_Exceeded
    -4: "time_limit",  # Maximum_CpuTime_Exceeded
    -5: "time_limit",  # Maximum_WallTime_Exceeded
    -13: "evaluation_error",  # Invalid_Number_Detected
}


def results_of(code: int, feasible: bool) -> SimpleNamespace:
    term, sol = map_status(code, feasible)
    return SimpleNamespace(
        termination_condition=term,
        solution_status=sol,
        extra_info=SimpleNamespace(ipopt_status=code),
    )


@pytest.mark.parametrize("feasible", [True, False])
@pytest.mark.parametrize("code", [*sorted(IPOPT_STATUS), 7, -14, -1000])
def test_every_ipopt_code(code, feasible):
    status = solver_outcome(results_of(code, feasible))
    assert status == SPECIFIC.get(code, "not_converged")
    assert status in STATUSES and exit_code(status) == EXIT_CODES[status]


def test_acceptable_level_and_restoration_failure_are_not_converged():
    """The two endings Pyomo's termination alone would misfile."""
    acceptable = results_of(1, True)  # convergenceCriteriaSatisfied, but only acceptable
    assert acceptable.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    assert solver_outcome(acceptable) == "not_converged"
    restoration = results_of(-2, False)  # locallyInfeasible, but no proof of infeasibility
    assert restoration.termination_condition == TerminationCondition.locallyInfeasible
    assert solver_outcome(restoration) == "not_converged"


@pytest.mark.parametrize(
    ("term", "sol", "status"),
    [
        (TC.convergenceCriteriaSatisfied, SolutionStatus.optimal, "optimal"),
        (TC.convergenceCriteriaSatisfied, SolutionStatus.feasible, "not_converged"),
        (TC.emptyModel, SolutionStatus.optimal, "optimal"),
        (TC.iterationLimit, SolutionStatus.feasible, "iteration_limit"),
        (TC.maxTimeLimit, SolutionStatus.noSolution, "time_limit"),
        (TC.locallyInfeasible, SolutionStatus.infeasible, "infeasible"),
        (TC.provenInfeasible, SolutionStatus.noSolution, "infeasible"),
        (TC.infeasibleOrUnbounded, SolutionStatus.noSolution, "infeasible"),
        (TC.unbounded, SolutionStatus.infeasible, "not_converged"),
        (TC.minStepLength, SolutionStatus.feasible, "not_converged"),
        (TC.error, SolutionStatus.noSolution, "not_converged"),
        (TC.interrupted, SolutionStatus.feasible, "interrupted"),
        (TC.unknown, SolutionStatus.unknown, "not_converged"),
    ],
)
def test_solvers_without_an_ipopt_code(term, sol, status):
    """Other SolverBase solvers (SciPy, a system ipopt) report no Ipopt code."""
    results = SimpleNamespace(termination_condition=term, solution_status=sol)
    assert solver_outcome(results) == status


def test_every_termination_condition_has_a_status():
    for term in TerminationCondition:
        for sol in SolutionStatus:
            results = SimpleNamespace(termination_condition=term, solution_status=sol)
            assert solver_outcome(results) in STATUSES


@pytest.mark.parametrize("code", sorted(IPOPT_STATUS))
def test_legacy_results_follow_ipopt_message(code):
    """``pyomo solve`` results carry Ipopt's status name as the solver message."""
    results = SimpleNamespace(
        solver=SimpleNamespace(
            message=IPOPT_STATUS[code].name, termination_condition=None, status=SolverStatus.ok
        )
    )
    if code in (0, -1, -4, -5, 5):  # success, limits, Ctrl-C: the termination says it here
        results.solver.termination_condition = {
            0: LegacyTC.optimal,
            -1: LegacyTC.maxIterations,
            5: LegacyTC.userInterrupt,  # or maxTimeLimit, when the deadline asked Ipopt to stop
        }.get(code, LegacyTC.maxTimeLimit)
    assert legacy_outcome(results) == SPECIFIC.get(code, "not_converged")


@pytest.mark.parametrize(
    ("term", "status"),
    [
        (LegacyTC.optimal, "optimal"),
        (LegacyTC.locallyOptimal, "optimal"),
        (LegacyTC.maxIterations, "iteration_limit"),
        (LegacyTC.maxTimeLimit, "time_limit"),
        (LegacyTC.infeasible, "infeasible"),
        (LegacyTC.error, "not_converged"),
        (LegacyTC.unknown, "not_converged"),
    ],
)
def test_legacy_results_of_other_solvers(term, status):
    results = SimpleNamespace(
        solver=SimpleNamespace(message=None, termination_condition=term, status=SolverStatus.ok)
    )
    assert legacy_outcome(results) == status


@pytest.mark.parametrize(
    ("options", "status"),
    [({"max_iter": 2}, "iteration_limit"), ({"max_iter": 3000}, "optimal")],
)
def test_legacy_factory_end_to_end(theta3, options, status):
    """The legacy SolverFactory (the ``pyomo solve`` route) on a real menu."""
    import pyomo.environ as pyo

    model = build_model(read_instance(theta3))
    opt = pyo.SolverFactory("cyipopt_direct")
    results = opt.solve(
        model, options={"tol": 1e-9, "bound_relax_factor": 0, **options}, load_solutions=False
    )
    assert legacy_outcome(results) == status
