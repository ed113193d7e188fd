"""Contracting settings, registered the way Pyomo's ``SolverFactory`` registers solvers.

A setting is what the seller can contract on (token totals, task-by-task
allocations, goods of a generic screening problem). Each one registers, in the
module of its block, everything the rest of the package needs to know about it:
its Pyomo block, the ``.dat`` schema its instances are read with, the IC options
its block accepts, and the check that refuses an instance it cannot express. The
CLI's choices, ``build_model``, the ``pyomo solve`` model files and the study specs
all read this registry, so a new setting is one new block module plus its line in
``pyomo_llmprice/blocks/__init__.py``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyomo_llmprice.instance import Instance, InstanceError, ScreeningInstance

__all__ = [
    "SCHEMAS",
    "Setting",
    "check_setting",
    "get_setting",
    "ic_options",
    "register_setting",
    "setting_names",
]

SCHEMAS: dict[str, type] = {"llm": Instance, "screening": ScreeningInstance}
"""The two ``.dat`` schemas (:mod:`pyomo_llmprice.io`) and the instance each yields."""

_SCHEMA_HINT = {
    "llm": "this is a generic screening instance (set DIMS, value_form, ...) and has no "
    "tokens; solve it with setting 'screening'",
    "screening": "it needs the generic screening format (set DIMS, theta[TYPES,DIMS], "
    "value_form, cost_form, ...); this is an LLM instance: use 'packages' or 'allocations'",
}


@dataclass(frozen=True)
class Setting:
    """One contracting setting and what the package needs to know about it."""

    name: str
    block: Any
    """The Pyomo block component (``TokenPackages``, ...) built on an instance."""
    schema: str
    """Key of :data:`SCHEMAS`: the ``.dat`` format its instances are read with."""
    ic: tuple[str, ...]
    """The ``ic`` options its block accepts, the default first."""
    summary: str
    """One line for ``--help`` and the docs."""
    one_dimensional: bool = False
    """Whether every instance reduces to one type index (exact 1-D methods apply)."""
    check: Callable[[Any, str], None] | None = None
    """Raises :class:`InstanceError` for an instance of the right schema it cannot express."""
    publish: Callable[[Any, Any], Any] | None = None
    """``publish(instance, bundle_columns)``: the :class:`~pyomo_llmprice.certificate.
    Publication` (values, costs) of a published menu, recomputed from the instance; what
    :func:`pyomo_llmprice.result.certify_menu` checks, whatever computed the menu."""


_REGISTRY: dict[str, Setting] = {}


def register_setting(setting: Setting) -> Setting:
    """Register `setting` under its name (called once, by the module of its block)."""
    if setting.schema not in SCHEMAS:
        raise ValueError(f"setting {setting.name!r}: unknown schema {setting.schema!r}")
    if setting.name in _REGISTRY and _REGISTRY[setting.name] != setting:
        raise ValueError(f"setting {setting.name!r} is already registered")
    _REGISTRY[setting.name] = setting
    return setting


def _registry() -> dict[str, Setting]:
    importlib.import_module("pyomo_llmprice.blocks")  # the built-in settings register there
    return _REGISTRY


def setting_names(schema: str | None = None) -> tuple[str, ...]:
    """The registered settings (those read with `schema`, if given)."""
    return tuple(n for n, s in _registry().items() if schema is None or s.schema == schema)


def get_setting(name: str, where: str = "setting") -> Setting:
    """The setting called `name`; an unknown name is one :class:`InstanceError` line."""
    registry = _registry()
    if name not in registry:
        close = difflib.get_close_matches(str(name), list(registry), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(registry)}"
        raise InstanceError(where, "setting", f"unknown setting {name!r}{hint}")
    return registry[name]


def ic_options(name: str | None = None) -> tuple[str, ...]:
    """The IC options of one setting, or of any setting (for a shared ``--ic`` flag)."""
    if name is not None:
        return get_setting(name).ic
    seen: dict[str, None] = {}
    for setting in _registry().values():
        seen.update(dict.fromkeys(setting.ic))
    return tuple(seen)


def check_setting(instance: Instance | ScreeningInstance, name: str) -> Setting:
    """The setting `name` after checking that `instance` can be solved in it."""
    where = instance.path or instance.name
    setting = get_setting(name, where)
    if not isinstance(instance, SCHEMAS[setting.schema]):
        raise InstanceError(where, "setting", f"setting {name!r}: {_SCHEMA_HINT[setting.schema]}")
    if setting.check is not None:
        setting.check(instance, where)
    return setting
