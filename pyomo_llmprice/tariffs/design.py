"""Plan design: the seller's best menu of K two-part tariffs, and the uniform baselines.

Buyers self-select plan and quantities, so a designed menu is incentive compatible by
construction; it is re-checked by :func:`~pyomo_llmprice.tariffs.menu.best_response`.

Method (plans priced at a common markup over cost, as the paper's two-part tariffs):
for a fixed assignment of the types (sorted by theta) to K contiguous groups, the fees
that keep the assignment are pinned by binding constraints (IR of the lowest served type,
downward IC of the lowest type of each group: ``F_1 = g_1(theta_L1)``,
``F_k = F_{k-1} + g_k(theta_Lk) - g_{k-1}(theta_Lk)`` with ``g_k(theta)`` the type's surplus
before the fee on plan k), so realized profit is a function of the K markups alone
(closed-form demands; smooth except for kinks where a type starts fine-tuning), maximized
by SLSQP plus a scan of each markup. Assignments are searched by a pattern search on the
group boundaries scored by the profit of the exact best response, then the
best is iterated to a fixed point (assignment -> markups -> best response -> assignment).
Several starts (structure-based: contiguous equal-mass groups of the served types of the
full menu, each group of the K-1 design split in two, and seeded random boundaries) are
tried; all are reported in ``starts``. Multiple local optima are expected (they are
common on value-scale grids, whose discrete virtual values need ironing); the best start
is kept, and for small type sets it is re-solved by the MPEC route (:mod:`.kkt`).

This prices Token Packages (token totals, types by their index theta); Token Allocations
contracts cannot be written as per-token prices (see :mod:`.menu`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.progress import progress_bar
from pyomo_llmprice.tariffs.buyers import (
    BuyerModel,
    CobbDouglasBuyer,
    QuadraticBuyer,
    QuadraticGood,
    ValueBuyer,
    ValueGood,
    buyer_for,
)
from pyomo_llmprice.tariffs.fees import PlanFees
from pyomo_llmprice.tariffs.kkt import MpecPlanProblem
from pyomo_llmprice.tariffs.menu import (
    TariffMenu,
    TariffOutcome,
    TwoPartTariff,
    _as_types,
    _clean,
    best_response,
)
from pyomo_llmprice.technology import Technology

__all__ = [
    "DEVIATION_TOL",
    "PlanDesign",
    "design_on_assignment",
    "design_plans",
    "linear_pricing",
    "sorted_types",
]

FloatArray = NDArray[np.float64]

#: what plans are priced on: token technologies or a one-good textbook case
Good = Technology | QuadraticGood | ValueGood

#: a design passes its exact check when no type gains more than this (times the payment scale)
DEVIATION_TOL = 1e-7

#: the MPEC polish runs by default up to this many types (one KKT block per type)
POLISH_MAX_TYPES = 50

#: markups searched in [MARKUP_BOUNDS]
MARKUP_BOUNDS = (0.5, 1.0e4)


@dataclass
class PlanDesign:
    """A designed menu of plans, its exact outcome and every start tried."""

    kind: str  # "linear", "plans" or "full_menu_tangent"
    K: int
    menu: TariffMenu
    outcome: TariffOutcome
    status: str  # "optimal", or why not ("not_converged", "verification_failed")
    starts: pd.DataFrame = field(default_factory=pd.DataFrame)
    instance: str = ""

    @property
    def profit(self) -> float:
        return self.outcome.profit

    def __repr__(self) -> str:  # a design holds per-type arrays: never print them all
        return (
            f"PlanDesign({self.instance!r}, kind={self.kind!r}, K={self.K}, "
            f"status={self.status!r}, profit={self.profit:.8g}, "
            f"max_deviation_gain={self.outcome.max_deviation_gain:.3g}, starts={len(self.starts)})"
        )

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "K": self.K, "status": self.status, **self.outcome.summary()}

    def to_dict(self) -> dict[str, Any]:
        """JSON document: plans with their terms and buyers, aggregates, status."""
        plans = []
        table = self.outcome.plan_table()
        for k, plan in enumerate(self.menu.plans):
            row = table.iloc[k] if len(table) else None
            plans.append(
                {
                    **plan.to_dict(),
                    "types": [] if row is None else list(row["types"]),
                    "mass": _clean(float(row["mass"])) if row is not None else 0.0,
                }
            )
        out = self.outcome
        return {
            "instance": self.instance,
            "kind": self.kind,
            "K": self.K,
            "status": self.status,
            "plans": plans,
            "profit": _clean(out.profit),
            "revenue": _clean(out.revenue),
            "cost": _clean(float(out.prob @ out.cost)),
            "consumer_surplus": _clean(out.consumer_surplus),
            "welfare": _clean(out.welfare),
            "max_deviation_gain": _clean(out.max_deviation_gain),
            "excluded": [lab for lab, c in zip(out.labels, out.choice, strict=True) if c < 0],
        }


# --------------------------------------------------------------------------------------
# The profit of a fixed assignment, as a function of the markups
# --------------------------------------------------------------------------------------


@dataclass
class _Problem(PlanFees):
    """The fee rule with the search over markups (internal)."""

    def optimize_markups(
        self, bounds: NDArray[np.intp], start: FloatArray
    ) -> tuple[FloatArray, FloatArray, float, bool]:
        """Best markups for a fixed assignment (SLSQP on log markups, then per-markup scans)."""
        lo, hi = math.log(MARKUP_BOUNDS[0]), math.log(MARKUP_BOUNDS[1])
        scale = max(1e-12, float(self.prob @ self.theta))

        def objective(v: FloatArray) -> float:
            return -self.fees_and_profit(bounds, np.exp(v))[1] / scale

        def gradient(v: FloatArray) -> FloatArray:
            # central differences: SLSQP's forward ones stopped 0.5% short of the optimal
            # markup on the two-type saturating case (profit 6e-7 low)
            g = np.empty_like(v)
            for j in range(v.size):
                step = np.zeros_like(v)
                step[j] = 1e-6
                g[j] = (objective(v + step) - objective(v - step)) / 2e-6
            return g

        x = np.clip(np.log(np.maximum(start, 1e-12)), lo, hi)
        ok = False
        for _ in range(4):
            res = optimize.minimize(
                objective,
                x,
                jac=gradient,
                method="SLSQP",  # L-BFGS-B's Fortran core costs ~10x more per call here
                bounds=[(lo, hi)] * len(x),
                options={"ftol": 1e-14, "maxiter": 300},
            )
            x, ok = res.x, bool(res.success)
            # Profit has kinks where a type starts fine-tuning (its token margin jumps in
            # slope), hence local maxima in each markup: scan each one and restart.
            best = objective(x)
            moved = False
            for j in range(len(x)):
                for step in np.linspace(-0.4, 0.4, 33):
                    trial = x.copy()
                    trial[j] = np.clip(x[j] + step, lo, hi)
                    val = objective(trial)
                    if val < best - 1e-12 * abs(best):
                        best, x, moved = val, trial, True
            if not moved:
                break
        markup = np.exp(x)
        fees, profit, _ = self.fees_and_profit(bounds, markup)
        return markup, fees, profit, ok


def _menu(markup: FloatArray, fees: FloatArray, technology: Good) -> list[TwoPartTariff]:
    width = len(str(len(markup)))
    return [
        TwoPartTariff.from_markup(f"plan{j + 1:0{width}d}", float(f), float(m), technology)
        for j, (f, m) in enumerate(zip(fees, markup, strict=True))
    ]


def _bounds_from_choice(choice: NDArray[np.intp], k: int) -> NDArray[np.intp] | None:
    """Boundaries of contiguous groups read off a best response (None if not contiguous)."""
    n = choice.size
    used = [j for j in range(k) if np.any(choice == j)]
    if not used:
        return None
    # relabel used plans in increasing order of their lowest buyer
    firsts = sorted((int(np.flatnonzero(choice == j)[0]), j) for j in used)
    bounds = [first for first, _ in firsts] + [n]
    expected = np.full(n, -1)
    for pos, (_, _) in enumerate(firsts):
        expected[bounds[pos] : bounds[pos + 1]] = pos
    relabel = {j: pos for pos, (_, j) in enumerate(firsts)}
    actual = np.array([relabel.get(int(c), -1) for c in choice])
    if not np.array_equal(actual, expected):
        return None
    return np.asarray(bounds, dtype=np.intp)


@dataclass
class _Candidate:
    bounds: NDArray[np.intp]
    markup: FloatArray
    fees: FloatArray
    model_profit: float
    exact_profit: float
    converged: bool


class _Search:
    """Pattern search over group boundaries, each scored by the exact best response."""

    def __init__(
        self,
        problem: _Problem | MpecPlanProblem,
        technology: Good,
    ) -> None:
        self.p = problem
        self.technology = technology
        self.cache: dict[tuple[int, ...], _Candidate] = {}

    def evaluate(self, bounds: NDArray[np.intp], start: FloatArray) -> _Candidate:
        key = tuple(int(b) for b in bounds)
        if key in self.cache:
            return self.cache[key]
        markup, fees, model_profit, ok = self.p.optimize_markups(bounds, start)
        menu = TariffMenu(_menu(markup, fees, self.technology), self.technology)
        out = best_response(self.p.theta, menu, prob=self.p.prob, buyer=self.p.buyer)
        cand = _Candidate(bounds.copy(), markup, fees, model_profit, out.profit, ok)
        self.cache[key] = cand
        return cand

    def run(self, bounds: NDArray[np.intp], start: FloatArray) -> tuple[_Candidate, int]:
        n = self.p.theta.size
        best = self.evaluate(bounds, start)
        step = max(1, n // 8)
        evaluations = 1
        while True:
            improved = True
            while improved:
                improved = False
                for j in range(len(best.bounds) - 1):  # the last bound is always n
                    for delta in (-step, step):
                        trial = best.bounds.copy()
                        trial[j] += delta
                        if trial[j] < 0 or np.any(np.diff(trial) <= 0) or trial[-1] != n:
                            continue
                        cand = self.evaluate(trial, best.markup)
                        evaluations += 1
                        if cand.exact_profit > best.exact_profit + 1e-15:
                            best, improved = cand, True
            if step == 1:
                break
            step = max(1, step // 2)
        return best, evaluations

    def fixed_point(self, cand: _Candidate, k: int, rounds: int = 20) -> _Candidate:
        """Re-optimize on the assignment buyers actually choose until it stops changing."""
        for _ in range(rounds):
            menu = TariffMenu(_menu(cand.markup, cand.fees, self.technology), self.technology)
            out = best_response(self.p.theta, menu, prob=self.p.prob, buyer=self.p.buyer)
            bounds = _bounds_from_choice(out.choice, k)
            if bounds is None or np.array_equal(bounds, cand.bounds):
                return cand
            used = sorted({int(c) for c in out.choice if c >= 0})
            start = cand.markup[used] if len(used) == len(bounds) - 1 else cand.markup
            nxt = self.evaluate(bounds, start[: len(bounds) - 1])
            if nxt.exact_profit < cand.exact_profit - 1e-12:
                return cand
            cand = nxt
        return cand


def _problem(
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike],
    technology: Good | None,
    buyer: BuyerModel | None,
) -> tuple[_Problem, NDArray[np.intp], list[str], Good, str]:
    theta, prob, labels, inst_tech = _as_types(types)
    tech = technology if technology is not None else inst_tech
    if tech is None:
        raise ValueError("plan design needs a technology (pass technology=...)")
    model = buyer_for(tech) if buyer is None else buyer
    costs = np.asarray(model.unit_costs, float)
    if not costs[0] > 0:
        raise ValueError("markup plans need a positive unit cost of the first token class")
    order = np.argsort(theta, kind="stable")
    keep = prob[order] > 0
    order = order[keep]
    name = types.name if isinstance(types, Instance) else ""
    return _Problem(theta[order], prob[order], model, costs), order, labels, tech, name


def _finish(
    kind: str,
    k: int,
    cand: _Candidate,
    problem: _Problem | MpecPlanProblem,
    types: Any,
    tech: Good,
    buyer: BuyerModel | None,
    starts: pd.DataFrame,
    name: str,
    order: NDArray[np.intp],
) -> PlanDesign:
    """The designed menu, its intended assignment and the exact check on the full type set."""
    theta, prob, labels, _ = _as_types(types)
    fees = cand.fees
    n_sorted = problem.theta.size
    group = np.full(n_sorted, -1)
    for j in range(len(cand.markup)):
        group[cand.bounds[j] : cand.bounds[j + 1]] = j
    served = group >= 0
    own_util = np.zeros(n_sorted)
    surplus, _ = problem.surplus(problem.theta[served], cand.markup[group[served]])
    own_util[served] = surplus - fees[group[served]]
    intended = np.full(theta.size, -1, dtype=np.intp)
    intended[order] = group
    intended_util = np.zeros(theta.size)
    intended_util[order] = own_util
    # zero-probability types are not designed for: they simply best-respond
    free = np.ones(theta.size, bool)
    free[order] = False
    menu = TariffMenu(_menu(cand.markup, fees, tech), tech, intended, intended_util)
    out = best_response(theta, menu, tech, prob, labels, buyer=problem.buyer)
    if free.any():
        out.deviation_gain[free] = 0.0
    scale = max(1.0, float(np.abs(out.payment).max(initial=0.0)))
    if not cand.converged:
        status = "not_converged"
    elif not out.max_deviation_gain <= DEVIATION_TOL * scale:
        status = "verification_failed"
    else:
        status = "optimal"
    return PlanDesign(kind, k, menu, out, status, starts, name)


def sorted_types(
    types: Instance | tuple[ArrayLike, ArrayLike], technology: Good | None = None
) -> tuple[FloatArray, FloatArray, Good]:
    """The types a plan design is computed for: theta sorted ascending (zero-probability
    types left out, they only best-respond), their probabilities and the technology
    (`technology`, else the instance's). Other formulations of the same design problem
    (the global certificate's MINLP) index types this way."""
    problem, _, _, tech, _ = _problem(types, technology, None)
    return problem.theta, problem.prob, tech


def design_on_assignment(
    types: Instance | tuple[ArrayLike, ArrayLike],
    k: int,
    bounds: ArrayLike,
    markups: ArrayLike,
    technology: Good | None = None,
    label: str = "given",
) -> PlanDesign:
    """The design of :func:`design_plans` on a given assignment, for a design found
    elsewhere (e.g. by a global solver): the sorted types of :func:`sorted_types` are
    split into contiguous groups at `bounds` (first type of each plan, then the number
    of types; types before the first bound are not served), the markups are
    re-optimized from `markups` by the fee rule, the assignment is iterated to the
    buyers' own choices and the result is checked exactly like any local design.
    ``starts`` has the one row `label`."""
    problem, order, _, tech, name = _problem(types, technology, None)
    search = _Search(problem, tech)
    cand = search.evaluate(np.asarray(bounds, dtype=np.intp), np.asarray(markups, float))
    cand = search.fixed_point(cand, len(cand.markup))
    starts = pd.DataFrame(
        [
            {
                "start": label,
                "final_bounds": [int(b) for b in cand.bounds],
                "markups": [float(m) for m in cand.markup],
                "fees": [float(f) for f in cand.fees],
                "profit": cand.exact_profit,
                "best": True,
            }
        ]
    )
    return _finish("plans", k, cand, problem, types, tech, None, starts, name, order)


def linear_pricing(
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike],
    technology: Good | None = None,
    buyer: BuyerModel | None = None,
    grid: int = 200,
) -> PlanDesign:
    """The best single per-token markup on cost for every class, no fee (uniform pricing).

    Profit is one-dimensional in the markup: a log-spaced grid on ``MARKUP_BOUNDS`` then a
    fine grid over the cell of every local maximum, then a bounded Brent refinement of each
    local maximum of those; the best is kept (``starts`` lists the coarse grid).
    """
    if isinstance(types, (str, Path)):
        types = read_instance(types)
    problem, _, _, tech, name = _problem(types, technology, buyer)

    def profit(m: float) -> float:
        _, margin = problem.surplus(problem.theta, np.full(problem.theta.size, m))
        return float(problem.prob @ margin)

    ms = np.geomspace(1.0, MARKUP_BOUNDS[1] / 10, grid)
    values = np.array([profit(m) for m in ms])
    # Profit has kinks (where types start fine-tuning or leave) and can peak several
    # times within one grid cell: every local maximum of the grid gets a fine grid over its
    # cell, and every local maximum of that a bounded Brent refinement; the best is kept.
    best_m, best_v, converged = float(ms[0]), -np.inf, True
    for i in _local_maxima(values):
        fine = np.geomspace(ms[max(i - 1, 0)], ms[min(i + 1, grid - 1)], 101)
        fine_values = np.array([profit(m) for m in fine])
        for j in _local_maxima(fine_values):
            lo, hi = fine[max(j - 1, 0)], fine[min(j + 1, fine.size - 1)]
            res = optimize.minimize_scalar(
                lambda m: -profit(m), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
            )
            if -res.fun >= fine_values[j]:
                m_j, v_j, ok = float(res.x), -float(res.fun), bool(res.success)
            else:
                m_j, v_j, ok = float(fine[j]), float(fine_values[j]), True
            if v_j > best_v:
                best_m, best_v, converged = m_j, v_j, ok
    m = best_m
    i = int(np.argmin(np.abs(np.log(ms / m))))
    starts = pd.DataFrame({"markup": ms, "profit": values, "best": np.arange(grid) == i})
    bounds = np.array([0, problem.theta.size], dtype=np.intp)
    cand = _Candidate(bounds, np.array([m]), np.zeros(1), profit(m), profit(m), converged)
    theta, prob, labels, _ = _as_types(types)
    menu = TariffMenu(_menu(np.array([m]), np.zeros(1), tech), tech)
    menu.intended_choice = np.zeros(theta.size, dtype=np.intp)
    out = best_response(theta, menu, tech, prob, labels, buyer=problem.buyer)
    # with no fee every type with positive theta buys: the intended choice is plan 1
    menu.intended_utility = out.rent.copy()
    out.deviation_gain = np.zeros(theta.size)
    status = "optimal" if cand.converged else "not_converged"
    return PlanDesign("linear", 1, menu, out, status, starts, name)


def _local_maxima(values: FloatArray) -> NDArray[np.intp]:
    """Indices where `values` is at least both neighbours (the ends count one-sided)."""
    padded = np.concatenate(([-np.inf], values, [-np.inf]))
    return np.flatnonzero((values >= padded[:-2]) & (values >= padded[2:]))


def _random_bounds(rng: np.random.Generator, n: int, k: int) -> NDArray[np.intp]:
    cuts = np.sort(rng.choice(np.arange(n), size=k, replace=False))
    return np.append(cuts, n).astype(np.intp)


def _equal_mass_bounds(prob: FloatArray, first: int, k: int) -> NDArray[np.intp]:
    n = prob.size
    mass = np.cumsum(prob[first:]) / prob[first:].sum()
    cuts = [first] + [first + int(np.searchsorted(mass, q)) for q in np.arange(1, k) / k]
    bounds = np.append(np.array(cuts), n)
    # make strictly increasing (small type sets)
    for j in range(1, bounds.size):
        bounds[j] = max(bounds[j], bounds[j - 1] + 1)
    if bounds[-1] != n or bounds[-2] >= n:
        bounds = np.append(np.arange(n - k, n), n)
    return bounds.astype(np.intp)


def design_plans(
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike],
    plans: int,
    starts: int = 4,
    seed: int = 0,
    technology: Good | None = None,
    buyer: BuyerModel | None = None,
    served_from: ArrayLike | None = None,
    method: str = "auto",
    polish: bool | None = None,
    refine: PlanDesign | None = None,
    progress: bool | None = None,
) -> PlanDesign:
    """The seller's best menu of ``plans`` two-part tariffs (common markup per plan).

    ``types`` is an instance (or its path) or ``(theta, prob)`` with ``technology``.
    Starts: contiguous equal-mass groups of the served types (``served_from``: a boolean
    mask, e.g. the full menu's ``served`` column; default the types with theta above the
    linear-pricing median buyer), the same groups of all types, then ``starts`` seeded
    random boundaries. Deterministic for a given seed.

    ``refine``: a design with one plan fewer on the same types; each of its groups split
    in two is a further start (so K plans earn at least about what K - 1 plans did).

    ``method``: ``"demand"`` (markups by SLSQP on the profit computed from the buyer
    model's demand: closed form for Cobb-Douglas and the quadratic good, a cheap 1-D solve
    for a :class:`~pyomo_llmprice.tariffs.buyers.ValueGood`; the default for those) or
    ``"mpec"`` (the seller's problem with every buyer's KKT conditions as complementarity
    constraints, solved by cyipopt_direct: the default for other precision functions,
    whose demand would need an inner solve per type at every step). ``polish`` re-solves
    the best assignment by the MPEC route and keeps it if the exact check earns more
    (default: up to ``POLISH_MAX_TYPES`` types, token technology).

    ``progress``: a bar over the starts (and the polish) on stderr; ``None`` shows it
    on a terminal unless the package is quiet (:mod:`pyomo_llmprice.progress`).
    """
    k = int(plans)
    if k < 1:
        raise ValueError(f"plans must be a positive integer, got {plans}")
    if isinstance(types, (str, Path)):
        types = read_instance(types)
    problem, order, _, tech, name = _problem(types, technology, buyer)
    n = problem.theta.size
    if n < k:
        raise ValueError(f"{k} plans need at least {k} types with positive probability, got {n}")
    cheap = isinstance(problem.buyer, (CobbDouglasBuyer, QuadraticBuyer, ValueBuyer))
    method = {"auto": "demand" if cheap else "mpec", "closed_form": "demand"}.get(method, method)
    if method not in ("demand", "mpec"):
        raise ValueError(f"method must be 'auto', 'demand' or 'mpec', got {method!r}")
    inner: _Problem | MpecPlanProblem = problem
    if method == "mpec":
        if not isinstance(tech, Technology):
            raise ValueError("the MPEC route needs a token Technology")
        inner = MpecPlanProblem(problem.theta, problem.prob, tech, problem.buyer)
    if polish is None:
        polish = method == "demand" and isinstance(tech, Technology) and n <= POLISH_MAX_TYPES
    search = _Search(inner, tech)
    inits: list[tuple[str, NDArray[np.intp]]] = []
    if served_from is not None:
        mask = np.asarray(served_from, bool)[order]
        first = int(np.argmax(mask)) if mask.any() else 0
        inits.append(("full_menu_groups", _equal_mass_bounds(problem.prob, min(first, n - k), k)))
    else:
        half = int(np.searchsorted(np.cumsum(problem.prob), 0.5))
        inits.append(("upper_half_groups", _equal_mass_bounds(problem.prob, min(half, n - k), k)))
    inits.append(("all_types_groups", _equal_mass_bounds(problem.prob, 0, k)))
    rng = np.random.default_rng(seed)
    inits += [(f"random_{r + 1}", _random_bounds(rng, n, k)) for r in range(starts)]
    if refine is not None and refine.K == k - 1 and len(refine.starts):
        previous = np.asarray(refine.starts.loc[refine.starts["best"], "final_bounds"].iloc[0])
        for j in range(k - 1):
            lo, hi = int(previous[j]), int(previous[j + 1])
            if hi - lo >= 2:
                split = np.sort(np.append(previous, (lo + hi) // 2)).astype(np.intp)
                inits.append((f"split_group_{j + 1}_of_K{k - 1}", split))
    rows = []
    best: _Candidate | None = None
    best_row = -1
    polishing = bool(polish and isinstance(tech, Technology))
    with progress_bar(
        total=len(inits) + polishing,
        desc=f"K={k} starts",
        unit=" start",
        leave=False,
        enabled=progress,
    ) as bar:
        for label, bounds in inits:
            bar.set_postfix_str(label)
            start = np.geomspace(2.0, 1.05, k) if k > 1 else np.array([1.2])
            cand, evaluations = search.run(bounds, start)
            cand = search.fixed_point(cand, k)
            rows.append(
                {
                    "start": label,
                    "initial_bounds": [int(b) for b in bounds],
                    "final_bounds": [int(b) for b in cand.bounds],
                    "markups": [float(m) for m in cand.markup],
                    "fees": [float(f) for f in cand.fees],
                    "profit": cand.exact_profit,
                    "evaluations": evaluations,
                    "converged": cand.converged,
                }
            )
            if best is None or cand.exact_profit > best.exact_profit + 1e-14:
                best, best_row = cand, len(rows) - 1
            bar.update(1)
        assert best is not None
        if polishing and isinstance(tech, Technology):
            bar.set_postfix_str("mpec_polish")
            mpec = MpecPlanProblem(problem.theta, problem.prob, tech, problem.buyer)
            markup, fees, model_profit, ok = mpec.optimize_markups(best.bounds, best.markup)
            menu = TariffMenu(_menu(markup, fees, tech), tech)
            exact = best_response(problem.theta, menu, prob=problem.prob, buyer=problem.buyer)
            rows.append(
                {
                    "start": "mpec_polish",
                    "initial_bounds": [int(b) for b in best.bounds],
                    "final_bounds": [int(b) for b in best.bounds],
                    "markups": [float(m) for m in markup],
                    "fees": [float(f) for f in fees],
                    "profit": exact.profit,
                    "evaluations": 1,
                    "converged": ok,
                }
            )
            consistent = _bounds_from_choice(exact.choice, k)
            if (
                ok
                and consistent is not None
                and np.array_equal(consistent, best.bounds)
                and exact.profit > best.exact_profit + 1e-12
            ):
                best = _Candidate(best.bounds, markup, fees, model_profit, exact.profit, ok)
                best_row = len(rows) - 1
            bar.update(1)
    table = pd.DataFrame(rows)
    table["best"] = np.arange(len(rows)) == best_row
    return _finish("plans", k, best, inner, types, tech, buyer, table, name, order)
