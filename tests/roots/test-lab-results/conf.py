extensions = ["sphinxext.labbook"]
labbook_execute = "force"
labbook_results = "_results"
show_warning_types = True  # [labbook.stale] after each warning, as Sphinx 8 does by default
