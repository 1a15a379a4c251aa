"""The collector against real agents: every sample to the CSV as it arrives, a cut link resumed
without loss, real gaps (ring overflow, restart, agent gone) recorded exactly, alerts into the
run state and the event, and real Locust runs — local with the agent killed mid-run, and
master + worker with the generators' own figures."""

import csv
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from argparse import Namespace

import pytest
from locust.env import Environment

from stresskit.agent.client import AgentClient
from stresskit.agent.launcher import start_agent
from stresskit.core.runstate import run_state_of
from stresskit.core.schema import RESOURCE_COLUMNS
from stresskit.events import stresskit_events_of
from stresskit.observe.collector import AlertPolicy, Collector, collector_of, use_collector
from stresskit.target.launcher import free_port

TOKEN = "collector-test-token-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CuttableProxy:
    """A TCP forwarder to the agent whose link can be cut (connections reset, new ones refused)."""

    def __init__(self, port):
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = True
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        for sock in self.conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.server.close()


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def read_rows(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == RESOURCE_COLUMNS
        return list(reader)


def system_seqs(rows, host=None):
    return [int(r["seq"]) for r in rows if r["kind"] == "system" and (host is None or r["host"] == host)]


def make_collector(tmp_path, urls, token=TOKEN, policy=None, **kwargs):
    environment = Environment()
    collector = Collector(environment, urls, token, tmp_path / "run_resources.csv",
                          policy or AlertPolicy(cpu=100, memory=100, sustain=60), read_timeout=2.0,
                          generator_interval=0.5, **kwargs)
    return environment, collector


@pytest.fixture
def agents(tmp_path):
    started = []

    def make(*args, port=0, token=TOKEN):
        agent = start_agent(["--interval", "0.2", *args], token=token, workdir=tmp_path, port=port)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        agent.stop()


@pytest.fixture
def proxies():
    made = []

    def make(port):
        proxy = CuttableProxy(port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def test_every_sample_is_written_as_it_arrives_and_fired_as_an_event(tmp_path, agents):
    agent = agents("--pid", str(os.getpid()))
    environment, collector = make_collector(tmp_path, [agent.url])
    fired = []
    stresskit_events_of(environment).resource_sample.add_listener(lambda sample: fired.append(sample["seq"]))
    collector.start()
    try:
        wait_until(lambda: collector.links[0].samples >= 6, what="6 samples")
        last = collector.links[0].last_seq
        rows = read_rows(collector.csv_path)  # read while running: the file is flushed per sample
        assert max(system_seqs(rows)) >= last
        wait_until(lambda: any(r["kind"] == "generator" for r in read_rows(collector.csv_path)),
                   what="a generator row")
    finally:
        collector.close()
    rows = read_rows(collector.csv_path)
    seqs = system_seqs(rows)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert fired == seqs
    assert [int(r["seq"]) for r in rows if r["kind"] == "browsers"] == seqs
    mine = [r for r in rows if r["kind"] == "process" and r["pid"] == str(os.getpid())]
    assert len(mine) == len(seqs) and int(mine[-1]["rss_bytes"]) > 1_000_000
    generator = [r for r in rows if r["kind"] == "generator"]
    assert generator[0]["host"] == "local" and int(generator[0]["pid"]) == os.getpid()
    assert not [r for r in rows if r["kind"] == "gap"]


def test_a_cut_link_is_resumed_without_losing_a_sample(tmp_path, agents, proxies):
    agent = agents()
    proxy = proxies(agent.port)
    _, collector = make_collector(tmp_path, [proxy.url])
    collector.start()
    try:
        link = collector.links[0]
        wait_until(lambda: link.samples >= 3, what="3 samples")
        cut_at = link.last_seq
        proxy.cut()
        wait_until(lambda: not link.connected, what="the collector to notice the cut")
        time.sleep(1.5)  # the agent samples on while the link is down (~7 samples)
        proxy.restore()
        wait_until(lambda: link.last_seq >= cut_at + 12, what="the collector to catch up")
    finally:
        collector.close()
    rows = read_rows(collector.csv_path)
    seqs = system_seqs(rows)
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a sample was lost across the cut"
    assert link.connects >= 2 and link.gaps == 0
    assert not [r for r in rows if r["kind"] == "gap"]


def test_ring_overflow_is_recorded_as_an_exact_gap(tmp_path, agents, proxies):
    agent = agents("--ring-seconds", "0.5")
    proxy = proxies(agent.port)
    _, collector = make_collector(tmp_path, [proxy.url])
    collector.start()
    try:
        link = collector.links[0]
        wait_until(lambda: link.samples >= 3, what="3 samples")
        proxy.cut()
        wait_until(lambda: not link.connected, what="the collector to notice the cut")
        cut_seq = link.last_seq
        direct = AgentClient(agent.url, TOKEN)  # around the cut proxy
        wait_until(lambda: direct.health()["oldest"] > cut_seq + 2, what="the ring to overflow")
        proxy.restore()
        wait_until(lambda: link.connected and link.samples >= 6, what="the collector to resume")
    finally:
        collector.close()
    rows = read_rows(collector.csv_path)
    seqs = system_seqs(rows)
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
    gaps = [r for r in rows if r["kind"] == "gap"]
    assert missing, "the ring should have overflowed"
    assert len(gaps) == 1 and int(gaps[0]["count"]) == len(missing) == link.lost
    assert gaps[0]["host"] == socket.gethostname() and gaps[0]["name"] == gaps[0]["host"]


def test_a_restarted_agent_is_a_gap_and_its_new_samples_follow(tmp_path, agents):
    port = free_port()
    first = agents(port=port)
    _, collector = make_collector(tmp_path, [first.url])
    collector.start()
    try:
        link = collector.links[0]
        wait_until(lambda: link.samples >= 3, what="3 samples")
        old_instance = link.instance
        first.kill()
        wait_until(lambda: not link.connected, what="the collector to notice the crash")
        time.sleep(1.0)  # the agent is away for a while
        second = agents(port=port)
        wait_until(lambda: link.instance == second.instance and link.samples >= 6, what="samples of the new agent")
    finally:
        collector.close()
    assert old_instance != second.instance
    rows = read_rows(collector.csv_path)
    gaps = [r for r in rows if r["kind"] == "gap"]
    assert len(gaps) == 1 and int(gaps[0]["count"]) >= 3  # >= 1 s away at 0.2 s per sample
    after_gap = [int(r["seq"]) for r in rows[rows.index(gaps[0]):] if r["kind"] == "system"]
    assert after_gap[0] <= 3  # the new lifetime is streamed from its start


def test_an_agent_gone_until_the_end_is_a_gap_and_the_run_goes_on(tmp_path, agents, caplog):
    agent = agents()
    _, collector = make_collector(tmp_path, [agent.url])
    collector.start()
    link = collector.links[0]
    wait_until(lambda: link.samples >= 2, what="2 samples")
    agent.kill()
    wait_until(lambda: not link.connected, what="the collector to notice")
    time.sleep(1.0)
    with caplog.at_level("WARNING", logger="stresskit.observe.collector"):
        collector.close()
    gaps = [r for r in read_rows(collector.csv_path) if r["kind"] == "gap"]
    assert len(gaps) == 1 and int(gaps[0]["count"]) >= 4
    assert "unreachable until the test ended" in caplog.text
    assert collector.snapshot()["gaps"][0]["lost"] == int(gaps[0]["count"])


def test_wrong_token_is_reported_and_the_host_counts_as_a_gap(tmp_path, agents):
    agent = agents()
    _, collector = make_collector(tmp_path, [agent.url], token="wrong-token")
    collector.start()
    link = collector.links[0]
    wait_until(lambda: "rejected the token" in link.error, what="the auth error")
    time.sleep(1.0)
    collector.close()
    rows = read_rows(collector.csv_path)
    gaps = [r for r in rows if r["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["host"] == f"127.0.0.1:{agent.port}" and int(gaps[0]["count"]) >= 1
    assert not [r for r in rows if r["kind"] in ("system", "process", "browsers")]


def test_sustained_load_alerts_once_into_the_run_state_and_the_event(tmp_path, agents):
    agent = agents()
    policy = AlertPolicy(cpu=100, memory=0.01, sustain=0.5)  # any host uses more than 0.01% of its memory
    environment, collector = make_collector(tmp_path, [agent.url], policy=policy)
    fired = []
    stresskit_events_of(environment).resource_alert.add_listener(lambda **kw: fired.append(kw))
    collector.start()
    try:
        link = collector.links[0]
        wait_until(lambda: fired, what="an alert")
        seen = link.samples
        wait_until(lambda: link.samples >= seen + 5, what="more samples")
    finally:
        collector.close()
    assert len(fired) == 1, "one excursion, one alert"
    alert = fired[0]
    assert alert["host"] == socket.gethostname() and alert["metric"] == "memory_percent"
    assert alert["threshold"] == 0.01 and alert["value"] > 0.01 and alert["since"] <= time.time()
    state_alerts = run_state_of(environment).alerts
    assert len(state_alerts) == 1 and state_alerts[0]["metric"] == "memory_percent"
    assert collector.snapshot()["alerts"]["active"][0]["metric"] == "memory_percent"


def test_use_collector_wires_options_and_locust_events(tmp_path, agents):
    agent = agents()
    environment = Environment(parsed_options=Namespace(
        agent=[f"{agent.url},{agent.url}"], agent_token=TOKEN, alert_cpu=95.0, alert_memory=97.0, alert_sustain=5.0,
        csv_prefix=str(tmp_path / "wired")))
    use_collector(environment.events, web_ui=False)
    use_collector(environment.events, web_ui=False)  # twice is harmless
    runner = environment.create_local_runner()
    environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
    collector = collector_of(environment)
    assert collector.agents == [agent.url, agent.url]
    assert collector.policy == AlertPolicy(cpu=95.0, memory=97.0, sustain=5.0)
    environment.events.test_start.fire(environment=environment)
    try:
        wait_until(lambda: all(link.samples >= 2 for link in collector.links), what="samples from both")
    finally:
        environment.events.test_stop.fire(environment=environment)
        environment.events.quitting.fire(environment=environment)
    assert not collector.running
    rows = read_rows(tmp_path / "wired_resources.csv")
    assert len(system_seqs(rows)) >= 4


# -- real Locust processes --------------------------------------------------------------------------

LOCUSTFILE = textwrap.dedent("""
    from locust import User, constant, events, task
    from stresskit.observe.collector import use_collector

    use_collector(events)


    class Idle(User):
        wait_time = constant(0.5)

        @task
        def nothing(self):
            pass
""")


def locust(tmp_path, *args, name="locust"):
    locustfile = tmp_path / "resources_locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    env = dict(os.environ, STRESSKIT_AGENT_TOKEN=TOKEN)
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "locust", "-f", str(locustfile), "-H", "http://127.0.0.1:9",
                             "--loglevel", "INFO", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_locust_run_goes_on_when_the_agent_is_killed_and_the_gap_is_recorded(tmp_path, agents):
    agent = agents()
    prefix = tmp_path / "run"
    proc = locust(tmp_path, "--headless", "-u", "1", "-r", "1", "-t", "7s", "--csv", str(prefix), "--agent", agent.url)
    try:
        resources = tmp_path / "run_resources.csv"
        wait_until(lambda: resources.exists() and len(system_seqs(read_rows(resources))) >= 3, timeout=60,
                   what="samples in the CSV")
        agent.kill()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = read_rows(resources)
    gaps = [r for r in rows if r["kind"] == "gap"]
    assert len(gaps) == 1 and int(gaps[0]["count"]) >= 5
    log = (tmp_path / "locust.log").read_text()
    assert "sample(s) lost" in log and "the test goes on" in log
    assert [r for r in rows if r["kind"] == "generator" and r["host"] == "local"]


def test_master_collects_and_records_each_workers_own_figures(tmp_path, agents):
    agent = agents()
    port = free_port()
    master = locust(tmp_path, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                    "--headless", "--expect-workers", "1", "-u", "2", "-r", "2", "-t", "8s",
                    "--csv", str(tmp_path / "dist"), "--agent", agent.url, name="master")
    worker = locust(tmp_path, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), name="worker")
    try:
        assert master.wait(90) == 0
        worker.wait(30)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
    rows = read_rows(tmp_path / "dist_resources.csv")
    hosts = {r["host"] for r in rows if r["kind"] == "generator"}
    assert "master" in hosts
    workers = [h for h in hosts if h != "master"]
    assert len(workers) == 1 and workers[0].startswith(socket.gethostname() + "_")
    assert len(system_seqs(rows)) >= 4
    subscribers = agent.log_tail(200).count("subscriber 127.0.0.1")
    assert subscribers == 1, "only the master subscribes to the agent"
