"""Buyers' best responses: to a package of token totals and to a two-part tariff.

The seller leads with an offer; each buyer follows with its own optimal choice. Two
offers matter (docs/model.md section 2):

* a package of totals ``(X, Y, Z)`` under Token Packages: the buyer spreads X and Y over
  its tasks. With Cobb-Douglas precision the split is proportional to ``w_j^kappa`` and the
  value collapses to ``theta X^a Y^b (b + Z)^g`` (the CES index); for a user-supplied
  :class:`~pyomo_llmprice.technology.PrecisionFunction` the split is solved numerically.
* a two-part tariff (fee ``F``, per-token prices ``p_x, p_y, p_z``): the buyer of index
  theta buys the tokens maximizing ``theta * precision - p . tokens``; this is the
  pointwise problem of :func:`pyomo_llmprice.theory.pointwise_bundle` with ``phi -> theta``
  and ``costs -> prices`` (no fine-tuning below the threshold), in closed form for
  Cobb-Douglas and by a numerical inner solve otherwise.

A buyer model is any object with ``demand(theta, prices) -> (tokens (..., 3), gross)`` and
``cost(tokens) -> seller cost``; three are provided: :class:`CobbDouglasBuyer` (closed
form), :class:`NumericalBuyer` (any precision function, scipy) and
:class:`QuadraticBuyer`, the textbook one-good buyer ``theta q - q^2/2`` with unit cost
``c`` (docs/model.md section 5), whose quantity is reported as the input-token class so that
the quantity-discount case runs through the same tariff code; :class:`ValueBuyer` does the
same for any concave one-good value ``theta v(q)`` numerically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from pyomo_llmprice.technology import CobbDouglas, PrecisionFunction, Technology

__all__ = [
    "BuyerModel",
    "CobbDouglasBuyer",
    "NumericalBuyer",
    "QuadraticBuyer",
    "QuadraticGood",
    "ValueBuyer",
    "ValueGood",
    "buyer_for",
    "cobb_douglas_demand",
    "package_value",
    "split_package",
]

FloatArray = NDArray[np.float64]


class BuyerModel(Protocol):
    """What the tariff code needs to know about a buyer of index theta."""

    def demand(self, theta: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Tokens ``(..., 3)`` maximizing ``theta * value - prices . tokens`` and their gross value.

        ``theta`` and ``prices[..., j]`` broadcast against each other.
        """

    def cost(self, tokens: ArrayLike) -> FloatArray:
        """The seller's cost of ``tokens[..., 3]``."""

    @property
    def unit_costs(self) -> FloatArray:
        """Marginal costs of the three token classes (markups are prices over these)."""


# --------------------------------------------------------------------------------------
# Closed form: Cobb-Douglas
# --------------------------------------------------------------------------------------


def cobb_douglas_demand(
    theta: ArrayLike,
    price_input: ArrayLike,
    price_output: ArrayLike,
    price_finetune: ArrayLike,
    precision: CobbDouglas,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Tokens ``(X, Y, Z)`` maximizing ``theta X^a Y^b (b+Z)^g - p_x X - p_y Y - p_z Z`` and ``u``.

    The pointwise optimum of docs/model.md section 3 with ``phi -> theta`` and costs -> prices,
    vectorized by broadcasting (types x plans). ``Z = 0`` below the threshold
    ``b^(1-sigma) (p_x/a)^a (p_y/b)^b (p_z/g)^(1-a-b)``; nothing for ``theta <= 0``.
    """
    a, b, g, bq = precision.alpha, precision.beta, precision.gamma, precision.base_quality
    sig, rho = precision.sigma, precision.alpha + precision.beta
    th = np.asarray(theta, float)
    px, py, pz = (np.asarray(p, float) for p in (price_input, price_output, price_finetune))
    if np.any(px <= 0) or np.any(py <= 0) or np.any(pz <= 0):
        raise ValueError("Cobb-Douglas buyers need positive per-token prices (demand is unbounded)")
    th, px, py, pz = np.broadcast_arrays(th, px, py, pz)
    ts = np.maximum(th, 0.0)
    k0 = (a / px) ** a * (b / py) ** b
    v0 = (ts * bq**g) ** (rho / (1 - rho)) * k0 ** (1 / (1 - rho))  # X^a Y^b, no fine-tuning
    v1 = (ts**sig * k0 * (g / pz) ** g) ** (1 / (1 - sig))  # X^a Y^b (b+Z)^g with it
    threshold = bq ** (1 - sig) * (px / a) ** a * (py / b) ** b * (pz / g) ** (1 - rho)
    ft = ts > threshold
    u = np.where(ft, v1, v0 * bq**g)
    x = a * ts * u / px
    y = b * ts * u / py
    z = np.where(ft, np.maximum(g * ts * u / pz - bq, 0.0), 0.0)
    return x, y, z, u


@dataclass(frozen=True)
class CobbDouglasBuyer:
    """The paper's buyer under Token Packages: value ``theta X^a Y^b (b+Z)^g``, closed form."""

    technology: Technology

    @property
    def unit_costs(self) -> FloatArray:
        t = self.technology
        return np.array([t.cost_input, t.cost_output, t.cost_finetune])

    def demand(self, theta: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        p = np.asarray(prices, float)
        x, y, z, u = cobb_douglas_demand(
            theta, p[..., 0], p[..., 1], p[..., 2], self.technology.cobb_douglas_precision
        )
        th = np.broadcast_to(np.asarray(theta, float), u.shape)
        return np.stack([x, y, z], axis=-1), np.maximum(th, 0.0) * u

    def cost(self, tokens: ArrayLike) -> FloatArray:
        return np.asarray(tokens, float) @ self.unit_costs


# --------------------------------------------------------------------------------------
# Numerical route: any precision function
# --------------------------------------------------------------------------------------


def _token_precision(precision: PrecisionFunction, x: Any, y: Any, z: Any) -> Any:
    """Precision of raw tokens through the factor-variable protocol."""
    a_in, a_out = precision.factors(x, y)
    return precision.precision(a_in, a_out, z)


@dataclass(frozen=True)
class NumericalBuyer:
    """A buyer of index theta with any precision function, best response solved numerically.

    The inner problem ``max theta P(X, Y, Z) - p . (X, Y, Z)`` is solved by SLSQP in
    ``(log X, log Y, Z)`` (X, Y interior: precision has infinite slope at zero tokens;
    ``Z >= 0`` a bound, so the fine-tuning corner is exact), from two starts (no
    fine-tuning and a little), keeping the better. Value must be concave for this to be
    the global best response (decreasing returns, as the paper assumes).
    """

    technology: Technology
    rtol: float = 1e-15

    @property
    def unit_costs(self) -> FloatArray:
        t = self.technology
        return np.array([t.cost_input, t.cost_output, t.cost_finetune])

    def _solve_one(self, theta: float, p: FloatArray) -> tuple[FloatArray, float]:
        prec = self.technology.precision
        if theta <= 0:
            return np.zeros(3), 0.0

        scale = [1.0]  # objective scale: SLSQP's ftol is absolute

        def negative_surplus(v: FloatArray) -> float:
            x, y, z = np.exp(v[0]), np.exp(v[1]), v[2]
            value = theta * float(_token_precision(prec, x, y, z))
            return -(value - p[0] * x - p[1] * y - p[2] * z) / scale[0]

        def gradient(v: FloatArray) -> FloatArray:
            # central differences, one-sided at the Z >= 0 bound (scipy's own
            # differences can step outside the bounds)
            g = np.empty(3)
            for j in range(3):
                h = 1e-6 * max(1.0, abs(v[j]))
                up, down = v.copy(), v.copy()
                up[j] += h
                if j == 2 and v[j] - h < 0:
                    g[j] = (negative_surplus(up) - negative_surplus(v)) / h
                    continue
                down[j] -= h
                g[j] = (negative_surplus(up) - negative_surplus(down)) / (2 * h)
            return g

        def solve(x0: FloatArray) -> Any:
            return optimize.minimize(
                negative_surplus,
                x0,
                jac=gradient,
                method="SLSQP",
                bounds=[(-60.0, 60.0), (-60.0, 60.0), (0.0, None)],
                options={"ftol": self.rtol, "maxiter": 2000},
            )

        # two starts (without and with fine-tuning), then the better one polished with the
        # objective rescaled to about 1
        best = min((solve(np.array([0.0, 0.0, z0])) for z0 in (0.0, 1.0)), key=lambda r: r.fun)
        point, surplus = best.x, -float(best.fun)
        scale[0] = max(abs(surplus), 1e-12)
        polished = solve(point)
        if -float(polished.fun) * scale[0] > surplus:
            point, surplus = polished.x, -float(polished.fun) * scale[0]
        x, y, z = np.exp(point[0]), np.exp(point[1]), max(point[2], 0.0)
        if surplus <= 0:  # buying no tokens at all is better than anything interior
            return np.zeros(3), 0.0
        return np.array([x, y, z]), theta * float(_token_precision(prec, x, y, z))

    def demand(self, theta: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        th = np.asarray(theta, float)
        p = np.asarray(prices, float)
        shape = np.broadcast_shapes(th.shape, p.shape[:-1])
        th = np.broadcast_to(th, shape)
        p = np.broadcast_to(p, (*shape, 3))
        tokens = np.zeros((*shape, 3))
        gross = np.zeros(shape)
        for idx in np.ndindex(*shape):
            tokens[idx], gross[idx] = self._solve_one(float(th[idx]), p[idx])
        return tokens, gross

    def cost(self, tokens: ArrayLike) -> FloatArray:
        return np.asarray(tokens, float) @ self.unit_costs


# --------------------------------------------------------------------------------------
# The textbook one-good buyer (quantity discounts, docs/model.md section 5)
# --------------------------------------------------------------------------------------


class _OneGood:
    """Cost side shared by the one-good technologies: ``unit_cost`` per unit of the good,
    which is priced as the input-token class; output and fine-tuning are absent."""

    unit_cost: float

    def __post_init__(self) -> None:
        if not float(self.unit_cost) >= 0:
            raise ValueError(f"unit_cost must be nonnegative, got {self.unit_cost}")

    @property
    def cost_input(self) -> float:
        return float(self.unit_cost)

    cost_output = 0.0
    cost_finetune = 0.0

    def cost(self, x: Any, y: Any, z: Any) -> Any:
        return self.unit_cost * x


class _OneGoodBuyer:
    """Seller cost shared by the buyers of a one-good technology."""

    good: _OneGood

    @property
    def unit_costs(self) -> FloatArray:
        return np.array([self.good.unit_cost, 0.0, 0.0])

    def cost(self, tokens: ArrayLike) -> FloatArray:
        return np.asarray(tokens, float) @ self.unit_costs


@dataclass(frozen=True)
class QuadraticGood(_OneGood):
    """One good, value ``theta q - q^2/2``, seller unit cost ``c`` (Maskin-Riley).

    Plays the role of a technology in tariff menus: the quantity is the input-token class,
    priced at ``price_input``; output and fine-tuning are absent.
    """

    unit_cost: float


@dataclass(frozen=True)
class QuadraticBuyer(_OneGoodBuyer):
    """Best response ``q = max(0, theta - p)`` to a unit price ``p``; gross ``theta q - q^2/2``."""

    good: QuadraticGood

    def demand(self, theta: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        p = np.asarray(prices, float)[..., 0]
        th, p = np.broadcast_arrays(np.asarray(theta, float), p)
        q = np.maximum(th - p, 0.0)
        zeros = np.zeros_like(q)
        return np.stack([q, zeros, zeros], axis=-1), th * q - q**2 / 2


@dataclass(frozen=True)
class ValueGood(_OneGood):
    """One good of smooth concave value ``theta * v(q)``, seller unit cost ``unit_cost``.

    Plays the role of a technology (the good is priced as the input-token class, like
    :class:`QuadraticGood`) for value functions without a closed-form demand, e.g. the
    saturating ``1 - exp(-q)`` of docs/model.md section 5; :class:`ValueBuyer` best-responds.
    """

    value: Callable[[float], float]
    unit_cost: float


@dataclass(frozen=True)
class ValueBuyer(_OneGoodBuyer):
    """Best response ``argmax_q theta v(q) - p q`` over ``q >= 0`` by scipy (any concave v).

    Bounded Brent on ``[0, 2h]``, ``h`` doubled until the surplus stops rising (concavity
    makes the bracket valid); nothing is bought unless it beats ``q = 0``.
    """

    good: ValueGood
    q_max: float = 1e12

    def _solve_one(self, theta: float, price: float) -> float:
        def negative(q: float) -> float:
            return -(theta * float(self.good.value(q)) - price * q)

        hi = 1.0
        while hi < self.q_max and negative(2 * hi) < negative(hi):
            hi *= 2
        res = optimize.minimize_scalar(
            negative, bounds=(0.0, 2 * hi), method="bounded", options={"xatol": 1e-13 * hi}
        )
        if not res.fun < negative(0.0):
            return 0.0
        q = float(res.x)

        # Brent stops at sqrt(eps) relative; polish on the first-order condition
        # theta v'(q) = p (central differences), whose root is bracketed around q.
        def marginal(x: float) -> float:
            h = 1e-6 * max(1.0, x)
            return (
                theta * (float(self.good.value(x + h)) - float(self.good.value(x - h))) / (2 * h)
                - price
            )

        lo, up = q * (1 - 1e-6), q * (1 + 1e-6) + 1e-12
        if lo > 0 and marginal(lo) > 0 > marginal(up):
            q = float(optimize.brentq(marginal, lo, up, xtol=1e-15, rtol=4 * np.finfo(float).eps))
        return q

    def demand(self, theta: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        p = np.asarray(prices, float)[..., 0]
        th, p = np.broadcast_arrays(np.asarray(theta, float), p)
        q = np.zeros(th.shape)
        value = np.zeros(th.shape)
        for idx in np.ndindex(*th.shape):
            q[idx] = self._solve_one(float(th[idx]), float(p[idx]))
            value[idx] = float(self.good.value(q[idx]))
        zeros = np.zeros_like(q)
        return np.stack([q, zeros, zeros], axis=-1), th * value


def buyer_for(
    technology: Technology | QuadraticGood | ValueGood, numerical: bool = False
) -> BuyerModel:
    """The buyer model of a technology: closed form where it exists, numerical otherwise."""
    if isinstance(technology, QuadraticGood):
        return QuadraticBuyer(technology)
    if isinstance(technology, ValueGood):
        return ValueBuyer(technology)
    if not isinstance(technology, Technology):
        raise TypeError(
            f"expected a Technology, QuadraticGood or ValueGood, got {type(technology).__name__}"
        )
    if isinstance(technology.precision, CobbDouglas) and not numerical:
        return CobbDouglasBuyer(technology)
    return NumericalBuyer(technology)


# --------------------------------------------------------------------------------------
# A package of totals: the buyer's split across its tasks (Token Packages)
# --------------------------------------------------------------------------------------


def _split_cobb_douglas(
    totals: tuple[float, float], value: FloatArray, measure: FloatArray, cd: CobbDouglas
) -> tuple[FloatArray, FloatArray]:
    weight = value**cd.kappa
    denom = float(measure @ weight)
    if denom <= 0:
        return np.zeros_like(value), np.zeros_like(value)
    share = weight / denom
    return totals[0] * share, totals[1] * share


def _split_numerical(
    totals: tuple[float, float],
    z: float,
    value: FloatArray,
    measure: FloatArray,
    precision: PrecisionFunction,
) -> tuple[FloatArray, FloatArray]:
    """Maximize ``sum_j mu_j w_j P(x_j, y_j, Z)`` s.t. ``sum_j mu_j x_j = X``, same for Y.

    Shares of the totals are the softmax of free variables, so the budget constraints
    hold exactly and the problem is unconstrained (BFGS).
    """
    active = (value > 0) & (measure > 0)
    x = np.zeros_like(value)
    y = np.zeros_like(value)
    if not np.any(active) or totals[0] <= 0 or totals[1] <= 0:
        return x, y
    w, mu = value[active], measure[active]
    big_x, big_y = totals

    def allocation(v: FloatArray) -> tuple[FloatArray, FloatArray]:
        sx = np.exp(v[: w.size] - v[: w.size].max())
        sy = np.exp(v[w.size :] - v[w.size :].max())
        return big_x * sx / (mu @ sx), big_y * sy / (mu @ sy)

    def negative_value(v: FloatArray) -> float:
        xs, ys = allocation(v)
        return -float(mu @ (w * np.asarray(_token_precision(precision, xs, ys, z), float)))

    start = np.zeros(2 * w.size)
    res = optimize.minimize(negative_value, start, method="BFGS", options={"gtol": 1e-12})
    xs, ys = allocation(res.x)
    x[active], y[active] = xs, ys
    return x, y


def split_package(
    input_tokens: float,
    output_tokens: float,
    finetune_tokens: float,
    value: ArrayLike,
    task_measure: ArrayLike,
    technology: Technology,
    numerical: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """The buyer's own split of a package's totals over its tasks (per-task ``x_j, y_j``).

    ``value[j]`` is the buyer's value of precision on task j, ``task_measure[j]`` the
    task's measure; totals are ``sum_j mu_j x_j``. Cobb-Douglas: shares proportional to
    ``w_j^kappa`` (closed form); otherwise (or with ``numerical=True``) an inner solve.
    A value-scale buyer ``(w, s)`` is one task of measure ``s``.
    """
    w = np.asarray(value, float).ravel()
    mu = np.asarray(task_measure, float).ravel()
    if w.shape != mu.shape:
        raise ValueError(f"value and task_measure differ in length ({w.size} vs {mu.size})")
    if np.any(w < 0) or np.any(mu < 0):
        raise ValueError("task values and measures must be nonnegative")
    totals = (float(input_tokens), float(output_tokens))
    if isinstance(technology.precision, CobbDouglas) and not numerical:
        return _split_cobb_douglas(totals, w, mu, technology.precision)
    return _split_numerical(totals, float(finetune_tokens), w, mu, technology.precision)


def package_value(
    input_tokens: float,
    output_tokens: float,
    finetune_tokens: float,
    value: ArrayLike,
    task_measure: ArrayLike,
    technology: Technology,
    numerical: bool = False,
) -> float:
    """The buyer's value of a package after its own optimal split across tasks.

    With Cobb-Douglas this is ``theta X^a Y^b (b+Z)^g`` with the CES index theta
    (:meth:`pyomo_llmprice.types.TypeSet.index`); the numerical route must agree.
    """
    x, y = split_package(
        input_tokens, output_tokens, finetune_tokens, value, task_measure, technology, numerical
    )
    w = np.asarray(value, float).ravel()
    mu = np.asarray(task_measure, float).ravel()
    prec = np.asarray(_token_precision(technology.precision, x, y, float(finetune_tokens)), float)
    return float(mu @ (w * prec))
