"""Global certificates for plan design: the K-plan pricing page as a MINLP.

:func:`~pyomo_llmprice.tariffs.design.design_plans` searches K two-part tariffs (a fee
and one markup over cost per plan) by local methods from several starts: it gives a
verified design but no bound. Here the same problem is written as a mixed-integer
nonlinear program and handed to a global solver (SCIP's spatial branch and bound or
Gurobi's MINLP, through Pyomo's ``scip_direct`` / ``gurobi_direct_minlp``), whose dual
bound says how far any K-plan design could go.

Formulation (Cobb-Douglas precision; money scaled by the top type's first-best welfare).
Plan k has fee ``F_k`` and price level ``r_k = 1 / markup_k`` in ``[0, 1 / MARKUP_FLOOR]``
(``r = 0``: an infinite markup, nothing sold). A type theta facing prices ``c / r``
buys what it buys at cost with index ``s = theta r`` (docs/model.md section 3 with
``phi -> s``), so with ``kappa0 = 1/(1 - alpha - beta)``, ``kappa1 = 1/(1 - sigma)``:

* no fine-tuning (``r <= theta_hat / theta``): surplus before the fee
  ``g0 = (1 - alpha - beta) A0 theta^kappa0 r^(kappa0 - 1)``, welfare
  ``W0 = A0 theta^kappa0 (r^(kappa0 - 1) - (alpha + beta) r^kappa0)``;
* fine-tuning: ``g1 = (1 - sigma) A1 theta^kappa1 r^(kappa1 - 1) + c_z b / r``,
  ``W1 = A1 theta^kappa1 (r^(kappa1 - 1) - sigma r^kappa1) + c_z b``;

(``A0 = (b^gamma K0)^kappa0``, ``A1 = (K0 (gamma/c_z)^gamma)^kappa1``). Both regimes
agree at the threshold, so ``g = g0(r) + [g1 - g0](max(r, theta_hat / theta))`` and the
same for W; the ``max`` is exact with one binary per (type, plan). The buyer's choice
is the usual disjunction: ``x[i, k]`` binary, ``U_i >= g[i, k] - F_k`` for every plan
(IC), ``U_i >= 0`` (IR), ``U_i = g[i, k] - F_k`` on the chosen plan and ``U_i = 0``
without one (big-M from the bounds below). Profit is ``sum_i f_i (W[i, chosen] - U_i)``.

Cuts that remove no design (proof in the comments at :func:`build_plan_model`): plans
ordered by markup, and the served types choose plans monotonically in theta (the
surplus ``m G(theta/m)`` has strictly increasing differences in theta and ``1/m``).

The model covers markups from ``MARKUP_FLOOR`` (the local search's lower bound) up to
infinity, with fees free in bounds that provably contain every design that beats
selling nothing. Ties are broken for the seller (as in the local design's intended
assignment); the exact check then re-evaluates every design with each type's own best
response (:func:`~pyomo_llmprice.tariffs.menu.best_response`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray

from pyomo_llmprice.tariffs.buyers import CobbDouglasBuyer
from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["MARKUP_FLOOR", "PlanModel", "PlanSolution", "build_plan_model", "read_plan"]

FloatArray = NDArray[np.float64]

#: lowest markup a plan may carry (the local search's lower bound, design.MARKUP_BOUNDS)
MARKUP_FLOOR = 0.5


@dataclass
class PlanModel:
    """The Pyomo MINLP of a K-plan design with what is needed to read it back."""

    model: pyo.ConcreteModel
    theta: FloatArray  # sorted increasing, positive probability
    prob: FloatArray
    order: NDArray[np.intp]  # positions of the sorted types in the caller's arrays
    plans: int
    scale: float  # money unit of the model (the top type's first-best welfare)
    technology: Technology


@dataclass
class PlanSolution:
    """A K-plan design read off a solved :class:`PlanModel` (money, per buyer).

    ``markups`` / ``fees`` per plan (ordered by decreasing markup), ``choice`` per
    sorted type (plan index, -1 = nothing), ``profit`` the model's own profit of it.
    """

    markups: FloatArray
    fees: FloatArray
    choice: NDArray[np.intp]
    profit: float


def _constants(tech: Technology) -> tuple[float, float, float, float, float, float, float]:
    """``(rho, sigma, kappa0, kappa1, A0, A1, c_z b)`` of the closed-form indirect utility."""
    cd: CobbDouglas = tech.cobb_douglas_precision
    a, b, g, bq = cd.alpha, cd.beta, cd.gamma, cd.base_quality
    rho, sigma = a + b, cd.sigma
    k0 = (a / tech.cost_input) ** a * (b / tech.cost_output) ** b
    kappa0, kappa1 = 1 / (1 - rho), 1 / (1 - sigma)
    a0 = (bq**g * k0) ** kappa0
    a1 = (k0 * (g / tech.cost_finetune) ** g) ** kappa1
    return rho, sigma, kappa0, kappa1, a0, a1, tech.cost_finetune * bq


def _numbers(tech: Technology, theta: FloatArray, r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Surplus before the fee and welfare of types ``theta`` at price levels ``r`` (numpy),
    from the buyer's closed-form demand (the one used for the exact check)."""
    buyer = CobbDouglasBuyer(tech)
    markup = 1.0 / np.maximum(r, 1e-300)
    prices = markup[..., None] * buyer.unit_costs
    tokens, gross = buyer.demand(theta, prices)
    spend = np.einsum("...j,...j->...", tokens, prices)
    cost = buyer.cost(tokens)
    return gross - spend, gross - cost


def build_plan_model(
    theta: Any,
    prob: Any,
    technology: Technology,
    plans: int,
    cuts: bool = True,
) -> PlanModel:
    """The MINLP of the best ``plans`` two-part tariffs for types ``theta`` (``prob``).

    ``cuts`` adds the plan order and the monotone assignment. Both are implied: plans are
    interchangeable (order them by markup); and if types ``i < j`` chose plans with
    markups ``m_i < m_j``, adding their two IC constraints gives
    ``g(theta_j, m_i) - g(theta_j, m_j) <= g(theta_i, m_i) - g(theta_i, m_j)``, while
    ``dg/dtheta = u(theta/m)`` falls strictly in m: a contradiction. So served types are
    an upper set and climb the plans in theta (ties between equal plans relabelled).
    """
    k = int(plans)
    th = np.asarray(theta, float).ravel()
    pr = np.asarray(prob, float).ravel()
    order = np.flatnonzero(pr > 0)
    order = order[np.argsort(th[order], kind="stable")]
    th, pr = th[order], pr[order]
    if np.any(th <= 0):
        raise ValueError("a plan certificate needs positive theta (the CES index)")
    if k < 1 or k > th.size:
        raise ValueError(f"plans must be between 1 and {th.size}, got {plans}")
    rho, sigma, kappa0, kappa1, a0, a1, czb = _constants(technology)
    r_hi = 1.0 / MARKUP_FLOOR
    n = th.size
    # bounds (money); the scale is the top type's first-best welfare
    _, w_fb = _numbers(technology, th, np.ones(n))
    g_hi, _ = _numbers(technology, th, np.full(n, r_hi))
    scale = float(w_fb.max())
    w_fb, g_hi = w_fb / scale, g_hi / scale
    buyer = CobbDouglasBuyer(technology)
    tokens_hi, _ = buyer.demand(th, np.full((n, 3), MARKUP_FLOOR) * buyer.unit_costs)
    cost_hi = buyer.cost(tokens_hi) / scale  # W >= -cost, cost increasing in r
    fee_hi = float(g_hi.max())  # a higher fee sells to nobody: same as this one
    fee_lo = -float(w_fb.max())  # lower: every type's rent beats any welfare, profit < 0
    rent_hi = g_hi - fee_lo  # per type: U_i = max_k g_ik - F_k at most
    # fine-tuning starts at r = theta_hat / theta
    r_ft = technology.theta_hat / th
    ft = r_ft < r_hi  # types that may fine-tune on some plan

    m = pyo.ConcreteModel(name=f"plan_design_K{k}")
    m.I = pyo.RangeSet(0, n - 1)
    m.K = pyo.RangeSet(0, k - 1)
    m.IF = pyo.Set(initialize=[i for i in range(n) if ft[i]])
    m.r = pyo.Var(m.K, bounds=(0.0, r_hi), initialize=1.0)
    m.fee = pyo.Var(m.K, bounds=(fee_lo, fee_hi), initialize=0.0)
    m.rent = pyo.Var(m.I, bounds=lambda _, i: (0.0, rent_hi[i]), initialize=0.0)
    m.x = pyo.Var(m.I, m.K, domain=pyo.Binary, initialize=0)
    m.ft = pyo.Var(m.IF, m.K, domain=pyo.Binary, initialize=0)
    m.a = pyo.Var(m.IF, m.K, initialize=lambda _, i, j: max(1.0, r_ft[i]))
    for i in m.IF:
        for j in m.K:
            m.a[i, j].setlb(float(r_ft[i]))
            m.a[i, j].setub(r_hi)
    m.earned = pyo.Var(m.I, m.K, bounds=lambda _, i, j: (-cost_hi[i], w_fb[i]), initialize=0)

    c0 = [(1 - rho) * a0 * t**kappa0 / scale for t in th]
    w0 = [a0 * t**kappa0 / scale for t in th]
    c1 = [(1 - sigma) * a1 * t**kappa1 / scale for t in th]
    w1 = [a1 * t**kappa1 / scale for t in th]
    czb_s = czb / scale

    def g0(i: int, r: Any) -> Any:
        return c0[i] * r ** (kappa0 - 1)

    def g1(i: int, r: Any) -> Any:
        return c1[i] * r ** (kappa1 - 1) + czb_s / r

    def welfare0(i: int, r: Any) -> Any:
        return w0[i] * (r ** (kappa0 - 1) - rho * r**kappa0)

    def welfare1(i: int, r: Any) -> Any:
        return w1[i] * (r ** (kappa1 - 1) - sigma * r**kappa1) + czb_s

    def surplus(i: int, j: int) -> Any:
        base = g0(i, m.r[j])
        if ft[i]:
            base = base + g1(i, m.a[i, j]) - g0(i, m.a[i, j])
        return base

    def welfare(i: int, j: int) -> Any:
        base = welfare0(i, m.r[j])
        if ft[i]:
            base = base + welfare1(i, m.a[i, j]) - welfare0(i, m.a[i, j])
        return base

    m.g = pyo.Expression(m.I, m.K, rule=lambda _, i, j: surplus(i, j))
    m.W = pyo.Expression(m.I, m.K, rule=lambda _, i, j: welfare(i, j))
    # a = max(r, theta_hat / theta): ft = 1 iff the plan's prices make the type fine-tune
    m.a_above_r = pyo.Constraint(m.IF, m.K, rule=lambda _, i, j: m.a[i, j] >= m.r[j])
    m.a_at_r = pyo.Constraint(
        m.IF, m.K, rule=lambda _, i, j: m.a[i, j] <= m.r[j] + r_hi * (1 - m.ft[i, j])
    )
    m.a_at_threshold = pyo.Constraint(
        m.IF, m.K, rule=lambda _, i, j: m.a[i, j] <= r_ft[i] + (r_hi - r_ft[i]) * m.ft[i, j]
    )
    # buyer's choice: IC against every plan, IR, equality on the chosen plan
    m.ic = pyo.Constraint(m.I, m.K, rule=lambda _, i, j: m.rent[i] >= m.g[i, j] - m.fee[j])
    big = rent_hi + fee_hi  # per type: rent - g + fee at most
    m.chosen = pyo.Constraint(
        m.I,
        m.K,
        rule=lambda _, i, j: m.rent[i] <= m.g[i, j] - m.fee[j] + big[i] * (1 - m.x[i, j]),
    )
    m.one_plan = pyo.Constraint(m.I, rule=lambda _, i: sum(m.x[i, j] for j in m.K) <= 1)
    m.no_plan = pyo.Constraint(
        m.I, rule=lambda _, i: m.rent[i] <= rent_hi[i] * sum(m.x[i, j] for j in m.K)
    )
    # earned[i, k] = x[i, k] * W[i, k] (maximized: the two upper bounds are tight)
    m.earned_w = pyo.Constraint(
        m.I,
        m.K,
        rule=lambda _, i, j: m.earned[i, j] <= m.W[i, j] + cost_hi[i] * (1 - m.x[i, j]),
    )
    m.earned_x = pyo.Constraint(
        m.I, m.K, rule=lambda _, i, j: m.earned[i, j] <= w_fb[i] * m.x[i, j]
    )
    m.profit = pyo.Objective(
        expr=sum(pr[i] * (sum(m.earned[i, j] for j in m.K) - m.rent[i]) for i in m.I),
        sense=pyo.maximize,
    )
    if cuts:
        m.markup_order = pyo.Constraint(
            pyo.RangeSet(0, k - 2), rule=lambda _, j: m.r[j] <= m.r[j + 1]
        )

        def climb(_: Any, i: int, j: int) -> Any:
            return sum(m.x[i, q] for q in range(j, k)) <= sum(m.x[i + 1, q] for q in range(j, k))

        m.climb = pyo.Constraint(pyo.RangeSet(0, n - 2), m.K, rule=climb)
        ft_order = [(i, j) for i in m.IF for j in m.K if i + 1 in m.IF]
        m.ft_in_theta = pyo.Constraint(ft_order, rule=lambda _, i, j: m.ft[i, j] <= m.ft[i + 1, j])
    return PlanModel(m, th, pr, order, k, scale, technology)


def read_plan(plan: PlanModel) -> PlanSolution:
    """The design at the model's current point (after a solver loaded one)."""
    mdl = plan.model
    k, n = plan.plans, plan.theta.size
    r = np.array([pyo.value(mdl.r[j]) for j in range(k)])
    x = np.array([[pyo.value(mdl.x[i, j]) for j in range(k)] for i in range(n)])
    chosen = x.max(axis=1) > 0.5
    return PlanSolution(
        markups=1.0 / np.maximum(r, 1e-300),
        fees=np.array([pyo.value(mdl.fee[j]) for j in range(k)]) * plan.scale,
        choice=np.where(chosen, x.argmax(axis=1), -1).astype(np.intp),
        profit=float(pyo.value(mdl.profit)) * plan.scale,
    )
