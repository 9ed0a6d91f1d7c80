extensions = ["sphinxext.labbook"]
labbook_labs_dir = "labs"
labbook_execute = "off"
graphviz_output_format = "svg"
numfig = True
