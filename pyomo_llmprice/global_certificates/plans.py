"""Global certificates for pricing pages: how far a K-plan design is from the best K plans.

Sits above the tariff layer and the solvers: the MINLP comes from
:mod:`pyomo_llmprice.tariffs.certify`, a global solver proves a bound on it
(:mod:`pyomo_llmprice.global_certificates.global_minlp`), and the design the solver found is
re-optimized on its own plan assignment by the local design's fee rule and checked
against every type's best response, exactly like a local design
(:func:`pyomo_llmprice.tariffs.design.design_plans`). Reported per K:

* ``global_bound``: no K-plan design earns more (per buyer), to the solver's tolerance;
* ``global_gap``: ``(global_bound - best) / |best|`` with ``best`` the better verified
  design of the local search and the global solver;
* ``shortfall``: when the global solver's design beats the local one, the local design's
  relative loss, and the better design itself (``better``).

A run stopped by its time limit has status ``time_limit`` and reports the bound it
reached; ``optimal`` means the solver closed the gap (its ``limits/gap`` / ``MIPGap``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pyomo_llmprice.global_certificates.global_minlp import (
    GLOBAL_SOLVERS,
    SizeLimitError,
    solve_global,
)
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.progress import progress_bar
from pyomo_llmprice.tariffs.certify import MARKUP_FLOOR, build_plan_model, read_plan
from pyomo_llmprice.tariffs.design import PlanDesign, design_on_assignment, sorted_types
from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["CERTIFY_TOL", "PlanCertificate", "certify_plans"]

#: relative slack of a bound against a verified design (the solvers' tolerances)
CERTIFY_TOL = 1e-6


@dataclass
class PlanCertificate:
    """A global solver's verdict on the K-plan design problem, beside the local design."""

    K: int
    solver: str
    status: str
    termination: str
    global_bound: float
    global_gap: float
    local_profit: float
    global_profit: float  # exact profit of the solver's design, re-optimized and checked
    shortfall: float  # the local design's relative loss to the global one (0 if none)
    better: PlanDesign | None
    nodes: int | None
    wall_time: float
    note: str = ""

    @property
    def best_profit(self) -> float:
        return max(_finite(self.local_profit), _finite(self.global_profit))

    def to_dict(self) -> dict[str, Any]:
        """JSON fields (``better_design``: the plans, when the global design won)."""
        return {
            "K": self.K,
            "global_solver": self.solver,
            "global_status": self.status,
            "global_termination": self.termination,
            "global_bound": _json(self.global_bound),
            "global_gap": _json(self.global_gap),
            "local_profit": _json(self.local_profit),
            "global_profit": _json(self.global_profit),
            "local_shortfall": _json(self.shortfall),
            "better_design": None if self.better is None else self.better.to_dict(),
            "nodes": self.nodes,
            "wall_time": _json(self.wall_time),
            "markup_floor": MARKUP_FLOOR,
            "note": self.note,
        }


def _finite(v: float) -> float:
    return v if math.isfinite(v) else -math.inf


def _json(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _bounds(choice: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
    """Group boundaries and plan of each group from a monotone assignment (None if empty)."""
    served = np.flatnonzero(choice >= 0)
    if served.size == 0:
        return None
    plans = np.unique(choice[served])
    firsts = [int(np.flatnonzero(choice == j)[0]) for j in plans]
    return np.asarray([*firsts, choice.size], dtype=np.intp), plans


def _global_design(types: Any, k: int, solution: Any, technology: Technology) -> PlanDesign | None:
    """The solver's design re-optimized on its own assignment and checked exactly."""
    found = _bounds(solution.choice)
    if found is None:
        return None
    bounds, plans = found
    return design_on_assignment(
        types, k, bounds, solution.markups[plans], technology, label="global_solver"
    )


def certify_plans(
    types: Instance | str | Path | tuple[ArrayLike, ArrayLike],
    plans: int,
    local: PlanDesign | None = None,
    solver: str = "scip_direct",
    time_limit: float | None = None,
    technology: Technology | None = None,
    progress: bool | None = None,
) -> PlanCertificate:
    """Prove a bound on the best ``plans`` two-part tariffs and compare with ``local``.

    ``local`` is today's local design (:func:`~pyomo_llmprice.tariffs.design.design_plans`,
    computed here if not given). ``progress``: a bar with nodes, bound and incumbent on
    stderr (:mod:`pyomo_llmprice.progress` decides when ``None``).
    """
    from pyomo_llmprice.errors import UserInputError
    from pyomo_llmprice.io import read_instance
    from pyomo_llmprice.tariffs.design import design_plans

    if solver not in GLOBAL_SOLVERS:
        raise UserInputError(
            f"--global-solver must be one of {', '.join(GLOBAL_SOLVERS)}, got {solver!r}"
        )
    if isinstance(types, (str, Path)):
        types = read_instance(types)
    theta, prob, tech = sorted_types(types, technology)
    if not isinstance(tech, Technology):
        raise UserInputError("a plan certificate needs a token technology (Cobb-Douglas)")
    if not isinstance(tech.precision, CobbDouglas):
        raise UserInputError(
            "a plan certificate needs the Cobb-Douglas precision (its buyers' indirect "
            "utility is written in closed form); a user precision function has none"
        )
    k = int(plans)
    if local is None:
        local = design_plans(types, k, technology=tech, progress=False)
    local_profit = local.profit if local.status == "optimal" else math.nan
    # No cut at the full menu's profit (a valid bound on every K-plan page): with it SCIP
    # 6.3 returned a 6-type, 4-plan optimum 1.3% below a verified design.
    plan = build_plan_model(theta, prob, tech, k)
    with progress_bar(
        total=None, desc=f"K={k} {solver}", unit=" node", leave=False, enabled=progress
    ) as bar:

        def show(nodes: int, bound: float, incumbent: float) -> None:
            bar.n = nodes
            bar.set_postfix_str(
                f"bound {bound * plan.scale:.8g}, incumbent {incumbent * plan.scale:.8g}",
                refresh=True,
            )

        try:
            run = solve_global(plan.model, solver, time_limit, on_progress=show)
        except SizeLimitError as exc:
            return PlanCertificate(
                k, solver, "skipped", "size_limit", math.nan, math.nan, local_profit,
                math.nan, 0.0, None, None, math.nan, f"skipped: size limit ({exc})",
            )  # fmt: skip
    bound = run.bound * plan.scale
    design = _global_design(types, k, read_plan(plan), tech) if run.has_point else None
    global_profit = design.profit if design is not None and design.status == "optimal" else math.nan
    best = max(_finite(local_profit), _finite(global_profit))
    note = ""
    shortfall = 0.0
    better = None
    if math.isfinite(global_profit) and global_profit > _finite(local_profit) + CERTIFY_TOL * max(
        abs(global_profit), 1e-12
    ):
        better = design
        shortfall = (
            (global_profit - local_profit) / abs(global_profit)
            if math.isfinite(local_profit)
            else math.inf
        )
        note = f"the local search fell short by {shortfall:.3%}: the global design is reported"
    gap = (bound - best) / max(abs(best), 1e-12) if math.isfinite(best) else math.inf
    if math.isfinite(gap) and -CERTIFY_TOL <= gap < 0:
        gap = 0.0  # the bound meets the design within the solvers' tolerance
    status = run.status
    if math.isfinite(gap) and gap < 0:  # a proof contradicted by a design that exists
        status = "verification_failed"
        note = (note + "; " if note else "") + (
            "the bound is below a verified design beyond the solver's tolerance: "
            "the certificate does not hold"
        )
    if run.status == "time_limit":
        note = (note + "; " if note else "") + (
            f"time limit reached: bound {bound:.8g} not proven tight (gap {gap:.3g})"
        )
    return PlanCertificate(
        K=k,
        solver=solver,
        status=status,
        termination=run.termination,
        global_bound=bound,
        global_gap=gap,
        local_profit=local_profit,
        global_profit=global_profit,
        shortfall=shortfall,
        better=better,
        nodes=run.nodes,
        wall_time=run.wall_time,
        note=note,
    )
