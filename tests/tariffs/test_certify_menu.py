"""certify_menu: a menu computed without any Pyomo model is certified and priced by the
same code as a solve (pyomo_llmprice.result.certify_menu).

The menus are the exact discrete optima of theory.discrete_optimal_menu (closed form:
bundles at the ironed virtual value, payments from binding downward IC and the lowest
served type's IR). Under Cobb-Douglas a type's tangent markup is theta / phi at its
ironed virtual value phi (p_x = dV/dX = alpha V / X and X = alpha phi u / c_x), so the
top type's is 1 (no distortion at the top).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.result import certify_menu
from pyomo_llmprice.tariffs.menu import tariff_menu_from_result

INSTANCES = Path(__file__).resolve().parents[2] / "instances"


def exact(name: str):
    inst = read_instance(INSTANCES / name)
    dm = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    bundles = {"input_tokens": dm.X, "output_tokens": dm.Y, "finetune_tokens": dm.Z}
    return inst, dm, bundles


def test_the_exact_menu_is_certified_optimal_with_its_closed_form_profit():
    inst, dm, bundles = exact("paper_vs_10x10.dat")
    res = certify_menu(inst, "packages", bundles, dm.payment, solver="exact")
    assert res.status == "optimal" and res.source is inst
    assert res.technology is inst.technology
    assert res.verification.max_violation <= res.tolerance
    assert res.profit == pytest.approx(dm.profit, rel=1e-12)
    np.testing.assert_array_equal(res.menu["served"], dm.served)


def test_bunched_types_share_one_plan_to_the_last_digit():
    inst, dm, bundles = exact("paper_vs_10x10.dat")
    menu = certify_menu(inst, "packages", bundles, dm.payment).menu.set_index("type")
    named = menu.loc[["w04_s09", "w04_s10", "w05_s06"]]  # the three (same bundle)
    assert named["package"].nunique() == 1
    group = menu[menu["package"] == named["package"].iloc[0]]
    assert group["markup"].nunique() == 1 and group["fixed_fee"].nunique() == 1
    # the plan's markup: the prob-weighted mean of the members' theta / phi
    phi = dm.ironed_virtual_value[menu.index.get_indexer(group.index)]
    want = np.average(group["theta"] / phi, weights=group["prob"])
    assert group["markup"].iloc[0] == pytest.approx(want, rel=1e-12)


def test_unbunched_markups_are_theta_over_the_virtual_value():
    inst, dm, bundles = exact("paper_theta_20.dat")
    res = certify_menu(inst, "packages", bundles, dm.payment)
    menu = res.menu
    served = menu["served"].to_numpy()
    want = (dm.theta / dm.ironed_virtual_value)[served]
    np.testing.assert_allclose(menu["markup"].to_numpy()[served], want, rtol=1e-12)
    assert menu["markup"].to_numpy()[served][-1] == pytest.approx(1.0, rel=1e-12)
    fee = dm.payment - menu["markup"].to_numpy() * dm.seller_cost
    np.testing.assert_allclose(menu["fixed_fee"].to_numpy()[served], fee[served], rtol=1e-12)
    assert menu["markup"][~served].isna().all()
    tariffs = tariff_menu_from_result(res)  # the result carries its technology
    assert len(tariffs) == res.packages


def test_solver_dust_on_an_excluded_type_is_snapped_before_pricing():
    inst, dm, bundles = exact("paper_theta_20.dat")
    low = int(np.flatnonzero(~dm.served)[0])
    dusty = {k: v.copy() for k, v in bundles.items()}
    for v in dusty.values():
        v[low] = 1e-30  # worth theta 1e-15, far below the tolerance
    res = certify_menu(inst, "packages", dusty, dm.payment)
    row = res.menu.iloc[low]
    assert not row["served"] and row["package"] == 0 and np.isnan(row["markup"])
    assert row["input_tokens"] == 0.0 and row["payment"] == 0.0
    assert res.profit == pytest.approx(dm.profit, rel=1e-12)


def test_a_menu_that_breaks_ic_is_not_optimal_and_not_priced():
    inst, dm, bundles = exact("paper_theta_20.dat")
    payment = dm.payment.copy()
    payment[-1] *= 1.01  # the top type now prefers the next bundle down
    res = certify_menu(inst, "packages", bundles, payment)
    assert res.status == "verification_failed"
    assert res.menu["markup"].isna().all() and np.isnan(res.profit)
    assert res.verification.worst_pair[0] == len(payment) - 1


def test_a_solver_status_is_kept():
    inst, dm, bundles = exact("paper_theta_20.dat")
    res = certify_menu(inst, "packages", bundles, dm.payment, outcome="iteration_limit")
    assert res.status == "iteration_limit" and res.last_point["profit"] == pytest.approx(
        dm.profit, rel=1e-12
    )


#: columns of a result table that describe the types or the certificate, not the bundles
NOT_BUNDLE = {
    "type", "prob", "payment", "cost", "gross_value", "rent", "markup", "fixed_fee",
    "served", "package", "ic_violation", "tolerance",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        ("paper_theta_20.dat", "packages"),
        ("tasks_coding_chat_translation.dat", "allocations"),
        ("paper_vs_5x5.dat", "allocations"),
        ("screening/two_type_saturating.dat", "screening"),
        ("screening/rochet_chone_5x5.dat", "screening"),
    ],
)
def test_every_setting_recertifies_its_published_table_from_the_registry(name, setting):
    """The published table alone, through the setting's registered publish function, gives
    back the solve's certificate, packages and plans: nothing is read from the model."""
    solved = solve_instance(INSTANCES / name, setting)
    assert solved.status == "optimal"
    menu = solved.menu
    bundles = {c: menu[c].to_numpy() for c in menu if c not in NOT_BUNDLE and "theta" not in c}
    again = certify_menu(solved.source, setting, bundles, menu["payment"].to_numpy())
    assert again.status == "optimal"
    assert again.profit == pytest.approx(solved.profit, rel=1e-12)
    np.testing.assert_array_equal(again.menu["served"], menu["served"])
    np.testing.assert_array_equal(again.menu["package"], menu["package"])
    if "markup" in menu:
        np.testing.assert_allclose(again.menu["markup"], menu["markup"], rtol=1e-12)
        np.testing.assert_allclose(again.menu["fixed_fee"], menu["fixed_fee"], rtol=1e-9)
