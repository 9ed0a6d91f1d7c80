extensions = ["sphinxext.labbook"]
labbook_labs_dir = "labs"
labbook_execute = "off"
graphviz_output_format = "svg"
numfig = True
show_warning_types = True  # [labbook.drift] after each warning, as Sphinx 8 does by default
