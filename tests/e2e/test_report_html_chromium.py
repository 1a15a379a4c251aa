"""The HTML report opens offline in headless Chromium: no console errors, every chart decodes,
the verdict comes first, nothing scrolls sideways on a laptop-sized window."""

import pytest

from stresskit.report import build_report
from tests.data.report_runfiles import synthetic_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

EXPECTED_CHARTS = {"chart-rps", "chart-users", "chart-latency", "chart-latency_names", "chart-memory_system",
                   "chart-connections", "chart-memory_process", "chart-cpu", "chart-faults"}


def test_report_renders_without_console_errors(chrome, tmp_path):
    prefix = synthetic_run(tmp_path / "run", seconds=900, leak_mb_per_h=400.0)
    report = build_report(str(prefix))
    html_path = tmp_path / "run_report.html"
    report.write(html=str(html_path))
    driver = chrome.driver
    driver.set_window_size(1366, 900)
    driver.get(html_path.as_uri())
    state = driver.execute_script("""
        const imgs = Array.from(document.querySelectorAll('img.chart'));
        return {
          ids: Array.from(document.querySelectorAll('figure')).map(f => f.id),
          decoded: imgs.map(i => i.complete && i.naturalWidth > 0),
          external: Array.from(document.querySelectorAll('[src],[href]'))
                      .map(e => e.getAttribute('src') || e.getAttribute('href'))
                      .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
          first: document.querySelector('main > section').id,
          verdict: document.querySelector('#verdict .word').textContent,
          overflow: document.documentElement.scrollWidth - window.innerWidth,
        };
    """)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert EXPECTED_CHARTS <= set(state["ids"]), state["ids"]
    assert state["decoded"] and all(state["decoded"])
    assert state["external"] == []
    assert state["first"] == "verdict"
    assert state["verdict"] == "FAIL"  # the 400 MB/h leak
    assert state["overflow"] <= 0
