"""Incentive constraints generated on demand.

All pairs means N(N-1) IC rows, almost all slack at the optimum, and Ipopt's
linear algebra grows with them. Start from neighbouring types, solve, check all
pairs with one vectorized numpy pass over the solved menu (never N^2 Pyomo
constraints), add the worst violated pairs per type, re-solve warm-started from
the previous point, and stop when no pair is violated. On a
product grid of types, the first violations also bring in every envious type's
grid neighbours (diagonals included): those are the pairs that bind, and finding
them a few per round costs tens of rounds. Types the neighbour seed already
satisfies get no extra rows (they would only slow Ipopt down). Later violated
pairs on a grid come with their shifts by one cell (the next round's violations
lie next to this round's).

Only the public ``pyomo.contrib.solver`` contract is used, so any Pyomo NLP solver
can drive the rounds and the retry: the warm start is the variables' values (every
NLP interface starts from them), plus the multipliers for a solver whose config
declares ``warm_start_multipliers`` (this package's Ipopt interfaces; carried in
IMPORT suffixes that are removed afterwards), iterations are read from
``extra_info`` where the solver reports them, and a point is loaded with
``load_vars``. Rochet-Chone 100 x 100 (10^4 two-dimensional types) is solved and
verified on its 10^8 pairs in about 7 minutes this way (benchmarks/scale_targets.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import Results, SolutionStatus, TerminationCondition
from pyomo.core.base.block import BlockData

from pyomo_llmprice import limits
from pyomo_llmprice.blocks.menu import menu_block
from pyomo_llmprice.limits import Deadline
from pyomo_llmprice.outcomes import iteration_count, load_point
from pyomo_llmprice.progress import progress_bar
from pyomo_llmprice.solvers.options import WARM_START_MULTIPLIER_OPTIONS, WARM_START_OPTIONS

__all__ = [
    "GenerationLog",
    "ProductGrid",
    "RetryLog",
    "grid_neighbour_pairs",
    "product_grid",
    "shifted_pairs",
    "solve_menu",
    "solve_once",
    "solve_with_generation",
    "stopped_results",
    "takes_multipliers",
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
    seeded: int = 0  # grid-neighbour pairs added at the first violations (not counted above)
    shifted: int = 0  # shifts of violated pairs on a grid (shifted_pairs; not counted above)
    wall_time: float | None = None  # seconds in the solver over all rounds (None: unknown)


#: product grids of at most this many dimensions are seeded with all 3^D - 1 neighbours
GRID_SEED_MAX_DIMS = 3


@dataclass(frozen=True)
class ProductGrid:
    """Types that form a full product grid: each type's rank along every dimension."""

    rank: np.ndarray  # (N, D) position of each type along each dimension
    index: np.ndarray  # the type at each grid position (shape `shape`)

    @property
    def shape(self) -> np.ndarray:
        return np.array(self.index.shape)

    def moved(self, types: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of `types` have a type `step` grid cells away, and that type."""
        pos = self.rank[types] + step
        ok = ((pos >= 0) & (pos < self.shape)).all(axis=1)
        return ok, self.index[tuple(pos[ok].T)]


def product_grid(points: np.ndarray) -> ProductGrid | None:
    """The product grid the types form, or None (repeated points, a missing cell, or more
    than :data:`GRID_SEED_MAX_DIMS` dimensions, where 3^D - 1 neighbours are too many)."""
    pts = np.asarray(points, float)
    if pts.ndim != 2 or len(pts) < 2 or not 1 <= pts.shape[1] <= GRID_SEED_MAX_DIMS:
        return None
    ranks, shape = [], []
    for col in pts.T:
        values, inverse = np.unique(np.round(col, 12), return_inverse=True)
        ranks.append(inverse.ravel())
        shape.append(len(values))
    rank = np.column_stack(ranks)
    if int(np.prod(shape)) != len(pts):
        return None
    index = np.full(shape, -1, dtype=np.int64)
    index[tuple(rank.T)] = np.arange(len(pts))
    if (index < 0).any():  # repeated points: not a product grid
        return None
    return ProductGrid(rank, index)


def _unit_steps(dims: int) -> list[np.ndarray]:
    return [np.array(s) for s in itertools.product((-1, 0, 1), repeat=dims) if any(s)]


def grid_neighbour_pairs(points: np.ndarray) -> list[tuple[int, int]]:
    """Both directions between each type and every type around it on a product grid.

    Diagonal neighbours matter: on the Rochet-Chone 50 x 50 grid, from the axis
    neighbours alone generation needed 23 rounds (2464 Ipopt iterations) to find the
    diagonal pairs that bind; with every envious type's eight neighbours added at the
    first violation, 4 rounds (123 iterations while warm rounds also reused Ipopt's
    multipliers, 154 from the point alone). Types that do not form a full product
    grid (:func:`product_grid`) get no pairs here.
    """
    grid = product_grid(points)
    if grid is None:
        return []
    everyone = np.arange(len(grid.rank))
    pairs: list[tuple[int, int]] = []
    for step in _unit_steps(grid.rank.shape[1]):
        ok, j = grid.moved(everyone, step)
        pairs += zip(np.nonzero(ok)[0].tolist(), j.tolist(), strict=True)
    return pairs


def shifted_pairs(pairs: list[tuple[int, int]], grid: ProductGrid) -> list[tuple[int, int]]:
    """Each pair moved one grid cell in every direction, both ends together (same offset).

    Violations come in bands: on Rochet-Chone 50 x 50 (grid neighbours imposed) every
    type envious in the second round was within one cell of a type envious in the
    first, and these shifts of the first round's 165 violated pairs held 67 of the 98
    pairs the second round would have added.
    """
    if not pairs:
        return []
    arr = np.asarray(pairs, dtype=np.int64)
    out: list[tuple[int, int]] = []
    for step in _unit_steps(grid.rank.shape[1]):
        ok_i, i = grid.moved(arr[:, 0], step)
        ok_k, k = grid.moved(arr[:, 1], step)
        both = ok_i & ok_k
        out += zip(i[both[ok_i]].tolist(), k[both[ok_k]].tolist(), strict=True)
    return out


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
    multipliers: bool = False,
) -> Any:
    """One solve that never raises on a non-optimal end and loads nothing by itself.

    Only options of Pyomo's ``SolverConfig`` are passed (a solver such as Pyomo's
    ``ipopt`` refuses any other), and ``warm_start_multipliers`` when `multipliers`
    (only for a solver whose config declares it: :func:`takes_multipliers`). It starts
    from the model's variable values. A :class:`~pyomo_llmprice.limits.Deadline` gives
    the solver what is left of it, and one already spent (by the model's construction,
    earlier rounds) is a ``time_limit`` result without starting the solver at all.
    """
    if isinstance(time_limit, Deadline) and time_limit.expired():
        return stopped_results(None, "time_limit")
    extra = {"warm_start_multipliers": True} if multipliers else {}
    return opt.solve(
        model,
        tee=tee,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options=options,
        time_limit=limits.seconds_left(time_limit),
        **extra,
    )


def takes_multipliers(opt: Any) -> bool:
    """Does `opt` start from multipliers in the model's IMPORT ``dual``/``rc`` suffixes
    (its config declares ``warm_start_multipliers``, as this package's in-memory NLP
    solvers do)? Other solvers get the primal point only."""
    config = getattr(opt, "config", None)
    try:
        return config is not None and "warm_start_multipliers" in config
    except TypeError:  # a config that is not a ConfigDict
        return False


@contextmanager
def _multiplier_suffixes(model: Any, wanted: bool) -> Iterator[bool]:
    """IMPORT ``dual`` and ``rc`` suffixes on `model` for the rounds to pass multipliers
    through; those added here are removed afterwards (a user's own stay, filled).
    Yields whether multipliers can be passed."""
    added = []
    usable = wanted and isinstance(model, BlockData)
    if usable:
        for name in ("dual", "rc"):
            have = model.component(name)
            if have is None:
                model.add_component(name, pyo.Suffix(direction=pyo.Suffix.IMPORT))
                added.append(name)
            elif not (isinstance(have, pyo.Suffix) and have.import_enabled()):
                usable = False  # a component of that name that will not take them
    try:
        yield usable
    finally:
        for name in added:
            model.del_component(name)


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

    On a product grid of types (:func:`product_grid`) the first violations bring in
    every envious type's grid neighbours, and that round adds nothing else: the pairs
    violated at the neighbour seed's point are mostly those neighbours, the rest far
    pairs of a point the neighbours will move (Rochet-Chone 70 x 70 added 7,759 of them
    in that round, and the later rounds took 117, 66, 43 and 27 iterations). After
    that, each violated pair also comes with its :func:`shifted_pairs`. Rounds after
    the first start from the previous point; with a solver that takes multipliers
    (:func:`takes_multipliers`) from the previous multipliers too
    (WARM_START_MULTIPLIER_OPTIONS), otherwise with WARM_START_OPTIONS; the round after
    the neighbours were added starts from the point with the plain options.

    `time_limit` (seconds or a Deadline) bounds all rounds together; Ctrl-C or the
    deadline between rounds ends with the last point and status ``interrupted`` or
    ``time_limit``.
    """
    opt = SolverFactory(solver)
    with _multiplier_suffixes(model, takes_multipliers(opt)) as multipliers:
        return _generate(
            model, opt, options, tee, time_limit, tol, per_type, max_rounds, multipliers
        )


def _generate(
    model: Any,
    opt: Any,
    options: dict[str, Any],
    tee: bool,
    time_limit: float | Deadline | None,
    tol: float,
    per_type: int,
    max_rounds: int,
    multipliers: bool,
) -> tuple[Any, GenerationLog]:
    """:func:`solve_with_generation` with its solver made (and the suffixes that carry
    multipliers between rounds in place when `multipliers`)."""
    time_limit = limits.as_deadline(time_limit)
    block = menu_block(model)
    labels = list(block.types)
    grid = product_grid(block.description())
    neighbours = grid_neighbour_pairs(block.description()) if grid is not None else []
    seeded = shifted = 0
    cold = False
    if multipliers:
        warm_options = {**WARM_START_MULTIPLIER_OPTIONS, **options}
    else:
        warm_options = {**WARM_START_OPTIONS, **options}
    added = 0
    iterations: int | None = 0
    wall: float | None = 0.0
    worst = float("nan")
    # rounds until no pair is violated: their number is not known in advance (no total);
    # silent while Ipopt's own log streams (tee), which a bar would garble
    with progress_bar(
        desc="IC generation", unit=" round", leave=False, enabled=False if tee else None
    ) as bar:
        for rnd in range(1, max_rounds + 1):
            warm = rnd > 1 and not cold
            results = solve_once(
                opt,
                model,
                warm_options if warm else options,
                tee,
                time_limit,
                multipliers=warm and multipliers,
            )
            count = iteration_count(results)
            iterations = None if count is None or iterations is None else iterations + count
            spent = results.timing_info.wall_time
            wall = None if spent is None or wall is None else wall + spent
            bar.update(1)
            if not load_point(results):  # the next round starts from this point
                break
            if multipliers:
                _load_multipliers(model, results)
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
            if neighbours:  # first violations on a grid: each envious type's neighbours
                envious = {i for i, _ in pairs}
                seeded = _add_pairs(block, labels, [(i, j) for i, j in neighbours if i in envious])
                neighbours = []
                # so many new rows that a start hugging the old point misleads: the next
                # round takes the point with the plain options (Rochet-Chone 30 x 30: 38
                # iterations, 331 with WARM_START_OPTIONS)
                cold = seeded > 0
            if not cold:
                added += _add_pairs(block, labels, pairs)
                if grid is not None:
                    shifted += _add_pairs(block, labels, shifted_pairs(pairs, grid))
            reason = limits.stop_reason(time_limit)
            if reason is not None:  # violated pairs remain: the point is not the answer
                results = stopped_results(results, reason)
                break
    log = GenerationLog(rnd, added, len(block.ic_pairs), worst, iterations, seeded, shifted, wall)
    return results, log


def _load_multipliers(model: Any, results: Any) -> None:
    """The solve's multipliers into the model's ``dual``/``rc`` suffixes (emptied when the
    solver has none to give, so that no round starts from an older round's)."""
    try:
        results.solution_loader.load_import_suffixes()
    except Exception:  # any refusal: the next round starts without them
        for name in ("dual", "rc"):
            model.component(name).clear()


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
    if objective is None or not objective.active:  # a user's objective: what to regularize?
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
