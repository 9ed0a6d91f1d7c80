extensions = ["sphinxext.labbook"]
labbook_execute = "force"
labbook_provider = "fake"
show_warning_types = True  # [labbook.not-run] after each warning, as Sphinx 8 does
# as the vm provider says on a machine without QEMU
labbook_provider_options = {"unavailable": "it needs QEMU (Debian package qemu-system-x86)"}
