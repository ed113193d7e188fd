"""Tariff menus, best responses and their exact check on the quantity-discount case.

Closed forms (model.md section 5, Maskin-Riley): utility ``theta q - q^2/2 - T``, unit cost
``c``. With finitely many types the tangent tariff of type i, facing type i's re-optimizing
neighbour i+1, gives it exactly ``(theta_{i+1} - theta_i)^2 / 2`` more than its own bundle
(``max_q (theta - p) q - q^2/2`` minus the same at ``q_i``, with ``theta_i - p_i = q_i``):
the 1/N^2 gap of model.md section 3, here in closed form.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import integrate, optimize

from pyomo_llmprice import theory
from pyomo_llmprice.tariffs import (
    QuadraticGood,
    TariffError,
    TariffMenu,
    TwoPartTariff,
    best_response,
    design_plans,
    evaluate_tariffs,
    linear_pricing,
    tariff_menu_from_bundles,
    tariff_menu_from_result,
)
from pyomo_llmprice.tariffs import menu as menu_module
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_grid_from_cdf

C = 0.2
GOOD = QuadraticGood(C)
PAPER = Technology.cobb_douglas()


def midpoint_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)


def discrete_quantity_discount(n: int):
    """Exact discrete optimum: value theta q, cost q^2/2 + c q to the pair (see module doc)."""
    theta, prob = midpoint_grid(n)
    menu = theory.discrete_optimal_menu_generic(
        theta, prob, lambda phi: np.maximum(phi - C, 0.0), lambda q: q**2 / 2 + C * q
    )
    q = menu.u
    tariff = menu.payment - q**2 / 2  # T = t' - q^2/2
    return theta, prob, q, tariff, menu


def tangent_menu(theta, q, tariff, rent) -> TariffMenu:
    served = q > 0
    price = theta - q
    fee = tariff - price * q
    plans = [
        TwoPartTariff.from_markup(f"p{i}", fee[i], price[i] / C, GOOD)
        for i in np.flatnonzero(served)
    ]
    intended = np.full(theta.size, -1)
    intended[served] = np.arange(served.sum())
    return TariffMenu(plans, GOOD, intended, rent)


@pytest.mark.parametrize("n", [10, 40, 160])
def test_tangent_tariffs_of_the_discrete_optimum_miss_ic_by_exactly_half_the_squared_gap(n):
    theta, prob, q, tariff, menu = discrete_quantity_discount(n)
    out = evaluate_tariffs(tangent_menu(theta, q, tariff, menu.rent), (theta, prob))
    assert out.max_deviation_gain == pytest.approx(1 / (2 * n**2), rel=1e-9)
    # every served type above the lowest takes its neighbour's plan and re-optimizes
    served = np.flatnonzero(q > 0)
    assert np.array_equal(out.choice[served[1:]], np.arange(len(served) - 1))
    # the seller earns less than the menu promised, by O(1/N)
    shortfall = menu.profit - out.profit
    assert 0 < shortfall < 1.0 / n


def test_discrete_profit_and_tangent_profit_approach_the_continuum():
    target = theory.quantity_discount(C).profit  # (1-c)^3/12
    gaps = []
    for n in (50, 200, 800):
        theta, prob, q, tariff, menu = discrete_quantity_discount(n)
        out = evaluate_tariffs(tangent_menu(theta, q, tariff, menu.rent), (theta, prob))
        gaps.append(abs(out.profit - target))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 2e-4


def test_continuum_tangent_plans_are_exactly_incentive_compatible():
    # The continuum menu (price 1 + c - theta, fee (theta - (1+c)/2)^2) is the lower envelope
    # of tangent lines to the concave tariff: every type picks its own plan.
    qd = theory.quantity_discount(C)
    theta = np.linspace(qd.cutoff + 0.01, 1.0, 30)
    plans = [
        TwoPartTariff.from_markup(f"p{i}", qd.fixed_fee(t), qd.unit_price(t) / C, GOOD)
        for i, t in enumerate(theta)
    ]
    q = qd.quantity(theta)
    own = theta * q - q**2 / 2 - qd.payment(theta)
    menu = TariffMenu(plans, GOOD, np.arange(theta.size), own)
    out = best_response(theta, menu)
    assert np.array_equal(out.choice, np.arange(theta.size))
    assert out.max_deviation_gain < 1e-12
    np.testing.assert_allclose(out.payment, qd.payment(theta), rtol=1e-12)


def test_linear_pricing_matches_the_closed_form_monopoly_price():
    # F = 0: profit (p - c)(1 - p)^2 / 2, maximized at p = (1 + 2c)/3, profit 2 (1-c)^3 / 27
    theta, prob = midpoint_grid(2000)
    design = linear_pricing((theta, prob), GOOD)
    assert design.status == "optimal"
    assert design.menu.plans[0].price_input == pytest.approx((1 + 2 * C) / 3, abs=1e-4)
    assert design.profit == pytest.approx(2 * (1 - C) ** 3 / 27, rel=1e-5)
    assert design.menu.plans[0].fixed_fee == 0


def continuum_one_tariff(c: float) -> tuple[float, float, float]:
    """Best single (fee, price) for theta ~ U[0,1], computed by quadrature and Nelder-Mead."""

    def profit(v):
        p, a = v  # a = theta_L - p >= 0, the marginal buyer's quantity; fee a^2/2
        lo = p + a
        if a < 0 or not 0 <= lo <= 1:
            return 1.0
        val, _ = integrate.quad(lambda t: a**2 / 2 + (p - c) * (t - p), lo, 1)
        return -val

    res = optimize.minimize(
        profit, [0.5, 0.2], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14}
    )
    p, a = res.x
    return a**2 / 2, p, -res.fun


def test_one_two_part_tariff_approaches_the_continuum_optimum():
    # The first-order conditions give p = c + (1-c)/5, marginal quantity 2(1-c)/5, hence fee
    # 2(1-c)^2/25 and profit 2(1-c)^3/25; the quadrature confirms them independently.
    fee, price, profit = continuum_one_tariff(C)
    assert (fee, price, profit) == pytest.approx(
        (2 * (1 - C) ** 2 / 25, C + (1 - C) / 5, 2 * (1 - C) ** 3 / 25), abs=1e-7
    )
    errors = []
    for n in (100, 400):
        theta, prob = midpoint_grid(n)
        design = design_plans((theta, prob), 1, starts=1, technology=GOOD, polish=False)
        plan = design.menu.plans[0]
        assert design.status == "optimal"
        assert design.outcome.max_deviation_gain <= 1e-12
        # the marginal type sits on a grid point: the discrete optimum is O(1/N) away
        assert abs(design.profit - profit) < 0.1 / n
        assert plan.price_input == pytest.approx(price, abs=1 / n)
        assert plan.fixed_fee == pytest.approx(fee, abs=1 / n)
        errors.append(abs(design.profit - profit))
    assert errors[1] < errors[0] / 2


def test_more_plans_earn_more_and_never_beat_the_screening_optimum():
    theta, prob, _, _, menu = discrete_quantity_discount(60)
    linear = linear_pricing((theta, prob), GOOD).profit
    profits = [
        design_plans((theta, prob), k, starts=2, technology=GOOD, polish=False).profit
        for k in (1, 2, 3)
    ]
    assert linear < profits[0] <= profits[1] + 1e-12 <= profits[2] + 2e-12
    assert profits[2] <= menu.profit + 1e-12


def test_design_is_deterministic_for_a_seed_and_lists_its_starts():
    theta, prob = midpoint_grid(40)
    a = design_plans((theta, prob), 2, starts=3, seed=7, technology=GOOD, polish=False)
    b = design_plans((theta, prob), 2, starts=3, seed=7, technology=GOOD, polish=False)
    assert a.starts.equals(b.starts)
    assert len(a.starts) == 5 and a.starts["best"].sum() == 1
    assert a.profit == pytest.approx(a.starts.loc[a.starts["best"], "profit"].iloc[0], rel=1e-12)
    doc = json.loads(json.dumps(a.to_dict()))
    assert [p["name"] for p in doc["plans"]] == ["plan1", "plan2"]
    assert sum(len(p["types"]) for p in doc["plans"]) + len(doc["excluded"]) == 40
    assert doc["max_deviation_gain"] == 0.0 and doc["status"] == "optimal"


# -- the choice rule -------------------------------------------------------------------


def test_ties_go_to_the_seller_then_to_the_lowest_plan():
    # Type theta = 1 facing price 0.5: surplus (1 - 0.5)^2/2 = 0.125 before the fee.
    same = [TwoPartTariff.from_markup(n, 0.125, 2.5, GOOD) for n in ("a", "b")]
    out = best_response([1.0], TariffMenu(same, GOOD))
    assert out.choice[0] == 0  # indifferent to nothing and both plans: seller profit decides
    # plan b earns more from the same utility (higher fee, lower price, same surplus)
    cheap = TwoPartTariff.from_markup("a", 0.0, 2.5, GOOD)  # utility 0.125, profit 0.15
    dear = TwoPartTariff.from_markup("b", 0.18, 1.0, GOOD)  # utility 0.32 - 0.18 = 0.14
    out = best_response([1.0], TariffMenu([cheap, dear], GOOD))
    assert out.choice[0] == 1  # strictly better for the buyer
    exact = TwoPartTariff.from_markup("c", 0.32 - 0.125, 1.0, GOOD)  # utility 0.125, profit 0.195
    out = best_response([1.0], TariffMenu([cheap, exact], GOOD))
    assert out.choice[0] == 1  # a tie, broken in the seller's favour


def test_buying_nothing_when_every_plan_costs_more_than_it_is_worth():
    plan = TwoPartTariff.from_markup("p", 1.0, 1.0, GOOD)
    out = best_response([0.5, 1.0], TariffMenu([plan], GOOD))
    assert list(out.choice) == [-1, -1]
    assert np.all(out.payment == 0) and np.all(out.rent == 0) and out.profit == 0
    empty = best_response([0.5], TariffMenu([], GOOD))
    assert list(empty.choice) == [-1]


def test_outcome_tables_and_aggregates_are_consistent():
    theta, prob, q, tariff, menu = discrete_quantity_discount(12)
    tm = tangent_menu(theta, q, tariff, menu.rent)
    out = evaluate_tariffs(tm, (theta, prob))
    table = out.table()
    assert len(table) == 12 and {"plan", "choice", "payment", "rent", "deviation_gain"} <= set(
        table
    )
    plans = out.plan_table()
    assert len(plans) == len(tm)
    assert plans["mass"].sum() == pytest.approx(prob[out.choice >= 0].sum())
    assert plans["profit"].sum() == pytest.approx(out.profit)
    assert out.welfare == pytest.approx(out.profit + out.consumer_surplus)
    assert out.revenue == pytest.approx(float(prob @ out.payment))
    frame = tm.to_frame()
    assert list(frame.columns) == [
        "name",
        "fixed_fee",
        "price_input",
        "price_output",
        "price_finetune",
        "markup",
    ]
    np.testing.assert_allclose(frame["price_input"], frame["markup"] * C)


def test_no_intended_choice_means_no_deviation_figure():
    plan = TwoPartTariff.from_markup("p", 0.0, 2.0, GOOD)
    out = best_response([0.5, 0.9], TariffMenu([plan], GOOD))
    assert math.isnan(out.max_deviation_gain)


def test_tariffs_are_refused_for_a_non_optimal_or_allocations_menu():
    bad = SimpleNamespace(optimal=False, status="not_converged", instance="x", setting="packages")
    with pytest.raises(TariffError, match="not_converged"):
        tariff_menu_from_result(bad)
    alloc = SimpleNamespace(optimal=True, status="optimal", instance="x", setting="allocations")
    with pytest.raises(TariffError, match="Token Packages"):
        tariff_menu_from_result(alloc)


def test_markup_is_nan_when_prices_are_not_proportional_to_cost():
    plan = TwoPartTariff("custom", 1.0, 0.2, 0.6, 0.5)
    assert math.isnan(plan.markup)
    assert plan.to_dict()["markup"] is None
    tech = Technology.cobb_douglas(cost_input=0.1, cost_output=0.3, cost_finetune=0.2)
    uniform = TwoPartTariff.from_markup("u", 0.5, 1.5, tech)
    assert (uniform.price_input, uniform.price_output, uniform.price_finetune) == pytest.approx(
        (0.15, 0.45, 0.3)
    )


def paper_tangent_gap(n: int):
    """Tangent tariffs of the exact discrete optimum (theory.py) of the paper's theta grid."""
    types = theta_grid_from_cdf(n, lambda t: 2 * t - t * t)
    menu = theory.discrete_optimal_menu(types.theta, types.prob, PAPER)
    tokens = np.column_stack([menu.X, menu.Y, menu.Z])
    tariffs = tariff_menu_from_bundles(
        types.theta, types.prob, tokens, menu.payment, menu.served, PAPER
    )
    return menu, tariffs, evaluate_tariffs(tariffs, (types.theta, types.prob), PAPER)


def test_paper_tangent_gap_is_second_order_in_the_grid_step():
    (m1, t1, o1), (m2, _, o2) = paper_tangent_gap(200), paper_tangent_gap(800)
    # tangent to each bundle: every type's own plan reproduces its bundle and payment
    np.testing.assert_allclose(t1.intended_utility[m1.served], m1.rent[m1.served], atol=1e-12)
    ratio = o1.max_deviation_gain / o2.max_deviation_gain
    assert 12 < ratio < 20  # 4x finer grid: 16x smaller gain (1/N^2)
    shortfall = [m1.profit - o1.profit, m2.profit - o2.profit]
    assert 3 < shortfall[0] / shortfall[1] < 5  # the seller's loss is first order (1/N)


def test_best_response_in_chunks_equals_one_pass(monkeypatch):
    _, tariffs, whole = paper_tangent_gap(200)
    monkeypatch.setattr(menu_module, "CHUNK_ELEMENTS", 7)
    types = theta_grid_from_cdf(200, lambda t: 2 * t - t * t)
    chunked = evaluate_tariffs(tariffs, (types.theta, types.prob), PAPER)
    assert np.array_equal(chunked.choice, whole.choice)
    np.testing.assert_array_equal(chunked.payment, whole.payment)
    np.testing.assert_array_equal(chunked.deviation_gain, whole.deviation_gain)
