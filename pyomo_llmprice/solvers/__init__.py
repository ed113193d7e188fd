"""In-memory Ipopt interfaces for any smooth Pyomo NLP."""

from .casadi_ipopt import CasadiIpopt
from .cyipopt_direct import CyIpoptDirect
from .evaluator import NLPEvaluator, UnsupportedModelError

__all__ = ["CasadiIpopt", "CyIpoptDirect", "NLPEvaluator", "UnsupportedModelError"]
