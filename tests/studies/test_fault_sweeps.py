"""Sweeps keep only valid rows, share a folder safely and refuse what would not end
(issue #15, parts 4-6).

Solves run on one local cluster of two worker processes; expected profits come from
the exact discrete optimum (``theory.discrete_optimal_menu``), not from a sweep.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fault_data import one_line_error

from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_INPUT
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.studies import sweep as sweep_module
from pyomo_llmprice.studies.spec import SpecError, load_spec, parse_spec
from pyomo_llmprice.studies.sweep import (
    SweepLock,
    check_scheduler,
    read_results,
    run_sweep,
)
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu
from pyomo_llmprice.types import theta_types

PROB = np.full(3, 1 / 3)
OLD_THETA = np.array([0.3, 0.6, 0.9])
NEW_THETA = np.array([0.4, 0.7, 0.95])
COSTS = [0.1, 0.15]


def write_base(path: Path, theta: np.ndarray) -> Path:
    write_dat(Instance("three", None, theta_types(theta, PROB), Technology.cobb_douglas()), path)
    return path


def write_spec(folder: Path, base: Path, outputs: str = "[profit]") -> Path:
    path = folder / "spec.yaml"
    path.write_text(f"base: {base}\nparameters: {{cost_input: {COSTS}}}\noutputs: {outputs}\n")
    return path


def exact_profit(theta: np.ndarray, cost_input: float) -> float:
    tech = Technology.cobb_douglas(cost_input=cost_input)
    return discrete_optimal_menu(theta, PROB, tech).profit


# -- stale rows ----------------------------------------------------------------------------


def test_editing_the_base_file_recomputes_its_rows(tmp_path, client):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    out = tmp_path / "results"
    first = run_sweep(load_spec(write_spec(tmp_path, base)), out, client=client, progress=False)
    assert (first.ran, first.stale) == (2, 0)
    old = read_results(out).set_index("cost_input")["profit"]

    write_base(base, NEW_THETA)  # same path, same spec file: only the content changed
    second = run_sweep(load_spec(write_spec(tmp_path, base)), out, client=client, progress=False)
    assert (second.already_done, second.stale, second.ran) == (0, 2, 2)
    table = read_results(out)
    assert len(table) == 2 and table["key"].is_unique
    for cost, profit in zip(table["cost_input"], table["profit"], strict=True):
        assert profit == pytest.approx(exact_profit(NEW_THETA, cost), rel=1e-6)
        assert profit != pytest.approx(old[cost], rel=1e-3)  # the old rows are gone
    assert len(list((out / "_stale").glob("part-*.parquet"))) == 2  # kept aside, not lost
    again = run_sweep(load_spec(write_spec(tmp_path, base)), out, client=client, progress=False)
    assert (again.already_done, again.stale, again.ran) == (2, 0, 0)

    write_base(base, OLD_THETA)  # back to the first content: its rows are valid again
    back = run_sweep(load_spec(write_spec(tmp_path, base)), out, client=client, progress=False)
    assert (back.already_done, back.stale, back.ran) == (2, 2, 0)
    restored = read_results(out).set_index("cost_input")["profit"]
    assert restored.to_dict() == old.to_dict()


def test_changing_outputs_gives_every_column_to_read_parquet(tmp_path, client):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    out = tmp_path / "results"
    run_sweep(load_spec(write_spec(tmp_path, base)), out, client=client, progress=False)
    wider = load_spec(write_spec(tmp_path, base, "[profit, n_served, termination]"))
    summary = run_sweep(wider, out, client=client, progress=False)
    assert (summary.stale, summary.ran) == (2, 2)
    table = pd.read_parquet(out)  # the folder itself, as the README says
    assert {"profit", "n_served", "termination"} <= set(table.columns)
    assert len(table) == 2 and table["n_served"].notna().all()
    assert (table["termination"] == "convergenceCriteriaSatisfied").all()


def test_the_cli_says_how_many_stale_rows_it_ignored(tmp_path, capsys):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    spec = write_spec(tmp_path, base)
    out = tmp_path / "results"
    argv = ["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    write_base(base, NEW_THETA)
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 stored rows no longer match the spec" in printed
    assert "2 tasks: 0 already stored, 2 run now" in printed


def test_keys_cover_base_content_options_and_outputs(tmp_path):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    data = {"base": str(base), "parameters": {"cost_input": COSTS}}
    keys = {t.key for t in parse_spec(data).tasks()}
    moved = tmp_path / "elsewhere.dat"
    moved.write_bytes(base.read_bytes())
    assert {t.key for t in parse_spec({**data, "base": str(moved)}).tasks()} == keys
    for changed in (
        {"outputs": ["profit"]},
        {"solver_options": {"tol": 1e-9}},
        {"time_limit": 30},
    ):
        assert not {t.key for t in parse_spec({**data, **changed}).tasks()} & keys
    write_base(base, NEW_THETA)
    assert not {t.key for t in parse_spec(data).tasks()} & keys


def test_a_failed_part_write_is_the_users_and_names_the_file(tmp_path, client, monkeypatch):
    def disk_full(self, path, **kwds):
        Path(path).write_bytes(b"half")  # a partial temporary file, removed again
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    spec = load_spec(write_spec(tmp_path, write_base(tmp_path / "base.dat", OLD_THETA)))
    out = tmp_path / "results"
    with pytest.raises(UserInputError, match=r"part-\w+\.parquet: cannot write: No space left"):
        run_sweep(spec, out, client=client, progress=False)
    assert sorted(p.name for p in out.iterdir()) == []  # no part, no .tmp, no .lock


# -- two sweeps, one folder ----------------------------------------------------------------


def test_concurrent_sweeps_into_one_folder_both_complete(tmp_path, client):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    spec = load_spec(write_spec(tmp_path, base))
    out = tmp_path / "results"
    summaries, errors, waits = [], [], []

    def sweep() -> None:
        try:
            summaries.append(
                run_sweep(spec, out, client=client, progress=False, on_wait=waits.append)
            )
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(summaries) == 2
    assert sorted(s.ran for s in summaries) == [0, 2]  # one solved, the other found it done
    # the waiting sweep may read the lock before its holder has written its pid in it
    assert len(waits) == 1 and (
        "is in use by the sweep of pid" in waits[0] or "is in use by another sweep" in waits[0]
    )
    table = pd.read_parquet(out)
    assert len(table) == 2 and table["key"].is_unique
    for cost, profit in zip(table["cost_input"], table["profit"], strict=True):
        assert profit == pytest.approx(exact_profit(OLD_THETA, cost), rel=1e-6)
    assert not (out / ".lock").exists()
    assert not list(out.glob(".*.tmp"))


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock = tmp_path / ".lock"
    lock.write_text(f'{{"host": "{socket.gethostname()}", "pid": {gone.stdout.strip()}}}')
    waits: list[str] = []
    with SweepLock(tmp_path, waits.append, poll=0.01):
        assert lock.exists()
    assert waits == [] and not lock.exists()


def test_a_live_lock_is_waited_for(tmp_path):
    lock = tmp_path / ".lock"
    lock.write_text('{"host": "elsewhere", "pid": 1}')  # another host: cannot be checked
    waits: list[str] = []
    threading.Timer(0.3, lock.unlink).start()
    start = time.perf_counter()
    with SweepLock(tmp_path, waits.append, poll=0.02):
        assert time.perf_counter() - start >= 0.25
    assert len(waits) == 1 and "pid 1 on elsewhere" in waits[0] and str(lock) in waits[0]


# -- what would not end ----------------------------------------------------------------------


def test_a_huge_range_is_refused_before_it_is_built(tmp_path, capsys):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    spec = tmp_path / "huge.yaml"
    spec.write_text(
        f"base: {base}\nparameters: {{cost_input: {{start: 0.1, stop: 0.2, num: 100000000}}}}\n"
    )
    start = time.perf_counter()
    assert main(["sweep", str(spec)]) == EXIT_INPUT
    assert time.perf_counter() - start < 10  # no list of 10^8 values was built
    line = one_line_error(capsys)
    assert f"{spec}: parameters.cost_input.num: 100,000,000 points" in line
    assert "--max-tasks" in line


def test_a_huge_grid_is_refused_unless_the_cap_is_raised(tmp_path):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    data = {"base": str(base), "parameters": {"cost_input": [0.1, 0.2], "alpha": [0.2, 0.3]}}
    with pytest.raises(SpecError, match=r"parameters: 4 tasks \(2 x 2\), more than the 3"):
        parse_spec(data, max_tasks=3)
    assert len(parse_spec(data, max_tasks=4).tasks()) == 4
    with pytest.raises(SpecError, match=r"parameters: 1,000,000 tasks \(1000 x 1000\)"):
        parse_spec(
            {
                "base": str(base),
                "parameters": {
                    "cost_input": {"start": 0.1, "stop": 0.2, "num": 1000},
                    "alpha": {"start": 0.1, "stop": 0.3, "num": 1000},
                },
            }
        )


@pytest.mark.parametrize("name", ["output_file", "option_file_name", "hsllib", "pardisolib"])
def test_spec_refuses_file_options(name, tmp_path):
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    data = {"base": str(base), "solver_options": {name: "/tmp/x"}, "parameters": {"alpha": [0.2]}}
    with pytest.raises(SpecError, match=f"solver_options.{name}: names a file"):
        parse_spec(data, "spec.yaml")


# -- schedulers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """A TCP server that is not a Dask scheduler: it sends `greeting` (or nothing)."""

    def __init__(self, greeting: bytes) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.greeting = greeting
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(self.greeting)
            time.sleep(2)
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("nonsense", "not a scheduler address"),
        ("tcp://", "not a scheduler address"),
        ("tcp://localhost:99999999999", "not a scheduler address"),
        ("ucx://host:8786", "scheme 'ucx'"),
        ("unreachable", "cannot connect"),
        ("ssh_banner", "does not answer as a Dask scheduler"),
        ("silent", "does not answer as a Dask scheduler"),
    ],
)
def test_bad_schedulers_are_one_line_and_fast(address, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep_module, "SCHEDULER_TIMEOUT", 1.0)
    server = None
    if address == "unreachable":
        address = f"tcp://127.0.0.1:{free_port()}"
    elif address in ("ssh_banner", "silent"):
        # an SSH banner read as Dask's frame size asks for exabytes
        server = FakeServer(b"SSH-2.0-OpenSSH_9.6\r\n" if address == "ssh_banner" else b"")
        address = server.address
    base = write_base(tmp_path / "base.dat", OLD_THETA)
    spec = write_spec(tmp_path, base)
    start = time.perf_counter()
    try:
        code = main(["sweep", str(spec), "--scheduler", address])
    finally:
        if server is not None:
            server.close()
    assert code == EXIT_INPUT
    assert time.perf_counter() - start < 10
    line = one_line_error(capsys)
    assert f"--scheduler {address!r}" in line and fragment in line
    assert not (tmp_path / "spec.parquet").exists()  # refused before any file


def test_a_real_scheduler_passes_the_check(client):
    check_scheduler(client.scheduler.address)


def test_scheduler_check_from_python_is_a_user_error():
    with pytest.raises(UserInputError, match="not a scheduler address"):
        check_scheduler("tcp://:0")
