"""Pin the pure-numpy reference (theory.py) to closed forms derived by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate, optimize

from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import (
    PAPER_ALLOCATIONS_CONSUMER_SURPLUS,
    PAPER_ALLOCATIONS_COST,
    PAPER_ALLOCATIONS_PROFIT,
    PAPER_ALLOCATIONS_REVENUE,
    PAPER_PACKAGES_CONSUMER_SURPLUS,
    PAPER_PACKAGES_COST,
    PAPER_PACKAGES_FIRST_BEST_WELFARE,
    PAPER_PACKAGES_PROFIT,
    PAPER_PACKAGES_REVENUE,
    PAPER_PACKAGES_WELFARE,
    allocations_value_scale_discrete,
    discrete_optimal_menu,
    discrete_optimal_menu_generic,
    discrete_virtual_values,
    iron,
    max_cross_scale_ic_violation,
    max_ic_violation,
    min_cost,
    mussa_rosen,
    paper_packages,
    paper_type_density,
    paper_virtual_value,
    pointwise_bundle,
    pointwise_precision,
    quantity_discount,
    two_part_tariff,
    two_type_saturating,
)

PAPER = Technology()  # the worked example's technology is the default
UNEQUAL = Technology.cobb_douglas(0.2, 0.35, 0.15, 1.5, 0.3, 1.7, 0.6)
QUAD = {"epsabs": 1e-12, "epsrel": 1e-12, "limit": 200}


# ---- private discretizers (the package's own live in types.py) ------------------------


def _cdf(theta: np.ndarray) -> np.ndarray:
    return 2 * theta - theta**2


def _quantile_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint quantiles of F(theta) = 2 theta - theta^2, equal masses."""
    q = (np.arange(n) + 0.5) / n
    return 1 - np.sqrt(1 - q), np.full(n, 1 / n)


def _bin_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin midpoints of [0, 1] with the bin probabilities of F."""
    edges = np.linspace(0, 1, n + 1)
    return (edges[1:] + edges[:-1]) / 2, np.diff(_cdf(edges))


def _midpoint_grid_2d(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n x n midpoint grid of U[0,1]^2 for (w, s), equal masses."""
    g = (np.arange(n) + 0.5) / n
    w, s = np.meshgrid(g, g, indexing="ij")
    return w.ravel(), s.ravel(), np.full(n * n, 1 / n**2)


def _profit_of(theta, prob, u, cost_fn) -> float:
    """Profit of a nondecreasing precision schedule with binding downward IC and IR."""
    rent = np.concatenate([[0.0], np.cumsum(np.diff(theta) * u[:-1])])
    return float(prob @ (theta * u - rent - cost_fn(u)))


# ---- 1. pointwise optimum ----------------------------------------------------------------


def test_thresholds_of_the_example():
    assert PAPER.theta_hat == pytest.approx(0.5, abs=1e-15)
    x, y, z = pointwise_bundle(paper_virtual_value([0.2, 1 / 3, 0.34, 0.5, 2 / 3]), PAPER)
    assert np.all(x[:2] == 0) and np.all(y[:2] == 0)  # excluded at and below 1/3
    assert np.all(x[2:] > 0)
    assert np.all(z == 0)  # no fine-tuning up to 2/3
    _, _, z = pointwise_bundle(paper_virtual_value([0.67, 0.9]), PAPER)
    assert np.all(z > 0)


def test_pointwise_matches_paper_closed_forms():
    theta = np.linspace(0, 1, 301)
    x, y, z = pointwise_bundle(paper_virtual_value(theta), PAPER)
    plans = paper_packages(theta)
    np.testing.assert_allclose(x, plans.X, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, plans.Y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(z, plans.Z, rtol=1e-12, atol=1e-14)


def test_sample_type_three_quarters():
    plans = paper_packages(0.75)
    assert float(plans.X) == pytest.approx(625 / 256, rel=1e-14)
    assert float(plans.Y) == pytest.approx(625 / 256, rel=1e-14)
    assert float(plans.Z) == pytest.approx(369 / 256, rel=1e-14)
    assert float(plans.t) == pytest.approx(3619 / 3072, rel=1e-14)
    assert float(plans.p) == pytest.approx(3 / 20, rel=1e-14)
    assert float(plans.F) == pytest.approx(881 / 3840, rel=1e-14)
    x, y, z = pointwise_bundle(paper_virtual_value(0.75), PAPER)
    assert (float(x), float(y), float(z)) == pytest.approx((625 / 256, 625 / 256, 369 / 256))


@pytest.mark.parametrize("phi", [0.05, 0.3, 0.6, 1.5, 4.0])
def test_input_output_mix_is_type_independent(phi):
    x, y, _ = pointwise_bundle(phi, UNEQUAL)
    p = UNEQUAL.cobb_douglas_precision
    mix = (p.alpha * UNEQUAL.cost_output) / (p.beta * UNEQUAL.cost_input)
    assert float(x / y) == pytest.approx(mix, rel=1e-12)


@pytest.mark.parametrize("tech", [PAPER, UNEQUAL])
def test_pointwise_bundle_is_the_argmax(tech):
    """Beats multiplicative perturbations and matches a numerical optimizer."""
    p = tech.cobb_douglas_precision
    rng = np.random.default_rng(1)
    phis = np.array([0.25, 0.5 * tech.theta_hat, 0.99 * tech.theta_hat, 1.3 * tech.theta_hat, 3])
    for phi in phis:
        x, y, z = (float(v) for v in pointwise_bundle(phi, tech))

        def surplus(x, y, z, phi=phi):
            return phi * p.precision_of_tokens(x, y, z) - tech.cost(x, y, z)

        best = surplus(x, y, z)
        for _ in range(200):
            m = np.exp(rng.normal(0, 0.2, 3))
            z_alt = max(0.0, z * m[2] + rng.normal(0, 0.1))
            assert surplus(x * m[0], y * m[1], z_alt) <= best + 1e-12
        res = optimize.minimize(
            lambda v, phi=phi: -surplus(np.exp(v[0]), np.exp(v[1]), v[2] ** 2),
            x0=[0.0, 0.0, 0.5],
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
        )
        assert best >= -res.fun - 1e-9
        assert best == pytest.approx(-res.fun, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("tech", [PAPER, UNEQUAL])
def test_min_cost_is_consistent_with_the_bundle(tech):
    p = tech.cobb_douglas_precision
    phi = np.linspace(0.01, 4 * tech.theta_hat, 400)
    x, y, z = pointwise_bundle(phi, tech)
    u = pointwise_precision(phi, tech)
    np.testing.assert_allclose(u, p.precision_of_tokens(x, y, z), rtol=1e-12)
    np.testing.assert_allclose(min_cost(u, tech), tech.cost(x, y, z), rtol=1e-11)
    # The marginal cost of precision on the bundle path is the virtual value.
    h = 1e-6 * u
    slope = (min_cost(u + h, tech) - min_cost(u - h, tech)) / (2 * h)
    np.testing.assert_allclose(slope, phi, rtol=1e-6)
    # Convex, and never above the cost of any other bundle delivering the same precision.
    grid = np.linspace(0, u.max(), 2001)
    assert np.all(np.diff(min_cost(grid, tech), 2) >= -1e-12)
    rng = np.random.default_rng(2)
    xr, yr, zr = rng.uniform(0.01, 20, (3, 500))
    ur = p.precision_of_tokens(xr, yr, zr)
    assert np.all(min_cost(ur, tech) <= tech.cost(xr, yr, zr) * (1 + 1e-12))
    assert float(min_cost(0.0, tech)) == 0.0


def test_cost_finetune_override_moves_the_threshold():
    cheap = pointwise_bundle(0.45, PAPER, cost_finetune=PAPER.cost_finetune / 4)
    dear = pointwise_bundle(0.45, PAPER)
    assert cheap[2] > 0 and dear[2] == 0
    assert float(min_cost(3.0, PAPER, cost_finetune=0.01)) < float(min_cost(3.0, PAPER))


# ---- 4. the paper's continuum example -------------------------------------------------


def _quad(fn, a=0.0, b=1.0, points=(1 / 3, 2 / 3)) -> float:
    return integrate.quad(fn, a, b, points=list(points), **QUAD)[0]


def test_paper_payments_are_value_minus_rent():
    """t = theta u - integral_{1/3}^theta u, from the pointwise precision alone."""

    def u(th):
        return float(pointwise_precision(paper_virtual_value(th), PAPER))

    for th in [0.4, 0.6, 2 / 3, 0.75, 0.9, 1.0]:
        rent = _quad(u, 1 / 3, th, points=[p for p in (2 / 3,) if p < th])
        assert th * u(th) - rent == pytest.approx(float(paper_packages(th).t), rel=1e-10)


def test_paper_two_part_tariff():
    theta = np.linspace(0.34, 1.0, 67)
    plans = paper_packages(theta)
    phi = paper_virtual_value(theta)
    markup, fee = two_part_tariff(theta, phi, plans.t, PAPER.cost(plans.X, plans.Y, plans.Z))
    np.testing.assert_allclose(markup * PAPER.cost_input, plans.p, rtol=1e-12)
    np.testing.assert_allclose(fee, plans.F, rtol=1e-10)
    assert markup[-1] == pytest.approx(1.0, abs=1e-15)  # no distortion at the top
    assert np.all(np.diff(markup) < 0) and np.all(np.diff(plans.F) > 0)
    assert np.all(np.isnan(paper_packages([0.1, 1 / 3]).p))


def test_paper_aggregates_by_quadrature():
    def f(th):
        return float(paper_type_density(th))

    def plan(th):
        return paper_packages(th)

    revenue = _quad(lambda th: f(th) * float(plan(th).t))
    cost = _quad(lambda th: f(th) * float(PAPER.cost(plan(th).X, plan(th).Y, plan(th).Z)))

    def value(th):
        return th * float(pointwise_precision(paper_virtual_value(th), PAPER))

    surplus = _quad(lambda th: f(th) * (value(th) - float(plan(th).t)))
    assert _quad(f, points=()) == pytest.approx(1.0)
    assert revenue == pytest.approx(PAPER_PACKAGES_REVENUE, rel=1e-9)
    assert cost == pytest.approx(PAPER_PACKAGES_COST, rel=1e-9)
    assert revenue - cost == pytest.approx(PAPER_PACKAGES_PROFIT, rel=1e-9)
    assert surplus == pytest.approx(PAPER_PACKAGES_CONSUMER_SURPLUS, rel=1e-9)
    assert revenue - cost + surplus == pytest.approx(PAPER_PACKAGES_WELFARE, rel=1e-9)

    def first_best(th):
        u = pointwise_precision(th, PAPER)
        return f(th) * float(th * u - min_cost(u, PAPER))

    fb = _quad(first_best, points=(0.5,))
    assert fb == pytest.approx(PAPER_PACKAGES_FIRST_BEST_WELFARE, rel=1e-9)


def test_paper_allocations_by_quadrature():
    """Totals depend on psi = (2w - 1) sqrt(s): profit E[psi u - C(u)], rent weight (1-w)."""

    def cell(s, w, what):
        psi = (2 * w - 1) * np.sqrt(s)
        u = float(pointwise_precision(psi, PAPER))  # precision in totals
        if what == "profit":
            return psi * u - float(min_cost(u, PAPER))
        if what == "cost":
            return float(min_cost(u, PAPER))
        return (1 - w) * np.sqrt(s) * u  # information rent density

    def total(what):
        return integrate.dblquad(
            lambda s, w: cell(s, w, what), 0.5, 1, 0, 1, epsabs=1e-11, epsrel=1e-11
        )[0]

    profit, cost, rent = total("profit"), total("cost"), total("rent")
    assert profit == pytest.approx(PAPER_ALLOCATIONS_PROFIT, rel=1e-7)
    assert cost == pytest.approx(PAPER_ALLOCATIONS_COST, rel=1e-7)
    assert profit + cost == pytest.approx(PAPER_ALLOCATIONS_REVENUE, rel=1e-7)
    assert rent == pytest.approx(PAPER_ALLOCATIONS_CONSUMER_SURPLUS, rel=1e-7)
    assert PAPER_ALLOCATIONS_PROFIT == pytest.approx(9 / 8 * PAPER_PACKAGES_PROFIT, rel=1e-15)


# ---- 5. textbook benchmarks ---------------------------------------------------------------


def _mussa_rosen_menu(n):
    bench = mussa_rosen(n)
    return bench, discrete_optimal_menu_generic(
        bench.theta, bench.prob, lambda p: np.maximum(p, 0.0), lambda u: u**2 / 2
    )


def test_mussa_rosen_n10():
    bench, menu = _mussa_rosen_menu(10)
    assert menu.profit == pytest.approx(0.11, abs=1e-14)
    assert bench.profit == pytest.approx(0.11, abs=1e-15)
    np.testing.assert_allclose(menu.payment[5:], [0.12, 0.26, 0.42, 0.60, 0.80], atol=1e-14)
    np.testing.assert_allclose(menu.payment[:5], 0, atol=1e-14)
    np.testing.assert_allclose(menu.u, bench.q, atol=1e-14)
    assert list(menu.served) == [False] * 5 + [True] * 5


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 25])
def test_mussa_rosen_profit_formula(n):
    bench, menu = _mussa_rosen_menu(n)
    exact = 1 / 12 + 1 / (4 * n) + 1 / (6 * n**2)
    assert bench.profit == pytest.approx(exact, rel=1e-14)
    assert menu.profit == pytest.approx(exact, rel=1e-12)
    np.testing.assert_allclose(menu.payment, bench.payment, atol=1e-14)
    assert max_ic_violation(menu.theta, menu.u, menu.payment) < 1e-14


def test_quantity_discount_continuum():
    for c in (0.0, 0.1, 0.4):
        qd = quantity_discount(c)
        profit = integrate.quad(
            lambda th, qd=qd: float(qd.payment(th) - qd.c * qd.quantity(th)), qd.cutoff, 1, **QUAD
        )[0]
        assert profit == pytest.approx((1 - c) ** 3 / 12, rel=1e-10)
        assert qd.profit == pytest.approx((1 - c) ** 3 / 12, rel=1e-15)
        # Each type's quantity is its best response on the concave tariff, and the tangent
        # two-part tariffs (price, fee) give every type the same surplus.
        q_grid = np.linspace(0, 1 - c, 4001)
        for th in np.linspace(qd.cutoff + 0.01, 1, 9):
            q = float(qd.quantity(th))
            on_tariff = th * q - q**2 / 2 - float(qd.tariff(q))
            assert on_tariff >= np.max(th * q_grid - q_grid**2 / 2 - qd.tariff(q_grid)) - 1e-12
            prices = qd.unit_price(np.linspace(qd.cutoff, 1, 401))
            fees = qd.fixed_fee(np.linspace(qd.cutoff, 1, 401))
            best_plan = np.max(np.maximum(th - prices, 0) ** 2 / 2 - fees)
            assert best_plan == pytest.approx(on_tariff, abs=1e-5)
            price = float(qd.unit_price(th))
            fee = float(qd.fixed_fee(th))
            assert fee + price * q == pytest.approx(float(qd.tariff(q)), abs=1e-14)


def test_quantity_discount_discrete_converges():
    """theta q - q^2/2 - T is theta u - C(u) with C(u) = u^2/2 + c u (buyer's disutility moved)."""
    c = 0.2
    errors = []
    for n in (50, 100, 200, 400):
        theta = (np.arange(n) + 0.5) / n
        menu = discrete_optimal_menu_generic(
            theta, np.full(n, 1 / n), lambda p: np.maximum(p - c, 0), lambda u: u**2 / 2 + c * u
        )
        errors.append(abs(menu.profit - (1 - c) ** 3 / 12))
    assert all(b < 0.6 * a for a, b in itertools.pairwise(errors))
    assert errors[-1] < 1e-3


def test_two_type_saturating():
    bench = two_type_saturating()
    np.testing.assert_allclose(bench.q, [np.log(10 / 3), np.log(20)], rtol=1e-14)
    np.testing.assert_allclose(bench.payment, [0.7, 1.2], rtol=1e-14)
    exact = 0.9 - 0.06 * np.log(10 / 3) - 0.04 * np.log(20)
    assert bench.profit == pytest.approx(exact, rel=1e-14)
    assert round(bench.profit, 7) == 0.7079323


# ---- 2. discrete screening --------------------------------------------------------------


def test_discrete_virtual_values_small():
    phi = discrete_virtual_values([1.0, 2.0, 4.0], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(phi, [1 - 1 * 0.5 / 0.5, 2 - 2 * 0.25 / 0.25, 4.0])
    # Unnormalized weights are normalized.
    np.testing.assert_allclose(discrete_virtual_values([1.0, 2.0, 4.0], [2, 1, 1]), phi)
    with pytest.raises(ValueError, match="sorted"):
        discrete_virtual_values([2.0, 1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        discrete_virtual_values([1.0, 2.0], [1.0, 0.0])


def test_iron_pool_adjacent_violators():
    np.testing.assert_allclose(iron([1, 3, 2, 4], [1, 1, 1, 1]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(iron([1, 3, 2, 4], [1, 3, 1, 1]), [1, 2.75, 2.75, 4])
    np.testing.assert_allclose(iron([3, 2, 1], [1, 1, 1]), [2, 2, 2])
    np.testing.assert_allclose(iron([0, 1, 2], [1, 5, 1]), [0, 1, 2])
    rng = np.random.default_rng(3)
    v, wts = rng.normal(size=200), rng.uniform(0.1, 1, 200)
    out = iron(v, wts)
    assert np.all(np.diff(out) >= 0)
    assert wts @ out == pytest.approx(wts @ v, rel=1e-12)
    # Least squares among nondecreasing sequences: no monotone perturbation does better.
    best = wts @ (out - v) ** 2
    for _ in range(50):
        alt = np.sort(out + rng.normal(0, 0.05, 200))
        assert wts @ (alt - v) ** 2 >= best - 1e-12


def _assert_converges(profits, target):
    errors = np.abs(np.asarray(profits) - target)
    assert np.all(errors[1:] < 0.6 * errors[:-1]), errors
    # O(1/N): Richardson extrapolation of consecutive doublings removes the leading term.
    richardson = 2 * np.asarray(profits[1:]) - np.asarray(profits[:-1])
    assert abs(richardson[-1] - target) < 0.05 * errors[-1]
    return errors


@pytest.mark.parametrize("grid", [_quantile_grid, _bin_grid])
def test_discrete_packages_converge_to_the_paper(grid):
    sizes = (50, 100, 200, 400, 800)
    menus = [discrete_optimal_menu(*grid(n), PAPER) for n in sizes]
    _assert_converges([m.profit for m in menus], PAPER_PACKAGES_PROFIT)
    _assert_converges([m.revenue for m in menus], PAPER_PACKAGES_REVENUE)
    _assert_converges([m.consumer_surplus for m in menus], PAPER_PACKAGES_CONSUMER_SURPLUS)
    for m in menus[:3]:
        assert max_ic_violation(m.theta, m.u, m.payment) < 1e-12
        assert np.all(np.diff(m.u) >= 0)
        # Profit equals the expected (raw) virtual surplus, the identity behind the method.
        surplus = m.prob @ (m.virtual_value * m.u - min_cost(m.u, PAPER))
        assert m.profit == pytest.approx(float(surplus), rel=1e-10)
        assert m.welfare == pytest.approx(m.profit + m.consumer_surplus)
    top = menus[-1]
    assert top.markup[-1] == pytest.approx(1.0, abs=1e-15)


def test_generic_routine_reproduces_the_cobb_douglas_menu():
    theta, prob = _bin_grid(60)
    cd = discrete_optimal_menu(theta, prob, PAPER)
    gen = discrete_optimal_menu_generic(
        theta, prob, lambda p: pointwise_precision(p, PAPER), lambda u: min_cost(u, PAPER)
    )
    np.testing.assert_allclose(gen.payment, cd.payment, rtol=1e-10, atol=1e-14)
    assert gen.profit == pytest.approx(cd.profit, rel=1e-11)
    np.testing.assert_allclose(cd.seller_cost, PAPER.cost(cd.X, cd.Y, cd.Z), rtol=1e-13)
    assert gen.X is None


def test_unsorted_duplicates_and_zero_mass_types():
    theta, prob = _bin_grid(12)
    ref = discrete_optimal_menu(theta, prob, PAPER)
    rng = np.random.default_rng(4)
    # Split each type's mass in two copies, shuffle, and add zero-mass types in between.
    extra = np.array([0.2, 0.55, 0.81, 1.2])
    th = np.concatenate([theta, theta, extra])
    pr = np.concatenate([0.3 * prob, 0.7 * prob, np.zeros(extra.size)]) * 5.0
    order = rng.permutation(th.size)
    menu = discrete_optimal_menu(th[order], pr[order], PAPER)
    assert menu.profit == pytest.approx(ref.profit, rel=1e-13)
    assert menu.prob.sum() == pytest.approx(1.0)
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    for field_name in ("u", "payment", "rent", "X", "Z"):
        got = getattr(menu, field_name)[back]
        want = getattr(ref, field_name)
        np.testing.assert_allclose(got[: theta.size], want, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got[theta.size : 2 * theta.size], want, rtol=1e-13, atol=1e-15)
    # Zero-mass types pick their best bundle, so the whole menu stays IC.
    assert np.all(np.isnan(menu.virtual_value[back][2 * theta.size :]))
    assert max_ic_violation(menu.theta, menu.u, menu.payment) < 1e-12
    assert menu.u[back][-1] == pytest.approx(ref.u[-1])  # theta = 1.2 takes the top bundle
    assert menu.rent[back][-1] > 0
    assert menu.u[back][2 * theta.size] == 0  # theta = 0.2 buys nothing


def _bimodal():
    """A non-regular distribution: two bumps with a near-empty valley."""
    theta = np.linspace(0.3, 1.0, 15)
    prob = np.exp(-(((theta - 0.45) / 0.05) ** 2)) + np.exp(-(((theta - 0.9) / 0.05) ** 2))
    prob = prob + 1e-3
    return theta, prob / prob.sum()


def test_ironing_on_a_bimodal_distribution():
    theta, prob = _bimodal()
    raw = discrete_virtual_values(theta, prob)
    assert np.any(np.diff(raw) < 0)  # non-monotone before ironing
    menu = discrete_optimal_menu(theta, prob, PAPER)
    ironed = menu.ironed_virtual_value
    assert np.all(np.diff(ironed) >= 0)
    assert np.sum(np.diff(ironed) == 0) >= 2  # pooled (bunched) types
    assert np.all(np.diff(menu.u) >= 0)
    assert max_ic_violation(menu.theta, menu.u, menu.payment) < 1e-12

    def cost(u):
        return min_cost(u, PAPER)

    assert _profit_of(theta, prob, menu.u, cost) == pytest.approx(menu.profit, rel=1e-12)
    # The unironed pointwise schedule is not monotone, so its payments are not IC.
    u_raw = pointwise_precision(raw, PAPER)
    assert np.any(np.diff(u_raw) < 0)
    rent = np.concatenate([[0.0], np.cumsum(np.diff(theta) * u_raw[:-1])])
    assert max_ic_violation(theta, u_raw, theta * u_raw - rent) > 1e-3
    # Every implementable (monotone) alternative does no better than the ironed menu.
    alternatives = [
        np.maximum.accumulate(u_raw),
        np.minimum.accumulate(u_raw[::-1])[::-1],
        np.sort(u_raw),
    ]
    rng = np.random.default_rng(5)
    for _ in range(300):
        alternatives.append(np.sort(menu.u * np.exp(rng.normal(0, 0.1, theta.size))))
    for alt in alternatives:
        assert _profit_of(theta, prob, alt, cost) <= menu.profit + 1e-12


def _brute_force(theta, prob, tech, starts=6):
    """Best menu by SLSQP over (u_i, t_i) with every IC pair and IR (a convex program)."""
    n = theta.size
    rng = np.random.default_rng(6)

    def neg_profit(v):
        return -float(prob @ (v[n:] - min_cost(v[:n], tech)))

    cons = []
    for i in range(n):
        cons.append({"type": "ineq", "fun": lambda v, i=i: theta[i] * v[i] - v[n + i]})
        for k in range(n):
            if k != i:
                cons.append(
                    {
                        "type": "ineq",
                        "fun": lambda v, i=i, k=k: (
                            theta[i] * v[i] - v[n + i] - (theta[i] * v[k] - v[n + k])
                        ),
                    }
                )
    best = None
    for _ in range(starts):
        u0 = rng.uniform(0, 3, n)
        res = optimize.minimize(
            neg_profit,
            np.concatenate([u0, 0.5 * theta * u0]),
            method="SLSQP",
            bounds=[(0, None)] * n + [(None, None)] * n,
            constraints=cons,
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        if res.success and (best is None or res.fun < best.fun):
            best = res
    assert best is not None
    return -best.fun, best.x[:n]


@pytest.mark.parametrize(
    "theta, prob",
    [
        (np.array([0.5, 0.7, 0.9]), np.array([1 / 3, 1 / 3, 1 / 3])),  # regular, top fine-tunes
        (np.array([0.5, 0.6, 0.9]), np.array([0.3, 0.1, 0.6])),  # needs ironing
        (np.array([0.2, 0.6, 1.1]), np.array([0.5, 0.2, 0.3])),  # excludes the lowest
    ],
)
def test_brute_force_three_types(theta, prob):
    menu = discrete_optimal_menu(theta, prob, PAPER)
    profit, u = _brute_force(theta, prob, PAPER)
    assert menu.profit >= profit - 1e-9  # nothing beats it...
    assert menu.profit == pytest.approx(profit, rel=1e-6, abs=1e-9)  # ...and it is attained
    np.testing.assert_allclose(u, menu.u, rtol=1e-3, atol=1e-4)


# ---- 3. value-scale Token Allocations ------------------------------------------------------


def test_value_scale_converges_and_is_ic_across_scales():
    sizes = (10, 20, 40, 80)
    menus = [allocations_value_scale_discrete(*_midpoint_grid_2d(n), PAPER) for n in sizes]
    _assert_converges([m.profit for m in menus], PAPER_ALLOCATIONS_PROFIT)
    _assert_converges([m.revenue for m in menus], PAPER_ALLOCATIONS_REVENUE)
    _assert_converges([m.consumer_surplus for m in menus], PAPER_ALLOCATIONS_CONSUMER_SURPLUS)
    for m in menus[:3]:
        violation = max_cross_scale_ic_violation(m.w, m.s, m.u, m.payment)
        assert violation < 1e-12, f"per-scale screening not IC across scales: {violation}"


def test_value_scale_structure():
    n = 20
    w, s, prob = _midpoint_grid_2d(n)
    m = allocations_value_scale_discrete(w, s, prob, PAPER)
    # Midpoint grid: the discrete virtual value of w is 2w - 1 + 1/(2n) in every scale.
    np.testing.assert_allclose(m.virtual_value, 2 * w - 1 + 0.5 / n, atol=1e-12)
    np.testing.assert_array_equal(m.served, m.virtual_value > 0)
    # Totals are the Token Packages pointwise bundle at psi = phi_w s^(1 - a - b).
    psi = m.ironed_virtual_value * np.sqrt(s)
    x, y, z = pointwise_bundle(psi, PAPER)
    np.testing.assert_allclose(m.X, x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.Y, y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m.z, z, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(m.z > 0, psi > 0.5)
    np.testing.assert_allclose(m.seller_cost, PAPER.cost(m.X, m.Y, m.z), rtol=1e-12)
    np.testing.assert_allclose(m.u, PAPER.precision.precision_of_tokens(m.x, m.y, m.z))
    assert np.all(m.rent >= -1e-15) and m.profit > 0


def test_cross_scale_check_catches_correlated_types():
    """With w and s positively correlated, per-scale screening is not IC across scales."""
    w = np.array([0.6, 0.9, 0.6, 0.9])
    s = np.array([0.25, 0.25, 1.0, 1.0])
    m = allocations_value_scale_discrete(w, s, [0.45, 0.05, 0.05, 0.45], PAPER)
    assert max_cross_scale_ic_violation(w, s, m.u, m.payment) > 0.05
    m = allocations_value_scale_discrete(w, s, [0.25] * 4, PAPER)
    assert max_cross_scale_ic_violation(w, s, m.u, m.payment) < 1e-12


def test_value_scale_zero_mass_and_zero_scale():
    w, s, prob = _midpoint_grid_2d(6)
    prob = np.where(w == w[14], 0.0, prob)  # a zero-mass w level keeps w, s independent
    w = np.append(w, [0.95, 0.9])
    s = np.append(s, [0.5, 0.0])
    prob = np.append(prob, [0.0, 0.1])
    m = allocations_value_scale_discrete(w, s, prob, PAPER)
    assert m.u[-1] == 0 and m.payment[-1] == 0  # no scale, no sale
    assert m.u[-2] > 0 and m.rent[-2] > 0  # zero-mass type best-responds...
    assert m.contract_scale[-2] != m.s[-2]  # ...with a bundle written for another scale
    np.testing.assert_allclose(m.seller_cost, PAPER.cost(m.X, m.Y, m.z), rtol=1e-12)
    assert max_cross_scale_ic_violation(m.w, m.s, m.u, m.payment, m.contract_scale) < 1e-12
    # Treating that bundle as covering the buyer's own scale would overstate its value.
    assert max_cross_scale_ic_violation(m.w, m.s, m.u, m.payment) > 0.01


def test_input_validation():
    with pytest.raises(ValueError, match="length"):
        discrete_optimal_menu([0.1, 0.2], [1.0], PAPER)
    with pytest.raises(ValueError, match="nonnegative"):
        discrete_optimal_menu([0.1, 0.2], [1.0, -0.1], PAPER)
    with pytest.raises(ValueError, match="cost_finetune"):
        pointwise_bundle(1.0, PAPER, cost_finetune=0.0)
    with pytest.raises(ValueError):
        quantity_discount(1.0)


def test_all_pairs_checks_are_chunk_invariant(monkeypatch):
    from pyomo_llmprice import theory

    w, s, _ = _midpoint_grid_2d(8)
    m = allocations_value_scale_discrete(w, s, [0.45, 0.05] * 32, PAPER)  # correlated
    menu = discrete_optimal_menu(*_bimodal(), PAPER)
    u_bad = menu.u[::-1].copy()
    full = (
        max_cross_scale_ic_violation(m.w, m.s, m.u, m.payment),
        max_ic_violation(menu.theta, u_bad, menu.payment),
    )
    assert full[0] > 0 and full[1] > 0
    monkeypatch.setattr(theory, "_CHUNK_ELEMENTS", 7)
    chunked = (
        max_cross_scale_ic_violation(m.w, m.s, m.u, m.payment),
        max_ic_violation(menu.theta, u_bad, menu.payment),
    )
    assert chunked == full


def test_excluded_types_are_those_of_nonpositive_ironed_virtual_value():
    """theta_i = i/10, f = 1/10: phi_i = i/10 - (10 - i)/10 = (2i - 10)/10, so types
    0.1..0.5 are excluded (0.5 exactly at zero); order and ties do not matter, a tie is
    one type of the summed mass, and a zero-probability type is never called excluded."""
    from pyomo_llmprice.theory import excluded_types

    theta = np.arange(1, 11) / 10
    np.testing.assert_array_equal(excluded_types(theta, np.full(10, 0.1)), theta <= 0.5)
    perm = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(excluded_types(theta[perm], np.full(10, 0.1)), theta[perm] <= 0.5)
    # 0.5 split into two tied halves: the same buyer, still phi = 0
    tied = np.append(theta, 0.5)
    prob = np.append(np.full(10, 0.1), 0.0)
    prob[[4, 10]] = 0.05
    np.testing.assert_array_equal(excluded_types(tied, prob), tied <= 0.5)
    assert not excluded_types([0.1, 0.9], [0.0, 1.0])[0]
