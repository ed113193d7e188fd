"""Constraint generation agrees with all pairs (issue 5, item 5).

On the labeled-task instance (three task dimensions) the neighbour seed is not
enough, so generation must add violated pairs over several rounds; the optimum it
reaches must be the all-pairs optimum.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, solve_model

INSTANCE = Path(__file__).resolve().parents[2] / "instances" / "tasks_coding_chat_translation.dat"


def test_generated_equals_all_pairs_on_labeled_tasks():
    inst = read_instance(INSTANCE)
    generated = solve_model(build_model(inst, "allocations", ic="generated"))
    all_pairs = solve_model(build_model(inst, "allocations", ic="all_pairs"))
    assert generated.status == all_pairs.status == "optimal"
    log = generated.generation
    assert log.rounds > 1 and log.constraints_added > 0
    assert log.final_pairs < len(inst.types) * (len(inst.types) - 1)
    assert generated.profit == pytest.approx(all_pairs.profit, rel=1e-7)
    assert generated.verification.max_violation <= generated.tolerance


def test_failed_solve_is_retried_regularized_and_reported(monkeypatch):
    """A first solve that stops short (only an acceptable level) is retried; the retry
    solves a proximally regularized problem and then the original one, and the result
    says so. The menu is the original problem's exact optimum (Mussa-Rosen, N = 10)."""
    import pyomo.environ as pyo

    from pyomo_llmprice import generation, theory
    from pyomo_llmprice.blocks import Screening

    real = generation.solve_once
    calls = []

    def first_stops_short(opt, model, options, *args, **kwds):
        if not calls:  # converge only to an "acceptable" level: Ipopt status 1
            options = {**options, "tol": 1e-30, "acceptable_tol": 1e-1, "acceptable_iter": 1}
        calls.append(options)
        return real(opt, model, options, *args, **kwds)

    monkeypatch.setattr(generation, "solve_once", first_stops_short)
    bench = theory.mussa_rosen(10)
    model = pyo.ConcreteModel()
    model.menu = Screening(theta=bench.theta)
    res = solve_model(model)
    # first, regularized, polished; then one more: type 5 (theta 1/2) has virtual value
    # exactly 0, and its sliver of a bundle is excluded by a re-solve without it
    assert len(calls) == 4 and res.excluded == ["t5"]
    assert res.retry is not None
    assert res.retry.first_outcome == "not_converged"
    assert res.retry.regularized_outcome == res.retry.polished_outcome == "optimal"
    assert res.status == "optimal"
    assert res.profit == pytest.approx(bench.profit, rel=1e-8)
    assert model.menu.component("_regularized_objective") is None
    assert model.menu.profit_objective.active
    assert "retry: first solve ended not_converged" in res.report()
    assert res.to_dict()["retry"]["polished_outcome"] == "optimal"


def test_converged_solve_is_not_retried():
    inst = read_instance(INSTANCE)
    res = solve_model(build_model(inst, "packages"))
    assert res.status == "optimal" and res.retry is None
    assert res.to_dict()["retry"] is None


def test_identical_types_share_one_bundle_exactly():
    """Value-scale types with equal theta = w sqrt(s) are one buyer under Token Packages.

    Merged, they share their representative's variables (References, no rows of
    their own); the optimum is theory's exact discrete menu, verified on all pairs.
    """
    import numpy as np
    import pyomo.environ as pyo

    from pyomo_llmprice import theory
    from pyomo_llmprice.blocks import TokenPackages

    inst = read_instance(INSTANCE.parent / "paper_vs_5x5.dat")
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    model = pyo.ConcreteModel()
    model.menu = TokenPackages(instance=inst, merge_identical=True)
    menu = model.menu
    merged = list(menu.merged_types)
    assert merged  # premise: 0.3 sqrt(0.1) = 0.1 sqrt(0.9) up to rounding
    theta = dict(zip(inst.types.labels, inst.theta, strict=True))
    assert len(merged) == len(inst.types) - len(np.unique(np.round(inst.theta, 12)))
    for k in merged:
        rep = menu._rep_label[k]
        assert theta[k] == pytest.approx(theta[rep], rel=1e-12)
        assert menu.payment[k] is menu.payment[rep]
        assert k not in menu.participation and (k, "package") not in menu.technology_limit
    res = solve_model(model)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    assert res.verification.max_violation <= res.tolerance


def test_grid_seed_reaches_the_axis_seeded_optimum(monkeypatch):
    """Rochet-Chone 8 x 8: with the envious types' grid neighbours added at the first
    violation, or from the block's nearest-neighbour seed alone, generation reaches
    the all-pairs optimum; the pairs seeded are among the grid's 2 (2 * 8 * 7 +
    2 * 7 * 7) = 420 neighbour pairs (labels a<i>_b<j>: both indices within one)."""
    import sys

    import pyomo.environ as pyo

    from pyomo_llmprice import generation
    from pyomo_llmprice.blocks import Screening

    sys.path.insert(0, str(INSTANCE.parent))
    from generate import rochet_chone

    def solve(ic):
        model = pyo.ConcreteModel()
        model.menu = Screening(instance=rochet_chone(8), ic=ic)
        before = set(model.menu.ic_pairs)
        return solve_model(model), before, set(model.menu.ic_pairs)

    def cell(label):
        a, b = label.split("_")
        return int(a[1:]), int(b[1:])

    all_pairs, _, _ = solve("all_pairs")
    seeded, before, after = solve("generated")
    monkeypatch.setattr(generation, "grid_neighbour_pairs", lambda points: [])
    axis, _, _ = solve("generated")
    assert all_pairs.status == seeded.status == axis.status == "optimal"
    labels = [f"a{i:02d}_b{j:02d}" for i in range(1, 9) for j in range(1, 9)]
    neighbours = {
        (s, t)
        for s in labels
        for t in labels
        if s != t and max(abs(u - v) for u, v in zip(cell(s), cell(t), strict=True)) == 1
    }
    assert len(neighbours) == 420
    assert 0 < seeded.generation.seeded <= len((after - before) & neighbours)
    assert axis.generation.seeded == 0
    for res in (seeded, axis):
        assert res.profit == pytest.approx(all_pairs.profit, rel=1e-7)
        assert res.verification.max_violation <= res.tolerance


def test_later_rounds_add_shifted_pairs_and_start_from_the_multipliers(monkeypatch):
    """Rochet-Chone 12 x 12: after the round that adds the envious types' grid
    neighbours, a violated pair comes with its shifts by one grid cell, and the round
    after it starts from the previous multipliers (cyipopt_direct takes them); the
    optimum is the all-pairs one, and the suffixes that carried the multipliers are
    removed, while a user's own IMPORT ``dual`` suffix stays (filled)."""
    import sys

    import pyomo.environ as pyo

    from pyomo_llmprice import generation
    from pyomo_llmprice.blocks import Screening
    from pyomo_llmprice.solvers.options import WARM_START_MULTIPLIER_OPTIONS

    sys.path.insert(0, str(INSTANCE.parent))
    from generate import rochet_chone

    def model_of(ic):
        model = pyo.ConcreteModel()
        model.menu = Screening(instance=rochet_chone(12), ic=ic)
        return model

    all_pairs = solve_model(model_of("all_pairs"))
    calls = []
    real = generation.solve_once

    def spy(opt, model, options, *args, multipliers=False, **kwds):
        dual = model.component("dual")
        calls.append((options, multipliers, 0 if dual is None else len(dual)))
        return real(opt, model, options, *args, multipliers=multipliers, **kwds)

    monkeypatch.setattr(generation, "solve_once", spy)
    model = model_of("generated")
    res = solve_model(model)
    log = res.generation
    assert res.status == all_pairs.status == "optimal"
    assert res.profit == pytest.approx(all_pairs.profit, rel=1e-7)
    assert res.verification.max_violation <= res.tolerance
    assert log.rounds >= 3 and log.seeded > 0 and log.constraints_added > 0  # premise
    assert log.shifted > 0
    rounds = calls[: log.rounds]
    assert [m for _, m, _ in rounds] == [False, False] + [True] * (log.rounds - 2)
    assert all(n > 0 for _, _, n in rounds[2:])  # the previous round's multipliers
    for options, _, _ in rounds[2:]:
        assert all(options[k] == v for k, v in WARM_START_MULTIPLIER_OPTIONS.items())
    assert model.component("dual") is None and model.component("rc") is None

    own = model_of("generated")
    own.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    assert solve_model(own).profit == pytest.approx(all_pairs.profit, rel=1e-7)
    assert own.component("rc") is None and len(own.dual) > 0


def test_a_generated_menu_reports_every_rounds_iterations_and_time(monkeypatch):
    """result.iterations and result.wall_time are both sums over the rounds (the time
    was the last round's while the iterations were summed)."""
    import sys

    import pyomo.environ as pyo

    from pyomo_llmprice import generation
    from pyomo_llmprice.blocks import Screening
    from pyomo_llmprice.outcomes import iteration_count

    sys.path.insert(0, str(INSTANCE.parent))
    from generate import rochet_chone

    rounds: list[tuple[int | None, float]] = []
    real = generation.solve_once

    def spy(*args, **kwds):
        res = real(*args, **kwds)
        rounds.append((iteration_count(res), res.timing_info.wall_time))
        return res

    monkeypatch.setattr(generation, "solve_once", spy)
    model = pyo.ConcreteModel()
    model.menu = Screening(instance=rochet_chone(8), ic="generated")
    result = solve_model(model)
    assert result.status == "optimal" and result.generation.rounds == len(rounds) >= 2
    assert result.iterations == sum(i for i, _ in rounds)
    assert result.wall_time == pytest.approx(sum(t for _, t in rounds), rel=1e-12)
