"""Is a model Ipopt gave up on infeasible? A phase-1 solve that minimizes the violation.

Ipopt's own verdicts are local and sometimes misleading: on an infeasible LP it may
report ``Diverging_Iterates`` (taken for unbounded). Minimizing the total violation
``sum(p + n)`` subject to ``lb <= g(x) + p - n <= ub`` and the variable bounds
settles it: with linear constraints this problem is an LP, so a positive optimum
proves infeasibility; with nonlinear ones it is a local answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .evaluator import NLPEvaluator

__all__ = ["MinViolation", "minimum_violation"]


class _Phase1:
    """cyipopt callbacks of the violation problem in z = (x, p, n), built on `ev`'s."""

    def __init__(self, ev: NLPEvaluator) -> None:
        self.ev = ev
        n, m = ev.n, ev.m
        self.n, self.m = n, m
        rows, cols = ev.jacobianstructure()
        ar = np.arange(m)
        self._jrows = np.concatenate([rows, ar, ar])
        self._jcols = np.concatenate([cols, n + ar, n + m + ar])
        self._ones = np.ones(m)

    def objective(self, z: np.ndarray) -> float:
        return float(np.sum(z[self.n :]))

    def gradient(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n + 2 * self.m)
        out[self.n :] = 1.0
        return out

    def constraints(self, z: np.ndarray) -> np.ndarray:
        n, m = self.n, self.m
        return self.ev.constraints(z[:n]) + z[n : n + m] - z[n + m :]

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self._jrows, self._jcols

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        return np.concatenate([self.ev.jacobian(z[: self.n]), self._ones, -self._ones])

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ev.hessianstructure()

    def hessian(self, z: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        return self.ev.hessian(z[: self.n], lagrange, 0.0)  # the violation is linear


@dataclass(frozen=True)
class MinViolation:
    """Outcome of the phase-1 solve."""

    violation: float  # least total violation found (inf when the solve failed)
    proven: bool  # the violation problem is an LP solved to optimality: a global answer


def _linear_constraints(ev: NLPEvaluator) -> bool:
    """No constraint row has a second derivative (structurally)."""
    return all(len(g.hess_local[0]) == 0 for g in ev.groups)


def minimum_violation(ev: NLPEvaluator, x_start: np.ndarray, tol: float) -> MinViolation:
    """Least total constraint violation reachable within the variable bounds."""
    import cyipopt

    n, m = ev.n, ev.m
    if m == 0:
        return MinViolation(0.0, True)
    # start from Ipopt's last iterate unless it diverged (from 1e20 the LP fails too)
    usable = np.all(np.isfinite(x_start)) and np.max(np.abs(x_start), initial=0.0) <= 1e8
    x = np.clip(x_start if usable else ev.x0, ev.x_lb, ev.x_ub)
    g = ev.constraints(x)
    p0 = np.maximum(ev.g_lb - g, 0.0)
    n0 = np.maximum(g - ev.g_ub, 0.0)
    problem = cyipopt.Problem(
        n=n + 2 * m,
        m=m,
        problem_obj=_Phase1(ev),
        lb=np.concatenate([ev.x_lb, np.zeros(2 * m)]),
        ub=np.concatenate([ev.x_ub, np.full(2 * m, math.inf)]),
        cl=ev.g_lb,
        cu=ev.g_ub,
    )
    for name, val in (
        ("sb", "yes"),
        ("print_level", 0),
        ("tol", min(tol, 1e-8) / 10),
        ("mumps_pivot_order", 0),
    ):
        problem.add_option(name, val)
    z, info = problem.solve(np.concatenate([x, p0, n0]))
    problem.close()
    if info["status"] not in (0, 1):
        return MinViolation(math.inf, False)
    return MinViolation(float(np.sum(z[n:])), _linear_constraints(ev))
