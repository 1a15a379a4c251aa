"""Re-export of :class:`stresskit.shapes.EnduranceShape`.

The shapes ship with the package; this module stays for old imports.
"""

from stresskit.shapes import EnduranceShape

__all__ = ["EnduranceShape"]
