"""``casadi_ipopt``: CasADi's graph of the compiled model and its closed-form optima.

The CasADi route gets the evaluator's own constraint Jacobian (nlpsol's ``jac_g``, and
a custom Jacobian over the mapped row kernels), objective gradient and Hessian
(``hess_lag``); all must equal the evaluator's callbacks, which test_evaluator_unit.py
checks against finite differences.
"""

from __future__ import annotations

import math

import casadi as ca
import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.contrib.solver.common.results import TerminationCondition

from pyomo_llmprice.solvers.casadi_ipopt import CasadiIpopt
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.solvers.evaluator import NLPEvaluator

TIGHT = {"tol": 1e-10, "bound_relax_factor": 0.0}


def screening(theta, prob, cost, shared: bool) -> pyo.ConcreteModel:
    """All-pairs screening with value theta_i (1 - exp(-q)) and unit cost `cost`."""
    n = len(theta)
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    m.q = pyo.Var(m.I, bounds=(0, None), initialize=1.0)
    m.t = pyo.Var(m.I, initialize=0.0)
    if shared:
        m.u = pyo.Expression(m.I, rule=lambda m, j: 1 - pyo.exp(-m.q[j]))

        def v(m, i, j):
            return theta[i] * m.u[j]

    else:

        def v(m, i, j):
            return theta[i] * (1 - pyo.exp(-m.q[j]))

    m.ir = pyo.Constraint(m.I, rule=lambda m, i: v(m, i, i) - m.t[i] >= 0)
    m.ic = pyo.Constraint(
        m.I,
        m.I,
        rule=lambda m, i, j: (
            pyo.Constraint.Skip if i == j else v(m, i, i) - m.t[i] >= v(m, i, j) - m.t[j]
        ),
    )
    m.obj = pyo.Objective(
        expr=sum(prob[i] * (m.t[i] - cost * m.q[i]) for i in m.I), sense=pyo.maximize
    )
    return m


def mixed_model() -> pyo.ConcreteModel:
    """Mapped rows (one shape, 8 copies), rare rows and a maximized objective."""
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, 7)
    m.x = pyo.Var(m.I, initialize=lambda _, i: 0.4 + 0.1 * i)
    m.y = pyo.Var(initialize=0.7)
    m.c = pyo.Constraint(
        m.I, rule=lambda m, i: m.x[i] * pyo.exp(m.x[(i + 1) % 8]) - m.y**2 <= 3 + 0.1 * i
    )
    m.rare = pyo.Constraint(expr=pyo.sin(m.y) * m.x[0] / m.x[3] >= -2)
    m.eq = pyo.Constraint(expr=m.x[1] + m.x[2] ** 3 == m.y)
    m.obj = pyo.Objective(expr=-sum((m.x[i] - 0.1 * i) ** 2 for i in m.I) - m.y**4, sense=-1)
    return m


@pytest.mark.parametrize(
    "build", [mixed_model, lambda: screening([1, 1.5, 2, 3], [0.25] * 4, 0.1, True)]
)
def test_casadi_graph_derivatives_equal_the_evaluator(build):
    ev = NLPEvaluator(build())
    x, f, g = ev.casadi_problem()
    lam = ca.MX.sym("lam", ev.m)
    sigma = ca.MX.sym("sigma")
    jac = ca.Function("jac_g", [x], [ca.jacobian(g, x)])
    hess = ca.Function("hess_l", [x, lam, sigma], [ca.hessian(sigma * f + ca.dot(lam, g), x)[0]])
    rng = np.random.default_rng(3)
    for _ in range(3):
        z = ev.x0 + 0.2 * rng.uniform(0.1, 1.0, ev.n)
        lv = rng.uniform(-2, 2, ev.m)
        dense_j = np.zeros((ev.m, ev.n))
        rows, cols = ev.jacobianstructure()
        dense_j[rows, cols] = ev.jacobian(z)
        np.testing.assert_allclose(jac(z).full(), dense_j, rtol=1e-12, atol=1e-12)
        dense_h = np.zeros((ev.n, ev.n))
        rows, cols = ev.hessianstructure()
        dense_h[rows, cols] = ev.hessian(z, lv, 0.7)
        dense_h = dense_h + np.tril(dense_h, -1).T
        np.testing.assert_allclose(hess(z, lv, 0.7).full(), dense_h, rtol=1e-12, atol=1e-12)
        assert float(ca.Function("obj", [x], [f])(z)) == pytest.approx(ev.objective(z), rel=1e-14)
        np.testing.assert_allclose(
            ca.Function("cons", [x], [g])(z).full().ravel(), ev.constraints(z), rtol=1e-14
        )


@pytest.mark.parametrize("shared", [True, False])
def test_two_type_saturating_screening_closed_form(shared):
    # model.md section 5: theta = (1, 2), f = (0.6, 0.4), c = 0.1, value theta (1 - e^-q):
    # q_L = ln(10/3), q_H = ln 20, t = (0.7, 1.2), profit 0.6 (0.7 - 0.1 q_L) + 0.4 (1.2 - 0.1 q_H)
    m = screening([1.0, 2.0], [0.6, 0.4], 0.1, shared)
    res = CasadiIpopt().solve(m, solver_options=TIGHT)
    assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    q_low, q_high = math.log(10 / 3), math.log(20)
    profit = 0.6 * (0.7 - 0.1 * q_low) + 0.4 * (1.2 - 0.1 * q_high)
    assert res.incumbent_objective == pytest.approx(profit, rel=1e-8)
    assert pyo.value(m.q[0]) == pytest.approx(q_low, rel=1e-6)
    assert pyo.value(m.q[1]) == pytest.approx(q_high, rel=1e-6)
    assert pyo.value(m.t[0]) == pytest.approx(0.7, rel=1e-7)
    assert pyo.value(m.t[1]) == pytest.approx(1.2, rel=1e-7)


def test_both_routes_reach_the_same_all_pairs_optimum():
    """Twelve types: CasADi's Ipopt and cyipopt's agree on the optimum of one problem."""
    theta = np.linspace(1.0, 2.0, 12).tolist()
    prob = [1 / 12] * 12
    m = screening(theta, prob, 0.3, True)
    casadi = CasadiIpopt().solve(m, solver_options=TIGHT)
    cy = CyIpoptDirect().solve(screening(theta, prob, 0.3, False), solver_options=TIGHT)
    for res in (casadi, cy):
        assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    assert casadi.incumbent_objective == pytest.approx(cy.incumbent_objective, rel=1e-9)


def test_casadis_blas_runs_on_one_thread_during_a_solve_and_as_before_after() -> None:
    """MUMPS's fronts here are tiny; BLAS threads would only spin. The setting is the
    solve's own: the thread count a user set is back afterwards, even after an error."""
    from pyomo_llmprice.solvers.casadi_ipopt import _casadi_openblas, _one_blas_thread

    lib = _casadi_openblas()
    if lib is None:
        pytest.skip("this CasADi wheel ships no separate OpenBLAS")
    before = lib.openblas_get_num_threads()
    lib.openblas_set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), _one_blas_thread():
            assert lib.openblas_get_num_threads() == 1
            raise RuntimeError("inside the solve")
        assert lib.openblas_get_num_threads() == 2
    finally:
        lib.openblas_set_num_threads(before)
