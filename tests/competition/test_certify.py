"""Global certificates of each seller's best response (``llmprice compete --certify``).

Symmetric logit without outside option: every seller's best response to the others'
equilibrium menus is markup 1 and fee ``sigma S / (S - 1)`` on a share ``1 / S`` of
every type, i.e. profit ``sigma / (S - 1)`` per buyer (tests/competition/
test_closed_forms.py). The proven bound must not be below it (the certificate would
cut off the optimum) and, for the solver to certify anything, must be close above it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyscipopt")

from pyomo_llmprice.cli import main
from pyomo_llmprice.competition import Competition
from pyomo_llmprice.global_certificates.competition import (
    apply_bounds,
    certify_response,
    response_bounds,
)
from tests.competition.test_closed_forms import PAPER, market
from tests.competition.test_io_and_cli import GOOD, write

SIGMA = 0.05


@pytest.fixture(scope="module")
def profile():  # type: ignore[no-untyped-def]
    from pyomo_llmprice.competition import Logit

    result = Competition(market(2, [PAPER] * 2, Logit(SIGMA, False))).solve()
    assert result.status == "optimal", result.message
    return result


def test_bounds_contain_the_closed_form_best_response(profile) -> None:  # type: ignore[no-untyped-def]
    """The equilibrium point (efficient precision, fee 2 sigma) lies inside every bound."""
    import pyomo.environ as pyo

    from pyomo_llmprice.competition.best_response import best_response_model

    mkt = profile.market
    model = best_response_model(mkt, 0)
    money = float(model.menu.units.money)
    for lab, r in zip(model.menu.types, mkt.taste.rivals(profile.utility, 0), strict=True):
        model.rival[lab] = r / money
    bounds = response_bounds(model, mkt.taste, profile.profit[0] / money)
    # the per-type cap is the closed form (each type pays 2 sigma on half the market),
    # never below it, widened by the tolerances of the welfare solve and the profile
    per_type = bounds.term_hi / bounds.prob * money
    assert np.all(per_type >= SIGMA) and np.all(per_type <= SIGMA * (1 + 1e-4))
    np.testing.assert_allclose(bounds.precision_hi >= bounds.first_best, True)
    apply_bounds(model, bounds)
    menu = profile.menus[0]
    pay = menu.payment / money
    for k, t in zip(model.menu.types, pay, strict=True):
        var = model.menu.payment[k]
        assert var.lb <= t <= var.ub
    for v in model.component_data_objects(pyo.Var):
        assert v.lb is not None and v.ub is not None, v.name


def test_certificate_meets_the_closed_form(profile) -> None:  # type: ignore[no-untyped-def]
    mkt = profile.market
    cert = certify_response(
        mkt, 0, mkt.taste.rivals(profile.utility, 0), float(profile.profit[0]), time_limit=5
    )
    assert cert.status in ("optimal", "time_limit")
    # never below the closed-form best response (the bounds cut off no optimum) ...
    assert cert.global_bound >= SIGMA * (1 - 1e-6)
    # ... and within the solver's feasibility tolerance above it
    assert cert.global_bound <= SIGMA * (1 + 1e-4)
    assert 0 <= cert.global_gap <= 1e-4


def test_compete_certify_reports_bound_and_gap(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, GOOD)
    out = tmp_path / "out.json"
    code = main(["compete", str(path), "--certify", "--time-limit", "3", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "Global certificates" in text
    doc = json.loads(out.read_text())
    certs = doc["certificates"]
    assert [c["seller"] for c in certs] == ["a", "b"]
    for c in certs:
        assert c["global_status"] in ("optimal", "time_limit")
        # three types, two symmetric sellers: profit sigma / (S - 1) = sigma per buyer
        assert c["global_bound"] >= SIGMA * (1 - 1e-6)
        assert c["global_gap"] <= 1e-3


def test_a_short_time_limit_is_time_limit_with_the_bound_reached(profile) -> None:  # type: ignore[no-untyped-def]
    mkt = profile.market
    cert = certify_response(
        mkt, 1, mkt.taste.rivals(profile.utility, 1), float(profile.profit[1]), time_limit=0.2
    )
    assert cert.status == "time_limit"
    assert cert.global_bound >= SIGMA * (1 - 1e-6)
    assert "time limit reached" in cert.note


def test_hotelling_and_plans_are_refused_in_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, GOOD)
    assert main(["compete", str(path), "--certify", "--plans", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--plans" in err
