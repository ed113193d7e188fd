"""Token bundles: the LLM environments' specialization of the screening menu.

A bundle delivers precision on each of its goods from input and output tokens
per good and one fine-tuning level. The model works in *factor* variables
(``a_in = x^alpha``, see :mod:`pyomo_llmprice.technology`) so that derivatives
stay finite at zero tokens; the technology row ``precision <= precision(a_in,
a_out, z)`` is the only nonlinear row, and the cost is linear in token totals.
Subclasses say what the goods are, their measures and the value coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyomo.environ as pyo

from pyomo_llmprice.blocks.menu import SNAP_TOLERANCE, ScreeningMenuData
from pyomo_llmprice.certificate import PublishedValues
from pyomo_llmprice.settings import get_setting
from pyomo_llmprice.technology import Technology

__all__ = ["TokenMenuData"]


class TokenMenuData(ScreeningMenuData):
    """A menu of token bundles ``(x, y, z, t)`` valued through their precision."""

    characteristic = "precision"
    #: markups and fixed fees (two-part token tariffs) are read off this menu
    token_tariffs = True

    def measure(self) -> np.ndarray:
        """(N, G): tokens of bundle k on good g are `measure[k, g]` times per-good tokens."""
        raise NotImplementedError

    def _build_menu(self) -> None:
        self._measure_full = np.asarray(self.measure(), float)
        super()._build_menu()

    def _declare_allocation(self) -> None:
        tech: Technology = self.instance.technology
        self.technology = tech
        self.cost_input = pyo.Param(initialize=tech.cost_input, mutable=True)
        self.cost_output = pyo.Param(initialize=tech.cost_output, mutable=True)
        self.cost_finetune = pyo.Param(initialize=tech.cost_finetune, mutable=True)
        nn = pyo.NonNegativeReals
        goods = self.goods_set
        # The start: half the top type's first best in normalized units, precision the
        # product of the factors. From factors 1 and precision 0.5, SLSQP stopped at the
        # null menu (a stationary point of the factor products) on normalized models.
        self._bundle_var(
            "input_factor", goods, within=nn, initialize=0.5, doc="x^alpha per good (factor)"
        )
        self._bundle_var(
            "output_factor", goods, within=nn, initialize=0.5, doc="y^beta per good (factor)"
        )
        self._bundle_var("finetune", within=nn, initialize=0.0, doc="fine-tuning tokens")
        # precision exactly what the starting factors deliver: the technology rows hold
        # at the start (normalized base quality is ~1e-5, where 0.25 violated them by 0.23);
        # 0.25 where a user's function gives no usable number there
        with np.errstate(all="ignore"):
            start = tech.precision.precision(0.5, 0.5, 0.0)
        ok = isinstance(start, int | float | np.floating) and 0 <= start < np.inf
        start = float(start) if ok else 0.25
        self._bundle_var(
            "precision", goods, within=nn, initialize=start, doc="precision delivered per good"
        )

    def _declare_bundle_rows(self) -> None:
        prec = self.technology.precision
        measure = self._measure_full
        idx = self._type_pos
        goods = list(self.goods_set)
        gidx = {g: j for j, g in enumerate(goods)}

        def technology_rule(b: Any, k: Any, g: Any) -> Any:
            if b.is_merged(k):  # the representative's row covers it
                return pyo.Constraint.Skip
            return b.precision[k, g] <= prec.precision(
                b.input_factor[k, g], b.output_factor[k, g], b.finetune[k]
            )

        self.technology_limit = pyo.Constraint(self.types, self.goods_set, rule=technology_rule)

        def tokens(kind: str):
            conv = prec.input_tokens if kind == "in" else prec.output_tokens
            var = self.input_factor if kind == "in" else self.output_factor

            def rule(b: Any, k: Any) -> Any:
                row = measure[idx[k]]
                return sum(
                    float(row[gidx[g]]) * conv(var[k, g]) for g in goods if row[gidx[g]] != 0
                )

            return rule

        self.input_tokens = pyo.Expression(self.types, rule=tokens("in"))
        self.output_tokens = pyo.Expression(self.types, rule=tokens("out"))
        self.cost = pyo.Expression(
            self.types,
            rule=lambda b, k: (
                b.cost_input * b.input_tokens[k]
                + b.cost_output * b.output_tokens[k]
                + b.cost_finetune * b.finetune[k]
            ),
        )

    # -- read-back ------------------------------------------------------------------
    def type_columns(self) -> dict[str, np.ndarray]:
        """The CES type index theta, where the technology defines one (Cobb-Douglas)."""
        try:
            source = self.source_instance
            return {"theta": source.types.index(source.technology)}
        except (TypeError, ValueError):  # a user precision function: no index
            return {}

    def menu_arrays(self) -> dict[str, np.ndarray]:
        """The solved menu as numpy arrays (types in instance order)."""
        return {
            "precision": self._grid(self.precision),
            "input_factor": self._grid(self.input_factor),
            "output_factor": self._grid(self.output_factor),
            "finetune": self._vec(self.finetune),
            "payment": self._vec(self.payment),
        }

    def _grid_keys(self) -> list[str]:
        return ["precision", "input_factor", "output_factor"]

    def _vector_keys(self) -> list[str]:
        return ["finetune", "payment"]

    def snap_null_bundles(
        self,
        arrays: dict[str, np.ndarray],
        served: np.ndarray,
        payment_tol: float | np.ndarray = np.inf,
    ) -> None:
        """Null bundles for unserved types; negligible fine-tuning and precision to 0."""
        super().snap_null_bundles(arrays, served, payment_tol)
        # Negligible next to what the type itself gets, never next to the richest type
        # (a rich type of tiny probability must not erase everyone else's fine-tuning):
        # fine-tuning that moves b + z by under SNAP_TOLERANCE of b, and precision on a
        # good under SNAP_TOLERANCE of the bundle's best good, are zero.
        ft = arrays["finetune"]
        base = getattr(self.technology.precision, "base_quality", None)
        if base is not None:
            ft[ft < SNAP_TOLERANCE * base] = 0.0
        else:
            ft[ft < SNAP_TOLERANCE * max(1.0, float(ft.max(initial=0.0)))] = 0.0
        prec = arrays["precision"]
        # a good of zero measure (a task nobody has) carries no value and costs nothing
        prec[:, self._measure_full.max(axis=0) == 0] = 0.0
        prec[prec < SNAP_TOLERANCE * prec.max(axis=1, keepdims=True, initial=0.0)] = 0.0
        for key in ("input_factor", "output_factor"):
            arrays[key][prec == 0.0] = 0.0
        self._tighten(arrays)

    def _tighten(self, arrays: dict[str, np.ndarray], steps: int = 80) -> None:
        """Tokens that deliver exactly the precision the model priced, not more.

        At a solver's tolerance the technology row ``precision <= f(a_in, a_out, z)``
        can be slack (near a type with zero virtual value, f exceeded the model's
        precision by 30%): published tokens would then be worth more than IC and IR
        assumed. Both factors are scaled down by the one s in [0, 1] with
        ``f(s a_in, s a_out, z) = precision`` (bisection; f increases in the factors),
        which only lowers the cost and makes the published bundle the priced one.
        """
        f = self.technology.precision.precision
        prec, a_in, a_out = arrays["precision"], arrays["input_factor"], arrays["output_factor"]
        z = np.broadcast_to(arrays["finetune"][:, None], prec.shape)
        with np.errstate(all="ignore"):
            slack = (prec > 0) & (np.asarray(f(a_in, a_out, z), float) > prec)
            if not slack.any():
                return
            lo, hi = np.zeros(int(slack.sum())), np.ones(int(slack.sum()))
            ai, ao, zz, target = a_in[slack], a_out[slack], z[slack], prec[slack]
            for _ in range(steps):
                mid = 0.5 * (lo + hi)
                over = np.asarray(f(mid * ai, mid * ao, zz), float) > target
                hi = np.where(over, mid, hi)
                lo = np.where(over, lo, mid)
        a_in[slack] = hi * ai
        a_out[slack] = hi * ao

    def bundle_tokens(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Token totals per bundle from the factor variables."""
        prec = self.technology.precision
        return {
            "input_tokens": (self._measure_full * prec.input_tokens(arrays["input_factor"])).sum(1),
            "output_tokens": (self._measure_full * prec.output_tokens(arrays["output_factor"])).sum(
                1
            ),
            "finetune_tokens": arrays["finetune"].copy(),
        }

    def bundle_columns(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
        """Published token totals and their cost, in the source instance's units."""
        tokens = self.bundle_tokens(arrays)
        cost = self.technology.cost(
            tokens["input_tokens"], tokens["output_tokens"], tokens["finetune_tokens"]
        )
        keys = ("input_tokens", "output_tokens", "finetune_tokens")
        published = self.units.tokens_to_instance(*(tokens[k] for k in keys))
        tokens = {k: np.asarray(v, float) for k, v in zip(keys, published, strict=True)}
        return tokens, np.asarray(self.units.money_to_instance(cost), float)

    def published_values(
        self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]
    ) -> PublishedValues:
        """The values of the setting's registered publication (``Setting.publish``): the
        one formula that :func:`~pyomo_llmprice.result.certify_menu` checks as well."""
        return get_setting(self.setting).publish(self.source_instance, columns).values
