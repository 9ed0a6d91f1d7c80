"""Split documents across CI jobs: deterministic and balanced by known durations."""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import UsageError

SHARD_RE = re.compile(r"^(\d+)/(\d+)$")
#: A ``lab`` directive (reStructuredText or MyST), and an included file.
LAB_DIRECTIVE = re.compile(r"^\s*(\.\. lab::|`{3,}\s*\{lab\}|:{3,}\s*\{lab\})", re.M)
INCLUDE = re.compile(r"^\s*(?:\.\. (?:include|literalinclude)::|`{3,}\s*\{include\})\s*(\S+)", re.M)
#: The most shares --shard splits into (one list is made per share).
MAX_SHARDS = 1000


def binds_a_lab(path: str, src: str, seen: set[str] | None = None) -> bool:
    """Does the document ``path`` of the source tree ``src``, or a file it includes, hold
    a ``lab`` directive?"""
    seen = set() if seen is None else seen
    if path in seen:
        return False
    seen.add(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    if LAB_DIRECTIVE.search(text):
        return True
    for target in INCLUDE.findall(text):
        base = src if target.startswith("/") else os.path.dirname(path)
        if binds_a_lab(os.path.normpath(os.path.join(base, target.lstrip("/"))), src, seen):
            return True
    return False


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; K counts from 1."""
    m = SHARD_RE.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) <= MAX_SHARDS:
        raise UsageError(f"--shard {text!r}: write K/N with 1 <= K <= N <= {MAX_SHARDS}, like 2/4")
    return int(m.group(1)), int(m.group(2))


def assign(docs: list[str], n: int, durations: dict[str, float] | None = None) -> list[list[str]]:
    """Longest-processing-time-first: each document (longest first) to the least loaded shard.

    Documents without a known duration count as the mean of the known ones (1 s when
    none is known). Ties break by name, so every job computes the same split.
    """
    durations = durations or {}
    known = [durations[d] for d in docs if d in durations]
    default = sum(known) / len(known) if known else 1.0
    weight = {d: durations.get(d, default) for d in docs}
    shards: list[list[str]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for doc in sorted(docs, key=lambda d: (-weight[d], d)):
        i = min(range(n), key=lambda j: (loads[j], len(shards[j]), j))  # 0 s counts too
        shards[i].append(doc)
        loads[i] += weight[doc]
    return [sorted(s) for s in shards]


def durations_from_report(data: dict[str, Any]) -> dict[str, float]:
    """Seconds per document from a labcheck.json report."""
    out: dict[str, float] = {}
    for lab in data.get("labs", []) or []:
        doc = str(lab.get("document", ""))
        out[doc] = out.get(doc, 0.0) + float(lab.get("duration", 0.0))
    return out


def read_order(
    docs: list[str], sizes: list[int], workers: int, weight: dict[str, float]
) -> list[str]:
    """``docs`` reordered for a reader that cuts the list into consecutive chunks of
    ``sizes`` and runs ``workers`` chunks at a time, in order (sphinx-build -j N): the
    documents whose labs take longest are spread over the chunks that start first, each
    to the least loaded of them, so the VMs of two long labs boot side by side instead
    of one after the other in one chunk. Chunks of a later round get documents only when
    the first round is full. Deterministic: ties break by name; a chunk keeps its
    documents sorted."""
    chunks: list[list[str]] = [[] for _ in sizes]
    loads = [0.0] * len(sizes)
    for doc in sorted(docs, key=lambda d: (-weight.get(d, 0.0), d)):
        open_ = [i for i, size in enumerate(sizes) if len(chunks[i]) < size]
        if not open_:  # sizes that do not add up: the rest keeps its place at the end
            chunks.append([doc])
            continue
        first_round = min(i // workers for i in open_)
        i = min((j for j in open_ if j // workers == first_round), key=lambda j: (loads[j], j))
        chunks[i].append(doc)
        loads[i] += weight.get(doc, 0.0)
    return [d for chunk in chunks for d in sorted(chunk)]
