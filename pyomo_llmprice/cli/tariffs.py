"""``llmprice tariffs``: verified plan menus for K = 1..K beside the full menu and linear pricing.

Prints the comparison table (profit, revenue, consumer surplus, welfare, gain over
linear pricing as a percentage, largest deviation gain, status), then every design's
plans: fixed fee, per-token price of each class, markup, and the types choosing the
plan; then the full screening menu (verified packages, each with its two-part-tariff
reading) and the measured incentive gap of its tangent tariffs. Anything not ``optimal``
says so and its tariffs are withheld (``null`` in the JSON). The exit code is that of
the full menu's status if it is not optimal, else that of the first non-optimal design,
else 0; the tangent tariffs' status (``verification_failed`` on finite type sets, the
1/N^2 gap) is a measurement and does not set it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pyomo_llmprice.cli._common import (
    add_file_options_flag,
    add_force_flag,
    check_output,
    exit_code,
    positive_seconds,
    solver_help,
    writing,
)

HELP = "verified menus of K two-part tariffs beside the full menu and linear pricing"

#: printed plan tables are cut to this many rows (the JSON always has every plan)
MAX_PRINTED_PLANS = 12


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return _int_at_least(text, 0)


def add_design_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``llmprice plot``: how many plans, starts and the seed."""
    parser.add_argument("instance", help="a .dat instance file (see README)")
    parser.add_argument(
        "--plans",
        type=positive_int,
        default=4,
        metavar="K",
        help="design menus of 1..K plans (default 4)",
    )
    parser.add_argument(
        "--starts",
        type=nonnegative_int,
        default=4,
        metavar="S",
        help="random starts per K besides the structure-based ones (default 4)",
    )
    parser.add_argument(
        "--seed",
        type=nonnegative_int,  # numpy refuses negative seeds (a traceback otherwise)
        default=0,
        metavar="N",
        help="seed of the random starts (default 0)",
    )
    parser.add_argument(
        "--solver", default="cyipopt_direct", help=solver_help("the solver of the full menu")
    )
    parser.add_argument(
        "--solver-options",
        default="",
        metavar="'NAME=VALUE ...'",
        help="Ipopt options of the full menu's solve, e.g. 'max_iter=500'",
    )
    add_file_options_flag(parser)
    parser.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="time limit of the full menu's solve, counted from the start of the command "
        "(reading the instance and building the model included)",
    )
    add_force_flag(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_design_arguments(parser)
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="write the designs and the table as JSON (gains there are ratios: 0.095 is +9.5%%)",
    )


def comparison_of(args: argparse.Namespace) -> tuple[Any, Any]:
    """Read the instance; compare linear pricing, K = 1..K plans and the full menu."""
    from pyomo_llmprice.cli.solve import options_and_instance, refuse_oversized
    from pyomo_llmprice.errors import UserInputError
    from pyomo_llmprice.limits import as_deadline
    from pyomo_llmprice.tariffs import compare_pricing

    deadline = as_deadline(args.time_limit)  # before reading: the command's clock
    options, instance = options_and_instance(args)
    refuse_oversized(args, instance, "packages", "auto")  # also: a screening file, one line
    n = int((instance.types.prob > 0).sum())
    if args.plans > n:
        raise UserInputError(
            f"{args.instance}: --plans {args.plans} is more plans than the instance's "
            f"{n} types with positive probability"
        )
    comparison = compare_pricing(
        instance,
        plans=tuple(range(1, args.plans + 1)),
        starts=args.starts,
        seed=args.seed,
        solver=args.solver,
        options=options,
        time_limit=deadline,
    )
    return instance, comparison


#: how the JSON's gain columns read (the printed table shows them as percentages)
GAIN_NOTE = (
    "gain_vs_linear, revenue_gain_vs_linear, gain_vs_one_tariff and "
    "revenue_gain_vs_one_tariff are ratios: value / value_of_baseline - 1 "
    "(0.095 means +9.5%; baseline linear pricing or K=1)"
)

#: the measurement row: tangent tariffs of the finite optimum are not exactly IC (1/N^2 gap)
TANGENT = "full_menu_tangent"
FULL_MENU = "full_menu"


def overall_status(comparison: Any) -> str:
    """The full menu's status if not optimal, else the first non-optimal design's.

    The tangent tariffs of the full menu are a measurement (their gap is reported, their
    tariffs withheld when they are not exactly incentive compatible), not a design the
    command recommends, so their status does not set the exit code.
    """
    table = comparison.table
    order = [FULL_MENU, *(name for name in table.index if name not in (FULL_MENU, TANGENT))]
    for name in order:
        if name in table.index and str(table.loc[name, "status"]) != "optimal":
            return str(table.loc[name, "status"])
    return "optimal"


def _types_text(labels: list[str], theta_min: float, theta_max: float) -> str:
    if not labels:
        return "none"
    names = ", ".join(labels) if len(labels) <= 3 else f"{labels[0]} .. {labels[-1]}"
    return f"{len(labels)}: {names} (theta {theta_min:.4g}..{theta_max:.4g})"


def _cut(frame: Any) -> tuple[Any, int]:
    """At most MAX_PRINTED_PLANS rows (head and tail) and how many were left out."""
    import pandas as pd

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
    from pyomo_llmprice.tariffs.menu import PLAN_TERMS

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


def full_menu_frame(result: Any, technology: Any) -> Any:
    """Served types of the screening optimum: package, payment and the plan it reads as.

    The plans are :func:`~pyomo_llmprice.tariffs.tariff_menu_from_result`'s: one per
    distinct package, so types bunched on a package share its fee and prices.
    """

    from pyomo_llmprice.tariffs import tariff_menu_from_result

    terms = tariff_menu_from_result(result, technology).intended_terms()
    menu = result.menu.copy()
    menu["plan"] = terms["name"].to_list()
    for column in ("fixed_fee", "markup", "price_input", "price_output", "price_finetune"):
        menu[column] = terms[column].to_numpy(float)
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


def full_menu_lines(result: Any, technology: Any) -> list[str]:
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
    frame = full_menu_frame(result, technology)
    return [
        head + "; each package read as a two-part tariff (fee + markup * cost of its "
        "tokens; types bunched on one package share its plan)",
        *_table_text(frame, "types"),
    ]


def shown_table(comparison: Any) -> Any:
    """The comparison table as reported: a non-optimal full menu's numbers are blanked
    (the solver's last iterate is no menu to compare with); designs keep theirs, which
    are exact evaluations of the plans found, beside their status."""
    from pyomo_llmprice.tariffs.compare import COLUMNS

    table = comparison.table.copy()
    if FULL_MENU in table.index and str(table.loc[FULL_MENU, "status"]) != "optimal":
        # every number of the row (all of COLUMNS but the plan count and the status)
        cols = [c for c in COLUMNS if c not in ("plans", "status") and c in table.columns]
        table.loc[FULL_MENU, cols] = float("nan")
    return table


def report(comparison: Any, instance: Any) -> str:
    """The comparison table, every design's plans, the full menu, the tangent-tariff gap.

    Gains print as percentages (+9.5%): as ratios (1.095 or 0.095) they were misread.
    """
    from pyomo_llmprice.tariffs.compare import gains_as_percent

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
    lines += [*full_menu_lines(comparison.full_menu, instance.technology), ""]
    if TANGENT in comparison.designs:
        lines += plan_lines(TANGENT, comparison.designs[TANGENT])
    return "\n".join(lines).rstrip() + "\n"


def _records(frame: Any) -> list[dict[str, Any]]:
    import math

    def clean(value: Any) -> Any:
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def document(comparison: Any, instance: Any) -> dict[str, Any]:
    """The JSON of ``--json``: the table, every design and the full menu.

    Tariffs of anything not ``optimal`` are withheld (``plans`` is null). The table's
    gains are ratios (``gain_columns`` says so in the document itself).
    """
    import pandas as pd

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
        "max_ic_violation": result.verification.max_ic_violation,
        "max_ir_violation": result.verification.max_ir_violation,
        "packages": (
            _records(full_menu_frame(result, instance.technology)) if result.optimal else None
        ),
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


def run(args: argparse.Namespace) -> int:
    check_output(args.json, "--json")  # before the solves, not after them
    instance, comparison = comparison_of(args)
    print(report(comparison, instance), end="")
    if args.json:
        doc = document(comparison, instance)
        with writing("--json", args.json):
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return exit_code(overall_status(comparison))
