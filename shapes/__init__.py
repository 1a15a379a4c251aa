"""Re-export of :mod:`stresskit.shapes` for locustfiles written against the checkout (``from shapes import ...``).

The shape classes and the scenario file ship with the package (``stresskit.shapes``,
``stresskit/data/scenarios.toml``); new locustfiles should import ``stresskit.shapes``.
"""

from stresskit.shapes import (
    EnduranceShape,
    HeavyShape,
    LightShape,
    MediumShape,
    ProductionShape,
    SelectedScenario,
)

__all__ = ["EnduranceShape", "HeavyShape", "LightShape", "MediumShape", "ProductionShape", "SelectedScenario"]
