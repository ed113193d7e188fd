"""Pyomo's legacy results (``pyomo.opt``) read by one adapter, whichever door a run takes.

``pyomo solve`` and ``llmprice compare`` (for solvers only Pyomo's legacy factory
knows) both receive a ``pyomo.opt.SolverResults``; the same run must earn the same
status through either.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyomo.opt.base.solvers import LegacySolverFactory

import pyomo_llmprice  # noqa: F401  (registers the solvers)
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.solvers.cyipopt_direct import LegacyCyIpoptDirect
from pyomo_llmprice.studies.compare import compare, probe_solver

REPO = Path(__file__).resolve().parents[2]
THETA20 = REPO / "instances" / "paper_theta_20.dat"
LEGACY_ONLY = "legacy_only_ipopt_for_tests"


@pytest.fixture
def legacy_only_solver():
    """Ipopt behind Pyomo's legacy factory only, as a system ``ipopt`` executable would be."""
    LegacySolverFactory.register(LEGACY_ONLY, doc="test: Ipopt through pyomo.opt only")(
        LegacyCyIpoptDirect
    )
    try:
        yield LEGACY_ONLY
    finally:
        LegacySolverFactory.unregister(LEGACY_ONLY)


def test_iteration_limit_is_the_same_status_through_both_doors(
    legacy_only_solver, tmp_path, monkeypatch, capsys
):
    """Ipopt stopped after 2 iterations: ``iteration_limit`` through ``pyomo solve`` and
    through ``llmprice compare`` (a legacy-only solver), never ``not_converged``."""
    from pyomo.scripting.pyomo_main import main as pyomo_main

    monkeypatch.chdir(tmp_path)
    pyomo_main(
        [
            "solve",
            str(REPO / "models" / "token_packages.py"),
            str(THETA20),
            "--solver=cyipopt_direct",
            "--solver-options=max_iter=2",
        ]
    )
    printed = capsys.readouterr().out
    door_pyomo = re.search(r"^status (\S+)", printed, re.M).group(1)

    assert probe_solver(legacy_only_solver).api == "legacy"
    table = compare([read_instance(THETA20)], solvers=[legacy_only_solver], options={"max_iter": 2})
    (row,) = table.itertuples()
    assert door_pyomo == "iteration_limit"
    assert row.status == "iteration_limit"
    assert row.iterations == 2
