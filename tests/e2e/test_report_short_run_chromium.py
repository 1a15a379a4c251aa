"""A report for every run length: a real 8-second Locust run's report, opened in headless Chromium,
has charts with more than one point per series, a time axis that starts at 0, and its window
(1 s for a run this short) stated under each chart."""

import pytest

from stresskit.report import build_report
from tests.data.report_runfiles import run_locust

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

TIME_CHARTS = ("chart-rps", "chart-users", "chart-latency", "chart-latency_names")

# For each chart: decode the inline SVG and, for every plotted line outside the legend, count its
# vertices; collect the x tick labels and the axis label.
INSPECT = """
const out = {};
for (const fig of document.querySelectorAll('figure')) {
  const uri = fig.querySelector('img.chart').getAttribute('src');
  const svg = new DOMParser().parseFromString(atob(uri.split(',')[1]), 'image/svg+xml');
  const lines = Array.from(svg.querySelectorAll('g[id^="line2d"] > path'))
    .filter(p => !p.closest('g[id^="legend"]'))
    .filter(p => /stroke: #(1f77b4|d62728|2ca02c|ff7f0e|9467bd|8c564b|e377c2|17becf|7f7f7f|bcbd22)/
                 .test(p.getAttribute('style') || ''))
    .map(p => (p.getAttribute('d').match(/[ML]/g) || []).length);
  const xaxis = svg.querySelector('g[id="matplotlib.axis_1"]');
  const ticks = xaxis ? Array.from(xaxis.querySelectorAll('g[id^="text"] text, text'))
                          .map(t => t.textContent.trim()).filter(t => t) : [];
  out[fig.id] = {lines, ticks, caption: fig.querySelector('figcaption').textContent};
}
return out;
"""


def test_a_short_real_run_draws_lines_not_dots(target, chrome, tmp_path):
    prefix = tmp_path / "short"
    proc = run_locust(prefix, target.url, seconds=8)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the locustfile's deliberate 404s
    report = build_report(str(prefix))
    assert report.window_s == 1.0
    assert report.latency.source == "ddsketch"
    html_path = tmp_path / "short_report.html"
    report.write(html=str(html_path))
    driver = chrome.driver
    driver.get(html_path.as_uri())
    charts = driver.execute_script(INSPECT)
    for key in TIME_CHARTS:
        chart = charts[key]
        assert chart["lines"], (key, chart)
        assert min(chart["lines"]) >= 5, (key, chart["lines"])  # an 8 s run at 1 s windows: a line, not a dot
        assert "per 1 s window" in chart["caption"], chart["caption"]
        assert "seconds since start" in chart["ticks"], chart["ticks"]
        numbers = [float(t) for t in chart["ticks"] if t.replace(".", "", 1).isdigit()]
        assert not any(t.startswith(("−", "-")) for t in chart["ticks"]), chart["ticks"]
        assert numbers and min(numbers) == 0.0, chart["ticks"]
    counts = driver.execute_script("""
        let el = document.getElementById('latency');
        while (el && !(el.tagName === 'TABLE' || el.querySelector && el.querySelector('table'))) el =
        el.nextElementSibling;
        const table = el.tagName === 'TABLE' ? el : el.querySelector('table');
        return Array.from(table.querySelectorAll('tbody tr')).map(r => [r.cells[2].textContent,
        r.cells[3].textContent]);
    """)
    assert counts and all(c.replace(",", "").isdigit() for row in counts for c in row), counts  # "118", not "118.0"
