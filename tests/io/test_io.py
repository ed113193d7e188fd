"""Instance files: validation messages, round trips, the shipped instances (no solver)."""

from __future__ import annotations

import importlib.util
import pickle
import re
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyomo_llmprice.instance import Instance, InstanceError, InstanceWarning
from pyomo_llmprice.io import (
    declare_instance_components,
    format_dat,
    instance_from_model,
    read_instance,
    validated_dataportal,
    write_dat,
)
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import TypeSet, labeled_tasks, theta_types, value_scale_types

INSTANCES = Path(__file__).resolve().parents[2] / "instances"

TECH = """\
param alpha := 0.25 ;
param beta := 0.25 ;
param gamma := 0.25 ;
param base_quality := 1 ;
param cost_input := 0.125 ;
param cost_output := 0.125 ;
param cost_finetune := 0.125 ;
"""

THETA = (
    """\
# A small test instance.
# Units: none.
set TYPES := lo mid hi ;
param prob := lo 0.5 mid 0.3 hi 0.2 ;
param theta := lo 0.2 mid 0.5 hi 0.9 ;
"""
    + TECH
)

VALUE_SCALE = (
    """\
set TYPES := lo mid hi ;
param : prob value_per_task scale :=
  lo  0.5 0.2 1.0
  mid 0.3 0.5 0.5
  hi  0.2 0.9 0.25
;
"""
    + TECH
)

TASKS = (
    """\
set TYPES := lo mid hi ;
param prob := lo 0.5 mid 0.3 hi 0.2 ;
set TASKS := coding chat ;
param task_measure := coding 0.6 chat 0.4 ;
param value : coding chat :=
  lo  0.1 0.3
  mid 0.5 0
  hi  0.9 0.8
;
"""
    + TECH
)


def write(tmp_path: Path, text: str, name: str = "bad.dat") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def refused(path: Path | str, **kwargs) -> InstanceError:
    with pytest.raises(InstanceError) as info:
        read_instance(path, **kwargs)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith(f"{path}: {err.entry}: ")
    return err


# -- good files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"), [(THETA, "theta"), (VALUE_SCALE, "value_scale"), (TASKS, "tasks")]
)
def test_reads_each_description(tmp_path: Path, text: str, kind: str) -> None:
    inst = read_instance(write(tmp_path, text, "good.dat"))
    assert inst.types.kind == kind
    assert inst.types.labels == ("lo", "mid", "hi")
    np.testing.assert_allclose(inst.types.prob, [0.5, 0.3, 0.2])
    assert inst.technology == Technology.cobb_douglas()
    assert inst.scale_constraint is True
    assert inst.name == "good" and inst.path == str(tmp_path / "good.dat")


def test_reads_values_and_notes(tmp_path: Path) -> None:
    inst = read_instance(write(tmp_path, THETA))
    assert inst.notes == "A small test instance.\nUnits: none."
    np.testing.assert_array_equal(inst.types.theta, [0.2, 0.5, 0.9])
    tasks = read_instance(write(tmp_path, TASKS)).types
    assert tasks.tasks == ("coding", "chat")
    np.testing.assert_array_equal(tasks.value, [[0.1, 0.3], [0.5, 0.0], [0.9, 0.8]])
    np.testing.assert_array_equal(tasks.task_measure, [0.6, 0.4])


def test_scale_constraint_flag(tmp_path: Path) -> None:
    inst = read_instance(write(tmp_path, VALUE_SCALE + "param scale_constraint := 0 ;\n"))
    assert inst.scale_constraint is False


def test_flat_two_dimensional_layout(tmp_path: Path) -> None:
    text = sub(
        TASKS,
        "param value : coding chat :=\n  lo  0.1 0.3\n  mid 0.5 0\n  hi  0.9 0.8\n;",
        "param value := lo coding 0.1 lo chat 0.3 mid coding 0.5 mid chat 0 "
        "hi coding 0.9 hi chat 0.8 ;",
    )
    flat = read_instance(write(tmp_path, text, "flat.dat"))
    assert same(flat, read_instance(write(tmp_path, TASKS, "table.dat")))


def test_probabilities_within_rounding_are_accepted(tmp_path: Path) -> None:
    text = sub(THETA, "hi 0.2 ;", "hi 0.2000003 ;")
    inst = read_instance(write(tmp_path, text))
    assert abs(inst.types.prob.sum() - 1) < 1e-12


def test_renormalize_on_request(tmp_path: Path) -> None:
    path = write(tmp_path, sub(THETA, "lo 0.5 mid 0.3 hi 0.2", "lo 5 mid 3 hi 2"))
    err = refused(path)
    assert (err.entry, err.problem) == (
        "prob",
        "probabilities sum to 10, not 1 (fix the file; from Python, "
        "read_instance(path, renormalize=True) rescales them)",
    )
    inst = read_instance(path, renormalize=True)
    np.testing.assert_allclose(inst.types.prob, [0.5, 0.3, 0.2])


def test_identical_descriptions_warn(tmp_path: Path) -> None:
    path = write(tmp_path, sub(THETA, "mid 0.5 hi 0.9", "mid 0.2 hi 0.9"))
    with pytest.warns(
        InstanceWarning, match=re.escape(f"{path}: mid: same description as type 'lo'")
    ):
        inst = read_instance(path)
    assert len(inst.types) == 3


def test_shipped_files_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in sorted(INSTANCES.glob("*.dat")):
            read_instance(path)


# -- bad files: every problem is one line naming the file and the entry ------------------

BAD_CASES = [
    # (id, text, entry, message fragment)
    (
        "truncated",
        THETA[: THETA.index("param theta") + 20],
        "end of file",
        "syntax error: the file ends inside a statement (truncated, or a missing ';')",
    ),
    (
        "missing-semicolon",
        sub(THETA, "hi 0.2 ;", "hi 0.2"),
        "line 5, column 13",
        "syntax error at ':=' (is a ';' missing before it?)",
    ),
    (
        "bad-character",
        sub(THETA, "mid 0.3", "mid @0.3"),
        "line 4, column 26",
        "syntax error: unexpected character '@'",
    ),
    (
        "misspelled",
        sub(THETA, "param alpha", "param alpah"),
        "alpah",
        "unknown param (did you mean 'alpha'?)",
    ),
    (
        "misspelled-set",
        sub(THETA, "set TYPES", "set TYPE"),
        "TYPE",
        "unknown set (did you mean 'TYPES'?)",
    ),
    ("unknown", THETA + "param zzz := 1 ;\n", "zzz", "unknown param; known names: TYPES"),
    (
        "wrong-keyword",
        sub(THETA, "set TYPES := lo mid hi ;", "param TYPES := lo mid hi ;"),
        "TYPES",
        "is a set, declare it with 'set TYPES'",
    ),
    ("given-twice", THETA + "param alpha := 0.3 ;\n", "alpha", "given twice"),
    (
        "include",
        "include other.dat ;\n" + THETA,
        "include",
        "unsupported statement: the format has only 'set' and 'param'",
    ),
    ("empty", "# only a comment\n", "file", "no 'set' or 'param' statements"),
    ("missing-types", THETA.replace("set TYPES := lo mid hi ;\n", ""), "TYPES", "missing"),
    (
        "empty-types",
        sub(THETA, "set TYPES := lo mid hi ;", "set TYPES := ;"),
        "TYPES",
        "empty: declare at least one type",
    ),
    (
        "duplicate-type",
        sub(THETA, "set TYPES := lo mid hi ;", "set TYPES := lo mid hi lo ;"),
        "TYPES",
        "duplicate type 'lo'",
    ),
    (
        "missing-prob",
        THETA.replace("param prob := lo 0.5 mid 0.3 hi 0.2 ;\n", ""),
        "prob",
        "missing (one probability per type)",
    ),
    (
        "negative-prob",
        sub(THETA, "lo 0.5 mid 0.3", "lo 0.9 mid -0.1"),
        "prob[mid]",
        "negative probability -0.1",
    ),
    ("prob-sum", sub(THETA, "hi 0.2 ;", "hi 0.1 ;"), "prob", "probabilities sum to 0.9, not 1"),
    (
        "prob-type-not-in-set",
        sub(THETA, "hi 0.2 ;", "hi 0.1 top 0.1 ;"),
        "prob[top]",
        "type 'top' is not in TYPES",
    ),
    (
        "prob-value-missing",
        sub(THETA, "hi 0.2 ;", "hi ;"),
        "prob",
        "5 data tokens do not form complete entries of 1 label(s) and a value",
    ),
    ("prob-non-numeric", sub(THETA, "mid 0.3", "mid abc"), "prob[mid]", "not a number: 'abc'"),
    (
        "prob-scalar",
        sub(THETA, "param prob := lo 0.5 mid 0.3 hi 0.2 ;", "param prob := 1 ;"),
        "prob",
        "expects one value per type",
    ),
    (
        "missing-description",
        THETA.replace("param theta := lo 0.2 mid 0.5 hi 0.9 ;\n", ""),
        "type description",
        "missing: give theta[TYPES]",
    ),
    (
        "several-descriptions",
        THETA + "param scale := lo 1 mid 1 hi 1 ;\nparam value_per_task := lo 1 mid 1 hi 1 ;\n",
        "type description",
        "several given (theta; value_per_task/scale); give exactly one",
    ),
    (
        "partial-value-scale",
        THETA.replace("param theta", "param value_per_task"),
        "scale",
        "missing (needed together with value_per_task)",
    ),
    (
        "tasks-without-value",
        TASKS[: TASKS.index("param value")] + TECH,
        "value",
        "missing (needed together with TASKS, task_measure)",
    ),
    (
        "theta-missing-type",
        sub(THETA, "mid 0.5 hi 0.9", "mid 0.5"),
        "theta",
        "no value for type 'hi'",
    ),
    ("negative-theta", sub(THETA, "mid 0.5", "mid -0.5"), "theta[mid]", "negative value -0.5"),
    ("non-finite", sub(THETA, "mid 0.5", "mid 1.5e999"), "theta[mid]", "not a finite number: inf"),
    ("overflow", sub(THETA, "mid 0.5", "mid 1e999"), "line 5", "number out of range: '1e999'"),
    (
        "negative-scale",
        sub(VALUE_SCALE, "0.9 0.25", "0.9 -0.25"),
        "scale[hi]",
        "negative value -0.25",
    ),
    (
        "negative-task-value",
        sub(TASKS, "mid 0.5 0", "mid 0.5 -1"),
        "value[mid,chat]",
        "negative value -1.0",
    ),
    (
        "value-given-twice",
        sub(TASKS, "hi  0.9 0.8\n;", "hi  0.9 0.8\n;\nparam value := lo misc 1 ;"),
        "value",
        "given twice",
    ),
    (
        "value-task-not-in-set",
        sub(
            TASKS,
            "param value : coding chat :=\n  lo  0.1 0.3\n  mid 0.5 0\n  hi  0.9 0.8\n;",
            "param value := lo coding 0.1 lo chat 0.3 "
            "mid coding 0.5 mid chat 0 hi coding 0.9 hi chat 0.8 lo misc 1 ;",
        ),
        "value[lo,misc]",
        "task 'misc' is not in TASKS",
    ),
    (
        "value-type-not-in-set",
        sub(TASKS, "  hi  0.9 0.8\n", "  hi  0.9 0.8\n  top 1 1\n"),
        "value[top,coding]",
        "type 'top' is not in TYPES",
    ),
    (
        "value-incomplete",
        sub(TASKS, "  hi  0.9 0.8\n", "  hi  0.9\n"),
        "value",
        "no value for type 'hi' on task 'chat'",
    ),
    (
        "negative-measure",
        sub(TASKS, "chat 0.4 ;", "chat -0.4 ;"),
        "task_measure[chat]",
        "negative measure -0.4",
    ),
    (
        "zero-measures",
        sub(TASKS, "coding 0.6 chat 0.4", "coding 0 chat 0"),
        "task_measure",
        "all task measures are zero",
    ),
    (
        "empty-tasks",
        sub(TASKS, "set TASKS := coding chat ;", "set TASKS := ;"),
        "TASKS",
        "empty: declare at least one task",
    ),
    (
        "missing-alpha",
        THETA.replace("param alpha := 0.25 ;\n", ""),
        "alpha",
        "missing (e.g. 'param alpha := 0.25 ;')",
    ),
    (
        "missing-cost",
        THETA.replace("param cost_finetune := 0.125 ;\n", ""),
        "cost_finetune",
        "missing",
    ),
    (
        "non-numeric-alpha",
        sub(THETA, "alpha := 0.25", "alpha := abc"),
        "alpha",
        "not a number: 'abc'",
    ),
    ("boolean-alpha", sub(THETA, "alpha := 0.25", "alpha := true"), "alpha", "not a number: True"),
    (
        "indexed-alpha",
        sub(THETA, "alpha := 0.25", "alpha := lo 0.25"),
        "alpha",
        "expects a single value",
    ),
    (
        "zero-alpha",
        sub(THETA, "alpha := 0.25", "alpha := 0"),
        "alpha",
        "must be positive (an exponent of the precision function), got 0.0",
    ),
    ("negative-gamma", sub(THETA, "gamma := 0.25", "gamma := -0.1"), "gamma", "must be positive"),
    (
        "increasing-returns",
        sub(THETA, "gamma := 0.25", "gamma := 0.5"),
        "alpha+beta+gamma",
        "must be below 1 (decreasing returns), got 1",
    ),
    (
        "zero-base-quality",
        sub(THETA, "base_quality := 1", "base_quality := 0"),
        "base_quality",
        "must be positive (the base model works without fine-tuning), got 0.0",
    ),
    (
        "zero-cost",
        sub(THETA, "cost_input := 0.125", "cost_input := 0"),
        "cost_input",
        "must be positive (a marginal token cost), got 0.0",
    ),
    (
        "negative-cost",
        sub(THETA, "cost_output := 0.125", "cost_output := -1"),
        "cost_output",
        "must be positive",
    ),
    (
        "scale-constraint",
        THETA + "param scale_constraint := 2 ;\n",
        "scale_constraint",
        "must be 0 or 1, got 2.0",
    ),
    # an entry repeated within a statement: Pyomo's reader kept the last value silently
    (
        "prob-entry-twice",
        sub(THETA, "mid 0.3 hi 0.2 ;", "mid 0.3 hi 0.2 lo 0.1 ;"),
        "prob",
        "entry 'lo' given twice",
    ),
    (
        "theta-entry-twice",
        sub(THETA, "mid 0.5 hi 0.9 ;", "mid 0.5 hi 0.9 mid 0.7 ;"),
        "theta",
        "entry 'mid' given twice",
    ),
    (
        "table-row-twice",
        sub(VALUE_SCALE, "  hi  0.2 0.9 0.25\n", "  hi  0.2 0.9 0.25\n  mid 0.3 0.6 0.5\n"),
        "prob",
        "entry 'mid' given twice",
    ),
    (
        "value-row-twice",
        sub(TASKS, "  hi  0.9 0.8\n", "  hi  0.9 0.8\n  lo  0.2 0.2\n"),
        "value",
        "entry 'lo' given twice",
    ),
    (  # the set's own repeat is named by the set's check, whatever repeats with it
        "type-and-entry-twice",
        sub(
            sub(THETA, "set TYPES := lo mid hi ;", "set TYPES := lo mid hi lo ;"),
            "mid 0.3 hi 0.2 ;",
            "mid 0.3 hi 0.2 lo 0.1 ;",
        ),
        "TYPES",
        "duplicate type 'lo'",
    ),
    (
        "type-row-twice-in-a-declaring-table",
        sub(
            sub(THETA, "set TYPES := lo mid hi ;\n", ""),
            "param prob := lo 0.5 mid 0.3 hi 0.2 ;\nparam theta := lo 0.2 mid 0.5 hi 0.9 ;",
            "param : TYPES : prob theta := lo 0.5 0.2 mid 0.5 0.5 lo 0.0 0.9 ;",
        ),
        "TYPES",
        "duplicate type 'lo'",
    ),
    (
        "value-entry-twice",
        sub(
            TASKS,
            "param value : coding chat :=\n  lo  0.1 0.3\n  mid 0.5 0\n  hi  0.9 0.8\n;",
            "param value := lo coding 0.1 lo chat 0.3 "
            "mid coding 0.5 mid chat 0 hi coding 0.9 hi chat 0.8 lo chat 1 ;",
        ),
        "value",
        "entry 'lo chat' given twice",
    ),
]


@pytest.mark.parametrize(
    ("text", "entry", "fragment"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_file_is_refused(tmp_path: Path, text: str, entry: str, fragment: str) -> None:
    path = write(tmp_path, text)
    err = refused(path)
    assert err.path == str(path)
    assert err.entry == entry or err.entry.startswith(entry + ",")
    assert fragment in err.problem


def test_missing_file(tmp_path: Path) -> None:
    err = refused(tmp_path / "nope.dat")
    assert (err.entry, err.problem) == ("file", "no such file")


def test_directory(tmp_path: Path) -> None:
    err = refused(tmp_path)
    assert (err.entry, err.problem) == ("file", "is a directory, not a .dat file")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.dat"
    path.write_bytes(b"set TYPES := \xff\xfe ;")
    err = refused(path)
    assert err.entry == "file" and err.problem.startswith("not a UTF-8 text file")


def test_line_numbers_do_not_drift(tmp_path: Path) -> None:
    """Pyomo's lexer never resets its line counter; ours must report the real line."""
    path = write(tmp_path, sub(THETA, "hi 0.2 ;", "hi 0.2"))
    for _ in range(3):
        assert refused(path).entry == "line 5, column 13"


def test_error_is_a_value_error() -> None:
    err = InstanceError("f.dat", "prob", "bad\nthing")
    assert isinstance(err, ValueError)
    assert str(err) == "f.dat: prob: bad thing"
    assert str(InstanceError(None, "x", "y")) == "<instance data>: x: y"
    assert str(InstanceError("f.dat", "a\nb", "c")) == "f.dat: a\\nb: c"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.entry, copy.problem, str(copy)) == (
        err.path,
        err.entry,
        err.problem,
        str(err),
    )


# -- the AbstractModel path (pyomo solve) -------------------------------------------------


def abstract_model() -> pyo.AbstractModel:
    model = pyo.AbstractModel()
    declare_instance_components(model)
    return model


def test_declares_exactly_the_format() -> None:
    model = abstract_model()
    names = {c.local_name for c in model.component_objects()}
    assert names == {
        "TYPES",
        "TASKS",
        "prob",
        "theta",
        "value_per_task",
        "scale",
        "task_measure",
        "value",
        "alpha",
        "beta",
        "gamma",
        "base_quality",
        "cost_input",
        "cost_output",
        "cost_finetune",
        "scale_constraint",
    }


@pytest.mark.parametrize("text", [THETA, VALUE_SCALE, TASKS])
def test_model_path_matches_reader(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text, "good.dat")
    concrete = abstract_model().create_instance(str(path))
    assert instance_from_model(concrete, path) == read_instance(path)
    unnamed = instance_from_model(concrete)
    assert unnamed.path is None and unnamed.notes == ""
    assert unnamed.types == read_instance(path).types


def test_model_path_validates(tmp_path: Path) -> None:
    path = write(tmp_path, sub(THETA, "lo 0.5 mid 0.3", "lo 0.9 mid -0.1"))
    concrete = abstract_model().create_instance(str(path))
    with pytest.raises(InstanceError, match=re.escape("<instance data>: prob[mid]: negative")):
        instance_from_model(concrete)
    with pytest.raises(InstanceError, match=re.escape(f"{path}: prob[mid]: negative")):
        instance_from_model(concrete, path)


def test_model_path_missing_components() -> None:
    model = pyo.ConcreteModel()
    with pytest.raises(InstanceError, match="TYPES: the model does not declare"):
        instance_from_model(model)


def test_model_path_reports_missing_technology(tmp_path: Path) -> None:
    path = write(tmp_path, THETA.replace("param beta := 0.25 ;\n", ""))
    concrete = abstract_model().create_instance(str(path))
    with pytest.raises(InstanceError, match="beta: missing"):
        instance_from_model(concrete, path)


def test_validated_dataportal_hook(tmp_path: Path) -> None:
    """The pyomo solve hook refuses a bad file with our message before Pyomo reads it."""
    good, bad = write(tmp_path, THETA, "good.dat"), write(tmp_path, THETA + "param zz := 1 ;\n")
    assert isinstance(validated_dataportal(options(good)), pyo.DataPortal)
    with pytest.raises(InstanceError, match=re.escape(f"{bad}: zz: unknown param")):
        validated_dataportal(options(bad), abstract_model())


def options(*files: Path) -> SimpleNamespace:
    return SimpleNamespace(data=SimpleNamespace(files=[str(f) for f in files]))


# -- round trips ------------------------------------------------------------------------


def same(a: Instance, b: Instance) -> bool:
    return (a.types, a.technology, a.scale_constraint, a.notes) == (
        b.types,
        b.technology,
        b.scale_constraint,
        b.notes,
    )


@pytest.mark.parametrize("path", sorted(INSTANCES.glob("*.dat")), ids=lambda p: p.name)
def test_shipped_instances_round_trip(tmp_path: Path, path: Path) -> None:
    inst = read_instance(path)
    assert inst.notes and "Generated by instances/generate.py" in inst.notes
    copy = tmp_path / path.name
    write_dat(inst, copy)
    assert same(read_instance(copy), inst)
    assert copy.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_weird_labels_round_trip(tmp_path: Path) -> None:
    labels = ["01", "1.5", "true", "set", "a b", 'x"y', "it's", "é", ":=", "(", ",", "[x]", "#c"]
    for ts in (
        theta_types(np.linspace(0, 1, len(labels)), labels=labels),
        labeled_tasks(labels, np.ones(len(labels)), np.eye(len(labels)) + 1, labels=labels),
    ):
        inst = Instance("w", None, ts, Technology.cobb_douglas(), False, "x\n\n  y  ")
        write_dat(inst, tmp_path / "w.dat")
        assert same(read_instance(tmp_path / "w.dat"), inst)


def test_header_argument(tmp_path: Path) -> None:
    inst = read_instance(write(tmp_path, THETA))
    text = format_dat(inst, header="Source: here\nUnits: USD")
    assert text.startswith("# Source: here\n# Units: USD\n\nset TYPES")
    write_dat(inst, tmp_path / "h.dat", header="")
    assert read_instance(tmp_path / "h.dat").notes == ""


def test_writer_refuses_line_breaks_in_labels() -> None:
    inst = Instance("w", None, theta_types([0.5], labels=["a\nb"]), Technology.cobb_douglas())
    with pytest.raises(ValueError, match="line break"):
        format_dat(inst)


def test_generator_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("generate_instances", INSTANCES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.main(["--check"]) == 0
    assert {f"{r.filename}" for r in module.RECIPES} == {p.name for p in INSTANCES.glob("*.dat")}


def test_shipped_instance_contents() -> None:
    paper = read_instance(INSTANCES / "paper_vs_10x10.dat")
    assert paper.technology == Technology.cobb_douglas() and paper.scale_constraint
    assert len(paper.types) == 100 and np.all(paper.types.prob == 0.01)
    theta = read_instance(INSTANCES / "paper_theta_1000.dat").types
    k = np.arange(1000)
    np.testing.assert_allclose(theta.prob, (2000 - 2 * k - 1) / 1e6, atol=1e-13)
    tasks = read_instance(INSTANCES / "tasks_coding_chat_translation.dat").types
    assert tasks.tasks == ("coding", "chat", "translation") and len(tasks) == 30
    np.testing.assert_array_equal(tasks.task_measure, [0.5, 0.3, 0.2])
    assert np.any(tasks.value == 0)
    mini = read_instance(INSTANCES / "calibrated_gpt4o_mini.dat")
    tech = mini.technology
    assert (tech.cost_input, tech.cost_output, tech.cost_finetune) == (0.06, 0.24, 1.2)
    assert "ASSUMED cost margin" in mini.notes
    # both regimes occur: the top type's virtual value (= its theta) exceeds theta_hat
    for name in ("calibrated_gpt4o_mini.dat", "calibrated_claude_sonnet.dat"):
        inst = read_instance(INSTANCES / name)
        top = inst.theta.max()
        assert top > inst.technology.theta_hat
        assert inst.theta.min() < top / 3  # excluded below theta_max / 3 (uniform w, s)


# -- property tests -------------------------------------------------------------------------

finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
label = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), min_size=1, max_size=6
)
header_line = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    labels = draw(st.lists(label, min_size=1, max_size=5, unique=True))
    n = len(labels)
    weights = np.array(draw(st.lists(st.floats(0.01, 1), min_size=n, max_size=n)))
    prob = weights / weights.sum()
    kind = draw(st.sampled_from(["theta", "value_scale", "tasks"]))
    vec = st.lists(finite, min_size=n, max_size=n)
    if kind == "theta":
        types: TypeSet = theta_types(draw(vec), prob, labels)
    elif kind == "value_scale":
        types = value_scale_types(draw(vec), draw(vec), prob, labels)
    else:
        tasks = draw(st.lists(label, min_size=1, max_size=3, unique=True))
        j = len(tasks)
        measure = draw(st.lists(st.floats(0.001, 10), min_size=j, max_size=j))
        value = draw(st.lists(st.lists(finite, min_size=j, max_size=j), min_size=n, max_size=n))
        types = labeled_tasks(tasks, measure, value, prob, labels)
    exps = draw(st.lists(st.floats(0.01, 0.33), min_size=3, max_size=3))
    costs = draw(st.lists(st.floats(1e-3, 1e3), min_size=3, max_size=3))
    tech = Technology.cobb_douglas(*exps, draw(st.floats(1e-3, 100)), *costs)
    header = "\n".join(draw(st.lists(header_line, max_size=3)))
    return Instance("h", None, types, tech, draw(st.booleans()), header)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(inst=instances())
def test_write_read_round_trip(inst: Instance) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InstanceWarning)  # random types may coincide
        path = Path(tmp) / "h.dat"
        write_dat(inst, path)
        back = read_instance(path)
    assert same(back, inst)


@st.composite
def corruptions(draw: st.DrawFn) -> str:
    text = format_dat(draw(instances()))
    how = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "duplicate", "swap"]))
    lines = text.split("\n")
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    i = draw(st.integers(0, len(lines) - 1))
    if how == "delete":
        return "\n".join(lines[:i] + lines[i + 1 :])
    if how == "duplicate":
        return "\n".join(lines[: i + 1] + lines[i:])
    pieces = st.sampled_from(list("ab01.-;:=()[]{},*\"'# @\n")) | st.sampled_from(
        ["param", "set", "alpha", "prob", "TYPES", "-1", "nan", "1e999", "1.5e999", "include x"]
    )
    junk = "".join(draw(st.lists(pieces, max_size=8)))
    if how == "insert":
        pos = draw(st.integers(0, len(text)))
        return text[:pos] + junk + text[pos:]
    if how == "replace":
        tokens = re.split(r"(\s+)", text)
        k = draw(st.integers(0, len(tokens) - 1))
        tokens[k] = junk
        return "".join(tokens)
    j = draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(text=corruptions())
def test_corruptions_raise_only_instance_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InstanceWarning)
        path = Path(tmp) / "c.dat"
        path.write_text(text, encoding="utf-8")
        try:
            read_instance(path)
        except InstanceError as err:
            assert "\n" not in str(err) and str(err).startswith(f"{path}: ")


def test_a_screening_coordinate_given_twice_is_refused(tmp_path: Path) -> None:
    """theta is indexed by type and dimension: a table row or a flat (type, dim) entry
    given twice is refused, naming it."""
    text = (INSTANCES / "screening" / "mussa_rosen_10.dat").read_text()
    table = "param theta : quality :=\n" + "".join(f"  t{i:02d} 0.{i}\n" for i in range(1, 10))
    assert table in text
    row = text.replace("  t10 1.0\n", "  t10 1.0\n  t01 0.35\n", 1)
    err = refused(write(tmp_path, row, "row.dat"))
    assert (err.entry, err.problem) == ("theta", "entry 't01' given twice")
    flat = " ".join(f"t{i:02d} quality {i / 10}" for i in range(1, 11))
    start = text.index(table)
    end = text.index(";", start) + 1
    entry = text[:start] + f"param theta := {flat} t03 quality 0.5 ;" + text[end:]
    err = refused(write(tmp_path, entry, "flat.dat"))
    assert (err.entry, err.problem) == ("theta", "entry 't03 quality' given twice")
