"""Files in and out: every format the package reads or writes lives in this package.

:mod:`~pyomo_llmprice.io.dat` is the ``.dat`` instance format (LLM token menus and
generic screening), read through Pyomo's DataPortal. Nothing here builds a model or
solves; the domain objects it produces are in :mod:`pyomo_llmprice.instance`.
"""

from pyomo_llmprice.io.dat import (
    DESCRIPTIONS,
    PARAMS,
    PROB_SUM_TOL,
    SCHEMA_READERS,
    SCREENING_PARAMS,
    SCREENING_SETS,
    SETS,
    TECHNOLOGY_PARAMS,
    declare_instance_components,
    declare_screening_components,
    format_dat,
    format_screening_dat,
    instance_from_model,
    read_instance,
    screening_instance_from_model,
    technology_params,
    validated_dataportal,
    write_dat,
)

__all__ = [
    "DESCRIPTIONS",
    "PARAMS",
    "PROB_SUM_TOL",
    "SCHEMA_READERS",
    "SCREENING_PARAMS",
    "SCREENING_SETS",
    "SETS",
    "TECHNOLOGY_PARAMS",
    "declare_instance_components",
    "declare_screening_components",
    "format_dat",
    "format_screening_dat",
    "instance_from_model",
    "read_instance",
    "screening_instance_from_model",
    "technology_params",
    "validated_dataportal",
    "write_dat",
]
