"""Exit codes and error handling shared by the subcommands.

Scripts test the exit code, so every status has its own:

====  ======================================================================
code  meaning
====  ======================================================================
0     ``optimal``: converged and verified on all IC/IR pairs
1     internal error: a bug in pyomo_llmprice (traceback printed; please report)
2     bad input: instance file, option, solver name (one line, no traceback)
3     ``not_converged``: restoration failure, step too small, acceptable level only
4     ``verification_failed``: converged, but an IC or IR constraint is violated
5     ``iteration_limit``
6     ``time_limit``
7     ``infeasible``
8     ``evaluation_error``: NaN or Inf in a function or derivative
9     ``solver_unavailable``: the solver is known but cannot run here
130   ``interrupted``: Ctrl-C (SIGINT) stopped the solve (128 + 2, the shell's convention)
====  ======================================================================

Subcommands raise :class:`pyomo_llmprice.errors.UserInputError` (or
:class:`pyomo_llmprice.instance.InstanceError`) for user mistakes; anything else
that escapes them is an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

__all__ = [
    "EXIT_CODES",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_CONVERGED",
    "EXIT_OK",
    "EXIT_UNVERIFIED",
    "OneLineParser",
    "add_file_options_flag",
    "add_force_flag",
    "check_output",
    "exit_code",
    "ic_help",
    "is_user_error",
    "nonnegative_number",
    "positive_seconds",
    "solver_help",
]

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_NOT_CONVERGED, EXIT_UNVERIFIED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command

#: status -> exit code (the table above)
EXIT_CODES: dict[str, int] = {
    "optimal": EXIT_OK,
    "not_converged": EXIT_NOT_CONVERGED,
    "verification_failed": EXIT_UNVERIFIED,
    "iteration_limit": 5,
    "time_limit": 6,
    "infeasible": 7,
    "evaluation_error": 8,
    "solver_unavailable": 9,
    "interrupted": EXIT_INTERRUPTED,
}


def exit_code(status: str) -> int:
    """The process exit code of a result status (an unknown status counts as not converged)."""
    return EXIT_CODES.get(status, EXIT_NOT_CONVERGED)


def is_user_error(err: BaseException) -> bool:
    """Whether `err` is the user's to fix (one line, exit 2) rather than a bug.

    Besides the package's user-input errors, an OSError that names a file (an
    output path in a missing folder, a read-only file) is the user's.
    """
    from pyomo_llmprice.errors import UserInputError
    from pyomo_llmprice.instance import InstanceError

    if isinstance(err, (UserInputError, InstanceError)):
        return True
    return isinstance(err, OSError) and err.filename is not None


def positive_seconds(text: str) -> float:
    """argparse type of ``--time-limit``: a finite number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return seconds


def nonnegative_number(text: str) -> float:
    """argparse type of limits and tolerances: a finite number of at least 0 (``nan``
    would silently compare false everywhere it is used)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text!r}")
    return value


def solver_help(what: str = "the NLP solver", long_chains: bool = False) -> str:
    """Help of ``--solver``: the package's solvers by name, and what else is accepted.

    Names only, from the registration table: probing availability (loading Ipopt,
    looking for executables) would make every ``--help`` slow.
    """
    from pyomo_llmprice.plugins import SOLVERS
    from pyomo_llmprice.solvers.options import LONG_CHAIN_SOLVER, LONG_CHAIN_TYPES

    ours = ", ".join(SOLVERS)
    chains = (
        f"; {LONG_CHAIN_SOLVER} for Token Packages' envelope chains of {LONG_CHAIN_TYPES:,} "
        "or more distinct types"
        if long_chains
        else ""
    )
    return (
        f"{what} (default cyipopt_direct, Ipopt bundled with cyipopt{chains}). The package's: "
        f"{ours}; also any name in Pyomo's solver factory (e.g. ipopt, if its executable "
        "is installed). An unknown name is refused with the list of those that run here"
    )


def ic_help() -> str:
    """Help of ``--ic``: what each set of incentive constraints means, and when to use it."""
    from pyomo_llmprice.blocks.menu import GENERATION_THRESHOLD

    return (
        "which incentive (IC) constraints the model carries; the solved menu is checked "
        "on all pairs whatever the choice. adjacent: each type against its neighbours "
        "(exact for one-dimensional types, e.g. packages); envelope (packages only): each "
        "type's IC toward the type below it and the lowest type's IR as equalities "
        "(payments by the envelope formula), plus monotone precision; all_pairs: all "
        "N(N-1) pairs; generated: neighbours first, then the violated pairs are added and "
        "the model re-solved until none is (for many multidimensional types); auto "
        "(default): envelope for packages, adjacent for one-dimensional screening, else "
        f"all_pairs up to {GENERATION_THRESHOLD} distinct types and generated beyond"
    )


def _why(err: OSError) -> str:
    return err.strerror or errno.errorcode.get(err.errno or 0, "") or str(err)


def _probe_folder(folder: Path, option: str, path: str) -> None:
    """Create and remove a file in `folder`: the only test of writability that also
    holds for root, read-only mounts and ACLs."""
    try:
        fd, name = tempfile.mkstemp(prefix=".llmprice-probe-", dir=folder)
    except OSError as err:
        raise _user_error(
            f"{option} {path}: cannot create files in {folder}: {_why(err)}"
        ) from None
    os.close(fd)
    os.unlink(name)


def _user_error(message: str) -> Exception:
    from pyomo_llmprice.errors import UserInputError

    return UserInputError(message)


def check_output(
    path: str | os.PathLike[str] | None, option: str, *, folder: bool = False
) -> Path | None:
    """Refuse an output path that cannot be written, before any work is done.

    Every subcommand that writes files calls this for each output option, so a typo
    in ``--json`` is reported at once, not after a long solve. A file's folder must
    exist; a `folder` output may be created (with its parents) but the nearest
    existing ancestor must be a writable folder. Nothing is left behind: an existing
    file is opened for appending (its content and time stamp unchanged) and folders
    are probed with a temporary file. ``None`` (option not given) passes.
    """
    if path is None:
        return None
    text = os.fspath(path)
    if not text.strip():
        raise _user_error(f"{option}: empty path; give a {'folder' if folder else 'file name'}")
    target = Path(text)
    if folder:
        if target.exists():
            if not target.is_dir():
                raise _user_error(f"{option} {text}: exists and is not a folder")
            _probe_folder(target, option, text)
            return target
        ancestor = target.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise _user_error(f"{option} {text}: {ancestor} is not a folder")
        _probe_folder(ancestor, option, text)
        return target
    if target.is_dir():
        raise _user_error(f"{option} {text}: is a folder, not a file")
    parent = target.parent
    if not parent.exists():
        raise _user_error(f"{option} {text}: folder {parent} does not exist")
    if not parent.is_dir():
        raise _user_error(f"{option} {text}: {parent} is not a folder")
    if target.is_file():  # not a device or FIFO: opening one may block or have effects
        try:
            with open(target, "a"):
                pass
        except OSError as err:
            raise _user_error(f"{option} {text}: cannot write: {_why(err)}") from None
    elif not target.exists():
        _probe_folder(parent, option, text)
    return target


@contextlib.contextmanager
def writing(option: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Report a failed write (disk full, ``/dev/full``, a file removed meanwhile) as
    the user's one-line error naming the option and path, not as a bug."""
    try:
        yield
    except OSError as err:
        raise _user_error(f"{option} {os.fspath(path)}: cannot write: {_why(err)}") from None


def add_file_options_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-file-options``: let ``--solver-options`` name files (see FILE_OPTIONS)."""
    parser.add_argument(
        "--allow-file-options",
        action="store_true",
        help="accept Ipopt options that name files (output_file, option_file_name, hsllib, "
        "pardisolib); refused otherwise",
    )


def add_force_flag(parser: argparse.ArgumentParser) -> None:
    """``--force``: solve even when the model's estimated memory exceeds what is available."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="build and solve even if the estimated memory of the model (from the number "
        "of types and IC rows) exceeds the available memory; refused otherwise",
    )


class OneLineParser(argparse.ArgumentParser):
    """argparse with the package's rule for bad input: one line, exit 2.

    argparse prints the usage block before its message; a script reading stderr (and
    the fault suite) gets the one line that names the argument, with where to look.
    """

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_INPUT, f"{self.prog}: error: {text} (see {self.prog} --help)\n")
