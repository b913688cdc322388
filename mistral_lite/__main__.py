"""``python -m mistral_lite``: the ``mistral-lite`` command line."""

import sys

from mistral_lite.cli.app import main

sys.exit(main())
