"""The envelope chain (ic="envelope"), Token Packages' default NLP formulation.

Every expected profit comes from pyomo_llmprice.theory (discrete virtual values ironed
by pool-adjacent-violators, then the closed-form pointwise maximum), never from a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.blocks import Screening, TokenPackages
from pyomo_llmprice.blocks.menu import GENERATION_THRESHOLD, resolve_ic
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance, InstanceError
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types
from tests.blocks.test_token_packages import bimodal_instance

INSTANCES = Path(__file__).resolve().parents[2] / "instances"


def test_auto_resolves_to_the_envelope_where_values_are_lean() -> None:
    assert resolve_ic("auto", True, 10, envelope=True) == "envelope"
    assert resolve_ic("auto", True, 10, envelope=False) == "adjacent"
    assert resolve_ic("auto", False, GENERATION_THRESHOLD) == "all_pairs"
    assert resolve_ic("auto", False, GENERATION_THRESHOLD + 1) == "generated"
    assert resolve_ic("adjacent", True, 10, envelope=True) == "adjacent"


def lognormal(n: int, seed: int = 5) -> Instance:
    rng = np.random.default_rng(seed)
    types = theta_types(rng.lognormal(0.0, 0.5, n), rng.dirichlet(np.full(n, 5.0)))
    return Instance(f"lognormal_{n}", None, types, Technology.cobb_douglas())


def test_rows_of_the_chain_and_a_feasible_start() -> None:
    """N-1 binding downward IC rows, N-1 monotonicity rows, one binding IR row; and the
    starting point satisfies every row (no iterations spent restoring feasibility)."""
    n = 30
    model = build_model(lognormal(n), "packages")
    menu = model.menu
    assert menu.ic_set == "envelope"
    assert len(menu.incentive) == n - 1 and len(menu.monotonicity) == n - 1
    assert len(menu.participation) == 1
    for con in (*menu.incentive.values(), *menu.participation.values()):
        assert con.equality
    theta = dict(zip(menu.types, menu.theta, strict=True))
    for lo, hi in menu.monotone_pairs:  # downward: the higher type's IC toward the lower
        assert (hi, lo) in menu.ic_pairs and theta[lo] < theta[hi]
    worst = 0.0
    for con in model.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body)
        if con.has_lb():
            worst = max(worst, pyo.value(con.lower) - body)
        if con.has_ub():
            worst = max(worst, body - pyo.value(con.upper))
    assert worst <= 1e-12


@pytest.mark.parametrize("ic", ["envelope", "adjacent"])
def test_both_chains_reach_the_ironed_discrete_optimum(ic: str) -> None:
    """Bimodal types whose virtual values need ironing (pools of bunched types)."""
    inst = bimodal_instance()
    ref = theory.discrete_optimal_menu(inst.types.theta, inst.types.prob, inst.technology)
    res = solve_model(build_model(inst, "packages", ic=ic))
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    np.testing.assert_array_equal(res.menu["served"].to_numpy(), ref.served)


def test_envelope_merges_ties_of_a_value_scale_grid() -> None:
    """paper_vs_10x10 has exact ties in theta = w sqrt(s): merged types, one chain."""
    inst = read_instance(INSTANCES / "paper_vs_10x10.dat")
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    model = build_model(inst, "packages", ic="envelope")
    assert len(model.menu.incentive) == len(model.menu.distinct_types) - 1 < len(inst.theta) - 1
    res = solve_model(model)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)


def test_envelope_is_refused_where_it_is_not_exact(vs4: Path) -> None:
    inst = read_instance(vs4)
    with pytest.raises(InstanceError, match="envelope IC is exact only for one-dimensional"):
        build_model(inst, "allocations", ic="envelope")
    model = pyo.ConcreteModel()
    with pytest.raises(UserInputError, match="envelope IC is written for Token Packages only"):
        model.menu = Screening(theta=np.array([1.0, 2.0, 3.0]), ic="envelope")


def test_a_block_without_its_own_profit_objective_takes_the_adjacent_chain() -> None:
    """Competition and welfare objectives may leave adjacent IC slack: no envelope."""
    model = pyo.ConcreteModel()
    model.menu = TokenPackages(instance=lognormal(6), declare_objective=False)
    assert model.menu.ic_set == "adjacent"


def test_a_price_cap_is_refused_on_the_envelope_a_token_capacity_is_not() -> None:
    inst = lognormal(8)
    capped = build_model(inst, "packages")
    top = capped.menu.types.last()
    capped.cap = pyo.Constraint(
        expr=capped.menu.payment[top] <= 0.5 * capped.menu.payment[top].value
    )
    with pytest.raises(
        UserInputError, match="involves payments; build the block with ic='adjacent'"
    ):
        solve_model(capped)
    # a capacity on tokens leaves the envelope payments optimal: both chains agree
    profits = []
    for ic in ("envelope", "adjacent"):
        model = build_model(inst, "packages", ic=ic)
        menu = model.menu
        model.capacity = pyo.Constraint(
            expr=sum(menu.prob[k] * menu.input_tokens[k] for k in menu.types) <= 0.01
        )
        res = solve_model(model)
        assert res.status == "optimal"
        profits.append(res.profit)
    unconstrained = theory.discrete_optimal_menu(inst.types.theta, inst.types.prob, inst.technology)
    assert profits[0] == pytest.approx(profits[1], rel=1e-7)
    assert profits[0] < unconstrained.profit * (1 - 1e-3)  # the capacity binds
