"""``python -m stresskit`` runs the ``stresskit`` command."""

import sys

from stresskit.cli import main

sys.exit(main())
