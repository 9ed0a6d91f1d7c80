"""``labbook report merge``: join the reports of CI shards into one."""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="work with labcheck reports",
        description="Work with the JSON reports of labbook check and the labcheck builder.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    m = verbs.add_parser(
        "merge",
        help="join several reports (e.g. of CI shards) into one",
        description="Join labcheck.json reports into one; print the summary. Exit 1 when "
        "the merged report has drift or errors.",
    )
    m.add_argument("reports", nargs="+", metavar="REPORT.json")
    m.add_argument("-o", "--output", metavar="FILE", help="write the merged JSON here")
    m.add_argument("--junit", metavar="FILE", help="also write the merged JUnit XML here")
    m.set_defaults(func=merge)


def merge(args: argparse.Namespace) -> int:
    from ..report import counted, from_json, summary_line, write_reports
    from ..verdict.results import Status

    results = []
    for path in args.reports:
        try:
            with open(path, encoding="utf-8") as f:
                results.extend(from_json(json.load(f)))
        except FileNotFoundError:
            raise UsageError(f"{path}: no such report") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"{path}: not a labcheck report ({exc}); pass the JSON written "
                "by labbook check --json or the labcheck builder"
            ) from None
    results.sort(key=lambda r: (r.document, r.spec_path, r.started))
    write_reports(results, args.output, args.junit)
    print(f"{summary_line(results)} (from {counted(len(args.reports), 'report')})")
    return 1 if any(r.status in (Status.DRIFT, Status.ERROR) for r in results) else 0
