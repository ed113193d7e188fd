"""The screening block: one bundle and one payment per type, IR, IC, expected profit.

Every screening problem here has the same skeleton once the decision variable is
the *characteristic* the buyer values linearly: bundle k delivers ``q[k, g]`` on
each good g and type i values it at ``sum_g V[i, k, g] * q[k, g]``. IR and IC
are then linear in (q, t), and the only nonlinear rows are the environment's own
(the technology rows ``precision <= precision(a_in, a_out, z)`` of the LLM menus
in factor variables, or the convex cost of the generic :mod:`screening` block).
This base class owns what every environment shares: types and probabilities,
payments, IR, the IC sets (adjacent, all pairs, generated on demand), merging of
identical types, the objective, the read-back and the numpy value matrix used by
verification. Environments declare their bundles and say what V is.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentSet
from pyomo.common.config import ConfigDict, ConfigValue, In
from pyomo.core.base.block import BlockData
from pyomo.core.expr.visitor import identify_variables

from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance, without_zero_probability

__all__ = [
    "CHAIN_IC_SETS",
    "GENERATION_THRESHOLD",
    "IC_SETS",
    "SNAP_TOLERANCE",
    "ScreeningMenuData",
    "declare_ic_options",
    "menu_block",
    "menu_config",
    "refuse_ic",
    "resolve_ic",
]

IC_SETS = ("auto", "adjacent", "envelope", "all_pairs", "generated")
#: the IC sets that are exact only for one-dimensional types (on the chain of sorted types)
CHAIN_IC_SETS = ("adjacent", "envelope")

#: above this many multidimensional types, "auto" generates IC constraints on demand
GENERATION_THRESHOLD = 50

#: a characteristic below this fraction of the largest one counts as the null bundle
SNAP_TOLERANCE = 1e-7


def _instance_domain(val: Any) -> Any:
    """An Instance, or a callable that makes one from the model being constructed."""
    if isinstance(val, Instance) or callable(val):
        return val
    raise ValueError(f"expected an Instance or a callable returning one, got {type(val).__name__}")


def declare_ic_options(cfg: ConfigDict) -> ConfigDict:
    """The 'ic', 'merge_identical', 'normalize' and 'declare_objective' options every
    menu has."""
    cfg.declare(
        "normalize",
        ConfigValue(
            default=True,
            domain=bool,
            description="Build the model in the instance's own normalized units "
            "(pyomo_llmprice.units.normalize: an exact change of variables; money in units "
            "of the expected first-best welfare, tokens in units of the top type's first "
            "best), so that the same instance in any units solves to the same menu. The "
            "menu is read back in the instance's units; the block's variables, and any "
            "constraint you add to it, are in the normalized units of `block.units`. "
            "False builds in the instance's units",
        ),
    )
    cfg.declare(
        "ic",
        ConfigValue(
            default="auto",
            domain=In(IC_SETS),
            description="Incentive constraints imposed: 'adjacent' (both directions; exact "
            "for one-dimensional types), 'envelope' (one-dimensional types whose value is a "
            "positive index times a nonnegative characteristic: IR of the lowest type and "
            "each type's downward adjacent IC as equalities, i.e. payments by the envelope "
            "formula, plus monotonicity of the characteristic; exact there), 'all_pairs', "
            "'generated' (on demand, see pyomo_llmprice.generation), or 'auto' (see "
            "resolve_ic: for one-dimensional types the envelope where it is exact and the "
            "block declares its own profit objective, else adjacent; generated above "
            "GENERATION_THRESHOLD multidimensional types)",
        ),
    )
    cfg.declare(
        "merge_identical",
        ConfigValue(
            default=True,
            domain=bool,
            description="Give types that are identical buyers (equal keys to 12 digits) "
            "one shared bundle: their variables are references to a representative's and "
            "they get no IC/IR/technology rows of their own. Exact (identical buyers get "
            "equal utility; both may take the more profitable bundle), and without it "
            "Ipopt can stop at verified but suboptimal menus on exact ties (Token "
            "Packages on paper_vs_50x50: 8.3% below the discrete optimum after 749 "
            "iterations, against 55 iterations and the optimum when merged). "
            "Set False only to study the unmerged formulation",
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


def menu_config() -> ConfigDict:
    """The CONFIG shared by the LLM environments."""
    cfg = ConfigDict()
    cfg.declare(
        "instance",
        ConfigValue(
            domain=_instance_domain,
            description="The instance (types, technology), or a callable taking the "
            "parent model and returning it (for AbstractModels filled from a .dat file)",
        ),
    )
    return declare_ic_options(cfg)


def resolve_ic(ic: str, one_dimensional: bool, n_distinct: int, envelope: bool = False) -> str:
    """The IC set an option names: ``auto`` is the envelope chain where the values are a
    positive index times a nonnegative characteristic (`envelope`), else the adjacent
    chain, for one-dimensional types; generated above GENERATION_THRESHOLD distinct
    multidimensional types, all pairs below it. Other names stand for themselves."""
    if ic != "auto":
        return ic
    if one_dimensional:
        return "envelope" if envelope else "adjacent"
    return "generated" if n_distinct > GENERATION_THRESHOLD else "all_pairs"


def refuse_ic(where: str, ic: str, one_dimensional: bool, lean: bool, setting: str) -> None:
    """One line (:class:`UserInputError`) for an IC set the block cannot take: a chain
    on multidimensional types, or the envelope where values are not `lean`."""
    if ic in CHAIN_IC_SETS and not one_dimensional:
        raise UserInputError(
            f"{where}: ic: {ic} IC is exact only for one-dimensional types and the "
            f"{setting or 'screening'} types are not; use --ic all_pairs, generated or auto "
            "(ic= from Python)"
        )
    if ic == "envelope" and not lean:
        raise UserInputError(
            f"{where}: ic: envelope IC is written for Token Packages only (values a positive "
            "index times a nonnegative precision); use --ic adjacent or auto (ic= from Python)"
        )


class ScreeningMenuData(BlockData):
    """Shared construction and read-back of a screening menu."""

    #: set by subclasses: is the environment one-dimensional (adjacent IC exact)?
    one_dimensional: bool = False
    #: set by subclasses whose values are a positive index times a nonnegative
    #: characteristic (Token Packages). On the adjacent chain, IC in both directions
    #: implies monotonicity ((theta_hi - theta_lo)(q_hi - q_lo) >= 0) and, with IR of the
    #: lowest type, every IR row (U_hi >= U_lo + (theta_hi - theta_lo) q_lo >= U_lo), so
    #: only those rows are written. The implied rows are not harmless: at every bunched
    #: pair and every excluded type they are active with gradients dependent on the IC
    #: rows (degenerate KKT), and their slacks' vanishing pivots are what MUMPS delayed
    #: into dense fronts (10,000 types: 8,253 delayed pivots, fronts of 781, 47 million
    #: factor entries and 3.7 GB, against fronts of at most 6 without them)
    lean_chain: bool = False
    #: name of the Var holding the characteristic q[k, g] that buyers value linearly
    characteristic: str = "precision"
    setting: str = ""

    # -- to be supplied by environments -----------------------------------------
    def goods(self) -> Sequence[Any]:
        raise NotImplementedError

    def value_coefficients(self) -> np.ndarray:
        """(N, N, G) or a broadcastable view: V[i, k, g]."""
        raise NotImplementedError

    def ordering(self) -> np.ndarray:
        """Types in increasing order of the one-dimensional index (1-D environments)."""
        raise NotImplementedError

    def description(self) -> np.ndarray:
        """(N, D) coordinates of the types, whose neighbours seed generated IC sets."""
        raise NotImplementedError

    def type_keys(self) -> np.ndarray:
        """(N, K) rows that are equal exactly for types that are identical buyers."""
        return self.description()

    def _declare_allocation(self) -> None:
        """Declare the bundle variables (with :meth:`_bundle_var`), incl. the characteristic."""
        raise NotImplementedError

    def _declare_bundle_rows(self) -> None:
        """Declare the bundle's own rows and the Expression ``cost[k]`` (after payment)."""
        raise NotImplementedError

    # -- construction -------------------------------------------------------------
    def _resolve_instance(self) -> Any:
        """The configured instance (made once from the model if given as a callable)."""
        inst = self.config.instance
        if inst is None:
            raise ValueError(f"block {self.name}: the 'instance' option is required")
        if not isinstance(inst, Instance):
            inst = inst(self.model())
        return self._normalized(inst)

    def _normalized(self, inst: Any) -> Any:
        """Keep `inst` (less its types of probability 0) as the source instance and build
        on its normalized copy (or on it)."""
        from pyomo_llmprice.units import Units, normalize, value_scale

        inst = without_zero_probability(inst)
        self.source_instance = inst
        if self.config.normalize:
            inst, self.units = normalize(inst)
        else:
            self.units = Units(value_scale=value_scale(inst))
        self.instance = inst
        return inst

    def _where(self) -> str:
        """The instance file (or name) and block, for one-line user errors."""
        inst = getattr(self, "instance", None)
        where = getattr(inst, "path", None) or getattr(inst, "name", None)
        return f"{where} (block {self.name})" if where else f"block {self.name}"

    def _build_menu(self) -> None:
        """LLM environments: the instance's types, then the shared screening skeleton."""
        inst = self.instance
        self._build_screening(list(inst.types.labels), np.asarray(inst.types.prob, float))

    def _build_screening(self, labels: list[Any], prob: np.ndarray) -> None:
        """Components of the menu for types `labels` with probabilities `prob`."""
        n = len(labels)
        goods = list(self.goods())
        coef = np.broadcast_to(self.value_coefficients(), (n, n, len(goods)))
        self._coef_full = coef
        idx = {lab: i for i, lab in enumerate(labels)}
        self._type_pos = idx
        self._representative = self._find_representatives(n)
        reps = np.unique(self._representative)
        n_distinct = len(reps)

        # the envelope's binding rows are exact for the block's own profit objective only
        # (a competition or welfare objective may leave adjacent IC slack)
        envelope_exact = self.lean_chain and self.config.declare_objective
        ic = resolve_ic(self.config.ic, self.one_dimensional, n_distinct, envelope_exact)
        refuse_ic(self._where(), ic, self.one_dimensional, self.lean_chain, self.setting)
        self.ic_set = ic

        self.types = pyo.Set(initialize=labels, ordered=True, doc="buyer types")
        self.goods_set = pyo.Set(initialize=goods, ordered=True, doc="goods of a bundle")
        self.prob = pyo.Param(
            self.types,
            initialize=dict(zip(labels, prob.tolist(), strict=True)),
            mutable=True,
            doc="type probabilities",
        )
        rep_labels = [labels[i] for i in reps]
        self.distinct_types = pyo.Set(
            initialize=rep_labels, ordered=True, doc="one representative per identical group"
        )
        self._rep_label = {labels[i]: labels[self._representative[i]] for i in range(n)}
        merged = [labels[i] for i in range(n) if self._representative[i] != i]
        self.merged_types = pyo.Set(initialize=merged, ordered=True, doc="types sharing a bundle")
        self._declare_allocation()
        self._bundle_var("payment", initialize=0.0, doc="payment of the bundle")
        self._declare_bundle_rows()
        q = getattr(self, self.characteristic)
        self._goods = goods
        value_of = self._value_of
        chain = []  # the distinct types in increasing order, on the adjacent chain
        if ic in CHAIN_IC_SETS:
            chain = [labels[j] for j in self.ordering() if self._representative[j] == j]
        lean = ic in CHAIN_IC_SETS and self.lean_chain
        envelope = ic == "envelope"
        self.participation = pyo.Constraint(
            chain[:1] if lean else self.distinct_types,
            rule=lambda b, i: (
                value_of(idx[i], i) - b.payment[i] == 0
                if envelope  # the lowest type keeps no rent
                else value_of(idx[i], i) - b.payment[i] >= 0
            ),
        )
        self.ic_pairs = pyo.Set(
            dimen=2,
            initialize=self._ic_pairs(labels, reps, ic),
            ordered=True,
            doc="(type, bundle it must not prefer)",
        )
        self.incentive = pyo.Constraint(
            self.ic_pairs, rule=self._envelope_rule if envelope else self._ic_rule
        )
        if envelope or (ic == "adjacent" and not lean):
            self.monotone_pairs = pyo.Set(
                dimen=2, initialize=list(itertools.pairwise(chain)), ordered=True
            )
            # the characteristic as the top type values it: theta_top * Q_k on the envelope
            # chain (one index, so Q_lo <= Q_hi is exactly this row, and well scaled)
            top = idx[chain[-1]] if chain else 0
            self.monotonicity = pyo.Constraint(
                self.monotone_pairs,
                rule=lambda b, lo, hi: (
                    value_of(top, lo) <= value_of(top, hi)
                    if envelope
                    else sum(q[lo, g] for g in goods) <= sum(q[hi, g] for g in goods)
                ),
            )
        if envelope:
            self._start_bundles_on_envelope()
            self._start_on_envelope(chain)
        self.expected_profit = pyo.Expression(
            expr=sum(self.prob[k] * (self.payment[k] - self.cost[k]) for k in labels)
        )
        if self.config.declare_objective:
            self.profit_objective = pyo.Objective(expr=self.expected_profit, sense=pyo.maximize)
            # Each type weighs ~1/N in expected profit; scaling by N puts the bound
            # multipliers of excluded types at O(1), so an interior-point solver
            # drives their characteristic to zero instead of leaving it at ~1e-6.
            self.scaling_factor = pyo.Suffix(direction=pyo.Suffix.EXPORT)
            self.scaling_factor[self.profit_objective] = float(n)
            self._profit_built = (self.profit_objective.expr, self.expected_profit.expr)
        self._own_rows = {c.local_name for c in self.component_objects(pyo.Constraint)}
        # every variable's bounds as built: a user's later bound or fix is a constraint
        # of its own (for the exact method and the envelope chain alike)
        self._declared = [(v, v.lb, v.ub, v.domain) for v in self._own_variables()]

    def _own_variables(self) -> list[Any]:
        """The block's variable data, each once (merged types' References repeat them)."""
        seen: dict[int, Any] = {}
        for v in self.component_data_objects(pyo.Var, descend_into=False):
            seen.setdefault(id(v), v)
        return list(seen.values())

    def changed_variables(self) -> list[Any]:
        """Variables of the block fixed, or bounded or typed otherwise than as built, since."""
        return [
            v
            for v, lb, ub, domain in getattr(self, "_declared", [])
            if v.fixed or (v.lb, v.ub) != (lb, ub) or v.domain is not domain
        ]

    def objective_not_own(self) -> str | None:
        """Why the model does not maximize the block's own expected profit as built, or
        None (the exact method and the envelope chain solve that objective only)."""
        objectives = list(self.model().component_data_objects(pyo.Objective, active=True))
        own = getattr(self, "profit_objective", None)
        if len(objectives) != 1 or objectives[0] is not own:
            return "the active objective is not the block's expected profit"
        built = getattr(self, "_profit_built", None)
        now = (own.expr, self.expected_profit.expr)
        if (
            own.sense != pyo.maximize
            or built is None
            or any(a is not b for a, b in zip(now, built, strict=True))
        ):
            return "the block's profit objective was changed after it was built"
        return None

    def settle_chain(self) -> None:
        """Before a solve: an envelope chain that is not exact for the model
        (:meth:`envelope_not_exact`) becomes the adjacent chain if the block was built
        with ``ic="auto"`` (:meth:`relax_envelope`), and is refused in one line if the
        envelope was asked for by name."""
        why = self.envelope_not_exact()
        if why is None:
            return
        if self.config.ic == "auto":
            self.relax_envelope()
            return
        raise UserInputError(
            f"model {self.model().name}: ic 'envelope' sets payments by the envelope formula, "
            f"exact only for the block's own profit and constraints on bundles, but {why}; "
            "build the block with ic='adjacent' or 'auto'"
        )

    def relax_envelope(self) -> None:
        """Turn the envelope chain into the lean adjacent chain in place: the binding rows
        become inequalities, the upward IC pairs join them and the monotonicity rows
        (implied by IC in both directions) are deactivated. For a model the envelope is
        not exact for (:meth:`envelope_not_exact`) that was built with ``ic="auto"``."""
        pairs = list(self.ic_pairs)
        for hi, lo in pairs:
            self.incentive[hi, lo].set_value(self._ic_rule(self, hi, lo))
        for k in self.participation:
            self.participation[k].set_value(
                self._value_of(self._type_pos[k], k) - self.payment[k] >= 0
            )
        self.add_incentive_pairs([(lo, hi) for hi, lo in pairs])
        monotone = self.component("monotonicity")
        if monotone is not None:
            monotone.deactivate()
        self.ic_set = "adjacent"

    def _start_bundles_on_envelope(self) -> None:
        """Where a setting knows better, start the envelope chain's bundles there (the
        declared start otherwise): see TokenPackagesData."""

    def _start_on_envelope(self, chain: list[Any]) -> None:
        """Start the payments where the envelope rows hold for the starting bundles: an
        interior-point solve then spends no iterations restoring their feasibility
        (10,000 lognormal types: 16 of 69 iterations did, from payments 0)."""
        for k, paid in zip(chain, self.envelope_payments(chain), strict=True):
            self.payment[k].set_value(float(paid), skip_validation=True)

    def envelope_payments(self, chain: list[Any]) -> np.ndarray:
        """The envelope formula's payments of the `chain`'s bundles at the variables'
        current values: the lowest type keeps no rent and each type pays its value of
        its bundle less its value of the bundle just below (vectorized: as expression
        evaluations it took 0.35 s at 10,000 types)."""
        pos = np.array([self._type_pos[k] for k in chain], dtype=np.intp)
        q = self._grid(getattr(self, self.characteristic))[pos]  # (chain, G)
        coef = self._coef_full
        own = np.einsum("jg,jg->j", coef[pos, pos], q)
        below = np.zeros_like(own)
        below[1:] = np.einsum("jg,jg->j", coef[pos[1:], pos[:-1]], q[:-1])
        return np.cumsum(own - below)

    def envelope_not_exact(self) -> str | None:
        """Why the envelope chain's binding rows may cut off this model's optimum, or None.

        For any monotone allocation the envelope payments are the most revenue that IC and
        IR allow, so the chain is exact when the model maximizes the block's own expected
        profit and every constraint added to it leaves payments alone (a capacity on
        tokens does; a price cap does not)."""
        if getattr(self, "ic_set", None) != "envelope":
            return None
        why = self.objective_not_own()
        if why is not None:
            return why
        payments = ComponentSet(self.payment.values())
        for v in self.changed_variables():
            if v in payments:
                return f"payment {v.name} is fixed or bounded"
        for con in self.model().component_data_objects(pyo.Constraint, active=True):
            mine = self._wrote(con.parent_component())
            if not mine and any(v in payments for v in identify_variables(con.expr)):
                return f"constraint {con.name} involves payments"
        return None

    def added_constraints(self) -> list[str]:
        """Active constraints of the model that this block did not write (a user's
        capacity or price cap): with them the screening optimum may subsidize a type,
        so 'nobody is served at a loss' is no longer part of the certificate."""
        return [
            c.name
            for c in self.model().component_objects(pyo.Constraint, active=True, descend_into=True)
            if not self._wrote(c)
        ]

    def _wrote(self, component: Any) -> bool:
        """Is this Constraint component one of the rows the block itself wrote?"""
        own = getattr(self, "_own_rows", set())
        return component.parent_block() is self and component.local_name in own

    def _find_representatives(self, n: int) -> np.ndarray:
        """Index of the first type identical to each type (itself if none before it)."""
        if not self.config.merge_identical or n < 2:
            return np.arange(n)
        keys = np.asarray(self.type_keys(), float).reshape(n, -1)
        # equal up to rounding (0.3 sqrt(0.1) vs 0.1 sqrt(0.9)): 12 significant digits
        scale = np.abs(keys).max(axis=0)
        keys = np.ascontiguousarray(np.round(keys / np.where(scale > 0, scale, 1.0), 12))
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        return first[inverse.ravel()]

    def _bundle_var(self, name: str, *sets: Any, **kwds: Any) -> None:
        """Declare Var `name` indexed by (types, *sets), one bundle per identical group.

        Without identical types this is an ordinary Var. With them, the Var
        ``<name>_distinct`` is indexed by the representatives and `name` is a
        Reference in which a merged type's entries *are* its representative's
        (substitution, not equality rows: no redundant or opposite constraints).
        """
        if not len(self.merged_types):
            self.add_component(name, pyo.Var(self.types, *sets, **kwds))
            return
        own = pyo.Var(self.distinct_types, *sets, **kwds)
        self.add_component(f"{name}_distinct", own)
        rest = list(itertools.product(*[list(s) for s in sets])) if sets else [()]
        mapping = {}
        for k in self.types:
            r = self._rep_label[k]
            for idx in rest:
                mapping[(k, *idx) if sets else k] = own[(r, *idx) if sets else r]
        self.add_component(name, pyo.Reference(mapping))

    def fix_null_bundles(self, labels: Sequence[Any]) -> list[Any]:
        """Fix the bundles of `labels` to the null bundle (every bundle variable at 0);
        returns the variables fixed here, for the caller to unfix. A group of identical
        types is fixed only when all of its members are named (they share variables)."""
        named = {str(k) for k in labels}
        groups: dict[Any, list[Any]] = {}
        for k in self.types:
            groups.setdefault(self._rep_label[k], []).append(k)
        fixed = []
        for rep, members in groups.items():
            if not all(str(k) in named for k in members):
                continue
            for name in (*self._grid_keys(), *self._vector_keys()):
                var = getattr(self, name)
                for idx in var:
                    if (idx[0] if isinstance(idx, tuple) else idx) == rep and not var[idx].fixed:
                        var[idx].fix(0.0)
                        fixed.append(var[idx])
        return fixed

    def is_merged(self, k: Any) -> bool:
        """Does type `k` share its representative's bundle (and need no rows of its own)?"""
        return self._rep_label[k] != k

    def _value_of(self, i: int, k: Any) -> Any:
        """Type at position i's value of bundle k, as an expression in this block's own
        variables (looked up at each call: a clone's rows must be on the clone's)."""
        q = getattr(self, self.characteristic)
        row = self._coef_full[i, self._type_pos[k]]
        return sum(float(row[j]) * q[k, g] for j, g in enumerate(self._goods) if row[j] != 0)

    @staticmethod
    def _ic_rule(b: Any, i: Any, k: Any) -> Any:
        pos = b._type_pos
        return b._value_of(pos[i], i) - b.payment[i] >= b._value_of(pos[i], k) - b.payment[k]

    @staticmethod
    def _envelope_rule(b: Any, i: Any, k: Any) -> Any:
        """Type i's downward IC toward the type k just below it, binding: the envelope
        formula's payment step ``t_i - t_k = theta_i (Q_i - Q_k)``."""
        pos = b._type_pos
        return b._value_of(pos[i], i) - b.payment[i] == b._value_of(pos[i], k) - b.payment[k]

    def _ic_pairs(self, labels: list[Any], reps: np.ndarray, ic: str) -> list[tuple[Any, Any]]:
        keep = [labels[i] for i in reps]
        if ic == "all_pairs":
            return [(i, k) for i in keep for k in keep if i != k]
        if ic == "generated":
            pts = np.asarray(self.description(), float)[reps]
            return [(keep[i], keep[k]) for i, k in _neighbour_pairs(pts)]
        order = [labels[j] for j in self.ordering() if self._representative[j] == j]
        if ic == "envelope":  # downward only: upward IC follows from monotonicity
            return [(hi, lo) for lo, hi in itertools.pairwise(order)]
        pairs = []
        for lo, hi in itertools.pairwise(order):
            pairs += [(lo, hi), (hi, lo)]
        return pairs

    def add_incentive_pairs(self, pairs: Sequence[tuple[Any, Any]]) -> int:
        """Impose more IC pairs (for constraint generation); returns how many were new.

        A pair naming a merged type is imposed on its representative (same buyer,
        same bundle).
        """
        rep = getattr(self, "_rep_label", {})
        new: dict[tuple[Any, Any], None] = {}  # ordered and O(1) membership
        for i, k in pairs:
            p = (rep.get(i, i), rep.get(k, k))
            if p[0] != p[1] and p not in self.ic_pairs and p not in new:
                new[p] = None
        for p in new:
            self.ic_pairs.add(p)
            self.incentive[p] = self._ic_rule(self, *p)
        return len(new)

    # -- read-back ------------------------------------------------------------------
    def _grid(self, var: Any) -> np.ndarray:
        goods = list(self.goods_set)
        return np.array([[pyo.value(var[k, g]) for g in goods] for k in self.types], float)

    def _vec(self, comp: Any) -> np.ndarray:
        return np.array([pyo.value(comp[k]) for k in self.types], float)

    def menu_arrays(self) -> dict[str, np.ndarray]:
        """The solved menu as numpy arrays (types in instance order)."""
        return {
            self.characteristic: self._grid(getattr(self, self.characteristic)),
            "payment": self._vec(self.payment),
        }

    def value_matrix(self, precision: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """(rows, N): type i's gross value of bundle k, for per-good characteristics (N, G)."""
        return np.einsum("ikg,kg->ik", self._coef_full[rows], precision)

    def own_value(self, precision: np.ndarray) -> np.ndarray:
        """(N,): each type's gross value of its own bundle."""
        return np.einsum("iig,ig->i", self._coef_full, precision)

    def null_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of a menu of null bundles (read-back when the solve left nothing)."""
        n = len(self.types)
        out = {k: np.zeros((n, len(self.goods_set))) for k in self._grid_keys()}
        out.update({k: np.zeros(n) for k in self._vector_keys()})
        return out

    def _grid_keys(self) -> list[str]:
        return [self.characteristic]

    def _vector_keys(self) -> list[str]:
        return ["payment"]

    def snap_null_bundles(
        self,
        arrays: dict[str, np.ndarray],
        served: np.ndarray,
        payment_tol: float | np.ndarray = np.inf,
    ) -> None:
        """Set the goods of unserved types exactly to nothing (in place), and their
        payments to 0 where they are within `payment_tol` of it: a larger one is a
        transfer the model meant (a constraint the user added may subsidize a type)."""
        for key in (*self._grid_keys(), *self._vector_keys()):
            if key == "payment":
                pay = arrays[key]
                pay[~served & (np.abs(pay) <= payment_tol)] = 0.0
            else:
                arrays[key][~served] = 0.0

    def type_columns(self) -> dict[str, np.ndarray]:
        """Columns describing the types in the menu table (e.g. theta)."""
        return {}

    def bundle_columns(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
        """Columns describing the bundles in the menu table, and the seller's cost of each."""
        raise NotImplementedError

    def published_values(
        self, columns: Mapping[str, np.ndarray], arrays: Mapping[str, np.ndarray]
    ) -> Any:
        """The :class:`~pyomo_llmprice.certificate.PublishedValues` of the published
        `columns` (from :meth:`bundle_columns`), recomputed from the instance's types and
        technology: what the certificate checks, never the model's own variables."""
        raise NotImplementedError


def menu_block(model: Any) -> ScreeningMenuData:
    """The screening block of `model`, whatever its name (``model.menu`` by convention).

    The block itself may be passed. A model with no menu block, or with several (which
    one to solve would be a guess), is the user's mistake and says so.
    """
    if isinstance(model, ScreeningMenuData):
        return model
    found = [
        b
        for b in model.component_data_objects(pyo.Block, active=True, descend_into=True)
        if isinstance(b, ScreeningMenuData)
    ]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(b.name for b in found)})"
        raise UserInputError(
            f"model {model.name}: has {what} screening blocks (TokenPackages, TokenAllocations "
            "or Screening); solve_model needs exactly one"
        )
    return found[0]


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
