"""The fee rule of a menu of K two-part tariffs for a fixed assignment of types to plans.

With the types sorted and each plan's buyers a run of consecutive types, the fees that
maximize profit for given markups bind the lowest buyer's participation and each next
plan's lowest buyer's downward incentive constraint: one pass, no solve. Both plan
searches use it (:mod:`.design` by markups, :mod:`.kkt` as the MPEC's starting fees), so
it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pyomo_llmprice.tariffs.buyers import BuyerModel

__all__ = ["PlanFees"]

FloatArray = NDArray[np.float64]


@dataclass
class PlanFees:
    """Sorted types, the buyer model and unit costs; the profit of an assignment."""

    theta: FloatArray  # sorted increasing
    prob: FloatArray
    buyer: BuyerModel
    unit_costs: FloatArray

    def surplus(self, theta: FloatArray, markup: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Surplus before the fee, and the seller's token margin, of each (theta, markup) pair."""
        prices = markup[:, None] * self.unit_costs[None, :]
        tokens, gross = self.buyer.demand(theta, prices)
        spend = np.einsum("ij,ij->i", tokens, prices)
        cost = self.buyer.cost(tokens)
        return gross - spend, spend - cost

    def fees_and_profit(
        self, bounds: NDArray[np.intp], markup: FloatArray
    ) -> tuple[FloatArray, float, FloatArray]:
        """Fees pinned by binding IR/downward IC, expected profit, each type's surplus."""
        k = len(markup)
        n = self.theta.size
        group = np.full(n, -1)
        for j in range(k):
            group[bounds[j] : bounds[j + 1]] = j
        served = group >= 0
        lows = bounds[:k]
        # own-plan pairs for the served, plus each group's lowest type on the plan below
        th = np.concatenate([self.theta[served], self.theta[lows[1:]]])
        mk = np.concatenate([markup[group[served]], markup[: k - 1]])
        surplus, margin = self.surplus(th, mk)
        own_surplus = np.zeros(n)
        own_margin = np.zeros(n)
        own_surplus[served] = surplus[: served.sum()]
        own_margin[served] = margin[: served.sum()]
        below = surplus[served.sum() :]
        fees = np.empty(k)
        fees[0] = own_surplus[lows[0]]
        for j in range(1, k):
            fees[j] = fees[j - 1] + own_surplus[lows[j]] - below[j - 1]
        fee_of = np.where(served, fees[np.maximum(group, 0)], 0.0)
        profit = float(self.prob @ np.where(served, fee_of + own_margin, 0.0))
        return fees, profit, np.where(served, own_surplus - fee_of, 0.0)
