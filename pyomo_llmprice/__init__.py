"""pyomo_llmprice: optimal pricing of large language models as Pyomo screening models.

Importing the package registers its solvers (``cyipopt_direct``, ``casadi_ipopt``)
with Pyomo.
"""

from pyomo_llmprice import plugins as _plugins  # noqa: F401  (registers solvers)
from pyomo_llmprice.technology import CobbDouglas, Technology

__all__ = ["CobbDouglas", "Technology"]
__version__ = "0.1.0"
