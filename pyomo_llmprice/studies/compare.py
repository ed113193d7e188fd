"""Solver comparisons: every instance with every solver, verified, timed, tabulated.

Each run goes through the same path as ``llmprice solve`` (build, solve, verify
all IC/IR pairs), so a row's ``status`` means the same everywhere: ``optimal`` only
when the solver converged *and* the menu passed verification. Solvers that are not
installed are rows with status ``unavailable`` (and a note), never a crash.
The gap compares each run's profit with the best verified profit found on the same
instance and setting by any solver and formulation. For Token Packages the exact
discrete optimum is known (:func:`pyomo_llmprice.theory.discrete_optimal_menu`), and
``gap_exact`` measures each run against it: a verified menu can still be a local
optimum below it.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.global_certificates.global_minlp import SizeLimitError
from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.progress import progress_bar
from pyomo_llmprice.settings import check_setting

__all__ = [
    "COLUMNS",
    "DEFAULT_SOLVERS",
    "EXTERNAL_SOLVERS",
    "FORMULATIONS",
    "PACKAGE_SOLVERS",
    "SolverProbe",
    "compare",
    "exact_profit",
    "mark_solved",
    "probe_solver",
    "to_markdown",
    "with_current_names",
    "write_comparison",
]

#: the package's own solvers, always compared
DEFAULT_SOLVERS: tuple[str, ...] = (
    "cyipopt_direct",
    "casadi_ipopt",
    "scipy_trust_constr",
    "scipy_slsqp",
)
#: solvers of other kinds, from pip packages (the ``solvers`` extra) through Pyomo's own
#: interfaces: SCIP and Gurobi prove a global bound (Gurobi within its licence's size);
#: HiGHS takes LP and convex QP only (quadratic-cost screening)
PACKAGE_SOLVERS: tuple[str, ...] = ("scip_direct", "gurobi_direct_minlp", "highs")
#: solvers run as LP / convex QP: skipped on a model with nonlinear constraints
QP_SOLVERS = frozenset({"highs"})
#: seconds a global solver gets when the study sets no time limit (branch and bound on a
#: menu NLP rarely closes: without a limit a default ``llmprice compare`` would not end)
PACKAGE_TIME_LIMIT = 60.0
#: NLP solvers Pyomo can drive when installed (an executable or a licensed library)
EXTERNAL_SOLVERS: tuple[str, ...] = (
    "ipopt",
    "pounce",
    "ripopt",
    "knitro_direct",
    "knitroampl",
    "conopt",
    "baron",
    "scip",
    "bonmin",
    "couenne",
)
#: CLI name -> the blocks' ``ic`` option
FORMULATIONS: dict[str, str] = {"all-pairs": "all_pairs", "generated": "generated"}
#: solvers that hold the Jacobian dense: skipped when variables x rows exceed the limit
DENSE_SOLVERS = frozenset({"scipy_slsqp"})

COLUMNS: tuple[str, ...] = (
    "instance",
    "n_types",
    "setting",
    "formulation",
    "solver",
    "status",
    "termination",
    "iterations",
    "wall_time",
    "profit",
    "max_ic_violation",
    "max_ir_violation",
    "max_violation",
    "gap",
    "exact_profit",
    "gap_exact",
    "bound",
    "global_gap",
    "n_variables",
    "n_constraints",
    "note",
)


#: column names of older tables (files written before the rename) -> today's
RENAMED_COLUMNS: Mapping[str, str] = {"objective": "profit", "exact_objective": "exact_profit"}


def with_current_names(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with the columns of older comparison files renamed to today's names
    (``objective`` was the profit: a comparison of pricing menus names it so)."""
    old = {a: b for a, b in RENAMED_COLUMNS.items() if a in table and b not in table}
    return table.rename(columns=old) if old else table


@dataclass(frozen=True)
class SolverProbe:
    """Whether a solver name can run here, and through which of Pyomo's interfaces."""

    name: str
    available: bool
    api: str | None  # "new" (pyomo.contrib.solver) or "legacy" (pyomo.opt)
    note: str = ""


def probe_solver(name: str) -> SolverProbe:
    """Ask Pyomo's factories about `name` without raising or logging tracebacks."""
    from pyomo.common.log import LoggingIntercept
    from pyomo.contrib.solver.common.factory import SolverFactory as NewFactory
    from pyomo.environ import SolverFactory as LegacyFactory

    import pyomo_llmprice.plugins  # noqa: F401  (registers the package's solvers)

    if name in NewFactory:
        try:
            ok = bool(NewFactory(name).available())
        except Exception as exc:  # a third-party interface that cannot even probe
            return SolverProbe(name, False, "new", f"availability check failed: {exc}")
        if ok:
            return SolverProbe(name, True, "new")
    with LoggingIntercept(io.StringIO()):
        try:
            opt = LegacyFactory(name)
            ok = bool(opt.available(exception_flag=False))
        except Exception:
            ok = False
    if ok:
        return SolverProbe(name, True, "legacy")
    return SolverProbe(name, False, None, f"solver {name!r} is not available on this machine")


def _model_size(model: Any) -> tuple[int, int]:
    """Free variables and constraint rows (what a solver sees, before compilation)."""
    from pyomo.environ import Constraint, Var

    n = sum(1 for v in model.component_data_objects(Var, active=True) if not v.fixed)
    m = sum(1 for _ in model.component_data_objects(Constraint, active=True))
    return n, m


def _legacy_solve(
    model: Any, name: str, options: dict[str, Any], time_limit: float | None
) -> tuple[Any, float]:
    """One solve through Pyomo's legacy interface, read back like solve_model does.

    The status comes from the adapter ``pyomo solve`` uses too
    (:func:`~pyomo_llmprice.outcomes.legacy_outcome`); the user's `options` reach the
    solver, over the package's Ipopt defaults for ``ipopt`` (other solvers would
    refuse Ipopt's names).
    """
    from pyomo.environ import SolverFactory as LegacyFactory

    from pyomo_llmprice.outcomes import iteration_count, legacy_outcome
    from pyomo_llmprice.pipeline import read_menu
    from pyomo_llmprice.solvers.options import DEFAULT_IPOPT_OPTIONS

    opt = LegacyFactory(name)
    defaults = DEFAULT_IPOPT_OPTIONS if name == "ipopt" else {}
    kwds: dict[str, Any] = {"load_solutions": False}
    if time_limit is not None:
        kwds["timelimit"] = time_limit
    start = time.perf_counter()
    res = opt.solve(model, options={**defaults, **options}, **kwds)
    wall = time.perf_counter() - start
    has_solution = len(res.solution) > 0
    if has_solution:
        model.solutions.load_from(res)
    result = read_menu(
        model.menu,
        outcome=legacy_outcome(res),
        termination=str(res.solver.termination_condition),
        solver=name,
        iterations=iteration_count(res),
        wall_time=wall,
        has_solution=has_solution,
    )
    return result, wall


def _run(
    instance: Instance,
    setting: str,
    ic: str,
    probe: SolverProbe,
    options: dict[str, Any],
    time_limit: float | None,
) -> tuple[Any, float]:
    from pyomo_llmprice.pipeline import build_model, solve_model

    model = build_model(instance, setting, ic)
    if probe.api == "legacy":
        return _legacy_solve(model, probe.name, options, time_limit)
    if probe.name in PACKAGE_SOLVERS:
        return _package_solve(model, probe.name, time_limit)
    start = time.perf_counter()
    result = solve_model(model, solver=probe.name, options=options, time_limit=time_limit)
    return result, time.perf_counter() - start


def _package_solve(model: Any, name: str, time_limit: float | None) -> tuple[Any, float]:
    """One solve by SCIP, Gurobi or HiGHS through Pyomo
    (:mod:`~pyomo_llmprice.global_certificates.global_minlp`), read back like solve_model
    does; the result carries ``bound`` and ``global_gap`` (the solver's proven bound on
    the profit, in the instance's money)."""
    from pyomo_llmprice.global_certificates.global_minlp import solve_global
    from pyomo_llmprice.pipeline import read_menu

    if name in QP_SOLVERS:
        _numeric_objective(model)
    run = solve_global(model, name, PACKAGE_TIME_LIMIT if time_limit is None else time_limit)
    result = read_menu(
        model.menu,
        outcome=run.status,
        termination=run.termination,
        solver=name,
        wall_time=run.wall_time,
        has_solution=run.has_point,
    )
    units = getattr(model.menu, "units", None)
    bound = float(units.money_to_instance(run.bound)) if units is not None else run.bound
    result.global_bound = bound
    return result, run.wall_time


def _numeric_objective(model: Any) -> None:
    """The objective with its parameters' values in place of the parameters.

    Pyomo's HiGHS interfaces (``highs``, ``appsi_highs``) read a quadratic objective
    with ``compute_values=False`` and call products of mutable parameters and
    variables "degree None"; the same quadratic with numbers is accepted."""
    from pyomo.environ import Objective
    from pyomo.repn import generate_standard_repn

    for obj in list(model.component_data_objects(Objective, active=True)):
        expr = generate_standard_repn(obj.expr, quadratic=True, compute_values=True)
        obj.deactivate()
        model.add_component(
            f"{obj.local_name}_numeric", Objective(expr=expr.to_expression(), sense=obj.sense)
        )


def _problem_class(model: Any) -> str | None:
    """Why a model is no LP / QP (a nonlinear constraint or objective), or None."""
    from pyomo.environ import Constraint, Objective

    for con in model.component_data_objects(Constraint, active=True):
        if con.body.polynomial_degree() not in (0, 1):
            return f"constraint {con.name} is nonlinear"
    for obj in model.component_data_objects(Objective, active=True):
        if obj.expr.polynomial_degree() not in (0, 1, 2):
            return "the objective is not quadratic"
    return None


def _row(instance: Instance, setting: str, formulation: str, solver: str, **vals: Any) -> dict:
    row = {c: np.nan for c in COLUMNS}
    row.update(
        instance=instance.name,
        n_types=len(instance.prob if isinstance(instance, ScreeningInstance) else instance.types),
        setting=setting,
        formulation=formulation,
        solver=solver,
        termination="",
        note="",
    )
    row.update(vals)
    return row


def _skip_reason(
    probe: Any, name: str, ic: str, n: int, m: int, dense_limit: float, qp_class: str | None = None
) -> tuple[str, str] | None:
    """Why a solver is not run on a problem (status, note), or None to run it.

    `qp_class`: why the model is no LP / QP (None if it is one), for HiGHS."""
    if not probe.available:
        return "unavailable", probe.note
    if probe.api == "legacy" and ic == "generated":
        return "skipped", "IC generation needs a solver of Pyomo's new interface"
    if name in PACKAGE_SOLVERS and ic == "generated":
        return "skipped", "IC generation runs the package's NLP loop; use all-pairs"
    if name in QP_SOLVERS and qp_class is not None:
        return "skipped", f"skipped: problem class (LP and convex QP only; {qp_class})"
    if name in DENSE_SOLVERS and n * m > dense_limit:
        return "skipped", f"dense Jacobian {n} x {m} exceeds dense_limit {dense_limit:.3g}"
    return None


def compare(
    instances: Iterable[Instance | str | Path],
    solvers: Sequence[str] = DEFAULT_SOLVERS + PACKAGE_SOLVERS + EXTERNAL_SOLVERS,
    setting: str = "packages",
    formulation: str = "all-pairs",
    repeat: int = 1,
    time_limit: float | None = None,
    dense_limit: float = 2e6,
    options: dict[str, Any] | None = None,
    progress: bool | Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Solve every instance with every solver; one row per (instance, solver).

    `repeat` runs each solve that many times on a freshly built model and records
    the median wall time (model construction excluded, compilation, solve and
    verification included). `dense_limit` caps variables x constraint rows for
    dense solvers (SLSQP), which are skipped beyond it with a note. `options` go to
    every solver (Ipopt names; SciPy translates or ignores them).

    `progress`: a bar over the runs on stderr (:mod:`pyomo_llmprice.progress`: ``None``
    draws it on a terminal unless the package is quiet), or a function called with
    ``"instance / solver"`` before each run (for scripts that log; no bar then).
    """
    if formulation not in FORMULATIONS:
        raise UserInputError(
            f"formulation must be one of {', '.join(FORMULATIONS)}, got {formulation!r}"
        )
    if repeat < 1:
        raise UserInputError(f"repeat must be at least 1, got {repeat}")
    ic = FORMULATIONS[formulation]
    loaded = [
        i if isinstance(i, (Instance, ScreeningInstance)) else read_instance(i) for i in instances
    ]
    for inst in loaded:  # refuse a bad combination before spending time on solves
        check_setting(inst, setting)
    probes = {name: probe_solver(name) for name in dict.fromkeys(solvers)}
    rows = []
    announce = progress if callable(progress) else None
    bar = progress_bar(
        total=len(loaded) * len(probes),
        desc="compare",
        unit=" run",
        enabled=False if callable(progress) else progress,
    )
    for inst in loaded:
        from pyomo_llmprice.pipeline import build_model

        built = build_model(inst, setting, ic)
        n, m = _model_size(built)
        qp_class = _problem_class(built) if QP_SOLVERS & set(probes) else None
        exact = exact_profit(inst, setting)
        for name, probe in probes.items():
            bar.set_postfix_str(f"{inst.name} / {name}")
            base = {"n_variables": n, "n_constraints": m, "exact_profit": exact}
            skip = _skip_reason(probe, name, ic, n, m, dense_limit, qp_class)
            if skip is not None:
                status, why = skip
                known = {"exact_profit": exact} if status == "unavailable" else base
                row = _row(inst, setting, formulation, name, status=status, note=why, **known)
                rows.append(row)
                bar.update(1)
                continue
            if announce is not None:
                announce(f"{inst.name} / {name}")
            times = []
            result = None
            note = ""
            for _ in range(repeat):
                try:
                    result, wall = _run(inst, setting, ic, probe, dict(options or {}), time_limit)
                except SizeLimitError as exc:  # Gurobi's pip licence: a skip, not a crash
                    note = f"skipped: size limit ({' '.join(str(exc).split())})"
                    result = None
                    break
                except Exception as exc:  # a solver crash is a result, not an abort
                    note = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                    result = None
                    break
                times.append(wall)
            if result is None:
                rows.append(
                    _row(
                        inst,
                        setting,
                        formulation,
                        name,
                        status="skipped" if note.startswith("skipped: size") else "error",
                        note=note,
                        exact_profit=exact,
                    )
                )
                bar.update(1)
                continue
            v = result.verification
            rows.append(
                _row(
                    inst,
                    setting,
                    formulation,
                    name,
                    status=result.status,
                    termination=result.termination,
                    iterations=result.iterations,
                    wall_time=statistics.median(times),
                    profit=result.profit,
                    max_ic_violation=v.max_ic_violation,
                    max_ir_violation=v.max_ir_violation,
                    max_violation=v.max_violation,
                    note=note,
                    **_bound_columns(result),
                    **base,
                )
            )
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return _add_gaps(table)


def _bound_columns(result: Any) -> dict[str, float]:
    """``bound`` and ``global_gap`` of a global solver's run (empty for local solvers):
    the proven bound on profit and (bound - profit) / |profit| of the published menu."""
    bound = getattr(result, "global_bound", None)
    if bound is None or not math.isfinite(bound):
        return {}
    profit = float(result.profit)
    gap = (bound - profit) / max(abs(profit), 1e-300) if math.isfinite(profit) else math.nan
    return {"bound": bound, "global_gap": gap}


def exact_profit(instance: Instance, setting: str) -> float:
    """The exact discrete optimum where theory knows it (Token Packages), else NaN."""
    if setting != "packages":
        return math.nan
    from pyomo_llmprice.theory import discrete_optimal_menu

    try:
        return float(
            discrete_optimal_menu(instance.theta, instance.types.prob, instance.technology).profit
        )
    except (TypeError, ValueError):  # e.g. a precision function other than Cobb-Douglas
        return math.nan


def _add_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Relative gaps to the best verified profit (any solver or formulation of the same
    instance and setting) and to the exact optimum where known."""
    keys = ["instance", "setting"]
    verified = table["profit"].where(table["status"] == "optimal")
    best = verified.groupby([table[k] for k in keys]).transform("max")
    scale = best.abs().where(best.abs() > 0, 1.0)
    table["gap"] = (best - table["profit"]) / scale
    exact = table["exact_profit"].astype(float)
    table["gap_exact"] = (exact - table["profit"]) / exact.abs().where(exact.abs() > 0, 1.0)
    return table


def mark_solved(table: pd.DataFrame, gap_tolerance: float = 1e-4) -> pd.DataFrame:
    """Add ``solved``: verified optimal and within `gap_tolerance` of the best profit."""
    gap = table["gap"].astype(float)
    solved = (table["status"] == "optimal") & (gap <= gap_tolerance)
    return table.assign(solved=solved.fillna(False).astype(bool))


def to_markdown(table: pd.DataFrame) -> str:
    """The table as GitHub markdown (pandas through tabulate), numbers in short form.

    Solvers unavailable on every instance are listed below the table instead of
    filling it with empty rows (the CSV keeps those rows).
    """
    absent = table.groupby("solver", sort=False)["status"].agg(lambda s: (s == "unavailable").all())
    missing = [str(name) for name, gone in absent.items() if gone]
    shown = table[~table["solver"].isin(missing)]
    shown = shown.drop(columns=["n_variables", "n_constraints"], errors="ignore").copy()
    shown = shown.drop(columns=["exact_profit"])
    for col in ("wall_time", "profit", "max_ic_violation", "max_ir_violation"):
        if col in shown:
            shown[col] = shown[col].map(_short)
    for col in ("bound",):
        if col in shown:
            shown[col] = shown[col].map(_short)
    for col in ("max_violation", "gap", "gap_exact", "global_gap"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: _short(v, 2))
    if "iterations" in shown:
        shown["iterations"] = shown["iterations"].map(
            lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
        )
    text = shown.to_markdown(index=False) + "\n"
    if missing:
        text += f"\nNot available on this machine (skipped): {', '.join(missing)}.\n"
    return text


def _short(v: Any, digits: int = 6) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{float(v):.{digits}g}"


def write_comparison(
    table: pd.DataFrame,
    out: str | Path,
    gap_tolerance: float = 1e-4,
    metric: str = "wall_time",
    profile: bool = True,
) -> dict[str, Path]:
    """Write ``comparison.csv``, ``comparison.md`` and ``performance_profile.png`` in `out`.

    `profile=False` writes the tables only (the figure needs matplotlib). The profile
    covers the solvers that ran (not ``unavailable`` or ``skipped`` everywhere); a problem
    is an (instance, setting, formulation) and a run counts as solved when
    :func:`mark_solved` says so.
    """
    from pyomo_llmprice.studies.profiles import performance_ratios, plot_performance_profile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # tables may be concatenated, some read back from files of older versions
    table = mark_solved(_add_gaps(with_current_names(table.copy())), gap_tolerance)
    paths = {"csv": out / "comparison.csv", "markdown": out / "comparison.md"}
    table.to_csv(paths["csv"], index=False)
    paths["markdown"].write_text(to_markdown(table))
    ran = table[~table["status"].isin(["unavailable", "skipped"])]
    if profile and len(ran):
        ratios = performance_ratios(
            ran, ["instance", "setting", "formulation"], "solver", metric, "solved"
        )
        paths["profile"] = plot_performance_profile(
            ratios,
            out / "performance_profile.png",
            title=f"Performance profile ({metric.replace('_', ' ')})",
        )
    return paths
