"""Closed forms and pure-numpy reference solutions of the screening problems.

This is the package's independent check on the Pyomo/Ipopt models: everything here is
derived by hand from the model (pointwise optimum, discrete virtual values, ironing by
pool-adjacent-violators, the paper's worked example, textbook benchmarks) and uses
numpy/scipy only, so a bug in a model cannot hide in a code path the check shares.

Discrete one-dimensional screening with value ``theta * u`` and a convex cost ``C(u)``
reduces exactly to the separable problem ``max sum_i f_i (phi_i u_i - C(u_i))`` over
nondecreasing ``u`` (discrete virtual values ``phi``); its solution is the pointwise
optimum at the weighted isotonic regression of ``phi`` (ironing), because the objective
is a Bregman divergence of ``C*`` between ``phi`` and ``C'(u)`` up to a constant
(Robertson, Wright & Dykstra 1988, Thm 1.5.1). No numerical optimizer is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .technology import Technology

__all__ = [
    "PAPER_ALLOCATIONS_CONSUMER_SURPLUS",
    "PAPER_ALLOCATIONS_COST",
    "PAPER_ALLOCATIONS_PROFIT",
    "PAPER_ALLOCATIONS_REVENUE",
    "PAPER_PACKAGES_CONSUMER_SURPLUS",
    "PAPER_PACKAGES_COST",
    "PAPER_PACKAGES_FIRST_BEST_WELFARE",
    "PAPER_PACKAGES_PROFIT",
    "PAPER_PACKAGES_REVENUE",
    "PAPER_PACKAGES_WELFARE",
    "DiscreteMenu",
    "PackagePlans",
    "QuantityDiscount",
    "ScreeningBenchmark",
    "ValueScaleMenu",
    "allocations_value_scale_discrete",
    "discrete_optimal_menu",
    "discrete_optimal_menu_generic",
    "discrete_virtual_values",
    "iron",
    "max_cross_scale_ic_violation",
    "max_ic_violation",
    "min_cost",
    "mussa_rosen",
    "paper_packages",
    "paper_type_density",
    "paper_virtual_value",
    "pointwise_bundle",
    "pointwise_precision",
    "quantity_discount",
    "two_part_tariff",
    "two_type_saturating",
]

FloatArray = NDArray[np.float64]
AllocateFn = Callable[[FloatArray], tuple[FloatArray, FloatArray, dict[str, FloatArray]]]

# Rows per chunk in the all-pairs checks: bounds memory at about this many * N floats.
_CHUNK_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------------------
# 1. Pointwise optimum of the Cobb-Douglas technology (docs/model.md section 3)
# --------------------------------------------------------------------------------------


def _costs(technology: Technology, cost_finetune: float | None) -> tuple[float, float, float]:
    """Token costs, with the fine-tuning cost optionally overridden (value-scale: c_z / s)."""
    cz = technology.cost_finetune if cost_finetune is None else float(cost_finetune)
    if not cz > 0:
        raise ValueError(f"cost_finetune must be positive, got {cz}")
    return technology.cost_input, technology.cost_output, cz


def _theta_hat(technology: Technology, cost_finetune: float | None) -> float:
    """Fine-tuning threshold on the virtual value for the (possibly overridden) c_z."""
    p = technology.cobb_douglas_precision
    cx, cy, cz = _costs(technology, cost_finetune)
    a, b = p.alpha, p.beta
    return (
        p.base_quality ** (1 - p.sigma)
        * (cx / a) ** a
        * (cy / b) ** b
        * (cz / p.gamma) ** (1 - a - b)
    )


def _pointwise(
    phi: ArrayLike, technology: Technology, cost_finetune: float | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Closed-form maximizer of `phi * u(X, Y, Z) - cost`, plus the precision it delivers."""
    p = technology.cobb_douglas_precision
    cx, cy, cz = _costs(technology, cost_finetune)
    a, b, g, bq, sig = p.alpha, p.beta, p.gamma, p.base_quality, p.sigma
    rho = a + b
    phi = np.asarray(phi, dtype=float)
    served = phi > 0
    ph = np.where(served, phi, 0.0)
    k0 = (a / cx) ** a * (b / cy) ** b
    # No fine-tuning: only X, Y move; V0 = X^a Y^b.
    v0 = (ph * bq**g) ** (rho / (1 - rho)) * k0 ** (1 / (1 - rho))
    # Fine-tuning: all three move; V = X^a Y^b (b + Z)^g.
    v1 = (ph**sig * k0 * (g / cz) ** g) ** (1 / (1 - sig))
    ft = phi > _theta_hat(technology, cost_finetune)
    x = np.where(ft, a * ph * v1 / cx, a * ph * bq**g * v0 / cx)
    y = np.where(ft, b * ph * v1 / cy, b * ph * bq**g * v0 / cy)
    z = np.where(ft, np.maximum(g * ph * v1 / cz - bq, 0.0), 0.0)
    u = np.where(ft, v1, v0 * bq**g)
    return x, y, z, u


def pointwise_bundle(
    phi: ArrayLike, technology: Technology, cost_finetune: float | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Tokens `(X, Y, Z)` maximizing `phi * X^a Y^b (b+Z)^g - c_x X - c_y Y - c_z Z`.

    Zero for `phi <= 0` (excluded), `Z = 0` for `0 < phi <= theta_hat`. `cost_finetune`
    replaces `c_z` (the value-scale problem per task has fine-tuning cost `c_z / s`).
    """
    x, y, z, _ = _pointwise(phi, technology, cost_finetune)
    return x, y, z


def pointwise_precision(
    phi: ArrayLike, technology: Technology, cost_finetune: float | None = None
) -> FloatArray:
    """Precision `X^a Y^b (b+Z)^g` of :func:`pointwise_bundle` (0 when excluded)."""
    return _pointwise(phi, technology, cost_finetune)[3]


def min_cost(
    u: ArrayLike, technology: Technology, cost_finetune: float | None = None
) -> FloatArray:
    """Seller's least cost of delivering precision `u` (convex; `C'(u) = phi` on the bundle path).

    For given `W = b + Z` the cheapest `(X, Y)` cost `(a+b) (u / (W^g K0))^(1/(a+b))`; that is
    convex in `W`, so the best `W` is the unconstrained minimizer clipped at `b` (no
    fine-tuning below the threshold).
    """
    p = technology.cobb_douglas_precision
    cx, cy, cz = _costs(technology, cost_finetune)
    a, b, g, bq, sig = p.alpha, p.beta, p.gamma, p.base_quality, p.sigma
    rho = a + b
    k0 = (a / cx) ** a * (b / cy) ** b
    u = np.maximum(np.asarray(u, dtype=float), 0.0)
    w_star = (g / cz) ** (rho / sig) * (u / k0) ** (1 / sig)
    w = np.maximum(bq, w_star)
    return rho * (u / (w**g * k0)) ** (1 / rho) + cz * (w - bq)


# --------------------------------------------------------------------------------------
# 2. Discrete one-dimensional screening
# --------------------------------------------------------------------------------------


def _as_1d(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries")
    return arr


def _check_sorted_positive(theta: FloatArray, prob: FloatArray) -> None:
    if theta.shape != prob.shape:
        raise ValueError(f"theta and prob differ in length ({theta.size} vs {prob.size})")
    if np.any(np.diff(theta) <= 0):
        raise ValueError("theta must be sorted and distinct (merge duplicates first)")
    if np.any(prob <= 0):
        raise ValueError("probabilities must be positive here (drop zero-mass types first)")


def discrete_virtual_values(theta: ArrayLike, prob: ArrayLike) -> FloatArray:
    """`phi_i = theta_i - (theta_{i+1} - theta_i) (1 - F_i) / f_i`; top type `phi = theta`.

    `theta` sorted and distinct, `prob` positive (normalized here to sum to one). The
    sum `sum_i f_i U_i` of rents under binding adjacent downward IC equals
    `sum_i (theta_{i+1} - theta_i) (1 - F_i) u_i`, hence this formula.
    """
    th = _as_1d(theta, "theta")
    f = _as_1d(prob, "prob")
    _check_sorted_positive(th, f)
    f = f / f.sum()
    tail = np.concatenate([np.cumsum(f[::-1])[::-1][1:], [0.0]])  # 1 - F_i, summed exactly
    gaps = np.concatenate([np.diff(th), [0.0]])
    return th - gaps * tail / f


def iron(phi: ArrayLike, prob: ArrayLike) -> FloatArray:
    """Weighted isotonic (nondecreasing) regression of `phi` by pool-adjacent-violators.

    Exact discrete ironing: for `max sum f_i (phi_i u_i - C(u_i))` over nondecreasing `u`
    with any convex `C`, the optimum is the pointwise optimum at these pooled values.
    """
    v = _as_1d(phi, "phi")
    w = _as_1d(prob, "prob")
    if v.shape != w.shape:
        raise ValueError(f"phi and prob differ in length ({v.size} vs {w.size})")
    if np.any(w <= 0):
        raise ValueError("ironing weights must be positive")
    means: list[float] = []
    weights: list[float] = []
    counts: list[int] = []
    for value, weight in zip(v.tolist(), w.tolist(), strict=True):
        means.append(value)
        weights.append(weight)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w2 = weights[-2] + weights[-1]
            m2 = (weights[-2] * means[-2] + weights[-1] * means[-1]) / w2
            c2 = counts[-2] + counts[-1]
            del means[-1], weights[-1], counts[-1]
            means[-1], weights[-1], counts[-1] = m2, w2, c2
    return np.repeat(np.asarray(means), counts)


def excluded_types(theta: ArrayLike, prob: ArrayLike, rtol: float = 1e-9) -> NDArray[np.bool_]:
    """Types (any order, ties allowed) whose ironed discrete virtual value is at most 0
    (to `rtol` of the largest theta): one-dimensional screening excludes them whenever the
    cost of the characteristic has no negative slope at zero, as the token technologies'
    minimum cost has not. Ties are one type; zero-probability types are not excluded here.
    """
    th = _as_1d(theta, "theta")
    f = _as_1d(prob, "prob")
    out = np.zeros(th.size, dtype=bool)
    keep = f > 0
    if not keep.any():
        return out
    levels, inverse = np.unique(th[keep], return_inverse=True)
    mass = np.bincount(inverse, weights=f[keep])
    phi = iron(discrete_virtual_values(levels, mass), mass)
    out[np.flatnonzero(keep)] = (phi <= rtol * float(np.abs(levels).max()))[inverse]
    return out


@dataclass(frozen=True)
class DiscreteMenu:
    """Optimal menu of a finite 1-D type set, per type in the caller's input order.

    `prob` is normalized; duplicate types share one bundle. `virtual_value` is NaN for
    zero-probability types (they do not enter the problem and pick their best bundle).
    `X, Y, Z` are the token totals (None for the generic, precision-only solution).
    """

    theta: FloatArray
    prob: FloatArray
    virtual_value: FloatArray
    ironed_virtual_value: FloatArray
    u: FloatArray
    payment: FloatArray
    rent: FloatArray
    seller_cost: FloatArray
    served: NDArray[np.bool_]
    X: FloatArray | None = None
    Y: FloatArray | None = None
    Z: FloatArray | None = None

    @property
    def precision(self) -> FloatArray:
        """Alias of `u`, the precision delivered."""
        return self.u

    @property
    def revenue(self) -> float:
        return float(self.prob @ self.payment)

    @property
    def cost(self) -> float:
        return float(self.prob @ self.seller_cost)

    @property
    def profit(self) -> float:
        return self.revenue - self.cost

    @property
    def consumer_surplus(self) -> float:
        return float(self.prob @ self.rent)

    @property
    def welfare(self) -> float:
        return self.profit + self.consumer_surplus

    @property
    def markup(self) -> FloatArray:
        """Plan markup `theta / phi` over cost (two-part-tariff reading; NaN if excluded)."""
        return two_part_tariff(
            self.theta, self.ironed_virtual_value, self.payment, self.seller_cost
        )[0]

    @property
    def fixed_fee(self) -> FloatArray:
        """Plan fixed fee `t - markup * cost` (NaN if excluded)."""
        return two_part_tariff(
            self.theta, self.ironed_virtual_value, self.payment, self.seller_cost
        )[1]


@dataclass(frozen=True)
class _Solved:
    """Solution on sorted distinct type levels (internal)."""

    phi: FloatArray
    phi_bar: FloatArray
    u: FloatArray
    payment: FloatArray
    rent: FloatArray
    cost: FloatArray
    tokens: dict[str, FloatArray] = field(default_factory=dict)


def _levels(
    theta: ArrayLike, prob: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """Normalize, sort, merge duplicates: input theta and prob, levels, their f, inverse."""
    th = _as_1d(theta, "theta")
    pr = _as_1d(prob, "prob")
    if th.shape != pr.shape:
        raise ValueError(f"theta and prob differ in length ({th.size} vs {pr.size})")
    if np.any(pr < 0) or not pr.sum() > 0:
        raise ValueError("probabilities must be nonnegative with a positive sum")
    pr = pr / pr.sum()
    levels, inverse = np.unique(th, return_inverse=True)
    f = np.bincount(inverse, weights=pr, minlength=levels.size)
    return th, pr, levels, f, inverse.ravel()


def _screen(levels: FloatArray, f: FloatArray, allocate: AllocateFn) -> _Solved:
    """Solve the discrete problem on sorted distinct `levels` with masses `f >= 0`."""
    pos = f > 0
    th, fp = levels[pos], f[pos]
    phi = discrete_virtual_values(th, fp)
    phi_bar = iron(phi, fp)
    # phi is a difference of O(theta) terms: snap rounding noise to 0 so that a type whose
    # exact virtual value is 0 (e.g. Mussa-Rosen's i = N/2) is excluded deterministically.
    noise = 64 * np.finfo(float).eps * float(np.max(np.abs(th)))
    phi_bar = np.where(np.abs(phi_bar) <= noise, 0.0, phi_bar)
    u, cost, tokens = allocate(phi_bar)
    u = np.asarray(u, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if np.any(np.diff(u) < -1e-12 * max(1.0, float(np.max(np.abs(u))))):
        raise ValueError("argmax of phi*u - C(u) is not nondecreasing in phi: is C convex?")
    rent = np.concatenate([[0.0], np.cumsum(np.diff(th) * u[:-1])])
    payment = th * u - rent
    n = levels.size
    if np.all(pos):
        return _Solved(phi, phi_bar, u, payment, rent, cost, dict(tokens))
    # Zero-mass levels: best response to the menu (null bundle first, so ties exclude).
    pick = np.full(n, -1)
    idx_pos = np.flatnonzero(pos)
    pick[pos] = np.arange(idx_pos.size)
    zero = np.flatnonzero(~pos)
    gains = levels[zero, None] * u[None, :] - payment[None, :]
    best = np.argmax(gains, axis=1)
    take = gains[np.arange(zero.size), best] > 0
    pick[zero] = np.where(take, best, -1)

    def spread(values: FloatArray, fill: float = 0.0) -> FloatArray:
        out = np.full(n, fill)
        out[pick >= 0] = values[pick[pick >= 0]]
        return out

    rent_full = spread(rent)
    rent_full[zero] = np.where(take, gains[np.arange(zero.size), best], 0.0)
    phi_full = np.full(n, np.nan)
    phi_full[pos] = phi
    phi_bar_full = np.full(n, np.nan)
    phi_bar_full[pos] = phi_bar
    return _Solved(
        phi_full,
        phi_bar_full,
        spread(u),
        spread(payment),
        rent_full,
        spread(cost),
        {k: spread(np.asarray(v, dtype=float)) for k, v in tokens.items()},
    )


def _menu(theta: ArrayLike, prob: ArrayLike, allocate: AllocateFn) -> DiscreteMenu:
    th, pr, levels, f, inv = _levels(theta, prob)
    sol = _screen(levels, f, allocate)
    tok = {k: v[inv] for k, v in sol.tokens.items()}
    return DiscreteMenu(
        theta=th,
        prob=pr,
        virtual_value=sol.phi[inv],
        ironed_virtual_value=sol.phi_bar[inv],
        u=sol.u[inv],
        payment=sol.payment[inv],
        rent=sol.rent[inv],
        seller_cost=sol.cost[inv],
        served=sol.u[inv] > 0,
        X=tok.get("X"),
        Y=tok.get("Y"),
        Z=tok.get("Z"),
    )


def _cobb_douglas_allocate(
    technology: Technology, cost_finetune: float | None = None
) -> AllocateFn:
    """Pointwise allocation for the Cobb-Douglas technology, as the screening core wants it."""
    cx, cy, cz = _costs(technology, cost_finetune)

    def allocate(
        phi: FloatArray,
    ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        x, y, z, u = _pointwise(phi, technology, cost_finetune)
        return u, cx * x + cy * y + cz * z, {"X": x, "Y": y, "Z": z}

    return allocate


def discrete_optimal_menu(
    theta: ArrayLike, prob: ArrayLike, technology: Technology
) -> DiscreteMenu:
    """Optimal Token Packages menu for finitely many types `theta` (any order, duplicates ok).

    Payments from binding adjacent downward IC and IR of the lowest served type; the menu
    is IC for all pairs (check with :func:`max_ic_violation`).
    """
    return _menu(theta, prob, _cobb_douglas_allocate(technology))


def discrete_optimal_menu_generic(
    theta: ArrayLike,
    prob: ArrayLike,
    argmax_fn: Callable[[FloatArray], ArrayLike],
    cost_fn: Callable[[FloatArray], ArrayLike],
) -> DiscreteMenu:
    """Optimal menu for value `theta * u` and a convex cost `C(u)`.

    `argmax_fn(phi)` (vectorized) returns the `u` maximizing `phi * u - C(u)` and must be 0
    for `phi <= 0`; `cost_fn(u)` (vectorized) returns `C(u)`. E.g. Mussa-Rosen:
    `argmax_fn = lambda p: np.maximum(p, 0)`, `cost_fn = lambda u: u**2 / 2`.
    """

    def allocate(
        phi: FloatArray,
    ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        u = np.broadcast_to(np.asarray(argmax_fn(phi), dtype=float), phi.shape).copy()
        return u, np.asarray(cost_fn(u), dtype=float), {}

    return _menu(theta, prob, allocate)


def _rows_per_chunk(n_cols: int) -> int:
    """Rows per block of an all-pairs check, so that a block holds ~_CHUNK_ELEMENTS floats."""
    return max(1, _CHUNK_ELEMENTS // max(1, n_cols))


def max_ic_violation(theta: ArrayLike, u: ArrayLike, payment: ArrayLike) -> float:
    """Largest gain any type gets from another bundle or the null bundle (all pairs + IR)."""
    th = _as_1d(theta, "theta")
    uu = _as_1d(u, "u")
    tt = _as_1d(payment, "payment")
    own = th * uu - tt
    worst = 0.0
    step = _rows_per_chunk(th.size)
    for start in range(0, th.size, step):
        sl = slice(start, start + step)
        best = np.max(th[sl, None] * uu[None, :] - tt[None, :], axis=1)
        worst = max(worst, float(np.max(np.maximum(best, 0.0) - own[sl])))
    return worst


# --------------------------------------------------------------------------------------
# 3. Value-scale Token Allocations with the scale constraint
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueScaleMenu:
    """Per-scale screening solution for types `(w, s)`, per type in input order.

    `contract_scale` is the number of tasks the bundle covers (`s` itself, except for a
    zero-probability type that takes another scale's bundle). `x, y` are per-task tokens,
    `X, Y` totals (contract scale times per-task), `z` fine-tuning tokens, `u` per-task
    precision. `virtual_value` is the discrete virtual value of `w` within
    its scale (NaN for zero-probability types, which pick their best bundle afterwards).
    """

    w: FloatArray
    s: FloatArray
    contract_scale: FloatArray
    prob: FloatArray
    virtual_value: FloatArray
    ironed_virtual_value: FloatArray
    x: FloatArray
    y: FloatArray
    X: FloatArray
    Y: FloatArray
    z: FloatArray
    u: FloatArray
    payment: FloatArray
    rent: FloatArray
    seller_cost: FloatArray
    served: NDArray[np.bool_]

    @property
    def revenue(self) -> float:
        return float(self.prob @ self.payment)

    @property
    def cost(self) -> float:
        return float(self.prob @ self.seller_cost)

    @property
    def profit(self) -> float:
        return self.revenue - self.cost

    @property
    def consumer_surplus(self) -> float:
        return float(self.prob @ self.rent)

    @property
    def welfare(self) -> float:
        return self.profit + self.consumer_surplus


def _cross_gains(
    w: FloatArray,
    s: FloatArray,
    scale: FloatArray,
    u: FloatArray,
    t: FloatArray,
    rows: slice | NDArray[np.intp],
) -> FloatArray:
    """Payoff of types `rows` from every bundle: `w_i min(s_i, scale_k) u_k - t_k`."""
    return w[rows, None] * np.minimum(s[rows, None], scale[None, :]) * u[None, :] - t[None, :]


def allocations_value_scale_discrete(
    w: ArrayLike, s: ArrayLike, prob: ArrayLike, technology: Technology
) -> ValueScaleMenu:
    """Value-scale Token Allocations, screened scale by scale (w given s is 1-D screening).

    Type `(w, s)` values per-task precision `u` at `w s u` and costs `s (c_x x + c_y y) +
    c_z z`; dividing by `s`, each scale level is Token Packages in `w` with the conditional
    distribution of `w` and fine-tuning cost `c_z / s`. This RELAXES IC across scales (a
    type may claim another scale); :func:`max_cross_scale_ic_violation` checks the result
    against every pair and the null bundle. When the check passes, the result is the
    optimum of the full problem (a feasible optimum of a relaxation). It passed to rounding
    on every grid tried with `w` independent of `s`; with `w` and `s` correlated it can
    fail (the per-scale conditionals then differ). Types with `s <= 0` value nothing and are
    excluded; zero-probability types pick their best bundle from the final menu.
    """
    ww = _as_1d(w, "w")
    ss = _as_1d(s, "s")
    pr = _as_1d(prob, "prob")
    if not ww.shape == ss.shape == pr.shape:
        raise ValueError("w, s and prob must have the same length")
    if np.any(pr < 0) or not pr.sum() > 0:
        raise ValueError("probabilities must be nonnegative with a positive sum")
    pr = pr / pr.sum()
    n = ww.size
    out = {k: np.zeros(n) for k in ("x", "y", "z", "u", "payment", "rent", "cost")}
    phi = np.full(n, np.nan)
    phi_bar = np.full(n, np.nan)
    active = (pr > 0) & (ss > 0)
    for level in np.unique(ss[active]):
        idx = np.flatnonzero(active & (ss == level))
        _, _, levels, f, inv = _levels(ww[idx], pr[idx])
        allocate = _cobb_douglas_allocate(technology, technology.cost_finetune / level)
        sol = _screen(levels, f, allocate)
        phi[idx] = sol.phi[inv]
        phi_bar[idx] = sol.phi_bar[inv]
        out["x"][idx] = sol.tokens["X"][inv]
        out["y"][idx] = sol.tokens["Y"][inv]
        out["z"][idx] = sol.tokens["Z"][inv]
        out["u"][idx] = sol.u[inv]
        # The per-scale problem is the true one divided by s: scale money back up.
        out["payment"][idx] = level * sol.payment[inv]
        out["rent"][idx] = level * sol.rent[inv]
        out["cost"][idx] = level * sol.cost[inv]
    # Zero-mass types (s > 0) best-respond to the whole menu; ties go to the null bundle.
    # The bundle they take keeps the scale it was written for (its contract scale).
    scale = ss.copy()
    lone = np.flatnonzero((pr == 0) & (ss > 0))
    offered = np.flatnonzero(active)
    if lone.size and offered.size:
        gains = _cross_gains(ww, ss, scale, out["u"], out["payment"], lone)[:, offered]
        best = np.argmax(gains, axis=1)
        value = gains[np.arange(lone.size), best]
        k = offered[best]
        take = value > 0
        for key in ("x", "y", "z", "u", "payment", "cost"):
            out[key][lone] = np.where(take, out[key][k], 0.0)
        out["rent"][lone] = np.where(take, value, 0.0)
        scale[lone] = np.where(take, ss[k], ss[lone])
    return ValueScaleMenu(
        w=ww,
        s=ss,
        contract_scale=scale,
        prob=pr,
        virtual_value=phi,
        ironed_virtual_value=phi_bar,
        x=out["x"],
        y=out["y"],
        X=scale * out["x"],
        Y=scale * out["y"],
        z=out["z"],
        u=out["u"],
        payment=out["payment"],
        rent=out["rent"],
        seller_cost=out["cost"],
        served=out["u"] > 0,
    )


def max_cross_scale_ic_violation(
    w: ArrayLike,
    s: ArrayLike,
    u: ArrayLike,
    payment: ArrayLike,
    contract_scale: ArrayLike | None = None,
) -> float:
    """Largest gain from any other bundle or the null bundle under the scale constraint.

    Type i's payoff from bundle k is `w_i min(s_i, s_k) u_k - t_k` (it cannot spread the
    per-task tokens over more tasks than the contract covers); `contract_scale` (default
    `s`) is the scale each bundle covers. 0 means fully IC and IR.
    """
    ww = _as_1d(w, "w")
    ss = _as_1d(s, "s")
    cs = ss if contract_scale is None else _as_1d(contract_scale, "contract_scale")
    uu = _as_1d(u, "u")
    tt = _as_1d(payment, "payment")
    if not ww.shape == ss.shape == cs.shape == uu.shape == tt.shape:
        raise ValueError("w, s, u, payment and contract_scale must have the same length")
    own = ww * np.minimum(ss, cs) * uu - tt
    worst = 0.0
    step = _rows_per_chunk(ww.size)
    for start in range(0, ww.size, step):
        sl = slice(start, start + step)
        best = np.max(_cross_gains(ww, ss, cs, uu, tt, sl), axis=1)
        worst = max(worst, float(np.max(np.maximum(best, 0.0) - own[sl])))
    return worst


# --------------------------------------------------------------------------------------
# 4. The paper's worked example (docs/model.md section 4) and two-part tariffs
# --------------------------------------------------------------------------------------

PAPER_PACKAGES_PROFIT = 97 / 1080
PAPER_PACKAGES_REVENUE = 139 / 540
PAPER_PACKAGES_COST = 181 / 1080
PAPER_PACKAGES_CONSUMER_SURPLUS = 97 / 1620
PAPER_PACKAGES_WELFARE = 97 / 648
PAPER_PACKAGES_FIRST_BEST_WELFARE = 97 / 480
PAPER_ALLOCATIONS_PROFIT = 97 / 960
PAPER_ALLOCATIONS_REVENUE = 139 / 480
PAPER_ALLOCATIONS_COST = 181 / 960
PAPER_ALLOCATIONS_CONSUMER_SURPLUS = 97 / 1920


def paper_type_density(theta: ArrayLike) -> FloatArray:
    """Density `2 - 2 theta` of `theta = w sqrt(s)`, `w, s ~ U[0,1]` (cdf `2 theta - theta^2`)."""
    th = np.asarray(theta, dtype=float)
    return np.where((th >= 0) & (th <= 1), 2.0 - 2.0 * th, 0.0)


def paper_virtual_value(theta: ArrayLike) -> FloatArray:
    """`phi = theta - (1 - F)/f = (3 theta - 1)/2` for the paper's example."""
    return (3.0 * np.asarray(theta, dtype=float) - 1.0) / 2.0


@dataclass(frozen=True)
class PackagePlans:
    """Continuum Token Packages of the example: tokens, payment, per-token price, fee.

    `p` and `F` are NaN for excluded types (no plan is bought).
    """

    X: FloatArray
    Y: FloatArray
    Z: FloatArray
    t: FloatArray
    p: FloatArray
    F: FloatArray


def paper_packages(theta: ArrayLike) -> PackagePlans:
    """The paper's closed-form menu (excluded below 1/3, fine-tuning above 2/3)."""
    th = np.asarray(theta, dtype=float)
    k = 3.0 * th - 1.0  # = 2 phi; regimes are read off k so that they match phi exactly
    served = k > 0
    mid = served & (k <= 1)
    top = k > 1
    ks = np.where(served, k, 1.0)  # avoids 0-division in unused branches
    xy = np.where(mid, k**2, np.where(top, k**4, 0.0))
    z = np.where(top, k**4 - 1.0, 0.0)
    t = np.where(
        mid,
        (9 * th**2 - 1) / 6,
        np.where(top, (243 * th**4 - 216 * th**3 + 54 * th**2 - 2) / 12, 0.0),
    )
    p = np.where(served, th / (4 * ks), np.nan)
    fee = np.where(mid, ks / 6, np.where(top, (ks**4 + 1) / (12 * ks), np.nan))
    return PackagePlans(X=xy, Y=xy.copy(), Z=z, t=t, p=p, F=fee)


def two_part_tariff(
    theta: ArrayLike, virtual_value: ArrayLike, payment: ArrayLike, cost: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Plan markup `m = theta / phi` and fixed fee `F = t - m * cost` (NaN where `phi <= 0`).

    Every token class is priced at `m c_j`: at the optimum the marginal cost of precision
    is `phi` and the buyer's marginal value `theta`, so one common markup is tangent.
    """
    th = np.asarray(theta, dtype=float)
    ph = np.asarray(virtual_value, dtype=float)
    ok = ph > 0
    m = np.where(ok, th / np.where(ok, ph, 1.0), np.nan)
    fee = np.asarray(payment, dtype=float) - m * np.asarray(cost, dtype=float)
    return m, fee


# --------------------------------------------------------------------------------------
# 5. Textbook benchmarks (docs/model.md section 5)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningBenchmark:
    """A finite-type benchmark: types, probabilities, quantities, payments, profit."""

    theta: FloatArray
    prob: FloatArray
    q: FloatArray
    payment: FloatArray
    profit: float


def mussa_rosen(n: int) -> ScreeningBenchmark:
    """Mussa-Rosen with `theta_i = i/N`, `f_i = 1/N`, cost `q^2/2`: `q_i = max(0, 2i/N - 1)`.

    Closed form throughout; `profit` is `1/12 + 1/(4N) + 1/(6N^2)` for every N (the
    served types' `2i - N` run over 2, 4, ..., N or 1, 3, ..., N, both squares summing
    to `N (N+1) (N+2) / 6`).
    """
    if n < 1:
        raise ValueError(f"N must be a positive integer, got {n}")
    theta = np.arange(1, n + 1) / n
    q = np.maximum(0.0, 2 * theta - 1)
    rent = np.concatenate([[0.0], np.cumsum(q[:-1]) / n])
    profit = 1 / 12 + 1 / (4 * n) + 1 / (6 * n**2)
    return ScreeningBenchmark(theta, np.full(n, 1 / n), q, theta * q - rent, profit)


@dataclass(frozen=True)
class QuantityDiscount:
    """Maskin-Riley nonlinear pricing: `theta q - q^2/2 - T`, unit cost `c`, `theta ~ U[0,1]`."""

    c: float

    @property
    def cutoff(self) -> float:
        """Lowest served type `(1 + c)/2` (where `phi = 2 theta - 1` equals `c`)."""
        return (1 + self.c) / 2

    def quantity(self, theta: ArrayLike) -> FloatArray:
        return np.maximum(0.0, 2 * np.asarray(theta, dtype=float) - 1 - self.c)

    def tariff(self, q: ArrayLike) -> FloatArray:
        """Concave tariff `T(q) = ((1 + c)/2) q - q^2/4`, `q in [0, 1 - c]`."""
        q = np.asarray(q, dtype=float)
        return self.cutoff * q - q**2 / 4

    def payment(self, theta: ArrayLike) -> FloatArray:
        return self.tariff(self.quantity(theta))

    def unit_price(self, theta: ArrayLike) -> FloatArray:
        """Marginal price `1 + c - theta` of the tangent two-part tariff (served types)."""
        return 1 + self.c - np.asarray(theta, dtype=float)

    def fixed_fee(self, theta: ArrayLike) -> FloatArray:
        """Fee `(theta - (1 + c)/2)^2` of the tangent two-part tariff (0 if excluded)."""
        th = np.asarray(theta, dtype=float)
        return np.where(th > self.cutoff, (th - self.cutoff) ** 2, 0.0)

    @property
    def profit(self) -> float:
        return (1 - self.c) ** 3 / 12


def quantity_discount(c: float) -> QuantityDiscount:
    """The continuum quantity-discount benchmark with unit cost `c` in [0, 1)."""
    if not 0 <= c < 1:
        raise ValueError(f"unit cost must be in [0, 1), got {c}")
    return QuantityDiscount(float(c))


def two_type_saturating(cost: float = 0.1) -> ScreeningBenchmark:
    """Two types `theta = (1, 2)`, `f = (0.6, 0.4)`, value `theta (1 - e^-q)`, cost `c q`.

    Solved through :func:`discrete_optimal_menu_generic` in precision `u = 1 - e^-q`,
    whose cost is `C(u) = -c ln(1 - u)`; `phi u - C(u)` peaks at `u = 1 - c/phi`
    (0 when `phi <= c`), so `q = ln(phi / c)`: `q_L = ln(10/3)`, `q_H = ln 20` at `c = 0.1`.
    """
    theta = np.array([1.0, 2.0])
    prob = np.array([0.6, 0.4])

    def argmax_fn(phi: FloatArray) -> FloatArray:
        return np.where(phi > cost, 1 - cost / np.where(phi > cost, phi, 1.0), 0.0)

    def cost_fn(u: FloatArray) -> FloatArray:
        return -cost * np.log1p(-u)

    menu = discrete_optimal_menu_generic(theta, prob, argmax_fn, cost_fn)
    q = -np.log1p(-menu.u)
    return ScreeningBenchmark(theta, prob, q, menu.payment, menu.profit)
