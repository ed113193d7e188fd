"""``llmprice``: the command line, thin doors onto the package's Python API.

Each subcommand lives in its own module of this package with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists them.
Command modules import heavy libraries inside ``run`` only (so ``llmprice solve``
never imports matplotlib or Dask).

``--quiet`` (``-q``, before or after the subcommand) silences the progress bars that
slow steps draw on a terminal (:mod:`pyomo_llmprice.progress`); off a terminal they are
silent anyway, so pipes and logs stay clean.

Exit codes (table in :mod:`pyomo_llmprice.cli._common`): 0 optimal and verified;
1 internal error (a bug: traceback printed); 2 bad input (one-line message, no
traceback unless ``--debug``); 3-9 one per non-optimal status (not_converged,
verification_failed, iteration_limit, time_limit, infeasible, evaluation_error,
solver_unavailable).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence

from pyomo_llmprice.cli._common import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    OneLineParser,
    is_user_error,
)
from pyomo_llmprice.progress import quiet

__all__ = ["COMMANDS", "main"]

#: subcommand -> module (relative to this package)
COMMANDS: dict[str, str] = {
    "solve": ".solve",
    "tariffs": ".tariffs",
    "plot": ".plot",
    "compare": ".compare",
    "sweep": ".sweep",
    "compete": ".compete",
    "calibrate": ".calibrate",
}


QUIET_HELP = "no progress bars (they are drawn on a terminal only, never into pipes or files)"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(  # subcommand parsers inherit the class
        prog="llmprice", description="Optimal LLM pricing menus as verified screening problems."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module, __name__)
        command = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(command)
        # accepted after the subcommand too; SUPPRESS: an absent -q here must not
        # overwrite a -q given before the subcommand
        command.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
        )
    return parser


def _one_line_warning(message: Warning | str, *_: object, **__: object) -> None:
    """A warning is for people reading a terminal: one line, no source excerpt."""
    print(f"llmprice: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmprice`` console script."""
    from pyomo_llmprice import limits

    args = _parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command], __name__)
    try:  # a second Ctrl-C ends the command at once, even inside MUMPS
        with (
            quiet() if args.quiet else contextlib.nullcontext(),
            warnings.catch_warnings(),
            limits.second_interrupt_kills(),
        ):
            warnings.showwarning = _one_line_warning
            return module.run(args)
    except KeyboardInterrupt:  # Ctrl-C outside a solve (reading, building, verifying)
        if args.debug:
            raise
        print("llmprice: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `llmprice solve ... | head`: the reader left, not a bug
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as err:
        if args.debug:
            raise
        if is_user_error(err):  # the user's to fix: one line, no traceback
            print(f"llmprice: error: {' '.join(str(err).split())}", file=sys.stderr)
            return EXIT_INPUT
        # a bug is never disguised as bad input: show where it happened
        traceback.print_exc(file=sys.stderr)
        print(
            f"llmprice: internal error: {type(err).__name__}: {' '.join(str(err).split())} "
            "(a bug in pyomo_llmprice; please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
