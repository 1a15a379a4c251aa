"""Scenario conditions with real effects: memory pressure and CPU burn on the agent's host,
latency and blackhole windows on the fault proxy — started, logged and lifted."""

import locust  # noqa: F401,I001  (gevent patching first)

from functools import partial

import gevent
import psutil
import pytest
from locust.env import Environment

from stresskit.faults.config import FaultConfig
from stresskit.faults.log import attach_log
from stresskit.faults.proxy import start_fault_proxy
from stresskit.faults.recovery import start_conditions
from tests.support.wait import wait_for as poll_until

pytestmark = pytest.mark.timeout(120)


# the shared poll, less often: these conditions scan the process tree
wait_for = partial(poll_until, interval=0.05)


def test_memory_pressure_and_resource_exhaustion_on_the_agent_host(tmp_path):
    from stresskit.agent.launcher import start_agent

    agent = start_agent(["--allow-faults", "--max-memory-mb", "128", "--max-cpu-cores", "1",
                         "--max-fault-seconds", "10"], token="tok", workdir=tmp_path)
    env = Environment(user_classes=[])
    env.create_local_runner()
    log = attach_log(env)
    config = FaultConfig(memory_mb=64, agents=(agent.url,), agent_token="tok",
                         conditions=("memory_pressure", "resource_exhaustion"))
    try:
        drivers = start_conditions(env, config, period=8.0)  # episodes at 4 s: memory 4 s, CPU 2 s
        assert [d.fault.kind for d in drivers] == ["memory_pressure", "cpu_exhaustion"]

        def fault_children(kind):
            found = []
            for child in psutil.Process(agent.pid).children(recursive=True):
                try:
                    if kind in child.cmdline():
                        found.append(child)
                except psutil.Error:  # one that just ended
                    continue
            return found

        def rss(children):
            total = 0
            for child in children:
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            return total

        assert wait_for(lambda: rss(fault_children("memory")) >= 60 * 2**20, what="64 MB held by the agent's child")
        burner = wait_for(lambda: fault_children("cpu"), what="a CPU burner")[0]
        before = sum(burner.cpu_times()[:2])
        gevent.sleep(0.8)
        # a real busy loop gains CPU time (a sleeping process gains ~none; the 2 cores here are shared)
        assert sum(burner.cpu_times()[:2]) - before > 0.04
        wait_for(lambda: len([r for r in log.rows if r["event"] == "injected"]) == 2, what="both logged")
    finally:
        for driver in getattr(env, "_stresskit_conditions", []):
            driver.remove()
        gevent.sleep(0.1)
        leftover = psutil.Process(agent.pid).children(recursive=True)
        agent.stop()
    assert not [c for c in leftover if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]  # released
    kinds = sorted(r["kind"] for r in log.rows if r["event"] == "injected")
    assert kinds == ["cpu_exhaustion", "memory_pressure"]


def test_network_instability_adds_latency_for_the_test_and_blackhole_windows(target, tmp_path):
    proxy = start_fault_proxy(f"127.0.0.1:{target.port}", workdir=tmp_path)
    env = Environment(user_classes=[])
    env.create_local_runner()
    log = attach_log(env)
    config = FaultConfig(duration=0.5, proxy_api=proxy.api, conditions=("network_instability",))
    client = proxy.client()
    try:
        start_conditions(env, config, period=2.0)
        [latency] = client.toxics("target")
        assert latency["name"].startswith("stresskit_network_instability_latency_")
        wait_for(lambda: len(client.toxics("target")) == 3, what="a blackhole window")
        wait_for(lambda: len(client.toxics("target")) == 1, what="the window to close")
        env.events.test_stop.fire(environment=env)
        assert client.toxics("target") == []
    finally:
        for driver in getattr(env, "_stresskit_conditions", []):
            driver.remove()
        proxy.stop()
    kinds = [r["kind"] for r in log.rows if r["event"] == "injected"]
    assert kinds[0] == "network_instability" and "latency 50 ± 25 ms" in log.rows[0]["detail"]
    assert len(kinds) >= 2
