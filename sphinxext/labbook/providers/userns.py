"""User namespaces for labs: which ids a lab's namespace maps, and why one cannot be made.

Every netns node lives in a user namespace. Run by root, it maps every id to itself, so
the host's files keep their owners inside; run by an ordinary user, it maps root inside
to that user (plus the user's subordinate range from /etc/subuid and /etc/subgid,
through newuidmap/newgidmap, where both exist), so the lab has no power the user lacks.

An ordinary user's namespace is made by the lab's holder (``unshare``), root's nodes'
by a short-lived child of the holder; either way its ids are mapped from outside, by the
parent (:func:`map_ids`): only a process in the parent namespace may write the maps.
Kept free of heavy imports.
"""

from __future__ import annotations

import errno
import os
import pwd
from dataclasses import dataclass

from .stateroot import privileged

CLONE_NEWUSER = 0x10000000
#: Every id there is: a namespace that maps this many maps them all to themselves.
ALL_IDS = 4294967295

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


@dataclass(frozen=True)
class IdMap:
    """The uid and gid maps of a lab's user namespace, as /proc/PID/uid_map takes them."""

    uid_map: tuple[tuple[int, int, int], ...]  # (inside, outside, count) per line
    gid_map: tuple[tuple[int, int, int], ...]
    helpers: bool  # written by newuidmap/newgidmap (setgroups stays allowed)
    privileged: bool = False  # made by root, with the rights to make namespaces

    @property
    def ids(self) -> int:
        """How many ids, 0 upwards, are valid inside (what a nested namespace may map)."""
        return _contiguous(self.uid_map)

    @property
    def gids(self) -> int:
        return _contiguous(self.gid_map)


def _contiguous(lines: tuple[tuple[int, int, int], ...]) -> int:
    end = 0
    for inside, _, count in sorted(lines):
        if inside != end:
            break
        end += count
    return end


def _own_map(name: str) -> tuple[tuple[int, int, int], ...]:
    try:
        with open(f"/proc/self/{name}") as f:
            rows = [[int(x) for x in line.split()] for line in f if line.strip()]
            return tuple((inside, outside, count) for inside, outside, count in rows)
    except OSError:
        return ((0, 0, ALL_IDS),)


def subordinate(path: str, name: str, ident: int) -> tuple[int, int] | None:
    """The first (start, count) range of ``path`` (/etc/subuid or /etc/subgid) for the user
    or group ``name`` (or its number ``ident``); None when there is none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in (name, str(ident)):
                    start, count = int(fields[1]), int(fields[2])
                    if count > 0:
                        return start, count
    except (OSError, ValueError):
        return None
    return None


def plan() -> IdMap:
    """The maps a lab made by this process gets."""
    uid, gid = os.geteuid(), os.getegid()
    if privileged():
        own_u, own_g = _own_map("uid_map"), _own_map("gid_map")
        # root (of this machine, or of a namespace labbook already runs in): the same ids
        return IdMap(
            ((0, 0, _contiguous(own_u) or 1),),
            ((0, 0, _contiguous(own_g) or 1),),
            False,
            privileged=True,
        )
    user = _name(uid)
    # newgidmap looks the range up in /etc/subgid by the user's name, as newuidmap does
    subu, subg = subordinate(SUBUID, user, uid), subordinate(SUBGID, user, uid)
    import shutil

    helpers = shutil.which("newuidmap") and shutil.which("newgidmap")
    if subu and subg and helpers:
        return IdMap(
            ((0, uid, 1), (1, subu[0], subu[1])), ((0, gid, 1), (1, subg[0], subg[1])), True
        )
    return IdMap(((0, uid, 1),), ((0, gid, 1),), False)


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def limits() -> str:
    """What a lab run by this user lacks, for a notice: "" when nothing."""
    m = plan()
    if m.privileged or m.helpers:
        return ""
    import shutil

    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return (
            "nodes have only root (uid 0): newuidmap/newgidmap are missing (Debian "
            "package uidmap), so daemons that switch to their own user fail"
        )
    return (
        f"nodes have only root (uid 0): {SUBUID} or {SUBGID} gives this user no range, "
        "so daemons that switch to their own user fail (ask for one: "
        f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)"
    )


def map_ids(pid: int, m: IdMap) -> None:
    """Write the maps of ``pid``'s new user namespace (from its parent namespace)."""
    if m.helpers:
        for tool, lines in (("newuidmap", m.uid_map), ("newgidmap", m.gid_map)):
            argv = [tool, str(pid), *(str(x) for line in lines for x in line)]
            import subprocess

            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                why = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
                raise OSError(errno.EPERM, f"{tool} failed: {why[0]}")
        return
    if not m.privileged:
        _write(f"/proc/{pid}/setgroups", "deny")  # the kernel's condition for a gid map
    _write(f"/proc/{pid}/uid_map", _lines(m.uid_map))
    _write(f"/proc/{pid}/gid_map", _lines(m.gid_map))


def _lines(lines: tuple[tuple[int, int, int], ...]) -> str:
    return "".join(f"{a} {b} {c}\n" for a, b, c in lines)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def why_unmapped(exc: OSError) -> str:
    """One line: why the ids of a lab's user namespace could not be mapped."""
    if os.geteuid() == 0:
        # The kernel lets only root with CAP_SETFCAP map root into a namespace.
        return (
            "labbook runs as root without the capabilities to make namespaces (as in "
            "a container that dropped them: CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SETFCAP); "
            "run it as an ordinary user, or give it those capabilities"
        )
    return f"cannot map the ids of the lab's user namespace: {exc.strerror or exc}"


def why_refused(exc: OSError) -> str:
    """One line: why the kernel refused a user namespace, and how to allow it."""
    knobs = []
    for path, bad, fix in (
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            "0",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        ),
        (
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor "
            "profile that allows userns for python3)",
        ),
        ("/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    ):
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value == bad:
            key = path.removeprefix("/proc/sys/").replace("/", ".")
            knobs.append(f"{key} is {value}; allow it with: {fix}")
    if knobs:
        return (
            "this kernel does not let labbook make a user namespace: "
            + "; ".join(knobs)
            + "; or run labbook as root"
        )
    reason = "too many user namespaces" if exc.errno == errno.ENOSPC else exc.strerror
    return (
        f"this kernel does not let labbook make a user namespace ({reason}); "
        "check user.max_user_namespaces, or run labbook as root"
    )
