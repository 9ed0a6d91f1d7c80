"""Results cached on disk, keyed by a hash of everything that can change them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from typing import Any

from ..steps.model import LabPlan
from ..verdict.results import PlanResult, plan_result_from_dict, plan_result_to_dict


def plan_key(plan: LabPlan, provider_settings: dict[str, Any]) -> str:
    """sha256 of the labbook version, the lab spec's bytes, the files the steps read
    (``:depends:``), every step and the provider."""
    from ..version import __version__

    try:
        with open(plan.spec_path, "rb") as f:
            spec_bytes = f.read()
    except OSError:
        spec_bytes = b""
    material = {
        "labbook": __version__,
        "spec": hashlib.sha256(spec_bytes).hexdigest(),
        "depends": {path: _digest(path) for path in plan.depends},
        "plan": asdict(plan),
        "provider": provider_settings,
    }
    blob = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return "missing"


class ResultCache:
    """One JSON file per key under ``directory``; writes are atomic."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], f"{key}.json")

    def get(self, key: str) -> PlanResult | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                return plan_result_from_dict(json.load(f))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: PlanResult) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(plan_result_to_dict(result), f, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
