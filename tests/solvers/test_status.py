"""Ipopt's return codes mapped onto Pyomo's termination conditions (no Ipopt run)."""

from __future__ import annotations

import pytest
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

from pyomo_llmprice.solvers.status import IPOPT_STATUS, map_status

TC = TerminationCondition
SS = SolutionStatus

# Ipopt 3.14's ApplicationReturnStatus (IpReturnCodes_inc.h), written out independently
IPOPT_RETURN_CODES = {
    0: "Solve_Succeeded",
    1: "Solved_To_Acceptable_Level",
    2: "Infeasible_Problem_Detected",
    3: "Search_Direction_Becomes_Too_Small",
    4: "Diverging_Iterates",
    5: "User_Requested_Stop",
    6: "Feasible_Point_Found",
    -1: "Maximum_Iterations_Exceeded",
    -2: "Restoration_Failed",
    -3: "Error_In_Step_Computation",
    -4: "Maximum_CpuTime_Exceeded",
    -5: "Maximum_WallTime_Exceeded",
    -10: "Not_Enough_Degrees_Of_Freedom",
    -11: "Invalid_Problem_Definition",
    -12: "Invalid_Option",
    -13: "Invalid_Number_Detected",
    -100: "Unrecoverable_Exception",
    -101: "NonIpopt_Exception_Thrown",
    -102: "Insufficient_Memory",
    -199: "Internal_Error",
}

EXPECTED_TERMINATION = {
    0: TC.convergenceCriteriaSatisfied,
    1: TC.convergenceCriteriaSatisfied,
    2: TC.locallyInfeasible,
    3: TC.minStepLength,
    4: TC.unbounded,
    5: TC.interrupted,
    6: TC.convergenceCriteriaSatisfied,
    -1: TC.iterationLimit,
    -2: TC.locallyInfeasible,
    -3: TC.error,
    -4: TC.maxTimeLimit,
    -5: TC.maxTimeLimit,
    -10: TC.error,
    -11: TC.error,
    -12: TC.error,
    -13: TC.error,
    -100: TC.error,
    -101: TC.error,
    -102: TC.error,
    -199: TC.error,
}
NO_ITERATE = {-10, -11, -12, -100, -101, -102, -199}


def test_every_ipopt_code_is_in_the_table():
    assert set(IPOPT_STATUS) == set(IPOPT_RETURN_CODES)
    for code, name in IPOPT_RETURN_CODES.items():
        assert IPOPT_STATUS[code].name == name


@pytest.mark.parametrize("code", sorted(IPOPT_RETURN_CODES))
def test_termination_condition_per_code(code):
    assert IPOPT_STATUS[code].termination == EXPECTED_TERMINATION[code]
    assert IPOPT_STATUS[code].has_iterate == (code not in NO_ITERATE)
    for feasible in (True, False):
        term, _ = map_status(code, feasible)
        assert term == EXPECTED_TERMINATION[code]


@pytest.mark.parametrize("feasible", [True, False])
def test_only_solve_succeeded_is_optimal(feasible):
    for code in IPOPT_RETURN_CODES:
        _, sol = map_status(code, feasible)
        assert (sol == SS.optimal) == (code == 0)
    # optimality does not depend on the feasibility flag for code 0
    assert map_status(0, feasible) == (TC.convergenceCriteriaSatisfied, SS.optimal)


@pytest.mark.parametrize("code", sorted(NO_ITERATE))
def test_codes_without_an_iterate_have_no_solution(code):
    assert map_status(code, True)[1] == SS.noSolution
    assert map_status(code, False)[1] == SS.noSolution


@pytest.mark.parametrize("code", [1, 3, 5, 6, -1, -3, -4, -5, -13])
def test_non_optimal_iterates_are_feasible_or_infeasible_by_the_flag(code):
    assert map_status(code, True)[1] == SS.feasible
    assert map_status(code, False)[1] == SS.infeasible


@pytest.mark.parametrize("code", [2, -2, 4])
def test_infeasible_and_diverging_are_never_feasible(code):
    assert map_status(code, True)[1] == SS.infeasible
    assert map_status(code, False)[1] == SS.infeasible


@pytest.mark.parametrize("code", [7, -6, -200, 99])
def test_unknown_codes_are_not_success(code):
    assert map_status(code, True) == (TC.unknown, SS.unknown)
