"""What a VM boots: the host's Debian kernel, uncompressed, and a tiny initramfs, cached.

Both are built once per kernel (and per version of the guest files) into a cache
directory whose file names are hashes of their inputs, written to a temporary name and
renamed into place, so parallel builds never see half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import ProviderError
from ...outfile import replacing
from ..hostpath import program, which
from ..procs import temp_prefix

GUEST = Path(__file__).with_name("guest")
#: The files of GUEST that go into the initramfs.
GUEST_FILES = ("init", "agent.py")
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
#: Modules the initramfs loads before anything else (dependencies are added).
MODULES = (
    "virtio_pci",
    "virtio_console",
    "9pnet_virtio",
    "9p",
    "overlay",
    "virtio_net",
    "virtio_blk",
    "ext4",
)
#: Debian packages that provide what the provider needs (named in errors).
PACKAGES = {
    "qemu": "qemu-system-x86",
    "kernel": "linux-image-amd64",
    "busybox": "busybox-static",
    "cpio": "cpio",
    "mkfs": "e2fsprogs",
    "modprobe": "kmod",
}
_XZ_MAGIC = b"\xfd7zXZ\x00"
_VERSION = "1"  # bump when the way images are built changes


@dataclass(frozen=True)
class Images:
    kernel_version: str
    vmlinux: str
    initrd: str


def default_cache_dir() -> str:
    if os.environ.get("LABBOOK_VM_CACHE"):
        return os.environ["LABBOOK_VM_CACHE"]
    from ..userns import privileged

    if privileged():
        return "/var/cache/labbook/vm"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "labbook", "vm")


def kernels() -> list[str]:
    """Kernel versions with both an image in /boot and modules in /lib/modules, newest last."""
    try:
        found = [
            f.removeprefix("vmlinuz-") for f in os.listdir("/boot") if f.startswith("vmlinuz-")
        ]
    except FileNotFoundError:
        return []
    return sorted((k for k in found if os.path.isdir(f"/lib/modules/{k}")), key=_version_key)


def _version_key(kver: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in kver.replace("-", ".").split(".")]


def check_tools() -> None:
    """ProviderError (one line, naming the Debian package) when a host tool is missing."""
    for tool, package in (
        (QEMU, "qemu"),
        ("cpio", "cpio"),
        ("mkfs.ext4", "mkfs"),
        ("modprobe", "modprobe"),
    ):
        if which(tool) is None:
            raise ProviderError(
                f"the vm provider needs {tool}: install the Debian package "
                f"{PACKAGES[package]} (it is in bindep.txt, profile vm)"
            )
    if not _is_static(BUSYBOX):
        raise ProviderError(
            f"the vm provider needs a static {BUSYBOX} for the VMs' "
            f"initramfs: install the Debian package {PACKAGES['busybox']}"
        )


def _is_static(path: str) -> bool:
    """True for an ELF file without a program interpreter (statically linked)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return (
        head[:4] == b"\x7fELF" and b"/lib64/ld-linux" not in head and b"/lib/ld-linux" not in head
    )


def pick_kernel(wanted: str | None = None) -> str:
    found = kernels()
    if wanted:
        if wanted not in found:
            raise ProviderError(
                f"no kernel {wanted} for VMs (need /boot/vmlinuz-{wanted} and "
                f"/lib/modules/{wanted}); installed: {', '.join(found) or 'none'}"
            )
        return wanted
    if not found:
        raise ProviderError(
            "the vm provider needs a Linux kernel in /boot with its modules "
            f"in /lib/modules: install the Debian package {PACKAGES['kernel']}"
        )
    return found[-1]


def ensure(cache_dir: str, kver: str) -> Images:
    """The vmlinux and initramfs for ``kver``, built into ``cache_dir`` if not there yet."""
    directory = os.path.join(cache_dir, kver)
    os.makedirs(directory, exist_ok=True)
    vmlinuz = f"/boot/vmlinuz-{kver}"
    vmlinux = os.path.join(directory, f"vmlinux-{_digest([_file_digest(vmlinuz)])[:16]}")
    if not os.path.exists(vmlinux):
        _atomic(vmlinux, lambda tmp: _extract_vmlinux(vmlinuz, tmp))
    mods = module_files(kver)
    parts = [
        _VERSION,
        _file_digest(BUSYBOX),
        *(_file_digest(str(GUEST / name)) for name in GUEST_FILES),
    ]
    parts += [f"{os.path.basename(m)}:{_file_digest(m)}" for m in mods]
    initrd = os.path.join(directory, f"initrd-{_digest(parts)[:16]}.cpio")
    if not os.path.exists(initrd):
        _atomic(initrd, lambda tmp: _build_initrd(mods, tmp))
    return Images(kver, vmlinux, initrd)


#: Where the host's files that QEMU of an ordinary user may not read matter to a guest:
#: (top, how deep directories are looked at, whether files are too).
CLOSED_WHERE = (
    ("etc", 8, True),
    ("var", 6, False),
    ("var/log", 4, True),
    ("root", 0, False),
    ("home", 1, False),
    ("srv", 2, False),
    ("opt", 2, False),
)
#: Left out: anybody may make closed directories there (under names chosen to break the
#: list), and services' private temporary directories come and go.
CLOSED_SKIPPED = ("/var/tmp", "/tmp")


def closed() -> list[str]:
    """What this user may not read where it matters to a guest: ``d /path`` for a
    directory, ``f /path`` for a file (only files others may not read are tried)."""
    out: set[str] = set()
    for top, depth, files in CLOSED_WHERE:
        todo = [(f"/{top}", 0)]
        while todo:
            path, level = todo.pop()
            if (
                path in CLOSED_SKIPPED
                or any(c.isspace() for c in path)
                or os.path.islink(path)
                or not os.path.isdir(path)
            ):
                continue
            if not os.access(path, os.R_OK | os.X_OK):
                out.add(f"d {path}\n")
                continue
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            for e in entries:
                with contextlib.suppress(OSError):
                    if e.is_dir(follow_symlinks=False):
                        if level < depth:
                            todo.append((e.path, level + 1))
                    elif (
                        files
                        and e.is_file(follow_symlinks=False)
                        and not any(c.isspace() for c in e.path)
                        and not e.stat(follow_symlinks=False).st_mode & 0o004
                        and not os.access(e.path, os.R_OK)
                    ):
                        out.add(f"f {e.path}\n")
    return sorted(out)


def with_closed(imgs: Images, cache_dir: str) -> Images:
    """The images with what this user may not read handed to the guest's init (as a
    second archive after the initramfs: it finds a list, no slow search over 9p). Built
    once for each list, beside the initramfs."""
    listing = "".join(closed())
    name = os.path.basename(imgs.initrd).removesuffix(".cpio")
    initrd = os.path.join(cache_dir, imgs.kernel_version, f"{name}-{_digest([listing])[:12]}.cpio")
    if not os.path.exists(initrd):

        def build(tmp: str) -> None:
            with tempfile.TemporaryDirectory(prefix=temp_prefix("closed")) as root:
                Path(root, "closed").write_text(listing)
                with open(tmp, "wb") as f:
                    f.write(Path(imgs.initrd).read_bytes())
                    f.flush()
                    subprocess.run(
                        ["cpio", "-o", "-H", "newc", "--quiet"],
                        cwd=root,
                        stdout=f,
                        input=b"closed\n",
                        check=True,
                    )

        _atomic(initrd, build)
    return Images(imgs.kernel_version, imgs.vmlinux, initrd)


def module_files(kver: str) -> list[str]:
    """The .ko files of MODULES and their dependencies, in the order to load them."""
    order: list[str] = []
    for module in MODULES:
        proc = subprocess.run(
            [program("modprobe"), "-S", kver, "--show-depends", module],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ProviderError(
                f"the VMs' kernel {kver} lacks the module {module}: "
                f"{proc.stderr.strip() or 'modprobe failed'}"
            )
        for line in proc.stdout.splitlines():
            words = line.split()
            if words[:1] == ["insmod"] and words[1] not in order:
                order.append(words[1])  # built-in modules print "builtin ...": nothing to load
    return order


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _atomic(target: str, build: object) -> None:
    """Build into a temporary file beside ``target`` and rename it into place."""
    with replacing(target, 0o644) as tmp:
        build(tmp)  # type: ignore[operator]


def _extract_vmlinux(vmlinuz: str, out: str) -> None:
    """The ELF kernel inside Debian's bzImage (xz-compressed): QEMU boots it directly (PVH),
    which saves seconds of decompression per boot under TCG."""
    data = Path(vmlinuz).read_bytes()
    start = data.find(_XZ_MAGIC)
    if start < 0:
        raise ProviderError(
            f"{vmlinuz} holds no xz-compressed kernel; use a Debian kernel ({PACKAGES['kernel']})"
        )
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if elf[:4] != b"\x7fELF":
        raise ProviderError(f"{vmlinuz} does not hold an ELF kernel")
    Path(out).write_bytes(elf)


def _build_initrd(mods: list[str], out: str) -> None:
    with tempfile.TemporaryDirectory(prefix=temp_prefix("initrd")) as root:
        for sub in ("bin", "mods"):
            os.mkdir(os.path.join(root, sub))
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
        for m in mods:
            shutil.copy(m, os.path.join(root, "mods", os.path.basename(m)))
        Path(root, "modules.order").write_text("".join(os.path.basename(m) + "\n" for m in mods))
        for name in GUEST_FILES:
            shutil.copy(GUEST / name, os.path.join(root, name))
        os.chmod(os.path.join(root, "init"), 0o755)
        names = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))
        with open(out, "wb") as f:
            subprocess.run(
                ["cpio", "-o", "-H", "newc", "--quiet"],
                cwd=root,
                stdout=f,
                input=("\n".join([".", *names]) + "\n").encode(),
                check=True,
            )
