"""Studies over many solves: solver comparisons and parameter sweeps (Dask).

``compare`` runs every instance with every solver and tabulates status, iterations,
time, profit, verified IC/IR violation and the gap to the best profit;
``profiles`` draws Dolan-More performance profiles from such a table; ``spec``
validates sweep files and ``sweep`` runs them on a Dask cluster, storing each
finished task at once so that an interrupted sweep resumes where it stopped.
Dask, Parquet and YAML are imported only when a sweep runs.
"""

from pyomo_llmprice.studies.compare import (
    DEFAULT_SOLVERS,
    EXTERNAL_SOLVERS,
    compare,
    probe_solver,
    write_comparison,
)
from pyomo_llmprice.studies.profiles import (
    performance_profile,
    performance_ratios,
    plot_performance_profile,
)
from pyomo_llmprice.studies.spec import SpecError, SweepSpec, load_spec, parse_spec
from pyomo_llmprice.studies.sweep import finished_keys, read_results, run_sweep

__all__ = [
    "DEFAULT_SOLVERS",
    "EXTERNAL_SOLVERS",
    "SpecError",
    "SweepSpec",
    "compare",
    "finished_keys",
    "load_spec",
    "parse_spec",
    "performance_profile",
    "performance_ratios",
    "plot_performance_profile",
    "probe_solver",
    "read_results",
    "run_sweep",
    "write_comparison",
]
