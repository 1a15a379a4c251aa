"""The medium scenario as a shape; its numbers live in shapes/scenarios.toml, not here."""

from stresskit.shape import ScenarioShape


class MediumShape(ScenarioShape):
    """The medium scenario: a working day's traffic under memory pressure on the target host."""

    scenario_name = "medium"
