"""The web UI of a real ``locust`` process read and driven by a real headless Chromium.

A test is started through Locust's own start form, as a user would: fields left empty mean the
value the run was started with (the demo's Redis, the admin token the page never shows), a Redis
URL shown with its password hidden keeps the real one, and the fields stresskit adds (failure
rate, threshold) apply. The Verdict tab then shows every criterion and threshold with its status,
value and limit, live, and the final verdict once the scenario ends; a bad value in the form is
refused with one line and no test starts.
"""

import pytest
import requests

from tests.support.locust_ui import start_locust_ui, wait_until

pytestmark = pytest.mark.browser

REDIS_PASSWORD = "verdict-redis-pw-51f0"


def _stats(base):
    return requests.get(base + "/stats/requests", timeout=5).json()


def _redis_ok(base):
    rows = [s for s in _stats(base)["stats"] if s["method"] == "REDIS" and s["name"] != "connect"]
    return sum(s["num_requests"] - s["num_failures"] for s in rows)


def _verdict(base):
    return requests.get(base + "/stresskit/verdict/data", timeout=5).json()


def _submit(driver):
    button = driver.find_element("css selector", "button[type=submit]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def _open_custom_parameters(driver):
    driver.execute_script("""
        for (const b of document.querySelectorAll('button'))
            if (b.textContent.trim() === 'Custom parameters') { b.click(); return; }""")
    wait_until(lambda: driver.execute_script(
        "var e = document.querySelector('input[name=failureRate]'); return e && e.offsetParent !== null"),
        what="the custom parameters to open")


def _type(driver, name, text):
    field = driver.find_element("css selector", f"input[name={name}]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.clear()
    field.send_keys(text)


def _table(driver):
    """The Verdict tab's table as {criterion: {column: text}} (what the user sees)."""
    return driver.execute_script("""
        var out = {};
        for (const tr of document.querySelectorAll('table tbody tr')) {
            var cells = Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim());
            if (cells.length >= 5) out[cells[0]] = {status: cells[1], value: cells[2], limit: cells[3], detail:
            cells[4]};
        }
        return out;""")


def test_start_form_defaults_thresholds_and_verdict_tab(tmp_path, redis_factory, chrome):
    redis = redis_factory(password=REDIS_PASSWORD)
    ui = start_locust_ui(tmp_path, "--scenario", "light", "--time-scale", "0.02", "--redis-url", redis.url,
                         "--csv", str(tmp_path / "ui"))
    try:
        driver = chrome.driver
        driver.set_page_load_timeout(90)
        driver.set_window_size(1280, 1600)
        driver.get(ui.base + "/")
        _open_custom_parameters(driver)
        shown = driver.find_element("css selector", "input[name=redisUrl]").get_attribute("value")
        assert shown == redis.url.replace(REDIS_PASSWORD, "***"), shown
        assert driver.find_element("css selector", "input[name=targetAdminToken]").get_attribute("value") == ""

        # bad input: one line, nothing starts
        _type(driver, "failureRate", "often")
        _submit(driver)
        refused = wait_until(lambda: driver.execute_script(
            "return Array.from(document.querySelectorAll('[role=alert], .MuiAlert-message'))"
            ".map(e => e.textContent).join(' ')"), what="the refusal shown on the form")
        assert "failure-rate" in refused and "often" in refused, refused
        for field, value in (("scenario", "nope"), ("faults", "bogus_kind"), ("threshold", "p95<<1"),
                             ("time_scale", "-1")):
            answer = requests.post(ui.base + "/swarm", data={"user_count": "1", "spawn_rate": "1", field: value},
                                   timeout=10).json()
            assert not answer["success"] and value in answer["message"] and "\n" not in answer["message"], answer
        assert requests.get(ui.base + "/stresskit/verdict/data", timeout=5).json()["document"]["exit_code"] is None

        # a real start: failure rate 0, two thresholds (one that fails once 5 requests are made — a p50 limit
        # would depend on the mix: Locust rounds sub-millisecond Redis times to 0), the rest left as shown
        _type(driver, "failureRate", "0")
        _type(driver, "threshold", "fail_ratio<0.5; requests<5")
        _submit(driver)
        wait_until(lambda: _redis_ok(ui.base) >= 20, timeout=40,
                   what="cache users working against the password-protected Redis")

        live = wait_until(lambda: (d := _verdict(ui.base)["document"]) and d.get("thresholds") and d, what="live verdict")
        assert [t["expression"] for t in live["thresholds"]] == ["fail_ratio<0.5", "requests<5"]
        driver.get(ui.base + "/?tab=stresskit-verdict")
        # the table refreshes live: wait until the threshold has been judged on real requests
        table = wait_until(lambda: (t := _table(driver)) and t.get("threshold requests<5", {}).get("status") == "FAILING"
                           and t, what="the Verdict table with the threshold judged")
        assert table["verdict"]["status"].startswith("FAIL"), table["verdict"]
        assert table["threshold requests<5"]["status"] == "FAILING"
        assert table["threshold fail_ratio<0.5"]["status"] == "passing"
        assert table["critical_failures"]["status"] == "passing" and table["critical_failures"]["limit"] == "0"
        assert table["resources_stable"]["status"] == "not evaluated"
        assert table["error_ratio"]["limit"] == "50.0%"
        if live.get("availability"):  # per-kind availability, when the run state has it
            for kind in ("api", "cache", "websocket"):
                row = wait_until(lambda k=kind: _table(driver).get(f"availability {k}"), what=f"availability of {kind}")
                assert row["status"] in ("available", "outage") and row["detail"], row
        driver.save_screenshot(str(tmp_path / "verdict.png"))

        # the scenario ends by itself (light at 0.02 ≈ 18 s): the final verdict, with the threshold failing
        final = wait_until(lambda: (d := _verdict(ui.base)["document"]) and d.get("ended") and d, timeout=90,
                           what="the scenario to end")
        assert final["exit_code"] == 4, (final["verdict"], final["thresholds"], final.get("stop_reason"))
        table = wait_until(lambda: (t := _table(driver)) and t.get("verdict", {}).get("status") == "FAIL" and t,
                           what="the final verdict in the tab")
        assert table["threshold requests<5"]["status"] == "FAILING"
        faults = requests.get(ui.base + "/stats/requests", timeout=5).json()
        assert not [s for s in faults["stats"] if s["method"] == "FAULT"], "failure rate 0 injects nothing"
    finally:
        out = ui.stop()
    assert REDIS_PASSWORD not in out
