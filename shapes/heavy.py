"""The heavy scenario as a shape; its numbers live in shapes/scenarios.toml, not here."""

from stresskit.shape import ScenarioShape


class HeavyShape(ScenarioShape):
    """The heavy scenario: peak traffic over an unstable network."""

    scenario_name = "heavy"
