"""The README's conformance table states what these suites collect here."""

from __future__ import annotations

import re
from pathlib import Path

import pyomo
import pytest
from pyomo_suites import (
    CONTRIB_REFUSALS,
    MODEL_REFUSALS,
    SOLVERS,
    contrib_cases,
    model_scenarios,
)

README = Path(__file__).resolve().parents[3] / "README.md"
ROW = re.compile(
    r"^\| `(?P<suite>[^`]+)`[^|]*\| `(?P<solver>\w+)` "
    r"\| (?P<run>\d+) \| (?P<passed>\d+) \| (?P<refused>\d+) \|$"
)


def _table() -> tuple[str, dict[tuple[str, str], tuple[int, int, int]]]:
    text = README.read_text()
    section = text.split("### Solver conformance", 1)[1].split("\n### ", 1)[0]
    version = re.search(r"installed Pyomo ([\d.]+)", section).group(1)
    rows = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            key = (m["suite"], m["solver"])
            rows[key] = (int(m["run"]), int(m["passed"]), int(m["refused"]))
    return version, rows


def test_table_counts_match_the_collected_cases():
    version, rows = _table()
    if version != pyomo.version.version:
        pytest.skip(f"the table describes Pyomo {version}, this is {pyomo.version.version}")
    contrib = list(contrib_cases())
    models = model_scenarios()
    for name, _ in SOLVERS:
        run = [c for c in contrib if c.solver == name]
        refused = [c for c in run if c.func.__name__ in CONTRIB_REFUSALS]
        key = ("pyomo/contrib/solver/tests/solvers/test_solvers.py", name)
        assert rows[key] == (len(run), len(run) - len(refused), len(refused))
        run = [k for k, _ in models if k[1] == name]
        refused = [k for k in run if k[0] in MODEL_REFUSALS]
        assert rows["pyomo/solvers/tests/models", name] == (
            len(run),
            len(run) - len(refused),
            len(refused),
        )
