"""The Ipopt options the package passes by default: every table in one place.

Callers merge a table under the user's options (``{**TABLE, **options}``), so a
user's value always wins. Solvers other than Ipopt receive the same names: SciPy's
translate ``tol`` and ``max_iter`` and ignore the rest
(:data:`~pyomo_llmprice.solvers.scipy_nlp.IPOPT_ONLY_OPTIONS`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CHAIN_IPOPT_OPTIONS",
    "DEFAULT_IPOPT_OPTIONS",
    "LONG_CHAIN_IPOPT_OPTIONS",
    "LONG_CHAIN_SOLVER",
    "LONG_CHAIN_TYPES",
    "LONG_ENVELOPE_IPOPT_OPTIONS",
    "MPEC_IPOPT_OPTIONS",
    "WARM_START_MULTIPLIER_OPTIONS",
    "WARM_START_OPTIONS",
]

#: menu solves (``llmprice solve``, studies, the regularized retry). A tight tolerance and
#: no bound relaxation: excluded types then sit at zero and the discrete optimum is
#: reproduced to ~1e-9 (Ipopt's default tolerance and bound relaxation gave 5e-7)
DEFAULT_IPOPT_OPTIONS: dict[str, Any] = {
    "tol": 1e-9,
    "acceptable_tol": 1e-9,
    "bound_relax_factor": 0.0,
    "max_iter": 3000,
}

#: added under the menu options for one-dimensional menus on the adjacent IC chain. With
#: MUMPS's default pivot tolerance (1e-6) the chain's KKT system delays pivots until its
#: fronts turn dense and each factorization grows about N^3: CPU in Ipopt's search direction
#: on lognormal theta with Dirichlet(5) probabilities, 1.9 s at N = 1,000 and 21.4 s at
#: 2,000 (65 and 74 iterations); with 1e-8, 4.8 s at 2,000 (85 iterations), the same optimum
#: (the exact method's profit to 1e-9). Not a default: on four types (theta 0.3 0.5 0.7 0.9,
#: equal mass, Cobb-Douglas with beta 0.25 and cost_input 0.15) 1e-8 ended locally
#: infeasible after 217 iterations where 1e-6 is optimal in 26 (a sweep test caught it).
#: What made the fronts dense was the implied IR and monotonicity rows (degenerate where
#: active); Token Packages' chain now leaves them out (blocks/menu.py ``lean_chain``) and
#: its fronts stay at 6 whatever the pivot tolerance. Not a default either: the adaptive
#: barrier update (3,000 types on the lean chain: 7.3 s CPU and 93 iterations, against
#: 46.7 s and 73 for the full chain with the monotone update), because on four types
#: (tests/certificate, the zero-virtual-value case) it left a fee 1.2e-5 off theory's.
#: Token Packages now default to the envelope chain (``ic="envelope"``), which takes none
#: of these tables: 10,000 types in 65 iterations with the monotone update (69 adaptive)
CHAIN_IPOPT_OPTIONS: dict[str, Any] = {}

#: chains of at least this many distinct types also take LONG_CHAIN_IPOPT_OPTIONS
LONG_CHAIN_TYPES = 1_000
#: the solver of envelope chains of LONG_CHAIN_TYPES or more distinct types when none is
#: named: CasADi's bundled Ipopt, whose MUMPS 5.8.2 factorizes the chain's KKT system in
#: about 55 ms per iteration at 10,000 lognormal types against 140 ms for the MUMPS 5.5.1
#: in cyipopt's wheel (one thread each; the same 65 iterates): 9.1 s in all against 13.3 s
#: (unloaded 2-core machine; with the evaluator's own Hessian, evaluator.casadi_hessian,
#: and Ctrl-C and the deadline checked each iteration, casadi_ipopt._StopCheck)
LONG_CHAIN_SOLVER = "casadi_ipopt"
#: added on envelope chains of LONG_CHAIN_TYPES or more distinct types: no iterative
#: refinement unless the first solve's residual asks for it (Ipopt's default refines at
#: least once, a second MUMPS back solve each time: about 0.14 s per iteration at 100,000
#: types). 30,000 lognormal types: the same 74 iterations, 13.7 s against 16.1 s in the
#: search direction
LONG_ENVELOPE_IPOPT_OPTIONS: dict[str, Any] = {"min_refinement_steps": 0}

#: added on long chains: the monotone barrier update's iterations grow with N and with the
#: probability vector (3,000 lognormal types, three Dirichlet draws: 138 to 537 + 177 in
#: the dust re-solve, 8.7 to 69 s CPU); the adaptive update took 69 -> 14.7 s CPU on the
#: worst draw, same optimum (the exact method's profit to 3e-10). Short chains keep the
#: monotone update, fast there and pinned by the four-type tests above
LONG_CHAIN_IPOPT_OPTIONS: dict[str, Any] = {"mu_strategy": "adaptive"}

#: added under the menu options for re-solves that start from the previous point (IC
#: generation rounds, the polish after the regularized retry). The start is the
#: variables' values only (the warm start every Pyomo NLP solver takes), so Ipopt's
#: ``warm_start_*`` options, which act on multipliers, do not apply; instead the point
#: is pushed off its bounds by 1e-9 only and the barrier parameter starts at 1e-6.
#: Measured on Rochet-Chone generation (its last, warm round): 18 iterations on 30 x 30
#: and 23 on 40 x 40, same profit to 1e-10 (on 30 x 30: 39 from the point with none of
#: these options, 92 with mu_init alone; the old start that also reused the previous
#: multipliers took 10 and 15). On 50 x 50 the whole generation took 154 iterations (123
#: with multipliers; 203 with mu_init 1e-8, which was better on the smaller grids)
WARM_START_OPTIONS: dict[str, Any] = {
    "mu_init": 1e-6,
    "bound_push": 1e-9,
    "bound_frac": 1e-9,
    "slack_bound_push": 1e-9,
    "slack_bound_frac": 1e-9,
}

#: instead, for re-solves given the previous multipliers too (IC generation rounds with a
#: solver that takes them, see generation.takes_multipliers; new rows start at zero):
#: Ipopt's warm start from the primal-dual point, pushed off its bounds by 1e-9, with the
#: barrier parameter at 1e-6. Rochet-Chone 70 x 70: the rounds after the one that adds
#: the grid neighbours took 49, 34 and 20 iterations (generation 58 s in all); from the
#: primal point with the plain options such rounds took 50, 52 and 55 (105 s)
WARM_START_MULTIPLIER_OPTIONS: dict[str, Any] = {
    "warm_start_bound_push": 1e-9,
    "warm_start_mult_bound_push": 1e-9,
    "warm_start_slack_bound_push": 1e-9,
    "mu_init": 1e-6,
}

#: the tariff design's solves with the buyers' KKT conditions (tariffs/kkt.py, an MPEC
#: relaxed along a homotopy down to 1e-10): a tolerance as tight as the last relaxation
#: bound, and Ipopt's adaptive barrier update
MPEC_IPOPT_OPTIONS: dict[str, Any] = {
    "tol": 1e-10,
    "acceptable_tol": 1e-9,
    "max_iter": 3000,
    "mu_strategy": "adaptive",
    "bound_relax_factor": 0.0,
}
