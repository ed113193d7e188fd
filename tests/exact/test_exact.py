"""The exact one-dimensional method (pyomo_llmprice.exact) and the envelope check.

Every expectation is independent of the exact module: closed forms (Mussa-Rosen's
quantities and profit, the two-type saturating menu), theory.py's own pool-adjacent-
violators implementation, the pairwise N^2 check, and Ipopt on the Pyomo model.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyomo.environ as pyo
import pytest

from pyomo_llmprice import exact, theory
from pyomo_llmprice.blocks.forms import LinearCost, SaturatingValue
from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.pipeline import build_model, solve_instance, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import labeled_tasks, theta_types, value_scale_types
from pyomo_llmprice.verify import best_bundles_one_dimensional, verify_menu

TECH = Technology.cobb_douglas()


def lognormal_dirichlet(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The issue's recipe: lognormal theta, Dirichlet(5) probabilities (irregular: ironing)."""
    rng = np.random.default_rng(seed)
    return rng.lognormal(0.0, 0.5, n), rng.dirichlet(np.full(n, 5.0))


# -- the envelope check against the pairwise one --------------------------------------


def pairwise_and_envelope(theta, u, t):
    rows = lambda sl: np.multiply.outer(theta[sl], u)  # noqa: E731
    a = verify_menu(rows, theta * u, t)
    b = verify_menu(rows, theta * u, t, one_dimensional=(theta, u))
    return a, b


@pytest.mark.parametrize("seed", range(40))
def test_envelope_equals_pairwise_on_perturbed_menus(seed):
    """Random menus with genuine violations, bunched (identical) bundles, unsorted types
    and parallel lines: the same gain for every type and the same worst pair."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    theta = rng.lognormal(size=n)
    order = np.argsort(theta)
    u = np.zeros(n)
    u[order] = np.sort(rng.random(n))
    u[order[: n // 3]] = u[order[n // 3]]  # a bunch
    t = theta * u - 0.1 * rng.random(n)
    t[order[: n // 3]] = t[order[0]]
    if seed % 2:
        u += 0.05 * rng.random(n)  # break monotonicity: real violations
    a, b = pairwise_and_envelope(theta, u, t)
    np.testing.assert_array_equal(a.ic_violation, b.ic_violation)
    assert a.worst_pair == b.worst_pair
    assert a.max_ic_violation == b.max_ic_violation


def test_envelope_on_an_optimal_menu_names_the_same_pair():
    theta, prob = lognormal_dirichlet(300, 3)
    m = theory.discrete_optimal_menu(theta, prob, TECH)
    a, b = pairwise_and_envelope(theta, m.u, m.payment)
    np.testing.assert_array_equal(a.ic_violation, b.ic_violation)
    assert a.worst_pair == b.worst_pair
    # one lowered payment: the type just above it gains exactly that much
    k = int(np.argsort(theta)[200])
    t = m.payment.copy()
    t[k] -= 1e-3
    a, b = pairwise_and_envelope(theta, m.u, t)
    assert a.worst_pair == b.worst_pair and a.worst_pair[1] == k
    assert b.max_ic_violation == pytest.approx(1e-3, rel=1e-9)


def test_best_bundle_is_the_argmax_over_all_bundles():
    theta = np.array([1.0, 2.0, 3.0])
    u = np.array([1.0, 2.0, 3.0])
    t = np.array([0.5, 2.0, 5.5])  # type 2 (theta 3) prefers bundle 1: 6 - 2 > 9 - 5.5
    val, idx = best_bundles_one_dimensional(theta, u, t)
    np.testing.assert_array_equal(idx, [0, 1, 1])
    np.testing.assert_allclose(val, [0.5, 2.0, 4.0])


# -- the exact menu against independent solutions -------------------------------------


def test_exact_equals_theory_pav_with_ironing():
    theta, prob = lognormal_dirichlet(400, 7)
    inst = Instance("ln400", None, theta_types(theta, prob), TECH)
    got = exact.exact_menu(exact.one_dimensional_problem(inst, "packages"))
    ref = theory.discrete_optimal_menu(theta, prob, TECH)
    assert np.any(np.diff(np.sort(ref.virtual_value)) != 0)
    assert not np.all(np.diff(ref.virtual_value[np.argsort(theta)]) > 0)  # irregular
    np.testing.assert_allclose(got.u, ref.u, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.payment, ref.payment, rtol=1e-12, atol=1e-14)
    assert theory.max_ic_violation(theta, got.u, got.payment) <= 1e-12


def test_mussa_rosen_closed_form():
    """theta_i = i/N, f = 1/N, cost q^2/2: q_i = max(0, 2i/N - 1), profit in closed form."""
    n = 40
    bench = theory.mussa_rosen(n)
    inst = ScreeningInstance(
        "mr", None, tuple(f"t{i}" for i in range(n)), bench.prob, ("q",), bench.theta[:, None]
    )
    res = solve_instance(inst, "screening", method="exact")
    assert res.optimal and res.solver == "exact"
    np.testing.assert_allclose(res.menu["good_q"], bench.q, atol=1e-12)
    assert res.profit == pytest.approx(1 / 12 + 1 / (4 * n) + 1 / (6 * n**2), rel=1e-12)


def test_saturating_closed_form_and_newton_agree_with_the_two_type_menu():
    """theta (1, 2), f (0.6, 0.4), value theta (1 - e^-q), cost 0.1 q: q_L = ln(10/3),
    q_H = ln 20 (theory.two_type_saturating), by the closed form and by the safeguarded
    Newton on a user form without one."""
    inst = ScreeningInstance(
        "sat", None, ("L", "H"), np.array([0.6, 0.4]), ("q",), np.array([[1.0], [2.0]]),
        value_form="saturating", value_rate=1.0, cost_form="linear", cost_coef=0.1,
    )  # fmt: skip
    closed = solve_instance(inst, "screening", method="exact")
    np.testing.assert_allclose(closed.menu["good_q"], [np.log(10 / 3), np.log(20)], rtol=1e-12)

    class UserSaturating:  # the same form, unknown to the closed forms
        def good(self, quality, lib):
            return SaturatingValue(1.0).good(quality, lib)

        def quality_bounds(self, nonnegative):
            return (0.0, 1.0)

    model = pyo.ConcreteModel()
    from pyomo_llmprice.blocks import Screening

    model.menu = Screening(
        theta=np.array([1.0, 2.0]), prob=np.array([0.6, 0.4]), value=UserSaturating(),
        cost=lambda goods, lib: LinearCost(0.1)(goods, lib),
    )  # fmt: skip
    newton = solve_model(model, method="exact")
    assert newton.optimal and newton.termination == "exact (safeguarded Newton)"
    np.testing.assert_allclose(newton.menu["good_q"], [np.log(10 / 3), np.log(20)], rtol=1e-9)
    assert newton.profit == pytest.approx(closed.profit, rel=1e-12)


def test_exact_equals_ipopt_on_the_pyomo_model():
    """The NLP (adjacent IC on the Pyomo block, Ipopt) is the independent optimum."""
    theta, prob = lognormal_dirichlet(60, 11)
    inst = Instance("ln60", None, theta_types(theta, prob), TECH)
    ex = solve_instance(inst, "packages", method="exact")
    nlp = solve_instance(inst, "packages", method="nlp")
    assert ex.optimal and nlp.optimal and ex.solver == "exact"
    assert ex.profit == pytest.approx(nlp.profit, rel=1e-7)
    assert ex.profit >= nlp.profit - 1e-12 * abs(nlp.profit)
    assert list(ex.menu.columns) == list(nlp.menu.columns)  # same table, same plans
    served = ex.menu["served"].to_numpy()
    np.testing.assert_array_equal(served, nlp.menu["served"].to_numpy())
    np.testing.assert_allclose(ex.menu["payment"], nlp.menu["payment"], atol=1e-6 * ex.value_scale)


def test_value_scale_packages_reduce_to_the_index():
    w, s = np.meshgrid(np.linspace(0.1, 1, 6), np.linspace(0.1, 1, 6))
    types = value_scale_types(w.ravel(), s.ravel())
    inst = Instance("vs", None, types, TECH)
    res = solve_instance(inst, "packages", method="exact")
    ref = theory.discrete_optimal_menu(inst.theta, types.prob, TECH)
    assert res.optimal and res.profit == pytest.approx(ref.profit, rel=1e-12)


def test_one_task_allocations_equal_packages_at_the_index():
    """One task of measure mu: per-task tokens x deliver mu w u(x); the same menu as
    Token Packages at theta = w mu^(1-alpha-beta) (the CES index)."""
    w = np.linspace(0.2, 1.0, 9)[:, None]
    types = labeled_tasks(["code"], [2.0], w)
    inst = Instance("one_task", None, types, TECH)
    alloc = solve_instance(inst, "allocations", method="exact")
    pack = theory.discrete_optimal_menu(inst.theta, types.prob, TECH)
    assert alloc.optimal and alloc.solver == "exact"
    assert alloc.profit == pytest.approx(pack.profit, rel=1e-12)
    np.testing.assert_allclose(alloc.menu["input_tokens"], pack.X, rtol=1e-12, atol=1e-15)


def test_multidimensional_falls_back_with_one_line():
    types = value_scale_types([0.5, 1.0, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0])
    inst = Instance("vs2", None, types, TECH)
    with pytest.warns(exact.ExactMethodWarning, match="several scales"):
        res = solve_instance(inst, "allocations", method="exact")
    assert res.solver != "exact" and res.optimal
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert solve_instance(inst, "allocations").solver != "exact"  # auto: silent


def test_added_constraint_refuses_exact_and_runs_the_nlp():
    theta, prob = lognormal_dirichlet(12, 5)
    model = build_model(Instance("cap", None, theta_types(theta, prob), TECH))
    top = model.menu.types.last()
    model.cap = pyo.Constraint(expr=model.menu.payment[top] <= 1.0)  # a price cap
    with pytest.warns(exact.ExactMethodWarning, match="constraints of its own"):
        res = solve_model(model, method="exact")
    assert res.solver == "cyipopt_direct"


def test_unknown_method_is_one_line():
    from pyomo_llmprice.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown method 'fast'"):
        solve_instance(Instance("x", None, theta_types([1.0]), TECH), method="fast")


def test_user_precision_by_newton_equals_the_cobb_douglas_closed_form():
    """The paper's precision written as a user function (no closed form applies): the
    safeguarded Newton reproduces theory's closed-form menu."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from user_precision import ShiftedCobbDouglas

    theta, prob = lognormal_dirichlet(150, 17)
    tech = Technology(0.125, 0.125, 0.125, ShiftedCobbDouglas())
    res = solve_instance(Instance("user", None, theta_types(theta, prob), tech), method="exact")
    ref = theory.discrete_optimal_menu(theta, prob, TECH)
    assert res.optimal and res.termination == "exact (safeguarded Newton)"
    assert res.profit == pytest.approx(ref.profit, rel=1e-9)
    np.testing.assert_allclose(res.menu["input_tokens"], ref.X, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(res.menu["finetune_tokens"], ref.Z, rtol=1e-6, atol=1e-9)


def test_the_chain_keeps_mumps_default_pivot_tolerance():
    """mumps_pivtol=1e-8 on the adjacent chain was fast at 2,000 types but ended this
    four-type menu locally infeasible (217 iterations); with MUMPS's default it is the
    discrete optimum of theory.py."""
    theta, prob = np.array([0.3, 0.5, 0.7, 0.9]), np.full(4, 0.25)
    tech = Technology.cobb_douglas(cost_input=0.15, beta=0.25)
    inst = Instance("four", None, theta_types(theta, prob), tech)
    result = solve_model(build_model(inst))
    assert result.optimal
    ref = theory.discrete_optimal_menu(theta, prob, tech)
    assert result.profit == pytest.approx(ref.profit, rel=1e-7)


def test_a_type_with_no_gains_from_trade_is_excluded_by_the_nlp_too():
    """theta (0.1, 0.2), f (1/2, 1/2), value theta (1 - e^-q), cost 0.1 q: the low type
    values the good at most at its cost (first best 0, virtual value 0 - 0.1 < 0), so the
    optimum serves the high type alone, q_H = ln 2, t_H = 0.1, profit (0.1 - 0.1 ln 2)/2.
    Ipopt leaves the low type a sliver that loses ~1e-12 on a tolerance of zero; the dust
    re-solve must exclude it instead of reporting the menu verification_failed."""
    inst = ScreeningInstance(
        "edge", None, ("L", "H"), np.array([0.5, 0.5]), ("q",), np.array([[0.1], [0.2]]),
        value_form="saturating", value_rate=1.0, cost_form="linear", cost_coef=0.1,
    )  # fmt: skip
    profit = (0.1 - 0.1 * np.log(2)) / 2
    for method in ("exact", "nlp"):
        result = solve_instance(inst, "screening", method=method)
        assert result.status == "optimal", method
        assert result.profit == pytest.approx(profit, rel=1e-7), method
        assert list(result.menu["served"]) == [False, True], method


def test_when_no_type_gains_from_trade_the_nlp_serves_nobody():
    """theta (0.05, 0.08) below the unit cost 0.1 of a saturating good: nobody is served,
    profit 0, by the exact method and the NLP alike (not verification_failed on slivers)."""
    inst = ScreeningInstance(
        "none", None, ("L", "H"), np.array([0.5, 0.5]), ("q",), np.array([[0.05], [0.08]]),
        value_form="saturating", value_rate=1.0, cost_form="linear", cost_coef=0.1,
    )  # fmt: skip
    for method in ("exact", "nlp"):
        result = solve_instance(inst, "screening", method=method)
        assert result.status == "optimal", method
        assert abs(result.profit) <= 1e-12, method
        assert not result.menu["served"].any(), method


def test_the_exact_method_keeps_the_time_limit(tmp_path, capsys):
    """A limit passed before the menu is computed ends the run as time_limit, as it ends
    an NLP: the menu is its last point, certified, and no tariff is quoted."""
    from pyomo_llmprice.cli import main
    from pyomo_llmprice.cli._common import EXIT_CODES
    from pyomo_llmprice.io import write_dat

    theta, prob = np.array([0.3, 0.5, 0.7, 0.9]), np.full(4, 0.25)
    inst = Instance("four", None, theta_types(theta, prob), TECH)
    result = solve_instance(inst, time_limit=1e-12)
    assert result.status == "time_limit" and result.solver == "exact"
    assert result.menu["markup"].isna().all() and result.menu["fixed_fee"].isna().all()
    assert solve_instance(inst).optimal  # without the limit, the same menu is optimal
    path = tmp_path / "four.dat"
    write_dat(inst, path)
    rc = main(["solve", str(path), "--method", "exact", "--time-limit", "1e-9"])
    assert rc == EXIT_CODES["time_limit"]
    assert "status time_limit" in capsys.readouterr().out
