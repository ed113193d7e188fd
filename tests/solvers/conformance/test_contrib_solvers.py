"""Pyomo's contrib solver test suite (``test_solvers.py``) on our solvers.

The cases come from the installed Pyomo (see conftest.py); expected refusals are
strict xfails that must raise our UnsupportedModelError.
"""

from __future__ import annotations


def test_contrib_suite(contrib_case) -> None:
    contrib_case.run()
