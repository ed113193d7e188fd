"""Figures of menus and tariffs: one function per figure, files written only on request.

Each ``plot_*`` function returns a :class:`matplotlib.figure.Figure` drawn on the Agg
canvas (no pyplot, so no global figure state and no display needed) and writes it
when given ``path``. Lines and bar groups carry a ``gid`` (``"envelope"``,
``"plan:<name>"``, ``"input_tokens"``, ``"markup"``, ``"profit"``, ...) so that the
plotted data can be read back and checked against the numbers they come from.

Inputs are the package's results, taken by their public fields (duck typing), so
that this top layer imports nothing from the layers it draws:

* a menu table: :attr:`pyomo_llmprice.result.MenuResult.menu` (``theta``, tokens per
  class, ``markup``, ``fixed_fee``, ``served``);
* a tariff menu: a :class:`~pyomo_llmprice.tariffs.TariffMenu` or any table with
  ``fixed_fee`` and ``markup`` per plan; a tariff outcome: a
  :class:`~pyomo_llmprice.tariffs.TariffOutcome` (every type's choice and payment);
* the comparison table of :class:`~pyomo_llmprice.analysis.PricingComparison`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pyomo_llmprice.errors import require
from pyomo_llmprice.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_FORMATS",
    "plot_allocations",
    "plot_markups_and_fees",
    "plot_profit_by_plans",
    "plot_tariff_schedules",
    "save_figure",
    "schedule_envelope",
    "write_figures",
]

FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
TOKEN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("input_tokens", "input tokens X"),
    ("output_tokens", "output tokens Y"),
    ("finetune_tokens", "fine-tuning tokens Z"),
)
_MAX_LEGEND_PLANS = 8

ArrayLike1D = Sequence[float] | np.ndarray


# -- canvas and files -------------------------------------------------------------------


def _figure(nrows: int = 1, ncols: int = 1, **kwds: Any) -> tuple[Figure, Any]:
    """A figure on the Agg canvas, created without pyplot."""
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", "plot").FigureCanvasAgg
    Figure = require("matplotlib.figure", "plot").Figure
    fig = Figure(layout="constrained", **kwds)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def save_figure(fig: Figure, path: str | Path, formats: Iterable[str] | None = None) -> list[Path]:
    """Write ``fig`` to ``path`` and return the files written.

    Without ``formats`` the suffix of ``path`` decides (PNG if it has none); with
    ``formats`` (a subset of :data:`FIGURE_FORMATS`) one file per format is written
    beside ``path`` with that suffix. Missing parent folders are created.
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if formats is None:
        chosen = [suffix if suffix in FIGURE_FORMATS else "png"]
    else:
        chosen = [str(f).lower().lstrip(".") for f in formats]
        if not chosen:
            raise ValueError("formats is empty: name at least one of png, pdf, svg")
    bad = [f for f in chosen if f not in FIGURE_FORMATS]
    if bad:
        raise ValueError(f"unknown figure format {bad[0]!r}; use one of {FIGURE_FORMATS}")
    stem = path.with_suffix("") if suffix in FIGURE_FORMATS else path
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in dict.fromkeys(chosen):
        target = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(target, format=fmt, dpi=150)
        written.append(target)
    return written


def _finish(fig: Figure, path: str | Path | None, formats: Iterable[str] | None) -> Figure:
    if path is not None:
        save_figure(fig, path, formats)
    return fig


# -- inputs -------------------------------------------------------------------------------


def _plans_frame(menu: Any) -> pd.DataFrame:
    """``name``, ``fixed_fee``, ``markup`` per plan from a TariffMenu or a table."""
    if isinstance(menu, pd.DataFrame):
        frame = menu.copy()
    elif hasattr(menu, "plans"):
        frame = pd.DataFrame(
            {
                "name": [getattr(p, "name", f"plan {k + 1}") for k, p in enumerate(menu.plans)],
                "fixed_fee": [float(p.fixed_fee) for p in menu.plans],
                "markup": [float(p.markup) for p in menu.plans],
            }
        )
    else:
        raise TypeError(f"expected a TariffMenu or a DataFrame of plans, got {type(menu)!r}")
    missing = [c for c in ("fixed_fee", "markup") if c not in frame.columns]
    if missing:
        raise ValueError(f"the plan table lacks column(s) {', '.join(missing)}")
    if "name" not in frame.columns:
        frame["name"] = [f"plan {k + 1}" for k in range(len(frame))]
    return frame.reset_index(drop=True)


def _unit_costs(menu: Any, unit_costs: Sequence[float] | None) -> np.ndarray | None:
    """Marginal costs of the three token classes, if known."""
    if unit_costs is not None:
        return np.asarray(unit_costs, float)
    tech = getattr(menu, "technology", None)
    if tech is not None and all(
        hasattr(tech, c) for c in ("cost_input", "cost_output", "cost_finetune")
    ):
        return np.array([tech.cost_input, tech.cost_output, tech.cost_finetune], float)
    if tech is not None and hasattr(tech, "unit_costs"):
        return np.asarray(tech.unit_costs, float)
    return None


def _menu_table(menu: Any) -> pd.DataFrame:
    frame = menu.menu if hasattr(menu, "menu") and isinstance(menu.menu, pd.DataFrame) else menu
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a MenuResult or its menu table, got {type(menu)!r}")
    if "theta" not in frame.columns:
        raise ValueError(
            "the menu table has no theta column (figures against type need Token Packages)"
        )
    return frame


# -- tariff schedules ------------------------------------------------------------------


def schedule_envelope(
    fixed_fee: ArrayLike1D, markup: ArrayLike1D, volume: ArrayLike1D
) -> np.ndarray:
    """``min_k (F_k + m_k q)`` at every cost volume ``q``: what a buyer pays at the best plan."""
    fee = np.asarray(fixed_fee, float)[:, None]
    m = np.asarray(markup, float)[:, None]
    q = np.asarray(volume, float)[None, :]
    return np.min(fee + m * q, axis=0)


def _kinks(fee: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Cost volumes where the lower envelope switches plans (positive ones only)."""
    dm = m[:, None] - m[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (fee[None, :] - fee[:, None]) / dm
    q = q[np.isfinite(q) & (q > 0)]
    if not q.size:
        return q
    level = fee[:, None] + m[:, None] * q[None, :]
    on_envelope = np.sort(level, axis=0)[:2]  # the two cheapest plans there
    scale = np.maximum(1.0, np.abs(on_envelope[0]))
    return q[np.abs(on_envelope[1] - on_envelope[0]) <= 1e-9 * scale]


def _chosen_points(outcome: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Cost and payment of what each buying type takes: a TariffOutcome's choices, or
    the served packages of a MenuResult (its menu table)."""
    if outcome is None:
        return None, None
    table = getattr(outcome, "menu", None)
    if isinstance(table, pd.DataFrame):
        served = table[table["served"]]
        return served["cost"].to_numpy(float), served["payment"].to_numpy(float)
    buys = np.asarray(outcome.choice) >= 0
    return np.asarray(outcome.cost, float)[buys], np.asarray(outcome.payment, float)[buys]


def plot_tariff_schedules(
    menu: Any,
    outcome: Any = None,
    *,
    unit_costs: Sequence[float] | None = None,
    x_max: float | None = None,
    points: int = 400,
    title: str | None = None,
    path: str | Path | None = None,
    formats: Iterable[str] | None = None,
) -> Figure:
    """Payment against tokens: one line ``F_k + m_k * cost(tokens)`` per plan, and their
    lower envelope (what a buyer pays for each quantity at its cheapest plan).

    The horizontal axis is the tokens' cost at marginal cost ``q``; when all three token
    classes cost the same ``c`` it is shown as total tokens ``q / c``. ``outcome`` (a
    TariffOutcome) adds every buying type's chosen point ``(tokens, payment)``; a
    MenuResult adds its served packages instead (for its own tangent tariffs). Plans
    whose prices are not proportional to cost (``markup`` NaN) cannot be drawn on this
    axis and are left out (the title says how many).
    """
    plans = _plans_frame(menu)
    drawable = plans[np.isfinite(plans["markup"]) & np.isfinite(plans["fixed_fee"])]
    if drawable.empty:
        raise ValueError("no plan with a finite fixed fee and markup to draw")
    fee = drawable["fixed_fee"].to_numpy(float)
    m = drawable["markup"].to_numpy(float)
    costs = _unit_costs(menu, unit_costs)
    per_token = float(costs[0]) if costs is not None and np.allclose(costs, costs[0]) else None
    scale = per_token if per_token is not None else 1.0  # x = q / scale

    chosen_q, chosen_pay = _chosen_points(outcome)
    packages = isinstance(getattr(outcome, "menu", None), pd.DataFrame)
    if x_max is None:
        span = [*(chosen_q if chosen_q is not None else [])] or [*_kinks(fee, m)]
        q_max = 1.25 * max(span) if span else max(1.0, 2.0 * float(np.abs(fee).max()))
    else:
        q_max = float(x_max) * scale
    if not q_max > 0:
        raise ValueError(f"x_max must be positive, got {x_max}")
    q = np.linspace(0.0, q_max, int(points))
    x = q / scale

    fig, ax = _figure(figsize=(7, 4.5))
    many = len(drawable) > _MAX_LEGEND_PLANS
    for (_, row), f, mk in zip(drawable.iterrows(), fee, m, strict=True):
        (line,) = ax.plot(
            x,
            f + mk * q,
            lw=0.8 if many else 1.2,
            alpha=0.5 if many else 0.9,
            label=None if many else f"{row['name']}: fee {f:.4g}, markup {mk:.4g}",
        )
        line.set_gid(f"plan:{row['name']}")
    envelope = schedule_envelope(fee, m, q)
    (env,) = ax.plot(x, envelope, color="black", lw=2.2, ls="--")
    env.set_label("lower envelope (best plan)")
    env.set_gid("envelope")
    if chosen_q is not None and len(chosen_q):
        pts = ax.scatter(
            chosen_q / scale,
            chosen_pay,
            s=14,
            color="crimson",
            zorder=3,
            label="the menu's packages" if packages else "types' choices",
        )
        pts.set_gid("choices")
    ax.set_xlim(0.0, q_max / scale)
    # plans far above the envelope would flatten it: show the range buyers face
    top = max(
        float(envelope.max()), float(chosen_pay.max(initial=0.0)) if chosen_pay is not None else 0.0
    )
    bottom = min(0.0, float(envelope.min()))
    ax.set_ylim(bottom, bottom + 1.3 * (top - bottom) if top > bottom else 1.0)
    ax.set_xlabel(
        "tokens bought (input + output + fine-tuning)"
        if per_token is not None
        else "tokens bought, valued at marginal cost"
    )
    ax.set_ylabel("payment")
    skipped = len(plans) - len(drawable)
    heading = title or f"Tariff schedules ({len(drawable)} plans)"
    if many and title is None:
        heading += "; one thin line per plan"
    if skipped:
        heading += f"; {skipped} plan(s) with non-proportional prices not drawn"
    ax.set_title(heading)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return _finish(fig, path, formats)


# -- against type -----------------------------------------------------------------------


def plot_allocations(
    menu: Any,
    *,
    title: str | None = None,
    path: str | Path | None = None,
    formats: Iterable[str] | None = None,
) -> Figure:
    """Tokens per class (input, output, fine-tuning) of every type's package against theta."""
    frame = _menu_table(menu).sort_values("theta", kind="stable")
    fig, ax = _figure(figsize=(7, 4.5))
    styles = {"input_tokens": "-", "output_tokens": "--", "finetune_tokens": ":"}
    markers = {"input_tokens": "o", "output_tokens": "x", "finetune_tokens": "s"}
    for column, label in TOKEN_COLUMNS:
        (line,) = ax.plot(
            frame["theta"].to_numpy(float),
            frame[column].to_numpy(float),
            ls=styles[column],
            marker=markers[column],
            ms=3,
            label=label,
        )
        line.set_gid(column)
    served = frame[frame["served"]] if "served" in frame else frame
    if len(served) < len(frame) and len(served):
        ax.axvline(float(served["theta"].min()), color="grey", lw=0.8, ls="-.")
        ax.text(
            float(served["theta"].min()),
            ax.get_ylim()[1] * 0.95,
            " lowest type served",
            fontsize="small",
            va="top",
            color="grey",
        )
    ax.set_xlabel("type theta")
    ax.set_ylabel("tokens in the package")
    ax.set_title(title or "Allocations and fine-tuning against type")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return _finish(fig, path, formats)


def _design_steps(design: Any, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Theta, markup and fee of the plan each buying type chooses in a design."""
    choice = np.asarray(design.outcome.choice)
    plans = _plans_frame(design.menu)
    if len(choice) != len(theta):
        raise ValueError(
            f"the design's outcome has {len(choice)} types, the menu table {len(theta)}"
        )
    buys = choice >= 0
    order = np.argsort(theta[buys], kind="stable")
    k = choice[buys][order]
    return (
        theta[buys][order],
        plans["markup"].to_numpy(float)[k],
        plans["fixed_fee"].to_numpy(float)[k],
    )


def plot_markups_and_fees(
    menu: Any,
    designs: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    path: str | Path | None = None,
    formats: Iterable[str] | None = None,
) -> Figure:
    """Markup over cost (left) and fixed fee (right) of every served type's plan against theta.

    ``designs`` (name -> PlanDesign on the same types) adds, as steps, the markup and fee
    of the plan each type chooses from that design's K plans. Withheld markups (a
    non-optimal menu) are an error: there is nothing to draw.
    """
    frame = _menu_table(menu).sort_values("theta", kind="stable")
    ok = np.isfinite(frame["markup"].to_numpy(float)) & np.isfinite(
        frame["fixed_fee"].to_numpy(float)
    )
    if not ok.any():
        raise ValueError("no markups or fees to draw (withheld: the menu is not optimal)")
    shown = frame[ok]
    fig, (ax_m, ax_f) = _figure(1, 2, figsize=(10, 4.2))
    theta = shown["theta"].to_numpy(float)
    (lm,) = ax_m.plot(theta, shown["markup"].to_numpy(float), "o-", ms=3, label="full menu")
    lm.set_gid("markup")
    (lf,) = ax_f.plot(theta, shown["fixed_fee"].to_numpy(float), "o-", ms=3, label="full menu")
    lf.set_gid("fixed_fee")
    unsorted_theta = _menu_table(menu)["theta"].to_numpy(float)
    for name, design in (designs or {}).items():
        th, mk, fee = _design_steps(design, unsorted_theta)
        if not len(th):
            continue
        (sm,) = ax_m.step(th, mk, where="post", lw=1.5, label=name)
        sm.set_gid(f"markup:{name}")
        (sf,) = ax_f.step(th, fee, where="post", lw=1.5, label=name)
        sf.set_gid(f"fixed_fee:{name}")
    ax_m.axhline(1.0, color="grey", lw=0.8, ls=":")
    markups = shown["markup"].to_numpy(float)
    if markups.min() > 0 and markups.max() / markups.min() > 10:
        ax_m.set_yscale("log")  # markups explode near the exclusion cutoff
    ax_m.set_xlabel("type theta")
    ax_m.set_ylabel("markup over marginal cost (price / cost)")
    ax_m.set_title("Per-token markup")
    ax_f.set_xlabel("type theta")
    ax_f.set_ylabel("fixed fee")
    ax_f.set_title("Fixed fee")
    for ax in (ax_m, ax_f):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title or "Two-part tariffs of the menu against type")
    return _finish(fig, path, formats)


# -- comparison -------------------------------------------------------------------------


def plot_profit_by_plans(
    table: Any,
    *,
    measures: Sequence[str] = ("profit", "revenue"),
    title: str | None = None,
    path: str | Path | None = None,
    formats: Iterable[str] | None = None,
) -> Figure:
    """Profit (and revenue) of linear pricing, K plans and the full menu, as grouped bars.

    ``table`` is a PricingComparison or its ``table`` (one row per design, index the
    design names). Rows whose ``status`` is not ``optimal`` are drawn hatched and pale,
    their status in the tick label (e.g. the full menu's tangent tariffs, whose profit
    is what they really earn although they are not exactly incentive compatible); the
    gain over linear pricing is written above each optimal profit bar when the table
    has ``gain_vs_linear``.
    """
    frame = table.table if hasattr(table, "table") else table
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a PricingComparison or its table, got {type(table)!r}")
    missing = [c for c in measures if c not in frame.columns]
    if missing:
        raise ValueError(f"the comparison table lacks column(s) {', '.join(missing)}")
    status = (
        frame["status"].astype(str).to_numpy()
        if "status" in frame
        else np.full(len(frame), "optimal")
    )
    good = status == "optimal"
    names = [str(i) for i in frame.index]
    labels = [n if g else f"{n}\n({s})" for n, g, s in zip(names, good, status, strict=True)]
    x = np.arange(len(frame))
    width = 0.8 / len(measures)
    fig, ax = _figure(figsize=(max(6.0, 1.1 * len(frame) + 2), 4.5))
    for j, measure in enumerate(measures):
        values = frame[measure].to_numpy(float)
        bars = ax.bar(x + (j - (len(measures) - 1) / 2) * width, values, width, label=measure)
        for rect, name, ok in zip(bars.patches, names, good, strict=True):
            rect.set_gid(f"{measure}:{name}")
            if not ok:
                rect.set_hatch("//")
                rect.set_alpha(0.4)
        if measure == "profit" and "gain_vs_linear" in frame:
            gains = frame["gain_vs_linear"].to_numpy(float)
            for rect, v, g, ok in zip(bars.patches, values, gains, good, strict=True):
                if ok and math.isfinite(v) and math.isfinite(g):
                    ax.annotate(
                        f"{g:+.0%}",
                        (rect.get_x() + rect.get_width() / 2, v),
                        ha="center",
                        va="bottom",
                        fontsize="x-small",
                    )
    ax.set_xticks(x, labels)
    ax.set_ylabel("per buyer (expected)")
    ax.set_title(title or "Profit by pricing design (labels: profit gain over linear pricing)")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, path, formats)


# -- all figures of an instance ----------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "design"


def write_figures(
    out_dir: str | Path,
    result: Any = None,
    comparison: Any = None,
    formats: Iterable[str] = ("png",),
    progress: bool | None = None,
) -> list[Path]:
    """Write every figure of a solved menu and a pricing comparison to ``out_dir``.

    ``result`` (an optimal MenuResult): ``allocations`` and ``markups_fees`` (the plans
    the result published, so bunched types share one level; the K-plan designs as
    steps); ``comparison`` (a PricingComparison):
    ``profit_by_plans`` and one ``schedules_<design>`` per optimal design. The full menu's
    tangent tariffs (``full_menu_tangent``) are drawn as ``schedules_full_menu`` with the
    menu's own packages as points, the title giving their measured incentive gap.
    Returns the files written. Drawing and saving them takes seconds, so
    ``progress`` shows a bar over them (``None``: on a terminal unless the package is
    quiet, :mod:`pyomo_llmprice.progress`).
    """
    out = Path(out_dir)
    formats = tuple(formats)
    designs: dict[str, Any] = dict(getattr(comparison, "designs", None) or {})
    # (file stem, figure maker): listed first so that the bar knows its total
    jobs: list[tuple[str, Callable[[], Figure]]] = []
    if result is not None:
        name = getattr(result, "instance", "")
        jobs.append(
            (
                "allocations",
                lambda: plot_allocations(
                    result, title=f"Allocations and fine-tuning against type {name}"
                ),
            )
        )
        steps = {
            k: d
            for k, d in designs.items()
            if getattr(d, "kind", "") == "plans" and getattr(d, "status", "") == "optimal"
        }
        jobs.append(
            (
                "markups_fees",
                lambda: plot_markups_and_fees(
                    result,
                    steps,
                    title=f"Two-part tariffs against type {name}",
                ),
            )
        )
    if comparison is not None:
        jobs.append(("profit_by_plans", lambda: plot_profit_by_plans(comparison)))
        for key, design in designs.items():
            if getattr(design, "kind", "") == "full_menu_tangent":
                if result is None or not getattr(result, "optimal", False):
                    continue
                gap = design.outcome.max_deviation_gain
                title = f"Full menu: packages, tangent tariffs (deviation gain {gap:.2g})"
                jobs.append(
                    (
                        "schedules_full_menu",
                        lambda d=design, t=title: plot_tariff_schedules(d.menu, result, title=t),
                    )
                )
                continue
            if getattr(design, "status", "optimal") != "optimal":
                continue  # tariffs of a non-optimal design are withheld, not drawn
            jobs.append(
                (
                    f"schedules_{_slug(key)}",
                    lambda d=design, k=key: plot_tariff_schedules(
                        d.menu, d.outcome, title=f"Tariff schedules: {k}"
                    ),
                )
            )
    written: list[Path] = []
    with progress_bar(jobs, desc="figures", unit=" figure", enabled=progress) as bar:
        for stem, make in bar:
            bar.set_postfix_str(stem)
            written += save_figure(make(), out / stem, formats)
    return written
