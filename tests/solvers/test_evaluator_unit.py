"""The evaluator's callbacks against Pyomo's own values and central finite differences.

No Ipopt run here: models are compiled with :class:`NLPEvaluator` and its callbacks
(objective, gradient, constraints, sparse Jacobian, lower-triangle Hessian of the
Lagrangian) are checked on randomly generated expressions that use every supported
operator.
"""

from __future__ import annotations

import math
import random
import sys

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyomo.core.expr import numeric_expr as ne

from pyomo_llmprice.solvers.evaluator import NLPEvaluator, UnsupportedModelError

# ---------------------------------------------------------------- helpers


def _set_x(ev: NLPEvaluator, x: np.ndarray) -> None:
    for v, val in zip(ev.variables, x, strict=True):
        v.set_value(float(val), skip_validation=True)


def _dense_jacobian(ev: NLPEvaluator, x: np.ndarray) -> np.ndarray:
    rows, cols = ev.jacobianstructure()
    vals = ev.jacobian(x)
    assert len(rows) == len(cols) == len(vals) == ev.nnz_jac
    pairs = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(pairs) == len(rows), "duplicate Jacobian structure entries"
    jac = np.zeros((ev.m, ev.n))
    jac[rows, cols] = vals
    return jac


def _dense_hessian(ev: NLPEvaluator, x: np.ndarray, lam: np.ndarray, sigma: float) -> np.ndarray:
    rows, cols = ev.hessianstructure()
    vals = ev.hessian(x, lam, sigma)
    assert len(rows) == len(cols) == len(vals) == ev.nnz_hess
    assert np.all(rows >= cols), "Hessian structure must be the lower triangle"
    pairs = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(pairs) == len(rows), "duplicate Hessian structure entries"
    hess = np.zeros((ev.n, ev.n))
    hess[rows, cols] = vals
    return hess + np.tril(hess, -1).T


def _steps(x: np.ndarray) -> np.ndarray:
    return 1e-6 * np.maximum(1.0, np.abs(x))


def _fd_gradient(fun, x: np.ndarray) -> np.ndarray:
    """Central differences of a scalar or vector function; one column per variable."""
    cols = []
    for i, h in enumerate(_steps(x)):
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        cols.append((np.asarray(fun(xp), float) - np.asarray(fun(xm), float)) / (2 * h))
    return np.array(cols).T


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float = 1e-5):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_callbacks(model: pyo.ConcreteModel, seed: int = 0, points: int = 2) -> NLPEvaluator:
    """Compile `model` and check all callbacks at its current point and nearby points."""
    ev = NLPEvaluator(model)
    obj = ev.objective_data
    cons = ev.constraint_list
    rng = np.random.default_rng(seed)
    x0 = np.array([v.value for v in ev.variables], float)
    for k in range(points):
        x = x0 if k == 0 else x0 + 1e-3 * rng.standard_normal(ev.n)
        # values against Pyomo's own evaluation (all constraints here have one row)
        _set_x(ev, x)
        expected_f = ev.obj_sign * pyo.value(obj.expr)
        expected_g = np.array([pyo.value(c.body) for c in cons], float)
        assert ev.objective(x) == pytest.approx(expected_f, rel=1e-10, abs=1e-10)
        if ev.m:
            np.testing.assert_allclose(ev.constraints(x), expected_g, rtol=1e-10, atol=1e-10)
        # first derivatives against central differences of the callbacks
        _assert_close(ev.gradient(x), _fd_gradient(ev.objective, x), "gradient")
        if ev.m:
            _assert_close(
                _dense_jacobian(ev, x),
                _fd_gradient(ev.constraints, x).reshape(ev.m, ev.n),
                "jacobian",
            )
        # Hessian of the Lagrangian against differences of its (checked) gradient
        lam = rng.uniform(-2.0, 2.0, ev.m)
        sigma = float(rng.uniform(0.1, 2.0))

        def lagrangian_gradient(z, lam=lam, sigma=sigma):
            g = sigma * ev.gradient(z)
            if ev.m:
                g = g + _dense_jacobian(ev, z).T @ lam
            return g

        _assert_close(
            _dense_hessian(ev, x, lam, sigma), _fd_gradient(lagrangian_gradient, x), "hessian"
        )
    _set_x(ev, x0)
    return ev


# ---------------------------------------------------------------- random expressions

UNARY_DOMAINS = {  # interval the argument is shifted into (keeps every function smooth)
    "exp": (-1.5, 1.5),
    "log": (0.3, 3.0),
    "log10": (0.3, 3.0),
    "sqrt": (0.3, 3.0),
    "sin": (-3.0, 3.0),
    "cos": (-3.0, 3.0),
    "tan": (-1.0, 1.0),
    "asin": (-0.7, 0.7),
    "acos": (-0.7, 0.7),
    "atan": (-3.0, 3.0),
    "sinh": (-2.0, 2.0),
    "cosh": (-2.0, 2.0),
    "tanh": (-2.0, 2.0),
    "asinh": (-3.0, 3.0),
    "acosh": (1.3, 3.0),
    "atanh": (-0.7, 0.7),
    "abs": (0.3, 2.0),  # sign chosen at random below: abs is smooth away from 0
}
OPERATORS = [
    "+", "-", "*", "/", "pow_const", "pow_var", "pow_mutable", "pow_immutable",
    "pow_const_base", "neg", "named", *UNARY_DOMAINS,
]  # fmt: skip
UNARY_FUNCS = {
    "exp": pyo.exp, "log": pyo.log, "log10": pyo.log10, "sqrt": pyo.sqrt, "sin": pyo.sin,
    "cos": pyo.cos, "tan": pyo.tan, "asin": pyo.asin, "acos": pyo.acos, "atan": pyo.atan,
    "sinh": pyo.sinh, "cosh": pyo.cosh, "tanh": pyo.tanh, "asinh": pyo.asinh,
    "acosh": pyo.acosh, "atanh": pyo.atanh, "abs": abs,
}  # fmt: skip


class ExprGen:
    """Random Pyomo expressions over a model with nested/indexed blocks and data.

    Each operator's argument is shifted by a data leaf (a number, a mutable Param,
    an immutable Param or a fixed variable) so that, at the current variable values,
    it lies inside the operator's smooth domain.
    """

    def __init__(self, rnd: random.Random, n_vars: int = 5) -> None:
        self.rnd = rnd
        m = self.m = pyo.ConcreteModel()
        # variables live in the model, an indexed block and a block nested in it
        m.x = pyo.Var(range(n_vars), initialize=lambda _, i: rnd.uniform(-1.0, 1.0))
        m.b = pyo.Block([1, 2])
        for i in (1, 2):
            m.b[i].y = pyo.Var(initialize=rnd.uniform(-1.0, 1.0))
            m.b[i].inner = pyo.Block()
            m.b[i].inner.z = pyo.Var([0, 1], initialize=lambda _, j: rnd.uniform(-1.0, 1.0))
        m.fixed = pyo.Var([0, 1], initialize=lambda _, j: rnd.uniform(0.5, 1.5))
        m.fixed.fix()
        m.e = pyo.Expression(pyo.Any)
        m.pm = pyo.Param(pyo.Any, mutable=True, dense=False, initialize={})
        self.leaves = [m.x[i] for i in m.x] + [
            v for i in (1, 2) for v in (m.b[i].y, m.b[i].inner.z[0], m.b[i].inner.z[1])
        ]
        self.counter = 0
        self.used: set[str] = set()

    def _new_name(self) -> int:
        self.counter += 1
        return self.counter

    def data(self, val: float):
        """A data leaf with value `val`, in one of the data forms Pyomo offers."""
        kind = self.rnd.choice(["number", "mutable", "immutable", "fixed"])
        self.used.add("data_" + kind)
        m = self.m
        if kind == "number":
            return val
        if kind == "mutable":
            k = self._new_name()
            m.pm[k] = val
            return m.pm[k]
        if kind == "immutable":
            name = f"q{self._new_name()}"
            m.add_component(name, pyo.Param(initialize=val, mutable=False))
            return m.component(name)
        v = m.fixed[self.rnd.choice([0, 1])]
        return val - v.value + v  # a fixed variable inside the expression

    def shifted(self, expr, lo: float, hi: float):
        """expr + c with c chosen so that the result lies in [lo, hi] at the current point."""
        target = self.rnd.uniform(lo, hi)
        return expr + self.data(target - pyo.value(expr))

    def expr(self, depth: int):
        rnd = self.rnd
        if depth == 0 or rnd.random() < 0.15:
            return rnd.choice(self.leaves)
        op = rnd.choice(OPERATORS)
        self.used.add(op)
        a = self.expr(depth - 1)
        if op == "+":
            return a + self.expr(depth - 1)
        if op == "-":
            return a - self.expr(depth - 1)
        if op == "*":
            return a * self.expr(depth - 1)
        if op == "/":
            sign = rnd.choice([-1.0, 1.0])
            return a / (sign * self.shifted(self.expr(depth - 1), 0.5, 2.0))
        if op == "pow_const":
            p = rnd.choice([2, 3, -1, 0.5, 1.5, -0.5, 1])
            if p in (2, 3, 1):
                return self.shifted(a, -2.0, 2.0) ** p
            return self.shifted(a, 0.5, 2.0) ** p
        if op == "pow_var":  # variable base and variable exponent
            return self.shifted(a, 0.5, 2.0) ** self.shifted(self.expr(depth - 1), -1.5, 1.5)
        if op == "pow_mutable":
            k = self._new_name()
            self.m.pm[k] = rnd.uniform(-1.5, 2.5)
            return self.shifted(a, 0.5, 2.0) ** self.m.pm[k]
        if op == "pow_immutable":
            name = f"q{self._new_name()}"
            self.m.add_component(name, pyo.Param(initialize=rnd.uniform(-1.5, 2.5)))
            return self.shifted(a, 0.5, 2.0) ** self.m.component(name)
        if op == "pow_const_base":
            return rnd.uniform(0.5, 3.0) ** self.shifted(a, -1.5, 1.5)
        if op == "neg":
            return -a
        if op == "named":
            k = self._new_name()
            self.m.e[k] = a
            return self.m.e[k]
        lo, hi = UNARY_DOMAINS[op]
        arg = self.shifted(a, lo, hi)
        if op == "abs" and rnd.random() < 0.5:
            arg = -arg
        return UNARY_FUNCS[op](arg)

    def build(self, n_cons: int, depth: int, maximize: bool) -> pyo.ConcreteModel:
        m = self.m
        m.obj = pyo.Objective(
            expr=self.expr(depth), sense=pyo.maximize if maximize else pyo.minimize
        )
        m.c = pyo.ConstraintList()
        for _ in range(n_cons):
            body = self.expr(depth)
            kind = self.rnd.choice(["le", "ge", "eq", "range"])
            if kind == "le":
                m.c.add(body <= 1.0)
            elif kind == "ge":
                m.c.add(body >= self.data(-1.0))
            elif kind == "eq":
                m.c.add(body == 0.5)
            else:
                m.c.add(pyo.inequality(-1.0, body, 2.0))
        # the same constraints again inside a nested block: block descent
        m.b[2].inner.c = pyo.Constraint(expr=self.expr(depth) <= 3.0)
        return m


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rnd=st.randoms(use_true_random=False), maximize=st.booleans())
def test_random_expressions_match_finite_differences(rnd, maximize):
    gen = ExprGen(rnd)
    model = gen.build(n_cons=4, depth=4, maximize=maximize)
    if not any(True for _ in model.component_data_objects(pyo.Var, active=True)):
        return
    try:
        NLPEvaluator(model)
    except UnsupportedModelError as err:  # pragma: no cover - would be a generator bug
        pytest.fail(f"generator produced an unsupported model: {err}")
    check_callbacks(model, seed=rnd.randint(0, 2**31))


def test_generator_covers_every_operator():
    """Over the seeds used above, every operator and every kind of data leaf appears."""
    used: set[str] = set()
    for seed in range(40):
        gen = ExprGen(random.Random(seed))
        gen.build(n_cons=4, depth=4, maximize=False)
        used |= gen.used
    expected = set(OPERATORS) | {f"data_{k}" for k in ("number", "mutable", "immutable", "fixed")}
    assert expected <= used


@pytest.mark.parametrize("seed", range(20))
def test_seeded_random_models(seed):
    gen = ExprGen(random.Random(1000 + seed))
    model = gen.build(n_cons=6, depth=5, maximize=seed % 2 == 1)
    check_callbacks(model, seed=seed, points=3)


# ---------------------------------------------------------------- every operator alone


@pytest.mark.parametrize("name", sorted(UNARY_DOMAINS))
def test_each_unary_function(name):
    lo, hi = UNARY_DOMAINS[name]
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.5 * (lo + hi) + 0.1 * (hi - lo))
    m.y = pyo.Var(initialize=0.3)
    f = UNARY_FUNCS[name]
    m.obj = pyo.Objective(expr=f(m.x) * m.y + f(m.x) ** 2)
    m.c = pyo.Constraint(expr=f(m.x) + m.y**2 <= 10)
    ev = check_callbacks(m)
    # derivative at the point itself from the closed form, one function at a time
    h = 1e-6
    x0 = m.x.value
    deriv = (pyo.value(f(x0 + h)) - pyo.value(f(x0 - h))) / (2 * h)
    i = ev.variable_index[m.x]
    jac = _dense_jacobian(ev, np.array([v.value for v in ev.variables]))
    assert jac[0, i] == pytest.approx(deriv, rel=1e-6)


def test_power_forms_closed_form_derivatives():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.7)
    m.y = pyo.Var(initialize=0.6)
    m.p = pyo.Param(initialize=2.5, mutable=True)
    m.q = pyo.Param(initialize=3.0)  # immutable: becomes a literal exponent
    m.c1 = pyo.Constraint(expr=m.x**m.y <= 5)
    m.c2 = pyo.Constraint(expr=m.x**m.p <= 5)
    m.c3 = pyo.Constraint(expr=m.x**m.q <= 5)
    m.c4 = pyo.Constraint(expr=2**m.y <= 5)
    m.obj = pyo.Objective(expr=m.x**0.5 + m.y**-1)
    ev = check_callbacks(m)
    x, y = 1.7, 0.6
    z = np.array([x if v is m.x else y for v in ev.variables])
    ix, iy = ev.variable_index[m.x], ev.variable_index[m.y]
    jac = _dense_jacobian(ev, z)
    assert jac[0, ix] == pytest.approx(y * x ** (y - 1))
    assert jac[0, iy] == pytest.approx(math.log(x) * x**y)
    assert jac[1, ix] == pytest.approx(2.5 * x**1.5)
    assert jac[2, ix] == pytest.approx(3 * x**2)
    assert jac[3, iy] == pytest.approx(math.log(2) * 2**y)
    grad = ev.gradient(z)
    assert grad[ix] == pytest.approx(0.5 * x**-0.5)
    assert grad[iy] == pytest.approx(-(y**-2))
    # a mutable Param is read at compile time: a new value gives a new derivative
    m.p = 1.5
    ev2 = NLPEvaluator(m)
    jac2 = _dense_jacobian(ev2, np.array([v.value for v in ev2.variables]))
    assert jac2[1, ev2.variable_index[m.x]] == pytest.approx(1.5 * x**0.5)


def test_fixed_variable_is_data_and_sense_sign():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=2.0)
    m.f = pyo.Var(initialize=3.0)
    m.f.fix()
    m.obj = pyo.Objective(expr=m.f * m.x**2, sense=pyo.maximize)
    ev = NLPEvaluator(m)
    assert ev.n == 1 and ev.variables[0] is m.x
    # Ipopt minimizes: the maximized objective and its derivatives are negated
    assert ev.objective(np.array([2.0])) == pytest.approx(-12.0)
    assert ev.gradient(np.array([2.0]))[0] == pytest.approx(-12.0)
    assert ev.hessian(np.array([2.0]), np.zeros(0), 0.5)[0] == pytest.approx(-3.0)
    m.f.fix(5.0)
    assert NLPEvaluator(m).objective(np.array([2.0])) == pytest.approx(-20.0)


# ---------------------------------------------------------------- structure paths


def test_many_rows_sharing_a_signature_use_function_map():
    n = 12
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(n)
    m.x = pyo.Var(m.I, initialize=lambda _, i: 0.3 + 0.1 * i)
    m.a = pyo.Param(m.I, initialize=lambda _, i: 0.5 + 0.25 * i, mutable=True)
    # one shape, other indices and data in every row; x[i] repeated inside a row
    m.c = pyo.Constraint(
        m.I,
        rule=lambda m, i: m.a[i] * pyo.exp(m.x[i] * m.x[i]) + m.x[i % n + 1] * m.x[i] ** 3 <= 10,
    )
    m.sq = pyo.Constraint(m.I, rule=lambda m, i: m.x[i] * m.x[i] >= m.a[i] / 10)
    m.odd = pyo.Constraint(expr=pyo.sin(m.x[1]) * m.x[2] / m.x[3] <= 4)  # a rare shape
    m.obj = pyo.Objective(expr=sum(m.a[i] * m.x[i] * m.x[i] for i in m.I) + m.x[1] * m.x[1])
    ev = check_callbacks(m, points=3)
    mapped = [g for g in ev.groups if g.rows.shape[0] > 1]
    assert len(mapped) == 2, "both indexed constraints should run through Function.map"
    assert sorted(g.rows.shape[0] for g in mapped) == [n, n]
    assert ev.n_signatures == 3
    # the repeated variable: d/dx (x*x) = 2x, d2/dx2 = 2, for every mapped row
    x = np.array([v.value for v in ev.variables])
    jac = _dense_jacobian(ev, x)
    rows_sq = [ev.constraint_rows[m.sq[i]][0] for i in m.I]
    cols = [ev.variable_index[m.x[i]] for i in m.I]
    np.testing.assert_allclose(jac[rows_sq, cols], 2 * x[cols])
    lam = np.zeros(ev.m)
    lam[rows_sq] = 1.0
    hess = _dense_hessian(ev, x, lam, 0.0)
    np.testing.assert_allclose(np.diag(hess)[cols], 2.0)


def test_map_threshold_boundary(monkeypatch):
    """Rows below the threshold go to the shared graph; at the threshold they are mapped."""

    def build(k):
        m = pyo.ConcreteModel()
        m.x = pyo.Var(range(k + 1), initialize=0.5)
        m.c = pyo.Constraint(range(k), rule=lambda m, i: m.x[i] * m.x[i + 1] <= 1)
        m.obj = pyo.Objective(expr=sum(m.x[i] ** 2 for i in m.x))
        return m

    t = NLPEvaluator.map_threshold
    ev_below = check_callbacks(build(t - 1))
    assert all(g.rows.shape[0] == 1 for g in ev_below.groups)
    ev_at = check_callbacks(build(t))
    assert [g.rows.shape[0] for g in ev_at.groups] == [t]


def test_repeated_variable_shared_across_rare_rows():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.7)
    m.y = pyo.Var(initialize=-0.4)
    m.c1 = pyo.Constraint(expr=m.x * m.x * m.y <= 1)
    m.c2 = pyo.Constraint(expr=pyo.exp(m.x) + m.x * m.y**2 == 1)
    m.c3 = pyo.Constraint(expr=m.x**2 / (2 + m.y**2) >= -1)
    m.obj = pyo.Objective(expr=m.x * m.x + m.y * m.x)
    ev = check_callbacks(m, points=3)
    x, y = 0.7, -0.4
    z = np.array([x if v is m.x else y for v in ev.variables])
    lam = np.array([1.0, 2.0, 0.0])
    hess = _dense_hessian(ev, z, lam, 1.5)
    ix, iy = ev.variable_index[m.x], ev.variable_index[m.y]
    # closed form: 1.5*(2, 1; 1, 0) + 1*(2y, 2x; 2x, 0) + 2*(e^x, 2y; 2y, 2x)
    assert hess[ix, ix] == pytest.approx(3.0 + 2 * y + 2 * math.exp(x))
    assert hess[iy, ix] == pytest.approx(1.5 + 2 * x + 4 * y)
    assert hess[iy, iy] == pytest.approx(4 * x)


def test_deep_sum_chain_does_not_hit_the_recursion_limit():
    depth = 5000
    assert depth > sys.getrecursionlimit() / 2
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(5), initialize=lambda _, i: 0.1 * (i + 1))
    e = m.x[0]
    for i in range(depth):
        e = ne.SumExpression([e, 0.001 * m.x[i % 5] ** 2])  # each sum nests the previous
    m.obj = pyo.Objective(expr=e)
    m.c = pyo.Constraint(expr=ne.SumExpression([e, m.x[1]]) <= 100)
    ev = NLPEvaluator(m)
    x = np.array([v.value for v in ev.variables])
    # closed form: x0 + 0.001 * 1000 * sum_i x_i^2
    i0 = ev.variable_index[m.x[0]]
    expected = x[i0] + float(np.sum(x**2))
    assert ev.objective(x) == pytest.approx(expected)
    grad = ev.gradient(x)
    np.testing.assert_allclose(grad, 2 * x + (np.arange(ev.n) == i0), rtol=1e-10)
    hess = _dense_hessian(ev, x, np.array([0.0]), 1.0)
    np.testing.assert_allclose(hess, 2 * np.eye(ev.n), atol=1e-12)


def test_ranged_constraint_with_variable_bounds_has_two_rows():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.0)
    m.y = pyo.Var(initialize=2.0)
    m.r = pyo.Constraint(expr=pyo.inequality(m.x, m.y**2, 3))
    m.obj = pyo.Objective(expr=m.x + m.y)
    ev = NLPEvaluator(m)
    assert len(ev.constraint_rows[m.r]) == 2
    z = np.array([1.0 if v is m.x else 2.0 for v in ev.variables])
    g = ev.constraints(z)
    # x - y^2 <= 0 and y^2 - 3 <= 0
    assert sorted(g.tolist()) == pytest.approx([-3.0, 1.0])
    np.testing.assert_array_equal(ev.g_ub, [0.0, 0.0])
    assert np.all(np.isinf(ev.g_lb))


def test_constant_bounds_and_trivial_constraints():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-1, 4), initialize=9.0)
    m.f = pyo.Var(initialize=2.0)
    m.f.fix()
    m.p = pyo.Param(initialize=3.0, mutable=True)
    m.c = pyo.Constraint(expr=pyo.inequality(m.p - 1, m.x**2, 2 * m.p))
    m.trivial = pyo.Constraint(expr=m.f**2 <= 5)  # no free variable: dropped
    m.obj = pyo.Objective(expr=m.x)
    ev = NLPEvaluator(m)
    assert ev.m == 1 and m.trivial not in ev.constraint_rows
    np.testing.assert_array_equal(ev.g_lb, [2.0])
    np.testing.assert_array_equal(ev.g_ub, [6.0])
    np.testing.assert_array_equal(ev.x_lb, [-1.0])
    np.testing.assert_array_equal(ev.x_ub, [4.0])
    assert ev.x0[0] == 4.0  # the initial value is projected into the bounds
    m.f.fix(3.0)  # 9 <= 5 fails: a violated constant constraint is an error
    with pytest.raises(UnsupportedModelError, match="no free variables"):
        NLPEvaluator(m)


@pytest.mark.parametrize(
    "build, pattern",
    [
        (lambda m: setattr(m, "o", pyo.Objective(expr=pyo.floor(m.x))), "floor"),
        (lambda m: setattr(m, "o", pyo.Objective(expr=pyo.ceil(m.x))), "ceil"),
        (
            lambda m: setattr(
                m, "o", pyo.Objective(expr=pyo.Expr_if(IF=m.x >= 0, THEN=m.x, ELSE=-m.x))
            ),
            "Expr_if",
        ),
    ],
)
def test_non_smooth_functions_are_refused(build, pattern):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.5)
    build(m)
    with pytest.raises(UnsupportedModelError, match=pattern):
        NLPEvaluator(m)


# ---------------------------------------------------------------- named Expressions


def test_shared_named_expressions_are_spliced_into_every_row():
    """Rows built from shared (and nested) named Expressions: values and derivatives
    match Pyomo and finite differences, and the rows still share one signature."""
    n = 6
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    m.q = pyo.Var(m.I, bounds=(0, None), initialize=lambda _, j: 0.2 + 0.1 * j)
    m.k = pyo.Var(m.I, bounds=(0, None), initialize=lambda _, j: 0.5 + 0.05 * j)
    m.t = pyo.Var(m.I, initialize=0.3)
    m.a = pyo.Param(initialize=1.3, mutable=True)
    m.s = pyo.Var(initialize=2.0)
    m.s.fix()  # a fixed variable inside a shared Expression is data
    m.base = pyo.Expression(m.I, rule=lambda m, j: 1 - pyo.exp(-m.a * m.q[j]))
    m.u = pyo.Expression(m.I, rule=lambda m, j: m.base[j] * pyo.sqrt(m.s + m.k[j]))  # nested
    theta = {i: 1.25 + i / n for i in m.I}  # never 1 (Pyomo drops a factor 1.0)
    m.ic = pyo.Constraint(
        m.I,
        m.I,
        rule=lambda m, i, j: (
            pyo.Constraint.Skip
            if i == j
            else theta[i] * m.u[i] - m.t[i] >= theta[i] * m.u[j] - m.t[j]
        ),
    )
    m.twice = pyo.Constraint(m.I, rule=lambda m, j: m.u[j] * m.u[j] + m.base[j] <= 5)
    m.obj = pyo.Objective(expr=sum(m.t[i] - 0.3 * m.q[i] for i in m.I), sense=pyo.maximize)
    ev = check_callbacks(m, points=3)
    assert ev.m == n * (n - 1) + n
    assert ev.n_signatures == 2  # every IC row one shape, every "twice" row another
    # a row that uses u[j] twice has q[j] and k[j] once each among its variables
    x = np.array([v.value for v in ev.variables])
    jac = _dense_jacobian(ev, x)
    row = ev.constraint_rows[m.twice[2]][0]
    assert set(np.flatnonzero(jac[row])) == {ev.variable_index[m.q[2]], ev.variable_index[m.k[2]]}
    # changing the fixed value and the Param changes the next compilation
    m.s.fix(3.0)
    m.a = 0.7
    check_callbacks(m)


def test_two_sided_rows_match_pyomos_standard_form():
    """Both sides variable: body lhs - rhs with Pyomo's bounds, for <=, >= and ==."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.5)
    m.y = pyo.Var(initialize=0.5)
    m.le = pyo.Constraint(expr=m.x**2 <= m.y + 3 * m.x)
    m.ge = pyo.Constraint(expr=pyo.exp(m.y) >= m.x * m.y - 1)
    m.eq = pyo.Constraint(expr=m.x + m.y == m.y**3)
    m.obj = pyo.Objective(expr=m.x**2 + m.y**2)
    ev = check_callbacks(m)
    x = np.array([v.value for v in ev.variables])
    for con in (m.le, m.ge, m.eq):
        lo, body, hi = con.to_bounded_expression(evaluate_bounds=True)
        (r,) = ev.constraint_rows[con]
        assert ev.constraints(x)[r] == pytest.approx(pyo.value(body), rel=1e-14)
        assert ev.g_lb[r] == (-math.inf if lo is None else lo)
        assert ev.g_ub[r] == (math.inf if hi is None else hi)


def test_integer_variable_inside_a_named_expression_is_refused():
    m = pyo.ConcreteModel()
    m.n = pyo.Var(domain=pyo.Integers, initialize=1)
    m.x = pyo.Var(initialize=1.0)
    m.e = pyo.Expression(expr=m.n * m.x)
    m.c = pyo.Constraint(expr=m.e <= 4)
    m.obj = pyo.Objective(expr=m.x**2)
    with pytest.raises(UnsupportedModelError, match=r"constraint c: variable n is integer"):
        NLPEvaluator(m)


@pytest.mark.parametrize(
    "term",
    [lambda m: pyo.log(m.z), lambda m: 1 / m.z, lambda m: m.w**0.5],
    ids=["log0", "div0", "pow_neg"],
)
def test_a_constant_objective_term_outside_its_domain_compiles(term) -> None:
    """From the adversarial review: log(0), 1/0 and (-1)**0.5 on fixed variables are
    evaluated by CasADi like any row (inf or nan for Ipopt to report), not raised by
    Python's math out of the compilation."""
    m = pyo.ConcreteModel()
    m.y = pyo.Var(initialize=1.0)
    m.z = pyo.Var(initialize=0.0)
    m.z.fix(0.0)
    m.w = pyo.Var(initialize=-1.0)
    m.w.fix(-1.0)
    m.o = pyo.Objective(expr=term(m) + m.y**2)
    ev = NLPEvaluator(m)
    assert not np.isfinite(ev.objective(np.array([1.0])))
    np.testing.assert_allclose(ev.gradient(np.array([1.0])), [2.0])


def test_nested_sums_are_flattened_into_mapped_terms() -> None:
    """``profit - penalty`` through named Expressions: one mapped group per signature,
    not two terms of thousands of slots each (the regularized retry's objective)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(50), initialize=1.0)
    m.profit = pyo.Expression(expr=sum(m.x[i] ** 2 for i in range(50)))
    m.penalty = pyo.Expression(expr=sum(pyo.exp(m.x[i]) for i in range(50)))
    m.o = pyo.Objective(expr=m.profit - 0.5 * m.penalty)
    ev = NLPEvaluator(m)
    assert max(g.var_idx.shape[1] for g in ev.obj_groups) <= 2
    x = np.linspace(0.1, 1.0, 50)
    np.testing.assert_allclose(ev.objective(x), (x**2).sum() - 0.5 * np.exp(x).sum())
    np.testing.assert_allclose(ev.gradient(x), 2 * x - 0.5 * np.exp(x))


def test_the_casadi_hessian_is_the_evaluators_hessian() -> None:
    """nlpsol's hess_lag (the upper triangle, from the mapped kernels) equals the numpy
    callback's lower triangle, which the finite-difference tests above pin, on a model
    with mapped rows, rare rows and objective terms."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(6), initialize=0.5)
    m.rows = pyo.Constraint(range(5), rule=lambda m, i: m.x[i] * pyo.exp(m.x[i + 1]) <= 3)
    m.rare = pyo.Constraint(expr=pyo.log(1 + m.x[0] ** 2) + m.x[5] ** 3 >= -1)
    m.o = pyo.Objective(
        expr=sum(m.x[i] ** 4 * m.x[(i + 2) % 6] for i in range(6)), sense=pyo.maximize
    )
    ev = NLPEvaluator(m)
    rng = np.random.default_rng(7)
    x, lam, sigma = rng.uniform(0.1, 1.0, ev.n), rng.normal(size=ev.m), 0.7
    lower = np.zeros((ev.n, ev.n))
    rows, cols = ev.hessianstructure()
    lower[rows, cols] = ev.hessian(x, lam, sigma)
    upper = np.asarray(ev.casadi_hessian()(x, np.zeros((0, 1)), sigma, lam).full())
    np.testing.assert_allclose(upper, lower.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
def test_the_casadi_objectives_gradient_is_the_evaluators_gradient(sense) -> None:
    """nlpsol's objective takes the mapped terms' own gradient, summed where terms share
    a variable (x[i] in two terms each here, one variable in none), as the numpy
    callback (pinned by finite differences above) computes it; and with none at all."""
    import casadi as ca

    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(7), initialize=0.5)
    m.rows = pyo.Constraint(range(6), rule=lambda m, i: m.x[i] + m.x[6] <= 3)
    m.o = pyo.Objective(
        expr=sum(m.x[i] ** 4 * m.x[(i + 2) % 6] for i in range(6)) + pyo.exp(m.x[0]),
        sense=sense,
    )
    ev = NLPEvaluator(m)
    x = np.random.default_rng(5).uniform(0.1, 1.0, ev.n)
    sym, f, _ = ev.casadi_problem()
    grad = ca.Function("grad", [sym], [ca.gradient(f, sym)])
    np.testing.assert_allclose(np.asarray(grad(x)).ravel(), ev.gradient(x), rtol=1e-12)
    np.testing.assert_allclose(float(ca.Function("f", [sym], [f])(x)), ev.objective(x))
    m.o.set_value(m.x[0] * 0 + 2.0)  # a constant objective: no terms with variables
    ev = NLPEvaluator(m)
    sym, f, _ = ev.casadi_problem()
    grad = ca.Function("grad", [sym], [ca.gradient(f, sym)])
    np.testing.assert_allclose(np.asarray(grad(x)).ravel(), np.zeros(ev.n))


def test_the_casadi_jacobian_is_the_evaluators_jacobian() -> None:
    """nlpsol's jac_g (constraints and their Jacobian, so that nlpsol searches no
    pattern) equals the numpy callbacks, which the finite-difference tests above pin:
    rows in the model's order across mapped and rare groups, a variable in no row, and
    CasADi's own derivative of the constraint graph as a third opinion."""
    import casadi as ca

    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(7), initialize=0.5)
    m.rows = pyo.Constraint(range(5), rule=lambda m, i: m.x[i] * pyo.exp(m.x[i + 1]) <= 3)
    m.rare = pyo.Constraint(expr=pyo.log(1 + m.x[0] ** 2) + m.x[5] ** 3 >= -1)
    m.more = pyo.Constraint(range(2), rule=lambda m, i: m.x[4 - i] ** 2 == 1)
    m.o = pyo.Objective(expr=sum(m.x[i] for i in range(7)))
    ev = NLPEvaluator(m)
    x = np.random.default_rng(11).uniform(0.1, 1.0, ev.n)
    g, jac = ev.casadi_jacobian()(x, np.zeros((0, 1)))
    np.testing.assert_allclose(np.asarray(g).ravel(), ev.constraints(x), rtol=1e-14)
    dense = np.zeros((ev.m, ev.n))
    rows, cols = ev.jacobianstructure()
    np.add.at(dense, (rows, cols), ev.jacobian(x))
    np.testing.assert_allclose(np.asarray(jac.full()), dense, rtol=1e-13, atol=1e-14)
    sym, _, g_expr = ev.casadi_problem()
    own = ca.Function("j", [sym], [ca.jacobian(g_expr, sym)])(x).full()
    np.testing.assert_allclose(own, dense, rtol=1e-13, atol=1e-14)
    assert not dense[:, 6].any()  # x[6] appears in the objective only


def test_the_casadi_jacobian_of_a_model_without_rows_is_empty() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), initialize=0.5)
    m.o = pyo.Objective(expr=sum(m.x[i] ** 2 for i in range(3)))
    ev = NLPEvaluator(m)
    g, jac = ev.casadi_jacobian()(np.ones(3), np.zeros((0, 1)))
    assert g.shape == (0, 1) and jac.shape == (0, 3)
