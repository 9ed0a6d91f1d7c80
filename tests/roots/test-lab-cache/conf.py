extensions = ["sphinxext.labbook"]
labbook_execute = "auto"
