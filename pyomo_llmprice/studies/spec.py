"""Sweep specifications: a small YAML or JSON file, validated into tasks.

::

    base: ../instances/paper_theta_20.dat   # relative to the spec file
    setting: packages                       # or sweep it under parameters
    solver: cyipopt_direct
    ic: auto
    time_limit: 60                          # seconds per solve (optional)
    solver_options: {max_iter: 500}         # optional
    types: {grid: paper_theta}              # optional: rebuild the types (for n_types)
    mode: grid                              # grid (all combinations) or zip
    parameters:
      cost_input: [0.1, 0.125, 0.15]
      alpha: {start: 0.2, stop: 0.3, num: 5}
      cost_output: {start: 0.05, stop: 0.5, num: 4, scale: log}
      n_types: [10, 20, 40]
    outputs: [profit, revenue, max_ic_violation]

Every problem is reported as one line ``<file>: <entry>: <problem>`` by
:class:`SpecError`. Each task has a key: a hash of everything its row depends on
(the base file's bytes, the fixed settings, solver options, outputs and the task's
parameter values), so a re-run recognises the rows it can keep and recomputes the
rest. A spec of more than ``max_tasks`` tasks (default :data:`MAX_TASKS`) is refused
before any list of values is built, and Ipopt's file options (``output_file``, ...)
are refused: a sweep's workers must not write, read or load files the spec names.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyomo_llmprice.errors import UserInputError, require
from pyomo_llmprice.io import TECHNOLOGY_PARAMS
from pyomo_llmprice.plugins import DEFAULT_SOLVER
from pyomo_llmprice.settings import ic_options, setting_names
from pyomo_llmprice.solvers.config import file_options

__all__ = [
    "GRIDS",
    "MAX_TASKS",
    "OUTPUTS",
    "PARAMETERS",
    "SpecError",
    "SweepSpec",
    "SweepTask",
    "load_spec",
    "parse_spec",
]

#: tasks a spec may have unless the caller raises the cap (``llmprice sweep --max-tasks``)
MAX_TASKS = 100_000

#: type grids a sweep can rebuild (``types: {grid: ...}``) and the sizes each takes
GRIDS: dict[str, tuple[str, ...]] = {
    "paper_theta": ("n_types",),  # theta = w sqrt(s), F = 2t - t^2 (the paper's example)
    "uniform_theta": ("n_types",),  # theta ~ U[0, 1]
    "value_scale": ("n_w", "n_s"),  # w, s ~ U[0, 1] independent
}
_SIZES = ("n_types", "n_w", "n_s")
_CHOICES: dict[str, tuple[str, ...]] = {
    "setting": setting_names("llm"),
    "ic": ic_options(),
}
#: parameters a sweep may vary
PARAMETERS: tuple[str, ...] = (*TECHNOLOGY_PARAMS, *_SIZES, "setting", "solver", "ic")
#: outputs a sweep may keep (key, parameters, status and message are always kept)
OUTPUTS: tuple[str, ...] = (
    "profit",
    "revenue",
    "cost",
    "consumer_surplus",
    "welfare",
    "max_ic_violation",
    "max_ir_violation",
    "n_served",
    "n_finetuned",
    "min_markup",
    "iterations",
    "termination",
    "wall_time",
)
_KEYS = frozenset(
    {
        "base",
        "setting",
        "solver",
        "ic",
        "time_limit",
        "solver_options",
        "types",
        "mode",
        "parameters",
        "outputs",
    }
)


class SpecError(UserInputError):
    """A bad sweep spec, reported as ``<file>: <entry>: <problem>``."""

    def __init__(self, path: str | Path | None, entry: str, message: str) -> None:
        self.path = str(path) if path is not None else "<sweep spec>"
        self.entry = entry
        self.problem = " ".join(str(message).split())
        super().__init__(f"{self.path}: {entry}: {self.problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.entry, self.problem))


@dataclass(frozen=True)
class SweepTask:
    """One instance of the sweep: its key and the parameter values that define it."""

    key: str
    params: dict[str, Any]


@dataclass
class SweepSpec:
    """A validated sweep: fixed settings, parameter values and kept outputs."""

    path: str | None
    base: Path
    setting: str = "packages"
    solver: str = DEFAULT_SOLVER
    ic: str = "auto"
    time_limit: float | None = None
    solver_options: dict[str, Any] = field(default_factory=dict)
    grid: str | None = None
    mode: str = "grid"
    parameters: dict[str, list[Any]] = field(default_factory=dict)
    outputs: tuple[str, ...] = OUTPUTS
    #: SHA-256 of the base file's bytes when the spec was read ("" = hash on demand)
    base_sha256: str = ""

    def tasks(self) -> list[SweepTask]:
        """All combinations (``grid``) or the aligned values (``zip``), keyed by content."""
        names = list(self.parameters)
        values = [self.parameters[n] for n in names]
        combos = itertools.product(*values) if self.mode == "grid" else zip(*values, strict=True)
        out = []
        for combo in combos:
            params = dict(zip(names, combo, strict=True))
            out.append(SweepTask(task_key(self.fixed(), params), params))
        return out

    def fixed(self) -> dict[str, Any]:
        """What every task shares, all of it part of each key: an edited base file,
        other solver options or other outputs make the stored rows stale (recomputed).
        The base enters by content, not by path: a moved file keeps its rows."""
        return {
            "base_sha256": self.base_sha256 or file_sha256(self.base),
            "outputs": list(self.outputs),
            "setting": self.setting,
            "solver": self.solver,
            "ic": self.ic,
            "time_limit": self.time_limit,
            "solver_options": self.solver_options,
            "grid": self.grid,
        }


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (a comment edited in the base counts as a change:
    the cheap, conservative choice over hashing the parsed instance)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def task_key(fixed: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """A short stable hash of everything that determines a task's result."""
    text = json.dumps({"fixed": fixed, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: str | Path, max_tasks: int = MAX_TASKS) -> SweepSpec:
    """Read and validate a ``.yaml``/``.yml`` or ``.json`` sweep spec of at most
    `max_tasks` tasks."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "file", f"cannot read: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(path, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    else:
        yaml = require("yaml", "sweep")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "file"
            problem = getattr(exc, "problem", None) or str(exc)
            raise SpecError(path, where, f"invalid YAML: {problem}") from None
    return parse_spec(data, path, max_tasks=max_tasks)


def parse_spec(data: Any, path: str | Path | None = None, max_tasks: int = MAX_TASKS) -> SweepSpec:
    """Validate the parsed document; relative ``base`` paths start at the spec's folder.

    More than `max_tasks` tasks (or range points) is refused up front: a typo such
    as ``num: 100000000`` would otherwise build the list and hang without a word.
    """
    if not isinstance(data, Mapping):
        raise SpecError(path, "file", "the spec must be a mapping of keys to values")
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        raise SpecError(
            path, unknown[0], f"unknown key; expected one of {', '.join(sorted(_KEYS))}"
        )
    if "base" not in data:
        raise SpecError(path, "base", "missing: the base instance (.dat file) is required")
    base = Path(str(data["base"]))
    if not base.is_absolute() and path is not None:
        base = Path(path).resolve().parent / base
    if not base.is_file():
        raise SpecError(path, "base", f"no such instance file: {base}")
    try:
        digest = file_sha256(base)
    except OSError as exc:
        raise SpecError(path, "base", f"cannot read {base}: {exc.strerror or exc}") from None
    spec = SweepSpec(path=None if path is None else str(path), base=base, base_sha256=digest)
    for name in ("setting", "ic"):
        if name in data:
            setattr(spec, name, _choice(data[name], _CHOICES[name], path, name))
    if "solver" in data:
        spec.solver = _text(data["solver"], path, "solver")
    if data.get("time_limit") is not None:
        spec.time_limit = _number(data["time_limit"], path, "time_limit")
        if spec.time_limit <= 0:
            raise SpecError(path, "time_limit", "must be positive (seconds)")
    if data.get("solver_options") is not None:
        opts = data["solver_options"]
        if not isinstance(opts, Mapping):
            raise SpecError(path, "solver_options", "must be a mapping of option names to values")
        spec.solver_options = {str(k): v for k, v in opts.items()}
        for name in file_options(spec.solver_options):
            raise SpecError(
                path,
                f"solver_options.{name}",
                "names a file; Ipopt's file options (output_file, option_file_name, hsllib, "
                "pardisolib) are refused in sweep specs: workers would write, read or load it",
            )
    spec.mode = _choice(data.get("mode", "grid"), ("grid", "zip"), path, "mode")
    spec.grid = _grid(data.get("types"), path)
    spec.parameters = _parameters(data.get("parameters"), spec, path, max_tasks)
    _check_size(spec, path, max_tasks)
    spec.outputs = _outputs(data.get("outputs"), path)
    return spec


def _text(value: Any, path: Any, entry: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(path, entry, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _choice(value: Any, choices: tuple[str, ...], path: Any, entry: str) -> str:
    if value not in choices:
        raise SpecError(path, entry, f"must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _number(value: Any, path: Any, entry: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(path, entry, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(path, entry, f"must be finite, got {value!r}")
    return float(value)


def _grid(types: Any, path: Any) -> str | None:
    if types is None:
        return None
    if not isinstance(types, Mapping) or set(types) != {"grid"}:
        raise SpecError(path, "types", f"must be {{grid: NAME}} with NAME in {', '.join(GRIDS)}")
    return _choice(types["grid"], tuple(GRIDS), path, "types.grid")


def _check_size(spec: SweepSpec, path: Any, max_tasks: int) -> None:
    """Refuse a sweep of more than `max_tasks` tasks, counted before they are built."""
    sizes = [len(v) for v in spec.parameters.values()]
    total = math.prod(sizes) if spec.mode == "grid" else max(sizes, default=0)
    if total > max_tasks:
        shape = " x ".join(map(str, sizes)) if spec.mode == "grid" else "zip"
        raise SpecError(
            path,
            "parameters",
            f"{total:,} tasks ({shape}), more than the {max_tasks:,} allowed; "
            "raise --max-tasks (max_tasks=) to run it",
        )


def _values(raw: Any, path: Any, entry: str, max_tasks: int = MAX_TASKS) -> list[Any]:
    """A list of values, or a range ``{start, stop, num[, scale: linear|log]}``."""
    if isinstance(raw, Mapping):
        extra = sorted(set(raw) - {"start", "stop", "num", "scale"})
        if extra:
            raise SpecError(
                path, f"{entry}.{extra[0]}", "unknown range key (start, stop, num, scale)"
            )
        for key in ("start", "stop", "num"):
            if key not in raw:
                raise SpecError(path, entry, f"a range needs start, stop and num; {key} is missing")
        start = _number(raw["start"], path, f"{entry}.start")
        stop = _number(raw["stop"], path, f"{entry}.stop")
        num = raw["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise SpecError(path, f"{entry}.num", f"must be a positive integer, got {num!r}")
        if num > max_tasks:  # refused before numpy allocates the points
            raise SpecError(
                path,
                f"{entry}.num",
                f"{num:,} points, more than the {max_tasks:,} tasks allowed; "
                "raise --max-tasks (max_tasks=) to run it",
            )
        scale = _choice(raw.get("scale", "linear"), ("linear", "log"), path, f"{entry}.scale")
        if scale == "log":
            if start <= 0 or stop <= 0:
                raise SpecError(path, entry, "a log range needs positive start and stop")
            return [float(v) for v in np.geomspace(start, stop, num)]
        return [float(v) for v in np.linspace(start, stop, num)]
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise SpecError(path, entry, "no values")
        return list(raw)
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        return [raw]
    raise SpecError(path, entry, f"must be a list of values or a range mapping, got {raw!r}")


def _parameters(
    raw: Any, spec: SweepSpec, path: Any, max_tasks: int = MAX_TASKS
) -> dict[str, list[Any]]:
    if raw is None:
        raise SpecError(path, "parameters", "missing: at least one parameter to sweep")
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(path, "parameters", "must be a non-empty mapping of names to values")
    out: dict[str, list[Any]] = {}
    for name, values_raw in raw.items():
        name = str(name)
        entry = f"parameters.{name}"
        if name not in PARAMETERS:
            raise SpecError(path, entry, f"unknown parameter; sweepable: {', '.join(PARAMETERS)}")
        values = _values(values_raw, path, entry, max_tasks)
        if name in _CHOICES:
            values = [_choice(v, _CHOICES[name], path, entry) for v in values]
        elif name == "solver":
            values = [_text(v, path, entry) for v in values]
        elif name in _SIZES:
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
                    raise SpecError(path, entry, f"sizes must be positive integers, got {v!r}")
            values = [int(v) for v in values]
            if spec.grid is None:
                raise SpecError(
                    path, entry, "sizes need a type grid to rebuild: add types: {grid: NAME}"
                )
            if name not in GRIDS[spec.grid]:
                raise SpecError(
                    path,
                    entry,
                    f"grid {spec.grid} takes {', '.join(GRIDS[spec.grid])}, not {name}",
                )
        else:
            values = [_number(v, path, entry) for v in values]
        if len(set(map(repr, values))) != len(values):
            raise SpecError(path, entry, "repeated values (each task would run twice)")
        out[name] = values
    if spec.mode == "zip" and len({len(v) for v in out.values()}) > 1:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in out.items())
        raise SpecError(path, "mode", f"zip needs equally many values per parameter ({sizes})")
    return out


def _outputs(raw: Any, path: Any) -> tuple[str, ...]:
    if raw is None:
        return OUTPUTS
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpecError(path, "outputs", "must be a non-empty list of output names")
    for name in raw:
        if name not in OUTPUTS:
            raise SpecError(path, f"outputs.{name}", f"unknown output; known: {', '.join(OUTPUTS)}")
    return tuple(dict.fromkeys(raw))
