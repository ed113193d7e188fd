"""All-pairs verification (pyomo_llmprice.verify), numpy only.

The menus checked here come from theory.py (closed forms / exact discrete optima), so
every expected violation below is derived by hand from the binding constraints of the
optimal menu, not read off a run.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.verify import verify_menu

# A regular 1-D example: 20 equally likely types at the midpoints of [0, 1]. Discrete
# virtual values (4i + 3 - 2N)/(2N) rise strictly, so there is no ironing, the served
# types have strictly increasing precision, and only adjacent downward IC binds.
N = 20
THETA = (np.arange(N) + 0.5) / N
TECH = Technology.cobb_douglas()


@pytest.fixture(scope="module")
def menu():
    m = theory.discrete_optimal_menu(THETA, np.full(N, 1 / N), TECH)
    assert np.all(np.diff(m.virtual_value) > 0)  # regular: the premise of the derivations
    return m


def rows_of(theta, u):
    return lambda rows: np.multiply.outer(theta[rows], u)


def check(theta, u, t, chunk=2048):
    return verify_menu(rows_of(theta, u), theta * u, t, chunk=chunk)


def test_optimal_menu_passes(menu):
    v = check(THETA, menu.u, menu.payment)
    assert v.max_ic_violation <= 1e-12
    assert v.max_ir_violation == 0.0
    assert v.passed(1e-12)
    assert v.max_violation <= 1e-12
    # the lowest served type keeps no rent: IR binds there exactly
    low = np.flatnonzero(menu.served)[0]
    assert menu.rent[low] == pytest.approx(0.0, abs=1e-15)


def test_lowered_payment_is_caught_by_the_type_above(menu):
    """Lowering t_k by d: type k+1 (indifferent to bundle k) now gains exactly d.

    Types above k+1 gain d - (theta_i - theta_{k+1})(u_{k+1} - u_k) < d, and types below
    gain d - (slack of upward IC) < d, because u rises strictly on the served range.
    """
    served = np.flatnonzero(menu.served)
    k = int(served[len(served) // 2])
    assert menu.u[k + 1] > menu.u[k] > 0
    d = 1e-3
    t = menu.payment.copy()
    t[k] -= d
    v = check(THETA, menu.u, t)
    assert v.worst_pair == (k + 1, k)
    assert v.max_ic_violation == pytest.approx(d, rel=1e-9)
    assert v.ic_violation[k + 1] == pytest.approx(d, rel=1e-9)
    assert v.max_ir_violation == 0.0
    assert not v.passed(1e-6)


def test_free_large_bundle_to_an_excluded_type_is_caught_by_the_top(menu):
    """An excluded type j gets precision u' = 2 max(u) for free.

    Type i gains theta_i u' - U_i, whose increment in i is (theta_{i+1} - theta_i)(u' - u_i)
    > 0, so the top type gains most: theta_N u' - U_N.
    """
    j = int(np.flatnonzero(~menu.served)[0])
    u = menu.u.copy()
    u[j] = 2 * menu.u.max()
    v = check(THETA, u, menu.payment)
    top = N - 1
    assert v.worst_pair == (top, j)
    assert v.max_ic_violation == pytest.approx(THETA[top] * u[j] - menu.rent[top], rel=1e-12)
    # type j itself now values its own bundle: nobody envies upward *from* j
    assert v.ic_violation[j] == 0.0


def test_overcharge_is_an_ir_violation(menu):
    """Charging type k eps above its value: IR short by eps; it envies the null bundle."""
    k = int(np.flatnonzero(menu.served)[-3])
    eps = 2e-4
    t = menu.payment.copy()
    t[k] = THETA[k] * menu.u[k] + eps
    v = check(THETA, menu.u, t)
    assert v.max_ir_violation == pytest.approx(eps, rel=1e-9)
    assert int(np.argmax(v.ir_violation)) == k
    assert np.count_nonzero(v.ir_violation) == 1
    # an excluded type's (0, 0) bundle is in the menu, so k's IC gain is at least eps
    assert v.ic_violation[k] >= eps * (1 - 1e-9)


@pytest.mark.parametrize("chunk", [1, 3, 7, 19, 20, 64])
def test_chunking_gives_the_same_answer(menu, chunk):
    t = menu.payment.copy()
    t[12] -= 5e-4
    u = menu.u.copy()
    u[2] = 1.5 * menu.u.max()
    one = check(THETA, u, t, chunk=4096)
    seen: list[tuple[int, int]] = []

    def rows(sl):
        seen.append((sl.start, sl.stop))
        assert sl.stop - sl.start <= chunk
        return np.multiply.outer(THETA[sl], u)

    many = verify_menu(rows, THETA * u, t, chunk=chunk)
    # every row was checked exactly once, in order
    assert [a for a, _ in seen] == list(range(0, N, chunk))
    assert seen[-1][1] == N
    np.testing.assert_array_equal(many.ic_violation, one.ic_violation)
    np.testing.assert_array_equal(many.ir_violation, one.ir_violation)
    assert many.worst_pair == one.worst_pair
    assert many.max_ic_violation == one.max_ic_violation


def test_no_envy_means_no_worst_pair():
    """The null menu (nobody served) is IC and IR with zero violations, no worst pair."""
    v = check(THETA, np.zeros(N), np.zeros(N))
    assert v.worst_pair is None
    assert v.max_violation == 0.0
    assert v.passed(0.0)


def test_value_scale_menu_agrees_with_theory_cross_scale_check():
    """Scale constraint: type i values bundle k at w_i min(s_i, s_k) u_k."""
    n = 5
    w = np.repeat((np.arange(n) + 0.5) / n, n)
    s = np.tile((np.arange(n) + 0.5) / n, n)
    prob = np.full(n * n, 1 / (n * n))
    vs = theory.allocations_value_scale_discrete(w, s, prob, TECH)

    def rows(sl):
        return w[sl, None] * np.minimum.outer(s[sl], vs.contract_scale) * vs.u[None, :]

    own = w * np.minimum(s, vs.contract_scale) * vs.u
    ok = verify_menu(rows, own, vs.payment)
    assert ok.max_violation <= 1e-12
    # perturb: the excluded type (w, s) = (0.1, 0.9) gets twice the top precision for free
    j = int(np.flatnonzero((w == 0.1) & (s == 0.9))[0])
    assert not vs.served[j]
    u = vs.u.copy()
    u[j] = 2 * vs.u.max()

    def rows2(sl):
        return w[sl, None] * np.minimum.outer(s[sl], vs.contract_scale) * u[None, :]

    own2 = w * np.minimum(s, vs.contract_scale) * u
    bad = verify_menu(rows2, own2, vs.payment, chunk=4)
    expected = theory.max_cross_scale_ic_violation(w, s, u, vs.payment, vs.contract_scale)
    assert expected > 0.1
    assert bad.max_violation == pytest.approx(expected, rel=1e-12)
    assert bad.worst_pair is not None and bad.worst_pair[1] == j
