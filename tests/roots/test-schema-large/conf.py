extensions = ["sphinxext.labbook"]
graphviz_output_format = "svg"
