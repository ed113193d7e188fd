"""Progress bars for the slow steps, shown on a terminal only: one rule for the package.

Plan design, IC-generation rounds, figures, solver comparisons and sweeps can run for
many seconds; a person at a terminal should see them move, while a script, a log file,
a pipe or a test must get clean output. Every bar in the package comes from
:func:`progress_bar`, which decides with :func:`show_progress`:

==========================  ===========================================
``enabled`` (the caller's)  bar shown?
==========================  ===========================================
``False``                   never
``True``                    always (the caller asked for it)
``None`` (automatic)        only if the package is not quiet (``llmprice --quiet``,
                            :func:`quiet`) and the stream (stderr) is a terminal
==========================  ===========================================

A silent bar is ``tqdm(disable=True)``: the same object, every method a no-op, so the
code that drives a bar never asks whether it is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from tqdm import tqdm

__all__ = ["is_quiet", "progress_bar", "quiet", "set_quiet", "show_progress"]

#: package-wide: True silences every automatic bar (``llmprice --quiet``)
_QUIET = False


def set_quiet(flag: bool = True) -> bool:
    """Silence (or allow) automatic bars package-wide; returns the previous setting."""
    global _QUIET
    previous, _QUIET = _QUIET, bool(flag)
    return previous


def is_quiet() -> bool:
    """Whether automatic bars are silenced package-wide."""
    return _QUIET


@contextmanager
def quiet(flag: bool = True) -> Iterator[None]:
    """Silence automatic bars (``flag`` True) inside the block; the old setting comes back
    after it, so a command run in-process (tests, notebooks) leaves no state behind."""
    previous = set_quiet(flag)
    try:
        yield
    finally:
        set_quiet(previous)


def _is_terminal(stream: IO[str] | Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def show_progress(enabled: bool | None = None, stream: IO[str] | Any = None) -> bool:
    """Whether a bar is drawn: the caller's explicit choice, else not quiet and a terminal.

    ``stream`` defaults to the current ``sys.stderr`` (read at call time, so redirected
    or captured stderr counts as what it is).
    """
    if enabled is not None:
        return bool(enabled)
    if _QUIET:
        return False
    return _is_terminal(sys.stderr if stream is None else stream)


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    enabled: bool | None = None,
    stream: IO[str] | Any = None,
    **kwds: Any,
) -> tqdm:
    """A tqdm bar on stderr (or ``stream``) when :func:`show_progress` says so, else a
    silent tqdm with the same methods. ``kwds`` go to tqdm (``total``, ``desc``,
    ``unit``, ``leave``, ...); inner bars of nested loops pass ``leave=False``."""
    file = sys.stderr if stream is None else stream
    show = show_progress(enabled, file)
    kwds.setdefault("dynamic_ncols", True)
    return tqdm(iterable, file=file, disable=not show, **kwds)
