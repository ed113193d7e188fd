"""The comparison a pricing team asks for: uniform pricing, K plans, the full menu.

Orchestration above the pipeline (which solves and certifies the full menu) and the
tariff layer (which designs plans and lets every type face them); neither imports
this module. For one instance (Token Packages): linear pricing (one markup, no fee),
one two-part tariff (K = 1), K = 2, 3, ... plans, the full screening menu (the optimal
nonlinear tariff, verified on all pairs) and its tangent two-part tariffs checked
exactly; profit, revenue, consumer surplus and welfare of each, with gains relative to
uniform pricing. The text and JSON of the table live in
:mod:`pyomo_llmprice.report.pricing`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.progress import progress_bar, quiet
from pyomo_llmprice.result import MenuResult
from pyomo_llmprice.tariffs.design import (
    DEVIATION_TOL,
    PlanDesign,
    design_plans,
    linear_pricing,
)
from pyomo_llmprice.tariffs.menu import _clean, evaluate_tariffs, tariff_menu_from_result

__all__ = [
    "COLUMNS",
    "FULL_MENU",
    "GAIN_COLUMNS",
    "TANGENT",
    "PricingComparison",
    "compare_pricing",
    "full_menu_tangent",
    "overall_status",
]

#: the row of the screening optimum, and the measurement row of its tangent tariffs (on
#: finite type sets not exactly incentive compatible: the 1/N^2 gap)
FULL_MENU = "full_menu"
TANGENT = "full_menu_tangent"

COLUMNS = (
    "plans",
    "profit",
    "revenue",
    "consumer_surplus",
    "welfare",
    "gain_vs_linear",
    "revenue_gain_vs_linear",
    "gain_vs_one_tariff",
    "revenue_gain_vs_one_tariff",
    "max_deviation_gain",
    "status",
)

#: relative changes ``value / value_of_baseline - 1`` (0.095 is +9.5%): ratios in tables
#: and JSON, printed as percentages (:func:`pyomo_llmprice.report.pricing.percent`)
GAIN_COLUMNS = (
    "gain_vs_linear",
    "revenue_gain_vs_linear",
    "gain_vs_one_tariff",
    "revenue_gain_vs_one_tariff",
)


def full_menu_tangent(result: MenuResult, instance: Instance | None = None) -> PlanDesign:
    """The solved menu's tangent two-part tariffs, every type re-optimizing over all of them.

    The types are the result's own instance (``result.source``) unless given. Status
    ``optimal`` only if no type gains (beyond tolerance) by another choice; on finite
    type sets tangent tariffs usually fail that (``verification_failed``, the 1/N^2 gap).
    """
    types = result.source if instance is None else instance
    if not isinstance(types, Instance):
        raise TypeError(f"{result.instance}: tangent tariffs need the LLM instance of the menu")
    menu = tariff_menu_from_result(result)
    out = evaluate_tariffs(menu, types)
    scale = max(1.0, float(np.abs(out.payment).max(initial=0.0)))
    status = "optimal" if out.max_deviation_gain <= DEVIATION_TOL * scale else "verification_failed"
    return PlanDesign(TANGENT, len(menu), menu, out, status, instance=types.name)


@dataclass
class PricingComparison:
    """Rows: linear, K=1, K=2, ..., full_menu, full_menu_tangent (see :data:`COLUMNS`)."""

    instance: str
    table: pd.DataFrame
    designs: dict[str, PlanDesign] = field(default_factory=dict)
    full_menu: Any = None  # the MenuResult of the screening optimum

    def __repr__(self) -> str:
        return f"PricingComparison({self.instance!r}, designs={list(self.table.index)})"

    def to_dict(self) -> dict[str, Any]:
        rows = {
            str(name): {k: _clean(v) for k, v in row.items()}
            for name, row in self.table.to_dict(orient="index").items()
        }
        return {
            "instance": self.instance,
            "table": rows,
            "designs": {name: d.to_dict() for name, d in self.designs.items()},
        }


def compare_pricing(
    instance: Instance | str | Path,
    plans: Iterable[int] = (1, 2, 3, 4),
    starts: int = 4,
    seed: int = 0,
    progress: bool | None = None,
    **solve_options: Any,
) -> PricingComparison:
    """Uniform baselines, K-plan designs and the full menu of one instance, side by side.

    ``solve_options`` go to :func:`pyomo_llmprice.pipeline.solve_instance` (the full menu
    is solved in Token Packages). Gains are relative: ``profit / profit_linear - 1``.

    It takes from seconds to minutes, so ``progress`` shows a bar per step (the full
    menu, linear pricing, each K) with a bar over each K's starts below it; ``None``
    draws them when stderr is a terminal and the package is not quiet, ``False`` silences
    every bar of the call (IC generation included), ``True`` draws the step bar anyway.
    """
    if progress is False:
        with quiet():
            return compare_pricing(instance, plans, starts, seed, None, **solve_options)
    if not isinstance(instance, Instance):
        instance = read_instance(instance)
    ks = sorted(int(k) for k in plans)
    with progress_bar(total=len(ks) + 3, desc="pricing", unit=" step", enabled=progress) as bar:
        bar.set_postfix_str("full menu")
        result = solve_instance(instance, "packages", **solve_options)
        bar.update(1)
        bar.set_postfix_str("linear pricing")
        designs: dict[str, PlanDesign] = {"linear": linear_pricing(instance)}
        bar.update(1)
        served = result.menu["served"].to_numpy(bool) if result.optimal else None
        for k in ks:
            bar.set_postfix_str(f"K={k}")
            designs[f"K={k}"] = design_plans(
                instance,
                k,
                starts=starts,
                seed=seed,
                served_from=served,
                refine=designs.get(f"K={k - 1}"),
            )
            bar.update(1)
        bar.set_postfix_str("tangent tariffs")
        tangent = full_menu_tangent(result) if result.optimal else None
        bar.update(1)
    rows: dict[str, dict[str, Any]] = {}
    for name, d in designs.items():
        rows[name] = {"plans": len(d.menu), **d.outcome.summary(), "status": d.status}
    a = result.aggregates
    rows[FULL_MENU] = {
        "plans": result.packages,
        "profit": a["profit"],
        "revenue": a["revenue"],
        "consumer_surplus": a["consumer_surplus"],
        "welfare": a["welfare"],
        "max_deviation_gain": result.verification.max_violation,
        "status": result.status,
    }
    if tangent is not None:
        designs[TANGENT] = tangent
        rows[FULL_MENU]["plans"] = len(tangent.menu)  # distinct bundles (pools share one)
        rows[TANGENT] = {
            "plans": len(tangent.menu),
            **tangent.outcome.summary(),
            "status": tangent.status,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    for base, suffix in (("linear", "linear"), ("K=1", "one_tariff")):
        if base not in table.index:
            continue
        p0, r0 = table.loc[base, "profit"], table.loc[base, "revenue"]
        table[f"gain_vs_{suffix}"] = table["profit"] / p0 - 1 if p0 > 0 else math.nan
        table[f"revenue_gain_vs_{suffix}"] = table["revenue"] / r0 - 1 if r0 > 0 else math.nan
    table = table.reindex(columns=[c for c in COLUMNS if c in table.columns])
    return PricingComparison(instance.name, table, designs, result)


def overall_status(comparison: PricingComparison) -> str:
    """The full menu's status if not optimal, else the first non-optimal design's.

    The tangent tariffs of the full menu are a measurement (their gap is reported, their
    tariffs withheld when they are not exactly incentive compatible), not a design to
    recommend, so their status does not count.
    """
    table = comparison.table
    order = [FULL_MENU, *(name for name in table.index if name not in (FULL_MENU, TANGENT))]
    for name in order:
        if name in table.index and str(table.loc[name, "status"]) != "optimal":
            return str(table.loc[name, "status"])
    return "optimal"
