"""Exit codes shared by the subcommands."""

from __future__ import annotations

__all__ = ["EXIT_INPUT", "EXIT_NOT_CONVERGED", "EXIT_OK", "EXIT_UNVERIFIED", "exit_code"]

EXIT_OK, EXIT_INPUT, EXIT_NOT_CONVERGED, EXIT_UNVERIFIED = 0, 2, 3, 4
_EXIT_OF_STATUS = {
    "optimal": EXIT_OK,
    "not_converged": EXIT_NOT_CONVERGED,
    "verification_failed": EXIT_UNVERIFIED,
}


def exit_code(status: str) -> int:
    """The process exit code of a result status (unknown statuses count as not converged)."""
    return _EXIT_OF_STATUS.get(status, EXIT_NOT_CONVERGED)
