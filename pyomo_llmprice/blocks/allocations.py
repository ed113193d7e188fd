"""Token Allocations: the task-by-task assignment of tokens is contractible.

Labeled tasks: bundle k sets per-task tokens for every task category j (measure
``mu_j``) and one fine-tuning level; type i values it at
``sum_j mu_j w_i[j] u[k, j]``. Value-scale types with the scale constraint: bundle
k covers tasks of measure ``s_k`` with per-task tokens; type ``(w, s)`` values it
at ``w * min(s, s_k) * u_k``. The contract's coverage is set to the scale of the
type it is designed for (the paper shows scale is screened for free; covering
more only costs, covering less only loses value). Types are multidimensional, so
all IC pairs are imposed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyomo_llmprice.blocks._declare import declare_configured_block
from pyomo_llmprice.blocks.menu import CHAIN_IC_SETS, IC_SETS, menu_config
from pyomo_llmprice.blocks.token_menu import TokenMenuData
from pyomo_llmprice.certificate import (
    allocations_publication,
)
from pyomo_llmprice.instance import Instance, InstanceError
from pyomo_llmprice.settings import Setting, register_setting

__all__ = ["TokenAllocations", "TokenAllocationsData"]


@declare_configured_block("TokenAllocations")
class TokenAllocationsData(TokenMenuData):
    """A menu of task-by-task token allocations, one per type."""

    CONFIG = menu_config()
    one_dimensional = False
    setting = "allocations"

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Refuse adjacent IC and an instance that cannot express allocations, up front."""
        inst = config.instance
        where = getattr(inst, "path", None) or getattr(inst, "name", None) or "TokenAllocations"
        if config.ic in CHAIN_IC_SETS:
            raise InstanceError(
                where,
                "ic",
                f"{config.ic} IC is exact only for one-dimensional types and Token Allocations "
                "types are not; use --ic all_pairs, generated or auto (ic= from Python)",
            )
        if isinstance(inst, Instance):
            cls._check_instance(inst, where)

    @staticmethod
    def _check_instance(inst: Instance, where: str) -> None:
        kind = inst.types.kind
        if kind == "value_scale" and not inst.scale_constraint:
            raise InstanceError(
                where,
                "scale_constraint",
                "without the scale constraint buyers re-spread token totals, so Token "
                "Allocations is Token Packages; solve setting 'packages' (TokenPackages) or "
                "set scale_constraint 1",
            )
        if kind not in ("tasks", "value_scale"):
            raise InstanceError(
                where,
                "theta",
                "Token Allocations needs labeled tasks or value-scale types; a bare type "
                "index theta cannot say which tasks the tokens serve",
            )

    def build(self) -> None:
        inst = self._resolve_instance()
        self._check_instance(inst, self._where())  # an instance made from the model
        types = inst.types
        if types.kind == "tasks":
            self._goods = list(types.tasks)
            mu = np.asarray(types.task_measure, float)
            self._measure = np.broadcast_to(mu, (len(types), len(mu))).copy()
            self._coef = (np.asarray(types.value, float) * mu)[:, None, :]
        else:  # value-scale types with the scale constraint (checked above)
            w = np.asarray(types.value_per_task, float)
            s = np.asarray(types.scale, float)
            self._goods = ["covered"]
            self._measure = s[:, None].copy()
            self._coef = (w[:, None] * np.minimum.outer(s, s))[:, :, None]
        self._build_menu()

    def description(self) -> np.ndarray:
        types = self.instance.types
        if types.kind == "tasks":
            return np.asarray(types.value, float)
        return np.column_stack([types.value_per_task, types.scale])

    def goods(self) -> list[Any]:
        return self._goods

    def measure(self) -> np.ndarray:
        return self._measure

    def value_coefficients(self) -> np.ndarray:
        return self._coef

    def bundle_columns(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
        """Totals, and what the contract fixes per task: the published allocation."""
        cols, cost = super().bundle_columns(arrays)
        prec = self.technology.precision
        x = np.asarray(prec.input_tokens(arrays["input_factor"]), float) * self.units.input
        y = np.asarray(prec.output_tokens(arrays["output_factor"]), float) * self.units.output
        if self.instance.types.kind == "tasks":
            for j, task in enumerate(self._goods):
                cols[f"input_per_task_{task}"] = x[:, j]
                cols[f"output_per_task_{task}"] = y[:, j]
        else:
            cols["covered_scale"] = self._measure[:, 0].copy()
            cols["input_per_task"] = x[:, 0]
            cols["output_per_task"] = y[:, 0]
        return cols, cost

    def value_matrix(self, precision: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        if self._coef.shape[1] == 1:  # labeled tasks: V[i, k, j] does not depend on k
            return self._coef[rows, 0, :] @ precision.T
        return np.einsum("ikg,kg->ik", self._coef[rows], precision)


TokenAllocations = (
    TokenAllocationsData.component_class
)  # the Block component (declared by the decorator)

register_setting(
    Setting(
        name="allocations",
        block=TokenAllocations,
        schema="llm",
        ic=tuple(ic for ic in IC_SETS if ic not in CHAIN_IC_SETS),
        summary="Token Allocations: the contract fixes the tokens spent on each task",
        check=TokenAllocationsData._check_instance,
        publish=allocations_publication,
    )
)
