"""The same instance and options give the same menu: in one process, across processes
(different hash seeds) and whatever the order of the types in the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fault_data import REPO, TECHNOLOGY

from pyomo_llmprice.cli import main
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model, solve_instance, solve_model
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import sample_value_scale

#: keys of the JSON document that measure the run rather than describe the menu
TIMING = {"wall_time"}

RUNS = [
    ("theta3", "packages", "auto"),
    ("vs4", "packages", "auto"),
    ("vs4", "allocations", "all_pairs"),
    ("vs4", "allocations", "generated"),
]


def assert_same_result(a, b) -> None:
    pd.testing.assert_frame_equal(a.menu, b.menu, check_exact=True)
    assert a.aggregates == b.aggregates
    assert a.status == b.status and a.iterations == b.iterations
    assert a.verification.max_violation == b.verification.max_violation


@pytest.mark.parametrize(("name", "setting", "ic"), RUNS)
def test_repeated_solves_are_bitwise_equal(name, setting, ic, request):
    path = request.getfixturevalue(name)
    first = solve_instance(path, setting, ic)
    again = solve_instance(path, setting, ic)
    assert first.status == "optimal"
    assert_same_result(first, again)


def test_resolving_the_same_model_object_changes_nothing(theta3):
    """A second solve starts from the first one's point and must end where it did."""
    model = build_model(read_instance(theta3))
    first = solve_model(model)
    second = solve_model(model)
    assert second.status == "optimal"
    np.testing.assert_allclose(second.menu["payment"], first.menu["payment"], rtol=0, atol=1e-9)
    assert second.profit == pytest.approx(first.profit, rel=1e-12)


def _documents(path: Path, runs: list, tmp_path: Path, tag: str, seed: str) -> list[dict]:
    """JSON documents of llmprice solve for each (setting, ic), in a fresh interpreter."""
    outs = [tmp_path / f"{tag}_{i}.json" for i in range(len(runs))]
    calls = [
        ["solve", str(path), "--setting", setting, "--ic", ic, "--json", str(out)]
        for (setting, ic), out in zip(runs, outs, strict=True)
    ]
    code = (
        "import sys\nfrom pyomo_llmprice.cli import main\n"
        f"sys.exit(max(main(argv) for argv in {calls!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(out.read_text()) for out in outs]


def _strip(doc: dict) -> dict:
    """The document without its timings (top level, and the generation log's)."""
    out = {k: v for k, v in doc.items() if k not in TIMING}
    if isinstance(out.get("ic_generation"), dict):
        out["ic_generation"] = _strip(out["ic_generation"])
    return out


def test_fresh_processes_agree_with_each_other_and_this_one(vs4, tmp_path, capsys):
    """Set iteration and dict order must not leak into the menu: two interpreters with
    different hash seeds and this process give identical JSON."""
    runs = [(setting, ic) for name, setting, ic in RUNS if name == "vs4"]
    here = []
    for setting, ic in runs:
        out = tmp_path / f"here_{setting}_{ic}.json"
        assert main(["solve", str(vs4), "--setting", setting, "--ic", ic, "--json", str(out)]) == 0
        here.append(json.loads(out.read_text()))
    capsys.readouterr()
    a = _documents(vs4, runs, tmp_path, "a", "0")
    b = _documents(vs4, runs, tmp_path, "b", "4242")
    for x, y, z in zip(a, b, here, strict=True):
        assert x["status"] == "optimal"
        assert _strip(x) == _strip(y) == _strip(z)


def test_type_order_in_the_file_changes_only_the_row_order(tmp_path):
    """The model's type set is ordered as the file; the menu per type does not depend on it."""
    rows = {"low": 0.3, "mid": 0.6, "high": 0.9}
    probs = {"low": 0.3, "mid": 0.4, "high": 0.3}
    results = {}
    for order in (["low", "mid", "high"], ["high", "low", "mid"]):
        table = "  ".join(f"{k} {probs[k]} {rows[k]}" for k in order)
        path = tmp_path / f"{'_'.join(order)}.dat"
        path.write_text(
            f"set TYPES := {' '.join(order)} ;\nparam : prob theta := {table} ;\n" + TECHNOLOGY
        )
        model = build_model(read_instance(path))
        assert list(model.menu.types) == order
        result = solve_model(model)
        assert result.status == "optimal"
        assert list(result.menu["type"]) == order
        results[tuple(order)] = result.menu.set_index("type")
    a, b = results.values()
    b = b.loc[a.index]
    for col in ("input_tokens", "output_tokens", "finetune_tokens", "payment", "rent"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-7, atol=1e-9, err_msg=col)
    assert (a["served"] == b["served"]).all()


def test_sampled_types_are_reproducible_from_the_seed():
    first = sample_value_scale(5, seed=11)
    again = sample_value_scale(5, seed=11)
    other = sample_value_scale(5, seed=12)
    np.testing.assert_array_equal(first.value_per_task, again.value_per_task)
    np.testing.assert_array_equal(first.scale, again.scale)
    assert first.labels == again.labels
    assert not np.array_equal(first.value_per_task, other.value_per_task)
    inst = Instance("sampled", None, first, Technology())
    inst_again = Instance("sampled", None, again, Technology())
    assert_same_result(
        solve_model(build_model(inst, "allocations")),
        solve_model(build_model(inst_again, "allocations")),
    )
