"""From chosen tokens to the buyer's type: the first-order conditions read backwards.

A buyer of index theta facing per-token prices ``p = (p_x, p_y, p_z)`` buys tokens with
``theta * dP/dx_j = p_j`` for every class it buys (an interior class) and
``theta * dP/dx_j <= p_j`` for a class it does not (a corner, e.g. no fine-tuning).
Each interior class therefore gives its own estimate ``theta_j = p_j / P_j(x, y, z)``;
they agree when the data are a best response of the model, and their largest relative
disagreement is the row's *misfit*. Corners only bound theta above.

Cobb-Douglas has the closed form ``P_x = alpha P / x``, ``P_y = beta P / y``,
``P_z = gamma P / (b + z)``; any other :class:`~pyomo_llmprice.technology.PrecisionFunction`
is differentiated numerically (Richardson-extrapolated central differences, one-sided at
zero tokens) through its own ``factors`` and ``precision`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pyomo_llmprice.certificate import precision_of_tokens
from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["Inversion", "invert_usage", "precision_gradient"]

FloatArray = NDArray[np.float64]

#: relative step of the numerical derivative (Richardson: error ~ step^4 for smooth P)
STEP = 1e-3


@dataclass(frozen=True)
class Inversion:
    """Per usage row: the combined theta, each class's estimate and the fit.

    ``estimates`` is (n, 3), NaN for a class at a corner; ``bound`` (n,) the smallest
    upper bound the corners imply (inf: none); ``misfit`` (n,) the largest relative
    disagreement between interior estimates, or the relative excess of theta over a
    corner's bound, whichever is larger (inf where no class is interior, or a class is
    bought although it adds nothing).
    """

    theta: FloatArray
    estimates: FloatArray
    bound: FloatArray
    misfit: FloatArray


def _precision(technology: Technology, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    return np.asarray(precision_of_tokens(technology, x, y, z), float)


def precision_gradient(technology: Technology, tokens: ArrayLike) -> FloatArray:
    """``dP/dx_j`` at each row of ``tokens`` (n, 3): closed form or numerical.

    Numerical derivatives step by ``STEP`` times the token count (at least ``STEP`` times
    the row's largest count), central inside and forward at zero tokens, each refined by
    one Richardson extrapolation.
    """
    t = np.atleast_2d(np.asarray(tokens, float))
    prec = technology.precision
    if isinstance(prec, CobbDouglas):
        x, y, z = t.T
        with np.errstate(divide="ignore", invalid="ignore"):
            u = _precision(technology, x, y, z)
            grad = np.column_stack(
                [prec.alpha * u / x, prec.beta * u / y, prec.gamma * u / (prec.base_quality + z)]
            )
        # at zero tokens of x or y the slope is infinite (precision has infinite slope there)
        grad[:, 0] = np.where(x > 0, grad[:, 0], np.inf)
        grad[:, 1] = np.where(y > 0, grad[:, 1], np.inf)
        return grad
    scale = np.maximum(np.abs(t).max(axis=1, keepdims=True), 1.0)
    grad = np.empty_like(t)
    for j in range(3):
        h = STEP * np.maximum(np.abs(t[:, j]), STEP * scale[:, 0])
        inside = t[:, j] - 2 * h >= 0

        def shifted(d: FloatArray, column: int = j) -> FloatArray:
            moved = t.copy()
            moved[:, column] += d
            return _precision(technology, *moved.T)

        central = (8 * (shifted(h) - shifted(-h)) - (shifted(2 * h) - shifted(-2 * h))) / (12 * h)
        base = _precision(technology, *t.T)
        # forward differences at the z >= 0 (or x, y >= 0) bound, Richardson to O(h^2)
        forward = (4 * (shifted(h) - base) - (shifted(2 * h) - base)) / (2 * h)
        grad[:, j] = np.where(inside, central, forward)
    return grad


def invert_usage(tokens: ArrayLike, prices: ArrayLike, technology: Technology) -> Inversion:
    """Each row's theta from its tokens (n, 3) and the per-token prices it paid (n, 3).

    Rows without any token are not inverted (theta NaN, misfit 0): those customers did
    not buy, and their type is only bounded above (see
    :func:`~pyomo_llmprice.calibration.calibrate.participation_bound`).
    """
    t = np.atleast_2d(np.asarray(tokens, float))
    p = np.broadcast_to(np.asarray(prices, float), t.shape)
    n = t.shape[0]
    buys = t.sum(axis=1) > 0
    grad = np.full((n, 3), np.nan)
    if buys.any():
        grad[buys] = precision_gradient(technology, t[buys])
    interior = (t > 0) & buys[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / grad  # p_j / P_j: theta at equality
    estimates = np.where(interior, ratio, np.nan)
    # a class bought although it adds nothing (P_j <= 0) cannot be a best response
    useless = np.any(interior & ~(grad > 0), axis=1)
    usable = interior & (grad > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(usable, np.log(np.where(usable, ratio, 1.0)), 0.0)
        count = usable.sum(axis=1)
        theta = np.where(count > 0, np.exp(logs.sum(axis=1) / np.maximum(count, 1)), np.nan)
        high = np.where(usable, ratio, -np.inf).max(axis=1)
        low = np.where(usable, ratio, np.inf).min(axis=1)
        spread = np.where(count > 0, (high - low) / theta, np.inf)
        corner = (t <= 0) & buys[:, None]
        bounds = np.where(corner & (grad > 0), ratio, np.inf)
        bound = bounds.min(axis=1)
        excess = np.where(np.isfinite(bound), np.maximum(theta / bound - 1.0, 0.0), 0.0)
    misfit = np.where(buys, np.maximum(spread, excess), 0.0)
    misfit = np.where(useless | (buys & (count == 0)), np.inf, misfit)
    theta = np.where(buys, theta, np.nan)
    return Inversion(theta, estimates, np.where(buys, bound, np.nan), misfit)
