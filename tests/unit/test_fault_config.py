"""Fault options and kinds: validation with one clear line, precedence of the rate, needs per kind."""

from types import SimpleNamespace

import pytest

from stresskit.errors import ConfigError
from stresskit.faults.config import FaultConfig, check_needs, load_config
from stresskit.faults.kinds import DEFAULT_KINDS, KINDS, RUN_KINDS, USER_KINDS, kinds_for_user, parse_kinds


def env(host="http://127.0.0.1:1", **options):
    defaults = {"failure_rate": None, "fault_seed": 1, "faults": "", "fault_recovery_limit": 30.0,
                "fault_duration": 3.0, "fault_memory_mb": 256, "fault_proxy": "", "fault_proxy_name": "",
                "target_admin_token": None, "agent": None, "agent_token": None, "redis_url": None,
                "scenario": None, "host": host}
    defaults.update(options)
    return SimpleNamespace(host=host, parsed_options=SimpleNamespace(**defaults))


def test_kind_catalogue_is_consistent():
    assert set(USER_KINDS) | set(RUN_KINDS) == set(KINDS)
    assert "memory_pressure" not in DEFAULT_KINDS and "browser_crash" in DEFAULT_KINDS
    assert kinds_for_user("browser", USER_KINDS) == (
        "browser_crash", "element_not_found", "stale_element", "javascript_error", "memory_pressure")
    assert kinds_for_user("websocket", USER_KINDS) == ("websocket_drop", "memory_pressure")


def test_parse_kinds():
    assert parse_kinds("rate_limiting, browser_crash") == ("browser_crash", "rate_limiting")
    assert parse_kinds(None) == DEFAULT_KINDS
    assert parse_kinds("all") == USER_KINDS
    assert parse_kinds("none") == ()


def test_unknown_kind_is_one_clear_line():
    with pytest.raises(ConfigError, match=r"unknown fault kind 'browser_crsh'; known kinds: browser_crash, "):
        parse_kinds("browser_crsh")
    with pytest.raises(ConfigError, match="run-wide fault: use a recovery locustfile"):
        parse_kinds("backend_crash")


@pytest.mark.parametrize("rate", [-0.1, 1.5, "abc", float("nan")])
def test_rate_outside_0_1_is_rejected(rate):
    with pytest.raises(ConfigError, match="--failure-rate must be"):
        load_config(env(failure_rate=rate))


def test_recovery_limit_must_be_positive():
    with pytest.raises(ConfigError, match="--fault-recovery-limit must be > 0"):
        load_config(env(failure_rate=0.1, fault_recovery_limit=0))


def test_rate_precedence_explicit_then_scenario_then_off():
    scenario = SimpleNamespace(name="heavy", failure_rate=0.08, conditions=("network_instability",))
    assert load_config(env(), scenario).rate == 0.08
    assert load_config(env(), scenario).rate_source == "scenario heavy"
    assert load_config(env(), scenario).conditions == ("network_instability",)
    assert load_config(env(failure_rate=0.0), scenario).rate == 0.0
    assert load_config(env()).rate == 0.0 and not load_config(env()).enabled


def test_explicit_kind_needing_an_agent_without_one_is_an_error_at_start():
    with pytest.raises(ConfigError, match="memory_pressure' needs a resource agent on the target host: start "
                                          "`stresskit agent --allow-faults"):
        load_config(env(failure_rate=0.05, faults="memory_pressure"))
    config = load_config(env(failure_rate=0.05, faults="memory_pressure", agent=[["http://127.0.0.1:9105"]]))
    assert config.agents == ("http://127.0.0.1:9105",)


def test_explicit_admin_kind_without_token_against_an_explicit_host_is_an_error(monkeypatch):
    with pytest.raises(ConfigError, match="network_timeout' needs the fault proxy or the target's admin token"):
        load_config(env(failure_rate=0.05, faults="network_timeout"))
    # when the embedded demo system is started (a local run with no --host) its proxy and token are known
    import stresskit.run.embedded

    monkeypatch.setattr(stresskit.run.embedded, "will_start", lambda environment: True)
    assert load_config(env(host="", failure_rate=0.05, faults="network_timeout")).kinds == ("network_timeout",)
    assert load_config(env(host="", failure_rate=0.05, faults="memory_pressure")).kinds == ("memory_pressure",)


def test_default_kinds_leave_out_what_cannot_work_and_say_why():
    config = load_config(env(failure_rate=0.05))
    assert "network_timeout" not in config.kinds and "browser_crash" in config.kinds
    assert any(note.startswith("network_timeout left out (needs the fault proxy") for note in config.notes)


def test_check_needs_names_proxy_and_redis():
    with pytest.raises(ConfigError, match="needs the fault proxy: start `stresskit proxy`"):
        check_needs(FaultConfig(), ["network_partition"])
    with pytest.raises(ConfigError, match="needs the target's Redis: pass --redis-url"):
        check_needs(FaultConfig(), ["cache_disconnect"])
