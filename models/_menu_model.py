"""Shared body of the ``pyomo solve`` model files (not itself a model file)."""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo

from pyomo_llmprice.io import (  # noqa: F401  (validated_dataportal is re-exported)
    declare_instance_components,
    declare_screening_components,
    instance_from_model,
    screening_instance_from_model,
    validated_dataportal,
)
from pyomo_llmprice.pipeline import SETTINGS, read_menu


def abstract_menu_model(setting: str) -> pyo.AbstractModel:
    """The public .dat format plus the setting's menu block, for ``pyomo solve``."""
    if setting == "screening":
        model = pyo.AbstractModel(name="screening")
        declare_screening_components(model)
        model.menu = SETTINGS[setting](instance=screening_instance_from_model)
        return model
    model = pyo.AbstractModel(name=f"token_{setting}")
    declare_instance_components(model)
    model.menu = SETTINGS[setting](instance=instance_from_model)
    return model


def print_menu(options: Any, instance: Any, results: Any) -> None:
    """After ``pyomo solve``: the verified menu, its profit and its largest violations."""
    from pyomo.opt import TerminationCondition

    # "optimal" only for Ipopt's Solve_Succeeded: an acceptable-level stop is not one
    converged = (
        results.solver.termination_condition == TerminationCondition.optimal
        and getattr(results.solver, "message", None) == "Solve_Succeeded"
    )
    menu = read_menu(instance.menu, converged=converged, solver="pyomo solve")
    print(menu.report())
