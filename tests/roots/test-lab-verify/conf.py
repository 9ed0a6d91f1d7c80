extensions = ["sphinxext.labbook"]
labbook_execute = "force"
show_warning_types = True  # [labbook.drift] after each warning, as Sphinx 8 does by default
