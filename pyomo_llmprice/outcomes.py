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

from pyomo_llmprice import plugins as _plugins  # noqa: F401  (registers our solvers)
from pyomo_llmprice.errors import UnknownSolverError
from pyomo_llmprice.solvers.status import IPOPT_STATUS

__all__ = [
    "STATUSES",
    "available_solvers",
    "legacy_outcome",
    "load_point",
    "solver_or_error",
    "solver_outcome",
]

TC = TerminationCondition

#: every status a MenuResult can carry, and what it means
STATUSES: dict[str, str] = {
    "optimal": "the solver converged and the menu passed the all-pairs IC/IR check",
    "verification_failed": "the solver converged but the menu violates an IC or IR "
    "constraint beyond the tolerance",
    "iteration_limit": "the solver stopped at its iteration limit (max_iter)",
    "time_limit": "the solver stopped at its time limit (--time-limit, max_wall_time)",
    "infeasible": "the solver found the constraints infeasible (e.g. an added constraint "
    "that no menu satisfies)",
    "evaluation_error": "a function or derivative evaluated to NaN or Inf "
    "(Ipopt: Invalid_Number_Detected)",
    "not_converged": "the solver stopped without converging for another reason "
    "(restoration failure, step too small, only an acceptable level, diverging "
    "iterates, an error in the step computation)",
    "solver_unavailable": "the solver is known but cannot run on this machine",
    "interrupted": "stopped by Ctrl-C (SIGINT) or limits.request_interrupt(); the point "
    "so far is not an answer",
}

#: Ipopt return codes with a status of their own (the rest follow the termination)
_IPOPT_CODES = {
    2: "infeasible",  # Infeasible_Problem_Detected
    -2: "not_converged",  # Restoration_Failed: no proof of infeasibility
    -13: "evaluation_error",  # Invalid_Number_Detected
}

_CODE_OF_NAME = {row.name: code for code, row in IPOPT_STATUS.items()}

_TERMINATION = {
    TC.iterationLimit: "iteration_limit",
    TC.maxTimeLimit: "time_limit",
    TC.interrupted: "interrupted",
    TC.provenInfeasible: "infeasible",
    TC.locallyInfeasible: "infeasible",
    TC.infeasibleOrUnbounded: "infeasible",
}


def solver_outcome(results: Any) -> str:
    """The status a solve's ``results`` (Pyomo's contrib Results) earn before verification.

    ``optimal`` needs a converged termination *and* an optimal solution status:
    Ipopt's ``Solved_To_Acceptable_Level`` converges by a looser test and is
    ``not_converged``. Ipopt's return code, if the results carry one in
    ``extra_info.ipopt_status``, decides first.
    """
    term = results.termination_condition
    if (
        term in (TC.convergenceCriteriaSatisfied, TC.emptyModel)
        and results.solution_status == SolutionStatus.optimal
    ):
        return "optimal"
    code = getattr(getattr(results, "extra_info", None), "ipopt_status", None)
    if code in _IPOPT_CODES:
        return _IPOPT_CODES[code]
    return _TERMINATION.get(term, "not_converged")


def load_point(results: Any, suffixes: bool = False) -> bool:
    """Load the point a solve ended at into the model; False when there is none.

    Pyomo's contract lets a failed solve refuse to load (``NoSolutionError``), as
    infeasible and diverged runs do: callers then treat the run as having no point,
    never as a crash. `suffixes` also loads duals and reduced costs (warm starts).
    """
    if results.solution_status == SolutionStatus.noSolution:
        return False
    try:
        results.solution_loader.load_vars()
        if suffixes:
            results.solution_loader.load_import_suffixes()
    except NoSolutionError:
        return False
    return True


def legacy_outcome(results: Any) -> str:
    """The status of Pyomo's legacy ``SolverResults`` (``pyomo solve``, the legacy factory).

    Our Ipopt interfaces put Ipopt's status name in ``results.solver.message``;
    it decides where present, as in :func:`solver_outcome`.
    """
    from pyomo.opt import TerminationCondition as LegacyTC

    solver = results.solver
    code = _CODE_OF_NAME.get(getattr(solver, "message", None))
    if code == 0:
        return "optimal"
    if code in _IPOPT_CODES:
        return _IPOPT_CODES[code]
    term = solver.termination_condition
    if code is None and term in (LegacyTC.optimal, LegacyTC.locallyOptimal):
        return "optimal"
    return {
        LegacyTC.maxIterations: "iteration_limit",
        LegacyTC.maxTimeLimit: "time_limit",
        LegacyTC.userInterrupt: "interrupted",
        LegacyTC.infeasible: "infeasible",
    }.get(term, "not_converged")


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
