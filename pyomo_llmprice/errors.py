"""Errors that are the user's to fix, kept apart from the package's own bugs.

The command line prints a :class:`UserInputError` as one line and exits 2; any
other exception is a bug and is reported as an internal error with its
traceback. Each class subclasses :class:`ValueError`, so ``except ValueError``
in existing user code keeps working. (:class:`pyomo_llmprice.instance.InstanceError`,
a bad instance file, is the other user error the command line knows.)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from types import ModuleType

__all__ = [
    "EXTRAS",
    "MissingExtraError",
    "SolverOptionError",
    "UnknownSolverError",
    "UserInputError",
    "require",
]

#: optional feature -> (the extra that installs it, what it brings); setup.cfg is the truth
EXTRAS: dict[str, tuple[str, str]] = {
    "plot": ("plot", "matplotlib, for llmprice plot, figures from Python, compare's profile"),
    "sweep": ("distributed", "Dask, PyArrow and PyYAML, for llmprice sweep"),
    "docs": ("docs", "Sphinx and MyST, to build the user guide in docs/"),
    "notebook": ("notebook", "nbclient and ipykernel, to run examples/*.ipynb"),
    "parquet": ("parquet", "PyArrow, to read and write Parquet usage logs (llmprice calibrate)"),
    "solvers": ("solvers", "SCIP, HiGHS and Gurobi, for llmprice compare and --certify"),
}


class UserInputError(ValueError):
    """Something the user asked for cannot be done as asked; the message says what."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line


class SolverOptionError(UserInputError):
    """A solver option that is malformed (``max_iter`` without ``=``) or refused."""


class UnknownSolverError(UserInputError):
    """A solver name that no Pyomo solver factory knows."""

    def __init__(
        self, name: str, available: Iterable[str], unavailable: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.available = tuple(available)
        self.unavailable = tuple(unavailable)
        close = difflib.get_close_matches(name, self.available, n=1, cutoff=0.5)
        close = close or difflib.get_close_matches(name, self.unavailable, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"unknown solver {name!r}{hint}; available: {', '.join(self.available) or 'none'}"
        if self.unavailable:
            message += f" (known but not usable here: {', '.join(self.unavailable)})"
        super().__init__(message)

    def __reduce__(self) -> tuple:  # picklable across processes (parallel studies)
        return (type(self), (self.name, self.available, self.unavailable))


class MissingExtraError(UserInputError):
    """An optional feature whose extra is not installed: the user's to install, not a bug."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` for an optional `feature` (a key of :data:`EXTRAS`).

    Without it, a :class:`MissingExtraError` names the extra to install, so the
    command line exits 2 with one line instead of reporting an internal error.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS[feature][0]
        raise MissingExtraError(
            f"{module.split('.')[0]} is not installed; the {extra!r} extra brings "
            f"{EXTRAS[feature][1]}: pip install 'pyomo_llmprice[{extra}]'"
        ) from None
