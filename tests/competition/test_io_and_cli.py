"""The competition .dat format, ``llmprice compete`` and ``pyomo solve models/competition.py``.

Bad entries are one line naming the file and the entry (exit 2, no traceback); the
JSON has exactly the issue's schema; numbers are checked against the closed form of
symmetric logit competition (markup 1, fee sigma S / (S - 1)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmprice.cli import main
from pyomo_llmprice.io.competition import read_competition

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "instances" / "competition" / "two_providers.dat"

GOOD = """# a small symmetric market
set TYPES := low mid high ;
param : prob theta :=
  low 0.3 0.4
  mid 0.4 0.7
  high 0.3 1.0 ;
set SELLERS := a b ;
param : alpha beta gamma base_quality cost_input cost_output cost_finetune :=
  a 0.25 0.25 0.25 1.0 0.125 0.125 0.125
  b 0.25 0.25 0.25 1.0 0.125 0.125 0.125 ;
param taste := logit ;
param taste_scale := 0.05 ;
param outside_option := 0 ;
"""

SELLER_KEYS = {"seller", "profit", "market_share", "menu"}
MENU_KEYS = {
    "type",
    "prob",
    "choice_prob",
    "input_tokens",
    "output_tokens",
    "finetune_tokens",
    "payment",
    "markup",
    "fixed_fee",
}


def write(tmp_path: Path, text: str, name: str = "market.dat") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_instance_reads_with_its_assumptions() -> None:
    market = read_competition(EXAMPLE)
    assert market.seller_names == ["frontier", "entrant"]
    assert market.taste.name == "logit" and market.taste.scale == 10.0
    assert market.taste.outside_option
    assert len(market.buyers.types) == 25
    assert market.sellers[1].technology.precision.base_quality == 0.6
    assert "ASSUMED" in market.notes and "list prices" in market.notes


BAD = [
    ("set SELLERS := a b ;", "", "SELLERS", "not a competition instance"),
    ("  b 0.25 0.25 0.25 1.0 0.125 0.125 0.125 ;", "  ;", "alpha", "no value for seller 'b'"),
    ("  b 0.25 0.25 0.25 1.0", "  b -0.25 0.25 0.25 1.0", "alpha[b]", "must be positive"),
    ("  b 0.25 0.25 0.25 1.0", "  b 0.25 0.25 0.25 0.0", "base_quality[b]", "must be positive"),
    ("  b 0.25 0.25 0.25 1.0", "  c 0.25 0.25 0.25 1.0", "alpha[c]", "not in SELLERS"),
    ("param taste := logit ;", "param taste := probit ;", "taste", "unknown taste 'probit'"),
    ("param taste_scale := 0.05 ;", "param taste_scale := -1 ;", "taste_scale", "positive"),
    ("param taste_scale := 0.05 ;", "", "taste_scale", "missing"),
    ("param outside_option := 0 ;", "param outside_option := 2 ;", "outside_option", "0 or 1"),
    ("param taste := logit ;", "param taste := hotelling ;\nparam tau := 1 ;", "tau", "unknown"),
    ("low 0.3 0.4", "low 0.35 0.4", "prob", "sum to"),
    ("set SELLERS := a b ;", "set SELLERS := a b c ;", "alpha", "no value for seller 'c'"),
]


@pytest.mark.parametrize(("old", "new", "entry", "problem"), BAD)
def test_a_bad_entry_is_one_line_naming_file_and_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, entry: str, problem: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    assert main(["compete", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"llmprice: error: {path}: {entry}: "), lines[0]
    assert problem in lines[0]
    assert "Traceback" not in err


def test_hotelling_needs_two_sellers_and_a_covered_market(tmp_path: Path, capsys) -> None:
    text = GOOD.replace("param taste := logit ;", "param taste := hotelling ;")
    path = write(tmp_path, text.replace("outside_option := 0", "outside_option := 1"))
    assert main(["compete", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"llmprice: error: {path}: taste: ") and "covered" in err


def test_compete_prints_and_writes_the_issue_schema(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, GOOD)
    out = tmp_path / "out.json"
    assert main(["compete", str(path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "status: optimal" in printed and "max_deviation_gain" in printed
    doc = json.loads(out.read_text())
    assert {"status", "sellers", "consumer_surplus", "welfare", "max_deviation_gain"} <= set(doc)
    assert doc["status"] == "optimal" and doc["max_deviation_gain"] <= 1e-6
    for seller in doc["sellers"]:
        assert SELLER_KEYS <= set(seller)
        assert seller["market_share"] == pytest.approx(0.5, abs=1e-6)
        assert [row["type"] for row in seller["menu"]] == ["low", "mid", "high"]
        for row in seller["menu"]:
            assert set(row) == MENU_KEYS
            assert row["markup"] == pytest.approx(1.0, abs=1e-5)
            assert row["fixed_fee"] == pytest.approx(0.05 * 2 / (2 - 1), rel=1e-5)
    # closed form: each seller earns the fee on half the market; the taste's logsum
    profit = sum(s["profit"] for s in doc["sellers"])
    assert profit == pytest.approx(0.1, rel=1e-5)
    assert doc["welfare"] == pytest.approx(doc["consumer_surplus"] + profit, rel=1e-12)


def test_plans_restricts_each_seller_to_k_two_part_tariffs(tmp_path: Path, capsys) -> None:
    """K = 1 in the symmetric market: the one plan that competition in utility space
    would pick is cost plus the fee sigma S / (S - 1), and every type buys it."""
    path = write(tmp_path, GOOD)
    out = tmp_path / "plans.json"
    assert main(["compete", str(path), "--plans", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal" and doc["plans"] == 1
    for seller in doc["sellers"]:
        fees = {round(r["fixed_fee"], 4) for r in seller["menu"]}
        markups = np.array([r["markup"] for r in seller["menu"]])
        assert fees == {0.1}
        np.testing.assert_allclose(markups, 1.0, atol=1e-3)
    assert "1 two-part tariff(s) per seller" in capsys.readouterr().out


def test_not_converged_exit_code_and_json(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, GOOD.replace("0.05", "0.5"))
    out = tmp_path / "nc.json"
    assert main(["compete", str(path), "--max-iter", "1", "--json", str(out)]) == 3
    doc = json.loads(out.read_text())
    assert doc["status"] == "not_converged" and doc["sellers"] is None
    assert "NOT an equilibrium" in capsys.readouterr().out


def test_the_figure_has_plans_and_shares(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from pyomo_llmprice.competition import Competition
    from pyomo_llmprice.report.competition import plot_competition

    result = Competition(read_competition(write(tmp_path, GOOD))).solve()
    fig = plot_competition(result, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 0
    gids = {a.get_gid() for ax in fig.axes for a in [*ax.lines, *ax.collections]}
    assert {"fee:a", "fee:b", "markup:a", "share:a", "share:b"} <= gids
    fee_line = next(ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "fee:a")
    np.testing.assert_allclose(fee_line.get_ydata(), 0.1, rtol=1e-5)


def test_pyomo_solve_best_response_to_the_others_menus(tmp_path: Path, monkeypatch, capsys):
    """Seller a's best response to b's equilibrium menu is its own equilibrium menu:
    the fee sigma S / (S - 1) on every type, profit fee / 2."""
    from pyomo.scripting.pyomo_main import main as pyomo_main

    path = write(tmp_path, GOOD)
    out = tmp_path / "eq.json"
    assert main(["compete", str(path), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    doc["best_response"] = "a"
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    run = pyomo_main(
        [
            "solve",
            str(REPO / "models" / "competition.py"),
            str(path),
            str(out),
            "--solver=cyipopt_direct",
        ]
    )
    printed = capsys.readouterr().out
    assert run.errorcode == 0, printed[-2000:]
    assert "best response of a: status optimal" in printed
    profit = float(printed.split("\nprofit ")[1].split()[0])
    assert profit == pytest.approx(0.05, rel=1e-6)


def test_pyomo_solve_without_the_menus_file_is_one_line(tmp_path: Path, monkeypatch, capsys):
    from pyomo.scripting.pyomo_main import main as pyomo_main

    path = write(tmp_path, GOOD)
    monkeypatch.chdir(tmp_path)
    run = pyomo_main(
        ["solve", str(REPO / "models" / "competition.py"), str(path), "--solver=cyipopt_direct"]
    )
    err = capsys.readouterr().err
    assert run.errorcode == 2 if hasattr(run, "errorcode") else True
    lines = [ln for ln in err.splitlines() if ln.startswith("pyomo solve: error: ")]
    assert len(lines) == 1 and "JSON" in lines[0], err


def test_allocations_setting_is_cost_plus_fee_too(tmp_path: Path, capsys) -> None:
    """Token Allocations menus (value-scale types, scale constraint): competition in
    utility space gives the same closed form, markup 1 and fee sigma S / (S - 1)."""
    text = GOOD.replace(
        "param : prob theta :=\n  low 0.3 0.4\n  mid 0.4 0.7\n  high 0.3 1.0 ;",
        "param : prob value_per_task scale :=\n  low 0.3 0.5 0.3\n  mid 0.4 0.8 0.6\n"
        "  high 0.3 1.0 1.0 ;",
    )
    assert "value_per_task" in text
    out = tmp_path / "alloc.json"
    path = write(tmp_path, text)
    assert main(["compete", str(path), "--setting", "allocations", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal" and doc["setting"] == "allocations"
    for seller in doc["sellers"]:
        for row in seller["menu"]:
            assert row["markup"] == pytest.approx(1.0, abs=1e-5)
            assert row["fixed_fee"] == pytest.approx(0.1, rel=1e-5)
