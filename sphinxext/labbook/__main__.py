"""``python -m sphinxext.labbook`` is the ``labbook`` command."""

import sys

from .cli import main

sys.exit(main())
