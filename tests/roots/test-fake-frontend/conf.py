extensions = ["sphinxext.labbook"]
labbook_execute = "force"
# Nodes are directories and commands run on the host: the front end is tested anywhere,
# without namespaces (the netns roots test the same directives against the real kernel).
labbook_provider = "fake"
show_warning_types = True
