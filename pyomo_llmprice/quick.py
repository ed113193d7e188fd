"""The quick interface: optimal two-part tariffs in three lines.

    >>> from pyomo_llmprice.quick import LLMPricingModel
    >>> model = LLMPricingModel(cost_per_token=0.125, fine_tuning_cost=0.125)
    >>> fixed_fees, per_token_prices = model.optimal_two_part_tariff([0.4, 0.6, 0.8, 1.0])

It is a thin door onto the full machinery, not a second implementation: the types
become an :class:`~pyomo_llmprice.instance.Instance`, the optimal Token Packages menu is
solved by :func:`pyomo_llmprice.pipeline.solve_instance` (Ipopt, then the all-pairs
IC/IR check), and every package becomes a plan by
:func:`pyomo_llmprice.tariffs.tariff_menu_from_result` (its tangent two-part tariff: a
fixed fee plus each token class at the plan's common markup over its cost, docs/model.md
section 3; types bunched on one package share one plan). A
result that is not ``optimal`` (no convergence, failed verification) raises
:class:`PricingError` instead of returning prices.

Conventions:

* ``user_types`` is a list of type indices ``theta`` (equally likely), or of mappings
  ``{"value": w, "scale": s, "probability": f}`` (value-scale types, ``theta = w *
  s^(1 - alpha - beta)``; ``probability`` optional, given for all types or none), or
  ``{"theta": theta, "probability": f}``. Types with equal ``theta`` are one type for
  Token Packages (their probabilities add up) and get the same plan.
* ``per_token_prices`` holds one mapping per type ``{"input": p_x, "output": p_y,
  "finetune": p_z}`` in the units of the costs (per token).
* Excluded types (the optimal menu sells them nothing) get ``nan`` as fee and prices:
  there is no plan for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.pipeline import solve_instance
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.result import MenuResult
from pyomo_llmprice.tariffs.menu import menu_with_plans
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import paper_theta_cdf, theta_grid_from_cdf, theta_types

__all__ = ["DEFAULT_GRID", "TOKEN_CLASSES", "LLMPricingModel", "PricingError", "paper_theta_cdf"]


TOKEN_CLASSES: tuple[str, ...] = ("input", "output", "finetune")

DEFAULT_GRID = 200
"""Cells of the default type grid (the paper's distribution) used before any solve."""

#: relative gap under which two type indices are the same type (w sqrt(s) ties in floats)
_SAME_THETA = 1e-12
_PROB_SUM_TOL = 1e-6  # as for instance files: looser sums are refused, not rescaled
_TYPE_KEYS = frozenset(("value", "scale", "theta", "probability"))


class PricingError(RuntimeError):
    """The menu solve did not end optimal and verified, so no prices are returned."""


def _positive(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise UserInputError(f"{name} must be positive and finite, got {value!r}")
    return number


def _nonnegative(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and number >= 0):
        raise UserInputError(f"{name} must be nonnegative and finite, got {value!r}")
    return number


def _token_costs(cost_per_token: Any) -> tuple[float, float]:
    """``(c_x, c_y)`` from one number or a mapping with exactly ``input`` and ``output``."""
    if isinstance(cost_per_token, Mapping):
        keys = set(cost_per_token)
        if keys != {"input", "output"}:
            missing = sorted({"input", "output"} - keys)
            extra = sorted(str(k) for k in keys - {"input", "output"})
            detail = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise UserInputError(
                f"cost_per_token as a mapping needs exactly the keys 'input' and 'output' "
                f"({detail})"
            )
        return (
            _positive(cost_per_token["input"], "cost_per_token['input']"),
            _positive(cost_per_token["output"], "cost_per_token['output']"),
        )
    cost = _positive(cost_per_token, "cost_per_token")
    return cost, cost


class LLMPricingModel:
    """Optimal menus of two-part tariffs for an LLM seller with the paper's technology.

    ``cost_per_token`` is the marginal cost of a token (one number for input and output,
    or ``{"input": c_x, "output": c_y}``), ``fine_tuning_cost`` that of a fine-tuning token
    ``c_z``. ``alpha, beta, gamma, base_quality`` are the precision function's parameters
    ``x^alpha y^beta (base_quality + z)^gamma`` with the paper's defaults. ``solver`` and
    ``solver_options`` go to :func:`pyomo_llmprice.pipeline.solve_instance`.

    The last solved menu is kept (:attr:`result`, a verified
    :class:`~pyomo_llmprice.result.MenuResult`): :meth:`calculate_fixed_fee` and
    :meth:`calculate_per_token_price` read the plan a type chooses from it.
    """

    def __init__(
        self,
        cost_per_token: float | Mapping[str, float],
        fine_tuning_cost: float,
        *,
        alpha: float = 0.25,
        beta: float = 0.25,
        gamma: float = 0.25,
        base_quality: float = 1.0,
        solver: str = DEFAULT_SOLVER,
        solver_options: Mapping[str, Any] | None = None,
    ) -> None:
        cost_input, cost_output = _token_costs(cost_per_token)
        cost_finetune = _positive(fine_tuning_cost, "fine_tuning_cost")
        params = {
            name: _positive(value, name)
            for name, value in (
                ("alpha", alpha),
                ("beta", beta),
                ("gamma", gamma),
                ("base_quality", base_quality),
            )
        }
        try:
            self.technology = Technology.cobb_douglas(
                **params,
                cost_input=cost_input,
                cost_output=cost_output,
                cost_finetune=cost_finetune,
            )
        except ValueError as err:  # alpha + beta + gamma >= 1
            raise UserInputError(str(err)) from None
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.result: MenuResult | None = None

    # -- the type list --------------------------------------------------------------

    @property
    def exponent(self) -> float:
        """``1 - alpha - beta``: theta of a value-scale type is ``w * s^exponent``."""
        p = self.technology.cobb_douglas_precision
        return 1.0 - p.alpha - p.beta

    def type_indices(self, user_types: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(theta, probability)`` of every entry of ``user_types``, validated."""
        if isinstance(user_types, (str, bytes, Mapping)):
            raise UserInputError(
                "user_types must be a list of type indices theta or of mappings "
                f"with 'value' and 'scale', got {type(user_types).__name__}"
            )
        try:
            entries = list(user_types)
        except TypeError:
            raise UserInputError(
                f"user_types must be a list of types, got {type(user_types).__name__}"
            ) from None
        if not entries:
            raise UserInputError("user_types is empty: give at least one type")
        theta = np.empty(len(entries))
        prob: list[float | None] = []
        for i, entry in enumerate(entries):
            where = f"user_types[{i}]"
            if isinstance(entry, Mapping):
                theta[i], p = self._mapping_type(entry, where)
                prob.append(p)
            else:
                theta[i] = _nonnegative(entry, where)
                prob.append(None)
        given = [p is not None for p in prob]
        if any(given) and not all(given):
            missing = given.index(False)
            raise UserInputError(
                f"user_types[{missing}]: probability missing; give it for every type or "
                "for none (then all types are equally likely)"
            )
        if not all(given):
            return theta, np.full(len(entries), 1.0 / len(entries))
        probability = np.asarray(prob, dtype=float)
        total = float(probability.sum())
        if abs(total - 1.0) > _PROB_SUM_TOL:
            raise UserInputError(f"user_types: probabilities sum to {total!r}, not 1")
        return theta, probability / total

    def _mapping_type(self, entry: Mapping[str, Any], where: str) -> tuple[float, float | None]:
        unknown = sorted(str(k) for k in set(entry) - _TYPE_KEYS)
        if unknown:
            raise UserInputError(
                f"{where}: unknown key {unknown[0]!r} (use 'value' and 'scale', or 'theta'; "
                "'probability' optional)"
            )
        if "theta" in entry:
            if "value" in entry or "scale" in entry:
                raise UserInputError(f"{where}: give 'theta' or 'value' and 'scale', not both")
            theta = _nonnegative(entry["theta"], f"{where}['theta']")
        else:
            for key in ("value", "scale"):
                if key not in entry:
                    raise UserInputError(f"{where}: missing {key!r}")
            value = _nonnegative(entry["value"], f"{where}['value']")
            scale = _nonnegative(entry["scale"], f"{where}['scale']")
            theta = value * scale**self.exponent
        prob = entry.get("probability")
        return theta, None if prob is None else _positive(prob, f"{where}['probability']")

    # -- solving --------------------------------------------------------------------

    def solve(self, theta: Sequence[float], probability: Sequence[float]) -> MenuResult:
        """Solve and verify the optimal Token Packages menu for these types; keep it.

        Equal indices are merged into one type (Token Packages cannot tell them apart).
        Raises :class:`PricingError` unless the result is optimal and verified.
        """
        unique, prob, _ = _merge(np.asarray(theta, float), np.asarray(probability, float))
        width = len(str(len(unique)))
        instance = Instance(
            name="LLMPricingModel",
            path=None,
            types=theta_types(unique, prob, [f"type{k:0{width}d}" for k in range(len(unique))]),
            technology=self.technology,
        )
        result = solve_instance(
            instance, setting="packages", solver=self.solver, options=self.solver_options
        )
        if not result.optimal:
            raise PricingError(
                f"the optimal menu could not be established (status {result.status}, "
                f"solver {result.termination}, largest IC/IR violation "
                f"{result.verification.max_violation:.3g}); no prices are returned"
                + self._units_hint(unique)
            )
        self.result = result
        return result

    def solve_default(self) -> MenuResult:
        """The menu for the paper's type distribution: ``theta = w s^(1-alpha-beta)``,
        ``w, s ~ U[0, 1]``, on :data:`DEFAULT_GRID` equal-width cells of ``[0, 1]``."""
        grid = theta_grid_from_cdf(DEFAULT_GRID, paper_theta_cdf(self.exponent))
        assert grid.theta is not None
        return self.solve(grid.theta, grid.prob)

    # -- the plans ------------------------------------------------------------------

    def plans(self) -> pd.DataFrame:
        """One row per type of the last menu: its package and the plan it buys.

        Plans are the ones the result published (its ``markup`` and ``fixed_fee``
        columns, :func:`pyomo_llmprice.tariffs.markups.menu_plans`), as ``llmprice solve``
        and ``llmprice tariffs`` print them: one two-part tariff per package, so types
        bunched on one package share one plan (its markup the probability-weighted mean of
        their tangent markups ``theta / phi``, its fee collecting the package's payment).
        ``plan`` is the plan's index (-1: not served, no plan: fee, markup and prices
        ``nan``; a type of zero virtual value is never served).
        """
        menu = menu_with_plans(self._solved())  # the plans the result published
        columns = ["theta", "prob", "input_tokens", "output_tokens", "finetune_tokens"]
        columns += ["payment", "served", "plan", "fixed_fee", "markup"]
        return menu[columns + [f"price_{c}" for c in TOKEN_CLASSES]]

    def optimal_two_part_tariff(
        self, user_types: Iterable[Any]
    ) -> tuple[list[float], list[dict[str, float]]]:
        """``(fixed_fees, per_token_prices)``, one entry per user type, from the optimal menu.

        Solves the menu for exactly these types (see the module docstring for the
        accepted forms). Each type's plan is the one designed for its package, which it
        chooses (the menu is verified incentive compatible); types bunched on one package
        share its plan (see :meth:`plans`). Excluded types get ``nan``.
        """
        theta, probability = self.type_indices(user_types)
        self.solve(theta, probability)
        _, _, position = _merge(theta, probability)
        plans = self.plans()
        fees = [float(plans["fixed_fee"].iloc[k]) for k in position]
        prices = [self._prices_of_row(plans.iloc[k]) for k in position]
        return fees, prices

    def chosen_plan(self, theta: float) -> int | None:
        """Row of the last menu that a buyer of index ``theta`` chooses; None: buys nothing.

        A type of the solved menu gets its own plan (truthful reporting is optimal: the
        menu is verified). Any other ``theta`` picks the package maximizing ``theta u - t``
        among the menu and the null bundle; ties (within 1e-12 of the payments) go to the
        larger payment, the seller-favoured convention of mechanism design.
        """
        th = _nonnegative(theta, "theta")
        if self.result is None:
            self.solve_default()
        plans = self.plans()
        grid = plans["theta"].to_numpy()
        own = np.flatnonzero(np.abs(grid - th) <= _SAME_THETA * max(1.0, th))
        if own.size:
            k = int(own[0])
            return k if bool(plans["served"].iloc[k]) else None
        precision = self.technology.cobb_douglas_precision.precision_of_tokens(
            plans["input_tokens"].to_numpy(),
            plans["output_tokens"].to_numpy(),
            plans["finetune_tokens"].to_numpy(),
        )
        payment = plans["payment"].to_numpy()
        served = plans["served"].to_numpy()
        net = np.where(served, th * precision - payment, -np.inf)
        best = float(net.max(initial=-np.inf))
        tie = 1e-12 * max(1.0, float(np.abs(payment).max(initial=0.0)))
        if not best > tie:  # the null bundle is at least as good
            return None
        candidates = np.flatnonzero(net >= best - tie)
        return int(candidates[np.argmax(payment[candidates])])

    def calculate_fixed_fee(self, theta: float) -> float:
        """Fixed fee of the plan a buyer of index ``theta`` chooses (``nan``: buys nothing).

        Uses the last solved menu; before any solve, the default menu of
        :meth:`solve_default` (the paper's type distribution) is solved first.
        """
        k = self.chosen_plan(theta)
        return math.nan if k is None else float(self.plans()["fixed_fee"].iloc[k])

    def calculate_per_token_price(self, theta: float) -> dict[str, float]:
        """Per-token prices ``{"input", "output", "finetune"}`` of the plan ``theta`` chooses.

        ``nan`` for every class if the buyer buys nothing; the menu used is that of
        :meth:`calculate_fixed_fee`.
        """
        k = self.chosen_plan(theta)
        if k is None:
            return dict.fromkeys(TOKEN_CLASSES, math.nan)
        return self._prices_of_row(self.plans().iloc[k])

    # -- helpers --------------------------------------------------------------------

    def _units_hint(self, theta: np.ndarray) -> str:
        """Why a solve may fail: types far from the fine-tuning threshold theta_hat.

        Optimal tokens grow like ``(theta / theta_hat)^(1/(1 - sigma))``: with costs per
        single token (1e-6 USD) and types of order one, packages hold ~1e20 tokens and
        the problem is badly scaled. Units are the user's choice (tokens in millions,
        say); the paper's example has ``max theta / theta_hat = 2``.
        """
        top = float(theta.max(initial=0.0))
        ratio = top / self.technology.theta_hat
        if 1e-3 <= ratio <= 1e3:
            return ""
        return (
            f". The types' largest theta is {ratio:.3g} times the fine-tuning threshold "
            f"theta_hat = {self.technology.theta_hat:.3g}, so optimal packages hold about "
            f"{ratio ** (1 / (1 - self.technology.cobb_douglas_precision.sigma)):.3g} times "
            "the tokens of a threshold buyer: choose units (e.g. cost per million tokens) "
            "that bring theta within a few multiples of theta_hat"
        )

    def _solved(self) -> MenuResult:
        if self.result is None:
            raise PricingError("no menu solved yet: call optimal_two_part_tariff first")
        return self.result

    @staticmethod
    def _prices_of_row(row: pd.Series) -> dict[str, float]:
        return {name: float(row[f"price_{name}"]) for name in TOKEN_CLASSES}


def _merge(theta: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct indices (sorted), their summed probabilities, and each entry's position.

    Indices within a relative 1e-12 of the previous distinct one are the same type:
    value-scale grids produce such float ties (``0.3 sqrt(0.1)`` vs ``0.1 sqrt(0.9)``).
    """
    order = np.argsort(theta, kind="stable")
    sorted_theta = theta[order]
    new_group = np.ones(len(theta), dtype=bool)
    new_group[1:] = np.diff(sorted_theta) > _SAME_THETA * np.maximum(1.0, sorted_theta[1:])
    group = np.cumsum(new_group) - 1
    unique = sorted_theta[new_group]
    merged = np.bincount(group, weights=prob[order], minlength=len(unique))
    position = np.empty(len(theta), dtype=int)
    position[order] = group
    return unique, merged / merged.sum(), position
