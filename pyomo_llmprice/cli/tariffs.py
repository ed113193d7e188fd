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
from pyomo_llmprice.plugins import DEFAULT_SOLVER

#: --global-solver choices (global_certificates.global_minlp.GLOBAL_SOLVERS, without importing it)
GLOBAL_SOLVER_CHOICES = ("scip_direct", "gurobi_direct_minlp")

HELP = "verified menus of K two-part tariffs beside the full menu and linear pricing"


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
        "--solver", default=DEFAULT_SOLVER, help=solver_help("the solver of the full menu")
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
    parser.add_argument(
        "--certify",
        action="store_true",
        help="prove a bound on the best K-plan design for each K with a global MINLP solver "
        "and report global_bound and global_gap beside the local design (and the global "
        "design when it is better); --time-limit then also limits each K's global solve "
        "(status time_limit with the bound reached); needs the 'solvers' extra",
    )
    parser.add_argument(
        "--global-solver",
        default="scip_direct",
        choices=GLOBAL_SOLVER_CHOICES,
        help="the global solver of --certify (default scip_direct; gurobi_direct_minlp "
        "runs within its licence's size limit)",
    )


def comparison_of(args: argparse.Namespace) -> tuple[Any, Any]:
    """Read the instance; compare linear pricing, K = 1..K plans and the full menu."""
    from pyomo_llmprice.analysis import compare_pricing
    from pyomo_llmprice.cli.solve import options_and_instance, refuse_oversized
    from pyomo_llmprice.errors import UserInputError
    from pyomo_llmprice.limits import as_deadline

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


def overall_status(comparison: Any) -> str:
    """The exit status of a comparison (:func:`pyomo_llmprice.analysis.overall_status`)."""
    from pyomo_llmprice.analysis import overall_status as status

    return status(comparison)


def certificates_of(args: argparse.Namespace, instance: Any, comparison: Any) -> list[Any]:
    """With ``--certify``: each K's global certificate beside its local design."""
    if not getattr(args, "certify", False):
        return []
    from pyomo_llmprice.global_certificates.plans import certify_plans

    return [
        certify_plans(
            instance,
            k,
            local=comparison.designs[f"K={k}"],
            solver=args.global_solver,
            time_limit=args.time_limit,
        )
        for k in range(1, args.plans + 1)
    ]


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.report.pricing import comparison_document, comparison_report

    check_output(args.json, "--json")  # before the solves, not after them
    if getattr(args, "certify", False):
        from pyomo_llmprice.global_certificates.global_minlp import require_solver

        require_solver(args.global_solver)  # before the local designs, not after them
    instance, comparison = comparison_of(args)
    print(comparison_report(comparison, instance), end="")
    certificates = certificates_of(args, instance, comparison)
    if certificates:
        from pyomo_llmprice.report.certificates import certificate_report

        print(certificate_report(certificates), end="")
    if args.json:
        doc = comparison_document(comparison, instance)
        if certificates:
            from pyomo_llmprice.report.certificates import add_certificates

            add_certificates(doc, certificates)
        with writing("--json", args.json):
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return exit_code(overall_status(comparison))
