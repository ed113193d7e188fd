"""``llmprice sweep``: a parameter sweep on Dask that resumes where it stopped.

Only rows still valid are kept: stored parts of an earlier spec, an edited base file
or other outputs are moved to ``OUT/_stale`` and recomputed, and the summary says how
many. A spec of more than ``--max-tasks`` tasks is refused before anything is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyomo_llmprice.cli._common import EXIT_OK, check_output
from pyomo_llmprice.cli.tariffs import positive_int

HELP = "run a parameter sweep (YAML/JSON spec) on a Dask cluster; re-run to resume"

#: exit code of an interrupted sweep (the shell's code for Ctrl-C)
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep spec (.yaml, .yml or .json; see README)")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler, tcp://HOST:PORT (default: a local "
        "cluster); checked within a few seconds before the sweep starts",
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
        "--max-tasks",
        type=positive_int,
        default=None,
        metavar="N",
        help="refuse specs of more than N tasks (default 100,000): a range with "
        "num: 100000000 is a typo more often than a plan",
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
    from pyomo_llmprice.studies.spec import MAX_TASKS, load_spec
    from pyomo_llmprice.studies.sweep import finished_keys, run_sweep

    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers must be at least 1, got {args.workers}")
    if args.limit is not None and args.limit < 0:
        raise UserInputError(f"--limit must not be negative, got {args.limit}")
    spec = load_spec(args.spec, max_tasks=args.max_tasks or MAX_TASKS)
    default = str(Path(args.spec).with_suffix(".parquet"))
    # checked as given: Path("") would quietly be the current folder
    out = Path(check_output(default if args.out is None else args.out, "--out", folder=True))
    total = len(spec.tasks())

    def waiting(message: str) -> None:
        print(f"llmprice sweep: {message}", file=sys.stderr, flush=True)

    try:
        summary = run_sweep(
            spec,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=False if args.no_progress else None,  # None: a terminal, not --quiet
            limit=args.limit,
            on_wait=waiting,
        )
    except KeyboardInterrupt:
        stored = len(finished_keys(out) & {t.key for t in spec.tasks()})
        print(
            f"llmprice sweep: interrupted; {stored} of {total} tasks stored in {out}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if summary.stale:
        print(
            f"{summary.stale} stored rows no longer match the spec (an edited base file, other "
            f"options or outputs, removed values): not used, moved to {out / '_stale'}"
        )
    print(
        f"{summary.total} tasks: {summary.already_done} already stored, {summary.ran} run now "
        f"({summary.failed} not optimal) in {summary.seconds:.1f} s; results in {summary.out} "
        "(read with pandas.read_parquet)"
    )
    return EXIT_OK
