"""All-pairs IC and IR check of a solved menu (numpy only; knows nothing of Pyomo).

Whatever reduced IC set a formulation imposed, the reported menu is checked
against every pair: ``value[i, i] - t_i >= value[i, k] - t_k`` and against the
null bundle, ``value[i, i] - t_i >= null[i]`` (0 unless buying nothing is worth
something). A served type that pays less than its bundle costs is flagged too:
at an optimum nobody is served at a loss. The values come from the published
bundles (:mod:`pyomo_llmprice.certificate`). Rows are processed in chunks so that
memory stays linear in N for the one-dimensional case with thousands of types.
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
    ir_violation: np.ndarray  # per type: shortfall of its utility below buying nothing
    loss: np.ndarray | None = None  # per type: cost minus payment where served at a loss
    #: absolute, in money per buyer: one number, or one per type (each type's own scale)
    tolerance: float | np.ndarray | None = None

    @property
    def max_loss(self) -> float:
        return 0.0 if self.loss is None else float(self.loss.max(initial=0.0))

    @property
    def max_violation(self) -> float:
        return max(self.max_ic_violation, self.max_ir_violation, self.max_loss)

    def passed(self, tol: float | np.ndarray | None = None) -> bool:
        """Every IC, IR and no-loss condition holds to `tol` (default: the stated one),
        type by type when `tol` has one entry per type."""
        tol = self.tolerance if tol is None else tol
        if tol is None:
            raise ValueError("no tolerance: pass one or build the Verification with it")
        worst = np.maximum(self.ic_violation, self.ir_violation)
        if self.loss is not None:
            worst = np.maximum(worst, self.loss)
        return bool(np.all(worst <= tol))


def verify_menu(
    value_rows: Callable[[slice], np.ndarray],
    own_value: np.ndarray,
    payment: np.ndarray,
    chunk: int = 2048,
    *,
    null_value: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    served: np.ndarray | None = None,
    tolerance: float | None = None,
) -> Verification:
    """Check all pairs; `value_rows(rows)` returns the values of every bundle to those types.

    `own_value[i]` is type i's value of its own bundle, `payment[k]` bundle k's price,
    `null_value[i]` what buying nothing is worth to type i (default 0). With `cost`
    and `served`, a served type paying less than its bundle's cost is a violation.
    """
    payment = np.asarray(payment, float)
    own = np.asarray(own_value, float) - payment
    null = np.zeros_like(own) if null_value is None else np.asarray(null_value, float)
    n = len(payment)
    ic = np.zeros(n)
    best = np.zeros(n, dtype=int)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        util = value_rows(rows) - payment[None, :]
        arg = np.argmax(util, axis=1)
        best[rows] = arg
        ic[rows] = np.maximum(util[np.arange(util.shape[0]), arg] - own[rows], 0.0)
    ir = np.maximum(null - own, 0.0)
    loss = None
    if cost is not None:
        on = np.ones(n, bool) if served is None else np.asarray(served, bool)
        loss = np.where(on, np.maximum(np.asarray(cost, float) - payment, 0.0), 0.0)
    worst = int(np.argmax(ic)) if n else None
    return Verification(
        max_ic_violation=float(ic.max(initial=0.0)),
        max_ir_violation=float(ir.max(initial=0.0)),
        worst_pair=(worst, int(best[worst])) if worst is not None and ic[worst] > 0 else None,
        ic_violation=ic,
        ir_violation=ir,
        loss=loss,
        tolerance=tolerance,
    )
