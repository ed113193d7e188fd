"""Competition: equilibrium menus when several LLM providers screen the same buyers.

Sellers with their own technologies each offer a screening menu (or K two-part
tariffs); buyers of the monopoly instance's vertical types pick a seller by a
horizontal taste (:data:`~pyomo_llmprice.competition.market.TASTES`: logit or
Hotelling) and, within its menu, their best item. :class:`Competition` computes a
Nash equilibrium of menus by damped best responses (each one a Pyomo NLP solved by
Ipopt) and certifies it by re-solving every seller's best response from several
starts (``max_deviation_gain``).
"""

from pyomo_llmprice.competition.best_response import BestResponse, SellerMenu, best_response_model
from pyomo_llmprice.competition.equilibrium import GAIN_TOLERANCE, Competition, CompetitionResult
from pyomo_llmprice.competition.market import (
    TASTES,
    CompetitionInstance,
    Hotelling,
    Logit,
    Seller,
    Taste,
    register_taste,
)

__all__ = [
    "GAIN_TOLERANCE",
    "TASTES",
    "BestResponse",
    "Competition",
    "CompetitionInstance",
    "CompetitionResult",
    "Hotelling",
    "Logit",
    "Seller",
    "SellerMenu",
    "Taste",
    "best_response_model",
    "register_taste",
]
