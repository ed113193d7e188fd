"""Incentive constraints generated on demand.

All pairs means N(N-1) IC rows, almost all slack at the optimum, and Ipopt's
linear algebra grows with them. Start from neighbouring types, solve, check all
pairs with one vectorized numpy pass over the solved menu (never N^2 Pyomo
constraints), add the worst violated pairs per type, re-solve warm-started from
the previous primal and dual point, and stop when no pair is violated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus

__all__ = ["GenerationLog", "solve_with_generation", "violated_pairs"]

#: Ipopt options for the warm-started re-solves
WARM_START_OPTIONS = {
    "warm_start_bound_push": 1e-9,
    "warm_start_mult_bound_push": 1e-9,
    "warm_start_slack_bound_push": 1e-9,
    "mu_init": 1e-6,
}


@dataclass
class GenerationLog:
    """What constraint generation did."""

    rounds: int
    constraints_added: int
    final_pairs: int
    final_violation: float
    iterations: int


def violated_pairs(
    values: np.ndarray, payment: np.ndarray, tol: float, per_type: int = 3
) -> list[tuple[int, int]]:
    """The `per_type` worst violated (type, bundle) pairs of each type, as indices."""
    util = values - payment[None, :]
    own = np.diag(util).copy()
    gain = util - own[:, None]
    np.fill_diagonal(gain, -np.inf)
    out: list[tuple[int, int]] = []
    rows = np.nonzero(gain.max(axis=1) > tol)[0]
    for i in rows:
        k = min(per_type, gain.shape[1] - 1)
        cand = np.argpartition(-gain[i], k - 1)[:k]
        out += [(int(i), int(j)) for j in cand if gain[i, j] > tol]
    return out


def solve_with_generation(
    model: Any,
    solver: str,
    options: dict[str, Any],
    tee: bool = False,
    time_limit: float | None = None,
    tol: float = 1e-9,
    per_type: int = 3,
    max_rounds: int = 50,
) -> tuple[Any, GenerationLog]:
    """Solve `model.menu` with generated IC pairs; returns the last results and a log."""
    block = model.menu
    labels = list(block.types)
    for name in ("dual", "rc"):
        if model.component(name) is None:
            model.add_component(name, pyo.Suffix(direction=pyo.Suffix.IMPORT))
    opt = SolverFactory(solver)
    added = 0
    iterations = 0
    results = None
    for rnd in range(1, max_rounds + 1):
        opts = dict(options)
        warm = rnd > 1
        if warm:
            opts.update({k: v for k, v in WARM_START_OPTIONS.items() if k not in options})
        results = opt.solve(
            model,
            tee=tee,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
            solver_options=opts,
            time_limit=time_limit,
            warm_start_multipliers=warm,
        )
        iterations += results.iteration_count or 0
        if results.solution_status == SolutionStatus.noSolution:
            break
        results.solution_loader.load_vars()
        results.solution_loader.load_import_suffixes()
        arrays = block.menu_arrays()
        values = block.value_matrix(arrays["precision"])
        scale = max(1.0, float(np.abs(arrays["payment"]).max(initial=0.0)))
        pairs = violated_pairs(values, arrays["payment"], tol * scale, per_type)
        if not pairs:
            break
        added += block.add_incentive_pairs([(labels[i], labels[k]) for i, k in pairs])
    arrays = block.menu_arrays()
    values = block.value_matrix(arrays["precision"])
    util = values - arrays["payment"][None, :]
    worst = float((util.max(axis=1) - np.diag(util)).max(initial=0.0))
    return results, GenerationLog(rnd, added, len(block.ic_pairs), worst, iterations)
