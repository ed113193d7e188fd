"""From a solved menu to the paper's implementation: per-plan markups and fixed fees.

A plan designed for type i is a two-part tariff: a fixed fee plus every token
class at a plan-specific markup over cost, set so that the buyer's first-order
conditions hold at its bundle: ``p_x = (d value / d X)`` at the bundle. With
Cobb-Douglas precision the value is homogeneous of degree alpha in input tokens,
so ``markup = alpha * value / (c_x * X)`` (Euler), the same for every token class
at the optimum (the mix is type-independent), and
``fixed_fee = payment - markup * cost``.
"""

from __future__ import annotations

import numpy as np

from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["fixed_fee", "implied_markup"]


def implied_markup(
    gross_value: np.ndarray, input_tokens: np.ndarray, technology: Technology
) -> np.ndarray:
    """Markup over cost implied by the buyer's first-order condition for input tokens.

    NaN for types without tokens (no plan) and for non-Cobb-Douglas precision.
    """
    gross_value = np.asarray(gross_value, float)
    input_tokens = np.asarray(input_tokens, float)
    out = np.full(gross_value.shape, np.nan)
    if not isinstance(technology.precision, CobbDouglas):
        return out
    alpha = technology.precision.alpha
    served = input_tokens > 0
    out[served] = alpha * gross_value[served] / (technology.cost_input * input_tokens[served])
    return out


def fixed_fee(payment: np.ndarray, markup: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The fee that, with per-token prices ``markup * c``, collects the plan's payment."""
    return np.asarray(payment, float) - np.asarray(markup, float) * np.asarray(cost, float)
