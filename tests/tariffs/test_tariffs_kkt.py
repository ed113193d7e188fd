"""The buyer's KKT conditions through pyomo.mpec, solved by cyipopt_direct, against closed forms."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.contrib.solver.common.factory import SolverFactory

from pyomo_llmprice import theory
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.tariffs import CobbDouglasBuyer, design_plans
from pyomo_llmprice.tariffs.design import _problem
from pyomo_llmprice.tariffs.kkt import (
    MpecPlanProblem,
    add_buyer_kkt,
    kkt_best_response,
    solve_mpec,
    untransformed_complementarities,
)
from pyomo_llmprice.technology import Technology

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
PAPER = Technology.cobb_douglas()


class UserCobbDouglas:
    """The paper's precision supplied by a user (no closed form is used for it)."""

    alpha = beta = gamma = 0.25
    base_quality = 1.0

    def precision(self, a_in, a_out, z):
        return a_in * a_out * (1.0 + z) ** 0.25

    def input_tokens(self, a_in):
        return a_in**4

    def output_tokens(self, a_out):
        return a_out**4

    def factors(self, x, y):
        return x**0.25, y**0.25


USER = Technology(0.125, 0.125, 0.125, UserCobbDouglas())


@pytest.mark.parametrize("technology", [PAPER, USER], ids=["cobb_douglas", "user_precision"])
@pytest.mark.parametrize("prices", [(0.125, 0.125, 0.125), (0.2, 0.1, 0.3)])
def test_kkt_best_response_is_the_closed_form_including_the_fine_tuning_corner(technology, prices):
    # (not exactly at a threshold, where Z = 0 and its marginal condition both bind)
    theta = np.array([0.3, 0.45, 0.62, 0.75, 0.9])
    tokens, converged = kkt_best_response(theta, prices, technology)
    expected, _ = CobbDouglasBuyer(PAPER).demand(theta, np.array(prices))
    assert converged
    assert np.any(expected[:, 2] == 0) and np.any(expected[:, 2] > 0)  # both regimes present
    np.testing.assert_allclose(tokens, expected, rtol=1e-7, atol=1e-9)


def buyer_model(complementarity_transformed: bool) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    add_buyer_kkt(m, 0.75, [0.125, 0.125, 0.125], PAPER)
    m.obj = pyo.Objective(expr=m.surplus, sense=pyo.maximize)
    if complementarity_transformed:
        pyo.TransformationFactory("mpec.simple_nonlinear").apply_to(m)
    return m


def test_an_untransformed_complementarity_is_refused_not_silently_dropped():
    m = buyer_model(complementarity_transformed=False)
    assert untransformed_complementarities(m) == ["finetune"]
    with pytest.raises(Exception, match=r"finetune.*Complementarity.*transformed"):
        SolverFactory("cyipopt_direct").solve(m)


def test_solve_mpec_transforms_explicitly_and_meets_complementarity():
    m = buyer_model(complementarity_transformed=False)
    converged, termination = solve_mpec(m)
    assert converged, termination
    assert untransformed_complementarities(m) == []
    assert pyo.value(m.mpec_bound) <= 1e-10  # the homotopy ended below solver tolerance
    assert pyo.value(m.finetune.ccon.body) <= 1e-10 * (1 + 1e-6)  # Z (p_z - theta dP/dZ)
    x, y, z = theory.pointwise_bundle(0.75, PAPER)
    assert (pyo.value(m.X), pyo.value(m.Y), pyo.value(m.Z)) == pytest.approx(
        (float(x), float(y), float(z)), rel=1e-8
    )


@functools.cache
def paper_problem():
    inst = read_instance(INSTANCES / "paper_theta_20.dat")
    problem, *_ = _problem(inst, None, None)
    return problem


@pytest.mark.parametrize("bounds", [(7, 20), (7, 13, 20)])
def test_seller_problem_with_buyer_kkt_matches_the_closed_form_route(bounds):
    problem = paper_problem()
    b = np.array(bounds)
    start = np.geomspace(2.0, 1.05, len(b) - 1)
    closed = problem.optimize_markups(b, start)
    mpec = MpecPlanProblem(problem.theta, problem.prob, PAPER).optimize_markups(b, start)
    assert mpec[3], "MPEC did not converge"
    # profit is flat at the optimum: markups agree to about the square root of the tolerance
    np.testing.assert_allclose(mpec[0], closed[0], rtol=1e-5)  # markups
    np.testing.assert_allclose(mpec[1], closed[1], rtol=1e-5, atol=1e-9)  # fees
    assert mpec[2] == pytest.approx(closed[2], rel=1e-8)  # profit


def test_plan_design_for_a_user_precision_goes_through_the_mpec_route():
    theta = np.array([0.35, 0.55, 0.7, 0.9])
    prob = np.array([0.3, 0.3, 0.2, 0.2])
    closed = design_plans((theta, prob), 2, starts=0, technology=PAPER, polish=False)
    user = design_plans((theta, prob), 2, starts=0, technology=USER)
    assert user.status == "optimal"
    assert user.outcome.max_deviation_gain <= 1e-7
    assert user.profit == pytest.approx(closed.profit, rel=1e-7)
    np.testing.assert_allclose(
        [p.markup for p in user.menu.plans], [p.markup for p in closed.menu.plans], rtol=1e-5
    )
