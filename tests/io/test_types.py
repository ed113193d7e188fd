"""Type sets: validation, the CES index and the discretizers (no solver needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyomo_llmprice.technology import CobbDouglas, Technology
from pyomo_llmprice.types import (
    TypeSet,
    discretize,
    labeled_tasks,
    sample_value_scale,
    theta_grid_from_cdf,
    theta_types,
    uniform_grid,
    value_scale_grid,
    value_scale_types,
)

PAPER = CobbDouglas()  # alpha = beta = gamma = 1/4


def paper_cdf(t: float) -> float:
    return 2 * t - t * t


# -- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(prob=[0.5, 0.6]), "sum to 1"),
        (dict(prob=[1.2, -0.2]), "nonnegative"),
        (dict(prob=[1.0]), "one entry per type"),
        (dict(prob=[[0.5, 0.5]]), "1-dimensional"),
        (dict(prob=[0.5, float("nan")]), "finite"),
        (dict(labels=("a", "a")), "unique"),
        (dict(labels=("a", "")), "non-empty"),
        (dict(labels="ab"), "not one string"),
        (dict(labels=()), "one entry per type|at least one type"),
        (dict(theta=[0.1, -0.1]), "theta must be nonnegative"),
        (dict(theta=[0.1, 0.2, 0.3]), "theta must have 2 entries"),
        (dict(theta=None), "needs theta"),
        (dict(scale=[1.0, 1.0]), "takes no scale"),
        (dict(kind="bogus"), "kind must be one of"),
        (dict(theta=["x", 1]), "numeric"),
    ],
)
def test_theta_typeset_rejects(kwargs: dict, match: str) -> None:
    base = dict(labels=("a", "b"), prob=[0.5, 0.5], kind="theta", theta=[0.1, 0.2])
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TypeSet(**base)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(value=[[1.0, 2.0]]), "shape"),
        (dict(value=[[1.0, -2.0], [0.0, 0.0]]), "value must be nonnegative"),
        (dict(task_measure=[0.0, 0.0]), "positive entry"),
        (dict(task_measure=[0.5]), "task_measure must have 2 entries"),
        (dict(tasks=("x", "x")), "tasks must be unique"),
        (dict(task_measure=None), "needs task_measure"),
    ],
)
def test_tasks_typeset_rejects(kwargs: dict, match: str) -> None:
    base = dict(
        labels=("a", "b"),
        prob=[0.5, 0.5],
        kind="tasks",
        tasks=("x", "y"),
        task_measure=[0.5, 0.5],
        value=[[1.0, 0.0], [0.5, 0.5]],
    )
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TypeSet(**base)


def test_value_scale_rejects_negative_scale() -> None:
    with pytest.raises(ValueError, match="scale must be nonnegative"):
        value_scale_types([0.5, 0.5], [1.0, -1.0])


def test_typeset_is_frozen_and_arrays_read_only() -> None:
    ts = theta_types([0.1, 0.2])
    with pytest.raises(AttributeError):
        ts.kind = "tasks"  # type: ignore[misc]
    with pytest.raises(ValueError):
        ts.prob[0] = 1.0
    source = np.array([0.1, 0.2])
    ts2 = theta_types(source)
    source[0] = 9.0  # the TypeSet keeps its own copy
    assert ts2.theta[0] == 0.1


def test_equality_and_hash() -> None:
    a = value_scale_grid(2, 3)
    b = value_scale_grid(2, 3)
    assert a == b and hash(a) == hash(b)
    assert a != value_scale_grid(3, 2)
    assert a != theta_types(a.index(PAPER), a.prob, a.labels)
    assert len({a, b}) == 1


def test_labels_become_strings() -> None:
    ts = theta_types([0.1, 0.2], labels=[1, 2])  # type: ignore[list-item]
    assert ts.labels == ("1", "2")


# -- the type index -----------------------------------------------------------------


def test_paper_index_is_w_sqrt_s() -> None:
    ts = value_scale_types([0.5, 1.0, 0.0], [0.25, 1.0, 0.7])
    np.testing.assert_allclose(ts.index(PAPER), [0.25, 1.0, 0.0])
    np.testing.assert_allclose(ts.index(Technology.cobb_douglas()), [0.25, 1.0, 0.0])


def test_theta_index_needs_no_precision() -> None:
    ts = theta_types([0.3, 0.7])
    np.testing.assert_array_equal(ts.index(), [0.3, 0.7])
    with pytest.raises(ValueError, match="exponents"):
        value_scale_types([0.3], [1.0]).index()


def test_tasks_index_binary_environment() -> None:
    """Binary values {0, w}: theta = w * (measure of valued tasks)^(1-alpha-beta)."""
    ts = labeled_tasks(["a", "b", "c"], [0.5, 0.3, 0.2], [[0.8, 0.0, 0.8], [0.0, 0.4, 0.0]])
    expected = [0.8 * 0.7**0.5, 0.4 * 0.3**0.5]
    np.testing.assert_allclose(ts.index(PAPER), expected)


@settings(max_examples=60, deadline=None, database=None)
@given(
    w=st.floats(0, 10),
    s=st.floats(0, 5),
    alpha=st.floats(0.05, 0.45),
    beta=st.floats(0.05, 0.45),
)
def test_value_scale_equals_one_task_of_measure_s(w: float, s: float, alpha: float, beta: float):
    """A value-scale type is a labeled-task type with one task of measure s."""
    cd = CobbDouglas(alpha, beta, 0.05)
    vs = value_scale_types([w], [s]).index(cd)
    tasks = labeled_tasks(["only"], [s if s > 0 else 1.0], [[w]]).index(cd)
    if s > 0:
        np.testing.assert_allclose(vs, tasks, rtol=1e-12, atol=1e-12)
    else:
        assert vs[0] == 0.0


@settings(max_examples=60, deadline=None, database=None)
@given(
    values=st.lists(st.floats(0, 5), min_size=3, max_size=3),
    measure=st.lists(st.floats(0.01, 1), min_size=3, max_size=3),
    k=st.floats(0.01, 100),
)
def test_tasks_index_is_homogeneous_of_degree_one(values, measure, k):
    ts = labeled_tasks(["a", "b", "c"], measure, [values, [k * v for v in values]])
    theta = ts.index(PAPER)
    np.testing.assert_allclose(theta[1], k * theta[0], rtol=1e-9, atol=1e-12)


def test_to_frame() -> None:
    frame = value_scale_grid(2, 2).to_frame(PAPER)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["prob", "value_per_task", "scale", "theta"]
    assert list(frame.index) == ["w1_s1", "w1_s2", "w2_s1", "w2_s2"]
    tasks = labeled_tasks(["x", "y"], [0.6, 0.4], [[1, 0], [0, 1]]).to_frame()
    assert list(tasks.columns) == ["prob", "value[x]", "value[y]"]
    assert tasks.attrs["task_measure"] == {"x": 0.6, "y": 0.4}
    assert "theta" in uniform_grid(3).to_frame().columns


# -- discretizers ---------------------------------------------------------------------


def test_uniform_grid_midpoints() -> None:
    ts = uniform_grid(4, 1.0, 3.0)
    np.testing.assert_allclose(ts.theta, [1.25, 1.75, 2.25, 2.75])
    np.testing.assert_allclose(ts.prob, 0.25)
    assert ts.labels == ("t1", "t2", "t3", "t4")


def test_paper_value_scale_grid() -> None:
    ts = value_scale_grid(5, 4)
    assert len(ts) == 20 and ts.kind == "value_scale"
    assert np.all(ts.prob == 1 / 20)
    np.testing.assert_allclose(np.unique(ts.value_per_task), [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(np.unique(ts.scale), [0.125, 0.375, 0.625, 0.875])
    # w-major order, exact decimal midpoints
    assert ts.value_per_task[:4].tolist() == [0.1] * 4
    assert ts.scale[:4].tolist() == [0.125, 0.375, 0.625, 0.875]


def test_value_scale_grid_uniform_ranges() -> None:
    ts = value_scale_grid(2, 2, (0.0, 50.0), (1.0, 3.0))
    assert sorted(set(ts.value_per_task.tolist())) == [12.5, 37.5]
    assert sorted(set(ts.scale.tolist())) == [1.5, 2.5]


def test_theta_grid_from_paper_cdf() -> None:
    n = 20
    ts = theta_grid_from_cdf(n, paper_cdf)
    k = np.arange(n)
    np.testing.assert_allclose(ts.prob, (2 * n - 2 * k - 1) / n**2, atol=1e-15)
    np.testing.assert_allclose(ts.theta, (2 * k + 1) / (2 * n))
    assert abs(ts.prob @ ts.theta - 1 / 3) < 1e-3  # E[w sqrt(s)] = 1/3


def test_theta_grid_agrees_with_value_scale_grid() -> None:
    """F(theta) = 2 theta - theta^2 is the law of w sqrt(s): the two grids agree in law."""
    vs = value_scale_grid(60, 60)
    theta = vs.index(PAPER)
    for t in (0.2, 0.5, 0.8):
        assert abs(vs.prob[theta <= t].sum() - paper_cdf(t)) < 0.02


def test_theta_grid_refuses_partial_mass() -> None:
    with pytest.raises(ValueError, match="mass"):
        theta_grid_from_cdf(10, paper_cdf, 0.0, 0.5)
    with pytest.raises(ValueError, match="lo < hi"):
        theta_grid_from_cdf(10, paper_cdf, 1.0, 0.0)


def test_discretize_with_scipy_distributions() -> None:
    stats = pytest.importorskip("scipy.stats")
    # bounded support: equal-width bins, each with its mass
    pts, prob = discretize(stats.beta(2, 3), 4)
    np.testing.assert_allclose(pts, [0.125, 0.375, 0.625, 0.875])
    edges = np.linspace(0, 1, 5)
    np.testing.assert_allclose(prob, np.diff(stats.beta(2, 3).cdf(edges)))
    # unbounded support: equal-probability bins at their medians
    pts, prob = discretize(stats.norm(), 4)
    np.testing.assert_allclose(prob, 0.25)
    np.testing.assert_allclose(pts, stats.norm().ppf([0.125, 0.375, 0.625, 0.875]))
    with pytest.raises(ValueError, match="bounded"):
        discretize(stats.norm(), 4, bins="width")
    # a uniform gives the same grid as the (lo, hi) shortcut
    pts_u, prob_u = discretize(stats.uniform(0, 1), 5)
    pts_t, prob_t = discretize((0.0, 1.0), 5)
    np.testing.assert_allclose(pts_u, pts_t)
    np.testing.assert_allclose(prob_u, prob_t)
    ts = value_scale_grid(3, 3, stats.beta(2, 2), (0.0, 1.0))
    assert abs(ts.prob.sum() - 1) < 1e-12


def test_discretize_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        discretize((1.0, 1.0), 3)
    with pytest.raises(TypeError):
        discretize("uniform", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        discretize((0.0, 1.0), 0)


def test_sample_value_scale_is_seeded() -> None:
    a = sample_value_scale(50, seed=7)
    assert a == sample_value_scale(50, seed=7)
    assert a != sample_value_scale(50, seed=8)
    assert np.all(a.prob == 1 / 50)
    assert a.value_per_task.min() >= 0 and a.value_per_task.max() <= 1
    b = sample_value_scale(20, seed=1, w_dist=(0.0, 4.0), s_dist=(0.5, 1.0))
    assert b.value_per_task.max() <= 4 and b.scale.min() >= 0.5


def test_sample_value_scale_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    a = sample_value_scale(30, seed=3, w_dist=stats.expon())
    assert a == sample_value_scale(30, seed=3, w_dist=stats.expon())
    assert a.value_per_task.min() >= 0
