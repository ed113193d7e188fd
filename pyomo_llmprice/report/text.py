"""The text report of a solved menu: what ``llmprice solve`` prints, for people.

One row per distinct package by default (bunched types share a package and are
grouped, with their count and type range), ordered by the type index; numbers
below the verification tolerance print as 0, so solver noise never reads as a
value; a legend defines the columns; the certificate line states what was checked
and at which tolerance. ``all_types=True`` lists every type instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from pyomo_llmprice.result import MenuResult

__all__ = ["LEGEND", "MAX_ROWS", "menu_report", "menu_table"]

#: what each column of the table means (printed for the columns shown)
LEGEND = {
    "theta": "theta: the type index, the CES aggregate of a type's task values (a range "
    "for a package several types share)",
    "rent": "rent: the type's value of its package minus the payment (its information rent)",
    "markup": "markup: price per token over its marginal cost (1 = at cost)",
    "fixed_fee": "fixed fee: the payment beyond markup x cost (the plan's subscription part)",
}

#: longest table printed; longer ones show their first and last rows
MAX_ROWS = 40

#: columns in money per buyer (snapped to 0 below the tolerance)
_MONEY = ("payment", "rent", "fixed_fee")


def _index_column(menu: pd.DataFrame) -> str | None:
    """The one-dimensional type index to order by (theta), if the table has one."""
    return "theta" if "theta" in menu else None


def _span(values: pd.Series) -> str:
    lo, hi = f"{float(values.min()):.4g}", f"{float(values.max()):.4g}"
    return lo if lo == hi else f"{lo}-{hi}"


def menu_table(result: MenuResult, all_types: bool = False) -> pd.DataFrame:
    """The printed table: one row per distinct served package (default) or per type."""
    menu = result.menu.copy()
    tol = menu["tolerance"]  # per type
    for col in _MONEY:
        if col in menu:
            small = menu[col].abs() <= tol  # NaN (no plan) stays NaN
            menu[col] = menu[col].mask(small, 0.0)
    index = _index_column(menu)
    by = [index, "payment"] if index is not None else ["payment"]
    goods = [c for c in menu.columns if str(c).startswith("good_")]
    tokens = [
        c
        for c in ("input_tokens", "output_tokens", "finetune_tokens", "covered_scale")
        if c in menu
    ]
    priced = result.optimal and "markup" in menu  # withheld unless optimal
    money = ["payment", "rent", *(("markup", "fixed_fee") if priced else ())]
    if all_types:
        menu = menu.sort_values(by, kind="stable")
        cols = ["type", *([index] if index else []), "prob", *goods, *tokens, *money, "package"]
        return menu[cols].reset_index(drop=True)
    rows = []
    for number, part in menu[menu["package"] > 0].groupby("package", sort=True):
        prob = part["prob"].to_numpy(float)
        row: dict[str, object] = {"package": number, "types": len(part)}
        if index:
            row[index] = _span(part[index])
        row["prob"] = float(prob.sum())
        lead = part.iloc[0]
        row.update({c: float(lead[c]) for c in (*goods, *tokens, "payment")})
        row["rent"] = _span(part["rent"])
        if priced:  # the package's plan, as published (tariffs.markups.package_plans)
            fee = float(lead["fixed_fee"])
            row["markup"] = float(lead["markup"])
            row["fixed_fee"] = fee if abs(fee) > float(lead["tolerance"]) else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def _render(table: pd.DataFrame) -> list[str]:
    """The table as text (one alignment), eliding the middle of a long one, then the
    legend of the columns it shows, two per line."""
    fmt = {"float_format": lambda v: f"{v:.6g}", "index": False}
    if len(table) <= MAX_ROWS:
        lines = table.to_string(**fmt).splitlines()
    else:
        half = MAX_ROWS // 2
        shown = pd.concat([table.iloc[:half], table.iloc[-half:]])
        lines = shown.to_string(**fmt).splitlines()
        gap = f"... {len(table) - 2 * half} more rows (--all-types, --csv or --json for all) ..."
        lines.insert(half + 1, gap)
    notes = [LEGEND[c] for c in LEGEND if c in table]
    return lines + ["; ".join(notes[i : i + 2]) for i in range(0, len(notes), 2)]


def menu_report(result: MenuResult, all_types: bool = False) -> str:
    """The whole text report of ``llmprice solve``."""
    from pyomo_llmprice.outcomes import STATUSES

    v = result.verification
    n = len(result.menu)
    lines = [
        f"instance {result.instance}  setting {result.setting}  solver {result.solver}"
        + (f"  ic {result.ic}" if result.ic else ""),
        f"status {result.status} (solver: {result.termination}"
        + (f", {result.iterations} iterations)" if result.iterations is not None else ")"),
    ]
    if not result.has_point:
        lines.append(
            f"NOT OPTIMAL ({STATUSES.get(result.status, result.status)}): the solver returned "
            "no usable point (none, or one it did not load); no solution to check, no menu, "
            "no tariffs"
        )
        lines += _notes(result)
        return "\n".join(lines)
    if not result.optimal:
        lines.append(
            f"NOT OPTIMAL ({STATUSES.get(result.status, result.status)}): the table is the "
            "solver's last point, not a pricing recommendation; markups, fees and profit "
            "are withheld"
        )
    served = result.menu[result.menu["served"]]
    table = menu_table(result, all_types)
    what = "types" if all_types else f"types on {_count(len(table), 'distinct package')}"
    lines.append(
        f"served {len(served)} of {n} {what}; {_count(n - len(served), 'excluded type')} "
        f"{'gets' if n - len(served) == 1 else 'get'} the null bundle (nothing, at no charge)"
    )
    lines += _render(table)
    if result.optimal:  # expected money below the expected tolerance is noise: 0
        noise = float(result.menu["prob"] @ result.menu["tolerance"])
        a = {k: (v if abs(v) > noise else 0.0) for k, v in result.aggregates.items()}
        lines.append(
            "profit {profit:.8g}  revenue {revenue:.8g}  cost {cost:.8g}  "
            "consumer_surplus {consumer_surplus:.8g}  welfare {welfare:.8g}".format(**a)
        )
    lines.append(
        f"certificate: largest IC violation {v.max_ic_violation:.3g}, IR {v.max_ir_violation:.3g}, "
        f"loss on a served type {v.max_loss:.3g}; all {n}x{n} pairs and the null bundle, "
        f"recomputed from the published tokens and payments; tolerance "
        f"{result.relative_tolerance:.0e} x each type's first-best value (at most "
        f"{result.tolerance:.3g}, for the top type's {result.value_scale:.4g})"
    )
    ic_pair, ir_type = result.worst_pairs()
    if ic_pair is not None:
        lines.append(
            f"VIOLATED: type {ic_pair[0]} gains {v.max_ic_violation:.3g} "
            f"by taking the bundle of type {ic_pair[1]} (IC)"
        )
    if ir_type is not None:
        lines.append(
            f"VIOLATED: type {ir_type} pays {v.max_ir_violation:.3g} "
            "more than its bundle is worth to it (IR)"
        )
    if v.max_loss > result.tolerance:
        worst = result.menu["type"].iloc[int(np.argmax(v.loss))]
        lines.append(
            f"VIOLATED: type {worst} is served at a loss of {v.max_loss:.3g} "
            "(an optimal menu serves nobody below cost)"
        )
    lines += _notes(result)
    return "\n".join(lines)


def _notes(result: MenuResult) -> list[str]:
    out = []
    if result.excluded:
        shown = ", ".join(result.excluded[:5]) + (", ..." if len(result.excluded) > 5 else "")
        out.append(
            f"excluded after the solve: {len(result.excluded)} type(s) whose bundles were "
            f"worth almost nothing and earned nothing ({shown}); the menu was re-solved "
            "without them, losing at most 1e-7 of the profit"
        )
    if result.retry is not None:
        out.append("retry: " + result.retry.describe())
    if result.generation is not None and result.has_point:
        g = result.generation
        n = len(result.menu)
        grid = [
            f"{g.seeded} grid neighbours" if g.seeded else "",
            f"{g.shifted} shifted" if getattr(g, "shifted", 0) else "",
        ]
        extra = ", ".join(x for x in grid if x)
        out.append(
            f"IC constraints generated on demand: {_count(g.rounds, 'round')}, "
            f"{_count(g.constraints_added, 'violated pair')} added"
            f"{f' ({extra})' if extra else ''}, {g.final_pairs} of the "
            f"{n * (n - 1)} pairs imposed in the end (all are checked above)"
        )
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
