"""instance -> model -> solve -> verify -> tariffs -> report, as one Python API.

The command line and ``models/*.py`` are thin doors onto these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo

from pyomo_llmprice.blocks.menu import ScreeningMenuData, menu_block
from pyomo_llmprice.certificate import Publication, served_types
from pyomo_llmprice.exact import solve_block_exactly, solve_instance_exactly
from pyomo_llmprice.generation import solve_menu
from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.outcomes import iteration_count, load_point, solver_or_error, solver_outcome
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.result import MenuResult, certify_menu, type_tolerances
from pyomo_llmprice.settings import check_setting
from pyomo_llmprice.solvers.options import (
    CHAIN_IPOPT_OPTIONS,
    DEFAULT_IPOPT_OPTIONS,
    LONG_CHAIN_IPOPT_OPTIONS,
    LONG_CHAIN_SOLVER,
    LONG_CHAIN_TYPES,
    LONG_ENVELOPE_IPOPT_OPTIONS,
)
from pyomo_llmprice.theory import excluded_types

__all__ = [
    "build_model",
    "default_solver",
    "read_menu",
    "resolve_method",
    "solve_instance",
    "solve_model",
]


def build_model(
    instance: Instance, setting: str = "packages", ic: str = "auto", normalize: bool = True
) -> pyo.ConcreteModel:
    """A ConcreteModel whose block ``menu`` is the setting's screening block.

    `normalize` (the block option): build in the instance's normalized units, so the
    menu does not depend on the units the instance was written in; constraints added
    to the model are then in ``model.menu.units``. Results are read back in the
    instance's units either way.
    """
    block = check_setting(instance, setting).block
    model = pyo.ConcreteModel(name=f"{instance.name}_{setting}")
    model.menu = block(instance=instance, ic=ic, normalize=normalize)
    return model


def solve_model(
    model: pyo.Block,
    solver: str | None = None,
    options: dict[str, Any] | None = None,
    tee: bool = False,
    time_limit: float | None = None,
    tolerance: float = 1e-6,
    method: str = "nlp",
) -> MenuResult:
    """Solve a model holding one screening block (any name; ``menu`` by convention) and
    return the verified menu.

    The result's ``status`` says how the solve ended (:data:`outcomes.STATUSES`);
    an unknown solver name raises :class:`~pyomo_llmprice.errors.UnknownSolverError`.
    `method`: ``"nlp"`` (default: a model you built is solved as built) runs `solver`;
    ``"exact"`` solves one-dimensional problems by ironing and a pointwise maximum
    (:mod:`pyomo_llmprice.exact`; one warning line and the NLP where the model does not
    reduce, e.g. constraints you added); ``"auto"`` is exact where it applies.
    """
    menu = menu_block(model)  # one block, settled in place
    menu.settle_chain()  # the envelope only where it is exact
    solver = solver or default_solver(menu)
    opt = solver_or_error(solver)
    exact = solve_block_exactly(menu, method, tolerance)
    if exact is not None:
        return exact
    if not opt.available():  # known, but not installed here: a status, not a crash
        return read_menu(
            menu,
            termination="solver_unavailable",
            solver=solver,
            tolerance=tolerance,
            has_solution=False,
            outcome="solver_unavailable",
        )
    opts = dict(DEFAULT_IPOPT_OPTIONS)
    chain = getattr(menu, "ic_set", None)
    if chain == "adjacent":  # the 1-D chain
        opts.update(CHAIN_IPOPT_OPTIONS)
        if _long_chain(menu):
            opts.update(LONG_CHAIN_IPOPT_OPTIONS)
    elif chain == "envelope" and _long_chain(menu):
        opts.update(LONG_ENVELOPE_IPOPT_OPTIONS)
    opts.update(options or {})

    spent: list[tuple[int | None, float | None]] = []  # every solve's, re-solves included

    def solve() -> MenuResult:
        results, generation, retry = solve_menu(model, solver, opts, tee, time_limit)
        result = read_menu(
            menu,
            outcome=solver_outcome(results),
            termination=results.termination_condition.name,
            solver=solver,
            iterations=iteration_count(results),
            wall_time=results.timing_info.wall_time,
            tolerance=tolerance,
            has_solution=load_point(results),
        )
        result.generation = generation
        result.retry = retry
        result.ic = menu.ic_set
        if generation is not None:  # every round's, as the rounds are one solve here
            result.iterations = generation.iterations
            result.wall_time = generation.wall_time
        spent.append((result.iterations, result.wall_time))
        return result

    result = solve()
    for _ in range(DUST_ROUNDS):  # a re-solve may leave a sliver on the next type down
        if result.status not in ("optimal", "verification_failed") or not result.has_point:
            break
        trial = _without_dust(model, result, solve)
        if trial is result:
            break
        result = trial
    # what the menu cost: every solve's iterations and time, exclusion re-solves (kept or
    # not) too
    iterations, times = zip(*spent, strict=True)
    result.iterations = None if None in iterations else sum(iterations)
    result.wall_time = None if None in times else sum(times)
    return result


def default_solver(block: ScreeningMenuData) -> str:
    """The solver of a model whose caller named none: DEFAULT_SOLVER, except
    LONG_CHAIN_SOLVER on envelope chains of LONG_CHAIN_TYPES or more distinct types
    (where it is installed)."""
    long_envelope = getattr(block, "ic_set", None) == "envelope" and _long_chain(block)
    if long_envelope and solver_or_error(LONG_CHAIN_SOLVER).available():
        return LONG_CHAIN_SOLVER
    return DEFAULT_SOLVER


def _long_chain(block: ScreeningMenuData) -> bool:
    """A chain long enough for the long-chain solver and options (LONG_CHAIN_TYPES)."""
    return len(block.distinct_types) >= LONG_CHAIN_TYPES


#: served bundles worth less than this fraction of the value scale may be solver dust
DUST_FRACTION = 1e-3
#: ... and are excluded when that costs at most this fraction of the profit
EXCLUSION_RTOL = 1e-7
#: exclusion re-solves at most
DUST_ROUNDS = 3


def _without_dust(model: pyo.Block, result: MenuResult, solve: Any) -> MenuResult:
    """The menu with its near-null bundles excluded, when excluding them costs nothing.

    A type whose virtual value is exactly zero (or negative, on a flat stretch) adds
    nothing to profit whether served or not, and an interior-point solve leaves it a
    sliver of a bundle: priced as a plan it reads as absurd (a markup of 48,000 on
    1e-10 tokens). Types whose bundles are worth less than DUST_FRACTION of their own
    scale are fixed to the null bundle and the menu re-solved; the re-solve is kept
    only if it is optimal, certified and loses at most EXCLUSION_RTOL of the profit,
    so a type that earns something stays served. A menu that failed its check only
    through such slivers (a negative payment of 1e-12) is re-solved the same way.
    """
    menu = result.menu
    block = menu_block(model)
    profit = result.profit if result.optimal else result.last_point["profit"]
    own_scale = menu["tolerance"].to_numpy(float) / result.relative_tolerance  # first best
    sliver = menu["gross_value"].to_numpy(float) < DUST_FRACTION * own_scale
    # a type with no gains from trade (first best 0: own_scale is type_tolerances' 1e-300
    # floor) can only lose money served; any bundle it holds is dust
    scale = max(own_scale.max(), result.value_scale)
    sliver |= own_scale <= max(1e-12 * DUST_FRACTION * scale, 1e-290)
    if block.setting == "packages":  # one-dimensional: theory names the excluded types
        sliver |= excluded_types(menu["theta"].to_numpy(float), menu["prob"].to_numpy(float))
    dust = menu["served"].to_numpy(bool) & sliver
    new = [str(k) for k in menu["type"][dust]]
    if not new:
        return result
    labels = [*result.excluded, *new]  # earlier rounds' exclusions stay in force
    saved = [(v, v.value) for v in model.component_data_objects(pyo.Var, descend_into=True)]
    fixed = block.fix_null_bundles(labels)
    if not fixed:
        return result
    try:
        trial = solve()
    finally:
        for var in fixed:
            var.unfix()
    floor = profit - EXCLUSION_RTOL * max(abs(profit), result.tolerance)
    if trial.optimal and trial.profit >= floor:
        trial.excluded = labels
        trial.retry = trial.retry or result.retry  # how the menu was first found
        return trial
    for var, value in saved:  # the first menu stands: the model holds it again
        var.set_value(value, skip_validation=True)
    return result


NLP_ARGUMENTS = ("solver", "options", "tee")
"""Arguments of :func:`solve_model` that only the Pyomo NLP honours."""


def resolve_method(method: str, ic: str = "auto", **nlp_arguments: Any) -> str:
    """The method to run: ``"auto"`` becomes ``"nlp"`` when the caller asked for
    something only the NLP has (a solver, solver options, the solver's log, an IC
    formulation); the exact method then never silently ignores a choice."""
    if method == "auto" and (ic != "auto" or any(nlp_arguments.get(k) for k in NLP_ARGUMENTS)):
        return "nlp"
    return method


def solve_instance(
    instance: Instance | ScreeningInstance | str | Path,
    setting: str = "packages",
    ic: str = "auto",
    method: str = "auto",
    **kwds: Any,
) -> MenuResult:
    """Read (if a path), build, solve and verify in one call. `method` as in
    :func:`solve_model`, default ``"auto"``: exact where the problem is one-dimensional
    (no Pyomo model is built), unless the call asks for the NLP (:func:`resolve_method`)."""
    if not isinstance(instance, (Instance, ScreeningInstance)):
        instance = read_instance(instance)
    method = resolve_method(method, ic, **kwds)
    exact = solve_instance_exactly(
        instance, setting, method, kwds.get("tolerance", 1e-6), kwds.get("time_limit")
    )
    if exact is not None:
        return exact
    return solve_model(build_model(instance, setting, ic), method="nlp", **kwds)


def read_menu(
    block: ScreeningMenuData,
    converged: bool = True,
    termination: str = "unknown",
    solver: str = "",
    iterations: int | None = None,
    wall_time: float | None = None,
    tolerance: float = 1e-6,
    has_solution: bool = True,
    outcome: str | None = None,
) -> MenuResult:
    """Read a solved block back, snap the null bundles, then certify and price the
    published menu (:func:`pyomo_llmprice.result.certify_menu`).

    Everything published is in the units of the block's source instance (the block
    may have been built in normalized units, ``block.units``).

    `outcome` is the solver's status (:func:`outcomes.solver_outcome`); when given
    it decides `converged`, and a non-optimal outcome becomes the menu's status.
    """
    if outcome is None:
        outcome = "optimal" if converged else "not_converged"
    arrays = block.menu_arrays() if has_solution else None  # in the block's (normalized) units
    inst = block.source_instance  # the published menu is in the units of the user's instance
    units = block.units
    key = block.characteristic  # what buyers value linearly (precision, quality)
    no_point = arrays is None or not np.all(np.isfinite(arrays[key]))
    if no_point:  # nothing to report: the null menu stands in, aggregates are NaN
        arrays = block.null_arrays()
    tol = type_tolerances(inst, tolerance)
    # A served type is one whose bundle, as the model meant it (its characteristic), is
    # worth more than the tolerance to it; anything else is the null bundle, and every
    # part of it (tokens, fine-tuning, payment) is snapped to zero before anything is
    # checked or priced. (Slivers above it are solver dust on types of zero virtual
    # value, removed by solve_model's exclusion re-solve.) The certificate then reads
    # only the published numbers, so a slack technology row cannot hide value.
    served = served_types(units.money_to_instance(block.own_value(arrays[key])), tol)
    block.snap_null_bundles(arrays, served, np.asarray(units.money_from_instance(tol), float))
    columns, cost = block.bundle_columns(arrays)
    labels = list(block.types)
    publication = Publication(
        block.published_values(columns, arrays),
        cost,
        np.asarray(block.description(), float).reshape(len(labels), -1),
        block.type_columns(),
    )
    payment = np.asarray(units.money_to_instance(arrays["payment"]), float)
    # no loss on a served type holds at an optimum of the screening problem itself; a
    # constraint the user added (a price cap) may make a subsidy optimal
    return certify_menu(
        inst,
        block.setting,
        columns,
        payment,
        outcome=outcome,
        termination=termination,
        solver=solver,
        iterations=iterations,
        wall_time=wall_time,
        tolerance=tolerance,
        no_loss=not block.added_constraints(),
        served=served,
        publication=publication,
        has_point=not no_point,
    )
