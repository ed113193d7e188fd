"""LLMPricingModel without a solver: input checks, type indices, the default distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.quick import LLMPricingModel, PricingError, _merge, paper_theta_cdf


def model(**kwds):
    return LLMPricingModel(0.125, 0.125, **kwds)


@pytest.mark.parametrize(
    ("cost", "fine", "message"),
    [
        (-0.1, 0.1, "cost_per_token must be positive"),
        (0.0, 0.1, "cost_per_token must be positive"),
        (math.inf, 0.1, "cost_per_token must be positive"),
        ("cheap", 0.1, "cost_per_token must be a number"),
        ({"input": 0.1}, 0.1, "missing output"),
        ({"input": 0.1, "output": 0.2, "cache": 0.01}, 0.1, "unknown cache"),
        ({"input": 0.1, "output": -2}, 0.1, r"cost_per_token\['output'\] must be positive"),
        (0.1, 0, "fine_tuning_cost must be positive"),
        (0.1, None, "fine_tuning_cost must be a number"),
    ],
)
def test_costs_are_validated(cost, fine, message):
    with pytest.raises(UserInputError, match=message):
        LLMPricingModel(cost, fine)


def test_technology_parameters_are_validated():
    with pytest.raises(UserInputError, match="alpha must be positive"):
        model(alpha=0)
    with pytest.raises(UserInputError, match="below 1"):
        model(alpha=0.4, beta=0.4, gamma=0.3)
    with pytest.raises(TypeError):
        model(delta=0.1)  # unknown keyword: Python's own error


def test_costs_and_defaults_reach_the_technology():
    m = LLMPricingModel({"input": 0.1, "output": 0.4}, 0.2, gamma=0.2, base_quality=2)
    t = m.technology
    assert (t.cost_input, t.cost_output, t.cost_finetune) == (0.1, 0.4, 0.2)
    p = t.cobb_douglas_precision
    assert (p.alpha, p.beta, p.gamma, p.base_quality) == (0.25, 0.25, 0.2, 2.0)
    same = LLMPricingModel(0.3, 0.5).technology
    assert same.cost_input == same.cost_output == 0.3


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ([], "empty"),
        (5, "must be a list of types, got int"),
        ("0.5 0.7", "must be a list"),
        ({"value": 1, "scale": 1}, "must be a list"),
        ([0.5, -0.1], r"user_types\[1\] must be nonnegative"),
        ([0.5, float("nan")], r"user_types\[1\] must be nonnegative"),
        ([0.5, "high"], r"user_types\[1\] must be a number"),
        ([{"value": 0.5}], r"user_types\[0\]: missing 'scale'"),
        ([{"value": 0.5, "scale": 1, "weight": 2}], "unknown key 'weight'"),
        ([{"theta": 0.5, "value": 0.5, "scale": 1}], "not both"),
        ([{"value": 0.5, "scale": -1}], r"user_types\[0\]\['scale'\] must be nonnegative"),
        (
            [{"theta": 0.5, "probability": 0.5}, {"theta": 0.7}],
            r"user_types\[1\]: probability missing",
        ),
        ([{"theta": 0.5, "probability": 0.5}, {"theta": 0.7, "probability": 0.2}], "sum to 0.7"),
        ([{"theta": 0.5, "probability": 0}], "must be positive"),
    ],
)
def test_user_types_are_validated(types, message):
    with pytest.raises(UserInputError, match=message):
        model().type_indices(types)


def test_type_indices_of_each_form():
    m = model(alpha=0.2, beta=0.3)
    theta, prob = m.type_indices([0.2, 0.9, 0.5])
    np.testing.assert_array_equal(theta, [0.2, 0.9, 0.5])
    np.testing.assert_array_equal(prob, np.full(3, 1 / 3))
    theta, prob = m.type_indices(
        [{"value": 0.8, "scale": 0.25, "probability": 0.25}, {"theta": 0.3, "probability": 0.75}]
    )
    np.testing.assert_allclose(theta, [0.8 * 0.25**0.5, 0.3], rtol=1e-15)
    np.testing.assert_array_equal(prob, [0.25, 0.75])
    theta, _ = m.type_indices(np.array([0.1, 0.4]))  # numpy arrays are lists too
    np.testing.assert_array_equal(theta, [0.1, 0.4])


def test_merge_joins_float_ties_and_maps_back():
    # 0.3 sqrt(0.1) and 0.1 sqrt(0.9) are one theta that differs in the last bit
    a, b = 0.3 * math.sqrt(0.1), 0.1 * math.sqrt(0.9)
    assert a != b
    unique, prob, position = _merge(np.array([0.5, a, 0.2, b]), np.full(4, 0.25))
    np.testing.assert_allclose(unique, [a, 0.2, 0.5], rtol=1e-15)
    assert position[1] == position[3]
    np.testing.assert_allclose(prob[position[1]], 0.5)
    np.testing.assert_allclose(unique[position], [0.5, a, 0.2, a], rtol=1e-12)


def test_paper_cdf_is_the_law_of_w_times_s_to_the_exponent():
    cdf = paper_theta_cdf(0.5)
    for t in (0.0, 0.1, 0.37, 0.8, 1.0):
        assert cdf(t) == pytest.approx(2 * t - t * t, abs=1e-15)
    # any exponent: P(w s^e <= t) = integral over s of min(1, t s^-e)
    for e in (0.3, 0.75):
        cdf = paper_theta_cdf(e)
        for t in (0.05, 0.4, 0.9):
            exact, _ = integrate.quad(
                lambda s, t=t, e=e: min(1.0, t * s**-e), 0, 1, points=[t ** (1 / e)]
            )
            assert cdf(t) == pytest.approx(exact, rel=1e-9)
    with pytest.raises(ValueError):
        paper_theta_cdf(1.0)


def test_no_solve_no_plans():
    with pytest.raises(PricingError, match="no menu solved"):
        model().plans()
    with pytest.raises(UserInputError, match="theta must be nonnegative"):
        model().calculate_fixed_fee(-0.5)  # checked before any solve


def test_units_hint_only_for_types_far_from_the_threshold():
    m = model()  # the paper's technology: theta_hat = 1/2
    assert m.technology.theta_hat == pytest.approx(0.5)
    assert m._units_hint(np.array([0.2, 1.0])) == ""
    hint = m._units_hint(np.array([0.5, 1000.0]))
    # 2000 theta_hat; tokens scale like the ratio^(1/(1 - 3/4)) = 2000^4
    assert "2e+03 times the fine-tuning threshold theta_hat = 0.5" in hint
    assert "1.6e+13 times the tokens" in hint
