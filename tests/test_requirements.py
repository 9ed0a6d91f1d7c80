"""constraints-min.txt pins every requirement at its declared minimum (tox -e min)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import Version

REPO = Path(__file__).parent.parent


def pins(name: str, operator: str) -> dict[str, Version]:
    """{normalised project name: version} of the lines ``NAME<operator>VERSION``."""
    out = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(rf"([A-Za-z0-9._-]+)\s*{re.escape(operator)}\s*([0-9][^,;\s]*)", line)
        assert m, f"{name}: {line!r} is not NAME{operator}VERSION"
        out[re.sub(r"[-_.]+", "-", m[1]).lower()] = Version(m[2])
    return out


def test_every_minimum_is_pinned_in_constraints_min() -> None:
    declared = pins("requirements.txt", ">=") | pins("test-requirements.txt", ">=")
    assert pins("constraints-min.txt", "==") == declared
