"""``llmprice calibrate`` in-process: files in, instance and report out, bad input refused.

The written instance is read back by the package's own reader and compared with the
drawn types; the report's counterfactual is compared with the closed-form optimum.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pyomo_llmprice.calibration import draw_types, synthetic_usage
from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance, write_dat
from pyomo_llmprice.io.usage import read_technology, read_usage, write_usage
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu
from pyomo_llmprice.types import theta_types

TECH = Technology.cobb_douglas(cost_input=0.1, cost_output=0.2, cost_finetune=0.15)
PLANS = [
    {
        "name": "basic",
        "fixed_fee": 0.05,
        "price_input": 0.25,
        "price_output": 0.5,
        "price_finetune": 0.3,
    },
    {
        "name": "pro",
        "fixed_fee": 0.3,
        "price_input": 0.12,
        "price_output": 0.25,
        "price_finetune": 0.18,
        "markup": None,
        "types": ["ignored"],
    },
]
REPORT_KEYS = [
    "customers",
    "buyers",
    "types",
    "theta_quantiles",
    "misfit",
    "best_response_violations",
    "current",
    "counterfactual",
]
TECH_DAT = """# the technology alone
param alpha := 0.25 ;  param beta := 0.25 ;  param gamma := 0.25 ;
param base_quality := 1 ;
param cost_input := 0.1 ;  param cost_output := 0.2 ;  param cost_finetune := 0.15 ;
"""
THETA = draw_types(stats.lognorm(s=0.5, scale=0.6), 16, seed=5)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["-q", "calibrate", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    usage = synthetic_usage(THETA, PLANS, TECH, periods=2)
    paths = {
        "usage": tmp_path / "usage.csv",
        "tariff": tmp_path / "tariff.json",
        "tech": tmp_path / "tech.dat",
        "out": tmp_path / "calibrated.dat",
        "json": tmp_path / "report.json",
    }
    write_usage(usage, paths["usage"])
    paths["tariff"].write_text(json.dumps({"plans": PLANS}))
    paths["tech"].write_text(TECH_DAT)
    return paths


def args(files: dict[str, Path], *extra: str, usage: Path | None = None) -> list[str]:
    return [
        str(usage or files["usage"]),
        "--tariff",
        str(files["tariff"]),
        "--technology",
        str(files["tech"]),
        "--out",
        str(files["out"]),
        "--json",
        str(files["json"]),
        *extra,
    ]


def test_calibrate_writes_the_instance_and_the_report(files):
    code, out, err = run(*args(files, "--plans", "1", "--starts", "0"))
    assert code == 0, err
    inst = read_instance(files["out"])
    buyers = [lab for lab in inst.types.labels if lab != "non_buyers"]
    index = [int(lab[1:]) - 1 for lab in buyers]
    np.testing.assert_allclose(inst.theta[: len(buyers)], THETA[index], rtol=1e-8)
    assert "non_buyers" in inst.types.labels  # the fee keeps some customers out
    for words in (str(files["usage"]), str(files["tariff"]), "plan pro", "--below-threshold bound"):
        assert words in inst.notes
    assert inst.technology == TECH
    report = json.loads(files["json"].read_text())
    assert list(report) == REPORT_KEYS
    assert report["customers"] == 16 and report["buyers"] == len(buyers)
    assert "assumption" in report["types"][-1]
    # the optimal menu on the written types is the closed-form one
    exact = discrete_optimal_menu(inst.theta, inst.types.prob, TECH)
    assert report["counterfactual"]["full_menu"]["profit"] == pytest.approx(exact.profit, rel=1e-7)
    assert "counterfactual on the inferred types" in out


def test_exclude_and_bins(files):
    code, _, err = run(*args(files, "--plans", "0", "--below-threshold", "exclude", "--bins", "3"))
    assert code == 0, err
    inst = read_instance(files["out"])
    assert inst.types.labels == ("q1", "q2", "q3")
    assert json.loads(files["json"].read_text())["counterfactual"] is None


def test_parquet_usage_log(files, tmp_path):
    pytest.importorskip("pyarrow")
    parquet = tmp_path / "usage.parquet"
    write_usage(read_usage(files["usage"]), parquet)
    assert read_usage(parquet).equals(read_usage(files["usage"]))


def test_technology_from_a_whole_instance(tmp_path):
    path = tmp_path / "inst.dat"
    write_dat(Instance("x", None, theta_types([0.5, 1.0]), TECH), path)
    assert read_technology(path) == TECH


def _edit_usage(files, change) -> Path:
    frame = change(read_usage(files["usage"]))
    path = files["usage"].with_name("bad.csv")
    frame.to_csv(path, index=False)
    return path


def _bad_tariff(files, **change) -> None:
    plans = [dict(PLANS[0], **change), PLANS[1]]
    files["tariff"].write_text(json.dumps({"plans": plans}))


BAD = {
    "missing column": (
        lambda f: _edit_usage(f, lambda d: d.drop(columns=["output_tokens"])),
        "column output_tokens: missing",
    ),
    "negative usage": (
        lambda f: _edit_usage(f, lambda d: d.assign(input_tokens=-d["input_tokens"])),
        "row 1, column input_tokens: negative usage",
    ),
    "infinite usage": (  # the number as written, not numpy's repr of it
        lambda f: _edit_usage(f, lambda d: d.assign(input_tokens=np.inf)),
        "row 1, column input_tokens: not a finite number: inf",
    ),
    "zero weight": (
        lambda f: _edit_usage(f, lambda d: d.assign(weight=0.0)),
        "row 1, column weight: must be positive, got 0.0",
    ),
    "unknown plan": (
        lambda f: _edit_usage(f, lambda d: d.assign(plan="gold")),
        "row 1, column plan: 'gold' is not a plan of the tariff",
    ),
    "plan column needed": (
        lambda f: _edit_usage(f, lambda d: d.drop(columns=["plan"])),
        "column plan: missing; the tariff has 2 plans",
    ),
    "zero price": (
        lambda f: _bad_tariff(f, price_output=0),
        "plan basic: price_output: must be positive, got 0",
    ),
    "row no type would choose": (
        lambda f: _edit_usage(
            f, lambda d: d.assign(output_tokens=d["output_tokens"] * np.linspace(1, 2, len(d)))
        ),
        "is inconsistent with every type under plan",
    ),
    "technology": (
        lambda f: f["tech"].write_text(TECH_DAT.replace("param gamma := 0.25 ;", "")),
        "tech.dat: gamma: missing",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(files, case):
    make, message = BAD[case]
    usage = make(files)
    code, _out, err = run(*args(files, usage=usage))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not files["out"].exists() and not files["json"].exists()


def test_parquet_without_pyarrow_names_the_extra(files, tmp_path, monkeypatch):
    parquet = tmp_path / "usage.parquet"
    parquet.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    code, _, err = run(*args(files, usage=parquet))
    assert code == 2
    assert "pip install 'pyomo_llmprice[parquet]'" in err
    assert not files["out"].exists()
