"""Output paths: a device, a FIFO or ``-`` is written in place; a regular file atomically."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from conftest import IS_ROOT

from sphinxext.labbook.cli import main
from sphinxext.labbook.outfile import replacing, write_output

SPEC = """\
name: pair
nodes:
  alpha: {}
  beta: {}
"""


@pytest.fixture
def device(tmp_path: Path) -> Path:
    """A character device that swallows what is written: as root a private node with
    /dev/null's numbers (so a test that goes wrong replaces nothing of the machine's); as
    an ordinary user /dev/null itself, which such a user cannot replace but can write."""
    if not IS_ROOT:
        return Path("/dev/null")
    rdev = os.stat("/dev/null").st_rdev
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, rdev)
    return node


def is_chardev(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def no_temporaries(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".labbook-")]


def test_write_output_leaves_a_device_a_device(device: Path):
    before = os.lstat(device)
    write_output(str(device), b"x" * 100_000)
    after = os.lstat(device)
    assert is_chardev(device)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert no_temporaries(device.parent) == []


def test_check_json_junit_and_graph_output_to_a_device(tmp_path: Path, device: Path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.rst").write_text("Title\n=====\n\nNo labs here.\n")
    rc = main(["check", str(docs), "--json", str(device), "--junit", str(device)])
    assert rc == 0, capsys.readouterr()
    assert is_chardev(device)
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC)
    for fmt in ("dot", "mermaid"):
        assert main(["graph", str(spec), "-f", fmt, "-o", str(device)]) == 0
        assert is_chardev(device)
    # through a symbolic link too: the device is written, the link stays a link
    link = tmp_path / "link"
    link.symlink_to(device)
    assert main(["graph", str(spec), "-o", str(link)]) == 0
    assert link.is_symlink() and is_chardev(device)


def test_output_to_a_fifo_reaches_its_reader(tmp_path: Path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC)
    try:
        assert main(["graph", str(spec), "-o", str(fifo)]) == 0
    finally:
        reader.join(timeout=30)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert b"alpha" in got[0] and b"beta" in got[0]


def test_dash_is_standard_output(tmp_path: Path, capsysbinary):
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC)
    assert main(["graph", str(spec), "-o", "-"]) == 0
    assert b"alpha" in capsysbinary.readouterr().out
    assert not (Path.cwd() / "-").exists()


def test_a_regular_file_is_replaced_whole_or_not_at_all(tmp_path: Path):
    target = tmp_path / "report.json"
    target.write_bytes(b"old report\n")
    os.chmod(target, 0o640)
    with pytest.raises(TypeError):
        write_output(str(target), "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old report\n"
    with pytest.raises(RuntimeError), replacing(str(target)) as tmp:
        Path(tmp).write_bytes(b"half of a new rep")
        raise RuntimeError("the disk filled up")
    assert target.read_bytes() == b"old report\n"
    assert no_temporaries(tmp_path) == []
    write_output(str(target), b"new report\n")
    assert target.read_bytes() == b"new report\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640  # its mode is kept
    assert no_temporaries(tmp_path) == []


def test_an_unwritable_output_is_one_line_exit_2(tmp_path: Path, capsys):
    spec = tmp_path / "pair.yaml"
    spec.write_text(SPEC)
    (tmp_path / "dir").mkdir()
    assert main(["graph", str(spec), "-o", str(tmp_path / "dir")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"labbook: cannot write {tmp_path / 'dir'}: ")
    assert len(err.splitlines()) == 1
