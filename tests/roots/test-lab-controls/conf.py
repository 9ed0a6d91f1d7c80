extensions = ["sphinxext.labbook"]
labbook_provider = "fake"
show_warning_types = True
