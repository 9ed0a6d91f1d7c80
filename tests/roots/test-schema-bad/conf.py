extensions = ["sphinxext.labbook"]
