"""``stresskit agent`` refuses bad input with one line and a usage exit code, before serving anything."""

import subprocess
import sys

import pytest

from stresskit.agent.cli import build_config
from stresskit.cli import build_parser
from stresskit.errors import ConfigError


def parse(*argv):
    return build_parser(only="agent").parse_args(["agent", *argv])


@pytest.mark.parametrize("argv,message", [
    (["--bind", "0.0.0.0"], "refusing to serve on 0.0.0.0 without a token"),
    (["--bind", "198.18.0.1"], "without a token"),  # any non-loopback address; refused before binding
    (["--interval", "0"], "--interval must be greater than 0.01"),
    (["--process-name", "ng(inx"], "--process-name 'ng(inx' is not a valid regular expression"),
    (["--cmdline", "["], "--cmdline '[' is not a valid regular expression"),
    (["--max-memory-mb", "-5"], "--max-memory-mb must be greater than 0"),
    (["--port", "70000"], "not a TCP port"),
])
def test_bad_options_are_config_errors(argv, message, monkeypatch):
    monkeypatch.delenv("STRESSKIT_AGENT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        build_config(parse(*argv))


def test_loopback_needs_no_token_and_a_token_file_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("STRESSKIT_AGENT_TOKEN", raising=False)
    assert build_config(parse("--bind", "::1")).token is None
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    config = build_config(parse("--bind", "0.0.0.0", "--token-file", str(token_file), "--allow-faults",
                                "--max-cpu-cores", "0.5"))
    assert config.token == "s3cret-token-0123456789"
    assert config.limits.enabled and config.limits.max_cpu_cores == 0.5
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        build_config(parse("--token-file", str(empty)))


def test_refusal_is_one_line_and_exit_code_2(monkeypatch):
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "stresskit", "agent", "--bind", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        ("stresskit agent: error: refusing to serve on 0.0.0.0 without a token: set STRESSKIT_AGENT_TOKEN or "
         "--token-file, or bind 127.0.0.1")]
