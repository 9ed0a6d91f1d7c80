extensions = ["sphinxext.labbook"]
labbook_execute = "off"
