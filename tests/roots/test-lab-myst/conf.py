extensions = ["myst_parser", "sphinxext.labbook"]
labbook_execute = "force"
source_suffix = {".md": "markdown"}
show_warning_types = True  # [labbook.drift] after each warning, as Sphinx 8 does by default
