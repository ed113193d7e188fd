"""Typed configuration and results of the in-memory Ipopt interfaces."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from pyomo.common.config import Bool, ConfigDict, ConfigValue, NonNegativeFloat
from pyomo.contrib.solver.common.base import LegacySolverWrapper
from pyomo.contrib.solver.common.config import SolverConfig
from pyomo.contrib.solver.common.results import Results, SolutionStatus
from pyomo.contrib.solver.common.util import NoOptimalSolutionError, NoSolutionError

from pyomo_llmprice.errors import SolverOptionError

__all__ = [
    "CyIpoptConfig",
    "InMemoryNLPConfig",
    "IpoptResults",
    "TextOptionsWrapper",
    "coerce_option",
    "finish_results",
    "parse_option_string",
]


class InMemoryNLPConfig(SolverConfig):
    """Options shared by the in-memory solvers; subclasses word the two of their own."""

    #: descriptions of the two options, per solver
    WARM_START_DOC = "Start from the multipliers in the model's IMPORT 'dual' and 'rc' suffixes."
    FEASIBILITY_DOC = "Largest constraint or bound violation for which a point is called feasible."

    def __init__(
        self,
        description: str | None = None,
        doc: str | None = None,
        implicit: bool = False,
        implicit_domain: Any = None,
        visibility: int = 0,
    ) -> None:
        super().__init__(
            description=description,
            doc=doc,
            implicit=implicit,
            implicit_domain=implicit_domain,
            visibility=visibility,
        )
        self.warm_start_multipliers: bool = self.declare(
            "warm_start_multipliers",
            ConfigValue(domain=Bool, default=False, description=self.WARM_START_DOC),
        )
        self.feasibility_tolerance: float = self.declare(
            "feasibility_tolerance",
            ConfigValue(domain=NonNegativeFloat, default=1e-6, description=self.FEASIBILITY_DOC),
        )


class CyIpoptConfig(InMemoryNLPConfig):
    """Options of ``cyipopt_direct`` (Ipopt's own options go in ``solver_options``)."""

    WARM_START_DOC = (
        "Start Ipopt from the multipliers held in the model's IMPORT 'dual' and 'rc' "
        "suffixes (from a previous solve) and set warm_start_init_point=yes. "
        "Constraints without a dual start at zero."
    )
    FEASIBILITY_DOC = (
        "Largest constraint or bound violation for which a final iterate that is not "
        "certified optimal is still called feasible."
    )


class IpoptResults(Results):
    """Pyomo's Results plus what Ipopt tells about the run."""

    def __init__(
        self,
        description: str | None = None,
        doc: str | None = None,
        implicit: bool = False,
        implicit_domain: Any = None,
        visibility: int = 0,
    ) -> None:
        super().__init__(
            description=description,
            doc=doc,
            implicit=implicit,
            implicit_domain=implicit_domain,
            visibility=visibility,
        )
        self.iteration_count: int | None = self.declare(
            "iteration_count", ConfigValue(domain=int, default=None)
        )
        info: ConfigDict = self.extra_info
        for name, desc in (
            ("ipopt_status", "Ipopt's ApplicationReturnStatus code"),
            ("ipopt_message", "Ipopt's status message"),
            ("primal_infeasibility", "largest constraint or bound violation at the end"),
            ("dual_infeasibility", "Ipopt's scaled dual infeasibility at the last iteration"),
            ("build_time", "seconds spent compiling the model into callbacks"),
            ("solve_time", "seconds spent inside Ipopt"),
            ("callback_time", "seconds of solve_time spent evaluating the NLP's functions"),
            ("n_variables", "free variables sent to Ipopt"),
            ("n_constraints", "constraint rows sent to Ipopt"),
            ("n_signatures", "distinct row shapes compiled"),
        ):
            info.declare(name, ConfigValue(default=None, description=desc))


def coerce_option(value: Any) -> Any:
    """Convert an option given as text (command line, config file) to a number if it is one.

    Integers stay integers here; :func:`set_ipopt_option` retries an integer as a
    float when Ipopt declares the option numeric.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_option_string(text: str) -> dict[str, Any]:
    """Parse ``"max_iter=500 tol=1e-9"`` as the ``--solver-options`` of ``pyomo solve``."""
    options: dict[str, Any] = {}
    for token in shlex.split(text):
        key, sep, val = token.partition("=")
        if not sep or not key:
            raise SolverOptionError(f"solver option {token!r} is not of the form name=value")
        options[key.strip()] = coerce_option(val)
    return options


def normalize_options(options: Any) -> dict[str, Any]:
    """Options from a string, a mapping or a Pyomo ConfigDict/Bunch, as typed values."""
    if options is None:
        return {}
    if isinstance(options, str):
        return parse_option_string(options)
    if hasattr(options, "value") and callable(options.value):
        options = options.value()
    if not isinstance(options, Mapping):
        options = dict(options)
    return {str(k): coerce_option(v) for k, v in options.items() if v is not None}


def finish_results(results: Results, config: SolverConfig, ended: str) -> Results:
    """Apply the common-API contract at the end of a solve, for every in-memory solver.

    ``raise_exception_on_nonoptimal_result`` and ``load_solutions`` act the same way
    whichever method ran; ``ended`` says how it ended, for the error messages.
    """
    if (
        config.raise_exception_on_nonoptimal_result
        and results.solution_status != SolutionStatus.optimal
    ):
        raise NoOptimalSolutionError(f"{ended} ({results.termination_condition.name})")
    if config.load_solutions:
        if results.solution_status == SolutionStatus.noSolution:
            raise NoSolutionError(
                f"{ended} and no solution; solve with load_solutions=False to inspect the results"
            )
        results.solution_loader.load_vars()
        results.solution_loader.load_import_suffixes()
    return results


class TextOptionsWrapper(LegacySolverWrapper):
    """Pyomo's legacy wrapper for the in-memory solvers: option text becomes numbers.

    ``pyomo solve --solver-options`` and its config files give options as strings,
    and pass 0/None as ``timelimit`` for "no limit"; both are normalized here.
    """

    def set_options(self, options: Any) -> None:
        opts = normalize_options(options)
        timelimit = opts.pop("timelimit", None)
        if timelimit is not None:
            self.config.time_limit = float(timelimit)
        self.config.solver_options.set_value(opts)

    def _map_config(self, options=None, solver_options=None, **kwds) -> None:  # type: ignore[override]
        from pyomo.common.modeling import NOTSET

        for name, val in (("options", options), ("solver_options", solver_options)):
            if val is not None and val is not NOTSET:
                kwds[name] = normalize_options(val)
        timelimit = kwds.get("timelimit")
        if timelimit is not NOTSET and not timelimit:
            kwds.pop("timelimit", None)  # pyomo solve passes 0/None for "no limit"
        super()._map_config(**kwds)
