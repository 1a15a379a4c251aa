"""Re-export of :class:`stresskit.shapes.ProductionShape`.

The shapes ship with the package; this module stays for old imports.
"""

from stresskit.shapes import ProductionShape

__all__ = ["ProductionShape"]
