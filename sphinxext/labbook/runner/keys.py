"""Keys of results, by content alone: the lab spec's bytes, the steps, the bytes of the
files the steps read (``:depends:``) and the provider's settings. No path, interpreter,
user or machine is part of a key, so a result recorded in one checkout is valid in any
other checkout of the same content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from ..steps.model import LabPlan, Step

#: Fields that say where a step was written, not what it is: a line added above a step
#: does not change its result.
_WHERE_WRITTEN = frozenset({"source", "line"})


def _sha(material: Any) -> str:
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def file_digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return "missing"


def _content(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _content(v) for k, v in value.items() if k not in _WHERE_WRITTEN}
    if isinstance(value, list | tuple):
        return [_content(v) for v in value]
    return value


def step_material(step: Step) -> dict[str, Any]:
    """What a step is: its node, commands, expected output, options; not where it is."""
    return _content(asdict(step))  # type: ignore[no-any-return]


def lab_key(plan: LabPlan, provider_settings: dict[str, Any]) -> str:
    """The lab without its steps: spec bytes, ``:depends:`` bytes, provider settings."""
    return _sha(
        {
            "spec": file_digest(plan.spec_path),
            "depends": [file_digest(p) for p in plan.depends],
            "provider": provider_settings,
        }
    )


def step_keys(plan: LabPlan, provider_settings: dict[str, Any]) -> list[str]:
    """One key per step, chained: a step's key covers the lab and every step up to it
    (a step's result depends on what ran before it in the same lab)."""
    key = lab_key(plan, provider_settings)
    out = []
    for step in plan.steps:
        key = _sha([key, step_material(step)])
        out.append(key)
    return out


def plan_key(plan: LabPlan, provider_settings: dict[str, Any]) -> str:
    """The build directory's cache key of the whole lab: its content and the labbook
    version (a new release may judge differently). Recorded results leave the version
    out, so that a release does not make every recorded step stale."""
    from .. import version

    keys = step_keys(plan, provider_settings)
    last = keys[-1] if keys else lab_key(plan, provider_settings)
    return _sha(["plan", version.__version__, last])
