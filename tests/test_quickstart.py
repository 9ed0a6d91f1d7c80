"""README's quick start and the handbook's "Run it yourself" give the same commands."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block, "README's quick start has no console block"
    return [line[2:].strip() for line in block.group(1).splitlines() if line.startswith("$ ")]


def handbook_commands() -> list[str]:
    text = (REPO / "doc" / "source" / "index.rst").read_text()
    section = text.split("Run it yourself\n---------------\n", 1)[1]
    block = section.split("::\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("   "):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def test_readme_and_handbook_give_the_same_commands() -> None:
    readme = readme_commands()
    assert readme == handbook_commands()
    assert {"tox -e docs", "tox"} <= set(readme)
    # a virtual environment first: Debian 12 and Ubuntu 24.04 refuse pip outside one
    assert readme[0].startswith("python3 -m venv ")
