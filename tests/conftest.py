"""Shared fixtures of the test suite."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from fault_data import THETA3, VS4

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hs071_path() -> Path:
    """Absolute path of models/hs071.py (Hock-Schittkowski problem 71)."""
    return REPO / "models" / "hs071.py"


@pytest.fixture
def hs071(hs071_path):
    """A fresh copy of the HS071 model (the module builds it at import)."""
    return runpy.run_path(str(hs071_path))["model"]


@pytest.fixture(scope="module")
def client():
    """A local cluster of two worker processes for a module's sweeps (the sweep tests')."""
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def theta3(tmp_path: Path) -> Path:
    """Three bare-theta types (fault_data.THETA3): a solve takes a few hundredths of a second."""
    path = tmp_path / "theta3.dat"
    path.write_text(THETA3)
    return path


@pytest.fixture
def vs4(tmp_path: Path) -> Path:
    """Four value-scale types (fault_data.VS4)."""
    path = tmp_path / "vs4.dat"
    path.write_text(VS4)
    return path
