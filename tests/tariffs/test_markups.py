"""A plan's markup is the buyer's marginal rate of substitution against cost, for any
precision function (pyomo_llmprice.tariffs.markups): closed form for Cobb-Douglas, the
symbolic derivative of a user's function, a numeric derivative where Pyomo cannot
differentiate it; NaN only for the null bundle."""

from __future__ import annotations

import numpy as np
import pytest

from pyomo_llmprice.tariffs.markups import implied_markup, log_elasticity, menu_plans
from pyomo_llmprice.technology import Technology
from tests.user_precision import ShiftedCobbDouglas

C = 0.125
X = np.array([0.5, 1.0, 16.0, 3.0])
Y = np.array([0.5, 2.0, 16.0, 0.0])
Z = np.array([0.0, 0.0, 15.0, 2.0])


class NumpyOnlySaturating:
    """u = (1 - e^-x)(1 + z)^g written with numpy only (np.expm1): Pyomo cannot
    differentiate it, so the markup comes from the numeric derivative."""

    gamma = 0.25

    def precision(self, a_in, a_out, z):
        return -np.expm1(-np.asarray(a_in, float)) * (1.0 + np.asarray(z, float)) ** self.gamma

    def input_tokens(self, a_in):
        return a_in

    def output_tokens(self, a_out):
        return a_out

    def factors(self, x, y):
        return x, y


def test_cobb_douglas_markup_is_alpha_v_over_c_x():
    tech = Technology.cobb_douglas()
    u = X**0.25 * Y**0.25 * (1 + Z) ** 0.25
    v = 0.7 * u
    got = implied_markup(v, X, Y, Z, tech)
    want = np.where(X > 0, 0.25 * v / (C * X), np.nan)
    want[3] = np.nan  # no output tokens: u = 0, nothing to price
    got[3] = np.nan
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_a_user_written_cobb_douglas_gets_the_closed_form_from_its_derivative():
    user = Technology(C, C, C, ShiftedCobbDouglas())
    sl = slice(0, 3)
    for cls, expected in (
        (0, np.full(3, 0.25)),
        (1, np.full(3, 0.25)),
        (2, 0.25 * Z[sl] / (1 + Z[sl])),
    ):
        got = log_elasticity(user, X[sl], Y[sl], Z[sl], cls)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    v = X[sl] ** 0.25 * Y[sl] ** 0.25 * (1 + Z[sl]) ** 0.25
    np.testing.assert_allclose(
        implied_markup(v, X[sl], Y[sl], Z[sl], user),
        implied_markup(v, X[sl], Y[sl], Z[sl], Technology.cobb_douglas()),
        rtol=1e-13,
    )


def test_a_function_pyomo_cannot_differentiate_gets_a_numeric_derivative():
    tech = Technology(C, C, C, NumpyOnlySaturating())
    x, z = np.array([0.1, 1.0, 4.0]), np.array([0.0, 1.0, 3.0])
    theta = 2.0
    v = theta * -np.expm1(-x) * (1 + z) ** 0.25
    # dV/dx = theta e^-x (1 + z)^g
    want = theta * np.exp(-x) * (1 + z) ** 0.25 / C
    got = implied_markup(v, x, np.zeros(3), z, tech)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_a_bundle_without_input_tokens_is_priced_on_the_class_it_holds():
    # a function valuing fine-tuning without any input, u = (1 + z)^g: priced on fine-tuning
    class FineTuningOnly(NumpyOnlySaturating):
        def precision(self, a_in, a_out, z):
            return (1.0 + np.asarray(z, float)) ** self.gamma

    tech = Technology(C, C, C, FineTuningOnly())
    z = np.array([3.0])
    v = (1 + z) ** 0.25
    got = implied_markup(v, np.zeros(1), np.zeros(1), z, tech)
    np.testing.assert_allclose(got, 0.25 * (1 + z) ** -0.75 / C, rtol=1e-9)
    assert np.isnan(implied_markup(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), tech))


def test_menu_plans_give_a_package_one_plan_and_the_null_bundle_none():
    tech = Technology.cobb_douglas()
    theta = np.array([0.3, 0.5, 0.5, 1.0])
    x = np.array([0.0, 1.0, 1.0, 16.0])
    z = np.array([0.0, 0.0, 0.0, 15.0])
    u = x**0.5 * (1 + z) ** 0.25
    pay = np.array([0.0, 0.5, 0.5, 7.5])
    cost = C * (2 * x + z)
    package = np.array([0, 1, 1, 2])
    prob = np.array([0.1, 0.2, 0.3, 0.4])
    markup, fee = menu_plans(package, prob, theta * u, x, x, z, pay, cost, tech)
    assert np.isnan(markup[0]) and np.isnan(fee[0])
    # markup = alpha theta u / (c x): 0.25 * 0.5 / 0.125 = 1 and 0.25 * 8 / (0.125 * 16) = 1
    np.testing.assert_allclose(markup[1:], [1.0, 1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(fee[1:], pay[1:] - cost[1:], rtol=1e-15)
    assert markup[1] == markup[2] and fee[1] == fee[2]


@pytest.mark.parametrize("cls", [0, 1, 2])
def test_elasticity_of_cobb_douglas_per_class(cls):
    tech = Technology.cobb_douglas(alpha=0.2, beta=0.3, gamma=0.1)
    got = log_elasticity(tech, X[:3], Y[:3], Z[:3], cls)
    want = [np.full(3, 0.2), np.full(3, 0.3), 0.1 * Z[:3] / (1 + Z[:3])][cls]
    np.testing.assert_allclose(got, want, rtol=1e-15)
