"""Usage logs, tariff JSON and technology-only ``.dat`` files: what calibration reads.

A usage log (CSV, or Parquet with the ``parquet`` extra) has one row per customer and
period: ``customer``, ``input_tokens``, ``output_tokens``, ``finetune_tokens``, and
optionally ``plan`` (a plan name of the tariff; required when it has several plans),
``weight`` (how many buyers the row stands for) and ``period``. A tariff is the JSON
``{"plans": [{"name", "fixed_fee", "price_input", "price_output", "price_finetune"}]}``,
the field names of the plans ``llmprice tariffs --json`` writes, so a designed tariff can
be fed back in. Every problem is one :class:`~pyomo_llmprice.instance.InstanceError`
line naming the file, the entry (row, column, plan) and what is wrong.

This module only reads and checks; it returns plain data (a DataFrame, plan dicts), so
the io layer stays below the tariff layer that turns plans into menus.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.instance import Instance, InstanceError
from pyomo_llmprice.io.dat import (
    TECHNOLOGY_PARAMS,
    _check_commands,
    _lenient_data,
    _parse,
    _read_text,
    _technology,
    read_instance,
)
from pyomo_llmprice.technology import Technology

__all__ = [
    "PLAN_FIELDS",
    "TOKEN_COLUMNS",
    "USAGE_COLUMNS",
    "read_tariff",
    "read_technology",
    "read_usage",
    "write_usage",
]

#: token classes of a usage row, in the order of the tariff's prices
TOKEN_COLUMNS: tuple[str, ...] = ("input_tokens", "output_tokens", "finetune_tokens")
#: required columns of a usage log
USAGE_COLUMNS: tuple[str, ...] = ("customer", *TOKEN_COLUMNS)
#: the numbers every tariff plan gives (beside its ``name``)
PLAN_FIELDS: tuple[str, ...] = ("fixed_fee", "price_input", "price_output", "price_finetune")


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _read_table(path: Path) -> pd.DataFrame:
    """The raw table: Parquet through pyarrow (``parquet`` extra), anything else as CSV."""
    where = str(path)
    if not path.exists():
        raise InstanceError(where, "file", "no such file")
    if path.is_dir():
        raise InstanceError(where, "file", "is a directory, not a usage log")
    if _is_parquet(path):
        from pyomo_llmprice.errors import require

        require("pyarrow", "parquet")  # a missing extra is named before anything is read
    try:
        if _is_parquet(path):
            return pd.read_parquet(path, engine="pyarrow")
        # customer ids and plan names stay text (a customer "007" is not the number 7)
        return pd.read_csv(path, dtype={"customer": str, "plan": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InstanceError(where, "file", f"not a readable CSV table: {_short(exc)}") from None
    except (OSError, ValueError) as exc:
        raise InstanceError(where, "file", f"cannot read: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _shown(value: object) -> str:
    """A cell as a message shows it: numpy scalars as plain Python (inf, not np.float64(inf))."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _numbers(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A numeric column: finite numbers (row numbers in messages count from 1, as in a
    spreadsheet's data rows)."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise InstanceError(
            where,
            f"row {i + 1}, column {column}",
            f"not a finite number: {_shown(frame[column].iloc[i])}",
        )
    return values


def read_usage(path: str | Path, plans: list[str] | None = None) -> pd.DataFrame:
    """The checked usage log: one row per customer and period.

    Columns ``customer`` (text), the three token columns (nonnegative floats), ``plan``
    (text, ``""`` where the row buys nothing), ``weight`` (positive, default 1) and
    ``period`` (default 1). ``plans`` (the tariff's plan names) checks the ``plan``
    column: every name must be a plan, and it is required when there are several plans.
    """
    path = Path(path)
    where = str(path)
    raw = _read_table(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in USAGE_COLUMNS if c not in raw.columns]
    if missing:
        raise InstanceError(
            where,
            f"column {missing[0]}",
            f"missing; a usage log needs the columns {', '.join(USAGE_COLUMNS)} "
            "(and optionally plan, weight, period)",
        )
    if raw.empty:
        raise InstanceError(where, "rows", "no usage rows")
    out = pd.DataFrame({"customer": raw["customer"].astype(str).str.strip()})
    empty = np.flatnonzero(out["customer"].to_numpy() == "")
    if empty.size:
        raise InstanceError(where, f"row {int(empty[0]) + 1}, column customer", "empty customer id")
    for column in TOKEN_COLUMNS:
        values = _numbers(raw, column, where)
        negative = np.flatnonzero(values < 0)
        if negative.size:
            i = int(negative[0])
            raise InstanceError(
                where,
                f"row {i + 1}, column {column}",
                f"negative usage {_shown(values[i])} (customer {out['customer'].iloc[i]})",
            )
        out[column] = values
    if "weight" in raw.columns:
        weight = _numbers(raw, "weight", where)
        bad = np.flatnonzero(weight <= 0)
        if bad.size:
            i = int(bad[0])
            raise InstanceError(
                where, f"row {i + 1}, column weight", f"must be positive, got {_shown(weight[i])}"
            )
        out["weight"] = weight
    else:
        out["weight"] = 1.0
    out["period"] = raw["period"].astype(str).to_numpy() if "period" in raw.columns else "1"
    buys = out[list(TOKEN_COLUMNS)].to_numpy().sum(axis=1) > 0
    if "plan" in raw.columns:
        plan = raw["plan"].astype(str).str.strip().replace({"nan": "", "None": ""})
        out["plan"] = plan.to_numpy()
    else:
        out["plan"] = ""
    if plans is not None:
        _check_plans(out, buys, plans, where, "plan" in raw.columns)
    duplicated = out.duplicated(["customer", "period"])
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InstanceError(
            where,
            f"row {i + 1}",
            f"customer {out['customer'].iloc[i]} has two rows for period "
            f"{out['period'].iloc[i]} (give a period column to tell periods apart)",
        )
    return out


def _check_plans(
    usage: pd.DataFrame, buys: np.ndarray, plans: list[str], where: str, given: bool
) -> None:
    """Every buying row names a plan of the tariff (or the tariff has one plan)."""
    names = usage["plan"].to_numpy(object)
    if not given:
        if len(plans) > 1:
            raise InstanceError(
                where,
                "column plan",
                f"missing; the tariff has {len(plans)} plans ({', '.join(plans)}), so each row "
                "must say which one it bought",
            )
        names[buys] = plans[0]
    known = set(plans)
    for i in np.flatnonzero(buys):
        name = names[i]
        if name == "" and len(plans) == 1:
            names[i] = plans[0]
        elif name not in known:
            shown = repr(name) if name else "no plan"
            raise InstanceError(
                where,
                f"row {i + 1}, column plan",
                f"{shown} is not a plan of the tariff (plans: {', '.join(plans)})",
            )
    names[~buys] = ""  # a row without usage bought nothing, whatever it says
    usage["plan"] = names


def read_tariff(path: str | Path) -> list[dict[str, Any]]:
    """The plans of a tariff JSON: ``name`` and the four numbers of :data:`PLAN_FIELDS`.

    Prices must be positive (at a zero price a Cobb-Douglas buyer's demand is unbounded,
    so usage identifies nothing); fees nonnegative. Extra fields (``markup``, ``types``,
    ``mass`` of ``llmprice tariffs --json``) are ignored.
    """
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstanceError(where, "file", "no such file") from None
    except IsADirectoryError:
        raise InstanceError(where, "file", "is a directory, not a tariff JSON") from None
    except json.JSONDecodeError as exc:
        raise InstanceError(
            where, f"line {exc.lineno}, column {exc.colno}", f"not JSON: {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(where, "file", f"cannot read: {_short(exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("plans"), list):
        hint = ""
        if isinstance(doc, dict) and isinstance(doc.get("designs"), dict):
            hint = (
                " (this is a whole 'llmprice tariffs --json' report: save one design, e.g. "
                "its 'designs'['K=3'], as the tariff)"
            )
        raise InstanceError(where, "plans", f"missing: expected {{'plans': [...]}}{hint}")
    if not doc["plans"]:
        raise InstanceError(where, "plans", "empty: a tariff needs at least one plan")
    plans: list[dict[str, Any]] = []
    seen: set[str] = set()
    for k, entry in enumerate(doc["plans"]):
        entry_name = f"plans[{k}]"
        if not isinstance(entry, dict):
            raise InstanceError(where, entry_name, "each plan must be an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InstanceError(where, f"{entry_name}.name", "missing or not a text")
        name = name.strip()
        if name in seen:
            raise InstanceError(where, f"{entry_name}.name", f"plan {name!r} given twice")
        seen.add(name)
        plan: dict[str, Any] = {"name": name}
        for field in PLAN_FIELDS:
            value = entry.get(field)
            entry_field = f"plan {name}: {field}"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InstanceError(where, entry_field, f"missing or not a number: {value!r}")
            if not math.isfinite(value):
                raise InstanceError(where, entry_field, f"not a finite number: {value!r}")
            if field == "fixed_fee" and value < 0:
                raise InstanceError(where, entry_field, f"must be nonnegative, got {value!r}")
            if field != "fixed_fee" and not value > 0:
                raise InstanceError(
                    where,
                    entry_field,
                    f"must be positive, got {value!r} (at a zero price demand is unbounded "
                    "and usage identifies no type)",
                )
            plan[field] = float(value)
        plans.append(plan)
    return plans


def read_technology(path: str | Path) -> Technology:
    """The technology of a ``.dat`` file: a whole instance, or only the technology params.

    A technology-only file holds ``alpha``, ``beta``, ``gamma``, ``base_quality`` and the
    three costs (``scale_constraint`` is allowed and ignored), with the instance format's
    checks and messages.
    """
    where = str(path)
    commands = _parse(_read_text(path), where)
    declares_types = any(
        c[0] == "set" and len(c) > 1 and str(c[1]).rstrip("[") == "TYPES" for c in commands
    )
    if declares_types:
        instance = read_instance(path)
        if not isinstance(instance, Instance):
            raise InstanceError(
                where, "file", "a generic screening instance has no token technology"
            )
        return instance.technology
    _check_commands(commands, where, sets=(), params=(*TECHNOLOGY_PARAMS, "scale_constraint"))
    data = _lenient_data(where)
    if data is None:  # pragma: no cover - _parse and _check_commands accepted the file
        raise InstanceError(where, "data", "cannot interpret the data")
    return _technology(data, where)


def write_usage(usage: pd.DataFrame, path: str | Path) -> None:
    """Write a usage log as CSV (or Parquet for a ``.parquet`` path, ``parquet`` extra)."""
    path = Path(path)
    if _is_parquet(path):
        from pyomo_llmprice.errors import require

        require("pyarrow", "parquet")
        usage.to_parquet(path, engine="pyarrow", index=False)
        return
    usage.to_csv(path, index=False, float_format="%.17g")
