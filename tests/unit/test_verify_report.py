"""module_utils/verify.py: a site verification's results as a table, a JSON report and JUnit XML."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.filters import verify
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

RESULTS = [
    {"check": "langflow ide /health", "tenant": "team-a/dev", "ok": True, "seconds": 0.21},
    {"check": "langflow runtime run API", "tenant": "team-a/dev", "ok": False, "seconds": 5,
     "expected": "HTTP 200", "got": "HTTP 503 (no endpoints)",
     "where": ["pod -l app.kubernetes.io/instance=team-a-langflow-runtime-dev", "events of team-a-dev"]},
    {"check": "lightrag insert and query", "tenant": "platform/dev", "status": "skipped",
     "got": "verify_smoke is false"},
]


def test_table_lists_every_check_and_details_only_failures():
    lines = verify.table(RESULTS)
    assert lines[0].split() == ["CHECK", "TENANT", "RESULT", "TIME"]
    assert any(line.startswith("langflow ide /health") and "PASSED" in line and "0.2 s" in line for line in lines)
    failed = [i for i, line in enumerate(lines) if "FAILED" in line]
    assert len(failed) == 1
    assert lines[failed[0] + 1].split(None, 1) == ["expected:", "HTTP 200"]
    assert lines[failed[0] + 2].split(None, 1) == ["got:", "HTTP 503 (no endpoints)"]
    assert "events of team-a-dev" in lines[failed[0] + 3]
    assert lines[-1] == "3 checks: 1 passed, 1 failed, 1 skipped in 5.2 s"
    # columns align: RESULT starts at the same offset in every row
    offsets = {line.index(word) for line in lines for word in ("PASSED", "FAILED", "SKIPPED", "RESULT") if word in line}
    assert len(offsets) == 1


def test_failures_say_expected_got_and_where():
    assert verify.failures(RESULTS) == [
        "langflow runtime run API (team-a/dev) failed: expected HTTP 200, got HTTP 503 (no endpoints), look at "
        "pod -l app.kubernetes.io/instance=team-a-langflow-runtime-dev; events of team-a-dev"]
    assert verify.failures(RESULTS[:1]) == []
    assert verify.table(RESULTS[:1])[-1] == "1 check: 1 passed, 0 failed, 0 skipped in 0.2 s"


def test_json_report_has_one_entry_per_check():
    doc = json.loads(json.dumps(verify.report(RESULTS, site="local/dev", started="2026-12-01T21:00:00Z")))
    assert doc["site"] == "local/dev" and len(doc["checks"]) == len(RESULTS)
    assert doc["summary"] == {"passed": 1, "failed": 1, "skipped": 1, "total": 3, "seconds": 5.21}
    assert [c["status"] for c in doc["checks"]] == ["passed", "failed", "skipped"]
    assert doc["checks"][0]["tenant"] == "team-a/dev"


def test_junit_parses_with_one_testcase_per_check():
    root = ET.fromstring(verify.junit(RESULTS, timestamp="2026-12-01T21:00:00Z"))
    suite = root.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r["check"] for r in RESULTS]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == "expected HTTP 200, got HTTP 503 (no endpoints)"
    assert "where: pod -l" in failure.text
    assert cases[2].find("skipped").get("message") == "verify_smoke is false"
    assert cases[1].get("classname") == "team-a/dev" and cases[1].get("time") == "5.000"


def test_names_are_escaped_in_xml():
    root = ET.fromstring(verify.junit([{"check": 'a <b> & "c"', "ok": False, "got": "<html>"}]))
    case = root.find("testsuite/testcase")
    assert case.get("name") == 'a <b> & "c"' and case.get("classname") == "platform"
    assert "<html>" in case.find("failure").text


@pytest.mark.parametrize("bad, field", [
    ("nope", "verify results"),
    ([{"tenant": "x", "ok": True}], "verify results[0]"),
    ([{"check": "x", "status": "maybe"}], "verify results[0].status"),
    ([{"check": "x", "ok": True, "seconds": -1}], "verify results[0].seconds"),
    ([{"check": "x", "ok": True, "seconds": "soon"}], "verify results[0].seconds"),
])
def test_bad_results_name_the_field(bad, field):
    with pytest.raises(AistackError, match=r"^%s: " % field.replace("[", r"\[").replace("]", r"\]")):
        verify.normalise(bad)
