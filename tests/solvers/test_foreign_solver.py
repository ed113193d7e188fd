"""IC generation and the retry driven by a Pyomo solver that is not the package's.

``ForeignIpopt`` behaves like Pyomo's own ``ipopt`` interface where it matters: its
config is Pyomo's plain ``SolverConfig`` (an unknown key such as
``warm_start_multipliers`` is a ValueError), its results are Pyomo's plain
``Results`` with no iteration count and no Ipopt return code, and it starts from the
model's variable values. Inside it runs Ipopt through ``cyipopt_direct`` (no
``ipopt`` executable is installed here).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, ClassVar

import pyomo.environ as pyo
import pytest
from pyomo.contrib.solver.common.base import Availability, SolverBase
from pyomo.contrib.solver.common.config import SolverConfig
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import Results, SolutionStatus
from pyomo.contrib.solver.common.util import NoOptimalSolutionError

from pyomo_llmprice import generation, theory
from pyomo_llmprice.blocks import Screening
from pyomo_llmprice.blocks.menu import menu_block
from pyomo_llmprice.pipeline import solve_model
from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect
from pyomo_llmprice.solvers.options import WARM_START_OPTIONS

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
NAME = "foreign_ipopt_for_tests"


class ForeignIpopt(SolverBase):
    """A strict third-party NLP interface (see the module docstring)."""

    CONFIG = SolverConfig()

    #: what each solve was given and started from (reset by the fixture)
    calls: ClassVar[list[dict[str, Any]]] = []

    def available(self) -> Availability:
        return Availability.FullLicense

    def version(self) -> tuple[int, int, int]:
        return (1, 0, 0)

    def solve(self, model: Any, **kwds: Any) -> Results:
        config = self.config(value=kwds)  # ValueError on any key Pyomo does not define
        options = dict(config.solver_options.value())
        start = [pyo.value(p, exception=False) for p in menu_block(model).payment.values()]
        ForeignIpopt.calls.append({"options": options, "start": start})
        inner = CyIpoptDirect().solve(
            model,
            tee=config.tee,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
            solver_options=options,
            time_limit=config.time_limit,
        )
        results = Results()
        results.solver_name = NAME
        results.termination_condition = inner.termination_condition
        results.solution_status = inner.solution_status
        results.solution_loader = inner.solution_loader
        results.incumbent_objective = inner.incumbent_objective
        results.timing_info.wall_time = inner.timing_info.wall_time
        if (
            config.raise_exception_on_nonoptimal_result
            and results.solution_status != SolutionStatus.optimal
        ):
            raise NoOptimalSolutionError()
        if config.load_solutions:
            results.solution_loader.load_vars()
        return results


@pytest.fixture
def foreign():
    """ForeignIpopt registered in Pyomo's solver factories under a test name."""
    from pyomo.opt.base.solvers import LegacySolverFactory

    ForeignIpopt.calls = []
    SolverFactory.register(NAME, doc="test: a strict third-party NLP interface")(ForeignIpopt)
    try:
        yield ForeignIpopt
    finally:
        SolverFactory.unregister(NAME)
        LegacySolverFactory.unregister(NAME)


def test_the_foreign_solver_is_as_strict_as_pyomos_ipopt(foreign):
    """The old generation code passed this key; a strict interface refuses it."""
    with pytest.raises(ValueError, match="warm_start_multipliers"):
        foreign().solve(pyo.ConcreteModel(), warm_start_multipliers=True)
    assert "iteration_count" not in Results().extra_info


def _rochet_chone(size: int, ic: str) -> pyo.ConcreteModel:
    sys.path.insert(0, str(INSTANCES))
    from generate import rochet_chone

    model = pyo.ConcreteModel()
    model.menu = Screening(instance=rochet_chone(size), ic=ic)
    return model


@pytest.mark.parametrize("seed", ["grid", "axis"])
def test_generation_with_a_foreign_solver(foreign, seed, monkeypatch):
    """Rochet-Chone 6 x 6 with generated IC: the foreign solver reaches the all-pairs
    optimum (solved by cyipopt_direct, every one of the 36 x 35 pairs imposed), each
    round starting from the previous round's point; the axis seed alone needs a warm
    round (WARM_START_OPTIONS), the grid seed a round after seeding (plain options)."""
    reference = solve_model(_rochet_chone(6, "all_pairs"))
    if seed == "axis":
        monkeypatch.setattr(generation, "grid_neighbour_pairs", lambda points: [])
    res = solve_model(_rochet_chone(6, "generated"), solver=NAME)
    assert reference.status == res.status == "optimal"
    assert res.profit == pytest.approx(reference.profit, rel=1e-7)
    assert res.verification.max_violation <= res.tolerance
    log = res.generation
    assert log.rounds >= 2 and log.constraints_added + log.seeded > 0
    assert log.iterations is None and res.iterations is None  # the solver did not say
    rounds = foreign.calls[: log.rounds]
    assert all(a["start"] != b["start"] for a, b in itertools.pairwise(rounds))
    assert all(v is not None for v in rounds[1]["start"])  # round 2 starts from round 1
    warm = [set(WARM_START_OPTIONS) <= set(c["options"]) for c in rounds]
    assert warm[0] is False
    assert any(warm[1:]) is (seed == "axis")


def test_retry_with_a_foreign_solver(foreign, monkeypatch):
    """A first solve that stops at Ipopt's acceptable level (convergence, feasible
    solution: ``not_converged`` without any Ipopt code) is retried through the same
    foreign solver; the menu is Mussa-Rosen's closed-form optimum (N = 10)."""
    real_solve = foreign.solve

    def first_stops_short(self: ForeignIpopt, model: Any, **kwds: Any) -> Results:
        if not foreign.calls:
            kwds["solver_options"] = {
                **kwds["solver_options"],
                "tol": 1e-30,
                "acceptable_tol": 1e-1,
                "acceptable_iter": 1,
            }
        return real_solve(self, model, **kwds)

    monkeypatch.setattr(foreign, "solve", first_stops_short)
    bench = theory.mussa_rosen(10)
    model = pyo.ConcreteModel()
    model.menu = Screening(theta=bench.theta)
    res = solve_model(model, solver=NAME)
    assert res.retry is not None
    assert res.retry.first_outcome == "not_converged"
    assert res.retry.regularized_outcome == res.retry.polished_outcome == "optimal"
    assert res.status == "optimal"
    assert res.profit == pytest.approx(bench.profit, rel=1e-8)
    polish = foreign.calls[2]
    assert set(WARM_START_OPTIONS) <= set(polish["options"])
    assert polish["start"] != foreign.calls[0]["start"]  # from the regularized point
