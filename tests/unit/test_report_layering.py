"""The report never imports Locust; importing the recorder module registers nothing."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_report_modules_do_not_import_locust():
    code = (
        "import sys\n"
        "import stresskit.report, stresskit.report.build, stresskit.report.cli, stresskit.report.html, "
        "stresskit.report.charts, stresskit.report.junit, stresskit.report.jsonout\n"
        "from stresskit.report import build_report, LeakRule\n"
        "import stresskit.observe.latency\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_record_latency_registers_only_when_called():
    from locust.env import Environment

    import stresskit.observe.latency  # noqa: F401  (imported: nothing may be registered yet)

    env = Environment()
    before = len(env.events.request._handlers)
    from stresskit.observe.latency import use_latency

    assert len(env.events.request._handlers) == before
    recorder = use_latency(env)
    assert len(env.events.request._handlers) == before + 1
    recorder.remove()
    assert len(env.events.request._handlers) == before
