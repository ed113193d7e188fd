"""Equilibrium menus: damped best-response iteration, certified by multi-start re-solves.

Each round, every seller in turn solves its best response (a Pyomo screening NLP
with random participation, :mod:`.best_response`, or K two-part tariffs,
:mod:`.plans`) to what it believes its rivals offer. The belief is damped: a
seller responds to ``(1 - d) old + d new`` of the rivals' offer to each type, with
``d`` halved whenever the largest change in offered utility grows, so oscillations
die out; at a fixed point beliefs equal the actual offers and the menus are mutual
best responses. The profile is then *certified*: each seller's best response to the
others' actual menus is re-solved from several starts (the profile itself, the
model's default start and random perturbations), and its relative gain over the
seller's current profit is ``deviation_gain``. ``optimal`` means converged, every
menu incentive compatible on all pairs, and no seller gaining more than
:data:`GAIN_TOLERANCE`; anything else is ``not_converged`` with the last profile
and its gains reported, and nothing in it is called an equilibrium.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyomo_llmprice.competition.best_response import BestResponse, SellerMenu
from pyomo_llmprice.competition.market import CompetitionInstance
from pyomo_llmprice.competition.plans import PlanBestResponse
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.units import value_scale

__all__ = ["GAIN_TOLERANCE", "Competition", "CompetitionResult"]

#: largest relative gain from deviating that a certified equilibrium allows
GAIN_TOLERANCE = 1e-6
#: offered utilities that move by less than this fraction of the value scale: converged
CHANGE_TOLERANCE = 1e-7
#: offers that stall (no new smallest move for CERTIFY_EVERY rounds) within this
#: fraction of the value scale are put to the certificate
CERTIFY_TOLERANCE = 1e-4
CERTIFY_EVERY = 10
#: ... and, in the continuation's earlier stages, this fraction
STAGE_TOLERANCE = 1e-4
#: smallest belief damping before the iteration gives up shrinking it
MIN_DAMPING = 1 / 64


@dataclass
class CompetitionResult:
    """A profile of menus, what it gives each seller and buyer, and its certificate."""

    status: str
    market: CompetitionInstance
    setting: str
    plans: int | None
    menus: list[SellerMenu]
    utility: np.ndarray  # (S, N) each type's best utility from each seller
    choice_prob: np.ndarray  # (S, N)
    profit: np.ndarray  # (S,)
    deviation_gain: np.ndarray  # (S,) relative
    iterations: int
    message: str = ""
    history: list[float] = field(default_factory=list)  # largest utility change per round
    #: per seller, a better response the certificate found (None: none beat the profile)
    better: list[SellerMenu | None] = field(default_factory=list)

    @property
    def prob(self) -> np.ndarray:
        return np.asarray(self.market.buyers.types.prob, float)

    @property
    def market_share(self) -> np.ndarray:
        """(S,) each seller's share of all buyers (the outside option takes the rest)."""
        return self.choice_prob @ self.prob

    @property
    def max_deviation_gain(self) -> float:
        return float(np.max(self.deviation_gain, initial=0.0))

    @property
    def consumer_surplus(self) -> float:
        return float(self.prob @ self.market.taste.consumer_surplus(self.utility))

    @property
    def welfare(self) -> float:
        return self.consumer_surplus + float(self.profit.sum())

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``llmprice compete --json`` (issue #16's schema)."""
        from pyomo_llmprice.report.competition import result_json

        return result_json(self)

    def report(self) -> str:
        from pyomo_llmprice.report.competition import format_result

        return format_result(self)


@dataclass
class _State:
    """The profile carried through the continuation's stages."""

    utility: np.ndarray
    menus: list[SellerMenu | None]
    iterations: int = 0
    history: list[float] = field(default_factory=list)


class Competition:
    """Nash equilibrium of menus among the sellers of `market`.

    `setting` is the contracting environment of every seller's menu (``packages`` or
    ``allocations``); `plans` K restricts each seller to K two-part tariffs (Token
    Packages). `damping` is the first belief weight on the newest offers (1: plain
    best-response iteration). `starts` is how many starts each certificate re-solve
    uses (at least 4: the profile, the default bundles priced to match the rivals,
    the seller's monopoly menu and the model's initial point solved cold).
    `continuation` follows the equilibrium from stronger tastes down to the market's
    (:meth:`stages`).
    """

    def __init__(
        self,
        market: CompetitionInstance,
        setting: str = "packages",
        plans: int | None = None,
        solver: str = DEFAULT_SOLVER,
        options: dict[str, Any] | None = None,
        max_iter: int = 200,
        damping: float = 1.0,
        starts: int = 6,
        seed: int = 0,
        continuation: bool = True,
    ) -> None:
        if plans is not None:
            if setting != "packages":
                raise UserInputError(
                    f"--plans: two-part tariffs are priced in Token Packages; the {setting} "
                    "setting contracts per task, which per-token prices cannot express"
                )
            if int(plans) < 1:
                raise UserInputError(f"--plans: must be at least 1, got {plans}")
        if not 0 < damping <= 1:
            raise UserInputError(f"damping: must be in (0, 1], got {damping}")
        self.market = market
        self.setting = setting
        self.plans = None if plans is None else int(plans)
        self.solver = solver
        self.options = options
        self.max_iter = int(max_iter)
        self.damping = float(damping)
        self.starts = max(4, int(starts))
        self.rng = np.random.default_rng(seed)
        self.continuation = bool(continuation)
        self.taste = market.taste  # the continuation's current stage
        self.responses: list[Any] = [self._response(s) for s in range(len(market.sellers))]
        self.scale = max(value_scale(market.seller_instance(s)) for s in range(len(market.sellers)))

    def _response(self, seller: int) -> Any:
        if self.plans is not None:
            return PlanBestResponse(self.market, seller, self.plans)
        return BestResponse(self.market, seller, self.setting, self.solver, self.options)

    # -- evaluating a profile -----------------------------------------------------------
    def seller_profit(self, menu: SellerMenu, rival: np.ndarray) -> float:
        """Expected profit of `menu` against `rival`, from the published numbers only."""
        util, choice = menu.utility()
        share = self.taste.own_probability(util, rival)
        prob = np.asarray(self.market.buyers.types.prob, float)
        return float(np.sum(prob * share * (menu.payment[choice] - menu.cost[choice])))

    def _utilities(self, menus: list[SellerMenu]) -> np.ndarray:
        return np.vstack([m.utility()[0] for m in menus])

    # -- the iteration --------------------------------------------------------------------
    def stages(self) -> list[float]:
        """Taste scales of the continuation, ending at the market's: a weak taste
        (small sigma or tau) makes choice probabilities steep and best responses
        nonconvex, so the profile is first found for tastes 4, 16, ... times stronger
        (up to a tenth of the value scale) and followed down."""
        scale = self.market.taste.scale
        out = [scale]
        while self.continuation and out[-1] * 4 <= 0.1 * self.scale:
            out.append(out[-1] * 4)
        return out[::-1]

    def _set_taste(self, scale: float) -> None:
        market_taste = self.market.taste
        self.taste = type(market_taste)(scale, market_taste.outside_option)
        for response in self.responses:
            response.set_taste(self.taste)

    def solve(self) -> CompetitionResult:
        """Follow the continuation, iterate best responses to a fixed point of the
        market's taste, then certify it."""
        n_sellers = len(self.market.sellers)
        state = _State(
            utility=np.zeros((n_sellers, len(self.market.buyers.types))),
            menus=[None] * n_sellers,
        )
        stages = self.stages()
        for scale in stages[:-1]:
            self._set_taste(scale)
            self._iterate(state, STAGE_TOLERANCE, certify=False)
        self._set_taste(stages[-1])
        result = self._iterate(state, CHANGE_TOLERANCE, certify=True)
        assert result is not None  # certify=True always returns one
        return result

    def _iterate(self, state: _State, tolerance: float, certify: bool) -> CompetitionResult | None:
        """Damped best responses from `state` until offers move by less than
        `tolerance` of the value scale (or the round limit); with `certify`, the
        certified (or not) result, else None (a continuation stage)."""
        from pyomo_llmprice.progress import progress_bar

        taste = self.taste
        n_sellers = len(self.market.sellers)
        utility, menus = state.utility, state.menus
        beliefs: list[np.ndarray | None] = [None] * n_sellers
        damping = self.damping
        last_change = np.inf
        converged = False
        since, lowest = 0, np.inf
        with progress_bar(total=self.max_iter, desc="best responses", unit="round") as bar:
            for _ in range(self.max_iter):
                state.iterations += 1
                before = utility.copy()
                for s in range(n_sellers):
                    actual = taste.rivals(utility, s)
                    old = beliefs[s]
                    belief = actual if old is None else (1 - damping) * old + damping * actual
                    beliefs[s] = belief
                    menu = self._best_of(s, belief, menus[s])
                    menus[s] = menu
                    utility[s] = menu.utility()[0]
                change = float(np.max(np.abs(utility - before))) / self.scale
                belief_gap = max(
                    float(np.max(np.abs(beliefs[s] - taste.rivals(utility, s)))) / self.scale
                    for s in range(n_sellers)
                )
                state.history.append(change)
                bar.update(1)
                if change > last_change and damping > MIN_DAMPING:
                    damping /= 2
                last_change = change
                ok = all(m is not None and m.status == "optimal" for m in menus)
                moved = max(change, belief_gap)
                since += 1
                if moved < lowest:
                    lowest, since = moved, 0
                # converged; or stalled close to it (no new low for CERTIFY_EVERY rounds,
                # offers creeping between nearly equal local optima): then the
                # certificate decides, since a profile no seller gains from is an
                # equilibrium however its offers still move
                close = certify and moved < CERTIFY_TOLERANCE and since >= CERTIFY_EVERY
                if not (ok and (moved < tolerance or close)):
                    continue
                since = 0
                if not certify:
                    return None
                converged = True
                result = self._certify(menus, state.iterations, state.history)  # type: ignore[arg-type]
                if result.status == "optimal" or (
                    moved < tolerance and not any(m is not None for m in result.better)
                ):
                    return result
                # a better response was found from another start: continue from it
                converged = False
                for s, menu in enumerate(result.better):
                    if menu is not None:
                        menus[s] = menu
                        utility[s] = menu.utility()[0]
                        beliefs[s] = None
        if not certify:
            return None
        result = self._certify(menus, state.iterations, state.history)  # type: ignore[arg-type]
        if not converged:
            result.status = "not_converged"
            result.message = (
                f"no equilibrium within {self.max_iter} rounds (last change in offered "
                f"utility {state.history[-1]:.3g} of the value scale); the last profile and "
                "its deviation gains are reported, and no menu in it is an equilibrium"
            )
        return result

    def _best_of(self, seller: int, rival: np.ndarray, keep: SellerMenu | None) -> SellerMenu:
        """The seller's best response to `rival`: a warm solve from its last point,
        accepted when optimal, incentive compatible and at least as profitable as its
        current menu `keep`; otherwise also a solve from the default bundles priced to
        match the rivals (Ipopt can stop where every type is priced out: the logit
        share is flat there), and the best of all. When every solve fails, `keep`
        stays (and the model where it was); in the first round, with nothing to keep,
        the failure is returned."""
        response = self.responses[seller]
        here = response.snapshot()
        floor = -np.inf if keep is None else self.seller_profit(keep, rival)
        best: tuple[float, SellerMenu | None, np.ndarray] = (floor, keep, here)
        last: SellerMenu | None = None
        for kind in (None, "matched", "monopoly", "initial"):
            start = None
            if kind == "matched":
                start = response.matched_start(rival)
            elif kind == "monopoly":
                start = response.monopoly_start(rival)
            elif kind == "initial":
                start = response.initial_start()
            menu = response.solve(rival, start, cold=kind == "initial")
            last = menu
            if menu.status == "optimal" and menu.incentive_compatible:
                value = self.seller_profit(menu, rival)
                if value >= best[0] - GAIN_TOLERANCE * abs(best[0]):
                    best = (value, menu, response.snapshot())
                    break
        if best[1] is None:
            return last  # type: ignore[return-value]
        response.restore(best[2])
        return best[1]

    def _certify(
        self, menus: list[SellerMenu], iterations: int, history: list[float]
    ) -> CompetitionResult:
        """Re-solve every seller's best response to the others from several starts."""
        taste = self.taste
        utility = self._utilities(menus)
        profit = np.zeros(len(menus))
        gains = np.zeros(len(menus))
        better: list[SellerMenu | None] = [None] * len(menus)
        failed: list[str] = []
        for s, response in enumerate(self.responses):
            rival = taste.rivals(utility, s)
            profit[s] = self.seller_profit(menus[s], rival)
            here = response.snapshot()
            best = profit[s]
            solved = 0
            for start, cold in self._starts(s, here, rival):
                menu = response.solve(rival, start, cold)
                if menu.status != "optimal" or not menu.incentive_compatible:
                    continue
                solved += 1
                value = self.seller_profit(menu, rival)
                if value > best:
                    best, better[s] = value, menu
            response.restore(here)
            if solved == 0:
                failed.append(menus[s].seller)
            gains[s] = (best - profit[s]) / max(abs(profit[s]), 1e-12 * self.scale)
        ic_ok = all(m.incentive_compatible and m.status == "optimal" for m in menus)
        status = "optimal"
        message = "certified: no seller gains from another menu (re-solved from several starts)"
        if failed:
            status = "not_converged"
            message = f"the certificate's re-solves failed for {', '.join(failed)}"
        elif not ic_ok:
            status = "not_converged"
            message = "a menu of the profile is not incentive compatible on all pairs"
        elif float(gains.max(initial=0.0)) > GAIN_TOLERANCE:
            status = "not_converged"
            message = (
                f"a seller gains {gains.max():.3g} (relative) from another menu: not an equilibrium"
            )
        result = CompetitionResult(
            status=status,
            market=self.market,
            setting=self.setting,
            plans=self.plans,
            menus=menus,
            utility=utility,
            choice_prob=taste.probabilities(utility),
            profit=profit,
            deviation_gain=gains,
            iterations=iterations,
            message=message,
            history=list(history),
            better=better,
        )
        return result

    def _starts(
        self, seller: int, here: np.ndarray, rival: np.ndarray
    ) -> list[tuple[np.ndarray, bool]]:
        """(start, cold) pairs: the profile, the default bundles priced to match the
        rivals, the seller's monopoly menu, the model's initial point solved cold (with
        Ipopt's own barrier start), then random perturbations of the profile."""
        response = self.responses[seller]
        starts = [
            (here, False),
            (response.matched_start(rival), False),
            (response.monopoly_start(rival), False),
            (response.initial_start(), True),
        ]
        while len(starts) < self.starts:
            starts.append((here * np.exp(self.rng.normal(0.0, 0.3, here.shape)), False))
        return starts
