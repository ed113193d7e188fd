"""Every Pyomo ending, contrib and legacy, against the package's statuses (no solver).

The expected tables are written from the meaning of each enum member (Pyomo's
docstrings), not read off the adapter: a member Pyomo adds later fails
``test_tables_cover_every_member`` until someone decides its status.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyomo.contrib.solver.common.results import (
    SolutionStatus,
    TerminationCondition,
    legacy_solution_status_map,
    legacy_solver_status_map,
    legacy_termination_condition_map,
)
from pyomo.opt import SolverResults, SolverStatus
from pyomo.opt import TerminationCondition as LegacyTC
from pyomo.opt.results.solution import Solution

from pyomo_llmprice.outcomes import (
    STATUSES,
    ipopt_code,
    iteration_count,
    legacy_outcome,
    solver_outcome,
)
from pyomo_llmprice.solvers.status import IPOPT_STATUS, map_status

TC = TerminationCondition

#: contrib termination -> status when the run is not optimal
CONTRIB: dict[TC, str] = {
    TC.convergenceCriteriaSatisfied: "not_converged",  # without an optimal solution
    TC.maxTimeLimit: "time_limit",
    TC.iterationLimit: "iteration_limit",
    TC.objectiveLimit: "not_converged",
    TC.minStepLength: "not_converged",
    TC.unbounded: "not_converged",  # a menu's profit is bounded: diverging iterates
    TC.provenInfeasible: "infeasible",
    TC.locallyInfeasible: "infeasible",
    TC.infeasibleOrUnbounded: "infeasible",
    TC.error: "not_converged",
    TC.interrupted: "interrupted",
    TC.licensingProblems: "solver_unavailable",
    TC.emptyModel: "not_converged",  # without an optimal solution
    TC.unknown: "not_converged",
}
#: the contrib terminations that are optimal with an optimal solution status
CONTRIB_CONVERGED = {TC.convergenceCriteriaSatisfied, TC.emptyModel}

#: legacy termination -> status (for the optimal ones: with solver status ``ok``)
LEGACY: dict[LegacyTC, str] = {
    LegacyTC.unknown: "not_converged",
    LegacyTC.maxTimeLimit: "time_limit",
    LegacyTC.maxIterations: "iteration_limit",
    LegacyTC.minFunctionValue: "not_converged",
    LegacyTC.minStepLength: "not_converged",
    LegacyTC.globallyOptimal: "optimal",
    LegacyTC.locallyOptimal: "optimal",
    LegacyTC.optimal: "optimal",
    LegacyTC.feasible: "not_converged",
    LegacyTC.maxEvaluations: "iteration_limit",
    LegacyTC.other: "not_converged",
    LegacyTC.unbounded: "not_converged",
    LegacyTC.infeasible: "infeasible",
    LegacyTC.infeasibleOrUnbounded: "infeasible",
    LegacyTC.invalidProblem: "not_converged",
    LegacyTC.intermediateNonInteger: "not_converged",
    LegacyTC.noSolution: "not_converged",
    LegacyTC.solverFailure: "not_converged",
    LegacyTC.internalSolverError: "not_converged",
    LegacyTC.error: "not_converged",
    LegacyTC.userInterrupt: "interrupted",
    LegacyTC.resourceInterrupt: "interrupted",  # Pyomo's wrapper maps ``interrupted`` here
    LegacyTC.licensingProblems: "solver_unavailable",
}

#: Ipopt codes with a status other than their termination's (SolutionStatus aside)
IPOPT_OWN = {2: "infeasible", -2: "not_converged", -13: "evaluation_error"}


def test_tables_cover_every_member():
    assert set(CONTRIB) == set(TerminationCondition)
    assert set(LEGACY) == set(LegacyTC)
    assert set(CONTRIB.values()) | set(LEGACY.values()) <= set(STATUSES)


@pytest.mark.parametrize("sol", list(SolutionStatus), ids=lambda s: s.name)
@pytest.mark.parametrize("term", list(TerminationCondition), ids=lambda t: t.name)
def test_contrib_pair(term, sol):
    """Any ``pyomo.contrib.solver`` solver: Results carry no Ipopt code."""
    optimal = term in CONTRIB_CONVERGED and sol == SolutionStatus.optimal
    expected = "optimal" if optimal else CONTRIB[term]
    results = SimpleNamespace(termination_condition=term, solution_status=sol)
    assert solver_outcome(results) == expected


@pytest.mark.parametrize("status", list(SolverStatus), ids=lambda s: s.name)
@pytest.mark.parametrize("term", list(LegacyTC), ids=lambda t: t.name)
def test_legacy_pair(term, status):
    """Any ``pyomo.opt`` solver, as ``pyomo solve`` and ``llmprice compare`` receive it.

    Optimal needs solver status ``ok``: the AMPL drivers' ``warning`` beside an optimal
    termination means "optimal solution indicated, but error likely".
    """
    results = SolverResults()
    results.solver.termination_condition = term
    results.solver.status = status
    expected = LEGACY[term]
    if expected == "optimal" and status != SolverStatus.ok:
        expected = "not_converged"
    assert legacy_outcome(results) == expected


def _legacy_of(results: SimpleNamespace, message: str | None) -> SolverResults:
    """`results` as Pyomo's LegacySolverWrapper turns them into ``pyomo.opt`` results,
    with the solution kept (``load_solutions=False``)."""
    legacy = SolverResults()
    term = results.termination_condition
    legacy.solver.termination_condition = legacy_termination_condition_map[term]
    legacy.solver.status = legacy_solver_status_map[term]
    legacy.solver.message = message
    if results.solution_status != SolutionStatus.noSolution:
        soln = Solution()
        soln.status = legacy_solution_status_map(results)
        legacy.solution.insert(soln)
    return legacy


@pytest.mark.parametrize("feasible", [True, False])
@pytest.mark.parametrize("code", sorted(IPOPT_STATUS))
def test_every_ipopt_ending_reads_the_same_through_both_interfaces(code, feasible):
    """Our solvers' results, and the same run after Pyomo's legacy wrapper (which keeps
    Ipopt's status name as the message): one status."""
    term, sol = map_status(code, feasible)
    contrib = SimpleNamespace(
        termination_condition=term, solution_status=sol, extra_info=SimpleNamespace()
    )
    contrib.extra_info.ipopt_status = code
    status = solver_outcome(contrib)
    expected = IPOPT_OWN.get(code, "optimal" if code == 0 else CONTRIB[term])
    assert status == expected
    assert legacy_outcome(_legacy_of(contrib, IPOPT_STATUS[code].name)) == expected


@pytest.mark.parametrize("sol", [SolutionStatus.optimal, SolutionStatus.feasible])
@pytest.mark.parametrize("term", sorted(legacy_termination_condition_map, key=lambda t: t.value))
def test_other_contrib_solvers_through_the_legacy_wrapper(term, sol):
    """A contrib solver without an Ipopt code, run through ``pyomo solve``, keeps its
    status for every ending that leaves a point."""
    contrib = SimpleNamespace(termination_condition=term, solution_status=sol)
    assert legacy_outcome(_legacy_of(contrib, None)) == solver_outcome(contrib)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Maximum_Iterations_Exceeded", -1),
        ("Ipopt 3.14.11\\x3a Solved To Acceptable Level.", 1),  # Ipopt's AMPL driver
        ("Ipopt 3.14.11: Optimal Solution Found", None),  # not a status name
        (None, None),
        (7, None),
    ],
)
def test_ipopt_code_of_a_message(message, code):
    assert ipopt_code(message) == code


def test_acceptable_level_from_ipopt_executable_is_not_optimal():
    """A system ipopt (``pyomo.opt``) ending at the acceptable level: optimal termination,
    status ok, but Ipopt's message says the looser test."""
    results = SolverResults()
    results.solver.termination_condition = LegacyTC.optimal
    results.solver.message = "Ipopt 3.14.11\\x3a Solved To Acceptable Level."
    assert legacy_outcome(results) == "not_converged"


def test_iteration_count_from_either_interface():
    contrib = SimpleNamespace(extra_info=SimpleNamespace(iteration_count=7))
    assert iteration_count(contrib) == 7
    assert iteration_count(SimpleNamespace(extra_info=SimpleNamespace())) is None
    legacy = SolverResults()
    assert iteration_count(legacy) is None  # Pyomo's legacy interfaces mostly say nothing
    legacy.solver.iterations = 12
    assert iteration_count(legacy) == 12
