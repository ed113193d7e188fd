"""Global solvers through Pyomo's own interfaces: SCIP (``scip_direct``) and Gurobi
(``gurobi_direct_minlp``), with a dual bound, a node count and progress while they run.

Two things Pyomo's interfaces leave to the caller, done here once:

* progress: SCIP runs holding Python's GIL, so no thread can read its log while it
  works, and Pyomo's ``scip_direct`` captures that log in a pipe that a long run fills
  (the solve then blocks forever: seen with a node line per node). SCIP therefore runs
  silent (``display/verblevel 0``) and reports through a SCIP event handler, attached
  by a thin subclass of Pyomo's ``ScipDirect`` (Pyomo offers no callback hook for it).
  Gurobi releases the GIL, so its log is read line by line (:class:`SolverLog`).
* Gurobi's pip wheel carries a size-limited licence: a model over the limit is
  :class:`SizeLimitError` (reported "skipped: size limit"), not a crash.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GLOBAL_SOLVERS",
    "GlobalRun",
    "SizeLimitError",
    "SolverLog",
    "is_size_limit",
    "require_solver",
    "solve_global",
]

#: global solvers of Pyomo's contrib factory that prove bounds on nonconvex models
GLOBAL_SOLVERS: tuple[str, ...] = ("scip_direct", "gurobi_direct_minlp")

#: Python package behind each solver family (the ``solvers`` extra installs them)
_PACKAGES = {"scip": "pyscipopt", "gurobi": "gurobipy", "highs": "highspy"}

#: progress is reported at most this often (seconds)
PROGRESS_EVERY = 0.25

Progress = Callable[[int, float, float], None]


@dataclass
class GlobalRun:
    """How a global solve ended: the package's status, bound, incumbent and effort.

    ``status`` comes from :func:`pyomo_llmprice.outcomes.solver_outcome` (``optimal``
    only when the solver closed its gap; ``time_limit`` when the clock stopped it);
    ``bound`` and ``incumbent`` are in the model's objective units (``nan`` if none).
    """

    solver: str
    status: str
    termination: str
    bound: float
    incumbent: float
    wall_time: float
    nodes: int | None
    has_point: bool
    results: Any = None

    @property
    def gap(self) -> float:
        """Relative gap |bound - incumbent| / |incumbent| (inf without both)."""
        if not (math.isfinite(self.bound) and math.isfinite(self.incumbent)):
            return math.inf
        return abs(self.bound - self.incumbent) / max(abs(self.incumbent), 1e-12)


class SizeLimitError(RuntimeError):
    """The solver's licence does not cover a model of this size (Gurobi's pip licence)."""


def is_size_limit(exc: BaseException) -> bool:
    """Whether an exception is Gurobi's size-limited licence refusing the model."""
    text = str(exc).lower()
    return (
        any(key in text for key in ("size-limited license", "model too large", "error code 10010"))
        or getattr(exc, "errno", None) == 10010
    )


def require_solver(solver: str) -> None:
    """The Python package behind `solver`, or the one-line error naming the extra."""
    from pyomo_llmprice.errors import require

    family = next((f for f in _PACKAGES if solver.startswith(f)), None)
    if family is not None:
        require(_PACKAGES[family], "solvers")


#: Gurobi's node-log row: nodes unexpl | obj depth intinf | incumbent bestbd gap | it/node time
_GUROBI_ROW = re.compile(
    r"^\s*[H*]?\s*(\d+)\s+\d+\s+.*?(\S+)\s+(\S+)\s+(?:[\d.]+%|-)\s+\S+\s+\d+s\s*$"
)


class SolverLog(io.TextIOBase):
    """A stream for Pyomo's ``tee`` that keeps the log and reports each node-log row.

    ``on_progress(nodes, bound, incumbent)`` gets the numbers of Gurobi's node table
    (``nan`` where the row shows ``-``); SCIP reports through its event handler.
    """

    def __init__(self, on_progress: Progress | None = None) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self._on_progress = on_progress

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        for line in done:
            self.lines.append(line)
            self._parse(line)
        return len(text)

    def _parse(self, line: str) -> None:
        hit = _GUROBI_ROW.match(line) if self._on_progress is not None else None
        if hit:
            incumbent, bound = _number(hit.group(2)), _number(hit.group(3))
            self._on_progress(int(hit.group(1)), bound, incumbent)

    def text(self) -> str:
        return "\n".join([*self.lines, self._partial])


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "-", "--"
        return math.nan


def _throttled(on_progress: Progress) -> Progress:
    last = [-math.inf]

    def report(nodes: int, bound: float, incumbent: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            on_progress(nodes, bound, incumbent)

    return report


def _scip_with_progress(on_progress: Progress) -> Any:
    """Pyomo's ``scip_direct`` with a SCIP event handler reporting solved nodes and new
    incumbents (the interface has no callback option; the subclass only adds one)."""
    from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect
    from pyscipopt import SCIP_EVENTTYPE, Eventhdlr

    events = SCIP_EVENTTYPE.NODESOLVED | SCIP_EVENTTYPE.BESTSOLFOUND

    class _Progress(Eventhdlr):  # type: ignore[misc]
        def eventinit(self) -> None:
            self.model.catchEvent(events, self)

        def eventexit(self) -> None:
            self.model.dropEvent(events, self)

        def eventexec(self, event: Any) -> dict:
            scip = self.model
            inf = scip.infinity()
            bound, incumbent = float(scip.getDualbound()), float(scip.getPrimalbound())
            on_progress(
                int(scip.getNNodes()),
                bound if abs(bound) < inf else math.nan,
                incumbent if scip.getNSols() > 0 and abs(incumbent) < inf else math.nan,
            )
            return {}

    class ScipWithProgress(ScipDirect):  # type: ignore[misc]
        def _create_solver_model(self, model: Any, config: Any) -> Any:
            out = super()._create_solver_model(model, config)
            self._solver_model.includeEventhdlr(
                _Progress(), "llmprice_progress", "nodes, bound and incumbent for a bar"
            )
            return out

    return ScipWithProgress()


def default_options(solver: str, threads: int | None = 1) -> dict[str, Any]:
    """A relative gap of 1e-6 (and a quiet SCIP).

    Feasibility tolerances stay the solvers' own (1e-6): a bound proven on the problem
    relaxed by a tolerance still bounds the exact one, while a tighter tolerance made
    SCIP declare a feasible plan design infeasible (its presolve at 1e-9 cut off ties
    that hold to 1e-16), i.e. a bound below a design that exists."""
    if solver.startswith("scip"):
        return {"limits/gap": 1e-6, "display/verblevel": 0}
    if solver.startswith("gurobi"):
        opts: dict[str, Any] = {"MIPGap": 1e-6}
        if threads:
            opts["Threads"] = threads
        return opts
    return {}


def _extra(results: Any, key: str) -> Any:
    """An entry of ``results.extra_info`` if the solver set it."""
    info = results.extra_info
    try:
        value = info[key] if key in info else None
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, (int, float)) else None


def solve_global(
    model: Any,
    solver: str = "scip_direct",
    time_limit: float | None = None,
    on_progress: Progress | None = None,
    options: dict[str, Any] | None = None,
    threads: int | None = 1,
) -> GlobalRun:
    """Solve `model` with a solver of Pyomo's contrib factory; read status, bound and point.

    `on_progress(nodes, bound, incumbent)` is called while the solver runs (throttled).
    The best point found (if any) is loaded into the model. Gurobi refusing the size
    raises :class:`SizeLimitError`; a missing package, the ``solvers`` extra's error.
    """
    from pyomo.contrib.solver.common.factory import SolverFactory

    from pyomo_llmprice.outcomes import load_point, solver_outcome

    require_solver(solver)
    report = None if on_progress is None else _throttled(on_progress)
    if report is not None and solver == "scip_direct":
        opt = _scip_with_progress(report)
        log = SolverLog(None)
    else:
        opt = SolverFactory(solver)
        log = SolverLog(report)
    kwds: dict[str, Any] = {
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "tee": [log],
        "solver_options": {**default_options(solver, threads), **(options or {})},
    }
    if time_limit is not None:
        kwds["time_limit"] = float(time_limit)
    start = time.perf_counter()
    try:
        results = opt.solve(model, **kwds)
    except Exception as exc:
        if is_size_limit(exc):
            raise SizeLimitError(f"{solver}: {' '.join(str(exc).split())}") from exc
        raise
    wall = time.perf_counter() - start
    bound = results.objective_bound
    incumbent = results.incumbent_objective
    nodes = _extra(results, "NNodes")  # SCIP
    if nodes is None:
        nodes = _extra(results, "NodeCount")  # Gurobi
    has_point = incumbent is not None and load_point(results)
    return GlobalRun(
        solver=solver,
        status=solver_outcome(results),
        termination=str(getattr(results.termination_condition, "name", "")),
        bound=math.nan if bound is None else float(bound),
        incumbent=math.nan if incumbent is None else float(incumbent),
        wall_time=wall,
        nodes=None if nodes is None else int(nodes),
        has_point=has_point,
        results=results,
    )
