"""Sphinx directives that render the command line and the status table from the code.

The option tables of ``docs/cli.md`` and the exit-code table are built at docs build
time from the same objects the program uses, so the user guide cannot drift from
``llmprice --help``:

``llmprice-commands``
    one row per subcommand: name and its ``HELP`` (``pyomo_llmprice.cli.COMMANDS``).
``llmprice-options`` *command*
    the usage line and one row per option of ``llmprice <command>`` (the argparse
    parser of ``pyomo_llmprice.cli._parser()``); *command* ``llmprice`` gives the
    options before the subcommand.
``llmprice-exit-codes``
    every exit code with its status and meaning (``cli._common.EXIT_CODES`` joined
    with ``outcomes.STATUSES``, plus the codes for bad input and internal errors).
``llmprice-solvers``
    the solvers the package registers with Pyomo (``plugins.SOLVERS``).
``llmprice-block-options`` *module.DataClass*
    the keyword options of a modeling block (its ``CONFIG``).

Every directive builds docutils nodes directly (no text round trip through a
parser), so the tables look the same whichever source format includes them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

Cell = str | nodes.Node | Sequence[nodes.Node]


def _paragraph(cell: Cell) -> nodes.paragraph:
    para = nodes.paragraph()
    if isinstance(cell, str):
        para += nodes.Text(cell)
    elif isinstance(cell, nodes.Node):
        para += cell
    else:
        for node in cell:
            para += node
    return para


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int]) -> Any:
    """A docutils table with a header row; cells are text, a node or a list of nodes."""
    tab = nodes.table(classes=["llmprice-generated"])
    group = nodes.tgroup(cols=len(headers))
    tab += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head_row = nodes.row()
    for title in headers:
        head_row += nodes.entry("", _paragraph(title))
    head += head_row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", _paragraph(cell))
        body += row
    return tab


def _code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _codes(texts: Sequence[str], sep: str = ", ") -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, text in enumerate(texts):
        if i:
            out.append(nodes.Text(sep))
        out.append(_code(text))
    return out


# -- argparse -------------------------------------------------------------------------


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from pyomo_llmprice.cli import _parser

    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return parser, dict(action.choices)
    raise RuntimeError("llmprice has no subcommands")


def _help_text(action: argparse.Action) -> str:
    if not action.help:
        return ""
    params = dict(vars(action), prog="llmprice")
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    return action.help % params


def _argument(action: argparse.Action) -> str:
    """What follows the option on the command line ("" for a flag)."""
    if action.nargs == 0:
        return ""
    if action.choices is not None and action.metavar is None:
        text = action.dest.upper()  # the choices have a column of their own
    elif isinstance(action.metavar, tuple):
        text = " ".join(action.metavar)
    else:
        text = action.metavar or action.dest.upper()
    if action.nargs in ("+", "*"):
        text += " ..." if action.nargs == "+" else " [...]"
    return text


def _default(action: argparse.Action) -> str:
    if action.required or (action.nargs == 0 and action.default in (False, None)):
        return ""
    default = action.default
    if default is None or default is argparse.SUPPRESS:
        return ""
    if isinstance(default, (list, tuple)):
        return " ".join(map(str, default))
    return repr(default) if default == "" else str(default)


def option_rows(parser: argparse.ArgumentParser) -> list[list[Cell]]:
    """One row per argument: name(s), argument, default, choices, help."""
    rows: list[list[Cell]] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings:
            name: Cell = _codes(action.option_strings)
        else:
            name = _code(_argument(action))
        arg = _argument(action) if action.option_strings else ""
        choices = _codes([str(c) for c in action.choices]) if action.choices else ""
        default = _default(action)
        required = action.required and bool(action.option_strings)
        help_text = _help_text(action) or "(no help text)"
        if required:
            help_text = "required. " + help_text
        if not action.option_strings:
            help_text = "positional. " + help_text
        rows.append(
            [
                name,
                _code(arg) if arg else "",
                _code(default) if default else "",
                choices,
                help_text,
            ]
        )
    return rows


class CommandsDirective(SphinxDirective):
    """``llmprice-commands``: every subcommand and its one-line help."""

    def run(self) -> list[nodes.Node]:
        from pyomo_llmprice.cli import COMMANDS

        _, subparsers = _parsers()
        rows: list[list[Cell]] = []
        for name in COMMANDS:
            sub = subparsers[name]
            rows.append([_code(f"llmprice {name}"), sub.description or ""])
        return [table(["command", "what it does"], rows, [25, 75])]


class OptionsDirective(SphinxDirective):
    """``llmprice-options COMMAND``: usage line and option table of one subcommand."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        parser, subparsers = _parsers()
        if name == "llmprice":
            target = parser
        elif name in subparsers:
            target = subparsers[name]
        else:
            known = ", ".join(["llmprice", *subparsers])
            raise self.error(f"unknown llmprice command {name!r}; known: {known}")
        usage = " ".join(target.format_usage().split())
        usage = usage.removeprefix("usage: ")
        out: list[nodes.Node] = [nodes.literal_block(usage, usage, language="text")]
        out.append(
            table(
                ["option", "argument", "default", "choices", "meaning"],
                option_rows(target),
                [18, 14, 12, 16, 40],
            )
        )
        return out


class ExitCodesDirective(SphinxDirective):
    """``llmprice-exit-codes``: exit code, status and meaning, from the code's tables."""

    def run(self) -> list[nodes.Node]:
        from pyomo_llmprice.cli._common import EXIT_CODES, EXIT_INPUT, EXIT_INTERNAL
        from pyomo_llmprice.outcomes import STATUSES

        missing = set(EXIT_CODES) ^ set(STATUSES)
        if missing:
            raise self.error(f"EXIT_CODES and STATUSES disagree on {sorted(missing)}: fix the code")
        rows: list[list[Cell]] = [
            [
                _code(str(EXIT_INTERNAL)),
                "(internal error)",
                "a bug in pyomo_llmprice: the traceback is printed, then "
                "'llmprice: internal error: ... please report it'",
            ],
            [
                _code(str(EXIT_INPUT)),
                "(bad input)",
                "instance file, option, option string, solver name, output path or sweep "
                "spec: one line naming the file, the entry and the problem, no traceback "
                "(unless --debug)",
            ],
        ]
        for status, code in EXIT_CODES.items():
            rows.append([_code(str(code)), _code(status), STATUSES[status]])
        rows.sort(key=lambda row: int(row[0].astext()))  # type: ignore[union-attr]
        return [table(["exit", "status", "meaning"], rows, [8, 22, 70])]


class SolversDirective(SphinxDirective):
    """``llmprice-solvers``: the solver names the package registers with Pyomo."""

    def run(self) -> list[nodes.Node]:
        from pyomo_llmprice.plugins import SOLVERS

        rows: list[list[Cell]] = [[_code(name), doc] for name, doc in SOLVERS.items()]
        return [table(["solver name", "what it is"], rows, [25, 75])]


class BlockOptionsDirective(SphinxDirective):
    """``llmprice-block-options MODULE.DataClass``: the keyword options of a block.

    The blocks take their data class's ``CONFIG`` entries as keyword arguments
    (``TokenPackages(instance=..., ic="generated")``); this renders name, default,
    domain and description of each entry from the ``ConfigDict`` itself.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        import importlib

        module_name, _, class_name = self.arguments[0].rpartition(".")
        try:
            data_cls = getattr(importlib.import_module(module_name), class_name)
            config = data_cls.CONFIG
        except (ImportError, AttributeError) as err:
            raise self.error(f"no CONFIG at {self.arguments[0]!r}: {err}") from None
        rows: list[list[Cell]] = []
        for name in config.keys():
            entry = config.get(name)
            default = entry.value()
            domain = entry.domain_name()
            if domain.startswith("_"):  # a private validator: its docstring says it all
                domain = ""
            rows.append(
                [
                    _code(name),
                    _code(repr(default)) if default is not None else "",
                    _code(domain) if domain else "",
                    " ".join((entry._description or "").split()),
                ]
            )
        return [table(["option", "default", "domain", "meaning"], rows, [18, 10, 22, 50])]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("llmprice-block-options", BlockOptionsDirective)
    app.add_directive("llmprice-commands", CommandsDirective)
    app.add_directive("llmprice-options", OptionsDirective)
    app.add_directive("llmprice-exit-codes", ExitCodesDirective)
    app.add_directive("llmprice-solvers", SolversDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
