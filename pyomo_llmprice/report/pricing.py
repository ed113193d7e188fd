"""The pricing comparison for people and programs: what ``llmprice tariffs`` prints and
writes (:func:`comparison_report`, :func:`comparison_document`).

Gains print as percentages (+9.5%; as ratios, 1.095 or 0.095, they were misread) and
stay ratios in the JSON, which says so; anything not ``optimal`` says so and its
tariffs are withheld (``null``). Nothing here solves anything: it reads a
:class:`~pyomo_llmprice.analysis.PricingComparison` and its full menu's published plans.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from pyomo_llmprice.analysis import (
    COLUMNS,
    FULL_MENU,
    GAIN_COLUMNS,
    TANGENT,
    PricingComparison,
    overall_status,
)
from pyomo_llmprice.report.documents import clean
from pyomo_llmprice.tariffs.menu import PLAN_TERMS, menu_with_plans

if TYPE_CHECKING:
    from pyomo_llmprice.instance import Instance
    from pyomo_llmprice.result import MenuResult

__all__ = [
    "GAIN_NOTE",
    "MAX_PRINTED_PLANS",
    "comparison_document",
    "comparison_report",
    "full_menu_frame",
    "gains_as_percent",
    "percent",
    "shown_table",
]

#: printed plan tables are cut to this many rows (the JSON always has every plan)
MAX_PRINTED_PLANS = 12


def percent(ratio: float) -> str:
    """A relative change as people read it: 0.0951 -> ``+9.5%``, -0.2 -> ``-20.0%``.

    One decimal place; changes too small for it keep two significant digits
    (``+0.0012%``) rather than reading as no change; NaN (no baseline, a withheld row)
    stays ``NaN``, as pandas prints the other blank numbers of the same table.
    """
    value = 100.0 * float(ratio)
    if math.isnan(value):
        return "NaN"
    if value == 0.0:
        return "0.0%"
    if abs(value) < 0.05:
        return f"{value:+.2g}%"
    return f"{value:+.1f}%"


def gains_as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` with its gain columns (:data:`GAIN_COLUMNS`) as percent text."""
    shown = table.copy()
    for column in GAIN_COLUMNS:
        if column in shown.columns:
            shown[column] = shown[column].map(percent)
    return shown


#: how the JSON's gain columns read (the printed table shows them as percentages)
GAIN_NOTE = (
    "gain_vs_linear, revenue_gain_vs_linear, gain_vs_one_tariff and "
    "revenue_gain_vs_one_tariff are ratios: value / value_of_baseline - 1 "
    "(0.095 means +9.5%; baseline linear pricing or K=1)"
)


def _types_text(labels: list[str], theta_min: float, theta_max: float) -> str:
    if not labels:
        return "none"
    names = ", ".join(labels) if len(labels) <= 3 else f"{labels[0]} .. {labels[-1]}"
    return f"{len(labels)}: {names} (theta {theta_min:.4g}..{theta_max:.4g})"


def _cut(frame: Any) -> tuple[Any, int]:
    """At most MAX_PRINTED_PLANS rows (head and tail) and how many were left out."""
    if len(frame) <= MAX_PRINTED_PLANS:
        return frame, 0
    half = MAX_PRINTED_PLANS // 2
    return pd.concat([frame.head(half), frame.tail(half)]), len(frame) - MAX_PRINTED_PLANS


def _table_text(frame: Any, what: str) -> list[str]:
    shown, hidden = _cut(frame)
    lines = [shown.to_string(index=False, float_format=lambda v: f"{v:.6g}")]
    if hidden:
        lines.append(f"({hidden} {what} in the middle not shown; --json has all)")
    return lines


def plan_lines(name: str, design: Any) -> list[str]:
    """One design's plans as printed, or why they are withheld."""
    head = f"{name}: status {design.status}"
    gain = design.outcome.max_deviation_gain
    if design.status != "optimal":
        if name == TANGENT:
            return [
                f"{head}: the full menu's tangent two-part tariffs, with every type "
                "re-optimizing plan and quantities over all of them, let a type gain up to "
                f"{gain:.3g} over its own package (finitely many types: a gap of order "
                f"1/N^2); they earn profit {design.outcome.profit:.6g}; tariffs withheld"
            ]
        return [f"{head}. NOT OPTIMAL: tariffs withheld"]
    table = design.outcome.plan_table()
    if table.empty:
        return [f"{head}; no plan (the menu sells to nobody)"]
    table["types"] = [
        _types_text(list(t), lo, hi)
        for t, lo, hi in zip(table["types"], table["theta_min"], table["theta_max"], strict=True)
    ]
    cols = [*PLAN_TERMS, "mass", "types"]
    plural = "s" if len(table) != 1 else ""
    return [f"{head}; {len(table)} plan{plural}", *_table_text(table[cols], "plans")]


def full_menu_frame(result: MenuResult) -> pd.DataFrame:
    """Served types of the screening optimum: package, payment and the plan it reads as.

    The plans are :func:`~pyomo_llmprice.tariffs.tariff_menu_from_result`'s: one per
    distinct package, so types bunched on a package share its fee and prices.
    """
    menu = menu_with_plans(result)
    menu["plan"] = menu["plan_name"]
    cols = [
        "type",
        "theta",
        "prob",
        "input_tokens",
        "output_tokens",
        "finetune_tokens",
        "payment",
        "plan",
        "fixed_fee",
        "price_input",
        "price_output",
        "price_finetune",
        "markup",
    ]
    served = menu[menu["served"]]
    return served[[c for c in cols if c in served.columns]]


def full_menu_lines(result: MenuResult) -> list[str]:
    """The verified screening menu as packages, each with its two-part-tariff reading."""
    n = len(result.menu)
    v = result.verification
    if not result.optimal:
        return [
            f"{FULL_MENU}: status {result.status} (solver: {result.termination}). "
            "NOT OPTIMAL: the screening menu, its numbers and its tariffs are withheld"
        ]
    head = (
        f"{FULL_MENU}: status {result.status}; the screening optimum as packages, "
        f"checked on all {n}x{n} IC/IR pairs (largest violation {v.max_violation:.3g})"
    )
    frame = full_menu_frame(result)
    return [
        head + "; each package read as a two-part tariff (fee + markup * cost of its "
        "tokens; types bunched on one package share its plan)",
        *_table_text(frame, "types"),
    ]


def shown_table(comparison: Any) -> Any:
    """The comparison table as reported: a non-optimal full menu's numbers are blanked
    (the solver's last iterate is no menu to compare with); designs keep theirs, which
    are exact evaluations of the plans found, beside their status."""
    table = comparison.table.copy()
    if FULL_MENU in table.index and str(table.loc[FULL_MENU, "status"]) != "optimal":
        # every number of the row (all of COLUMNS but the plan count and the status)
        cols = [c for c in COLUMNS if c not in ("plans", "status") and c in table.columns]
        table.loc[FULL_MENU, cols] = float("nan")
    return table


def comparison_report(comparison: PricingComparison, instance: Instance) -> str:
    """The comparison table, every design's plans, the full menu, the tangent-tariff gap.

    Gains print as percentages (+9.5%): as ratios (1.095 or 0.095) they were misread.
    """
    table = gains_as_percent(shown_table(comparison))
    cols = [
        c
        for c in (
            "plans",
            "status",
            "profit",
            "revenue",
            "consumer_surplus",
            "welfare",
            "gain_vs_linear",
            "max_deviation_gain",
        )
        if c in table.columns
    ]
    lines = [
        f"instance {instance.name}  setting packages (two-part tariffs price token totals)",
        "Per buyer: profit, revenue, consumer surplus, welfare. gain_vs_linear: profit change "
        "over linear pricing (one per-token markup, no fee), in percent. max_deviation_gain: "
        "the largest gain any type gets from a choice other than the intended one (0: buyers "
        "self-select as designed; full_menu: the largest IC/IR violation of the packages).",
        table[cols].to_string(float_format=lambda v: f"{v:.6g}"),
        "",
    ]
    for name, design in comparison.designs.items():
        if name != TANGENT:
            lines += [*plan_lines(str(name), design), ""]
    lines += [*full_menu_lines(comparison.full_menu), ""]
    if TANGENT in comparison.designs:
        lines += plan_lines(TANGENT, comparison.designs[TANGENT])
    return "\n".join(lines).rstrip() + "\n"


def _records(frame: Any) -> list[dict[str, Any]]:
    def clean(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def comparison_document(comparison: PricingComparison, instance: Instance) -> dict[str, Any]:
    """The JSON of ``llmprice tariffs --json``: the table, every design and the full menu.

    Tariffs of anything not ``optimal`` are withheld (``plans`` is null). The table's
    gains are ratios (``gain_columns`` says so in the document itself).
    """
    table = shown_table(comparison).reset_index(names="design")
    designs = {}
    for name, design in comparison.designs.items():
        doc = design.to_dict()
        if design.status != "optimal":
            doc["plans"] = None  # withheld: a non-optimal design is no pricing advice
        designs[str(name)] = doc
    result = comparison.full_menu
    numbers = _records(pd.DataFrame([result.aggregates]))[0]
    if not result.optimal:
        numbers = dict.fromkeys(numbers)  # the last iterate is no menu: withheld
    full = {
        "status": result.status,
        "termination": result.termination,
        "plans": result.packages if result.optimal else None,
        **numbers,
        "max_ic_violation": clean(result.verification.max_ic_violation),
        "max_ir_violation": clean(result.verification.max_ir_violation),
        "packages": (_records(full_menu_frame(result)) if result.optimal else None),
    }
    return {
        "instance": instance.name,
        "setting": "packages",
        "status": overall_status(comparison),
        "gain_columns": GAIN_NOTE,
        "comparison": _records(table),
        "designs": designs,
        FULL_MENU: full,
    }
