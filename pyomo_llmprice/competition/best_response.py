"""One seller's best response: a screening NLP with random participation.

The seller's menu is the package's own screening block (bundle variables, the
technology rows and the IC rows of Token Packages or Token Allocations); its IR rows
are switched off, because a buyer of any type may buy with negative utility when its
taste favours this seller (or leave when it does not). The objective is expected
profit with each type weighted by its probability of choosing this seller given the
rivals' offers: ``sum_i f_i P_i(U_i) (t_i - c_i)``. The model is built once per seller
and re-solved as the rivals' offers (mutable parameters) change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo

from pyomo_llmprice.competition.market import CompetitionInstance
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.settings import check_setting
from pyomo_llmprice.tariffs.markups import menu_plans
from pyomo_llmprice.units import first_best_values
from pyomo_llmprice.verify import verify_menu

__all__ = ["BestResponse", "SellerMenu", "menu_from_arrays"]

#: the certificate's tolerance: this fraction of each type's first-best value (as for
#: monopoly menus: pyomo_llmprice.units.first_best_values)
RELATIVE_TOLERANCE = 1e-6

#: the monopoly start gives every type this many taste scales of extra utility
MONOPOLY_SHIFT = 5.0

#: Ipopt iterations per best response (a few dozen when it converges; a start that
#: wanders into the flat region would otherwise spend the package's 3000)
MAX_ITER = 500

#: options of a warm solve from the previous best response: a small barrier parameter
#: keeps Ipopt near it instead of wandering into the flat region where the logit share
#: of every type is ~0 (a stationary point that prices everyone out)
WARM_OPTIONS: dict[str, dict[str, Any]] = {
    "cyipopt_direct": {
        "mu_init": 1e-6,
        "warm_start_init_point": "yes",
        "warm_start_bound_push": 1e-9,
        "warm_start_bound_frac": 1e-9,
        "warm_start_slack_bound_push": 1e-9,
        "warm_start_slack_bound_frac": 1e-9,
    },
}


@dataclass
class SellerMenu:
    """A seller's published menu, one item per type (instance units), and what each
    type's value of every item is (recomputed from the published tokens)."""

    seller: str
    labels: tuple[str, ...]
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    finetune_tokens: np.ndarray
    payment: np.ndarray
    cost: np.ndarray
    value: np.ndarray  # (N, N): type i's gross value of item k
    markup: np.ndarray
    fixed_fee: np.ndarray
    tolerance: np.ndarray  # per type, absolute (money)
    #: how the solve that produced it ended ("optimal", "not_converged", ...)
    status: str = "optimal"
    plans: int | None = None  # K when the menu is K two-part tariffs
    extra: dict[str, Any] = field(default_factory=dict)

    def utility(self) -> tuple[np.ndarray, np.ndarray]:
        """Each type's best utility from this menu and the item it picks: its own
        unless another is better by more than the type's tolerance (ties, like the
        binding IC rows of an optimal menu, go to the intended item)."""
        util = self.value - self.payment[None, :]
        rows = np.arange(len(self.payment))
        best = np.argmax(util, axis=1)
        choice = np.where(util[rows, best] - util[rows, rows] > self.tolerance, best, rows)
        return util[rows, choice], choice

    @property
    def ic_violation(self) -> np.ndarray:
        """Per type: the gain from another item of this menu over its own (all pairs)."""
        check = verify_menu(lambda sl: self.value[sl], np.diag(self.value).copy(), self.payment)
        return check.ic_violation

    @property
    def max_ic_violation(self) -> float:
        return float(self.ic_violation.max(initial=0.0))

    @property
    def incentive_compatible(self) -> bool:
        return bool(np.all(self.ic_violation <= self.tolerance))


def menu_from_arrays(
    seller: str,
    instance: Any,
    tokens: tuple[np.ndarray, np.ndarray, np.ndarray],
    payment: np.ndarray,
    value: np.ndarray,
    status: str,
) -> SellerMenu:
    """A :class:`SellerMenu` from published tokens and payments: cost, plans (markup
    and fee, one per distinct item, from the package's one plan function
    :func:`~pyomo_llmprice.tariffs.markups.menu_plans`) and tolerance."""
    tech = instance.technology
    x, y, z = (np.asarray(t, float) for t in tokens)
    payment = np.asarray(payment, float)
    cost = np.asarray(tech.cost(x, y, z), float)
    # one plan per distinct item (types with identical items share it); an item of no
    # tokens is the null bundle, with no plan
    keys = np.round(np.column_stack([x, y, z, payment]), 9)
    _, package = np.unique(keys, axis=0, return_inverse=True)
    package = np.where(x + y + z > 0, package.ravel() + 1, 0)
    prob = np.asarray(instance.types.prob, float)
    plan_markup, plan_fee = menu_plans(package, prob, np.diag(value), x, y, z, payment, cost, tech)
    return SellerMenu(
        seller=seller,
        labels=tuple(instance.types.labels),
        input_tokens=x,
        output_tokens=y,
        finetune_tokens=z,
        payment=payment,
        cost=cost,
        value=np.asarray(value, float),
        markup=plan_markup,
        fixed_fee=plan_fee,
        tolerance=RELATIVE_TOLERANCE * first_best_values(instance),
        status=status,
    )


class BestResponse:
    """Seller `seller`'s best-response model in `market`, re-solvable against new rivals.

    ``solve(rival)`` takes the rivals' offer to each type (the taste's
    :meth:`~pyomo_llmprice.competition.market.Taste.rivals`, instance money) and
    returns the published menu, with how the solve ended as its status.
    """

    def __init__(
        self,
        market: CompetitionInstance,
        seller: int,
        setting: str = "packages",
        solver: str = DEFAULT_SOLVER,
        options: dict[str, Any] | None = None,
    ) -> None:
        from pyomo_llmprice.pipeline import DEFAULT_IPOPT_OPTIONS

        self.market = market
        self.seller = seller
        self.name = market.sellers[seller].name
        self.instance = market.seller_instance(seller)
        self.solver = solver
        self.options = {**DEFAULT_IPOPT_OPTIONS, "max_iter": MAX_ITER, **(options or {})}
        self.setting = setting
        self.model = best_response_model(market, seller, setting)
        self.block = self.model.menu
        self._initial = self.snapshot()
        self._monopoly: dict[str, dict[Any, float | None]] | None = None

    # -- the point ------------------------------------------------------------------
    def variables(self) -> list[Any]:
        """The model's free variables, in a fixed order (a start is a vector of them)."""
        return [v for v in self.model.component_data_objects(pyo.Var) if not v.fixed]

    def snapshot(self) -> np.ndarray:
        """The current point, to come back to after trying other starts."""
        return np.array([v.value if v.value is not None else 0.0 for v in self.variables()])

    def restore(self, point: np.ndarray) -> None:
        """Put the model at `point` (from :meth:`snapshot` or a start)."""
        for v, val in zip(self.variables(), point, strict=True):
            v.set_value(float(val), skip_validation=True)

    def initial_start(self) -> np.ndarray:
        """The model's own initial point (half the top type's first best, payments 0)."""
        return self._initial.copy()

    def matched_start(self, rival: np.ndarray) -> np.ndarray:
        """The model's default bundles priced so that every type is indifferent between
        this seller and its rivals (gap 0): a start away from the flat region where
        every type is priced out."""
        here = self.snapshot()
        self.restore(self._initial)
        self.set_rival(rival)
        m = self.model
        for k in self.block.types:
            own = pyo.value(m.utility[k]) + pyo.value(self.block.payment[k])
            self.block.payment[k].set_value(own - pyo.value(m.rival[k]), skip_validation=True)
        for k in m.gap:
            m.gap[k].set_value(0.0)
        start = self.snapshot()
        self.restore(here)
        return start

    def monopoly_start(self, rival: np.ndarray) -> np.ndarray:
        """The seller's monopoly menu of the same buyers (the package's own solve,
        computed once) as a start: the right basin when the taste is weak (small
        sigma), where the priced-to-match start can end in a poorer local optimum."""
        from pyomo_llmprice.pipeline import build_model, solve_model

        if self._monopoly is None:
            mono = build_model(self.instance, self.setting)
            solve_model(mono, solver=self.solver)
            self._monopoly = {
                var.local_name: {k: v.value for k, v in var.items()}
                for var in mono.menu.component_objects(pyo.Var, descend_into=False)
            }
        here = self.snapshot()
        for name, values in self._monopoly.items():
            var = self.block.component(name)
            for k, val in values.items():
                if val is not None and not var[k].fixed:
                    var[k].set_value(val, skip_validation=True)
        self.set_rival(rival)
        m = self.model
        # every payment lowered by MONOPOLY_SHIFT taste scales (IC is kept: the same
        # shift for every item), so that served types buy here with probability near 1
        shift = MONOPOLY_SHIFT * pyo.value(m.taste_scale)
        for k in self.block.types:
            if not self.block.is_merged(k):
                self.block.payment[k].set_value(
                    pyo.value(self.block.payment[k]) - shift, skip_validation=True
                )
        lo, hi = self.market.taste.gap_bounds
        scale = pyo.value(m.taste_scale)
        for k in m.gap:
            gap = (pyo.value(m.rival[k]) - pyo.value(m.utility[k])) / scale
            m.gap[k].set_value(float(np.clip(gap, lo, hi)))  # None: unbounded
        start = self.snapshot()
        self.restore(here)
        return start

    def set_taste(self, taste: Any) -> None:
        """Follow the continuation: the taste's scale (instance money) becomes `taste`'s."""
        self.model.taste_scale = taste.scale / self.block.units.money

    def set_rival(self, rival: np.ndarray) -> None:
        money = self.block.units.money
        for lab, r in zip(self.block.types, np.asarray(rival, float), strict=True):
            self.model.rival[lab] = float(r) / money

    # -- solving --------------------------------------------------------------------
    def solve(
        self, rival: np.ndarray, start: np.ndarray | None = None, cold: bool = False
    ) -> SellerMenu:
        """The best response to `rival` from `start` (default: where the model is);
        `cold` solves with Ipopt's own barrier start instead of staying near `start`."""
        from pyomo.contrib.solver.common.factory import SolverFactory

        from pyomo_llmprice.generation import solve_once
        from pyomo_llmprice.outcomes import load_point, solver_outcome

        self.set_rival(rival)
        options = self.options
        if start is not None:
            self.restore(start)
        if self.solver in WARM_OPTIONS and not cold:  # stay near the (informed) start
            options = {**WARM_OPTIONS[self.solver], **options}
        results = solve_once(SolverFactory(self.solver), self.model, options)
        status = solver_outcome(results)
        if not load_point(results):
            status = status if status != "optimal" else "evaluation_error"
        return self.read(status)

    def read(self, status: str) -> SellerMenu:
        """The published menu at the model's current point."""
        block = self.block
        arrays = block.menu_arrays()
        # every type may buy here: nothing is snapped to the null bundle, but tokens
        # beyond the precision the model priced are trimmed (a slack technology row)
        block.snap_null_bundles(arrays, np.ones(len(arrays["payment"]), bool), 0.0)
        columns, _ = block.bundle_columns(arrays)
        payment = np.asarray(block.units.money_to_instance(arrays["payment"]), float)
        columns = {**columns, "payment": payment}
        values = block.published_values(columns, arrays)
        n = len(payment)
        value = values.rows(slice(0, n))
        tokens = (columns["input_tokens"], columns["output_tokens"], columns["finetune_tokens"])
        return menu_from_arrays(self.name, block.source_instance, tokens, payment, value, status)


def best_response_model(
    market: CompetitionInstance, seller: int, setting: str = "packages"
) -> pyo.ConcreteModel:
    """The ConcreteModel of seller `seller`'s best response (rivals in ``model.rival``).

    ``model.menu`` is the setting's screening block without its IR rows or objective;
    ``model.rival[i]`` is the rivals' offer to type i in the block's normalized money
    (:meth:`BestResponse.set_rival` converts), ``model.utility[i]`` type i's utility
    from its own item, ``model.gap[i]`` the rivals' advantage over it in units of the
    taste's scale and ``model.choice_prob[i]`` type i's probability of buying here.
    """
    instance = market.seller_instance(seller)
    block_cls = check_setting(instance, setting).block
    model = pyo.ConcreteModel(name=f"{market.name}_{market.sellers[seller].name}_best_response")
    model.menu = block_cls(instance=instance, declare_objective=False)
    b = model.menu
    b.participation.deactivate()  # random participation: the taste decides who buys
    labels = list(b.types)
    goods = list(b.goods_set)
    coef = np.broadcast_to(b.value_coefficients(), (len(labels), len(labels), len(goods)))
    q = getattr(b, b.characteristic)
    taste = market.taste
    model.taste_scale = pyo.Param(
        mutable=True, initialize=taste.scale / b.units.money, doc="sigma or tau"
    )
    model.rival = pyo.Param(labels, mutable=True, initialize=0.0, doc="the rivals' offer")
    pos = {k: i for i, k in enumerate(labels)}

    def own_value(k: Any) -> Any:
        i = pos[k]
        row = coef[i, i]
        return sum(float(row[g]) * q[k, good] for g, good in enumerate(goods) if row[g])

    model.utility = pyo.Expression(labels, rule=lambda m, k: own_value(k) - b.payment[k])
    # one gap per distinct buyer (merged identical types share the bundle variables)
    first: dict[int, Any] = {}
    rep = {k: first.setdefault(id(b.payment[k]), k) for k in labels}
    distinct = [k for k in labels if rep[k] == k]
    model.gap = pyo.Var(distinct, bounds=taste.gap_bounds, initialize=0.0)

    def gap_rule(m: Any, k: Any) -> Any:
        if taste.gap_at_least:
            return m.gap[k] * m.taste_scale >= m.rival[k] - m.utility[k]
        return m.gap[k] * m.taste_scale == m.rival[k] - m.utility[k]

    model.gap_definition = pyo.Constraint(distinct, rule=gap_rule)
    model.choice_prob = pyo.Expression(
        labels, rule=lambda m, k: taste.probability_expr(m.gap[rep[k]])
    )
    model.expected_profit = pyo.Expression(
        expr=sum(b.prob[k] * model.choice_prob[k] * (b.payment[k] - b.cost[k]) for k in labels)
    )
    model.profit_objective = pyo.Objective(expr=model.expected_profit, sense=pyo.maximize)
    return model


def published_utility(market: CompetitionInstance, seller: int, columns: dict[str, Any]) -> Any:
    """Each type's best utility from seller `seller`'s published Token Packages menu
    (`columns`: tokens and payment per item), recomputed from its technology."""
    from pyomo_llmprice.certificate import package_values

    instance = market.seller_instance(seller)
    theta = np.asarray(instance.types.index(instance.technology), float)
    x, y, z = (np.asarray(columns[c], float) for c in MENU_TOKENS)
    value = package_values(theta, x, y, z, instance.technology).rows(slice(0, len(theta)))
    return (value - np.asarray(columns["payment"], float)[None, :]).max(axis=1)


MENU_TOKENS = ("input_tokens", "output_tokens", "finetune_tokens")


def best_response_to_file(
    market: CompetitionInstance, menus: dict[Any, Any], solver: str = DEFAULT_SOLVER
) -> tuple[BestResponse, np.ndarray]:
    """The best-response model of the seller `menus` leaves to solve (its
    ``best_response`` entry, else the one seller without a menu), its rivals set to
    the others' published Token Packages menus; returns it and the rivals' offer."""
    from pyomo_llmprice.errors import UserInputError

    names = market.seller_names
    target = menus.get(None) or next(iter([n for n in names if n not in menus]), None)
    without = [n for n in names if n not in menus and n != target]
    if target is None or without:
        raise UserInputError(
            "the menus file must name the seller to solve for ('best_response') or leave "
            f"out exactly that seller's menu; sellers without a menu: {without or 'none'}"
        )
    seller = names.index(target)
    utility = np.zeros((len(names), len(market.buyers.types)))
    for s, name in enumerate(names):
        if s != seller:
            utility[s] = published_utility(market, s, menus[name])
    response = BestResponse(market, seller, "packages", solver)
    rival = market.taste.rivals(utility, seller)
    response.set_rival(rival)
    return response, rival
