"""``scipy_trust_constr`` and ``scipy_slsqp``: SciPy's NLP methods on the compiled model.

They call the very callbacks that ``cyipopt_direct`` hands to Ipopt (objective,
gradient, sparse Jacobian and Hessian of :class:`.evaluator.NLPEvaluator`), so a
comparison of the three measures the algorithms, not the derivative code.

``trust-constr`` keeps the Jacobian and Hessian sparse; ``SLSQP`` needs them dense
(memory ``m * n``), which limits it to small menus. Ipopt's option names that the
package passes by default are translated (``tol``, ``max_iter``) or ignored when
SciPy has no counterpart; the ignored names are listed in
``results.extra_info.ignored_options``.

Multipliers follow Ipopt's AMPL-driver convention like ``cyipopt_direct``: a dual is
the derivative of the optimal objective with respect to the constraint bound, and
``rc`` is recovered from the gradient of the Lagrangian at the returned point.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

import numpy as np
from pyomo.common.collections import ComponentMap
from pyomo.common.config import ConfigValue
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.common.base import Availability, SolverBase
from pyomo.contrib.solver.common.results import Results, SolutionStatus, TerminationCondition
from pyomo.contrib.solver.common.solution_loader import SolutionLoader
from pyomo.contrib.solver.common.util import (
    NoDualsError,
    NoReducedCostsError,
    NoSolutionError,
)
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.var import VarData
from pyomo.core.staleflag import StaleFlagManager
from pyomo.environ import value

from pyomo_llmprice.errors import SolverOptionError

from .config import InMemoryNLPConfig, TextOptionsWrapper, finish_results, normalize_options
from .evaluator import NLPEvaluator

__all__ = [
    "IPOPT_ONLY_OPTIONS",
    "LegacyScipySLSQP",
    "LegacyScipyTrustConstr",
    "ScipyNLPConfig",
    "ScipyResults",
    "ScipySLSQP",
    "ScipySolutionLoader",
    "ScipyTrustConstr",
]

try:
    import scipy
    import scipy.sparse as sparse
    from scipy.optimize import Bounds, NonlinearConstraint, OptimizeWarning, minimize

    _SCIPY_ERROR = None
except ImportError as err:  # pragma: no cover - scipy is in the test extra
    scipy = None
    _SCIPY_ERROR = err

TC = TerminationCondition

#: Ipopt options without a SciPy counterpart: accepted and ignored, so that the
#: pipeline's defaults (tight Ipopt tolerances) can be passed to every solver.
IPOPT_ONLY_OPTIONS = frozenset(
    {
        "acceptable_tol",
        "acceptable_iter",
        "bound_relax_factor",
        "bound_push",
        "bound_frac",
        "slack_bound_push",
        "slack_bound_frac",
        "constr_viol_tol",
        "dual_inf_tol",
        "compl_inf_tol",
        "mu_init",
        "mu_strategy",
        "nlp_scaling_method",
        "obj_scaling_factor",
        "print_level",
        "sb",
        "linear_solver",
        "hessian_approximation",
        "warm_start_init_point",
        "warm_start_bound_push",
        "warm_start_mult_bound_push",
        "warm_start_slack_bound_push",
    }
)


class ScipyNLPConfig(InMemoryNLPConfig):
    """Options of the SciPy solvers (SciPy's own options go in ``solver_options``)."""

    WARM_START_DOC = (
        "Accepted for interchangeability with cyipopt_direct; SciPy's methods start "
        "from the primal point only."
    )
    FEASIBILITY_DOC = (
        "Largest constraint or bound violation for which the returned point is called "
        "feasible (and, if SciPy reports convergence, optimal)."
    )


class ScipyResults(Results):
    """Pyomo's Results plus what SciPy tells about the run."""

    def __init__(
        self,
        description: str | None = None,
        doc: str | None = None,
        implicit: bool = False,
        implicit_domain: Any = None,
        visibility: int = 0,
    ) -> None:
        super().__init__(
            description=description,
            doc=doc,
            implicit=implicit,
            implicit_domain=implicit_domain,
            visibility=visibility,
        )
        for name, desc in (
            ("iteration_count", "iterations of the method (SciPy's nit), as Pyomo's ipopt"),
            ("scipy_status", "SciPy's status code of the method"),
            ("scipy_message", "SciPy's status message"),
            ("primal_infeasibility", "largest constraint or bound violation at the end"),
            ("ignored_options", "Ipopt options without a SciPy counterpart, ignored"),
            ("build_time", "seconds spent compiling the model into callbacks"),
            ("solve_time", "seconds spent inside scipy.optimize.minimize"),
            ("n_variables", "free variables sent to SciPy"),
            ("n_constraints", "constraint rows sent to SciPy"),
        ):
            self.extra_info.declare(name, ConfigValue(default=None, description=desc))


class ScipySolutionLoader(SolutionLoader):
    """Primal point and multipliers (when the method returns them) of one SciPy run."""

    def __init__(
        self,
        model: Any,
        evaluator: NLPEvaluator,
        x: np.ndarray | None,
        mult_g: np.ndarray | None,
    ) -> None:
        self._pyomo_model = model
        self._ev = evaluator
        self._x = x
        sign = evaluator.obj_sign
        self._duals = self._rc = None
        if x is not None and mult_g is not None:
            # mult_g in Ipopt's convention: grad f + J' mult_g - z_L + z_U = 0.
            self._duals = -sign * mult_g
            grad_lagr = evaluator.gradient(x)
            if evaluator.m:
                rows, cols = evaluator.jacobianstructure()
                grad_lagr = grad_lagr + np.bincount(
                    cols, weights=evaluator.jacobian(x) * mult_g[rows], minlength=evaluator.n
                )
            self._rc = sign * grad_lagr

    def get_number_of_solutions(self) -> int:
        return 0 if self._x is None else 1

    def get_vars(self, vars_to_load: Sequence[VarData] | None = None) -> ComponentMap:
        if self._x is None:
            raise NoSolutionError("SciPy returned no usable point to load")
        if vars_to_load is None:
            return ComponentMap(zip(self._ev.variables, self._x.tolist(), strict=True))
        index = self._ev.variable_index
        out = ComponentMap()
        for v in vars_to_load:
            i = index.get(v)
            out[v] = float(self._x[i]) if i is not None else v.value
        return out

    def get_duals(self, cons_to_load: Sequence[ConstraintData] | None = None) -> dict:
        if self._duals is None:
            raise NoDualsError("this SciPy method returned no constraint multipliers")
        rows = self._ev.constraint_rows
        cons = self._ev.constraint_list if cons_to_load is None else cons_to_load
        return {c: float(self._duals[rows[c]].sum()) if c in rows else 0.0 for c in cons}

    def get_reduced_costs(self, vars_to_load: Sequence[VarData] | None = None) -> ComponentMap:
        if self._rc is None:
            raise NoReducedCostsError("this SciPy method returned no constraint multipliers")
        index = self._ev.variable_index
        if vars_to_load is None:
            return ComponentMap(zip(self._ev.variables, self._rc.tolist(), strict=True))
        return ComponentMap(
            (v, float(self._rc[index[v]]) if v in index else 0.0) for v in vars_to_load
        )


class _TimeLimit:
    """A minimize() callback that stops the run at the wall-clock limit."""

    def __init__(self, limit: float | None) -> None:
        self.deadline = None if limit is None else time.perf_counter() + float(limit)
        self.hit = False

    def __call__(self, intermediate_result: Any) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.hit = True
            raise StopIteration


class _ScipyNLP(SolverBase):
    """A SciPy ``minimize`` method on an in-memory compilation of the Pyomo model."""

    CONFIG = ScipyNLPConfig()
    method: ClassVar[str] = ""
    #: Ipopt's option name -> this method's
    aliases: ClassVar[dict[str, str]] = {}
    #: the method's option names (anything else is refused, not silently dropped)
    known_options: ClassVar[frozenset[str]] = frozenset()
    #: defaults the method needs on screening models (see the subclasses)
    defaults: ClassVar[dict[str, Any]] = {}

    def available(self) -> Availability:
        return Availability.NotFound if scipy is None else Availability.FullLicense

    def version(self) -> tuple | None:
        if scipy is None:
            return None
        return tuple(int(p) for p in scipy.__version__.split(".")[:3] if p.isdigit())

    def method_options(self, config: ScipyNLPConfig) -> tuple[dict[str, Any], list[str]]:
        """SciPy options from the defaults and the user's (Ipopt names translated)."""
        opts = dict(self.defaults)
        ignored = []
        for name, val in normalize_options(config.solver_options).items():
            if name in IPOPT_ONLY_OPTIONS:
                ignored.append(name)
                continue
            name = self.aliases.get(name, name)
            if name not in self.known_options:
                raise SolverOptionError(
                    f"{self.name}: unknown option {name!r}; SciPy's {self.method} takes "
                    f"{', '.join(sorted(self.known_options))}"
                )
            opts[name] = val
        return opts, sorted(ignored)

    def solve(self, model: Any, **kwds: Any) -> ScipyResults:
        start = time.perf_counter()
        stamp = datetime.now(timezone.utc)
        config: ScipyNLPConfig = self.config(value=kwds, preserve_implicit=True)
        if scipy is None:
            raise RuntimeError(f"scipy is not importable: {_SCIPY_ERROR}")
        timer = config.timer if config.timer is not None else HierarchicalTimer()
        StaleFlagManager.mark_all_as_stale()
        opts, ignored = self.method_options(config)

        timer.start("build")
        ev = NLPEvaluator(model)
        timer.stop("build")
        results = ScipyResults()
        results.solver_name = self.name
        results.solver_version = self.version()
        results.solver_config = config
        results.timing_info.start_timestamp = stamp
        info = results.extra_info
        info.build_time = time.perf_counter() - start
        info.n_variables = ev.n
        info.n_constraints = ev.m
        info.ignored_options = ignored

        if ev.n == 0:
            results.termination_condition = TC.emptyModel
            results.solution_status = SolutionStatus.optimal
            results.incumbent_objective = float(value(ev.objective_data.expr))
            results.extra_info.iteration_count = 0
            results.solution_loader = ScipySolutionLoader(model, ev, np.zeros(0), np.zeros(ev.m))
            results.timing_info.wall_time = time.perf_counter() - start
            return self._finish(results, config)

        stopper = _TimeLimit(config.time_limit)
        timer.start("scipy")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # SciPy warns about its own internals (e.g. equality rows handled as
            # inequalities); the status and the violation below tell what matters.
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res, mult_g = self._minimize(ev, opts, stopper, config.tee)
        info.solve_time = time.perf_counter() - t0
        timer.stop("scipy")

        x = np.asarray(res.x, float)
        finite = bool(np.all(np.isfinite(x)))
        viol = _violation(ev, x) if finite else math.inf
        feasible = viol <= config.feasibility_tolerance
        term = TC.maxTimeLimit if stopper.hit else self.termination(int(res.status))
        if not finite:
            sol_status = SolutionStatus.noSolution
        elif term == TC.convergenceCriteriaSatisfied and feasible:
            sol_status = SolutionStatus.optimal
        else:
            sol_status = SolutionStatus.feasible if feasible else SolutionStatus.infeasible
        results.termination_condition = term
        results.solution_status = sol_status
        results.extra_info.iteration_count = int(getattr(res, "nit", 0) or 0)
        info.scipy_status = int(res.status)
        info.scipy_message = str(res.message)
        info.primal_infeasibility = viol
        if finite:
            results.incumbent_objective = ev.obj_sign * ev.objective(x)
        results.solution_loader = ScipySolutionLoader(
            model, ev, x if finite else None, mult_g if finite else None
        )
        results.timing_info.wall_time = time.perf_counter() - start
        results.timing_info.timer = timer
        return self._finish(results, config)

    def _minimize(
        self, ev: NLPEvaluator, opts: dict[str, Any], callback: Any, tee: Any
    ) -> tuple[Any, np.ndarray | None]:
        """Run the method; returns SciPy's result and Ipopt-convention row multipliers."""
        raise NotImplementedError

    @staticmethod
    def termination(status: int) -> TerminationCondition:
        raise NotImplementedError

    @staticmethod
    def _finish(results: ScipyResults, config: ScipyNLPConfig) -> ScipyResults:
        return finish_results(
            results, config, f"SciPy ended with {results.extra_info.scipy_message!r}"
        )


def _violation(ev: NLPEvaluator, x: np.ndarray) -> float:
    g = ev.constraints(x) if ev.m else np.zeros(0)
    return max(
        float(np.max(np.maximum(ev.g_lb - g, g - ev.g_ub), initial=0.0)),
        float(np.max(np.maximum(ev.x_lb - x, x - ev.x_ub), initial=0.0)),
    )


def _sparse_jacobian(ev: NLPEvaluator) -> Any:
    rows, cols = ev.jacobianstructure()

    def jac(x: np.ndarray) -> Any:
        return sparse.csr_matrix((ev.jacobian(x), (rows, cols)), shape=(ev.m, ev.n))

    return jac


def _symmetric(ev: NLPEvaluator, lower: np.ndarray) -> Any:
    """The full symmetric matrix from the evaluator's lower-triangle nonzeros."""
    rows, cols = ev.hessianstructure()
    off = rows != cols
    r = np.concatenate([rows, cols[off]])
    c = np.concatenate([cols, rows[off]])
    return sparse.csr_matrix((np.concatenate([lower, lower[off]]), (r, c)), shape=(ev.n, ev.n))


class ScipyTrustConstr(_ScipyNLP):
    """SciPy's ``trust-constr`` (a trust-region interior point method), exact sparse
    derivatives.

    The default initial barrier parameter of SciPy (0.1) dwarfs the profit of a
    screening menu (about 0.1): the barrier then drives the iterates far from the
    optimum and the run ends at the iteration limit. Starting at 1e-3 fixes that.
    """

    method: ClassVar[str] = "trust-constr"
    #: restarts with a smaller barrier parameter after a premature gtol stop
    max_restarts: ClassVar[int] = 6
    aliases: ClassVar[dict[str, str]] = {"tol": "gtol", "max_iter": "maxiter"}
    known_options: ClassVar[frozenset[str]] = frozenset(
        {
            "gtol",
            "xtol",
            "barrier_tol",
            "maxiter",
            "verbose",
            "disp",
            "initial_tr_radius",
            "initial_constr_penalty",
            "initial_barrier_parameter",
            "initial_barrier_tolerance",
            "factorization_method",
            "sparse_jacobian",
        }
    )
    defaults: ClassVar[dict[str, Any]] = {
        "gtol": 1e-8,
        "xtol": 1e-12,
        "maxiter": 3000,
        "initial_barrier_parameter": 1e-3,
        "initial_barrier_tolerance": 1e-3,
    }

    def _minimize(self, ev, opts, callback, tee):
        zeros = np.zeros(ev.m)
        constraints = []
        if ev.m:
            constraints.append(
                NonlinearConstraint(
                    ev.constraints,
                    ev.g_lb,
                    ev.g_ub,
                    jac=_sparse_jacobian(ev),
                    hess=lambda x, v: _symmetric(ev, ev.hessian(x, np.asarray(v, float), 0.0)),
                )
            )
        if tee:
            opts = {"verbose": 2, **opts}
        opts.setdefault("barrier_tol", 1e-8)
        budget = int(opts.get("maxiter", 1000))
        x0 = ev.x0
        nit = 0
        for _ in range(self.max_restarts + 1):
            res = minimize(
                ev.objective,
                x0,
                jac=ev.gradient,
                hess=lambda x: _symmetric(ev, ev.hessian(x, zeros, 1.0)),
                method=self.method,
                constraints=constraints,
                bounds=_bounds(ev),
                options={**opts, "maxiter": max(1, budget - nit)},
                callback=callback,
            )
            nit += int(res.nit)
            # SciPy stops on the barrier problem's optimality (status 1) even while
            # the barrier parameter is large; restart with a smaller one from there.
            mu = float(getattr(res, "barrier_parameter", 0.0) or 0.0)
            if res.status != 1 or mu <= opts["barrier_tol"] or nit >= budget:
                break
            x0 = res.x
            opts["initial_barrier_parameter"] = mu * 0.2  # SciPy's own decay ratio
            opts["initial_barrier_tolerance"] = mu * 0.2
            opts["initial_tr_radius"] = max(float(res.tr_radius), 1e-8)
        res.nit = nit
        mult = np.asarray(res.v[0], float) if ev.m and len(res.v) else None
        return res, mult

    @staticmethod
    def termination(status: int) -> TerminationCondition:
        return {
            1: TC.convergenceCriteriaSatisfied,  # gtol: first-order optimality reached
            2: TC.minStepLength,  # xtol: the trust region collapsed
            0: TC.iterationLimit,
            3: TC.interrupted,
        }.get(status, TC.error)


class ScipySLSQP(_ScipyNLP):
    """SciPy's ``SLSQP`` (sequential least squares QP): dense, for small menus."""

    method: ClassVar[str] = "SLSQP"
    aliases: ClassVar[dict[str, str]] = {"tol": "ftol", "max_iter": "maxiter"}
    known_options: ClassVar[frozenset[str]] = frozenset(
        {"ftol", "eps", "maxiter", "disp", "iprint"}
    )
    defaults: ClassVar[dict[str, Any]] = {"ftol": 1e-9, "maxiter": 3000}

    def _minimize(self, ev, opts, callback, tee):
        rows_of = _DenseRows(ev)
        eq = np.flatnonzero(ev.g_lb == ev.g_ub)
        lo = np.flatnonzero(np.isfinite(ev.g_lb) & (ev.g_lb != ev.g_ub))
        hi = np.flatnonzero(np.isfinite(ev.g_ub) & (ev.g_lb != ev.g_ub))
        # SLSQP's order: equalities first, then inequalities c(x) >= 0.
        pieces = [("eq", eq, 1.0, ev.g_lb), ("ineq", lo, 1.0, ev.g_lb), ("ineq", hi, -1.0, ev.g_ub)]
        constraints = [
            {
                "type": kind,
                "fun": lambda x, r=rows, s=sign, b=bound: s * (rows_of.g(x)[r] - b[r]),
                "jac": lambda x, r=rows, s=sign: s * rows_of.jac(x)[r],
            }
            for kind, rows, sign, bound in pieces
            if len(rows)
        ]
        if tee:
            opts = {"disp": True, **opts}
        res = minimize(
            ev.objective,
            ev.x0,
            jac=ev.gradient,
            method=self.method,
            constraints=constraints,
            bounds=_bounds(ev),
            options=opts,
            callback=callback,
        )
        lam = getattr(res, "multipliers", None)
        mult = None
        if lam is not None and len(lam) == len(eq) + len(lo) + len(hi):
            lam = np.asarray(lam, float)
            mult = np.zeros(ev.m)
            # L = f - lam' c  versus Ipopt's  f + mult' g
            mult[eq] = -lam[: len(eq)]
            mult[lo] -= lam[len(eq) : len(eq) + len(lo)]
            mult[hi] += lam[len(eq) + len(lo) :]
        return res, mult

    @staticmethod
    def termination(status: int) -> TerminationCondition:
        return {
            0: TC.convergenceCriteriaSatisfied,
            9: TC.iterationLimit,
            8: TC.minStepLength,  # positive directional derivative in the line search
            4: TC.locallyInfeasible,  # linearized inequalities incompatible
            99: TC.interrupted,
        }.get(status, TC.error)


class _DenseRows:
    """Constraint values and the dense Jacobian, computed once per point for the
    three SLSQP pieces (equalities, lower and upper inequalities)."""

    def __init__(self, ev: NLPEvaluator) -> None:
        self._ev = ev
        self._jac = _sparse_jacobian(ev)
        self._gx: np.ndarray | None = None
        self._gval = np.zeros(0)
        self._jx: np.ndarray | None = None
        self._jval = np.zeros((0, ev.n))

    def g(self, x: np.ndarray) -> np.ndarray:
        if self._gx is None or not np.array_equal(x, self._gx):
            self._gval = self._ev.constraints(x)
            self._gx = np.array(x, copy=True)
        return self._gval

    def jac(self, x: np.ndarray) -> np.ndarray:
        if self._jx is None or not np.array_equal(x, self._jx):
            self._jval = self._jac(x).toarray()
            self._jx = np.array(x, copy=True)
        return self._jval


def _bounds(ev: NLPEvaluator) -> Any:
    if np.all(np.isinf(ev.x_lb)) and np.all(np.isinf(ev.x_ub)):
        return None
    return Bounds(ev.x_lb, ev.x_ub)


class LegacyScipyTrustConstr(TextOptionsWrapper, ScipyTrustConstr):
    """Legacy-factory form of :class:`ScipyTrustConstr`."""


class LegacyScipySLSQP(TextOptionsWrapper, ScipySLSQP):
    """Legacy-factory form of :class:`ScipySLSQP`."""
