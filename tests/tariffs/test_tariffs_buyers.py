"""Buyers' best responses against closed forms (theory.py, model.md sections 2, 3, 5)."""

from __future__ import annotations

import numpy as np
import pytest
from user_precision import ShiftedCobbDouglas

from pyomo_llmprice import theory
from pyomo_llmprice.tariffs import (
    CobbDouglasBuyer,
    NumericalBuyer,
    QuadraticBuyer,
    QuadraticGood,
    buyer_for,
    cobb_douglas_demand,
    package_value,
    split_package,
)
from pyomo_llmprice.technology import CobbDouglas, Technology
from pyomo_llmprice.types import labeled_tasks, value_scale_types

PAPER = Technology.cobb_douglas()


USER = Technology(0.125, 0.125, 0.125, ShiftedCobbDouglas())


@pytest.mark.parametrize(
    "prices", [(0.125, 0.125, 0.125), (0.2, 0.1, 0.3), (0.05, 0.4, 0.125), (1.0, 1.0, 0.01)]
)
def test_two_part_tariff_demand_is_the_pointwise_optimum_with_prices_as_costs(prices):
    # phi -> theta, costs -> prices (model.md section 3)
    theta = np.linspace(0.0, 1.5, 61)
    at_prices = Technology.cobb_douglas(
        cost_input=prices[0], cost_output=prices[1], cost_finetune=prices[2]
    )
    x, y, z = theory.pointwise_bundle(theta, at_prices)
    gx, gy, gz, u = cobb_douglas_demand(theta, *prices, PAPER.cobb_douglas_precision)
    np.testing.assert_allclose(gx, x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gy, y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gz, z, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(u, theory.pointwise_precision(theta, at_prices), rtol=1e-12)


def test_paper_example_demand_at_cost_and_the_fine_tuning_threshold():
    # At cost, the pointwise optimum of theta is the paper's full-information bundle:
    # X = Y = (2 theta)^2 below theta_hat = 1/2, Z = 0; above it X = Y = (2 theta)^4 = b + Z.
    buyer = CobbDouglasBuyer(PAPER)
    theta = np.array([0.2, 0.4, 0.5, 0.6, 0.75])
    tokens, gross = buyer.demand(theta, np.full(3, 0.125))
    low = theta <= 0.5
    np.testing.assert_allclose(tokens[low, 0], (2 * theta[low]) ** 2, rtol=1e-12)
    np.testing.assert_allclose(tokens[low, 2], 0.0, atol=0)
    np.testing.assert_allclose(tokens[~low, 0], (2 * theta[~low]) ** 4, rtol=1e-12)
    np.testing.assert_allclose(tokens[~low, 2], (2 * theta[~low]) ** 4 - 1, rtol=1e-12)
    np.testing.assert_allclose(gross, theta * PAPER.precision.precision_of_tokens(*tokens.T))


def test_demand_broadcasts_types_by_plans():
    buyer = CobbDouglasBuyer(PAPER)
    theta = np.array([0.3, 0.6, 0.9])[:, None]
    prices = np.array([[0.125] * 3, [0.25] * 3])[None, :, :]
    tokens, gross = buyer.demand(theta, prices)
    assert tokens.shape == (3, 2, 3) and gross.shape == (3, 2)
    # a higher price buys fewer tokens
    assert np.all(tokens[:, 1, 0] < tokens[:, 0, 0])


def test_demand_refuses_free_tokens():
    with pytest.raises(ValueError, match="positive per-token prices"):
        cobb_douglas_demand(0.5, 0.0, 0.1, 0.1, CobbDouglas())


def test_numerical_buyer_agrees_with_the_closed_form():
    theta = np.array([0.05, 0.3, 0.55, 0.62, 0.8, 1.2])[:, None]
    prices = np.array([[0.125] * 3, [0.15, 0.3, 0.2], [0.6] * 3])[None, :, :]
    closed, gross_closed = CobbDouglasBuyer(PAPER).demand(theta, prices)
    numeric, gross_numeric = NumericalBuyer(USER).demand(theta, prices)
    np.testing.assert_allclose(numeric, closed, rtol=2e-5, atol=1e-8)
    np.testing.assert_allclose(gross_numeric, gross_closed, rtol=1e-6, atol=1e-10)


def test_buyer_for_picks_the_closed_form_where_it_exists():
    assert isinstance(buyer_for(PAPER), CobbDouglasBuyer)
    assert isinstance(buyer_for(PAPER, numerical=True), NumericalBuyer)
    assert isinstance(buyer_for(USER), NumericalBuyer)
    assert isinstance(buyer_for(QuadraticGood(0.1)), QuadraticBuyer)
    with pytest.raises(TypeError):
        buyer_for("gpt")  # type: ignore[arg-type]


def test_quadratic_buyer_is_the_textbook_demand():
    buyer = QuadraticBuyer(QuadraticGood(0.2))
    theta = np.array([0.1, 0.5, 0.9])
    tokens, gross = buyer.demand(theta, np.array([0.4, 0.0, 0.0]))
    q = np.maximum(theta - 0.4, 0)
    np.testing.assert_allclose(tokens[:, 0], q)
    np.testing.assert_allclose(tokens[:, 1:], 0)
    np.testing.assert_allclose(gross, theta * q - q**2 / 2)
    np.testing.assert_allclose(buyer.cost(tokens), 0.2 * q)
    with pytest.raises(ValueError):
        QuadraticGood(-1)


# -- packages of totals: the buyer's own split across tasks ---------------------------


def test_split_is_proportional_to_w_kappa_and_value_collapses_to_theta():
    types = labeled_tasks(
        ["coding", "chat", "translation"],
        [0.5, 0.3, 0.2],
        [[1.0, 0.2, 0.0], [0.4, 0.9, 0.6]],
    )
    theta = types.index(PAPER)
    X, Y, Z = 3.0, 1.5, 0.7
    for i in range(2):
        w = types.value[i]
        x, y = split_package(X, Y, Z, w, types.task_measure, PAPER)
        kappa = PAPER.precision.kappa
        np.testing.assert_allclose(x / X, w**kappa / (types.task_measure @ w**kappa))
        np.testing.assert_allclose(types.task_measure @ x, X)
        np.testing.assert_allclose(types.task_measure @ y, Y)
        expected = theta[i] * PAPER.precision.precision_of_tokens(X, Y, Z)
        assert package_value(X, Y, Z, w, types.task_measure, PAPER) == pytest.approx(
            expected, rel=1e-12
        )


def test_numerical_split_agrees_with_the_ces_index():
    types = labeled_tasks(["a", "b", "c"], [0.5, 0.3, 0.2], [[1.0, 0.2, 0.5], [0.4, 0.9, 0.0]])
    theta = types.index(PAPER)
    for i in range(2):
        value = package_value(2.0, 0.8, 0.0, types.value[i], types.task_measure, USER)
        expected = theta[i] * PAPER.precision.precision_of_tokens(2.0, 0.8, 0.0)
        assert value == pytest.approx(expected, rel=1e-7)


def test_value_scale_buyer_is_one_task_of_measure_s():
    types = value_scale_types([0.6], [0.25])
    theta = types.index(PAPER)[0]
    value = package_value(1.0, 1.0, 0.0, [0.6], [0.25], PAPER)
    assert value == pytest.approx(theta * 1.0, rel=1e-12)  # w s^(1-a-b) X^a Y^b


def test_split_checks_its_input():
    with pytest.raises(ValueError, match="differ in length"):
        split_package(1, 1, 0, [1, 2], [1], PAPER)
    with pytest.raises(ValueError, match="nonnegative"):
        split_package(1, 1, 0, [-1], [1], PAPER)
