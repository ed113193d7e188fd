"""``llmprice``: the command line, a thin door onto :mod:`pyomo_llmprice.pipeline`.

Exit codes: 0 optimal and verified; 2 bad input (one-line message, no traceback
unless ``--debug``); 3 the solver did not converge; 4 the menu failed verification.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_NOT_CONVERGED, EXIT_UNVERIFIED = 0, 2, 3, 4
_EXIT_OF_STATUS = {
    "optimal": EXIT_OK,
    "not_converged": EXIT_NOT_CONVERGED,
    "verification_failed": EXIT_UNVERIFIED,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmprice", description="Optimal LLM pricing menus as verified screening problems."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True)
    solve = sub.add_parser("solve", help="solve an instance and print the verified menu")
    solve.add_argument("instance", help="a .dat instance file (see README)")
    solve.add_argument("--setting", choices=["packages", "allocations"], default="packages")
    solve.add_argument("--solver", default="cyipopt_direct")
    solve.add_argument(
        "--ic", choices=["auto", "adjacent", "all_pairs", "generated"], default="auto"
    )
    solve.add_argument("--json", metavar="PATH", help="write the result as JSON")
    solve.add_argument("--csv", metavar="PATH", help="write the menu table as CSV")
    solve.add_argument("--tee", action="store_true", help="stream Ipopt's log")
    solve.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    solve.add_argument(
        "--solver-options",
        default="",
        metavar="'NAME=VALUE ...'",
        help="Ipopt options, e.g. 'max_iter=500 tol=1e-9'",
    )
    return parser


def _solve(args: argparse.Namespace) -> int:
    from pyomo_llmprice.io import read_instance
    from pyomo_llmprice.pipeline import build_model, solve_model
    from pyomo_llmprice.solvers.config import parse_option_string

    instance = read_instance(args.instance)
    model = build_model(instance, args.setting, args.ic)
    result = solve_model(
        model,
        solver=args.solver,
        options=parse_option_string(args.solver_options),
        tee=args.tee,
        time_limit=args.time_limit,
    )
    print(result.report())
    if args.json:
        result.to_json(args.json)
    if args.csv:
        result.to_csv(args.csv)
    return _EXIT_OF_STATUS[result.status]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmprice`` console script."""
    args = _parser().parse_args(argv)
    from pyomo_llmprice.io import InstanceError

    try:
        return {"solve": _solve}[args.command](args)
    except (InstanceError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"llmprice: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
