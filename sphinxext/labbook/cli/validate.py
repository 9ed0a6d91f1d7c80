"""``labbook validate``: check lab specs without bringing anything up; print the JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import SpecErrors, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "validate",
        help="check lab specs; print the JSON Schema of the format",
        description="Check lab spec files and report every problem as FILE:LINE:COL: "
        "message. Nothing is brought up. With --json-schema, print the JSON "
        "Schema of the format (point your editor's YAML support at it).",
        epilog="exit codes: 0 every spec is valid, 2 a spec has errors",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC.yaml")
    p.add_argument(
        "--json-schema",
        action="store_true",
        help="print the JSON Schema of the lab format and exit",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..spec import json_schema, load_spec

    if args.json_schema:
        json.dump(json_schema(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if not args.specs:
        raise UsageError("name at least one SPEC.yaml (or --json-schema)")
    bad = 0
    for path in args.specs:
        try:
            spec = load_spec(path)
        except SpecErrors as exc:
            bad += 1
            for err in exc.errors:
                print(str(err), file=sys.stderr)
            continue
        print(
            f"{path}: lab '{spec.name}' is valid: {len(spec.nodes)} nodes, "
            f"{len(spec.networks)} networks, {len(spec.links)} links"
        )
    return 2 if bad else 0
