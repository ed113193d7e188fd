"""The tariff layer: from screening menus to pricing pages.

Buyers' best responses (:mod:`.buyers`), the buyer's optimality conditions as
complementarity constraints (:mod:`.kkt`), menus of two-part tariffs and their exact
check (:mod:`.menu`), plan design with K plans and the uniform baselines (:mod:`.design`),
and the comparison table a pricing team asks for (:mod:`.compare`). Everything is priced
in Token Packages (token totals); see :mod:`.menu` for Token Allocations.
"""

from pyomo_llmprice.tariffs.buyers import (
    CobbDouglasBuyer,
    NumericalBuyer,
    QuadraticBuyer,
    QuadraticGood,
    ValueBuyer,
    ValueGood,
    buyer_for,
    cobb_douglas_demand,
    package_value,
    split_package,
)
from pyomo_llmprice.tariffs.compare import PricingComparison, compare_pricing, full_menu_tangent
from pyomo_llmprice.tariffs.design import PlanDesign, design_plans, linear_pricing
from pyomo_llmprice.tariffs.markups import fixed_fee, implied_markup
from pyomo_llmprice.tariffs.menu import (
    TIE_TOL,
    TariffError,
    TariffMenu,
    TariffOutcome,
    TwoPartTariff,
    best_response,
    evaluate_tariffs,
    tariff_menu_from_bundles,
    tariff_menu_from_result,
)

__all__ = [
    "TIE_TOL",
    "CobbDouglasBuyer",
    "NumericalBuyer",
    "PlanDesign",
    "PricingComparison",
    "QuadraticBuyer",
    "QuadraticGood",
    "TariffError",
    "TariffMenu",
    "TariffOutcome",
    "TwoPartTariff",
    "ValueBuyer",
    "ValueGood",
    "best_response",
    "buyer_for",
    "cobb_douglas_demand",
    "compare_pricing",
    "design_plans",
    "evaluate_tariffs",
    "fixed_fee",
    "full_menu_tangent",
    "implied_markup",
    "linear_pricing",
    "package_value",
    "split_package",
    "tariff_menu_from_bundles",
    "tariff_menu_from_result",
]
