"""The light scenario as a shape; its numbers live in shapes/scenarios.toml, not here."""

from stresskit.shape import ScenarioShape


class LightShape(ScenarioShape):
    """The light scenario: basic validation: every client kind at a small load."""

    scenario_name = "light"
