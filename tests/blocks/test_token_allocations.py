"""Token Allocations (Pyomo + Ipopt, all IC pairs) against independent theory.

Value-scale types with the scale constraint: theory.allocations_value_scale_discrete
screens w scale by scale (pure numpy) and checks the cross-scale pairs; every expected
number below comes from it or from a hand derivation on the midpoint grid.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import labeled_tasks, value_scale_grid

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
TECH = Technology.cobb_douglas()


@functools.cache
def solved(name: str, setting: str):
    """Shipped instance solved in one setting (all IC pairs for allocations)."""
    inst = read_instance(INSTANCES / f"{name}.dat")
    ic = "all_pairs" if setting == "allocations" else "auto"
    return inst, solve_model(build_model(inst, setting, ic=ic))


@functools.cache
def solved_grid(n: int):
    inst = Instance(f"vs{n}", None, value_scale_grid(n, n), TECH)
    res = solve_model(build_model(inst, "allocations", ic="all_pairs"))
    ty = inst.types
    ref = theory.allocations_value_scale_discrete(ty.value_per_task, ty.scale, ty.prob, TECH)
    return inst, res, ref


def phi_w(n: int) -> np.ndarray:
    """Discrete virtual value of w on the n-point midpoint grid of U[0,1], by hand.

    w_i = (2i+1)/(2n), f = 1/n, 1 - F_i = (n-1-i)/n, gap 1/n:
    phi_i = w_i - (n-1-i)/n = (4i + 3 - 2n)/(2n), increasing (no ironing), positive iff
    w_i > 1/2 - 1/(4n): on 5 points w = 0.5 is served, on 10 points w = 0.45 is not.
    """
    i = np.arange(n)
    return (4 * i + 3 - 2 * n) / (2 * n)


@pytest.mark.parametrize("n", [5, 10])
def test_value_scale_matches_theory(n):
    inst, res, ref = solved_grid(n)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    assert res.aggregates["revenue"] == pytest.approx(ref.revenue, rel=1e-6)
    assert res.aggregates["consumer_surplus"] == pytest.approx(ref.consumer_surplus, rel=1e-6)
    # theory's per-scale relaxation is IC across scales here, so it is the optimum
    ty = inst.types
    assert (
        theory.max_cross_scale_ic_violation(ty.value_per_task, ty.scale, ref.u, ref.payment)
        <= 1e-12
    )
    menu = res.menu
    scale = max(1.0, float(ref.payment.max()))
    np.testing.assert_allclose(menu["payment"], ref.payment, atol=1e-6 * scale)
    np.testing.assert_allclose(menu["input_tokens"], ref.X, atol=1e-6 * ref.X.max())
    np.testing.assert_allclose(menu["output_tokens"], ref.Y, atol=1e-6 * ref.Y.max())
    np.testing.assert_allclose(menu["finetune_tokens"], ref.z, atol=1e-6 * ref.z.max())


@pytest.mark.parametrize("n", [5, 10])
def test_value_scale_served_set_and_fine_tuning(n):
    inst, res, ref = solved_grid(n)
    w = inst.types.value_per_task
    s = inst.types.scale
    menu = res.menu
    served = menu["served"].to_numpy()
    grid_w = (np.arange(n) + 0.5) / n
    phi = phi_w(n)[np.searchsorted(grid_w, w - 1e-12)]
    # excluded iff phi_w <= 0, for every scale s (hand-derived cutoff 1/2 - 1/(4n))
    np.testing.assert_array_equal(served, phi > 0)
    np.testing.assert_array_equal(served, w > 0.5 - 1 / (4 * n))
    np.testing.assert_array_equal(served, ref.served)
    off = menu[~menu["served"]]
    for col in ("input_tokens", "output_tokens", "finetune_tokens", "payment"):
        assert (off[col] == 0.0).all(), col
    # fine-tuning iff phi_w exceeds the per-task threshold, whose fine-tuning cost is
    # c_z / s: theta_hat(c_z / s) = theta_hat * s^-(1-alpha-beta) = 1 / (2 sqrt(s)) here,
    # i.e. phi_w sqrt(s) > 1/2 (the continuum's (2w - 1) sqrt(s) > 1/2, discretely)
    ft = phi * np.sqrt(s) > 0.5
    np.testing.assert_array_equal(menu["finetune_tokens"].to_numpy() > 0, ft)
    np.testing.assert_array_equal(ref.z > 0, ft)


@pytest.mark.parametrize("n", [5, 10])
def test_value_scale_markup_depends_on_w_only(n):
    inst, res, _ = solved_grid(n)
    w = inst.types.value_per_task
    menu = res.menu
    served = menu["served"].to_numpy()
    grid_w = (np.arange(n) + 0.5) / n
    phi = phi_w(n)[np.searchsorted(grid_w, w - 1e-12)]
    m = menu["markup"].to_numpy()
    np.testing.assert_allclose(m[served], (w / phi)[served], rtol=2e-5)
    # the top w has no distortion at every scale
    top = np.isclose(w, grid_w[-1])
    np.testing.assert_allclose(m[top], 1.0, atol=1e-6)
    assert np.isnan(m[~served]).all()


def test_allocations_beat_packages_on_value_scale_grids():
    """Contractibility can only help the seller: every Token Packages menu is
    implementable as a Token Allocations menu (sell the package's tokens spread the way
    the buyer type it is designed for would spread them; the scale constraint binds
    nobody who could do that spreading themselves), so the allocations optimum is at
    least the packages optimum. On the paper's example the continuum ratio is 9/8."""
    for n in (5, 10):
        _, res, ref = solved_grid(n)
        name = f"paper_vs_{n}x{n}"
        inst = read_instance(INSTANCES / f"{name}.dat")
        pk = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
        assert ref.profit > pk.profit  # theory against theory
        assert res.profit > pk.profit
        _, res_pk = solved(name, "packages")
        assert res.profit > res_pk.profit
        assert 1.0 < res.profit / res_pk.profit < 1.4


def labeled_six() -> Instance:
    """Six labeled-task buyers on two tasks: specialists, generalists and a non-buyer."""
    types = labeled_tasks(
        tasks=["code", "chat"],
        task_measure=[0.6, 0.4],
        value=[
            [0.9, 0.0],
            [0.0, 0.9],
            [0.6, 0.6],
            [0.3, 0.8],
            [0.8, 0.2],
            [0.1, 0.1],
        ],
        prob=[0.15, 0.15, 0.2, 0.2, 0.2, 0.1],
    )
    return Instance("six", None, types, TECH)


@pytest.mark.parametrize("which", ["six", "tasks_coding_chat_translation"])
def test_labeled_tasks_solve_verify_and_beat_packages(which):
    """Labeled tasks: optimal, verified on all pairs, profit >= Token Packages.

    Why >=: a Token Packages menu (X, Y, Z, t) can be re-offered as task-by-task
    allocations, giving each bundle the split its intended type would choose. The
    intended type gets the same value; any other type can only do worse with a fixed
    split than with the free re-split of the package. So IC and IR still hold, profit is
    unchanged, and the allocations optimum is at least as high.
    """
    if which == "six":
        inst = labeled_six()
        pk = solve_model(build_model(inst, "packages"))
        al = solve_model(build_model(inst, "allocations", ic="all_pairs"))
    else:
        inst, pk = solved(which, "packages")
        _, al = solved(which, "allocations")
    for res in (pk, al):
        assert res.status == "optimal"
        assert res.verification.max_violation <= res.tolerance
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    assert pk.profit == pytest.approx(ref.profit, rel=1e-7)
    assert al.profit >= pk.profit * (1 - 1e-7)
    # per-task precision: types valuing a task at 0 are never given tokens... on it only
    # if the bundle is theirs; total tokens of an excluded type are exactly zero
    off = al.menu[~al.menu["served"]]
    assert (off[["input_tokens", "output_tokens", "finetune_tokens", "payment"]] == 0).all().all()


def test_labeled_specialists_get_only_their_task():
    """A type that values only one task is sold (essentially) no tokens on the other:
    they cost money, add nothing to its value and only raise the others' envy.

    Measured in tokens: the quartic token cost of a factor is so flat at zero that the
    solve leaves ~1e-5 of precision (~1e-9 tokens) on the dead task.
    """
    inst = labeled_six()
    model = build_model(inst, "allocations", ic="all_pairs")
    res = solve_model(model)
    assert res.status == "optimal"
    b = model.menu
    prec = inst.technology.precision
    for label, live, dead in (("i1", "code", "chat"), ("i2", "chat", "code")):
        for factor, tokens in (
            (b.input_factor, prec.input_tokens),
            (b.output_factor, prec.output_tokens),
        ):
            assert tokens(factor[label, dead].value) <= 1e-8 * tokens(factor[label, live].value)


def test_refining_value_scale_grids_approach_97_over_960():
    """NLP = discrete optimum on 3x3, 5x5, 7x7, 10x10; the error to 97/960 shrinks."""
    errors = {}
    for n in (3, 5, 7, 10):
        _, res, ref = solved_grid(n)
        assert res.status == "optimal"
        assert res.profit == pytest.approx(ref.profit, rel=1e-7)
        errors[n] = ref.profit - theory.PAPER_ALLOCATIONS_PROFIT
    for n in (20, 40, 80):  # theory only
        ty = value_scale_grid(n, n)
        ref = theory.allocations_value_scale_discrete(ty.value_per_task, ty.scale, ty.prob, TECH)
        errors[n] = ref.profit - theory.PAPER_ALLOCATIONS_PROFIT
    err = np.array([errors[n] for n in sorted(errors)])
    assert np.all(err > 0)
    assert np.all(np.diff(err) < 0)
    # first order in the cell width: err * n roughly constant
    scaled = err * np.array(sorted(errors))
    assert scaled.max() / scaled.min() < 1.5, scaled


def test_allocations_without_scale_constraint_is_refused():
    from dataclasses import replace

    inst = replace(Instance("vs", None, value_scale_grid(3, 3), TECH), scale_constraint=False)
    with pytest.raises(ValueError, match="Token Packages"):
        build_model(inst, "allocations")
