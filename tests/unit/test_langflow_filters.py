# -*- coding: utf-8 -*-
"""Langflow tenants -> releases and the PostgreSQL consumers the databases role creates for them."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.platform.plugins.filter.langflow import FilterModule
from ansible_collections.aistack.platform.plugins.filter.summary import FilterModule as SummaryFilters
from ansible_collections.aistack.platform.plugins.module_utils.filters import langflow

ENVS = {"dev": {"database_type": "postgresql"}, "stg": {"database_type": "postgresql"},
        "lab": {"database_type": "sqlite"}}
FILTERS = dict(FilterModule().filters(), **SummaryFilters().filters())


def test_releases_one_per_plane_and_environment():
    rels = langflow.releases([{"team": "team-a", "environments": ["dev", "lab"]}], ENVS)
    assert [(r["release"], r["namespace"], r["database_type"], r["database"]) for r in rels] == [
        ("team-a-langflow-dev", "team-a-dev", "postgresql", "langflow_team_a_dev_ide"),
        ("team-a-langflow-runtime-dev", "team-a-dev", "postgresql", "langflow_team_a_dev_runtime"),
        ("team-a-langflow-lab", "team-a-lab", "sqlite", "langflow_team_a_lab_ide"),
        ("team-a-langflow-runtime-lab", "team-a-lab", "sqlite", "langflow_team_a_lab_runtime"),
    ]
    # the login role is the database's own unless the tenant names one
    assert {r["user"] for r in rels} == {r["database"] for r in rels}


def test_consumers_only_for_the_sites_postgresql():
    tenants = [{"team": "a", "environments": ["dev", "lab"]},
               {"team": "b", "environments": ["dev"], "runtime": False},
               {"team": "ext", "environments": ["dev"], "database_host": "pg.other"}]
    pw = {"a-langflow-dev": "p1", "a-langflow-runtime-dev": "p2", "b-langflow-dev": "p3"}
    out = FILTERS["langflow_database_consumers"](tenants, ENVS, pw)
    assert out == [
        {"name": "a-langflow-dev", "database": "langflow_a_dev_ide", "user": "langflow_a_dev_ide",
         "password": "p1", "namespace": "a-dev", "extensions": []},
        {"name": "a-langflow-runtime-dev", "database": "langflow_a_dev_runtime", "user": "langflow_a_dev_runtime",
         "password": "p2", "namespace": "a-dev", "extensions": []},
        {"name": "b-langflow-dev", "database": "langflow_b_dev_ide", "user": "langflow_b_dev_ide",
         "password": "p3", "namespace": "b-dev", "extensions": []},
    ]


@pytest.mark.parametrize("tenants, passwords, field", [
    ([{"environments": ["dev"]}], {}, "langflow_tenants[0].team"),
    ([{"team": "a", "environments": ["qa"]}], {}, "langflow_tenants[0].environments"),
    ([{"team": "a", "environments": ["dev"]}], {"a-langflow-dev": "x"}, "vault_langflow_database_passwords['a-langflow-runtime-dev']"),
])
def test_bad_input_names_the_field_and_the_fix(tenants, passwords, field):
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["langflow_database_consumers"](tenants, ENVS, passwords)
    assert str(err.value).startswith(field + ": ") and "Fix: " in str(err.value)


def test_error_names_the_callers_variable():
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["langflow_database_consumers"]([{"team": "a", "environments": ["dev"]}], ENVS, {}, "site_pw")
    assert str(err.value).startswith("site_pw['a-langflow-dev']: ")


def test_endpoint_and_summary_lines_name_the_secret_not_the_password():
    ide = FILTERS["langflow_endpoint"]({"release_name": "a-langflow-dev", "namespace": "a-dev",
                                        "hosts": ["langflow-a.dev.example.test"]}, "admin")
    runtime = FILTERS["langflow_endpoint"]({"release_name": "a-langflow-runtime-dev", "namespace": "a-dev",
                                            "hosts": ["langflow-runtime-a.dev.example.test"]})
    lines = FILTERS["endpoint_lines"]([ide, runtime, {"what": "nohost", "host": ""}], ":18080")
    assert lines == [
        "Langflow IDE a-langflow-dev: http://langflow-a.dev.example.test:18080/  (user admin, password in Secret "
        "a-dev/a-langflow-dev-generated key superuser-password)",
        "Langflow runtime API a-langflow-runtime-dev: http://langflow-runtime-a.dev.example.test:18080/health  "
        "(user admin, password in Secret a-dev/a-langflow-runtime-dev-generated key superuser-password)",
    ]


def test_endpoint_of_a_vaulted_password_names_the_env_secret():
    line = FILTERS["langflow_endpoint"]({"release_name": "a-langflow-dev", "namespace": "a-dev", "hosts": ["h"]},
                                        "admin", ["a-langflow-dev"])
    assert line["login"] == "user admin, password in Secret a-dev/a-langflow-dev-env key LANGFLOW_SUPERUSER_PASSWORD"
