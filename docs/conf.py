"""Sphinx configuration for the oauthbearer documentation.

Build with warnings as errors:

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

import oauthbearer

# The local extension (reason-code table, changelog fallback) lives in docs/_ext.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "oauthbearer"
author = "The oauthbearer developers"
copyright = "The oauthbearer developers"
release = oauthbearer.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "oauthbearer_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# Markdown: heading anchors let pages link to each other's sections.
myst_heading_anchors = 3

# autodoc: types go into the description, members in source order.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
nitpicky = False

html_theme = "alabaster"
html_title = f"oauthbearer {release}"
# Room for the comparison tables; alabaster loads _static/custom.css by itself.
html_theme_options = {"page_width": "1200px", "sidebar_width": "220px"}
html_static_path = ["_static"]
