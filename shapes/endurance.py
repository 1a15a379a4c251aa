"""The endurance scenario as a shape; its numbers live in shapes/scenarios.toml, not here."""

from stresskit.shape import ScenarioShape


class EnduranceShape(ScenarioShape):
    """The endurance scenario: a long steady run that exposes leaks and slow degradation."""

    scenario_name = "endurance"
