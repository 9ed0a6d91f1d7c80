"""Results cached in the build directory, keyed by content (:mod:`.keys`)."""

from __future__ import annotations

import json
import os

from ..outfile import write_output
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
        blob = json.dumps(plan_result_to_dict(result), sort_keys=True).encode()
        write_output(self._path(key), blob)
