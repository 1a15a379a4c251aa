"""Ready shapes: one class per scenario of ``shapes/scenarios.toml``, plus :class:`SelectedScenario`.

Import them into a locustfile by name — Locust only sees shapes in the locustfile's own
namespace, and without ``--class-picker`` the first one imported is the one that runs::

    from shapes import SelectedScenario, LightShape, MediumShape, HeavyShape, ProductionShape, EnduranceShape

``SelectedScenario`` runs whatever ``--scenario`` names (default ``light``), so importing it
first makes ``--scenario`` work headless; the others pin their scenario for the web UI's
class picker (``--class-picker``). A scenario of your own needs no class: add it to the TOML
file and run it with ``--scenario NAME`` (or subclass ``ScenarioShape`` with ``scenario_name``).
"""

from shapes.endurance import EnduranceShape
from shapes.heavy import HeavyShape
from shapes.light import LightShape
from shapes.medium import MediumShape
from shapes.production import ProductionShape
from stresskit.shape import ScenarioShape


class SelectedScenario(ScenarioShape):
    """The scenario named by ``--scenario`` / ``STRESSKIT_SCENARIO`` (default ``light``)."""

    scenario_name = None


__all__ = ["EnduranceShape", "HeavyShape", "LightShape", "MediumShape", "ProductionShape", "SelectedScenario"]
