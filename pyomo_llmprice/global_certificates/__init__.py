"""Global certificates: bounds proven by third-party global solvers (SCIP, Gurobi).

Orchestration above the tariff layer and the package's own Ipopt interfaces
(:mod:`pyomo_llmprice.solvers`): :mod:`.global_minlp` runs a Pyomo model through
Pyomo's ``scip_direct`` / ``gurobi_direct_minlp`` with progress and the package's
statuses; :mod:`.plans` certifies K-plan pricing pages with it. (Not to be confused
with :mod:`pyomo_llmprice.certificate`, the all-pairs check of a published menu.)
"""
