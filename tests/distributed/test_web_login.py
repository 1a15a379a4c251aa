"""The master's published web UI behind ``--web-login`` with stresskit's password login
(stresskit.observe.weblogin): a real ``locust`` serving its UI on loopback, a real HTTP client with a
cookie jar."""

from __future__ import annotations

import http.cookiejar
import subprocess
import urllib.parse
import urllib.request

from stresskit.target.launcher import ManagedProcess, free_port
from tests.distributed.helpers import LOCUSTFILES, VENV_BIN, clean_env, wait_for

LOCUSTFILE = LOCUSTFILES / "web_login.py"


def client() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def get(opener, url: str) -> tuple[int, str]:
    """Status and final path after redirects."""
    with opener.open(url, timeout=5) as resp:
        return resp.status, urllib.parse.urlsplit(resp.geturl()).path


def login(opener, base: str, username: str, password: str) -> str:
    data = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with opener.open(base + "/stresskit/login", data=data, timeout=5) as resp:
        return urllib.parse.urlsplit(resp.geturl()).path


def test_the_web_ui_needs_the_password(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = ManagedProcess("locust-web", [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--web-login",
                                         "--web-host", "127.0.0.1", "--web-port", str(port),
                                         "--host", "http://127.0.0.1:9"],
                          tmp_path / "locust.log", env=clean_env({"STRESSKIT_WEB_PASSWORD": "s3cret-pass-phrase"}))
    try:
        def up() -> bool:
            try:
                get(client(), base + "/login")
                return True
            except OSError:
                return False

        wait_for(up, 60, "the web UI", alive=[proc])
        stranger = client()
        assert get(stranger, base + "/") == (200, "/login")           # redirected to the login page
        assert login(stranger, base, "admin", "wrong") == "/login"
        assert get(stranger, base + "/") == (200, "/login")
        assert get(stranger, base + "/stats/requests") == (200, "/login")  # no data without a login

        user = client()
        assert login(user, base, "admin", "s3cret-pass-phrase") == "/"
        assert get(user, base + "/") == (200, "/")
        status, path = get(user, base + "/stats/requests")
        assert (status, path) == (200, "/stats/requests")
        assert "failed login" in (tmp_path / "locust.log").read_text()
    finally:
        proc.stop()


def test_web_login_without_a_password_is_one_clear_line(tmp_path):
    result = subprocess.run([str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--web-login",
                             "--web-host", "127.0.0.1", "--web-port", str(free_port()), "--host", "http://127.0.0.1:9"],
                            check=False, capture_output=True, text=True, timeout=60, env=clean_env(),
                            cwd=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "STRESSKIT_WEB_PASSWORD" in errors[0]
    assert "Traceback" not in result.stderr
