# -*- coding: utf-8 -*-
"""Langflow tenants -> releases and the PostgreSQL consumers the databases role creates for them."""

from __future__ import absolute_import, division, print_function

import json
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.plugins.filter import core as ansible_filters

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
    assert FILTERS["endpoint_lines"]([ide], ":18443", "https")[0].startswith(
        "Langflow IDE a-langflow-dev: https://langflow-a.dev.example.test:18443/  (")


def test_endpoint_of_a_vaulted_password_names_the_env_secret():
    line = FILTERS["langflow_endpoint"]({"release_name": "a-langflow-dev", "namespace": "a-dev", "hosts": ["h"]},
                                        "admin", ["a-langflow-dev"])
    assert line["login"] == "user admin, password in Secret a-dev/a-langflow-dev-env key LANGFLOW_SUPERUSER_PASSWORD"


# ---------------------------------------------------------------- langflow_planes: what tenant.yml passes to helm_tenant
# The expected values are what the role's Jinja computed before the logic moved into tenant_planes (commit b48e2d4);
# the same inputs rendered through the old and the new tenant.yml gave identical helm_tenant arguments.

ROLE_DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "roles" / "langflow" / "defaults" / "main.yml")
                               .read_text())
# The role's variables as langflow_planes gets them (templated defaults resolved as on a site without overrides).
SETTINGS = {
    "environments": ROLE_DEFAULTS["langflow_environments"], "sizes": ROLE_DEFAULTS["langflow_sizes"],
    "default_size": "small", "ide_service": "langflow", "runtime_service": "langflow-runtime", "port": 7860,
    "data_dir": "/app/data", "superuser": "admin", "extra_env": {}, "extra_values": {},
    "flows_mount_path": "/app/flows", "database_host": "postgresql.aistack-system.svc.cluster.local",
    "database_port": 5432, "database_user": "", "database_sslmode": "", "database_passwords": {},
    "database_secret_prefix": "db", "database_secret_key": "POSTGRES_PASSWORD", "superuser_passwords": {},
    "secret_keys": {},
}
COMMON_ENV = [("LANGFLOW_HOST", "0.0.0.0"), ("LANGFLOW_PORT", "7860"), ("LANGFLOW_CONFIG_DIR", "/app/data"),
              ("LANGFLOW_SAVE_DB_IN_CONFIG_DIR", "true")]
BASE_VALUES = {"securityContext": {"readOnlyRootFilesystem": False}, "topologySpread": {"enabled": True}}
GENERATED = [{"key": "secret-key", "env": "LANGFLOW_SECRET_KEY", "format": "fernet"},
             {"key": "superuser-password", "env": "LANGFLOW_SUPERUSER_PASSWORD", "format": "token", "length": 24}]
SQLITE = {"type": "sqlite", "name": "langflow", "url_env": "LANGFLOW_DATABASE_URL"}


def planes(tenant, environment, flow_files=None, **overrides):
    """The filter as tenant.yml calls it: the tenant, the environment, the flow files, the role's variables."""
    return FILTERS["langflow_planes"](tenant, environment, {} if flow_files is None else flow_files,
                                      **dict(SETTINGS, **overrides))


def jinja_flows_checksum(flow_files):
    """What tenant.yml's `_langflow_flow_files | to_json | hash('sha256')` gives (Ansible's own filters)."""
    return ansible_filters.get_hash(ansible_filters.to_json(flow_files), "sha256")


def test_ide_and_runtime_get_every_computed_argument():
    out = planes({"team": "team-a", "environments": ["dev"]}, "dev")
    assert list(out) == ["team-a-langflow-dev", "team-a-langflow-runtime-dev"]
    ide, runtime = out["team-a-langflow-dev"], out["team-a-langflow-runtime-dev"]
    assert ide == {
        "plane": "ide", "release": "team-a-langflow-dev", "service": "langflow",
        "env": dict(COMMON_ENV + [("LANGFLOW_AUTO_LOGIN", "true"), ("LANGFLOW_SUPERUSER", "admin"),
                                  ("DO_NOT_TRACK", "true"), ("LANGFLOW_BACKEND_ONLY", "false")]),
        "database": SQLITE,
        "generated_secrets": GENERATED,
        "persistence": {"enabled": True, "size": "5Gi", "access_mode": "ReadWriteOnce", "mount_path": "/app/data"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "autoscaling": {"enabled": False, "min_replicas": 2, "max_replicas": 4},
        "extra_values": BASE_VALUES,
    }
    assert runtime == dict(ide, plane="runtime", release="team-a-langflow-runtime-dev", service="langflow-runtime",
                           env=dict(ide["env"], LANGFLOW_BACKEND_ONLY="true"),
                           autoscaling={"enabled": True, "min_replicas": 2, "max_replicas": 4})
    # key order as the Jinja combine gave it (helm_tenant gets the same dicts, byte for byte)
    assert list(ide["env"]) == [key for key, value in COMMON_ENV] + [
        "LANGFLOW_AUTO_LOGIN", "LANGFLOW_SUPERUSER", "DO_NOT_TRACK", "LANGFLOW_BACKEND_ONLY"]
    assert list(ide["persistence"]) == ["enabled", "size", "access_mode", "mount_path"]


def test_runtime_disabled_leaves_the_ide_alone():
    out = planes({"team": "solo", "environments": ["prd"], "runtime": False, "size": "medium"}, "prd")
    assert list(out) == ["solo-langflow-prd"]
    assert out["solo-langflow-prd"]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    # the IDE's HPA bounds are the size's runtime ones (switched off), as the role always passed them
    assert out["solo-langflow-prd"]["autoscaling"] == {"enabled": False, "min_replicas": 2, "max_replicas": 6}


def test_sizes_storage_class_and_settings_reach_the_plane():
    out = planes({"team": "t", "environments": ["prd"], "size": "large"}, "prd", port=8080, data_dir="/data",
                 superuser="root", environments=dict(ROLE_DEFAULTS["langflow_environments"],
                                                     prd=dict(ROLE_DEFAULTS["langflow_environments"]["prd"],
                                                              storage_class="nfs")))
    runtime = out["t-langflow-runtime-prd"]
    assert runtime["persistence"] == {"enabled": True, "size": "20Gi", "storage_class": "nfs",
                                      "access_mode": "ReadWriteMany", "mount_path": "/data"}
    assert list(runtime["persistence"]) == ["enabled", "size", "storage_class", "access_mode", "mount_path"]
    assert runtime["autoscaling"] == {"enabled": True, "min_replicas": 3, "max_replicas": 10}
    assert (runtime["env"]["LANGFLOW_PORT"], runtime["env"]["LANGFLOW_CONFIG_DIR"],
            runtime["env"]["LANGFLOW_SUPERUSER"]) == ("8080", "/data", "root")


def test_sqlite_and_postgresql_by_environment_and_tenant():
    assert planes({"team": "a"}, "dev")["a-langflow-dev"]["database"] == SQLITE
    # the tenant's database_type wins over the environment's, both ways
    assert planes({"team": "a", "database_type": "sqlite"}, "prd")["a-langflow-prd"]["database"] == SQLITE
    database = planes({"team": "a-b", "database_type": "postgresql"}, "dev")["a-b-langflow-runtime-dev"]["database"]
    assert database == {
        "type": "postgresql", "host": "postgresql.aistack-system.svc.cluster.local", "port": 5432,
        "name": "langflow_a_b_dev_runtime", "user": "langflow_a_b_dev_runtime",
        "url_env": "LANGFLOW_DATABASE_URL", "password_env": "LANGFLOW_DATABASE_PASSWORD",
        "password_secret": {"name": "db-postgresql-a-b-langflow-runtime-dev", "key": "POSTGRES_PASSWORD"},
    }
    assert list(database) == ["type", "host", "port", "name", "user", "url_env", "password_env", "password_secret"]


def test_postgresql_host_user_and_sslmode():
    tenant = {"team": "a", "database_host": "pg.a.example", "database_user": "a_owner"}
    database = planes(tenant, "stg", database_sslmode="require", database_port=6543,
                      database_user="site_user")["a-langflow-stg"]["database"]
    assert (database["host"], database["port"], database["user"], database["sslmode"]) == (
        "pg.a.example", 6543, "a_owner", "require")
    assert list(database)[4:7] == ["user", "sslmode", "url_env"]
    # no tenant user: the site's; none either: the database's own name
    assert planes({"team": "a"}, "stg", database_user="site_user")["a-langflow-stg"]["database"]["user"] == "site_user"
    assert planes({"team": "a", "database_user": ""}, "stg")["a-langflow-stg"]["database"]["user"] == "langflow_a_stg_ide"
    # an empty database_host on the tenant is kept (as `default()` without `true` did)
    assert planes({"team": "a", "database_host": ""}, "stg")["a-langflow-stg"]["database"]["host"] == ""


def test_vaulted_password_or_the_secret_that_holds_it():
    out = planes({"team": "a"}, "stg", database_passwords={"a-langflow-stg": "pw-ide"})
    ide, runtime = out["a-langflow-stg"]["database"], out["a-langflow-runtime-stg"]["database"]
    assert ide["password"] == "pw-ide" and "password_secret" not in ide
    assert list(ide)[-1] == "password"
    assert "password" not in runtime
    assert runtime["password_secret"] == {"name": "db-postgresql-a-langflow-runtime-stg", "key": "POSTGRES_PASSWORD"}
    # the databases role's prefix and key
    custom = planes({"team": "a"}, "stg", database_secret_prefix="site", database_secret_key="password")
    assert custom["a-langflow-stg"]["database"]["password_secret"] == {"name": "site-postgresql-a-langflow-stg",
                                                                       "key": "password"}
    # a team's own Secret (also when empty: `default()` without `true` kept it)
    for name in ("team-a-pg", ""):
        own = planes({"team": "a", "database_password_secret": name}, "prd")
        assert [plane["database"]["password_secret"]["name"] for plane in own.values()] == [name, name]
    # an empty vaulted password is no password
    empty = planes({"team": "a"}, "stg", database_passwords={"a-langflow-stg": ""})
    assert "password" not in empty["a-langflow-stg"]["database"]


@pytest.mark.parametrize("passwords, keys, values, generated", [
    ({}, {}, None, GENERATED),
    ({"a-langflow-dev": "su"}, {}, {"LANGFLOW_SUPERUSER_PASSWORD": "su"}, GENERATED[:1]),
    ({}, {"a-langflow-dev": "sk"}, {"LANGFLOW_SECRET_KEY": "sk"}, GENERATED[1:]),
    ({"a-langflow-dev": "su"}, {"a-langflow-dev": "sk"},
     {"LANGFLOW_SUPERUSER_PASSWORD": "su", "LANGFLOW_SECRET_KEY": "sk"}, None),
    ({"a-langflow-dev": "", "other": "x"}, {"a-langflow-runtime-dev": "sk"}, None, GENERATED),
])
def test_vaulted_superuser_password_and_secret_key(passwords, keys, values, generated):
    ide = planes({"team": "a"}, "dev", superuser_passwords=passwords, secret_keys=keys)["a-langflow-dev"]
    assert ide.get("secret_values") == values
    assert ide.get("generated_secrets") == generated
    if values:
        assert list(ide["secret_values"]) == [key for key in ("LANGFLOW_SUPERUSER_PASSWORD", "LANGFLOW_SECRET_KEY")
                                              if key in values]


def test_secrets_only_in_the_no_log_options():
    """Vaulted values appear in secret_values and database.password only (helm_tenant's no_log options), and
    the releases (the loop items of tenant.yml) carry none of them."""
    secrets = {"pw-ide-secret", "pw-rt-secret", "su-secret", "sk-secret"}
    out = planes({"team": "a"}, "stg",
                 database_passwords={"a-langflow-stg": "pw-ide-secret", "a-langflow-runtime-stg": "pw-rt-secret"},
                 superuser_passwords={"a-langflow-stg": "su-secret"}, secret_keys={"a-langflow-runtime-stg": "sk-secret"})
    seen = set()
    for release, plane in out.items():
        assert not any(secret in release for secret in secrets)
        seen.update(plane.get("secret_values", {}).values())
        seen.add(plane["database"]["password"])
        rest = dict(plane, secret_values=None, database=dict(plane["database"], password=None))
        assert not any(secret in json.dumps(rest) for secret in secrets)
    assert seen == secrets


@pytest.mark.parametrize("environment, auto_login, expected", [
    ("dev", True, "true"),
    ("stg", True, "true"),
    ("prd", True, "false"),  # never in prd, whatever the environment says
    ("dev", False, "false"),
    ("dev", None, "none"),  # as Jinja's `| string | lower` rendered a null
    ("dev", "yes", "true"),
])
def test_auto_login(environment, auto_login, expected):
    environments = {environment: {"database_type": "sqlite", "auto_login": auto_login}}
    out = planes({"team": "a"}, environment, environments=environments)
    assert {plane["env"]["LANGFLOW_AUTO_LOGIN"] for plane in out.values()} == {expected}


def test_auto_login_missing_is_false():
    out = planes({"team": "a"}, "dev", environments={"dev": {"database_type": "sqlite"}})
    assert out["a-langflow-dev"]["env"]["LANGFLOW_AUTO_LOGIN"] == "false"


def test_runtime_access_mode():
    assert planes({"team": "a"}, "prd")["a-langflow-runtime-prd"]["persistence"]["access_mode"] == "ReadWriteMany"
    assert planes({"team": "a"}, "prd")["a-langflow-prd"]["persistence"]["access_mode"] == "ReadWriteOnce"
    missing = planes({"team": "a"}, "dev", environments={"dev": {"database_type": "sqlite"}})
    assert missing["a-langflow-runtime-dev"]["persistence"]["access_mode"] == "ReadWriteOnce"
    override = planes({"team": "a"}, "dev", environments={"dev": {"database_type": "sqlite",
                                                                  "runtime_access_mode": "ReadWriteMany"}})
    assert [plane["persistence"]["access_mode"] for plane in override.values()] == ["ReadWriteOnce", "ReadWriteMany"]


def test_extra_env_and_extra_values_merge_as_combine_did():
    extra_env = {"OPENAI_API_BASE": "http://llm/v1", "LANGFLOW_HOST": "127.0.0.1"}
    extra_values = {"securityContext": {"runAsUser": 1000}, "topologySpread": {"enabled": False, "maxSkew": 2},
                    "configMapMounts": [{"name": "x", "mountPath": "/x"}]}
    out = planes({"team": "a"}, "dev", extra_env=extra_env, extra_values=extra_values)
    for plane in out.values():
        assert list(plane["env"].items())[0] == ("LANGFLOW_HOST", "127.0.0.1")
        assert list(plane["env"])[-1] == "OPENAI_API_BASE"
        assert plane["extra_values"] == ansible_filters.combine(BASE_VALUES, extra_values, recursive=True)
        assert plane["extra_values"]["securityContext"] == {"readOnlyRootFilesystem": False, "runAsUser": 1000}
    assert extra_values["securityContext"] == {"runAsUser": 1000}  # the role's variable is not changed


FLOWS = {"b.json": '{"name": "\u00c9change", "note": "h\u00e9llo \u2014 \u00fcnicode"}',
         "a.json": '{"name": "alpha", "data": {"nodes": [{"id": "n1"}]}}\n'}


def test_flow_files_mount_and_roll_the_runtime_only():
    extra_values = {"rolloutTriggers": {"other": "x"}, "configMapMounts": [{"name": "y", "mountPath": "/y"}]}
    out = planes({"team": "a"}, "dev", FLOWS, flows_mount_path="/flows", extra_values=extra_values,
                 extra_env={"X": "1"})
    ide, runtime = out["a-langflow-dev"], out["a-langflow-runtime-dev"]
    assert "LANGFLOW_LOAD_FLOWS_PATH" not in ide["env"]
    assert ide["extra_values"] == combine_jinja(BASE_VALUES, extra_values)
    assert list(runtime["env"])[-2:] == ["X", "LANGFLOW_LOAD_FLOWS_PATH"]
    assert runtime["env"]["LANGFLOW_LOAD_FLOWS_PATH"] == "/flows"
    assert runtime["extra_values"]["configMapMounts"] == [{"name": "a-langflow-runtime-dev-flows", "mountPath": "/flows"}]
    assert runtime["extra_values"]["rolloutTriggers"] == {"other": "x", "flows": jinja_flows_checksum(FLOWS)}
    assert runtime["extra_values"] == combine_jinja(combine_jinja(BASE_VALUES, extra_values), {
        "configMapMounts": [{"name": "a-langflow-runtime-dev-flows", "mountPath": "/flows"}],
        "rolloutTriggers": {"flows": jinja_flows_checksum(FLOWS)}})


def test_no_flow_files_no_mount():
    out = planes({"team": "a"}, "dev", {})
    assert all("LANGFLOW_LOAD_FLOWS_PATH" not in plane["env"] for plane in out.values())
    assert all(plane["extra_values"] == BASE_VALUES for plane in out.values())
    assert planes({"team": "a"}, "dev", None) == out
    # no runtime: flow files (had there been any) mount nowhere
    assert planes({"team": "a", "runtime": False}, "dev", FLOWS) == {"a-langflow-dev": out["a-langflow-dev"]}


@pytest.mark.parametrize("flow_files", [
    FLOWS, {"only.json": '{"name": "prd flow"}'}, {"z.json": "", "a.json": "[]"}, {"q.json": 'say "hi"\\n\t\u65e5\u672c'},
])
def test_flows_checksum_is_jinjas(flow_files):
    assert langflow.flows_checksum(flow_files) == jinja_flows_checksum(flow_files)


# These stay fixed for the same files: a changed value would roll every site's runtimes once.
def test_flows_checksum_is_stable():
    assert langflow.flows_checksum({"only.json": '{"name": "prd flow"}'}) == (
        "545d9894a829cc9129afeff29c8a8215d39b795275a36aa46a7cde4e2805eee5")


def combine_jinja(base, other):
    return ansible_filters.combine(base, other, recursive=True)


@pytest.mark.parametrize("base, other", [
    ({}, {"b": 1, "a": 2}),
    ({"a": 1, "b": 2}, {}),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # equal: the other's order, as merge_hash
    ({"a": {"x": 1, "y": [1]}, "b": 2}, {"a": {"y": [2], "z": 3}, "c": 4}),
    ({"a": {"x": 1}}, {"a": 5}),
    ({"a": 5}, {"a": {"x": 1}}),
    ({"a": {"x": {"y": 1, "z": 2}}}, {"a": {"x": {"z": 3, "y": 1}}}),
])
@pytest.mark.parametrize("recursive", [False, True])
def test_combine_is_ansibles(base, other, recursive):
    mine = langflow.combine(base, other, recursive)
    theirs = ansible_filters.combine(base, other, recursive=recursive)
    assert json.dumps(mine) == json.dumps(theirs)


@pytest.mark.parametrize("tenant, environment, overrides, field", [
    ({"team": "a"}, "qa", {}, "langflow_tenants[].environments"),
    ({"team": "a", "size": "huge"}, "dev", {}, "langflow_tenants[].size"),
    ({"team": "a"}, "dev", {"environments": {"dev": {}}}, "langflow_environments.dev.database_type"),
    ({"team": "a"}, "dev", {"extra_env": ["X=1"]}, "langflow_extra_env"),
    ({"environments": ["dev"]}, "dev", {}, "langflow_tenants[].team"),
])
def test_planes_bad_input_names_the_field(tenant, environment, overrides, field):
    with pytest.raises(AnsibleFilterError) as err:
        planes(tenant, environment, **overrides)
    assert str(err.value).startswith(field + ": ") and "Fix: " in str(err.value)


def test_a_size_without_limits_renders_requests_only():
    sizes = {"dev": {"ide": {"requests": {"cpu": "250m", "memory": "1Gi"}, "storage": "2Gi"},
                     "runtime": {"requests": {"cpu": "250m", "memory": "1Gi"}, "storage": "2Gi",
                                 "min_replicas": 1, "max_replicas": 2}}}
    planes = langflow.tenant_planes({"team": "t", "size": "dev"}, "dev", {}, sizes=sizes,
                                    environments={"dev": {"database_type": "sqlite"}})
    assert [plane["resources"] for plane in planes.values()] == [{"requests": {"cpu": "250m", "memory": "1Gi"}}] * 2
