"""The KKT reference rejects what it must: the models suite relies on it."""

from __future__ import annotations

import re

import pyomo.environ as pyo
import pytest
from kkt_reference import kkt_failures


def _lp(sense=pyo.minimize) -> pyo.ConcreteModel:
    # min x + y s.t. x + 2y >= 2, x, y >= 0: optimum (0, 1), dual 1/2, rc(x) = 1/2
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, None), initialize=0.0)
    m.y = pyo.Var(bounds=(0, None), initialize=1.0)
    m.c = pyo.Constraint(expr=m.x + 2 * m.y >= 2)
    m.o = pyo.Objective(expr=m.x + m.y, sense=sense)
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m.rc = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m.dual[m.c] = 0.5
    m.rc[m.x] = 0.5
    m.rc[m.y] = 0.0
    return m


def test_the_optimum_with_its_multipliers_passes():
    assert kkt_failures(_lp()) == []


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda m: m.y.set_value(2.0), "not stationary"),  # feasible, not optimal
        (lambda m: m.y.set_value(0.5), "below its lower bound"),  # infeasible
        (lambda m: m.dual.__setitem__(m.c, -0.5), "wrong sign|not stationary"),
        (lambda m: m.rc.__setitem__(m.y, 0.3), "inactive|not stationary"),
        (lambda m: m.o.set_sense(pyo.maximize), "not stationary"),
    ],
)
def test_wrong_points_and_multipliers_are_caught(spoil, message):
    m = _lp()
    spoil(m)
    failures = kkt_failures(m)
    assert failures
    assert any(re.search(message, f) for f in failures), failures
