"""Finding the programs stresskit drives: chromium, chromedriver and redis-server.

Each is looked up in an environment variable first, then on PATH, never downloaded. A missing
program raises :class:`~stresskit.errors.DependencyMissing` with what to do about it.
"""

from __future__ import annotations

import os
import shutil

from stresskit.errors import DependencyMissing

INSTALL_HINT = "run scripts/install-system-deps.sh (Debian/Ubuntu)"

_PROGRAMS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "chrome": ("STRESSKIT_CHROME", ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"),
               "Debian: apt-get install chromium"),
    "chromedriver": ("STRESSKIT_CHROMEDRIVER", ("chromedriver",), "Debian: apt-get install chromium-driver"),
    "redis-server": ("STRESSKIT_REDIS_SERVER", ("redis-server",), "Debian: apt-get install redis-server"),
}


def find_program(kind: str) -> str:
    """The absolute path of ``kind`` (``"chrome"``, ``"chromedriver"`` or ``"redis-server"``)."""
    env_var, names, package_hint = _PROGRAMS[kind]
    override = os.environ.get(env_var)
    if override:
        path = shutil.which(override)
        if path is None:
            raise DependencyMissing(f"{env_var}={override!r} is not an executable file; fix or unset {env_var}")
        return path
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise DependencyMissing(
        f"{kind} not found on PATH: {INSTALL_HINT}, or {package_hint}, or set {env_var} to its path"
    )


def find_chrome() -> str:
    """The Chromium (or Chrome) binary."""
    return find_program("chrome")


def find_chromedriver() -> str:
    """The chromedriver binary matching the installed Chromium."""
    return find_program("chromedriver")


def find_redis_server() -> str:
    """The redis-server binary."""
    return find_program("redis-server")
