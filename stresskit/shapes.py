"""Ready shapes: one class per built-in scenario (``stresskit/data/scenarios.toml``), plus :class:`SelectedScenario`.

They ship with the package, so a locustfile anywhere (no checkout on ``sys.path``) can import them.
Locust only sees shapes in the locustfile's own namespace, and without ``--class-picker`` the first
one imported is the one that runs::

    from stresskit.shapes import SelectedScenario, LightShape, MediumShape, HeavyShape, ProductionShape, EnduranceShape

``SelectedScenario`` runs whatever ``--scenario`` names (default ``light``), so importing it first
makes ``--scenario`` work headless; the others pin their scenario for the web UI's class picker
(``--class-picker``). A locustfile that imports no shape at all still gets :class:`SelectedScenario`
from ``use_stresskit(events)``. A scenario of your own needs no class: write a TOML file, run it with
``--scenario-file FILE --scenario NAME`` (or subclass ``ScenarioShape`` with ``scenario_name``).
The numbers live in the scenario file, never in these classes.
"""

from stresskit.run.shape import ScenarioShape, SelectedScenario


class LightShape(ScenarioShape):
    """The light scenario: basic validation: every client kind at a small load."""

    scenario_name = "light"


class MediumShape(ScenarioShape):
    """The medium scenario: a working day's traffic under memory pressure on the target host."""

    scenario_name = "medium"


class HeavyShape(ScenarioShape):
    """The heavy scenario: peak traffic over an unstable network."""

    scenario_name = "heavy"


class ProductionShape(ScenarioShape):
    """The production scenario: a production day: memory pressure, network instability and resource exhaustion."""

    scenario_name = "production"


class EnduranceShape(ScenarioShape):
    """The endurance scenario: a long steady run that exposes leaks and slow degradation."""

    scenario_name = "endurance"


READY_SHAPES: tuple[type[ScenarioShape], ...] = (LightShape, MediumShape, HeavyShape, ProductionShape, EnduranceShape)
"""The five shapes pinned to a built-in scenario, in the order of the scenario table."""

__all__ = [
    "READY_SHAPES",
    "EnduranceShape",
    "HeavyShape",
    "LightShape",
    "MediumShape",
    "ProductionShape",
    "SelectedScenario",
]
