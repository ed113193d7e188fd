"""``llmprice plot``: write the figures of an instance's menu and tariff designs to a folder.

Solves the full menu and the designs of ``llmprice tariffs`` (linear pricing, K = 1..K
plans), then writes: ``allocations`` (tokens per class against theta), ``markups_fees``
(markup and fixed fee against theta, with the K-plan designs as steps),
``profit_by_plans`` (profit and revenue by design) and one ``schedules_<design>`` per
optimal design (payment against tokens per plan, and the lower envelope). Lists the
files written. A non-optimal full menu writes nothing and exits with its status code;
non-optimal designs are left out of the schedules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyomo_llmprice.cli._common import check_output, exit_code, writing
from pyomo_llmprice.cli.tariffs import add_design_arguments, comparison_of, overall_status

HELP = "write the figures (allocations, markups and fees, tariff schedules, profit by K)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_design_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the figures")
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        choices=["png", "pdf", "svg"],
        default=["png"],
        help="file formats (default png)",
    )


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.errors import require
    from pyomo_llmprice.report import write_figures

    require("matplotlib", "plot")  # before any solve: the extra is missing, not a bug

    out = Path(args.out)
    check_output(args.out, "--out", folder=True)  # before the solves, not after them
    _, comparison = comparison_of(args)
    result = comparison.full_menu
    if not result.optimal:
        print(
            f"full menu: status {result.status} (solver: {result.termination}). "
            "NOT OPTIMAL: no figures written"
        )
        return exit_code(result.status)
    with writing("--out", out):
        written = write_figures(out, result, comparison, formats=args.formats)
    for path in written:
        print(path)
    status = overall_status(comparison)
    if status != "optimal":
        print(f"note: some designs are not optimal ({status}); their schedules are not drawn")
    return exit_code(status)
