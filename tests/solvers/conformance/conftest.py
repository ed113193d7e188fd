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

from collections.abc import Iterator

import pytest
from pyomo.opt.base.solvers import LegacySolverFactory
from pyomo_suites import (
    CONTRIB_REFUSALS,
    LEGACY,
    MODEL_REFUSALS,
    contrib_cases,
    join_contrib_lists,
    model_scenarios,
)

from pyomo_llmprice.solvers import UnsupportedModelError


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
