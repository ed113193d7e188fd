"""Pyomo modeling components of the paper's contracting environments."""

from pyomo_llmprice.blocks.allocations import TokenAllocations, TokenAllocationsData
from pyomo_llmprice.blocks.menu import ScreeningMenuData
from pyomo_llmprice.blocks.packages import TokenPackages, TokenPackagesData
from pyomo_llmprice.blocks.screening import Screening, ScreeningData

__all__ = [
    "Screening",
    "ScreeningData",
    "ScreeningMenuData",
    "TokenAllocations",
    "TokenAllocationsData",
    "TokenPackages",
    "TokenPackagesData",
]
