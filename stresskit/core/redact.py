"""The one place that hides secrets: passwords in URLs and the values of secret options.

stresskit shows URLs (Redis, agents, the target, fault proxies) in log lines, error messages,
the web UI and reports. A URL may carry a password (``redis://:PASSWORD@host:6379/0``) and
some options are secrets by themselves (``--target-admin-token``, ``--api-token``,
``--agent-token``, ``--redis-password``, ``--web-password``). Everything that shows one of them
goes through this module:

- :func:`redact_url` — a URL with its password replaced by :data:`MASK` (user name, host, port,
  path kept, so the line still says *which* server);
- :func:`redact_text` — free text (an error line, an exception's message) with every URL's
  password and every registered secret value replaced;
- :func:`register_secret` — remember a secret value of this process (done for every option
  declared ``is_secret=True`` when a locustfile's options are parsed);
- :func:`install_log_redaction` — every log record of the process is redacted when it is created,
  so no handler (console, ``--logfile``, the web UI's Logs tab) sees a secret.

Lowest layer: the standard library only, no stresskit or third-party imports.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "install_log_redaction",
    "redact_argv",
    "redact_text",
    "redact_url",
    "register_secret",
    "registered_secrets",
]

MASK = "***"
"""What a hidden password or secret is shown as."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: replacing every "ab" in every log line hides nothing useful."""

# scheme://user:password@  (password up to the last '@' before the host part; no whitespace)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@]*):(?P<password>[^\s/@]+)@")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def redact_url(url: str) -> str:
    """``url`` with any password replaced by :data:`MASK`; a URL without one comes back unchanged.

    ``redis://:s3cret@cache:6379/0`` becomes ``redis://:***@cache:6379/0`` and
    ``http://bob:pw@host/`` becomes ``http://bob:***@host/``. Text that does not parse as a URL
    is passed through :func:`redact_text`, so a malformed URL never shows its password either.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return redact_text(url)
    if password is None:
        return _replace_registered(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return redact_text(url)
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return _replace_registered(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the password of every URL in it, every registered secret and each of
    ``secrets`` replaced by :data:`MASK`."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    extra = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]
    return _replace_registered(text, extra)


_SECRET_FLAG = re.compile(r"^--?[\w-]*(token|password|passwd|secret)[\w-]*$", re.IGNORECASE)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A command line fit to show or store: the value of every ``--*token``, ``--*password`` or
    ``--*secret`` option (``--flag VALUE`` or ``--flag=VALUE``) masked, every URL's password hidden."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        text = str(arg)
        if hide_next:
            shown.append(MASK)
            hide_next = False
            continue
        flag, eq, _ = text.partition("=")
        if _SECRET_FLAG.match(flag):
            if eq:
                shown.append(f"{flag}={MASK}")
            else:
                shown.append(text)
                hide_next = True
            continue
        shown.append(redact_text(text))
    return shown


def register_secret(value: Any) -> None:
    """Remember a secret value (a token, a password) so :func:`redact_text` and the log records
    of this process hide it. Empty and very short values are ignored; a URL registers only its
    password (and nothing when it has none)."""
    if value is None:
        return
    text = str(value)
    if "://" in text:
        try:
            password = urlsplit(text).password
        except ValueError:
            password = None
        if password is None:
            return
        text = password
    if len(text) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(text)


def registered_secrets() -> frozenset[str]:
    """The secret values registered so far (for tests and for checks of written files)."""
    with _lock:
        return frozenset(_secrets)


def _replace_registered(text: str, extra: Iterable[str] = ()) -> str:
    with _lock:
        values = sorted({*_secrets, *extra}, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def install_log_redaction() -> None:
    """Redact every log record of this process when it is created (idempotent).

    A record factory rather than a handler filter: it covers handlers added later too (Locust's
    console, ``--logfile`` and the web UI's Logs tab). The message is formatted once, redacted,
    and stored without arguments; an exception's traceback text is redacted the same way.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
            clean = redact_text(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                clean_exc = redact_text(text)
                if clean_exc != text:
                    record.exc_text = clean_exc
        except Exception:  # noqa: BLE001, S110 - a record that cannot be formatted is left to logging's handling
            pass
        return record

    logging.setLogRecordFactory(factory)
