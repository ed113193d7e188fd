"""Pyomo modeling components of the paper's contracting environments."""

from pyomo_llmprice.blocks.allocations import TokenAllocations, TokenAllocationsData
from pyomo_llmprice.blocks.menu import ScreeningMenuData
from pyomo_llmprice.blocks.packages import TokenPackages, TokenPackagesData

__all__ = [
    "ScreeningMenuData",
    "TokenAllocations",
    "TokenAllocationsData",
    "TokenPackages",
    "TokenPackagesData",
]
