"""Ready locustfiles that ship with the package, so they run from a wheel installed anywhere.

    locust -f "$(python -c 'import stresskit.locustfiles as l; print(l.path("production"))')" --headless

``stresskit suite`` runs :func:`path` ``("production")`` when no ``locustfiles/production.py``
is in the working directory and none is given with ``-f``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["path"]


def path(name: str) -> Path:
    """The file of the ready locustfile ``name`` (e.g. ``"production"``), wherever the package is installed."""
    return Path(str(resources.files(__name__).joinpath(f"{name}.py")))
