"""Ipopt's return statuses mapped onto Pyomo's termination conditions.

Every ``ApplicationReturnStatus`` of Ipopt 3.14 is listed; a status Ipopt adds
later falls back to ``unknown`` rather than being taken for success.
"""

from __future__ import annotations

from typing import NamedTuple

from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

__all__ = ["IPOPT_STATUS", "IpoptStatus", "map_status"]

TC = TerminationCondition


class IpoptStatus(NamedTuple):
    """One row of the table: Ipopt's name, Pyomo's condition, whether an iterate exists."""

    name: str
    termination: TerminationCondition
    has_iterate: bool


IPOPT_STATUS: dict[int, IpoptStatus] = {
    0: IpoptStatus("Solve_Succeeded", TC.convergenceCriteriaSatisfied, True),
    1: IpoptStatus("Solved_To_Acceptable_Level", TC.convergenceCriteriaSatisfied, True),
    2: IpoptStatus("Infeasible_Problem_Detected", TC.locallyInfeasible, True),
    3: IpoptStatus("Search_Direction_Becomes_Too_Small", TC.minStepLength, True),
    4: IpoptStatus("Diverging_Iterates", TC.unbounded, True),
    5: IpoptStatus("User_Requested_Stop", TC.interrupted, True),
    6: IpoptStatus("Feasible_Point_Found", TC.convergenceCriteriaSatisfied, True),
    -1: IpoptStatus("Maximum_Iterations_Exceeded", TC.iterationLimit, True),
    -2: IpoptStatus("Restoration_Failed", TC.locallyInfeasible, True),
    -3: IpoptStatus("Error_In_Step_Computation", TC.error, True),
    -4: IpoptStatus("Maximum_CpuTime_Exceeded", TC.maxTimeLimit, True),
    -5: IpoptStatus("Maximum_WallTime_Exceeded", TC.maxTimeLimit, True),
    -10: IpoptStatus("Not_Enough_Degrees_Of_Freedom", TC.error, False),
    -11: IpoptStatus("Invalid_Problem_Definition", TC.error, False),
    -12: IpoptStatus("Invalid_Option", TC.error, False),
    -13: IpoptStatus("Invalid_Number_Detected", TC.error, True),
    -100: IpoptStatus("Unrecoverable_Exception", TC.error, False),
    -101: IpoptStatus("NonIpopt_Exception_Thrown", TC.error, False),
    -102: IpoptStatus("Insufficient_Memory", TC.error, False),
    -199: IpoptStatus("Internal_Error", TC.error, False),
}


def map_status(code: int, primal_feasible: bool) -> tuple[TerminationCondition, SolutionStatus]:
    """Termination condition and solution status for Ipopt's return code.

    `primal_feasible` says whether the final iterate satisfies the constraints to
    Ipopt's tolerance; it decides between ``feasible`` and ``infeasible`` for
    iterates that are not certified optimal. (The solvers then report an
    ``infeasible`` iterate as ``noSolution``, Pyomo's contract for a run whose point
    cannot be loaded.)
    """
    row = IPOPT_STATUS.get(code)
    if row is None:
        return TC.unknown, SolutionStatus.unknown
    if not row.has_iterate:
        return row.termination, SolutionStatus.noSolution
    if code == 0:
        return row.termination, SolutionStatus.optimal
    if row.termination in (TC.locallyInfeasible, TC.unbounded):
        return row.termination, SolutionStatus.infeasible
    return row.termination, (
        SolutionStatus.feasible if primal_feasible else SolutionStatus.infeasible
    )
