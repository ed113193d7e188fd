"""Token Packages (Pyomo + Ipopt) against independent theory.

Every expected number comes from pyomo_llmprice.theory (pure numpy: discrete virtual
values, ironing by pool-adjacent-violators, the pointwise closed form of model.md
section 3) or from a textbook closed form (model.md section 5), never from a run.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.core.expr.numvalue import is_potentially_variable

from pyomo_llmprice import theory
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, solve_instance, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_grid_from_cdf, theta_types

INSTANCES = Path(__file__).resolve().parents[2] / "instances"

# Profit to 1e-7 relative on every grid. Value-scale grids have exact ties in theta
# (0.3 sqrt(0.1) = 0.1 sqrt(0.9)); the blocks merge identical types (merge_identical, the
# default), which brings 5x5 and 10x10 from ~2e-7 to under 1e-8 of the optimum. Bundles
# inside an ironed pool are pinned only to second order by profit, so per-type quantities
# get a looser, scale-relative tolerance.
PROFIT_RTOL = 1e-7
BUNDLE_TOL = 2e-5  # relative to the largest entry of the column


@functools.cache
def solved(name: str):
    inst = read_instance(INSTANCES / f"{name}.dat")
    result = solve_model(build_model(inst, "packages"))
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    return inst, result, ref


def close(actual, expected, tol=BUNDLE_TOL):
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * scale)


GRIDS = ["paper_theta_20", "paper_theta_100", "paper_vs_5x5", "paper_vs_10x10"]


@pytest.mark.parametrize("name", GRIDS)
def test_profit_and_menu_equal_the_discrete_optimum(name):
    inst, res, ref = solved(name)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=PROFIT_RTOL)
    assert res.aggregates["revenue"] == pytest.approx(ref.revenue, rel=1e-5)
    assert res.aggregates["consumer_surplus"] == pytest.approx(ref.consumer_surplus, rel=1e-5)
    menu = res.menu
    close(menu["payment"], ref.payment)
    close(menu["input_tokens"], ref.X)
    close(menu["output_tokens"], ref.Y)
    close(menu["finetune_tokens"], ref.Z)
    close(menu["rent"], ref.rent)
    # the reported theta column is the instance's index
    np.testing.assert_allclose(menu["theta"], inst.theta, rtol=1e-15)


@pytest.mark.parametrize("name", GRIDS)
def test_served_set_and_exact_zeros(name):
    _, res, ref = solved(name)
    menu = res.menu
    np.testing.assert_array_equal(menu["served"].to_numpy(), ref.served)
    assert ref.served.any() and (~ref.served).any()
    out = menu[~menu["served"]]
    for col in ("input_tokens", "output_tokens", "finetune_tokens", "payment", "cost"):
        assert (out[col] == 0.0).all(), col  # exactly zero, not 1e-9
    # fine-tuning positive exactly where theory's ironed virtual value exceeds theta_hat
    ft = ref.ironed_virtual_value > inst_theta_hat(name)
    np.testing.assert_array_equal(np.nan_to_num(ref.Z) > 0, ft)
    np.testing.assert_array_equal(menu["finetune_tokens"].to_numpy() > 0, ft)


def inst_theta_hat(name: str) -> float:
    return solved(name)[0].technology.theta_hat


@pytest.mark.parametrize("name", GRIDS)
def test_markups(name):
    inst, res, ref = solved(name)
    menu = res.menu
    served = menu["served"].to_numpy()
    top = int(np.argmax(inst.theta))
    # no distortion at the top
    assert menu["markup"].iloc[top] == pytest.approx(1.0, abs=1e-6)
    # one plan per package: bunched types share it, at the probability-weighted mean of
    # their markups theta / ironed phi (theory's); every type's own is theta / phi
    for _, part in menu[served].groupby("package"):
        idx = part.index.to_numpy()
        plan = np.average(ref.markup[idx], weights=menu["prob"].to_numpy()[idx])
        np.testing.assert_allclose(part["markup"], plan, rtol=1e-4)
    assert (menu["markup"][served] >= 1 - 1e-6).all()
    assert menu["markup"][~served].isna().all()
    # fee = payment - markup * cost (types on one package pay the same to the tolerance)
    fee = menu["payment"] - menu["markup"] * menu["cost"]
    np.testing.assert_allclose(menu["fixed_fee"][served], fee[served], rtol=0, atol=res.tolerance)


def test_paper_grid_regimes_follow_the_closed_form():
    """paper_theta_100: regimes as model.md section 4 predicts with the discrete phi.

    With F(theta) = 2 theta - theta^2 the continuum cutoffs are 1/3 (exclusion) and
    2/3 (fine-tuning); on the grid the discrete phi shifts them by one cell at most.
    """
    inst, res, _ = solved("paper_theta_100")
    th = inst.theta
    served = res.menu["served"].to_numpy()
    ft = res.menu["finetune_tokens"].to_numpy() > 0
    h = 0.01
    assert not served[th < 1 / 3 - h].any() and served[th > 1 / 3 + h].all()
    assert not ft[th < 2 / 3 - h].any() and ft[th > 2 / 3 + h].all()


def test_input_output_mix_with_unequal_costs_and_exponents():
    """X / Y = (alpha c_y) / (beta c_x) for every served type; everything vs theory."""
    tech = Technology.cobb_douglas(
        alpha=0.2,
        beta=0.35,
        gamma=0.15,
        base_quality=0.5,
        cost_input=0.05,
        cost_output=0.3,
        cost_finetune=0.2,
    )
    n = 30
    theta = np.linspace(0.2, 3.0, n)
    prob = np.linspace(2.0, 1.0, n)
    prob /= prob.sum()
    inst = Instance("mix", None, theta_types(theta, prob), tech)
    res = solve_instance(inst, "packages")
    ref = theory.discrete_optimal_menu(theta, prob, tech)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    menu = res.menu
    served = menu["served"].to_numpy()
    np.testing.assert_array_equal(served, ref.served)
    assert served.sum() >= 10
    ratio = (0.2 * 0.3) / (0.35 * 0.05)
    x, y = menu["input_tokens"][served], menu["output_tokens"][served]
    np.testing.assert_allclose(x / y, ratio, rtol=1e-6)
    close(menu["payment"], ref.payment)
    close(menu["input_tokens"], ref.X)
    close(menu["finetune_tokens"], ref.Z)
    ft = ref.ironed_virtual_value > tech.theta_hat
    assert ft.any() and (served & ~ft).any()  # both regimes occur
    np.testing.assert_array_equal(menu["finetune_tokens"].to_numpy() > 0, ft)
    assert menu["markup"].iloc[-1] == pytest.approx(1.0, abs=1e-6)


def bimodal_instance() -> Instance:
    """Two narrow modes (0.5, 0.85) on a thin floor: the virtual value dips in the valley."""
    n = 40
    theta = (np.arange(n) + 0.5) / n
    prob = np.exp(-((theta - 0.5) ** 2) / 0.003) + np.exp(-((theta - 0.85) ** 2) / 0.003) + 0.01
    prob /= prob.sum()
    return Instance("bimodal", None, theta_types(theta, prob), Technology.cobb_douglas())


def test_bimodal_distribution_is_ironed_and_bunched():
    inst = bimodal_instance()
    theta, prob = inst.types.theta, inst.types.prob
    ref = theory.discrete_optimal_menu(theta, prob, inst.technology)
    phi, phibar = ref.virtual_value, ref.ironed_virtual_value
    served = ref.served
    # premise: phi is not monotone among served types, ironing pools several of them
    assert np.any(np.diff(phi[served]) < 0)
    pooled = served & (np.abs(phibar - phi) > 1e-12)
    assert pooled.sum() >= 5
    res = solve_instance(inst, "packages")
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    # the NLP needs no ironing step, yet reaches the ironed optimum; a solution that
    # followed the un-ironed phi pointwise would be non-monotone (not IC) and is beaten
    menu = res.menu
    np.testing.assert_array_equal(menu["served"].to_numpy(), served)
    close(menu["payment"], ref.payment, 1e-6)
    close(menu["input_tokens"], ref.X, 1e-6)
    # bunched types get one bundle: identical tokens and payment across each pool
    for level in np.unique(phibar[pooled]):
        pool = np.flatnonzero(served & (phibar == level))
        assert pool.size >= 2
        for col in ("input_tokens", "output_tokens", "finetune_tokens", "payment"):
            vals = menu[col].to_numpy()[pool]
            assert np.ptp(vals) <= 1e-6 * max(1.0, np.abs(vals).max()), col
    # the verified menu is IC against all pairs although only adjacent IC was imposed
    assert res.verification.max_violation <= 1e-7


def test_adjacent_ic_is_exact_all_pairs_gives_the_same_optimum():
    inst, res_adj, ref = solved("paper_theta_20")
    res_all = solve_model(build_model(inst, "packages", ic="all_pairs"))
    assert res_all.status == "optimal"
    assert res_all.profit == pytest.approx(ref.profit, rel=1e-7)
    assert res_all.profit == pytest.approx(res_adj.profit, rel=1e-7)


# -- textbook cases through a user-supplied precision function (model.md section 5) ----


def _exp(a):
    return pyo.exp(a) if is_potentially_variable(a) else np.exp(a)


class Saturating:
    """Precision 1 - exp(-q), q the input tokens; output and fine-tuning tokens useless."""

    def precision(self, a_in, a_out, z):
        return 1 - _exp(-a_in)

    def input_tokens(self, a_in):
        return a_in

    def output_tokens(self, a_out):
        return a_out

    def factors(self, x, y):
        return x, y


class Quadratic:
    """Mussa-Rosen: precision q = a_in, input tokens q^2, so cost c_x q^2 = q^2 / 2."""

    def precision(self, a_in, a_out, z):
        return a_in

    def input_tokens(self, a_in):
        return a_in**2

    def output_tokens(self, a_out):
        return a_out

    def factors(self, x, y):
        return x**0.5, y


def test_two_type_saturating_value():
    """theta = (1, 2), f = (0.6, 0.4), value theta (1 - e^-q), cost 0.1 q.

    Closed form: q_L = ln(10/3), q_H = ln 20, t = (0.7, 1.2), profit 0.7079323.
    """
    tech = Technology(cost_input=0.1, cost_output=0.1, cost_finetune=0.1, precision=Saturating())
    inst = Instance("sat", None, theta_types([1.0, 2.0], [0.6, 0.4]), tech)
    res = solve_instance(inst, "packages")
    assert res.status == "optimal"
    q = res.menu["input_tokens"].to_numpy()
    np.testing.assert_allclose(q, [np.log(10 / 3), np.log(20)], rtol=1e-7)
    np.testing.assert_allclose(res.menu["payment"], [0.7, 1.2], rtol=1e-7)
    # 0.6 (0.7 - 0.1 ln(10/3)) + 0.4 (1.2 - 0.1 ln 20)
    exact = 0.6 * (0.7 - 0.1 * np.log(10 / 3)) + 0.4 * (1.2 - 0.1 * np.log(20))
    assert exact == pytest.approx(0.7079323, abs=5e-8)
    assert res.profit == pytest.approx(exact, rel=1e-7)
    # useless token classes are not bought; the markup is the buyer's marginal value of
    # input tokens over their cost, theta e^-q / c: 1 * 0.3 / 0.1 = 3 and 2 * 0.05 / 0.1 = 1
    # (no distortion at the top), and the fee collects the rest of the payment
    assert res.menu["output_tokens"].max() < 1e-8
    assert (res.menu["finetune_tokens"] == 0).all()
    np.testing.assert_allclose(res.menu["markup"], [3.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(
        res.menu["fixed_fee"], [0.7 - 0.3 * np.log(10 / 3), 1.2 - 0.1 * np.log(20)], rtol=1e-6
    )
    ref = theory.two_type_saturating(0.1)
    np.testing.assert_allclose(q, ref.q, rtol=1e-7)


@pytest.mark.parametrize("n", [9, 11])
def test_mussa_rosen(n):
    """theta_i = i/N, f = 1/N, cost q^2/2: q_i = max(0, 2i/N - 1),
    profit 1/12 + 1/(4N) + 1/(6N^2). Odd N: no type has virtual value exactly 0."""
    tech = Technology(cost_input=0.5, cost_output=0.1, cost_finetune=0.1, precision=Quadratic())
    theta = np.arange(1, n + 1) / n
    res = solve_instance(Instance("mr", None, theta_types(theta), tech), "packages")
    assert res.status == "optimal"
    assert res.profit == pytest.approx(1 / 12 + 1 / (4 * n) + 1 / (6 * n**2), rel=1e-7)
    q = np.sqrt(res.menu["input_tokens"].to_numpy())
    np.testing.assert_allclose(q, np.maximum(0, 2 * theta - 1), atol=1e-6)
    ref = theory.mussa_rosen(n)
    np.testing.assert_allclose(res.menu["payment"], ref.payment, atol=1e-6)
    np.testing.assert_array_equal(res.menu["served"].to_numpy(), ref.q > 0)


def test_mussa_rosen_ten_types():
    """N = 10: profit 0.11, served payments 0.12, 0.26, 0.42, 0.60, 0.80.

    Type 5 has virtual value exactly 0, so profit is flat (to second order) in its
    quantity: the interior-point solution leaves it q ~ sqrt(tol) ~ 1e-4, reported as
    served. Its bundle is worth ~1e-9 of profit, so only its neighbours' payments move.
    """
    tech = Technology(cost_input=0.5, cost_output=0.1, cost_finetune=0.1, precision=Quadratic())
    theta = np.arange(1, 11) / 10
    res = solve_instance(Instance("mr10", None, theta_types(theta), tech), "packages")
    assert res.status == "optimal"
    assert res.profit == pytest.approx(0.11, rel=1e-7)
    pay = res.menu["payment"].to_numpy()
    np.testing.assert_allclose(pay[5:], [0.12, 0.26, 0.42, 0.60, 0.80], atol=2e-5)
    assert (pay[:4] == 0).all()
    assert pay[4] < 1e-4


# -- convergence toward the continuum (model.md section 4) ----------------------------


def paper_cdf(t):
    return 2 * t - t * t


def test_refining_grids_approach_the_continuum_profit():
    """Profit on N-point midpoint grids of F = 2 theta - theta^2 tends to 97/1080.

    NLP = exact discrete optimum at every solved size; the discrete error shrinks like
    1/N (theory alone for the larger grids).
    """
    errors = {}
    for n in (10, 20, 40, 80):
        types = theta_grid_from_cdf(n, paper_cdf)
        ref = theory.discrete_optimal_menu(types.theta, types.prob, Technology.cobb_douglas())
        if n <= 40:
            inst = Instance(f"paper{n}", None, types, Technology.cobb_douglas())
            res = solve_instance(inst, "packages")
            assert res.status == "optimal"
            assert res.profit == pytest.approx(ref.profit, rel=1e-7)
        errors[n] = ref.profit - theory.PAPER_PACKAGES_PROFIT
    for n in (160, 320, 640):
        types = theta_grid_from_cdf(n, paper_cdf)
        ref = theory.discrete_optimal_menu(types.theta, types.prob, Technology.cobb_douglas())
        errors[n] = ref.profit - theory.PAPER_PACKAGES_PROFIT
    sizes = sorted(errors)
    err = np.array([errors[n] for n in sizes])
    assert np.all(err > 0)  # the grid's discretization overstates profit here
    assert np.all(np.diff(err) < 0)
    # first order: halving the cell roughly halves the error
    ratios = err[:-1] / err[1:]
    assert np.all((ratios > 1.6) & (ratios < 2.4)), ratios
