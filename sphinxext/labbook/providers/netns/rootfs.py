"""A node's view of the filesystem: the host read-only, private writable /etc, /var, /tmp, ...

Runs inside a node's init process, right after it has unshared its mount namespace.
Nothing here is visible from the host: every mount lives in the node's own mount
namespace and vanishes with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .nsutil import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    bind_readonly,
    mount,
    readonly_recursive,
)

#: Host state a node must not see: the host's named network namespaces (``ip addr`` in a
#: node would print "Peer netns reference is invalid" for them) and other labs' state.
HIDDEN = ("run/netns", "run/labbook")

#: Host directories a node sees as its own copy-on-write copies (overlayfs over the host's).
#: /tmp too: a project checked out under /tmp (as CI systems do) stays visible in its labs.
OVERLAID = ("etc", "var", "run", "root", "home", "tmp")
#: Directories that start empty in a node.
EMPTY = ("dev/shm",)
#: Parts of /proc that change the whole machine; read-only in a node (/proc/sys/net stays
#: writable: its sysctls belong to the node's network namespace).
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")

_SAFE = MS_NOSUID | MS_NODEV


def setup(hostname: str, hosts: Iterable[tuple[str, str]] = ()) -> None:
    """Build the node's filesystem view; ``hosts`` are (address, name) lines for /etc/hosts."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back to the host
    readonly_recursive("/")
    # The upper layers of the overlays live in one tmpfs, mounted on /tmp first and then
    # hidden under the node's /tmp overlay: overlays keep their own reference to it. The
    # host's /tmp, hidden by that tmpfs, stays reachable through a file descriptor.
    host_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY)
    mount("labbook", "/tmp", "tmpfs", _SAFE, "mode=0755")
    for name in OVERLAID:
        lower = f"/{name}" if name != "tmp" else f"/proc/self/fd/{host_tmp}"
        if not os.path.isdir(lower) or os.path.islink(f"/{name}"):
            continue
        os.makedirs(f"/tmp/upper/{name}")
        os.makedirs(f"/tmp/work/{name}")
        st = os.stat(lower)  # the overlay's root takes the upper dir's mode and owner
        os.chmod(f"/tmp/upper/{name}", st.st_mode & 0o7777)
        os.chown(f"/tmp/upper/{name}", st.st_uid, st.st_gid)
        try:
            mount("overlay", f"/{name}", "overlay", 0,
                  f"lowerdir={lower},upperdir=/tmp/upper/{name},workdir=/tmp/work/{name}")
        except OSError as exc:
            raise OSError(exc.errno, f"cannot give the node a private /{name} with overlayfs "
                          f"(is CONFIG_OVERLAY_FS enabled?): {exc.strerror}") from None
    os.close(host_tmp)
    for name in EMPTY:
        if os.path.isdir(f"/{name}"):
            mount("labbook", f"/{name}", "tmpfs", _SAFE, "mode=1777")
    for name in HIDDEN:
        if os.path.isdir(f"/{name}"):
            mount("labbook", f"/{name}", "tmpfs", _SAFE, "mode=0755")
    mount("proc", "/proc", "proc", _SAFE | MS_NOEXEC)
    mount("/proc/sys/net", "/proc/sys/net", None, MS_BIND)  # stays writable under ro /proc/sys
    for name in PROC_READONLY:
        if os.path.exists(f"/proc/{name}"):
            bind_readonly(f"/proc/{name}", _SAFE | MS_NOEXEC)
    mount("sysfs", "/sys", "sysfs", MS_RDONLY | _SAFE | MS_NOEXEC)
    _write_identity(hostname, hosts)
    os.chdir("/")


def _write_identity(hostname: str, hosts: Iterable[tuple[str, str]]) -> None:
    """/etc/hostname and /etc/hosts of the node, as container runtimes write them."""
    with open("/etc/hostname", "w") as f:
        f.write(f"{hostname}\n")
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{hostname}",
             "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{addr}\t{name}" for addr, name in hosts if name != hostname]
    with open("/etc/hosts", "w") as f:
        f.write("\n".join(lines) + "\n")
