"""Equilibria against the closed forms of competition in utility space.

Symmetric sellers whose buyers' taste is independent of their type compete for each
type in utility: every type gets its efficient bundle (all tokens at marginal cost,
markup 1) and pays one fee for every type, ``sigma S / (S - 1)`` under logit without
outside option and ``tau`` under a covered Hotelling line (Armstrong and Vickers 2001;
Rochet and Stole 2002). With one seller and a logit outside option the menu becomes
the monopoly menu as sigma goes to 0. Efficient bundles are the pointwise optimum of
:func:`pyomo_llmprice.theory.pointwise_bundle` at ``phi = theta``; the monopoly profit
is the exact discrete optimum of :func:`pyomo_llmprice.theory.discrete_optimal_menu`.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyomo_llmprice.competition import (
    GAIN_TOLERANCE,
    Competition,
    CompetitionInstance,
    Hotelling,
    Logit,
    Seller,
)
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu, pointwise_bundle
from pyomo_llmprice.types import theta_types

PAPER = Technology.cobb_douglas()


def market(
    n_types: int, sellers: list[Technology], taste: object, lo: float = 0.3
) -> CompetitionInstance:
    theta = np.linspace(lo, 1.0, n_types)
    buyers = Instance(name="t", path=None, types=theta_types(theta), technology=sellers[0])
    named = tuple(Seller(f"s{i}", t) for i, t in enumerate(sellers))
    return CompetitionInstance("t", None, buyers, named, taste)  # type: ignore[arg-type]


def assert_cost_plus_fee(result: object, fee: float) -> None:
    """Every seller: efficient bundles, markup 1, the same fee for every type."""
    assert result.status == "optimal", result.message
    assert result.max_deviation_gain <= GAIN_TOLERANCE
    theta = np.asarray(result.market.buyers.types.theta)
    x, y, z = pointwise_bundle(theta, PAPER)
    n = len(result.menus)
    for menu in result.menus:
        assert menu.max_ic_violation <= menu.tolerance.max()
        np.testing.assert_allclose(menu.markup, 1.0, atol=1e-5)
        np.testing.assert_allclose(menu.fixed_fee, fee, rtol=1e-5)
        np.testing.assert_allclose(menu.input_tokens, x, rtol=1e-4)
        np.testing.assert_allclose(menu.output_tokens, y, rtol=1e-4)
        np.testing.assert_allclose(menu.finetune_tokens, z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.market_share, 1.0 / n, atol=1e-6)
    np.testing.assert_allclose(result.profit, fee / n, rtol=1e-5)


@pytest.mark.parametrize(
    ("n_sellers", "n_types", "sigma"), [(2, 3, 0.05), (3, 5, 0.05), (2, 7, 0.2)]
)
def test_symmetric_logit_is_cost_plus_fee(n_sellers: int, n_types: int, sigma: float) -> None:
    result = Competition(market(n_types, [PAPER] * n_sellers, Logit(sigma, False))).solve()
    assert_cost_plus_fee(result, sigma * n_sellers / (n_sellers - 1))


@pytest.mark.parametrize(("n_types", "tau"), [(3, 0.05), (6, 0.1)])
def test_symmetric_hotelling_is_cost_plus_fee(n_types: int, tau: float) -> None:
    result = Competition(market(n_types, [PAPER] * 2, Hotelling(tau, False))).solve()
    assert_cost_plus_fee(result, tau)


def test_hotelling_consumer_surplus_is_the_integral_over_the_line() -> None:
    """Equal offers u on both ends: each buyer travels to the nearer end, mean
    distance 1/4, so expected utility is u - tau/4."""
    taste = Hotelling(0.2, False)
    u = np.array([[1.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(taste.consumer_surplus(u), [0.95, 0.45])


@pytest.mark.parametrize("n_types", [4, 6])
def test_one_seller_with_outside_option_tends_to_the_monopoly_menu(n_types: int) -> None:
    theta = np.linspace(0.3, 1.0, n_types)
    exact = discrete_optimal_menu(theta, np.full(n_types, 1 / n_types), PAPER)
    monopoly = float(np.sum(exact.prob * (exact.payment - exact.seller_cost)))
    gaps = []
    for sigma in (1e-2, 1e-3):
        result = Competition(market(n_types, [PAPER], Logit(sigma, True))).solve()
        assert result.status == "optimal", result.message
        gaps.append((monopoly - result.profit[0]) / monopoly)
    # below the monopoly profit (the taste costs the seller), and closer as sigma falls
    assert 0 < gaps[1] < gaps[0] < 0.05
    assert gaps[1] < 0.01
    # the payments approach the monopoly payments (within 2% of the top payment at
    # sigma = 1e-3: a few sigma of extra utility and the excluded types' tiny items)
    np.testing.assert_allclose(
        result.menus[0].payment, exact.payment, atol=0.02 * exact.payment.max()
    )


def test_asymmetric_sellers_certified_with_the_comparative_statics_that_must_hold() -> None:
    """A weaker base model (base_quality 0.6 against 1) at equal costs: the stronger
    model's advantage in surplus grows with theta until fine-tuning makes it the
    constant saving c_z (1 - 0.6), so it sells to more than half of every type and its
    share does not fall with theta (it keeps the higher types). A cheaper entrant
    (every cost 0.1 instead of 0.125) takes share from it on every type and profit."""

    def weak(cost: float) -> Technology:
        return Technology.cobb_douglas(
            base_quality=0.6, cost_input=cost, cost_output=cost, cost_finetune=cost
        )

    results = []
    for cost in (0.125, 0.1):
        result = Competition(market(6, [PAPER, weak(cost)], Logit(0.05, False))).solve()
        assert result.status == "optimal", result.message
        assert result.max_deviation_gain <= GAIN_TOLERANCE
        for menu in result.menus:
            assert menu.max_ic_violation <= menu.tolerance.max()
        results.append(result)
    share = results[0].choice_prob[0]  # the stronger model's, types in increasing theta
    assert np.all(share > 0.5)
    assert np.all(np.diff(share) >= -1e-7)
    assert results[0].profit[0] > results[0].profit[1]
    assert np.all(results[1].choice_prob[0] < share)
    assert results[1].profit[0] < results[0].profit[0]


def test_not_converged_reports_the_last_profile_and_calls_nothing_an_equilibrium() -> None:
    result = Competition(
        market(4, [PAPER] * 2, Logit(0.05, False)), max_iter=1, continuation=False
    ).solve()
    assert result.status == "not_converged"
    doc = result.to_json()
    assert doc["sellers"] is None and doc["welfare"] is None
    assert len(doc["last_profile"]["sellers"]) == 2
    assert "NOT an equilibrium" in result.report()
