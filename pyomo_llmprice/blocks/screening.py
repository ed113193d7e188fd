"""The generic screening block: any types, goods of any dimension, user value and cost.

Types ``i`` with probabilities ``f_i`` and coordinates ``theta[i, d]``; one good
per dimension; type i values bundle k at ``sum_d theta[i, d] h(y[k, d])`` and
the seller's cost of a bundle is a convex rule ``C(y[k, :])`` (see
:mod:`pyomo_llmprice.blocks.forms`). The block declares the qualities
``quality[k, d] = h(y[k, d])`` as variables, the goods ``good[k, d]`` and
``cost[k]`` as Expressions, and inherits payments, IR, IC (adjacent for one
dimension, all pairs or generated on demand otherwise), merging of identical types
and the objective from :class:`~pyomo_llmprice.blocks.menu.ScreeningMenuData`,
like the LLM environments. Textbook cases: Mussa-Rosen (linear value, quadratic
cost), the Rochet-Chone two-dimensional monopolist (types in [1, 2]^2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.config import ConfigDict, ConfigValue

from pyomo_llmprice.blocks._declare import declare_configured_block
from pyomo_llmprice.blocks.forms import (
    CostForm,
    ValueForm,
    cost_form,
    value_form,
)
from pyomo_llmprice.blocks.menu import (
    IC_SETS,
    ScreeningMenuData,
    declare_ic_options,
    refuse_ic,
)
from pyomo_llmprice.certificate import Publication, PublishedValues, screening_values
from pyomo_llmprice.instance import ScreeningInstance
from pyomo_llmprice.settings import Setting, register_setting

__all__ = ["Screening", "ScreeningData", "screening_config"]


def _screening_instance_domain(val: Any) -> Any:
    if isinstance(val, ScreeningInstance) or callable(val):
        return val
    raise ValueError(
        f"expected a ScreeningInstance or a callable returning one, got {type(val).__name__}"
    )


def _optional_array(val: Any) -> Any:
    return None if val is None else np.asarray(val, float)


def _optional_labels(val: Any) -> Any:
    return None if val is None else tuple(str(v) for v in val)


def screening_config() -> ConfigDict:
    """CONFIG of :class:`Screening`: an instance, or the types and rules directly."""
    cfg = ConfigDict()
    cfg.declare(
        "instance",
        ConfigValue(
            default=None,
            domain=_screening_instance_domain,
            description="A ScreeningInstance (from a .dat file), or a callable taking the "
            "parent model and returning one; alternatively give theta/prob/value/cost",
        ),
    )
    cfg.declare(
        "theta",
        ConfigValue(default=None, domain=_optional_array, description="(N, D) type coordinates"),
    )
    cfg.declare(
        "prob",
        ConfigValue(default=None, domain=_optional_array, description="(N,) probabilities"),
    )
    cfg.declare(
        "types", ConfigValue(default=None, domain=_optional_labels, description="N type labels")
    )
    cfg.declare(
        "dims", ConfigValue(default=None, domain=_optional_labels, description="D good labels")
    )
    cfg.declare(
        "value",
        ConfigValue(
            default=None,
            description="ValueForm h of sum_d theta_d h(y_d) (default: the instance's, or linear)",
        ),
    )
    cfg.declare(
        "cost",
        ConfigValue(
            default=None,
            description="cost rule C(goods, lib) of one bundle, convex (default: the "
            "instance's, or quadratic with coefficient 1)",
        ),
    )
    cfg.declare(
        "nonnegative",
        ConfigValue(default=None, domain=bool, description="goods bounded below by 0"),
    )
    return declare_ic_options(cfg)


@declare_configured_block("Screening")
class ScreeningData(ScreeningMenuData):
    """A menu of bundles of goods, one per type, for any screening problem."""

    CONFIG = screening_config()
    characteristic = "quality"
    setting = "screening"

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Refuse an IC set the types cannot take before Pyomo constructs (and logs)."""
        inst = config.instance
        theta = inst.theta if isinstance(inst, ScreeningInstance) else config.theta
        if theta is None:  # made later from the model: refused when it is built
            return
        theta = np.asarray(theta, float)
        one_dimensional = theta.ndim == 1 or theta.shape[1] == 1
        where = getattr(inst, "path", None) or getattr(inst, "name", None) or "Screening"
        refuse_ic(where, config.ic, one_dimensional, False, cls.setting)

    def build(self) -> None:
        inst = self._normalized(self._screening_instance())
        self._theta = np.asarray(inst.theta, float)
        self.one_dimensional = self._theta.shape[1] == 1
        cfg = self.config
        self.value_form: ValueForm = cfg["value"] or value_form(
            inst.value_form, inst.value_exponent, inst.value_rate
        )
        self.cost_form: CostForm = cfg["cost"] or cost_form(inst.cost_form, inst.cost_coef)
        self.nonnegative = inst.nonnegative if cfg["nonnegative"] is None else cfg["nonnegative"]
        self._build_screening(list(inst.labels), np.asarray(inst.prob, float))

    def _screening_instance(self) -> Any:
        cfg = self.config
        inst = cfg["instance"]
        if inst is not None:
            return inst if isinstance(inst, ScreeningInstance) else inst(self.model())
        if cfg["theta"] is None:
            raise ValueError(f"block {self.name}: give 'instance' or 'theta'")
        theta = np.array(cfg["theta"], float, ndmin=2)
        if theta.ndim == 2 and cfg["theta"].ndim == 1:
            theta = theta.T  # a vector is N one-dimensional types
        n, d = theta.shape
        prob = np.full(n, 1.0 / n) if cfg["prob"] is None else cfg["prob"]
        types = cfg["types"] or tuple(f"t{i + 1}" for i in range(n))
        dims = cfg["dims"] or (("q",) if d == 1 else tuple(f"d{j + 1}" for j in range(d)))
        try:
            return ScreeningInstance(
                name=str(self.name),
                path=None,
                labels=types,
                prob=prob,
                dims=dims,
                theta=theta,
                value_form="linear" if cfg["value"] is None else "custom",
                cost_form="quadratic" if cfg["cost"] is None else "custom",
                nonnegative=True if cfg["nonnegative"] is None else cfg["nonnegative"],
            )
        except ValueError as exc:
            raise ValueError(f"block {self.name}: {exc}") from None

    # -- the environment's hooks ------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        """(N, D) type coordinates (instance order)."""
        return self._theta

    def goods(self) -> list[Any]:
        return list(self.instance.dims)

    def value_coefficients(self) -> np.ndarray:
        return self._theta[:, None, :]

    def ordering(self) -> np.ndarray:
        return np.argsort(self._theta[:, 0], kind="stable")

    def description(self) -> np.ndarray:
        return self._theta

    def _declare_allocation(self) -> None:
        lo, hi = self.value_form.quality_bounds(self.nonnegative)
        start = 0.5 if hi is None else 0.5 * hi
        self._bundle_var(
            "quality",
            self.goods_set,
            bounds=(lo, hi),
            initialize=start,
            doc="quality h(good) per good: what buyers value linearly",
        )

    def _declare_bundle_rows(self) -> None:
        h = self.value_form
        self.good = pyo.Expression(
            self.types, self.goods_set, rule=lambda b, k, g: h.good(b.quality[k, g], pyo)
        )
        goods = list(self.goods_set)
        self.cost = pyo.Expression(
            self.types, rule=lambda b, k: self.cost_form([b.good[k, g] for g in goods], pyo)
        )

    def value_matrix(self, precision: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        return self._theta[rows] @ precision.T

    def own_value(self, precision: np.ndarray) -> np.ndarray:
        return np.einsum("ig,ig->i", self._theta, precision)

    # -- read-back --------------------------------------------------------------------
    def type_columns(self) -> dict[str, np.ndarray]:
        dims, theta = self.source_instance.dims, np.asarray(self.source_instance.theta, float)
        if len(dims) == 1:
            return {"theta": theta[:, 0]}
        return {f"theta_{d}": theta[:, j] for j, d in enumerate(dims)}

    def bundle_columns(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
        q = arrays["quality"]
        with np.errstate(divide="ignore"):
            y = np.asarray(self.value_form.good(q, np), float)
        cols = [y[:, j] for j in range(y.shape[1])]
        cost = np.broadcast_to(np.asarray(self.cost_form(cols, np), float), (len(q),)).copy()
        y = np.asarray(self.units.goods_to_instance(y), float)
        out = {f"good_{d}": y[:, j] for j, d in enumerate(self.instance.dims)}
        return out, np.asarray(self.units.money_to_instance(cost), float)

    def published_values(
        self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]
    ) -> PublishedValues:
        """Values of the published goods through the value form's ``quality`` map; a
        user form without one is valued through the solved qualities instead."""
        source = self.source_instance
        theta = np.asarray(source.theta, float)
        form = self.config["value"] or value_form(
            source.value_form, source.value_exponent, source.value_rate
        )
        forward = getattr(form, "quality", None)
        if forward is None:  # a user form: the solved qualities (not normalized: custom)
            return screening_values(theta, arrays["quality"])
        goods = np.column_stack([columns[f"good_{d}"] for d in source.dims])
        return screening_values(theta, np.asarray(forward(goods, np), float))


def screening_publication(
    instance: ScreeningInstance, columns: Mapping[str, np.ndarray]
) -> Publication:
    """The published goods ``good_<dim>`` of a menu of `instance`, valued through its
    value form's ``quality`` map and costed by its cost form (the certificate's view;
    a block given user forms publishes through its own, see :meth:`ScreeningData.
    published_values`)."""
    theta = np.asarray(instance.theta, float)
    form = value_form(instance.value_form, instance.value_exponent, instance.value_rate)
    rule = cost_form(instance.cost_form, instance.cost_coef)
    goods = np.column_stack([np.asarray(columns[f"good_{d}"], float) for d in instance.dims])
    seller = np.asarray(rule([goods[:, j] for j in range(goods.shape[1])], np), float)
    seller = np.broadcast_to(seller, (len(goods),)).copy()
    quality = np.asarray(form.quality(goods, np), float)
    dims = instance.dims
    types = (
        {"theta": theta[:, 0]}
        if len(dims) == 1
        else {f"theta_{d}": theta[:, j] for j, d in enumerate(dims)}
    )
    return Publication(screening_values(theta, quality), seller, theta, types)


Screening = ScreeningData.component_class  # the Block component (declared by the decorator)

register_setting(
    Setting(
        name="screening",
        block=Screening,
        schema="screening",
        ic=tuple(ic for ic in IC_SETS if ic != "envelope"),  # values need not be lean_chain
        summary="generic screening: types of D dimensions, one good per dimension",
        publish=screening_publication,
    )
)
