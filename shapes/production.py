"""The production scenario as a shape; its numbers live in shapes/scenarios.toml, not here."""

from stresskit.shape import ScenarioShape


class ProductionShape(ScenarioShape):
    """The production scenario: a production day: memory pressure, network instability and resource exhaustion."""

    scenario_name = "production"
