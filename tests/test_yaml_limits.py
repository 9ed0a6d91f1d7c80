"""Hostile YAML (recursive aliases, alias bombs, deep nesting, binary files) in every file
labbook reads: one line at file:line, exit code 2, bounded in time and memory.

Each case runs in a child process with its address space capped and a timeout, so a
regression fails the test instead of taking the machine's memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: The child's address space: far more than labbook needs, far less than a bomb takes.
MEMORY = 1 << 30
TIMEOUT = 60


def laughs(levels: int = 9) -> str:
    """The 'billion laughs': ten aliases to the level below, ``levels`` deep."""
    names = "abcdefghijklmnop"
    out = [f"{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*{names[i - 1]}"] * 10)
        out.append(f"{names[i]}: &{names[i]} [{refs}]")
    return "\n".join(out) + "\n"


HOSTILE = {
    "recursive-sequence": ("a: &a [*a]\n", 1, "a recursive YAML alias"),
    "recursive-mapping": ("name: x\nnodes: &n\n  alpha: *n\n", 2, "a recursive YAML alias"),
    "laughs": (laughs(), 5, "YAML aliases here repeat more than 100000 values"),
    "deep": ("x: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nested more than 100 levels"),
    "binary": (b"name: x\nnodes:\n  \x89PNG\r\n\x1a\n\x00\x00", 3, "not UTF-8 text"),
    "control": ("name: x\nnodes:\n  a\x1b[31m: {}\n", 3, "cannot hold the character U+001B"),
}

#: How each kind of file is read: the code run in the child with PATH set.
READERS = {
    "spec": "from sphinxext.labbook.cli import main; sys.exit(main(['validate', PATH]))",
    "inventory": (
        "from sphinxext.labbook.errors import LabbookError\n"
        "from sphinxext.labbook.providers.ssh.inventory import load_inventory\n"
        "try:\n    load_inventory(PATH, '/nonexistent')\n"
        "except LabbookError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)"
    ),
    "snapshot": (
        "from sphinxext.labbook.errors import LabbookError\n"
        "from sphinxext.labbook.schema.snapshot import load_snapshot\n"
        "try:\n    load_snapshot(PATH)\n"
        "except LabbookError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)"
    ),
    "groups": (
        "from sphinxext.labbook.errors import LabbookError\n"
        "from sphinxext.labbook.render.schema_options import render_options\n"
        "try:\n    render_options(group=PATH)\n"
        "except LabbookError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)"
    ),
}


def run_limited(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    prelude = textwrap.dedent(
        f"""\
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY}, {MEMORY}))
        PATH = {str(path)!r}
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_one_line_at_its_place(tmp_path: Path, reader: str, case: str):
    text, line, says = HOSTILE[case]
    path = tmp_path / f"{case}.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    proc = run_limited(READERS[reader], path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{path}:{line}:"), lines[0]
    assert says in lines[0]


def test_aliases_within_the_limit_still_work(tmp_path: Path):
    """Sharing a block among many nodes (what anchors are for) is not a bomb."""
    nodes = "".join(f"  n{i}: {{interfaces: {{eth0: *eth}}}}\n" for i in range(1, 300))
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "name: many\nnetworks:\n  lan: {cidr: 10.0.0.0/16}\nnodes:\n"
        "  n0: {interfaces: {eth0: &eth {network: lan}}}\n" + nodes
    )
    proc = run_limited(READERS["spec"], spec)
    assert proc.returncode == 0, proc.stderr


LAB_FILE = """\
from sphinxext.labbook.verdict.configfiles import apply_content
from sphinxext.labbook.errors import LabbookError
text = open(PATH).read()
for shown, old in ((text.splitlines(), b"x: 1\\n"), (["x: 2"], text.encode())):
    try:
        apply_content(shown, "yaml", True, old)
    except LabbookError as exc:
        print(type(exc).__name__, exc.line, exc.message)
"""


@pytest.mark.parametrize("case", ["recursive-sequence", "recursive-mapping", "laughs", "deep"])
def test_hostile_yaml_in_a_lab_file_and_in_the_file_it_merges_into(tmp_path: Path, case: str):
    text, line, says = HOSTILE[case]
    path = tmp_path / "page.yaml"
    path.write_text(text)
    proc = run_limited(LAB_FILE, path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    page, existing = proc.stdout.splitlines()
    # on the page: a directive error at the content line (0-based offset)
    assert page.startswith(f"DirectiveError {line - 1} ") and says in page, page
    # in the node's file: the lab's error, naming the existing file
    assert existing.startswith("LabbookError None the existing file: ") and says in existing


@pytest.mark.parametrize("case", ["binary", "recursive-mapping"])  # bounded in-process
def test_hostile_spec_of_a_page_is_one_warning_at_its_line(tmp_path: Path, case: str, capsys):
    from sphinxext.labbook.cli import main

    text, line, says = HOSTILE[case]
    (tmp_path / "conf.py").write_text('extensions = ["sphinxext.labbook"]\n')
    spec = tmp_path / "hostile.yaml"
    spec.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "index.rst").write_text("T\n=\n\n.. lab:: hostile.yaml\n")
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    found = [x for x in err.splitlines() if x.startswith(f"{spec}:{line}:")]
    assert len(found) == 1 and says in found[0], err
    assert "Traceback" not in err
