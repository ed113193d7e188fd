"""Time limits and Ctrl-C for a whole command, in one place.

A time limit the user gives (``--time-limit``) bounds the command, not each solver
call: model construction, every Ipopt call, IC-generation rounds, retries and the
verification all spend from one :class:`Deadline` started when the command starts.
Ipopt gets ``max_wall_time = deadline.remaining()`` at each call, and the code
between calls checks :meth:`Deadline.expired`.

Ipopt runs in C, where Python's SIGINT handler only runs at the next Python
callback, and a ``KeyboardInterrupt`` raised there unwinds through cyipopt as an
exception: no status, no JSON, a traceback. So during a solve (:func:`solving`)
the first Ctrl-C only sets a flag, which the solver's per-iteration callback reads
to stop Ipopt cleanly (status ``interrupted``, exit 130, the point so far kept
apart). A second Ctrl-C gets the default back: Python's ``KeyboardInterrupt`` in a
library, and on the command line the kernel's own default (the process ends even
inside a MUMPS factorization, which holds the GIL so that no Python runs there,
for minutes on very large instances).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "Deadline",
    "active_deadline",
    "as_deadline",
    "available_memory",
    "check_memory",
    "clear_interrupt",
    "ic_rows",
    "interrupted",
    "memory_estimate",
    "request_interrupt",
    "second_interrupt_kills",
    "seconds_left",
    "solving",
    "stop_reason",
]


class Deadline:
    """A wall-clock budget on the monotonic clock (immune to clock changes).

    Started once, when the command starts, and passed wherever a ``time_limit``
    in seconds is accepted, so that every step spends from the same budget.
    ``seconds=None`` is no limit: :meth:`remaining` is infinite, never expired.
    """

    __slots__ = ("seconds", "started")

    def __init__(self, seconds: float | None, started: float | None = None) -> None:
        if seconds is not None and not (math.isfinite(seconds) or seconds == math.inf):
            raise ValueError(f"a time limit must be a number of seconds, got {seconds!r}")
        self.seconds = None if seconds is None else float(seconds)
        self.started = time.monotonic() if started is None else float(started)

    def elapsed(self) -> float:
        """Seconds since the deadline was started."""
        return time.monotonic() - self.started

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit, never below 0)."""
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.seconds is not None and self.remaining() <= 0.0

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds}, remaining={self.remaining():.3g})"


def as_deadline(time_limit: float | Deadline | None) -> Deadline | None:
    """A Deadline for a ``time_limit`` argument: a Deadline is kept (its clock runs
    since the command started), seconds start a new one now, ``None`` stays None."""
    if time_limit is None or isinstance(time_limit, Deadline):
        return time_limit
    return Deadline(float(time_limit))


def seconds_left(time_limit: float | Deadline | None) -> float | None:
    """What a solver's ``time_limit`` (seconds) gets: the Deadline's remaining time."""
    if isinstance(time_limit, Deadline):
        left = time_limit.remaining()
        return None if math.isinf(left) else left
    return None if time_limit is None else float(time_limit)


# --- Ctrl-C -----------------------------------------------------------------------

#: set by the first SIGINT during a solve (or by request_interrupt); a signal is
#: process-wide, so is the flag
_INTERRUPT = threading.Event()
#: the deadline of the solve running in this thread (or context), for the callback
_ACTIVE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "llmprice_deadline", default=None
)
#: nesting depth of solving() in this context: only the outermost installs and clears
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("llmprice_solving", default=0)

_NOTICE = (
    b"\nllmprice: interrupt received, stopping the solve at Ipopt's next iteration "
    b"(Ctrl-C again to abort at once)\n"
)
#: what the second Ctrl-C of a solve does: Python's KeyboardInterrupt (a library, a
#: notebook), or the OS default, ending the process even inside a MUMPS
#: factorization, which holds the GIL so no Python handler can run (the command line)
_SECOND = {"kill": False}
#: where the notice goes: the terminal's stderr as it was when the solve began (the
#: solver then captures fd 2 into its log, which would swallow the notice)
_NOTICE_FD = {"fd": 2}


@contextlib.contextmanager
def second_interrupt_kills() -> Iterator[None]:
    """Within this scope the second Ctrl-C of a solve ends the process at once (SIG_DFL).

    Python's KeyboardInterrupt waits for the next Python bytecode, and a MUMPS
    factorization of a large KKT system runs minutes in C without one; a command
    line user pressing Ctrl-C twice wants out now. Not for notebooks (it would end
    the kernel), hence only where the CLI asks.
    """
    previous = _SECOND["kill"]
    _SECOND["kill"] = True
    try:
        yield
    finally:
        _SECOND["kill"] = previous


def interrupted() -> bool:
    """Whether a Ctrl-C (or :func:`request_interrupt`) asked the running solve to stop."""
    return _INTERRUPT.is_set()


def request_interrupt() -> None:
    """Ask the running solve to stop as Ctrl-C does (from another thread, a GUI, a test)."""
    _INTERRUPT.set()


def clear_interrupt() -> None:
    """Forget a past interrupt (the next solve starts clean)."""
    _INTERRUPT.clear()


def active_deadline() -> Deadline | None:
    """The deadline of the solve running in this context, if any."""
    return _ACTIVE.get()


def stop_reason(deadline: Deadline | None = None) -> str | None:
    """Why the running solve should stop now: ``"interrupted"``, ``"time_limit"`` or None.

    `deadline` defaults to the active one (:func:`solving`). Cheap (an Event and a
    clock read): the solver calls it every iteration.
    """
    if _INTERRUPT.is_set():
        return "interrupted"
    if deadline is None:
        deadline = _ACTIVE.get()
    if deadline is not None and deadline.expired():
        return "time_limit"
    return None


#: sigaction's SA_RESETHAND on Linux: the kernel restores SIG_DFL as it delivers the signal
_SA_RESETHAND = 0x80000000


def _reset_on_delivery() -> bool:
    """Make the kernel itself reset SIGINT to its default once it is delivered.

    Python's handler for the first Ctrl-C only runs at the next Python bytecode, and
    MUMPS holds the GIL for minutes inside one factorization: switching to SIG_DFL
    there would come too late for the second Ctrl-C. ``SA_RESETHAND`` needs no
    Python: the first signal is still Python's (the flag), the second ends the
    process. Linux/glibc only (the struct layout below); elsewhere False, and the
    switch waits for Python.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False

    class SigAction(ctypes.Structure):
        _fields_ = [
            ("handler", ctypes.c_void_p),
            ("mask", ctypes.c_ulong * 16),  # glibc's sigset_t: 1024 bits
            ("flags", ctypes.c_int),
            ("restorer", ctypes.c_void_p),
        ]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        action = SigAction()
        if libc.sigaction(signal.SIGINT, None, ctypes.byref(action)) != 0:
            return False
        action.flags = ctypes.c_int(action.flags | _SA_RESETHAND).value
        return libc.sigaction(signal.SIGINT, ctypes.byref(action), None) == 0
    except (OSError, AttributeError):
        return False


def _on_sigint(signum: int, frame: Any) -> None:
    """First Ctrl-C: set the flag and hand the next one back to Python's default."""
    _INTERRUPT.set()
    signal.signal(signal.SIGINT, signal.SIG_DFL if _SECOND["kill"] else signal.default_int_handler)
    with contextlib.suppress(OSError):  # os.write: safe inside a signal handler
        os.write(_NOTICE_FD["fd"], _NOTICE)


@contextlib.contextmanager
def solving(deadline: Deadline | None = None) -> Iterator[Deadline | None]:
    """The scope of one solve: Ctrl-C sets the interrupt flag, `deadline` is active.

    Re-entrant (a solver call inside a generation loop): only the outermost scope
    installs the handler and, on exit, restores the previous one and clears the flag
    (so that one Ctrl-C stops one solve, and a :func:`request_interrupt` made before
    a solve stops it at its first iteration). The handler is installed from the main
    thread only (Python allows no other); solves in other threads still see the
    flag and their own deadline.
    """
    outer = _DEPTH.get() == 0
    depth_token = _DEPTH.set(_DEPTH.get() + 1)
    deadline_token = _ACTIVE.set(deadline if deadline is not None or outer else _ACTIVE.get())
    previous: Any = None
    installed = False
    if outer and threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.SIG_IGN:  # nohup / background jobs ignore SIGINT
            with contextlib.suppress(OSError):
                _NOTICE_FD["fd"] = os.dup(2)
            signal.signal(signal.SIGINT, _on_sigint)
            installed = True
            if _SECOND["kill"]:
                _reset_on_delivery()
    try:
        yield _ACTIVE.get()
    finally:
        if installed:
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )
            if _NOTICE_FD["fd"] != 2:
                with contextlib.suppress(OSError):
                    os.close(_NOTICE_FD["fd"])
                _NOTICE_FD["fd"] = 2
        if outer:
            _INTERRUPT.clear()
        _ACTIVE.reset(deadline_token)
        _DEPTH.reset(depth_token)


# --- memory -----------------------------------------------------------------------

#: peak resident memory per IC row through a solve (Pyomo constraint and expression,
#: the compiled evaluator, Ipopt's and MUMPS's share of the KKT matrix); measured
#: (ru_maxrss above the interpreter's) on all-pairs Token Packages menus: 160 MB for
#: 200 types (39,800 rows), 604 MB for 400 types (159,600 rows)
BYTES_PER_IC_ROW = 4_000
#: per type, whatever the IC rows (variables, technology rows, bounds); measured on
#: packages menus with adjacent IC: 64 MB for 2,000 types; 20,000 types peaked near
#: 1 GB in Ipopt's first iterations, before MUMPS asked for more (INFO(1) = -9)
BYTES_PER_TYPE = 40_000


def available_memory(meminfo_path: str = "/proc/meminfo") -> int | None:
    """Bytes the kernel can give this process now without swapping (``MemAvailable``),
    else free physical pages; None where neither is known."""
    try:
        with open(meminfo_path, encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def ic_rows(n_types: int, ic: str, one_dimensional: bool, dims: int = 1) -> int:
    """IC rows the model starts with for `ic` (as the block resolves ``auto``).

    ``generated`` grows as it finds violated pairs; its count here is the seed
    (neighbours, or a product grid's 3^D - 1) plus one round of 3 pairs per type,
    a lower bound.
    """
    from pyomo_llmprice.blocks.menu import resolve_ic

    n = int(n_types)
    ic = resolve_ic(ic, one_dimensional, n)
    if ic in ("adjacent", "envelope"):  # both directions; or downward and monotonicity
        return 2 * max(n - 1, 0)
    if ic == "all_pairs":
        return n * (n - 1)
    return (3 ** min(max(dims, 1), 3) - 1 + 3) * n


def memory_estimate(n_types: int, rows: int) -> int:
    """Bytes a solve of `n_types` types with `rows` IC rows needs at its peak."""
    return BYTES_PER_TYPE * int(n_types) + BYTES_PER_IC_ROW * int(rows)


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(nbytes) < 1000 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    raise AssertionError  # pragma: no cover


def check_memory(
    where: str, n_types: int, ic: str, one_dimensional: bool, dims: int = 1, force: bool = False
) -> int:
    """Refuse, before the model is built, a solve that cannot fit in memory.

    A model past the available memory does not fail: it swaps, or MUMPS loops on
    workspace increases for minutes, and Ctrl-C cannot reach it. One line naming the
    instance (`where`), its type count and both sizes, unless `force`. Returns the
    estimate (bytes).
    """
    from pyomo_llmprice.errors import UserInputError

    rows = ic_rows(n_types, ic, one_dimensional, dims)
    need = memory_estimate(n_types, rows)
    have = available_memory()
    if not force and have is not None and need > have:
        raise UserInputError(
            f"{where}: TYPES: {n_types} types with --ic {ic} ({rows:,} IC rows) need about "
            f"{_size(need)} of memory, {_size(have)} available; use fewer types, "
            "--ic adjacent or generated where they apply, or --force to try anyway"
        )
    return need
