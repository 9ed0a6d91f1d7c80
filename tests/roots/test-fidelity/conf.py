extensions = ["sphinxext.labbook"]
labbook_execute = "force"
labbook_provider = "fake"
show_warning_types = True
