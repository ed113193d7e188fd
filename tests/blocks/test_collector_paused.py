"""The cyclic collector waits while a block builds and a model compiles (both create
millions of objects that live on), and is as it was afterwards."""

from __future__ import annotations

import gc

import pyomo.environ as pyo
import pytest

from pyomo_llmprice._gc import collector_paused
from pyomo_llmprice.blocks.packages import TokenPackages, TokenPackagesData
from pyomo_llmprice.instance import Instance
from pyomo_llmprice.solvers import evaluator
from pyomo_llmprice.technology import Technology
from pyomo_llmprice.types import theta_types


def test_paused_inside_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(KeyError), collector_paused():
        assert not gc.isenabled()
        raise KeyError("inside")
    assert gc.isenabled()


def test_a_callers_own_pause_stands() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_block_builds_and_a_model_compiles_with_the_collector_paused(monkeypatch) -> None:
    seen: dict[str, bool] = {}
    build_menu = TokenPackagesData._build_menu

    def spy_build(self) -> None:
        seen["build"] = gc.isenabled()
        build_menu(self)

    walk = evaluator._Walker.walk

    def spy_walk(self, *args):
        seen.setdefault("compile", gc.isenabled())
        return walk(self, *args)

    monkeypatch.setattr(TokenPackagesData, "_build_menu", spy_build)
    monkeypatch.setattr(evaluator._Walker, "walk", spy_walk)
    inst = Instance("two", None, theta_types([1.0, 2.0], [0.5, 0.5]), Technology.cobb_douglas())
    m = pyo.ConcreteModel()
    m.menu = TokenPackages(instance=inst)
    evaluator.NLPEvaluator(m)
    assert seen == {"build": False, "compile": False}
    assert gc.isenabled()
