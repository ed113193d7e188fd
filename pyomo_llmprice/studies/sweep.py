"""Parameter sweeps on Dask: one verified solve per task, stored as it finishes.

Results go to a directory of Parquet part files, one per finished task
(``part-<key>.parquet``, written under a unique dotted temporary name and renamed,
so a crash never leaves half a file). ``pandas.read_parquet(out)`` reads them as one
table. A re-run lists the part files, skips the tasks already stored and solves
the rest: an interrupted sweep loses at most the tasks that were in flight.
Failed solves and invalid parameter combinations are rows with their status and
message, never dropped.

The folder holds the rows of one spec. A task's key hashes everything its row
depends on (:meth:`~pyomo_llmprice.studies.spec.SweepSpec.fixed`: the base file's
bytes, settings, solver options and outputs, and the task's parameters), so parts
whose key the spec no longer has (an edited base, other options or outputs, removed
values) are stale: they are moved to ``out/_stale/`` (kept, not deleted; Arrow and
pandas skip ``_`` and ``.`` names), counted in the summary and recomputed. All parts
left at the top share one spec's columns, so ``read_parquet(out)`` (whose schema
comes from one file) never drops a column. A sweep holds ``out/.lock`` (created with
``O_CREAT | O_EXCL``) while it works: a second sweep into the same folder waits for
it, then resumes from what it stored.

The driver writes all files, so workers of a remote cluster (``scheduler``) need
the package installed but no shared file system.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import TECHNOLOGY_PARAMS, read_instance, technology_params
from pyomo_llmprice.progress import progress_bar, quiet
from pyomo_llmprice.studies.spec import SweepSpec, SweepTask, file_sha256
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import (
    paper_theta_cdf,
    theta_grid_from_cdf,
    uniform_grid,
    value_scale_grid,
)

__all__ = [
    "SweepLock",
    "SweepSummary",
    "check_scheduler",
    "finished_keys",
    "read_results",
    "run_sweep",
    "run_task",
    "task_instance",
]

PART_PREFIX = "part-"
#: where stale parts go (a leading "_": pyarrow's dataset discovery skips it)
STALE_DIR = "_stale"
LOCK_NAME = ".lock"
#: seconds to connect to a ``--scheduler`` and to hear its handshake
SCHEDULER_TIMEOUT = 5.0
#: a Dask handshake is a few hundred bytes; a larger announced size is another server
_MAX_HANDSHAKE = 1 << 26
#: outputs stored as text; all others are floats (NaN when not available)
_TEXT_OUTPUTS = frozenset({"termination"})


@dataclass(frozen=True)
class SweepSummary:
    """What one call of :func:`run_sweep` did."""

    total: int  # tasks in the spec
    already_done: int  # found in the output before this call
    ran: int  # finished and stored by this call
    failed: int  # of those, not optimal
    out: Path
    seconds: float
    stale: int = 0  # parts of an earlier spec, base file or outputs moved to out/_stale


def task_instance(base: Instance, grid: str | None, params: dict[str, Any], key: str) -> Instance:
    """The base instance with the task's technology and (if a grid is given) types.

    ``paper_theta`` is the law of ``theta = w s^(1 - alpha - beta)`` for the paper's
    ``w, s ~ U[0, 1]``, so it follows the task's alpha and beta.
    """
    current = technology_params(base.technology)
    current.update({k: float(v) for k, v in params.items() if k in TECHNOLOGY_PARAMS})
    technology = Technology.cobb_douglas(**current)
    types = base.types
    if grid is not None:
        n = len(base.types)
        side = max(1, round(math.sqrt(n)))
        if grid == "paper_theta":
            exponent = 1.0 - current["alpha"] - current["beta"]
            types = theta_grid_from_cdf(int(params.get("n_types", n)), paper_theta_cdf(exponent))
        elif grid == "uniform_theta":
            types = uniform_grid(int(params.get("n_types", n)))
        else:
            types = value_scale_grid(int(params.get("n_w", side)), int(params.get("n_s", side)))
    return replace(base, name=f"{base.name}-{key}", path=None, types=types, technology=technology)


def _outputs(result: Any) -> dict[str, Any]:
    menu = result.menu
    served = menu["served"].to_numpy(bool)
    markup = menu["markup"].to_numpy(float)[served]
    finetune = menu["finetune_tokens"].to_numpy(float) if "finetune_tokens" in menu else None
    return {
        **result.aggregates,
        "max_ic_violation": result.verification.max_ic_violation,
        "max_ir_violation": result.verification.max_ir_violation,
        "n_served": int(served.sum()),
        "n_finetuned": math.nan if finetune is None else int((finetune[served] > 0).sum()),
        "min_markup": float(np.nanmin(markup)) if np.isfinite(markup).any() else math.nan,
        "iterations": result.iterations,
        "termination": result.termination,
        "wall_time": result.wall_time,
    }


def run_task(base: Instance, spec: dict[str, Any], task: SweepTask) -> dict[str, Any]:
    """Build, solve and verify one task; never raises (failures become rows)."""
    from pyomo_llmprice.pipeline import build_model, solve_model

    params = task.params
    setting = params.get("setting", spec["setting"])
    solver = params.get("solver", spec["solver"])
    ic = params.get("ic", spec["ic"])
    values: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        instance = task_instance(base, spec["grid"], params, task.key)
    except (ValueError, TypeError) as exc:
        status, message = "invalid_parameters", _one_line(exc)
    else:
        try:
            model = build_model(instance, setting, ic)
            # a worker's own bars (IC generation) would cut through the sweep's bar
            with quiet():
                result = solve_model(
                    model,
                    solver=solver,
                    options=spec["solver_options"],
                    time_limit=spec["time_limit"],
                )
            status = result.status
            message = "" if status == "optimal" else f"solver ended with {result.termination}"
            values = _outputs(result)
        except Exception as exc:  # recorded with its message, never dropped
            status, message = "error", f"{type(exc).__name__}: {_one_line(exc)}"
    row: dict[str, Any] = {"key": task.key, "task": spec["index"].get(task.key, -1)}
    row.update(params)
    row.update(status=status, message=message)
    for name in spec["outputs"]:
        val = values.get(name)
        if name in _TEXT_OUTPUTS:
            row[name] = "" if val is None else str(val)
        else:
            row[name] = math.nan if val is None else float(val)
    row["task_seconds"] = time.perf_counter() - start
    return row


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def finished_keys(out: str | Path) -> set[str]:
    """Keys of the tasks already stored in `out` (from the part file names)."""
    out = Path(out)
    if not out.is_dir():
        return set()
    return {
        p.name[len(PART_PREFIX) : -len(".parquet")]
        for p in out.glob(f"{PART_PREFIX}*.parquet")
        if p.is_file()
    }


def _ignore_interrupts() -> None:
    """Run on each local worker process: leave SIGINT to the driver."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _write_part(out: Path, row: dict[str, Any]) -> None:
    """Store one row; a failed write (disk full) is the user's, named by its file."""
    final = out / f"{PART_PREFIX}{row['key']}.parquet"
    tmp = out / f".{final.name}.{uuid.uuid4().hex}.tmp"  # unique: never shared by writers
    try:
        pd.DataFrame([row]).to_parquet(tmp, index=False)
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserInputError(f"{final}: cannot write: {exc.strerror or exc}") from None


def set_aside_stale(out: Path, keys: set[str]) -> int:
    """Move the parts whose key is not in `keys` to ``out/_stale``; how many moved.

    Parts set aside earlier whose key is in `keys` come back: a key hashes everything
    a row depends on, so switching back to an earlier spec reuses its rows.
    """
    aside = out / STALE_DIR
    for key in sorted(finished_keys(aside) & keys - finished_keys(out)):
        name = f"{PART_PREFIX}{key}.parquet"
        os.replace(aside / name, out / name)
    stale = sorted(finished_keys(out) - keys)
    if stale:
        aside.mkdir(exist_ok=True)
    for key in stale:
        name = f"{PART_PREFIX}{key}.parquet"
        os.replace(out / name, aside / name)
    return len(stale)


class SweepLock:
    """``out/.lock``, created with ``O_CREAT | O_EXCL``: one sweep writes to a folder
    at a time, so two never set each other's parts aside or race on a rename.

    The file names the holder (host, pid, start). A second sweep waits (``on_wait``
    is told once, with the holder); a lock whose process is gone on this host is
    taken over. A lock from another host cannot be checked: its message says to
    remove the file if that sweep is no longer running. (Two sweeps that find the same
    dead lock at the same instant may both take it over; that needs a crash first.)
    """

    def __init__(
        self, out: Path, on_wait: Callable[[str], None] | None = None, poll: float = 0.5
    ) -> None:
        self.path = Path(out) / LOCK_NAME
        self.on_wait = on_wait
        self.poll = poll

    def __enter__(self) -> SweepLock:
        told = False
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._abandoned(holder, me["host"]):
                    self._remove()
                    continue
                if not told and self.on_wait is not None:
                    self.on_wait(self._describe(holder))
                    told = True
                time.sleep(self.poll)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _holder(self) -> dict[str, Any] | None:
        """The holder's record; {} for a lock that stays empty (its writer died)."""
        try:
            text = self.path.read_text()
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return None  # released meanwhile: try again
        try:
            holder = json.loads(text)
        except ValueError:
            return {} if age > 10.0 else None  # being written, or never will be
        return holder if isinstance(holder, dict) else {}

    @staticmethod
    def _abandoned(holder: dict[str, Any], host: str) -> bool:
        if not holder:
            return True
        if holder.get("host") != host:
            return False
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except ProcessLookupError:
            return True
        except (OSError, ValueError, OverflowError):
            return False  # alive but not ours (EPERM), or unreadable: keep waiting
        return False

    def _describe(self, holder: dict[str, Any] | None) -> str:
        who = (
            f"the sweep of pid {holder.get('pid')} on {holder.get('host')}"
            if holder
            else "another sweep"
        )
        return (
            f"{self.path.parent} is in use by {who}; waiting for it to finish "
            f"(if no such sweep runs, remove {self.path})"
        )


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse a scheduler address that is malformed, unreachable or not a Dask
    scheduler, within `timeout` seconds and before Dask connects.

    Dask's TCP reader allocates the size announced by the first 8 bytes it reads, so a
    server of another kind (SSH sends its banner at once) would make it try to
    allocate exabytes. A scheduler sends its small handshake at once: those 8 bytes
    are read and checked here. (``tls://``: the handshake is encrypted; only the
    connection is checked.)
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    where = f"--scheduler {address!r}"
    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"scheme {scheme!r} is not tcp or tls")
        host, port = parse_host_port(location)
        port = int(port)
    except (ValueError, TypeError) as exc:
        raise UserInputError(
            f"{where}: not a scheduler address of the form tcp://HOST:PORT ({_one_line(exc)})"
        ) from None
    if not host or not 0 < port < 65536:
        raise UserInputError(f"{where}: not a scheduler address of the form tcp://HOST:PORT")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, UnicodeError) as exc:  # refused, timed out, unknown host
        why = getattr(exc, "strerror", None) or _one_line(exc)
        raise UserInputError(f"{where}: cannot connect within {timeout:g} s: {why}") from None
    head = b""
    with sock:
        if scheme == "tls":
            return
        sock.settimeout(timeout)
        try:
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass  # silent: not a scheduler
    if len(head) < 8 or struct.unpack("Q", head)[0] > _MAX_HANDSHAKE:
        raise UserInputError(
            f"{where}: {host}:{port} accepts connections but does not answer as a Dask scheduler"
        )


def _connect(scheduler: str) -> Any:
    """A client of a scheduler :func:`check_scheduler` passed; failures are the user's."""
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise UserInputError(
            f"--scheduler {scheduler!r}: cannot connect: {_one_line(exc)}"
        ) from None


def read_results(out: str | Path) -> pd.DataFrame:
    """All stored rows of a sweep, in the spec's task order."""
    parts = sorted(Path(out).glob(f"{PART_PREFIX}*.parquet"))
    if not parts:
        return pd.DataFrame()
    table = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return table.sort_values("task", kind="stable").reset_index(drop=True)


def _payload(spec: SweepSpec, tasks: Iterable[SweepTask]) -> dict[str, Any]:
    return {
        "setting": spec.setting,
        "solver": spec.solver,
        "ic": spec.ic,
        "time_limit": spec.time_limit,
        "solver_options": dict(spec.solver_options),
        "grid": spec.grid,
        "outputs": tuple(spec.outputs),
        "index": {t.key: i for i, t in enumerate(tasks)},
    }


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    limit: int | None = None,
    client: Any = None,
    on_wait: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Run the tasks of `spec` not yet stored in `out` on a Dask cluster.

    Without `scheduler` or `client`, a LocalCluster of `workers` single-threaded
    worker processes (default: the machine's cores). Processes, not threads: Ipopt's
    log is captured at the file-descriptor level, which threads would share. A given
    `client` (a running ``dask.distributed.Client``) is used and left open. `limit`
    caps the tasks run by this call (the rest wait for the next one). `progress`: a bar
    over the tasks on stderr; ``None`` draws it on a terminal unless the package is quiet
    (:mod:`pyomo_llmprice.progress`).

    A `scheduler` is checked first (:func:`check_scheduler`). Parts of `out` that the
    spec no longer has are moved to ``out/_stale`` (counted as ``stale``). While
    another sweep holds ``out/.lock`` this call waits, telling `on_wait` once.
    """
    if scheduler is not None and client is None:
        check_scheduler(scheduler)  # before any file is touched
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = spec.tasks()
    with SweepLock(out, on_wait):
        stale = set_aside_stale(out, {t.key for t in tasks})
        summary = _run_pending(spec, tasks, out, scheduler, workers, progress, limit, client)
    return replace(summary, stale=stale, seconds=time.perf_counter() - start)


def _run_pending(
    spec: SweepSpec,
    tasks: list[SweepTask],
    out: Path,
    scheduler: str | None,
    workers: int | None,
    progress: bool | None,
    limit: int | None,
    client: Any,
) -> SweepSummary:
    """The body of :func:`run_sweep`, under the folder's lock."""
    from dask.distributed import Client, LocalCluster, as_completed

    start = time.perf_counter()
    done = finished_keys(out)
    todo = [t for t in tasks if t.key not in done]
    if limit is not None:
        todo = todo[: max(0, int(limit))]
    if not todo:
        return SweepSummary(len(tasks), len(done), 0, 0, out, time.perf_counter() - start)
    base = read_instance(spec.base)
    if spec.base_sha256 and file_sha256(spec.base) != spec.base_sha256:
        # the keys describe the file as the spec was read: rows must match them
        raise UserInputError(
            f"{spec.base}: the base file changed after the spec was read; run again"
        )
    payload = _payload(spec, tasks)

    cluster = None
    own_client = client is None
    if client is None and scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: several sweeps may run at once
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        # Ctrl-C reaches the whole process group: let the driver alone handle it, so
        # the local workers do not each print a KeyboardInterrupt traceback.
        client.run(_ignore_interrupts)
    elif client is None:
        client = _connect(scheduler)
    ran = failed = 0
    bar = progress_bar(
        total=len(tasks), initial=len(done), unit=" task", desc="sweep", enabled=progress
    )
    try:
        # hash=False and a run token: a second run on the same client must not reuse
        # keys that the scheduler may still be releasing from the first
        base_future, payload_future = client.scatter([base, payload], broadcast=True, hash=False)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(run_task, base_future, payload_future, t, key=f"llmprice-{t.key}-{run}")
            for t in todo
        ]
        for future in as_completed(futures):
            row = future.result()
            _write_part(out, row)
            ran += 1
            failed += row["status"] != "optimal"
            bar.update(1)
    finally:
        bar.close()
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    return SweepSummary(len(tasks), len(done), ran, failed, out, time.perf_counter() - start)
