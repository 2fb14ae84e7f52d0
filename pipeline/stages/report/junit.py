"""--junit FILE: JUnit XML, one test case per threshold and per check, for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipeline.records import ParityRecord
from pipeline.stages.report.document import fmt


def render(p: ParityRecord) -> str:
    """JUnit XML of the gate: thresholds (per output) and graph/target checks."""
    cases: list[tuple[str, str, bool, str]] = []
    for t in p.thresholds:
        cases.append(("gelu-edge.thresholds", f"{t.threshold}[{t.output}]", t.passed,
                      f"{t.threshold} = {fmt(t.value)}, limit {t.op} {t.limit}"))
    for c in p.checks:
        cases.append(("gelu-edge.checks", c.name, not c.fails_gate,
                      ("warning: " if not c.passed else "") + c.message))
    failures = sum(not passed for _, _, passed, _ in cases)
    suites = ET.Element("testsuites", name="gelu-edge", tests=str(len(cases)),
                        failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"gelu-edge parity ({p.target})",
                          tests=str(len(cases)), failures=str(failures), errors="0")
    for classname, name, passed, message in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if passed:
            ET.SubElement(case, "system-out").text = message
        else:
            ET.SubElement(case, "failure", message=message, type="threshold").text = message
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
