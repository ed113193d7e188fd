"""Version floor for Pyomo, checked once at import."""

from __future__ import annotations

import pyomo.version

MIN_PYOMO = (6, 9, 0)


def check_pyomo_version() -> None:
    """Refuse a Pyomo without the solver API (``pyomo.contrib.solver``) this package uses."""
    found = tuple(pyomo.version.version_info[:3])
    if found < MIN_PYOMO:
        raise ImportError(
            f"pyomo_llmprice needs Pyomo >= {'.'.join(map(str, MIN_PYOMO))}, "
            f"found {pyomo.version.version}; upgrade with: pip install -U pyomo"
        )
