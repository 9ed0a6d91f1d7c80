"""The ``labcheck`` builder: run every lab of the project, write JSON and JUnit reports."""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from sphinx.builders import Builder
from sphinx.util import logging

from ..report import summary_line, waivers, write_reports
from ..verdict.results import PlanResult, Status
from .envdata import problems_of, results_of

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)

JSON_NAME = "labcheck.json"
JUNIT_NAME = "junit.xml"


class LabcheckBuilder(Builder):
    """Labs run while documents are read; this builder gathers and reports the results."""

    name = "labcheck"
    epilog = (
        "labbook: the results are in %(outdir)s/"
        + JSON_NAME
        + " and %(outdir)s/"
        + JUNIT_NAME
        + "."
    )
    allow_parallel = True

    #: What a check of some documents only (``labbook check FILE``) says of links to the
    #: documents left out: nothing; those warnings are about the subset, not the pages.
    SUBSET_WARNINGS = ("ref.doc", "ref.ref", "ref.any", "toc.excluded", "toc.not_included")

    def init(self) -> None:
        if list(self.config.include_patterns) != ["**"]:
            self.config.suppress_warnings = [
                *self.config.suppress_warnings,
                *self.SUBSET_WARNINGS,
            ]

    def get_outdated_docs(self) -> set[str]:
        return set(self.env.found_docs)

    def get_target_uri(self, docname: str, typ: str | None = None) -> str:
        return ""

    def prepare_writing(self, docnames: AbstractSet[str]) -> None:
        pass  # Sphinx 7.3's Builder raises NotImplementedError here

    def write_doc(self, docname: str, doctree: nodes.document) -> None:
        pass

    def all_results(self) -> list[PlanResult]:
        found = self.env.found_docs
        return [r for doc, rs in sorted(results_of(self.env).items()) if doc in found for r in rs]

    def all_problems(self) -> list[dict[str, object]]:
        found = self.env.found_docs
        return [
            {"document": doc, **p}
            for doc, ps in sorted(problems_of(self.env).items())
            if doc in found
            for p in ps
        ]

    def finish(self) -> None:
        results = self.all_results()
        problems = self.all_problems()
        write_reports(
            results,
            os.path.join(self.outdir, JSON_NAME),
            os.path.join(self.outdir, JUNIT_NAME),
            problems,
        )
        # labbook check passes this line through as its summary
        logger.info(f"labbook: {summary_line(results, problems=problems)}")
        for w in waivers(results):
            logger.info(
                f"labbook: {w['file']}:{w['line']}: not checked for idempotence: {w['why']}"
            )
        if problems or any(r.status in (Status.DRIFT, Status.ERROR) for r in results):
            # Sphinx 9 deprecates Builder.app in favour of _app (as linkcheck uses)
            app = getattr(self, "_app", None) or self.app
            app.statuscode = 1


def setup(app: Sphinx) -> None:
    app.add_builder(LabcheckBuilder)
