"""Small instances for the fault suite: a solve takes a few hundredths of a second."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_data import THETA3, VS4


@pytest.fixture
def theta3(tmp_path: Path) -> Path:
    path = tmp_path / "theta3.dat"
    path.write_text(THETA3)
    return path


@pytest.fixture
def vs4(tmp_path: Path) -> Path:
    path = tmp_path / "vs4.dat"
    path.write_text(VS4)
    return path
