"""``cyipopt_direct`` and ``casadi_ipopt`` on problems whose optima have closed forms.

Every pinned number below is either derived in the comment next to it or, for
HS071, the published optimum of Hock & Schittkowski (1981).
"""

from __future__ import annotations

import math
import re

import pyomo.environ as pyo
import pyomo.mpec as mpec
import pytest
from pyomo.contrib.solver.common.factory import SolverFactory as NewSolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.common.util import NoOptimalSolutionError, NoSolutionError
from pyomo.core.expr.calculus.derivatives import differentiate
from pyomo.opt import SolverStatus
from pyomo.opt import TerminationCondition as LegacyTC

import pyomo_llmprice  # noqa: F401  (registers the solvers)
from pyomo_llmprice.errors import SolverOptionError
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.solvers.evaluator import UnsupportedModelError

HS071_OBJECTIVE = 17.0140173  # Hock & Schittkowski (1981), problem 71
HS071_X = (1.0, 4.7429994, 3.8211503, 1.3794082)

ROUTES = ["legacy", "new", "casadi", "casadi_legacy"]
TIGHT = {"tol": 1e-10, "bound_relax_factor": 0.0}


def solve(route: str, model, **kwds):
    """Solve through one route; legacy routes return SolverResults, new ones Results."""
    if route == "legacy":
        return pyo.SolverFactory("cyipopt_direct").solve(model, **kwds)
    if route == "casadi_legacy":
        return pyo.SolverFactory("casadi_ipopt").solve(model, **kwds)
    name = "cyipopt_direct" if route == "new" else "casadi_ipopt"
    if "options" in kwds:
        kwds["solver_options"] = kwds.pop("options")
    return NewSolverFactory(name).solve(model, **kwds)


def assert_optimal(route: str, results) -> None:
    if route.endswith("legacy"):
        assert results.solver.status == SolverStatus.ok
        assert results.solver.termination_condition == LegacyTC.optimal
    else:
        assert results.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
        assert results.solution_status == SolutionStatus.optimal


def suffixes(m) -> None:
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m.rc = pyo.Suffix(direction=pyo.Suffix.IMPORT)


# ---------------------------------------------------------------- HS071


@pytest.mark.parametrize("route", ROUTES)
def test_hs071_all_routes(route, hs071):
    m = hs071
    m.rc = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    res = solve(route, m)
    assert_optimal(route, res)
    assert pyo.value(m.obj) == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
    for i, xi in zip(m.x, HS071_X, strict=True):
        assert m.x[i].value == pytest.approx(xi, abs=1e-5)
    if not route.endswith("legacy"):
        assert res.incumbent_objective == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
        assert res.extra_info.iteration_count > 0
        assert res.solver_name
    # KKT in the dual = d(objective)/d(rhs) convention: grad f = sum dual_i grad g_i + rc
    x = list(m.x.values())
    grad_f = differentiate(m.obj.expr, wrt_list=x)
    grad_p = differentiate(m.product.body, wrt_list=x)
    grad_n = differentiate(m.norm.body, wrt_list=x)
    for k, v in enumerate(x):
        kkt = (
            pyo.value(grad_f[k])
            - m.dual[m.product] * pyo.value(grad_p[k])
            - m.dual[m.norm] * pyo.value(grad_n[k])
            - m.rc[v]
        )
        assert kkt == pytest.approx(0.0, abs=1e-6)
    assert m.dual[m.product] > 0  # tightening x1 x2 x3 x4 >= 25 raises the minimum
    assert m.rc[m.x[1]] > 0  # x1 sits at its lower bound 1
    assert m.x[1].value == pytest.approx(1.0, abs=1e-6)


def test_hs071_legacy_fills_model_solutions_and_dual(hs071):
    res = pyo.SolverFactory("cyipopt_direct").solve(hs071, load_solutions=True)
    assert len(hs071.solutions) == 1
    assert res.solver.iterations > 0
    assert res.problem.number_of_variables == 4
    assert res.problem.number_of_constraints == 2
    assert set(hs071.dual) == {hs071.product, hs071.norm}
    assert all(math.isfinite(v) for v in hs071.dual.values())
    assert res.problem.upper_bound == pytest.approx(HS071_OBJECTIVE, abs=1e-6)


def test_hs071_legacy_without_loading(hs071):
    x0 = {i: hs071.x[i].value for i in hs071.x}
    res = pyo.SolverFactory("cyipopt_direct").solve(hs071, load_solutions=False)
    assert {i: hs071.x[i].value for i in hs071.x} == x0
    assert len(res.solution) == 1
    hs071.solutions.load_from(res)
    assert pyo.value(hs071.obj) == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
    assert len(hs071.dual) == 2


def test_hs071_new_api_without_loading(hs071):
    x0 = {i: hs071.x[i].value for i in hs071.x}
    res = NewSolverFactory("cyipopt_direct").solve(hs071, load_solutions=False)
    assert {i: hs071.x[i].value for i in hs071.x} == x0
    primals = res.solution_loader.get_vars()
    assert primals[hs071.x[4]] == pytest.approx(HS071_X[3], abs=1e-5)
    duals = res.solution_loader.get_duals([hs071.norm])
    assert list(duals) == [hs071.norm]
    res.solution_loader.load_vars()
    assert pyo.value(hs071.obj) == pytest.approx(HS071_OBJECTIVE, abs=1e-6)


# ---------------------------------------------------------------- known optima


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_rosenbrock_unconstrained(route):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=-1.2)
    m.y = pyo.Var(initialize=1.0)
    m.obj = pyo.Objective(expr=(1 - m.x) ** 2 + 100 * (m.y - m.x**2) ** 2)
    assert_optimal(route, solve(route, m, options=TIGHT))
    assert pyo.value(m.obj) == pytest.approx(0.0, abs=1e-12)
    assert (m.x.value, m.y.value) == pytest.approx((1.0, 1.0), abs=1e-6)


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_maximize(route):
    # max 5 - (x-1)^2 - (y-2)^2  s.t. x + y <= 2: the projection of (1, 2) onto the
    # half plane is (0.5, 1.5), objective 5 - 0.25 - 0.25 = 4.5; with rhs b the optimum
    # is 5 - (3-b)^2/2, so dual = 3 - b = 1
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.obj = pyo.Objective(expr=5 - (m.x - 1) ** 2 - (m.y - 2) ** 2, sense=pyo.maximize)
    m.c = pyo.Constraint(expr=m.x + m.y <= 2)
    suffixes(m)
    res = solve(route, m, options=TIGHT)
    assert_optimal(route, res)
    assert pyo.value(m.obj) == pytest.approx(4.5, abs=1e-8)
    assert (m.x.value, m.y.value) == pytest.approx((0.5, 1.5), abs=1e-6)
    assert m.dual[m.c] == pytest.approx(1.0, abs=1e-6)
    if route == "new":
        assert res.incumbent_objective == pytest.approx(4.5, abs=1e-8)
    if route == "legacy":
        assert res.problem.lower_bound == pytest.approx(4.5, abs=1e-8)


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_equality_and_ranged_constraints(route):
    # min (x-2)^2 + (y-2)^2  s.t. x + y == a, b <= x - y <= 1 with a = 2, b = 0.5:
    # x = (a+b)/2 = 1.25, y = (a-b)/2 = 0.75, objective 0.5625 + 1.5625 = 2.125;
    # d/da = a - 4 = -2 (equality dual), d/db = b = 0.5 (range dual, lower side active)
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.obj = pyo.Objective(expr=(m.x - 2) ** 2 + (m.y - 2) ** 2)
    m.eq = pyo.Constraint(expr=m.x + m.y == 2)
    m.rng = pyo.Constraint(expr=pyo.inequality(0.5, m.x - m.y, 1))
    suffixes(m)
    assert_optimal(route, solve(route, m, options=TIGHT))
    assert pyo.value(m.obj) == pytest.approx(2.125, abs=1e-8)
    assert (m.x.value, m.y.value) == pytest.approx((1.25, 0.75), abs=1e-6)
    assert m.dual[m.eq] == pytest.approx(-2.0, abs=1e-6)
    assert m.dual[m.rng] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
@pytest.mark.parametrize(
    "target, expected",
    [
        # (4, 1) violates x <= y: projection onto x = y is (2.5, 2.5), y <= 3 inactive
        ((4.0, 1.0), (2.5, 2.5)),
        # (1, 5) violates y <= 3 only: (1, 3)
        ((1.0, 5.0), (1.0, 3.0)),
        # (5, 5) violates both: x <= y <= 3 gives (3, 3)
        ((5.0, 5.0), (3.0, 3.0)),
    ],
)
def test_ranged_constraint_with_variable_bound(route, target, expected):
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.obj = pyo.Objective(expr=(m.x - target[0]) ** 2 + (m.y - target[1]) ** 2)
    m.r = pyo.Constraint(expr=pyo.inequality(m.x, m.y, 3))
    assert_optimal(route, solve(route, m, options=TIGHT))
    assert (m.x.value, m.y.value) == pytest.approx(expected, abs=1e-6)
    opt = (expected[0] - target[0]) ** 2 + (expected[1] - target[1]) ** 2
    assert pyo.value(m.obj) == pytest.approx(opt, abs=1e-7)


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_fixed_variables_stay_fixed(route):
    # y fixed at 5: min (x-1)^2 + (y-2)^2 s.t. x + y >= 7 -> x = 2, objective 1 + 9 = 10
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.0)
    m.y = pyo.Var(initialize=5.0)
    m.y.fix()
    m.obj = pyo.Objective(expr=(m.x - 1) ** 2 + (m.y - 2) ** 2)
    m.c = pyo.Constraint(expr=m.x + m.y >= 7)
    suffixes(m)
    assert_optimal(route, solve(route, m, options=TIGHT))
    assert m.y.value == 5.0 and m.y.fixed
    assert m.x.value == pytest.approx(2.0, abs=1e-7)
    assert pyo.value(m.obj) == pytest.approx(10.0, abs=1e-6)
    assert m.dual[m.c] == pytest.approx(2.0, abs=1e-6)  # d/db (b - 5 - 1)^2 at b = 7
    # refixing y changes the answer: x >= 7 - 8 = -1 is inactive, x = 1
    m.y.fix(8.0)
    solve(route, m, options=TIGHT)
    assert m.x.value == pytest.approx(1.0, abs=1e-6)


def test_all_variables_fixed_is_an_empty_model():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=2.0)
    m.x.fix()
    m.obj = pyo.Objective(expr=m.x**2 + 1, sense=pyo.maximize)
    m.c = pyo.Constraint(expr=m.x >= 1)
    res = NewSolverFactory("cyipopt_direct").solve(m)
    assert res.termination_condition == TerminationCondition.emptyModel
    assert res.incumbent_objective == pytest.approx(5.0)
    legacy = pyo.SolverFactory("cyipopt_direct").solve(m)
    assert legacy.solver.status == SolverStatus.ok
    assert legacy.solver.termination_condition == LegacyTC.optimal
    m.x.fix(0.0)  # now the constant constraint 0 >= 1 is violated: proven infeasible
    opt = NewSolverFactory("cyipopt_direct")
    with pytest.raises(NoOptimalSolutionError, match="constraint c"):
        opt.solve(m)
    res = opt.solve(m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    assert res.termination_condition == TerminationCondition.provenInfeasible
    assert res.solution_status == SolutionStatus.noSolution
    assert res.incumbent_objective is None
    with pytest.raises(NoSolutionError):
        res.solution_loader.load_vars()


@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_mutable_params_between_solves(route):
    # min (x - p)^2 + (y - q)^2 s.t. x + y <= r: the unconstrained point (p, q) if
    # p + q <= r, else its projection ((p - q + r)/2, (q - p + r)/2)
    m = pyo.ConcreteModel()
    m.p = pyo.Param(initialize=3.0, mutable=True)
    m.q = pyo.Param(initialize=1.0, mutable=True)
    m.r = pyo.Param(initialize=2.0, mutable=True)
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.obj = pyo.Objective(expr=(m.x - m.p) ** 2 + (m.y - m.q) ** 2)
    m.c = pyo.Constraint(expr=m.x + m.y <= m.r)
    opt = (
        pyo.SolverFactory("cyipopt_direct")
        if route == "legacy"
        else NewSolverFactory("cyipopt_direct" if route == "new" else "casadi_ipopt")
    )
    kw = {"options": TIGHT} if route == "legacy" else {"solver_options": TIGHT}
    opt.solve(m, **kw)
    assert (m.x.value, m.y.value) == pytest.approx((2.0, 0.0), abs=1e-6)
    m.p = 0.5  # p + q = 1.5 <= 2: the constraint goes slack
    opt.solve(m, **kw)
    assert (m.x.value, m.y.value) == pytest.approx((0.5, 1.0), abs=1e-6)
    m.r = -1.0  # projection of (0.5, 1) onto x + y <= -1: (-0.75, -0.25)
    opt.solve(m, **kw)
    assert (m.x.value, m.y.value) == pytest.approx((-0.75, -0.25), abs=1e-6)
    assert pyo.value(m.obj) == pytest.approx(1.5625 + 1.5625, abs=1e-7)


def test_objective_in_a_nested_block_and_indexed_blocks():
    # min sum_i (b[i].x - i)^2 with b[i].inner.c: b[i].x <= 1.5 -> x = (1, 1.5, 1.5)
    m = pyo.ConcreteModel()
    m.b = pyo.Block([1, 2, 3])
    for i in (1, 2, 3):
        m.b[i].x = pyo.Var()
        m.b[i].inner = pyo.Block()
        m.b[i].inner.c = pyo.Constraint(expr=m.b[i].x <= 1.5)
    m.sub = pyo.Block()
    m.sub.obj = pyo.Objective(expr=sum((m.b[i].x - i) ** 2 for i in (1, 2, 3)))
    suffixes(m)
    NewSolverFactory("cyipopt_direct").solve(m, solver_options=TIGHT)
    assert [m.b[i].x.value for i in (1, 2, 3)] == pytest.approx([1.0, 1.5, 1.5], abs=1e-6)
    # d/drhs (rhs - i)^2 at rhs = 1.5: 2 (1.5 - i) for the active rows
    assert m.dual[m.b[2].inner.c] == pytest.approx(-1.0, abs=1e-6)
    assert m.dual[m.b[3].inner.c] == pytest.approx(-3.0, abs=1e-6)
    assert m.dual[m.b[1].inner.c] == pytest.approx(0.0, abs=1e-6)


def test_mpec_after_transformation_solves():
    # min (x-1)^2 + (y-1)^2 with 0 <= x complementary to y >= 0: the two local optima
    # are (1, 0) and (0, 1), both with objective 1
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.0)
    m.y = pyo.Var(initialize=0.0)
    m.obj = pyo.Objective(expr=(m.x - 1) ** 2 + (m.y - 1) ** 2)
    m.cc = mpec.Complementarity(expr=mpec.complements(m.x >= 0, m.y >= 0))
    pyo.TransformationFactory("mpec.simple_nonlinear").apply_to(m)
    NewSolverFactory("cyipopt_direct").solve(m, raise_exception_on_nonoptimal_result=False)
    assert pyo.value(m.obj) == pytest.approx(1.0, abs=1e-5)
    assert m.x.value * m.y.value == pytest.approx(0.0, abs=1e-5)


# ---------------------------------------------------------------- dual signs


def _opt_value(build, rhs, route):
    m = build(rhs)
    solve(route, m, options=TIGHT)
    return pyo.value(m.obj)


def _check_dual(build, route, rhs, expected, component):
    m = build(rhs)
    solve(route, m, options=TIGHT)
    got = m.dual[m.c] if component == "dual" else m.rc[m.x]
    assert got == pytest.approx(expected, abs=1e-6)
    h = 1e-3
    fd = (_opt_value(build, rhs + h, route) - _opt_value(build, rhs - h, route)) / (2 * h)
    assert fd == pytest.approx(expected, abs=1e-4)  # the convention: d(optimum)/d(rhs)


def _ge(sense):
    def build(b):
        # min x^2 + y^2 s.t. x + y >= b: x = y = b/2, optimum b^2/2, dual b
        s = 1 if sense == pyo.minimize else -1
        m = pyo.ConcreteModel()
        m.x = pyo.Var()
        m.y = pyo.Var()
        m.obj = pyo.Objective(expr=s * (m.x**2 + m.y**2), sense=sense)
        m.c = pyo.Constraint(expr=m.x + m.y >= b)
        suffixes(m)
        return m

    return build


def _eq(sense):
    def build(b):
        # min x^2 + y^2 s.t. x + 2y == b: (b/5, 2b/5), optimum b^2/5, dual 2b/5
        s = 1 if sense == pyo.minimize else -1
        m = pyo.ConcreteModel()
        m.x = pyo.Var()
        m.y = pyo.Var()
        m.obj = pyo.Objective(expr=s * (m.x**2 + m.y**2), sense=sense)
        m.c = pyo.Constraint(expr=m.x + 2 * m.y == b)
        suffixes(m)
        return m

    return build


def _le_max(b):
    # max x + y s.t. x^2 + y^2 <= b: optimum sqrt(2b), dual 1/sqrt(2b)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.5)
    m.y = pyo.Var(initialize=0.5)
    m.obj = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    m.c = pyo.Constraint(expr=m.x**2 + m.y**2 <= b)
    suffixes(m)
    return m


def _ub(sense):
    def build(u):
        # min (x-3)^2 with x <= u (u < 3): optimum (u-3)^2, rc 2(u-3)
        s = 1 if sense == pyo.minimize else -1
        m = pyo.ConcreteModel()
        m.x = pyo.Var(bounds=(None, u))
        m.obj = pyo.Objective(expr=s * (m.x - 3) ** 2, sense=sense)
        suffixes(m)
        return m

    return build


def _lb(sense):
    def build(lo):
        # min (x+1)^2 with x >= lo (lo > -1): optimum (lo+1)^2, rc 2(lo+1)
        s = 1 if sense == pyo.minimize else -1
        m = pyo.ConcreteModel()
        m.x = pyo.Var(bounds=(lo, None), initialize=lo + 1)
        m.obj = pyo.Objective(expr=s * (m.x + 1) ** 2, sense=sense)
        suffixes(m)
        return m

    return build


DUAL_CASES = {
    "min_ge": (_ge(pyo.minimize), 2.0, 2.0, "dual"),
    "max_ge": (_ge(pyo.maximize), 2.0, -2.0, "dual"),
    "min_eq": (_eq(pyo.minimize), 5.0, 2.0, "dual"),
    "max_eq": (_eq(pyo.maximize), 5.0, -2.0, "dual"),
    "max_le": (_le_max, 2.0, 0.5, "dual"),
    "min_ub": (_ub(pyo.minimize), 1.0, -4.0, "rc"),
    "max_ub": (_ub(pyo.maximize), 1.0, 4.0, "rc"),
    "min_lb": (_lb(pyo.minimize), 2.0, 6.0, "rc"),
    "max_lb": (_lb(pyo.maximize), 2.0, -6.0, "rc"),
}


@pytest.mark.parametrize("case", sorted(DUAL_CASES))
@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_dual_and_rc_signs(case, route):
    build, rhs, expected, component = DUAL_CASES[case]
    _check_dual(build, route, rhs, expected, component)


# ---------------------------------------------------------------- statuses


def _extended_rosenbrock(n: int = 200) -> pyo.ConcreteModel:
    """Slow enough for Ipopt (hundreds of iterations from x = -1.2)."""
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(n)
    m.x = pyo.Var(m.I, initialize=-1.2)
    m.obj = pyo.Objective(
        expr=sum(100 * (m.x[i + 1] - m.x[i] ** 2) ** 2 + (1 - m.x[i]) ** 2 for i in range(1, n))
    )
    return m


def _infeasible() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.0)
    m.lo = pyo.Constraint(expr=m.x >= 2)
    m.hi = pyo.Constraint(expr=m.x <= 1)
    m.obj = pyo.Objective(expr=m.x**2)
    return m


def test_max_iter_new_api(hs071):
    with pytest.raises(NoOptimalSolutionError, match="Maximum_Iterations_Exceeded"):
        NewSolverFactory("cyipopt_direct").solve(hs071, solver_options={"max_iter": 1})
    opt = NewSolverFactory("cyipopt_direct")
    with pytest.raises(NoSolutionError):  # the iterate violates the constraints
        opt.solve(hs071, solver_options={"max_iter": 1}, raise_exception_on_nonoptimal_result=False)
    res = opt.solve(
        hs071,
        solver_options={"max_iter": 1},
        raise_exception_on_nonoptimal_result=False,
        load_solutions=False,
    )
    assert res.termination_condition == TerminationCondition.iterationLimit
    assert res.solution_status == SolutionStatus.noSolution  # an infeasible iterate is no solution
    assert res.incumbent_objective is None  # Pyomo's contract: only feasible points have one
    assert res.extra_info.iteration_count == 1
    assert res.extra_info.ipopt_status == -1


@pytest.mark.parametrize("route", ["legacy", "casadi_legacy"])
def test_max_iter_legacy(route, hs071):
    res = solve(route, hs071, options={"max_iter": "1"})
    assert res.solver.termination_condition == LegacyTC.maxIterations
    assert res.solver.status != SolverStatus.ok
    assert res.solver.termination_condition != LegacyTC.optimal
    assert res.solver.iterations == 1
    with pytest.raises(NoOptimalSolutionError):
        solve(route, hs071, options={"max_iter": 1}, raise_exception_on_nonoptimal_result=True)


@pytest.mark.parametrize("route", ["new", "casadi"])
def test_infeasible_new_api(route):
    m = _infeasible()
    res = solve(route, m, raise_exception_on_nonoptimal_result=False, load_solutions=False)
    # linear constraints: the phase-1 LP proves what Ipopt found locally
    assert res.termination_condition == TerminationCondition.provenInfeasible
    assert res.solution_status == SolutionStatus.noSolution
    assert res.incumbent_objective is None
    with pytest.raises(NoSolutionError):
        res.solution_loader.load_vars()
    with pytest.raises(NoOptimalSolutionError):
        solve(route, _infeasible())


def test_infeasible_legacy():
    res = pyo.SolverFactory("cyipopt_direct").solve(_infeasible())
    assert res.solver.termination_condition == LegacyTC.infeasible
    assert res.solver.status != SolverStatus.ok


@pytest.mark.parametrize("route", ["new", "casadi"])
def test_time_limit_new_api(route):
    res = solve(
        route,
        _extended_rosenbrock(),
        time_limit=1e-3,
        raise_exception_on_nonoptimal_result=False,
        load_solutions=False,
    )
    assert res.termination_condition == TerminationCondition.maxTimeLimit
    assert res.solution_status != SolutionStatus.optimal


def test_timelimit_legacy():
    res = pyo.SolverFactory("cyipopt_direct").solve(_extended_rosenbrock(), timelimit=1e-3)
    assert res.solver.termination_condition == LegacyTC.maxTimeLimit
    assert res.solver.status == SolverStatus.aborted


@pytest.mark.parametrize("route", ["legacy", "new", "casadi", "casadi_legacy"])
def test_invalid_option_is_an_error(route, hs071, capfd):
    x0 = [v.value for v in hs071.x.values()]
    with pytest.raises((ValueError, RuntimeError), match="no_such_option"):
        solve(route, hs071, options={"no_such_option": 3})
    assert [v.value for v in hs071.x.values()] == x0


@pytest.mark.parametrize("route", ["legacy", "new"])
def test_invalid_option_value_is_an_error(route, hs071):
    # a user-input error: the command line prints it as one line, exit code 2
    with pytest.raises(SolverOptionError, match="mu_strategy"):
        solve(route, hs071, options={"mu_strategy": "no_such_strategy"})


# ---------------------------------------------------------------- options and logs

OPTION_LOG = {"tol": "1e-9", "max_iter": "500", "print_user_options": "yes"}


def _user_options(log: str) -> dict[str, str]:
    """Ipopt's 'List of user-set options' table: name -> value as printed."""
    return dict(re.findall(r"^\s*(\w+) = (\S+)\s+yes\s*$", log, flags=re.MULTILINE))


def test_string_options_reach_ipopt_new_api(hs071):
    res = NewSolverFactory("cyipopt_direct").solve(hs071, solver_options=OPTION_LOG)
    opts = _user_options(res.solver_log)
    assert float(opts["tol"]) == 1e-9
    assert opts["max_iter"] == "500"


def test_default_mumps_ordering_and_user_override(hs071):
    """AMD unless the user chooses: the wheel's MUMPS has no METIS (see default_options)."""
    res = NewSolverFactory("cyipopt_direct").solve(
        hs071, solver_options={"print_user_options": "yes"}
    )
    assert _user_options(res.solver_log)["mumps_pivot_order"] == "0"
    res = NewSolverFactory("cyipopt_direct").solve(
        hs071, solver_options={"print_user_options": "yes", "mumps_pivot_order": 7}
    )
    assert _user_options(res.solver_log)["mumps_pivot_order"] == "7"
    res = NewSolverFactory("casadi_ipopt").solve(
        hs071, solver_options={"print_user_options": "yes"}
    )
    casadi_options = _user_options(res.solver_log)
    assert casadi_options["print_user_options"] == "yes"
    assert "mumps_pivot_order" not in casadi_options


def test_string_options_reach_ipopt_legacy(hs071, capfd):
    pyo.SolverFactory("cyipopt_direct").solve(hs071, options=OPTION_LOG, tee=True)
    opts = _user_options(capfd.readouterr().out)
    assert float(opts["tol"]) == 1e-9
    assert opts["max_iter"] == "500"


def test_options_set_on_the_legacy_solver_object(hs071):
    opt = pyo.SolverFactory("cyipopt_direct", options={"max_iter": "2"})
    res = opt.solve(hs071)
    assert res.solver.iterations == 2
    opt.options["max_iter"] = "3"
    res = opt.solve(hs071)
    assert res.solver.iterations == 3
    res = opt.solve(hs071, solver_options={"max_iter": "500"})
    assert res.solver.termination_condition == LegacyTC.optimal


@pytest.mark.parametrize("route", ["new", "casadi"])
def test_tee_streams_the_log_and_solver_log_keeps_it(route, hs071, capfd):
    res = solve(route, hs071, tee=True)
    out = capfd.readouterr().out
    assert "EXIT: Optimal Solution Found" in out
    assert "EXIT: Optimal Solution Found" in res.solver_log
    assert "iter    objective" in res.solver_log


@pytest.mark.parametrize("route", ["new", "casadi"])
def test_quiet_solve_still_records_the_log(route, hs071, capfd):
    res = solve(route, hs071)
    out = capfd.readouterr().out
    assert "EXIT:" not in out
    assert "EXIT: Optimal Solution Found" in res.solver_log


def test_tee_legacy(hs071, capfd):
    pyo.SolverFactory("cyipopt_direct").solve(hs071, tee=True)
    assert "EXIT: Optimal Solution Found" in capfd.readouterr().out


def test_results_extra_info(hs071):
    res = NewSolverFactory("cyipopt_direct").solve(hs071)
    info = res.extra_info
    assert info.ipopt_status == 0
    assert info.ipopt_message == "Solve_Succeeded"
    assert info.n_variables == 4
    assert info.n_constraints == 2
    assert info.primal_infeasibility <= 1e-6
    assert info.build_time >= 0 and info.solve_time >= 0
    assert res.timing_info.wall_time >= info.solve_time
    # the iteration count agrees with Ipopt's own report
    reported = re.search(r"Number of Iterations\.+: (\d+)", res.solver_log)
    assert reported and int(reported.group(1)) == res.extra_info.iteration_count


# ---------------------------------------------------------------- warm start

WARM_OPTS = {"mu_init": 1e-8}


def _warm_model(p: float = 1.0, n: int = 100) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(n)
    m.x = pyo.Var(m.I, bounds=(0, None), initialize=1.0)
    m.p = pyo.Param(initialize=p, mutable=True)
    m.obj = pyo.Objective(expr=sum((m.x[i] - i / n) ** 2 + m.x[i] ** 4 for i in m.I))
    m.c = pyo.Constraint(m.I, rule=lambda m, i: m.x[i] + m.x[i % n + 1] >= m.p)
    suffixes(m)
    return m


@pytest.mark.parametrize("route", ["new", "casadi"])
def test_warm_start_from_primal_and_duals_is_faster(route):
    name = "cyipopt_direct" if route == "new" else "casadi_ipopt"
    opt = NewSolverFactory(name)
    cold = opt.solve(_warm_model(p=1.02), solver_options=WARM_OPTS)

    m = _warm_model(p=1.0)
    opt.solve(m, solver_options=WARM_OPTS)
    assert len(m.dual) == 100 and len(m.rc) == 100
    m.p = 1.02
    primal_only = opt.solve(m.clone(), solver_options=WARM_OPTS)
    warm = opt.solve(m, solver_options=WARM_OPTS, warm_start_multipliers=True)

    assert warm.incumbent_objective == pytest.approx(cold.incumbent_objective, rel=1e-7)
    assert warm.extra_info.iteration_count < cold.extra_info.iteration_count
    assert warm.extra_info.iteration_count < primal_only.extra_info.iteration_count


def test_legacy_warmstart_keyword():
    opt = pyo.SolverFactory("cyipopt_direct")
    assert opt.warm_start_capable()
    cold = opt.solve(_warm_model(p=1.02), options=WARM_OPTS)
    m = _warm_model(p=1.0)
    opt.solve(m, options=WARM_OPTS)
    m.p = 1.02
    warm = opt.solve(m, options=WARM_OPTS, warmstart=True)
    assert warm.solver.iterations < cold.solver.iterations
    assert opt.config.warm_start_multipliers is False  # only for that call


# ---------------------------------------------------------------- refused models


def _integer(m):
    m.x = pyo.Var(within=pyo.Integers, initialize=1)
    m.obj = pyo.Objective(expr=(m.x - 0.5) ** 2)


def _binary(m):
    m.x = pyo.Var(initialize=0.0)
    m.flag = pyo.Var(within=pyo.Binary, initialize=0)
    m.obj = pyo.Objective(expr=m.x**2)
    m.link = pyo.Constraint(expr=m.x + m.flag >= 1)


def _expr_if(m):
    m.x = pyo.Var(initialize=0.0)
    m.obj = pyo.Objective(expr=pyo.Expr_if(IF=m.x >= 0, THEN=m.x**2, ELSE=m.x))


def _external(m):
    m.x = pyo.Var(initialize=0.0)
    m.f = pyo.ExternalFunction(library="no_such_library.so", function="f")
    m.obj = pyo.Objective(expr=m.x**2)
    m.uses_f = pyo.Constraint(expr=m.f(m.x) <= 1)


def _two_objectives(m):
    m.x = pyo.Var(initialize=0.0)
    m.first = pyo.Objective(expr=m.x**2)
    m.second = pyo.Objective(expr=(m.x - 1) ** 2)


def _complementarity(m):
    m.x = pyo.Var(initialize=0.0)
    m.y = pyo.Var(initialize=0.0)
    m.obj = pyo.Objective(expr=(m.x - 1) ** 2 + (m.y - 1) ** 2)
    m.sub = pyo.Block()
    m.sub.cc = mpec.Complementarity(expr=mpec.complements(m.x >= 0, m.y >= 0))


REFUSED = {
    "integer": (_integer, r"variable x is integer"),
    "binary": (_binary, r"constraint link: variable flag is integer or binary"),
    "expr_if": (_expr_if, r"objective obj: Expr_if"),
    "external": (_external, r"constraint uses_f: an external function"),
    "two_objectives": (_two_objectives, r"2 active objectives \(first, second\)"),
    "complementarity": (_complementarity, r"sub\.cc \(Complementarity\)"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_refused_models_name_the_component(case, route, monkeypatch):
    build, pattern = REFUSED[case]
    runs = []

    def no_run(self, *args, **kwds):  # pragma: no cover - must not be reached
        runs.append(1)
        raise AssertionError("Ipopt was started")

    monkeypatch.setattr(CyIpoptDirect, "_run_ipopt", no_run)
    from pyomo_llmprice.solvers.casadi_ipopt import CasadiIpopt

    monkeypatch.setattr(CasadiIpopt, "_run_ipopt", no_run)
    m = pyo.ConcreteModel()
    build(m)
    with pytest.raises(UnsupportedModelError, match=pattern):
        solve(route, m)
    assert runs == []


class _OptionRecorder:
    def __init__(self) -> None:
        self.options: dict = {}

    def add_option(self, name, val) -> None:
        self.options[name] = val


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
def test_warm_start_multipliers_round_trip(sense, monkeypatch):
    """dual/rc loaded from a solve convert back to exactly Ipopt's own multipliers."""
    from pyomo_llmprice.solvers.config import CyIpoptConfig
    from pyomo_llmprice.solvers.evaluator import NLPEvaluator

    raw = {}
    original = CyIpoptDirect._run_ipopt

    def recording(self, model, ev, config):
        sol = original(self, model, ev, config)
        raw.update(sol)
        return sol

    monkeypatch.setattr(CyIpoptDirect, "_run_ipopt", recording)
    # min (x-3)^2 + (y-1)^2 + (z+2)^2, x <= 1 (upper bound), z >= 0 (lower bound),
    # x + y >= 4 (active): all three kinds of multiplier are nonzero
    s = 1 if sense == pyo.minimize else -1
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(None, 1))
    m.y = pyo.Var()
    m.z = pyo.Var(bounds=(0, None))
    m.obj = pyo.Objective(expr=s * ((m.x - 3) ** 2 + (m.y - 1) ** 2 + (m.z + 2) ** 2), sense=sense)
    m.c = pyo.Constraint(expr=m.x + m.y >= 4)
    suffixes(m)
    NewSolverFactory("cyipopt_direct").solve(m, solver_options=TIGHT)
    # closed form: x = 1, y = 3, z = 0; dual(c) = d/db (b-1-1)^2 = 2(4-2) = 4 (min),
    # rc(x) = d/du [(u-3)^2 + (4-u-1)^2] = 2(u-3) - 2(3-u) = -8 at u = 1, rc(z) = 2(0+2) = 4
    assert (m.x.value, m.y.value, m.z.value) == pytest.approx((1.0, 3.0, 0.0), abs=1e-6)
    assert m.dual[m.c] == pytest.approx(4.0 * s, abs=1e-6)
    assert m.rc[m.x] == pytest.approx(-8.0 * s, abs=1e-6)
    assert m.rc[m.z] == pytest.approx(4.0 * s, abs=1e-6)

    ev = NLPEvaluator(m)
    config = CyIpoptConfig()(value={"warm_start_multipliers": True})
    sink = _OptionRecorder()
    lam, zl, zu = CyIpoptDirect._warm_start(m, ev, config, sink)
    assert sink.options == {"warm_start_init_point": "yes"}
    assert lam == pytest.approx(list(raw["mult_g"]), abs=1e-8)
    assert zl == pytest.approx(list(raw["mult_x_L"]), abs=1e-8)
    assert zu == pytest.approx(list(raw["mult_x_U"]), abs=1e-8)


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
def test_casadi_warm_start_passes_the_multipliers_back(sense, monkeypatch):
    """casadi_ipopt hands nlpsol the multipliers it returned, with warm_start_init_point."""
    import casadi
    import numpy as np

    real = casadi.nlpsol
    calls = []

    class Recorder:
        def __init__(self, solver, opts):
            self.solver = solver
            self.opts = opts

        def __call__(self, **args):
            out = self.solver(**args)
            calls.append((self.opts, args, {k: np.asarray(v).ravel() for k, v in out.items()}))
            return out

        def stats(self):
            return self.solver.stats()

    def nlpsol(name, plugin, problem, opts):
        return Recorder(real(name, plugin, problem, opts), dict(opts))

    monkeypatch.setattr(casadi, "nlpsol", nlpsol)
    s = 1 if sense == pyo.minimize else -1
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(None, 1))
    m.y = pyo.Var()
    m.z = pyo.Var(bounds=(0, None))
    m.obj = pyo.Objective(expr=s * ((m.x - 3) ** 2 + (m.y - 1) ** 2 + (m.z + 2) ** 2), sense=sense)
    m.c = pyo.Constraint(expr=m.x + m.y >= 4)
    suffixes(m)
    opt = NewSolverFactory("casadi_ipopt")
    opt.solve(m, solver_options=TIGHT)
    assert m.rc[m.x] == pytest.approx(-8.0 * s, abs=1e-6)  # see the round-trip test above
    opt.solve(m, solver_options=TIGHT, warm_start_multipliers=True)
    (opts1, _, out1), (opts2, args2, _) = calls
    assert "ipopt.warm_start_init_point" not in opts1
    assert opts2["ipopt.warm_start_init_point"] == "yes"
    np.testing.assert_allclose(np.ravel(args2["lam_g0"]), out1["lam_g"], atol=1e-8)
    np.testing.assert_allclose(np.ravel(args2["lam_x0"]), out1["lam_x"], atol=1e-8)


def test_deep_expression_solves():
    # min x0 + sum over a 5000-deep chain of 0.001 (x_k - 1)^2 (k = i mod 5):
    # = x0 + sum_k (x_k - 1)^2: 1 + 2 (x0 - 1) = 0 gives x0 = 0.5, x1..x4 = 1,
    # optimum 0.5 + 0.25
    from pyomo.core.expr import numeric_expr as ne

    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(5), initialize=0.0)
    e = m.x[0]
    for i in range(5000):
        e = ne.SumExpression([e, 0.001 * (m.x[i % 5] - 1) ** 2])
    m.obj = pyo.Objective(expr=e)
    res = NewSolverFactory("cyipopt_direct").solve(m, solver_options=TIGHT)
    assert res.incumbent_objective == pytest.approx(0.75, abs=1e-9)
    assert [m.x[i].value for i in range(5)] == pytest.approx([0.5, 1, 1, 1, 1], abs=1e-7)


def test_solver_availability_and_version():
    opt = pyo.SolverFactory("cyipopt_direct")
    assert opt.available()
    assert opt.license_is_valid()
    assert len(opt.version()) >= 3
    assert NewSolverFactory("casadi_ipopt").available()


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
@pytest.mark.parametrize("route", ["legacy", "new", "casadi"])
def test_objective_scaling_suffix_leaves_duals_unscaled(route, sense):
    # min x^2 + y^2, y <= 0.5, x + y >= b (b = 3): y = 0.5, x = 2.5, optimum 6.5;
    # dual = d/db [(b - 0.5)^2 + 0.25] = 5, rc(y) = d/du [(3 - u)^2 + u^2] = -4 at u = 0.5
    s = 1 if sense == pyo.minimize else -1
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var(bounds=(None, 0.5))
    m.obj = pyo.Objective(expr=s * (m.x**2 + m.y**2), sense=sense)
    m.c = pyo.Constraint(expr=m.x + m.y >= 3)
    suffixes(m)
    m.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
    m.scaling_factor[m.obj] = 10.0
    solve(route, m, options=TIGHT)
    assert pyo.value(m.obj) == pytest.approx(6.5 * s, abs=1e-7)
    assert m.dual[m.c] == pytest.approx(5.0 * s, abs=1e-6)
    assert m.rc[m.y] == pytest.approx(-4.0 * s, abs=1e-6)
