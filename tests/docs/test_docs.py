"""The user guide in docs/ builds without warnings and stays in step with the code.

* Sphinx builds it with warnings as errors (``-W``); the CLI option tables and the
  exit-code table are generated from the argparse parsers and the status tables at
  build time, and every option must show up in the HTML.
* Every relative link in README.md and docs/*.md points at an existing file.
* Every ``docs/model.md section N`` cited by the package and the instances exists, and
  no citation of the old, missing ``model.md`` is left.
* docs/formats.md names every set and parameter the readers accept.
* Every Python example in docs/*.md runs as written.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Sphinx and myst-parser deprecate their own internals to each other: not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::PendingDeprecationWarning"
)

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _sphinx_build(out: Path) -> int:
    hint = "(pip install '.[docs]')"
    pytest.importorskip("sphinx", reason=f"sphinx is not installed {hint}")
    pytest.importorskip("myst_parser", reason=f"myst-parser is not installed {hint}")
    from sphinx.cmd.build import build_main

    return build_main(["-W", "--keep-going", "-E", "-q", "-b", "html", str(DOCS), str(out)])


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs_html")
    assert _sphinx_build(out) == 0, "sphinx reported warnings or errors (see captured stderr)"
    return out


def test_docs_build_without_warnings(html: Path) -> None:
    for page in ("index", "model", "formats", "cli", "api", "extending"):
        assert (html / f"{page}.html").is_file(), page


def test_cli_tables_list_every_option(html: Path) -> None:
    from pyomo_llmprice.cli import COMMANDS, _parser

    text = (html / "cli.html").read_text(encoding="utf-8")
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        assert f"llmprice {name}" in text, name
        for action in sub.choices[name]._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in text, f"llmprice {name} {option} missing from cli.html"


def test_exit_code_table_lists_every_status(html: Path) -> None:
    from pyomo_llmprice.cli._common import EXIT_CODES
    from pyomo_llmprice.outcomes import STATUSES

    text = (html / "cli.html").read_text(encoding="utf-8")
    for status in EXIT_CODES:
        assert status in text
        assert STATUSES[status].split(" (")[0] in text, status


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    for target in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, or an anchor on the same page
        file_part = target.split("#", 1)[0]
        assert (path.parent / file_part).exists(), f"{path.name}: broken link {target!r}"


def _model_sections() -> set[str]:
    text = (DOCS / "model.md").read_text(encoding="utf-8")
    return set(re.findall(r"^## (\d+)\. ", text, re.M))


def test_model_md_citations_point_at_existing_sections() -> None:
    sections = _model_sections()
    assert {"1", "2", "3", "4", "5", "6"} <= sections
    files = [*(REPO / "pyomo_llmprice").rglob("*.py"), *(REPO / "instances").rglob("*.dat")]
    files.append(REPO / "instances" / "generate.py")
    for path in files:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(REPO)
        for cited in re.findall(r"docs/model\.md,? sections? (\d+)", text):
            assert cited in sections, f"{where} cites docs/model.md section {cited}"
        stale = re.findall(r"(?<![\w/])model\.md", text)
        assert not stale, f"{where} cites model.md; the model page is docs/model.md"


def test_formats_page_names_every_component() -> None:
    from pyomo_llmprice import io

    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    names = {*io.SETS, *io.PARAMS, *io.SCREENING_SETS, *io.SCREENING_PARAMS}
    for name in sorted(names):
        assert f"| `{name}` |" in text, f"docs/formats.md has no table row for {name!r}"


def _python_snippets() -> list[pytest.param]:
    out = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            where = f"docs/{path.name}:{line}"
            out.append(pytest.param(where, match.group(1), id=where))
    return out


@pytest.mark.parametrize(("where", "code"), _python_snippets())
def test_python_snippets_run(where: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Python example of the guide runs as written, from the repository root."""
    monkeypatch.chdir(REPO)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})
