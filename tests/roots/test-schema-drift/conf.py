extensions = ["sphinxext.labbook"]
labbook_schema_check = {"snapshot.yaml": "${LABBOOK_TEST_SCHEMA_DB}"}
show_warning_types = True  # [labbook.drift] after each warning, as Sphinx 8 does by default
