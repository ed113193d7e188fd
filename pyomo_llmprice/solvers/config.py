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
    "FILE_OPTIONS",
    "CyIpoptConfig",
    "InMemoryNLPConfig",
    "IpoptResults",
    "TextOptionsWrapper",
    "coerce_option",
    "file_options",
    "finish_results",
    "invalid_option_error",
    "parse_option_string",
    "refuse_file_options",
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
        info: ConfigDict = self.extra_info
        # where Pyomo's own ipopt interface reports it, so callers read one place
        info.declare(
            "iteration_count",
            ConfigValue(domain=int, default=None, description="Ipopt iterations of the run"),
        )
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


#: Ipopt's options whose value names a file (Ipopt 3.14's list: the four string options
#: whose values are free-form file names). Whoever sets one makes the solver write, read
#: or load code from a path, so specs refuse them and the command line asks for a flag.
FILE_OPTIONS: dict[str, str] = {
    "output_file": "makes Ipopt write its log to that path",
    "option_file_name": "makes Ipopt read options from that path",
    "hsllib": "makes Ipopt load a shared library (code) from that path",
    "pardisolib": "makes Ipopt load a shared library (code) from that path",
}

#: options after which Ipopt's Invalid_Option at the start of a solve is most likely
#: a linear solver or scaling library missing from this build
_LIBRARY_OPTIONS = ("linear_solver", "linear_system_scaling", "hsllib", "pardisolib")


def _option_key(name: Any) -> str:
    """The Ipopt name under an option as written (``ipopt.`` prefix and case dropped)."""
    key = str(name).strip().lower()
    return key.removeprefix("ipopt.")


def file_options(options: Mapping[str, Any]) -> list[str]:
    """The names in `options` that are Ipopt file options (:data:`FILE_OPTIONS`)."""
    return [str(name) for name in options if _option_key(name) in FILE_OPTIONS]


def refuse_file_options(options: Mapping[str, Any], where: str, remedy: str) -> None:
    """Raise :class:`SolverOptionError` naming the first file option in `options`.

    `where` says where the option came from (``--solver-options``, a spec's entry);
    `remedy` what the user can do instead (the flag, or nothing for specs).
    """
    for name in file_options(options):
        what = FILE_OPTIONS[_option_key(name)]
        raise SolverOptionError(
            f"{where}: {name}={options[name]!r} {what}; file options are refused {remedy}"
        )


def invalid_option_error(log: str, options: Mapping[str, Any]) -> SolverOptionError:
    """The error of a solve that Ipopt ended with ``Invalid_Option`` before iterating.

    Ipopt accepts a value such as ``linear_solver=ma27`` when it is set and fails only
    when the solve loads the library; that is the user's option, not a convergence
    failure, so it is named with Ipopt's reason instead of being retried.
    """
    reason = ""
    for line in log.splitlines():
        text = line.strip()
        if text.startswith("Exception message:"):
            reason = text.removeprefix("Exception message:").strip()
        elif not reason and text.startswith("EXIT:"):
            reason = text.removeprefix("EXIT:").strip()
    given = {str(k): v for k, v in options.items()}
    culprits = [k for k in given if _option_key(k) in _LIBRARY_OPTIONS] or list(given)
    named = ", ".join(f"{k}={given[k]!r}" for k in culprits) or "the options given"
    because = f": {reason}" if reason else ""
    return SolverOptionError(
        f"Ipopt refused {named} when starting the solve (Invalid_Option){because}"
    )


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
        if results.solution_status not in (SolutionStatus.optimal, SolutionStatus.feasible):
            raise NoSolutionError(
                f"{ended} and no feasible solution; solve with load_solutions=False to "
                "inspect the results"
            )
        results.solution_loader.load_vars()
        results.solution_loader.load_import_suffixes()
    return results


class TextOptionsWrapper(LegacySolverWrapper):
    """Pyomo's legacy wrapper for the in-memory solvers: option text becomes numbers.

    ``pyomo solve --solver-options`` and its config files give options as strings,
    and pass 0/None as ``timelimit`` for "no limit"; both are normalized here.
    """

    def __init__(self, **kwds: Any) -> None:
        # In-memory interfaces are Pyomo's "python" io (as the direct interfaces);
        # Pyomo's wrapper refuses every solver_io, which its scenario tests pass.
        solver_io = kwds.pop("solver_io", None)
        if solver_io not in (None, "python"):
            raise ValueError(f"solver_io={solver_io!r}: this solver works in memory ('python')")
        super().__init__(**kwds)

    def set_options(self, options: Any) -> None:
        opts = normalize_options(options)
        timelimit = opts.pop("timelimit", None)
        if timelimit is not None:
            self.config.time_limit = float(timelimit)
        self.config.solver_options.set_value(opts)

    def _map_results(self, model: Any, results: Results) -> tuple[Any, Any]:
        """Pyomo's mapping, plus the iteration count where legacy readers look for it."""
        legacy_results, legacy_soln = super()._map_results(model, results)
        legacy_results.solver.iterations = getattr(results.extra_info, "iteration_count", None)
        return legacy_results, legacy_soln

    def _map_config(self, options=None, solver_options=None, **kwds) -> None:  # type: ignore[override]
        from pyomo.common.modeling import NOTSET

        for name, val in (("options", options), ("solver_options", solver_options)):
            if val is not None and val is not NOTSET:
                kwds[name] = normalize_options(val)
        timelimit = kwds.get("timelimit")
        if timelimit is not NOTSET and not timelimit:
            kwds.pop("timelimit", None)  # pyomo solve passes 0/None for "no limit"
        super()._map_config(**kwds)
