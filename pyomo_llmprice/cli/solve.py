"""``llmprice solve``: solve an instance and print the verified menu."""

from __future__ import annotations

import argparse
from typing import Any

from pyomo_llmprice.cli._common import (
    add_file_options_flag,
    add_force_flag,
    check_output,
    exit_code,
    ic_help,
    positive_seconds,
    solver_help,
    writing,
)
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.settings import ic_options, setting_names

HELP = "solve an instance and print the verified menu"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", help="a .dat instance file (see README)")
    parser.add_argument(
        "--setting",
        choices=setting_names(),
        default="packages",
        help="packages / allocations: the LLM settings; screening: a generic screening "
        "instance (set DIMS, theta[TYPES,DIMS], value_form, cost_form, ...)",
    )
    parser.add_argument(
        "--method",
        choices=("auto", "exact", "nlp"),
        default="auto",
        help="exact: one-dimensional menus by ironing and a pointwise maximum, no NLP "
        "(Token Packages, one-task or one-scale Token Allocations, one-dimensional "
        "screening; otherwise one warning line and the NLP runs); nlp: always the Pyomo "
        "model and --solver; auto (default): exact where it applies unless --solver, "
        "--solver-options, --tee or --ic ask for the NLP, the NLP elsewhere",
    )
    parser.add_argument("--solver", default=None, help=solver_help(long_chains=True))
    parser.add_argument(
        "--ic",
        choices=ic_options(),
        default="auto",
        help=ic_help(),
    )
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON")
    parser.add_argument("--csv", metavar="PATH", help="write the menu table as CSV")
    parser.add_argument("--tee", action="store_true", help="stream Ipopt's log")
    parser.add_argument(
        "--all-types",
        action="store_true",
        help="list every type (excluded ones too) instead of one row per distinct package",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="wall-clock limit of the whole command, from its start: reading, model "
        "construction, every solver call and IC-generation round, verification; hitting "
        "it is status time_limit, exit code 6 (default: none)",
    )
    parser.add_argument(
        "--solver-options",
        default="",
        metavar="'NAME=VALUE ...'",
        help="Ipopt options, e.g. 'max_iter=500 tol=1e-9'",
    )
    add_file_options_flag(parser)
    add_force_flag(parser)


def refuse_oversized(args: argparse.Namespace, instance: Any, setting: str, ic: str) -> None:
    """Before the model is built: one line (exit 2) if it cannot fit in memory, unless
    ``--force`` (a model past memory swaps or loops in MUMPS instead of failing)."""
    from pyomo_llmprice.limits import check_memory
    from pyomo_llmprice.settings import check_setting

    check_setting(instance, setting)  # a file of the other format: one line, before sizing
    theta = getattr(instance, "theta", None)
    if setting == "screening" and theta is not None and hasattr(instance, "dims"):
        dims = int(theta.shape[1])
        n = int(theta.shape[0])
    else:
        n = len(instance.types.labels)
        dims = 1 if setting == "packages" else 2
    check_memory(args.instance, n, ic, dims == 1, dims, getattr(args, "force", False))


def options_and_instance(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """``--solver-options`` parsed and ``--solver`` checked before any work, then the
    instance read (shared with ``llmprice tariffs`` and ``llmprice plot``)."""
    from pyomo_llmprice.errors import SolverOptionError
    from pyomo_llmprice.io import read_instance
    from pyomo_llmprice.outcomes import solver_or_error
    from pyomo_llmprice.solvers.config import parse_option_string, refuse_file_options

    try:  # a pure parser: any ValueError here is the option string's fault
        options = parse_option_string(args.solver_options)
    except ValueError as err:
        raise SolverOptionError(f"--solver-options: {err}") from None
    if not getattr(args, "allow_file_options", False):
        refuse_file_options(options, "--solver-options", "unless --allow-file-options is given")
    solver_or_error(args.solver or DEFAULT_SOLVER)  # a misspelt one is refused before any work
    return options, read_instance(args.instance)


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.exact import solve_instance_exactly
    from pyomo_llmprice.limits import as_deadline
    from pyomo_llmprice.pipeline import build_model, resolve_method, solve_model

    deadline = as_deadline(args.time_limit)  # the command's clock starts here
    check_output(args.json, "--json")  # before the solve, not after it
    check_output(args.csv, "--csv")
    options, instance = options_and_instance(args)
    # the exact method builds no model: no memory limit applies to it
    method = resolve_method(args.method, args.ic, solver=args.solver, options=options, tee=args.tee)
    result = solve_instance_exactly(instance, args.setting, method, time_limit=deadline)
    if result is None:
        refuse_oversized(args, instance, args.setting, args.ic)
        model = build_model(instance, args.setting, args.ic)
        result = solve_model(
            model,
            solver=args.solver,  # None: pipeline.default_solver
            options=options,
            tee=args.tee,
            time_limit=deadline,
            method="nlp",
        )
    print(result.report(all_types=args.all_types))
    if args.json:
        with writing("--json", args.json):
            result.to_json(args.json)
    if args.csv:
        with writing("--csv", args.csv):
            result.to_csv(args.csv)
    return exit_code(result.status)
