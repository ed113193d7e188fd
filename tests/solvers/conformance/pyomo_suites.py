"""Pyomo's own solver test suites, as cases for our solvers (see conftest.py).

Kept apart from conftest.py so that tests can import it by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyomo_llmprice.solvers import CasadiIpopt, CyIpoptDirect
from pyomo_llmprice.solvers.casadi_ipopt import LegacyCasadiIpopt
from pyomo_llmprice.solvers.cyipopt_direct import LegacyCyIpoptDirect

#: our solvers, as Pyomo's lists hold them: (name, new-API class)
SOLVERS: list[tuple[str, type]] = [
    ("cyipopt_direct", CyIpoptDirect),
    ("casadi_ipopt", CasadiIpopt),
]
LEGACY: dict[str, type] = {"cyipopt_direct": LegacyCyIpoptDirect, "casadi_ipopt": LegacyCasadiIpopt}

#: lists of test_solvers.py that our solvers join. Left out: ``nl_solvers`` (tests of
#: Pyomo's NL writer: its linear presolve and AMPL external functions) and lists of
#: a single other solver (HiGHS' node limit).
JOINED_LISTS = (
    "all_solvers",
    "dual_solvers",
    "nlp_solvers",
    "qcp_solvers",
    "qp_solvers",
    "mip_solvers",
    "sos_solvers",
)

#: contrib tests that must end in our refusal, and why
CONTRIB_REFUSALS: dict[str, str] = {
    "test_domain_with_integers": "integer and binary variables: continuous NLPs only",
    "test_with_gdp": "gdp.bigm leaves binary indicator variables: continuous NLPs only",
    "test_sos": "SOS constraints on binary variables: continuous NLPs only",
}


@dataclass(frozen=True)
class ContribCase:
    """One test function of Pyomo's contrib suite, for one of our solvers."""

    owner: type  # the unittest.TestCase class that holds the test
    func: Callable[..., Any]
    solver: str
    solver_class: type

    @property
    def id(self) -> str:
        return f"{self.owner.__name__}.{self.func.__name__}[{self.solver}]"

    def run(self) -> None:
        """Call Pyomo's test body as its parametrized copy would, with our solver."""
        case = self.owner()  # unittest.TestCase() without a method name is allowed
        args: tuple = (self.solver, self.solver_class)
        if len(inspect.signature(self.func).parameters) == 4:  # (self, name, cls, presolve)
            args += (None,)  # None: "not an NL solver", as _load_tests passes it
        self.func(case, *args)


def _contrib_module() -> Any:
    import pyomo.contrib.solver.tests.solvers.test_solvers as contrib

    return contrib


def _param_classes(generated: Any) -> type | None:
    """The solver class a parameterized copy of a test was made for."""
    for cell in generated.__closure__ or ():
        args = getattr(cell.cell_contents, "args", None)
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], type):
            return args[1]
    return None


def contrib_cases() -> Iterator[ContribCase]:
    """Pyomo's contrib tests (originals recovered from their parameterized copies),
    each once per solver, for every test parametrized over a joined list."""
    contrib = _contrib_module()
    lists = {name: getattr(contrib, name) for name in JOINED_LISTS}
    ours = {cls for _, cls in SOLVERS}  # the lists may already hold them (joined)
    list_classes = {name: {cls for _, cls in lst} - ours for name, lst in lists.items()}
    for owner in (
        contrib.TestDualSignConvention,
        contrib.TestSolvers,
        contrib.TestLegacySolverInterface,
    ):
        originals: dict[str, tuple[Any, set]] = {}
        for attr in vars(owner).values():
            func = getattr(attr, "place_as", None)
            if func is None:
                continue
            entry = originals.setdefault(func.__name__, (func, set()))
            entry[1].add(_param_classes(attr))
        for func, classes in originals.values():
            if not any(classes == lc for lc in list_classes.values()):
                continue
            for name, cls in SOLVERS:
                yield ContribCase(owner, func, name, cls)


def join_contrib_lists() -> None:
    """Add our solvers to the module's lists: test bodies consult them (duals)."""
    contrib = _contrib_module()
    for list_name in JOINED_LISTS:
        lst = getattr(contrib, list_name)
        for entry in SOLVERS:
            if entry not in lst:
                lst.append(entry)


#: what our solvers declare to Pyomo's scenario generator: continuous models only
#: (models needing 'integer', 'sos1' or 'sos2' are left out by the generator itself)
CAPABILITIES = {"linear", "quadratic_objective", "quadratic_constraint"}

#: model tests that must end in our refusal, and why
#: (none: the generator leaves out the integer and SOS models, and LP_piecewise's
#: Piecewise of a convex function bounded below simplifies to plain constraints)
MODEL_REFUSALS: dict[str, str] = {}


def model_scenarios() -> list[tuple[tuple[str, str, str], Any]]:
    """Pyomo's (model, solver, io) scenarios for our solvers.

    Our cases go into Pyomo's case table before anything fills it, so the generator
    does not spend seconds probing every other solver; any other entries are ignored.
    """
    from pyomo.solvers.tests import solvers as pyomo_solvers
    from pyomo.solvers.tests.testcases import generate_scenarios

    table = pyomo_solvers._test_solver_cases
    for name, _ in SOLVERS:
        if (name, "python") not in table:
            table[name, "python"] = pyomo_solvers.initialize(
                name=name,
                io="python",
                capabilities=CAPABILITIES,
                import_suffixes=["dual", "rc"],
            )
    ours = {name for name, _ in SOLVERS}
    return [(key, case) for key, case in generate_scenarios() if key[1] in ours]
