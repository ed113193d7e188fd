"""``llmprice``: the command line, thin doors onto the package's Python API.

Each subcommand lives in its own module of this package with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists them.
Command modules import heavy libraries inside ``run`` only (so ``llmprice solve``
never imports matplotlib or Dask).

Exit codes: 0 optimal and verified; 2 bad input (one-line message, no traceback
unless ``--debug``); 3 the solver did not converge; 4 the menu failed verification.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pyomo_llmprice.cli._common import EXIT_INPUT

__all__ = ["COMMANDS", "main"]

#: subcommand -> module (relative to this package)
COMMANDS: dict[str, str] = {"solve": ".solve"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmprice", description="Optimal LLM pricing menus as verified screening problems."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module, __name__)
        mod.add_arguments(sub.add_parser(name, help=mod.HELP, description=mod.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmprice`` console script."""
    args = _parser().parse_args(argv)
    from pyomo_llmprice.io import InstanceError

    module = importlib.import_module(COMMANDS[args.command], __name__)
    try:
        return module.run(args)
    except (InstanceError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"llmprice: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
