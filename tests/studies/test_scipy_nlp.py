"""SciPy solvers on the package's compiled callbacks, against known optima."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

import pyomo_llmprice.plugins  # noqa: F401
from pyomo_llmprice.errors import SolverOptionError
from pyomo_llmprice.solvers.scipy_nlp import IPOPT_ONLY_OPTIONS, ScipySLSQP, ScipyTrustConstr
from pyomo_llmprice.theory import mussa_rosen

HS071_OPTIMUM = 17.0140173
#: multipliers of HS071 at the optimum (Hock-Schittkowski; Ipopt's documented example)
HS071_DUALS = {"product": 0.55229366, "norm": -0.16146857}

#: relative accuracy each method reaches with its defaults (trust-constr stops at the
#: barrier problem's optimum, a few parts per million from the true one)
ACCURACY = {"scipy_slsqp": 1e-7, "scipy_trust_constr": 1e-6}


def mussa_rosen_model(n: int) -> pyo.ConcreteModel:
    """Mussa-Rosen screening with all IC pairs: value theta q, cost q^2/2."""
    bench = mussa_rosen(n)
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    theta = {i: float(bench.theta[i]) for i in m.I}
    m.q = pyo.Var(m.I, bounds=(0, None), initialize=0.5)
    m.t = pyo.Var(m.I, initialize=0.0)
    m.profit = pyo.Objective(
        expr=sum((m.t[i] - m.q[i] ** 2 / 2) / n for i in m.I), sense=pyo.maximize
    )
    m.ir = pyo.Constraint(m.I, rule=lambda m, i: theta[i] * m.q[i] - m.t[i] >= 0)
    m.ic = pyo.Constraint(
        m.I,
        m.I,
        rule=lambda m, i, k: (
            pyo.Constraint.Skip
            if i == k
            else theta[i] * m.q[i] - m.t[i] >= theta[i] * m.q[k] - m.t[k]
        ),
    )
    return m


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_hs071_objective_and_duals(name, hs071):
    res = SolverFactory(name).solve(hs071)
    assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    assert res.solution_status == SolutionStatus.optimal
    assert res.incumbent_objective == pytest.approx(HS071_OPTIMUM, rel=ACCURACY[name])
    assert pyo.value(hs071.obj) == pytest.approx(HS071_OPTIMUM, rel=ACCURACY[name])
    for con, dual in HS071_DUALS.items():
        assert hs071.dual[hs071.component(con)] == pytest.approx(dual, rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_mussa_rosen_closed_form(name):
    n = 6
    bench = mussa_rosen(n)
    model = mussa_rosen_model(n)
    res = SolverFactory(name).solve(model)
    assert res.solution_status == SolutionStatus.optimal
    assert res.incumbent_objective == pytest.approx(bench.profit, rel=ACCURACY[name])
    q = [pyo.value(model.q[i]) for i in model.I]
    assert q == pytest.approx(list(bench.q), abs=2e-3)


def test_legacy_factory_and_option_strings(hs071):
    res = pyo.SolverFactory("scipy_slsqp").solve(hs071, options="tol=1e-10 max_iter=200")
    assert res.solver.termination_condition == pyo.TerminationCondition.optimal
    assert pyo.value(hs071.obj) == pytest.approx(HS071_OPTIMUM, rel=1e-7)


def test_ipopt_only_options_are_ignored_and_listed(hs071):
    opts = {"tol": 1e-9, "acceptable_tol": 1e-9, "bound_relax_factor": 0.0, "max_iter": 100}
    res = SolverFactory("scipy_trust_constr").solve(hs071, solver_options=opts)
    assert res.extra_info.ignored_options == ["acceptable_tol", "bound_relax_factor"]
    assert {"acceptable_tol", "bound_relax_factor", "mu_init"} <= IPOPT_ONLY_OPTIONS


def test_unknown_option_is_refused(hs071):
    with pytest.raises(SolverOptionError, match="unknown option 'nonsense'"):
        SolverFactory("scipy_slsqp").solve(hs071, solver_options={"nonsense": 1})


@pytest.mark.parametrize(
    "name, limit", [("scipy_slsqp", {"maxiter": 2}), ("scipy_trust_constr", {"maxiter": 2})]
)
def test_iteration_limit_is_not_optimal(name, limit, hs071):
    res = SolverFactory(name).solve(
        hs071,
        solver_options=limit,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
    )
    assert res.termination_condition == TerminationCondition.iterationLimit
    assert res.solution_status != SolutionStatus.optimal


def test_time_limit_stops_the_run():
    model = mussa_rosen_model(8)
    res = SolverFactory("scipy_trust_constr").solve(
        model,
        time_limit=1e-9,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
    )
    assert res.termination_condition == TerminationCondition.maxTimeLimit
    assert res.extra_info.iteration_count <= 2


@pytest.mark.parametrize(
    "status, term",
    [(1, "convergenceCriteriaSatisfied"), (2, "minStepLength"), (0, "iterationLimit")],
)
def test_trust_constr_status_table(status, term):
    assert ScipyTrustConstr.termination(status).name == term


@pytest.mark.parametrize(
    "status, term",
    [(0, "convergenceCriteriaSatisfied"), (9, "iterationLimit"), (4, "locallyInfeasible")],
)
def test_slsqp_status_table(status, term):
    assert ScipySLSQP.termination(status).name == term
    assert ScipySLSQP.termination(6).name == "error"


def test_empty_model_reports_the_objective():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=3.0)
    m.x.fix()
    m.obj = pyo.Objective(expr=m.x**2)
    res = SolverFactory("scipy_slsqp").solve(m)
    assert res.termination_condition == TerminationCondition.emptyModel
    assert res.incumbent_objective == 9.0
