"""The screening block: one bundle and one payment per type, IR, IC, expected profit.

Every environment of the paper has the same skeleton once precision is the
decision variable: bundle k delivers precision ``u[k, g]`` on each of its goods g
(one good in Token Packages; one per task category, or per covered task, in Token
Allocations), and type i values it *linearly*, ``sum_g V[i, k, g] * u[k, g]``.
IR and IC are then linear in (u, t); the only nonlinear rows are the technology
rows ``u <= precision(a_in, a_out, z)`` in factor variables (see
:mod:`pyomo_llmprice.technology`), whose derivatives are finite at zero tokens.
Subclasses say what the goods are, their measures and the coefficients V.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.config import ConfigDict, ConfigValue, In
from pyomo.core.base.block import BlockData

from pyomo_llmprice.technology import Technology

__all__ = ["IC_SETS", "ScreeningMenuData", "menu_config"]

IC_SETS = ("auto", "adjacent", "all_pairs", "generated")

#: above this many multidimensional types, "auto" generates IC constraints on demand
GENERATION_THRESHOLD = 50


def _instance_domain(val: Any) -> Any:
    """An Instance, or a callable that makes one from the model being constructed."""
    from pyomo_llmprice.io import Instance

    if isinstance(val, Instance) or callable(val):
        return val
    raise ValueError(f"expected an Instance or a callable returning one, got {type(val).__name__}")


def menu_config() -> ConfigDict:
    """The CONFIG shared by the environments."""
    cfg = ConfigDict()
    cfg.declare(
        "instance",
        ConfigValue(
            domain=_instance_domain,
            description="The instance (types, technology), or a callable taking the "
            "parent model and returning it (for AbstractModels filled from a .dat file)",
        ),
    )
    cfg.declare(
        "ic",
        ConfigValue(
            default="auto",
            domain=In(IC_SETS),
            description="Incentive constraints imposed: 'adjacent' (both directions plus "
            "monotonicity; exact for one-dimensional types), 'all_pairs', or 'auto' "
            "(adjacent where the environment is one-dimensional)",
        ),
    )
    cfg.declare(
        "declare_objective",
        ConfigValue(
            default=True,
            domain=bool,
            description="Declare 'profit_objective' maximizing expected profit on the block",
        ),
    )
    return cfg


class ScreeningMenuData(BlockData):
    """Shared construction and read-back of a screening menu."""

    #: set by subclasses: is the environment one-dimensional (adjacent IC exact)?
    one_dimensional: bool = False

    # -- to be supplied by environments -----------------------------------------
    def goods(self) -> Sequence[Any]:
        raise NotImplementedError

    def measure(self) -> np.ndarray:
        """(N, G): tokens of bundle k on good g are `measure[k, g]` times per-good tokens."""
        raise NotImplementedError

    def value_coefficients(self) -> np.ndarray:
        """(N, N, G) or a broadcastable view: V[i, k, g]."""
        raise NotImplementedError

    def ordering(self) -> np.ndarray:
        """Types in increasing order of the one-dimensional index (1-D environments)."""
        raise NotImplementedError

    # -- construction -------------------------------------------------------------
    def _resolve_instance(self) -> Any:
        """The configured instance (made once from the model if given as a callable)."""
        inst = self.config.instance
        if inst is None:
            raise ValueError(f"block {self.name}: the 'instance' option is required")
        from pyomo_llmprice.io import Instance

        if not isinstance(inst, Instance):
            inst = inst(self.model())
        self.instance = inst
        return inst

    def _build_menu(self) -> None:
        """Components of the menu; the environment's build() resolved the instance."""
        inst = self.instance
        tech: Technology = inst.technology
        self.technology = tech
        labels = list(inst.types.labels)
        n = len(labels)
        goods = list(self.goods())
        measure = np.asarray(self.measure(), float)
        coef = np.broadcast_to(self.value_coefficients(), (n, n, len(goods)))
        self._coef_full = coef
        self._measure_full = measure
        idx = {lab: i for i, lab in enumerate(labels)}
        gidx = {g: j for j, g in enumerate(goods)}
        self._type_pos = idx

        ic = self.config.ic
        if ic == "auto":
            if self.one_dimensional:
                ic = "adjacent"
            else:
                ic = "generated" if n > GENERATION_THRESHOLD else "all_pairs"
        if ic == "adjacent" and not self.one_dimensional:
            raise ValueError(
                f"block {self.name}: adjacent IC is exact only for one-dimensional types; "
                "use ic='all_pairs'"
            )
        self.ic_set = ic

        self.types = pyo.Set(initialize=labels, ordered=True, doc="buyer types")
        self.goods_set = pyo.Set(initialize=goods, ordered=True, doc="goods of a bundle")
        self.prob = pyo.Param(
            self.types,
            initialize=dict(zip(labels, inst.types.prob.tolist(), strict=True)),
            mutable=True,
            doc="type probabilities",
        )
        self.cost_input = pyo.Param(initialize=tech.cost_input, mutable=True)
        self.cost_output = pyo.Param(initialize=tech.cost_output, mutable=True)
        self.cost_finetune = pyo.Param(initialize=tech.cost_finetune, mutable=True)

        nn = pyo.NonNegativeReals
        self.input_factor = pyo.Var(
            self.types,
            self.goods_set,
            within=nn,
            initialize=1.0,
            doc="x^alpha per good (factor variable)",
        )
        self.output_factor = pyo.Var(
            self.types,
            self.goods_set,
            within=nn,
            initialize=1.0,
            doc="y^beta per good (factor variable)",
        )
        self.finetune = pyo.Var(
            self.types, within=nn, initialize=0.0, doc="fine-tuning tokens of the bundle"
        )
        self.precision = pyo.Var(
            self.types,
            self.goods_set,
            within=nn,
            initialize=0.5,
            doc="precision delivered per good",
        )
        self.payment = pyo.Var(self.types, initialize=0.0, doc="payment of the bundle")

        prec = tech.precision

        def technology_rule(b: Any, k: Any, g: Any) -> Any:
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

        def value_of(i: int, k: Any) -> Any:
            row = coef[i, idx[k]]
            return sum(
                float(row[gidx[g]]) * self.precision[k, g] for g in goods if row[gidx[g]] != 0
            )

        self._value_of = value_of
        self.participation = pyo.Constraint(
            self.types, rule=lambda b, i: value_of(idx[i], i) - b.payment[i] >= 0
        )
        self.ic_pairs = pyo.Set(
            dimen=2,
            initialize=self._ic_pairs(labels, ic),
            ordered=True,
            doc="(type, bundle it must not prefer)",
        )
        self.incentive = pyo.Constraint(self.ic_pairs, rule=self._ic_rule)
        if ic == "adjacent":
            order = [labels[j] for j in self.ordering()]
            self.monotone_pairs = pyo.Set(
                dimen=2, initialize=list(itertools.pairwise(order)), ordered=True
            )
            self.monotonicity = pyo.Constraint(
                self.monotone_pairs,
                rule=lambda b, lo, hi: (
                    sum(b.precision[lo, g] for g in goods) <= sum(b.precision[hi, g] for g in goods)
                ),
            )
        self.expected_profit = pyo.Expression(
            expr=sum(self.prob[k] * (self.payment[k] - self.cost[k]) for k in labels)
        )
        if self.config.declare_objective:
            self.profit_objective = pyo.Objective(expr=self.expected_profit, sense=pyo.maximize)
            # Each type weighs ~1/N in expected profit; scaling by N puts the bound
            # multipliers of excluded types at O(1), so an interior-point solver
            # drives their precision to zero instead of leaving it at ~1e-6.
            self.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
            self.scaling_factor[self.profit_objective] = float(n)

    @staticmethod
    def _ic_rule(b: Any, i: Any, k: Any) -> Any:
        pos = b._type_pos
        return b._value_of(pos[i], i) - b.payment[i] >= b._value_of(pos[i], k) - b.payment[k]

    def description(self) -> np.ndarray:
        """(N, D) coordinates of the types, whose neighbours seed generated IC sets."""
        raise NotImplementedError

    def _ic_pairs(self, labels: list[Any], ic: str) -> list[tuple[Any, Any]]:
        if ic == "all_pairs":
            return [(i, k) for i in labels for k in labels if i != k]
        if ic == "generated":
            return [(labels[i], labels[k]) for i, k in _neighbour_pairs(self.description())]
        order = [labels[j] for j in self.ordering()]
        pairs = []
        for lo, hi in itertools.pairwise(order):
            pairs += [(lo, hi), (hi, lo)]
        return pairs

    def add_incentive_pairs(self, pairs: Sequence[tuple[Any, Any]]) -> int:
        """Impose more IC pairs (for constraint generation); returns how many were new."""
        new = [p for p in pairs if p not in self.ic_pairs]
        for p in new:
            self.ic_pairs.add(p)
            self.incentive[p] = self._ic_rule(self, *p)
        return len(new)

    # -- read-back ------------------------------------------------------------------
    def menu_arrays(self) -> dict[str, np.ndarray]:
        """The solved menu as numpy arrays (types in instance order)."""
        labels = list(self.types)
        goods = list(self.goods_set)

        def grid(var: Any) -> np.ndarray:
            return np.array([[pyo.value(var[k, g]) for g in goods] for k in labels], float)

        def vec(comp: Any) -> np.ndarray:
            return np.array([pyo.value(comp[k]) for k in labels], float)

        return {
            "precision": grid(self.precision),
            "input_factor": grid(self.input_factor),
            "output_factor": grid(self.output_factor),
            "finetune": vec(self.finetune),
            "payment": vec(self.payment),
        }

    def value_matrix(self, precision: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """(rows, N): type i's gross value of bundle k, for per-good precision (N, G)."""
        return np.einsum("ikg,kg->ik", self._coef_full[rows], precision)

    def own_value(self, precision: np.ndarray) -> np.ndarray:
        """(N,): each type's gross value of its own bundle."""
        return np.einsum("iig,ig->i", self._coef_full, precision)

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


def _neighbour_pairs(points: np.ndarray, k: int = 4) -> list[tuple[int, int]]:
    """Both directions between each type and its k nearest others (scaled coordinates).

    On a product grid these are the adjacent types along each dimension: the
    starting set of constraint generation, which then adds violated pairs.
    """
    pts = np.asarray(points, float)
    n = len(pts)
    if n < 2:
        return []
    span = pts.max(axis=0) - pts.min(axis=0)
    pts = pts / np.where(span > 0, span, 1.0)
    pairs: set[tuple[int, int]] = set()
    k = min(k, n - 1)
    for start in range(0, n, 1024):
        block = pts[start : start + 1024]
        d2 = ((block[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
        d2[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        near = np.argpartition(d2, k - 1, axis=1)[:, :k]
        for a, row in enumerate(near):
            i = start + a
            for j in row:
                pairs.add((i, int(j)))
                pairs.add((int(j), i))
    return sorted(pairs)
