"""Synthetic usage logs: types from a known law, a tariff applied, the log written.

The ground truth calibration is tested against: draw each customer's theta, let it
best-respond to the tariff in every period (:func:`pyomo_llmprice.tariffs.best_response`,
the same buyers the tariff layer prices for), and write what it bought. ``noise`` moves
the index from period to period, ``theta_it = theta_i exp(noise * e_it)`` with standard
normal ``e_it``, so each row is still an exact best response of the period's type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from pyomo_llmprice.technology import Technology

__all__ = ["draw_types", "linear_price_list", "synthetic_usage"]


def draw_types(law: Any, n: int, seed: int = 0) -> NDArray[np.float64]:
    """``n`` types drawn from ``law`` (a frozen scipy.stats distribution), reproducibly."""
    if n < 1:
        raise ValueError(f"need at least one customer, got {n}")
    return np.asarray(law.rvs(size=n, random_state=np.random.default_rng(seed)), float)


def linear_price_list(markup: float, technology: Technology, name: str = "list") -> list[dict]:
    """One plan without a fee, every class at ``markup`` times its cost (a price list)."""
    return [
        {
            "name": name,
            "fixed_fee": 0.0,
            "price_input": markup * technology.cost_input,
            "price_output": markup * technology.cost_output,
            "price_finetune": markup * technology.cost_finetune,
        }
    ]


def synthetic_usage(
    theta: ArrayLike,
    plans: Sequence[dict[str, Any]],
    technology: Technology,
    *,
    periods: int = 1,
    noise: float = 0.0,
    seed: int = 0,
    weights: ArrayLike | None = None,
    customers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A usage log of customers of index ``theta`` under the tariff ``plans``.

    Columns ``customer``, ``period``, the three token columns, ``plan`` (empty where the
    period's type buys nothing) and ``weight`` (1 unless given per customer).
    """
    from pyomo_llmprice.calibration.calibrate import tariff_menu
    from pyomo_llmprice.io.usage import TOKEN_COLUMNS
    from pyomo_llmprice.tariffs import best_response

    th = np.asarray(theta, float).ravel()
    n = th.size
    if periods < 1:
        raise ValueError(f"periods must be at least 1, got {periods}")
    rng = np.random.default_rng(seed)
    shocks = (
        np.exp(noise * rng.standard_normal((n, periods))) if noise > 0 else np.ones((n, periods))
    )
    period_theta = (th[:, None] * shocks).ravel()
    menu = tariff_menu(plans, technology)
    out = best_response(period_theta, menu, technology)
    width = len(str(n))
    names = list(customers) if customers is not None else [f"c{i + 1:0{width}d}" for i in range(n)]
    w = np.ones(n) if weights is None else np.asarray(weights, float).ravel()
    frame = pd.DataFrame(
        {
            "customer": np.repeat(names, periods),
            "period": np.tile(np.arange(1, periods + 1), n),
        }
    )
    tokens = np.column_stack([out.input_tokens, out.output_tokens, out.finetune_tokens])
    for j, column in enumerate(TOKEN_COLUMNS):
        frame[column] = tokens[:, j]
    frame["plan"] = [menu.plans[k].name if k >= 0 else "" for k in out.choice]
    frame["weight"] = np.repeat(w, periods)
    return frame
