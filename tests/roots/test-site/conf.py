extensions = ["sphinxext.labbook"]
labbook_execute = "force"
labbook_provider = "fake"
labbook_topology_format = "mermaid"
graphviz_output_format = "svg"
show_warning_types = True
