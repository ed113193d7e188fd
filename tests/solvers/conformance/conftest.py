"""Pyomo's own solver test suites, run from the installed Pyomo against our solvers.

Nothing of Pyomo's is copied: its test modules are imported and our two solvers
are added to the solver lists they are parametrized over. Two suites:

* ``pyomo/contrib/solver/tests/solvers/test_solvers.py`` (the common solver API):
  every test whose solver list is one that an Ipopt interface belongs to, plus the
  integer and SOS lists, whose tests must end in our documented refusal;
* ``pyomo/solvers/tests/models`` (small LP/QP/QCP models, environ and kernel) through
  Pyomo's scenario generator, checked against Pyomo's stored results where the
  installed Pyomo ships them and otherwise against the KKT conditions
  (kkt_reference.py), which any optimum of these models satisfies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pyomo.opt.base.solvers import LegacySolverFactory

from pyomo_llmprice.solvers import CasadiIpopt, CyIpoptDirect, UnsupportedModelError
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
    list_classes = {name: {cls for _, cls in lst} for name, lst in lists.items()}
    for owner in (contrib.TestDualSignConvention, contrib.TestSolvers,
                  contrib.TestLegacySolverInterface):
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "contrib_case" in metafunc.fixturenames:
        cases = list(contrib_cases())  # before joining: the lists identify tests
        join_contrib_lists()
        params = []
        for case in cases:
            reason = CONTRIB_REFUSALS.get(case.func.__name__)
            marks = (
                [pytest.mark.xfail(reason=reason, raises=UnsupportedModelError, strict=True)]
                if reason
                else []
            )
            params.append(pytest.param(case, id=case.id, marks=marks))
        metafunc.parametrize("contrib_case", params)
    if "scenario" in metafunc.fixturenames:
        _generate_model_params(metafunc)


@pytest.fixture(scope="session", autouse=True)
def legacy_v2_names() -> Iterator[None]:
    """Pyomo's legacy-interface tests ask for ``NAME_v2`` (Pyomo's naming of new-API
    solvers in the legacy factory); give ours those names for the session."""
    added = []
    for name, legacy in LEGACY.items():
        alias = name + "_v2"
        if alias not in LegacySolverFactory:
            LegacySolverFactory.register(alias, doc=f"{name} (conformance tests)")(legacy)
            added.append(alias)
    yield
    for alias in added:
        LegacySolverFactory.unregister(alias)


def pytest_configure(config: pytest.Config) -> None:
    """Pyomo's parametrized copies carry a ``solver`` mark; declare it."""
    config.addinivalue_line("markers", "solver(name): Pyomo's mark of a solver test")


# ---------------------------------------------------------------- pyomo/solvers/tests/models

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


def _generate_model_params(metafunc: pytest.Metafunc) -> None:
    params = []
    for key, case in model_scenarios():
        model, solver, _ = key
        reason = MODEL_REFUSALS.get(model)
        marks = (
            [pytest.mark.xfail(reason=reason, raises=UnsupportedModelError, strict=True)]
            if reason
            else []
        )
        if case.status == "skip":
            marks.append(pytest.mark.skip(reason=case.msg))
        params.append(pytest.param(key, case, id=f"{model}[{solver}]", marks=marks))
    metafunc.parametrize(("scenario", "case"), params)
