"""Nodes' ``packages:`` on providers whose nodes share the host's files: the host must
have them installed (the vm provider gives its VMs their own, see vm/packages.py)."""

from __future__ import annotations

import subprocess

from ..errors import ProviderError
from ..spec import LabSpec
from .hostpath import which


def missing(names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` that dpkg does not list as installed on this machine."""
    if not names or which("dpkg-query") is None:
        return list(names)
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        words[0]
        for words in (line.split() for line in proc.stdout.splitlines())
        if len(words) == 2 and words[1] == "installed"
    }
    return [n for n in names if n not in installed]


def check(spec: LabSpec, provider: str) -> None:
    """ProviderError naming the first node whose packages this machine lacks."""
    for node in spec.nodes:
        lacking = missing(node.packages)
        if lacking:
            loc = f" ({node.loc})" if node.loc is not None else ""
            raise ProviderError(
                f"node '{node.name}'{loc} needs the Debian packages {', '.join(lacking)}, "
                f"which this machine lacks: the {provider} provider's nodes use the host's "
                "own programs; install them, or run the lab on the vm provider (it gives "
                "them to the node's VM only)"
            )
