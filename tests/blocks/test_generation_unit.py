"""Violated-pair search and grid-neighbour seed of constraint generation (numpy only).

The menu is theory.py's exact discrete optimum of a regular 1-D example, where the
downward adjacent IC constraints bind: lowering the payment of bundle k by d gives
type k+1 a gain of exactly d from bundle k, and no type gains more.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.generation import (
    grid_neighbour_pairs,
    product_grid,
    shifted_pairs,
    takes_multipliers,
    violated_pairs,
)
from pyomo_llmprice.technology import Technology

N = 20
THETA = (np.arange(N) + 0.5) / N


@pytest.fixture(scope="module")
def menu():
    return theory.discrete_optimal_menu(THETA, np.full(N, 1 / N), Technology.cobb_douglas())


def rows_of(u):
    return lambda rows: np.multiply.outer(THETA[rows], u)


def test_optimal_menu_has_no_violated_pair(menu):
    pairs, worst = violated_pairs(rows_of(menu.u), menu.payment, tol=1e-9)
    assert pairs == []
    assert worst == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("chunk", [1, 3, 7, 2048])
def test_cheaper_bundle_is_found_with_its_gain(menu, chunk):
    k = int(np.nonzero(menu.served)[0][2])  # a served type with served types above it
    d = 1e-3
    t = menu.payment.copy()
    t[k] -= d
    pairs, worst = violated_pairs(rows_of(menu.u), t, tol=1e-9, per_type=3, chunk=chunk)
    assert (k + 1, k) in pairs
    assert worst == pytest.approx(d, rel=1e-9)
    assert all(j == k for _, j in pairs)  # only bundle k became attractive
    assert all(i != k for i, _ in pairs)


def test_per_type_limits_pairs(menu):
    t = menu.payment.copy()
    served = np.nonzero(menu.served)[0]
    t[served[:4]] -= 1.0  # far cheaper than any rent: all four tempt every type
    one, _ = violated_pairs(rows_of(menu.u), t, tol=1e-9, per_type=1)
    three, _ = violated_pairs(rows_of(menu.u), t, tol=1e-9, per_type=3)
    assert len({i for i, _ in one}) == len(one)  # at most one pair per type
    assert set(one) <= set(three)
    # the four discounted types keep their mutual comparisons (same discount); every
    # other type gains ~1 from each of the four and keeps its three best
    tempted = {i for i, _ in one}
    assert tempted == set(range(N)) - {int(i) for i in served[:4]}
    assert len(three) == 3 * len(tempted)


def grid(a, b):
    return np.array([(x, y) for x in 1 + np.arange(a) / a for y in 2 + np.arange(b) / b])


def test_grid_neighbours_are_the_eight_around_each_type():
    a, b = 3, 4
    pts = grid(a, b)
    pairs = grid_neighbour_pairs(pts)
    # axis edges a(b-1) + (a-1)b, diagonal edges 2(a-1)(b-1); both directions each
    assert len(pairs) == len(set(pairs)) == 2 * (a * (b - 1) + (a - 1) * b + 2 * (a - 1) * (b - 1))
    assert set(pairs) == {(k, i) for i, k in pairs}
    step = np.array([1 / a, 1 / b])
    for i, k in pairs:
        assert np.abs(pts[i] - pts[k]).max() > 0
        assert (np.abs(pts[i] - pts[k]) <= step + 1e-12).all()


def test_grid_neighbours_follow_the_points_not_their_order():
    pts = grid(4, 3)
    perm = np.random.default_rng(0).permutation(len(pts))
    shuffled = grid_neighbour_pairs(pts[perm])
    assert {(int(perm[i]), int(perm[k])) for i, k in shuffled} == set(grid_neighbour_pairs(pts))


def test_grid_neighbours_in_one_dimension_are_adjacent_types():
    pairs = grid_neighbour_pairs(np.array([[0.3], [0.1], [0.2]]))
    assert sorted(pairs) == [(0, 2), (1, 2), (2, 0), (2, 1)]


@pytest.mark.parametrize(
    "pts",
    [
        grid(3, 3)[:-1],  # one corner missing
        np.vstack([grid(2, 2), grid(2, 2)]),  # repeated points
        np.array([[0, 0], [0, 0], [1, 1], [1, 0]]),  # as many as the grid, one repeated
        np.random.default_rng(1).random((9, 2)),  # scattered types
        np.zeros((16, 4)) + np.arange(16)[:, None],  # four dimensions: too many neighbours
    ],
)
def test_no_grid_no_seed(pts):
    assert grid_neighbour_pairs(pts) == []


def test_shifted_pairs_keep_the_offset_and_stay_on_the_grid():
    """A pair moved one cell in each of the 8 directions, both ends together: on a 5 x 6
    grid the pair (1, 1) -> (3, 2) has all 8 shifts inside (both ends stay within
    0..4 x 0..5); a pair touching the edge loses the shifts that leave the grid."""
    a, b = 5, 6
    pts = grid(a, b)
    grid_ = product_grid(pts)
    at = {(round((x - 1) * a), round((y - 2) * b)): i for i, (x, y) in enumerate(pts)}
    cell = {i: c for c, i in at.items()}
    inner = (at[1, 1], at[3, 2])
    out = shifted_pairs([inner], grid_)
    assert len(out) == len(set(out)) == 8
    for i, k in out:
        (ui, vi), (uk, vk) = cell[i], cell[k]
        assert (uk - ui, vk - vi) == (2, 1)  # the offset is kept
        assert max(abs(ui - 1), abs(vi - 1)) == 1  # one cell away from the original
    # (0, 0) -> (4, 5) spans the whole grid: every shift leaves it
    assert shifted_pairs([(at[0, 0], at[4, 5])], grid_) == []
    # (0, 2) -> (1, 2): shifts with a -1 first step leave the grid, the 5 others stay
    assert len(shifted_pairs([(at[0, 2], at[1, 2])], grid_)) == 5
    assert shifted_pairs([], grid_) == []


def test_product_grid_ranks_each_dimension():
    pts = grid(3, 4)
    grid_ = product_grid(pts)
    assert tuple(grid_.shape) == (3, 4)
    assert (grid_.index[tuple(grid_.rank.T)] == np.arange(12)).all()
    assert product_grid(grid(3, 3)[:-1]) is None


def test_only_solvers_declaring_warm_start_multipliers_get_multipliers():
    from pyomo.contrib.solver.common.factory import SolverFactory

    assert takes_multipliers(SolverFactory("cyipopt_direct"))
    assert not takes_multipliers(SolverFactory("ipopt"))  # Pyomo's: refuses the option
    assert not takes_multipliers(object())
