"""``pyomo solve`` and ``pyomo help`` with the package's solvers, run in-process."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from pyomo.scripting.pyomo_main import main

import pyomo_llmprice  # noqa: F401  (registers the solvers)

HS071_OBJECTIVE = 17.0140173  # Hock & Schittkowski (1981), problem 71


def _run(args: list[str]):
    ret = main(args)
    assert ret is not None
    return ret


def _results(path) -> dict:
    data = json.loads(path.read_text())
    solver = data["Solver"][0]
    solutions = [s for s in data["Solution"] if "Status" in s]
    return {"solver": solver, "solutions": solutions, "problem": data["Problem"][0]}


def _objective(res: dict) -> float:
    (sol,) = res["solutions"]
    (obj,) = sol["Objective"].values()
    return obj["Value"]


@pytest.mark.parametrize("solver", ["cyipopt_direct", "casadi_ipopt"])
def test_solve_hs071_with_summary_and_saved_results(
    solver, hs071_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    out_file = tmp_path / "r.json"
    ret = _run(
        [
            "solve",
            str(hs071_path),
            f"--solver={solver}",
            "--solver-options=max_iter=500 tol=1e-9",
            "--summary",
            "--save-results",
            str(out_file),
        ]
    )
    assert ret.errorcode == 0
    res = _results(out_file)
    assert res["solver"]["Termination condition"] == "optimal"
    assert res["solver"]["Status"] == "ok"
    assert _objective(res) == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
    assert res["problem"]["Number of variables"] == 4
    (sol,) = res["solutions"]
    assert set(sol["Constraint"]) == {"product", "norm"}  # duals came back by name
    assert sol["Variable"]["x[1]"]["Value"] == pytest.approx(1.0, abs=1e-6)
    out = capsys.readouterr().out
    assert "Solution Summary" in out
    values = [float(v) for v in re.findall(r"Function Value: (\S+)", out)]
    assert values and values[0] == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
    assert "17.0140" in out.split("Solution Summary")[1]


def test_command_line_options_reach_ipopt(hs071_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_file = tmp_path / "r.json"
    _run(
        [
            "solve",
            str(hs071_path),
            "--solver=cyipopt_direct",
            "--solver-options=max_iter=2",
            "--save-results",
            str(out_file),
        ]
    )
    res = _results(out_file)
    assert res["solver"]["Termination condition"] == "maxIterations"
    assert res["solver"]["Iterations"] == 2


def test_stream_solver_shows_the_ipopt_log(hs071_path, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    _run(["solve", str(hs071_path), "--solver=cyipopt_direct", "--stream-solver"])
    assert "EXIT: Optimal Solution Found" in capfd.readouterr().out


def test_invalid_command_line_option_is_an_error(hs071_path, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    out_file = tmp_path / "r.json"
    ret = _run(
        [
            "solve",
            str(hs071_path),
            "--solver=cyipopt_direct",
            "--solver-options=no_such_option=1",
            "--save-results",
            str(out_file),
        ]
    )
    assert ret.errorcode != 0
    assert not out_file.exists()
    assert "no_such_option" in caplog.text  # pyomo logs the solver's exception


def _config(tmp_path, model_path, options: dict, **postsolve) -> str:
    cfg = {
        "model": {"filename": str(model_path)},
        "solvers": [{"solver name": "cyipopt_direct", "options": options}],
        "postsolve": {"save results": str(tmp_path / "r.json"), **postsolve},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_json_config_file_with_string_options(hs071_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # a config file brings every option value as text
    cfg = _config(tmp_path, hs071_path, {"max_iter": "500", "tol": "1e-9"}, summary=True)
    ret = _run(["solve", cfg])
    assert ret.errorcode == 0
    res = _results(tmp_path / "r.json")
    assert res["solver"]["Termination condition"] == "optimal"
    assert _objective(res) == pytest.approx(HS071_OBJECTIVE, abs=1e-6)
    assert "Solution Summary" in capsys.readouterr().out


def test_json_config_file_options_take_effect(hs071_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, hs071_path, {"max_iter": "2", "tol": "1e-9"})
    _run(["solve", cfg])
    res = _results(tmp_path / "r.json")
    assert res["solver"]["Termination condition"] == "maxIterations"
    assert res["solver"]["Iterations"] == 2


def test_json_config_file_timelimit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_file = tmp_path / "slow.py"
    model_file.write_text(
        textwrap.dedent(
            """
            import pyomo.environ as pyo

            model = pyo.ConcreteModel()
            model.I = pyo.RangeSet(200)
            model.x = pyo.Var(model.I, initialize=-1.2)
            model.obj = pyo.Objective(
                expr=sum(100 * (model.x[i + 1] - model.x[i] ** 2) ** 2 + (1 - model.x[i]) ** 2
                         for i in range(1, 200))
            )
            """
        )
    )
    cfg = _config(tmp_path, model_file, {"timelimit": "0.001"})
    _run(["solve", cfg])
    res = _results(tmp_path / "r.json")
    assert res["solver"]["Termination condition"] == "maxTimeLimit"


def test_help_lists_the_solvers(capsys):
    main(["help", "--solvers"])
    out = capsys.readouterr().out
    assert re.search(r"^\s*\+?cyipopt_direct\b", out, flags=re.MULTILINE)
    assert re.search(r"^\s*\+?casadi_ipopt\b", out, flags=re.MULTILINE)
    # the leading '+' marks an available solver
    assert re.search(r"^\s*\+cyipopt_direct\b", out, flags=re.MULTILINE)


@pytest.mark.parametrize("solver", ["cyipopt_direct", "casadi_ipopt"])
def test_summary_of_an_infeasible_model(solver, tmp_path, monkeypatch, capsys):
    """``--summary`` on an infeasible model printed 'Number of solutions: 0' and then
    crashed inside Pyomo's summary printer (it reads solution 0)."""
    monkeypatch.chdir(tmp_path)
    model_file = tmp_path / "infeasible.py"
    model_file.write_text(
        textwrap.dedent(
            """
            import pyomo.environ as pyo

            model = pyo.ConcreteModel()
            model.x = pyo.Var()
            model.y = pyo.Var()
            model.obj = pyo.Objective(expr=model.y)
            model.c1 = pyo.Constraint(expr=model.y >= model.x)
            model.c2 = pyo.Constraint(expr=model.y <= model.x - 1)
            """
        )
    )
    out_file = tmp_path / "r.json"
    ret = _run(
        [
            "solve",
            str(model_file),
            f"--solver={solver}",
            "--summary",
            "--save-results",
            str(out_file),
        ]
    )
    printed = capsys.readouterr().out
    assert ret.errorcode == 0
    # as with Pyomo's ipopt plugin, the last iterate is filed under the run's status
    assert "Number of solutions: 1" in printed and "Status: infeasible" in printed
    assert "Solution Summary" in printed
    res = json.loads(out_file.read_text())
    assert res["Solver"][0]["Termination condition"] == "infeasible"
