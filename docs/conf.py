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
    "sphinx_copybutton",
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

html_theme = "furo"
html_title = f"oauthbearer {release}"
html_static_path = ["_static"]
# Wide code blocks and the comparison tables' type (custom.css).
html_css_files = ["custom.css"]

# Copy buttons: a console session copies its commands without the "$ " prompts
# and without the output; a Python block copies as it is.
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_remove_prompts = True
