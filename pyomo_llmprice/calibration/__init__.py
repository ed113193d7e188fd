"""Calibration: buyer types from observed usage, and the pricing they would reward.

Orchestration above the tariff layer and the pipeline (it calls both; neither imports
it): :mod:`.inversion` reads each usage row's theta from its first-order conditions,
:mod:`.smoothing` averages periods or fits a lognormal law, :mod:`.calibrate` builds the
instance, today's take and the counterfactual, and :mod:`.synthetic` writes usage logs
from a known law for tests and examples.
"""

from pyomo_llmprice.calibration.calibrate import (
    BELOW_THRESHOLD,
    UsageCalibration,
    calibrate_files,
    calibrate_usage,
    counterfactual,
    participation_bound,
    tariff_menu,
)
from pyomo_llmprice.calibration.inversion import Inversion, invert_usage, precision_gradient
from pyomo_llmprice.calibration.smoothing import SMOOTHING, LognormalFit, fit_lognormal
from pyomo_llmprice.calibration.synthetic import draw_types, linear_price_list, synthetic_usage

__all__ = [
    "BELOW_THRESHOLD",
    "SMOOTHING",
    "Inversion",
    "LognormalFit",
    "UsageCalibration",
    "calibrate_files",
    "calibrate_usage",
    "counterfactual",
    "draw_types",
    "fit_lognormal",
    "invert_usage",
    "linear_price_list",
    "participation_bound",
    "precision_gradient",
    "synthetic_usage",
    "tariff_menu",
]
