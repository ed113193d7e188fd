"""Progress bars of ``llmprice``: drawn on a terminal, never into captured output, none
under ``--quiet``; and the tariffs table prints its gains as percentages."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.progress import is_quiet
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types

#: what a tqdm bar leaves in a stream: carriage returns, block characters, rates
BAR = re.compile(r"\r|[\u2588-\u258f]|\d+/\d+ \[|/s\]")

#: a design run of a few seconds: K = 1 from the structure-based starts only
ARGS = ("--plans", "1", "--starts", "0")


class FakeTerminal(io.StringIO):
    """stderr as a console: isatty() is True."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "four.dat"
    theta = np.array([0.3, 0.5, 0.7, 0.9])
    inst = Instance("four", None, theta_types(theta, np.full(4, 0.25)), Technology.cobb_douglas())
    write_dat(inst, path, header="four equally likely theta types")
    return path


def test_captured_output_has_no_bar_and_gains_are_percentages(four, capsys):
    assert main(["tariffs", str(four), *ARGS]) == 0
    captured = capsys.readouterr()
    assert not BAR.search(captured.err) and not BAR.search(captured.out)
    header, *rows = captured.out.split("\n\n")[0].splitlines()[2:]
    assert "gain_vs_linear" in header
    column = header.split().index("gain_vs_linear") + 1  # rows start with the design name
    gains = {row.split()[0]: row.split()[column] for row in rows}
    assert gains["linear"] == "0.0%"
    assert re.fullmatch(r"\+\d+\.\d%", gains["K=1"]), gains


def test_a_terminal_gets_bars_and_quiet_silences_them(four, monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["tariffs", str(four), *ARGS]) == 0
    drawn = terminal.getvalue()
    assert BAR.search(drawn) and "pricing" in drawn and "K=1 starts" in drawn

    for argv in (["-q", "tariffs", str(four), *ARGS], ["tariffs", str(four), *ARGS, "--quiet"]):
        terminal = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main(argv) == 0
        assert terminal.getvalue() == "", argv
    assert not is_quiet()  # --quiet of an in-process run does not outlive it
    capsys.readouterr()
