"""``python -m livecart``: the same as the ``livecart`` command."""

import sys

from livecart.cli import main

sys.exit(main())
