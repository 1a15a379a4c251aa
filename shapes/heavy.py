"""Re-export of :class:`stresskit.shapes.HeavyShape`.

The shapes ship with the package; this module stays for old imports.
"""

from stresskit.shapes import HeavyShape

__all__ = ["HeavyShape"]
