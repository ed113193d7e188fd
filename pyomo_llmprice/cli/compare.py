"""``llmprice compare``: every instance with every solver, tabulated and profiled."""

from __future__ import annotations

import argparse

from pyomo_llmprice.cli._common import (
    EXIT_OK,
    check_output,
    nonnegative_number,
    positive_seconds,
    writing,
)
from pyomo_llmprice.settings import setting_names

HELP = "compare solvers on instances: table (CSV, Markdown) and performance profile"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instances", nargs="+", metavar="INSTANCE", help=".dat instance files")
    parser.add_argument(
        "--setting",
        choices=setting_names("llm"),
        default="packages",
        help="the contracting environment solved: packages (token totals, default; gap_exact "
        "is known) or allocations (tokens per task)",
    )
    parser.add_argument(
        "--solvers",
        default=None,
        metavar="LIST",
        help="comma-separated solver names (default: the package's four solvers plus "
        "every external NLP solver Pyomo knows; missing ones are listed as unavailable)",
    )
    parser.add_argument(
        "--formulation",
        choices=["all-pairs", "generated"],
        default="all-pairs",
        help="IC constraints: all N(N-1) pairs, or generated on demand",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="R", help="wall time is the median of R runs"
    )
    parser.add_argument(
        "--out",
        default="comparison",
        metavar="DIR",
        help="folder for comparison.csv, comparison.md and the profile (default: ./comparison)",
    )
    parser.add_argument(
        "--time-limit", type=positive_seconds, default=None, metavar="SECONDS", help="per solve"
    )
    parser.add_argument(
        "--dense-limit",
        type=nonnegative_number,
        default=2e6,
        metavar="N",
        help="skip dense solvers (SLSQP) when variables x constraints exceed N",
    )
    parser.add_argument(
        "--gap-tolerance",
        type=nonnegative_number,
        default=1e-4,
        metavar="T",
        help="a run counts as solved in the profile if verified and within T (relative) "
        "of the best profit",
    )


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.errors import (
        MissingExtraError,
        UnknownSolverError,
        UserInputError,
        require,
    )
    from pyomo_llmprice.outcomes import solver_or_error
    from pyomo_llmprice.studies.compare import (
        DEFAULT_SOLVERS,
        EXTERNAL_SOLVERS,
        PACKAGE_SOLVERS,
        compare,
        to_markdown,
        write_comparison,
    )

    if args.solvers is None:
        solvers = [*DEFAULT_SOLVERS, *PACKAGE_SOLVERS, *EXTERNAL_SOLVERS]
    else:
        solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
        if not solvers:
            raise UserInputError("--solvers: give at least one solver name")
        for name in solvers:  # a typo is refused; a known solver missing here is a row
            try:
                solver_or_error(name)
            except UnknownSolverError as err:
                raise UserInputError(f"--solvers: {err}") from None
    check_output(args.out, "--out", folder=True)  # before the solves, not after them

    table = compare(
        args.instances,
        solvers=solvers,
        setting=args.setting,
        formulation=args.formulation,
        repeat=args.repeat,
        time_limit=args.time_limit,
        dense_limit=args.dense_limit,
    )  # a bar over the runs on a terminal (llmprice --quiet: none)
    try:  # the tables never need matplotlib; only the profile figure does
        require("matplotlib", "plot")
        skipped = None
    except MissingExtraError as err:
        skipped = str(err)
    with writing("--out", args.out):
        paths = write_comparison(
            table, args.out, gap_tolerance=args.gap_tolerance, profile=skipped is None
        )
    print(to_markdown(table))
    for what, path in paths.items():
        print(f"{what}: {path}")
    if skipped:
        print(f"profile: skipped ({skipped})")
    return EXIT_OK
