"""instance -> model -> solve -> verify -> tariffs -> report, as one Python API.

The command line and ``models/*.py`` are thin doors onto these functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_llmprice.blocks.menu import ScreeningMenuData, menu_block
from pyomo_llmprice.certificate import PublishedValues, bundle_groups
from pyomo_llmprice.generation import GenerationLog, RetryLog, solve_menu
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.outcomes import load_point, solver_or_error, solver_outcome
from pyomo_llmprice.settings import check_setting
from pyomo_llmprice.tariffs.markups import implied_markup, package_plans
from pyomo_llmprice.theory import excluded_types
from pyomo_llmprice.units import first_best_values
from pyomo_llmprice.verify import Verification, verify_menu

__all__ = [
    "DEFAULT_IPOPT_OPTIONS",
    "MenuResult",
    "build_model",
    "read_menu",
    "solve_instance",
    "solve_model",
]

#: tight tolerance and no bound relaxation: excluded types then sit at zero and the
#: discrete optimum is reproduced to ~1e-9 (evaluator-notes.md)
DEFAULT_IPOPT_OPTIONS: dict[str, Any] = {
    "tol": 1e-9,
    "acceptable_tol": 1e-9,
    "bound_relax_factor": 0.0,
    "max_iter": 3000,
}


@dataclass
class MenuResult:
    """A solved, verified menu and its aggregates."""

    setting: str
    instance: str
    status: str  # "optimal" only if the solver converged and verification passed
    termination: str
    solver: str
    iterations: int | None
    wall_time: float | None
    verification: Verification
    tolerance: float  # absolute, money per buyer: relative_tolerance * value_scale
    menu: pd.DataFrame
    aggregates: dict[str, float] = field(default_factory=dict)  # NaN unless optimal
    generation: GenerationLog | None = None
    retry: RetryLog | None = None  # a failed first solve was retried (generation.solve_menu)
    value_scale: float = 1.0  # the instance's money scale (units.value_scale)
    relative_tolerance: float = 1e-6
    has_point: bool = True  # False: the solver returned nothing; the menu is the null menu
    #: profit etc. at the solver's last point when it is not optimal (never an answer)
    last_point: dict[str, float] = field(default_factory=dict)
    #: types given the null bundle after the solve because serving them earned nothing
    excluded: list[str] = field(default_factory=list)

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def profit(self) -> float:
        return self.aggregates["profit"]

    @property
    def packages(self) -> int:
        """How many distinct packages (plans) the menu offers; bunched types share one."""
        return int(self.menu["package"].to_numpy().max(initial=0))

    def __repr__(self) -> str:
        v = self.verification
        return (
            f"MenuResult({self.instance!r}, setting={self.setting!r}, status={self.status!r}, "
            f"profit={self.aggregates.get('profit', math.nan):.8g}, types={len(self.menu)}, "
            f"served={int(self.menu['served'].sum())}, max_violation={v.max_violation:.3g}, "
            f"tolerance={self.tolerance:.3g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``llmprice solve --json``."""

        def clean(v: Any) -> Any:
            if isinstance(v, (float, np.floating)):
                return None if not math.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        worst_pair, worst_type = self.worst_pairs()
        rows = [
            {k: clean(v) for k, v in row.items()} for row in self.menu.to_dict(orient="records")
        ]
        return {
            "status": self.status,
            "setting": self.setting,
            "instance": self.instance,
            "termination": self.termination,
            "solver": self.solver,
            "iterations": self.iterations,
            "wall_time": clean(self.wall_time),
            **{k: clean(v) for k, v in self.aggregates.items()},
            "last_point": (
                None if self.optimal else {k: clean(v) for k, v in self.last_point.items()}
            ),
            "max_ic_violation": clean(self.verification.max_ic_violation),
            "max_ir_violation": clean(self.verification.max_ir_violation),
            "max_loss": clean(self.verification.max_loss),
            "worst_ic_pair": worst_pair,
            "worst_ir_type": worst_type,
            "verification_tolerance": self.tolerance,
            "relative_tolerance": self.relative_tolerance,
            "value_scale": self.value_scale,
            "ic_generation": None if self.generation is None else vars(self.generation),
            "retry": None if self.retry is None else vars(self.retry),
            "excluded_after_solve": self.excluded,
            "menu": rows,
        }

    def worst_pairs(self) -> tuple[list[str] | None, str | None]:
        """Labels of the worst IC pair (type, bundle it prefers) and the worst IR type,
        each only if violated beyond the tolerance."""
        v, labels = self.verification, [str(t) for t in self.menu["type"]]
        pair = None
        if v.worst_pair is not None and v.max_ic_violation > self.tolerance:
            pair = [labels[v.worst_pair[0]], labels[v.worst_pair[1]]]
        ir = None
        if v.max_ir_violation > self.tolerance:
            ir = labels[int(np.argmax(v.ir_violation))]
        return pair, ir

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def to_csv(self, path: str | Path) -> None:
        self.menu.to_csv(path, index=False)

    def report(self, all_types: bool = False) -> str:
        """What ``llmprice solve`` prints (:func:`pyomo_llmprice.report.text.menu_report`)."""
        from pyomo_llmprice.report.text import menu_report

        return menu_report(self, all_types)


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
    solver: str = "cyipopt_direct",
    options: dict[str, Any] | None = None,
    tee: bool = False,
    time_limit: float | None = None,
    tolerance: float = 1e-6,
) -> MenuResult:
    """Solve a model holding one screening block (any name; ``menu`` by convention) and
    return the verified menu.

    The result's ``status`` says how the solve ended (:data:`outcomes.STATUSES`);
    an unknown solver name raises :class:`~pyomo_llmprice.errors.UnknownSolverError`.
    """
    opt = solver_or_error(solver)
    if not opt.available():  # known, but not installed here: a status, not a crash
        return read_menu(
            menu_block(model),
            termination="solver_unavailable",
            solver=solver,
            tolerance=tolerance,
            has_solution=False,
            outcome="solver_unavailable",
        )
    opts = dict(DEFAULT_IPOPT_OPTIONS)
    opts.update(options or {})

    def solve() -> MenuResult:
        results, generation, retry = solve_menu(model, solver, opts, tee, time_limit)
        result = read_menu(
            menu_block(model),
            outcome=solver_outcome(results),
            termination=results.termination_condition.name,
            solver=solver,
            iterations=getattr(results, "iteration_count", None),
            wall_time=results.timing_info.wall_time,
            tolerance=tolerance,
            has_solution=load_point(results),
        )
        result.generation = generation
        result.retry = retry
        if generation is not None:
            result.iterations = generation.iterations
        return result

    result = solve()
    for _ in range(DUST_ROUNDS):  # a re-solve may leave a sliver on the next type down
        if result.status not in ("optimal", "verification_failed") or not result.has_point:
            break
        trial = _without_dust(model, result, solve)
        if trial is result:
            break
        result = trial
    return result


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


def solve_instance(
    instance: Instance | str | Path, setting: str = "packages", ic: str = "auto", **kwds: Any
) -> MenuResult:
    """Read (if a path), build, solve and verify in one call."""
    if not isinstance(instance, Instance):
        instance = read_instance(instance)
    return solve_model(build_model(instance, setting, ic), **kwds)


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
    """Read a solved block back, snap the null bundles, verify all pairs, add tariffs.

    Everything published is in the units of the block's source instance (the block
    may have been built in normalized units, ``block.units``).

    `outcome` is the solver's status (:func:`outcomes.solver_outcome`); when given
    it decides `converged`, and a non-optimal outcome becomes the menu's status.
    """
    if outcome is not None:
        converged = outcome == "optimal"
    failure = None if outcome in (None, "optimal") else outcome
    arrays = block.menu_arrays() if has_solution else None  # in the block's (normalized) units
    inst = block.source_instance  # the published menu is in the units of the user's instance
    units = block.units
    labels = list(block.types)
    n = len(labels)
    key = block.characteristic  # what buyers value linearly (precision, quality)
    no_point = arrays is None or not np.all(np.isfinite(arrays[key]))
    if no_point:  # nothing to report: the null menu stands in, aggregates are NaN
        arrays = block.null_arrays()
        converged = False
    # The tolerance is money per buyer, type by type relative to what that type could ever
    # get (its first-best value, units.first_best_values), never to the menu: an absurd
    # bundle must not widen it, nor a rich type of tiny probability everyone else's.
    first_best = first_best_values(inst)
    scale = float(first_best.max(initial=0.0))  # the top type's: the instance's value scale
    tol = tolerance * np.maximum(first_best, 1e-300)
    # A served type is one whose bundle, as the model meant it (its characteristic), is
    # worth more than the tolerance to it; anything else is the null bundle, and every
    # part of it (tokens, fine-tuning, payment) is snapped to zero before anything is
    # checked or priced. (Slivers above it are solver dust on types of zero virtual
    # value, removed by solve_model's exclusion re-solve.) The certificate below then
    # reads only the published numbers, so a slack technology row cannot hide value.
    served = units.money_to_instance(block.own_value(arrays[key])) > tol
    block.snap_null_bundles(arrays, served, np.asarray(units.money_from_instance(tol), float))

    # The certificate: every type against every published bundle and the null bundle,
    # values recomputed from the published tokens (or goods) and the technology.
    tokens, cost = block.bundle_columns(arrays)
    values = block.published_values(tokens, arrays)
    payment = np.asarray(units.money_to_instance(arrays["payment"]), float)
    own = values.own
    if no_point:  # nothing was published: there is no solution to check
        nothing = np.full(n, math.nan)
        check = Verification(math.nan, math.nan, None, nothing, nothing, None, tol)
    else:
        # no loss on a served type holds at an optimum of the screening problem itself; a
        # constraint the user added (a price cap) may make a subsidy optimal
        check = verify_menu(
            values.rows,
            own,
            payment,
            null_value=values.null,
            cost=None if block.added_constraints() else cost,
            served=served,
            tolerance=tol,
        )
    verified = not no_point and check.passed()
    status = (
        "optimal"
        if converged and verified
        else ("verification_failed" if converged else (failure or "not_converged"))
    )
    rent = own - payment
    types = block.type_columns()
    package = _packages(block, values, payment, served, tol, types.get("theta"))
    prob = np.array([pyo.value(block.prob[k]) for k in labels], float)
    tariffs = {}
    if getattr(block, "token_tariffs", False):  # two-part token tariffs (LLM menus)
        per_type = implied_markup(
            own,
            tokens["input_tokens"],
            tokens["output_tokens"],
            tokens["finetune_tokens"],
            inst.technology,
        )
        markup, fee = package_plans(package, prob, per_type, payment, cost)
        if status != "optimal":
            markup = np.full(n, np.nan)
            fee = np.full(n, np.nan)
        tariffs = {"markup": markup, "fixed_fee": fee}
    menu = pd.DataFrame(
        {
            "type": labels,
            "prob": prob,
            **types,
            **tokens,
            "payment": payment,
            "cost": cost,
            "gross_value": own,
            "rent": rent,
            **tariffs,
            "served": served,
            "package": package,
            "ic_violation": check.ic_violation,
            "tolerance": tol,
        }
    )
    revenue = float(prob @ payment)
    total_cost = float(prob @ cost)
    surplus = float(prob @ rent)
    aggregates = {
        "profit": revenue - total_cost,
        "revenue": revenue,
        "cost": total_cost,
        "consumer_surplus": surplus,
        "welfare": revenue - total_cost + surplus,
    }
    last_point: dict[str, float] = {}
    if no_point:
        aggregates = dict.fromkeys(aggregates, math.nan)
    elif status != "optimal":  # numbers of a point that is not an answer: kept apart
        last_point, aggregates = aggregates, dict.fromkeys(aggregates, math.nan)
    return MenuResult(
        setting=block.setting,
        instance=inst.name,
        status=status,
        termination=termination,
        solver=solver,
        iterations=iterations,
        wall_time=wall_time,
        verification=check,
        tolerance=float(tol.max(initial=0.0)),
        menu=menu,
        aggregates=aggregates,
        value_scale=scale,
        relative_tolerance=tolerance,
        has_point=not no_point,
        last_point=last_point,
    )


def _packages(
    block: ScreeningMenuData,
    values: PublishedValues,
    payment: np.ndarray,
    served: np.ndarray,
    tol: np.ndarray,
    index: np.ndarray | None,
) -> np.ndarray:
    """Each type's package number (1, 2, ... in increasing type index; 0: nothing).

    Types whose bundles no probe buyer (the type with the largest value of each
    coordinate; for one-dimensional types the top type, which bounds every other
    type's difference) values differently by more than the tolerance, at payments
    equal to it, hold one package: bunched types are grouped, solver noise is not a
    package of its own.
    """
    desc = np.asarray(block.description(), float).reshape(len(payment), -1)
    probes = sorted({int(j) for j in np.argmax(desc, axis=0)})
    key = np.column_stack([payment, *(values.rows(slice(p, p + 1))[0] for p in probes)])
    order = np.lexsort((payment, index)) if index is not None else np.argsort(payment)
    package = np.zeros(len(payment), dtype=int)
    for number, members in enumerate(bundle_groups(key, order[served[order]], tol), start=1):
        package[members] = number
    return package
