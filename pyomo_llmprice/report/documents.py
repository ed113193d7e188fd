"""The JSON documents of solved menus: what ``llmprice solve --json`` writes.

Numbers that are not finite are ``null``; numpy scalars are plain JSON numbers; the
aggregates of a menu that is not optimal are ``null`` and its last point is kept apart
(``last_point``), never read as an answer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyomo_llmprice.result import MenuResult

__all__ = ["clean", "menu_document"]


def clean(v: Any) -> Any:
    """A JSON-safe scalar: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def menu_document(result: MenuResult) -> dict[str, Any]:
    """The JSON document of ``llmprice solve --json``: status, solver, aggregates, the
    certificate (largest violations, worst pair, tolerance) and the menu, one row per type."""
    worst_pair, worst_type = result.worst_pairs()
    rows = [{k: clean(v) for k, v in row.items()} for row in result.menu.to_dict(orient="records")]
    checked = result.has_point  # without a point there is no menu and nothing was checked
    return {
        "status": result.status,
        "has_point": checked,
        "setting": result.setting,
        "instance": result.instance,
        "termination": result.termination,
        "solver": result.solver,
        "ic": result.ic,
        "iterations": result.iterations,
        "wall_time": clean(result.wall_time),
        **{k: clean(v) for k, v in result.aggregates.items()},
        "last_point": (
            None if result.optimal else {k: clean(v) for k, v in result.last_point.items()}
        ),
        "max_ic_violation": clean(result.verification.max_ic_violation) if checked else None,
        "max_ir_violation": clean(result.verification.max_ir_violation) if checked else None,
        "max_loss": clean(result.verification.max_loss) if checked else None,
        "worst_ic_pair": worst_pair,
        "worst_ir_type": worst_type,
        "verification_tolerance": result.tolerance,
        "relative_tolerance": result.relative_tolerance,
        "value_scale": result.value_scale,
        "ic_generation": None if result.generation is None else vars(result.generation),
        "retry": None if result.retry is None else vars(result.retry),
        "excluded_after_solve": result.excluded,
        "menu": rows if checked else [],
    }
