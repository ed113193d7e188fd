"""Menus of two-part tariffs and their exact check: every type faces the whole menu.

A pricing page is a menu of two-part tariffs (fee plus per-token prices). The seller
earns what buyers actually do with it: each type picks the plan and the quantities that
maximize its own net utility, or buys nothing. :func:`best_response` computes that for
all types x plans at once (numpy); :func:`tariff_menu_from_result` turns a solved,
verified screening menu into its tangent two-part tariffs; :func:`evaluate_tariffs`
reports the profit they really earn and each type's largest gain over its intended
choice (the 1/N^2 gap of tangent tariffs on finite type sets, docs/model.md section 3).

Ties (a type indifferent, within ``tie_tol``, between options) go to the option the
seller prefers (highest profit from that type), then to the lowest plan index, with
"buy nothing" first: the mechanism-design convention, and deterministic.

Token Allocations: a two-part tariff prices token *totals*, which is Token Packages; a
per-task contract cannot be written as per-token prices, so menus are built from and
evaluated in Token Packages only (a Token Allocations result is refused).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from pyomo_llmprice.certificate import package_numbers, package_values
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.tariffs.buyers import BuyerModel, QuadraticGood, ValueGood, buyer_for
from pyomo_llmprice.tariffs.markups import menu_plans
from pyomo_llmprice.technology import Technology

__all__ = [
    "TIE_TOL",
    "SolvedMenu",
    "TariffError",
    "TariffMenu",
    "TariffOutcome",
    "TwoPartTariff",
    "best_response",
    "evaluate_tariffs",
    "menu_with_plans",
    "tariff_menu_from_bundles",
    "tariff_menu_from_result",
]

FloatArray = NDArray[np.float64]

#: what plans are priced on: token technologies or a one-good textbook case
Good = Technology | QuadraticGood | ValueGood

#: net utilities within this (times max(1, utility scale)) count as a tie
TIE_TOL = 1e-9

#: types x plans entries evaluated at once by best_response (memory stays bounded)
CHUNK_ELEMENTS = 1 << 20


class TariffError(ValueError):
    """A tariff request that cannot be honoured (non-optimal menu, wrong setting, ...)."""


class SolvedMenu(Protocol):
    """What the tariff layer reads of a certified menu (a
    :class:`~pyomo_llmprice.result.MenuResult`): its table, whose ``package``,
    ``markup`` and ``fixed_fee`` columns are the published plans, and its technology."""

    instance: str
    setting: str
    status: str
    tolerance: float
    menu: pd.DataFrame

    @property
    def optimal(self) -> bool: ...

    @property
    def technology(self) -> Technology | None: ...


@dataclass(frozen=True)
class TwoPartTariff:
    """One plan: a fixed fee plus a per-token price for each class.

    ``markup`` is the common price/cost ratio, NaN when prices are not proportional to cost.
    """

    name: str
    fixed_fee: float
    price_input: float
    price_output: float
    price_finetune: float
    markup: float = math.nan

    @classmethod
    def from_markup(
        cls,
        name: str,
        fixed_fee: float,
        markup: float,
        technology: Good,
    ) -> TwoPartTariff:
        """Every class priced at ``markup`` times its marginal cost (the paper's plans)."""
        return cls(
            name,
            float(fixed_fee),
            float(markup * technology.cost_input),
            float(markup * technology.cost_output),
            float(markup * technology.cost_finetune),
            float(markup),
        )

    @property
    def prices(self) -> FloatArray:
        return np.array([self.price_input, self.price_output, self.price_finetune])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fixed_fee": _clean(self.fixed_fee),
            "price_input": _clean(self.price_input),
            "price_output": _clean(self.price_output),
            "price_finetune": _clean(self.price_finetune),
            "markup": _clean(self.markup),
        }


#: a plan's terms as table columns, in field order (name, fee, the three prices, markup)
PLAN_TERMS: tuple[str, ...] = tuple(f.name for f in fields(TwoPartTariff))


def _clean(v: Any) -> Any:
    """JSON-safe scalars: NaN/inf become None, numpy scalars plain Python."""
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class TariffMenu:
    """Plans offered side by side; buyers choose one or none.

    ``intended_choice`` / ``intended_utility`` (per type, optional) record what a design
    expects each type to do (plan index, -1 = nothing) and the net utility it expects it
    to get; an evaluation reports every type's gain over that.
    """

    plans: list[TwoPartTariff]
    technology: Good
    intended_choice: NDArray[np.intp] | None = None
    intended_utility: FloatArray | None = None

    def __repr__(self) -> str:  # the plans, not the per-type arrays
        return f"TariffMenu({len(self.plans)} plans: {', '.join(map(repr, self.plans))})"

    def __len__(self) -> int:
        return len(self.plans)

    def fees(self) -> FloatArray:
        return np.array([p.fixed_fee for p in self.plans], float)

    def price_matrix(self) -> FloatArray:
        """(K, 3) per-token prices of the plans."""
        return np.array([p.prices for p in self.plans], float).reshape(len(self.plans), 3)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [vars(p) for p in self.plans],
            columns=list(PLAN_TERMS),
        )

    def intended_terms(self) -> pd.DataFrame:
        """One row per type: the index of its intended plan (``plan``, -1 = nothing), that
        plan's ``name`` (None if nothing) and its fee, markup and prices (NaN if nothing)."""
        if self.intended_choice is None:
            raise ValueError("the menu records no intended choice per type")
        plan = np.asarray(self.intended_choice, dtype=int)
        terms = self.to_frame()
        out = pd.DataFrame({"plan": plan})
        out["name"] = [terms["name"].iloc[k] if k >= 0 else None for k in plan]
        for column in ("fixed_fee", "markup", "price_input", "price_output", "price_finetune"):
            values = terms[column].to_numpy(float)
            out[column] = np.where(plan >= 0, values[np.maximum(plan, 0)], np.nan)
        return out


@dataclass
class TariffOutcome:
    """Every type's best response to a tariff menu, and what the seller earns from it."""

    menu: TariffMenu
    labels: list[str]
    theta: FloatArray
    prob: FloatArray
    choice: NDArray[np.intp]  # plan index per type, -1 = buys nothing
    input_tokens: FloatArray
    output_tokens: FloatArray
    finetune_tokens: FloatArray
    gross_value: FloatArray
    payment: FloatArray
    rent: FloatArray
    cost: FloatArray
    deviation_gain: FloatArray  # best net utility minus the intended one (NaN: none intended)
    intended: NDArray[np.intp] | None = None

    def __repr__(self) -> str:  # aggregates, not the per-type arrays
        return (
            f"TariffOutcome({len(self.labels)} types, {len(self.menu.plans)} plans, "
            f"profit={self.profit:.8g}, max_deviation_gain={self.max_deviation_gain:.3g})"
        )

    @property
    def revenue(self) -> float:
        return float(self.prob @ self.payment)

    @property
    def profit(self) -> float:
        return float(self.prob @ (self.payment - self.cost))

    @property
    def consumer_surplus(self) -> float:
        return float(self.prob @ self.rent)

    @property
    def welfare(self) -> float:
        return self.profit + self.consumer_surplus

    @property
    def max_deviation_gain(self) -> float:
        """Largest gain any type gets over its intended choice (NaN if none intended)."""
        if self.deviation_gain.size == 0 or np.all(np.isnan(self.deviation_gain)):
            return math.nan
        return float(np.nanmax(np.maximum(self.deviation_gain, 0.0)))

    def summary(self) -> dict[str, float]:
        return {
            "profit": self.profit,
            "revenue": self.revenue,
            "consumer_surplus": self.consumer_surplus,
            "welfare": self.welfare,
            "max_deviation_gain": self.max_deviation_gain,
        }

    def table(self) -> pd.DataFrame:
        """One row per type: its plan (name or ``None``), tokens, payment, rent."""
        names = [self.menu.plans[k].name if k >= 0 else None for k in self.choice]
        frame = pd.DataFrame(
            {
                "type": self.labels,
                "prob": self.prob,
                "theta": self.theta,
                "plan": names,
                "choice": self.choice,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "finetune_tokens": self.finetune_tokens,
                "gross_value": self.gross_value,
                "payment": self.payment,
                "cost": self.cost,
                "rent": self.rent,
                "deviation_gain": self.deviation_gain,
            }
        )
        if self.intended is not None:
            frame.insert(5, "intended", self.intended)
        return frame

    def plan_table(self) -> pd.DataFrame:
        """One row per plan: its terms, its buyers (labels), their mass and profit."""
        rows = []
        for k, plan in enumerate(self.menu.plans):
            who = self.choice == k
            mass = float(self.prob[who].sum())
            rows.append(
                {
                    **vars(plan),
                    "types": [self.labels[i] for i in np.flatnonzero(who)],
                    "n_types": int(who.sum()),
                    "mass": mass,
                    "theta_min": float(self.theta[who].min()) if who.any() else math.nan,
                    "theta_max": float(self.theta[who].max()) if who.any() else math.nan,
                    "revenue": float(self.prob[who] @ self.payment[who]),
                    "profit": float(self.prob[who] @ (self.payment[who] - self.cost[who])),
                }
            )
        return pd.DataFrame(rows)


def _as_types(
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike] | ArrayLike,
    labels: Sequence[str] | None = None,
) -> tuple[FloatArray, FloatArray, list[str], Technology | None]:
    """theta, prob, labels (and the instance's technology) from any accepted description."""
    if isinstance(types, (str, Path)):
        types = read_instance(types)
    if isinstance(types, Instance):
        return (
            np.asarray(types.theta, float),
            np.asarray(types.types.prob, float),
            list(types.types.labels),
            types.technology,
        )
    if isinstance(types, tuple) and len(types) == 2:
        theta = np.asarray(types[0], float).ravel()
        prob = np.asarray(types[1], float).ravel()
    else:
        theta = np.asarray(types, float).ravel()
        prob = np.full(theta.size, 1.0 / max(theta.size, 1))
    if theta.shape != prob.shape:
        raise ValueError(f"theta and prob differ in length ({theta.size} vs {prob.size})")
    if np.any(prob < 0) or not np.all(np.isfinite(theta)):
        raise ValueError("types need finite theta and nonnegative probabilities")
    return theta, prob, _labels(labels, theta.size), None


def _labels(labels: Sequence[str] | None, n: int) -> list[str]:
    width = len(str(n))
    return list(labels) if labels is not None else [f"t{i + 1:0{width}d}" for i in range(n)]


def best_response(
    theta: ArrayLike,
    menu: TariffMenu,
    technology: Good | None = None,
    prob: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    buyer: BuyerModel | None = None,
    tie_tol: float = TIE_TOL,
) -> TariffOutcome:
    """Each type's best plan and quantities (or nothing) facing the whole menu.

    ``technology`` defaults to the menu's; ``buyer`` overrides the buyer model (e.g. a
    :class:`~pyomo_llmprice.tariffs.buyers.NumericalBuyer` for a check of the closed form).
    """
    tech = menu.technology if technology is None else technology
    model = buyer_for(tech) if buyer is None else buyer
    th = np.asarray(theta, float).ravel()
    n, k = th.size, len(menu.plans)
    pr = np.full(n, 1.0 / max(n, 1)) if prob is None else np.asarray(prob, float).ravel()
    if pr.shape != th.shape:
        raise ValueError(f"theta and prob differ in length ({th.size} vs {pr.size})")
    names = _labels(labels, n)
    fees = menu.fees()
    prices = menu.price_matrix()
    choice = np.full(n, -1, dtype=np.intp)
    chosen_tokens = np.zeros((n, 3))
    chosen_gross = np.zeros(n)
    best_util = np.zeros(n)
    # rows in chunks: the types x plans arrays stay near CHUNK_ELEMENTS entries
    step = max(1, CHUNK_ELEMENTS // max(k, 1))
    for start in range(0, n if k else 0, step):
        rows = slice(start, min(n, start + step))
        tokens, gross = model.demand(th[rows, None], prices[None, :, :])  # (r, K, 3), (r, K)
        spend = np.einsum("ikj,kj->ik", tokens, prices)
        utility = gross - spend - fees[None, :]
        seller = fees[None, :] + spend - model.cost(tokens)
        # option 0 is "buy nothing" (utility 0, profit 0); options 1..K the plans
        r = utility.shape[0]
        util_all = np.concatenate([np.zeros((r, 1)), utility], axis=1)
        profit_all = np.concatenate([np.zeros((r, 1)), seller], axis=1)
        top = util_all.max(axis=1)
        scale = np.maximum(1.0, np.abs(util_all).max(axis=1))
        tied = util_all >= (top - tie_tol * scale)[:, None]
        # argmax returns the first maximum: lowest option index among equally profitable ties
        pick = np.argmax(np.where(tied, profit_all, -np.inf), axis=1)
        local = np.arange(r)
        bought = pick > 0
        choice[rows] = pick - 1
        best_util[rows] = util_all[local, pick]
        plan = np.maximum(pick - 1, 0)
        chosen_tokens[rows] = np.where(bought[:, None], tokens[local, plan], 0.0)
        chosen_gross[rows] = np.where(bought, gross[local, plan], 0.0)
    bought = choice >= 0
    safe = np.where(bought, choice, 0)
    payment = np.zeros(n)
    if k:
        spent = np.einsum("ij,ij->i", chosen_tokens, prices[safe])
        payment = np.where(bought, fees[safe] + spent, 0.0)
    rent = chosen_gross - payment
    cost = np.where(bought, model.cost(chosen_tokens), 0.0)
    intended = menu.intended_choice
    if menu.intended_utility is not None and len(menu.intended_utility) == n:
        deviation = best_util - np.asarray(menu.intended_utility, float)
    else:
        deviation = np.full(n, np.nan)
    if intended is not None and len(intended) != n:
        intended = None
    return TariffOutcome(
        menu=menu,
        labels=names,
        theta=th,
        prob=pr,
        choice=choice.astype(np.intp),
        input_tokens=chosen_tokens[:, 0],
        output_tokens=chosen_tokens[:, 1],
        finetune_tokens=chosen_tokens[:, 2],
        gross_value=chosen_gross,
        payment=payment,
        rent=rent,
        cost=cost,
        deviation_gain=deviation,
        intended=None if intended is None else np.asarray(intended, np.intp),
    )


def evaluate_tariffs(
    menu: TariffMenu,
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike] | ArrayLike,
    technology: Good | None = None,
    buyer: BuyerModel | None = None,
    tie_tol: float = TIE_TOL,
) -> TariffOutcome:
    """Let every type of ``types`` (an instance, a path, or ``(theta, prob)``) face ``menu``.

    Under Token Packages a type's value of a package is ``theta X^a Y^b (b+Z)^g`` with its
    CES index (tasks, value-scale) or its bare theta.
    """
    theta, prob, labels, inst_tech = _as_types(types)
    tech = technology if technology is not None else menu.technology
    if tech is None:
        tech = inst_tech
    return best_response(theta, menu, tech, prob, labels, buyer, tie_tol)


def tariff_menu_from_result(
    result: SolvedMenu,
    technology: Technology | Instance | None = None,
    pool_atol: float | None = None,
) -> TariffMenu:
    """The published plans of a solved, verified Token Packages menu, as a tariff menu.

    One plan per package (bunched types share a plan), in increasing order of theta,
    exactly as the result priced them (:func:`pyomo_llmprice.tariffs.markups.menu_plans`:
    the package's markup is the prob-weighted mean of its types' tangent markups, and
    the fee collects the package's payment, ``fee = payment - markup * cost``). The menu
    records each type's intended plan and rent. Refuses a non-optimal result or a Token
    Allocations one. The technology is the result's own (``result.technology``);
    `technology` (or an instance) stands in for a result that carries none. With
    `pool_atol`, bundles no buyer values differently by more than it at the same
    payment are regrouped into plans (:func:`tariff_menu_from_bundles`).
    """
    if not result.optimal:
        raise TariffError(
            f"{result.instance}: menu status is {result.status!r}, not 'optimal': "
            "no tariffs are derived from an unverified or non-converged menu"
        )
    if result.setting != "packages":
        raise TariffError(
            f"{result.instance}: two-part tariffs price token totals (Token Packages); "
            f"a {result.setting!r} menu contracts per task and has no tariff form"
        )
    menu = result.menu
    tech = result_technology(result, technology)
    if pool_atol is None and "package" in menu:  # the plans the result published, as they are
        served = menu["served"].to_numpy(bool)
        return _menu_of_packages(
            menu["package"].to_numpy(int),
            menu["markup"].to_numpy(float),
            menu["fixed_fee"].to_numpy(float),
            np.where(served, menu["rent"].to_numpy(float), 0.0),
            tech,
        )
    return tariff_menu_from_bundles(
        menu["theta"].to_numpy(float),
        menu["prob"].to_numpy(float),
        menu[["input_tokens", "output_tokens", "finetune_tokens"]].to_numpy(float),
        menu["payment"].to_numpy(float),
        menu["served"].to_numpy(bool),
        tech,
        result.tolerance if pool_atol is None else pool_atol,
    )


def menu_with_plans(result: SolvedMenu) -> pd.DataFrame:
    """`result`'s menu table, every type with the plan it buys: ``plan`` (index, -1 =
    none), ``plan_name`` and that plan's fee, markup and prices (NaN when none), from
    :func:`tariff_menu_from_result` (one plan per package)."""
    terms = tariff_menu_from_result(result).intended_terms()
    menu = result.menu.copy()
    menu["plan"] = terms["plan"].to_numpy()
    menu["plan_name"] = terms["name"].to_list()
    for column in ("fixed_fee", "markup", "price_input", "price_output", "price_finetune"):
        menu[column] = terms[column].to_numpy(float)
    return menu


def tariff_menu_from_bundles(
    theta: ArrayLike,
    prob: ArrayLike,
    tokens: ArrayLike,
    payment: ArrayLike,
    served: ArrayLike,
    technology: Technology,
    pool_atol: float = 0.0,
) -> TariffMenu:
    """Tangent two-part tariffs of any Token Packages menu given as arrays (per type).

    ``tokens`` is (N, 3); used by :func:`tariff_menu_from_result` and for menus computed
    elsewhere (e.g. :func:`pyomo_llmprice.theory.discrete_optimal_menu` on grids too large
    to solve). The caller vouches that the menu is optimal and verified. Bundles whose
    payments and values to the top type agree to `pool_atol` are one plan
    (:func:`pyomo_llmprice.certificate.bundle_groups`).
    """
    theta = np.asarray(theta, float)
    prob = np.asarray(prob, float)
    tokens = np.asarray(tokens, float).reshape(theta.size, 3)
    payment = np.asarray(payment, float)
    served = np.asarray(served, bool)
    x, y, z = tokens.T
    cost = np.asarray(technology.cost(x, y, z), float)
    values = package_values(theta, x, y, z, technology)
    rent = np.where(served, values.own - payment, 0.0)
    package = package_numbers(values, payment, served, pool_atol, theta[:, None], theta)
    markup, fee = menu_plans(package, prob, values.own, x, y, z, payment, cost, technology)
    return _menu_of_packages(package, markup, fee, rent, technology)


def _menu_of_packages(
    package: NDArray[np.intp],
    markup: FloatArray,
    fee: FloatArray,
    rent: FloatArray,
    tech: Technology,
) -> TariffMenu:
    """The plans of numbered packages (1, 2, ...; 0 = nothing) with their per-type terms."""
    count = int(package.max(initial=0))
    width = len(str(count))
    plans = []
    for p in range(1, count + 1):
        lead = int(np.flatnonzero(package == p)[0])
        plans.append(
            TwoPartTariff.from_markup(
                f"plan{p:0{width}d}", float(fee[lead]), float(markup[lead]), tech
            )
        )
    intended = np.asarray(package, dtype=np.intp) - 1
    return TariffMenu(plans=plans, technology=tech, intended_choice=intended, intended_utility=rent)


def result_technology(result: SolvedMenu, given: Technology | Instance | None = None) -> Technology:
    """The technology a MenuResult was solved with: given explicitly, or carried by it."""
    if isinstance(given, Instance):
        return given.technology
    tech = given if given is not None else getattr(result, "technology", None)
    if tech is None:
        raise TariffError(
            f"{result.instance}: the MenuResult does not carry its technology; "
            "pass the instance or its technology: tariff_menu_from_result(result, instance)"
        )
    return tech
