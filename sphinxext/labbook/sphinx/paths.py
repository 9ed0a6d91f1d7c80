"""Where a directive's lab argument points: next to the document, or in ``labbook_labs_dir``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import DirectiveError

if TYPE_CHECKING:
    from sphinx.environment import BuildEnvironment

#: Suffixes tried after a bare lab name, in order.
SPEC_SUFFIXES = ("", ".yaml", ".yml")


def _confdir(env: BuildEnvironment) -> str:
    """The directory of conf.py (``sphinx-build -c`` may put it outside the source directory).

    The environment carries no public confdir (``env.app`` is deprecated), but the config
    keeps the namespace conf.py ran in, whose ``__file__`` is conf.py itself.
    """
    conf_py = getattr(env.config, "_raw_config", {}).get("__file__")
    return os.path.dirname(os.fspath(conf_py)) if conf_py else os.fspath(env.srcdir)


def labs_dir(env: BuildEnvironment) -> str:
    """The absolute directory ``labbook_labs_dir`` names (relative to conf.py's directory)."""
    configured = getattr(env.config, "labbook_labs_dir", "labs") or "."
    return os.path.normpath(os.path.join(_confdir(env), configured))


def resolve_lab_path(env: BuildEnvironment, docname: str, argument: str) -> tuple[str, str]:
    """Find the lab spec that a directive's ``argument`` names.

    Tried in this order; the first existing file wins:

    1. ``argument`` as Sphinx resolves any file argument (``env.relfn2path``): relative to
       the directory of document ``docname``, or to the source directory if it starts
       with ``/``;
    2. ``argument`` inside ``labbook_labs_dir`` (a directory relative to conf.py's,
       default ``labs``), as written, then with ``.yaml`` and ``.yml`` appended; so a bare
       name such as ``macvlan`` finds ``labs/macvlan.yaml``.

    Returns ``(dependency, abspath)``: ``dependency`` is what to pass to
    ``env.note_dependency`` (relative to the source directory when the spec is inside it,
    else absolute), ``abspath`` the absolute, normalized path to read.

    Raises :class:`DirectiveError` (a message without location; the caller warns at its
    directive) naming the places looked at, when none exists.
    """
    _, abspath = env.relfn2path(argument, docname)
    candidates = [abspath]
    if not argument.startswith("/"):
        base = labs_dir(env)
        candidates += [os.path.join(base, argument + s) for s in SPEC_SUFFIXES]
    for path in candidates:
        if os.path.isfile(path):
            path = os.path.normpath(path)
            srcdir = os.fspath(env.srcdir)
            inside = os.path.commonpath([srcdir, path]) == srcdir
            return (os.path.relpath(path, srcdir) if inside else path), path
    looked = ", ".join(dict.fromkeys(os.path.normpath(c) for c in candidates))
    raise DirectiveError(
        f"lab spec {argument!r} not found (looked at {looked}); give a path "
        "relative to the document, or a lab name in labbook_labs_dir"
    )


def project_root(env: BuildEnvironment) -> str:
    """The top of the project: the nearest directory above conf.py's with ``.git`` in it,
    else conf.py's directory."""
    start = here = os.path.abspath(_confdir(env))
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return start
        here = parent


def shown_path(env: BuildEnvironment, path: str) -> str:
    """``path`` as a reader types it from the top of the project (absolute when outside)."""
    rel = os.path.relpath(path, project_root(env))
    return path if rel.startswith("..") else rel
