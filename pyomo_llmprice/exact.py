"""The exact method for one-dimensional screening: ironing plus a pointwise maximum.

When every type reduces to one index theta and values are ``theta * u`` for a
characteristic ``u`` whose least cost ``C(u)`` is convex, the seller's problem over
all IC and IR pairs is exactly ``max sum_i f_i (phi_i u_i - C(u_i))`` over
nondecreasing ``u`` (discrete virtual values ``phi``, payments from binding adjacent
downward IC and the lowest type's IR). Its solution is the pointwise maximizer at the
weighted isotonic regression of ``phi`` (ironing; Robertson, Wright & Dykstra 1988,
Thm 1.5.1). That is O(N log N) in numpy, against an NLP whose KKT system MUMPS must
factor every iteration, and it is exact: no solver tolerance. The menu it returns goes
through the same published-number certificate as every NLP menu.

:func:`one_dimensional_problem` says whether a setting and an instance reduce (and
why not, in one line, when they do not); :func:`exact_menu` solves the reduced
problem. ``pyomo_llmprice.theory`` keeps an independent implementation (its own
pool-adjacent-violators loop) that the tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import isotonic_regression

from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.technology import CobbDouglas, Technology
from pyomo_llmprice.theory import AllocateFn, _pointwise, discrete_virtual_values

__all__ = [
    "ExactMenu",
    "NotOneDimensional",
    "OneDimensionalProblem",
    "exact_menu",
    "iron",
    "one_dimensional_problem",
    "pointwise_maximizer",
]

FloatArray = NDArray[np.float64]


class NotOneDimensional(ValueError):
    """The problem does not reduce to one type index (the message says why, in one line)."""


@dataclass(frozen=True)
class OneDimensionalProblem:
    """A screening problem reduced to one index: type i values ``theta[i] * u``.

    `allocate` is the pointwise maximizer of ``phi * u - C(u)`` (vectorized over phi),
    returning the characteristic u, its least cost and the bundle columns (tokens or
    goods) that deliver it, all in the instance's units.
    """

    theta: FloatArray
    prob: FloatArray
    allocate: AllocateFn
    characteristic: str  # what u is: "precision" or "quality"
    method: str  # how allocate maximizes: "closed form" or "safeguarded Newton"


@dataclass(frozen=True)
class ExactMenu:
    """The exact menu, per type in the instance's order (instance units)."""

    theta: FloatArray
    prob: FloatArray
    virtual_value: FloatArray
    ironed_virtual_value: FloatArray
    u: FloatArray
    payment: FloatArray
    cost: FloatArray
    bundle: dict[str, FloatArray] = field(default_factory=dict)
    method: str = "closed form"

    @property
    def profit(self) -> float:
        return float(self.prob @ (self.payment - self.cost))


# --------------------------------------------------------------------------------------
# The core: ironing, pointwise maximum, envelope payments
# --------------------------------------------------------------------------------------


def iron(phi: FloatArray, weight: FloatArray) -> FloatArray:
    """Weighted nondecreasing isotonic regression of `phi` (scipy's pool-adjacent-violators)."""
    return np.asarray(isotonic_regression(phi, weights=weight, increasing=True).x, float)


def exact_menu(problem: OneDimensionalProblem) -> ExactMenu:
    """Solve `problem` exactly: virtual values, ironing, pointwise maximum, payments.

    Types with equal theta are one buyer (one bundle); probabilities must be positive
    (the pipeline drops zero-probability types before any solve).
    """
    theta = np.asarray(problem.theta, float)
    prob = np.asarray(problem.prob, float)
    if theta.shape != prob.shape or theta.ndim != 1 or theta.size == 0:
        raise ValueError("theta and prob must be nonempty vectors of one length")
    if not (np.all(np.isfinite(theta)) and np.all(prob > 0)):
        raise ValueError("theta must be finite and every probability positive")
    prob = prob / prob.sum()
    levels, inverse = np.unique(theta, return_inverse=True)
    inverse = inverse.ravel()
    f = np.bincount(inverse, weights=prob, minlength=levels.size)
    phi = discrete_virtual_values(levels, f)
    phi_bar = iron(phi, f)
    # phi is a difference of O(theta) terms: rounding noise around an exact zero (a type
    # whose virtual value is exactly 0) is snapped so that exclusion is deterministic.
    noise = 64 * np.finfo(float).eps * float(np.abs(levels).max())
    phi_bar = np.where(np.abs(phi_bar) <= noise, 0.0, phi_bar)
    u, cost, bundle = problem.allocate(phi_bar)
    u = np.asarray(u, float)
    if np.any(np.diff(u) < -1e-9 * max(1.0, float(np.abs(u).max(initial=0.0)))):
        raise ValueError("the pointwise maximizer is not nondecreasing in phi: is C convex?")
    # Envelope payments: the lowest level's IR and every adjacent downward IC bind.
    rent = np.concatenate([[0.0], np.cumsum(np.diff(levels) * u[:-1])])
    payment = levels * u - rent
    return ExactMenu(
        theta=theta,
        prob=prob,
        virtual_value=phi[inverse],
        ironed_virtual_value=phi_bar[inverse],
        u=u[inverse],
        payment=payment[inverse],
        cost=np.asarray(cost, float)[inverse],
        bundle={k: np.asarray(v, float)[inverse] for k, v in bundle.items()},
        method=problem.method,
    )


def pointwise_maximizer(
    cost_of: Callable[[FloatArray], FloatArray],
    lower: float,
    upper: float | None,
    iterations: int = 100,
) -> Callable[[FloatArray], FloatArray]:
    """Vectorized maximizer of ``phi * q - K(q)`` over ``[lower, upper]`` for convex K.

    Safeguarded Newton on ``K'(q) = phi`` (derivatives by central differences): each
    type keeps a bracket ``[lo, hi]`` on which K' - phi changes sign and falls back to
    bisection whenever the Newton step leaves it, so it converges for any convex K,
    smooth or not; at the bounds the one-sided optimality conditions decide.
    """

    def slope(q: FloatArray) -> FloatArray:
        h = 1e-6 * np.maximum(1.0, np.abs(q))
        lo_q = np.maximum(q - h, lower)
        hi_q = q + h if upper is None else np.minimum(q + h, upper)
        return (cost_of(hi_q) - cost_of(lo_q)) / (hi_q - lo_q)

    def solve(phi: FloatArray) -> FloatArray:
        phi = np.asarray(phi, float)
        q = np.full(phi.shape, float(lower))
        inside = slope(q) < phi  # at the lower bound, more pays: an interior optimum
        if not inside.any():
            return q
        p = phi[inside]
        lo = np.full(p.shape, float(lower))
        span = 1.0
        top = lo + span if upper is None else np.full(p.shape, float(upper))
        if upper is None:  # grow the bracket until K' exceeds phi
            for _ in range(200):
                short = slope(top) < p
                if not short.any():
                    break
                lo = np.where(short, top, lo)
                top = np.where(short, lower + 2 * (top - lower), top)
        else:
            top = np.nextafter(top, lo)  # K may be infinite at the bound (saturating)
        hi = top
        x = 0.5 * (lo + hi)
        for _ in range(iterations):
            g = slope(x) - p
            lo = np.where(g < 0, x, lo)
            hi = np.where(g < 0, hi, x)
            h = 1e-4 * np.maximum(1e-8, hi - lo)
            curv = (slope(x + h) - slope(x - h)) / (2 * h)
            with np.errstate(all="ignore"):
                step = x - g / curv
            ok = np.isfinite(step) & (step > lo) & (step < hi) & (curv > 0)
            new = np.where(ok, step, 0.5 * (lo + hi))
            if np.all(np.abs(new - x) <= 1e-15 * np.maximum(1.0, np.abs(x))):
                x = new
                break
            x = new
        q[inside] = x
        return q

    return solve


# --------------------------------------------------------------------------------------
# Reductions: which settings and instances are one-dimensional
# --------------------------------------------------------------------------------------


def _token_allocate(technology: Technology, measure: float, per_task: bool) -> AllocateFn:
    """Pointwise token bundle for value ``phi * u(x, y, z)`` and cost ``m (c_x x + c_y y) + c_z z``.

    ``measure`` m scales the per-task tokens (one task of measure m, or one scale level);
    Token Packages is m = 1. Cobb-Douglas has the closed form of docs/model.md section 3.
    """
    cx, cy, cz = technology.cost_input, technology.cost_output, technology.cost_finetune
    if not isinstance(technology.precision, CobbDouglas):
        return _newton_token_allocate(technology, measure, per_task)
    tech = replace(technology, cost_input=measure * cx, cost_output=measure * cy)

    def allocate(phi: FloatArray) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        x, y, z, u = _pointwise(phi, tech, None)
        cost = measure * (cx * x + cy * y) + cz * z
        cols = {"X": measure * x, "Y": measure * y, "Z": z}
        if per_task:
            cols.update(x=x, y=y)
        return u, cost, cols

    return allocate


def _newton_token_allocate(technology: Technology, measure: float, per_task: bool) -> AllocateFn:
    """Pointwise token bundle for a user precision function (no closed form): a vectorized
    safeguarded Newton on ``phi u(x, y, z) - m (c_x x + c_y y) - c_z z`` in ``(ln x, ln y,
    ln(1 + z))`` (steps relative to the tokens, which stay positive; fine-tuning is held at
    its bound 0 while its derivative there is negative), derivatives by central
    differences, each step backtracked until the objective rises (a gradient step where the
    Hessian is not negative definite). The precision function must be concave in tokens,
    as the screening problem needs."""
    from pyomo_llmprice.certificate import precision_of_tokens

    prices = np.array(
        [
            measure * technology.cost_input,
            measure * technology.cost_output,
            technology.cost_finetune,
        ]
    )

    def objective(phi: FloatArray, v: FloatArray) -> FloatArray:
        x, y, z = np.exp(v[:, 0]), np.exp(v[:, 1]), np.expm1(np.maximum(v[:, 2], 0.0))
        u = precision_of_tokens(technology, x, y, z)
        return phi * u - prices[0] * x - prices[1] * y - prices[2] * z

    def gradient(phi: FloatArray, v: FloatArray, h: float = 1e-6) -> FloatArray:
        g = np.empty_like(v)
        for j in range(3):
            e = np.zeros(3)
            e[j] = h
            lo = v - e
            if j == 2:  # one-sided at the fine-tuning bound
                lo[:, 2] = np.maximum(lo[:, 2], 0.0)
            g[:, j] = (objective(phi, v + e) - objective(phi, lo)) / (v[:, j] + h - lo[:, j])
        return g

    def solve(phi: FloatArray) -> FloatArray:
        phi = np.asarray(phi, float)
        v = np.zeros((phi.size, 3))
        on = phi > 0
        p, w = phi[on], v[on]
        for _ in range(200):
            g = gradient(p, w)
            free_z = (w[:, 2] > 0) | (g[:, 2] > 0)
            g[~free_z, 2] = 0.0
            hess = np.empty((p.size, 3, 3))
            for k in range(3):  # differences of the gradient (forward at the z bound)
                e = np.zeros(3)
                e[k] = 1e-4
                lo = w - e
                if k == 2:
                    lo[:, 2] = np.maximum(lo[:, 2], 0.0)
                span = (w[:, k] + 1e-4 - lo[:, k])[:, None]
                hess[:, :, k] = (gradient(p, w + e) - gradient(p, lo)) / span
            hess = 0.5 * (hess + np.transpose(hess, (0, 2, 1)))
            hess[~free_z, 2, :] = 0.0
            hess[~free_z, :, 2] = 0.0
            hess[~free_z, 2, 2] = -1.0
            # a token the precision ignores has no curvature once it is negligible: a tiny
            # shift keeps every system solvable (a negative definite Hessian stays one)
            shift = 1e-12 * (1.0 + np.abs(hess).max(axis=(1, 2)))
            with np.errstate(all="ignore"):
                step = -np.linalg.solve(hess - shift[:, None, None] * np.eye(3), g[:, :, None])
            step = step[:, :, 0]
            ascent = np.einsum("ij,ij->i", step, g) > 0
            bad = ~ascent | ~np.all(np.isfinite(step), axis=1)
            step[bad] = g[bad] / np.maximum(1.0, np.abs(g[bad]).max(axis=1, keepdims=True))
            base = objective(p, w)
            alpha = np.ones(p.size)
            for _ in range(40):
                trial = w + alpha[:, None] * step
                trial[:, 2] = np.maximum(trial[:, 2], 0.0)
                worse = objective(p, trial) < base
                if not worse.any():
                    break
                alpha = np.where(worse, 0.5 * alpha, alpha)
            new = w + alpha[:, None] * step
            new[:, 2] = np.maximum(new[:, 2], 0.0)
            moved = np.abs(new - w).max(initial=0.0)
            w = new
            if moved < 1e-12:
                break
        v[on] = w
        x = np.where(on, np.exp(v[:, 0]), 0.0)
        y = np.where(on, np.exp(v[:, 1]), 0.0)
        return np.column_stack([x, y, np.where(on, np.expm1(v[:, 2]), 0.0)])

    def allocate(phi: FloatArray) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        x, y, z = solve(phi).T
        u = np.where(phi > 0, precision_of_tokens(technology, x, y, z), 0.0)
        cols = {"X": measure * x, "Y": measure * y, "Z": z}
        if per_task:
            cols.update(x=x, y=y)
        return u, prices @ np.vstack([x, y, z]), cols

    return allocate


def _packages(instance: Instance) -> OneDimensionalProblem:
    tech = instance.technology
    if instance.types.kind != "theta" and not isinstance(tech.precision, CobbDouglas):
        raise NotOneDimensional("a user precision function has no type index here")
    theta = np.asarray(instance.types.index(tech.precision), float)
    return OneDimensionalProblem(
        theta,
        np.asarray(instance.types.prob, float),
        _token_allocate(tech, 1.0, per_task=False),
        "precision",
        _token_method(tech),
    )


def _allocations(instance: Instance) -> OneDimensionalProblem:
    types, tech = instance.types, instance.technology
    prob = np.asarray(types.prob, float)
    if types.kind == "tasks":
        mu = np.asarray(types.task_measure, float)
        carried = np.flatnonzero(mu > 0)
        if carried.size != 1:
            raise NotOneDimensional(
                f"Token Allocations with {carried.size} tasks of positive measure is "
                "multidimensional (one task reduces to one index)"
            )
        j = int(carried[0])
        m = float(mu[j])
        theta = m * np.asarray(types.value, float)[:, j]
    elif types.kind == "value_scale":
        scales = np.unique(np.asarray(types.scale, float))
        if scales.size != 1 or not scales[0] > 0:
            raise NotOneDimensional(
                "value-scale Token Allocations with the scale constraint and several scales "
                "is multidimensional (one scale level reduces to one index)"
            )
        m = float(scales[0])
        theta = m * np.asarray(types.value_per_task, float)
    else:
        raise NotOneDimensional("Token Allocations needs labeled tasks or value-scale types")
    return OneDimensionalProblem(
        theta, prob, _token_allocate(tech, m, per_task=True), "precision", _token_method(tech)
    )


def _token_method(technology: Technology) -> str:
    closed = isinstance(technology.precision, CobbDouglas)
    return "closed form" if closed else "safeguarded Newton"


def _screening_closed_form(value: Any, cost: Any, lower: float) -> Callable | None:
    """phi -> optimal quality for the built-in value and cost forms (None: no closed form)."""
    from scipy.special import lambertw

    from pyomo_llmprice.blocks.forms import (
        LinearCost,
        LinearValue,
        PowerValue,
        QuadraticCost,
        SaturatingValue,
    )

    if isinstance(value, LinearValue) and isinstance(cost, QuadraticCost):
        return lambda phi: np.maximum(phi / cost.coef, lower)
    if isinstance(value, PowerValue) and isinstance(cost, (LinearCost, QuadraticCost)):
        e = value.exponent
        # K(q) = c q^(1/e) (linear) or c/2 q^(2/e) (quadratic): K'(q) = phi in closed form
        k = 1.0 / e if isinstance(cost, LinearCost) else 2.0 / e
        scale = cost.coef if isinstance(cost, LinearCost) else 0.5 * cost.coef
        return lambda phi: (np.maximum(phi, 0.0) / (scale * k)) ** (1.0 / (k - 1.0))
    if isinstance(value, SaturatingValue) and isinstance(cost, LinearCost):
        r, c = value.rate, cost.coef
        return lambda phi: np.where(phi > c / r, 1.0 - c / (r * np.where(phi > 0, phi, 1)), 0.0)
    if isinstance(value, SaturatingValue) and isinstance(cost, QuadraticCost):
        r, c = value.rate, cost.coef
        # goods y with c y e^(r y) = phi r: y = W(phi r^2 / c) / r (Lambert W)
        return lambda phi: np.where(
            phi > 0,
            1.0 - np.exp(-np.real(lambertw(np.maximum(phi, 0.0) * r * r / c))),
            0.0,
        )
    if isinstance(value, LinearValue) and isinstance(cost, LinearCost):
        raise NotOneDimensional(
            "a linear value with a linear cost has no finite optimum (a type whose "
            "virtual value exceeds the marginal cost wants unlimited goods)"
        )
    return None


def _screening(instance: ScreeningInstance, value: Any, cost: Any, nonneg: bool):
    theta = np.asarray(instance.theta, float)
    if theta.shape[1] != 1:
        raise NotOneDimensional(
            f"screening with {theta.shape[1]} dimensions is multidimensional "
            "(the exact method needs one)"
        )
    lo, hi = value.quality_bounds(nonneg)
    lower = -np.inf if lo is None else float(lo)
    closed = _screening_closed_form(value, cost, lower)
    method = "closed form"
    if closed is None:
        if lo is None:
            raise NotOneDimensional("a custom form without a lower quality bound")
        method = "safeguarded Newton"

        def cost_of(q: FloatArray) -> FloatArray:
            return np.asarray(cost([value.good(q, np)], np), float)

        closed = pointwise_maximizer(cost_of, float(lo), hi)

    def allocate(phi: FloatArray) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        q = np.asarray(closed(phi), float)
        with np.errstate(divide="ignore"):
            good = np.asarray(value.good(q, np), float)
        return q, np.asarray(cost([good], np), float), {"good": good}

    return OneDimensionalProblem(
        theta[:, 0], np.asarray(instance.prob, float), allocate, "quality", method
    )


def one_dimensional_problem(
    instance: Instance | ScreeningInstance,
    setting: str,
    value: Any = None,
    cost: Any = None,
    nonnegative: bool | None = None,
) -> OneDimensionalProblem:
    """The one-index reduction of `instance` in `setting`, or :class:`NotOneDimensional`.

    Token Packages: theta is the type index (the CES aggregate of task values, ``w
    s^(1-alpha-beta)`` for value-scale types). Token Allocations: one task of positive
    measure, or value-scale types of one scale level (theta = measure times the task
    value, tokens per task). Screening: one dimension (value ``theta h(y)`` is linear in
    theta); `value`, `cost` and `nonnegative` override the instance's forms (a block's
    custom rules).
    """
    if setting == "packages":
        return _packages(instance)
    if setting == "allocations":
        return _allocations(instance)
    if setting == "screening":
        from pyomo_llmprice.blocks.forms import cost_form, value_form

        inst = instance
        value = value or value_form(inst.value_form, inst.value_exponent, inst.value_rate)
        cost = cost or cost_form(inst.cost_form, inst.cost_coef)
        nonneg = inst.nonnegative if nonnegative is None else nonnegative
        return _screening(inst, value, cost, nonneg)
    raise NotOneDimensional(f"setting {setting!r} has no one-dimensional reduction")


# --------------------------------------------------------------------------------------
# The published menu: the same certificate and plans as every other door
# --------------------------------------------------------------------------------------


def _published_columns(
    instance: Instance | ScreeningInstance, setting: str, menu: ExactMenu
) -> dict[str, FloatArray]:
    """The bundle columns the setting publishes (the NLP read-back's, in instance units)."""
    b = menu.bundle
    if setting == "screening":
        return {f"good_{instance.dims[0]}": b["good"]}
    cols = {"input_tokens": b["X"], "output_tokens": b["Y"], "finetune_tokens": b["Z"]}
    if setting == "allocations":
        types = instance.types
        if types.kind == "tasks":
            carried = np.asarray(types.task_measure, float) > 0
            for task, on in zip(types.tasks, carried, strict=True):
                cols[f"input_per_task_{task}"] = b["x"] if on else np.zeros_like(b["x"])
                cols[f"output_per_task_{task}"] = b["y"] if on else np.zeros_like(b["y"])
        else:
            cols["covered_scale"] = np.asarray(types.scale, float).copy()
            cols["input_per_task"] = b["x"]
            cols["output_per_task"] = b["y"]
    return cols


def solve_exact(
    instance: Instance | ScreeningInstance,
    setting: str,
    problem: OneDimensionalProblem | None = None,
    tolerance: float = 1e-6,
    publication: Any = None,
    time_limit: Any = None,
) -> Any:
    """The exact menu of `instance` (types of probability 0 already dropped), certified
    on all pairs and priced by :func:`pyomo_llmprice.result.certify_menu`, as a
    :class:`~pyomo_llmprice.result.MenuResult` with solver ``"exact"``.

    `time_limit` (seconds, or the command's :class:`~pyomo_llmprice.limits.Deadline`) is
    checked once the menu is computed: past it, the menu is the last point of a run with
    status ``time_limit`` (certified, its tariffs withheld), as an NLP stopped by it.

    Raises :class:`NotOneDimensional` when the problem does not reduce.
    """
    import time

    from pyomo_llmprice.limits import as_deadline
    from pyomo_llmprice.result import certify_menu

    start = time.perf_counter()
    deadline = as_deadline(time_limit)
    problem = problem or one_dimensional_problem(instance, setting)
    menu = exact_menu(problem)
    late = deadline is not None and deadline.expired()
    if publication is not None:
        publication = publication(menu)
    result = certify_menu(
        instance,
        setting,
        _published_columns(instance, setting, menu),
        menu.payment,
        outcome="time_limit" if late else "optimal",
        termination=("time limit reached; " if late else "") + f"exact ({problem.method})",
        solver="exact",
        iterations=0,
        tolerance=tolerance,
        publication=publication,
    )
    result.wall_time = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------------------
# Choosing the method: --method exact | nlp | auto
# --------------------------------------------------------------------------------------

#: ``auto``: exact where the problem reduces to one index, Ipopt elsewhere
METHODS = ("auto", "exact", "nlp")


class ExactMethodWarning(UserWarning):
    """The exact method was asked for and does not apply: the NLP path runs instead."""


def check_method(method: str) -> str:
    """`method` if it is one of :data:`METHODS`, else a one-line error."""
    from pyomo_llmprice.errors import UserInputError

    if method not in METHODS:
        raise UserInputError(f"method: unknown method {method!r}; one of {', '.join(METHODS)}")
    return method


def _block_problem(block: Any) -> tuple[Any, OneDimensionalProblem, Any]:
    """(source instance, reduction, publication or None) of a built screening block, or
    :class:`NotOneDimensional` if the model holds anything the reduction cannot take."""
    import pyomo.environ as pyo

    added = block.added_constraints()
    if added:
        names = ", ".join(added[:3]) + (", ..." if len(added) > 3 else "")
        raise NotOneDimensional(f"the model has constraints of its own ({names})")
    objective = block.objective_not_own()
    if objective is not None:
        raise NotOneDimensional(objective)
    changed = [v.name for v in block.changed_variables()]
    if changed:
        names = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
        raise NotOneDimensional(f"the model fixes or bounds variables of its own ({names})")
    source = block.source_instance
    labels = list(block.types)
    prob = np.array([pyo.value(block.prob[k]) for k in labels], float)
    given = np.asarray(source.types.prob if isinstance(source, Instance) else source.prob)
    if not np.allclose(prob / prob.sum(), given / given.sum(), rtol=1e-12, atol=0.0):
        raise NotOneDimensional("the model's probabilities were changed after it was built")
    tech = getattr(block, "technology", None)
    if tech is not None:
        now = [pyo.value(block.cost_input), pyo.value(block.cost_output)]
        now.append(pyo.value(block.cost_finetune))
        built = [tech.cost_input, tech.cost_output, tech.cost_finetune]
        if not np.allclose(now, built, rtol=1e-12, atol=0.0):
            raise NotOneDimensional("the model's token costs were changed after it was built")
    if block.setting != "screening":
        return source, one_dimensional_problem(source, block.setting), None
    value, cost = block.value_form, block.cost_form
    problem = one_dimensional_problem(source, "screening", value, cost, block.nonnegative)
    publication = None
    if block.config["value"] is not None or block.config["cost"] is not None:  # user rules
        publication = _form_publication(source, value, cost)
    return source, problem, publication


def _form_publication(source: ScreeningInstance, value: Any, cost: Any) -> Callable:
    """A block's own value and cost forms (user rules) as the certificate's publication."""
    from pyomo_llmprice.certificate import Publication, screening_values

    theta = np.asarray(source.theta, float)

    def publish(menu: ExactMenu) -> Any:
        quality = menu.u[:, None]
        if getattr(value, "quality", None) is not None:
            quality = np.asarray(value.quality(menu.bundle["good"][:, None], np), float)
        seller = np.asarray(cost([menu.bundle["good"]], np), float)
        return Publication(screening_values(theta, quality), seller, theta, {"theta": theta[:, 0]})

    return publish


def _refused(where: str, method: str, why: Exception) -> None:
    if method == "exact":
        import warnings

        warnings.warn(
            f"{where}: method exact does not apply ({why}); solving the NLP instead",
            ExactMethodWarning,
            stacklevel=3,
        )


def solve_block_exactly(block: Any, method: str, tolerance: float = 1e-6) -> Any:
    """The exact MenuResult of a built block when `method` allows it and it applies;
    None when the NLP must run (with one :class:`ExactMethodWarning` line if ``exact``
    was asked for)."""
    if check_method(method) == "nlp":
        return None
    try:
        source, problem, publication = _block_problem(block)
    except NotOneDimensional as why:
        _refused(block._where(), method, why)
        return None
    return solve_exact(source, block.setting, problem, tolerance, publication)


def solve_instance_exactly(
    instance: Instance | ScreeningInstance,
    setting: str,
    method: str,
    tolerance: float = 1e-6,
    time_limit: Any = None,
) -> Any:
    """The exact MenuResult of `instance` in `setting` without building a Pyomo model, or
    None when the NLP must run (as :func:`solve_block_exactly`)."""
    from pyomo_llmprice.instance import without_zero_probability
    from pyomo_llmprice.settings import check_setting

    if check_method(method) == "nlp":
        return None
    check_setting(instance, setting)
    try:
        one_dimensional_problem(instance, setting)
    except NotOneDimensional as why:
        _refused(instance.path or instance.name, method, why)
        return None
    source = without_zero_probability(instance)
    problem = one_dimensional_problem(source, setting)
    return solve_exact(source, setting, problem, tolerance, time_limit=time_limit)
