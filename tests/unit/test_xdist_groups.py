"""The integration suite's work units on the pytest-xdist workers (tests/conftest.py)."""

from conftest import xdist_group


def test_an_integration_file_is_one_unit():
    assert xdist_group("tests/integration/test_chart.py::test_lint_clean") == "tests/integration/test_chart.py"
    assert xdist_group("tests/integration/test_chart.py::test_chart_refuses[bad0]") == \
        xdist_group("tests/integration/test_chart.py::test_full_render")


def test_files_that_share_the_site_share_a_unit():
    assert xdist_group("tests/integration/test_site.py::test_site_converges_then_is_idempotent") == "site"
    assert xdist_group("tests/integration/test_airgap.py::test_site_yml_offline") == "site"
    assert xdist_group("tests/integration/test_site_closure.py::test_the_closure_equals_what_the_converged_site_runs") \
        == "site"


def test_a_unit_test_is_its_own_unit():
    nodeid = "tests/unit/test_summary.py::test_endpoint_lines"
    assert xdist_group(nodeid) == nodeid
