"""``python -m stresskit.faults.proxy``: the same as ``stresskit proxy``."""

import sys

from stresskit.faults.proxy.cli import main

sys.exit(main())
