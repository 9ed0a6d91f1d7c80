"""Credentials in database URLs: ``${VAR}`` expansion in, ``user:*****@`` masking out."""

from __future__ import annotations

import os
import re
from urllib.parse import quote, quote_plus, unquote

from ..errors import SchemaError

MASK = "*****"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# scheme://user:password@ -- the password ends at the last @ before the host.
_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)(\S*)@(?=[^@\s]*(?:\s|$))")


def expand(url: str) -> str:
    """``url`` with each ``${VAR}`` replaced from the environment (passwords stay off pages)."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise SchemaError(
                f"the URL uses ${{{name}}}, which is not set; export {name} before building"
            )
        return os.environ[name]

    return VARIABLE.sub(value, url)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``*****``."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", url)


def password(url: str) -> str | None:
    m = _USERINFO.search(url)
    return unquote(m.group(2)) if m and m.group(2) else None


def mask_text(text: str, url: str) -> str:
    """``text`` (say, a driver's error message) with ``url``'s password nowhere in it."""
    text = mask_url(text)
    secret = password(url)
    if secret:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return text
