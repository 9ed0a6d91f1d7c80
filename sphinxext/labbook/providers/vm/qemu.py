"""QEMU command lines for a lab's VMs, and whether KVM really works on this machine."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass

from ...outfile import write_output
from ..procs import temp_prefix
from .images import QEMU, Images
from .plan import Nic
from .relay import paths

#: The kernel command line of every VM. ``quiet``/``loglevel``: the console is a log file,
#: and printing to an emulated UART is slow; the rest skips work a throwaway VM never
#: needs (mitigations, audit, LSMs, watchdogs, crypto self-tests, TSC calibration).
APPEND = (
    "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init mitigations=off audit=0 "
    "lsm=capability nowatchdog tsc=reliable no_timer_check cryptomgr.notests "
    "random.trust_cpu=on"
)
#: How long a VM under KVM may take to print its first line before KVM counts as broken
#: (it boots in well under a second where KVM works; some nested setups hang instead).
KVM_PROBE_TIMEOUT = 8.0
#: The name every lab VM carries (``-name``), so that ``ps`` and ``gc`` can tell them.
NAME_PREFIX = "labbook-"


@dataclass(frozen=True)
class Machine:
    """One VM to start: its files in the lab's state directory and its QEMU argv."""

    node: str
    argv: tuple[str, ...]
    ctl: str
    console: str
    log: str
    scratch: str | None


def machine(
    lab: str,
    node: str,
    index: int,
    directory: str,
    images: Images,
    nics: list[Nic],
    *,
    accel: str,
    memory: int,
    cpus: int,
    scratch: bool,
    python: str,
    relayed: bool = False,
    packages: str | None = None,
) -> Machine:
    """The QEMU command line of ``node``; its control socket is ``<index>.ctl`` (short:
    a unix socket path has at most 107 bytes). ``relayed``: each NIC sends its frames to
    the lab's relay over unix datagram sockets in ``directory`` (an ordinary user's lab,
    see :mod:`.relay`) instead of opening its tap. ``packages``: a directory of unpacked
    Debian packages the guest lays over the host's root."""
    ctl = os.path.join(directory, f"{index}.ctl")
    console = os.path.join(directory, f"{node}.console")
    disk = os.path.join(directory, f"{node}.scratch") if scratch else None
    append = (
        f"{APPEND} lb_python={python}"
        + (" lb_scratch=vda" if scratch else "")
        + (" lb_pkgs=1" if packages else "")
    )
    argv = [
        *_boot(f"{NAME_PREFIX}{lab}-{node}", images, accel, memory, append, console),
        "-smp",
        str(cpus),
        "-fsdev",
        "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device",
        "virtio-9p-pci,fsdev=root,mount_tag=root",
        *(
            [
                "-fsdev",
                f"local,id=pkgs,path={packages},security_model=none,readonly=on",
                "-device",
                "virtio-9p-pci,fsdev=pkgs,mount_tag=pkgs",
            ]
            if packages
            else []
        ),
        "-chardev",
        f"socket,id=ctl,path={ctl},server=on,wait=off",
        "-device",
        "virtio-serial-pci",
        "-device",
        "virtserialport,chardev=ctl,name=lb.ctl",
    ]
    if disk:
        argv += [
            "-drive",
            f"file={disk},if=none,id=scratch,format=raw,cache=unsafe,discard=unmap",
            "-device",
            "virtio-blk-pci,drive=scratch",
        ]
    for i, nic in enumerate(nics):
        if relayed:
            own, relay = paths(directory, nic)
            netdev = (
                f"dgram,id=n{i},local.type=unix,local.path={own},"
                f"remote.type=unix,remote.path={relay}"
            )
        else:
            netdev = f"tap,id=n{i},ifname={nic.tap},script=no,downscript=no"
        argv += ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=n{i},mac={nic.mac}"]
    return Machine(
        node, tuple(argv), ctl, console, os.path.join(directory, f"{node}.qemu.log"), disk
    )


def guest_python() -> str:
    """The interpreter the agent runs with inside the guest: the host's system python3
    (the guest sees the host's files), resolved, since an initramfs cannot follow the
    host's absolute symlinks."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return os.path.realpath(candidate)
    import sys

    return os.path.realpath(sys.executable)


def choose_accel(wanted: str, cache_dir: str, images: Images) -> str:
    """``kvm`` when asked for, or when ``auto`` and a VM really boots under KVM here."""
    if wanted in ("kvm", "tcg"):
        return wanted
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return "tcg"
    os.close(fd)
    key = hashlib.sha256(
        "\n".join([os.uname().release, _qemu_id(), images.vmlinux]).encode()
    ).hexdigest()[:16]
    remembered = os.path.join(cache_dir, f"accel-{key}")
    with contextlib.suppress(OSError), open(remembered) as f:
        return f.read().strip()
    found = "kvm" if boots(images, "kvm", KVM_PROBE_TIMEOUT) else "tcg"
    write_output(remembered, (found + "\n").encode())
    return found


def _qemu_id() -> str:
    import shutil

    path = shutil.which(QEMU) or QEMU
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _boot(
    name: str, images: Images, accel: str, memory: int, append: str, console: str
) -> list[str]:
    """What every QEMU of labbook's starts with: a q35 machine with no default devices,
    labbook's kernel and initramfs, and its serial console written to ``console``."""
    return [
        QEMU,
        "-name",
        name,
        "-machine",
        "q35",
        "-accel",
        accel,
        "-cpu",
        "host" if accel == "kvm" else "max",
        "-m",
        str(memory),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        images.vmlinux,
        "-initrd",
        images.initrd,
        "-append",
        append,
        "-chardev",
        f"file,id=con,path={console}",
        "-serial",
        "chardev:con",
    ]


def boots(images: Images, accel: str, timeout: float) -> bool:
    """Whether the kernel boots under ``accel`` until the initramfs says so (it powers
    off at once when asked to probe) within ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix=temp_prefix("probe")) as d:
        console = os.path.join(d, "console")
        argv = _boot(f"{NAME_PREFIX}probe", images, accel, 256, f"{APPEND} lb_probe", console)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
            with contextlib.suppress(OSError), open(console, "rb") as f:
                return b"labbook-probe" in f.read()
            return False
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
