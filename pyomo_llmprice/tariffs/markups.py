"""From a solved menu to the paper's implementation: per-plan markups and fixed fees.

A plan is a two-part tariff: a fixed fee plus every token class at a plan-specific
markup over cost, set so that the buyer's first-order condition holds at its bundle:
``p_x = d value / d X``. This module is the one place where markups and fees are
computed: ``llmprice solve``, ``llmprice tariffs``, ``LLMPricingModel``, the plots and
the sweeps all read them from here (through :func:`package_plans`).
"""

from __future__ import annotations

import numpy as np

from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["fixed_fee", "implied_markup", "package_plans"]

#: step in log X of the central difference for precision functions without a closed form
LOG_STEP = 1e-5


def implied_markup(
    gross_value: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    finetune_tokens: np.ndarray,
    technology: Technology,
) -> np.ndarray:
    """The buyer's marginal value of input tokens at its bundle, over their cost ``c_x``.

    The value is ``V = w * u(X, Y, Z)`` for a coefficient w the bundle does not change,
    so ``dV/dX = V * d ln u / d X``. Cobb-Douglas: ``alpha V / X`` exactly (Euler; the
    same markup for every class, as the input:output mix is type-independent). Any
    other precision function: ``d ln u / d ln X`` by a central difference of the
    technology. NaN only where there is no bundle (no input tokens: no plan).
    """
    v = np.asarray(gross_value, float)
    x = np.asarray(input_tokens, float)
    y = np.asarray(output_tokens, float)
    z = np.asarray(finetune_tokens, float)
    out = np.full(v.shape, np.nan)
    ok = x > 0
    prec = technology.precision
    if isinstance(prec, CobbDouglas):
        elasticity = np.full(int(ok.sum()), prec.alpha)
    else:

        def log_u(scale: float) -> np.ndarray:
            a_in, a_out = prec.factors(x[ok] * scale, y[ok])
            return np.log(np.asarray(prec.precision(a_in, a_out, z[ok]), float))

        elasticity = (log_u(np.exp(LOG_STEP)) - log_u(np.exp(-LOG_STEP))) / (2 * LOG_STEP)
    out[ok] = elasticity * v[ok] / (technology.cost_input * x[ok])
    return out


def fixed_fee(payment: np.ndarray, markup: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The fee that, with per-token prices ``markup * c``, collects the plan's payment."""
    return np.asarray(payment, float) - np.asarray(markup, float) * np.asarray(cost, float)


def package_plans(
    package: np.ndarray,
    prob: np.ndarray,
    markup: np.ndarray,
    payment: np.ndarray,
    cost: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One plan per package: every type on package p gets the same markup and fee.

    `package` numbers each type's package (0: the null bundle, no plan). Bunched types
    sit at a kink of the tariff, where no single price is tangent to all of them; the
    plan's markup is their probability-weighted mean tangent markup, and its fee
    collects the package's payment. Returns per-type (markup, fee), NaN without a plan.
    """
    package = np.asarray(package, int)
    prob = np.asarray(prob, float)
    markup = np.asarray(markup, float)
    payment = np.asarray(payment, float)
    cost = np.asarray(cost, float)
    plan_markup = np.full(package.shape, np.nan)
    plan_fee = np.full(package.shape, np.nan)
    for p in np.unique(package[package > 0]):
        members = np.flatnonzero(package == p)
        weights = prob[members] if prob[members].sum() > 0 else np.ones(members.size)
        m = float(np.average(markup[members], weights=weights))
        lead = members[0]
        plan_markup[members] = m
        plan_fee[members] = fixed_fee(payment[lead], m, cost[lead])
    return plan_markup, plan_fee
