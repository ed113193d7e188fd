"""The buyer's optimality conditions as constraints, for a seller who anticipates them.

A buyer of index theta facing per-token prices ``p`` (numbers or the seller's Pyomo
expressions) buys ``(X, Y, Z)`` maximizing ``theta P(X, Y, Z) - p . (X, Y, Z)``. With
decreasing returns (concave value) the KKT conditions characterize that choice:

* ``X, Y`` interior (precision has infinite slope at zero tokens):
  ``theta dP/dX = p_x`` and ``theta dP/dY = p_y`` (not multiplied through by X: that form
  has the spurious root X = 0, which Ipopt finds);
* ``Z >= 0`` complementary to ``p_z - theta dP/dZ >= 0`` (no fine-tuning below the
  threshold), a :class:`pyomo.mpec.Complementarity`.

Derivatives of any :class:`~pyomo_llmprice.technology.PrecisionFunction` are taken
symbolically by Pyomo. NLP solvers silently ignore an untransformed complementarity
(ours refuse it), so :func:`solve_mpec` always applies ``mpec.simple_nonlinear``
explicitly, checks that no active Complementarity is left, and tightens its relaxation
``Z * (p_z - theta dP/dZ) <= eps`` along a short homotopy down to 1e-12 (the exact MPEC
has no interior, which interior-point solvers dislike).

:func:`kkt_best_response` solves buyers alone (validated against the closed forms);
:class:`MpecPlanProblem` is the seller's problem for a fixed assignment of types to plans
with every buyer's KKT conditions as constraints: the route :func:`design_plans` takes
for precision functions without a closed-form demand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from numpy.typing import ArrayLike, NDArray
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.core.expr.calculus.derivatives import Modes, differentiate
from pyomo.mpec import Complementarity, complements

from pyomo_llmprice.generation import solve_once
from pyomo_llmprice.outcomes import load_point
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.solvers.options import MPEC_IPOPT_OPTIONS
from pyomo_llmprice.tariffs.buyers import BuyerModel, buyer_for
from pyomo_llmprice.tariffs.fees import PlanFees
from pyomo_llmprice.technology import Technology

__all__ = [
    "HOMOTOPY",
    "MpecPlanProblem",
    "add_buyer_kkt",
    "kkt_best_response",
    "solve_mpec",
    "untransformed_complementarities",
]

FloatArray = NDArray[np.float64]

#: relaxation bounds of the complementarity products, solved in turn (warm-started). It
#: stops at 1e-10, not at 0: the exact MPEC has no strictly feasible point; there Ipopt was
#: seen to jump to a worse KKT point of the seller's problem (profit 0.0877 instead of
#: 0.0925 on paper_theta_20, K = 2) or to hit its iteration limit (at 1e-12)
HOMOTOPY = (1e-4, 1e-6, 1e-8, 1e-10)

#: a homotopy step that fails after this bound was reached keeps the previous solution
ACCEPTABLE_BOUND = 1e-8

#: lower bound on input/output tokens in KKT blocks (the FOCs hold in the interior only)
TOKEN_FLOOR = 1e-12


def add_buyer_kkt(
    block: pyo.Block,
    theta: float,
    prices: Sequence[Any],
    technology: Technology,
    start: ArrayLike | None = None,
) -> pyo.Block:
    """Declare on ``block`` the buyer's tokens, value and KKT conditions for ``prices``.

    ``prices`` are numbers or Pyomo expressions (the seller's decision variables).
    Adds ``X, Y, Z``, expressions ``precision``, ``value`` (``theta * precision``),
    ``spend``, ``surplus`` (before any fee), constraints ``foc_input``, ``foc_output``
    and the complementarity ``finetune``.
    """
    prec = technology.precision
    x0, y0, z0 = (1.0, 1.0, 0.0) if start is None else (float(v) for v in np.ravel(start))
    block.X = pyo.Var(bounds=(TOKEN_FLOOR, None), initialize=max(x0, 1e-6))
    block.Y = pyo.Var(bounds=(TOKEN_FLOOR, None), initialize=max(y0, 1e-6))
    block.Z = pyo.Var(bounds=(0.0, None), initialize=max(z0, 0.0))
    a_in, a_out = prec.factors(block.X, block.Y)
    block.precision = pyo.Expression(expr=prec.precision(a_in, a_out, block.Z))
    body = block.precision.expr
    d_x = differentiate(body, wrt=block.X, mode=Modes.reverse_symbolic)
    d_y = differentiate(body, wrt=block.Y, mode=Modes.reverse_symbolic)
    d_z = differentiate(body, wrt=block.Z, mode=Modes.reverse_symbolic)
    px, py, pz = prices
    block.value = pyo.Expression(expr=theta * block.precision)
    block.spend = pyo.Expression(expr=px * block.X + py * block.Y + pz * block.Z)
    block.surplus = pyo.Expression(expr=block.value - block.spend)
    block.foc_input = pyo.Constraint(expr=theta * d_x == px)
    block.foc_output = pyo.Constraint(expr=theta * d_y == py)
    block.finetune = Complementarity(expr=complements(block.Z >= 0, pz - theta * d_z >= 0))
    return block


def untransformed_complementarities(model: pyo.Block) -> list[str]:
    """Names of active Complementarity components an NLP solver would drop or refuse."""
    return [
        c.name for c in model.component_objects(Complementarity, active=True, descend_into=True)
    ]


def solve_mpec(
    model: pyo.ConcreteModel,
    solver: str = DEFAULT_SOLVER,
    options: dict[str, Any] | None = None,
    homotopy: Sequence[float] = HOMOTOPY,
) -> tuple[bool, str]:
    """Transform the complementarities explicitly, then solve along the relaxation homotopy.

    Returns ``(converged, termination)`` of the last (tightest) solve; loads the last
    solution that exists. Raises if a Complementarity survives the transformation.
    """
    if not hasattr(model, "mpec_bound"):
        pyo.TransformationFactory("mpec.simple_nonlinear").apply_to(model, mpec_bound=homotopy[0])
    left = untransformed_complementarities(model)
    if left:
        raise RuntimeError(f"complementarity left untransformed (would be ignored): {left}")
    opts = dict(MPEC_IPOPT_OPTIONS)
    opts.update(options or {})
    opt = SolverFactory(solver)
    variables = list(model.component_data_objects(pyo.Var, descend_into=True))
    converged, termination = False, "not_solved"
    kept: list[Any] | None = None  # values of the last converged step
    kept_bound = math.inf
    for bound in homotopy:
        model.mpec_bound.set_value(bound)
        results = solve_once(opt, model, opts)
        termination = results.termination_condition.name
        converged = (
            results.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
            and results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
        )
        load_point(results)
        if converged:
            kept, kept_bound = [v.value for v in variables], bound
            continue
        if kept is not None and kept_bound <= ACCEPTABLE_BOUND:
            for v, val in zip(variables, kept, strict=True):
                v.set_value(val, skip_validation=True)
            model.mpec_bound.set_value(kept_bound)
            converged, termination = True, f"kept the solution at bound {kept_bound:g}"
        break
    return converged, termination


def kkt_best_response(
    theta: ArrayLike,
    prices: ArrayLike,
    technology: Technology,
    start: ArrayLike | None = None,
    solver: str = DEFAULT_SOLVER,
) -> tuple[FloatArray, bool]:
    """Tokens ``(n, 3)`` of buyers ``theta`` at ``prices`` (3,) from their KKT system alone.

    The objective is each buyer's own surplus (its KKT point is then the maximizer, which
    a concave value makes unique). ``start`` (n, 3) warm-starts the tokens. Whether a
    buyer buys at all is the fee's business (:func:`~pyomo_llmprice.tariffs.best_response`).
    """
    th = np.atleast_1d(np.asarray(theta, float))
    p = [float(v) for v in np.ravel(prices)]
    starts = None if start is None else np.asarray(start, float).reshape(th.size, 3)
    m = pyo.ConcreteModel()
    m.buyer = pyo.Block(range(th.size))
    for i in range(th.size):
        guess = None if starts is None else starts[i]
        add_buyer_kkt(m.buyer[i], float(th[i]), p, technology, guess)
    m.objective = pyo.Objective(
        expr=sum(m.buyer[i].surplus for i in range(th.size)), sense=pyo.maximize
    )
    converged, _ = solve_mpec(m, solver)
    tokens = np.array([[pyo.value(b.X), pyo.value(b.Y), pyo.value(b.Z)] for b in m.buyer.values()])
    return tokens, converged


class MpecPlanProblem:
    """The seller's K-plan problem for a fixed assignment, buyers' KKT as constraints.

    Plan k charges ``F_k + m_k c . tokens``. Each served type's tokens satisfy its KKT
    conditions at its plan's prices; the lowest type of each group also holds a copy
    facing the plan below (downward IC) and the highest type of each group one facing the
    plan above (upward IC); IR of the lowest served type. Objective: expected profit.
    Same interface as the closed-form problem of :mod:`.design` (``optimize_markups``).
    """

    def __init__(
        self,
        theta: FloatArray,
        prob: FloatArray,
        technology: Technology,
        buyer: BuyerModel | None = None,
        solver: str = DEFAULT_SOLVER,
    ) -> None:
        self.theta = theta
        self.prob = prob
        self.technology = technology
        self.buyer = buyer if buyer is not None else buyer_for(technology)
        self.unit_costs = np.asarray(self.buyer.unit_costs, float)
        self.solver = solver
        self._fees = PlanFees(theta, prob, self.buyer, self.unit_costs)

    def surplus(self, theta: FloatArray, markup: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Surplus before the fee and the seller's token margin (through the buyer model)."""
        return self._fees.surplus(theta, markup)

    def fees_and_profit(
        self, bounds: NDArray[np.intp], markup: FloatArray
    ) -> tuple[FloatArray, float, FloatArray]:
        """The fee rule of :class:`~pyomo_llmprice.tariffs.fees.PlanFees`."""
        return self._fees.fees_and_profit(bounds, markup)

    def build(self, bounds: NDArray[np.intp], start: FloatArray) -> pyo.ConcreteModel:
        k = len(bounds) - 1
        c = self.unit_costs
        m = pyo.ConcreteModel()
        m.plans = pyo.RangeSet(0, k - 1)
        m.markup = pyo.Var(
            m.plans, bounds=(0.5, 1e4), initialize=lambda _, j: float(start[min(j, len(start) - 1)])
        )
        m.fee = pyo.Var(m.plans, initialize=0.0)
        pairs: list[tuple[int, int]] = []  # (type, plan)
        group = {}
        for j in range(k):
            for i in range(int(bounds[j]), int(bounds[j + 1])):
                pairs.append((i, j))
                group[i] = j
        for j in range(1, k):
            pairs.append((int(bounds[j]), j - 1))  # lowest of group j on the plan below
            pairs.append((int(bounds[j]) - 1, j))  # highest of group j-1 on the plan above
        m.pairs = pyo.Set(initialize=pairs, dimen=2)
        prices0 = np.array([start[min(j, len(start) - 1)] for j, _ in enumerate(range(k))])
        th = np.array([self.theta[i] for i, _ in pairs])
        mk = np.array([prices0[j] for _, j in pairs])
        tokens0, _ = self.buyer.demand(th, mk[:, None] * c[None, :])
        m.buyer = pyo.Block(m.pairs)
        for row, (i, j) in enumerate(pairs):
            prices = [m.markup[j] * float(cj) for cj in c]
            add_buyer_kkt(
                m.buyer[i, j], float(self.theta[i]), prices, self.technology, tokens0[row]
            )

        def net(i: int, j: int) -> Any:
            return m.buyer[i, j].surplus - m.fee[j]

        lo = int(bounds[0])
        m.ir = pyo.Constraint(expr=net(lo, 0) >= 0)
        m.ic_down = pyo.Constraint(
            pyo.RangeSet(1, k - 1) if k > 1 else [],
            rule=lambda _, j: net(int(bounds[j]), j) >= net(int(bounds[j]), j - 1),
        )
        m.ic_up = pyo.Constraint(
            pyo.RangeSet(1, k - 1) if k > 1 else [],
            rule=lambda _, j: net(int(bounds[j]) - 1, j - 1) >= net(int(bounds[j]) - 1, j),
        )

        def margin(i: int, j: int) -> Any:
            b = m.buyer[i, j]
            return m.fee[j] + (m.markup[j] - 1) * (c[0] * b.X + c[1] * b.Y + c[2] * b.Z)

        m.profit = pyo.Objective(
            expr=sum(float(self.prob[i]) * margin(i, group[i]) for i in group),
            sense=pyo.maximize,
        )
        return m

    def optimize_markups(
        self, bounds: NDArray[np.intp], start: FloatArray
    ) -> tuple[FloatArray, FloatArray, float, bool]:
        """Markups and fees of the MPEC optimum for this assignment (cyipopt_direct)."""
        m = self.build(bounds, np.asarray(start, float))
        converged, _ = solve_mpec(m, self.solver)
        markup = np.array([pyo.value(m.markup[j]) for j in m.plans])
        fees = np.array([pyo.value(m.fee[j]) for j in m.plans])
        profit = float(pyo.value(m.profit))
        if not all(math.isfinite(v) for v in (*markup, *fees, profit)):
            return np.asarray(start, float), np.zeros(len(start)), -math.inf, False
        return markup, fees, profit, converged
