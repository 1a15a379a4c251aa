"""Re-export of :class:`stresskit.shapes.LightShape`.

The shapes ship with the package; this module stays for old imports.
"""

from stresskit.shapes import LightShape

__all__ = ["LightShape"]
