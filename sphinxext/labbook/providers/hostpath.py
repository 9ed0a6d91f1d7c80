"""Host programs by name: the PATH first, then the sbin directories that an ordinary
user's PATH lacks on Debian (mkfs.ext4, modprobe live there, and run as any user)."""

from __future__ import annotations

import os
import shutil

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def which(tool: str) -> str | None:
    """The program ``tool``'s path, or None when it is nowhere."""
    return shutil.which(tool) or shutil.which(tool, path=os.pathsep.join(SBIN))


def program(tool: str) -> str:
    """``tool``'s path where it is found, else its name (the error then names it)."""
    return which(tool) or tool
