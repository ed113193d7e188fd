"""Registration of the package's solvers and transformations with Pyomo.

Named by the ``pyomo.command`` entry point, the only group ``pyomo`` loads before
it looks up ``--solver=NAME``; importing this module is all it takes.
"""

from __future__ import annotations

from pyomo.contrib.solver.common.factory import SolverFactory as NewSolverFactory
from pyomo.opt.base.solvers import LegacySolverFactory

from pyomo_llmprice._compat import check_pyomo_version

__all__ = ["load"]

check_pyomo_version()

DEFAULT_SOLVER = "cyipopt_direct"
"""The solver every door uses unless told otherwise (Ipopt bundled with cyipopt)."""

SOLVERS = {
    "cyipopt_direct": "Ipopt (bundled with cyipopt) on an in-memory compilation of the model",
    "casadi_ipopt": "CasADi nlpsol('ipopt') on the same in-memory compilation",
    "scipy_trust_constr": "SciPy trust-constr on the same compiled callbacks (sparse)",
    "scipy_slsqp": "SciPy SLSQP on the same compiled callbacks (dense; small models)",
}


def load() -> None:
    """Register the solvers in both of Pyomo's factories (idempotent)."""
    from pyomo_llmprice.solvers.casadi_ipopt import CasadiIpopt, LegacyCasadiIpopt
    from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect, LegacyCyIpoptDirect
    from pyomo_llmprice.solvers.scipy_nlp import (
        LegacyScipySLSQP,
        LegacyScipyTrustConstr,
        ScipySLSQP,
        ScipyTrustConstr,
    )

    for name, cls, legacy in (
        ("cyipopt_direct", CyIpoptDirect, LegacyCyIpoptDirect),
        ("casadi_ipopt", CasadiIpopt, LegacyCasadiIpopt),
        ("scipy_trust_constr", ScipyTrustConstr, LegacyScipyTrustConstr),
        ("scipy_slsqp", ScipySLSQP, LegacyScipySLSQP),
    ):
        if name in LegacySolverFactory and name in NewSolverFactory:
            continue
        NewSolverFactory.register(name, doc=SOLVERS[name])(cls, legacy)


load()
