"""stresskit: load, fault and soak testing on top of Locust.

Importing this package registers nothing, patches nothing and imports neither Locust nor
gevent, so the target-host agent (``stresskit.agent``) and the reports (``stresskit.report``)
can be used beside a production backend without gevent's monkey patching.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
