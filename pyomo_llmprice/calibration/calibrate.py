"""Usage logs to an instance: each buyer's type from its choices, and what pricing could earn.

The pipeline of ``llmprice calibrate``:

1. every usage row's theta from its first-order conditions under the plan it bought
   (:func:`~pyomo_llmprice.calibration.inversion.invert_usage`); a row no type would have
   chosen under its plan (token classes that disagree by more than ``max_misfit``) is bad
   input;
2. the best-response check: the row's type, facing *every* plan (and buying nothing),
   must not prefer another option (:func:`pyomo_llmprice.tariffs.best_response`);
   rows that fail are reported (and kept or dropped, as asked);
3. per customer, one type (smoothing over periods, :mod:`.smoothing`); customers who
   bought nothing are non-buyers, whose types are only bounded above
   (:func:`participation_bound`): ``below_threshold`` says what is assumed about them;
4. the instance (one type per buying customer, quantile bins, or bins of a fitted law),
   what today's tariff earns from the data (``current``), and the counterfactual: the
   optimal menu and the best 1..K plans on the inferred types
   (:func:`pyomo_llmprice.analysis.compare_pricing`), each against ``current``.

This is orchestration: it calls the tariff layer and the pipeline; neither imports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pyomo_llmprice.calibration.inversion import Inversion, invert_usage
from pyomo_llmprice.calibration.smoothing import SMOOTHING, LognormalFit, fit_lognormal
from pyomo_llmprice.certificate import precision_of_tokens
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance, InstanceError
from pyomo_llmprice.io.usage import TOKEN_COLUMNS
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import discretize, theta_types

__all__ = [
    "BELOW_THRESHOLD",
    "BR_TOL",
    "MAX_MISFIT",
    "UsageCalibration",
    "calibrate_usage",
    "counterfactual",
    "participation_bound",
    "tariff_menu",
    "weighted_quantiles",
]

FloatArray = NDArray[np.float64]

#: what a non-buyer's type is taken to be (its type is only known to be below a bound)
BELOW_THRESHOLD: dict[str, str] = {
    "bound": "at the bound (the most a non-buyer can be worth: an optimistic assumption)",
    "zero": "at theta = 0 (non-buyers value nothing: a pessimistic assumption)",
    "exclude": "left out (the instance and every profit are per buyer of today's tariff)",
}

#: default largest relative disagreement between token classes of one usage row
MAX_MISFIT = 1e-3

#: a row violates best response when another option beats its own by more than this
#: (times max(1, the row's gross value))
BR_TOL = 1e-7

#: quantiles of the buyers' theta in the report
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)

#: label of the type standing for the non-buyers
NON_BUYERS = "non_buyers"

#: types of a fitted law when no --bins is given
LAW_BINS = 20


def tariff_menu(plans: Sequence[dict[str, Any]], technology: Technology) -> Any:
    """Today's tariff as a :class:`~pyomo_llmprice.tariffs.TariffMenu` (plans in file order)."""
    from pyomo_llmprice.tariffs import TariffMenu, TwoPartTariff

    terms = [
        TwoPartTariff(
            str(p["name"]),
            float(p["fixed_fee"]),
            float(p["price_input"]),
            float(p["price_output"]),
            float(p["price_finetune"]),
        )
        for p in plans
    ]
    return TariffMenu(terms, technology)


def participation_bound(menu: Any, technology: Technology, rtol: float = 1e-14) -> float:
    """The largest theta that buys nothing from ``menu``: a non-buyer's type is at most this.

    A type buys nothing when every plan's best surplus ``theta P - p . tokens`` is at most
    its fee. That surplus rises with theta, so each plan's bound is found by bisection in
    log theta on the buyer model's own demand (:func:`~pyomo_llmprice.tariffs.buyer_for`);
    the menu's bound is the smallest. 0 when every positive type buys (a plan without a
    fee and with precision of infinite slope at zero tokens, as Cobb-Douglas).
    """
    from pyomo_llmprice.tariffs import buyer_for

    buyer = buyer_for(technology)
    bounds = []
    for plan in menu.plans:
        prices = plan.prices

        def buys(theta: float, prices: FloatArray = prices, fee: float = plan.fixed_fee) -> bool:
            tokens, gross = buyer.demand(np.array([theta]), prices[None, :])
            return bool(gross[0] - tokens[0] @ prices - fee > 0)

        lo, hi = 1e-12, 1.0
        if buys(lo):
            bounds.append(0.0)
            continue
        while not buys(hi):
            lo, hi = hi, hi * 2
            if hi > 1e300:  # pragma: no cover - no type buys this plan
                break
        else:
            while hi - lo > rtol * hi:
                mid = math.sqrt(lo * hi)
                lo, hi = (lo, mid) if buys(mid) else (mid, hi)
            bounds.append(lo)
            continue
        bounds.append(math.inf)
    return min(bounds)


def weighted_quantiles(values: FloatArray, weights: FloatArray, q: Sequence[float]) -> FloatArray:
    """Quantiles of a weighted sample (the inverse of its step cdf; q = 0 and 1: min, max)."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = np.cumsum(w) / w.sum()
    idx = np.searchsorted(cum, np.asarray(q, float) - 1e-12, side="left")
    return v[np.clip(idx, 0, v.size - 1)]


@dataclass
class UsageCalibration:
    """Everything calibration infers: per row, per customer, the instance and today's take."""

    rows: pd.DataFrame  # the usage rows with plan, theta, misfit, payment, cost, rent, gain
    customers: pd.DataFrame  # customer, weight, periods, buyer, theta
    instance: Instance
    below_threshold: str
    threshold: float  # a non-buyer's theta is at most this
    smoothing: str
    assumptions: list[str]
    violations: pd.DataFrame  # rows that are not best responses among all plans
    current: dict[str, float]
    fit: LognormalFit | None = None
    sources: dict[str, str] = field(default_factory=dict)
    tariff_plans: list[dict[str, Any]] = field(default_factory=list)
    non_buyer_label: str | None = None  # the instance's type standing for the non-buyers

    @property
    def buyers(self) -> int:
        return int(self.customers["buyer"].sum())

    @property
    def misfit(self) -> float:
        m = self.rows.loc[self.rows["buys"], "misfit"]
        return float(m.max()) if len(m) else 0.0

    def theta_quantiles(self) -> dict[str, float]:
        buyers = self.customers[self.customers["buyer"]]
        if buyers.empty:
            return {}
        values = weighted_quantiles(
            buyers["theta"].to_numpy(float), buyers["weight"].to_numpy(float), QUANTILES
        )
        return {f"{q:g}": float(v) for q, v in zip(QUANTILES, values, strict=True)}

    def types(self) -> list[dict[str, Any]]:
        ts = self.instance.types
        out = []
        for label, theta, prob in zip(ts.labels, ts.theta, ts.prob, strict=True):
            entry: dict[str, Any] = {"type": label, "theta": float(theta), "prob": float(prob)}
            if label == self.non_buyer_label:
                entry["assumption"] = (
                    f"--below-threshold {self.below_threshold}: non-buyers "
                    f"{BELOW_THRESHOLD[self.below_threshold]}; their theta is only known to "
                    f"be at most {self.threshold:.6g}"
                )
            out.append(entry)
        return out

    def header(self) -> str:
        """The ``.dat`` header: where the data came from, today's tariff, the assumptions."""
        c = self.customers
        lines = [
            "Calibrated by `llmprice calibrate` from observed usage (Token Packages, theta types).",
            f"usage log: {self.sources.get('usage', '<data>')} ({len(self.rows)} rows, "
            f"{len(c)} customers, {self.buyers} buyers)",
            f"technology: {self.sources.get('technology', '<technology>')}",
            f"tariff: {self.sources.get('tariff', '<tariff>')}",
        ]
        for plan in self.tariff_plans:
            lines.append(
                f"  plan {plan['name']}: fixed_fee {plan['fixed_fee']:.10g}, price_input "
                f"{plan['price_input']:.10g}, price_output {plan['price_output']:.10g}, "
                f"price_finetune {plan['price_finetune']:.10g}"
            )
        lines.append("assumptions:")
        lines += [f"  - {a}" for a in self.assumptions]
        return "\n".join(lines)

    def report(self, counterfactual: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON report (exactly the issue's keys; ``counterfactual`` None if not run)."""
        violations = [
            {k: _plain(v) for k, v in row.items()}
            for row in self.violations.to_dict(orient="records")
        ]
        return {
            "customers": len(self.customers),
            "buyers": self.buyers,
            "types": self.types(),
            "theta_quantiles": self.theta_quantiles(),
            "misfit": self.misfit,
            "best_response_violations": violations,
            "current": self.current,
            "counterfactual": counterfactual,
        }


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row_label(usage: pd.DataFrame, i: int) -> str:
    return f"row {i + 1} (customer {usage['customer'].iloc[i]}, period {usage['period'].iloc[i]})"


def calibrate_usage(
    usage: pd.DataFrame,
    plans: Sequence[dict[str, Any]],
    technology: Technology,
    *,
    bins: int | None = None,
    below_threshold: str = "bound",
    smoothing: str = "average",
    max_misfit: float = MAX_MISFIT,
    violations: str = "keep",
    sources: dict[str, str] | None = None,
) -> UsageCalibration:
    """Infer every customer's type from :func:`~pyomo_llmprice.io.usage.read_usage`'s table.

    ``plans`` are :func:`~pyomo_llmprice.io.usage.read_tariff`'s; ``bins`` makes K quantile
    bins (or K points of the fitted law with ``smoothing="lognormal"``, default
    ``LAW_BINS``); ``violations`` is ``"keep"`` or ``"drop"`` for rows that are not a best
    response among all plans (always reported). Raises :class:`InstanceError` (naming the
    usage file and row) for a row no type would choose under its plan.
    """
    from pyomo_llmprice.tariffs import best_response

    if below_threshold not in BELOW_THRESHOLD:
        raise UserInputError(
            f"below_threshold must be one of {', '.join(BELOW_THRESHOLD)}, got {below_threshold!r}"
        )
    if smoothing not in SMOOTHING:
        raise UserInputError(f"smoothing must be one of {', '.join(SMOOTHING)}, got {smoothing!r}")
    if bins is not None and bins < 1:
        raise UserInputError(f"bins must be a positive integer, got {bins}")
    if violations not in ("keep", "drop"):
        raise UserInputError(f"violations must be 'keep' or 'drop', got {violations!r}")
    sources = dict(sources or {})
    where = sources.get("usage", "<usage data>")
    menu = tariff_menu(plans, technology)
    names = [p.name for p in menu.plans]
    rows = usage.reset_index(drop=True).copy()
    tokens = rows[list(TOKEN_COLUMNS)].to_numpy(float)
    buys = tokens.sum(axis=1) > 0
    plan_index = np.array([names.index(n) if n in names else -1 for n in rows["plan"]])
    if np.any(buys & (plan_index < 0)):  # read_usage checks this; a caller's table may not
        i = int(np.flatnonzero(buys & (plan_index < 0))[0])
        raise InstanceError(where, f"{_row_label(rows, i)}: plan", "names no plan of the tariff")
    prices = menu.price_matrix()[np.maximum(plan_index, 0)]
    inv: Inversion = invert_usage(tokens, prices, technology)
    bad = np.flatnonzero(buys & ~(inv.misfit <= max_misfit))
    if bad.size:
        i = int(bad[0])
        raise InstanceError(
            where,
            _row_label(rows, i),
            _misfit_message(inv, i, tokens[i], names[plan_index[i]], max_misfit, len(bad)),
        )
    rows["buys"] = buys
    rows["theta"] = inv.theta
    rows["misfit"] = np.where(buys, inv.misfit, 0.0)
    gross = np.where(buys, inv.theta * precision_of_tokens(technology, *tokens.T), 0.0)
    gross = np.nan_to_num(gross)
    payment = np.where(buys, menu.fees()[np.maximum(plan_index, 0)] + (prices * tokens).sum(1), 0.0)
    rows["payment"] = payment
    rows["cost"] = np.where(buys, technology.cost(*tokens.T), 0.0)
    rows["rent"] = gross - payment
    # the best-response check: the row's type facing every plan and the null option
    gain = np.zeros(len(rows))
    prefers = np.array([""] * len(rows), dtype=object)
    if buys.any():
        out = best_response(inv.theta[buys], menu, technology)
        gain[buys] = out.rent - rows["rent"].to_numpy(float)[buys]
        prefers[buys] = [names[k] if k >= 0 else "(nothing)" for k in out.choice]
    rows["best_response_gain"] = gain
    violating = buys & (gain > BR_TOL * np.maximum(1.0, gross))
    violation_table = pd.DataFrame(
        {
            "customer": rows["customer"][violating],
            "period": rows["period"][violating],
            "plan": rows["plan"][violating],
            "theta": rows["theta"][violating],
            "prefers": prefers[violating],
            "gain": gain[violating],
        }
    ).reset_index(drop=True)
    kept = rows[~violating] if violations == "drop" else rows
    threshold = participation_bound(menu, technology)
    customers = _customers(kept)
    assumptions = [
        "each buyer of index theta chooses plan and tokens maximizing theta * precision - "
        "payment (the Token Packages buyer), and its theta is read from the first-order "
        "conditions of the classes it buys (corners: the inequality they imply)",
        f"usage rows whose token classes disagree by more than {max_misfit:g} (relative) "
        "are refused",
        f"{len(violation_table)} row(s) are not a best response among all plans; "
        + ("they are dropped" if violations == "drop" else "their theta is kept"),
        "weights: a customer's mean row weight (1 where the log gives none), normalized",
        *SMOOTHING[smoothing],
        f"non-buyers ({int((~customers['buyer']).sum())} customers, theta <= {threshold:.6g}): "
        f"--below-threshold {below_threshold}, {BELOW_THRESHOLD[below_threshold]}",
    ]
    fit = None
    if smoothing == "lognormal":
        fit = fit_lognormal(kept[kept["buys"]])
        assumptions.append(f"lognormal fit: {fit.describe()}")
    instance, non_buyer_label = _instance(
        customers, threshold, below_threshold, bins, fit, technology, where
    )
    current = _current(kept, customers, below_threshold)
    calibration = UsageCalibration(
        rows=rows,
        customers=customers,
        instance=instance,
        below_threshold=below_threshold,
        threshold=threshold,
        smoothing=smoothing,
        assumptions=assumptions,
        violations=violation_table,
        current=current,
        fit=fit,
        sources=sources,
        tariff_plans=[dict(p) for p in plans],
        non_buyer_label=non_buyer_label,
    )
    return calibration


def _misfit_message(
    inv: Inversion, i: int, tokens: FloatArray, plan: str, max_misfit: float, count: int
) -> str:
    """Why a row is no best response under its plan, in the model's terms."""
    classes = ("input", "output", "finetune")
    est = ", ".join(
        f"{c} {e:.6g}" for c, e in zip(classes, inv.estimates[i], strict=True) if np.isfinite(e)
    )
    more = f" ({count - 1} more such rows)" if count > 1 else ""
    if not np.isfinite(inv.misfit[i]):
        bought = ", ".join(f"{c} {t:g}" for c, t in zip(classes, tokens, strict=True))
        return (
            f"usage ({bought}) is inconsistent with every type under plan {plan}: a class it "
            "bought adds no precision at this usage (with Cobb-Douglas precision, input and "
            f"output tokens are bought together){more}"
        )
    corner = ""
    if np.isfinite(inv.bound[i]) and inv.theta[i] > inv.bound[i]:
        corner = f"; the class it does not buy caps theta at {inv.bound[i]:.6g}"
    return (
        f"usage is inconsistent with every type under plan {plan}: the token classes imply "
        f"theta {est}{corner} (misfit {inv.misfit[i]:.3g} > --max-misfit {max_misfit:g}){more}"
    )


def _customers(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per customer: mean weight, periods, whether it ever bought, its theta.

    theta is the geometric mean of the customer's per-period theta over the periods it
    bought (the period average of the index in logs, so multiplicative noise averages out).
    """
    groups = rows.groupby("customer", sort=False)
    frame = pd.DataFrame(
        {
            "weight": groups["weight"].mean(),
            "periods": groups.size(),
            "buyer": groups["buys"].any(),
        }
    )
    bought = rows[rows["buys"]]
    log_theta = np.log(bought["theta"].to_numpy(float))
    mean_log = pd.Series(log_theta, index=bought.index).groupby(bought["customer"]).mean()
    frame["theta"] = np.exp(mean_log.reindex(frame.index).to_numpy(float))
    frame = frame.reset_index().rename(columns={"index": "customer"})
    frame["theta"] = frame["theta"].where(frame["buyer"], np.nan)
    return frame


def _instance(
    customers: pd.DataFrame,
    threshold: float,
    below_threshold: str,
    bins: int | None,
    fit: LognormalFit | None,
    technology: Technology,
    where: str,
) -> tuple[Instance, str | None]:
    """The Token Packages instance of the inferred types (probabilities from the weights)
    and the label of the non-buyers' type (None if there is none)."""
    buyers = customers[customers["buyer"]]
    if buyers.empty:
        raise InstanceError(where, "rows", "no customer bought anything: no type can be inferred")
    weight = buyers["weight"].to_numpy(float)
    theta = buyers["theta"].to_numpy(float)
    labels = [str(c) for c in buyers["customer"]]
    if fit is not None:
        k = LAW_BINS if bins is None else bins
        theta, mass = discretize(fit.law(), k, "prob")
        weight = mass * weight.sum()
        labels = [f"q{j + 1:0{len(str(k))}d}" for j in range(k)]
    elif bins is not None:
        if bins > len(buyers):
            raise UserInputError(
                f"{where}: --bins {bins} is more bins than the {len(buyers)} buying customers"
            )
        theta, weight = _quantile_bins(theta, weight, bins)
        labels = [f"q{j + 1:0{len(str(bins))}d}" for j in range(bins)]
    non_buyers = customers[~customers["buyer"]]
    label: str | None = None
    if len(non_buyers) and below_threshold != "exclude":
        label = NON_BUYERS
        while label in labels:
            label += "_"
        labels.append(label)
        theta = np.append(theta, 0.0 if below_threshold == "zero" else threshold)
        weight = np.append(weight, non_buyers["weight"].sum())
    prob = np.asarray(weight, float) / float(np.sum(weight))
    if not np.all(np.isfinite(theta)):
        raise InstanceError(where, "theta", "a non-buyer bound is infinite: no plan is bought")
    types = theta_types(theta, prob, labels)
    return Instance("calibrated", None, types, technology), label


def _quantile_bins(theta: FloatArray, weight: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """K bins of equal weight (as near as whole customers allow), in increasing theta.

    A customer goes to the bin holding the midpoint of its weight (moved to a neighbour
    only to keep every bin nonempty); the bin's theta is its members' weighted mean, its
    weight their total.
    """
    order = np.argsort(theta, kind="stable")
    th, w = theta[order], weight[order]
    n = th.size
    mid = (np.cumsum(w) - w / 2) / w.sum()
    cuts = np.searchsorted(mid, np.arange(1, k) / k).astype(int)
    # every bin keeps at least one customer (k <= customers)
    for j in range(k - 1):
        low = cuts[j - 1] + 1 if j else 1
        cuts[j] = min(max(cuts[j], low), n - (k - 1 - j))
    which = np.repeat(np.arange(k), np.diff(np.concatenate([[0], cuts, [n]])))
    mass = np.bincount(which, weights=w, minlength=k)
    mean = np.bincount(which, weights=w * th, minlength=k) / mass
    return mean, mass


def _current(rows: pd.DataFrame, customers: pd.DataFrame, below_threshold: str) -> dict[str, float]:
    """Today's profit, revenue and consumer surplus per unit mass of the instance's buyers.

    Per customer the mean over its periods, weighted across customers by their weights;
    non-buyers count with zero (or not at all with ``exclude``), as in the instance.
    """
    per = rows.groupby("customer", sort=False)[["payment", "cost", "rent"]].mean()
    per = per.reindex(customers["customer"]).fillna(0.0)
    weight = customers["weight"].to_numpy(float)
    keep = customers["buyer"].to_numpy(bool) | (below_threshold != "exclude")
    w = np.where(keep, weight, 0.0) / float(np.where(keep, weight, 0.0).sum())
    revenue = float(w @ per["payment"].to_numpy(float))
    cost = float(w @ per["cost"].to_numpy(float))
    surplus = float(w @ per["rent"].to_numpy(float))
    return {
        "profit": revenue - cost,
        "revenue": revenue,
        "consumer_surplus": surplus,
        "welfare": revenue - cost + surplus,
    }


def counterfactual(
    calibration: UsageCalibration,
    plans: int = 4,
    starts: int = 4,
    seed: int = 0,
    progress: bool | None = None,
    **solve_options: Any,
) -> tuple[dict[str, Any], Any]:
    """The optimal menu and the best 1..``plans`` plans on the inferred types, against today.

    Returns the report's ``counterfactual`` entry and the
    :class:`~pyomo_llmprice.analysis.PricingComparison` it came from. The full menu carries
    its all-pairs certificate; anything not ``optimal`` keeps its status and has its plans
    withheld (``null``).
    """
    from pyomo_llmprice.analysis import compare_pricing

    instance = calibration.instance
    n = int((np.asarray(instance.types.prob) > 0).sum())
    ks = tuple(range(1, min(plans, n) + 1))
    comparison = compare_pricing(
        instance, plans=ks, starts=starts, seed=seed, progress=progress, **solve_options
    )
    now = calibration.current
    out: dict[str, Any] = {}
    table = comparison.table
    for name in table.index:
        if name == "full_menu_tangent":
            continue  # a measurement of the full menu's tangent tariffs, not a design
        row = table.loc[name]
        status = str(row["status"])
        ok = status == "optimal"
        entry: dict[str, Any] = {"status": status, "plans": int(row["plans"])}
        for key in ("profit", "revenue", "consumer_surplus"):
            value = float(row[key]) if ok else math.nan
            entry[key] = _plain(value)
            entry[f"{key}_change"] = _plain(value - now[key])
        p0 = now["profit"]
        entry["profit_change_ratio"] = (
            _plain(float(row["profit"]) / p0 - 1) if ok and p0 > 0 else None
        )
        if name == "full_menu":
            result = comparison.full_menu
            entry["max_violation"] = _plain(result.verification.max_violation)
            entry["tolerance"] = _plain(result.tolerance)
            entry["packages"] = _packages(result.menu) if ok else None
        else:
            design = comparison.designs[name]
            entry["max_deviation_gain"] = _plain(design.outcome.max_deviation_gain)
            entry["terms"] = [p.to_dict() for p in design.menu.plans] if ok else None
        out[str(name)] = entry
    return out, comparison


def _packages(menu: pd.DataFrame) -> list[dict[str, Any]]:
    """The optimal menu's distinct packages: tokens, payment, the plan the certified result
    reads it as (markup and fixed fee), buyers' mass and theta range."""
    served = menu[menu["served"]]
    columns = [c for c in (*TOKEN_COLUMNS, "payment", "markup", "fixed_fee") if c in menu]
    out = []
    for number, group in served.groupby("package", sort=True):
        lead = group.iloc[0]
        out.append(
            {
                "package": int(number),
                **{c: _plain(float(lead[c])) for c in columns},
                "mass": float(group["prob"].sum()),
                "theta_min": float(group["theta"].min()),
                "theta_max": float(group["theta"].max()),
            }
        )
    return out


def best_design(cf: dict[str, Any]) -> str | None:
    """The name of the optimal plan design (not the full menu) earning most, or None."""
    designs = {k: v for k, v in cf.items() if k != "full_menu" and v["status"] == "optimal"}
    if not designs:
        return None
    return max(designs, key=lambda k: designs[k]["profit"])


def summary(calibration: UsageCalibration, cf: dict[str, Any] | None) -> str:
    """The printed summary: counts, the inferred distribution, fit, today, the counterfactual."""
    c = calibration
    q = c.theta_quantiles()
    lines = [
        f"usage: {len(c.rows)} rows, {len(c.customers)} customers, {c.buyers} buyers, "
        f"{len(c.customers) - c.buyers} non-buyers (theta <= {c.threshold:.6g}, "
        f"assumed {BELOW_THRESHOLD[c.below_threshold]})",
        "theta of buyers: " + ", ".join(f"q{k} {v:.6g}" for k, v in q.items()),
        f"misfit (largest relative disagreement between token classes): {c.misfit:.3g}",
        f"best-response violations: {len(c.violations)}",
    ]
    if len(c.violations):
        shown = c.violations.head(10).to_string(index=False, float_format=lambda v: f"{v:.6g}")
        lines.append(shown)
    if c.fit is not None:
        lines.append(f"lognormal fit: {c.fit.describe()}")
    lines.append(f"instance: {len(c.instance.types.labels)} types (smoothing {c.smoothing})")
    now = c.current
    lines.append(
        f"current tariff: profit {now['profit']:.6g}, revenue {now['revenue']:.6g}, "
        f"consumer surplus {now['consumer_surplus']:.6g} (per customer of the instance)"
    )
    if cf is None:
        return "\n".join(lines) + "\n"
    frame = pd.DataFrame.from_dict(cf, orient="index")
    cols = ["plans", "status", "profit", "profit_change", "revenue", "consumer_surplus"]
    lines.append("counterfactual on the inferred types (changes against the current tariff):")
    lines.append(frame[cols].to_string(float_format=lambda v: f"{v:.6g}"))
    for name, entry in cf.items():
        if entry["status"] != "optimal":
            lines.append(f"{name}: status {entry['status']}, NOT OPTIMAL: its numbers are withheld")
    if "full_menu" in cf and cf["full_menu"]["status"] == "optimal":
        full = cf["full_menu"]
        lines.append(
            f"full_menu checked on all IC/IR pairs: largest violation "
            f"{full['max_violation']:.3g} (tolerance {full['tolerance']:.3g})"
        )
    best = best_design(cf)
    if best is not None:
        lines.append(f"pricing page earning most with at most {cf[best]['plans']} plan(s): {best}")
        terms = pd.DataFrame(cf[best]["terms"])
        lines.append(terms.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return "\n".join(lines) + "\n"


def calibrate_files(
    usage: str | Path,
    tariff: str | Path,
    technology: str | Path,
    **options: Any,
) -> UsageCalibration:
    """:func:`calibrate_usage` on files (the paths are recorded in the instance header)."""
    from pyomo_llmprice.io.usage import read_tariff, read_technology, read_usage

    tech = read_technology(technology)
    plans = read_tariff(tariff)
    table = read_usage(usage, [p["name"] for p in plans])
    sources = {"usage": str(usage), "tariff": str(tariff), "technology": str(technology)}
    return calibrate_usage(table, plans, tech, sources=sources, **options)
