"""All-pairs IC and IR check of a solved menu (numpy only; knows nothing of Pyomo).

Whatever reduced IC set a formulation imposed, the reported menu is checked
against every pair: ``value[i, i] - t_i >= value[i, k] - t_k`` and against the
null bundle, ``value[i, i] - t_i >= null[i]`` (0 unless buying nothing is worth
something). A served type that pays less than its bundle costs is flagged too:
at an optimum nobody is served at a loss. The values come from the published
bundles (:mod:`pyomo_llmprice.certificate`).

Two ways to cover all N^2 pairs. Any dimension: rows in chunks of a bounded number
of values (``CHUNK_ELEMENTS``), so memory stays linear in N whatever the dimension
(Rochet-Chone 100 x 100: 10^8 pairs in 32 MB blocks). One dimension (type i values
bundle k at ``theta_i * u_k``): type i's best bundle is the top of the upper envelope of
the lines ``theta -> theta u_k - t_k`` at ``theta_i``, so the envelope is built once
(O(N log N)) and read at every type; it gives the same largest gains and the same
preferred bundles as the pairwise check, and checks a million types in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CHUNK_ELEMENTS", "Verification", "best_bundles_one_dimensional", "verify_menu"]

#: values held at once by the chunked pairwise check (8 bytes each: 32 MB)
CHUNK_ELEMENTS = 4_000_000


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
    chunk: int | None = None,
    *,
    null_value: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    served: np.ndarray | None = None,
    tolerance: float | None = None,
    one_dimensional: tuple[np.ndarray, np.ndarray] | None = None,
) -> Verification:
    """Check all pairs; `value_rows(rows)` returns the values of every bundle to those types.

    `own_value[i]` is type i's value of its own bundle, `payment[k]` bundle k's price,
    `null_value[i]` what buying nothing is worth to type i (default 0). With `cost`
    and `served`, a served type paying less than its bundle's cost is a violation.
    `chunk` rows are checked at once (default: ``CHUNK_ELEMENTS // N``). With
    ``one_dimensional=(theta, u)`` (values ``theta_i * u_k``, which `value_rows` must
    agree with) the envelope replaces the pairwise loop: same answer, O(N log N).
    """
    payment = np.asarray(payment, float)
    own = np.asarray(own_value, float) - payment
    null = np.zeros_like(own) if null_value is None else np.asarray(null_value, float)
    n = len(payment)
    if one_dimensional is not None:
        top, best = best_bundles_one_dimensional(*one_dimensional, payment)
        ic = np.maximum(top - own, 0.0)
    else:
        ic = np.zeros(n)
        best = np.zeros(n, dtype=int)
        step = chunk or max(1, CHUNK_ELEMENTS // max(1, n))
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
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


def _upper_envelope(slope: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Indices of the lines on the upper envelope of ``x -> slope x + intercept``, by
    increasing slope; among equal lines the first index, among parallel ones the highest.

    Monotone chain over the lines sorted by slope (the lower convex hull of the points
    ``(slope, -intercept)``): O(N log N) for the sort, O(N) for the chain.
    """
    n = len(slope)
    order = np.lexsort((np.arange(n), -intercept, slope))
    first = np.ones(n, bool)  # keep the highest line of each slope (first after the sort)
    first[1:] = slope[order[1:]] != slope[order[:-1]]
    order = order[first]
    m, b = slope[order].tolist(), intercept[order].tolist()
    hull: list[int] = []
    for j in range(len(order)):
        # line h[-1] is useless when the lines on both sides meet above it
        while len(hull) >= 2:
            i, k = hull[-2], hull[-1]
            if (b[j] - b[i]) * (m[k] - m[i]) >= (b[k] - b[i]) * (m[j] - m[i]):
                hull.pop()
            else:
                break
        hull.append(j)
    return order[np.asarray(hull, dtype=int)]


def best_bundles_one_dimensional(
    theta: np.ndarray, u: np.ndarray, payment: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each type's best utility ``max_k theta_i u_k - t_k`` and the bundle attaining it.

    The envelope's line at ``theta_i`` and its two neighbours are evaluated exactly as
    the pairwise check does (``theta_i * u_k - t_k``) and the largest taken, ties to the
    smallest bundle index, so rounding at a kink (a binding IC: two bundles equally
    good) resolves as ``np.argmax`` over all bundles would.
    """
    theta = np.asarray(theta, float)
    u = np.asarray(u, float)
    t = np.asarray(payment, float)
    n = len(t)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=int)
    hull = _upper_envelope(u, -t)  # identical bundles: the first index stands for all
    m, c = u[hull], -t[hull]
    # line j is on top for theta between its meeting points with lines j - 1 and j + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = (c[:-1] - c[1:]) / (m[1:] - m[:-1])
    at = np.searchsorted(kinks, theta)
    best_val = np.full(n, -np.inf)
    best_idx = np.zeros(n, dtype=int)
    for shift in (-1, 0, 1):
        j = np.clip(at + shift, 0, len(hull) - 1)
        k = hull[j]
        val = theta * u[k] - t[k]
        better = (val > best_val) | ((val == best_val) & (k < best_idx))
        best_val = np.where(better, val, best_val)
        best_idx = np.where(better, k, best_idx)
    return best_val, best_idx
