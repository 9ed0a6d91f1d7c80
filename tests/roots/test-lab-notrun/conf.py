extensions = ["sphinxext.labbook"]
labbook_execute = "force"
labbook_provider = "fake"
# as the vm provider says on a machine without QEMU
labbook_provider_options = {"unavailable": "it needs QEMU (Debian package qemu-system-x86)"}
