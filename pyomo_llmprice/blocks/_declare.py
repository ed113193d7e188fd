"""``declare_custom_block`` plus a validated CONFIG, the IDAES way.

Pyomo's custom blocks take no options; this decorator lets the block component
accept its data class's CONFIG entries as keyword arguments, validates them when
the component is declared (before anything is built; the data class's optional
``check_config(config)`` refuses combinations it cannot take), and hands them to every
block data as ``self.config`` before ``build()`` runs. The component stays an
ordinary Block (ctype Block), so every Pyomo tool sees its constraints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pyomo.core.base.block import BlockData, declare_custom_block

from pyomo_llmprice._gc import collector_paused

__all__ = ["declare_configured_block"]


def declare_configured_block(name: str) -> Callable[[type[BlockData]], type[BlockData]]:
    """Declare component `name` for a BlockData class with a CONFIG and a build()."""

    def decorate(data_cls: type[BlockData]) -> type[BlockData]:
        original_build = data_cls.build

        def build(self: BlockData, *index: Any) -> None:
            self.config = self.parent_component()._block_config()
            with collector_paused():
                original_build(self)

        build.__doc__ = original_build.__doc__
        data_cls.build = build
        data_cls = declare_custom_block(name=name, rule="build")(data_cls)
        component = getattr(sys.modules[data_cls.__module__], name)
        base_init = component.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            options = {k: kwargs.pop(k) for k in list(kwargs) if k in data_cls.CONFIG}
            self._block_config = data_cls.CONFIG(options)
            # refuse what the options cannot do now, before Pyomo constructs (and logs)
            check = getattr(data_cls, "check_config", None)
            if check is not None:
                check(self._block_config)
            base_init(self, *args, **kwargs)

        __init__.__doc__ = f"{name}(*index, **options); options: see {data_cls.__name__}.CONFIG"
        component.__init__ = __init__
        data_cls.component_class = component
        return data_cls

    return decorate
