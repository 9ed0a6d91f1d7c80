"""Thin ctypes wrappers for the namespace and mount system calls Python 3.11 lacks."""

from __future__ import annotations

import ctypes
import errno
import os

from ..procs import _stat_fields

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

#: Namespace files of a process, in the order nsenter(1) enters them, with their flag.
NAMESPACES = (
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("pid", CLONE_NEWPID),
    ("mnt", CLONE_NEWNS),
)

# System calls added after 5.1 have the same number on every architecture.
_SYS_OPENAT2 = 437
_SYS_MOUNT_SETATTR = 442
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_RESOLVE_IN_ROOT = 0x10
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36


def set_dumpable(on: bool) -> None:
    """Whether other processes of the same user may ptrace this one or open its /proc
    files (execve sets it again)."""
    _check(_libc.prctl(_PR_SET_DUMPABLE, int(on), 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def set_child_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of to PID 1."""
    _check(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, flags: int) -> None:
    kind = {flag: name for name, flag in NAMESPACES}.get(flags, "user")
    _check(_libc.setns(fd, flags), f"entering a {kind} namespace")


def mount(
    source: str, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {fstype or source} on {target}",
    )


def bind_readonly(path: str, flags: int = 0) -> None:
    """Make ``path`` a read-only bind mount of itself (only this mount, never the superblock)."""
    mount(path, path, None, MS_BIND | MS_REC)
    mount(path, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def readonly_recursive(path: str) -> None:
    """Mark the mount at ``path`` and every mount below it read-only (per mount, not per fs)."""
    attr = _MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0)
    rc = _libc.syscall(
        _SYS_MOUNT_SETATTR,
        -100,
        path.encode(),
        _AT_RECURSIVE,
        ctypes.byref(attr),
        ctypes.sizeof(attr),
    )
    if rc < 0 and ctypes.get_errno() == errno.ENOSYS:
        raise OSError(
            errno.ENOSYS, "the kernel lacks mount_setattr (Linux 5.12 or newer is needed)"
        )
    _check(rc, f"making {path} read-only")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def set_pdeathsig(sig: int) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def set_title(title: str) -> None:
    """Set what ``ps`` shows for this process (comm and the command line).

    The command line is the memory the kernel put argv and the environment in; it is
    overwritten in place (as setproctitle does), using the environment area too when
    the title is longer than the original arguments.
    """
    name = title.split()[0].encode()[:15]
    _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    fields = _stat_fields("self")
    arg_start, arg_end, env_start, env_end = (int(x) for x in fields[46:50])
    size = arg_end - arg_start
    raw = title.encode()
    if len(raw) >= size and env_start == arg_end:
        _libc.clearenv()  # C's environ points into the area about to be overwritten
        size = env_end - arg_start
    raw = raw[: size - 1]
    ctypes.memmove(arg_start, raw + b"\0" * (size - len(raw)), size)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """open() ``path`` as seen from the root directory ``root_fd`` (symlinks stay inside it).

    A node's files are reached through /proc/PID/root; an absolute symlink in the node
    (/etc/resolv.conf -> /run/...) must resolve in the node, never on the host.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_IN_ROOT)
    rel = path.lstrip("/") or "."
    rc = _libc.syscall(_SYS_OPENAT2, root_fd, rel.encode(), ctypes.byref(how), ctypes.sizeof(how))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(rc)
