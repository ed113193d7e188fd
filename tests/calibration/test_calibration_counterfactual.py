"""Calibrated instances priced: today's take, the optimal menu, K plans, and noise.

Without noise the inferred types are the drawn ones, so the optimal menu on them must
earn the exact discrete optimum of the true instance (:func:`pyomo_llmprice.theory.
discrete_optimal_menu`, closed form), and today's take from the data must equal the
tariff layer's evaluation of today's tariff on the true types.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pyomo_llmprice.calibration import (
    calibrate_usage,
    counterfactual,
    draw_types,
    linear_price_list,
    synthetic_usage,
    tariff_menu,
)
from pyomo_llmprice.tariffs import evaluate_tariffs
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu
from pyomo_llmprice.types import discretize

TECH = Technology.cobb_douglas()
PLANS = [
    {
        "name": "basic",
        "fixed_fee": 0.05,
        "price_input": 0.3,
        "price_output": 0.3,
        "price_finetune": 0.3,
    },
    {
        "name": "pro",
        "fixed_fee": 0.25,
        "price_input": 0.15,
        "price_output": 0.15,
        "price_finetune": 0.15,
    },
]


def test_counterfactual_earns_the_true_instances_exact_optimum():
    theta = draw_types(stats.lognorm(s=0.5, scale=0.5), 24, seed=7)
    weight = np.linspace(1.0, 3.0, theta.size)
    usage = synthetic_usage(theta, PLANS, TECH, weights=weight)
    cal = calibrate_usage(usage, PLANS, TECH, below_threshold="zero")
    buyer = cal.customers["buyer"].to_numpy()
    assert 0 < buyer.sum() < theta.size  # some customers do not buy
    # the true instance: buyers at their theta, non-buyers at 0 (the assumption made)
    true_theta = np.where(buyer, theta, 0.0)
    prob = weight / weight.sum()
    exact = discrete_optimal_menu(true_theta, prob, TECH)
    today = evaluate_tariffs(tariff_menu(PLANS, TECH), (true_theta, prob), TECH)
    for key in ("profit", "revenue", "consumer_surplus"):
        assert cal.current[key] == pytest.approx(getattr(today, key), rel=1e-10)

    cf, _ = counterfactual(cal, plans=2, starts=1, progress=False)
    full = cf["full_menu"]
    assert full["status"] == "optimal"
    assert full["max_violation"] <= full["tolerance"]
    assert full["profit"] == pytest.approx(exact.profit, rel=1e-7)
    assert full["profit_change"] == pytest.approx(exact.profit - today.profit, rel=1e-6)
    assert sum(p["mass"] for p in full["packages"]) == pytest.approx(prob[exact.served].sum())
    # each package's plan collects its payment: fee + markup * cost of its tokens
    for p in full["packages"]:
        cost = TECH.cost(p["input_tokens"], p["output_tokens"], p["finetune_tokens"])
        assert p["fixed_fee"] + p["markup"] * cost == pytest.approx(p["payment"], rel=1e-9)
    for name in ("K=1", "K=2"):
        assert cf[name]["status"] == "optimal"
        assert cf[name]["profit"] <= exact.profit + 1e-9
        assert len(cf[name]["terms"]) == int(name[2:])
    assert cf["K=2"]["profit"] >= cf["K=1"]["profit"] - 1e-12


def test_quantile_bins_are_weighted_means_of_equal_mass():
    theta = draw_types(stats.lognorm(s=0.6, scale=0.5), 40, seed=2)
    plans = linear_price_list(1.5, TECH)
    usage = synthetic_usage(theta, plans, TECH)
    cal = calibrate_usage(usage, plans, TECH, bins=4)
    ts = cal.instance.types
    ordered = np.sort(theta).reshape(4, 10)  # 40 equal weights: 10 customers a bin
    np.testing.assert_allclose(ts.theta, ordered.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(ts.prob, np.full(4, 0.25))
    assert ts.labels == ("q1", "q2", "q3", "q4")


def _profit_error(n: int, seed: int, smoothing: str, bins: int = 20) -> float:
    """Relative error of the optimal profit on the calibrated types against the true law's."""
    law = stats.lognorm(s=0.4, scale=0.5)
    plans = linear_price_list(1.5, TECH)
    usage = synthetic_usage(
        draw_types(law, n, seed), plans, TECH, periods=3, noise=0.3, seed=100 + seed
    )
    cal = calibrate_usage(usage, plans, TECH, smoothing=smoothing, bins=bins)
    ts = cal.instance.types
    fitted = discrete_optimal_menu(ts.theta, ts.prob, TECH).profit
    truth = discrete_optimal_menu(*discretize(law, bins, "prob"), TECH).profit
    return fitted / truth - 1


def test_with_noise_the_lognormal_fit_error_shrinks_with_customers():
    small = np.mean([abs(_profit_error(50, s, "lognormal")) for s in range(5)])
    large = np.mean([abs(_profit_error(3000, s, "lognormal")) for s in range(5)])
    assert large < small / 2


def test_noise_inflates_period_averages_but_not_the_fitted_law():
    """Period averages keep part of the noise (var log theta + noise^2 / periods): the
    spread of types is overstated, and the counterfactual with it; the lognormal fit
    removes the noise's share."""
    law = stats.lognorm(s=0.4, scale=0.5)
    plans = linear_price_list(1.5, TECH)
    theta = draw_types(law, 4000, seed=11)
    usage = synthetic_usage(theta, plans, TECH, periods=3, noise=0.3, seed=12)
    averaged = calibrate_usage(usage, plans, TECH, smoothing="average")
    spread = np.var(np.log(averaged.customers["theta"]))
    assert spread == pytest.approx(0.4**2 + 0.3**2 / 3, rel=0.08)
    fitted = calibrate_usage(usage, plans, TECH, smoothing="lognormal")
    assert fitted.fit.sigma == pytest.approx(0.4, rel=0.05)
    assert fitted.fit.noise_sd == pytest.approx(0.3, rel=0.03)
    # the counterfactual: averages earn more than the true types would (a wider spread);
    # the fitted law earns about what the true law does, both as 20 equally likely points
    prob = np.full(theta.size, 1 / theta.size)
    exact = discrete_optimal_menu(theta, prob, TECH).profit
    noisy = discrete_optimal_menu(averaged.customers["theta"], prob, TECH).profit
    ts = fitted.instance.types
    smooth = discrete_optimal_menu(ts.theta, ts.prob, TECH).profit
    law = discrete_optimal_menu(*discretize(law, len(ts.theta), "prob"), TECH).profit
    assert noisy / exact - 1 > 0.15
    assert abs(smooth / law - 1) < (noisy / exact - 1) / 4


def test_a_menu_that_is_not_optimal_is_withheld():
    theta = draw_types(stats.lognorm(s=0.5, scale=0.5), 12, seed=1)
    plans = linear_price_list(1.5, TECH)
    cal = calibrate_usage(synthetic_usage(theta, plans, TECH), plans, TECH)
    cf, _ = counterfactual(cal, plans=1, starts=0, progress=False, options={"max_iter": 2})
    full = cf["full_menu"]
    assert full["status"] == "iteration_limit"
    assert full["profit"] is None and full["profit_change"] is None
    assert full["packages"] is None
    assert cf["K=1"]["status"] == "optimal"  # the designs do not depend on that solve
