"""Property tests: random valid instances solve and verify (profits pinned to theory.py);
random invalid ones are refused by ``llmprice solve`` with one line, never a crash.

Instances are generated as text entry by entry, so that an invalid value can be put
where no Instance object could hold it. tests/io/test_io.py corrupts the *syntax*
of written files at the reader; here each mutation breaks one *rule* of the format
and goes through the whole command line.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pyomo_llmprice import theory
from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_INPUT
from pyomo_llmprice.instance import InstanceWarning
from pyomo_llmprice.io import read_instance

SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Dat:
    """An instance file as entries (text), in the order they are written."""

    labels: list[str]
    prob: list[str]
    kind: str  # theta | value_scale | tasks
    columns: dict[str, list[str]]  # per-type columns (theta, or value_per_task and scale)
    tasks: list[str] = field(default_factory=list)
    task_measure: list[str] = field(default_factory=list)
    value: list[list[str]] = field(default_factory=list)  # per type, per task
    scalars: dict[str, str] = field(default_factory=dict)
    extra: str = ""  # appended verbatim

    def text(self) -> str:
        out = [f"set TYPES := {' '.join(self.labels)} ;"]
        names = ["prob", *self.columns]
        rows = [
            " ".join([lab, p, *(self.columns[c][i] for c in self.columns)])
            for i, (lab, p) in enumerate(zip(self.labels, self.prob, strict=True))
        ]
        out.append(f"param : {' '.join(names)} :=\n  " + "\n  ".join(rows) + " ;")
        if self.kind == "tasks":
            out.append(f"set TASKS := {' '.join(self.tasks)} ;")
            pairs = "  ".join(
                f"{t} {m}" for t, m in zip(self.tasks, self.task_measure, strict=True)
            )
            out.append(f"param task_measure := {pairs} ;")
            body = "\n  ".join(
                " ".join([lab, *vals]) for lab, vals in zip(self.labels, self.value, strict=True)
            )
            out.append(f"param value : {' '.join(self.tasks)} :=\n  {body} ;")
        out += [f"param {k} := {v} ;" for k, v in self.scalars.items()]
        return "\n".join(out) + "\n" + self.extra


def num(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.floats(lo, hi, allow_nan=False).map(lambda v: repr(round(v, 6)))


@st.composite
def valid_dats(draw: st.DrawFn, kinds: tuple[str, ...] = ("theta", "value_scale", "tasks")) -> Dat:
    n = draw(st.integers(2, 6))
    labels = [f"t{i}" for i in range(1, n + 1)]
    weights = draw(st.lists(st.integers(1, 20), min_size=n, max_size=n))
    prob = [repr(w / sum(weights)) for w in weights]
    kind = draw(st.sampled_from(kinds))
    col = st.lists(num(0.05, 1.5), min_size=n, max_size=n, unique=True)
    tasks, measure, value = [], [], []
    if kind == "theta":
        columns = {"theta": draw(col)}
    elif kind == "value_scale":
        columns = {
            "value_per_task": draw(col),
            "scale": draw(st.lists(num(0.1, 2.0), min_size=n, max_size=n)),
        }
    else:
        columns = {}
        j = draw(st.integers(1, 3))
        tasks = ["coding", "chat", "search"][:j]
        measure = draw(st.lists(num(0.2, 2.0), min_size=j, max_size=j))
        row = st.lists(num(0.0, 1.5), min_size=j, max_size=j).map(tuple)
        value = [list(r) for r in draw(st.lists(row, min_size=n, max_size=n, unique=True))]
    scalars = {name: draw(num(0.05, 0.3)) for name in ("alpha", "beta", "gamma")}
    scalars["base_quality"] = draw(num(0.5, 2.0))
    for name in ("cost_input", "cost_output", "cost_finetune"):
        scalars[name] = draw(num(0.05, 1.0))
    return Dat(labels, prob, kind, columns, tasks, measure, value, scalars)


# -- valid instances solve and verify ---------------------------------------------------


def solve_cli(path: Path, setting: str, capsys: pytest.CaptureFixture[str]) -> dict:
    out = path.with_suffix(f".{setting}.json")
    rc = main(["solve", str(path), "--setting", setting, "--json", str(out)])
    printed = capsys.readouterr()
    doc = json.loads(out.read_text())
    assert rc == 0, (doc["status"], printed.out[-1500:], printed.err[-1500:])
    return doc


@settings(SETTINGS, max_examples=25)
@given(dat=valid_dats())
def test_valid_instances_solve_verify_and_match_theory(dat, capsys):
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InstanceWarning)  # random types may coincide
        path = Path(tmp) / "random.dat"
        path.write_text(dat.text())
        inst = read_instance(path)
        # exact ties in theta are test_identical_types_reach_the_exact_optimum's
        assume(len(np.unique(inst.theta)) == len(inst.theta))
        doc = solve_cli(path, "packages", capsys)
        assert doc["status"] == "optimal"
        assert doc["max_ic_violation"] <= doc["verification_tolerance"]
        assert doc["max_ir_violation"] <= doc["verification_tolerance"]
        # Token Packages depends on the types only through theta: the exact discrete optimum
        ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
        assert doc["profit"] == pytest.approx(ref.profit, rel=1e-6, abs=1e-9)
        assert doc["welfare"] == pytest.approx(doc["profit"] + doc["consumer_surplus"], abs=1e-12)
        served = [r for r in doc["menu"] if r["served"]]
        assert all(r["markup"] is not None and r["fixed_fee"] is not None for r in served)
        if dat.kind != "theta":
            # tokens per task are contractible: the seller can do at least as well
            alloc = solve_cli(path, "allocations", capsys)
            assert alloc["status"] == "optimal"
            assert alloc["profit"] >= ref.profit - 1e-7 * max(1.0, ref.profit)


@pytest.mark.parametrize(
    "merge",
    [
        None,  # the default: identical types merged
        True,
        False,  # unmerged: once 0.3-0.6% below the optimum; the lean chain reaches it
    ],
    ids=["default", "merged", "unmerged"],
)
@pytest.mark.parametrize("theta", [(0.25, 0.25), (0.3, 0.3)])
def test_identical_types_reach_the_exact_optimum(theta, merge, tmp_path):
    """Found by the property test above: two types with equal theta, cost 1 per token."""
    import pyomo.environ as pyo

    from pyomo_llmprice.blocks import TokenPackages
    from pyomo_llmprice.pipeline import solve_model

    labels = [f"t{i}" for i in range(len(theta))]
    table = "  ".join(f"{k} {1 / len(theta)!r} {t}" for k, t in zip(labels, theta, strict=True))
    path = tmp_path / "ties.dat"
    path.write_text(
        f"set TYPES := {' '.join(labels)} ;\nparam : prob theta := {table} ;\n"
        "param alpha := 0.25 ; param beta := 0.25 ; param gamma := 0.25 ;\n"
        "param base_quality := 1.0 ; param cost_input := 1.0 ; param cost_output := 1.0 ;\n"
        "param cost_finetune := 1.0 ;\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InstanceWarning)
        inst = read_instance(path)
    model = pyo.ConcreteModel()
    options = {} if merge is None else {"merge_identical": merge}
    model.menu = TokenPackages(instance=inst, **options)
    result = solve_model(model)
    ref = theory.discrete_optimal_menu(inst.theta, inst.types.prob, inst.technology)
    assert result.status == "optimal"
    assert result.profit == pytest.approx(ref.profit, rel=1e-6)


# -- invalid instances are refused with one line ----------------------------------------


def _set(values: list[str], i: int, v: str) -> list[str]:
    out = list(values)
    out[i] = v
    return out


BAD_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "x1", "1e999", "0x10", "--1", "1,5"])
NEGATIVE = st.floats(-100, -1e-3, allow_nan=False).map(lambda v: repr(round(v, 4)))


@st.composite
def invalid_dats(draw: st.DrawFn) -> tuple[Dat, str]:
    """A valid Dat with exactly one rule broken, and the entry the message must name."""
    dat = draw(valid_dats())
    n = len(dat.labels)
    i = draw(st.integers(0, n - 1))
    how = draw(
        st.sampled_from(
            [
                "negative_prob",
                "prob_sum",
                "bad_number",
                "exponent_sum",
                "exponent_nonpositive",
                "base_quality",
                "negative_cost",
                "negative_column",
                "duplicate_label",
                "unknown_param",
                "missing_scalar",
                "scale_flag",
                "empty_types",
            ]
        )
    )
    if how == "negative_prob":
        return replace(dat, prob=_set(dat.prob, i, draw(NEGATIVE))), "prob"
    if how == "prob_sum":
        factor = draw(st.sampled_from([0.5, 0.9, 1.01, 2.0]))
        return replace(dat, prob=[repr(float(p) * factor) for p in dat.prob]), "prob"
    if how == "bad_number":
        name = draw(st.sampled_from(sorted(dat.scalars)))
        return replace(dat, scalars={**dat.scalars, name: draw(BAD_NUMBERS)}), name
    if how == "exponent_sum":
        exps = {"alpha": "0.4", "beta": "0.3", "gamma": draw(st.sampled_from(["0.3", "0.5"]))}
        return replace(dat, scalars={**dat.scalars, **exps}), "alpha"
    if how == "exponent_nonpositive":
        name = draw(st.sampled_from(["alpha", "beta", "gamma"]))
        bad = draw(st.sampled_from(["0", "-0.25"]))
        return replace(dat, scalars={**dat.scalars, name: bad}), name
    if how == "base_quality":
        bad = draw(st.sampled_from(["0", "-1"]))
        return replace(dat, scalars={**dat.scalars, "base_quality": bad}), "base_quality"
    if how == "negative_cost":
        name = draw(st.sampled_from(["cost_input", "cost_output", "cost_finetune"]))
        return replace(dat, scalars={**dat.scalars, name: draw(NEGATIVE)}), name
    if how == "negative_column":
        if dat.kind == "tasks":
            j = draw(st.integers(0, len(dat.tasks) - 1))
            value = [list(row) for row in dat.value]
            value[i][j] = draw(NEGATIVE)
            return replace(dat, value=value), "value"
        name = draw(st.sampled_from(sorted(dat.columns)))
        cols = {**dat.columns, name: _set(dat.columns[name], i, draw(NEGATIVE))}
        return replace(dat, columns=cols), name
    if how == "duplicate_label":
        j = (i + 1) % n
        return replace(dat, labels=_set(dat.labels, j, dat.labels[i])), "TYPES"
    if how == "unknown_param":
        name = draw(st.sampled_from(["alpah", "cost_inpt", "base_qualty", "discount"]))
        return replace(dat, extra=f"param {name} := 0.5 ;\n"), name
    if how == "missing_scalar":
        name = draw(st.sampled_from(sorted(dat.scalars)))
        return replace(dat, scalars={k: v for k, v in dat.scalars.items() if k != name}), name
    if how == "scale_flag":
        flag = draw(st.sampled_from(["2", "-1", "0.5"]))
        return replace(dat, scalars={**dat.scalars, "scale_constraint": flag}), "scale_constraint"
    return replace(dat, labels=[], prob=[], columns={}, value=[]), "TYPES"


def _empty_types_text(dat: Dat) -> str:
    """TYPES declared empty (the table cannot be written without rows)."""
    scalars = "\n".join(f"param {k} := {v} ;" for k, v in dat.scalars.items())
    return "set TYPES := ;\n" + scalars + "\n"


@settings(SETTINGS, max_examples=80)
@given(case=invalid_dats(), setting=st.sampled_from(["packages", "allocations"]))
def test_invalid_instances_are_refused_with_one_line(case, setting, capsys):
    dat, entry = case
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InstanceWarning)
        path = Path(tmp) / "bad.dat"
        path.write_text(_empty_types_text(dat) if not dat.labels else dat.text())
        rc = main(["solve", str(path), "--setting", setting])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT, err
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"llmprice: error: {path}: ")
    # the message names the broken entry (a misspelling names itself), or where the
    # parser stopped (a number too large for a float: "line 9, column 15")
    assert entry in lines[0] or re.search(r": line \d+, column \d+: ", lines[0]), lines[0]
