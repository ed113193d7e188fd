"""Pyomo modeling components of the paper's contracting environments.

Importing a block module registers its setting (:mod:`pyomo_llmprice.settings`); the
order below is the order settings are listed in (``--setting`` choices, docs).
"""

# isort: skip_file
from pyomo_llmprice.blocks.packages import TokenPackages, TokenPackagesData
from pyomo_llmprice.blocks.allocations import TokenAllocations, TokenAllocationsData
from pyomo_llmprice.blocks.screening import Screening, ScreeningData
from pyomo_llmprice.blocks.menu import ScreeningMenuData

__all__ = [
    "Screening",
    "ScreeningData",
    "ScreeningMenuData",
    "TokenAllocations",
    "TokenAllocationsData",
    "TokenPackages",
    "TokenPackagesData",
]
