"""Incentive constraints generated on demand.

All pairs means N(N-1) IC rows, almost all slack at the optimum, and Ipopt's
linear algebra grows with them. Start from neighbouring types, solve, check all
pairs with one vectorized numpy pass over the solved menu (never N^2 Pyomo
constraints), add the worst violated pairs per type, re-solve warm-started from
the previous primal and dual point, and stop when no pair is violated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus

__all__ = ["GenerationLog", "solve_once", "solve_with_generation", "violated_pairs"]

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
    final_violation: float  # worst IC gain at the last solved point (before adding pairs)
    iterations: int


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
    time_limit: float | None = None,
    warm: bool = False,
) -> Any:
    """One solve that never raises on a non-optimal end and loads nothing by itself."""
    kwds: dict[str, Any] = {"warm_start_multipliers": True} if warm else {}
    return opt.solve(
        model,
        tee=tee,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options=options,
        time_limit=time_limit,
        **kwds,
    )


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
    warm_options = {**WARM_START_OPTIONS, **options}
    added = iterations = 0
    worst = float("nan")
    for rnd in range(1, max_rounds + 1):
        warm = rnd > 1
        results = solve_once(opt, model, warm_options if warm else options, tee, time_limit, warm)
        iterations += results.iteration_count or 0
        if results.solution_status == SolutionStatus.noSolution:
            break
        results.solution_loader.load_vars()
        results.solution_loader.load_import_suffixes()
        arrays = block.menu_arrays()
        prec, payment = arrays[block.characteristic], arrays["payment"]
        scale = max(1.0, float(np.abs(payment).max(initial=0.0)))
        pairs, worst = violated_pairs(
            lambda rows, p=prec: block.value_matrix(p, rows), payment, tol * scale, per_type
        )
        if not pairs:
            break
        added += block.add_incentive_pairs([(labels[i], labels[k]) for i, k in pairs])
    return results, GenerationLog(rnd, added, len(block.ic_pairs), worst, iterations)
