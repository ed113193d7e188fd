"""The envelope chain (ic="envelope"), Token Packages' default NLP formulation.

Every expected profit comes from pyomo_llmprice.theory (discrete virtual values ironed
by pool-adjacent-violators, then the closed-form pointwise maximum), never from a run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentSet
from pyomo.core.expr.visitor import identify_variables

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
    capped = build_model(inst, "packages", ic="envelope")
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


# -- payment caps that are not constraint rows (from the adversarial review) ------------


def three() -> Instance:
    theta = np.array([1.0, 1.5, 2.0])
    return Instance("three", None, theta_types(theta, np.full(3, 1 / 3)), Technology.cobb_douglas())


def capped(ic: str, how: str) -> pyo.ConcreteModel:
    """The top package at least 1.2 (model units; unconstrained it is 1.0), a row on
    bundles the envelope may take, and the top payment capped at its unconstrained value
    (124 in the instance's money) written as `how`: the envelope's binding rows then cut
    off the optimum (it reported 1.88 where the adjacent chain finds 4.07)."""
    model = build_model(three(), "packages", ic=ic)
    b = model.menu
    model.minq = pyo.Constraint(expr=b.precision["t3", "package"] >= 1.2)
    cap = b.units.money_from_instance(124.0)
    if how == "setub":
        b.payment["t3"].setub(cap)
    elif how == "fix":
        b.payment["t3"].fix(cap)
    else:  # a ranged row whose (variable) lower bound holds the payment
        model.cap = pyo.Constraint(
            expr=pyo.inequality(b.payment["t3"], cap + 1e-9 * b.finetune["t3"], 1e9)
        )
    return model


@pytest.mark.parametrize("how", ["setub", "fix", "ranged_lower"])
def test_a_payment_cap_is_refused_on_the_envelope_and_relaxed_under_auto(how: str) -> None:
    adjacent = solve_model(capped("adjacent", how))
    assert adjacent.status == "optimal"
    with pytest.raises(UserInputError, match="payment"):
        solve_model(capped("envelope", how))
    model = capped("auto", how)
    assert model.menu.ic_set == "envelope"
    relaxed = solve_model(model)  # auto promised exactness: the adjacent chain in place
    assert model.menu.ic_set == "adjacent" and not model.menu.monotonicity.active
    assert relaxed.status == "optimal"
    assert relaxed.profit == pytest.approx(adjacent.profit, rel=1e-7)


def test_the_exact_method_refuses_a_payment_bound() -> None:
    """A bound is a constraint of the user's: exact must not return the menu above it."""
    model = build_model(three(), "packages", ic="adjacent")
    model.menu.payment["t3"].setub(model.menu.units.money_from_instance(62.0))
    with pytest.warns(UserWarning, match="fixes or bounds variables of its own"):
        res = solve_model(model, method="exact")
    top = float(res.menu.set_index("type").loc["t3", "payment"])
    assert res.solver != "exact" and top <= 62.0 * (1 + 1e-6)


def test_the_report_says_which_ic_rows_were_imposed(tmp_path: Path) -> None:
    """The text header and the JSON name the IC set (None for the exact method), so a
    user who passed --ic sees it took effect, and auto's relaxation shows."""
    import json

    from pyomo_llmprice.cli import main

    path = INSTANCES / "paper_theta_20.dat"
    for ic, method, want in (("auto", "nlp", "envelope"), ("adjacent", "nlp", "adjacent")):
        out = tmp_path / f"{ic}.json"
        assert main(["solve", str(path), "--ic", ic, "--method", method, "--json", str(out)]) == 0
        assert json.loads(out.read_text())["ic"] == want
    out = tmp_path / "exact.json"
    assert main(["solve", str(path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["ic"] is None
    res = solve_model(capped("auto", "setub"))
    assert res.ic == "adjacent" and res.report().splitlines()[0].endswith("ic adjacent")


# -- from the second review: clones, objectives, domains, retries, pyomo solve -----------


def test_relaxing_a_clone_writes_rows_on_the_clone() -> None:
    """The value expressions are looked up on the block at each call: a clone's new rows
    were written on the original's variables (which then changed when the clone solved)."""
    original = build_model(three(), "packages")
    clone = original.clone()
    clone.menu.payment["t3"].setub(clone.menu.units.money_from_instance(124.0))
    clone.minq = pyo.Constraint(expr=clone.menu.precision["t3", "package"] >= 1.2)
    before = [v.value for v in original.component_data_objects(pyo.Var)]
    res = solve_model(clone)
    assert res.status == "optimal" and clone.menu.ic_set == "adjacent"
    theirs = ComponentSet(original.component_data_objects(pyo.Var))
    for con in clone.menu.incentive.values():
        assert not any(v in theirs for v in identify_variables(con.expr))
    assert [v.value for v in original.component_data_objects(pyo.Var)] == before
    assert res.profit == pytest.approx(solve_model(capped("adjacent", "setub")).profit, rel=1e-7)


def test_the_exact_method_refuses_an_objective_that_is_not_the_blocks_profit() -> None:
    ref = theory.discrete_optimal_menu(
        np.array([1.0, 1.5, 2.0]), np.full(3, 1 / 3), Technology.cobb_douglas()
    )
    for change in ("user objective", "edited", "minimize", "integer precision"):
        model = build_model(three(), "packages")
        menu = model.menu
        if change == "user objective":
            menu.profit_objective.deactivate()
            model.welfare = pyo.Objective(
                expr=menu.expected_profit + 0.5 * menu.payment["t1"], sense=pyo.maximize
            )
        elif change == "edited":
            menu.profit_objective.set_value(menu.expected_profit + 0.5 * menu.payment["t1"])
        elif change == "minimize":
            menu.profit_objective.sense = pyo.minimize
        else:
            menu.precision["t1", "package"].domain = pyo.NonNegativeIntegers
        assert menu.objective_not_own() is not None or menu.changed_variables()
        with pytest.warns(UserWarning, match="method exact does not apply"):
            try:
                res = solve_model(model, method="exact")
            except ValueError:  # the NLP refuses integer variables in one line
                continue
        assert res.solver != "exact"  # the NLP solved the model as it stands
    untouched = solve_model(build_model(three(), "packages"), method="exact")
    assert untouched.solver == "exact" and untouched.profit == pytest.approx(ref.profit, rel=1e-12)


def test_the_regularized_retry_leaves_a_users_objective_alone(monkeypatch) -> None:
    """A first solve that fails on a model with the user's own objective is not retried
    with the block's regularized profit (it left two active objectives)."""
    from pyomo.contrib.solver.common.results import TerminationCondition

    import pyomo_llmprice.generation as generation

    real = generation.solve_once
    calls: list[int] = []

    def failing_first(opt, model, *args, **kwds):
        res = real(opt, model, *args, **kwds)
        calls.append(1)
        if len(calls) == 1:
            res.termination_condition = TerminationCondition.locallyInfeasible
        return res

    monkeypatch.setattr(generation, "solve_once", failing_first)
    model = build_model(three(), "packages", ic="adjacent")
    menu = model.menu
    menu.profit_objective.deactivate()
    model.own = pyo.Objective(
        expr=menu.expected_profit - 0.1 * menu.payment["t1"], sense=pyo.maximize
    )
    solve_model(model)
    active = [o.name for o in model.component_data_objects(pyo.Objective, active=True)]
    assert active == ["own"] and len(calls) == 1


def test_pyomo_solve_relaxes_the_envelope_of_a_capped_model_file(
    tmp_path, monkeypatch, capsys
) -> None:
    """A user's model file on the package's abstract model, with a bundle floor and a
    payment cap: pyomo solve runs the same settle step as solve_model (its
    pyomo_modify_instance hook), so the menu is the adjacent chain's optimum."""
    from pyomo.scripting.pyomo_main import main as pyomo_main

    models = Path(__file__).resolve().parents[2] / "models"
    path = INSTANCES / "paper_theta_20.dat"
    inst = read_instance(path)
    reference = build_model(inst, "packages", ic="adjacent")
    reference.minq = pyo.Constraint(expr=reference.menu.precision["t20", "package"] >= 1.5)
    cap = reference.menu.units.money_from_instance(6.072572582664647)
    reference.cap = pyo.Constraint(expr=reference.menu.payment["t20"] <= cap)
    want = solve_model(reference)
    assert want.status == "optimal"
    model_file = tmp_path / "capped.py"
    model_file.write_text(
        f"import sys\nsys.path.insert(0, {str(models)!r})\n"
        "import pyomo.environ as pyo\n"
        "from _menu_model import abstract_menu_model, print_menu, settle_chain\n"
        "from _menu_model import validated_dataportal\n"
        "model = abstract_menu_model('packages')\n"
        "model.minq = pyo.Constraint(rule=lambda m: m.menu.precision['t20', 'package'] >= 1.5)\n"
        "model.cap = pyo.Constraint(rule=lambda m: m.menu.payment['t20'] <= "
        "m.menu.units.money_from_instance(6.072572582664647))\n"
        "pyomo_print_results = print_menu\n"
        "pyomo_create_dataportal = validated_dataportal\n"
        "pyomo_modify_instance = settle_chain\n"
    )
    monkeypatch.chdir(tmp_path)
    pyomo_main(["solve", str(model_file), str(path), "--solver=cyipopt_direct"])
    printed = capsys.readouterr().out
    assert re.search(r"^status optimal", printed, re.M), printed[-1500:]
    assert re.search(r"^instance .* ic adjacent$", printed, re.M)  # relaxed, and says so
    profit = float(re.search(r"^profit (\S+)", printed, re.M).group(1))
    assert profit == pytest.approx(want.profit, rel=1e-6)


def test_long_envelope_chains_default_to_casadis_ipopt() -> None:
    """With no solver named, envelope chains of LONG_CHAIN_TYPES or more distinct types go
    to LONG_CHAIN_SOLVER (the same Ipopt algorithm on a faster MUMPS); shorter chains, the
    adjacent chain and a named solver keep theirs. Each menu is the discrete optimum."""
    from pyomo_llmprice.pipeline import default_solver
    from pyomo_llmprice.plugins import DEFAULT_SOLVER
    from pyomo_llmprice.solvers.options import LONG_CHAIN_SOLVER, LONG_CHAIN_TYPES

    inst = lognormal(LONG_CHAIN_TYPES, seed=3)
    short = lognormal(LONG_CHAIN_TYPES - 1, seed=3)
    assert default_solver(build_model(inst, "packages").menu) == LONG_CHAIN_SOLVER
    assert default_solver(build_model(short, "packages").menu) == DEFAULT_SOLVER
    assert default_solver(build_model(inst, "packages", ic="adjacent").menu) == DEFAULT_SOLVER
    ref = theory.discrete_optimal_menu(inst.types.theta, inst.types.prob, inst.technology)
    res = solve_model(build_model(inst, "packages"))
    assert res.solver == LONG_CHAIN_SOLVER and res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    named = solve_model(build_model(inst, "packages"), solver=DEFAULT_SOLVER)
    assert named.solver == DEFAULT_SOLVER and named.profit == pytest.approx(ref.profit, rel=1e-7)


def test_envelope_payments_are_the_rows_solved_one_at_a_time() -> None:
    """The vectorized envelope formula against the block's own rows, evaluated one by
    one at random bundles (ties merged on a value-scale grid included)."""
    for inst in (lognormal(40), read_instance(INSTANCES / "paper_vs_10x10.dat")):
        model = build_model(inst, "packages", ic="envelope")
        menu = model.menu
        rng = np.random.default_rng(11)
        for k in menu.distinct_types:
            menu.precision[k, "package"].set_value(float(rng.uniform(0.0, 2.0)))
        chain = [lo for lo, _ in menu.monotone_pairs] + [list(menu.monotone_pairs)[-1][1]]
        for k, paid in zip(chain, menu.envelope_payments(chain), strict=True):
            menu.payment[k].set_value(float(paid))
        for con in (*menu.incentive.values(), *menu.participation.values()):
            assert abs(pyo.value(con.body)) <= 1e-12 * max(1.0, abs(pyo.value(con.upper)))


def test_the_envelope_chain_starts_each_type_at_its_first_best_bundle() -> None:
    """Cobb-Douglas: each type's starting tokens maximize its own surplus at cost,
    theta * precision(tokens) - cost(tokens), checked here by perturbing each token
    total (never by the closed form the block uses); a user's precision function keeps
    the declared start."""
    from tests.user_precision import ShiftedCobbDouglas

    model = build_model(lognormal(12, seed=9), "packages")
    menu = model.menu
    tech = menu.technology
    cd = tech.precision
    arrays = {k: np.asarray(v, float) for k, v in menu.menu_arrays().items()}
    x = cd.input_tokens(arrays["input_factor"][:, 0])
    y = cd.output_tokens(arrays["output_factor"][:, 0])
    z = arrays["finetune"]
    theta = np.asarray(menu.theta, float)

    def surplus(x, y, z):
        return theta * cd.precision_of_tokens(x, y, z) - tech.cost(x, y, z)

    best = surplus(x, y, z)
    assert (x > 0).all() and (best > 0).all()
    for step in (1e-3, -1e-3):
        assert (surplus(x * (1 + step), y, z) < best).all()
        assert (surplus(x, y * (1 + step), z) < best).all()
        if (z > 0).any():
            assert (surplus(x, y, z * (1 + step))[z > 0] < best[z > 0]).all()
    assert (surplus(x, y, z + 1e-3)[z == 0] < best[z == 0]).all()  # no fine-tuning: corner
    assert (np.diff(arrays["precision"][np.argsort(theta), 0]) > 0).all()
    # a user's precision function: the declared start, one bundle for all
    user_tech = Technology(precision=ShiftedCobbDouglas())
    user = Instance("user", None, theta_types([0.5, 1.0, 2.0], [0.3, 0.3, 0.4]), user_tech)
    start = build_model(user, "packages").menu
    assert {v.value for v in start.input_factor.values()} == {0.5}


@pytest.mark.parametrize("size", ["short", "long"])
def test_long_envelope_chains_take_their_ipopt_options(monkeypatch, size: str) -> None:
    """LONG_ENVELOPE_IPOPT_OPTIONS go under the user's options on envelope chains of
    LONG_CHAIN_TYPES or more distinct types only; a user's value wins."""
    import pyomo_llmprice.pipeline as pipeline
    from pyomo_llmprice.solvers.options import LONG_CHAIN_TYPES, LONG_ENVELOPE_IPOPT_OPTIONS

    seen: list[dict] = []

    class Captured(Exception):
        pass

    def capture(model, solver, opts, *args):
        seen.append(dict(opts))
        raise Captured

    monkeypatch.setattr(pipeline, "solve_menu", capture)
    n = LONG_CHAIN_TYPES if size == "long" else LONG_CHAIN_TYPES - 1
    for options in (None, {"min_refinement_steps": 3}):
        with pytest.raises(Captured):
            solve_model(build_model(lognormal(n, seed=3), "packages"), options=options)
    (default, user) = seen
    for key, val in LONG_ENVELOPE_IPOPT_OPTIONS.items():
        assert (default.get(key) == val) is (size == "long")
    assert user["min_refinement_steps"] == 3
