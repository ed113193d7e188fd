"""The package's import graph has no circle and data flows one way.

instance -> model -> solve -> verify -> tariffs -> report: every module of
``pyomo_llmprice`` sits on a layer (:data:`LAYERS`, the longest matching prefix wins) and
imports only modules on its own layer or below, and the imports inside each layer form no
circle. Every import counts, the lazy ones inside functions too (they run as soon as the
function does); only ``if TYPE_CHECKING:`` blocks are left out (annotations, never run),
except in the tariff layer, which must not even name the result type of the layers above.
The graph is read from the source with :mod:`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pyomo_llmprice"

#: (module prefix, layer): lower layers never import higher ones
LAYERS: tuple[tuple[str, int], ...] = (
    # the domain: types, technology, instances, closed forms, the all-pairs check
    ("pyomo_llmprice._compat", 0),
    ("pyomo_llmprice._gc", 0),
    ("pyomo_llmprice.errors", 0),
    ("pyomo_llmprice.technology", 0),
    ("pyomo_llmprice.types", 0),
    ("pyomo_llmprice.instance", 0),
    ("pyomo_llmprice.theory", 0),
    ("pyomo_llmprice.units", 0),
    ("pyomo_llmprice.certificate", 0),
    ("pyomo_llmprice.verify", 0),
    ("pyomo_llmprice.progress", 0),
    ("pyomo_llmprice.settings", 0),
    ("pyomo_llmprice.competition.market", 0),  # the competition's domain object
    # files in and out
    ("pyomo_llmprice.io", 1),
    # the Pyomo blocks
    ("pyomo_llmprice.blocks", 2),
    ("pyomo_llmprice.limits", 2),
    # solving
    ("pyomo_llmprice.solvers", 3),
    ("pyomo_llmprice.plugins", 3),
    ("pyomo_llmprice.outcomes", 3),
    ("pyomo_llmprice.generation", 3),
    # the tariff layer (menus and technologies in, plans out), the menu's text and JSON
    ("pyomo_llmprice.tariffs", 4),
    ("pyomo_llmprice.report.text", 4),
    ("pyomo_llmprice.report.documents", 4),
    # a published menu, certified and priced, whatever computed it
    ("pyomo_llmprice.result", 5),
    ("pyomo_llmprice.exact", 6),
    ("pyomo_llmprice.pipeline", 7),
    # orchestration and doors: analysis, quick, studies, calibration, competition, report,
    # the command line, the package's lazy table (and any new module not listed above)
    ("pyomo_llmprice", 8),
)

#: modules the tariff layer must not import even for annotations
ABOVE_TARIFFS = ("pyomo_llmprice.pipeline", "pyomo_llmprice.result", "pyomo_llmprice.analysis")

#: plugin loads (importlib.import_module): the settings registry loads the block modules
#: that register the built-in settings on first lookup, as Pyomo's SolverFactory loads
#: its plugins; a registry may load its plugins, nothing else may be loaded this way
PLUGIN_LOADS = {("pyomo_llmprice.settings", "pyomo_llmprice.blocks")}


def layer(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


@cache
def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str) -> str | None:
    """The package module `name` is (or lies in), None outside the package."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports(module: str) -> dict[str, set[str]]:
    """``{"static": ..., "typing": ..., "plugin": ...}``: the package modules `module`
    imports (anywhere in the file), names only for annotations, and plugin loads."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, set[str]] = {"static": set(), "typing": set(), "plugin": set()}

    def add(kind: str, name: str) -> None:
        target = _resolve(name)
        if target is not None and target != module:
            found[kind].add(target)

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for part in child.body:
                    visit_node(part, "typing")
                for part in child.orelse:
                    visit_node(part, kind)
                continue
            visit_node(child, kind)

    def visit_node(child: ast.AST, kind: str) -> None:
        if isinstance(child, ast.Import):
            for alias in child.names:
                add(kind, alias.name)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parts = package.split(".")
                parts = parts[: len(parts) - child.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in child.names:
                full = f"{base}.{alias.name}"
                add(kind, full if full in modules() else base)
        elif (
            isinstance(child, ast.Call)
            and getattr(child.func, "attr", getattr(child.func, "id", None)) == "import_module"
            and child.args
            and isinstance(child.args[0], ast.Constant)
        ):
            add("plugin", str(child.args[0].value))
        visit(child, kind)

    visit(ast.parse(path.read_text(encoding="utf-8")), "static")
    return found


def edges() -> list[tuple[str, str]]:
    return [(m, t) for m in modules() for t in sorted(imports(m)["static"])]


def test_every_module_is_parsed_and_the_layers_are_known():
    assert "pyomo_llmprice.pipeline" in modules() and "pyomo_llmprice.tariffs" in modules()
    assert layer("pyomo_llmprice.tariffs.menu") == 4
    assert layer("pyomo_llmprice.report.text") == 4 and layer("pyomo_llmprice.report") == 8
    # the walk sees imports inside functions: MenuResult.report imports the text report
    assert "pyomo_llmprice.report.text" in imports("pyomo_llmprice.result")["static"]


def test_no_import_circle_in_the_package():
    sorter = TopologicalSorter({m: imports(m)["static"] for m in modules()})
    try:
        sorter.prepare()
    except CycleError as err:
        pytest.fail("import circle: " + " -> ".join(err.args[1]))


def test_imports_only_go_down_the_layers():
    upward = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, b in edges()
        if layer(b) > layer(a)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    "module", sorted(m for m in modules() if m.startswith("pyomo_llmprice.tariffs"))
)
def test_the_tariff_layer_is_pure(module):
    found = imports(module)
    named = found["static"] | found["typing"] | found["plugin"]
    assert not [m for m in named if m.startswith(ABOVE_TARIFFS)], named


def test_plugin_loads_are_the_registry_loading_its_plugins():
    loads = {(m, t) for m in modules() for t in imports(m)["plugin"]}
    assert loads <= PLUGIN_LOADS, loads - PLUGIN_LOADS
