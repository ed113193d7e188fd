"""The generic screening layer (issue 5, item 2) against exact finite-type answers.

Every expected number comes from pyomo_llmprice.theory (discrete virtual values,
ironing by pool-adjacent-violators) or from a textbook closed form (model.md
section 5), never from a run. Where two formulations are compared (generated IC
vs all pairs; pyomo solve vs the pipeline) neither is a reference for the other's
numbers, only for their agreement.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.blocks import Screening
from pyomo_llmprice.blocks.forms import LinearCost, PowerValue, QuadraticCost, SaturatingValue
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, read_menu, solve_instance, solve_model

REPO = Path(__file__).resolve().parents[2]
SCREENING = REPO / "instances" / "screening"

# A type with virtual value exactly 0 (Mussa-Rosen's i = N/2) is pinned only to second
# order by profit: at Ipopt's tol = 1e-9 its quality ends ~5e-5 from 0, which moves the
# payments of the types above by theta-gap * 5e-5 ~ 5e-6. Profit is exact to ~1e-9.
PAYMENT_TOL = 1e-4


def solve_block(**options):
    model = pyo.ConcreteModel()
    model.menu = Screening(**options)
    return solve_model(model)


def test_mussa_rosen_ten_types_from_the_dat_file():
    bench = theory.mussa_rosen(10)
    res = solve_instance(SCREENING / "mussa_rosen_10.dat", "screening")
    assert res.status == "optimal"
    assert res.profit == pytest.approx(0.11, rel=1e-8)
    assert res.profit == pytest.approx(bench.profit, rel=1e-8)
    np.testing.assert_allclose(res.menu["good_quality"], bench.q, atol=PAYMENT_TOL)
    np.testing.assert_allclose(res.menu["payment"], bench.payment, atol=PAYMENT_TOL)
    served = res.menu["payment"] > 1e-3
    np.testing.assert_allclose(
        res.menu.loc[served, "payment"], [0.12, 0.26, 0.42, 0.60, 0.80], atol=PAYMENT_TOL
    )
    assert res.verification.max_violation <= res.tolerance


def test_two_types_saturating_value_from_the_dat_file():
    bench = theory.two_type_saturating()
    res = solve_instance(SCREENING / "two_type_saturating.dat", "screening")
    assert res.status == "optimal"
    # model.md section 5: profit = sum f_i (T_i - c q_i) with T = (0.7, 1.2), c = 0.1
    closed = 0.6 * (0.7 - 0.1 * np.log(10 / 3)) + 0.4 * (1.2 - 0.1 * np.log(20))
    assert res.profit == pytest.approx(closed, abs=1e-7)
    assert res.profit == pytest.approx(bench.profit, rel=1e-8)
    np.testing.assert_allclose(res.menu["good_q"], [np.log(10 / 3), np.log(20)], rtol=1e-6)
    np.testing.assert_allclose(res.menu["payment"], [0.7, 1.2], rtol=1e-6)


def test_quantity_discount_discretized():
    """Maskin-Riley: utility theta q - q^2/2 - T, unit cost c, theta on a uniform grid.

    The disutility q^2/2 is the same for every type, so with the gross payment
    T + q^2/2 the problem is linear value theta q with cost c q + q^2/2 (a user cost
    rule). Exact discrete answer: q_i = max(0, phi_i - c) with discrete virtual values.
    """
    n, c = 40, 0.2
    theta = (np.arange(n) + 0.5) / n
    prob = np.full(n, 1 / n)
    ref = theory.discrete_optimal_menu_generic(
        theta, prob, lambda p: np.maximum(p - c, 0.0), lambda u: c * u + u**2 / 2
    )
    res = solve_block(theta=theta, prob=prob, cost=lambda y, lib: c * y[0] + y[0] ** 2 / 2)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    np.testing.assert_allclose(res.menu["good_q"], ref.u, atol=1e-4)
    tariff = res.menu["payment"] - res.menu["good_q"] ** 2 / 2  # T = gross payment - q^2/2
    np.testing.assert_allclose(tariff, ref.payment - ref.u**2 / 2, atol=1e-4)
    # the continuum tariff T(q) = ((1+c)/2) q - q^2/4 is approached by the grid (O(1/N))
    cont = theory.quantity_discount(c)
    served = res.menu["good_q"] > 1e-3
    q = res.menu.loc[served, "good_q"].to_numpy()
    np.testing.assert_allclose(tariff[served], cont.tariff(q), atol=2.0 / n)
    assert res.profit == pytest.approx(cont.profit, rel=5.0 / n)


def test_bimodal_types_are_ironed_through_the_generic_layer():
    """A non-regular distribution: phi falls between the modes, so types are pooled."""
    n = 30
    theta = np.linspace(1.0, 2.0, n)
    prob = np.where((theta < 1.3) | (theta > 1.7), 5.0, 0.2)
    prob = prob / prob.sum()
    ref = theory.discrete_optimal_menu_generic(
        theta, prob, lambda p: np.maximum(p, 0.0), lambda u: u**2 / 2
    )
    phi, phibar = ref.virtual_value, ref.ironed_virtual_value
    assert np.any(np.diff(phi[ref.served]) < 0)  # premise: ironing is needed
    pools = np.sum(np.diff(phibar[ref.served]) == 0)
    assert pools >= 3
    res = solve_block(theta=theta, prob=prob)
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    np.testing.assert_allclose(res.menu["good_q"], ref.u, atol=1e-4)
    np.testing.assert_allclose(res.menu["payment"], ref.payment, atol=1e-4)
    # a pointwise (un-ironed) menu would not be monotone, hence not IC
    assert np.any(np.diff(np.maximum(phi[ref.served], 0)) < 0)


def test_power_value_closed_form():
    """Value theta sqrt(y), linear cost c y: pointwise y = (phi/(2c))^2 (ironed phi)."""
    theta = np.array([1.0, 1.5, 2.0, 2.5])
    prob = np.array([0.1, 0.4, 0.3, 0.2])
    c = 0.5
    # in quality u = sqrt(y): cost c u^2, argmax of phi u - c u^2 is phi / (2c)
    ref = theory.discrete_optimal_menu_generic(
        theta, prob, lambda p: np.maximum(p, 0) / (2 * c), lambda u: c * u**2
    )
    res = solve_block(theta=theta, prob=prob, value=PowerValue(0.5), cost=LinearCost(c))
    assert res.status == "optimal"
    assert res.profit == pytest.approx(ref.profit, rel=1e-7)
    np.testing.assert_allclose(res.menu["good_q"], ref.u**2, rtol=1e-5, atol=1e-7)


def test_two_dimensional_layer_reduces_to_one_dimension_on_the_diagonal():
    """Types (x, x): value x (q1 + q2), cost (q1^2 + q2^2)/2, so q1 = q2 = the 1-D q.

    Two-dimensional types, so all IC pairs are imposed; the profit is twice
    Mussa-Rosen's exactly.
    """
    bench = theory.mussa_rosen(10)
    res = solve_block(theta=np.column_stack([bench.theta, bench.theta]), ic="all_pairs")
    assert res.status == "optimal"
    assert res.profit == pytest.approx(2 * bench.profit, rel=1e-8)
    np.testing.assert_allclose(res.menu["good_d1"], bench.q, atol=PAYMENT_TOL)
    np.testing.assert_allclose(res.menu["good_d2"], bench.q, atol=PAYMENT_TOL)


def test_rochet_chone_generated_equals_all_pairs():
    inst = read_instance(SCREENING / "rochet_chone_5x5.dat")
    generated = solve_model(build_model(inst, "screening", ic="generated"))
    all_pairs = solve_model(build_model(inst, "screening", ic="all_pairs"))
    assert generated.status == all_pairs.status == "optimal"
    assert generated.profit == pytest.approx(all_pairs.profit, rel=1e-7)
    assert generated.generation.final_pairs < 25 * 24
    for res in (generated, all_pairs):
        assert res.verification.max_violation <= res.tolerance
        menu = res.menu
        # goods never exceed the efficient level theta (cost |q|^2/2: q = theta at the top)
        assert (menu["good_q1"] <= menu["theta_q1"] + 1e-6).all()
        assert (menu["good_q2"] <= menu["theta_q2"] + 1e-6).all()
    # the lowest type is excluded (virtual value negative at the bottom corner)
    assert not all_pairs.menu.set_index("type").loc["a01_b01", "served"]


def test_verification_catches_a_relaxed_menu():
    """Lower one served bundle's payment by d: the type above gains exactly d from it."""
    model = pyo.ConcreteModel()
    model.menu = Screening(instance=read_instance(SCREENING / "mussa_rosen_10.dat"))
    res = solve_model(model)
    assert res.status == "optimal"
    d = 1e-3  # in the instance's money; the block's variables are normalized
    model.menu.payment["t07"].value -= model.menu.units.money_from_instance(d)
    relaxed = read_menu(model.menu, converged=True)
    assert relaxed.status == "verification_failed"
    assert relaxed.verification.max_ic_violation == pytest.approx(d, rel=1e-3)
    assert relaxed.verification.worst_pair == (7, 6)  # t08 prefers bundle t07


def test_custom_rules_and_labels():
    """A user cost rule using lib.exp works both in Pyomo and in the numpy read-back."""
    res = solve_block(
        theta=[1.0, 2.0],
        prob=[0.5, 0.5],
        types=["lo", "hi"],
        dims=["units"],
        value=SaturatingValue(2.0),
        cost=lambda y, lib: 0.1 * (lib.exp(y[0]) - 1),
    )
    assert res.status == "optimal"
    assert list(res.menu["type"]) == ["lo", "hi"]
    q = res.menu["good_units"].to_numpy()
    np.testing.assert_allclose(res.menu["cost"], 0.1 * np.expm1(q), rtol=1e-12)


def test_block_options_are_validated():
    with pytest.raises(ValueError, match="'instance' or 'theta'"):
        solve_block()
    with pytest.raises(ValueError, match="exponent in"):
        PowerValue(1.5)
    with pytest.raises(ValueError, match="prob has shape"):
        solve_block(theta=[1.0, 2.0], prob=[1.0])
    assert QuadraticCost(2.0)([np.array([1.0, 2.0])], np).tolist() == [1.0, 4.0]


def test_pyomo_solve_rochet_chone(tmp_path, monkeypatch, capsys):
    from pyomo.scripting.pyomo_main import main as pyomo_main

    monkeypatch.chdir(tmp_path)
    pyomo_main(
        [
            "solve",
            str(REPO / "models" / "screening.py"),
            str(SCREENING / "rochet_chone_5x5.dat"),
            "--solver=cyipopt_direct",
            "--solver-options=tol=1e-9 acceptable_tol=1e-9 bound_relax_factor=0",
        ]
    )
    printed = capsys.readouterr().out
    assert re.search(r"^status optimal", printed, re.M), printed[-2000:]
    profit = float(re.search(r"^profit (\S+)", printed, re.M).group(1))
    ref = solve_instance(SCREENING / "rochet_chone_5x5.dat", "screening", ic="all_pairs")
    assert profit == pytest.approx(ref.profit, rel=1e-6)  # printed to 8 digits
    assert "good_q1" in printed and "good_q2" in printed


def test_cli_json_has_goods_per_type(tmp_path, capsys):
    import json

    from pyomo_llmprice.cli import main

    out = tmp_path / "menu.json"
    code = main(
        [
            "solve",
            str(SCREENING / "mussa_rosen_10.dat"),
            "--setting",
            "screening",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["setting"] == "screening" and doc["status"] == "optimal"
    assert doc["profit"] == pytest.approx(0.11, rel=1e-8)
    row = doc["menu"][-1]
    assert {"type", "prob", "theta", "good_quality", "payment", "rent", "served"} <= set(row)
    assert doc["max_ic_violation"] <= doc["verification_tolerance"]
