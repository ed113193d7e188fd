"""How a solve ended, as the menu ``status`` that reports, JSON and scripts read.

Pyomo's termination conditions lump together outcomes a user treats differently
(Ipopt's ``Infeasible_Problem_Detected`` and ``Restoration_Failed`` are both
``locallyInfeasible``; a NaN in an evaluation is one of many ``error`` endings),
so Ipopt's own return code, where the solver reports one, refines them. Only
``optimal`` menus carry tariffs; every other status withholds them.
"""

from __future__ import annotations

from typing import Any

from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.common.util import NoSolutionError
from pyomo.opt import SolutionStatus as LegacySolutionStatus
from pyomo.opt import SolverStatus as LegacySolverStatus
from pyomo.opt import TerminationCondition as LegacyTC

from pyomo_llmprice import plugins as _plugins  # noqa: F401  (registers our solvers)
from pyomo_llmprice.errors import UnknownSolverError
from pyomo_llmprice.solvers.status import IPOPT_STATUS

__all__ = [
    "LEGACY_TERMINATION",
    "STATUSES",
    "available_solvers",
    "ipopt_code",
    "iteration_count",
    "legacy_outcome",
    "load_point",
    "outcome_of",
    "solver_or_error",
    "solver_outcome",
]

TC = TerminationCondition

#: every status a MenuResult can carry, and what it means
STATUSES: dict[str, str] = {
    "optimal": "the solver converged and the menu passed the all-pairs IC/IR check",
    "verification_failed": "the solver converged but the menu violates an IC or IR "
    "constraint beyond the tolerance",
    "iteration_limit": "the solver stopped at its iteration limit (max_iter) or another "
    "work limit (evaluations)",
    "time_limit": "the solver stopped at its time limit (--time-limit, max_wall_time)",
    "infeasible": "the solver found the constraints infeasible (e.g. an added constraint "
    "that no menu satisfies)",
    "evaluation_error": "a function or derivative evaluated to NaN or Inf "
    "(Ipopt: Invalid_Number_Detected)",
    "not_converged": "the solver stopped without converging for another reason "
    "(restoration failure, step too small, only an acceptable level, diverging "
    "iterates, an error in the step computation)",
    "solver_unavailable": "the solver is known but cannot run on this machine (not "
    "installed, or its license refused the run)",
    "interrupted": "stopped by Ctrl-C (SIGINT) or limits.request_interrupt(); the point "
    "so far is not an answer",
}

#: Ipopt return codes with a status of their own (the rest follow the termination)
_IPOPT_CODES = {
    2: "infeasible",  # Infeasible_Problem_Detected
    -2: "not_converged",  # Restoration_Failed: no proof of infeasibility
    -13: "evaluation_error",  # Invalid_Number_Detected
}

_CODE_OF_NAME = {row.name.lower(): code for code, row in IPOPT_STATUS.items()}

#: Pyomo's termination conditions that are a status of their own (the rest, among them
#: error, unbounded, minStepLength, objectiveLimit and unknown, are ``not_converged``)
_TERMINATION = {
    TC.iterationLimit: "iteration_limit",
    TC.maxTimeLimit: "time_limit",
    TC.interrupted: "interrupted",
    TC.provenInfeasible: "infeasible",
    TC.locallyInfeasible: "infeasible",
    TC.infeasibleOrUnbounded: "infeasible",
    TC.licensingProblems: "solver_unavailable",
}

#: Pyomo's legacy termination conditions as the contrib ones: the inverse of Pyomo's own
#: ``legacy_termination_condition_map`` (which its LegacySolverWrapper applies, so a
#: contrib solver run through ``pyomo solve`` reads back as it ended) plus the members
#: only the legacy enum has
LEGACY_TERMINATION: dict[LegacyTC, TC] = {
    LegacyTC.unknown: TC.unknown,
    LegacyTC.maxTimeLimit: TC.maxTimeLimit,
    LegacyTC.maxIterations: TC.iterationLimit,
    LegacyTC.minFunctionValue: TC.objectiveLimit,
    LegacyTC.minStepLength: TC.minStepLength,
    LegacyTC.globallyOptimal: TC.convergenceCriteriaSatisfied,
    LegacyTC.locallyOptimal: TC.convergenceCriteriaSatisfied,
    LegacyTC.optimal: TC.convergenceCriteriaSatisfied,
    LegacyTC.feasible: TC.unknown,  # a point, no claim of convergence
    LegacyTC.maxEvaluations: TC.iterationLimit,  # a work limit the user set
    LegacyTC.other: TC.unknown,
    LegacyTC.unbounded: TC.unbounded,
    LegacyTC.infeasible: TC.locallyInfeasible,
    LegacyTC.infeasibleOrUnbounded: TC.infeasibleOrUnbounded,
    LegacyTC.invalidProblem: TC.error,
    LegacyTC.intermediateNonInteger: TC.unknown,
    LegacyTC.noSolution: TC.unknown,
    LegacyTC.solverFailure: TC.error,
    LegacyTC.internalSolverError: TC.error,
    LegacyTC.error: TC.error,
    LegacyTC.userInterrupt: TC.interrupted,
    LegacyTC.resourceInterrupt: TC.interrupted,  # Pyomo's map sends ``interrupted`` here
    LegacyTC.licensingProblems: TC.licensingProblems,
}

#: legacy solution statuses that claim optimality
_LEGACY_OPTIMAL = (
    LegacySolutionStatus.optimal,
    LegacySolutionStatus.locallyOptimal,
    LegacySolutionStatus.globallyOptimal,
)


def outcome_of(term: TC, solution: SolutionStatus, code: int | None = None) -> str:
    """The status a solve earns before verification: the one table every door reads.

    ``optimal`` needs a converged termination *and* an optimal solution status:
    Ipopt's ``Solved_To_Acceptable_Level`` converges by a looser test and is
    ``not_converged``. Ipopt's return code, where known, refines the rest.
    """
    if (
        term in (TC.convergenceCriteriaSatisfied, TC.emptyModel)
        and solution == SolutionStatus.optimal
    ):
        return "optimal"
    if code in _IPOPT_CODES:
        return _IPOPT_CODES[code]
    return _TERMINATION.get(term, "not_converged")


def solver_outcome(results: Any) -> str:
    """The status of Pyomo's contrib ``Results`` (any ``pyomo.contrib.solver`` solver).

    Ipopt's return code counts where the results carry one in
    ``extra_info.ipopt_status`` (the package's Ipopt interfaces do).
    """
    code = getattr(getattr(results, "extra_info", None), "ipopt_status", None)
    return outcome_of(results.termination_condition, results.solution_status, code)


def ipopt_code(message: Any) -> int | None:
    """Ipopt's return code named by a legacy solver message, else None.

    Our interfaces write the status name (``Maximum_Iterations_Exceeded``); Ipopt's AMPL
    driver writes ``Ipopt 3.14.11\\x3a Solved To Acceptable Level.``, which is read as
    well where its wording is the name.
    """
    if not isinstance(message, str):
        return None
    text = message.replace("\\x3a", ":").rsplit(":", 1)[-1]
    key = "_".join(text.strip().rstrip(".").split()).lower()
    return _CODE_OF_NAME.get(key)


def legacy_outcome(results: Any) -> str:
    """The status of Pyomo's legacy ``SolverResults`` (``pyomo solve``, ``pyomo.opt``
    solvers in ``llmprice compare``): the same table as :func:`solver_outcome`.

    The legacy termination is translated (:data:`LEGACY_TERMINATION`); an optimal one
    counts as optimal only with solver status ``ok`` (``warning`` is the AMPL
    drivers' "optimal solution indicated, but error likely"), a kept solution that
    claims optimality, and no Ipopt message of a looser ending.
    """
    solver = results.solver
    code = ipopt_code(getattr(solver, "message", None))
    term = LEGACY_TERMINATION.get(solver.termination_condition, TC.unknown)
    solution = SolutionStatus.unknown
    if term == TC.convergenceCriteriaSatisfied:
        kept = getattr(results, "solution", None)
        claims = not kept or kept(0).status in _LEGACY_OPTIMAL
        ok = solver.status == LegacySolverStatus.ok and code in (None, 0) and claims
        solution = SolutionStatus.optimal if ok else SolutionStatus.feasible
    return outcome_of(term, solution, code)


def iteration_count(results: Any) -> int | None:
    """Iterations of a run where the solver reports them, else None.

    Contrib results carry them in ``extra_info.iteration_count`` (as Pyomo's own
    ``ipopt`` does); legacy results in ``solver.iterations`` where the interface
    fills it (ours do).
    """
    extra = getattr(results, "extra_info", None)
    if extra is not None:
        count = getattr(extra, "iteration_count", None)
    else:
        count = getattr(getattr(results, "solver", None), "iterations", None)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def load_point(results: Any) -> bool:
    """Load the point a solve ended at into the model's variables; False when there is none.

    Pyomo's contract lets a failed solve refuse to load (``NoSolutionError``), as
    infeasible and diverged runs do: callers then treat the run as having no point,
    never as a crash. The loaded values are also where the next solve starts (the
    warm start of IC generation and of the retry).
    """
    if results.solution_status == SolutionStatus.noSolution:
        return False
    try:
        results.solution_loader.load_vars()
    except NoSolutionError:
        return False
    return True


def _usable(name: str) -> bool:
    try:
        return bool(SolverFactory(name).available())
    except Exception:  # a third-party interface that cannot even probe is not usable
        return False


def available_solvers() -> tuple[list[str], list[str]]:
    """Names Pyomo's solver factory knows, split into usable here and not."""
    names = sorted(SolverFactory)
    usable = [n for n in names if _usable(n)]
    return usable, [n for n in names if n not in usable]


def solver_or_error(name: str) -> Any:
    """The solver registered as `name`; a name no factory knows is the user's mistake."""
    if name not in SolverFactory:
        raise UnknownSolverError(name, *available_solvers())
    return SolverFactory(name)
