"""The certificate checks what is published, in any units, on the edge cases of issue #15.

Every check here recomputes IC and IR from the JSON a user reads (tokens and payments),
with the paper's formulas written out in numpy below, never with the package's own value
functions or the model's variables; and pins menus against theory's exact discrete optimum.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from fault_data import INSTANCES

from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import InstanceWarning
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.theory import discrete_optimal_menu

A = B = G = 0.25  # the paper's technology, written out here on purpose
BASE = 1.0


def technology(cost: float) -> str:
    return (
        f"param alpha := {A} ;  param beta := {B} ;  param gamma := {G} ;\n"
        f"param base_quality := {BASE} ;\n"
        f"param cost_input := {cost!r} ;  param cost_output := {cost!r} ;  "
        f"param cost_finetune := {cost!r} ;\n"
    )


def theta_instance(theta, prob, cost: float = 0.125) -> str:
    pairs = enumerate(zip(theta, prob, strict=True))
    rows = "\n".join(f"  t{i:02d} {float(p)!r} {float(t)!r}" for i, (t, p) in pairs)
    labels = " ".join(f"t{i:02d}" for i in range(len(theta)))
    return f"set TYPES := {labels} ;\nparam : prob theta :=\n{rows} ;\n" + technology(cost)


def recomputed_packages(doc: dict) -> tuple[float, float]:
    """Largest IC gain and IR shortfall of a published Token Packages menu."""
    menu = doc["menu"]
    theta = np.array([r["theta"] for r in menu])
    x, y, z, t = (
        np.array([r[k] for r in menu])
        for k in ("input_tokens", "output_tokens", "finetune_tokens", "payment")
    )
    u = x**A * y**B * (BASE + z) ** G  # zero tokens: precision 0
    util = np.outer(theta, u) - t[None, :]
    own = np.diag(util)
    return float((util.max(axis=1) - own).max()), float(np.maximum(-own, 0).max())


def solve_json(path: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "menu.json"
    rc = main(["solve", str(path), "--json", str(out), *extra])
    return rc, json.loads(out.read_text())


def test_a_loose_tolerance_never_reports_an_unchecked_menu(tmp_path, capsys):
    """tol=1e-2 made a menu 'optimal' that was not IC from its own JSON: now whatever
    the status, an 'optimal' menu passes the independent recomputation."""
    theta = np.linspace(0.1, 1.0, 10)
    path = tmp_path / "ten.dat"
    path.write_text(theta_instance(theta, [0.1] * 10))
    rc, doc = solve_json(path, tmp_path, "--solver-options", "tol=1e-2 acceptable_tol=1e-2")
    ic, ir = recomputed_packages(doc)
    if doc["status"] == "optimal":
        assert rc == 0
        assert max(ic, ir) <= doc["verification_tolerance"]
        assert min(r["payment"] for r in doc["menu"]) >= 0
    else:
        assert rc != 0 and all(r["markup"] is None for r in doc["menu"])
        assert doc["profit"] is None
    # and the default Ipopt solve is the exact discrete optimum, certified
    rc, doc = solve_json(path, tmp_path, "--method", "nlp")
    exact = discrete_optimal_menu(theta, np.full(10, 0.1), read_instance(path).technology)
    assert rc == 0 and doc["profit"] == pytest.approx(exact.profit, rel=1e-7)
    assert max(recomputed_packages(doc)) <= doc["verification_tolerance"]
    # theta = 0.5 has virtual value exactly 0 (0.5 - 0.1 * 0.5 / 0.1): serving it a
    # sliver is as profitable as not, and the solver's sliver (priced, a markup of 48,000)
    # is excluded after the solve, as in the exact optimum
    served = {r["type"] for r in doc["menu"] if r["served"]}
    assert served == {f"t{i:02d}" for i in np.flatnonzero(exact.precision > 0)}
    assert doc["excluded_after_solve"] == ["t04"]


def test_the_tolerance_is_set_by_the_instance_not_by_the_menu(tmp_path):
    """tolerance = 1e-6 x the top type's first-best gross value theta_max u(theta_max), with
    u from the closed form: for theta above theta_hat = 1/2, u = (theta^sigma K)^(1/(1-sigma))
    with sigma = 3/4 and K = (alpha/c)^alpha (beta/c)^beta (gamma/c)^gamma = 2^(3/4) for
    c = 1/8, so u(0.9) = 1.8^3."""
    path = tmp_path / "three.dat"
    path.write_text(theta_instance([0.3, 0.6, 0.9], [0.3, 0.4, 0.3]))
    _, doc = solve_json(path, tmp_path)
    u_top = (0.9**0.75 * 2.0**0.75) ** 4
    assert u_top == pytest.approx(1.8**3)
    assert doc["value_scale"] == pytest.approx(0.9 * u_top, rel=1e-9)
    assert doc["verification_tolerance"] == pytest.approx(1e-6 * 0.9 * u_top, rel=1e-9)


@pytest.mark.parametrize("factor", [1e-6, 1e-3, 1e3, 1e6])
def test_the_same_instance_in_other_money_units_solves_to_the_same_menu(tmp_path, factor):
    """theta and costs times k: the same economics in other money. Tokens are equal and
    money is k times as large, to 1e-7 relative; both are the exact discrete optimum."""
    base = read_instance(INSTANCES / "paper_theta_20.dat")
    theta, prob = base.theta, base.types.prob
    ref = solve_instance(base)
    path = tmp_path / "scaled.dat"
    path.write_text(theta_instance(theta * factor, prob, cost=0.125 * factor))
    scaled = solve_instance(path)
    assert ref.status == scaled.status == "optimal"
    for col in ("input_tokens", "output_tokens", "finetune_tokens"):
        np.testing.assert_allclose(
            scaled.menu[col], ref.menu[col], rtol=1e-7, atol=1e-7 * ref.menu[col].max()
        )
    pay = ref.menu["payment"].to_numpy()
    np.testing.assert_allclose(
        scaled.menu["payment"] / factor, pay, rtol=1e-7, atol=1e-7 * pay.max()
    )
    exact = discrete_optimal_menu(theta, prob, base.technology).profit
    assert scaled.profit / factor == pytest.approx(exact, rel=1e-7)


def test_types_of_probability_zero_are_dropped_with_a_warning(tmp_path, capsys):
    """Two types of probability 0 once got 3.69e8 tokens for 134,328: now they are not in
    the menu, the warning names them, and the rest is the exact optimum without them."""
    path = tmp_path / "zero.dat"
    path.write_text(theta_instance([0.3, 0.5, 0.8, 1.5], [0.5, 0.0, 0.5, 0.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = solve_instance(path)
    assert any(
        issubclass(w.category, InstanceWarning) and "t01, t03" in str(w.message) for w in caught
    )
    assert list(result.menu["type"]) == ["t00", "t02"] and result.status == "optimal"
    exact = discrete_optimal_menu([0.3, 0.8], [0.5, 0.5], result_tech(path))
    assert result.profit == pytest.approx(exact.profit, rel=1e-7)
    rc = main(["solve", str(path)])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("\n") == 1 and err.startswith("llmprice: warning: ")


def result_tech(path: Path):
    return read_instance(path).technology


def test_costs_far_above_values_serve_nobody_at_a_loss(tmp_path):
    """Costs 1e6 times the values once gave 'optimal' with profit -1e-6 and negative
    payments: now every served type pays at least its cost, and the menu is the exact
    discrete optimum (which serves only the types whose virtual value covers the cost)."""
    theta = np.linspace(0.1, 1.0, 10)
    prob = np.full(10, 0.1)
    path = tmp_path / "dear.dat"
    path.write_text(theta_instance(theta, prob, cost=0.125e6))
    result = solve_instance(path)
    exact = discrete_optimal_menu(theta, prob, read_instance(path).technology)
    assert result.status == "optimal"
    assert result.profit >= 0
    assert result.profit == pytest.approx(exact.profit, rel=1e-7)
    served = result.menu[result.menu["served"]]
    assert (served["payment"] >= served["cost"] - result.tolerance).all()
    assert (result.menu["payment"] >= 0).all()


def test_allocations_types_a_hair_apart_are_checked_from_the_published_allocation(tmp_path):
    """Two value types 1e-12 apart (Token Allocations): the check reads the published
    per-task tokens and coverage: w min(s, s') x'^a y'^b (b + z)^g - t, written out here."""
    path = tmp_path / "hair.dat"
    path.write_text(
        "set TYPES := a b c ;\nparam : prob value_per_task scale :=\n"
        "  a 0.4 0.8 1.0\n  b 0.3 0.800000000001 1.0\n  c 0.3 0.95 0.5 ;\n" + technology(0.125)
    )
    rc, doc = solve_json(path, tmp_path, "--setting", "allocations")
    menu = doc["menu"]
    w = np.array([0.8, 0.800000000001, 0.95])
    s = np.array([1.0, 1.0, 0.5])
    cov, x, y, z, t = (
        np.array([r[k] for r in menu])
        for k in (
            "covered_scale",
            "input_per_task",
            "output_per_task",
            "finetune_tokens",
            "payment",
        )
    )
    u = np.where(x > 0, x**A * y**B * (BASE + z) ** G, 0.0)
    util = w[:, None] * np.minimum.outer(s, cov) * u[None, :] - t[None, :]
    own = np.diag(util)
    assert rc == 0 and doc["status"] == "optimal"
    assert (util.max(axis=1) - own).max() <= doc["verification_tolerance"]
    assert np.maximum(-own, 0).max() <= doc["verification_tolerance"]


def test_quick_pricing_quotes_no_plan_for_a_zero_virtual_value_type():
    """Types 1/4, 1/2, 3/4, 1, equally likely: the discrete virtual value of 1/2 is
    1/2 - (1/4)(1/2)/(1/4) = 0, so the exact optimum gives it nothing; it was quoted a fee
    of 5e-6 and 3,784 per token for 1e-9 tokens. Served plans are theory's markups."""
    from pyomo_llmprice.quick import LLMPricingModel

    model = LLMPricingModel(cost_per_token=0.125, fine_tuning_cost=0.125)
    fees, prices = model.optimal_two_part_tariff([0.25, 0.5, 0.75, 1.0])
    assert np.isnan(fees[:2]).all() and all(np.isnan(p["input"]) for p in prices[:2])
    exact = discrete_optimal_menu([0.25, 0.5, 0.75, 1.0], [0.25] * 4, model.technology)
    # a fee is a payment less markup x cost: solver error in it is relative to the payment
    np.testing.assert_allclose(fees[2:], exact.fixed_fee[2:], rtol=1e-5)
    np.testing.assert_allclose(
        [p["input"] for p in prices[2:]], exact.markup[2:] * 0.125, rtol=1e-6
    )


def test_a_rich_type_of_tiny_probability_does_not_loosen_everyone_elses_check(tmp_path):
    """Nine equally likely types theta = 0.1..0.9 and one of theta 50 with probability
    1e-6: the top type's first-best value is 50 u*(50) = 5e7, which once made the one
    tolerance 50 and snapped the real bundles of theta 0.5..0.9 (published 2.1% below the
    optimum). Each type is now checked against its own first-best value: the menu is
    theory's exact discrete optimum, and a theta = 0.5 type's tolerance is 1e-6 x 0.5
    u*(0.5) = 1e-6 x 0.5 x 1 (below theta_hat = 1/2's fine-tuning: u* = theta^1 K0^2 with
    K0^2 = 2, so u*(0.5) = 1)."""
    theta = [0.1 * k for k in range(1, 10)] + [50.0]
    prob = [(1 - 1e-6) / 9] * 9 + [1e-6]
    path = tmp_path / "spread.dat"
    path.write_text(theta_instance(theta, prob))
    result = solve_instance(path)
    exact = discrete_optimal_menu(theta, prob, read_instance(path).technology)
    assert result.status == "optimal"
    assert result.profit == pytest.approx(exact.profit, rel=1e-6)
    tol = result.menu.set_index("type")["tolerance"]
    assert tol["t04"] == pytest.approx(1e-6 * 0.5 * 1.0, rel=1e-9)
    served = set(result.menu["type"][result.menu["served"]])
    assert served == {f"t{i:02d}" for i in np.flatnonzero(exact.precision > 0)}
