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

SOLVERS = {
    "cyipopt_direct": "Ipopt (bundled with cyipopt) on an in-memory compilation of the model",
    "casadi_ipopt": "CasADi nlpsol('ipopt') on the same in-memory compilation",
}


def load() -> None:
    """Register the solvers in both of Pyomo's factories (idempotent)."""
    from pyomo_llmprice.solvers.casadi_ipopt import CasadiIpopt, LegacyCasadiIpopt
    from pyomo_llmprice.solvers.cyipopt_direct import CyIpoptDirect, LegacyCyIpoptDirect

    for name, cls, legacy in (
        ("cyipopt_direct", CyIpoptDirect, LegacyCyIpoptDirect),
        ("casadi_ipopt", CasadiIpopt, LegacyCasadiIpopt),
    ):
        if name in LegacySolverFactory and name in NewSolverFactory:
            continue
        NewSolverFactory.register(name, doc=SOLVERS[name])(cls, legacy)


load()
