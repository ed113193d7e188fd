"""Every CLI option explains itself; -q/--quiet is global; gains read as percentages."""

from __future__ import annotations

import argparse
import math

import pytest

from pyomo_llmprice.cli import COMMANDS, _parser
from pyomo_llmprice.plugins import SOLVERS
from pyomo_llmprice.report.pricing import percent


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    """Every argument of `parser` and of its subcommands, with the command it belongs to."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_of_every_subcommand_has_help():
    options = _options(_parser(), "llmprice")
    commands = {path for path, _ in options}
    assert commands == {"llmprice", *(f"llmprice {name}" for name in COMMANDS)}
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, action in options
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert not missing, f"options without help: {missing}"


def _help_of(command: str, option: str) -> str:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if option in a.option_strings)
    return action.help


def test_solve_help_names_the_solvers_and_explains_ic_and_time_limit():
    solver = _help_of("solve", "--solver")
    assert all(name in solver for name in SOLVERS)
    ic = _help_of("solve", "--ic")
    assert all(word in ic for word in ("auto", "adjacent", "all_pairs", "generated"))
    assert "time_limit" in _help_of("solve", "--time-limit")


@pytest.mark.parametrize(
    ("argv", "quiet"),
    [
        (["-q", "solve", "x.dat"], True),
        (["--quiet", "tariffs", "x.dat"], True),
        (["solve", "x.dat", "--quiet"], True),
        (["compare", "a.dat", "-q"], True),
        (["-q", "sweep", "s.yaml", "--no-progress"], True),
        (["solve", "x.dat"], False),
        (["plot", "x.dat", "--out", "d"], False),
    ],
)
def test_quiet_is_accepted_before_and_after_the_subcommand(argv, quiet):
    assert _parser().parse_args(argv).quiet is quiet


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (0.0951, "+9.5%"),
        (1.0951, "+109.5%"),
        (-0.2, "-20.0%"),
        (0.0, "0.0%"),
        (1.2e-5, "+0.0012%"),  # too small for one decimal: not shown as no change
        (-3e-4, "-0.03%"),
        (math.nan, "NaN"),
    ],
)
def test_gains_print_as_percentages(ratio, text):
    assert percent(ratio) == text
