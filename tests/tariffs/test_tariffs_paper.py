"""Tariffs of the paper's example (Token Packages, model.md section 4) against the continuum.

The continuum baselines are computed here independently of the package's design code: the
closed-form demand of a buyer facing markup m is the pointwise optimum at ``theta / m``
(:func:`theory.pointwise_bundle`), integrated against the density ``2 - 2 theta`` by
quadrature and optimized by scipy. They reproduce model.md's figures (linear m ~ 1.4501,
profit ~ 0.04190, revenue ~ 0.13499; one tariff F ~ 0.1757, m ~ 1.2070, profit ~ 0.08211,
revenue ~ 0.23175); the discretized designs on the 1000-type grid must approach them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize

from pyomo_llmprice import theory
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.tariffs import (
    design_plans,
    evaluate_tariffs,
    linear_pricing,
    tariff_menu_from_result,
)
from pyomo_llmprice.technology import Technology

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
PAPER = Technology.cobb_douglas()
COSTS = np.array([0.125, 0.125, 0.125])


def density(theta: float) -> float:
    return 2.0 - 2.0 * theta


def facing_markup(theta: float, m: float) -> tuple[float, float]:
    """Token cost and surplus before the fee of type theta on prices m * c."""
    x, y, z = theory.pointwise_bundle(theta / m, PAPER)
    u = theory.pointwise_precision(theta / m, PAPER)
    cost = float(COSTS @ np.array([x, y, z]).ravel())
    return cost, float(theta * u - m * cost)


def quad(fn, lo: float, hi: float, m: float) -> float:
    # kink where theta / m crosses the fine-tuning threshold 1/2
    return integrate.quad(fn, lo, hi, points=[m / 2], epsabs=1e-13, limit=200)[0]


@functools.cache
def continuum_linear() -> tuple[float, float, float]:
    def profit(m: float) -> float:
        return quad(lambda t: (m - 1) * facing_markup(t, m)[0] * density(t), 0, 1, m)

    res = optimize.minimize_scalar(
        lambda m: -profit(m), bounds=(1.1, 2.0), method="bounded", options={"xatol": 1e-10}
    )
    m = float(res.x)
    revenue = quad(lambda t: m * facing_markup(t, m)[0] * density(t), 0, 1, m)
    return m, -float(res.fun), revenue


@functools.cache
def continuum_one_tariff() -> tuple[float, float, float, float]:
    def profit(v) -> float:
        low, m = v  # the marginal buyer pays its whole surplus as the fee
        fee = facing_markup(low, m)[1]
        return -quad(lambda t: (fee + (m - 1) * facing_markup(t, m)[0]) * density(t), low, 1, m)

    res = optimize.minimize(
        profit, [0.45, 1.2], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-15}
    )
    low, m = res.x
    fee = facing_markup(low, m)[1]
    revenue = quad(lambda t: (fee + m * facing_markup(t, m)[0]) * density(t), low, 1, m)
    return fee, float(m), -float(res.fun), revenue


@functools.cache
def instance(name: str):
    return read_instance(INSTANCES / f"{name}.dat")


@functools.cache
def solved(name: str):
    return solve_instance(instance(name))


def test_continuum_baselines_reproduce_the_reference_figures():
    m, profit, revenue = continuum_linear()
    assert (m, profit, revenue) == pytest.approx((1.4501, 0.04190, 0.13499), abs=6e-5)
    fee, m1, profit1, revenue1 = continuum_one_tariff()
    assert (fee, m1, profit1, revenue1) == pytest.approx(
        (0.1757, 1.2070, 0.08211, 0.23175), abs=6e-5
    )
    assert profit1 < theory.PAPER_PACKAGES_PROFIT


def test_linear_pricing_on_the_fine_grid_approaches_the_continuum():
    m, profit, revenue = continuum_linear()
    design = linear_pricing(instance("paper_theta_1000"))
    plan = design.menu.plans[0]
    assert design.status == "optimal" and plan.fixed_fee == 0
    assert plan.markup == pytest.approx(m, rel=1e-3)
    assert plan.price_input == pytest.approx(m * 0.125, rel=1e-3)
    assert design.profit == pytest.approx(profit, rel=1e-4)
    assert design.outcome.revenue == pytest.approx(revenue, rel=1e-3)
    assert np.all(design.outcome.choice[instance("paper_theta_1000").theta > 0] == 0)


def test_one_two_part_tariff_on_the_fine_grid_approaches_the_continuum():
    fee, m, profit, revenue = continuum_one_tariff()
    n = 1000
    design = design_plans(instance("paper_theta_1000"), 1, starts=2)
    plan = design.menu.plans[0]
    assert design.status == "optimal"
    assert design.outcome.max_deviation_gain <= 1e-12
    # the marginal buyer sits on a grid point: O(1/N) from the continuum
    assert design.profit == pytest.approx(profit, abs=0.2 / n)
    assert design.outcome.revenue == pytest.approx(revenue, abs=1.0 / n)
    assert plan.markup == pytest.approx(m, abs=2.0 / n)
    assert plan.fixed_fee == pytest.approx(fee, abs=1.0 / n)


def test_k_plans_are_incentive_compatible_and_climb_towards_the_full_menu():
    inst = instance("paper_theta_100")
    full = solved("paper_theta_100")
    linear = linear_pricing(inst).profit
    designs = [design_plans(inst, k, starts=1, polish=False) for k in (1, 2, 3)]
    profits = [d.profit for d in designs]
    assert linear < profits[0] < profits[1] < profits[2] < full.profit
    for k, d in zip((1, 2, 3), designs, strict=True):
        assert d.status == "optimal" and len(d.menu) == k
        assert d.outcome.max_deviation_gain <= 1e-9
        markups = [p.markup for p in d.menu.plans]
        fees = [p.fixed_fee for p in d.menu.plans]
        # heavier users: larger fee, lower per-token price (model.md section 3)
        assert markups == sorted(markups, reverse=True) and fees == sorted(fees)
        assert min(markups) >= 1.0


def test_tangent_tariffs_approach_the_papers_price_and_fee():
    errors = {}
    for name, n in (("paper_theta_100", 100), ("paper_theta_1000", 1000)):
        inst = instance(name)
        menu = tariff_menu_from_result(solved(name), inst)
        frame = menu.to_frame()
        plan = menu.intended_choice
        pick = (plan >= 0) & (inst.theta > 0.4)  # away from the exclusion threshold 1/3
        closed = theory.paper_packages(inst.theta[pick])
        price = frame["price_input"].to_numpy()[plan[pick]]
        fee = frame["fixed_fee"].to_numpy()[plan[pick]]
        np.testing.assert_allclose(frame["price_output"], frame["price_input"])
        errors[n] = (np.max(np.abs(price / closed.p - 1)), np.max(np.abs(fee - closed.F)))
        assert errors[n][0] < 10 / n and errors[n][1] < 10 / n
    assert errors[1000][0] < errors[100][0] / 5 and errors[1000][1] < errors[100][1] / 5


def test_tangent_tariffs_gap_is_measured_and_shrinks_with_the_grid():
    gains, shortfalls = [], []
    for name in ("paper_theta_20", "paper_theta_100", "paper_theta_1000"):
        inst = instance(name)
        result = solved(name)
        menu = tariff_menu_from_result(result, inst)
        out = evaluate_tariffs(menu, inst)
        assert len(menu) == int(result.menu["served"].sum())  # one plan per distinct bundle
        gains.append(out.max_deviation_gain)
        shortfalls.append(result.profit - out.profit)
    assert all(g > 0 for g in gains) and all(s > 0 for s in shortfalls)
    # second order in the grid step per type (1/N^2), first order in the seller's profit
    assert gains[1] < gains[0] / 10 and gains[2] < gains[1] / 10
    assert shortfalls[2] < shortfalls[1] < shortfalls[0]
