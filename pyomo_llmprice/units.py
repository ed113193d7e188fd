"""Units: every instance is solved in normalized units, by an exact change of variables.

An instance states its money and its token counts in whatever units its author chose
(dollars or micro-dollars, tokens or millions of tokens). Ipopt's tolerances are absolute
and its scaling heuristics see the raw numbers, so the same economics written in other
units solved to different menus (issue #15). This module removes the units before the
solve: :func:`normalize` rewrites an instance in units of its own, chosen from the
instance alone, and returns the :class:`Units` that map the solved menu back.

The rewrite is a change of variables, not an approximation. With ``x = Q_x x~``,
``y = Q_y y~``, ``z = Q_z z~`` and money ``M``, the Cobb-Douglas value
``theta x^a y^b (B + z)^g`` equals ``M * theta~ x~^a y~^b (B~ + z~)^g`` with
``theta~ = theta Q_x^a Q_y^b Q_z^g / M`` and ``B~ = B / Q_z``, and the cost
``c_x x + c_y y + c_z z`` equals ``M (c~_x x~ + c~_y y~ + c~_z z~)`` with
``c~_j = c_j Q_j / M``. Every payoff of every type from every bundle, and every cost,
is the original one divided by ``M``: IC, IR and the objective are the original ones
divided by ``M``, so the optimal menus correspond one to one. The type values (theta,
the per-task value ``w`` of value-scale types, the task values of labeled tasks) all
scale by the same factor ``Q_x^a Q_y^b Q_z^g / M``: the CES index is homogeneous of
degree 1 in the task values, and the Token Allocations value ``w min(s, s') u`` and
``sum_j mu_j w_j u_j`` are linear in them; scales ``s`` and task measures ``mu_j`` count
tasks and are kept.

The units come from the first best (prices equal to marginal costs), computed from the
instance alone. Tokens: the buyer with the largest index theta among types with positive
probability buys ``(X, Y, Z)`` (:func:`pyomo_llmprice.theory.pointwise_bundle` with
``phi = theta_max``); ``Q_x = X``, ``Q_y = Y``, ``Q_z = B + Z``, so that the top first
best is ``(1, 1, 1 - B~)`` with precision 1 and the tokens of an optimal package menu lie
in [0, 1] (distortions are downward). Money: ``M = sum_i f_i W_i``, the expected
first-best welfare (``W_i`` type i's first-best surplus), an upper bound of the objective,
expected profit, which is therefore at most 1 in normalized units (0.44 in the paper's
example). Ipopt's tolerances are absolute on the objective's scale: with the top type's
value as money unit instead, the profit of paper_theta_20 is 0.014 and Ipopt at
``tol=1e-9`` stops 2.4e-8 below the exact discrete optimum; with ``M``, 7e-10 below.
Normalized, ``theta~_max = rho``, ``c~_x = alpha rho``, ``c~_y = beta rho`` and
``c~_z >= gamma rho`` (equal when the top type fine-tunes), with
``rho = V / M`` the top type's first-best gross value ``V = theta_max X^a Y^b (B + Z)^g``
over the expected welfare.

``V`` is the instance's value scale per buyer (:func:`value_scale`, ``Units.value_scale``):
it bounds what any type pays (IR) and gains from any bundle, so a tolerance on IC and IR
per buyer is ``rtol * V``, fixed by the instance and never by the menu (the surplus would
do as well, up to a factor ``1 - sigma`` or so; the gross value is simpler to state).
Both scales come out of the one first-best computation of :func:`units_of`. Because they
are computed from the instance, they are equivariant: the instance with theta and costs
times ``k`` has ``M`` and ``V`` times ``k``, the instance in other token units has ``Q``
in those units, and both normalize to the same numbers up to rounding.

Generic screening instances (value ``sum_d theta_d h(y_d)``, cost ``C(y)``) are
normalized the same way, form by form (see :func:`rescale`): goods in units of the top
type's first best (the type of largest first-best gross value ``V``), money ``M`` the
expected first-best welfare. A precision function that is not Cobb-Douglas cannot be
re-denominated in tokens (its formula is unknown): only money is normalized, by the top
type's numerical first best (scipy), ``M = V`` (an expectation would take one numerical
solve per type).

An instance that cannot be normalized (nobody values anything, the first best overflows,
custom screening forms) is not refused: :func:`normalize` returns it unchanged with the
identity :class:`Units`, whose ``reason`` says why, and :func:`value_scale` is then one
money unit of the instance. Nothing is dropped silently: ``reason`` is also set when only
money is normalized.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.technology import CobbDouglas, Technology
from pyomo_llmprice.theory import pointwise_bundle
from pyomo_llmprice.types import TypeSet

__all__ = ["Units", "first_best_values", "normalize", "rescale", "units_of", "value_scale"]

FloatArray = NDArray[np.float64]
AnyInstance = TypeVar("AnyInstance", Instance, ScreeningInstance)
_Scalar = float | FloatArray


def _times(values: ArrayLike, factor: float) -> _Scalar:
    """`values * factor` as a float for a scalar and an array otherwise."""
    arr = np.asarray(values, dtype=float) * factor
    return float(arr) if arr.ndim == 0 else arr


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class Units:
    """Normalized units, each stated in instance units: 1 normalized unit = that many.

    ``money``: money per normalized money unit (payments, costs, values, rents, fees,
    profits). ``input``/``output``/``finetune``: tokens of each class per normalized token
    (1 for generic screening). ``goods``: per good of a generic screening instance,
    instance quantity per normalized quantity (empty for token instances; the current
    value and cost forms share one coefficient across goods, so its entries are equal).
    ``characteristic``: what buyers value linearly (precision for tokens, quality
    ``h(y)`` for screening) per normalized unit; a type value (theta, ``w``, task values,
    screening ``theta``) in instance units is ``type_value`` times the normalized one.
    ``value_scale`` is not a unit: the instance's value per buyer in instance money (the
    top type's first-best gross value, :func:`value_scale`), None where not computed
    (:func:`rescale`). ``reason`` is empty when everything was normalized, otherwise
    says what was not and why (only money, or nothing: the identity).

    Markups (price over cost) are ratios of money and are the same in both units.
    """

    money: float = 1.0
    input: float = 1.0
    output: float = 1.0
    finetune: float = 1.0
    goods: tuple[float, ...] = ()
    characteristic: float = 1.0
    value_scale: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        goods = tuple(float(g) for g in self.goods)
        object.__setattr__(self, "goods", goods)
        for name in ("money", "input", "output", "finetune", "characteristic"):
            value = float(getattr(self, name))
            object.__setattr__(self, name, value)
            if not _positive_finite(value):
                raise ValueError(f"unit {name} must be positive and finite, got {value!r}")
        if not all(_positive_finite(g) for g in goods):
            raise ValueError(f"goods units must be positive and finite, got {goods!r}")
        if self.value_scale is not None:
            scale = float(self.value_scale)
            object.__setattr__(self, "value_scale", scale)
            if not _positive_finite(scale):
                raise ValueError(f"value_scale must be positive and finite, got {scale!r}")

    @property
    def is_identity(self) -> bool:
        """True when normalized and instance numbers coincide (nothing was rescaled)."""
        scales = (self.money, self.input, self.output, self.finetune, self.characteristic)
        return all(s == 1.0 for s in (*scales, *self.goods))

    @property
    def type_value(self) -> float:
        """Instance type value (theta, w, task value) per normalized one: money per
        characteristic, because a type value is money per unit of precision or quality."""
        return self.money / self.characteristic

    # -- normalized -> instance (reading a solved menu back) ---------------------------
    def money_to_instance(self, amount: ArrayLike) -> _Scalar:
        """Payments, costs, values, rents, fees, profits in instance money."""
        return _times(amount, self.money)

    def tokens_to_instance(
        self, x: ArrayLike, y: ArrayLike, z: ArrayLike
    ) -> tuple[_Scalar, _Scalar, _Scalar]:
        """Input, output and fine-tuning tokens (totals or per task) in instance tokens."""
        return _times(x, self.input), _times(y, self.output), _times(z, self.finetune)

    def goods_to_instance(self, goods: ArrayLike) -> FloatArray:
        """Generic screening goods ``(..., D)`` (last axis: goods) in instance quantities."""
        return np.asarray(goods, dtype=float) * np.asarray(self._goods_units(goods), float)

    def characteristic_to_instance(self, value: ArrayLike) -> _Scalar:
        """Precision (tokens) or quality ``h(y)`` (screening) in instance units."""
        return _times(value, self.characteristic)

    def type_values_to_instance(self, value: ArrayLike) -> _Scalar:
        """Type values (theta, ``w``, task values, screening theta) in instance units."""
        return _times(value, self.type_value)

    # -- instance -> normalized (starting points, published menus to check) -----------
    def money_from_instance(self, amount: ArrayLike) -> _Scalar:
        """Instance money in normalized money (the inverse of :meth:`money_to_instance`)."""
        return _times(amount, 1.0 / self.money)

    def tokens_from_instance(
        self, x: ArrayLike, y: ArrayLike, z: ArrayLike
    ) -> tuple[_Scalar, _Scalar, _Scalar]:
        """Instance tokens in normalized tokens (the inverse of :meth:`tokens_to_instance`)."""
        return (
            _times(x, 1.0 / self.input),
            _times(y, 1.0 / self.output),
            _times(z, 1.0 / self.finetune),
        )

    def goods_from_instance(self, goods: ArrayLike) -> FloatArray:
        """Instance goods ``(..., D)`` in normalized quantities."""
        return np.asarray(goods, dtype=float) / np.asarray(self._goods_units(goods), float)

    def characteristic_from_instance(self, value: ArrayLike) -> _Scalar:
        """Instance precision or quality in normalized units."""
        return _times(value, 1.0 / self.characteristic)

    def type_values_from_instance(self, value: ArrayLike) -> _Scalar:
        """Instance type values in normalized units."""
        return _times(value, 1.0 / self.type_value)

    def _goods_units(self, goods: ArrayLike) -> tuple[float, ...]:
        d = np.shape(goods)[-1] if np.ndim(goods) else 0
        if self.goods:
            if d != len(self.goods):
                raise ValueError(f"expected {len(self.goods)} goods on the last axis, got {d}")
            return self.goods
        return (1.0,) * d  # token instances: no goods, nothing to rescale


# --------------------------------------------------------------------------------------
# The change of variables
# --------------------------------------------------------------------------------------


def _scaled_types(types: TypeSet, factor: float) -> TypeSet:
    """`types` with every value of precision times `factor` (probabilities, scales,
    task measures and labels kept). Belongs on TypeSet (e.g. ``TypeSet.scaled``)."""
    if types.kind == "theta":
        assert types.theta is not None
        return replace(types, theta=types.theta * factor)
    if types.kind == "value_scale":
        assert types.value_per_task is not None
        return replace(types, value_per_task=types.value_per_task * factor)
    assert types.value is not None
    return replace(types, value=types.value * factor)


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not _positive_finite(value):
        raise ValueError(f"unit {name} must be positive and finite, got {value!r}")
    return value


def _rescale_tokens(
    instance: Instance, money: float, qx: float, qy: float, qz: float
) -> tuple[Instance, Units]:
    tech = instance.technology
    prec = tech.precision
    if isinstance(prec, CobbDouglas):
        k = qx**prec.alpha * qy**prec.beta * qz**prec.gamma
        new_prec: Any = replace(prec, base_quality=prec.base_quality / qz)
    elif (qx, qy, qz) == (1.0, 1.0, 1.0):
        k, new_prec = 1.0, prec
    else:
        raise ValueError(
            "tokens of a precision function that is not Cobb-Douglas cannot be re-denominated "
            "(its formula is unknown); rescale money only"
        )
    new_tech = replace(
        tech,
        cost_input=tech.cost_input * qx / money,
        cost_output=tech.cost_output * qy / money,
        cost_finetune=tech.cost_finetune * qz / money,
        precision=new_prec,
    )
    units = Units(money, qx, qy, qz, (), k)
    if units.is_identity:
        return instance, units
    return replace(instance, types=_scaled_types(instance.types, k / money), technology=new_tech), (
        units
    )


def _common_goods_unit(instance: ScreeningInstance, goods: float | Sequence[float]) -> float:
    """The one quantity unit of all goods (the forms share their coefficients)."""
    units = np.broadcast_to(np.asarray(goods, dtype=float), (len(instance.dims),))
    for g in units:
        _check_unit("goods", float(g))
    if not np.all(units == units[0]):
        raise ValueError(
            f"goods units {tuple(units.tolist())} differ: the value and cost forms share one "
            "coefficient across goods, so only a common quantity unit is exact"
        )
    return float(units[0])


def _rescale_screening(
    instance: ScreeningInstance, money: float, q: float
) -> tuple[ScreeningInstance, Units]:
    """Goods ``y = q y~``, money ``M``; derivation per form in :func:`rescale`."""
    d = len(instance.dims)
    value_form, cost_form = instance.value_form, instance.cost_form
    known = value_form in ("linear", "power", "saturating") and cost_form in (
        "linear",
        "quadratic",
    )
    if not known:
        if money == 1.0 and q == 1.0:
            return instance, Units(goods=(1.0,) * d)
        raise ValueError(
            f"value_form {value_form!r} / cost_form {cost_form!r}: only the built-in forms "
            "can be rescaled"
        )
    changes: dict[str, Any] = {}
    if value_form == "linear":  # theta y = theta q y~
        quality = q
    elif value_form == "power":  # theta y^e = theta q^e y~^e
        assert instance.value_exponent is not None
        quality = q**instance.value_exponent
    else:  # theta (1 - exp(-r y)) = theta (1 - exp(-(r q) y~)): the rate absorbs q
        assert instance.value_rate is not None
        quality = 1.0
        changes["value_rate"] = instance.value_rate * q
    # linear cost c y = (c q) y~; quadratic c/2 y^2 = (c q^2)/2 y~^2
    cost_units = q if cost_form == "linear" else q * q
    changes["cost_coef"] = instance.cost_coef * cost_units / money
    changes["theta"] = np.asarray(instance.theta, float) * (quality / money)
    units = Units(money, goods=(q,) * d, characteristic=quality)
    if units.is_identity:
        return instance, units
    return replace(instance, **changes), units


def rescale(
    instance: AnyInstance,
    *,
    money: float = 1.0,
    input: float = 1.0,
    output: float = 1.0,
    finetune: float = 1.0,
    goods: float | Sequence[float] = 1.0,
) -> tuple[AnyInstance, Units]:
    """The same instance in other units: 1 new unit = `money` (`input`, ...) old units.

    Exact for every form it accepts (each payoff and cost becomes the old one over
    `money`). Token instances: theta, ``w`` or task values times
    ``input^a output^b finetune^g / money``, costs ``c_j`` times ``unit_j / money``,
    ``base_quality`` over `finetune`. Generic screening with goods ``y = q y~``:

    - linear value ``theta y``: ``theta~ = theta q / M``;
    - power value ``theta y^e``: ``theta~ = theta q^e / M`` (``e`` kept);
    - saturating ``theta (1 - exp(-r y))``: ``r~ = r q`` (stays positive),
      ``theta~ = theta / M``;
    - linear cost ``c sum y``: ``c~ = c q / M``; quadratic ``c/2 sum y^2``: ``c~ = c q^2 / M``.

    Raises ValueError for units that are not positive and finite, token units with a
    precision function that is not Cobb-Douglas, goods units that differ across goods,
    token units on a screening instance or goods units on a token instance. The units in
    the result carry the derived ``characteristic``; `instance` comes back unchanged
    (the same object) when every unit is 1.
    """
    money = _check_unit("money", money)
    tokens = tuple(
        _check_unit(n, v) for n, v in (("input", input), ("output", output), ("finetune", finetune))
    )
    if isinstance(instance, ScreeningInstance):
        if tokens != (1.0, 1.0, 1.0):
            raise ValueError("a generic screening instance has goods, not tokens: use goods=")
        return _rescale_screening(instance, money, _common_goods_unit(instance, goods))
    if isinstance(instance, Instance):
        if np.any(np.asarray(goods, float) != 1.0):
            raise ValueError("a token instance has tokens, not goods: use input/output/finetune")
        return _rescale_tokens(instance, money, *tokens)
    raise TypeError(f"expected an Instance or a ScreeningInstance, got {type(instance).__name__}")


# --------------------------------------------------------------------------------------
# The units of an instance: its first best
# --------------------------------------------------------------------------------------


def _cobb_douglas_units(instance: Instance) -> Units:
    tech = instance.technology
    prec = tech.cobb_douglas_precision
    theta = np.asarray(instance.theta, float)
    active = np.asarray(instance.types.prob, float) > 0
    top = float(theta[active].max())
    if not top > 0:
        return Units(
            value_scale=1.0,
            reason="no type with positive probability values precision (largest theta is "
            f"{top!r}): the optimal menu is the null menu; kept in instance units",
        )
    x, y, z = (float(v) for v in pointwise_bundle(top, tech))
    qz = prec.base_quality + z
    k = x**prec.alpha * y**prec.beta * qz**prec.gamma
    value = top * k
    # expected first-best welfare: theta u - cost at every type's pointwise optimum
    with np.errstate(all="ignore"):
        xs, ys, zs = pointwise_bundle(theta, tech)
        surplus = theta * prec.precision_of_tokens(xs, ys, zs) - tech.cost(xs, ys, zs)
        welfare = float(np.asarray(instance.types.prob, float) @ surplus)
    if not all(_positive_finite(v) for v in (x, y, qz, k, value, welfare)):
        return Units(
            value_scale=1.0,
            reason=f"the first best (top theta {top!r}: X={x!r}, Y={y!r}, b+Z={qz!r}, "
            f"value {value!r}; expected welfare {welfare!r}) is not a positive float; kept "
            "in instance units",
        )
    # fine-tuning's unit: b + Z of the top first best; when that buys none, and
    # fine-tuning is dear against the welfare, the amount worth M at cost instead, so that
    # its normalized cost is 1 (b + Z = b made it 3e11 with costs 1e6 x values)
    unit_z = qz if z > 0 else min(qz, welfare / tech.cost_finetune)
    return Units(welfare, x, y, unit_z, (), k, value)


def _value_weights(types: TypeSet) -> tuple[FloatArray, FloatArray]:
    """Per type and task: value of unit precision (weights) and tasks covered (measures).

    Type i's gross value of per-task tokens ``x_j, y_j`` and fine-tuning ``z`` is
    ``sum_j weights[i, j] P(x_j, y_j, z)`` and it uses ``sum_j measures[i, j] x_j`` input
    tokens: one task for theta types, ``s`` tasks of value ``w`` for value-scale types.
    """
    n = len(types)
    if types.kind == "theta":
        assert types.theta is not None
        return types.theta[:, None].copy(), np.ones((n, 1))
    if types.kind == "value_scale":
        assert types.value_per_task is not None and types.scale is not None
        s = types.scale[:, None]
        return types.value_per_task[:, None] * s, s.copy()
    assert types.value is not None and types.task_measure is not None
    mu = np.broadcast_to(types.task_measure, (n, len(types.task_measure)))
    return types.value * mu, mu.copy()


def _numerical_first_best(tech: Technology, weights: FloatArray, measures: FloatArray) -> float:
    """Gross value ``sum_j w_j P(x_j, y_j, z)`` at the tokens maximizing it minus their cost.

    L-BFGS-B in ``(log x_j, log y_j, z)`` (precision may be infinitely steep at zero
    tokens; ``z >= 0`` is a bound) from two starts, the better one polished with the
    objective rescaled to about 1. Weights and costs are divided by the largest weight
    first, so money re-denominations of an instance see the same problem. Returns 0 when
    buying nothing is best.
    """
    top = float(weights.max())
    w = weights / top
    cx, cy, cz = (c / top for c in (tech.cost_input, tech.cost_output, tech.cost_finetune))
    j = w.size
    prec = tech.precision

    def gross(v: FloatArray) -> float:
        a_in, a_out = prec.factors(np.exp(v[:j]), np.exp(v[j : 2 * j]))
        return float(w @ np.asarray(prec.precision(a_in, a_out, v[2 * j]), float))

    def surplus(v: FloatArray) -> float:
        x, y = np.exp(v[:j]), np.exp(v[j : 2 * j])
        return gross(v) - cx * float(measures @ x) - cy * float(measures @ y) - cz * v[2 * j]

    bounds = [(-60.0, 60.0)] * (2 * j) + [(0.0, None)]
    scale = [1.0]

    def solve(start: FloatArray) -> Any:
        return optimize.minimize(
            lambda v: -surplus(v) / scale[0],
            start,
            method="L-BFGS-B",
            jac="3-point",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
        )

    with np.errstate(all="ignore"):
        starts = [np.r_[np.zeros(2 * j), z0] for z0 in (0.0, 1.0)]
        best = min((solve(s) for s in starts), key=lambda r: r.fun).x
        scale[0] = max(abs(surplus(best)), 1e-300)
        polished = solve(best).x
        if surplus(polished) > surplus(best):
            best = polished
        if not surplus(best) > 0:
            return 0.0
        return top * gross(best)


def _numerical_units(instance: Instance) -> Units:
    """Money only, from the top type's numerical first best (tokens kept).

    The inner solve takes a few tenths of a second and the pipeline asks for the units
    more than once (normalize, then the tolerance), so results are cached per instance
    (instances are frozen; an unhashable precision function is simply not cached).
    """
    try:
        return _cached_numerical_units(instance)
    except TypeError:  # unhashable: lru_cache refuses it before calling
        return _solve_numerical_units(instance)


def _solve_numerical_units(instance: Instance) -> Units:
    weights, measures = _value_weights(instance.types)
    active = np.asarray(instance.types.prob, float) > 0
    total = np.where(active, weights.sum(axis=1), -np.inf)
    i = int(np.argmax(total))  # the top type: most value per unit of precision on all tasks
    if not total[i] > 0:
        return Units(
            value_scale=1.0,
            reason="no type with positive probability values precision: the optimal menu is "
            "the null menu; kept in instance units",
        )
    try:
        money = _numerical_first_best(instance.technology, weights[i], measures[i])
    except (ArithmeticError, ValueError, TypeError) as exc:
        return Units(
            value_scale=1.0,
            reason=f"the top type's first best could not be computed ({exc}); kept in "
            "instance units",
        )
    if not _positive_finite(money):
        return Units(
            value_scale=1.0,
            reason=f"the top type's numerical first best is worth {money!r} (it buys nothing at "
            "marginal-cost prices); kept in instance units",
        )
    return Units(
        money,
        value_scale=money,
        reason="only money is normalized, in units of the top type's first-best value (not "
        "the expected welfare): tokens stay in instance units because the precision "
        "function is not Cobb-Douglas",
    )


_cached_numerical_units = functools.lru_cache(maxsize=16)(_solve_numerical_units)


def _screening_first_best(instance: ScreeningInstance) -> FloatArray | str:
    """Goods ``(N, D)`` maximizing ``theta_d h(y_d) - C(y)`` per type, or why there are none.

    Value and cost are separable across goods, so each good solves its own FOC:
    linear/quadratic ``y = theta / c``; power ``theta e y^(e-1) = C'(y)`` gives
    ``(e theta / c)^(1/(1-e))`` (linear) or ``(e theta / c)^(1/(2-e))`` (quadratic);
    saturating ``theta r e^(-r y) = C'(y)`` gives ``ln(theta r / c) / r`` (linear, 0
    below ``theta r = c``) or ``W(theta r^2 / c) / r`` (quadratic, Lambert W).
    """
    th = np.asarray(instance.theta, float)
    c = instance.cost_coef
    vf, cf = instance.value_form, instance.cost_form
    pos = np.maximum(th, 0.0)
    with np.errstate(all="ignore"):
        if vf == "linear" and cf == "quadratic":
            return th / c if not instance.nonnegative else pos / c
        if vf == "power" and cf in ("linear", "quadratic"):
            assert instance.value_exponent is not None
            e = instance.value_exponent
            return (e * pos / c) ** (1.0 / ((1.0 if cf == "linear" else 2.0) - e))
        if vf == "saturating" and cf in ("linear", "quadratic"):
            assert instance.value_rate is not None
            r = instance.value_rate
            if cf == "linear":
                ratio = pos * r / c
                return np.where(ratio > 1.0, np.log(np.where(ratio > 1.0, ratio, 1.0)) / r, 0.0)
            return np.real(special.lambertw(pos * r * r / c)) / r
    if vf == "linear" and cf == "linear":
        return "linear value with linear cost has no first best (unbounded goods)"
    return f"value_form {vf!r} / cost_form {cf!r} are not built-in forms"


def _screening_value(instance: ScreeningInstance, goods: FloatArray) -> FloatArray:
    """``sum_d theta_d h(y_d)`` per type for goods ``(N, D)`` (the built-in forms)."""
    if instance.value_form == "linear":
        h = goods
    elif instance.value_form == "power":
        h = goods**instance.value_exponent
    else:
        h = -np.expm1(-instance.value_rate * goods)
    return np.einsum("id,id->i", np.asarray(instance.theta, float), h)


def _screening_units(instance: ScreeningInstance) -> Units:
    d = len(instance.dims)
    fb = _screening_first_best(instance)
    if isinstance(fb, str):
        return Units(goods=(1.0,) * d, value_scale=1.0, reason=f"{fb}; kept in instance units")
    prob = np.asarray(instance.prob, float)
    with np.errstate(all="ignore"):
        gross = _screening_value(instance, fb)
        cost = instance.cost_coef * (
            fb.sum(axis=1) if instance.cost_form == "linear" else 0.5 * (fb * fb).sum(axis=1)
        )
        welfare = float(prob @ (gross - cost))
    i = int(np.argmax(np.where(prob > 0, gross, -np.inf)))
    value = float(gross[i])
    q = float(np.max(np.abs(fb[i])))
    if not all(_positive_finite(v) for v in (value, q, welfare)):
        return Units(
            goods=(1.0,) * d,
            value_scale=1.0,
            reason=f"the first best (top type's goods {fb[i].tolist()!r}, value {value!r}; "
            f"expected welfare {welfare!r}) is not positive and finite (nobody gains from "
            "trade at cost); kept in instance units",
        )
    return replace(_rescale_screening(instance, welfare, q)[1], value_scale=value)


def units_of(instance: Instance | ScreeningInstance) -> Units:
    """The normalizing units of `instance`, from its first best (module docstring): tokens
    or goods of the top type's first best, money the expected first-best welfare, and the
    top type's first-best value as ``value_scale``.

    Never raises for a valid instance: when it cannot be normalized, the identity units
    with ``value_scale`` 1 and ``reason`` set (money only, in units of the top type's
    value, for precision functions that are not Cobb-Douglas).
    """
    if isinstance(instance, ScreeningInstance):
        return _screening_units(instance)
    if not isinstance(instance, Instance):
        raise TypeError(
            f"expected an Instance or a ScreeningInstance, got {type(instance).__name__}"
        )
    if isinstance(instance.technology.precision, CobbDouglas):
        return _cobb_douglas_units(instance)
    return _numerical_units(instance)


def normalize(instance: AnyInstance) -> tuple[AnyInstance, Units]:
    """`instance` in its own normalized units, and the units that map its menus back.

    The optimal menu of the result, mapped back with the units (tokens by
    :meth:`Units.tokens_to_instance` or :meth:`Units.goods_to_instance`, payments by
    :meth:`Units.money_to_instance`), is exactly the optimal menu of `instance`: a change
    of variables. Same kind, labels, probabilities, name, path and notes. When `instance`
    cannot be normalized it comes back unchanged with identity units whose ``reason``
    says why (never an error for a valid instance).
    """
    units = units_of(instance)
    if isinstance(instance, ScreeningInstance):
        goods = units.goods[0] if units.goods else 1.0
        new, mapped = _rescale_screening(instance, units.money, goods)
    else:
        new, mapped = _rescale_tokens(
            instance, units.money, units.input, units.output, units.finetune
        )
    return new, replace(mapped, value_scale=units.value_scale, reason=units.reason)


def value_scale(instance: Instance | ScreeningInstance) -> float:
    """Money per buyer that `instance`'s values are measured in: its top type's first-best
    gross value, in instance units (``units_of(instance).value_scale``).

    The verification tolerance is ``rtol * value_scale(instance)``: absolute money per
    buyer, fixed by the instance before any solve (never by the menu's payments), and
    linear in the money unit. One money unit of the instance (1.0) when it cannot be
    normalized (``units_of(instance).reason`` says why). Of a normalized instance it is
    ``value_scale(instance) / units.money`` up to rounding (the units are equivariant).
    """
    scale = units_of(instance).value_scale
    assert scale is not None  # units_of always sets it
    return scale


def first_best_values(instance: Instance | ScreeningInstance) -> FloatArray:
    """Each type's first-best gross value (its value of the bundle it would buy at prices
    equal to marginal costs), in instance money: every type's own value scale.

    The certificate's tolerance is ``rtol`` times it, type by type: a buyer's gain is
    measured against what that buyer could ever get, so a rich type of tiny probability
    does not widen the tolerance of everyone else. Cobb-Douglas token instances and the
    built-in screening forms have it in closed form (the first best does not depend on
    contractibility: Token Allocations' equals Token Packages' at the CES index); other
    instances fall back to :func:`value_scale` for every type.
    """
    n = len(instance.labels) if isinstance(instance, ScreeningInstance) else len(instance.types)
    fallback = np.full(n, value_scale(instance))
    with np.errstate(all="ignore"):
        if isinstance(instance, ScreeningInstance):
            goods = _screening_first_best(instance)
            if isinstance(goods, str):
                return fallback
            values = _screening_value(instance, np.asarray(goods, float))
        elif isinstance(instance.technology.precision, CobbDouglas):
            tech = instance.technology
            theta = np.maximum(np.asarray(instance.theta, float), 0.0)
            x, y, z = pointwise_bundle(theta, tech)
            values = theta * tech.cobb_douglas_precision.precision_of_tokens(x, y, z)
        else:
            return fallback
    values = np.asarray(values, float)
    return np.where(np.isfinite(values) & (values >= 0), values, fallback)
