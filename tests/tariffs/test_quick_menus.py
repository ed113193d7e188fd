"""LLMPricingModel solves: exact discrete optima (theory.py) and the paper's closed forms.

Expected numbers come from pyomo_llmprice.theory: the exact discrete optimum of
finitely many types (discrete virtual values, ironing; no numerical optimizer) and the
paper's continuum menu (model.md section 4), approached at rate 1/N on refined grids.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.quick import DEFAULT_GRID, LLMPricingModel, PricingError
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_grid_from_cdf

C = 0.125  # the paper's cost of every token class
TOL = 1e-6  # Ipopt at tol 1e-9 against the exact discrete optimum


def prices_array(prices):
    return np.array([[p["input"], p["output"], p["finetune"]] for p in prices])


def plan_terms(ref):
    """Markup and fee of each type's plan: theta / phi (model.md section 3), and for types
    bunched on one package (ironing) their probability-weighted mean, one plan per package."""
    markup = ref.markup.copy()
    for i in np.flatnonzero(ref.served):
        pool = ref.served & np.isclose(ref.u, ref.u[i], rtol=1e-12, atol=0)
        markup[i] = np.average(ref.markup[pool], weights=ref.prob[pool])
    return markup, ref.payment - markup * ref.seller_cost


def check_against_discrete(fees, prices, ref, costs):
    fees = np.asarray(fees)
    served = ref.served
    assert served.any() and (~served).any()
    np.testing.assert_array_equal(np.isnan(fees), ~served)  # excluded: no plan
    assert np.isnan(prices_array(prices)[~served]).all()
    markup, fee = plan_terms(ref)
    np.testing.assert_allclose(fees[served], fee[served], rtol=0, atol=TOL)
    expected = markup[served, None] * np.asarray(costs)[None, :]
    np.testing.assert_allclose(prices_array(prices)[served], expected, rtol=TOL)


def test_theta_list_gets_the_exact_discrete_optimum_in_input_order():
    theta = [0.9, 0.25, 0.6, 0.45, 1.0, 0.7, 0.35, 0.8]  # unsorted on purpose
    m = LLMPricingModel(C, C)
    fees, prices = m.optimal_two_part_tariff(theta)
    ref = theory.discrete_optimal_menu(theta, np.full(8, 1 / 8), Technology.cobb_douglas())
    check_against_discrete(fees, prices, ref, (C, C, C))
    # no distortion at the top: the highest type pays cost per token
    assert prices[4] == pytest.approx({"input": C, "output": C, "finetune": C}, rel=1e-6)
    # and every type gets its own plan back from the one-type calls
    for th, fee, price in zip(theta, fees, prices, strict=True):
        got = m.calculate_fixed_fee(th)
        assert (math.isnan(got) and math.isnan(fee)) or got == fee
        assert m.calculate_per_token_price(th) == pytest.approx(price, nan_ok=True)


def test_value_scale_types_with_probabilities_and_ties():
    alpha, beta, gamma = 0.2, 0.3, 0.2
    types = [
        {"value": 0.3, "scale": 0.1, "probability": 0.1},
        {"value": 0.1, "scale": 0.9, "probability": 0.1},  # the same theta as the first
        {"value": 0.9, "scale": 0.64, "probability": 0.2},
        {"value": 0.6, "scale": 0.5, "probability": 0.25},
        {"value": 0.8, "scale": 0.81, "probability": 0.2},  # the same theta as the third
        {"value": 1.0, "scale": 1.0, "probability": 0.15},
    ]
    m = LLMPricingModel(C, 0.25, alpha=alpha, beta=beta, gamma=gamma)
    fees, prices = m.optimal_two_part_tariff(types)
    e = 1 - alpha - beta
    theta = [t["value"] * t["scale"] ** e for t in types]
    prob = [t["probability"] for t in types]
    tech = Technology.cobb_douglas(alpha, beta, gamma, cost_finetune=0.25)
    ref = theory.discrete_optimal_menu(theta, prob, tech)
    check_against_discrete(fees, prices, ref, (C, C, 0.25))
    assert math.isnan(fees[0]) and math.isnan(fees[1])  # a tie among the excluded
    assert fees[2] == fees[4] and prices[2] == prices[4]  # a tie among the served


def test_mapping_costs_price_each_class_at_the_common_markup():
    costs = {"input": 0.1, "output": 0.4}
    m = LLMPricingModel(costs, 0.2)
    theta = [0.3, 0.5, 0.65, 0.8, 1.0]
    fees, prices = m.optimal_two_part_tariff(theta)
    tech = Technology.cobb_douglas(cost_input=0.1, cost_output=0.4, cost_finetune=0.2)
    ref = theory.discrete_optimal_menu(theta, np.full(5, 0.2), tech)
    check_against_discrete(fees, prices, ref, (0.1, 0.4, 0.2))
    for p in prices:
        if not math.isnan(p["input"]):
            assert p["output"] / p["input"] == pytest.approx(4.0, rel=1e-12)
            assert p["finetune"] / p["input"] == pytest.approx(2.0, rel=1e-12)


def paper_errors(n):
    """Largest gaps to the paper's per-token price and fee on theta in [0.4, 0.97]."""
    grid = theta_grid_from_cdf(n, lambda t: 2 * t - t * t)
    types = [{"theta": t, "probability": f} for t, f in zip(grid.theta, grid.prob, strict=True)]
    fees, prices = LLMPricingModel(C, C).optimal_two_part_tariff(types)
    theta = grid.theta
    inside = (theta >= 0.4) & (theta <= 0.97)
    closed = theory.paper_packages(theta[inside])
    price = prices_array(prices)[inside]
    assert np.isfinite(price).all()
    price_gap = np.abs(price - closed.p[:, None]).max()
    fee_gap = np.abs(np.asarray(fees)[inside] - closed.F).max()
    return price_gap, fee_gap


def test_paper_price_and_fee_are_approached_at_rate_one_over_n():
    # p = theta / (4 (3 theta - 1)) for every class, F from theory.paper_packages
    p100, f100 = paper_errors(100)
    p200, f200 = paper_errors(200)
    # discretization error O(1/N): doubling N must about halve both gaps
    assert p200 < 0.6 * p100 and f200 < 0.6 * f100
    assert p200 < 0.015 and f200 < 0.025


def test_equally_likely_theta_list_approaches_the_paper_price():
    # quantiles of F(theta) = 2 theta - theta^2: the paper's types, equally likely
    n = 200
    theta = 1 - np.sqrt(1 - (np.arange(n) + 0.5) / n)
    fees, prices = LLMPricingModel(C, C).optimal_two_part_tariff(theta.tolist())
    inside = (theta >= 0.4) & (theta <= 0.9)
    # exactly the discrete optimum of these equally likely types (prices only inside:
    # just above the exclusion cut-off theta / phi is ill-conditioned in the package) ...
    ref = theory.discrete_optimal_menu(theta, np.full(n, 1 / n), Technology.cobb_douglas())
    markup, fee = plan_terms(ref)
    fees = np.asarray(fees)
    np.testing.assert_array_equal(np.isnan(fees), ~ref.served)
    np.testing.assert_allclose(fees[ref.served], fee[ref.served], rtol=0, atol=TOL)
    expected = markup[inside, None] * np.full(3, C)  # every class at markup times cost
    np.testing.assert_allclose(prices_array(prices)[inside], expected, rtol=TOL)
    # ... which is within O(1/N) of the paper's continuum price
    closed = theory.paper_packages(theta[inside]).p
    np.testing.assert_allclose(prices_array(prices)[inside, 0], closed, atol=0.006)


def test_default_menu_prices_the_paper_sample_type():
    m = LLMPricingModel(C, C)
    assert m.result is None
    fee = m.calculate_fixed_fee(0.75)  # not a grid point: the plan it chooses
    price = m.calculate_per_token_price(0.75)
    assert m.result is not None and len(m.result.menu) == DEFAULT_GRID
    # model.md section 4: theta = 3/4 has p = 3/20 and F = 881/3840 in the continuum;
    # the 200-cell grid is within its O(1/N) error (see the rate test above)
    assert price["input"] == pytest.approx(3 / 20, abs=0.002)
    assert set(price) == {"input", "output", "finetune"}
    assert fee == pytest.approx(881 / 3840, abs=0.01)
    # and exactly: the plan of the package theta = 3/4 prefers in the discrete optimum
    # of the default grid (the paper's cdf 2 t - t^2 on DEFAULT_GRID equal cells)
    grid = theta_grid_from_cdf(DEFAULT_GRID, lambda t: 2 * t - t * t)
    ref = theory.discrete_optimal_menu(grid.theta, grid.prob, Technology.cobb_douglas())
    markup, plan_fee = plan_terms(ref)
    best = int(np.argmax(0.75 * ref.u - ref.payment))
    assert fee == pytest.approx(plan_fee[best], abs=TOL)
    assert price["input"] == pytest.approx(markup[best] * C, rel=TOL)
    # excluded in the continuum below theta = 1/3 (here: below the lowest served cell)
    assert math.isnan(m.calculate_fixed_fee(0.2))
    assert all(math.isnan(v) for v in m.calculate_per_token_price(0.2).values())


def test_off_grid_type_chooses_its_best_package():
    theta = np.array([0.4, 0.55, 0.7, 0.85, 1.0])
    m = LLMPricingModel(C, C)
    fees, _ = m.optimal_two_part_tariff(theta.tolist())
    ref = theory.discrete_optimal_menu(theta, np.full(5, 0.2), Technology.cobb_douglas())
    for t in (0.3, 0.5, 0.62, 0.77, 0.93, 1.2):
        net = t * ref.u - ref.payment
        expected = int(np.argmax(net)) if net.max() > 1e-9 else None
        got = m.calculate_fixed_fee(t)
        if expected is None:
            assert math.isnan(got), t
        else:
            assert got == pytest.approx(ref.fixed_fee[expected], abs=TOL), t
            assert got == fees[expected]


def test_non_optimal_solve_is_refused():
    m = LLMPricingModel(C, C, solver_options={"max_iter": 2})
    with pytest.raises(PricingError, match="could not be established"):
        m.optimal_two_part_tariff([0.4, 0.6, 0.8, 1.0])
    assert m.result is None  # nothing kept from the failed solve


def test_readme_example_bunched_types_share_one_plan():
    # the README's first example: w sqrt(s) = 0.901, 0.566, 0.537, 0.190
    user_types = [
        {"value": 0.95, "scale": 0.9, "probability": 0.2},
        {"value": 0.8, "scale": 0.5, "probability": 0.3},
        {"value": 0.6, "scale": 0.8, "probability": 0.3},
        {"value": 0.3, "scale": 0.4, "probability": 0.2},
    ]
    model = LLMPricingModel(cost_per_token=0.125, fine_tuning_cost=0.125)
    fees, prices = model.optimal_two_part_tariff(user_types)
    theta = [t["value"] * t["scale"] ** 0.5 for t in user_types]
    ref = theory.discrete_optimal_menu(theta, [0.2, 0.3, 0.3, 0.2], Technology.cobb_douglas())
    # the discrete virtual values of the middle pair are not monotone: ironing bunches them
    assert ref.virtual_value[1] < ref.virtual_value[2]
    assert ref.u[1] == pytest.approx(ref.u[2], rel=1e-12)
    check_against_discrete(fees, prices, ref, (C, C, C))
    assert fees[1] == fees[2] and prices[1] == prices[2]  # one package, one plan
    assert prices[0]["input"] == pytest.approx(C, rel=1e-6)  # no distortion at the top
    assert math.isnan(fees[3])  # theta = 0.19 < 1/3 is excluded
    plan = model.plans()
    assert plan["plan"].tolist().count(plan["plan"].iloc[1]) == 2
