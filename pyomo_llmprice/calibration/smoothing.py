"""Noise in usage: period averages per customer, or a fitted lognormal law of types.

A customer's usage moves from period to period (a busy month, a quiet one). In the model
this is its index moving: period ``t`` reveals ``theta_it = theta_i * exp(e_it)``. Two
ways to smooth are offered:

* ``average``: a customer's theta is the geometric mean of its per-period theta (the
  period average of log theta; multiplicative noise of mean zero in logs averages out);
* ``lognormal``: in addition, log theta across customers is fitted by a normal law, with
  the within-customer period noise (estimated from customers seen in several periods)
  removed from the spread of the customer averages (the random-effects decomposition
  ``var(mean_i) = sigma^2 + s_noise^2 / T_i``), so the fitted law is that of the types,
  not of the noisy averages; the instance is then K equally likely points of that law.
  Fit statistics: log-likelihood and the Kolmogorov-Smirnov test of the standardized
  customer averages (scipy.stats; its p-value ignores that the parameters were fitted,
  so it is conservative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["SMOOTHING", "LognormalFit", "fit_lognormal"]

#: smoothing name -> what it assumes (the lines the instance header records)
SMOOTHING: dict[str, list[str]] = {
    "average": [
        "smoothing average: a customer's theta is the geometric mean of its per-period "
        "theta over the periods it bought"
    ],
    "lognormal": [
        "smoothing lognormal: log theta of the customers is normal; the fitted law, with the "
        "within-customer period noise removed, gives K equally likely types "
        "(points ppf((2k-1)/2K)); fitted to buyers only (above a participation bound, a "
        "truncated population)"
    ],
}


@dataclass(frozen=True)
class LognormalFit:
    """A lognormal law of theta fitted to buyers' per-period theta, and how well it fits."""

    mu: float  # mean of log theta
    sigma: float  # standard deviation of log theta across types
    noise_sd: float  # within-customer standard deviation of log theta across periods
    customers: int
    rows: int
    log_likelihood: float
    ks_statistic: float
    ks_pvalue: float

    def law(self) -> Any:
        """The fitted law as a frozen scipy.stats distribution of theta."""
        return stats.lognorm(s=self.sigma, scale=math.exp(self.mu))

    def describe(self) -> str:
        return (
            f"log theta ~ N({self.mu:.6g}, {self.sigma:.6g}^2) from {self.customers} customers "
            f"and {self.rows} rows; period noise sd {self.noise_sd:.4g}; log-likelihood "
            f"{self.log_likelihood:.6g}; KS statistic {self.ks_statistic:.4g} (p-value "
            f"{self.ks_pvalue:.3g}, conservative: parameters fitted)"
        )

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in vars(self).items()}


#: a fitted spread below this (in log theta) is a degenerate law: refused
MIN_SIGMA = 1e-9


def fit_lognormal(rows: pd.DataFrame) -> LognormalFit:
    """Fit log theta of the buying rows (columns ``customer``, ``theta``, ``weight``).

    Customers are weighted by their mean row weight; the between-customer variance of
    the averages minus the period noise's share (``s_noise^2`` times the weighted mean of
    ``1/T_i``) is the law's variance.
    """
    from pyomo_llmprice.errors import UserInputError

    log_theta = np.log(rows["theta"].to_numpy(float))
    frame = pd.DataFrame(
        {"customer": rows["customer"].to_numpy(), "l": log_theta, "w": rows["weight"]}
    )
    groups = frame.groupby("customer", sort=False)
    means = groups["l"].mean()
    periods = groups.size().to_numpy(float)
    weight = groups["w"].mean().to_numpy(float)
    m = means.to_numpy(float)
    if m.size < 2:
        raise UserInputError("a lognormal fit needs at least two buying customers")
    deviations = frame["l"].to_numpy(float) - means.reindex(frame["customer"]).to_numpy(float)
    dof = float((periods - 1).sum())
    noise_var = float(deviations @ deviations) / dof if dof > 0 else 0.0
    w = weight / weight.sum()
    mu = float(w @ m)
    between = float(w @ (m - mu) ** 2)
    var = between - noise_var * float(w @ (1.0 / periods))
    if not var > MIN_SIGMA**2:
        raise UserInputError(
            "the lognormal fit leaves no spread of types beyond the period noise "
            f"(between-customer variance {between:.3g}, noise variance {noise_var:.3g}); "
            "use --smooth average"
        )
    spread = np.sqrt(var + noise_var / periods)  # sd of each customer's average
    z = (m - mu) / spread
    ks = stats.kstest(z, "norm")
    loglik = float(stats.norm.logpdf(m, loc=mu, scale=spread).sum())
    return LognormalFit(
        mu=mu,
        sigma=math.sqrt(var),
        noise_sd=math.sqrt(noise_var),
        customers=int(m.size),
        rows=len(frame),
        log_likelihood=loglik,
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
    )
