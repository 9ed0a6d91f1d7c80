"""Results cached in the build directory, keyed by content (:mod:`.keys`)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from ..verdict.results import PlanResult, plan_result_from_dict, plan_result_to_dict
from .keys import plan_key

__all__ = ["ResultCache", "plan_key"]


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
