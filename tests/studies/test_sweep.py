"""Sweep specs, their validation, and sweeps on a local Dask cluster that resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import write_dat
from pyomo_llmprice.studies.spec import SpecError, load_spec, parse_spec
from pyomo_llmprice.studies.sweep import finished_keys, read_results, run_sweep, task_instance
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.theory import discrete_optimal_menu
from pyomo_llmprice.types import theta_types

THETA = np.array([0.3, 0.5, 0.7, 0.9])
PROB = np.full(4, 0.25)


@pytest.fixture(scope="module")
def base_dat(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("base") / "four.dat"
    inst = Instance("four", None, theta_types(THETA, PROB), Technology.cobb_douglas())
    write_dat(inst, path)
    return path


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- validation -------------------------------------------------------------------------

BAD_SPECS = [
    ("paramters: {alpha: [0.2]}", "paramters", "unknown key"),
    ("parameters: {alpha: [0.2]}", "base", "missing"),
    ("base: nowhere.dat\nparameters: {alpha: [0.2]}", "base", "no such instance file"),
    ("base: {base}\nparameters: {colour: [1]}", "parameters.colour", "unknown parameter"),
    ("base: {base}\nparameters: {alpha: {start: 0.1, stop: 0.2}}", "parameters.alpha", "num"),
    (
        "base: {base}\nparameters: {alpha: {start: 0, stop: 0.2, num: 3, scale: log}}",
        "parameters.alpha",
        "positive",
    ),
    ("base: {base}\nparameters: {alpha: []}", "parameters.alpha", "no values"),
    ("base: {base}\nparameters: {alpha: [0.2, 0.2]}", "parameters.alpha", "repeated"),
    ("base: {base}\nparameters: {alpha: [x]}", "parameters.alpha", "must be a number"),
    ("base: {base}\nparameters: {n_types: [5]}", "parameters.n_types", "types: {grid"),
    (
        "base: {base}\ntypes: {grid: value_scale}\nparameters: {n_types: [5]}",
        "parameters.n_types",
        "takes n_w, n_s",
    ),
    (
        "base: {base}\ntypes: {grid: paper_theta}\nparameters: {n_types: [0]}",
        "parameters.n_types",
        "positive integers",
    ),
    ("base: {base}\nparameters: {setting: [packages, auctions]}", "parameters.setting", "one of"),
    ("base: {base}\nsetting: auctions\nparameters: {alpha: [0.2]}", "setting", "one of"),
    ("base: {base}\ntypes: {grid: hexagonal}\nparameters: {alpha: [0.2]}", "types.grid", "one of"),
    ("base: {base}\nparameters: {alpha: [0.2]}\noutputs: [profits]", "outputs.profits", "unknown"),
    (
        "base: {base}\nmode: zip\nparameters: {alpha: [0.2, 0.3], beta: [0.2]}",
        "mode",
        "equally many",
    ),
    ("base: {base}\ntime_limit: -1\nparameters: {alpha: [0.2]}", "time_limit", "positive"),
    ("base: {base}\nparameters: {alpha: [0.2]\n", "line", "invalid YAML"),
    ("- just\n- a list", "file", "mapping"),
    ("base: {base}", "parameters", "missing"),
]


@pytest.mark.parametrize("text, entry, problem", BAD_SPECS)
def test_spec_errors_name_file_entry_and_problem(text, entry, problem, base_dat, tmp_path):
    path = write_spec(tmp_path, text.replace("{base}", str(base_dat)))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {entry}")
    assert problem in msg and "\n" not in msg


def test_json_spec_and_its_errors(base_dat, tmp_path):
    good = write_spec(
        tmp_path, json.dumps({"base": str(base_dat), "parameters": {"alpha": [0.2]}}), "s.json"
    )
    assert len(load_spec(good).tasks()) == 1
    bad = write_spec(tmp_path, '{"base": 1,,}', "bad.json")
    with pytest.raises(SpecError, match=r"bad\.json: line 1: invalid JSON"):
        load_spec(bad)


def test_cli_reports_a_bad_spec_in_one_line(base_dat, tmp_path, capsys):
    path = write_spec(tmp_path, f"base: {base_dat}\nparameters: {{gamma: [0.2, wrong]}}")
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "parameters.gamma" in err


# -- tasks ------------------------------------------------------------------------------


def test_grid_zip_ranges_and_stable_keys(base_dat, tmp_path):
    data = {
        "base": str(base_dat),
        "parameters": {
            "cost_input": {"start": 0.01, "stop": 1.0, "num": 3, "scale": "log"},
            "alpha": {"start": 0.2, "stop": 0.3, "num": 2},
            "setting": ["packages"],
        },
    }
    spec = parse_spec(data)
    tasks = spec.tasks()
    assert len(tasks) == 6
    assert spec.parameters["cost_input"] == pytest.approx([0.01, 0.1, 1.0])
    assert spec.parameters["alpha"] == pytest.approx([0.2, 0.3])
    assert len({t.key for t in tasks}) == 6
    assert [t.key for t in parse_spec(data).tasks()] == [t.key for t in tasks]
    other = parse_spec({**data, "solver": "casadi_ipopt"}).tasks()
    assert not {t.key for t in other} & {t.key for t in tasks}  # a changed spec starts afresh
    zipped = parse_spec(
        {**data, "mode": "zip", "parameters": {"alpha": [0.2, 0.3], "beta": [0.1, 0.2]}}
    )
    assert [t.params for t in zipped.tasks()] == [
        {"alpha": 0.2, "beta": 0.1},
        {"alpha": 0.3, "beta": 0.2},
    ]


def test_task_instance_applies_technology_and_grid(base_dat):
    spec = parse_spec(
        {"base": str(base_dat), "types": {"grid": "paper_theta"}, "parameters": {"n_types": [7]}}
    )
    from pyomo_llmprice.io import read_instance

    base = read_instance(base_dat)
    inst = task_instance(base, spec.grid, {"n_types": 7, "cost_output": 0.5, "gamma": 0.1}, "k")
    assert len(inst.types) == 7 and inst.types.prob.sum() == pytest.approx(1.0)
    # the paper's F(theta) = 2 theta - theta^2 on 7 equal cells of [0, 1]: midpoints, and
    # cell masses F(b) - F(a) = (b - a)(2 - a - b) = 2/7 - (2k + 1)/49
    k = np.arange(7)
    np.testing.assert_allclose(inst.types.theta, (k + 0.5) / 7, rtol=1e-12)
    np.testing.assert_allclose(inst.types.prob, 2 / 7 - (2 * k + 1) / 49, rtol=1e-12)
    assert inst.technology.cost_output == 0.5
    assert inst.technology.cobb_douglas_precision.gamma == 0.1
    assert inst.technology.cost_input == base.technology.cost_input


def test_paper_theta_grid_follows_the_swept_exponent(base_dat):
    """theta = w s^e with e = 1 - alpha - beta: P(theta <= t) = t^(1/e) + (t - t^(1/e))/(1 - e)."""
    from pyomo_llmprice.io import read_instance

    inst = task_instance(
        read_instance(base_dat), "paper_theta", {"n_types": 5, "alpha": 0.1, "beta": 0.3}, "k"
    )
    e = 0.6  # not the base's 1/2, whose law 2t - t^2 the grid used to keep
    edges = np.linspace(0.0, 1.0, 6)
    cdf = edges ** (1 / e) + (edges - edges ** (1 / e)) / (1 - e)
    np.testing.assert_allclose(inst.types.prob, np.diff(cdf), rtol=1e-12)


# -- sweeps on Dask ---------------------------------------------------------------------


def _exact_profit(cost_input: float) -> float:
    return discrete_optimal_menu(THETA, PROB, Technology.cobb_douglas(cost_input=cost_input)).profit


def test_interrupted_sweep_resumes_without_duplicates(base_dat, tmp_path, client):
    spec = load_spec(
        write_spec(
            tmp_path,
            f"base: {base_dat}\n"
            "parameters:\n  cost_input: [0.1, 0.125, 0.15]\n  beta: [0.25, 0.8]\n"
            "outputs: [profit, max_ic_violation, n_served]\n",
        )
    )
    out = tmp_path / "results"
    first = run_sweep(spec, out, client=client, limit=2, progress=False)
    assert (first.ran, first.already_done) == (2, 0)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert len(stamps) == 2
    (out / ".part-deadbeef.parquet.tmp").write_bytes(b"half a file from a crash")

    second = run_sweep(spec, out, client=client, progress=False)
    assert (second.total, second.already_done, second.ran) == (6, 2, 4)
    assert {
        p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet") if p.name in stamps
    } == stamps

    table = read_results(out)
    assert len(table) == 6 and table["key"].is_unique
    assert set(table["key"]) == {t.key for t in spec.tasks()} == finished_keys(out)
    assert list(table["task"]) == list(range(6))
    assert set(table.columns) >= {"cost_input", "beta", "status", "message", "profit", "n_served"}
    invalid = table[table["beta"] == 0.8]
    assert (invalid["status"] == "invalid_parameters").all()
    assert invalid["message"].str.contains("below 1").all()
    solved = table[table["beta"] == 0.25]
    assert (solved["status"] == "optimal").all()
    for c, profit in zip(solved["cost_input"], solved["profit"], strict=True):
        assert profit == pytest.approx(_exact_profit(c), rel=1e-6)
    assert (solved["max_ic_violation"] <= 1e-6).all()

    third = run_sweep(spec, out, client=client, progress=False)
    assert (third.ran, third.already_done) == (0, 6)


def test_failed_solves_are_recorded(base_dat, tmp_path, client):
    spec = parse_spec(
        {"base": str(base_dat), "parameters": {"solver": ["cyipopt_direct", "no_such_solver"]}}
    )
    out = tmp_path / "r"
    run_sweep(spec, out, client=client, progress=False)
    table = read_results(out).set_index("solver")
    assert table.loc["cyipopt_direct", "status"] == "optimal"
    assert table.loc["no_such_solver", "status"] == "error"
    assert "no_such_solver" in table.loc["no_such_solver", "message"]


def test_cli_sweep_on_a_local_cluster_of_two_workers(base_dat, tmp_path, capsys):
    path = write_spec(
        tmp_path, f"base: {base_dat}\nparameters: {{cost_input: [0.1, 0.2]}}\noutputs: [profit]\n"
    )
    assert main(["sweep", str(path), "--workers", "2", "--no-progress"]) == 0
    assert "2 tasks: 0 already stored, 2 run now" in capsys.readouterr().out
    table = pd.read_parquet(tmp_path / "spec.parquet")
    assert sorted(table["profit"]) == pytest.approx(sorted(_exact_profit(c) for c in (0.1, 0.2)))
