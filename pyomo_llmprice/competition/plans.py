"""A seller's best response when it may offer only K two-part tariffs (``--plans K``).

Each plan is a fee F_k and one markup m_k on every token class's cost. A buyer of
index theta picks the plan and quantities that suit it best (the tariff layer's buyer
best response, :func:`pyomo_llmprice.tariffs.buyers.buyer_for`), then buys from this
seller with its taste's probability. The seller's expected profit is a function of
the 2K numbers only (piecewise smooth: the buyers' plan choices switch), maximized by
Nelder-Mead from several starts; the menu is exactly incentive compatible by
construction, since every type's item is its own best response to the tariffs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from pyomo_llmprice.certificate import package_values
from pyomo_llmprice.competition.best_response import SellerMenu, menu_from_arrays
from pyomo_llmprice.competition.market import CompetitionInstance
from pyomo_llmprice.tariffs.buyers import buyer_for
from pyomo_llmprice.units import value_scale

__all__ = ["PlanBestResponse"]


class PlanBestResponse:
    """Seller `seller`'s best K-plan tariff menu against the rivals' offers."""

    def __init__(self, market: CompetitionInstance, seller: int, plans: int) -> None:
        self.market = market
        self.taste = market.taste
        self.seller = seller
        self.name = market.sellers[seller].name
        self.instance = market.seller_instance(seller)
        self.plans = int(plans)
        self.buyer = buyer_for(self.instance.technology)
        self.theta = np.asarray(self.instance.types.index(self.instance.technology), float)
        self.prob = np.asarray(self.instance.types.prob, float)
        self.unit_costs = np.asarray(self.buyer.unit_costs, float)
        self.money = value_scale(self.instance)
        k = self.plans
        # the start: markups spread over [1, 2], fees a small share of the value scale
        self.point = np.concatenate([np.full(k, 0.05), np.log(np.linspace(1.0, 2.0, k + 1)[:-1])])
        self.point[0] = 0.1
        self._initial = self.point.copy()
        self._monopoly: np.ndarray | None = None

    # -- the point: fees in units of the value scale, log markups -------------------
    def snapshot(self) -> np.ndarray:
        """The current fees and log markups."""
        return self.point.copy()

    def restore(self, point: np.ndarray) -> None:
        """Put the plans at `point`."""
        self.point = np.asarray(point, float).copy()

    def set_taste(self, taste: Any) -> None:
        """Follow the continuation (:meth:`Competition.stages`)."""
        self.taste = taste

    def monopoly_start(self, rival: np.ndarray) -> np.ndarray:
        """The seller's monopoly design of K plans (:func:`tariffs.design_plans` on its
        own instance, computed once), fees lowered by 5 taste scales so that its buyers
        come; the default start where the design cannot be made (fewer types than K)."""
        from pyomo_llmprice.tariffs.design import design_plans

        if self._monopoly is None:
            try:
                menu = design_plans(self.instance, self.plans, progress=False).menu
            except ValueError:
                self._monopoly = self._initial.copy()
            else:
                fees = menu.fees() / self.money
                markups = menu.price_matrix()[:, 0] / self.unit_costs[0]
                self._monopoly = np.concatenate([fees, np.log(np.maximum(markups, 1e-6))])
        start = self._monopoly.copy()
        start[: self.plans] -= 5 * self.taste.scale / self.money
        return start

    def matched_start(self, rival: np.ndarray) -> np.ndarray:
        """The default markups with fees 0 (a start; Nelder-Mead needs no care here)."""
        start = self._initial.copy()
        start[: self.plans] = 0.0
        return start

    def _offer(
        self, point: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each type's chosen plan, its tokens, payment, cost and utility."""
        k = self.plans
        fee = point[:k] * self.money
        markup = np.exp(point[k:])
        prices = markup[None, :, None] * self.unit_costs[None, None, :]
        tokens, gross = self.buyer.demand(self.theta[:, None], prices)  # (N, K, 3), (N, K)
        cost = self.buyer.cost(tokens)
        pay = fee[None, :] + markup[None, :] * cost
        util = gross - pay
        choice = np.argmax(util, axis=1)
        rows = np.arange(len(self.theta))
        return (
            choice,
            tokens[rows, choice],
            pay[rows, choice],
            cost[rows, choice],
            util[rows, choice],
        )

    def profit(self, point: np.ndarray, rival: np.ndarray) -> float:
        _, _, pay, cost, util = self._offer(point)
        share = self.taste.own_probability(util, rival)
        return float(np.sum(self.prob * share * (pay - cost)))

    def initial_start(self) -> np.ndarray:
        """The default plans (markups spread over [1, 2])."""
        return self._initial.copy()

    def solve(
        self, rival: np.ndarray, start: np.ndarray | None = None, cold: bool = False
    ) -> SellerMenu:
        """The best K-plan menu against `rival` from `start` (default: the last point);
        `cold` is the Ipopt models' switch and means nothing to Nelder-Mead."""
        x0 = self.point if start is None else np.asarray(start, float)
        scale = max(self.money, 1e-300)
        res = optimize.minimize(
            lambda p: -self.profit(p, rival) / scale,
            x0,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000 * x0.size, "adaptive": True},
        )
        self.point = np.asarray(res.x, float)
        status = "optimal" if res.success else "not_converged"
        return self.read(status)

    def read(self, status: str) -> SellerMenu:
        choice, tokens, pay, _, _ = self._offer(self.point)
        x, y, z = tokens[:, 0], tokens[:, 1], tokens[:, 2]
        values = package_values(self.theta, x, y, z, self.instance.technology)
        value = values.rows(slice(0, len(self.theta)))
        menu = menu_from_arrays(self.name, self.instance, (x, y, z), pay, value, status)
        # the plan each type chooses: its fee and markup (identical to the tangent
        # markup at its bundle, which menu_from_arrays recomputes)
        menu.plans = self.plans
        menu.extra["plan"] = choice
        return menu
