"""Parameter sweeps on Dask: one verified solve per task, stored as it finishes.

Results go to a directory of Parquet part files, one per finished task
(``part-<key>.parquet``, written under a dotted temporary name and renamed, so a
crash never leaves half a file). ``pandas.read_parquet(out)`` reads them as one
table. A re-run lists the part files, skips the tasks already stored and solves
the rest: an interrupted sweep loses at most the tasks that were in flight.
Failed solves and invalid parameter combinations are rows with their status and
message, never dropped.

The driver writes all files, so workers of a remote cluster (``scheduler``) need
the package installed but no shared file system.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.io import TECHNOLOGY_PARAMS, Instance, read_instance, technology_params
from pyomo_llmprice.progress import progress_bar, quiet
from pyomo_llmprice.studies.spec import SweepSpec, SweepTask
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import (
    paper_theta_cdf,
    theta_grid_from_cdf,
    uniform_grid,
    value_scale_grid,
)

__all__ = [
    "SweepSummary",
    "finished_keys",
    "read_results",
    "run_sweep",
    "run_task",
    "task_instance",
]

PART_PREFIX = "part-"
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
    final = out / f"{PART_PREFIX}{row['key']}.parquet"
    tmp = out / f".{final.name}.tmp"
    pd.DataFrame([row]).to_parquet(tmp, index=False)
    os.replace(tmp, final)


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
) -> SweepSummary:
    """Run the tasks of `spec` not yet stored in `out` on a Dask cluster.

    Without `scheduler` or `client`, a LocalCluster of `workers` single-threaded
    worker processes (default: the machine's cores). Processes, not threads: Ipopt's
    log is captured at the file-descriptor level, which threads would share. A given
    `client` (a running ``dask.distributed.Client``) is used and left open. `limit`
    caps the tasks run by this call (the rest wait for the next one). `progress`: a bar
    over the tasks on stderr; ``None`` draws it on a terminal unless the package is quiet
    (:mod:`pyomo_llmprice.progress`).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = spec.tasks()
    done = finished_keys(out) & {t.key for t in tasks}
    todo = [t for t in tasks if t.key not in done]
    if limit is not None:
        todo = todo[: max(0, int(limit))]
    if not todo:
        return SweepSummary(len(tasks), len(done), 0, 0, out, time.perf_counter() - start)
    base = read_instance(spec.base)
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
        client = Client(scheduler)
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
