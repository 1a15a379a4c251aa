"""The success criteria's default limits: each number lives here once.

The live criteria on the master (:mod:`stresskit.run.criteria`), the per-kind availability
(:mod:`stresskit.run.availability`), the target-host alerts (:mod:`stresskit.observe.collector`) and the
report (:mod:`stresskit.report`) all read these. Lowest layer: no imports.
"""

from __future__ import annotations

__all__ = ["MAX_ERROR_RATIO", "MIN_PAGE_COMPLETION", "RESOURCE_ALERT_PERCENT"]

MIN_PAGE_COMPLETION = 0.8
"""Share of the page quota (of the pages due) a run must complete."""
MAX_ERROR_RATIO = 0.5
"""Above this share of failed requests the run stops early; a client kind above it fails
``kind_error_ratio``; the report judges a run without ``_run.json`` by it."""
RESOURCE_ALERT_PERCENT = 90.0
"""CPU or memory on the target host sustained above this percentage is an alert."""
