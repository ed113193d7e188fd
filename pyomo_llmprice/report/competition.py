"""Reports of a competition: the text of ``llmprice compete``, its JSON and its figure.

Nothing here solves: every function reads a
:class:`~pyomo_llmprice.competition.CompetitionResult` by its public fields. A profile
that is not a certified equilibrium keeps its numbers apart (``last_profile``, with
each seller's deviation gain) and the text says it is no equilibrium.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pyomo_llmprice.report.plots import _figure, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "NEGLIGIBLE_SHARE",
    "format_result",
    "plot_competition",
    "result_json",
    "seller_plans",
]

#: an item that its type buys with a smaller probability is not sold: it has no plan
#: (a seller priced out of a type leaves that item wherever the solver stopped)
NEGLIGIBLE_SHARE = 1e-6


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _menu_rows(result: Any, s: int) -> list[dict[str, Any]]:
    menu = result.menus[s]
    prob = result.prob
    share = result.choice_prob[s]
    _, choice = menu.utility()
    rows = []
    for i, label in enumerate(menu.labels):
        k = int(choice[i])  # the item type i buys here (its own under IC)
        sold = share[i] >= NEGLIGIBLE_SHARE
        rows.append(
            {
                "type": label,
                "prob": float(prob[i]),
                "choice_prob": float(share[i]),
                "input_tokens": float(menu.input_tokens[k]),
                "output_tokens": float(menu.output_tokens[k]),
                "finetune_tokens": float(menu.finetune_tokens[k]),
                "payment": float(menu.payment[k]),
                "markup": _num(menu.markup[k]) if sold else None,
                "fixed_fee": _num(menu.fixed_fee[k]) if sold else None,
            }
        )
    return rows


def result_json(result: Any) -> dict[str, Any]:
    """The JSON document: ``status``, ``sellers`` (each with ``seller``, ``profit``,
    ``market_share`` and ``menu``), ``consumer_surplus``, ``welfare`` and
    ``max_deviation_gain``; a profile that is no certified equilibrium has
    ``sellers``, ``consumer_surplus`` and ``welfare`` null and its numbers under
    ``last_profile``."""
    market = result.market
    sellers = [
        {
            "seller": menu.seller,
            "profit": float(result.profit[s]),
            "market_share": float(result.market_share[s]),
            "deviation_gain": float(result.deviation_gain[s]),
            "max_ic_violation": menu.max_ic_violation,
            "ic_tolerance": float(np.max(menu.tolerance)),
            "menu": _menu_rows(result, s),
        }
        for s, menu in enumerate(result.menus)
    ]
    optimal = result.status == "optimal"
    return {
        "status": result.status,
        "message": result.message,
        "instance": market.name,
        "setting": result.setting,
        "plans": result.plans,
        "taste": market.taste.name,
        "taste_scale": market.taste.scale,
        "outside_option": market.taste.outside_option,
        "sellers": sellers if optimal else None,
        "consumer_surplus": result.consumer_surplus if optimal else None,
        "welfare": result.welfare if optimal else None,
        "max_deviation_gain": result.max_deviation_gain,
        "iterations": result.iterations,
        "last_profile": None
        if optimal
        else {
            "sellers": sellers,
            "consumer_surplus": result.consumer_surplus,
            "welfare": result.welfare,
        },
    }


def seller_plans(result: Any, s: int) -> list[dict[str, Any]]:
    """Seller `s`'s plans: one per distinct item sold, with its fee, per-token prices,
    markup, and the types that buy it with their choice probabilities."""
    tech = result.market.sellers[s].technology
    plans: dict[tuple[float, ...], dict[str, Any]] = {}
    for row in _menu_rows(result, s):
        if row["markup"] is None:
            continue
        key = tuple(
            round(row[c], 9)
            for c in ("input_tokens", "output_tokens", "finetune_tokens", "payment")
        )
        plan = plans.setdefault(
            key,
            {
                "fixed_fee": row["fixed_fee"],
                "markup": row["markup"],
                "price_input": row["markup"] * tech.cost_input,
                "price_output": row["markup"] * tech.cost_output,
                "price_finetune": row["markup"] * tech.cost_finetune,
                "payment": row["payment"],
                "buyers": [],
            },
        )
        plan["buyers"].append((row["type"], row["choice_prob"]))
    return sorted(plans.values(), key=lambda p: p["payment"])


def _types_text(buyers: list[tuple[str, float]], limit: int = 4) -> str:
    shown = ", ".join(f"{t} ({p:.3g})" for t, p in buyers[:limit])
    return shown + (f", +{len(buyers) - limit} more" if len(buyers) > limit else "")


def format_result(result: Any) -> str:
    """The text of ``llmprice compete``."""
    market = result.market
    optimal = result.status == "optimal"
    lines = [
        f"Competition on {market.name}: {len(market.sellers)} sellers, "
        f"{market.taste.name} taste ({market.taste.scale_name} = {market.taste.scale:g}), "
        f"outside option {'yes' if market.taste.outside_option else 'no'}, "
        f"setting {result.setting}"
        + (f", {result.plans} two-part tariff(s) per seller" if result.plans else ""),
        f"status: {result.status} ({result.message})",
    ]
    if not optimal:
        lines.append("The last profile (NOT an equilibrium; no plan below is an equilibrium plan):")
    for s, menu in enumerate(result.menus):
        lines.append("")
        lines.append(
            f"seller {menu.seller}: profit {result.profit[s]:.6g}, market share "
            f"{result.market_share[s]:.4f}, deviation gain {result.deviation_gain[s]:.3g}, "
            f"largest IC violation {menu.max_ic_violation:.3g} "
            f"(tolerance {float(np.max(menu.tolerance)):.3g})"
        )
        lines.append(
            f"  {'fixed fee':>12} {'p_input':>10} {'p_output':>10} {'p_finetune':>10} "
            f"{'markup':>8}  buyers (choice probability)"
        )
        for plan in seller_plans(result, s):
            lines.append(
                f"  {plan['fixed_fee']:12.6g} {plan['price_input']:10.4g} "
                f"{plan['price_output']:10.4g} {plan['price_finetune']:10.4g} "
                f"{plan['markup']:8.4f}  {_types_text(plan['buyers'])}"
            )
    lines.append("")
    lines.append(
        f"consumer surplus {result.consumer_surplus:.6g}, welfare {result.welfare:.6g}, "
        f"iterations {result.iterations}, max_deviation_gain {result.max_deviation_gain:.3g}"
    )
    lines.append(
        "markup: per-token price over the seller's marginal cost (the same for every token "
        "class); fixed fee: the payment less the tokens at those prices; consumer surplus "
        "includes the taste (mean-zero shocks for logit, transport cost for Hotelling)"
    )
    return "\n".join(lines)


def plot_competition(result: Any, path: str | Path | None = None) -> Figure:
    """Each seller's plans side by side (fixed fee and markup against the type index)
    and the market shares by type (choice probabilities, the outside option on top)."""
    market = result.market
    tech = market.sellers[0].technology
    theta = np.asarray(market.buyers.types.index(tech), float)
    order = np.argsort(theta, kind="stable")
    fig, axes = _figure(1, 3, figsize=(13, 4))
    for s, menu in enumerate(result.menus):
        rows = _menu_rows(result, s)
        fee = np.array([np.nan if r["fixed_fee"] is None else r["fixed_fee"] for r in rows])
        markup = np.array([np.nan if r["markup"] is None else r["markup"] for r in rows])
        axes[0].plot(theta[order], fee[order], "o-", gid=f"fee:{menu.seller}", label=menu.seller)
        axes[1].plot(
            theta[order], markup[order], "o-", gid=f"markup:{menu.seller}", label=menu.seller
        )
    share = result.choice_prob[:, order]
    stacks = [*share, np.clip(1.0 - share.sum(axis=0), 0.0, 1.0)]
    labels = [m.seller for m in result.menus] + ["buys nothing"]
    if not market.taste.outside_option:
        stacks, labels = stacks[:-1], labels[:-1]
    polys = axes[2].stackplot(theta[order], *stacks, labels=labels)
    for poly, label in zip(polys, labels, strict=True):
        poly.set_gid(f"share:{label}")
    fees = np.abs(np.concatenate([np.asarray(ln.get_ydata(), float) for ln in axes[0].lines]))
    fees = fees[np.isfinite(fees) & (fees > 0)]
    if fees.size and fees.max() > 100 * fees.min():  # fees spanning decades: a log scale
        axes[0].set_yscale("symlog", linthresh=float(fees.min()))
    axes[0].set(xlabel="type index theta", ylabel="fixed fee", title="fixed fee of each plan")
    axes[1].set(xlabel="type index theta", ylabel="markup over cost", title="per-token markup")
    axes[2].set(xlabel="type index theta", ylabel="choice probability", title="market shares")
    for ax in axes:
        ax.legend(fontsize="small")
    if result.status != "optimal":
        fig.suptitle(f"{result.status}: the last profile, not an equilibrium")
    if path is not None:
        save_figure(fig, path)
    return fig
