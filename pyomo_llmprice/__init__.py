"""pyomo_llmprice: optimal pricing of large language models as Pyomo screening models.

Importing the package registers its solvers (``cyipopt_direct``, ``casadi_ipopt``,
``scipy_trust_constr``, ``scipy_slsqp``) with Pyomo. The public entry points below
are imported on first use, so ``pyomo solve`` (which imports this package to find
the solvers) does not pay for pandas, the tariff layer or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from pyomo_llmprice import plugins as _plugins  # noqa: F401  (registers solvers)
from pyomo_llmprice.technology import CobbDouglas, Technology

#: public name -> module that defines it (imported lazily)
_LAZY = {
    "LLMPricingModel": "pyomo_llmprice.quick",
    "read_instance": "pyomo_llmprice.io",
    "build_model": "pyomo_llmprice.pipeline",
    "solve_model": "pyomo_llmprice.pipeline",
    "solve_instance": "pyomo_llmprice.pipeline",
    "compare_pricing": "pyomo_llmprice.analysis",
    "full_menu_tangent": "pyomo_llmprice.analysis",
    "certify_menu": "pyomo_llmprice.result",
    "design_plans": "pyomo_llmprice.tariffs",
    "linear_pricing": "pyomo_llmprice.tariffs",
    "Competition": "pyomo_llmprice.competition",
    "calibrate_usage": "pyomo_llmprice.calibration",
}

__all__ = ["CobbDouglas", "Technology", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pyomo_llmprice' has no attribute {name!r}")
