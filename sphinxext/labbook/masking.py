"""Credentials: ``${VAR}`` expanded into URLs (quoted), and every password form masked.

Everything labbook prints that may hold a URL, a host or a driver's error message goes
through :func:`mask`: standard error, ``--json``, JUnit, Sphinx warnings and pages. The
forms it knows:

- a URL's userinfo, ``scheme://user:PASSWORD@host`` (up to the last ``@`` of the URL);
- a secret query parameter, ``?password=...``, ``&sslpassword=...``, ``&token=...``;
- a bare ``user:PASSWORD@host`` (an ssh inventory's ``host:``), with :func:`mask_host`;
- any value labbook knows is a secret (a password once it is unquoted or quoted), given
  as ``known``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from .errors import SchemaError

MASK = "*****"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Query parameters whose value is a secret (lower case).
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "sslpassword",
        "token",
        "access_token",
        "api_key",
        "apikey",
    }
)
# scheme://user:password@ -- the password ends at the last @ of the URL.
_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)(\S*)@(?=[^@\s]*(?:\s|$))")
_QUERY_SECRET = re.compile(
    r"([?&;](?:" + "|".join(sorted(SECRET_PARAMETERS)) + r")=)([^&;#\s'\"]*)", re.I
)
# user:password@host, as ssh would never take it
_BARE_USERINFO = re.compile(r"^([^:@\s/]*:)(.*)@(?=[^@]*$)")


def _env(name: str) -> str:
    if name not in os.environ:
        raise SchemaError(
            f"the URL uses ${{{name}}}, which is not set; export {name} before building",
        )
    return os.environ[name]


def _quoted_position(template: str, start: int) -> bool:
    """Is ``template[start:]`` in a URL's userinfo or query (where a value is quoted)?"""
    before = template[:start]
    if "?" in before:
        return True
    scheme_end = template.find("://")
    if scheme_end < 0 or start < scheme_end + 3:
        return False
    authority = re.split(r"[/?#]", template[scheme_end + 3 :], maxsplit=1)[0]
    return (
        start < scheme_end + 3 + len(authority)
        and "@" in template[start : scheme_end + 3 + len(authority)]
    )


def expand(url: str) -> str:
    """``url`` with each ``${VAR}`` replaced from the environment, so passwords stay off
    pages. A value in the userinfo or the query is percent-quoted: a password with a space,
    ``@``, ``#``, ``/``, ``?`` or ``%`` reaches the driver as it is. A URL that is only
    ``${VAR}`` is the variable's value as it stands."""
    if VARIABLE.fullmatch(url.strip()):
        return _env(VARIABLE.fullmatch(url.strip()).group(1))  # type: ignore[union-attr]
    out = []
    pos = 0
    for m in VARIABLE.finditer(url):
        value = _env(m.group(1))
        out += [
            url[pos : m.start()],
            quote(value, safe="") if _quoted_position(url, m.start()) else value,
        ]
        pos = m.end()
    out.append(url[pos:])
    return "".join(out)


def secrets_of(url: str) -> list[str]:
    """The secrets written in ``url``: its password and its secret query values."""
    found = []
    m = _USERINFO.search(url)
    if m and m.group(2):
        found.append(unquote(m.group(2)))
    try:
        parts = urlsplit(url.strip())
        query = parts.query
        if parts.password:  # also one with a space in it, which the pattern stops at
            found.append(unquote(parts.password))
    except ValueError:
        query = url.partition("?")[2]
    found += [v for k, v in parse_qsl(query) if k.lower() in SECRET_PARAMETERS and v]
    return found


def password(url: str) -> str | None:
    """The password in ``url``'s userinfo or query, as written (None if there is none)."""
    m = _USERINFO.search(url)
    if m and m.group(2):
        return m.group(2)
    q = _QUERY_SECRET.search(url)
    return q.group(2) if q and q.group(2) else None


def mask(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every password form in it replaced by ``*****``; ``known`` are secrets
    to mask wherever they appear, as they are, quoted or unquoted."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)
    for secret in sorted(set(known), key=len, reverse=True):
        if len(secret) < 3:  # masking 'a' everywhere would garble the message, not hide it
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)}:
            text = text.replace(form, MASK)
    return text


def mask_url(url: str) -> str:
    """``url`` (or a text holding URLs) with its passwords masked."""
    return mask(url, secrets_of(url))


def mask_host(host: str) -> str:
    """An ssh host as it may be written, ``user:password@host``, with the password masked."""
    return _BARE_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", host)


def host_password(host: str) -> bool:
    """Does the ssh host ``host`` carry a password (``user:password@host``)?"""
    return bool(_BARE_USERINFO.match(host))
