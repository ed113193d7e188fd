"""Pyomo's solver test models (``pyomo/solvers/tests/models``) on our solvers.

Each scenario is built, warm-started and solved by the model class's own methods,
as Pyomo's driver does; the termination is judged by the model's own
``post_solve_test_validation``. The loaded solution is then compared with Pyomo's
stored results when the installed Pyomo has the file, and must pass the KKT
check of kkt_reference.py in any case (no stored file ships in Pyomo's wheels).
"""

from __future__ import annotations

import os
import unittest

from kkt_reference import kkt_failures
from pyomo.core.kernel.block import IBlock
from pyomo.opt import TerminationCondition

#: Pyomo's terminations after which its driver checks no solution
NO_SOLUTION = (
    TerminationCondition.unbounded,
    TerminationCondition.infeasible,
    TerminationCondition.infeasibleOrUnbounded,
)


def test_pyomo_model(scenario, case) -> None:
    _, solver, io = scenario
    test_model = case.model()
    test_model.generate_model(case.testcase.import_suffixes)
    test_model.warmstart_model()
    opt, results = test_model.solve(
        solver, io, case.testcase.io_options, case.testcase.options, False, False
    )
    # a TestCase as tester, as Pyomo's own driver passes (LP_trivial_constraints'
    # tester-less branch indexes a scalar component)
    test_model.post_solve_test_validation(unittest.TestCase(), results)
    if results.solver.termination_condition in NO_SOLUTION:
        return
    model = test_model.model
    if isinstance(model, IBlock):
        model.load_solution(results.solution(0))
    else:
        model.solutions.load_from(results, default_variable_value=opt.default_variable_value())
    if os.path.exists(test_model.results_file):
        ok, message = test_model.validate_current_solution(
            suffixes=test_model.test_suffixes, exclude_suffixes=case.exclude_suffixes
        )
        assert ok, message
    assert kkt_failures(model) == []
