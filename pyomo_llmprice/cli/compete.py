"""``llmprice compete``: equilibrium menus and tariffs when several providers compete."""

from __future__ import annotations

import argparse

from pyomo_llmprice.cli._common import (
    add_file_options_flag,
    check_output,
    exit_code,
    positive_seconds,
    solver_help,
    writing,
)
from pyomo_llmprice.cli.tariffs import GLOBAL_SOLVER_CHOICES, positive_int
from pyomo_llmprice.plugins import DEFAULT_SOLVER

HELP = "equilibrium menus of several competing sellers, certified against deviations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "instance",
        help="a competition .dat file: the buyers of a monopoly instance, set SELLERS, the "
        "sellers' technology table, taste, taste_scale and outside_option",
    )
    parser.add_argument(
        "--setting",
        choices=("packages", "allocations"),
        default="packages",
        help="the contracting environment of every seller's menu",
    )
    parser.add_argument(
        "--plans",
        type=positive_int,
        default=None,
        metavar="K",
        help="restrict each seller to K two-part tariffs (Token Packages; default: the full "
        "screening menu)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON")
    parser.add_argument(
        "--plot", metavar="PATH", help="write the figure (plans side by side, shares by type)"
    )
    parser.add_argument(
        "--max-iter",
        type=positive_int,
        default=200,
        metavar="N",
        help="rounds of best responses before the profile is reported not_converged",
    )
    parser.add_argument(
        "--starts",
        type=positive_int,
        default=6,
        metavar="S",
        help="starts of each certificate re-solve (at least 4 are used: the profile, "
        "two fixed starts and a cold solve; the rest perturb the profile at random)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    parser.add_argument("--solver", default=DEFAULT_SOLVER, help=solver_help())
    parser.add_argument(
        "--solver-options",
        default="",
        metavar="'NAME=VALUE ...'",
        help="Ipopt options of every best response, e.g. 'tol=1e-10'",
    )
    add_file_options_flag(parser)
    parser.add_argument(
        "--certify",
        action="store_true",
        help="prove a bound on each seller's best response to the others' menus with a "
        "global solver and report global_bound and global_gap (logit taste, Token "
        "Packages); needs the 'solvers' extra",
    )
    parser.add_argument(
        "--global-solver",
        default="scip_direct",
        choices=GLOBAL_SOLVER_CHOICES,
        help="the global solver of --certify (default scip_direct)",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="time limit of each seller's global solve (status time_limit, bound reached)",
    )


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.competition import Competition
    from pyomo_llmprice.errors import SolverOptionError, require
    from pyomo_llmprice.io.competition import read_competition
    from pyomo_llmprice.outcomes import solver_or_error
    from pyomo_llmprice.solvers.config import parse_option_string, refuse_file_options

    check_output(args.json, "--json")  # before the solves, not after them
    check_output(args.plot, "--plot")
    if args.plot:
        require("matplotlib", "plot")  # the extra is missing: say so before any solve
    try:
        options = parse_option_string(args.solver_options)
    except ValueError as err:
        raise SolverOptionError(f"--solver-options: {err}") from None
    if not args.allow_file_options:
        refuse_file_options(options, "--solver-options", "unless --allow-file-options is given")
    solver_or_error(args.solver)
    if args.certify:
        from pyomo_llmprice.global_certificates.global_minlp import require_solver

        require_solver(args.global_solver)  # before the equilibrium, not after it
    market = read_competition(args.instance)
    if args.certify:
        from pyomo_llmprice.global_certificates.competition import check_certifiable

        check_certifiable(market, args.setting, args.plans)  # before the equilibrium
    result = Competition(
        market,
        setting=args.setting,
        plans=args.plans,
        solver=args.solver,
        options=options,
        max_iter=args.max_iter,
        starts=args.starts,
        seed=args.seed,
    ).solve()
    print(result.report())
    doc = result.to_json() if args.json else None
    if args.certify:
        from pyomo_llmprice.global_certificates.competition import certify_competition
        from pyomo_llmprice.report.certificates import response_certificate_report

        certificates = certify_competition(result, args.global_solver, args.time_limit)
        print(response_certificate_report(certificates), end="")
        if doc is not None:
            doc["certificates"] = [c.to_dict() for c in certificates]
    if args.json:
        import json

        with writing("--json", args.json), open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
    if args.plot:
        from pyomo_llmprice.report.competition import plot_competition

        with writing("--plot", args.plot):
            plot_competition(result, args.plot)
    return exit_code(result.status)
