"""The settings registry: lookup, checks, and a new setting registered from outside."""

from __future__ import annotations

from pathlib import Path

import pyomo.environ as pyo
import pytest

from pyomo_llmprice.blocks import TokenAllocations, TokenPackages
from pyomo_llmprice.blocks.menu import IC_SETS
from pyomo_llmprice.instance import InstanceError
from pyomo_llmprice.io import read_instance
from pyomo_llmprice.pipeline import build_model
from pyomo_llmprice.settings import (
    Setting,
    check_setting,
    get_setting,
    ic_options,
    register_setting,
    setting_names,
)
from tests.io.test_io import TASKS, THETA, VALUE_SCALE, write


def test_registry_lists_the_built_in_settings() -> None:
    assert setting_names() == ("packages", "allocations", "screening")
    assert setting_names("llm") == ("packages", "allocations")
    assert get_setting("packages").block is TokenPackages
    assert get_setting("allocations").block is TokenAllocations
    assert ic_options("allocations") == ("auto", "all_pairs", "generated")
    assert "envelope" in ic_options("packages")
    assert "envelope" not in ic_options("screening")  # its values need not be lean
    assert ic_options() == IC_SETS


def test_check_setting(tmp_path: Path) -> None:
    theta = read_instance(write(tmp_path, THETA, "theta.dat"))
    assert check_setting(theta, "packages").name == "packages"
    with pytest.raises(InstanceError) as info:
        check_setting(theta, "allocations")
    assert str(info.value) == (
        f"{tmp_path / 'theta.dat'}: theta: Token Allocations needs labeled tasks or "
        "value-scale types; a bare type index theta cannot say which tasks the tokens serve"
    )
    for text in (VALUE_SCALE, TASKS):
        inst = read_instance(write(tmp_path, text, "x.dat"))
        check_setting(inst, "packages")
        check_setting(inst, "allocations")
    with pytest.raises(
        InstanceError, match="unknown setting 'allocation' \\(did you mean 'allocations'"
    ):
        check_setting(theta, "allocation")
    with pytest.raises(InstanceError, match="setting 'screening': it needs the generic"):
        check_setting(theta, "screening")


def test_a_setting_registered_from_outside_is_built(tmp_path: Path) -> None:
    """What the extension docs promise: one registration makes a setting usable."""
    refused: list[str] = []

    def check(instance: object, where: str) -> None:
        refused.append(where)

    setting = register_setting(
        Setting(
            name="packages_copy",
            block=TokenPackages,
            schema="llm",
            ic=("auto",),
            summary="a test copy of Token Packages",
            check=check,
        )
    )
    try:
        theta = read_instance(write(tmp_path, THETA, "theta.dat"))
        model = build_model(theta, "packages_copy")
        assert isinstance(model.menu, pyo.Block) and refused == [str(tmp_path / "theta.dat")]
        assert "packages_copy" in setting_names("llm")
        with pytest.raises(ValueError, match="already registered"):
            register_setting(Setting("packages_copy", TokenAllocations, "llm", ("auto",), "x"))
        assert register_setting(setting) is setting  # the same one again is harmless
    finally:
        from pyomo_llmprice import settings

        settings._REGISTRY.pop("packages_copy")
