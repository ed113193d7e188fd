"""Instance files: the public ``.dat`` format, read through Pyomo's own DataPortal.

The CLI and ``pyomo solve models/<x>.py file.dat`` share one path: both declare the
format on an AbstractModel with :func:`declare_instance_components`, construct it
from the file, and turn the constructed components into an :class:`Instance` with
:func:`instance_from_model`, which validates every entry. :func:`read_instance`
additionally checks the file before Pyomo sees it (syntax, names, indices), so that
every problem is reported as one line ``<file>: <entry>: <problem>`` by
:class:`InstanceError` instead of a Pyomo traceback.

The format (AMPL-like; any of Pyomo's ``set``/``param`` layouts is accepted)::

    # header comment lines: source, units, assumptions (kept as Instance.notes)
    set TYPES := low mid high ;
    param prob := low 0.5 mid 0.3 high 0.2 ;
    # exactly one type description:
    param theta := low 0.2 mid 0.5 high 0.9 ;                      # bare index, or
    param : value_per_task scale := low 0.2 1 mid 0.5 0.5 ... ;    # value-scale, or
    set TASKS := coding chat ;                                     # labeled tasks
    param task_measure := coding 0.6 chat 0.4 ;
    param value : coding chat := low 0.1 0.3  mid 0.5 0  high 0.9 0.8 ;
    # technology (all required) and the scale constraint (optional, default 1):
    param alpha := 0.25 ;  param beta := 0.25 ;  param gamma := 0.25 ;
    param base_quality := 1 ;
    param cost_input := 0.125 ;  param cost_output := 0.125 ;  param cost_finetune := 0.125 ;
    param scale_constraint := 1 ;

Decisions: probabilities off by more than 1e-6 are refused, never silently
rescaled (``renormalize=True`` asks for it); sums within 1e-6 but not 1e-9 are
rounding and are rescaled. Duplicate type labels are an error (Pyomo would drop
them silently); identical descriptions under different labels are allowed but
raise an :class:`InstanceWarning`, since those types' menu bundles are not unique.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.log import LoggingIntercept
from pyomo.dataportal import parse_datacmds

from pyomo_llmprice.instance import (
    NO_FILE,
    Instance,
    InstanceError,
    InstanceWarning,
    ScreeningInstance,
)
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import PROB_TOL, TypeSet

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

SETS: tuple[str, ...] = ("TYPES", "TASKS")
TECHNOLOGY_PARAMS: tuple[str, ...] = (
    "alpha",
    "beta",
    "gamma",
    "base_quality",
    "cost_input",
    "cost_output",
    "cost_finetune",
)
TYPE_PARAMS: tuple[str, ...] = ("prob", "theta", "value_per_task", "scale")
PARAMS: tuple[str, ...] = (
    *TYPE_PARAMS,
    "task_measure",
    "value",
    *TECHNOLOGY_PARAMS,
    "scale_constraint",
)
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "theta": ("theta",),
    "value_scale": ("value_per_task", "scale"),
    "tasks": ("TASKS", "task_measure", "value"),
}
"""The three type descriptions and the components each needs; a file gives exactly one."""

_SCALARS = frozenset((*TECHNOLOGY_PARAMS, "scale_constraint"))
#: params indexed by type and a second set (tasks)
_MATRICES = frozenset(("value",))
_ALWAYS_GIVEN = frozenset(("TYPES", "DIMS", "scale_constraint"))
"""Components :func:`_model_data` gives even when empty (left to the checks to refuse)."""

PROB_SUM_TOL = 1e-6
"""Probabilities must sum to 1 within this tolerance (beyond it: an error)."""


# -- the AbstractModel declaration (shared with models/*.py) ------------------------


def declare_instance_components(model: pyo.AbstractModel) -> None:
    """Declare the public format on `model`; everything is ``within=Any`` on purpose.

    Domain checks are left to :func:`instance_from_model`, so that problems are
    reported by our messages rather than Pyomo's. Optional components are sparse
    (no default) so an omitted one is recognisable; ``scale_constraint`` defaults to 1.
    A model built on this calls :func:`instance_from_model` in its construction rule.
    """
    model.TYPES = pyo.Set(ordered=pyo.Set.InsertionOrder, dimen=1, doc="buyer types")
    model.TASKS = pyo.Set(ordered=pyo.Set.InsertionOrder, dimen=1, doc="labeled task categories")
    model.prob = pyo.Param(model.TYPES, within=pyo.Any, doc="probability of each type")
    model.theta = pyo.Param(model.TYPES, within=pyo.Any, doc="one-dimensional type index")
    model.value_per_task = pyo.Param(model.TYPES, within=pyo.Any, doc="value-scale: w")
    model.scale = pyo.Param(model.TYPES, within=pyo.Any, doc="value-scale: s (task measure)")
    model.task_measure = pyo.Param(model.TASKS, within=pyo.Any, doc="measure mu_j of each task")
    model.value = pyo.Param(
        model.TYPES, model.TASKS, within=pyo.Any, doc="value of precision per task"
    )
    for name in TECHNOLOGY_PARAMS:
        setattr(model, name, pyo.Param(within=pyo.Any, doc=f"technology: {name}"))
    model.scale_constraint = pyo.Param(
        within=pyo.Any, default=1, doc="1: a contract covers a scale s' (Token Allocations)"
    )


def _model_data(
    model: pyo.Block,
    where: str,
    sets: tuple[str, ...] = SETS,
    params: tuple[str, ...] = PARAMS,
    declare: str = "declare_instance_components",
) -> dict[str, dict[Any, Any]]:
    """The constructed components as raw data, in the same shape DataPortal produces.

    `sets`/`params` and `declare` name the format (default: the LLM one). An empty
    set is left out unless it is one of :data:`_ALWAYS_GIVEN` (TYPES, DIMS), as is an
    optional param without data; ``scale_constraint`` (it has a default) is always given.
    """
    data: dict[str, dict[Any, Any]] = {}
    for name in (*sets, *params):
        comp = getattr(model, name, None)
        if comp is None:
            raise InstanceError(
                where, name, f"the model does not declare this component (call {declare})"
            )
        if name in sets:
            members = list(comp)
            if members or name in _ALWAYS_GIVEN:
                data[name] = {None: members}
        elif name in _ALWAYS_GIVEN:
            data[name] = {None: comp.value}
        elif comp.is_indexed():
            if len(comp):
                data[name] = dict(comp.sparse_items())
        elif len(comp):
            data[name] = {None: comp.value}
    return data


def instance_from_model(
    model: pyo.Block,
    path: str | Path | None = None,
    *,
    renormalize: bool = False,
    notes: str | None = None,
) -> Instance:
    """Validate a constructed model's instance components and return the Instance.

    `path` names the source in messages; the header comment of that file becomes
    the notes unless `notes` is given.
    """
    where = str(path) if path is not None else NO_FILE
    data = _model_data(model, where)
    if notes is None:
        notes = _header_of(path) if path is not None else ""
    name = Path(path).stem if path is not None else str(model.name)
    return _instance_from_data(
        data, where, name=name, path=path, notes=notes, renormalize=renormalize
    )


def validated_dataportal(options: Any, model: pyo.Block | None = None) -> pyo.DataPortal:
    """A ``pyomo_create_dataportal`` hook: check the data files before Pyomo reads them.

    ``pyomo solve`` calls this hook (when a model file defines it) before it builds
    the instance from the ``.dat`` file itself, so :func:`read_instance` can refuse a
    bad file with its one-line message naming the file; in a model file write
    ``pyomo_create_dataportal = validated_dataportal``. Returns an empty DataPortal,
    which Pyomo fills from the files as usual.
    """
    for name in options.data.files or ():
        if str(name).lower().endswith(".dat"):
            read_instance(name)
    return pyo.DataPortal()


# -- reading ----------------------------------------------------------------------


def read_instance(path: str | Path, *, renormalize: bool = False) -> Instance | ScreeningInstance:
    """Read, validate and return the instance in a ``.dat`` file.

    A file that declares ``set DIMS`` or one of the screening parameters
    (``value_form``, ``cost_form``, ...) is in the generic screening format and
    gives a :class:`ScreeningInstance`. Raises :class:`InstanceError` for every
    problem; with ``renormalize=True`` probabilities that do not sum to 1 are
    rescaled instead of refused.
    """
    where = str(path)
    text = _read_text(path)
    commands = _parse(text, where)
    if _is_screening(commands):
        return _read_screening(path, text, commands, renormalize)
    _check_commands(commands, where)
    model = pyo.AbstractModel(name=Path(path).stem)
    declare_instance_components(model)
    portal = _load_portal(
        model,
        where,
        lambda raw: _instance_from_data(
            raw, where, name="", path=path, notes="", renormalize=renormalize, warn=False
        ),
    )
    # Our checks on the raw data first, so that Pyomo never reports a problem itself.
    _instance_from_data(
        portal.data(),
        where,
        name=model.name,
        path=path,
        notes="",
        renormalize=renormalize,
        warn=False,
    )
    try:
        with LoggingIntercept():
            concrete = model.create_instance(portal)
    except Exception as exc:
        raise InstanceError(
            where, "data", f"Pyomo could not build the instance: {_one_line(exc)}"
        ) from None
    return instance_from_model(concrete, path, renormalize=renormalize, notes=_header(text))


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstanceError(path, "file", "no such file") from None
    except IsADirectoryError:
        raise InstanceError(path, "file", "is a directory, not a .dat file") from None
    except UnicodeDecodeError as exc:
        raise InstanceError(
            path, "file", f"not a UTF-8 text file ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise InstanceError(path, "file", f"cannot read: {exc.strerror or exc}") from None


def _header(text: str) -> str:
    """The leading ``#`` comment lines (source, units, assumptions) without the ``#``."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line.startswith("#"):
            if line.strip() or lines:
                break
            continue
        body = line[1:]
        lines.append(body[1:] if body.startswith(" ") else body)
    return "\n".join(lines)


def _header_of(path: str | Path) -> str:
    try:
        return _header(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _reset_lexer() -> None:
    # Pyomo's dat lexer is module-global and never resets its line counter, so
    # line numbers in syntax errors grow with every file parsed in a process.
    if parse_datacmds.dat_lexer is not None:
        parse_datacmds.dat_lexer.lineno = 1


_SYNTAX = re.compile(
    r"Syntax error at token '(?P<tok>[^']*)' with value '(?P<val>.*)' "
    r"\(line (?P<line>\d+), column (?P<col>\d+)\)",
    re.S,
)
_LEXER = re.compile(r"Token \S+ Value (?P<val>.*) Line \d+ Column (?P<pos>\d+)\s*$", re.S)


def _parse(text: str, where: str) -> list[list[Any]]:
    """Pyomo's own parse of the file, with its errors rephrased as one line."""
    try:
        _reset_lexer()
        parsed = parse_datacmds.parse_data_commands(data=text)
    except Exception as exc:
        raise _syntax_error(exc, text, where) from None
    if parsed is None:
        parsed = {None: []}
    spaces = [ns for ns in parsed if ns is not None]
    if spaces:
        raise InstanceError(
            where, f"namespace {spaces[0]}", "namespaces are not part of the format"
        )
    commands = parsed[None]
    if not commands:
        raise InstanceError(where, "file", "no 'set' or 'param' statements (empty or all comments)")
    return commands


_SHAPE = re.compile(
    r"Parameter '(?P<name>[^']+)' defined with '(?P<dim>\d+)' dimensions, "
    r"but data has '(?P<count>\d+)' values"
)


def _load_portal(
    model: pyo.AbstractModel, where: str, check_raw: Callable[[dict[str, Any]], object]
) -> pyo.DataPortal:
    """Load the file into a DataPortal for `model`, every Pyomo failure rephrased.

    On failure the file is read again without the model and given to `check_raw`
    (the format's semantic checks), which usually names the entry Pyomo choked on.
    """
    portal = pyo.DataPortal(model=model)
    try:
        _reset_lexer()
        portal.load(filename=where)
    except Exception as exc:  # Pyomo raises many kinds here; rephrase them all.
        raw = _lenient_data(where)
        if raw is not None:
            check_raw(raw)
        shape = _SHAPE.search(str(exc))
        if shape:
            raise InstanceError(
                where,
                shape["name"],
                f"{shape['count']} data tokens do not form complete entries of {shape['dim']} "
                "label(s) and a value: is a label or a value missing?",
            ) from None
        raise InstanceError(where, "data", f"cannot interpret the data: {_one_line(exc)}") from None
    return portal


def _lenient_data(where: str) -> dict[str, Any] | None:
    """The file's data read without the model (lenient about shapes), or None."""
    try:
        _reset_lexer()
        portal = pyo.DataPortal()
        portal.load(filename=where)
        return portal.data()
    except Exception:
        return None


def _syntax_error(exc: Exception, text: str, where: str) -> InstanceError:
    msg = str(exc)
    if isinstance(exc, OverflowError):  # Pyomo's lexer turns 1e999 into int(inf)
        for match in re.finditer(parse_datacmds._re_number, text):
            if math.isinf(float(match[0])):
                pos = match.start()
                line = text.count("\n", 0, pos) + 1
                col = pos - (text.rfind("\n", 0, pos) + 1) + 1
                return InstanceError(
                    where, f"line {line}, column {col}", f"number out of range: {match[0]!r}"
                )
    if "end of file" in msg:
        return InstanceError(
            where,
            "end of file",
            "syntax error: the file ends inside a statement (truncated, or a missing ';')",
        )
    match = _SYNTAX.search(msg)
    if match:
        val = match["val"] if len(match["val"]) <= 40 else match["val"][:37] + "..."
        hint = (
            " (is a ';' missing before it?)" if match["tok"] in ("COLONEQ", "PARAM", "SET") else ""
        )
        return InstanceError(
            where, f"line {match['line']}, column {match['col']}", f"syntax error at {val!r}{hint}"
        )
    match = _LEXER.search(msg)
    if match:
        pos = int(match["pos"])
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = match["val"][:1]
        return InstanceError(
            where, f"line {line}, column {col}", f"syntax error: unexpected character {char!r}"
        )
    return InstanceError(where, "syntax", f"cannot parse: {_one_line(exc)}")


def _declared(command: list[Any]) -> list[tuple[str, str]]:
    """(kind, name) of every component a parsed statement gives data for."""
    kind = command[0]
    if kind == "set":
        return [("set", str(command[1]).rstrip("["))] if len(command) > 1 else []
    if len(command) > 1 and command[1] == ":":
        tokens = command[2 : command.index(":=")] if ":=" in command else command[2:]
        out = []
        if ":" in tokens:  # ``param : SET : p q := ...`` also gives the set
            cut = tokens.index(":")
            out += [("set", str(t)) for t in tokens[:cut]]
            tokens = tokens[cut + 1 :]
        return out + [("param", str(t)) for t in tokens]
    return [("param", str(command[1]))] if len(command) > 1 else []


def _check_commands(
    commands: list[list[Any]],
    where: str,
    sets: tuple[str, ...] = SETS,
    params: tuple[str, ...] = PARAMS,
    scalars: frozenset[str] = _SCALARS,
    matrices: frozenset[str] = _MATRICES,
) -> None:
    """Only known set/param names, each declared once and with the right keyword, and
    no entry given twice within a statement."""
    known = {**{n: "set" for n in sets}, **{n: "param" for n in params}}
    seen: set[str] = set()
    repeated_members = any(
        c[0] == "set"
        and ":=" in c
        and len(set(map(str, c[c.index(":=") + 1 :]))) < len(c) - c.index(":=") - 1
        for c in commands
    )
    for command in commands:
        kind = command[0]
        if kind not in ("set", "param"):
            raise InstanceError(
                where, str(kind), "unsupported statement: the format has only 'set' and 'param'"
            )
        _check_data_part(command, where)
        if not repeated_members:  # a set's own repeat is named by the set's check
            _check_repeated_entries(command, where, matrices)
        declared = _declared(command)
        for decl_kind, name in declared:
            if name in scalars and (len(declared) > 1 or len(command) != 4 or command[2] != ":="):
                raise InstanceError(
                    where, name, f"expects a single value (e.g. 'param {name} := 0.25 ;')"
                )
            if name not in known:
                raise InstanceError(
                    where, name, f"unknown {decl_kind}{_suggest(name, (*sets, *params))}"
                )
            if known[name] != decl_kind:
                raise InstanceError(
                    where, name, f"is a {known[name]}, declare it with '{known[name]} {name}'"
                )
            if name in seen:
                raise InstanceError(where, name, "given twice")
            seen.add(name)


def _check_repeated_entries(command: list[Any], where: str, matrices: frozenset[str]) -> None:
    """Refuse a param entry given twice in one statement (``a 0.4 b 0.8 a 0.9``, or a
    table's row repeated): Pyomo's reader keeps the last value without a word. Indexed
    params are by type (one label per entry), or by type and a second set (`matrices`),
    in flat ``t j v`` triples or as a table with the second set's labels as columns."""
    if command[0] != "param" or ":=" not in command:
        return
    cut = command.index(":=")
    head, data = command[1:cut], command[cut + 1 :]
    if head and head[0] == ":":  # ``param : [SET :] p q := row ...``: one row per type
        names = head[1:]
        if ":" in names:  # the rows declare the set: a repeat is the set's to name
            return
        width, label_width, entry = 1 + len(names), 1, ", ".join(map(str, names))
    elif len(head) > 2 and head[1] == ":":  # ``param v : c1 c2 := t x y ...``
        width, label_width, entry = len(head) - 1, 1, str(head[0])
    elif len(head) == 1 and len(data) > 1:  # ``param p := t v ...`` or ``t j v ...``
        label_width = 2 if str(head[0]) in matrices else 1
        width, entry = label_width + 1, str(head[0])
    else:
        return
    if len(data) % width:
        return  # a malformed table: Pyomo's reader names it
    seen: set[tuple[str, ...]] = set()
    for start in range(0, len(data), width):
        # as written: labels that read as one number (1 and 1.0) are the TYPES check's
        key = tuple(str(label) for label in data[start : start + label_width])
        if key in seen:
            label = " ".join(map(str, key))
            raise InstanceError(where, entry, f"entry {label!r} given twice")
        seen.add(key)


def _check_data_part(command: list[Any], where: str) -> None:
    """Refuse what Pyomo's reader fails on with ``list index out of range`` (no data
    after ``:=``) or quietly ignores (a ``default`` value: types left out would get
    it, which the format never relies on), naming the statement's entry."""
    if command[0] != "param":
        return
    head = command[1 : command.index(":=")] if ":=" in command else command[1:]
    names = [name for _, name in _declared(command) if name != "default"]
    entry = names[0] if names else "param"
    if "default" in head:
        raise InstanceError(
            where,
            entry,
            "'default' is not part of the format: give every type its value "
            f"(e.g. 'param {entry} := low 0.5 high 0.5 ;')",
        )
    if command[-1] == ":=":
        if "TYPES" in names or ("set", "TYPES") in _declared(command):
            raise InstanceError(where, "TYPES", "empty: declare at least one type")
        raise InstanceError(where, entry, "no values after ':='")


def _suggest(name: str, names: tuple[str, ...] = (*SETS, *PARAMS)) -> str:
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{lower[close[0]]}'?)"
    return f"; known names: {', '.join(names)}"


# -- validation of raw data (shared by both paths) ----------------------------------


def _reject_unknown(data: Mapping[str, Any], names: tuple[str, ...], where: str) -> None:
    unknown = [k for k in data if k not in names]
    if unknown:
        raise InstanceError(
            where, str(unknown[0]), f"unknown name{_suggest(str(unknown[0]), names)}"
        )


def _number(value: Any, where: str, entry: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise InstanceError(where, entry, f"not a number: {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InstanceError(where, entry, f"not a finite number: {value!r}")
    return out


def _label(value: Any, where: str, entry: str) -> str:
    if isinstance(value, tuple) or value is None:
        raise InstanceError(where, entry, f"a label must be a single word, got {value!r}")
    return str(value)


def _members(data: Mapping[str, Any], name: str, where: str, what: str) -> tuple[str, ...]:
    raw = data[name]
    if set(raw) != {None}:
        raise InstanceError(where, name, "indexed sets are not part of the format")
    values = list(raw[None])
    labels = [_label(v, where, name) for v in values]
    # Pyomo reads 1 and 1.0 as equal numbers: one key for both, so compare values
    seen: dict[Any, str] = {}
    for value, lab in zip(values, labels, strict=True):
        if value in seen:
            first = seen[value]
            if first != lab:
                raise InstanceError(
                    where,
                    name,
                    f"duplicate {what}: labels {first!r} and {lab!r} read as the same number "
                    f"{float(value):g}; write labels as words (e.g. t1 and t2)",
                )
            raise InstanceError(where, name, f"duplicate {what} {lab!r}")
        seen[value] = lab
    if not labels:
        raise InstanceError(where, name, f"empty: declare at least one {what}")
    return tuple(labels)


def _scalar(data: Mapping[str, Any], name: str, where: str) -> float:
    if name not in data:
        example = {"base_quality": 1, "scale_constraint": 1}.get(name, 0.25)
        if name.startswith("cost_"):
            example = 0.125
        raise InstanceError(where, name, f"missing (e.g. 'param {name} := {example} ;')")
    raw = data[name]
    if set(raw) != {None}:
        raise InstanceError(
            where,
            name,
            f"expects a single value (e.g. 'param {name} := 0.25 ;'), "
            "got several or indexed entries",
        )
    return _number(raw[None], where, name)


def _flag(data: Mapping[str, Any], name: str, where: str) -> bool:
    """A 0/1 switch, true when omitted."""
    if name not in data:
        return True
    flag = _scalar(data, name, where)
    if flag not in (0.0, 1.0):
        raise InstanceError(where, name, f"must be 0 or 1, got {flag!r}")
    return flag == 1.0


def _indexed(
    data: Mapping[str, Any], name: str, index: tuple[str, ...], where: str, what: str
) -> np.ndarray:
    """Values of a one-index param, checked to cover exactly `index`."""
    raw = data[name]
    if None in raw:
        raise InstanceError(
            where,
            name,
            f"expects one value per {what} (e.g. 'param {name} := "
            f"{index[0]} 0.5 ... ;'), got a single value",
        )
    values: dict[str, float] = {}
    allowed = set(index)
    for key, val in raw.items():
        if isinstance(key, tuple):
            raise InstanceError(where, name, f"expects one index (a {what}), got {key!r}")
        lab = str(key)
        if lab not in allowed:
            home = "TYPES" if what == "type" else "TASKS"
            raise InstanceError(where, f"{name}[{lab}]", f"{what} {lab!r} is not in {home}")
        values[lab] = _number(val, where, f"{name}[{lab}]")
    missing = [lab for lab in index if lab not in values]
    if missing:
        raise InstanceError(
            where,
            name,
            f"no value for {what} {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
        )
    return np.array([values[lab] for lab in index])


def _matrix(
    raw: Mapping[Any, Any],
    name: str,
    rows: tuple[str, ...],
    cols: tuple[str, ...],
    where: str,
    *,
    col_what: str,
    col_home: str,
    how: str = "",
) -> np.ndarray:
    """Values of a (type, `col_what`) param, checked to cover exactly `rows` x `cols`.

    `how` (e.g. ``" (e.g. 'param ...')"``) follows the message for a wrongly indexed entry.
    """
    row = {lab: i for i, lab in enumerate(rows)}
    col = {lab: j for j, lab in enumerate(cols)}
    out = np.full((len(rows), len(cols)), np.nan)
    for key, val in raw.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InstanceError(
                where, name, f"expects entries indexed by (type, {col_what}), got {key!r}{how}"
            )
        i, j = str(key[0]), str(key[1])
        entry = f"{name}[{i},{j}]"
        if i not in row:
            raise InstanceError(where, entry, f"type {i!r} is not in TYPES")
        if j not in col:
            raise InstanceError(where, entry, f"{col_what} {j!r} is not in {col_home}")
        out[row[i], col[j]] = _number(val, where, entry)
    gaps = np.argwhere(np.isnan(out))
    if len(gaps):
        i, j = gaps[0]
        where_j = "on task" if col_what == "task" else f"in {col_what}"
        raise InstanceError(
            where,
            name,
            f"no value for type {rows[i]!r} {where_j} {cols[j]!r}"
            + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""),
        )
    return out


def _nonneg(
    arr: np.ndarray, labels: Iterable[str], name: str, where: str, what: str = "value"
) -> None:
    for lab, v in zip(labels, arr, strict=True):
        if v < 0:
            raise InstanceError(where, f"{name}[{lab}]", f"negative {what} {float(v)!r}")


def _description(data: Mapping[str, Any], where: str) -> str:
    given = {kind: [c for c in comps if c in data] for kind, comps in DESCRIPTIONS.items()}
    present = [kind for kind, comps in given.items() if comps]
    if not present:
        raise InstanceError(
            where,
            "type description",
            "missing: give theta[TYPES]; or value_per_task[TYPES] "
            "and scale[TYPES]; or TASKS, task_measure[TASKS] and value[TYPES,TASKS]",
        )
    if len(present) > 1:
        names = "; ".join("/".join(given[k]) for k in present)
        raise InstanceError(where, "type description", f"several given ({names}); give exactly one")
    kind = present[0]
    for comp in DESCRIPTIONS[kind]:
        if comp not in data:
            others = ", ".join(c for c in DESCRIPTIONS[kind] if c != comp)
            raise InstanceError(where, comp, f"missing (needed together with {others})")
    return kind


def _instance_from_data(
    data: Mapping[str, Any],
    where: str,
    *,
    name: str,
    path: str | Path | None,
    notes: str,
    renormalize: bool,
    warn: bool = True,
) -> Instance:
    """Every semantic check of the format, on data shaped like ``DataPortal.data()``."""
    _reject_unknown(data, (*SETS, *PARAMS), where)
    if "TYPES" not in data:
        raise InstanceError(where, "TYPES", "missing (e.g. 'set TYPES := low high ;')")
    types = _members(data, "TYPES", where, "type")
    if "prob" not in data:
        raise InstanceError(where, "prob", "missing (one probability per type)")
    prob = _probabilities(data, types, where, renormalize)

    technology = _technology(data, where)
    scale_constraint = _flag(data, "scale_constraint", where)

    kind = _description(data, where)
    fields: dict[str, Any] = {}
    if kind == "theta":
        fields["theta"] = _indexed(data, "theta", types, where, "type")
        _nonneg(fields["theta"], types, "theta", where)
    elif kind == "value_scale":
        for comp in ("value_per_task", "scale"):
            fields[comp] = _indexed(data, comp, types, where, "type")
            _nonneg(fields[comp], types, comp, where)
    else:
        tasks = _members(data, "TASKS", where, "task")
        measure = _indexed(data, "task_measure", tasks, where, "task")
        _nonneg(measure, tasks, "task_measure", where, "measure")
        if not measure.sum() > 0:
            raise InstanceError(where, "task_measure", "all task measures are zero")
        value = _matrix(
            data["value"], "value", types, tasks, where, col_what="task", col_home="TASKS"
        )
        for i, j in np.argwhere(value < 0):
            raise InstanceError(
                where, f"value[{types[i]},{tasks[j]}]", f"negative value {float(value[i, j])!r}"
            )
        fields.update(tasks=tasks, task_measure=measure, value=value)
    try:
        type_set = TypeSet(labels=types, prob=prob, kind=kind, **fields)  # type: ignore[arg-type]
    except ValueError as exc:  # our checks above should make this unreachable
        raise InstanceError(where, "types", str(exc)) from None
    if warn:
        _warn_identical(type_set, where)
    return Instance(
        name=name,
        path=str(path) if path is not None else None,
        types=type_set,
        technology=technology,
        scale_constraint=scale_constraint,
        notes=notes,
    )


def _probabilities(
    data: Mapping[str, Any], types: tuple[str, ...], where: str, renormalize: bool
) -> np.ndarray:
    """prob[TYPES]: nonnegative, summing to 1 (rounding rescaled, more refused)."""
    prob = _indexed(data, "prob", types, where, "type")
    _nonneg(prob, types, "prob", where, "probability")
    total = float(prob.sum())
    if renormalize:
        if not total > 0:
            raise InstanceError(where, "prob", "all probabilities are zero; cannot renormalize")
        return prob / total
    if abs(total - 1.0) > PROB_SUM_TOL:
        raise InstanceError(
            where,
            "prob",
            f"probabilities sum to {total:.12g}, not 1 "
            "(fix the file; from Python, read_instance(path, renormalize=True) rescales them)",
        )
    if abs(total - 1.0) > PROB_TOL:
        prob = prob / total  # rounding in the file, not a different distribution
    return prob


def _technology(data: Mapping[str, Any], where: str) -> Technology:
    vals = {name: _scalar(data, name, where) for name in TECHNOLOGY_PARAMS}
    for name in ("alpha", "beta", "gamma"):
        if not vals[name] > 0:
            raise InstanceError(
                where,
                name,
                f"must be positive (an exponent of the precision function), got {vals[name]!r}",
            )
    sigma = vals["alpha"] + vals["beta"] + vals["gamma"]
    if not sigma < 1:
        raise InstanceError(
            where, "alpha+beta+gamma", f"must be below 1 (decreasing returns), got {sigma:.12g}"
        )
    if not vals["base_quality"] > 0:
        raise InstanceError(
            where,
            "base_quality",
            f"must be positive (the base model works without "
            f"fine-tuning), got {vals['base_quality']!r}",
        )
    for name in ("cost_input", "cost_output", "cost_finetune"):
        if not vals[name] > 0:
            raise InstanceError(
                where, name, f"must be positive (a marginal token cost), got {vals[name]!r}"
            )
    return Technology.cobb_douglas(**vals)


def _warn_identical(types: TypeSet, where: str) -> None:
    if types.kind == "theta":
        rows = types.theta[:, None]  # type: ignore[index]
    elif types.kind == "value_scale":
        rows = np.column_stack([types.value_per_task, types.scale])
    else:
        rows = types.value
    first: dict[bytes, str] = {}
    for lab, row in zip(types.labels, np.asarray(rows), strict=True):
        key = row.tobytes()
        if key in first:
            warnings.warn(
                f"{where}: {lab}: same description as type {first[key]!r}; allowed, "
                "but the two types' menu bundles are not unique",
                InstanceWarning,
                stacklevel=4,
            )
            return
        first[key] = lab


# -- writing ----------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Bare words Pyomo would not read back as the same string: keywords and booleans.
_RESERVED = set(parse_datacmds.reserved) | {"True", "true", "TRUE", "False", "false", "FALSE"}


def _fmt_label(label: str) -> str:
    if "\n" in label or "\r" in label:
        raise ValueError(f"a label cannot contain a line break: {label!r}")
    if _WORD.match(label) and label not in _RESERVED:
        return label
    return '"' + label.replace('"', '""') + '"'


def _fmt_num(x: float) -> str:
    return repr(float(x))  # shortest exact round trip


def _header_lines(header: str) -> list[str]:
    lines = header.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [f"# {line}" if line else "#" for line in lines]


def _header_and_types(header: str, labels: list[str]) -> list[str]:
    """The ``#`` header (and a blank line) and ``set TYPES``, eight labels a line."""
    out: list[str] = _header_lines(header) if header else []
    if out:
        out.append("")
    out.append("set TYPES :=")
    for start in range(0, len(labels), 8):
        out.append("  " + " ".join(labels[start : start + 8]))
    out.append(";")
    return out


def technology_params(technology: Technology) -> dict[str, float]:
    """The values of :data:`TECHNOLOGY_PARAMS` of a Cobb-Douglas `technology`."""
    cd = technology.cobb_douglas_precision
    return {
        "alpha": cd.alpha,
        "beta": cd.beta,
        "gamma": cd.gamma,
        "base_quality": cd.base_quality,
        "cost_input": technology.cost_input,
        "cost_output": technology.cost_output,
        "cost_finetune": technology.cost_finetune,
    }


def format_dat(instance: Instance, header: str | None = None) -> str:
    """The public-format text of `instance`; `header` (default: its notes) becomes ``#`` lines.

    Tables (one row per type) when every label is a plain word; otherwise one
    ``label value`` pair per line, the only layout in which Pyomo reads quoted
    labels back unchanged (it converts quoted table headers such as ``"01"``).
    """
    header = instance.notes if header is None else header
    ts = instance.types
    labels = [_fmt_label(lab) for lab in ts.labels]
    tasks = [_fmt_label(t) for t in ts.tasks] if ts.tasks is not None else []
    plain = all(
        q == raw for q, raw in zip(labels + tasks, ts.labels + (ts.tasks or ()), strict=True)
    )
    width = max(len(lab) for lab in labels)
    out = _header_and_types(header, labels)
    out.append("")

    def per_type(names: list[str], columns: list[Any]) -> None:
        if plain and len(names) > 1:
            out.append(f"param : {' '.join(names)} :=")
            for i, lab in enumerate(labels):
                out.append(f"  {lab:<{width}} " + " ".join(_fmt_num(c[i]) for c in columns))
            out.extend([";", ""])
            return
        for name, column in zip(names, columns, strict=True):
            out.append(f"param {name} :=")
            out.extend(f"  {lab} {_fmt_num(v)}" for lab, v in zip(labels, column, strict=True))
            out.extend([";", ""])

    if ts.kind == "theta":
        per_type(["prob", "theta"], [ts.prob, ts.theta])
    elif ts.kind == "value_scale":
        per_type(["prob", "value_per_task", "scale"], [ts.prob, ts.value_per_task, ts.scale])
    else:
        assert ts.task_measure is not None and ts.value is not None
        per_type(["prob"], [ts.prob])
        out.append("set TASKS := " + " ".join(tasks) + " ;")
        pairs = zip(tasks, ts.task_measure, strict=True)
        out.append(
            "param task_measure := " + " ".join(f"{t} {_fmt_num(m)}" for t, m in pairs) + " ;"
        )
        out.append("")
        if plain:
            out.append(f"param value : {' '.join(tasks)} :=")
            for i, lab in enumerate(labels):
                out.append(f"  {lab:<{width}} " + " ".join(_fmt_num(v) for v in ts.value[i]))
        else:
            out.append("param value :=")
            for i, lab in enumerate(labels):
                out += [
                    f"  {lab} {t} {_fmt_num(v)}" for t, v in zip(tasks, ts.value[i], strict=True)
                ]
        out += [";", ""]

    scalars = technology_params(instance.technology)
    out += [f"param {name} := {_fmt_num(v)} ;" for name, v in scalars.items()]
    out.append(f"param scale_constraint := {int(instance.scale_constraint)} ;")
    return "\n".join(out) + "\n"


def write_dat(instance: Instance, path: str | Path, header: str | None = None) -> None:
    """Write `instance` in the public format (read back equal by :func:`read_instance`)."""
    Path(path).write_text(format_dat(instance, header), encoding="utf-8")


# -- the generic screening format ----------------------------------------------------
#
#     set TYPES := t1 t2 ... ;   param prob := t1 0.5 t2 0.5 ;
#     set DIMS := quality ;      param theta : quality := t1 1.0  t2 2.0 ;
#     param value_form := linear ;      # linear | power | saturating
#     param value_exponent := 0.5 ;     # power only, in (0, 1)
#     param value_rate := 1 ;           # saturating only, > 0
#     param cost_form := quadratic ;    # linear | quadratic
#     param cost_coef := 1 ;            # > 0
#     param nonnegative := 1 ;          # 0 or 1 (default 1): goods >= 0

SCREENING_SETS: tuple[str, ...] = ("TYPES", "DIMS")
SCREENING_PARAMS: tuple[str, ...] = (
    "prob",
    "theta",
    "value_form",
    "value_exponent",
    "value_rate",
    "cost_form",
    "cost_coef",
    "nonnegative",
)
_SCREENING_SCALARS = frozenset(SCREENING_PARAMS[2:])
_SCREENING_ONLY = frozenset(("DIMS", *_SCREENING_SCALARS))
VALUE_FORMS: tuple[str, ...] = ("linear", "power", "saturating")
COST_FORMS: tuple[str, ...] = ("linear", "quadratic")


def _is_screening(commands: list[list[Any]]) -> bool:
    return any(name in _SCREENING_ONLY for c in commands for _, name in _declared(c))


def declare_screening_components(model: pyo.AbstractModel) -> None:
    """Declare the generic screening format on `model` (``within=Any``: we validate)."""
    model.TYPES = pyo.Set(ordered=pyo.Set.InsertionOrder, dimen=1, doc="buyer types")
    model.DIMS = pyo.Set(ordered=pyo.Set.InsertionOrder, dimen=1, doc="type dimensions = goods")
    model.prob = pyo.Param(model.TYPES, within=pyo.Any, doc="probability of each type")
    model.theta = pyo.Param(model.TYPES, model.DIMS, within=pyo.Any, doc="type coordinates")
    for name in sorted(_SCREENING_SCALARS):
        setattr(model, name, pyo.Param(within=pyo.Any, doc=f"screening: {name}"))


def _read_screening(
    path: str | Path, text: str, commands: list[list[Any]], renormalize: bool
) -> ScreeningInstance:
    where = str(path)
    _check_commands(
        commands, where, SCREENING_SETS, SCREENING_PARAMS, _SCREENING_SCALARS, frozenset({"theta"})
    )
    model = pyo.AbstractModel(name=Path(path).stem)
    declare_screening_components(model)
    portal = _load_portal(
        model,
        where,
        lambda raw: _screening_from_data(
            raw, where, name="", path=path, notes="", renormalize=renormalize
        ),
    )
    return _screening_from_data(
        portal.data(),
        where,
        name=model.name,
        path=path,
        notes=_header(text),
        renormalize=renormalize,
    )


def screening_instance_from_model(
    model: pyo.Block, path: str | Path | None = None, *, renormalize: bool = False
) -> ScreeningInstance:
    """Validate a constructed model's screening components (the ``pyomo solve`` path)."""
    where = str(path) if path is not None else NO_FILE
    data = _model_data(
        model, where, SCREENING_SETS, SCREENING_PARAMS, "declare_screening_components"
    )
    notes = _header_of(path) if path is not None else ""
    name = Path(path).stem if path is not None else str(model.name)
    return _screening_from_data(
        data, where, name=name, path=path, notes=notes, renormalize=renormalize
    )


def _word(data: Mapping[str, Any], name: str, where: str, choices: tuple[str, ...]) -> str:
    if name not in data:
        raise InstanceError(
            where, name, f"missing (e.g. 'param {name} := {choices[0]} ;'; one of {choices})"
        )
    raw = data[name]
    if set(raw) != {None}:
        raise InstanceError(where, name, "expects a single word, got several or indexed entries")
    value = str(raw[None])
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise InstanceError(
            where, name, f"unknown form {value!r}{hint}; one of {', '.join(choices)}"
        )
    return value


def _screening_from_data(
    data: Mapping[str, Any],
    where: str,
    *,
    name: str,
    path: str | Path | None,
    notes: str,
    renormalize: bool,
) -> ScreeningInstance:
    """Every semantic check of the screening format, on ``DataPortal.data()``-shaped data."""
    _reject_unknown(data, (*SCREENING_SETS, *SCREENING_PARAMS), where)
    for comp, example in (("TYPES", "set TYPES := low high ;"), ("DIMS", "set DIMS := q ;")):
        if comp not in data:
            raise InstanceError(where, comp, f"missing (e.g. '{example}')")
    types = _members(data, "TYPES", where, "type")
    dims = _members(data, "DIMS", where, "dimension")
    if "prob" not in data:
        raise InstanceError(where, "prob", "missing (one probability per type)")
    prob = _probabilities(data, types, where, renormalize)
    if "theta" not in data:
        raise InstanceError(where, "theta", "missing (one value per type and dimension)")
    theta = _matrix(
        data["theta"],
        "theta",
        types,
        dims,
        where,
        col_what="dimension",
        col_home="DIMS",
        how=" (e.g. 'param theta : q := t1 0.5 t2 1.0 ;')",
    )

    value_form = _word(data, "value_form", where, VALUE_FORMS)
    cost_form = _word(data, "cost_form", where, COST_FORMS)
    needs = {"value_exponent": value_form == "power", "value_rate": value_form == "saturating"}
    extra: dict[str, float | None] = {}
    for param, needed in needs.items():
        if needed and param not in data:
            raise InstanceError(
                where,
                param,
                f"missing (needed by value_form {value_form}; e.g. 'param {param} := 0.5 ;')",
            )
        if not needed and param in data:
            raise InstanceError(where, param, f"not used by value_form {value_form}; remove it")
        extra[param] = _scalar(data, param, where) if needed else None
    if extra["value_exponent"] is not None and not 0 < extra["value_exponent"] < 1:
        raise InstanceError(
            where,
            "value_exponent",
            f"must be in (0, 1) (a concave value; 1 is value_form linear), "
            f"got {extra['value_exponent']!r}",
        )
    if extra["value_rate"] is not None and not extra["value_rate"] > 0:
        raise InstanceError(where, "value_rate", f"must be positive, got {extra['value_rate']!r}")
    cost_coef = _scalar(data, "cost_coef", where)
    if not cost_coef > 0:
        raise InstanceError(where, "cost_coef", f"must be positive, got {cost_coef!r}")
    nonnegative = _flag(data, "nonnegative", where)
    if not nonnegative and value_form != "linear":
        raise InstanceError(
            where,
            "nonnegative",
            f"value_form {value_form} is defined for goods >= 0 only; set nonnegative to 1",
        )
    if value_form == "linear" and cost_form == "linear":
        raise InstanceError(
            where,
            "cost_form",
            "linear value with linear cost has no interior optimum (unbounded goods); "
            "use cost_form quadratic or a concave value_form",
        )
    return ScreeningInstance(
        name=name,
        path=str(path) if path is not None else None,
        labels=types,
        prob=prob,
        dims=dims,
        theta=theta,
        value_form=value_form,
        value_exponent=extra["value_exponent"],
        value_rate=extra["value_rate"],
        cost_form=cost_form,
        cost_coef=cost_coef,
        nonnegative=nonnegative,
        notes=notes,
    )


def format_screening_dat(instance: ScreeningInstance, header: str | None = None) -> str:
    """The screening-format text of `instance` (read back equal by :func:`read_instance`)."""
    header = instance.notes if header is None else header
    labels = [_fmt_label(lab) for lab in instance.labels]
    dims = [_fmt_label(d) for d in instance.dims]
    out = _header_and_types(header, labels)
    out += ["", "param prob :="]
    out += [f"  {lab} {_fmt_num(p)}" for lab, p in zip(labels, instance.prob, strict=True)]
    out += [";", "", "set DIMS := " + " ".join(dims) + " ;", ""]
    out.append("param theta : " + " ".join(dims) + " :=")
    for lab, row in zip(labels, instance.theta, strict=True):
        out.append(f"  {lab} " + " ".join(_fmt_num(v) for v in row))
    out += [";", "", f"param value_form := {instance.value_form} ;"]
    if instance.value_exponent is not None:
        out.append(f"param value_exponent := {_fmt_num(instance.value_exponent)} ;")
    if instance.value_rate is not None:
        out.append(f"param value_rate := {_fmt_num(instance.value_rate)} ;")
    out.append(f"param cost_form := {instance.cost_form} ;")
    out.append(f"param cost_coef := {_fmt_num(instance.cost_coef)} ;")
    out.append(f"param nonnegative := {int(instance.nonnegative)} ;")
    return "\n".join(out) + "\n"


SCHEMA_READERS: dict[str, tuple[Callable[[pyo.AbstractModel], None], Callable[..., Any]]] = {
    "llm": (declare_instance_components, instance_from_model),
    "screening": (declare_screening_components, screening_instance_from_model),
}
"""Per ``.dat`` schema (:data:`pyomo_llmprice.settings.SCHEMAS`): how ``pyomo solve``
declares it on an AbstractModel and turns the constructed model into an instance."""
