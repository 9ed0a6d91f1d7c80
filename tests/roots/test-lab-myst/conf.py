extensions = ["myst_parser", "sphinxext.labbook"]
labbook_execute = "force"
source_suffix = {".md": "markdown"}
