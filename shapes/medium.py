"""Re-export of :class:`stresskit.shapes.MediumShape`.

The shapes ship with the package; this module stays for old imports.
"""

from stresskit.shapes import MediumShape

__all__ = ["MediumShape"]
