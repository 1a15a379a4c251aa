"""Starting headless Chromium under Selenium with the paths stresskit found, never downloaded.

The flags keep Chromium quiet on a closed network (no background networking, component
updates or sync) and make it run as root in containers (``--no-sandbox``). Each session gets a
fresh profile directory that is removed when the session is quit.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

from stresskit.binaries import find_chrome, find_chromedriver

CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)


@dataclass
class BrowserSession:
    """A Selenium WebDriver with the chromedriver pid and profile directory it owns."""

    driver: object
    driver_pid: int
    profile_dir: str
    extra: dict = field(default_factory=dict)

    def quit(self) -> None:
        """Quit the browser; always removes the profile, also when the browser is already dead."""
        try:
            self.driver.quit()
        except Exception:  # a crashed browser cannot be quit politely; chromedriver is stopped below
            service = getattr(self.driver, "service", None)
            if service is not None:
                try:
                    service.stop()
                except Exception:
                    pass
        finally:
            shutil.rmtree(self.profile_dir, ignore_errors=True)


def start_chrome(page_load_timeout: float = 30.0, extra_flags: tuple[str, ...] = ()) -> BrowserSession:
    """Start one headless Chromium session with browser console logging enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stresskit-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = find_chrome()
    for flag in (*CHROME_FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=find_chromedriver())
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(page_load_timeout)
    return BrowserSession(driver=driver, driver_pid=service.process.pid, profile_dir=profile)
