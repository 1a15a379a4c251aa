"""Secrets stay secret: no password or token reaches a log line, a file of the run, a report or
the browser.

Each drill runs the real thing with known secret values — a password-protected redis-server, an
admin token, an API token — and then searches every byte the run produced for them: the locust
output and ``--logfile``, every CSV, ``_run.json``, the report (HTML, JSON, JUnit), the demo
target's and Redis's own logs (the run's temporary directory is the test's), and the page source
of the web UI as a real headless Chromium holds it. A URL with credentials must still be shown —
with its password replaced by ``***`` — so a user can tell which server it is.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from stresskit.target.launcher import free_port
from tests.support.locust_ui import LOCUSTFILE, ROOT, start_locust_ui, wait_until

REDIS_PASSWORD = "redis-pw-7c1d2e9a"
ADMIN_TOKEN = "admin-token-0b5f6a3c"
API_TOKEN = "api-token-d4e8f210"
SECRETS = (REDIS_PASSWORD, ADMIN_TOKEN, API_TOKEN)
SECRET_ENV = {"STRESSKIT_ADMIN_TOKEN": ADMIN_TOKEN, "STRESSKIT_API_TOKEN": API_TOKEN}


def leaks(*roots: Path, texts: tuple[str, ...] = ()) -> list[str]:
    """Where any secret value occurs: files under ``roots`` (every byte) and the given texts."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {s}" for s in SECRETS if s.encode() in data]
    for index, text in enumerate(texts):
        found += [f"text #{index}: {s}" for s in SECRETS if s in text]
    return found


def run(argv: list[str], workdir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(ROOT), **SECRET_ENV)
    return subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL)


def test_target_error_line_shows_the_url_without_its_password(tmp_path):
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    done = run([sys.executable, "-m", "stresskit", "target", "--port", "0", "--redis-url", url], tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert url.replace(REDIS_PASSWORD, "***") in lines[0]
    assert not leaks(tmp_path, texts=(done.stdout, done.stderr))


def test_headless_run_and_report_hold_no_secret(tmp_path, redis_factory):
    """A real run whose cache users use the password (their requests succeed), then its report."""
    redis = redis_factory(password=REDIS_PASSWORD)
    out = tmp_path / "run"
    out.mkdir()
    prefix = out / "secrets"
    done = run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--scenario", "light",
                "--time-scale", "0.01", "--redis-url", redis.url, "--csv", str(prefix),
                "--logfile", str(out / "locust.log")], out)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = (Path(f"{prefix}_stats.csv")).read_text()
    assert "REDIS,GET" in stats and "SET" in stats, "the cache users must have used the password"
    report = run([sys.executable, "-m", "stresskit", "report", str(prefix)], out)
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert Path(f"{prefix}_report.html").exists() and Path(f"{prefix}_run.json").exists()
    assert not leaks(out, texts=(done.stdout, done.stderr, report.stdout, report.stderr))
    shown = redis.url.replace(REDIS_PASSWORD, "***")
    assert shown in (out / "locust.log").read_text(), "the Redis URL is shown, with its password hidden"


def test_unreachable_redis_of_the_demo_target_is_named_without_its_password(tmp_path):
    """The demo target cannot reach the given Redis: its error line reaches the locust log, redacted."""
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    done = run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--scenario", "light",
                "--time-scale", "0.01", "--redis-url", url, "--csv", str(tmp_path / "bad"),
                "--logfile", str(tmp_path / "locust.log")], tmp_path)
    assert done.returncode != 0
    assert url.replace(REDIS_PASSWORD, "***") in (tmp_path / "locust.log").read_text() + done.stdout + done.stderr
    assert not leaks(tmp_path, texts=(done.stdout, done.stderr))


@pytest.mark.browser
def test_web_ui_page_source_holds_no_secret(tmp_path, redis_factory, chrome):
    redis = redis_factory(password=REDIS_PASSWORD)
    ui = start_locust_ui(tmp_path / "ui", "--scenario", "light", "--time-scale", "0.02", "--redis-url", redis.url,
                         "--csv", str(tmp_path / "ui" / "web"), env=SECRET_ENV)
    pages = []
    try:
        driver = chrome.driver
        driver.set_page_load_timeout(90)
        driver.get(ui.base + "/")
        wait_until(lambda: driver.execute_script("return !!document.querySelector('input[name=userCount]')"),
                   what="the start form")
        pages.append(driver.page_source)
        pages.append(driver.execute_script("return JSON.stringify(window.templateArgs)"))
        secret_fields = driver.execute_script("""
            var o = window.templateArgs.extra_options, out = {};
            for (const k in o) if (o[k].is_secret) out[k] = o[k].default_value;
            return out;""")
        assert set(secret_fields) >= {"api_token", "redis_password", "target_admin_token"}
        assert set(secret_fields.values()) == {""}, secret_fields
        assert driver.execute_script("return window.templateArgs.extra_options.redis_url.default_value") == \
            redis.url.replace(REDIS_PASSWORD, "***")
        # start a test with the form as shown (every secret field empty): the run keeps the real secrets
        started = requests.post(ui.base + "/swarm", data={
            "user_count": "3", "spawn_rate": "3", "host": driver.execute_script("return window.templateArgs.host"),
            "redis_url": redis.url.replace(REDIS_PASSWORD, "***"), "target_admin_token": "", "api_token": "",
            "redis_password": ""}, timeout=10).json()
        pages.append(str(started))
        assert started["success"], started
        wait_until(lambda: any(s["method"] == "REDIS" and s["name"] != "connect" and s["num_requests"] > s["num_failures"]
                               for s in requests.get(ui.base + "/stats/requests", timeout=5).json()["stats"]),
                   timeout=40, what="cache requests with the real password")
        for path in ("/", "/stats/requests", "/logs", "/stresskit/verdict/data", "/stresskit/resources/data"):
            answer = requests.get(ui.base + path, timeout=10)
            pages.append(answer.text)
        logs = wait_until(lambda: [line for line in requests.get(ui.base + "/logs", timeout=5).json()["master"]
                                   if "Redis at" in line], what="the log line naming the Redis URL")
        assert redis.url.replace(REDIS_PASSWORD, "***") in logs[0]
        driver.get(ui.base + "/?tab=logs")
        wait_until(lambda: driver.execute_script("return document.querySelectorAll('[role=tab]').length > 3"),
                   what="the tabs of a running test")
        pages.append(driver.page_source)
        driver.get(ui.base + "/?tab=stresskit-verdict")
        pages.append(driver.page_source)
    finally:
        out = ui.stop()
    assert not leaks(tmp_path / "ui", texts=(out, *pages))
