"""Token Packages: only token totals are contractible.

The buyer spreads a package's tokens over its own tasks, so with Cobb-Douglas
precision every type values a package through its one-dimensional index theta
(the CES aggregate of its task values): one good per bundle, ``V[i, k] = theta_i``.
One-dimensional screening, so adjacent IC in both directions is exact (single
crossing; it implies monotonicity) and handles bunching. Types with equal theta are identical
buyers here (value-scale grids have many: 0.3 sqrt(0.1) = 0.1 sqrt(0.9)) and are
merged into one bundle by the base block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyomo_llmprice.blocks._declare import declare_configured_block
from pyomo_llmprice.blocks.menu import IC_SETS, menu_config
from pyomo_llmprice.blocks.token_menu import TokenMenuData
from pyomo_llmprice.certificate import package_publication
from pyomo_llmprice.settings import Setting, register_setting
from pyomo_llmprice.technology import CobbDouglas
from pyomo_llmprice.theory import pointwise_bundle

__all__ = ["TokenPackages", "TokenPackagesData"]


@declare_configured_block("TokenPackages")
class TokenPackagesData(TokenMenuData):
    """A menu of token packages ``(X, Y, Z, t)``, one per type."""

    CONFIG = menu_config()
    one_dimensional = True
    lean_chain = True  # precision >= 0: IR of the lowest type and IC imply every IR
    setting = "packages"

    def build(self) -> None:
        inst = self._resolve_instance()
        self._theta = self._type_index(inst)
        self._source_theta = self._type_index(self.source_instance)
        self._build_menu()

    @staticmethod
    def _type_index(inst: Any) -> np.ndarray:
        types = inst.types
        if types.kind == "theta":
            return np.asarray(types.theta, float)
        return types.index(inst.technology.cobb_douglas_precision)

    @property
    def theta(self) -> np.ndarray:
        """The type index theta of every type (instance order)."""
        return self._theta

    def goods(self) -> list[Any]:
        return ["package"]

    def measure(self) -> np.ndarray:
        return np.ones((len(self._theta), 1))

    def value_coefficients(self) -> np.ndarray:
        return self._theta[:, None, None]

    def description(self) -> np.ndarray:
        return self._theta[:, None]

    def type_columns(self) -> dict[str, np.ndarray]:
        return {"theta": self._source_theta}

    def ordering(self) -> np.ndarray:
        return np.argsort(self._theta, kind="stable")

    def _start_bundles_on_envelope(self) -> None:
        """Each type starts at its first-best bundle (the tokens it would buy at cost,
        the closed form of docs/model.md), where the precision is Cobb-Douglas: an
        increasing allocation, as the envelope chain's optimum is, instead of one bundle
        for all. 10,000 lognormal types: 59 iterations against 65; 100,000: 76 against
        84, the same optimum (the exact method's profit to 1e-9)."""
        tech = self.technology
        if not isinstance(tech.precision, CobbDouglas):
            return
        x, y, z = pointwise_bundle(self._theta, tech)
        a_in, a_out = tech.precision.factors(x, y)
        precision = tech.precision.precision(a_in, a_out, z)
        for k, i in self._type_pos.items():
            self.input_factor[k, "package"].set_value(float(a_in[i]))
            self.output_factor[k, "package"].set_value(float(a_out[i]))
            self.finetune[k].set_value(float(z[i]))
            self.precision[k, "package"].set_value(float(precision[i]))

    def value_matrix(self, precision: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        return np.multiply.outer(self._theta[rows], precision[:, 0])


TokenPackages = TokenPackagesData.component_class  # the Block component (declared by the decorator)

register_setting(
    Setting(
        name="packages",
        block=TokenPackages,
        schema="llm",
        ic=IC_SETS,
        summary="Token Packages: only token totals are contractible",
        one_dimensional=True,
        publish=package_publication,
    )
)
