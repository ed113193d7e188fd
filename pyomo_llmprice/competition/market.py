"""The competitive market: sellers, the buyers' horizontal taste, and the choice rule.

Buyers have the vertical type of the monopoly instance (theta, or value and scale,
with probabilities) and, independently, a horizontal taste for each seller. Given
the utility ``U[s, i]`` that type i gets from its best item of seller s, the taste
says with which probability it buys from s. Tastes are a registry
(:data:`TASTES`): each one gives the choice probabilities, the consumer surplus
(the expected utility including the taste) and the smooth expression of one
seller's probability given its rivals, which its best-response model maximizes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, logsumexp

from pyomo_llmprice.instance import Instance
from pyomo_llmprice.technology import Technology

__all__ = [
    "TASTES",
    "CompetitionInstance",
    "Hotelling",
    "Logit",
    "Seller",
    "Taste",
    "register_taste",
]


@dataclass(frozen=True)
class Seller:
    """One provider: its name and its own technology (exponents, base quality, costs)."""

    name: str
    technology: Technology


class Taste:
    """A horizontal taste: how utilities ``U[s, i]`` become choice probabilities.

    `scale` is the taste's money scale (sigma for logit, tau for Hotelling).
    """

    name: ClassVar[str] = ""
    #: what `scale` is called in the paper's language (for messages and reports)
    scale_name: ClassVar[str] = "scale"

    def __init__(self, scale: float, outside_option: bool) -> None:
        self.scale = float(scale)
        self.outside_option = bool(outside_option)

    def problem(self, n_sellers: int) -> str | None:
        """Why this taste cannot describe a market of `n_sellers` (None: it can)."""
        return None

    def probabilities(self, utility: np.ndarray) -> np.ndarray:
        """(S, N) probability that type i buys from seller s, from utilities (S, N)."""
        raise NotImplementedError

    def consumer_surplus(self, utility: np.ndarray) -> np.ndarray:
        """(N,) expected utility of each type, its taste included."""
        raise NotImplementedError

    def rivals(self, utility: np.ndarray, seller: int) -> np.ndarray:
        """(N,) what seller `seller`'s choice probability depends on besides its own utility."""
        raise NotImplementedError

    #: bounds of the gap ``(rival - own) / scale`` in a best-response model
    gap_bounds: ClassVar[tuple[float | None, float | None]] = (None, None)
    #: the model's row is ``gap >= (rival - own) / scale`` (True) instead of equality:
    #: for a probability capped at 1, where incentive constraints may force a type's
    #: utility past the point of full capture
    gap_at_least: ClassVar[bool] = False

    def probability_expr(self, gap: Any) -> Any:
        """A smooth Pyomo expression of the seller's choice probability in terms of the
        gap ``(rival - own utility) / scale`` (a variable within :attr:`gap_bounds`)."""
        raise NotImplementedError

    def own_probability(self, own: np.ndarray, rival: np.ndarray) -> np.ndarray:
        """The same probability in numpy, in instance money (K-plan best responses)."""
        raise NotImplementedError


class Logit(Taste):
    """I.i.d. Gumbel shocks of scale sigma (mean zero) on every seller and, with the
    outside option, on buying nothing (utility 0)."""

    name = "logit"
    scale_name = "sigma"

    def problem(self, n_sellers: int) -> str | None:
        if n_sellers < 2 and not self.outside_option:
            return "one seller without an outside option sells to everyone at any price"
        return None

    def _with_outside(self, utility: np.ndarray) -> np.ndarray:
        u = np.asarray(utility, float) / self.scale
        if self.outside_option:
            u = np.vstack([u, np.zeros((1, u.shape[1]))])
        return u

    def probabilities(self, utility: np.ndarray) -> np.ndarray:
        u = self._with_outside(utility)
        p = np.exp(u - logsumexp(u, axis=0, keepdims=True))
        return p[: np.shape(utility)[0]]

    def consumer_surplus(self, utility: np.ndarray) -> np.ndarray:
        return self.scale * logsumexp(self._with_outside(utility), axis=0)

    def rivals(self, utility: np.ndarray, seller: int) -> np.ndarray:
        """The rivals' inclusive value ``sigma log(sum_r exp(U_r / sigma) [+ 1])``."""
        others = np.delete(np.asarray(utility, float), seller, axis=0)
        return self.consumer_surplus(others)

    #: gap <= 50: exp stays finite while Ipopt searches; a seller then cannot push a
    #: type's share below e^-50 (that item is bought by nobody). No lower bound:
    #: incentive constraints may give a type any rent, so any share near 1
    gap_bounds = (None, 50.0)

    def probability_expr(self, gap: Any) -> Any:
        import pyomo.environ as pyo

        return 1.0 / (1.0 + pyo.exp(gap))

    def own_probability(self, own: np.ndarray, rival: np.ndarray) -> np.ndarray:
        return expit((np.asarray(own) - rival) / self.scale)


class Hotelling(Taste):
    """Two sellers at the ends of [0, 1], buyers uniform on it, transport cost tau per
    unit of distance; the market is covered (no outside option)."""

    name = "hotelling"
    scale_name = "tau"

    def problem(self, n_sellers: int) -> str | None:
        if n_sellers != 2:
            return f"Hotelling has two sellers at the ends of [0, 1], got {n_sellers}"
        if self.outside_option:
            return "Hotelling is implemented with a covered market only (outside_option 0)"
        return None

    def _share(self, utility: np.ndarray) -> np.ndarray:
        u = np.asarray(utility, float)
        return np.clip(0.5 + (u[0] - u[1]) / (2 * self.scale), 0.0, 1.0)

    def probabilities(self, utility: np.ndarray) -> np.ndarray:
        x = self._share(utility)
        return np.vstack([x, 1.0 - x])

    def consumer_surplus(self, utility: np.ndarray) -> np.ndarray:
        u = np.asarray(utility, float)
        x = self._share(u)  # the indifferent buyer's location
        tau = self.scale
        return u[0] * x - tau * x**2 / 2 + u[1] * (1 - x) - tau * (1 - x) ** 2 / 2

    def rivals(self, utility: np.ndarray, seller: int) -> np.ndarray:
        return np.asarray(utility, float)[1 - seller].copy()

    #: 0 <= P <= 1, with P = min(1, 1/2 + (own - rival) / (2 tau)) through the
    #: inequality row (exact wherever the seller's margin on the type is positive:
    #: profit then pushes the gap down to its row or to -1, full capture)
    gap_bounds = (-1.0, 1.0)
    gap_at_least = True

    def probability_expr(self, gap: Any) -> Any:
        return 0.5 - gap / 2

    def own_probability(self, own: np.ndarray, rival: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + (np.asarray(own) - rival) / (2 * self.scale), 0.0, 1.0)


#: taste name -> class; register more with :func:`register_taste`
TASTES: dict[str, type[Taste]] = {}


def register_taste(cls: type[Taste]) -> type[Taste]:
    """Add a taste to :data:`TASTES` (``param taste := NAME;`` in a competition file)."""
    TASTES[cls.name] = cls
    return cls


register_taste(Logit)
register_taste(Hotelling)


@dataclass(frozen=True)
class CompetitionInstance:
    """Buyers of the monopoly instance `buyers` (its types and probabilities; its
    technology is unused) facing `sellers`, with horizontal taste `taste`."""

    name: str
    path: str | None
    buyers: Instance
    sellers: tuple[Seller, ...]
    taste: Taste
    notes: str = ""

    def __post_init__(self) -> None:
        names = [s.name for s in self.sellers]
        if len(set(names)) != len(names):
            raise ValueError(f"seller names must be distinct, got {names}")
        problem = self.taste.problem(len(self.sellers))
        if problem:
            raise ValueError(problem)

    @property
    def seller_names(self) -> list[str]:
        return [s.name for s in self.sellers]

    def seller_instance(self, seller: int) -> Instance:
        """The monopoly instance of seller `seller`: the buyers with its technology."""
        s = self.sellers[seller]
        return replace(
            self.buyers, name=f"{self.name}_{s.name}", technology=s.technology, path=self.path
        )
