"""A password login for Locust's web UI (``--web-login``), for a master whose UI is published.

Locust's ``--web-login`` turns on Flask-Login for every page but leaves the login itself to the
locustfile. This supplies one user and one password::

    from locust import events
    from stresskit.observe.weblogin import use_web_login

    use_web_login(events)   # adds --web-username / --web-password; nothing happens on import

    STRESSKIT_WEB_PASSWORD=$(openssl rand -hex 16) locust -f ... --master --web-login

The password comes from ``--web-password`` or ``STRESSKIT_WEB_PASSWORD`` (never shown in the
UI); ``--web-login`` without one is bad configuration (one line, exit code 2). Compared in
constant time. Serve the UI over TLS (``--tls-cert`` / ``--tls-key``) or behind a TLS proxy
when it crosses a network you do not trust: the form posts the password.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from stresskit.core.envtypes import RunEnvironment
from stresskit.core.options import option, register_options
from stresskit.core.perrun import Once

__all__ = ["add_arguments", "use_web_login"]

log = logging.getLogger("stresskit.observe.weblogin")
_WIRED = Once()

LOGIN_PATH = "/stresskit/login"


def add_arguments(parser: Any) -> None:
    """``--web-username`` (default ``admin``) and ``--web-password`` (secret)."""
    parser.add_argument("--web-username", default="admin", env_var="STRESSKIT_WEB_USERNAME",
                        include_in_web_ui=False, help="stresskit: user name for --web-login (default admin)")
    parser.add_argument("--web-password", default=None, env_var="STRESSKIT_WEB_PASSWORD", is_secret=True,
                        include_in_web_ui=False,
                        help="stresskit: password for --web-login (or STRESSKIT_WEB_PASSWORD)")


def use_web_login(events: Any) -> None:
    """Opt a locustfile into the password login used when Locust runs with ``--web-login``."""
    register_options(events, add_arguments)
    if not _WIRED.first(events):
        return
    events.init.add_listener(_on_init)


def _on_init(environment: RunEnvironment, web_ui: Any = None, **_: Any) -> None:
    if web_ui is None or not getattr(web_ui, "web_login", False):
        return
    username = str(option(environment, "web_username", "admin"))
    password = option(environment, "web_password", None)
    if not password:
        from stresskit.core.exitcodes import quit_bad_configuration

        quit_bad_configuration(environment, "--web-login needs a password: set STRESSKIT_WEB_PASSWORD "
                                            "(or --web-password) to a long random string")
    install_login(web_ui, username, str(password))


def install_login(web_ui: Any, username: str, password: str) -> None:
    """Register the user loader, the login form's callback and its route on ``web_ui``."""
    import flask_login
    from flask import redirect, request, session, url_for

    class _User(flask_login.UserMixin):
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    @web_ui.login_manager.user_loader
    def load_user(user_id: str) -> _User | None:
        return _User(user_id) if hmac.compare_digest(user_id.encode(), username.encode()) else None

    web_ui.auth_args = {"username_password_callback": LOGIN_PATH}
    if not web_ui.app.secret_key:
        # Flask signs the session cookie with it; a fresh one per master start logs everyone out then.
        web_ui.app.secret_key = secrets.token_hex(32)

    @web_ui.app.route(LOGIN_PATH, methods=["POST"])
    def stresskit_login() -> Any:
        given_user = request.form.get("username", "")
        given_password = request.form.get("password", "")
        user_ok = hmac.compare_digest(given_user.encode(), username.encode())
        password_ok = hmac.compare_digest(given_password.encode(), password.encode())
        if user_ok and password_ok:
            flask_login.login_user(_User(username))
            return redirect(url_for("locust.index"))
        log.warning("web UI: failed login for user %r from %s", given_user[:64], request.remote_addr)
        session["auth_error"] = "Invalid user name or password"
        return redirect(url_for("locust.login"))
