"""Option parsing and coercion of the in-memory Ipopt interfaces (no Ipopt run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyomo.common.collections import Bunch
from pyomo.common.config import ConfigDict, ConfigValue

from pyomo_llmprice.solvers.config import (
    CyIpoptConfig,
    IpoptResults,
    coerce_option,
    normalize_options,
    parse_option_string,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1e-9", 1e-9),
        ("500", 500),
        (" 42 ", 42),
        ("-3", -3),
        ("2.5", 2.5),
        ("adaptive", "adaptive"),
        ("yes", "yes"),
        ('"500"', "500"),  # quotes keep a number-looking value as text
        ("'1e-9'", "1e-9"),
    ],
)
def test_coerce_option_text(text, expected):
    out = coerce_option(text)
    assert out == expected
    assert type(out) is type(expected)


def test_coerce_option_non_text():
    assert coerce_option(7) == 7 and isinstance(coerce_option(7), int)
    assert coerce_option(1e-8) == 1e-8
    assert coerce_option(True) == "yes"
    assert coerce_option(False) == "no"
    assert math.isinf(coerce_option("inf"))


def test_parse_option_string_like_pyomo_solve():
    opts = parse_option_string("max_iter=500 tol=1e-9 mu_strategy=adaptive")
    assert opts == {"max_iter": 500, "tol": 1e-9, "mu_strategy": "adaptive"}
    assert isinstance(opts["max_iter"], int)
    assert isinstance(opts["tol"], float)
    assert parse_option_string("'output_file=a b.txt'") == {"output_file": "a b.txt"}
    assert parse_option_string("") == {}


@pytest.mark.parametrize("bad", ["max_iter", "=5", "tol=1e-9 oops"])
def test_parse_option_string_rejects_malformed(bad):
    with pytest.raises(ValueError, match="name=value"):
        parse_option_string(bad)


def test_normalize_options_sources():
    assert normalize_options(None) == {}
    assert normalize_options("tol=1e-8 max_iter=3") == {"tol": 1e-8, "max_iter": 3}
    assert normalize_options({"tol": "1e-8", "max_iter": "3", "skip": None}) == {
        "tol": 1e-8,
        "max_iter": 3,
    }
    assert normalize_options(Bunch(tol="1e-8")) == {"tol": 1e-8}
    cd = ConfigDict(implicit=True)
    cd.declare("max_iter", ConfigValue(default="500"))
    assert normalize_options(cd) == {"max_iter": 500}
    assert normalize_options([("tol", "1e-7")]) == {"tol": 1e-7}


def test_config_defaults_and_validation():
    cfg = CyIpoptConfig()
    assert cfg.warm_start_multipliers is False
    assert cfg.feasibility_tolerance == 1e-6
    assert cfg.load_solutions is True
    assert cfg.time_limit is None
    assert cfg.raise_exception_on_nonoptimal_result is True
    local = cfg(value={"warm_start_multipliers": "yes", "feasibility_tolerance": "1e-4"})
    assert local.warm_start_multipliers is True
    assert local.feasibility_tolerance == 1e-4
    with pytest.raises(ValueError):
        cfg(value={"feasibility_tolerance": -1.0})
    with pytest.raises(ValueError):
        cfg(value={"no_such_setting": 1})
    # Ipopt's own options are free-form and kept until the solve normalizes them
    local = cfg(value={"solver_options": {"tol": "1e-9", "mu_strategy": "adaptive"}})
    assert normalize_options(local.solver_options) == {"tol": 1e-9, "mu_strategy": "adaptive"}


def test_results_declare_ipopt_information():
    res = IpoptResults()
    assert res.extra_info.iteration_count is None  # where Pyomo's own ipopt puts it
    for name in (
        "iteration_count",
        "ipopt_status",
        "ipopt_message",
        "primal_infeasibility",
        "dual_infeasibility",
        "build_time",
        "solve_time",
        "n_variables",
        "n_constraints",
        "n_signatures",
    ):
        assert name in res.extra_info
    res.extra_info.iteration_count = 3
    assert res.extra_info.iteration_count == 3


class _Tiny:
    """Enough of a problem for cyipopt to accept options (never solved)."""

    def objective(self, x):
        return float(x[0] ** 2)

    def gradient(self, x):
        return 2 * x

    def constraints(self, x):
        return np.zeros(0)

    def jacobian(self, x):
        return np.zeros(0)


@pytest.fixture
def problem():
    cyipopt = pytest.importorskip("cyipopt")
    p = cyipopt.Problem(n=1, m=0, problem_obj=_Tiny(), lb=[0.0], ub=[1.0], cl=[], cu=[])
    yield p
    p.close()


@pytest.mark.parametrize(
    "name, val",
    [
        ("tol", 1),  # an integer for a Number option is retried as a float
        ("tol", "1e-9"),
        ("max_iter", "500"),
        ("max_iter", 7),
        ("mu_strategy", "adaptive"),
        ("acceptable_tol", 1e-4),
        ("warm_start_init_point", True),
    ],
)
def test_set_ipopt_option_accepts(problem, name, val):
    from pyomo_llmprice.solvers.cyipopt_direct import set_ipopt_option

    set_ipopt_option(problem, name, val)


@pytest.mark.parametrize(
    "name, val",
    [("no_such_option", 1), ("max_iter", "abc"), ("mu_strategy", "nonsense"), ("tol", "x")],
)
def test_set_ipopt_option_refuses(problem, name, val):
    from pyomo_llmprice.solvers.cyipopt_direct import set_ipopt_option

    with pytest.raises(ValueError, match=name):
        set_ipopt_option(problem, name, val)
