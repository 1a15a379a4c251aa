"""Protocol clients that fire Locust ``request`` events (no User classes here)."""
