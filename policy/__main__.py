"""``python -m policy``: the ``policy`` command."""

import sys

from ._cli import main

sys.exit(main())
