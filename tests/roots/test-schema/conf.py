extensions = ["sphinxext.labbook"]
graphviz_output_format = "svg"
show_warning_types = True  # [labbook.drift] after each warning, as Sphinx 8 does by default
