"""Pyomo's status contract on the in-memory solvers, case by case (issue #14).

The conformance suites run Pyomo's own tests; these pin the cases the issue found,
each against a closed form: kernel models, feasibility problems, local versus
proven infeasibility, unboundedness, constant objectives and the SOS refusal.
"""

from __future__ import annotations

import pyomo.environ as pyo
import pyomo.kernel as pmo
import pytest
from pyomo.contrib.solver.common.factory import SolverFactory as NewSolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.common.util import NoDualsError, NoSolutionError

import pyomo_llmprice  # noqa: F401  (registers the solvers)
from pyomo_llmprice.solvers.evaluator import UnsupportedModelError

NEW = ["cyipopt_direct", "casadi_ipopt"]
TC = TerminationCondition


def _quiet(name: str):
    return NewSolverFactory(name)


@pytest.mark.parametrize("name", NEW)
def test_kernel_model_is_solved_not_taken_for_constants(name):
    # min (x-3)^2 + (y+1)^2 s.t. x + y <= 1: the projection of (3, -1) onto
    # x + y <= 1 is (2.5, -1.5), objective 0.5, dual -(2 * 0.5) = -1
    m = pmo.block()
    m.x = pmo.variable()
    m.y = pmo.variable()
    m.o = pmo.objective((m.x - 3) ** 2 + (m.y + 1) ** 2)
    m.c = pmo.constraint(m.x + m.y <= 1)
    m.dual = pmo.suffix(direction=pmo.suffix.IMPORT)
    res = _quiet(name).solve(m, load_solutions=False)
    assert res.termination_condition == TC.convergenceCriteriaSatisfied
    assert res.incumbent_objective == pytest.approx(0.5, abs=1e-7)
    values = res.solution_loader.get_vars()
    assert (values[m.x], values[m.y]) == pytest.approx((2.5, -1.5), abs=1e-6)
    assert m.x.value is None  # not loaded
    res.solution_loader.load_solution()
    assert (m.x.value, m.y.value) == pytest.approx((2.5, -1.5), abs=1e-6)
    assert m.dual[m.c] == pytest.approx(-1.0, abs=1e-6)


def test_kernel_model_through_the_legacy_factory():
    # max x + 2y s.t. x + y <= 4, 0 <= x, y <= 3: optimum (1, 3), objective 7, dual 1
    m = pmo.block()
    m.x = pmo.variable(lb=0, ub=3)
    m.y = pmo.variable(lb=0, ub=3)
    m.o = pmo.objective(m.x + 2 * m.y, sense=pmo.maximize)
    m.c = pmo.constraint(m.x + m.y <= 4)
    m.dual = pmo.suffix(direction=pmo.suffix.IMPORT)
    res = pyo.SolverFactory("cyipopt_direct").solve(m)
    pyo.assert_optimal_termination(res)
    assert (m.x.value, m.y.value) == pytest.approx((1.0, 3.0), abs=1e-6)
    assert m.dual[m.c] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", NEW)
def test_kernel_sos_is_refused_once_with_the_reason(name):
    m = pmo.block()
    m.x = pmo.variable(lb=0, ub=1)
    m.y = pmo.variable(lb=0, ub=1)
    m.o = pmo.objective(m.x + m.y, sense=pmo.maximize)
    m.s = pmo.sos1([m.x, m.y])
    with pytest.raises(UnsupportedModelError, match=r"s \(ISOS\).*mixed-integer") as err:
        _quiet(name).solve(m)
    assert "mpec" not in str(err.value)


def test_environ_sos_refusal_does_not_suggest_mpec():
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], bounds=(0, 1))
    m.o = pyo.Objective(expr=m.x[1] + m.x[2], sense=pyo.maximize)
    m.s = pyo.SOSConstraint(var=m.x, sos=1)
    with pytest.raises(UnsupportedModelError, match="SOSConstraint") as err:
        _quiet("cyipopt_direct").solve(m)
    assert "mpec" not in str(err.value)


@pytest.mark.parametrize("route", ["cyipopt_direct", "casadi_ipopt", "legacy"])
def test_no_objective_is_a_feasibility_problem(route):
    # x + y == 3, x - y == 1: the unique point (2, 1)
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.a = pyo.Constraint(expr=m.x + m.y == 3)
    m.b = pyo.Constraint(expr=m.x - m.y == 1)
    if route == "legacy":
        pyo.assert_optimal_termination(pyo.SolverFactory("cyipopt_direct").solve(m))
    else:
        res = _quiet(route).solve(m)
        assert res.solution_status == SolutionStatus.optimal
        assert res.incumbent_objective is None
        assert res.solution_loader.get_duals() == {m.a: 0.0, m.b: 0.0}
    assert (m.x.value, m.y.value) == pytest.approx((2.0, 1.0), abs=1e-8)


@pytest.mark.parametrize("name", NEW)
def test_nonlinear_infeasibility_is_only_local(name):
    # the disc x^2 + y^2 <= 1 misses the half plane x + y >= 3 (distance 3/sqrt 2 > 1)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.0)
    m.y = pyo.Var(initialize=0.0)
    m.disc = pyo.Constraint(expr=m.x**2 + m.y**2 <= 1)
    m.half = pyo.Constraint(expr=m.x + m.y >= 3)
    m.o = pyo.Objective(expr=m.x)
    res = _quiet(name).solve(m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    assert res.termination_condition == TC.locallyInfeasible
    assert res.incumbent_objective is None
    with pytest.raises(NoSolutionError):
        res.solution_loader.get_vars()
    with pytest.raises(NoDualsError):
        res.solution_loader.get_duals()


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize(
    "objective, bound",
    [(lambda x: x, lambda x: x <= 1), (lambda x: -pyo.exp(x), lambda x: x >= -1)],
    ids=["linear", "exp"],
)
def test_unbounded_problems_end_unbounded_without_an_objective(name, objective, bound):
    # min x s.t. x <= 1 and min -exp(x) s.t. x >= -1: both go to -infinity (Ipopt
    # reports Diverging_Iterates for the first, an error in a step at -7e20 for the second)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.0)
    m.c = pyo.Constraint(expr=bound(m.x))
    m.o = pyo.Objective(expr=objective(m.x))
    res = _quiet(name).solve(m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    assert res.termination_condition == TC.unbounded
    assert res.incumbent_objective is None
    with pytest.raises(NoSolutionError):
        res.solution_loader.load_vars()


@pytest.mark.parametrize("name", NEW)
def test_constant_objective_with_constraints(name):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x >= 0.5)
    m.o = pyo.Objective(expr=2.0)
    res = _quiet(name).solve(m)
    assert res.incumbent_objective == 2.0
    assert 0.5 - 1e-8 <= m.x.value <= 1 + 1e-8
