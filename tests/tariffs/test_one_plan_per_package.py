"""Every door prices a menu with one function, and only served types get a plan.

Closed forms (docs/model.md; the paper's technology alpha = beta = gamma = 1/4, b = 1,
every cost c = 1/8, so theta_hat = 1/2): with N equally likely types theta_i = i d, the
discrete virtual value is phi_i = theta_i - (N - i) d. At phi <= theta_hat the bundle is
X = Y = 4 phi^2, Z = 0, precision u = 2 phi; above it X = Y = 1 + Z = 2 phi u with
u = (2 phi)^3. A type's tangent markup is theta / phi (p_x = alpha V / X = c theta / phi)
and its fee payment - markup * cost. Payments: the lowest served type pays its value,
each next one its value minus the rent theta_(i-1) has, plus (theta_i - theta_(i-1)) u_(i-1).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice import compare_pricing, linear_pricing, theory
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.quick import LLMPricingModel
from pyomo_llmprice.tariffs import design_plans, tariff_menu_from_result
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types
from tests.user_precision import ShiftedCobbDouglas

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
C = 0.125
#: Ipopt meets the profit to ~1e-9 but a package's tokens only to ~1e-5 (flat optimum)
TOKENS_RTOL = 1e-4


def bundle(phi: float) -> tuple[float, float, float, float]:
    """(X, Y, Z, u) the paper's technology delivers at virtual value phi."""
    if phi <= 0.5:
        x = 4 * phi**2
        return x, x, 0.0, 2 * phi
    u = (2 * phi) ** 3
    return 2 * phi * u, 2 * phi * u, 2 * phi * u - 1, u


def closed_form_plans(theta: list[float]) -> tuple[list[float], list[float]]:
    """Per type: fixed fee and input price (NaN without a plan), equally likely types."""
    d, n = theta[0], len(theta)
    fees, prices, last = [], [], None  # last: (theta, u, payment) of the type below
    for i, th in enumerate(theta, start=1):
        phi = th - (n - i) * d
        if phi <= 0:  # zero virtual value included: no plan, even at an exact tie
            fees.append(math.nan)
            prices.append(math.nan)
            continue
        x, y, z, u = bundle(phi)
        pay = th * u if last is None else last[2] + th * (u - last[1])
        markup = th / phi
        fees.append(pay - markup * C * (x + y + z))
        prices.append(markup * C)
        last = (th, u, pay)
    return fees, prices


@pytest.mark.parametrize("theta", [[0.25, 0.5, 0.75, 1.0], [0.2, 0.4, 0.6, 0.8]])
def test_quick_prices_only_served_types_and_never_solver_dust(theta):
    fees, prices = LLMPricingModel(cost_per_token=C, fine_tuning_cost=C).optimal_two_part_tariff(
        theta
    )
    want_fee, want_price = closed_form_plans(theta)
    assert math.isnan(want_fee[1])  # the second type's virtual value is exactly zero
    for got, want in zip(fees, want_fee, strict=True):
        assert got == pytest.approx(want, rel=TOKENS_RTOL, nan_ok=True)
    got_price = [p["input"] for p in prices]
    for got, want in zip(got_price, want_price, strict=True):
        assert got == pytest.approx(want, rel=TOKENS_RTOL, nan_ok=True)
    assert [p["output"] for p in prices] == pytest.approx(got_price, nan_ok=True)


@pytest.mark.parametrize("theta", [[0.25, 0.5, 0.75, 1.0], [0.2, 0.4, 0.6, 0.8]])
def test_the_nlp_solve_snaps_the_zero_virtual_value_type_before_pricing(theta):
    """Ipopt leaves a type of exactly zero virtual value a sliver (1e-9 tokens, quoted a
    markup of 19,374 before): it is excluded, gets no plan, and the others keep theirs."""
    types = theta_types(np.array(theta), np.full(4, 0.25))
    inst = Instance("dust", None, types, Technology.cobb_douglas())
    result = solve_instance(inst, method="nlp")
    assert result.status == "optimal" and result.solver != "exact"
    menu = result.menu
    want_fee, want_price = closed_form_plans(theta)
    assert list(menu["served"]) == [False, False, True, True]
    assert (menu["input_tokens"][:2] == 0).all() and (menu["payment"][:2] == 0).all()
    np.testing.assert_allclose(menu["fixed_fee"], want_fee, rtol=TOKENS_RTOL)
    np.testing.assert_allclose(menu["markup"] * C, want_price, rtol=TOKENS_RTOL)


def test_the_closed_form_plans_by_hand():
    # theta = (1/4, 1/2, 3/4, 1): phi = (-1/2, 0, 1/2, 1); the third type buys
    # X = Y = 1 (u = 1) at its value 3/4, markup 3/2, fee 3/4 - 3/2 * 1/4; the top
    # X = Y = 16, Z = 15, u = 8, pays 3/4 + 7 and is priced at cost: fee 7.75 - 47/8
    fees, prices = closed_form_plans([0.25, 0.5, 0.75, 1.0])
    assert fees[2:] == pytest.approx([0.375, 1.875]) and prices[2:] == pytest.approx(
        [0.1875, 0.125]
    )


def test_quick_menu_plans_and_result_agree():
    model = LLMPricingModel(cost_per_token=C, fine_tuning_cost=C)
    model.optimal_two_part_tariff([0.25, 0.5, 0.75, 1.0])
    plans, menu = model.plans(), model.result.menu
    np.testing.assert_array_equal(plans["markup"], menu["markup"])
    np.testing.assert_array_equal(plans["fixed_fee"], menu["fixed_fee"])


@pytest.mark.parametrize("method", ["nlp", "exact"])
def test_bunched_types_get_the_same_plan_from_solve_and_tariffs(method):
    result = solve_instance(INSTANCES / "paper_vs_10x10.dat", method=method)
    assert result.status == "optimal"
    menu = result.menu.set_index("type")
    named = ["w04_s09", "w04_s10", "w05_s06"]  # one bundle (the report)
    assert menu.loc[named, "markup"].nunique() == 1
    assert menu.loc[named, "fixed_fee"].nunique() == 1
    terms = tariff_menu_from_result(result).intended_terms()  # what llmprice tariffs prints
    terms.index = result.menu["type"]
    np.testing.assert_array_equal(terms.loc[named, "markup"], menu.loc[named, "markup"])
    np.testing.assert_array_equal(terms.loc[named, "fixed_fee"], menu.loc[named, "fixed_fee"])
    # the plan of the package: theta / phi averaged over its types (all share phi)
    inst = read_instance(INSTANCES / "paper_vs_10x10.dat")
    exact = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    package = menu["package"].to_numpy() == menu.loc[named[0], "package"]
    phi = exact.ironed_virtual_value[package]
    want = np.average(menu["theta"].to_numpy()[package] / phi, weights=inst.types.prob[package])
    assert menu.loc[named[0], "markup"] == pytest.approx(want, rel=TOKENS_RTOL)


def user_instance(precision=None) -> Instance:
    tech = Technology(C, C, C, precision) if precision else Technology.cobb_douglas()
    types = theta_types(np.array([0.25, 0.5, 0.75, 1.0]), np.full(4, 0.25))
    return Instance("user", None, types, tech)


def test_bare_theta_types_need_no_cobb_douglas():
    inst = user_instance(ShiftedCobbDouglas())
    np.testing.assert_array_equal(inst.theta, [0.25, 0.5, 0.75, 1.0])


def test_linear_pricing_and_compare_pricing_take_a_user_precision():
    """ShiftedCobbDouglas is the paper's function written by a user: the numerical buyer
    and the solve must reproduce the Cobb-Douglas numbers (closed-form buyer) and the
    closed forms of the full menu."""
    user = compare_pricing(user_instance(ShiftedCobbDouglas()), plans=(1,), starts=0)
    assert (user.table["status"][["linear", "K=1", "full_menu"]] == "optimal").all()
    paper = {
        "linear": linear_pricing(user_instance()).profit,
        "K=1": design_plans(user_instance(), 1, starts=0).profit,
        # f (t_3 - cost_3 + t_4 - cost_4) with the bundles of closed_form_plans
        "full_menu": 0.25 * (0.75 - 0.25 + 7.75 - 47 / 8),
    }
    for row, want in paper.items():
        assert user.table.loc[row, "profit"] == pytest.approx(want, rel=1e-6)
    # the full menu's plans under the user's function: markups theta / phi from its
    # derivative (never NaN for a served type), the closed-form fees of the paper's case
    menu = user.full_menu.menu
    want_fee, _ = closed_form_plans([0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(menu["markup"], [np.nan, np.nan, 1.5, 1.0], rtol=TOKENS_RTOL)
    np.testing.assert_allclose(menu["fixed_fee"], want_fee, rtol=TOKENS_RTOL)


def test_iterations_count_every_solve_including_the_exclusion_resolve(monkeypatch):
    """The zero-virtual-value type is excluded by a re-solve; the result's iteration
    count and wall time are what the menu cost: the first solve's plus the re-solve's."""
    from pyomo_llmprice import pipeline
    from pyomo_llmprice.outcomes import iteration_count

    seen: list[int | None] = []
    times: list[float] = []
    real = pipeline.solve_menu

    def spy(*args, **kwds):
        out = real(*args, **kwds)
        seen.append(iteration_count(out[0]))
        times.append(out[0].timing_info.wall_time)
        return out

    monkeypatch.setattr(pipeline, "solve_menu", spy)
    types = theta_types(np.array([0.25, 0.5, 0.75, 1.0]), np.full(4, 0.25))
    result = solve_instance(Instance("dust", None, types, Technology.cobb_douglas()), method="nlp")
    assert result.excluded and len(seen) >= 2 and None not in seen
    assert result.iterations == sum(seen)
    assert result.wall_time == pytest.approx(sum(times), rel=1e-12)
