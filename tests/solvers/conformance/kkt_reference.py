"""First-order optimality of a loaded solution, checked from the model alone.

The reference for Pyomo's test models where the installed Pyomo ships no stored
results: a point is accepted when it is feasible and the objective's gradient is a
combination of the active constraints' and bounds' gradients with multipliers of
the right sign (found here by bounded least squares, independently of the
solver). Where the model has IMPORT ``dual``/``rc`` suffixes, the solver's own
multipliers must satisfy the same conditions: stationarity, sign, and zero on
inactive rows and bounds. For the LPs and convex QPs among the models this
certifies a global optimum; for a nonconvex QCP, a first-order point, which is
what Ipopt promises.

Sign convention (Ipopt's AMPL driver, Pyomo's): ``dual`` and ``rc`` are the
derivatives of the optimal objective with respect to a bound, so that
``grad f = sum(dual_i grad g_i) + rc`` and, when minimizing, they are >= 0 on
active lower bounds and <= 0 on active upper bounds (reversed when maximizing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyomo.core.base.constraint import Constraint
from pyomo.core.base.objective import Objective
from pyomo.core.expr.calculus.derivatives import Modes, differentiate
from pyomo.core.expr.visitor import identify_variables
from pyomo.environ import maximize, value
from scipy.optimize import lsq_linear

__all__ = ["kkt_failures"]

#: feasibility and activity tolerance (Ipopt stops within 1e-8 of a bound)
FEAS_TOL = 1e-6
#: relative tolerance of stationarity and sign conditions
KKT_TOL = 1e-5


def _num(x: Any) -> float | None:
    v = None if x is None else value(x)
    return None if v is None or math.isinf(v) else float(v)


def _suffix(model: Any, name: str) -> Any:
    suffix = getattr(model, name, None)
    return suffix if suffix is not None and hasattr(suffix, "get") else None


def kkt_failures(model: Any) -> list[str]:
    """What keeps the values loaded in `model` from being a KKT point (empty: none)."""
    objectives = list(model.component_data_objects(Objective, active=True, descend_into=True))
    cons = list(model.component_data_objects(Constraint, active=True, descend_into=True))
    failures: list[str] = []
    exprs = [o.expr for o in objectives] + [c.body for c in cons]
    variables: dict[int, Any] = {}
    for e in exprs:
        for v in identify_variables(e, include_fixed=False):
            variables.setdefault(id(v), v)
    xs = list(variables.values())
    col = {id(v): j for j, v in enumerate(xs)}
    if any(v.value is None for v in xs):
        return [f"no value loaded for {v.name}" for v in xs if v.value is None]

    def grad(expr: Any) -> np.ndarray:
        out = np.zeros(len(xs))
        used = [v for v in identify_variables(expr, include_fixed=False)]
        if used:
            for v, d in zip(
                used, differentiate(expr, wrt_list=used, mode=Modes.reverse_numeric), strict=True
            ):
                out[col[id(v)]] += float(d)
        return out

    sense = 1.0
    g_f = np.zeros(len(xs))
    if objectives:
        (obj,) = objectives
        sense = -1.0 if obj.sense == maximize else 1.0
        g_f = grad(obj.expr)

    # rows: gradient, whether active at lower/upper, and for reporting the component
    rows: list[tuple[Any, np.ndarray, bool, bool, bool]] = []
    for c in cons:
        val = float(value(c.body))
        lo, hi = _num(c.lb), _num(c.ub)
        if lo is None and hi is None:
            continue  # a free row constrains nothing (and no writer sends it)
        if lo is not None and val < lo - FEAS_TOL * max(1.0, abs(lo)):
            failures.append(f"{c.name}: {val} below its lower bound {lo}")
        if hi is not None and val > hi + FEAS_TOL * max(1.0, abs(hi)):
            failures.append(f"{c.name}: {val} above its upper bound {hi}")
        at_lo = lo is not None and abs(val - lo) <= FEAS_TOL * max(1.0, abs(lo))
        at_hi = hi is not None and abs(val - hi) <= FEAS_TOL * max(1.0, abs(hi))
        rows.append((c, grad(c.body), at_lo, at_hi, False))
    for j, v in enumerate(xs):
        e = np.zeros(len(xs))
        e[j] = 1.0
        lo, hi = _num(v.lb), _num(v.ub)
        x = float(v.value)
        if lo is not None and x < lo - FEAS_TOL * max(1.0, abs(lo)):
            failures.append(f"{v.name}: {x} below its lower bound {lo}")
        if hi is not None and x > hi + FEAS_TOL * max(1.0, abs(hi)):
            failures.append(f"{v.name}: {x} above its upper bound {hi}")
        at_lo = lo is not None and abs(x - lo) <= FEAS_TOL * max(1.0, abs(lo))
        at_hi = hi is not None and abs(x - hi) <= FEAS_TOL * max(1.0, abs(hi))
        rows.append((v, e, at_lo, at_hi, True))
    if failures:
        return failures

    def sign_bounds(at_lo: bool, at_hi: bool) -> tuple[float, float] | None:
        """Range of a multiplier: None when the row is inactive (multiplier 0)."""
        if at_lo and at_hi:
            return (-math.inf, math.inf)
        if at_lo:
            return (0.0, math.inf) if sense > 0 else (-math.inf, 0.0)
        if at_hi:
            return (-math.inf, 0.0) if sense > 0 else (0.0, math.inf)
        return None

    scale = max(1.0, float(np.max(np.abs(g_f), initial=0.0)))
    active = [(r, sign_bounds(lo, hi)) for r in rows for lo, hi in [(r[2], r[3])]]
    active = [(r, b) for r, b in active if b is not None]
    if active:
        a = np.column_stack([r[1] for r, _ in active])
        lb = np.array([b[0] for _, b in active])
        ub = np.array([b[1] for _, b in active])
        fit = lsq_linear(a, g_f, bounds=(lb, ub), method="bvls", tol=1e-12)
        resid = float(np.max(np.abs(a @ fit.x - g_f), initial=0.0))
    else:
        resid = float(np.max(np.abs(g_f), initial=0.0))
    if resid > KKT_TOL * scale:
        failures.append(f"not stationary: no multipliers of the right sign (residual {resid:g})")

    dual, rc = _suffix(model, "dual"), _suffix(model, "rc")
    if dual is not None or rc is not None:
        failures += _check_solver_multipliers(rows, g_f, sense, dual, rc, scale, sign_bounds)
    return failures


def _check_solver_multipliers(rows, g_f, sense, dual, rc, scale, sign_bounds) -> list[str]:
    """The solver's duals and reduced costs satisfy stationarity, sign and complementarity."""
    failures = []
    combo = np.zeros_like(g_f)
    for comp, g, at_lo, at_hi, is_var in rows:
        suffix = rc if is_var else dual
        if suffix is None:
            return failures  # half the multipliers: stationarity cannot be checked
        mult = suffix.get(comp)
        if mult is None:
            failures.append(f"{comp.name}: no {'rc' if is_var else 'dual'} reported")
            continue
        combo += mult * g
        bounds = sign_bounds(at_lo, at_hi)
        tol = KKT_TOL * scale
        if bounds is None and abs(mult) > tol:
            failures.append(f"{comp.name}: multiplier {mult} on an inactive row or bound")
        elif bounds is not None and not (bounds[0] - tol <= mult <= bounds[1] + tol):
            failures.append(f"{comp.name}: multiplier {mult} has the wrong sign")
    resid = float(np.max(np.abs(combo - g_f), initial=0.0))
    if resid > KKT_TOL * scale:
        failures.append(f"the solver's duals and rc are not stationary (residual {resid:g})")
    return failures
