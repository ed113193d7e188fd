"""Sphinx configuration of the pyomo_llmprice user guide (Markdown sources, MyST).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (the test suite
builds it with warnings as errors). The CLI option tables and the exit-code /
status table are generated from the code at build time by ``_ext/llmprice_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout, when the package is not installed

project = "pyomo_llmprice"
author = "the pyomo_llmprice developers"
copyright = "the pyomo_llmprice developers"
release = "0.1.0"

# No sphinx.ext.napoleon: the package's docstrings have no Google or NumPy sections, and
# napoleon reads the first line of every attribute and property docstring that holds a
# colon as "type: description" (PROB_SUM_TOL came out as "Type: Probabilities must sum
# to 1 within this tolerance").
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "llmprice_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Autodoc: public members in source order, type hints in the description (short
# signatures), and no documentation of members imported from Pyomo or numpy.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": False,
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# A method without a docstring of its own shows none, rather than Pyomo's (NumPy-style,
# which plain reST misreads) for the solver interface methods it overrides.
autodoc_inherit_docstrings = False

# The docstrings write code and math between single backticks (the package's
# convention for formulas such as `x^alpha`): render it as inline code.
default_role = "code"

html_theme = "alabaster"
html_title = "pyomo_llmprice user guide"
html_static_path: list[str] = []
