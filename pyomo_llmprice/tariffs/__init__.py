"""The tariff layer: from screening menus to pricing pages.

Buyers' best responses (:mod:`.buyers`), the buyer's optimality conditions as
complementarity constraints (:mod:`.kkt`), menus of two-part tariffs and their exact
check (:mod:`.menu`), plan design with K plans and the uniform baselines (:mod:`.design`),
and the one function that prices a certified menu's plans (:mod:`.markups`). Pure: menus
and technologies in, plans out; it never imports the pipeline. The comparison that
solves a full menu beside the designs (``compare_pricing``) sits above both, in
:mod:`pyomo_llmprice.analysis`. Everything is priced in Token Packages (token totals);
see :mod:`.menu` for Token Allocations.
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
from pyomo_llmprice.tariffs.design import PlanDesign, design_plans, linear_pricing
from pyomo_llmprice.tariffs.markups import fixed_fee, implied_markup, menu_plans
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
    "design_plans",
    "evaluate_tariffs",
    "fixed_fee",
    "implied_markup",
    "linear_pricing",
    "menu_plans",
    "package_value",
    "split_package",
    "tariff_menu_from_bundles",
    "tariff_menu_from_result",
]
