"""The Resources view in a real headless Chromium: Locust with its web UI and a real agent, a test
started through Locust's HTTP API, and live charts that update on the rendered page."""

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from stresskit.agent.launcher import start_agent
from stresskit.target.launcher import free_port

TOKEN = "webui-test-token-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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

pytestmark = pytest.mark.browser


def wait_until(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last value {last!r})")


@pytest.fixture
def locust_ui(tmp_path):
    agent = start_agent(["--interval", "0.5", "--cmdline", "ui_locustfile", "--rescan-seconds", "1"], token=TOKEN,
                        workdir=tmp_path)
    locustfile = tmp_path / "ui_locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    port = free_port()
    log = open(tmp_path / "locust.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--web-host", "127.0.0.1", "--web-port", str(port),
         "-H", "http://127.0.0.1:9", "--agent", agent.url],
        cwd=ROOT, env=dict(os.environ, STRESSKIT_AGENT_TOKEN=TOKEN), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        assert proc.poll() is None, (tmp_path / "locust.log").read_text()
        try:
            return requests.get(base + "/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, timeout=60, what="Locust's web UI")
        yield base, agent
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        agent.stop()


def canvas_state(driver, selector):
    return driver.execute_script("""
        var c = document.querySelector(arguments[0]);
        if (!c || !c.width) return null;
        var data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, inked = 0;
        for (var i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
        return {points: Number(c.dataset.points || 0), last: Number(c.dataset.last || 0), inked: inked};
    """, selector)


def test_resources_tab_and_live_charts_update(locust_ui, chrome):
    base, agent = locust_ui
    assert requests.get(base + "/stresskit/resources/data", timeout=5).json()["running"] is False
    started = requests.post(base + "/swarm", data={"user_count": 1, "spawn_rate": 1, "host": "http://127.0.0.1:9"},
                            timeout=10).json()
    assert started["success"], started
    driver = chrome.driver
    driver.set_page_load_timeout(90)

    # Locust's own page: the Resources tab exists, its table lists the agent's host, the charts are embedded
    driver.get(base + "/?tab=stresskit-resources")
    wait_until(lambda: driver.execute_script(
        "return Array.from(document.querySelectorAll('[role=tab]')).some(t => t.textContent.trim() === 'Resources')"),
        what="the Resources tab")
    assert wait_until(lambda: driver.execute_script(
        "var f = document.getElementById('stresskit-resources-frame'); return f && f.getAttribute('src')"),
        what="the embedded charts") == "/stresskit/resources?embed=1"
    # one look: the tab is the charts page alone (no second table of Locust's), grown to its content,
    # its agents table listing the agent as streaming and the charts 300 px high
    wait_until(lambda: driver.execute_script("""
        var d = document.getElementById('stresskit-resources-frame').contentDocument;
        return !!(d && d.querySelector('#agents tbody')
            && d.querySelector('#agents tbody').textContent.includes('streaming')
            && d.querySelector('#hosts .card canvas.chart-cpu'));"""), what="the agent streaming in the tab")
    assert driver.execute_script("return document.querySelectorAll('table').length") == 0
    frame = driver.execute_script("""
        var f = document.getElementById('stresskit-resources-frame'), d = f.contentDocument;
        return {frame: f.offsetHeight, content: d.documentElement.scrollHeight,
                chart: d.querySelector('#hosts .card canvas.chart-cpu').clientHeight};""")
    assert frame["chart"] >= 280, frame
    wait_until(lambda: abs(driver.execute_script(
        "return document.getElementById('stresskit-resources-frame').offsetHeight") - frame["content"]) <= 8,
        what="the embedded page to fit its content")

    driver.save_screenshot(os.path.join(os.environ.get("STRESSKIT_SCREENSHOTS", "/tmp"), "resources-tab.png")) \
        if os.environ.get("STRESSKIT_SCREENSHOTS") else None
    # the charts page itself: the host's CPU chart draws points, and more of them as samples arrive
    driver.get(base + "/stresskit/resources")
    cpu = "#hosts .card canvas.chart-cpu"
    first = wait_until(lambda: (s := canvas_state(driver, cpu)) and s["points"] >= 3 and s, what="drawn points")
    later = wait_until(lambda: (s := canvas_state(driver, cpu)) and s["last"] > first["last"] and s,
                       what="the chart to move on")
    assert later["inked"] > 500, "the canvas should show axes and lines"
    memory = canvas_state(driver, "#hosts .card canvas.chart-mem")
    assert memory["points"] > 0
    legend = driver.execute_script("return document.querySelector('#hosts .card .series-legend').textContent")
    assert "system" in legend and "python" in legend  # the agent tracks the Locust process
    assert driver.execute_script("return document.querySelector('#agents tbody').textContent").count("streaming") == 1
    assert driver.execute_script("return document.querySelector('#hosts .card h3 span').textContent") == \
        socket.gethostname()
    polls = int(driver.execute_script("return document.getElementById('updated').dataset.polls"))
    assert polls >= 2
    # the load generator's own CPU/RSS chart is there too (Locust measures itself every 3 s)
    wait_until(lambda: (s := canvas_state(driver, "#generators .card canvas.chart-mem")) and s["points"] > 0,
               what="the generator chart")
    # the agent dies mid-run: the page says so, the run goes on, and the gap shows once the test ends
    agent.kill()
    wait_until(lambda: "unreachable since" in driver.execute_script(
        "return document.querySelector('#hosts .card .card-state').textContent"), what="the agent shown as down")
    assert requests.get(base + "/stresskit/resources/data", timeout=5).json()["running"] is True
    assert requests.post(base + "/stop", timeout=10).json()["success"]
    wait_until(lambda: requests.get(base + "/stresskit/resources/data", timeout=5).json()["running"] is False,
               what="the collector to stop with the test")
    wait_until(lambda: " lost " in driver.execute_script("return document.getElementById('gaps').textContent"),
               what="the gap listed on the page")
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, severe
