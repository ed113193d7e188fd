"""The competition ``.dat`` format: a monopoly instance's buyers plus several sellers.

A file gives the buyers exactly as a monopoly ``.dat`` does (``set TYPES``, ``prob``
and one type description), then ``set SELLERS``, one technology table indexed by
SELLERS (``param : alpha beta gamma base_quality cost_input cost_output cost_finetune
:= ...``), ``param taste := logit;`` (or ``hotelling``, or any registered taste),
``param taste_scale := ...;`` (sigma or tau, money) and ``param outside_option :=
0;``. Every check of the monopoly format applies to the buyers (its validation
helpers are reused), and every bad entry is one line naming the file and the entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyomo_llmprice.competition.market import TASTES, CompetitionInstance, Seller
from pyomo_llmprice.instance import InstanceError
from pyomo_llmprice.io.dat import (
    SETS,
    TECHNOLOGY_PARAMS,
    TYPE_PARAMS,
    _check_commands,
    _declared,
    _flag,
    _header,
    _instance_from_data,
    _lenient_data,
    _members,
    _parse,
    _read_text,
    _scalar,
    _technology,
)

__all__ = [
    "COMPETITION_PARAMS",
    "COMPETITION_SETS",
    "MENU_COLUMNS",
    "read_competition",
    "read_menus_json",
]

COMPETITION_SETS: tuple[str, ...] = (*SETS, "SELLERS")
MARKET_PARAMS: tuple[str, ...] = ("taste", "taste_scale", "outside_option")
COMPETITION_PARAMS: tuple[str, ...] = (
    *TYPE_PARAMS,
    "task_measure",
    "value",
    *TECHNOLOGY_PARAMS,
    *MARKET_PARAMS,
)
_SCALARS = frozenset(MARKET_PARAMS)


def read_competition(path: str | Path) -> CompetitionInstance:
    """Read, validate and return the competitive market in a ``.dat`` file.

    Raises :class:`~pyomo_llmprice.instance.InstanceError` (one line: file, entry,
    problem) for every bad entry.
    """
    where = str(path)
    text = _read_text(path)
    commands = _parse(text, where)
    if not any(name == "SELLERS" for c in commands for _, name in _declared(c)):
        raise InstanceError(
            where,
            "SELLERS",
            "not a competition instance: no 'set SELLERS' (a monopoly instance is solved by "
            "llmprice solve; to compete, add the sellers and their technology table)",
        )
    _check_commands(commands, where, COMPETITION_SETS, COMPETITION_PARAMS, _SCALARS)
    data = _lenient_data(where)
    if data is None:
        raise InstanceError(where, "data", "cannot interpret the data (a label or value missing?)")
    if "SELLERS" not in data:
        raise InstanceError(where, "SELLERS", "missing (e.g. 'set SELLERS := frontier entrant ;')")
    sellers = _members(data, "SELLERS", where, "seller")
    technologies = [_seller_technology(data, s, where) for s in sellers]
    buyer_data = {k: v for k, v in data.items() if k not in ("SELLERS", *MARKET_PARAMS)}
    for name in TECHNOLOGY_PARAMS:  # the buyers' instance needs a technology: the first seller's
        buyer_data[name] = {None: data[name][sellers[0]]}
    buyers = _instance_from_data(
        buyer_data, where, name=Path(path).stem, path=path, notes="", renormalize=False
    )
    taste = _taste(data, where)
    if "taste_scale" not in data:
        raise InstanceError(
            where, "taste_scale", "missing (sigma or tau, e.g. 'param taste_scale := 0.05 ;')"
        )
    scale = _scalar(data, "taste_scale", where)
    if not scale > 0:
        raise InstanceError(where, "taste_scale", f"must be positive (money), got {scale!r}")
    if "outside_option" not in data:
        raise InstanceError(
            where, "outside_option", "missing (0: covered market, 1: buyers may buy nothing)"
        )
    outside = _flag(data, "outside_option", where)
    market_taste = TASTES[taste](scale, outside)
    problem = market_taste.problem(len(sellers))
    if problem:
        raise InstanceError(where, "taste", problem)
    return CompetitionInstance(
        name=Path(path).stem,
        path=where,
        buyers=buyers,
        sellers=tuple(Seller(s, t) for s, t in zip(sellers, technologies, strict=True)),
        taste=market_taste,
        notes=_header(text),
    )


def _seller_technology(data: dict[str, Any], seller: str, where: str) -> Any:
    """Seller `seller`'s row of the technology table, checked as a monopoly file's."""
    row: dict[str, Any] = {}
    for name in TECHNOLOGY_PARAMS:
        if name not in data:
            raise InstanceError(
                where,
                name,
                "missing: give the sellers' technologies as one table "
                "('param : alpha beta gamma base_quality cost_input cost_output "
                "cost_finetune := ...')",
            )
        raw = data[name]
        if None in raw:
            raise InstanceError(
                where,
                name,
                "expects one value per seller (a column of the table), got a single value",
            )
        for key in raw:
            if str(key) not in {str(k) for k in data["SELLERS"][None]}:
                raise InstanceError(where, f"{name}[{key}]", f"seller {key!r} is not in SELLERS")
        if seller not in {str(k) for k in raw}:
            raise InstanceError(where, name, f"no value for seller {seller!r}")
        value = next(v for k, v in raw.items() if str(k) == seller)
        row[name] = {None: value}
    try:
        return _technology(row, where)
    except InstanceError as err:  # the same check, named by the seller's entry
        raise InstanceError(where, f"{err.entry}[{seller}]", err.problem) from None


def _taste(data: dict[str, Any], where: str) -> str:
    if "taste" not in data:
        raise InstanceError(
            where, "taste", f"missing (one of {', '.join(TASTES)}, e.g. 'param taste := logit ;')"
        )
    raw = data["taste"]
    if set(raw) != {None}:
        raise InstanceError(where, "taste", "expects a single word (e.g. 'param taste := logit ;')")
    value = str(raw[None])
    if value not in TASTES:
        raise InstanceError(where, "taste", f"unknown taste {value!r}; known: {', '.join(TASTES)}")
    return value


#: the per-type columns of a seller's menu in the JSON of ``llmprice compete``
MENU_COLUMNS: tuple[str, ...] = ("input_tokens", "output_tokens", "finetune_tokens", "payment")


def read_menus_json(path: str | Path, market: CompetitionInstance) -> dict[str, dict[str, Any]]:
    """Sellers' menus from a ``llmprice compete --json`` file (its ``sellers``, or
    ``last_profile.sellers`` of a profile that is no equilibrium), checked against
    `market`: seller name -> {column: values in the market's type order}, plus the
    file's ``best_response`` entry (the seller to solve for) under key None."""
    import json

    import numpy as np

    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstanceError(where, "file", "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InstanceError(where, "file", f"not a JSON file: {exc}") from None
    if not isinstance(doc, dict):
        raise InstanceError(where, "file", "expected a JSON object (llmprice compete --json)")
    sellers = doc.get("sellers") or (doc.get("last_profile") or {}).get("sellers")
    if not isinstance(sellers, list):
        raise InstanceError(where, "sellers", "missing: expected llmprice compete's JSON")
    labels = list(market.buyers.types.labels)
    known = set(market.seller_names)
    out: dict[Any, Any] = {}
    for n, entry in enumerate(sellers):
        name = str(entry.get("seller")) if isinstance(entry, dict) else None
        if name not in known:
            raise InstanceError(where, f"sellers[{n}]", f"seller {name!r} is not in SELLERS")
        rows = {str(r.get("type")): r for r in entry.get("menu") or [] if isinstance(r, dict)}
        missing = [lab for lab in labels if lab not in rows]
        if missing:
            raise InstanceError(where, f"sellers[{n}].menu", f"no row for type {missing[0]!r}")
        columns = {}
        for col in MENU_COLUMNS:
            try:
                values = np.array([float(rows[lab][col]) for lab in labels])
            except (KeyError, TypeError, ValueError):
                raise InstanceError(
                    where, f"sellers[{n}].menu", f"every row needs a number {col!r}"
                ) from None
            if not np.all(np.isfinite(values)) or (col != "payment" and np.any(values < 0)):
                raise InstanceError(where, f"sellers[{n}].menu", f"bad {col!r} values")
            columns[col] = values
        out[name] = columns
    target = doc.get("best_response")
    if target is not None and str(target) not in known:
        raise InstanceError(where, "best_response", f"seller {target!r} is not in SELLERS")
    out[None] = None if target is None else str(target)
    return out
