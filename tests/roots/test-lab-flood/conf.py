extensions = ["sphinxext.labbook"]
labbook_execute = "force"
