"""All-pairs IC and IR check of a solved menu (numpy only; knows nothing of Pyomo).

Whatever reduced IC set a formulation imposed, the reported menu is checked
against every pair: ``value[i, i] - t_i >= value[i, k] - t_k`` and
``value[i, i] - t_i >= 0``. Rows are processed in chunks so that memory stays
linear in N for the one-dimensional case with thousands of types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Verification", "verify_menu"]


@dataclass(frozen=True)
class Verification:
    """Largest violations of a menu; ``worst_pair`` is (type, bundle it prefers)."""

    max_ic_violation: float
    max_ir_violation: float
    worst_pair: tuple[int, int] | None
    ic_violation: np.ndarray  # per type: largest gain from another bundle
    ir_violation: np.ndarray  # per type: shortfall of its own utility below 0

    @property
    def max_violation(self) -> float:
        return max(self.max_ic_violation, self.max_ir_violation)

    def passed(self, tol: float) -> bool:
        return self.max_violation <= tol


def verify_menu(
    value_rows: Callable[[slice], np.ndarray],
    own_value: np.ndarray,
    payment: np.ndarray,
    chunk: int = 2048,
) -> Verification:
    """Check all pairs; `value_rows(rows)` returns the values of every bundle to those types.

    `own_value[i]` is type i's value of its own bundle, `payment[k]` bundle k's price.
    """
    payment = np.asarray(payment, float)
    own = np.asarray(own_value, float) - payment
    n = len(payment)
    ic = np.zeros(n)
    best = np.zeros(n, dtype=int)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        util = value_rows(rows) - payment[None, :]
        arg = np.argmax(util, axis=1)
        best[rows] = arg
        ic[rows] = np.maximum(util[np.arange(util.shape[0]), arg] - own[rows], 0.0)
    ir = np.maximum(-own, 0.0)
    worst = int(np.argmax(ic)) if n else None
    return Verification(
        max_ic_violation=float(ic.max(initial=0.0)),
        max_ir_violation=float(ir.max(initial=0.0)),
        worst_pair=(worst, int(best[worst])) if worst is not None and ic[worst] > 0 else None,
        ic_violation=ic,
        ir_violation=ir,
    )
