"""User mistakes give one line and exit 2; bugs are never disguised as user mistakes."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from fault_data import one_line_error

from pyomo_llmprice import result
from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_INPUT, EXIT_INTERNAL, is_user_error
from pyomo_llmprice.errors import SolverOptionError, UnknownSolverError, UserInputError
from pyomo_llmprice.instance import InstanceError
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.outcomes import available_solvers
from pyomo_llmprice.pipeline import build_model, solve_model

INSTANCES = Path(__file__).resolve().parents[2] / "instances"

# -- solver names ---------------------------------------------------------------------


def test_unknown_solver_lists_the_usable_ones(theta3, capsys):
    assert main(["solve", str(theta3), "--solver", "cyipopt"]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert "unknown solver 'cyipopt'" in line
    assert "did you mean 'cyipopt_direct'?" in line
    usable, _ = available_solvers()
    assert {"cyipopt_direct", "casadi_ipopt"} <= set(usable)
    assert f"available: {', '.join(usable)}" in line


def test_unknown_solver_is_refused_before_reading_the_instance(tmp_path, capsys):
    """A misspelt solver is reported even when the instance would take long to read."""
    assert main(["solve", str(tmp_path / "absent.dat"), "--solver", "nosuch"]) == EXIT_INPUT
    assert "unknown solver 'nosuch'" in one_line_error(capsys)


def test_unknown_solver_from_python(theta3):
    model = build_model(read_instance(theta3))
    with pytest.raises(UnknownSolverError, match="unknown solver 'nosuch'") as info:
        solve_model(model, solver="nosuch")
    assert isinstance(info.value, ValueError)  # `except ValueError` keeps working
    assert "cyipopt_direct" in info.value.available


def test_errors_pickle_unchanged():
    for err in (
        UnknownSolverError("x", ["a", "b"], ["c"]),
        SolverOptionError("bad option"),
        UserInputError("two\nlines"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
    assert str(UserInputError("two\nlines")) == "two lines"


# -- options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ("max_iter", "not of the form name=value"),
        ("=5", "not of the form name=value"),
        ("tol='1e-9", "No closing quotation"),
    ],
)
def test_malformed_solver_options(theta3, capsys, options, fragment):
    assert main(["solve", str(theta3), "--solver-options", options]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert "--solver-options" in line and fragment in line


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_bad_time_limit(theta3, capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["solve", str(theta3), "--time-limit", value])
    assert info.value.code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "--time-limit" in err and "Traceback" not in err


def test_option_ipopt_refuses_is_bad_input(theta3, capsys):
    assert main(["solve", str(theta3), "--solver-options", "no_such_option=1"]) == EXIT_INPUT
    assert "no_such_option" in one_line_error(capsys)


# -- files ----------------------------------------------------------------------------


def test_output_into_missing_folder(theta3, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "menu.json"
    assert main(["solve", str(theta3), "--json", str(target)]) == EXIT_INPUT
    assert str(target) in one_line_error(capsys)


def test_instance_error_with_debug_shows_the_traceback(tmp_path):
    with pytest.raises(InstanceError, match="no such file"):
        main(["--debug", "solve", str(tmp_path / "absent.dat")])


@pytest.mark.parametrize("case", ["adjacent_multidimensional", "allocations_without_scale"])
def test_block_options_the_instance_cannot_take(case, vs4, capsys):
    if case == "adjacent_multidimensional":
        argv = ["solve", str(vs4), "--setting", "allocations", "--ic", "adjacent"]
    else:
        vs4.write_text(vs4.read_text() + "param scale_constraint := 0 ;\n")
        argv = ["solve", str(vs4), "--setting", "allocations"]
    assert main(argv) == EXIT_INPUT
    line = one_line_error(capsys)
    assert str(vs4) in line  # names the file
    assert ("ic: adjacent" if case == "adjacent_multidimensional" else "scale_constraint") in line


@pytest.mark.parametrize(
    ("name", "ic"),
    [
        ("mussa_rosen_10", "envelope"),
        ("rochet_chone_5x5", "envelope"),
        ("rochet_chone_5x5", "adjacent"),
    ],
)
def test_screening_refuses_an_ic_set_in_one_line_before_construction(name, ic, capfd):
    """Checked before Pyomo constructs the block: no 'Constructing component' log above
    the one line (captured at the file descriptors, where Pyomo's logger writes)."""
    path = INSTANCES / "screening" / f"{name}.dat"
    assert main(["solve", str(path), "--setting", "screening", "--ic", ic]) == EXIT_INPUT
    line = one_line_error(capfd)
    assert str(path) in line and f"ic: {ic} IC" in line


@pytest.mark.parametrize("case", ["adjacent", "bare_theta", "no_scale_constraint"])
def test_token_allocations_refuses_at_declaration(case, theta3, vs4):
    """The block itself refuses (InstanceError, before Pyomo constructs anything)."""
    import pyomo.environ as pyo

    from pyomo_llmprice.blocks import TokenAllocations

    good = read_instance(vs4)
    if case == "no_scale_constraint":
        vs4.write_text(vs4.read_text() + "param scale_constraint := 0 ;\n")
    path = theta3 if case == "bare_theta" else vs4
    inst = read_instance(path)
    options = {"ic": "adjacent"} if case == "adjacent" else {}
    with pytest.raises(InstanceError, match=str(path)) as err:
        TokenAllocations(instance=inst, **options)
    assert "\n" not in str(err.value)
    entry = {"adjacent": "ic", "bare_theta": "theta", "no_scale_constraint": "scale_constraint"}
    assert f": {entry[case]}: " in str(err.value)
    model = pyo.ConcreteModel()
    model.menu = TokenAllocations(instance=good, ic="all_pairs")  # a valid pairing builds
    assert len(model.menu.incentive) == 4 * 3


# -- bugs -----------------------------------------------------------------------------


def broken_verification(*args, **kwds):
    raise ValueError("an internal check failed")


def test_internal_value_error_is_not_bad_input(theta3, capsys, monkeypatch):
    """A ValueError from inside the package is a bug: traceback, exit 1, never exit 2."""
    monkeypatch.setattr(result, "verify_menu", broken_verification)
    assert main(["solve", str(theta3)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "broken_verification" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("llmprice: internal error: ValueError: an internal check failed")
    assert "please report" in last


def test_internal_error_with_debug_propagates(theta3, monkeypatch):
    monkeypatch.setattr(result, "verify_menu", broken_verification)
    with pytest.raises(ValueError, match="an internal check failed"):
        main(["--debug", "solve", str(theta3)])


def test_which_errors_are_the_users():
    assert is_user_error(UserInputError("x"))
    assert is_user_error(InstanceError("f.dat", "alpha", "negative"))
    assert is_user_error(FileNotFoundError(2, "No such file or directory", "out/menu.json"))
    assert not is_user_error(ValueError("x"))
    assert not is_user_error(OSError("no file named"))
    assert not is_user_error(KeyError("x"))


def test_a_solve_without_a_point_publishes_no_menu_and_no_certificate(tmp_path):
    """Two Ipopt iterations on the envelope chain end at an iterate that is not loaded
    (three end at one that is): the JSON must not read as a checked 'serve nobody'
    menu, and a loaded last point is never given a profit."""
    import json

    path = INSTANCES / "paper_theta_20.dat"
    docs = {}
    for iters in (2, 3):
        out = tmp_path / f"r{iters}.json"
        argv = ["solve", str(path), "--method", "nlp", "--solver-options", f"max_iter={iters}"]
        assert main([*argv, "--json", str(out)]) != 0
        docs[iters] = json.loads(out.read_text())
    seen = {doc["has_point"] for doc in docs.values()}
    assert seen == {True, False}  # both cases are exercised
    for doc in docs.values():
        assert doc["status"] == "iteration_limit" and doc["profit"] is None
        if doc["has_point"]:
            assert doc["last_point"] and len(doc["menu"]) == 20
        else:
            assert doc["menu"] == [] and doc["max_loss"] is None
            assert doc["max_ic_violation"] is None
