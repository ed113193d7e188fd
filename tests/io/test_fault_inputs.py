"""User mistakes of issue #15 (part 7): each exits 2 with one line naming the entry.

Output paths are refused before any work: the tests replace the reading or solving
step by one that fails loudly (an internal error, exit 1), so a check that came only
after the solve would show up as exit 1, not 2.
"""

from __future__ import annotations

import ctypes.util
import importlib
import os
import sys
from pathlib import Path

import pytest
from fault_data import TECHNOLOGY, one_line_error

from pyomo_llmprice import io as llm_io
from pyomo_llmprice.cli import main
from pyomo_llmprice.cli._common import EXIT_INPUT, EXIT_OK, check_output
from pyomo_llmprice.errors import UserInputError
from pyomo_llmprice.solvers.config import FILE_OPTIONS


def not_reached(*args, **kwds):
    raise AssertionError("work started before the output paths were checked")


@pytest.fixture
def no_work(monkeypatch):
    """Reading an instance, comparing or sweeping fails loudly (an internal error)."""
    # the package exports functions of the same names: take the modules themselves
    studies_compare = importlib.import_module("pyomo_llmprice.studies.compare")
    studies_sweep = importlib.import_module("pyomo_llmprice.studies.sweep")
    monkeypatch.setattr(llm_io, "read_instance", not_reached)
    monkeypatch.setattr(studies_compare, "compare", not_reached)
    monkeypatch.setattr(studies_sweep, "run_sweep", not_reached)


def sweep_spec(folder: Path, base: Path) -> Path:
    spec = folder / "spec.yaml"
    spec.write_text(f"base: {base}\nparameters: {{cost_input: [0.1, 0.2]}}\n")
    return spec


def argv_for(command: str, option: str, target: str, theta3: Path, tmp_path: Path) -> list[str]:
    if command == "sweep":
        return ["sweep", str(sweep_spec(tmp_path, theta3)), option, target]
    if command == "compare":
        return ["compare", str(theta3), "--solvers", "cyipopt_direct", option, target]
    return [command, str(theta3), option, target]


#: (command, output option, whether it names a folder)
OUTPUTS = [
    ("solve", "--json", False),
    ("solve", "--csv", False),
    ("tariffs", "--json", False),
    ("plot", "--out", True),
    ("compare", "--out", True),
    ("sweep", "--out", True),
]


@pytest.mark.parametrize(("command", "option", "folder"), OUTPUTS)
@pytest.mark.parametrize("case", ["empty", "missing_folder", "under_a_file", "kind"])
def test_output_paths_are_checked_before_any_work(
    command, option, folder, case, theta3, tmp_path, capsys, no_work
):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    target, fragment = {
        "empty": ("", f"{option}: empty path"),
        "missing_folder": (
            str(tmp_path / "no" / "such" / "out.json"),
            "does not exist" if not folder else None,
        ),
        "under_a_file": (str(a_file / "out.json"), "is not a folder"),
        # a folder where a file is wanted, a file where a folder is wanted
        "kind": (
            str(a_file) if folder else str(tmp_path),
            "exists and is not a folder" if folder else "is a folder, not a file",
        ),
    }[case]
    argv = argv_for(command, option, target, theta3, tmp_path)
    if case == "missing_folder" and folder:
        # a missing output folder is created (with parents): the check passes and the
        # work starts, which here is the loud stand-in
        with pytest.raises(AssertionError, match="before the output paths"):
            main(["--debug", *argv])
        return
    assert main(argv) == EXIT_INPUT
    line = one_line_error(capsys)
    assert line.startswith(f"llmprice: error: {option}")
    assert target in line and fragment in line


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_write_failure_is_one_line(theta3, capsys):
    """A write that fails (disk full) names the option and the reason; nothing else."""
    assert main(["solve", str(theta3), "--json", "/dev/full"]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert "--json /dev/full: cannot write: No space left on device" in line


@pytest.mark.skipif(
    sys.platform != "linux" or not Path("/proc/version").is_file(), reason="needs /proc"
)
@pytest.mark.parametrize(
    ("target", "fragment"),
    [("/proc/version", "cannot write"), ("/proc/llmprice-new.json", "cannot create files")],
)
def test_unwritable_outputs_are_refused_up_front(target, fragment, theta3, capsys, no_work):
    """/proc refuses writes even to root (a chmod would not stop this test's root)."""
    assert main(["solve", str(theta3), "--json", target]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert f"--json {target}: {fragment}" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_file_and_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "menu.json").write_text("{}")
    (locked / "menu.json").chmod(0o444)
    locked.chmod(0o555)
    try:
        with pytest.raises(UserInputError, match="cannot write"):
            check_output(str(locked / "menu.json"), "--json")
        with pytest.raises(UserInputError, match="cannot create files"):
            check_output(str(locked / "new.json"), "--json")
        with pytest.raises(UserInputError, match="cannot create files"):
            check_output(str(locked / "figures"), "--out", folder=True)
    finally:
        locked.chmod(0o755)


def test_output_check_leaves_nothing_behind(tmp_path):
    existing = tmp_path / "menu.json"
    existing.write_text("old")
    stamp = existing.stat().st_mtime_ns
    assert check_output(str(existing), "--json") == existing
    assert check_output(str(tmp_path / "new.csv"), "--csv") == tmp_path / "new.csv"
    assert check_output(str(tmp_path / "a" / "b"), "--out", folder=True) == tmp_path / "a" / "b"
    assert existing.read_text() == "old" and existing.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["menu.json"]
    assert check_output(None, "--json") is None


# -- numbers and names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "entry"),
    [
        (["tariffs", "{dat}", "--seed", "-1"], "argument --seed: must be at least 0"),
        (["plot", "{dat}", "--out", "figs", "--seed", "-5"], "argument --seed"),
        (["tariffs", "{dat}", "--plans", "0"], "argument --plans: must be at least 1"),
        (["sweep", "s.yaml", "--max-tasks", "0"], "argument --max-tasks: must be at least 1"),
        (["compare", "{dat}", "--dense-limit", "nan"], "argument --dense-limit"),
        (["compare", "{dat}", "--gap-tolerance", "-1"], "argument --gap-tolerance"),
        (["solve", "{dat}", "--time-limit", "-1"], "argument --time-limit"),
        (["solve", "{dat}", "--time-limit", "soon"], "argument --time-limit"),
    ],
)
def test_bad_numbers_are_one_line(argv, entry, theta3, capsys):
    argv = [a.replace("{dat}", str(theta3)) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_INPUT
    line = one_line_error(capsys, prefix=f"llmprice {argv[0]}: error: ")
    assert entry in line and f"see llmprice {argv[0]} --help" in line


def test_compare_refuses_an_unknown_solver(theta3, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", str(theta3), "--solvers", "cyipopt_direct,nosuch", "--out", str(out)]
    assert main(argv) == EXIT_INPUT
    line = one_line_error(capsys)
    assert "--solvers: unknown solver 'nosuch'" in line and "cyipopt_direct" in line
    assert not out.exists()  # refused before any solve or file


# -- Ipopt options -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILE_OPTIONS))
@pytest.mark.parametrize("command", ["solve", "tariffs"])
def test_file_options_need_the_flag(name, command, theta3, tmp_path, capsys):
    target = tmp_path / "written_by_ipopt.txt"
    argv = [command, str(theta3), "--solver-options", f"{name}={target}"]
    assert main(argv) == EXIT_INPUT
    line = one_line_error(capsys)
    assert f"--solver-options: {name}=" in line and "--allow-file-options" in line
    assert not target.exists()


def test_file_option_names_are_matched_as_ipopt_reads_them(theta3, capsys):
    """Case and casadi's 'ipopt.' prefix do not get a file option past the table."""
    for spelled in ("OUTPUT_FILE", "ipopt.output_file"):
        assert main(["solve", str(theta3), "--solver-options", f"{spelled}=x.txt"]) == 2
        assert f"{spelled}='x.txt'" in one_line_error(capsys)


def test_allowed_file_option_is_passed_to_ipopt(theta3, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Ipopt lowercases the name it writes
    options = ["--allow-file-options", "--solver-options", "output_file=ipopt.log"]
    argv = ["solve", str(theta3), *options]
    assert main(argv) == EXIT_OK
    assert "Ipopt" in (tmp_path / "ipopt.log").read_text()


def _has_hsl() -> bool:
    return any(ctypes.util.find_library(n) for n in ("hsl", "coinhsl"))


@pytest.mark.skipif(_has_hsl(), reason="this machine has HSL: ma27 is a valid choice")
@pytest.mark.parametrize("solver", ["cyipopt_direct", "casadi_ipopt"])
def test_option_value_ipopt_cannot_use_is_bad_input(solver, theta3, capsys):
    """linear_solver=ma27 passes Ipopt's option check and fails when the solve loads
    HSL: exit 2 naming it, not not_converged after a retry."""
    argv = ["solve", str(theta3), "--solver", solver, "--solver-options", "linear_solver=ma27"]
    assert main(argv) == EXIT_INPUT
    line = one_line_error(capsys)
    assert "linear_solver='ma27'" in line and "Invalid_Option" in line
    assert "retr" not in line


# -- instance files ----------------------------------------------------------------------

BAD_INSTANCES = [
    ("param : TYPES : prob theta := ;\n", "TYPES", "empty: declare at least one type"),
    ("set TYPES := ;\n", "TYPES", "empty: declare at least one type"),
    (
        "set TYPES := a b ;\nparam prob default 0.5 := ;\nparam theta := a 0.3 b 0.6 ;\n",
        "prob",
        "'default' is not part of the format",
    ),
    (
        "set TYPES := a b ;\nparam prob default 0.5 := a 0.5 ;\nparam theta := a 0.3 b 0.6 ;\n",
        "prob",
        "'default' is not part of the format",
    ),
    (
        "set TYPES := a b ;\nparam prob := ;\nparam theta := a 0.3 b 0.6 ;\n",
        "prob",
        "no values after ':='",
    ),
    (
        "param : TYPES : prob theta := 1 0.5 0.3  1.0 0.5 0.6 ;\n",
        "TYPES",
        "labels '1' and '1.0' read as the same number 1",
    ),
    (
        "set TYPES := 2 2.0 ;\nparam prob := 2 0.5 2.0 0.5 ;\nparam theta := 2 0.3 2.0 0.6 ;\n",
        "TYPES",
        "duplicate type",
    ),
]


@pytest.mark.parametrize(("types", "entry", "problem"), BAD_INSTANCES)
@pytest.mark.parametrize("setting", ["packages", "screening"])
def test_degenerate_type_declarations_name_the_entry(
    types, entry, problem, setting, tmp_path, capsys
):
    path = tmp_path / "bad.dat"
    extra = "set DIMS := q ;\n" if setting == "screening" else TECHNOLOGY
    path.write_text(types + extra)
    assert main(["solve", str(path), "--setting", setting]) == EXIT_INPUT
    line = one_line_error(capsys)
    assert f"{path}: {entry}: " in line and problem in line
    assert "list index out of range" not in line
