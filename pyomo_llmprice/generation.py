"""Incentive constraints generated on demand.

All pairs means N(N-1) IC rows, almost all slack at the optimum, and Ipopt's
linear algebra grows with them. Start from neighbouring types, solve, check all
pairs with one vectorized numpy pass over the solved menu (never N^2 Pyomo
constraints), add the worst violated pairs per type, re-solve warm-started from
the previous point, and stop when no pair is violated. On a
product grid of types, the first violations also bring in every envious type's
grid neighbours (diagonals included): those are the pairs that bind, and finding
them a few per round costs tens of rounds. Types the neighbour seed already
satisfies get no extra rows (they would only slow Ipopt down).

Only the public ``pyomo.contrib.solver`` contract is used, so any Pyomo NLP solver
can drive the rounds and the retry: the warm start is the variables' values (every
NLP interface starts from them), iterations are read from ``extra_info`` where the
solver reports them, and a point is loaded with ``load_vars``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import Results, SolutionStatus, TerminationCondition

from pyomo_llmprice import limits
from pyomo_llmprice.blocks.menu import menu_block
from pyomo_llmprice.limits import Deadline
from pyomo_llmprice.outcomes import iteration_count, load_point
from pyomo_llmprice.progress import progress_bar
from pyomo_llmprice.solvers.options import WARM_START_OPTIONS

__all__ = [
    "GenerationLog",
    "RetryLog",
    "grid_neighbour_pairs",
    "solve_menu",
    "solve_once",
    "solve_with_generation",
    "stopped_results",
    "violated_pairs",
]


@dataclass
class GenerationLog:
    """What constraint generation did."""

    rounds: int
    constraints_added: int
    final_pairs: int
    final_violation: float  # worst IC gain at the last solved point (before adding pairs)
    iterations: int | None  # None when the solver does not report its iterations
    seeded: int = 0  # grid-neighbour pairs added with the first violated ones (not counted above)


#: product grids of at most this many dimensions are seeded with all 3^D - 1 neighbours
GRID_SEED_MAX_DIMS = 3


def grid_neighbour_pairs(points: np.ndarray) -> list[tuple[int, int]]:
    """Both directions between each type and every type around it on a product grid.

    Diagonal neighbours matter: on the Rochet-Chone 50 x 50 grid, from the axis
    neighbours alone generation needed 23 rounds (2464 Ipopt iterations) to find the
    diagonal pairs that bind; with every envious type's eight neighbours added at the
    first violation, 4 rounds (123 iterations while warm rounds also reused Ipopt's
    multipliers, 154 from the point alone). Types that do not form a full product
    grid (or have more than :data:`GRID_SEED_MAX_DIMS` dimensions, where 3^D - 1
    neighbours are too many) get no pairs here.
    """
    pts = np.asarray(points, float)
    if pts.ndim != 2 or len(pts) < 2 or not 1 <= pts.shape[1] <= GRID_SEED_MAX_DIMS:
        return []
    ranks, shape = [], []
    for col in pts.T:
        values, inverse = np.unique(np.round(col, 12), return_inverse=True)
        ranks.append(inverse.ravel())
        shape.append(len(values))
    rank = np.column_stack(ranks)
    if int(np.prod(shape)) != len(pts):
        return []
    index = np.full(shape, -1, dtype=np.int64)
    index[tuple(rank.T)] = np.arange(len(pts))
    if (index < 0).any():  # repeated points: not a product grid
        return []
    pairs: list[tuple[int, int]] = []
    for step in itertools.product((-1, 0, 1), repeat=pts.shape[1]):
        if not any(step):
            continue
        moved = rank + np.array(step)
        ok = ((moved >= 0) & (moved < np.array(shape))).all(axis=1)
        j = index[tuple(moved[ok].T)]
        pairs += zip(np.nonzero(ok)[0].tolist(), j.tolist(), strict=True)
    return pairs


def _add_pairs(block: Any, labels: list[Any], pairs: list[tuple[int, int]]) -> int:
    """Impose (type, bundle) index pairs in batches (the block's duplicate check is per batch)."""
    added = 0
    for start in range(0, len(pairs), 1000):
        batch = pairs[start : start + 1000]
        added += block.add_incentive_pairs([(labels[i], labels[k]) for i, k in batch])
    return added


def violated_pairs(
    value_rows: Callable[[slice], np.ndarray],
    payment: np.ndarray,
    tol: float,
    per_type: int = 3,
    chunk: int = 2048,
) -> tuple[list[tuple[int, int]], float]:
    """The `per_type` worst violated (type, bundle) pairs of each type, and the worst gain.

    `value_rows(rows)` gives the values of every bundle to those types (as in
    :func:`pyomo_llmprice.verify.verify_menu`); rows go in chunks, so memory stays
    linear in N.
    """
    n = len(payment)
    out: list[tuple[int, int]] = []
    worst = 0.0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        util = value_rows(slice(rows[0], rows[-1] + 1)) - payment[None, :]
        gain = util - util[np.arange(len(rows)), rows][:, None]
        gain[np.arange(len(rows)), rows] = -np.inf
        worst = max(worst, float(gain.max(initial=0.0)))
        k = min(per_type, n - 1)
        for a in np.nonzero(gain.max(axis=1) > tol)[0]:
            cand = np.argpartition(-gain[a], k - 1)[:k]
            out += [(int(rows[a]), int(j)) for j in cand if gain[a, j] > tol]
    return out, worst


def solve_once(
    opt: Any,
    model: Any,
    options: dict[str, Any],
    tee: bool = False,
    time_limit: float | Deadline | None = None,
) -> Any:
    """One solve that never raises on a non-optimal end and loads nothing by itself.

    Only options of Pyomo's ``SolverConfig`` are passed (a solver such as Pyomo's
    ``ipopt`` refuses any other). It starts from the model's variable values. A
    :class:`~pyomo_llmprice.limits.Deadline` gives the solver what is left of it,
    and one already spent (by the model's construction, earlier rounds) is a
    ``time_limit`` result without starting the solver at all.
    """
    if isinstance(time_limit, Deadline) and time_limit.expired():
        return stopped_results(None, "time_limit")
    return opt.solve(
        model,
        tee=tee,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options=options,
        time_limit=limits.seconds_left(time_limit),
    )


def stopped_results(results: Any, reason: str) -> Any:
    """`results` (or, for None, an empty run without a point) marked as stopped by
    `reason` (``"time_limit"`` or ``"interrupted"``, from :func:`limits.stop_reason`).

    Between rounds or before a retry the last point may be optimal for the rows
    imposed so far but is not the answer: its status becomes the limit that ended it.
    """
    if results is None:
        results = Results()
        results.extra_info.iteration_count = 0
        results.solution_status = SolutionStatus.noSolution
        results.timing_info.wall_time = 0.0
    results.termination_condition = (
        TerminationCondition.maxTimeLimit
        if reason == "time_limit"
        else TerminationCondition.interrupted
    )
    if results.solution_status == SolutionStatus.optimal:
        results.solution_status = SolutionStatus.feasible
    return results


def solve_with_generation(
    model: Any,
    solver: str,
    options: dict[str, Any],
    tee: bool = False,
    time_limit: float | Deadline | None = None,
    tol: float = 1e-9,
    per_type: int = 3,
    max_rounds: int = 50,
) -> tuple[Any, GenerationLog]:
    """Solve `model.menu` with generated IC pairs; returns the last results and a log.

    `time_limit` (seconds or a Deadline) bounds all rounds together; Ctrl-C or the
    deadline between rounds ends with the last point and status ``interrupted`` or
    ``time_limit``.
    """
    time_limit = limits.as_deadline(time_limit)
    block = menu_block(model)
    labels = list(block.types)
    neighbours = grid_neighbour_pairs(block.description())
    seeded = 0
    cold = False
    opt = SolverFactory(solver)
    warm_options = {**WARM_START_OPTIONS, **options}
    added = 0
    iterations: int | None = 0
    worst = float("nan")
    # rounds until no pair is violated: their number is not known in advance (no total);
    # silent while Ipopt's own log streams (tee), which a bar would garble
    with progress_bar(
        desc="IC generation", unit=" round", leave=False, enabled=False if tee else None
    ) as bar:
        for rnd in range(1, max_rounds + 1):
            warm = rnd > 1 and not cold
            results = solve_once(opt, model, warm_options if warm else options, tee, time_limit)
            count = iteration_count(results)
            iterations = None if count is None or iterations is None else iterations + count
            bar.update(1)
            if not load_point(results):  # the next round starts from this point
                break
            arrays = block.menu_arrays()
            prec, payment = arrays[block.characteristic], arrays["payment"]
            scale = max(1.0, float(np.abs(payment).max(initial=0.0)))
            pairs, worst = violated_pairs(
                lambda rows, p=prec: block.value_matrix(p, rows), payment, tol * scale, per_type
            )
            bar.set_postfix_str(f"{len(block.ic_pairs)} pairs, worst gain {worst:.2g}")
            if not pairs:
                break
            cold = False
            if neighbours:  # first violations on a grid: each envious type's neighbours too
                envious = {i for i, _ in pairs}
                seeded = _add_pairs(block, labels, [(i, j) for i, j in neighbours if i in envious])
                neighbours = []
                # so many new rows that a start hugging the old point misleads: the next
                # round takes the point with the plain options (Rochet-Chone 30 x 30: 38
                # iterations, 331 with WARM_START_OPTIONS)
                cold = seeded > 0
            added += _add_pairs(block, labels, pairs)
            reason = limits.stop_reason(time_limit)
            if reason is not None:  # violated pairs remain: the point is not the answer
                results = stopped_results(results, reason)
                break
    return results, GenerationLog(rnd, added, len(block.ic_pairs), worst, iterations, seeded)


#: statuses worth a second attempt: the solver lost its way, it did not hit a limit
RETRY_OUTCOMES = ("not_converged", "infeasible")

#: weight of the proximal term of the regularized retry (relative to expected profit)
REGULARIZATION = 1e-6


@dataclass
class RetryLog:
    """A failed solve, the regularized solve that replaced it, and the polish after it."""

    first_outcome: str
    regularized_outcome: str
    polished_outcome: str
    regularization: float

    def describe(self) -> str:
        return (
            f"first solve ended {self.first_outcome}; retried with a proximal term "
            f"{self.regularization:g} * E[t^2 + |q|^2] ({self.regularized_outcome}), then "
            f"the original problem warm-started from it ({self.polished_outcome})"
        )


def solve_menu(
    model: Any,
    solver: str,
    options: dict[str, Any],
    tee: bool = False,
    time_limit: float | Deadline | None = None,
    retry: bool = True,
) -> tuple[Any, GenerationLog | None, RetryLog | None]:
    """Solve `model.menu` (generated IC if its block says so); retry once if Ipopt fails.

    Degenerate menus (many binding constraints, pooled types) can break Ipopt's
    constraint qualifications: restoration failure, tiny steps. The retry solves
    the problem with a strictly concave proximal term ``- eps E[t^2 + |q|^2]``
    (unique optimum, regular multipliers), then re-solves the *original* problem
    warm-started from that point: the reported menu is always the original
    problem's, and the result says that a retry happened.

    `time_limit` (seconds from now, or a :class:`~pyomo_llmprice.limits.Deadline`
    started with the command) bounds every solver call, round and retry together.
    Within this call the first Ctrl-C stops Ipopt at its next iteration (status
    ``interrupted``) instead of being lost in C code (:func:`limits.solving`).
    """
    deadline = limits.as_deadline(time_limit)
    with limits.solving(deadline):
        return _solve_menu(model, solver, options, tee, deadline, retry)


def _solve_menu(
    model: Any,
    solver: str,
    options: dict[str, Any],
    tee: bool,
    time_limit: Deadline | None,
    retry: bool,
) -> tuple[Any, GenerationLog | None, RetryLog | None]:
    """:func:`solve_menu` inside its limits scope."""
    from pyomo_llmprice.outcomes import solver_outcome

    opt = SolverFactory(solver)
    generation = None
    if menu_block(model).ic_set == "generated":
        results, generation = solve_with_generation(model, solver, options, tee, time_limit)
    else:
        results = solve_once(opt, model, options, tee, time_limit)
    first = solver_outcome(results)
    if not retry or first not in RETRY_OUTCOMES:
        return results, generation, None
    reason = limits.stop_reason(time_limit)
    if reason is not None:  # no time (or leave) for a second attempt
        return stopped_results(results, reason), generation, None
    block = menu_block(model)
    objective = block.component("profit_objective")
    if objective is None:  # the user's own objective: we do not know what to regularize
        return results, generation, None
    q = getattr(block, block.characteristic)
    n = len(block.types)
    block._regularized_objective = pyo.Objective(
        expr=block.expected_profit
        - REGULARIZATION
        * sum(
            block.prob[k] * (block.payment[k] ** 2 + sum(q[k, g] ** 2 for g in block.goods_set))
            for k in block.types
        ),
        sense=pyo.maximize,
    )
    block.scaling_factor[block._regularized_objective] = float(n)
    objective.deactivate()
    try:
        regularized = solve_once(opt, model, options, tee, time_limit)
    finally:
        objective.activate()
        block.del_component("_regularized_objective")
    reg_outcome = solver_outcome(regularized)
    if not load_point(regularized):  # the polish starts from the regularized point
        return results, generation, RetryLog(first, reg_outcome, "not run", REGULARIZATION)
    reason = limits.stop_reason(time_limit)
    if reason is not None:  # the regularized point is not the original problem's answer
        log = RetryLog(first, reg_outcome, "not run", REGULARIZATION)
        return stopped_results(results, reason), generation, log
    polished = solve_once(opt, model, {**WARM_START_OPTIONS, **options}, tee, time_limit)
    log = RetryLog(first, reg_outcome, solver_outcome(polished), REGULARIZATION)
    return polished, generation, log
