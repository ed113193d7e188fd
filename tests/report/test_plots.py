"""Figures: files are written on request, and the plotted data are the numbers they come from.

Line data are read back from the Axes (by gid) and compared with the menu, the tariff
menu and the closed forms of pyomo_llmprice.theory.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pyomo_llmprice import theory
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.report import (
    plot_allocations,
    plot_markups_and_fees,
    plot_profit_by_plans,
    plot_tariff_schedules,
    save_figure,
    schedule_envelope,
    write_figures,
)
from pyomo_llmprice.tariffs import (
    TariffMenu,
    TwoPartTariff,
    best_response,
    evaluate_tariffs,
    tariff_menu_from_result,
)
from pyomo_llmprice.technology import Technology

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
C = 0.125
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@functools.cache
def paper20():
    inst = read_instance(INSTANCES / "paper_theta_20.dat")
    return inst, solve_instance(inst)


def line(ax, gid):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, (gid, [ln.get_gid() for ln in ax.get_lines()])
    return found[0].get_xdata(), found[0].get_ydata()


def three_plans(tech=None):
    tech = tech or Technology.cobb_douglas()
    plans = [
        TwoPartTariff.from_markup("basic", 0.02, 2.0, tech),
        TwoPartTariff.from_markup("pro", 0.15, 1.3, tech),
        TwoPartTariff.from_markup("max", 0.6, 1.0, tech),
    ]
    return TariffMenu(plans, tech)


def test_importing_the_report_does_not_import_matplotlib():
    code = "import sys, pyomo_llmprice.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tariff_schedules_lines_envelope_and_choices(tmp_path):
    menu = three_plans()
    theta = np.linspace(0.3, 1.0, 15)
    outcome = best_response(theta, menu)
    fig = plot_tariff_schedules(menu, outcome, path=tmp_path / "sched", formats=("png", "svg"))
    for suffix in ("png", "svg"):
        f = tmp_path / f"sched.{suffix}"
        assert f.stat().st_size > 1000
    assert (tmp_path / "sched.png").read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    # equal token costs: the axis is total tokens T and plan k pays F_k + m_k c T
    for plan in menu.plans:
        x, y = line(ax, f"plan:{plan.name}")
        np.testing.assert_allclose(y, plan.fixed_fee + plan.markup * C * x, rtol=1e-12)
    x, env = line(ax, "envelope")
    fees = np.array([0.02, 0.15, 0.6])
    marks = np.array([2.0, 1.3, 1.0])
    expected = np.min(fees[:, None] + marks[:, None] * C * x[None, :], axis=0)
    np.testing.assert_allclose(env, expected, rtol=1e-12)
    # the envelope is concave (a minimum of lines) and switches plans at the crossings
    assert np.all(np.diff(env, 2) <= 1e-12)
    # every buying type's point sits on its plan's line and on or above the envelope
    pts = next(c for c in ax.collections if c.get_gid() == "choices").get_offsets()
    buys = outcome.choice >= 0
    assert len(pts) == buys.sum() > 0
    tokens = outcome.input_tokens + outcome.output_tokens + outcome.finetune_tokens
    np.testing.assert_allclose(pts[:, 0], tokens[buys], rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], outcome.payment[buys], rtol=1e-12)
    lower = schedule_envelope(fees, marks, C * pts[:, 0])
    assert np.all(pts[:, 1] >= lower - 1e-12)


def test_unequal_costs_put_token_cost_on_the_axis():
    tech = Technology.cobb_douglas(cost_input=0.1, cost_output=0.4, cost_finetune=0.2)
    menu = three_plans(tech)
    fig = plot_tariff_schedules(menu, x_max=3.0)
    ax = fig.axes[0]
    assert "marginal cost" in ax.get_xlabel()
    x, y = line(ax, "plan:pro")
    assert x[-1] == pytest.approx(3.0)
    np.testing.assert_allclose(y, 0.15 + 1.3 * x, rtol=1e-12)


def test_plans_without_a_common_markup_are_left_out():
    tech = Technology.cobb_douglas()
    plans = [
        TwoPartTariff("flat", 0.1, 0.2, 0.2, 0.2, 1.6),
        TwoPartTariff("odd", 0.1, 0.2, 0.5, 0.2),  # prices not proportional to cost
    ]
    fig = plot_tariff_schedules(TariffMenu(plans, tech))
    gids = [ln.get_gid() for ln in fig.axes[0].get_lines()]
    assert gids == ["plan:flat", "envelope"]
    assert "1 plan(s) with non-proportional prices not drawn" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="no plan"):
        plot_tariff_schedules(TariffMenu(plans[1:], tech))


def test_allocations_are_the_menu_and_the_discrete_optimum(tmp_path):
    inst, result = paper20()
    fig = plot_allocations(result, path=tmp_path / "alloc.pdf")
    pdf = tmp_path / "alloc.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    order = np.argsort(inst.theta)
    ax = fig.axes[0]
    for column, expected in (
        ("input_tokens", ref.X),
        ("output_tokens", ref.Y),
        ("finetune_tokens", ref.Z),
    ):
        x, y = line(ax, column)
        np.testing.assert_array_equal(x, inst.theta[order])
        np.testing.assert_array_equal(y, result.menu[column].to_numpy()[order])
        np.testing.assert_allclose(y, expected[order], atol=2e-5 * max(1, expected.max()))


def test_markups_and_fees_with_plan_steps(tmp_path):
    inst, result = paper20()
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    menu = three_plans()
    design = SimpleNamespace(menu=menu, outcome=best_response(inst.theta, menu))
    fig = plot_markups_and_fees(result, {"3 plans": design}, path=tmp_path / "mf.png")
    assert (tmp_path / "mf.png").read_bytes()[:8] == PNG_MAGIC
    ax_m, ax_f = fig.axes
    served = ref.served
    x, m = line(ax_m, "markup")
    np.testing.assert_allclose(x, np.sort(inst.theta[served]))
    # model.md section 3: plan markup theta / phi at the (ironed) discrete virtual value
    np.testing.assert_allclose(m, ref.markup[served][np.argsort(inst.theta[served])], rtol=1e-4)
    _, fee = line(ax_f, "fixed_fee")
    np.testing.assert_allclose(
        fee, ref.fixed_fee[served][np.argsort(inst.theta[served])], atol=1e-5
    )
    # the steps: each buying type's chosen plan's markup and fee
    xs, ms = line(ax_m, "markup:3 plans")
    _, fs = line(ax_f, "fixed_fee:3 plans")
    choice = design.outcome.choice
    buys = choice >= 0
    order = np.argsort(inst.theta[buys])
    np.testing.assert_allclose(xs, inst.theta[buys][order])
    np.testing.assert_allclose(ms, np.array([2.0, 1.3, 1.0])[choice[buys][order]])
    np.testing.assert_allclose(fs, np.array([0.02, 0.15, 0.6])[choice[buys][order]])


def test_withheld_markups_cannot_be_drawn():
    _, result = paper20()
    frame = result.menu.copy()
    frame[["markup", "fixed_fee"]] = np.nan  # what a non-optimal result reports
    with pytest.raises(ValueError, match="withheld"):
        plot_markups_and_fees(frame)
    with pytest.raises(ValueError, match="no theta column"):
        plot_allocations(frame.drop(columns="theta"))


def comparison_table():
    return pd.DataFrame(
        {
            "profit": [0.0419, 0.0821, np.nan, 97 / 1080],
            "revenue": [0.1350, 0.2318, 0.24, 139 / 540],
            "gain_vs_linear": [0.0, 0.0821 / 0.0419 - 1, np.nan, (97 / 1080) / 0.0419 - 1],
            "status": ["optimal", "optimal", "iteration_limit", "optimal"],
        },
        index=["linear", "K=1", "K=2", "full menu"],
    )


def test_profit_by_plans_bars_are_the_table(tmp_path):
    table = comparison_table()
    fig = plot_profit_by_plans(SimpleNamespace(table=table), path=tmp_path / "profit.png")
    assert (tmp_path / "profit.png").stat().st_size > 1000
    ax = fig.axes[0]
    bars = {p.get_gid(): p.get_height() for p in ax.patches}
    for measure in ("profit", "revenue"):
        assert bars[f"{measure}:linear"] == table.loc["linear", measure]
        assert bars[f"{measure}:full menu"] == table.loc["full menu", measure]
    assert np.isnan(bars["profit:K=2"]) and bars["revenue:K=2"] == 0.24
    hatched = {p.get_gid() for p in ax.patches if p.get_hatch()}
    assert hatched == {"profit:K=2", "revenue:K=2"}  # not optimal: drawn hatched
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[2] == "K=2\n(iteration_limit)"
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["+0%", "+114%", "+96%"]


def test_save_figure_formats(tmp_path):
    fig = plot_profit_by_plans(comparison_table())
    written = save_figure(fig, tmp_path / "sub" / "p.svg")
    assert written == [tmp_path / "sub" / "p.svg"]
    written = save_figure(fig, tmp_path / "q", formats=["png", "pdf", "png"])
    assert written == [tmp_path / "q.png", tmp_path / "q.pdf"]
    assert all(p.stat().st_size > 0 for p in written)
    with pytest.raises(ValueError, match="unknown figure format 'jpg'"):
        save_figure(fig, tmp_path / "r", formats=["jpg"])


def test_write_figures_lists_what_it_wrote(tmp_path):
    inst, result = paper20()
    menu = three_plans()
    design = SimpleNamespace(
        menu=menu, outcome=best_response(inst.theta, menu), kind="plans", status="optimal"
    )
    failed = SimpleNamespace(menu=menu, outcome=design.outcome, kind="plans", status="infeasible")
    tangent_menu = tariff_menu_from_result(result, inst)
    tangent = SimpleNamespace(
        menu=tangent_menu,
        outcome=evaluate_tariffs(tangent_menu, inst),
        kind="full_menu_tangent",
        status="verification_failed",
    )
    comparison = SimpleNamespace(
        table=comparison_table(),
        designs={"K=3": design, "K=4": failed, "full_menu_tangent": tangent},
    )
    written = write_figures(tmp_path / "figs", result, comparison, formats=("png",))
    names = sorted(p.name for p in written)
    assert names == [
        "allocations.png",
        "markups_fees.png",
        "profit_by_plans.png",
        "schedules_full_menu.png",  # tangent tariffs with the menu's own packages
        "schedules_k_3.png",  # the non-optimal K=4 design is not drawn
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == names


def test_full_menu_schedules_show_the_packages_on_their_own_tangent_lines():
    inst, result = paper20()
    menu = tariff_menu_from_result(result, inst)
    fig = plot_tariff_schedules(menu, result)
    ax = fig.axes[0]
    pts = next(c for c in ax.collections if c.get_gid() == "choices").get_offsets()
    served = result.menu[result.menu["served"]]
    tokens = served[["input_tokens", "output_tokens", "finetune_tokens"]].sum(axis=1)
    np.testing.assert_allclose(pts[:, 0], tokens, rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], served["payment"], rtol=1e-12)
    # each package lies on its tangent plan: fee + markup * cost = payment (model.md 3)
    fees = menu.fees()
    marks = np.array([p.markup for p in menu.plans])
    on_some_plan = np.abs(fees[None, :] + marks[None, :] * C * pts[:, :1] - pts[:, 1:2])
    assert on_some_plan.min(axis=1).max() < 1e-9


def test_markups_figure_draws_the_published_plans_one_per_package():
    _, result = paper20()
    fig = plot_markups_and_fees(result)
    drawn = {line.get_gid(): line.get_ydata() for line in (*fig.axes[0].lines, *fig.axes[1].lines)}
    served = result.menu[result.menu["served"]].sort_values("theta", kind="stable")
    np.testing.assert_array_equal(drawn["markup"], served["markup"])
    np.testing.assert_array_equal(drawn["fixed_fee"], served["fixed_fee"])
    # the tariff layer reads the same plans: each type's plan is its package's
    tangent = tariff_menu_from_result(result)
    k = tangent.intended_choice
    on = k >= 0
    np.testing.assert_array_equal(result.menu["fixed_fee"].to_numpy()[on], tangent.fees()[k[on]])
    assert result.menu["markup"][~on].isna().all()
