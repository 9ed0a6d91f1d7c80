"""Debian packages a VM node asks for (``packages:`` in the lab spec), never installed on
the host: what the host lacks of them and their dependencies is fetched with
``apt-get download``, unpacked with ``dpkg-deb -x`` into a directory of the VM cache, and
laid over the host's root in the guest (a second read-only 9p share, the upper of the
overlay's lower layers). Maintainer scripts do not run, so no service starts anywhere
until a lab starts it inside its VM.

The directory's name is a hash of the packages asked for and of the host's package state
(dpkg's status and apt's lists): it is resolved, fetched and unpacked once, into a
temporary directory renamed into place, so parallel builds never see half of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from ...errors import ProviderError
from ..hostpath import which
from ..procs import temp_prefix

#: Files whose change means the packages may resolve differently.
STATE_FILES = ("/var/lib/dpkg/status", "/var/lib/apt/lists")
#: Top directories that Debian 12 keeps under /usr (merged /usr): a package's files there
#: go to /usr, or the layer would hide the host's symbolic links /bin, /lib ...
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_INST = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) ")
_VERSION = "1"  # bump when the way the directory is built changes


def check_tools() -> None:
    for tool, package in (("apt-get", "apt"), ("dpkg-deb", "dpkg")):
        if which(tool) is None:
            raise ProviderError(
                f"VM nodes with 'packages' need {tool}: install the Debian package {package}"
            )


def _state() -> str:
    parts = []
    for path in STATE_FILES:
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path}:-")
            continue
        parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
    return "\n".join(parts)


def key(names: tuple[str, ...]) -> str:
    text = "\n".join([_VERSION, *sorted(set(names)), _state()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure(cache_dir: str, names: tuple[str, ...], who: str) -> str:
    """The directory (a root file system tree) holding ``names`` and whatever of their
    dependencies the host lacks; built into ``cache_dir`` if not there yet. ``who`` names
    the node(s) in errors."""
    target = os.path.join(cache_dir, "packages", key(names))
    if os.path.isdir(target):
        return target
    check_tools()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    prefix = temp_prefix("packages", hidden=True)  # labbook gc removes it if this is killed
    work = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=prefix)
    try:
        wanted = resolve(names, who)
        debs = os.path.join(work, "debs")
        root = os.path.join(work, "root")
        os.mkdir(debs)
        os.mkdir(root)
        if wanted:
            download(wanted, debs, who)
        unpack(debs, root, who)
        with open(os.path.join(root, ".labbook-packages"), "w") as f:
            f.write("".join(f"{n}={v}\n" for n, v in wanted))
        shutil.rmtree(debs)
        try:
            os.rename(root, target)
        except OSError:
            if not os.path.isdir(target):  # another build put it there first: fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve(names: tuple[str, ...], who: str) -> list[tuple[str, str]]:
    """(package, version) of ``names`` and of their dependencies (no recommends) that the
    host lacks, as apt would install them here."""
    out = _run(
        [
            "apt-get",
            "-s",
            "-q",
            "-o",
            "Debug::NoLocking=1",
            "--no-install-recommends",
            "install",
            *names,
        ],
        who,
        "resolve " + " ".join(names),
    )
    found = []
    for line in out.splitlines():
        m = _INST.match(line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def download(wanted: list[tuple[str, str]], directory: str, who: str) -> None:
    argv = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:  # apt's _apt user could not write a private temporary directory
        argv += ["-o", "APT::Sandbox::User=root"]
    _run([*argv, *(f"{n}={v}" for n, v in wanted)], who, "download", cwd=directory)


def unpack(debs: str, root: str, who: str) -> None:
    """Unpack every .deb of ``debs`` into ``root`` (a tree the guest lays over /)."""
    for deb in sorted(os.listdir(debs)):
        _run(["dpkg-deb", "-x", os.path.join(debs, deb), root], who, "unpack " + deb)
    merge_usr(root)
    os.chmod(root, 0o755)


def merge_usr(root: str) -> None:
    """Move bin/, lib/ ... of ``root`` into usr/ (Debian's merged /usr)."""
    for top in MERGED:
        src = os.path.join(root, top)
        if os.path.islink(src) or not os.path.isdir(src):
            continue
        dst = os.path.join(root, "usr", top)
        os.makedirs(dst, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    dirnames.remove(d)
                    filenames.append(d)
                else:
                    os.makedirs(os.path.join(dst, rel, d), exist_ok=True)
            for f in filenames:
                os.replace(os.path.join(dirpath, f), os.path.join(dst, rel, f))
        shutil.rmtree(src)


def _run(argv: list[str], who: str, what: str, cwd: str | None = None) -> str:
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")] or [
            ln for ln in proc.stderr.splitlines() if ln.strip()
        ]
        reason = errs[0] if errs else f"{argv[0]} exited with {proc.returncode}"
        raise ProviderError(f"the Debian packages of {who}: cannot {what}: {reason}")
    return proc.stdout
