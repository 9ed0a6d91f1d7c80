"""The order documents are read in, so labs run side by side under ``sphinx-build -j N``.

Sphinx reads in parallel by cutting the sorted list of documents into consecutive
chunks, one process per chunk. The handbook's long labs (the VM chapters) sit next to
each other in that list, so they would fall into one chunk and run one after the
other while the other process reads pages without labs. Before reading, this module
reorders the list (``env-before-read-docs`` allows it) by how long each document's labs
took when they were recorded (``labbook_results``): the longest are spread over the
chunks that start first (:func:`..runner.shard.read_order`). The output does not depend
on the order; only the time does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import config as cfg

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment


def weights(app: Sphinx, docnames: list[str]) -> dict[str, float]:
    """Seconds each document's labs are expected to take: as recorded, else the mean of
    the recorded ones for a document with a lab directive, also in a file it includes (0 s
    without one)."""
    from ..runner.records import RecordStore
    from ..runner.shard import binds_a_lab
    from .execute import results_dir

    directory = results_dir(app)
    recorded = RecordStore(directory, str(app.confdir)).durations() if directory else {}
    known = [recorded[d] for d in docnames if d in recorded]
    default = sum(known) / len(known) if known else 1.0
    out = {}
    for doc in docnames:
        if doc in recorded:
            out[doc] = recorded[doc]
            continue
        lab = binds_a_lab(os.fspath(app.env.doc2path(doc)), os.fspath(app.srcdir))
        out[doc] = default if lab else 0.0
    return out


def on_before_read(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Reorder ``docnames`` in place for a parallel read (a serial read keeps Sphinx's)."""
    if app.parallel <= 1 or cfg.value(app.config, "labbook_execute") in ("off", "cache"):
        return
    from sphinx.util.parallel import make_chunks

    from ..runner.shard import read_order

    sizes = [len(c) for c in make_chunks(list(docnames), app.parallel)]
    docnames[:] = read_order(list(docnames), sizes, app.parallel, weights(app, docnames))


def setup(app: Sphinx) -> None:
    app.connect("env-before-read-docs", on_before_read)
