"""Sphinx configuration of the labbook handbook: every lab on these pages runs."""

import os
import sys

# The handbook builds from a checkout too (tox installs the package; this is for
# a plain `sphinx-build doc/source doc/build/html` in the repository).
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

project = "labbook handbook"
author = "the labbook authors"
copyright = "2026, the labbook authors"

extensions = [
    "sphinxext.labbook",
    "sphinx.ext.graphviz",
    "sphinxcontrib.mermaid",
]

root_doc = "index"
exclude_patterns = ["build", "_results"]
html_theme = "alabaster"
html_theme_options = {"description": "Infrastructure labs that are run, not just read"}
html_title = "labbook handbook"

# labbook
labbook_labs_dir = "../../labs"
labbook_execute = "auto"
# Results of the labs, committed with the pages: builds that cannot run labs (Read the
# Docs: LABBOOK_EXECUTE=cache) show them; `labbook check doc/source` records them again.
labbook_results = "_results"
graphviz_output_format = "svg"

# Linux networking output is wide; keep literal blocks readable.
highlight_language = "none"
