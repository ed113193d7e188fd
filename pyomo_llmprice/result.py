"""A published menu and its certificate, whatever computed it.

:func:`certify_menu` is the model-independent half of reading a menu back: from the
numbers a user will read (each type's bundle columns and payment, in the instance's
own units) it decides who is served, checks every IC and IR pair
(:mod:`pyomo_llmprice.certificate`, :mod:`pyomo_llmprice.verify`), groups bunched types
into packages, prices the plans (:func:`pyomo_llmprice.tariffs.markups.menu_plans`)
and returns the :class:`MenuResult`. A Pyomo solve reaches it through
:func:`pyomo_llmprice.pipeline.read_menu`; a menu computed in numpy (an exact
one-dimensional method, a calibration) calls it directly, so both are certified and
priced by the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pyomo_llmprice.certificate import Publication, package_numbers, served_types
from pyomo_llmprice.instance import Instance, ScreeningInstance
from pyomo_llmprice.settings import get_setting
from pyomo_llmprice.tariffs.markups import menu_plans
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.units import first_best_values
from pyomo_llmprice.verify import Verification, verify_menu

if TYPE_CHECKING:  # only their types: the logs are written by generation.solve_menu
    from pyomo_llmprice.generation import GenerationLog, RetryLog

__all__ = ["MenuResult", "certify_menu", "type_tolerances"]

#: statuses of a solver (pyomo_llmprice.outcomes.STATUSES) that a certificate may confirm
OPTIMAL = "optimal"


@dataclass
class MenuResult:
    """A solved, verified menu and its aggregates.

    ``source`` is the instance the menu is published for (its own units, types of
    probability 0 dropped) and ``technology`` its technology: the tariff layer, the
    plots and the studies read them here instead of reading the file again.
    """

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
    ic: str | None = None  # the IC rows the NLP imposed (blocks.menu.IC_SETS); None: no NLP
    value_scale: float = 1.0  # the instance's money scale (units.value_scale)
    relative_tolerance: float = 1e-6
    has_point: bool = True  # False: the solver returned nothing; the menu is the null menu
    #: profit etc. at the solver's last point when it is not optimal (never an answer)
    last_point: dict[str, float] = field(default_factory=dict)
    #: types given the null bundle after the solve because serving them earned nothing
    excluded: list[str] = field(default_factory=list)
    #: the instance the menu is published for (instance units)
    source: Instance | ScreeningInstance | None = field(default=None, repr=False)

    @property
    def technology(self) -> Technology | None:
        """The token technology of the source instance (None for generic screening)."""
        return self.source.technology if isinstance(self.source, Instance) else None

    @property
    def optimal(self) -> bool:
        return self.status == OPTIMAL

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
        """The JSON document of ``llmprice solve --json``
        (:func:`pyomo_llmprice.report.documents.menu_document`)."""
        from pyomo_llmprice.report.documents import menu_document

        return menu_document(self)

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


def certify_menu(
    instance: Instance | ScreeningInstance,
    setting: str,
    bundles: Mapping[str, ArrayLike],
    payment: ArrayLike,
    *,
    outcome: str = OPTIMAL,
    termination: str = "unknown",
    solver: str = "",
    iterations: int | None = None,
    wall_time: float | None = None,
    tolerance: float = 1e-6,
    no_loss: bool = True,
    served: ArrayLike | None = None,
    publication: Publication | None = None,
    has_point: bool = True,
) -> MenuResult:
    """Certify and price a published menu: the model-independent read-back.

    Parameters
    ----------
    instance
        The instance the menu is for, in the units the numbers are written in (types
        of probability 0 already dropped: one row per type, in instance order).
    setting
        The registered setting (:mod:`pyomo_llmprice.settings`) whose ``publish``
        recomputes values and costs from the bundle columns.
    bundles
        The published bundle columns, one entry per type: Token Packages
        ``input_tokens``, ``output_tokens``, ``finetune_tokens``; Token Allocations
        also the per-task columns of :func:`~pyomo_llmprice.certificate.
        allocations_publication`; screening ``good_<dim>``.
    payment
        Each type's payment.
    outcome
        How the computation ended (a status of :data:`pyomo_llmprice.outcomes.STATUSES`);
        only ``"optimal"`` can become an optimal menu, and only if the certificate holds.
    termination, solver, iterations, wall_time
        What the solver said, reported as is.
    tolerance
        Relative tolerance: type i's checks are held to ``tolerance * first_best[i]``
        (:func:`pyomo_llmprice.units.first_best_values`).
    no_loss
        Certify that no served type pays less than its cost (an optimum of the pure
        screening problem; False when user constraints may make a subsidy optimal).
    served
        Who is served, if the caller already decided and snapped (the Pyomo read-back,
        from the model's own characteristic); default: a type is served iff its
        published bundle is worth more than its tolerance over buying nothing, and every
        other bundle is snapped to the null bundle (its payment too, when within the
        tolerance of 0) before anything is checked or priced.
    publication
        The values and costs of the published bundles, if the caller computes them
        (a block with user value or cost forms); default: the setting's ``publish``.
    has_point
        False when there is no menu at all (the solver returned nothing): the null
        menu is published with NaN aggregates.

    Returns
    -------
    MenuResult
        Status ``"optimal"`` iff `outcome` is optimal and every IC, IR (and no-loss)
        condition holds within the per-type tolerance; plans (``markup``,
        ``fixed_fee``) only on optimal token menus, the same for every type of a
        package. The result carries `instance` as ``source``.
    """
    labels = [str(k) for k in _labels(instance)]
    n = len(labels)
    prob = np.asarray(instance.types.prob if isinstance(instance, Instance) else instance.prob)
    prob = prob.astype(float)
    cols = {k: np.array(v, float, ndmin=1).copy() for k, v in bundles.items()}
    pay = np.array(payment, float, ndmin=1).copy()
    if pay.shape != (n,) or any(v.shape[:1] != (n,) for v in cols.values()):
        raise ValueError(f"{instance.name}: the menu needs one bundle and one payment per type")
    # The tolerance is money per buyer, type by type relative to what that type could ever
    # get (its first-best value, units.first_best_values), never to the menu: an absurd
    # bundle must not widen it, nor a rich type of tiny probability everyone else's.
    first_best = first_best_values(instance)
    scale = float(first_best.max(initial=0.0))  # the top type's: the instance's value scale
    tol = type_tolerances(instance, tolerance, first_best)
    publish = get_setting(setting, instance.path or instance.name).publish
    if publication is None or served is None:
        if publish is None:
            raise ValueError(f"setting {setting!r} registers no publish: pass the publication")
    if publication is None:
        publication = publish(instance, cols)
    if served is None:
        # A served type is one whose published bundle is worth more than its tolerance;
        # anything else is the null bundle, snapped before anything is checked or priced.
        served = served_types(publication.values.own - publication.values.null, tol)
        pay[~served & (np.abs(pay) <= tol)] = 0.0
        if any(np.any(v[~served] != 0.0) for v in cols.values()):
            for v in cols.values():
                v[~served] = 0.0
            publication = publish(instance, cols)  # the values of what is published
    served = np.asarray(served, bool)
    values, cost = publication.values, np.asarray(publication.cost, float)
    own = values.own
    if not has_point:  # nothing was published: there is no solution to check
        nothing = np.full(n, math.nan)
        check = Verification(math.nan, math.nan, None, nothing, nothing, None, tol)
    else:
        check = verify_menu(
            values.rows,
            own,
            pay,
            null_value=values.null,
            cost=cost if no_loss else None,
            served=served,
            tolerance=tol,
            one_dimensional=values.linear,
        )
    converged = has_point and outcome == OPTIMAL
    if converged:
        status = OPTIMAL if check.passed() else "verification_failed"
    else:  # the solver's own status; "optimal" with no point to read did not converge
        status = outcome if outcome != OPTIMAL else "not_converged"
    rent = own - pay
    types = publication.type_columns
    package = package_numbers(values, pay, served, tol, publication.description, types.get("theta"))
    tariffs = {}
    if isinstance(instance, Instance):  # two-part token tariffs (LLM menus)
        markup, fee = menu_plans(
            package,
            prob,
            own,
            cols["input_tokens"],
            cols["output_tokens"],
            cols["finetune_tokens"],
            pay,
            cost,
            instance.technology,
        )
        if status != OPTIMAL:
            markup = np.full(n, np.nan)
            fee = np.full(n, np.nan)
        tariffs = {"markup": markup, "fixed_fee": fee}
    menu = pd.DataFrame(
        {
            "type": labels,
            "prob": prob,
            **types,
            **cols,
            "payment": pay,
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
    revenue = float(prob @ pay)
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
    if not has_point:
        aggregates = dict.fromkeys(aggregates, math.nan)
    elif status != OPTIMAL:  # numbers of a point that is not an answer: kept apart
        last_point, aggregates = aggregates, dict.fromkeys(aggregates, math.nan)
    return MenuResult(
        setting=setting,
        instance=instance.name,
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
        has_point=has_point,
        last_point=last_point,
        source=instance,
    )


def type_tolerances(
    instance: Instance | ScreeningInstance,
    tolerance: float,
    first_best: np.ndarray | None = None,
) -> np.ndarray:
    """Each type's tolerance, money per buyer: `tolerance` times its own first-best value
    (:func:`pyomo_llmprice.units.first_best_values`, or `first_best` if already known),
    never the menu's numbers, so that neither an absurd bundle nor a rich type of tiny
    probability widens anyone's check."""
    values = first_best_values(instance) if first_best is None else first_best
    return tolerance * np.maximum(np.asarray(values, float), 1e-300)


def _labels(instance: Instance | ScreeningInstance) -> tuple[str, ...]:
    return tuple(instance.types.labels if isinstance(instance, Instance) else instance.labels)
