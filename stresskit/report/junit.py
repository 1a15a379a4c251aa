"""JUnit XML of the verdict's criteria, for CI systems that show test results.

One ``<testsuite name="stresskit">`` with one ``<testcase>`` per criterion: a failed required
criterion is a ``<failure>``, a criterion that could not be evaluated is ``<skipped>``, a warning
is a passing case with the warning in ``<system-out>``.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["junit_xml"]


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: Any) -> str:
    """Text that XML 1.0 can carry (control characters from a corrupt input replaced)."""
    return _XML_BAD.sub("?", str(text))


def junit_xml(report: Any) -> str:
    verdict = report.verdict
    criteria = verdict.criteria
    failures = sum(1 for c in criteria if c.status == "fail" and c.required)
    skipped = sum(1 for c in criteria if c.status == "not evaluated")
    scenario = _x((report.run or {}).get("scenario") or "run")
    suites = ET.Element("testsuites", name="stresskit report", tests=str(len(criteria)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"stresskit.{scenario}", tests=str(len(criteria)),
                          failures=str(failures), errors="0", skipped=str(skipped),
                          time=f"{report.duration_s or 0:.3f}",
                          timestamp=_dt.datetime.fromtimestamp(report.generated, _dt.UTC).isoformat())
    props = ET.SubElement(suite, "properties")
    for name, value in (("prefix", report.prefix), ("verdict", verdict.status), ("exit_code", verdict.exit_code)):
        ET.SubElement(props, "property", name=name, value=_x(value))
    for c in criteria:
        case = ET.SubElement(suite, "testcase", classname=f"stresskit.{c.source}", name=_x(c.name), time="0")
        message = _x(c.detail or c.name)
        if c.status == "fail" and c.required:
            failure = ET.SubElement(case, "failure", message=message, type=c.source)
            failure.text = f"value={c.value} limit={c.limit}\n{message}"
        elif c.status == "not evaluated":
            ET.SubElement(case, "skipped", message=message)
        elif c.status in ("warning", "fail"):
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {message}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
