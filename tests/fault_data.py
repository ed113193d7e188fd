"""Instance texts and checks shared by the fault tests of every area (importable)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTANCES = REPO / "instances"

TECHNOLOGY = """\
param alpha := 0.25 ;  param beta := 0.25 ;  param gamma := 0.25 ;
param base_quality := 1 ;
param cost_input := 0.125 ;  param cost_output := 0.125 ;  param cost_finetune := 0.125 ;
"""

#: three theta types: the lowest is excluded (theta < 1/3 ... see theory), the top fine-tuned
THETA3 = (
    """\
# three theta types for the fault suite
set TYPES := low mid high ;
param : prob theta := low 0.3 0.3  mid 0.4 0.6  high 0.3 0.9 ;
"""
    + TECHNOLOGY
)

#: a 2 x 2 value-scale grid: multidimensional types, expressible in both settings
VS4 = (
    """\
# a 2 x 2 value-scale grid for the fault suite
set TYPES := w1s1 w1s2 w2s1 w2s2 ;
param : prob value_per_task scale :=
  w1s1 0.25 0.4 0.5
  w1s2 0.25 0.4 1.0
  w2s1 0.25 0.9 0.5
  w2s2 0.25 0.9 1.0 ;
"""
    + TECHNOLOGY
)


def one_line_error(capsys: pytest.CaptureFixture[str], prefix: str = "llmprice: error: ") -> str:
    """The single stderr line of a refused command (and no traceback).

    `prefix`: ``llmprice: error: `` for the package's errors, ``llmprice CMD: error: ``
    for argparse's.
    """
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]
