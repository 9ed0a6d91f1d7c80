extensions = ["sphinxext.labbook"]
labbook_schema_check = {"snapshot.yaml": "${LABBOOK_TEST_SCHEMA_DB}"}
