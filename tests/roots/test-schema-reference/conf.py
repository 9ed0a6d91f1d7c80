extensions = ["sphinxext.labbook"]
show_warning_types = True
labbook_schema_lint_disable = ["column-comment"]
