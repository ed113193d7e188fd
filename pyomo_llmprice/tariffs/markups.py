"""From a solved menu to the paper's implementation: per-plan markups and fixed fees.

A plan is a two-part tariff: a fixed fee plus every token class at a plan-specific
markup over cost, set so that the buyer's first-order condition holds at its bundle:
``p_x = d value / d X``. This module is the one place where markups and fees are
computed: ``llmprice solve``, ``llmprice tariffs``, ``LLMPricingModel``, the plots and
the sweeps all read them from here (through :func:`menu_plans`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyomo_llmprice.technology import CobbDouglas, PrecisionFunction, Technology

__all__ = ["fixed_fee", "implied_markup", "menu_plans", "package_plans"]


def implied_markup(
    gross_value: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    finetune_tokens: np.ndarray,
    technology: Technology,
) -> np.ndarray:
    """The buyer's marginal rate of substitution of tokens against money, over cost.

    The value is ``V = w * u(X, Y, Z)`` for a coefficient w the bundle does not change,
    so ``dV/dX = V * d ln u / d X`` and the markup is ``dV/dX / c_x``: the per-token
    price at which the bundle is the buyer's own choice. Cobb-Douglas: ``alpha V / X``
    exactly (Euler; the same markup for every class, as the input:output mix is
    type-independent). Any other precision function: ``d ln u / d ln X`` from the
    derivative of the technology (:func:`log_elasticity`). A bundle without input tokens
    is priced on the first class it holds (output, then fine-tuning); NaN only for the
    null bundle (no plan).
    """
    v = np.asarray(gross_value, float)
    tokens = [
        np.broadcast_to(np.asarray(t, float), v.shape)
        for t in (input_tokens, output_tokens, finetune_tokens)
    ]
    costs = (technology.cost_input, technology.cost_output, technology.cost_finetune)
    out = np.full(v.shape, np.nan)
    todo = np.ones(v.shape, bool)
    for cls in range(3):
        ok = todo & (tokens[cls] > 0)
        if not ok.any():
            continue
        x, y, z = (t[ok] for t in tokens)
        elasticity = log_elasticity(technology, x, y, z, cls)
        out[ok] = elasticity * v[ok] / (costs[cls] * tokens[cls][ok])
        todo &= ~ok
    return out


def log_elasticity(
    technology: Technology, x: np.ndarray, y: np.ndarray, z: np.ndarray, cls: int = 0
) -> np.ndarray:
    """``d ln u / d ln T`` of precision u at tokens (x, y, z), T the class `cls` (0 input,
    1 output, 2 fine-tuning): the exponent for Cobb-Douglas; otherwise the symbolic
    derivative of the user's function (it accepts Pyomo expressions, as every precision
    function must), or, where that fails, an adaptive finite difference
    (:func:`scipy.differentiate.derivative`, with its error control)."""
    prec = technology.precision
    if isinstance(prec, CobbDouglas):
        if cls == 2:
            return prec.gamma * z / (prec.base_quality + z)
        return np.full(np.shape(x), prec.alpha if cls == 0 else prec.beta)
    try:
        return _symbolic_elasticity(prec, x, y, z, cls)
    except Exception:  # a function Pyomo cannot differentiate: the numeric derivative
        return _numeric_elasticity(prec, x, y, z, cls)


def _precision(prec: PrecisionFunction, x: Any, y: Any, z: Any) -> Any:
    a_in, a_out = prec.factors(x, y)
    return prec.precision(a_in, a_out, z)


def _symbolic_elasticity(
    prec: PrecisionFunction, x: np.ndarray, y: np.ndarray, z: np.ndarray, cls: int
) -> np.ndarray:
    """The elasticity from Pyomo's symbolic derivative of the user's precision function."""
    import pyomo.environ as pyo
    from pyomo.core.expr.calculus.derivatives import Modes, differentiate

    m = pyo.ConcreteModel()
    m.t = pyo.Var(range(3))
    u = _precision(prec, m.t[0], m.t[1], m.t[2])
    du = differentiate(u, wrt=m.t[cls], mode=Modes.reverse_symbolic)
    out = np.empty(np.shape(x))
    for i, point in enumerate(zip(x, y, z, strict=True)):
        for k in range(3):
            m.t[k].set_value(float(point[k]), skip_validation=True)
        out[i] = pyo.value(du) * point[cls] / pyo.value(u)
    if not np.all(np.isfinite(out)):
        raise ArithmeticError("no finite symbolic derivative")
    return out


def _numeric_elasticity(
    prec: PrecisionFunction, x: np.ndarray, y: np.ndarray, z: np.ndarray, cls: int
) -> np.ndarray:
    """The elasticity as ``d ln u / d s`` at s = 0 of tokens scaled by ``e^s``."""
    from scipy.differentiate import derivative

    base = [np.asarray(t, float) for t in (x, y, z)]

    def log_u(s: np.ndarray) -> np.ndarray:  # s carries trailing axes of trial steps
        pad = (1,) * (s.ndim - base[0].ndim)
        pts = [np.broadcast_to(t.reshape(t.shape + pad), s.shape) for t in base]
        pts[cls] = pts[cls] * np.exp(s)
        return np.log(np.asarray(_precision(prec, *pts), float))

    return np.asarray(derivative(log_u, np.zeros(np.shape(x)), initial_step=1e-2).df, float)


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


def menu_plans(
    package: np.ndarray,
    prob: np.ndarray,
    gross_value: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    finetune_tokens: np.ndarray,
    payment: np.ndarray,
    cost: np.ndarray,
    technology: Technology,
) -> tuple[np.ndarray, np.ndarray]:
    """The plans of a certified token menu, per type: (markup, fixed fee).

    The one function every door prices a menu with (``llmprice solve`` and ``llmprice
    tariffs`` through :func:`pyomo_llmprice.result.certify_menu`, ``LLMPricingModel``,
    the plots and the sweeps read its columns). `package` numbers the served types'
    packages (0: the null bundle, snapped before pricing, no plan); each type's tangent
    markup is :func:`implied_markup` and the package's plan is :func:`package_plans`.
    """
    package = np.asarray(package, int)
    served = package > 0
    per_type = np.full(package.shape, np.nan)
    if served.any():
        per_type[served] = implied_markup(
            np.asarray(gross_value, float)[served],
            np.asarray(input_tokens, float)[served],
            np.asarray(output_tokens, float)[served],
            np.asarray(finetune_tokens, float)[served],
            technology,
        )
    return package_plans(package, prob, per_type, payment, cost)
