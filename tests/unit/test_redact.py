"""Known answers of the one redaction helper (stresskit.core.redact): URLs, free text, registered secrets,
log records."""

import logging

import pytest

from stresskit.core import redact
from stresskit.core.redact import MASK, redact_argv, redact_text, redact_url, register_secret


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("redis://default:hunter2@cache.internal:6380/1", "redis://default:***@cache.internal:6380/1"),
    ("http://bob:pw@[::1]:8080/a?b=1", "http://bob:***@[::1]:8080/a?b=1"),
    ("rediss://:p%40ss@host/0", "rediss://:***@host/0"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("http://user@host/", "http://user@host/"),
    ("", ""),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_hides_every_url_password_and_given_secrets():
    text = "cannot reach redis://:s3cret-pw@198.18.0.1:6379/0 nor http://a:b4c@h/ with token tok-999999"
    assert redact_text(text, ["tok-999999"]) == \
        "cannot reach redis://:***@198.18.0.1:6379/0 nor http://a:***@h/ with token ***"


def test_registered_secrets_and_log_records_are_redacted(monkeypatch):
    monkeypatch.setattr(redact, "_secrets", set())
    register_secret("ab")  # too short to hide anything useful
    register_secret("redis://127.0.0.1:6379/0")  # a URL without a password registers nothing
    register_secret("redis://:url-pw-1234@127.0.0.1:6379/0")
    register_secret("admin-token-5678")
    assert redact.registered_secrets() == {"url-pw-1234", "admin-token-5678"}
    redact.install_log_redaction()
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("test_redact")
    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.error("token %s and password %s", "admin-token-5678", "url-pw-1234")
        try:
            raise RuntimeError("boom with admin-token-5678")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records[0] == f"token {MASK} and password {MASK}"
    assert "admin-token-5678" not in records[1] and "boom with ***" in records[1]


def test_redact_argv_masks_secret_options_and_url_passwords():
    argv = ["locust", "--agent-token", "tok-1", "--web-password=pw-2", "--host", "http://u:pw-3@h:80/",
            "--redis-url", "redis://:pw-4@127.0.0.1:6379/0", "--users", "5"]
    assert redact_argv(argv) == ["locust", "--agent-token", MASK, f"--web-password={MASK}", "--host",
                                 "http://u:***@h:80/", "--redis-url", "redis://:***@127.0.0.1:6379/0", "--users", "5"]
