"""A node's view of the filesystem: the host read-only, private writable /etc, /var, /tmp, ...

Runs inside a node's init process, right after it has unshared its mount namespace.
Nothing here is visible from the host: every mount lives in the node's own mount
namespace and vanishes with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ..userns import IdMap

#: Host state a node must not see: the host's named network namespaces (``ip addr`` in a
#: node would print "Peer netns reference is invalid" for them) and other labs' state.
HIDDEN = ("run/netns", "run/labbook")

#: Host directories a node sees as its own copy-on-write copies (overlayfs over the host's).
#: /tmp too: a project checked out under /tmp (as CI systems do) stays visible in its labs.
OVERLAID = ("etc", "var", "run", "root", "home", "tmp")
#: Parts of /proc that change the whole machine; read-only in a node (/proc/sys/net stays
#: writable: its sysctls belong to the node's network namespace).
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
#: Parts of /proc a node does not see at all (the list container runtimes mask): the
#: kernel's memory and keys, timers, and knobs that root may write (ACPI wake-up). Not
#: /sys/firmware, which they mask too: a mount below /sys makes the kernel refuse the
#: fresh sysfs that `ip netns exec` mounts (and /sys is read-only here).
MASKED = (
    "proc/asound",
    "proc/acpi",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
)

_SAFE = MS_NOSUID | MS_NODEV


#: Devices a node has in its own /dev (a tmpfs): what programs expect, and nothing that
#: reaches the host's disks, memory or kernel log.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty", "net/tun")


def setup(
    hostname: str,
    hosts: Iterable[tuple[str, str]] = (),
    hidden: Iterable[str] = (),
    shim: str | None = None,
    writable: str = "256M",
) -> None:
    """Build the node's filesystem view; ``hosts`` are (address, name) lines for /etc/hosts,
    ``hidden`` paths (relative to /) are covered with empty directories, ``shim`` is the
    lab's private lower layer (see :func:`build_shim`), if it has one; ``writable`` is
    the size of the tmpfs that holds everything the node writes."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back to the host
    readonly_recursive("/")
    # The upper layers of the overlays live in one tmpfs, mounted on /tmp first and then
    # hidden under the node's /tmp overlay: overlays keep their own reference to it. The
    # host's /tmp and the shim, hidden by that tmpfs, stay reachable through descriptors.
    covered = _with_mounts_below(shim) if shim else set()
    host_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY)
    shim_fd = os.open(shim, os.O_PATH | os.O_DIRECTORY) if shim else None
    devices = _open_devices()
    mount("labbook", "/tmp", "tmpfs", _SAFE, f"mode=0755,size={writable}")
    for name in OVERLAID:
        host = f"/{name}" if name != "tmp" else f"/proc/self/fd/{host_tmp}"
        if os.path.islink(f"/{name}") or not os.path.isdir(f"/{name}"):
            continue
        layers = [host]
        if shim_fd is not None:
            own = f"/proc/self/fd/{shim_fd}/{name}"
            # /etc is copied whole; elsewhere only directories, over the host's files
            # (where this user may read them at all).
            # The host's files lie below too where this user may read them, and where no
            # mount lies below them: the kernel does not let a user namespace use such a
            # directory as a layer (it would uncover what the mounts hide).
            alone = name in COPIED or name in covered or not os.access(host, os.R_OK | os.X_OK)
            layers = [own] if alone else [own, host]
        _overlay(name, layers)
    os.close(host_tmp)
    if shim_fd is not None:
        os.close(shim_fd)
    _private_dev(devices, writable)
    for name in (*HIDDEN, *hidden):
        if os.path.isdir(f"/{name}"):
            mount("labbook", f"/{name}", "tmpfs", _SAFE, f"mode=0755,size={writable}")
    mount("proc", "/proc", "proc", _SAFE | MS_NOEXEC)
    mount("/proc/sys/net", "/proc/sys/net", None, MS_BIND)  # stays writable under ro /proc/sys
    for name in PROC_READONLY:
        if os.path.exists(f"/proc/{name}"):
            bind_readonly(f"/proc/{name}", _SAFE | MS_NOEXEC)
    mount("sysfs", "/sys", "sysfs", MS_RDONLY | _SAFE | MS_NOEXEC)
    for name in MASKED:
        path = f"/{name}"
        if os.path.isdir(path):
            mount("labbook", path, "tmpfs", MS_RDONLY | _SAFE | MS_NOEXEC, "mode=0555")
        elif os.path.exists(path):
            mount("/dev/null", path, None, MS_BIND)
    _write_identity(hostname, hosts)
    os.chdir("/")


def _with_mounts_below(shim: str) -> set[str]:
    """The overlaid directories with a mount point of the host's somewhere below them (not
    the lab's own shim, which may lie in the user's directory under /tmp)."""
    out = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            point = line.split()[4]
            if point == shim or point.startswith(f"{shim}/"):
                continue
            top = point.split("/")[1] if point.count("/") >= 2 else ""
            if top in OVERLAID:
                out.add(top)
    return out


def _overlay(name: str, lowers: list[str]) -> None:
    os.makedirs(f"/tmp/upper/{name}")
    os.makedirs(f"/tmp/work/{name}")
    st = os.stat(lowers[0])  # the overlay's root takes the upper dir's mode and owner
    os.chmod(f"/tmp/upper/{name}", st.st_mode & 0o7777)
    os.chown(f"/tmp/upper/{name}", st.st_uid, st.st_gid)
    try:
        mount(
            "overlay",
            f"/{name}",
            "overlay",
            0,
            f"lowerdir={':'.join(lowers)},upperdir=/tmp/upper/{name},workdir=/tmp/work/{name}",
        )
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot give the node a private /{name} with overlayfs "
            f"(is CONFIG_OVERLAY_FS enabled?): {exc.strerror}",
        ) from None


def _open_devices() -> dict[str, int]:
    found = {}
    for name in DEVICES:
        with contextlib.suppress(OSError):
            found[name] = os.open(f"/dev/{name}", os.O_PATH)
    return found


def _private_dev(devices: dict[str, int], size: str) -> None:
    """A /dev of the node's own, as container runtimes make it: a tmpfs of ``size`` (it
    holds /dev/shm) with the harmless devices bound in, its own pseudo-terminals, and the
    usual links."""
    mount("labbook", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, f"mode=0755,size={size}")
    for name, fd in devices.items():
        os.makedirs(os.path.dirname(f"/dev/{name}"), exist_ok=True)
        os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
        mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
        os.close(fd)
    os.mkdir("/dev/pts")
    mount(
        "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"
    )
    os.symlink("pts/ptmx", "/dev/ptmx")
    os.mkdir("/dev/shm", 0o1777)
    os.chmod("/dev/shm", 0o1777)
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"/dev/{link}")


# -- the shim: a lab's own lower layer, for labs of ordinary users -------------------------
#: What the shim holds: /etc whole (small, and what steps change most); of /var and /run
#: the directories, owned by ids the lab maps, so that files can be made in them (the
#: kernel refuses to copy up a directory whose owner the lab's namespace does not map,
#: and an ordinary user's maps only that user's ids); of the others their top directory.
COPIED = ("etc",)
DIRECTORIES = ("var", "run")
#: How deep the directories of /var and /run are copied (var/lib/postgresql/15/main), and
#: how many at most: a machine's /var can hold container images with many thousands.
DEPTH = 4
MOST = 5000


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the shim
    kind: str  # d(irectory), f(ile), l(ink)
    mode: int
    uid: int
    gid: int
    link: str = ""


def shim_plan(ids: IdMap) -> list[Entry]:
    """What the shim will hold, read before the lab's user namespace exists (inside it,
    the host's owners are no longer seen). Owners the lab maps are kept; others become
    the node's root."""
    out: list[Entry] = []
    for name in OVERLAID:
        top = f"/{name}"
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        depth = (1 << 20) if name in COPIED else DEPTH if name in DIRECTORIES else 0
        _walk(top, name, name in COPIED, depth, ids, out)
    return out


def _walk(top: str, rel: str, files: bool, depth: int, ids: IdMap, out: list[Entry]) -> None:
    todo = [(top, rel, 0)]
    dirs = 0
    while todo:
        path, rel, level = todo.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue
        out.append(_entry(rel, "d", st, ids))
        dirs += 1
        if level >= depth or (not files and dirs >= MOST):
            continue
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue  # not readable by this user: an empty directory in the shim
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    todo.append((e.path, f"{rel}/{e.name}", level + 1))
                elif files and e.is_symlink():
                    out.append(
                        _entry(
                            f"{rel}/{e.name}",
                            "l",
                            e.stat(follow_symlinks=False),
                            ids,
                            os.readlink(e.path),
                        )
                    )
                elif files and e.is_file(follow_symlinks=False):
                    out.append(_entry(f"{rel}/{e.name}", "f", e.stat(follow_symlinks=False), ids))
            except OSError:
                continue


def _entry(rel: str, kind: str, st: os.stat_result, ids: IdMap, link: str = "") -> Entry:
    uid = st.st_uid if st.st_uid < ids.ids else 0
    gid = st.st_gid if st.st_gid < ids.gids else 0
    return Entry(rel, kind, stat.S_IMODE(st.st_mode), uid, gid, link)


def build_shim(dest: str, entries: list[Entry], size: str = "256M") -> None:
    """Mount a tmpfs of ``size`` on ``dest`` (in the lab holder's own mount namespace) and
    fill it."""
    mount("labbook", dest, "tmpfs", _SAFE, f"mode=0755,size={size}")
    closed = []
    for e in entries:
        path = os.path.join(dest, e.path)
        if e.kind == "d":
            os.makedirs(path, exist_ok=True)
        elif e.kind == "l":
            os.symlink(e.link, path)
        elif not _copy(f"/{e.path}", path):
            closed.append(e.path)
        os.lchown(path, e.uid, e.gid)
        if e.kind != "l":
            os.chmod(path, e.mode)  # after chown, which clears set-id bits
    for rel in closed:
        if rel in SHADOWS:
            names, fields = SHADOWS[rel]
            _shadow(os.path.join(dest, names), os.path.join(dest, rel), fields)


#: Files this user may not read that the node gets anyway, made from what it may: every
#: account with no password ("*", as in a fresh container image), not locked ("!"): sshd
#: and su refuse locked accounts, and an empty shadow file locks them all.
SHADOWS = {
    "etc/shadow": ("etc/passwd", ":*:19000:0:99999:7:::"),
    "etc/gshadow": ("etc/group", ":*::"),
}


def _shadow(names: str, path: str, fields: str) -> None:
    with open(names, encoding="utf-8", errors="replace") as f:
        accounts = [line.split(":", 1)[0] for line in f if ":" in line]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{name}{fields}\n" for name in accounts)


def _copy(src: str, dst: str) -> bool:
    """Copy a file's bytes; one this user may not read is left empty (False)."""
    with open(dst, "wb") as out:
        try:
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
        except OSError:
            return False
    return True


def _write_identity(hostname: str, hosts: Iterable[tuple[str, str]]) -> None:
    """/etc/hostname and /etc/hosts of the node, as container runtimes write them."""
    with open("/etc/hostname", "w") as f:
        f.write(f"{hostname}\n")
    lines = [
        "127.0.0.1\tlocalhost",
        f"127.0.1.1\t{hostname}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    lines += [f"{addr}\t{name}" for addr, name in hosts if name != hostname]
    with open("/etc/hosts", "w") as f:
        f.write("\n".join(lines) + "\n")
