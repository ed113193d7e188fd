"""``llmprice calibrate``: buyer types from a usage log, and the pricing that would earn more.

Reads the usage log, today's tariff and the technology; infers every buyer's theta from
its first-order conditions, checks every row is a best response among all plans, writes
the Token Packages instance (``--out``, ready for ``solve``, ``tariffs`` and ``sweep``),
prints a summary and the counterfactual (the optimal menu and the best 1..K plans on the
inferred types against today), and writes the JSON report (``--json``). Bad input (a
missing column, negative usage, an unknown plan, a zero price, a row no type would
choose) is one line and exit 2 with nothing written. The exit code is otherwise that of
the counterfactual's full menu if it is not optimal, else of its first non-optimal
design, else 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyomo_llmprice.cli._common import (
    check_output,
    exit_code,
    nonnegative_number,
    solver_help,
    writing,
)
from pyomo_llmprice.cli.tariffs import nonnegative_int, positive_int
from pyomo_llmprice.plugins import DEFAULT_SOLVER

HELP = "infer buyer types from a usage log and price the counterfactual"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pyomo_llmprice.calibration.calibrate import BELOW_THRESHOLD, MAX_MISFIT
    from pyomo_llmprice.calibration.smoothing import SMOOTHING

    parser.add_argument(
        "usage",
        help="usage log, CSV or Parquet: customer, input_tokens, output_tokens, "
        "finetune_tokens, optional plan, weight, period",
    )
    parser.add_argument(
        "--tariff",
        required=True,
        metavar="TARIFF",
        help="today's tariff as JSON {'plans': [{name, fixed_fee, price_input, price_output, "
        "price_finetune}]} (a design of 'llmprice tariffs --json' fits)",
    )
    parser.add_argument(
        "--technology",
        required=True,
        metavar="TECH",
        help="a .dat file with alpha, beta, gamma, base_quality and the three costs "
        "(a whole instance file works too)",
    )
    parser.add_argument("--out", required=True, metavar="INSTANCE.dat", help="instance to write")
    parser.add_argument(
        "--bins",
        type=positive_int,
        default=None,
        metavar="K",
        help="K quantile bins of the buyers instead of one type per buying customer "
        "(with --smooth lognormal: K points of the fitted law, default 20)",
    )
    parser.add_argument("--json", metavar="REPORT", help="write the JSON report")
    parser.add_argument(
        "--below-threshold",
        choices=tuple(BELOW_THRESHOLD),
        default="bound",
        help="what to assume about non-buyers, whose theta is only bounded above: "
        + "; ".join(f"{k}: {v}" for k, v in BELOW_THRESHOLD.items())
        + " (default bound)",
    )
    parser.add_argument(
        "--smooth",
        choices=tuple(SMOOTHING),
        default="average",
        help="average: a customer's theta is the geometric mean over its periods (default); "
        "lognormal: fit a lognormal law of theta (period noise removed) and use K points of it",
    )
    parser.add_argument(
        "--max-misfit",
        type=nonnegative_number,
        default=MAX_MISFIT,
        metavar="R",
        help="refuse rows whose token classes imply thetas differing by more than this "
        f"(relative; default {MAX_MISFIT:g})",
    )
    parser.add_argument(
        "--violations",
        choices=("keep", "drop"),
        default="keep",
        help="rows whose type would prefer another plan (or nothing) are reported; keep "
        "(default) or drop them",
    )
    parser.add_argument(
        "--plans",
        type=nonnegative_int,
        default=4,
        metavar="K",
        help="counterfactual: the best 1..K plans beside the optimal menu (default 4; "
        "0: no counterfactual, only the instance and today's numbers)",
    )
    parser.add_argument(
        "--starts",
        type=nonnegative_int,
        default=4,
        metavar="S",
        help="random starts per K of the plan design (default 4)",
    )
    parser.add_argument("--seed", type=nonnegative_int, default=0, metavar="N", help="seed")
    parser.add_argument(
        "--solver", default=DEFAULT_SOLVER, help=solver_help("the solver of the optimal menu")
    )


def run(args: argparse.Namespace) -> int:
    check_output(args.out, "--out")  # before anything is read or solved
    check_output(args.json, "--json")

    from pyomo_llmprice.analysis import overall_status
    from pyomo_llmprice.calibration.calibrate import calibrate_files, counterfactual, summary
    from pyomo_llmprice.io import write_dat

    calibration = calibrate_files(
        args.usage,
        args.tariff,
        args.technology,
        bins=args.bins,
        below_threshold=args.below_threshold,
        smoothing=args.smooth,
        max_misfit=args.max_misfit,
        violations=args.violations,
    )
    with writing("--out", args.out):
        write_dat(calibration.instance, args.out, header=calibration.header())
    cf, status = None, "optimal"
    if args.plans > 0:
        cf, comparison = counterfactual(
            calibration, plans=args.plans, starts=args.starts, seed=args.seed, solver=args.solver
        )
        status = overall_status(comparison)
    print(f"instance written to {args.out}")
    print(summary(calibration, cf), end="")
    if args.json:
        with writing("--json", args.json):
            Path(args.json).write_text(json.dumps(calibration.report(cf), indent=2) + "\n")
    return exit_code(status)
