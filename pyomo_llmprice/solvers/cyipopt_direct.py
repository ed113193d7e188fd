"""``cyipopt_direct``: any smooth Pyomo NLP solved in memory by the Ipopt inside cyipopt.

Pyomo's own ``cyipopt`` interface needs the PyNumero ASL library, which cannot be
built offline; this one compiles the model with :mod:`.evaluator` instead, so
``pip install`` alone gives a working Ipopt.

Sign conventions (those of Ipopt's AMPL driver, used by Pyomo's ``ipopt``): a
constraint's ``dual`` is the derivative of the optimal objective with respect to
its bound, ``rc`` the reduced cost of a variable; both change sign with the sense
of the objective.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from pyomo.common.collections import ComponentMap
from pyomo.common.tee import TeeStream, capture_output
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.common.base import Availability, SolverBase
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.common.solution_loader import SolutionLoader
from pyomo.contrib.solver.common.util import (
    NoDualsError,
    NoReducedCostsError,
    NoSolutionError,
)
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.suffix import Suffix
from pyomo.core.base.var import VarData
from pyomo.core.staleflag import StaleFlagManager
from pyomo.environ import value
from pyomo.opt import SolverStatus

from pyomo_llmprice import limits
from pyomo_llmprice.errors import SolverOptionError

from .config import (
    CyIpoptConfig,
    IpoptResults,
    TextOptionsWrapper,
    coerce_option,
    finish_results,
    invalid_option_error,
    normalize_options,
)
from .evaluator import NLPEvaluator, TriviallyInfeasibleError
from .feasibility import minimum_violation
from .status import IPOPT_STATUS, map_status

#: Ipopt's ApplicationReturnStatus for an option value it cannot use
INVALID_OPTION = -12

__all__ = ["CyIpoptDirect", "IpoptSolutionLoader", "LegacyCyIpoptDirect", "set_ipopt_option"]

try:  # the wheel ships Ipopt; a broken install is reported by available()
    import cyipopt

    _CYIPOPT_ERROR = None
except ImportError as err:  # pragma: no cover - exercised only without cyipopt
    cyipopt = None
    _CYIPOPT_ERROR = err


#: Ipopt verdicts after which a phase-1 solve decides whether the model is infeasible
#: (Infeasible_Problem_Detected, Restoration_Failed, Diverging_Iterates)
_CHECK_FEASIBILITY = (2, -2, 4)
#: Ipopt's infinity (nlp_lower_bound_inf): a feasible iterate whose minimized
#: objective is below minus this went to -infinity, whatever stopped the run
_UNBOUNDED_OBJECTIVE = 1e19


class IpoptSolutionLoader(SolutionLoader):
    """Primal values and multipliers of one Ipopt run, in Pyomo's conventions.

    Built with ``x=None`` for a run that ended without a usable point (infeasible,
    no iterate): every getter then refuses with Pyomo's error for it. Ipopt's last
    iterate of such a run stays available, explicitly, through
    :meth:`last_iterate` (for diagnostics, and for the legacy interface, which
    loads it as Pyomo's ``ipopt`` plugin does).
    """

    def __init__(
        self,
        model: Any,
        evaluator: NLPEvaluator,
        x: np.ndarray | None,
        mult_g: np.ndarray | None,
        mult_x_l: np.ndarray | None,
        mult_x_u: np.ndarray | None,
        iterate: np.ndarray | None = None,
    ) -> None:
        self._pyomo_model = model
        self._ev = evaluator
        self._x = x
        self._iterate = x if iterate is None else iterate
        sign = 1.0 if evaluator is None else evaluator.obj_sign
        self._duals = None if mult_g is None else -sign * np.asarray(mult_g)
        self._rc = (
            None if mult_x_l is None else sign * (np.asarray(mult_x_l) - np.asarray(mult_x_u))
        )

    def get_number_of_solutions(self) -> int:
        return 0 if self._x is None else 1

    @staticmethod
    def _require(what: Any, error: type[Exception]) -> None:
        if what is None:
            raise error()  # Pyomo's default message names what is missing

    def last_iterate(self) -> ComponentMap | None:
        """Ipopt's final point whether or not it is a solution; None without one."""
        if self._iterate is None:
            return None
        return ComponentMap(zip(self._ev.variables, self._iterate.tolist(), strict=False))

    def get_vars(self, vars_to_load: Sequence[VarData] | None = None) -> ComponentMap:
        self._require(self._x, NoSolutionError)
        index = self._ev.variable_index
        if vars_to_load is None:
            return ComponentMap(zip(self._ev.variables, self._x.tolist(), strict=False))
        out = ComponentMap()
        for v in vars_to_load:
            i = index.get(v)
            out[v] = float(self._x[i]) if i is not None else v.value
        return out

    def get_duals(self, cons_to_load: Sequence[ConstraintData] | None = None) -> dict:
        self._require(self._duals, NoDualsError)
        rows = self._ev.constraint_rows
        if cons_to_load is None:  # constant constraints too, with dual 0 (as Ipopt's NL gives)
            cons = self._ev.constraint_list + self._ev.trivial_constraints
        else:
            cons = cons_to_load
        out = {}
        for con in cons:
            ids = rows.get(con)
            out[con] = float(self._duals[ids].sum()) if ids else 0.0
        return out

    def load_import_suffixes(self) -> None:
        """Pyomo's loader for environ models; kernel suffixes are found by kernel's walk."""
        from pyomo.core.kernel.block import IBlock

        if not isinstance(self._pyomo_model, IBlock):
            return super().load_import_suffixes()
        from pyomo.core.kernel.suffix import import_suffix_generator

        suffixes = {}
        for suffix in import_suffix_generator(self._pyomo_model):
            suffix.clear()
            suffixes.setdefault(suffix.storage_key, suffix)
        if "dual" in suffixes:
            suffixes["dual"].update(self.get_duals())
        if "rc" in suffixes:
            suffixes["rc"].update(self.get_reduced_costs())
        return None

    def get_reduced_costs(self, vars_to_load: Sequence[VarData] | None = None) -> ComponentMap:
        self._require(self._rc, NoReducedCostsError)
        if vars_to_load is None:
            return ComponentMap(zip(self._ev.variables, self._rc.tolist(), strict=False))
        index = self._ev.variable_index
        return ComponentMap(
            (v, float(self._rc[index[v]]) if v in index else 0.0) for v in vars_to_load
        )


def set_ipopt_option(problem: Any, name: str, val: Any) -> None:
    """Set an Ipopt option, retrying an integer as a float for numeric options.

    Options arrive as text from ``pyomo solve``; ``tol=1`` parses as an int, but
    Ipopt declares ``tol`` a Number and refuses an integer setter.
    """
    val = coerce_option(val)
    attempts = [val]
    if isinstance(val, int):
        attempts += [float(val), str(val)]
    elif isinstance(val, float):
        attempts += [str(val)]
    for attempt in attempts:
        try:
            problem.add_option(name, attempt)
            return
        except TypeError:
            continue
    raise SolverOptionError(f"Ipopt refused option {name}={val!r} (unknown name or bad value)")


class _Callbacks:
    """The object cyipopt calls: the evaluator, timed (so that a slow solve can be
    told apart into function evaluations and Ipopt's own work), plus an iteration
    recorder."""

    def __init__(self, ev: NLPEvaluator) -> None:
        self.objective = self._timed(ev.objective)
        self.gradient = self._timed(ev.gradient)
        self.constraints = self._timed(ev.constraints)
        self.jacobian = self._timed(ev.jacobian)
        self.jacobianstructure = ev.jacobianstructure
        self.hessian = self._timed(ev.hessian)
        self.hessianstructure = ev.hessianstructure
        self.iterations = 0
        self.inf_du = math.nan
        self.callback_time = 0.0
        self.stop_reason: str | None = None  # why we asked Ipopt to stop (limits.stop_reason)

    def _timed(self, fun: Any) -> Any:
        clock = time.perf_counter

        def timed(*args: Any) -> Any:
            t0 = clock()
            try:
                return fun(*args)
            finally:
                self.callback_time += clock() - t0

        return timed

    def intermediate(self, alg_mod, iter_count, obj_value, inf_pr, inf_du, *args) -> bool:
        self.iterations = int(iter_count)
        self.inf_du = float(inf_du)
        # Ctrl-C and the command's deadline, once per iteration: False is Ipopt's
        # User_Requested_Stop, with the point so far
        self.stop_reason = limits.stop_reason()
        return self.stop_reason is None


class CyIpoptDirect(SolverBase):
    """Ipopt through cyipopt on an in-memory compilation of the Pyomo model."""

    CONFIG = CyIpoptConfig()

    #: Ipopt options set unless the user gives them. The wheel's MUMPS has no METIS;
    #: its automatic choice (Ipopt's default mumps_pivot_order=7) then takes AMF, which
    #: factorizes all-pairs screening KKT systems ~1.7x slower than AMD at 100 types
    #: (benchmarks/solver_overhead.py). AMD (0) is never the slow one on the shipped
    #: instances: PORD (4), as fast on the paper grids, took 4x longer than AMF or AMD
    #: on the calibrated all-pairs menus (33 s against 7-8 s). With identical types
    #: merged, AMD and PORD reach the same optima (paper_vs_20x20: 1.6e-7 and 6.6e-8 of
    #: theory's exact profit).
    default_options: ClassVar[Mapping[str, Any]] = MappingProxyType({"mumps_pivot_order": 0})

    def available(self) -> Availability:
        return Availability.NotFound if cyipopt is None else Availability.FullLicense

    def version(self) -> tuple | None:
        if cyipopt is None:
            return None
        return tuple(getattr(cyipopt, "IPOPT_VERSION", (0, 0, 0)))

    def solve(self, model: Any, **kwds: Any) -> IpoptResults:
        """Compile `model` (environ or kernel) and solve it with Ipopt.

        Keyword arguments are the fields of :class:`CyIpoptConfig`. Pyomo's status
        contract holds: only a feasible point is loaded or has an objective value,
        and an infeasibility Ipopt reports is confirmed by a phase-1 solve.
        """
        start = time.perf_counter()
        stamp = datetime.now(timezone.utc)
        config: CyIpoptConfig = self.config(value=kwds, preserve_implicit=True)
        if cyipopt is None:
            raise RuntimeError(f"cyipopt is not importable: {_CYIPOPT_ERROR}")
        timer = config.timer if config.timer is not None else HierarchicalTimer()
        StaleFlagManager.mark_all_as_stale()

        timer.start("build")
        try:
            ev = NLPEvaluator(model, feasibility=True)
        except TriviallyInfeasibleError as err:
            timer.stop("build")
            return self._trivially_infeasible(model, err, config, start, stamp)
        timer.stop("build")
        build_time = time.perf_counter() - start

        results = IpoptResults()
        results.solver_name = self.name
        results.solver_version = self.version()
        results.solver_config = config
        results.timing_info.start_timestamp = stamp
        info = results.extra_info
        info.build_time = build_time
        info.n_variables = ev.n
        info.n_constraints = ev.m
        info.n_signatures = ev.n_signatures

        if ev.n == 0:
            return self._empty(model, ev, results, config, start)

        timer.start("ipopt")
        t0 = time.perf_counter()
        sol = self._run_ipopt(model, ev, config)
        info.solve_time = time.perf_counter() - t0
        timer.stop("ipopt")
        if int(sol["status"]) == INVALID_OPTION:  # the user's option, not a failed solve
            raise invalid_option_error(sol["log"], normalize_options(config.solver_options))
        results.solver_log = sol["log"]
        x = np.asarray(sol["x"], float)

        code = int(sol["status"])
        g = np.asarray(sol["g"], float)
        viol = max(
            float(np.max(np.maximum(ev.g_lb - g, g - ev.g_ub), initial=0.0)),
            float(np.max(np.maximum(ev.x_lb - x, x - ev.x_ub), initial=0.0)),
        )
        if not np.all(np.isfinite(x)):
            viol = math.inf
        term, sol_status = map_status(code, viol <= config.feasibility_tolerance)
        if sol.get("stop_reason") == "time_limit":  # our callback, at the command's deadline
            term = TerminationCondition.maxTimeLimit
        if code in _CHECK_FEASIBILITY:  # a diverging iterate can look feasible in floats
            phase1 = minimum_violation(ev, x, config.feasibility_tolerance)
            if phase1.violation > config.feasibility_tolerance:
                term = (
                    TerminationCondition.provenInfeasible
                    if phase1.proven
                    else TerminationCondition.locallyInfeasible
                )
                sol_status = SolutionStatus.infeasible
        if (
            code != 0
            and sol_status == SolutionStatus.feasible
            and float(sol["obj_val"]) < -_UNBOUNDED_OBJECTIVE
        ):
            term = TerminationCondition.unbounded  # e.g. min -exp(x): a step error at 1e20
        if term == TerminationCondition.unbounded or sol_status not in (
            SolutionStatus.optimal,
            SolutionStatus.feasible,
        ):
            # Pyomo's contract: only a feasible point is a solution (to load, or with an
            # objective); infeasible iterates and unbounded runs have none. The
            # termination condition says why, extra_info.primal_infeasibility how far.
            sol_status = SolutionStatus.noSolution
        results.termination_condition = term
        results.solution_status = sol_status
        results.extra_info.iteration_count = sol["iterations"]
        info.ipopt_status = code
        info.ipopt_message = IPOPT_STATUS.get(code, (f"unknown status {code}",))[0]
        info.primal_infeasibility = viol
        info.dual_infeasibility = sol["inf_du"]
        info.callback_time = sol["callback_time"]

        has_solution = sol_status != SolutionStatus.noSolution
        if has_solution and ev.objective_data is not None:
            results.incumbent_objective = ev.obj_sign * float(sol["obj_val"])
        results.solution_loader = IpoptSolutionLoader(
            model,
            ev,
            x if has_solution else None,
            sol["mult_g"] if has_solution else None,
            sol["mult_x_L"] if has_solution else None,
            sol["mult_x_U"] if has_solution else None,
            iterate=x if IPOPT_STATUS.get(code, IPOPT_STATUS[-199]).has_iterate else None,
        )
        results.timing_info.wall_time = time.perf_counter() - start
        results.timing_info.timer = timer
        return self._finish(results, config)

    def _run_ipopt(self, model: Any, ev: NLPEvaluator, config: CyIpoptConfig) -> dict:
        """One Ipopt run; cyipopt's info dict plus iterations, dual infeasibility and log."""
        cb = _Callbacks(ev)
        problem = cyipopt.Problem(
            n=ev.n, m=ev.m, problem_obj=cb, lb=ev.x_lb, ub=ev.x_ub, cl=ev.g_lb, cu=ev.g_ub
        )
        problem.add_option("sb", "yes")  # no banner
        log = io.StringIO()
        with limits.solving(), capture_output(TeeStream(log, *config.tee), capture_fd=True):
            # inside the capture: Ipopt prints its complaints about refused types
            for name, val in effective_options(config, ev, self.default_options).items():
                set_ipopt_option(problem, name, val)
            lagrange, zl, zu = self._warm_start(model, ev, config, problem)
            _, sol = problem.solve(ev.x0, lagrange=lagrange, zl=zl, zu=zu)
        problem.close()
        sol["iterations"] = cb.iterations
        sol["callback_time"] = cb.callback_time
        sol["inf_du"] = cb.inf_du
        sol["stop_reason"] = cb.stop_reason
        sol["log"] = log.getvalue()
        return sol

    @staticmethod
    def _finish(results: IpoptResults, config: CyIpoptConfig) -> IpoptResults:
        return finish_results(
            results, config, f"Ipopt ended with {results.extra_info.ipopt_message}"
        )

    def _trivially_infeasible(self, model, err, config, start, stamp) -> IpoptResults:
        """A constraint without free variables fails: proven infeasible, as Pyomo's
        interfaces report it, without starting Ipopt."""
        results = IpoptResults()
        results.solver_name = self.name
        results.solver_version = self.version()
        results.solver_config = config
        results.timing_info.start_timestamp = stamp
        results.termination_condition = TerminationCondition.provenInfeasible
        results.solution_status = SolutionStatus.noSolution
        results.extra_info.iteration_count = 0
        results.extra_info.ipopt_message = f"not run: {err}"
        results.solution_loader = IpoptSolutionLoader(model, None, None, None, None, None)
        results.timing_info.wall_time = time.perf_counter() - start
        return self._finish(results, config)

    def _empty(self, model, ev, results, config, start) -> IpoptResults:
        """No free variables: nothing for Ipopt to do; report the objective's value."""
        results.termination_condition = TerminationCondition.emptyModel
        results.solution_status = SolutionStatus.optimal
        if ev.objective_data is not None:
            results.incumbent_objective = float(value(ev.objective_data.expr))
        results.extra_info.iteration_count = 0
        results.solution_loader = IpoptSolutionLoader(
            model, ev, np.zeros(0), np.zeros(ev.m), np.zeros(0), np.zeros(0)
        )
        results.timing_info.wall_time = time.perf_counter() - start
        return self._finish(results, config)

    @staticmethod
    def _warm_start(model, ev, config, problem) -> tuple[list, list, list]:
        """Multipliers from the model's IMPORT dual/rc suffixes, in Ipopt's convention."""
        if not config.warm_start_multipliers:
            return [], [], []
        dual = _import_suffix(model, "dual")
        rc = _import_suffix(model, "rc")
        sign = ev.obj_sign
        lam = np.zeros(ev.m)
        if dual is not None:
            for con, rows in ev.constraint_rows.items():
                d = dual.get(con)
                if d is not None:
                    lam[rows[0]] = -sign * float(d)
        zl = np.zeros(ev.n)
        zu = np.zeros(ev.n)
        if rc is not None:
            r = np.array([float(rc.get(v, 0.0)) * sign for v in ev.variables])
            zl = np.maximum(r, 0.0)
            zu = np.maximum(-r, 0.0)
        problem.add_option("warm_start_init_point", "yes")
        return lam.tolist(), zl.tolist(), zu.tolist()


def objective_scaling(ev: NLPEvaluator) -> float | None:
    """The objective's entry in a ``scaling_factor`` Suffix on its block or above."""
    from pyomo.core.kernel.suffix import ISuffix

    obj = ev.objective_data
    if obj is None:
        return None
    blk = _parent(obj)
    while blk is not None:
        suffix = getattr(blk, "scaling_factor", None)  # environ and kernel blocks alike
        if isinstance(suffix, (Suffix, ISuffix)) and suffix.get(obj) is not None:
            return float(suffix[obj])
        blk = _parent(blk)
    return None


def _parent(component: Any) -> Any:
    """The enclosing block of an environ (parent_block()) or kernel (.parent) component."""
    parent_block = getattr(component, "parent_block", None)
    return parent_block() if parent_block is not None else getattr(component, "parent", None)


def effective_options(
    config: CyIpoptConfig, ev: NLPEvaluator, defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Ipopt options: the interface's `defaults` overridden by the user's,
    ``max_wall_time`` from ``time_limit``, and ``obj_scaling_factor`` from the
    model's suffix (both interfaces use this)."""
    opts = dict(defaults or {})
    opts.update(normalize_options(config.solver_options))
    if config.time_limit is not None:
        opts["max_wall_time"] = max(float(config.time_limit), 1e-3)
    scale = objective_scaling(ev)
    if scale is not None:
        opts.setdefault("obj_scaling_factor", scale)
    return opts


def _import_suffix(model: Any, name: str) -> Any:
    """The model's IMPORT suffix `name` (an environ Suffix or a kernel suffix), if any."""
    from pyomo.core.kernel.suffix import ISuffix

    suffix = getattr(model, name, None)
    if isinstance(suffix, (Suffix, ISuffix)) and suffix.import_enabled():
        return suffix
    return None


class LegacyCyIpoptDirect(TextOptionsWrapper, CyIpoptDirect):
    """``SolverFactory('cyipopt_direct')`` and ``pyomo solve --solver=cyipopt_direct``.

    Closes three gaps of Pyomo's stock wrapper: option strings from the command
    line, options from a ``pyomo solve`` config file (text converted to numbers),
    and ``load_solutions=True`` leaving ``model.solutions`` empty.
    """

    def _map_config(self, *args: Any, **kwds: Any) -> None:  # type: ignore[override]
        super()._map_config(*args, **kwds)
        # The legacy path loads in _solution_handler, so that a run without a
        # solution returns its status instead of raising NoSolutionError.
        self.config.load_solutions = False

    def solve(self, model: Any, *args: Any, warmstart: bool = False, **kwds: Any) -> Any:
        """Pyomo's legacy ``solve``; ``warmstart=True`` (accepted because
        :meth:`warm_start_capable` says so) also starts Ipopt from the multipliers in
        the model's IMPORT ``dual``/``rc`` suffixes. The primal start is always the
        variables' current values."""
        previous = self.config.warm_start_multipliers
        if warmstart:
            self.config.warm_start_multipliers = True
        try:
            return super().solve(model, *args, **kwds)
        finally:
            self.config.warm_start_multipliers = previous

    def _map_results(self, model: Any, results: Any) -> Any:
        # Pyomo's legacy status tables have no entry for emptyModel (every variable
        # fixed, constraints satisfied): report it as the optimum it is.
        if results.termination_condition != TerminationCondition.emptyModel:
            return super()._map_results(model, results)
        results.termination_condition = TerminationCondition.convergenceCriteriaSatisfied
        try:
            return super()._map_results(model, results)
        finally:
            results.termination_condition = TerminationCondition.emptyModel

    def _solution_handler(self, load_solutions, model, results, legacy_results, legacy_soln):
        """Fill the legacy results. Loading a run without a feasible point files an
        empty solution record (its status, no values) in ``model.solutions``, from
        which ``pyomo solve`` rebuilds the results that ``--summary`` reads (Pyomo's
        printer indexes solution 0). Kernel blocks have no ``solutions`` store: they
        load directly."""
        from pyomo.core.base import SymbolMap
        from pyomo.core.base.label import NumericLabeler
        from pyomo.core.kernel.block import IBlock

        symbol_map = SymbolMap()
        symbol_map.default_labeler = NumericLabeler("x")
        legacy_soln.symbol_map = symbol_map
        legacy_results._smap_id = None
        legacy_results.timing_info = results.timing_info.value()
        legacy_results.solver.wallclock_time = results.timing_info.wall_time
        legacy_results.solver.message = results.extra_info.ipopt_message
        loader = results.solution_loader
        ev = loader._ev
        legacy_results.problem.number_of_variables = 0 if ev is None else ev.n
        legacy_results.problem.number_of_constraints = 0 if ev is None else ev.m
        kernel = isinstance(model, IBlock)
        if loader.get_number_of_solutions() == 0:
            iterate = loader.last_iterate()
            if load_solutions and not kernel and iterate is not None:
                # as Pyomo's ipopt plugin: the last iterate is loaded and filed with
                # the run's status; Pyomo refuses to file an errored result itself
                for var, val in iterate.items():
                    var.set_value(val, skip_validation=True)
                    legacy_soln.variable[symbol_map.getSymbol(var)] = {"Value": val}
                model.solutions.add_symbol_map(symbol_map)
                model.solutions.add_solution(legacy_soln, id(symbol_map), cache={})
            return legacy_results

        for var, val in loader.get_vars().items():
            legacy_soln.variable[symbol_map.getSymbol(var)] = {"Value": val}
        for var, val in loader.get_reduced_costs().items():
            legacy_soln.variable[symbol_map.getSymbol(var)]["Rc"] = val
        for con, val in loader.get_duals().items():
            legacy_soln.constraint[symbol_map.getSymbol(con)] = {"Dual": val}
        if ev.objective_data is not None:
            legacy_soln.objective[symbol_map.getSymbol(ev.objective_data)] = {
                "Value": results.incumbent_objective
            }
        legacy_results.solution.insert(legacy_soln)
        legacy_results._smap_id = id(symbol_map)
        legacy_results._smap = symbol_map
        if not kernel:
            model.solutions.add_symbol_map(symbol_map)
        loadable = legacy_results.solver.status in (
            SolverStatus.ok,
            SolverStatus.warning,
            SolverStatus.aborted,
        )
        if load_solutions:
            loader.load_vars()
            if loadable and not kernel:
                model.solutions.load_from(legacy_results)
                legacy_results._smap_id = None
                legacy_results.solution.clear()
            else:  # kernel, or an errored result Pyomo refuses to file: suffixes directly
                loader.load_import_suffixes()
        return legacy_results

    def warm_start_capable(self) -> bool:
        return True
