"""A general one-good value through the tariff code: the two-type saturating case.

model.md section 5: value ``theta (1 - e^-q)``, unit cost ``c = 0.1``, ``theta = (1, 2)``,
``f = (0.6, 0.4)``; the screening optimum is ``q_L = ln(10/3)``, ``q_H = ln 20``,
``t = (0.7, 1.2)``, profit 0.7079323 (theory.two_type_saturating). At price p a type buys
``q = ln(theta / p)`` (when ``theta > p``), worth ``theta - p`` gross.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from pyomo_llmprice import theory
from pyomo_llmprice.tariffs import (
    TariffMenu,
    TwoPartTariff,
    ValueBuyer,
    ValueGood,
    best_response,
    design_plans,
    linear_pricing,
)

C = 0.1
GOOD = ValueGood(lambda q: 1.0 - math.exp(-q), C)
THETA = np.array([1.0, 2.0])
PROB = np.array([0.6, 0.4])


def test_numerical_demand_is_log_theta_over_price():
    theta = np.array([0.05, 0.5, 1.0, 2.0, 7.0])
    tokens, gross = ValueBuyer(GOOD).demand(theta, np.array([0.3, 0.0, 0.0]))
    q = np.where(theta > 0.3, np.log(np.maximum(theta, 0.3) / 0.3), 0.0)
    np.testing.assert_allclose(tokens[:, 0], q, rtol=1e-7, atol=1e-9)  # Brent: sqrt(eps)
    np.testing.assert_allclose(
        gross, np.where(theta > 0.3, theta - 0.3, 0.0), rtol=1e-9, atol=1e-12
    )


def test_tangent_tariffs_of_the_two_type_optimum_let_the_high_type_deviate():
    bench = theory.two_type_saturating(C)
    price = THETA * np.exp(-bench.q)  # tangent: theta v'(q) = p, i.e. (0.3, 0.1)
    np.testing.assert_allclose(price, [0.3, 0.1])
    fee = bench.payment - price * bench.q
    plans = [TwoPartTariff.from_markup(f"p{i}", fee[i], price[i] / C, GOOD) for i in range(2)]
    rent = THETA * (1 - np.exp(-bench.q)) - bench.payment
    out = best_response(THETA, TariffMenu(plans, GOOD, np.arange(2), rent), prob=PROB)
    # the high type on the low plan: 2 - 0.3 - 0.3 ln(2/0.3) - fee_L, against rent 0.7
    gain = 2 - 0.3 - 0.3 * math.log(2 / 0.3) - fee[0] - rent[1]
    assert list(out.choice) == [0, 0]
    assert out.max_deviation_gain == pytest.approx(gain, rel=1e-7)
    assert out.profit < bench.profit


def two_plans_by_hand() -> tuple[float, float]:
    """Best (price_L, profit) of two plans derived by hand.

    The high type's plan is priced at cost (no distortion at the top: its fee takes the
    surplus instead); the low type's fee is its whole surplus ``S_L(p) = 1 - p + p ln p``
    and the high type's fee leaves it indifferent to the low plan:
    ``F_H = F_L + S_H(c) - S_H(p_L)`` with ``S(theta, p) = theta - p - p ln(theta / p)``.
    """

    def surplus(theta: float, p: float) -> float:
        return theta - p - p * math.log(theta / p) if theta > p else 0.0

    def profit(p: float) -> float:
        fee_low = surplus(1.0, p)
        fee_high = fee_low + surplus(2.0, C) - surplus(2.0, p)
        return 0.6 * (fee_low + (p - C) * math.log(1.0 / p)) + 0.4 * fee_high

    res = optimize.minimize_scalar(
        lambda p: -profit(p), bounds=(C, 1.0), method="bounded", options={"xatol": 1e-12}
    )
    return float(res.x), -float(res.fun)


def test_two_plans_match_the_hand_derivation_and_stay_below_screening():
    design = design_plans((THETA, PROB), 2, starts=0, technology=GOOD)
    assert design.status == "optimal" and design.outcome.max_deviation_gain <= 1e-12
    price_low, profit = two_plans_by_hand()
    assert design.profit == pytest.approx(profit, rel=1e-7)
    assert design.menu.plans[0].price_input == pytest.approx(price_low, rel=1e-4)
    assert design.profit < theory.two_type_saturating(C).profit
    top = design.menu.plans[1]
    assert top.markup == pytest.approx(1.0, abs=1e-4)  # no distortion at the top
    one = design_plans((THETA, PROB), 1, starts=0, technology=GOOD)
    assert linear_pricing((THETA, PROB), GOOD).profit < one.profit < design.profit
