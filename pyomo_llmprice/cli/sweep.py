"""``llmprice sweep``: a parameter sweep on Dask that resumes where it stopped."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyomo_llmprice.cli._common import EXIT_OK

HELP = "run a parameter sweep (YAML/JSON spec) on a Dask cluster; re-run to resume"

#: exit code of an interrupted sweep (the shell's code for Ctrl-C)
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep spec (.yaml, .yml or .json; see README)")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler (default: a local cluster)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help="local workers (default: cores)"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="folder of Parquet parts (default: SPEC without suffix + '.parquet')",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="run at most N pending tasks"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (as llmprice --quiet; there is none off a terminal anyway)",
    )


def run(args: argparse.Namespace) -> int:
    from pyomo_llmprice.errors import UserInputError, require

    for module in ("dask.distributed", "pyarrow", "yaml"):  # before any work
        require(module, "sweep")
    from pyomo_llmprice.studies.spec import load_spec
    from pyomo_llmprice.studies.sweep import finished_keys, run_sweep

    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers must be at least 1, got {args.workers}")
    if args.limit is not None and args.limit < 0:
        raise UserInputError(f"--limit must not be negative, got {args.limit}")
    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path(args.spec).with_suffix(".parquet")
    total = len(spec.tasks())
    try:
        summary = run_sweep(
            spec,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=False if args.no_progress else None,  # None: a terminal, not --quiet
            limit=args.limit,
        )
    except KeyboardInterrupt:
        stored = len(finished_keys(out) & {t.key for t in spec.tasks()})
        print(
            f"llmprice sweep: interrupted; {stored} of {total} tasks stored in {out}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(
        f"{summary.total} tasks: {summary.already_done} already stored, {summary.ran} run now "
        f"({summary.failed} not optimal) in {summary.seconds:.1f} s; results in {summary.out} "
        "(read with pandas.read_parquet)"
    )
    return EXIT_OK
