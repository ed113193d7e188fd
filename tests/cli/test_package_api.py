"""The package's top-level names: each is the object its defining module exports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pyomo_llmprice


@pytest.mark.parametrize("name", sorted(pyomo_llmprice._LAZY))
def test_lazy_names_are_the_defining_modules_objects(name):
    module = importlib.import_module(pyomo_llmprice._LAZY[name])
    assert getattr(pyomo_llmprice, name) is getattr(module, name)
    assert name in pyomo_llmprice.__all__


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        pyomo_llmprice.no_such_name  # noqa: B018


def test_importing_the_package_does_not_import_the_heavy_layers():
    code = (
        "import sys, pyomo_llmprice; "
        "print(any(m in sys.modules for m in "
        "('pyomo_llmprice.tariffs', 'pyomo_llmprice.quick', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
