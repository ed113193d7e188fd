"""instance -> model -> solve -> verify -> tariffs -> report, as one Python API.

The command line and ``models/*.py`` are thin doors onto these functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus

from pyomo_llmprice.blocks import Screening, TokenAllocations, TokenPackages
from pyomo_llmprice.blocks.menu import ScreeningMenuData
from pyomo_llmprice.generation import GenerationLog, RetryLog, solve_menu
from pyomo_llmprice.io import Instance, check_setting, read_instance
from pyomo_llmprice.outcomes import STATUSES, solver_or_error, solver_outcome
from pyomo_llmprice.tariffs import fixed_fee, implied_markup
from pyomo_llmprice.verify import Verification, verify_menu

__all__ = [
    "DEFAULT_IPOPT_OPTIONS",
    "SETTINGS",
    "MenuResult",
    "build_model",
    "read_menu",
    "solve_instance",
    "solve_model",
]

SETTINGS = {"packages": TokenPackages, "allocations": TokenAllocations, "screening": Screening}

#: tight tolerance and no bound relaxation: excluded types then sit at zero and the
#: discrete optimum is reproduced to ~1e-9 (evaluator-notes.md)
DEFAULT_IPOPT_OPTIONS: dict[str, Any] = {
    "tol": 1e-9,
    "acceptable_tol": 1e-9,
    "bound_relax_factor": 0.0,
    "max_iter": 3000,
}

#: precision below this fraction of the largest one counts as the null bundle
SNAP_TOLERANCE = 1e-7


@dataclass
class MenuResult:
    """A solved, verified menu and its aggregates."""

    setting: str
    instance: str
    status: str  # "optimal" only if the solver converged and verification passed
    termination: str
    solver: str
    iterations: int | None
    wall_time: float | None
    verification: Verification
    tolerance: float
    menu: pd.DataFrame
    aggregates: dict[str, float] = field(default_factory=dict)
    generation: GenerationLog | None = None
    retry: RetryLog | None = None  # a failed first solve was retried (generation.solve_menu)

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def profit(self) -> float:
        return self.aggregates["profit"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``llmprice solve --json``."""

        def clean(v: Any) -> Any:
            if isinstance(v, (float, np.floating)):
                return None if not math.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        worst_pair, worst_type = self._worst_pairs()
        rows = [
            {k: clean(v) for k, v in row.items()} for row in self.menu.to_dict(orient="records")
        ]
        return {
            "status": self.status,
            "setting": self.setting,
            "instance": self.instance,
            "termination": self.termination,
            "solver": self.solver,
            "iterations": self.iterations,
            "wall_time": clean(self.wall_time),
            **{k: clean(v) for k, v in self.aggregates.items()},
            "max_ic_violation": self.verification.max_ic_violation,
            "max_ir_violation": self.verification.max_ir_violation,
            "worst_ic_pair": worst_pair,
            "worst_ir_type": worst_type,
            "verification_tolerance": self.tolerance,
            "ic_generation": None if self.generation is None else vars(self.generation),
            "retry": None if self.retry is None else vars(self.retry),
            "menu": rows,
        }

    def _worst_pairs(self) -> tuple[list[str] | None, str | None]:
        """Labels of the worst IC pair (type, bundle it prefers) and the worst IR type,
        each only if violated beyond the tolerance."""
        v, labels = self.verification, [str(t) for t in self.menu["type"]]
        pair = None
        if v.worst_pair is not None and v.max_ic_violation > self.tolerance:
            pair = [labels[v.worst_pair[0]], labels[v.worst_pair[1]]]
        ir = None
        if v.max_ir_violation > self.tolerance:
            ir = labels[int(np.argmax(v.ir_violation))]
        return pair, ir

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def to_csv(self, path: str | Path) -> None:
        self.menu.to_csv(path, index=False)

    def report(self) -> str:
        """The table and aggregates that ``llmprice solve`` prints."""
        goods = [c for c in self.menu.columns if str(c).startswith("good_")]  # screening
        cols = [
            "type",
            "prob",
            *goods,
            "input_tokens",
            "output_tokens",
            "finetune_tokens",
            "payment",
            "rent",
            "markup",
            "fixed_fee",
        ]
        cols = [c for c in cols if c in self.menu]
        served = self.menu[self.menu["served"]]
        lines = [
            f"instance {self.instance}  setting {self.setting}  solver {self.solver}",
            f"status {self.status} (solver: {self.termination}, {self.iterations} iterations)",
        ]
        if not self.optimal:
            shown = (
                "the solver returned no point; the table holds the null menu only"
                if math.isnan(self.aggregates.get("profit", 0.0))
                else "the menu below is the solver's last point, not a pricing recommendation"
            )
            lines.append(
                f"NOT OPTIMAL ({STATUSES.get(self.status, self.status)}): {shown}; "
                "markups and fees are withheld"
            )
        lines.append(
            f"served {len(served)} of {len(self.menu)} types; excluded types get the null bundle"
        )
        with pd.option_context("display.width", 160, "display.max_rows", 60):
            lines.append(served[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        a = self.aggregates
        lines.append(
            "profit {profit:.8g}  revenue {revenue:.8g}  cost {cost:.8g}  "
            "consumer_surplus {consumer_surplus:.8g}  welfare {welfare:.8g}".format(**a)
        )
        lines.append(
            f"max IC violation {self.verification.max_ic_violation:.3g}  "
            f"max IR violation {self.verification.max_ir_violation:.3g}  "
            f"(all {len(self.menu)}x{len(self.menu)} pairs checked, tolerance {self.tolerance:.3g})"
        )
        ic_pair, ir_type = self._worst_pairs()
        if ic_pair is not None:
            lines.append(
                f"VIOLATED: type {ic_pair[0]} gains {self.verification.max_ic_violation:.3g} "
                f"by taking the bundle of type {ic_pair[1]} (IC)"
            )
        if ir_type is not None:
            lines.append(
                f"VIOLATED: type {ir_type} pays {self.verification.max_ir_violation:.3g} "
                "more than its bundle is worth to it (IR)"
            )
        if self.retry is not None:
            lines.append("retry: " + self.retry.describe())
        if self.generation is not None:
            g = self.generation
            lines.append(
                f"IC constraints generated: {g.rounds} rounds, {g.constraints_added} pairs added, "
                f"{g.final_pairs} imposed of {len(self.menu) * (len(self.menu) - 1)}"
            )
        return "\n".join(lines)


def build_model(
    instance: Instance, setting: str = "packages", ic: str = "auto"
) -> pyo.ConcreteModel:
    """A ConcreteModel whose block ``menu`` is the setting's screening block."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
    check_setting(instance, setting)
    model = pyo.ConcreteModel(name=f"{instance.name}_{setting}")
    model.menu = SETTINGS[setting](instance=instance, ic=ic)
    return model


def solve_model(
    model: pyo.Block,
    solver: str = "cyipopt_direct",
    options: dict[str, Any] | None = None,
    tee: bool = False,
    time_limit: float | None = None,
    tolerance: float = 1e-6,
) -> MenuResult:
    """Solve a model holding a menu block ``menu`` and return the verified menu.

    The result's ``status`` says how the solve ended (:data:`outcomes.STATUSES`);
    an unknown solver name raises :class:`~pyomo_llmprice.errors.UnknownSolverError`.
    """
    opt = solver_or_error(solver)
    if not opt.available():  # known, but not installed here: a status, not a crash
        return read_menu(
            model.menu,
            termination="solver_unavailable",
            solver=solver,
            tolerance=tolerance,
            has_solution=False,
            outcome="solver_unavailable",
        )
    opts = dict(DEFAULT_IPOPT_OPTIONS)
    opts.update(options or {})
    results, generation, retry = solve_menu(model, solver, opts, tee, time_limit)
    outcome = solver_outcome(results)
    if results.solution_status != SolutionStatus.noSolution:
        results.solution_loader.load_vars()
    result = read_menu(
        model.menu,
        outcome=outcome,
        termination=results.termination_condition.name,
        solver=solver,
        iterations=getattr(results, "iteration_count", None),
        wall_time=results.timing_info.wall_time,
        tolerance=tolerance,
        has_solution=results.solution_status != SolutionStatus.noSolution,
    )
    result.generation = generation
    result.retry = retry
    if generation is not None:
        result.iterations = generation.iterations
    return result


def solve_instance(
    instance: Instance | str | Path, setting: str = "packages", ic: str = "auto", **kwds: Any
) -> MenuResult:
    """Read (if a path), build, solve and verify in one call."""
    if not isinstance(instance, Instance):
        instance = read_instance(instance)
    return solve_model(build_model(instance, setting, ic), **kwds)


def read_menu(
    block: ScreeningMenuData,
    converged: bool = True,
    termination: str = "unknown",
    solver: str = "",
    iterations: int | None = None,
    wall_time: float | None = None,
    tolerance: float = 1e-6,
    has_solution: bool = True,
    outcome: str | None = None,
) -> MenuResult:
    """Read a solved block back, snap the null bundles, verify all pairs, add tariffs.

    `outcome` is the solver's status (:func:`outcomes.solver_outcome`); when given
    it decides `converged`, and a non-optimal outcome becomes the menu's status.
    """
    if outcome is not None:
        converged = outcome == "optimal"
    failure = None if outcome in (None, "optimal") else outcome
    arrays = block.menu_arrays() if has_solution else None
    inst = block.instance
    labels = list(block.types)
    n = len(labels)
    key = block.characteristic  # what buyers value linearly (precision, quality)
    no_point = arrays is None or not np.all(np.isfinite(arrays[key]))
    if no_point:  # nothing to report: the null menu stands in, aggregates are NaN
        arrays = block.null_arrays()
        converged = False
    prec = arrays[key]
    # Null bundle = negligible value to the type it is written for. (Precision alone
    # misses excluded types with a small value coefficient: on value-scale grids the
    # solve leaves w*s = 0.0225 types ~2e-6 of precision, worth ~4e-8 to them.)
    gross = block.own_value(prec)
    served = gross > SNAP_TOLERANCE * max(1.0, float(np.abs(gross).max(initial=0.0)))
    block.snap_null_bundles(arrays, served)

    tokens, cost = block.bundle_columns(arrays)
    payment = arrays["payment"]
    own = block.own_value(prec)
    check = verify_menu(lambda rows: block.value_matrix(prec, rows), own, payment)
    tol = tolerance * max(1.0, float(np.abs(payment).max(initial=0.0)))
    verified = check.passed(tol)
    status = (
        "optimal"
        if converged and verified
        else ("verification_failed" if converged else (failure or "not_converged"))
    )
    rent = own - payment
    tariffs = {}
    if getattr(block, "token_tariffs", False):  # two-part token tariffs (LLM menus)
        markup = implied_markup(own, tokens["input_tokens"], inst.technology)
        fee = fixed_fee(payment, markup, cost)
        if status != "optimal":
            markup = np.full(n, np.nan)
            fee = np.full(n, np.nan)
        tariffs = {"markup": markup, "fixed_fee": fee}
    prob = np.array([pyo.value(block.prob[k]) for k in labels], float)
    menu = pd.DataFrame(
        {
            "type": labels,
            "prob": prob,
            **block.type_columns(),
            **tokens,
            "payment": payment,
            "cost": cost,
            "gross_value": own,
            "rent": rent,
            **tariffs,
            "served": served,
            "ic_violation": check.ic_violation,
        }
    )
    revenue = float(prob @ payment)
    total_cost = float(prob @ cost)
    surplus = float(prob @ rent)
    aggregates = {
        "profit": revenue - total_cost,
        "revenue": revenue,
        "cost": total_cost,
        "consumer_surplus": surplus,
        "welfare": revenue - total_cost + surplus,
    }
    if no_point:
        aggregates = dict.fromkeys(aggregates, math.nan)
    return MenuResult(
        setting=block.setting,
        instance=inst.name,
        status=status,
        termination=termination,
        solver=solver,
        iterations=iterations,
        wall_time=wall_time,
        verification=check,
        tolerance=tol,
        menu=menu,
        aggregates=aggregates,
    )
