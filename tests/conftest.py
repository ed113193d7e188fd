"""Shared fixtures of the test suite."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def hs071_path() -> Path:
    """Absolute path of models/hs071.py (Hock-Schittkowski problem 71)."""
    return REPO / "models" / "hs071.py"


@pytest.fixture
def hs071(hs071_path):
    """A fresh copy of the HS071 model (the module builds it at import)."""
    return runpy.run_path(str(hs071_path))["model"]
