"""``python -m policy``: the ``policy`` command."""

import sys

from .cli import main

sys.exit(main())
