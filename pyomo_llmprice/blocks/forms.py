"""Value and cost rules of the generic screening block.

A rule is written once for Pyomo expressions and numpy arrays: it receives the
math namespace ``lib`` (``pyomo.environ`` while building the model, ``numpy``
when reading a solved menu back), so ``lib.log``/``lib.exp`` work on both.

Type i values goods ``y`` at ``sum_d theta[i, d] h(y_d)``. The block's decision
variable is the *quality* ``q = h(y)`` (valued linearly, so IR and IC rows are
linear), and a :class:`ValueForm` gives the good as a function of quality,
``y = h^-1(q)``, convex and increasing for concave ``h``: the seller's problem is
then concave in (q, t) and Ipopt's KKT point is the optimum. Power values are
handled this way with finite derivatives at zero (``y = q^(1/e)``), as the LLM
blocks do with their factor variables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "CostForm",
    "CostRule",
    "LinearCost",
    "LinearValue",
    "PowerValue",
    "QuadraticCost",
    "SaturatingValue",
    "ValueForm",
    "cost_form",
    "value_form",
]


class ValueForm(Protocol):
    """``h`` of ``sum_d theta_d h(y_d)``, through its inverse ``good(q) = h^-1(q)``."""

    def good(self, quality: Any, lib: Any) -> Any:
        """The good ``y`` delivering quality ``q`` (convex, increasing, 0 at 0)."""
        ...

    def quality_bounds(self, nonnegative: bool) -> tuple[float | None, float | None]:
        """Bounds of q; ``nonnegative`` says whether goods are bounded below by 0."""
        ...


class CostForm(Protocol):
    """The seller's cost of one bundle of goods (convex)."""

    def __call__(self, goods: Sequence[Any], lib: Any) -> Any: ...


CostRule = Callable[[Sequence[Any], Any], Any]


@dataclass(frozen=True)
class LinearValue:
    """``h(y) = y``: the textbook linear value (Mussa-Rosen, Rochet-Chone)."""

    def good(self, quality: Any, lib: Any) -> Any:
        return quality

    def quality(self, good: Any, lib: Any) -> Any:
        return good

    def quality_bounds(self, nonnegative: bool) -> tuple[float | None, float | None]:
        return (0.0 if nonnegative else None, None)


@dataclass(frozen=True)
class PowerValue:
    """``h(y) = y^e``, ``0 < e < 1``; goods ``y = q^(1/e)`` (smooth at 0)."""

    exponent: float

    def __post_init__(self) -> None:
        if not 0 < self.exponent < 1:
            raise ValueError(f"the power value needs an exponent in (0, 1), got {self.exponent}")

    def good(self, quality: Any, lib: Any) -> Any:
        return quality ** (1.0 / self.exponent)

    def quality(self, good: Any, lib: Any) -> Any:
        return good**self.exponent

    def quality_bounds(self, nonnegative: bool) -> tuple[float | None, float | None]:
        return (0.0, None)


@dataclass(frozen=True)
class SaturatingValue:
    """``h(y) = 1 - exp(-r y)``; goods ``y = -ln(1 - q)/r``, quality below 1."""

    rate: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"the saturating value needs a positive rate, got {self.rate}")

    def good(self, quality: Any, lib: Any) -> Any:
        return -lib.log(1.0 - quality) / self.rate

    def quality(self, good: Any, lib: Any) -> Any:
        return 1.0 - lib.exp(-self.rate * good)

    def quality_bounds(self, nonnegative: bool) -> tuple[float | None, float | None]:
        return (0.0, 1.0)


@dataclass(frozen=True)
class LinearCost:
    """``coef * sum_d y_d`` (constant marginal cost)."""

    coef: float

    def __call__(self, goods: Sequence[Any], lib: Any) -> Any:
        return self.coef * sum(goods)


@dataclass(frozen=True)
class QuadraticCost:
    """``coef/2 * sum_d y_d^2`` (Mussa-Rosen's q^2/2 at coef 1)."""

    coef: float

    def __call__(self, goods: Sequence[Any], lib: Any) -> Any:
        return 0.5 * self.coef * sum(y * y for y in goods)


def value_form(name: str, exponent: float | None = None, rate: float | None = None) -> ValueForm:
    """The value form of a ``.dat`` file's ``value_form`` entry."""
    if name == "linear":
        return LinearValue()
    if name == "power":
        if exponent is None:
            raise ValueError("value_form 'power' needs value_exponent")
        return PowerValue(exponent)
    if name == "saturating":
        if rate is None:
            raise ValueError("value_form 'saturating' needs value_rate")
        return SaturatingValue(rate)
    raise ValueError(f"unknown value_form {name!r}; one of linear, power, saturating")


def cost_form(name: str, coef: float) -> CostForm:
    """The cost form of a ``.dat`` file's ``cost_form`` entry."""
    if name == "linear":
        return LinearCost(coef)
    if name == "quadratic":
        return QuadraticCost(coef)
    raise ValueError(f"unknown cost_form {name!r}; one of linear, quadratic")
