"""Violated-pair search and grid-neighbour seed of constraint generation (numpy only).

The menu is theory.py's exact discrete optimum of a regular 1-D example, where the
downward adjacent IC constraints bind: lowering the payment of bundle k by d gives
type k+1 a gain of exactly d from bundle k, and no type gains more.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.generation import grid_neighbour_pairs, violated_pairs
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
