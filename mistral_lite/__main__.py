"""``python -m mistral_lite``: the ``mistral-lite`` command line."""

import sys

from .cli import main

sys.exit(main())
