"""A global certificate for one seller's best response to its rivals' menus.

The best response (:func:`~pyomo_llmprice.competition.best_response.best_response_model`)
is nonconvex (the choice probability times the margin), so the equilibrium's
multi-start re-solves give no bound. Here a global solver (SCIP, Gurobi) proves one on
the same model. Its variables are unbounded there, which leaves spatial branch and
bound without a finite bound, so :func:`response_bounds` derives finite bounds that
cut off no better response. Written in utility space: type i's utility from its own
item is ``U_i = v_i q_i - t_i`` (``v_i`` its value per unit of precision, ``q_i`` the
precision, ``t_i`` the payment), its margin ``m_i = t_i - c_i = S_i(q_i) - U_i`` with
``S_i(q) = v_i q - C(q)`` the welfare of precision ``q`` at least cost ``C`` (convex),
``S_i* = max_q S_i(q)`` at ``q_i*``, rivals' offer ``R_i``, taste scale ``sigma``,
choice probability ``P((R_i - U_i) / sigma)`` (nonincreasing in the gap, in [0, 1]) and
profit ``sum_i f_i P_i m_i``. Every bound holds for every feasible point whose profit
is at least ``Pi_ref`` (the profit of the seller's published, all-pairs verified menu
in the profile, lowered by :data:`REFERENCE_SLACK`; the model's own solution of that
menu earns it), or for a point that earns at least as much:

1. ``U_i >= U_lo_i = R_i - gap_max sigma``: the model's own gap bound.
2. Each type earns ``f_i P_i m_i <= f_i P(U_i) (S_i* - U_i) <= cap_i``, the maximum
   over U of the middle term (:func:`type_profit_cap`: in closed form for logit, else
   ``f_i max(0, S_i* - U_lo_i)`` from P <= 1). So, for a point earning at least
   ``Pi_ref``, ``f_i P_i m_i >= low_i = Pi_ref - sum_{j != i} cap_j``; the model gets
   one profit term per type within ``[low_i, cap_i]``.
   Where ``U_i >= Theta_i = max(S_i*, R_i)`` the gap is <= 0, so ``P_i >= p0 = P(0)``,
   and ``m_i <= S_i* - U_i <= 0``: ``f_i P_i m_i <= -f_i p0 (U_i - Theta_i)``. Hence
   ``U_i <= U_hi_i = Theta_i + max(0, -low_i) / (f_i p0)``.
3. Precision: IC gives ``U_i - U_j >= (v_i - v_j) q_j``, so below the top value
   ``q_j <= min_{v_i > v_j} (U_hi_i - U_lo_j) / (v_i - v_j)``. For the top value,
   with U held fixed the precision only meets lower bounds (IC of the types below
   and monotonicity) and enters the profit through ``S(q)``, concave with its peak at
   ``q*``: lowering it to ``max(q*, L)`` (L its largest lower bound) keeps every row
   and earns at least as much, so ``q_top <= max(q*, max_{v_i < v_top}
   (U_hi_top - U_lo_i) / (v_top - v_i))``. Monotonicity caps the others by it.
4. Factors (tokens): at the least-cost bundle of precision q, which earns at least as
   much as any other bundle of that precision, each factor costs at most ``C(q) <=
   C(Q)``, which is at most the cost of any bundle reaching Q (the symmetric bundle
   without fine-tuning is used); a factor is bounded by the largest value whose own
   cost term stays below it.
5. ``t_i = v_i q_i - U_i`` lies in ``[-U_hi_i, v_i Q_i - U_lo_i]``; the gap in
   ``[(R_i - U_hi_i) / sigma, gap_max]``.

``S_i*`` and ``q_i*`` come from the welfare problem of the same block (concave: a
local solver's optimum is global), widened by :data:`WIDEN`. Token Packages menus
only (one characteristic, linear values); tastes whose probability row is an
equality (logit): Hotelling's ``gap >=`` row lets a type of negative margin be
dropped to share 0, where its utility has no bound of this kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentSet

from pyomo_llmprice.competition.best_response import best_response_model
from pyomo_llmprice.competition.market import CompetitionInstance
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.global_certificates.global_minlp import (
    GLOBAL_SOLVERS,
    SizeLimitError,
    solve_global,
)
from pyomo_llmprice.progress import progress_bar

__all__ = [
    "ResponseBounds",
    "ResponseCertificate",
    "certify_competition",
    "certify_response",
    "check_certifiable",
]

#: relative widening of every computed bound and of the reference profit (the local
#: welfare solve and the published numbers are exact only to their tolerances)
WIDEN = 1e-6
#: the reference profit is the profile's published profit lowered by this (relative):
#: published numbers are rounded and verified to 1e-6 of each type's first-best value,
#: and a symmetric test profile's published profit came out 1.4e-6 above the closed form
REFERENCE_SLACK = 1e-4
#: relative slack of a bound against the profile's verified profit
CERTIFY_TOL = 1e-6
#: a global incumbent beats the profile only by more than this (relative): the
#: solver's points satisfy the rows to its feasibility tolerance (1e-6, model units),
#: worth ~2e-5 of profit on the symmetric logit tests
BETTER_TOL = 1e-4


@dataclass
class ResponseBounds:
    """Per distinct type (model units): utility range, precision cap, first best."""

    labels: list[Any]
    value: np.ndarray  # v_i
    rival: np.ndarray  # R_i
    utility_lo: np.ndarray
    utility_hi: np.ndarray
    precision_hi: np.ndarray
    welfare: np.ndarray  # S_i*
    first_best: np.ndarray  # q_i*
    prob: np.ndarray  # f_i (merged types summed)
    term_hi: np.ndarray  # cap_i: the most type i can add to profit
    term_lo: np.ndarray  # low_i: the least it adds to a response earning the reference


@dataclass
class ResponseCertificate:
    """A global solver's bound on one seller's best response to the others' menus."""

    seller: str
    solver: str
    status: str
    termination: str
    profit: float  # the profile's profit of this seller (instance money)
    global_bound: float
    global_gap: float
    incumbent: float  # the global solver's best point (model's own numbers)
    nodes: int | None
    wall_time: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seller": self.seller,
            "global_solver": self.solver,
            "global_status": self.status,
            "global_termination": self.termination,
            "profit": _json(self.profit),
            "global_bound": _json(self.global_bound),
            "global_gap": _json(self.global_gap),
            "global_incumbent": _json(self.incumbent),
            "nodes": self.nodes,
            "wall_time": _json(self.wall_time),
            "note": self.note,
        }


def _json(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def check_certifiable(market: CompetitionInstance, setting: str, plans: int | None) -> None:
    """The one-line error when a profile of this kind has no certificate here."""
    if plans is not None:
        raise UserInputError("--certify: certificates are for full menus, not --plans")
    if setting != "packages":
        raise UserInputError(
            f"--certify: best-response certificates are for Token Packages menus, got {setting}"
        )
    if market.taste.gap_at_least:
        raise UserInputError(
            f"--certify: the {market.taste.name} taste's share row is an inequality, under "
            "which a type's utility has no finite bound; certificates need logit"
        )


def _values(b: Any) -> np.ndarray:
    """v_i: each type's value of a unit of the one characteristic (model units)."""
    n, goods = len(list(b.types)), len(list(b.goods_set))
    if goods != 1:
        raise UserInputError("--certify: best-response certificates need one characteristic")
    coef = np.broadcast_to(b.value_coefficients(), (n, n, goods))
    return np.array([float(coef[i, i, 0]) for i in range(n)])


def _welfare(model: pyo.ConcreteModel) -> tuple[np.ndarray, np.ndarray]:
    """Each type's first-best welfare and precision (model units): the block's own
    welfare problem, concave, solved locally (its optimum is global)."""
    from pyomo.contrib.solver.common.factory import SolverFactory

    from pyomo_llmprice.generation import solve_once
    from pyomo_llmprice.outcomes import load_point, solver_outcome
    from pyomo_llmprice.plugins import DEFAULT_SOLVER

    w = model.clone()
    b = w.menu
    for con in w.component_data_objects(pyo.Constraint, active=True):
        if con.parent_component().local_name != "technology_limit":
            con.deactivate()
    w.profit_objective.deactivate()
    q = getattr(b, b.characteristic)
    labels = list(b.types)
    value = _values(b)

    def welfare(k: Any) -> Any:
        i = labels.index(k)
        return value[i] * sum(q[k, g] for g in b.goods_set) - b.cost[k]

    w.welfare = pyo.Objective(expr=sum(welfare(k) for k in labels), sense=pyo.maximize)
    results = solve_once(SolverFactory(DEFAULT_SOLVER), w, {"tol": 1e-10})
    if solver_outcome(results) != "optimal" or not load_point(results):
        raise RuntimeError("the first-best welfare problem did not solve: no bounds")
    s = np.array([pyo.value(welfare(k)) for k in labels])
    qs = np.array([pyo.value(sum(q[k, g] for g in b.goods_set)) for k in labels])
    return s, qs


def type_profit_cap(
    taste: Any, welfare: np.ndarray, rival: np.ndarray, utility_lo: np.ndarray, sigma: float
) -> np.ndarray:
    """The most a buyer of first-best welfare S and rivals' offer R can earn the seller
    per unit of probability, whatever the menu (IC dropped): ``max_U P(U) (S - U)``.

    Logit: with ``x = (S - U) / sigma`` the first-order condition is ``x = 1 + e^(a - x)``,
    ``a = (S - R) / sigma``, unique (P is log-concave, and U >= S earns <= 0), so the
    maximum is ``sigma W(e^(a - 1))`` (Lambert W; at a symmetric logit equilibrium of S
    sellers it is what each type pays there). Other tastes: ``max(0, S - U_lo)``."""
    from pyomo_llmprice.competition.market import Logit

    if isinstance(taste, Logit):
        from scipy.special import lambertw

        a = (welfare - rival) / sigma
        w = np.real(lambertw(np.exp(np.minimum(a - 1.0, 700.0))))
        big = a - 1.0 > 700.0  # W(e^y) ~ y - log(y) for huge y; y bounds it above
        w = np.where(big, a - 1.0, w)
        return sigma * w * (1 + WIDEN) + WIDEN * sigma
    return np.maximum(0.0, welfare - utility_lo)


def _types(b: Any) -> dict[Any, list[Any]]:
    """Labels of the block's types grouped by the variables they share (merged types)."""
    groups: dict[int, list[Any]] = {}
    for k in b.types:
        groups.setdefault(id(b.payment[k]), []).append(k)
    return {ks[0]: ks for ks in groups.values()}


def response_bounds(model: pyo.ConcreteModel, taste: Any, reference: float) -> ResponseBounds:
    """Finite bounds of the best-response `model` (rivals already set) that keep every
    response earning at least `reference` (model money): steps 1 to 3 of the module's
    docstring."""
    b = model.menu
    labels = list(b.types)
    value = _values(b)
    welfare, first_best = _welfare(model)
    # each type's own welfare widened (a common widening by the largest one would move
    # the small types' caps by far more than their solve's error)
    welfare = welfare + WIDEN * np.abs(welfare) + 1e-3 * WIDEN * np.abs(welfare).max(initial=1.0)
    first_best = first_best * (1 + WIDEN)
    rival = np.array([pyo.value(model.rival[k]) for k in labels])
    prob = np.array([pyo.value(b.prob[k]) for k in labels])
    sigma = float(pyo.value(model.taste_scale))
    gap_max = model.gap[next(iter(model.gap))].ub
    if gap_max is None:
        raise UserInputError("--certify: the taste leaves the gap unbounded above")
    p0 = float(pyo.value(taste.probability_expr(0.0)))
    reference = reference - REFERENCE_SLACK * max(abs(reference), 1e-12)
    # merged types share variables: one entry per variable group, probability summed
    groups = _types(b)
    idx = [labels.index(k) for k in groups]
    f = np.array([sum(prob[labels.index(k)] for k in ks) for ks in groups.values()])
    v, r, s, qs = value[idx], rival[idx], welfare[idx], first_best[idx]
    u_lo = r - gap_max * sigma
    cap = f * type_profit_cap(taste, s, r, u_lo, sigma)
    low = reference - (cap.sum() - cap)
    theta = np.maximum(s, r)
    u_hi = theta + np.maximum(0.0, -low) / (f * p0)
    u_hi = u_hi + WIDEN * np.abs(u_hi).max(initial=1.0)
    q_hi = np.full(len(v), np.inf)
    top = v >= v.max()
    for j in range(len(v)):
        above = v > v[j]
        if above.any():
            q_hi[j] = np.min((u_hi[above] - u_lo[j]) / (v[above] - v[j]))
    below = ~top
    for j in np.flatnonzero(top):
        reach = (u_hi[j] - u_lo[below]) / (v[j] - v[below]) if below.any() else np.zeros(0)
        q_hi[j] = max(qs[j], float(reach.max(initial=0.0)))
    q_hi = np.minimum(q_hi, q_hi[top].max())
    return ResponseBounds(list(groups), v, r, u_lo, u_hi, q_hi, s, qs, f, cap, low)


def _largest(expr_at: Any, budget: float) -> float:
    """The largest x >= 0 with ``expr_at(x) <= budget`` (`expr_at` increasing; inf when
    it stays within the budget up to 1e12)."""
    hi = 1.0
    while expr_at(hi) <= budget:
        hi *= 2
        if hi > 1e12:
            return math.inf
    lo = 0.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expr_at(mid) <= budget else (lo, mid)
    return hi


def apply_bounds(model: pyo.ConcreteModel, bounds: ResponseBounds) -> None:
    """Put the bounds of `bounds` on the variables of `model` (steps 3 to 5): the
    global solver's model only; the Ipopt model stays as it was."""
    b = model.menu
    q = getattr(b, b.characteristic)
    good = next(iter(b.goods_set))
    sigma = float(pyo.value(model.taste_scale))
    # the bundle's factor variables: every variable of the block but the payment and
    # the characteristic (compared by identity: merged types reach them by reference)
    skip = {id(b.payment[k]) for k in b.types} | {id(v) for v in q.values()}
    factors = [
        v for v in b.component_data_objects(pyo.Var, descend_into=False) if id(v) not in skip
    ]
    limit = b.technology_limit
    seen: ComponentSet = ComponentSet()  # merged types share variables: keep the widest
    for pos, k in enumerate(bounds.labels):
        cap = float(bounds.precision_hi[pos])
        saved = {id(v): v.value for v in factors}
        own = [v for v in factors if _is_type(v.index(), k)]
        con = limit[k, good]

        def reach(x: float, own: list[Any] = own, con: Any = con) -> float:
            """Precision the symmetric bundle x (no fine-tuning) reaches."""
            for v in own:
                v.set_value(x if "finetune" not in v.name else 0.0, skip_validation=True)
            return -pyo.value(con.body) if con.upper is not None else pyo.value(con.body)

        for v in own:
            v.set_value(0.0, skip_validation=True)
        q[k, good].set_value(0.0, skip_validation=True)
        scale = _largest(reach, cap)
        for v in own:
            v.set_value(scale if "finetune" not in v.name else 0.0, skip_validation=True)
        budget = float(pyo.value(b.cost[k])) * (1 + WIDEN)
        for v in own:
            others = [w for w in own if w is not v]
            for w in others:
                w.set_value(0.0, skip_validation=True)

            def cost(x: float, v: Any = v, k: Any = k) -> float:
                v.set_value(x, skip_validation=True)
                return float(pyo.value(b.cost[k]))

            top = _largest(cost, budget)
            if math.isfinite(top):  # a variable the cost does not grow with keeps none
                v.setub(max(top, v.ub) if v.ub is not None and v in seen else top)
                seen.add(v)
        for v in factors:
            v.set_value(saved[id(v)], skip_validation=True)
        q[k, good].setub(cap)
        pay_lo = -float(bounds.utility_hi[pos])
        pay_hi = float(bounds.value[pos] * cap - bounds.utility_lo[pos])
        b.payment[k].setlb(pay_lo)
        b.payment[k].setub(pay_hi)
        model.gap[k].setlb(float((bounds.rival[pos] - bounds.utility_hi[pos]) / sigma))
    # profit as a sum of one term per distinct type, each bounded by step 2's cap and
    # floor: the solver's relaxation starts from sum(cap) instead of an unbounded product
    groups = _types(b)
    pos = {k: i for i, k in enumerate(bounds.labels)}
    model.term = pyo.Var(
        bounds.labels,
        bounds=lambda _, k: (float(bounds.term_lo[pos[k]]), float(bounds.term_hi[pos[k]])),
    )
    model.term_definition = pyo.Constraint(
        bounds.labels,
        rule=lambda m, k: (
            m.term[k]
            == sum(b.prob[j] * m.choice_prob[j] * (b.payment[j] - b.cost[j]) for j in groups[k])
        ),
    )
    model.profit_objective.deactivate()
    model.certified_profit = pyo.Objective(expr=sum(model.term.values()), sense=pyo.maximize)


def _is_type(index: Any, k: Any) -> bool:
    return index == k or (isinstance(index, tuple) and index[0] == k)


def certify_response(
    market: CompetitionInstance,
    seller: int,
    rival: np.ndarray,
    profit: float,
    solver: str = "scip_direct",
    time_limit: float | None = None,
    progress: bool | None = None,
) -> ResponseCertificate:
    """Prove a bound on seller `seller`'s best response to `rival` (the rivals' offer
    to each type, instance money) and compare it with `profit`, what its menu in the
    profile earns (instance money, from the published numbers)."""
    name = market.sellers[seller].name
    model = best_response_model(market, seller, "packages")
    money = float(model.menu.units.money)
    for lab, value in zip(model.menu.types, np.asarray(rival, float), strict=True):
        model.rival[lab] = float(value) / money
    apply_bounds(model, response_bounds(model, market.taste, profit / money))
    with progress_bar(
        total=None, desc=f"{name} {solver}", unit=" node", leave=False, enabled=progress
    ) as bar:

        def show(nodes: int, bound: float, incumbent: float) -> None:
            bar.n = nodes
            bar.set_postfix_str(
                f"bound {bound * money:.8g}, incumbent {incumbent * money:.8g}", refresh=True
            )

        try:
            run = solve_global(model, solver, time_limit, on_progress=show)
        except SizeLimitError as exc:
            return ResponseCertificate(
                name, solver, "skipped", "size_limit", profit, math.nan, math.nan,
                math.nan, None, math.nan, f"skipped: size limit ({exc})",
            )  # fmt: skip
    bound = run.bound * money
    incumbent = run.incumbent * money
    gap = (bound - profit) / max(abs(profit), 1e-12) if math.isfinite(bound) else math.inf
    if -CERTIFY_TOL <= gap < 0:
        gap = 0.0  # the bound meets the profile within the solvers' tolerance
    status, notes = run.status, []
    if gap < 0:
        status = "verification_failed"
        notes.append("the bound is below the profile's verified profit: no certificate")
    if math.isfinite(incumbent) and incumbent > profit + BETTER_TOL * max(abs(profit), 1e-12):
        notes.append(
            f"the global solver found a response earning {incumbent:.8g} > {profit:.8g} "
            "(the model's numbers, to the solver's feasibility tolerance; not published)"
        )
    if run.status == "time_limit":
        notes.append(f"time limit reached: bound {bound:.8g} not proven tight (gap {gap:.3g})")
    return ResponseCertificate(
        seller=name,
        solver=solver,
        status=status,
        termination=run.termination,
        profit=profit,
        global_bound=bound,
        global_gap=gap,
        incumbent=incumbent,
        nodes=run.nodes,
        wall_time=run.wall_time,
        note="; ".join(notes),
    )


def certify_competition(
    result: Any,
    solver: str = "scip_direct",
    time_limit: float | None = None,
    progress: bool | None = None,
) -> list[ResponseCertificate]:
    """Every seller's certificate against the others' menus of `result` (a
    :class:`~pyomo_llmprice.competition.CompetitionResult`)."""
    if solver not in GLOBAL_SOLVERS:
        raise UserInputError(
            f"--global-solver must be one of {', '.join(GLOBAL_SOLVERS)}, got {solver!r}"
        )
    market = result.market
    check_certifiable(market, result.setting, result.plans)
    return [
        certify_response(
            market,
            s,
            market.taste.rivals(result.utility, s),
            float(result.profit[s]),
            solver,
            time_limit,
            progress,
        )
        for s in range(len(market.sellers))
    ]
