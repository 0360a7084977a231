"""``python -m service.cli``: the ``hsl`` command line."""

import sys

from service.cli.main import main

sys.exit(main())
