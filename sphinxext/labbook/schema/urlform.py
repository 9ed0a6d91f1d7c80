"""Which schema sources are database URLs, and the schema name after a URL's ``#``.

Apart from the modules that read databases, so that telling a snapshot from a URL loads
no database library."""

from __future__ import annotations

import re

URL_SCHEME = re.compile(r"^[a-zA-Z][\w+.-]*://")


def is_url(source: str) -> bool:
    return bool(URL_SCHEME.match(source))


#: What follows a URL's last ``#`` when it names a database schema.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][\w$]*")


def split_schema(source: str) -> tuple[str, str | None]:
    """``URL#name`` -> (URL, name): the fragment names the database schema to read. A ``#``
    followed by anything else (``user:pa#ss@host``) is part of the URL."""
    url, sep, name = source.rpartition("#")
    if sep and _SCHEMA_NAME.fullmatch(name):
        return url, name
    if sep and not name:
        return url, None
    return source, None
