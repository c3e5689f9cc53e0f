"""Sphinx configuration of the topophys documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``make docs``). The API
reference is generated from the numpydoc docstrings (``sphinx.ext.napoleon``) into ``docs/api/``
on every build; the guides are the Markdown pages of this folder (MyST). The test suite builds
it with warnings as errors (``tests/test_docs.py``).
"""

from __future__ import annotations

import re

import topophys

project = "topophys"
author = "topophys developers"
release = topophys.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
root_doc = "index"

autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"  # annotations in signatures; numpydoc sections add shapes, units
autodoc_default_options = {"show-inheritance": True}
autodoc_mock_imports = ["dscribe"]  # optional (the baselines extra); imported lazily anyway
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Attributes", "params_style")]

myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

html_theme = "alabaster"
html_title = "topophys"
html_theme_options = {"description": "simulation → persistent homology → learned models"}
autodoc_inherit_docstrings = False

# --------------------------------------------------------------------------- docstring notation
# The docstrings are written to be read in a terminal (help(), IDEs): absolute values as |x|
# and unpacked shapes as (B, *shape). reStructuredText reads |x| as a substitution, *shape as
# the start of emphasis and np_ as a link, so the HTML build escapes them, outside literals,
# roles, math and literal or doctest blocks; the source stays as it reads best.

_ABS = re.compile(r"(?<![\\|\w])\|(?=[^\s|])([^|\n]*?[^\s|\\])\|(?![|A-Za-z_])")
_STAR = re.compile(r"(?<=[(\[,\s])\*(?=[A-Za-z_(])")
_TRAILING = re.compile(r"(?<=\w)_(?=\s*[+,)])")  # np_ in a shape: not a hyperlink target
_SPANS = re.compile(r"(``.+?``|:[\w:]+:`.+?`|`[^`]+`_?)")


def _escape_plain(text: str) -> str:
    parts = _SPANS.split(text)
    for i in range(0, len(parts), 2):  # even parts lie outside literals and roles
        text = _ABS.sub(r"\\|\1\\|", parts[i])
        parts[i] = _TRAILING.sub(r"\\_", _STAR.sub(r"\\*", text))
    return "".join(parts)


def _escape_notation(app, what, name, obj, options, lines) -> None:
    verbatim_indent = None  # inside a literal, math or doctest block: its indentation
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if verbatim_indent is not None:
            if stripped and indent <= verbatim_indent and not stripped.startswith("..."):
                verbatim_indent = None
            else:
                continue
        if stripped.startswith(">>>"):
            verbatim_indent = indent - 1
            continue
        if stripped.startswith(".. math::") or stripped.endswith("::"):
            verbatim_indent = indent
            if stripped.startswith(".. math::"):
                continue
        lines[i] = _escape_plain(line)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _escape_notation)
