"""Issue #15 part 4: time limits count from the start of the command, Ctrl-C stops a
solve within seconds with status ``interrupted`` (exit 130), and a model past the
available memory is refused before it is built."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fault_data import INSTANCES, one_line_error

from pyomo_llmprice import generation, limits, pipeline
from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_CODES, EXIT_INPUT
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance, write_dat
from pyomo_llmprice.limits import Deadline
from pyomo_llmprice.pipeline import build_model, solve_model
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types

#: a solve that takes several seconds (tens on a loaded machine): 2,000 lognormal types,
#: Token Packages, adjacent IC; each Ipopt iteration well under a second
MID_SIZE_TYPES = 2000
#: how long a stop may take after the request: one iteration plus a factorization,
#: with room for a loaded 2-core machine (measured well under 2 s, see the report)
LATENCY = 10.0


def lognormal_instance(path: Path, n: int = MID_SIZE_TYPES) -> Path:
    theta = np.sort(np.random.default_rng(0).lognormal(0.0, 0.5, n))
    write_dat(Instance(f"lognormal_{n}", None, theta_types(theta), Technology.cobb_douglas()), path)
    return path


@pytest.fixture(autouse=True)
def no_leftover_interrupt():
    """A failed test must not leave the flag set for the next one."""
    yield
    limits.clear_interrupt()


# -- the Deadline ----------------------------------------------------------------------


def test_deadline_counts_from_its_start():
    started = time.monotonic() - 3.0  # a command that began 3 s ago
    deadline = Deadline(5.0, started=started)
    assert 1.5 < deadline.remaining() <= 2.0 and not deadline.expired()
    assert Deadline(2.0, started=started).expired()
    assert Deadline(2.0, started=started).remaining() == 0.0
    unlimited = Deadline(None)
    assert math.isinf(unlimited.remaining()) and not unlimited.expired()
    with pytest.raises(ValueError):
        Deadline(math.nan)


def test_time_limit_arguments_accept_seconds_or_a_deadline():
    deadline = Deadline(10.0)
    assert limits.as_deadline(deadline) is deadline
    assert limits.as_deadline(None) is None
    fresh = limits.as_deadline(4.0)
    assert isinstance(fresh, Deadline) and 3.9 < fresh.remaining() <= 4.0
    assert limits.seconds_left(None) is None and limits.seconds_left(2.5) == 2.5
    assert 9.0 < limits.seconds_left(deadline) <= 10.0
    assert limits.seconds_left(Deadline(None)) is None


# -- the deadline counts model construction and the rounds -----------------------------


def test_spent_deadline_never_starts_the_solver(monkeypatch):
    """A deadline the model's construction used up is ``time_limit`` at once: no Ipopt."""
    inst = read_instance(INSTANCES / "paper_theta_100.dat")
    deadline = Deadline(0.05, started=time.monotonic() - 1.0)
    model = build_model(inst)

    def refuse(*args: Any, **kwds: Any) -> None:
        raise AssertionError("the solver was called after the deadline")

    monkeypatch.setattr(CyIpoptDirect, "solve", refuse)
    result = solve_model(model, time_limit=deadline)
    assert result.status == "time_limit" and result.termination == "maxTimeLimit"
    assert result.iterations == 0 and not result.has_point
    assert math.isnan(result.profit)


def test_cli_time_limit_counts_model_construction(monkeypatch, tmp_path, capsys):
    """--time-limit shorter than reading + building ends ``time_limit`` as soon as the
    model is built (exit 6), not after a solve that the old per-call limit allowed."""
    real = pipeline.build_model
    build_seconds = 0.6

    def slow_build(*args: Any, **kwds: Any) -> Any:
        model = real(*args, **kwds)
        time.sleep(build_seconds)  # a slow construction, e.g. a huge instance
        return model

    monkeypatch.setattr(pipeline, "build_model", slow_build)
    out = tmp_path / "menu.json"
    t0 = time.monotonic()
    rc = main(
        [
            "solve",
            str(INSTANCES / "paper_theta_100.dat"),
            *("--method", "nlp", "--time-limit", "0.3", "--json", str(out)),
        ]
    )
    elapsed = time.monotonic() - t0
    printed = capsys.readouterr()
    assert rc == EXIT_CODES["time_limit"], printed.err
    doc = json.loads(out.read_text())
    assert doc["status"] == "time_limit" and doc["iterations"] == 0
    assert "status time_limit " in printed.out and doc["profit"] is None
    assert elapsed < build_seconds + LATENCY


def test_generation_rounds_stop_at_the_deadline(monkeypatch):
    """Between IC-generation rounds the deadline is checked: a round that ends past it
    is the last, with its point kept and status ``time_limit`` (not optimal, though
    that round alone converged)."""
    inst = read_instance(INSTANCES / "screening" / "rochet_chone_20x20.dat")
    model = build_model(inst, "screening", "generated")  # 2 rounds without a limit
    deadline = Deadline(3600.0)
    real = generation.solve_once
    calls = []

    def once_then_late(*args: Any, **kwds: Any) -> Any:
        calls.append(1)
        results = real(*args, **kwds)
        deadline.seconds = 0.0  # the clock ran out during this round
        return results

    monkeypatch.setattr(generation, "solve_once", once_then_late)
    result = solve_model(model, time_limit=deadline)
    assert result.status == "time_limit"
    assert len(calls) == 1 and result.generation.rounds == 1
    assert result.has_point and math.isfinite(result.last_point["profit"])


# -- Ctrl-C ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """A background job of a shell without job control starts with SIGINT ignored, and
    limits rightly leaves an ignored SIGINT alone; these tests are about a terminal's
    Ctrl-C, so they start from Python's own handler and put back what they found."""
    found = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, found)


def test_first_sigint_sets_the_flag_second_raises_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with limits.solving():
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs at the next bytecode
        assert limits.interrupted() and limits.stop_reason() == "interrupted"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
    assert signal.getsignal(signal.SIGINT) is before
    assert not limits.interrupted()  # one Ctrl-C stops one solve


def test_nested_scopes_install_once_and_command_line_kills_on_the_second():
    before = signal.getsignal(signal.SIGINT)
    with limits.second_interrupt_kills(), limits.solving(Deadline(60.0)) as outer:
        handler = signal.getsignal(signal.SIGINT)
        with limits.solving() as inner:  # the solver's own scope inside solve_menu's
            assert inner is outer and signal.getsignal(signal.SIGINT) is handler
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert limits.interrupted()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL  # no 2nd chance in C
    assert signal.getsignal(signal.SIGINT) is before


def sigint_flags() -> int:
    """sa_flags of SIGINT's current disposition (glibc's struct sigaction)."""
    import ctypes

    class SigAction(ctypes.Structure):
        _fields_ = [
            ("handler", ctypes.c_void_p),
            ("mask", ctypes.c_ulong * 16),
            ("flags", ctypes.c_int),
            ("restorer", ctypes.c_void_p),
        ]

    action = SigAction()
    assert ctypes.CDLL(None).sigaction(signal.SIGINT, None, ctypes.byref(action)) == 0
    return action.flags & 0xFFFFFFFF


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaction layout of glibc")
def test_command_line_second_sigint_needs_no_python():
    """Inside MUMPS no Python runs, so the kernel must reset SIGINT on delivery
    (SA_RESETHAND) for a second Ctrl-C to end the command; a library solve keeps
    Python's KeyboardInterrupt (a notebook kernel must survive)."""
    with limits.solving():
        assert not sigint_flags() & limits._SA_RESETHAND
    with limits.second_interrupt_kills(), limits.solving():
        assert sigint_flags() & limits._SA_RESETHAND
    assert not sigint_flags() & limits._SA_RESETHAND


def test_an_ignored_sigint_stays_ignored():
    """nohup and background jobs ignore SIGINT on purpose: a solve does not take it over."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with limits.solving():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_expired_active_deadline_is_a_stop_reason():
    with limits.solving(Deadline(0.0)):
        assert limits.stop_reason() == "time_limit"
    assert limits.stop_reason() is None


@pytest.mark.parametrize("solver", ["cyipopt_direct", "casadi_ipopt"])
def test_interrupt_from_another_thread_stops_a_solve(tmp_path, solver):
    """The flag (what Ctrl-C sets) reaches Ipopt through its per-iteration callback
    (cyipopt's intermediate callback; nlpsol's iteration_callback). Four times the usual
    size: casadi_ipopt now solves 2,000 types in about 1.3 s, so an interrupt at 1 s could
    arrive after the solve had ended (it did once, in CI)."""
    path = lognormal_instance(tmp_path / "ln.dat", 4 * MID_SIZE_TYPES)
    model = build_model(read_instance(path))
    asked: list[float] = []

    def ask() -> None:
        asked.append(time.monotonic())
        limits.request_interrupt()

    timer = threading.Timer(1.0, ask)
    timer.start()
    try:
        result = solve_model(model, solver=solver)
    finally:
        timer.cancel()
    stopped = time.monotonic()
    assert result.status == "interrupted", result.status
    assert result.termination == "interrupted"
    assert asked and stopped - asked[0] < LATENCY
    assert math.isnan(result.profit)  # early iterates are infeasible: often no point at all
    assert not limits.interrupted()


def test_sigint_to_llmprice_solve_prints_the_status_and_exits_130(tmp_path):
    """A real Ctrl-C to the command, mid-solve: the status line and exit code 130
    within seconds (Ipopt through cyipopt used to ignore it for minutes). Four times the
    usual size, as the test above: 2,000 types now solve in about 1.3 s."""
    path = lognormal_instance(tmp_path / "ln.dat", 4 * MID_SIZE_TYPES)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ipopt's --tee log reaches the pipe late (cyipopt holds the GIL that the reader
    # thread needs), so the child says when the solve starts, and the signal follows it
    marker = (
        "import sys; from pyomo_llmprice import limits; from pyomo_llmprice.cli import main;"
        "real = limits.solving\n"
        "def solving(*a, **k):\n"
        "    print('SOLVING', flush=True); return real(*a, **k)\n"
        "limits.solving = solving; raise SystemExit(main())"
    )
    doc = tmp_path / "out.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", marker, "solve", str(path), "--method", "nlp", "--json", str(doc)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a terminal's Ctrl-C: under nohup or a background job SIGINT is inherited as
        # ignored, and llmprice rightly leaves it so
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = proc.stdout.readline()
        assert first.strip() == "SOLVING", first + proc.stderr.read()
        time.sleep(1.0)  # Ipopt is iterating (the whole solve takes 5-10 s)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        latency = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "status interrupted " in out and "NOT OPTIMAL" in out
    assert "interrupt received" in err and "Traceback" not in err
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "interrupted"
    assert latency < LATENCY, latency


# -- memory ----------------------------------------------------------------------------


def test_ic_rows_and_estimate_follow_the_formulation():
    assert limits.ic_rows(1000, "all_pairs", False) == 999_000
    assert limits.ic_rows(1000, "auto", True) == limits.ic_rows(1000, "adjacent", True) == 1998
    assert limits.ic_rows(1000, "auto", False, 2) > limits.ic_rows(1000, "adjacent", True)
    assert limits.ic_rows(40, "auto", False, 2) == 40 * 39  # all pairs below the threshold
    assert limits.memory_estimate(20_000, limits.ic_rows(20_000, "all_pairs", False)) > 1e12


def test_available_memory_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  1000 kB\nMemFree:  10 kB\nMemAvailable:  512 kB\n")
    assert limits.available_memory(str(meminfo)) == 512 * 1024
    assert limits.available_memory() is None or limits.available_memory() > 0


def test_model_past_available_memory_is_refused_up_front(monkeypatch, theta3, capsys):
    """One line naming the file, the types and both sizes, before any construction;
    --force builds and solves anyway."""
    monkeypatch.setattr(limits, "available_memory", lambda *a: 1000)  # 1 kB free

    def no_build(*args: Any, **kwds: Any) -> None:
        raise AssertionError("the model was built")

    real = pipeline.build_model
    monkeypatch.setattr(pipeline, "build_model", no_build)
    assert main(["solve", str(theta3), "--ic", "all_pairs"]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert str(theta3) in line and "TYPES: 3 types" in line and "6 IC rows" in line
    assert "1 KB available" in line and "--force" in line
    assert main(["tariffs", str(theta3), "--plans", "1"]) == EXIT_INPUT
    assert "--force" in one_line_error(capsys)
    monkeypatch.setattr(pipeline, "build_model", real)
    assert main(["solve", str(theta3), "--ic", "all_pairs", "--force"]) == 0
