"""Global certificates for plan design (issue #18): the MINLP of K two-part tariffs.

Numbers are pinned by independent computations: the best single two-part tariff by
enumeration of its marginal buyer and a 1-D search of the markup on the closed-form
demand; the full screening menu by the pipeline's NLP; many-start local designs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

pytest.importorskip("pyscipopt")

from pyomo_llmprice.global_certificates.plans import certify_plans
from pyomo_llmprice.tariffs import cobb_douglas_demand, design_plans
from pyomo_llmprice.tariffs.certify import MARKUP_FLOOR, build_plan_model
from pyomo_llmprice.technology import Technology

TECH = Technology.cobb_douglas()  # the paper's example: fine-tuning above theta 1/2 at cost
THETA = np.array([0.2, 0.35, 0.5, 0.6, 0.75, 0.9])  # types on both sides of the kink
PROB = np.array([0.25, 0.2, 0.15, 0.15, 0.15, 0.1])


def _surplus_and_margin(theta: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """Buyer surplus before the fee and seller margin at prices m * cost (closed form)."""
    c = np.array([TECH.cost_input, TECH.cost_output, TECH.cost_finetune])
    x, y, z, u = cobb_douglas_demand(theta, m * c[0], m * c[1], m * c[2], TECH.precision)
    cost = c[0] * x + c[1] * y + c[2] * z
    return theta * u - m * cost, (m - 1) * cost


def best_single_tariff(theta: np.ndarray, prob: np.ndarray) -> float:
    """Best (fee, markup): the fee leaves the marginal buyer j indifferent, so profit is
    sum_{i >= j} f_i (g_j(m) + margin_i(m)); maximize over j and m (grid, then Brent)."""
    best = 0.0
    for j in range(theta.size):

        def profit(m: float, j: int = j) -> float:
            g, margin = _surplus_and_margin(theta, m)
            return float(prob[j:] @ (g[j] + margin[j:]))

        grid = np.geomspace(MARKUP_FLOOR, 50.0, 400)
        values = [profit(m) for m in grid]
        i = int(np.argmax(values))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(
            lambda m: -profit(m), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
        )
        best = max(best, values[i], -float(res.fun))
    return best


def test_one_plan_is_the_closed_form_best_two_part_tariff() -> None:
    cert = certify_plans((THETA, PROB), 1, technology=TECH, progress=False)
    expected = best_single_tariff(THETA, PROB)
    assert cert.status == "optimal"
    assert cert.best_profit == pytest.approx(expected, rel=1e-7)
    # the solver's bound holds the optimum and closes on it to its gap (1e-6) and its
    # feasibility tolerance (1e-6 of the model's money unit)
    assert expected * (1 - 1e-9) <= cert.global_bound <= expected * (1 + 1e-5)
    assert 0 <= cert.global_gap <= 1e-5


def test_model_surplus_is_the_buyers_indirect_utility_on_both_sides_of_the_kink() -> None:
    """The MINLP's g and W at fixed plans equal the closed-form demand's, fine-tuning or not."""
    import pyomo.environ as pyo

    plan = build_plan_model(THETA, PROB, TECH, 2)
    mdl = plan.model
    for j, markup in enumerate((2.5, 0.8)):
        mdl.r[j].fix(1 / markup)
        for i in mdl.IF:  # a = max(r, theta_hat / theta), the regime binary accordingly
            threshold = TECH.theta_hat / plan.theta[i]
            mdl.a[i, j].value = max(1 / markup, threshold)
        g, margin = _surplus_and_margin(plan.theta, markup)
        got_g = [pyo.value(mdl.g[i, j]) * plan.scale for i in range(plan.theta.size)]
        got_w = [pyo.value(mdl.W[i, j]) * plan.scale for i in range(plan.theta.size)]
        np.testing.assert_allclose(got_g, g, rtol=1e-12)
        np.testing.assert_allclose(got_w, g + margin, rtol=1e-12)


@pytest.fixture(scope="module")
def certificates() -> list:
    return [certify_plans((THETA, PROB), k, technology=TECH, progress=False) for k in (1, 2, 3)]


def test_certified_profits_rise_with_k_and_stay_below_the_full_menu(certificates) -> None:
    from pyomo_llmprice.instance import Instance
    from pyomo_llmprice.pipeline import solve_instance
    from pyomo_llmprice.types import TypeSet

    labels = tuple(f"t{i}" for i in range(THETA.size))
    types = TypeSet(labels, PROB, "theta", theta=THETA)
    full = solve_instance(Instance("six", None, types, TECH), "packages")
    assert full.status == "optimal"
    profits = [c.best_profit for c in certificates]
    assert all(c.status == "optimal" for c in certificates)
    assert profits[0] <= profits[1] + 1e-12 <= profits[2] + 2e-12
    assert profits[-1] <= full.profit * (1 + 1e-7)
    for c in certificates:  # a proven bound holds the best design, to the tolerance
        assert c.global_bound >= c.best_profit * (1 - 1e-9)
        assert c.global_bound <= full.profit * (1 + 1e-5)


def test_global_design_equals_the_best_of_many_local_starts(certificates) -> None:
    for cert in certificates[1:]:
        local = design_plans((THETA, PROB), cert.K, starts=40, seed=3, technology=TECH)
        assert local.status == "optimal"
        assert cert.best_profit == pytest.approx(local.profit, rel=1e-7)


def test_time_limited_run_is_time_limit_with_its_bound() -> None:
    theta = np.linspace(0.1, 1.0, 24)
    prob = np.full(theta.size, 1 / theta.size)
    cert = certify_plans((theta, prob), 4, technology=TECH, time_limit=0.5, progress=False)
    assert cert.status == "time_limit"
    assert "time limit" in cert.note
    assert math.isnan(cert.global_bound) or cert.global_bound >= cert.best_profit * (1 - 1e-6)
    assert cert.global_gap > 0 or math.isinf(cert.global_gap)


def test_gurobi_size_limit_is_skipped_not_a_crash() -> None:
    pytest.importorskip("gurobipy")
    theta = np.linspace(0.1, 1.0, 30)
    prob = np.full(theta.size, 1 / theta.size)
    local = design_plans((theta, prob), 3, technology=TECH, progress=False)
    cert = certify_plans(
        (theta, prob), 3, local=local, solver="gurobi_direct_minlp", technology=TECH
    )
    if cert.status != "skipped":  # an unrestricted licence: then it must certify or stop
        pytest.skip("this Gurobi licence is not size-limited")
    assert cert.note.startswith("skipped: size limit")
    assert cert.local_profit == pytest.approx(local.profit)


def test_the_local_design_is_a_point_of_the_minlp_for_the_solver() -> None:
    """Fixing a local design's plans and choices leaves a feasible MINLP worth its profit.

    With SCIP's feasibility tolerance at 1e-9 this 15-type, 3-plan design (ties between
    adjacent plans hold to 1e-16) was declared infeasible, and the 'proven' bound fell
    3% below a design that exists; the solvers' own tolerances keep it."""
    from pyomo_llmprice.global_certificates.global_minlp import solve_global

    edges = np.linspace(0.0, 1.0, 16)
    theta, prob = (edges[:-1] + edges[1:]) / 2, np.diff(2 * edges - edges**2)
    local = design_plans((theta, prob), 3, technology=TECH, progress=False)
    plan = build_plan_model(theta, prob, TECH, 3)
    mdl = plan.model
    markups = np.array([p.markup for p in local.menu.plans])
    order = np.argsort(-markups)  # the model orders plans by decreasing markup
    slot = {int(o): j for j, o in enumerate(order)}
    for j, o in enumerate(order):
        mdl.r[j].fix(1 / markups[o])
        mdl.fee[j].fix(local.menu.plans[o].fixed_fee / plan.scale)
    for i, c in enumerate(local.outcome.choice[plan.order]):
        for j in range(3):
            mdl.x[i, j].fix(int(c >= 0 and slot[int(c)] == j))
    run = solve_global(mdl, "scip_direct")
    assert run.status == "optimal"
    assert run.incumbent * plan.scale == pytest.approx(local.profit, rel=1e-6)


@pytest.mark.parametrize("solver", ["scip_direct", "gurobi_direct_minlp"])
def test_progress_reports_nodes_bound_and_incumbent(monkeypatch, solver: str) -> None:
    """SCIP through its event handler, Gurobi through its log: nodes never go back, the
    bound never falls below the incumbent, and SCIP's last report is the final answer."""
    import pyomo_llmprice.global_certificates.global_minlp as global_minlp

    pytest.importorskip("gurobipy" if solver.startswith("gurobi") else "pyscipopt")
    monkeypatch.setattr(global_minlp, "PROGRESS_EVERY", 0.0)
    plan = build_plan_model(THETA, PROB, TECH, 3)
    seen: list[tuple[int, float, float]] = []
    run = global_minlp.solve_global(plan.model, solver, on_progress=lambda *a: seen.append(a))
    assert run.status == "optimal"
    assert len(seen) >= 2
    nodes = [n for n, _, _ in seen]
    assert nodes == sorted(nodes)
    finite = [(b, i) for _, b, i in seen if math.isfinite(b) and math.isfinite(i)]
    assert finite and all(b >= i - 1e-9 for b, i in finite)
    if solver == "scip_direct":  # an event per new incumbent; Gurobi's log rows are timed
        assert finite[-1][1] == pytest.approx(run.incumbent, rel=1e-6)
    else:
        assert max(i for _, i in finite) <= run.incumbent * (1 + 1e-9)
