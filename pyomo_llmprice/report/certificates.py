"""Text and JSON of the global plan certificates (``llmprice tariffs --certify``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["add_certificates", "certificate_report", "response_certificate_report"]


def _num(v: float, fmt: str = ".8g") -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, fmt)


def certificate_report(certificates: Sequence[Any]) -> str:
    """One line per K: status, bound, gap, local and global profit, and what it means."""
    if not certificates:
        return ""
    lines = [
        "",
        "Global certificates (K plans as a MINLP; bound: no K-plan design earns more per buyer, "
        f"markups >= {certificates[0].to_dict()['markup_floor']}):",
    ]
    for c in certificates:
        lines.append(
            f"K={c.K}: {c.solver} status {c.status}; bound {_num(c.global_bound)}, "
            f"gap {_num(c.global_gap, '.3g')}; local design {_num(c.local_profit)}, "
            f"global design {_num(c.global_profit)}; {c.nodes if c.nodes is not None else '-'} "
            f"nodes, {_num(c.wall_time, '.3g')} s"
        )
        if c.status == "optimal" and math.isfinite(c.global_gap):
            lines.append(
                f"  proven: no {c.K}-plan page earns more than {c.global_gap:.2g} (relative) "
                "above the best design found"
            )
        if c.note:
            lines.append(f"  {c.note}")
        if c.better is not None:
            from pyomo_llmprice.report.pricing import plan_lines

            lines += ["  " + line for line in plan_lines(f"K={c.K} (global)", c.better)]
    return "\n".join(lines) + "\n"


def add_certificates(doc: dict[str, Any], certificates: Sequence[Any]) -> dict[str, Any]:
    """Put each K's certificate in the document: ``global_bound`` / ``global_gap`` in the
    design's entry and the table row, the full record under ``certificates``; when the
    global design is better it replaces the local one (kept under ``local_design``)."""
    doc["certificates"] = [c.to_dict() for c in certificates]
    rows = {row.get("design"): row for row in doc.get("comparison", [])}
    for c in certificates:
        name = f"K={c.K}"
        record = c.to_dict()
        fields = {
            "global_bound": record["global_bound"],
            "global_gap": record["global_gap"],
            "global_status": record["global_status"],
        }
        if c.better is not None:
            local = doc["designs"].get(name)
            doc["designs"][name] = {
                **c.better.to_dict(),
                "source": "global_solver",
                "local_shortfall": record["local_shortfall"],
                "local_design": local,
            }
        doc["designs"].setdefault(name, {}).update(fields)
        if name in rows:
            rows[name].update(fields)
    return doc


def response_certificate_report(certificates: Sequence[Any]) -> str:
    """One line per seller (``llmprice compete --certify``): status, bound on its best
    response to the others' menus, gap to its profit in the profile, and notes."""
    if not certificates:
        return ""
    lines = ["", "Global certificates (bound: no response to the others' menus earns more):"]
    for c in certificates:
        lines.append(
            f"{c.seller}: {c.solver} status {c.status}; bound {_num(c.global_bound)}, "
            f"gap {_num(c.global_gap, '.3g')}; profile profit {_num(c.profit)}; "
            f"{c.nodes if c.nodes is not None else '-'} nodes, {_num(c.wall_time, '.3g')} s"
        )
        if c.note:
            lines.append(f"  {c.note}")
    return "\n".join(lines) + "\n"
