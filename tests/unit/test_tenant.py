"""Pure logic of helm_tenant: names, every policy rule, values rendering, masking, digests."""

import copy
import json
import os

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as tchart
from ansible_collections.aistack.platform.plugins.module_utils.tenant import credentials as tcreds
from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "charts", "aistack-service")
PASSWORD = "s3cr3t-P@ss/word"


def base(**over):
    params = {
        "team": "data-science", "service": "langflow", "environment": "dev", "namespace": None,
        "state": "present",
        "chart": {"path": CHART},
        "image": {"repository": "langflowai/langflow", "tag": "1.4.3", "digest": None, "pull_policy": "IfNotPresent"},
        "port": 7860, "service_port": 80,
        "database": {"type": "postgresql", "host": "pg.infra", "port": 5432, "name": "lf_ds_dev", "user": "langflow",
                     "password": PASSWORD, "password_secret": None, "url_env": "LANGFLOW_DATABASE_URL",
                     "password_env": "DATABASE_PASSWORD"},
        "persistence": {"enabled": True, "size": "5Gi", "access_mode": "ReadWriteOnce", "mount_path": "/app/data"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "ingress": {"enabled": True, "domain": "company.com"},
        "replicas": 1,
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            params[key] = tvalues.deep_merge(params[key], value)
        else:
            params[key] = value
    return params


def fails(params, field):
    with pytest.raises(AistackError) as info:
        tpolicy.validate(params)
    assert info.value.field == field, str(info.value)
    assert "Fix:" in str(info.value)
    return info.value


# ------------------------------------------------------------------ names

def test_names_follow_the_pattern():
    names = tpolicy.validate(base())
    assert names == {"fullname": "data-science-langflow-dev", "namespace": "data-science-dev",
                     "host": "langflow-data-science.company.com"}


def test_namespace_override():
    assert tpolicy.validate(base(namespace="shared"))["namespace"] == "shared"


def test_release_name_must_fit_helm_limit():
    err = fails(base(team="a" * 40, service="langflow-runtime"), "team")
    assert "53" in str(err)


def test_release_name_exactly_53_is_fine():
    team = "t" * (53 - len("-svc-dev"))
    assert len(tpolicy.validate(base(team=team, service="svc", ingress={"enabled": False}))["fullname"]) == 53


@pytest.mark.parametrize("field,value", [("team", "Team_A"), ("service", "-x"), ("team", ""), ("service", "a.b")])
def test_bad_labels(field, value):
    fails(base(**{field: value}), field)


def test_unknown_environment():
    fails(base(environment="prod"), "environment")


def test_host_too_long_for_dns():
    fails(base(ingress={"domain": ".".join(["d" * 60] * 4)}), "ingress.domain")


def test_absent_needs_only_names():
    assert tpolicy.validate({"team": "a", "service": "b", "environment": "prd", "state": "absent"})["fullname"] == "a-b-prd"


# ------------------------------------------------------------------ policy: images

@pytest.mark.parametrize("tag", ["latest", "LATEST", "", None])
def test_floating_tags_refused(tag):
    fails(base(image={"tag": tag}), "image.tag")


def test_latest_refused_even_with_digest():
    fails(base(image={"tag": "latest", "digest": "sha256:" + "a" * 64}), "image.tag")


def test_digest_without_tag_is_fine():
    tpolicy.validate(base(image={"tag": None, "digest": "sha256:" + "a" * 64}))


def test_bad_digest():
    fails(base(image={"digest": "sha256:xyz"}), "image.digest")


def test_tag_inside_repository_refused():
    fails(base(image={"repository": "langflowai/langflow:1.0"}), "image.repository")


def test_registry_port_is_not_a_tag():
    tpolicy.validate(base(image={"repository": "localhost:30500/langflow"}))


# ------------------------------------------------------------------ policy: database

def test_sqlite_refused_in_prd():
    params = base(environment="prd", database={"type": "sqlite", "password": None})
    fails(params, "database.type")


def test_sqlite_fine_in_dev():
    tpolicy.validate(base(database={"type": "sqlite", "password": None, "host": None}))


def test_postgres_needs_a_password_source():
    fails(base(database={"password": None}), "database.password_secret")


def test_postgres_password_and_secret_exclusive():
    fails(base(database={"password_secret": {"name": "x", "key": "password"}}), "database.password")


@pytest.mark.parametrize("key", ["host", "name", "user"])
def test_postgres_required_fields(key):
    fails(base(database={key: None}), "database.%s" % key)


# ------------------------------------------------------------------ policy: storage

def test_no_persistence_refused_in_prd():
    fails(base(environment="prd", persistence={"enabled": False}), "persistence.enabled")


def test_no_persistence_fine_in_dev():
    tpolicy.validate(base(persistence={"enabled": False}))


def test_bad_size_and_mode():
    fails(base(persistence={"size": "five"}), "persistence.size")
    fails(base(persistence={"access_mode": "RWX"}), "persistence.access_mode")


def test_rwx_accepted():
    tpolicy.validate(base(environment="prd", persistence={"access_mode": "ReadWriteMany", "storage_class": "nfs"}))


# ------------------------------------------------------------------ policy: resources

@pytest.mark.parametrize("env", ["stg", "prd"])
@pytest.mark.parametrize("key", ["cpu", "memory"])
def test_limits_required_in_stg_prd(env, key):
    params = base(environment=env)
    del params["resources"]["limits"][key]
    fails(params, "resources.limits.%s" % key)


def test_limits_optional_in_dev():
    params = base()
    params["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    tpolicy.validate(params)


def test_requests_always_required():
    params = base()
    params["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    fails(params, "resources.requests.cpu")


def test_bad_quantity():
    fails(base(resources={"limits": {"memory": "lots"}}), "resources.limits.memory")


# ------------------------------------------------------------------ policy: credentials in values

@pytest.mark.parametrize("extra", [
    {"postgresql": {"auth": {"password": "x"}}},
    {"langflow": {"secretKey": "abc"}},
    {"env": [{"name": "OPENAI_API_KEY", "value": "sk-123"}]},
    {"config": {"OPENAI_API_KEY": "sk-123"}},
    {"config": {"DB": "postgresql://u:pw@h:5432/db"}},
    {"superuser": {"adminToken": "abc"}},
])
def test_credentials_in_extra_values_refused(extra):
    with pytest.raises(AistackError) as info:
        tpolicy.validate(base(extra_values=extra))
    err = info.value
    assert err.field.startswith("extra_values."), str(err)
    assert "sk-123" not in str(err) and "pw@" not in str(err)


@pytest.mark.parametrize("extra", [
    {"ingress": {"tls": {"secretName": "tls"}}},
    {"existingSecret": "db-creds", "existingSecretPasswordKey": "password"},
    {"env": [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
    {"config": {"LOG_LEVEL": "debug", "REDIS_URL": "redis://redis:6379/0"}},
    {"password": ""},
])
def test_secret_references_allowed(extra):
    tpolicy.validate(base(extra_values=extra))


def test_credentials_in_env_refused():
    fails(base(env={"OPENAI_API_KEY": "sk-1"}), "env.OPENAI_API_KEY")
    fails(base(env={"DB_URL": "postgresql://a:b@c/d"}), "env.DB_URL")


def test_all_problems_are_listed():
    params = base(environment="prd", image={"tag": "latest"}, database={"type": "sqlite", "password": None},
                  persistence={"enabled": False})
    del params["resources"]["limits"]
    with pytest.raises(AistackError) as info:
        tpolicy.validate(params)
    problems = info.value.details["problems"]
    fields = [p.split(":")[0] for p in problems]
    for field in ("image.tag", "database.type", "persistence.enabled", "resources.limits.cpu"):
        assert field in fields


# ------------------------------------------------------------------ policy: chart, ingress, tracing

def test_chart_needs_pinned_version_from_repo():
    fails(base(chart={"path": None, "repo": "https://charts.example", "name": "x", "version": None}), "chart.version")
    fails(base(chart={"path": None, "repo": "https://charts.example", "name": "x", "version": "^1.0"}), "chart.version")
    tpolicy.validate(base(chart={"path": None, "repo": "https://charts.example", "name": "x", "version": "1.2.3"}))


def test_chart_oci_needs_no_repo():
    tpolicy.validate(base(chart={"path": None, "name": "oci://reg/charts/x", "version": "1.0.0"}))


def test_chart_path_must_exist(tmp_path):
    fails(base(chart={"path": str(tmp_path / "nope")}), "chart.path")
    fails(base(chart={"path": str(tmp_path)}), "chart.path")


def test_ingress_tls_choices():
    fails(base(ingress={"tls_secret": "t", "cert_manager_issuer": "i"}), "ingress.tls_secret")
    fails(base(ingress={"domain": None}), "ingress.domain")
    fails(base(ingress={"domain": "Bad_Domain"}), "ingress.domain")


def test_tracing_endpoint_without_v1_traces():
    fails(base(tracing={"enabled": True, "endpoint": "http://phoenix:6006/v1/traces"}), "tracing.endpoint")
    fails(base(tracing={"enabled": True, "endpoint": "phoenix:6006"}), "tracing.endpoint")
    tpolicy.validate(base(tracing={"enabled": True, "endpoint": "http://phoenix.observability:6006"}))


def test_hpa_range():
    fails(base(autoscaling={"enabled": True, "min_replicas": 4, "max_replicas": 2}), "autoscaling.max_replicas")


# ------------------------------------------------------------------ rendering

def render(params, **kw):
    names = tpolicy.validate(params)
    return tvalues.build_values(params, names, **kw)


def test_values_carry_names_image_and_host():
    values = render(base())
    assert values["fullnameOverride"] == "data-science-langflow-dev"
    assert values["image"] == {"repository": "langflowai/langflow", "tag": "1.4.3", "digest": "",
                               "pullPolicy": "IfNotPresent"}
    assert values["ingress"]["host"] == "langflow-data-science.company.com"
    assert values["containerPort"] == 7860
    assert values["labels"]["aistack.io/team"] == "data-science"


def test_password_never_in_values():
    values = render(base(), rollout_triggers={"secret/x": "12"})
    text = json.dumps(values)
    assert PASSWORD not in text
    assert "s3cr3t" not in text
    refs = {e["name"]: e for e in values["secretEnv"]}
    assert refs["DATABASE_PASSWORD"] == {"name": "DATABASE_PASSWORD", "secretName": "data-science-langflow-dev-db",
                                         "key": "password"}
    assert refs["LANGFLOW_DATABASE_URL"]["key"] == "url"


def test_existing_secret_url_composed_by_kubernetes():
    params = base(database={"password": None, "password_secret": {"name": "pg-creds", "key": "pw"}})
    values = render(params)
    assert values["secretEnv"][0] == {"name": "DATABASE_PASSWORD", "secretName": "pg-creds", "key": "pw"}
    assert values["env"]["LANGFLOW_DATABASE_URL"] == "postgresql://langflow:$(DATABASE_PASSWORD)@pg.infra:5432/lf_ds_dev"


def test_existing_secret_with_url_key():
    params = base(database={"password": None, "password_secret": {"name": "pg", "key": "pw", "url_key": "url"}})
    values = render(params)
    assert {"name": "LANGFLOW_DATABASE_URL", "secretName": "pg", "key": "url"} in values["secretEnv"]
    assert "LANGFLOW_DATABASE_URL" not in values["env"]


def test_db_secret_url_is_quoted():
    data = tvalues.db_secret_data(base()["database"])
    assert data["password"] == PASSWORD
    assert data["url"] == "postgresql://langflow:s3cr3t-P%40ss%2Fword@pg.infra:5432/lf_ds_dev"


def test_sqlite_on_the_volume():
    values = render(base(database={"type": "sqlite", "password": None, "name": "langflow"}))
    assert values["env"]["LANGFLOW_DATABASE_URL"] == "sqlite:////app/data/langflow.db"
    assert values["secretEnv"] == []


def test_persistence_values():
    values = render(base(persistence={"storage_class": "nfs", "access_mode": "ReadWriteMany"}))
    assert values["persistence"] == {"enabled": True, "mountPath": "/app/data", "size": "5Gi",
                                     "storageClassName": "nfs", "accessModes": ["ReadWriteMany"],
                                     "existingClaim": ""}


def test_hpa_replaces_replicas():
    values = render(base(autoscaling={"enabled": True, "min_replicas": 2, "max_replicas": 5}))
    assert values["autoscaling"]["maxReplicas"] == 5
    assert "replicaCount" not in values
    assert render(base(replicas=3))["replicaCount"] == 3


def test_tracing_env():
    params = base(tracing={"enabled": True, "endpoint": "http://phoenix.observability:6006/",
                           "api_key_secret": {"name": "phoenix", "key": "api-key"},
                           "env": {"LANGFLOW_TRACING": "true"}})
    values = render(params)
    assert values["env"]["PHOENIX_COLLECTOR_ENDPOINT"] == "http://phoenix.observability:6006"
    assert values["env"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert values["env"]["LANGFLOW_TRACING"] == "true"
    assert {"name": "PHOENIX_API_KEY", "secretName": "phoenix", "key": "api-key"} in values["secretEnv"]


def test_tracing_off_sets_nothing():
    values = render(base(tracing={"enabled": False, "endpoint": "http://x:6006", "env": {"LANGFLOW_TRACING": "true"}}))
    assert "PHOENIX_COLLECTOR_ENDPOINT" not in values["env"] and "LANGFLOW_TRACING" not in values["env"]


def test_generated_and_secret_env():
    params = base(generated_secrets=[{"key": "secret-key", "env": "LANGFLOW_SECRET_KEY", "format": "fernet"}],
                  secret_env=[{"name": "OPENAI_API_KEY", "secret": "openai", "key": "key", "optional": True}])
    refs = {e["name"]: e for e in render(params)["secretEnv"]}
    assert refs["LANGFLOW_SECRET_KEY"] == {"name": "LANGFLOW_SECRET_KEY",
                                           "secretName": "data-science-langflow-dev-generated", "key": "secret-key"}
    assert refs["OPENAI_API_KEY"]["optional"] is True


def test_cert_manager_ingress():
    values = render(base(ingress={"cert_manager_cluster_issuer": "letsencrypt", "class_name": "traefik"}))
    assert values["ingress"]["tls"] == {"enabled": True, "secretName": "data-science-langflow-dev-tls"}
    assert values["ingress"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert values["ingress"]["className"] == "traefik"


def test_extra_values_merge_last():
    values = render(base(extra_values={"podAnnotations": {"a": "b"}, "persistence": {"keep": False}}))
    assert values["podAnnotations"] == {"a": "b"}
    assert values["persistence"]["keep"] is False and values["persistence"]["size"] == "5Gi"


def test_env_values_are_strings():
    values = render(base(env={"LANGFLOW_AUTO_LOGIN": False, "WORKERS": 2}))
    assert values["env"]["LANGFLOW_AUTO_LOGIN"] == "false"
    assert values["env"]["WORKERS"] == "2"


def test_rendering_is_deterministic():
    params = base()
    assert tvalues.canonical_json(render(params)) == tvalues.canonical_json(render(copy.deepcopy(params)))


# ------------------------------------------------------------------ digests

def test_digest_changes_with_values_chart_and_version():
    values = render(base())
    d0 = tvalues.release_digest(values, "aistack-service", "0.1.0")
    assert d0 == tvalues.release_digest(json.loads(json.dumps(values)), "aistack-service", "0.1.0")
    assert d0 != tvalues.release_digest(values, "aistack-service", "0.1.1")
    assert d0 != tvalues.release_digest(render(base(image={"tag": "1.4.4"})), "aistack-service", "0.1.0")


def test_local_chart_digest_tracks_files(tmp_path):
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (chart / "templates" / "a.yaml").write_text("a: 1\n")
    d1 = tchart.local_chart_digest(str(chart))
    assert d1 == tchart.local_chart_digest(str(chart))
    (chart / "templates" / "a.yaml").write_text("a: 2\n")
    assert tchart.local_chart_digest(str(chart)) != d1


def test_chart_meta_from_dir_and_archive(tmp_path):
    import tarfile
    assert tchart.local_chart_meta(CHART) == ("aistack-service", "0.2.0")
    archive = tmp_path / "aistack-service-0.1.0.tgz"
    with tarfile.open(str(archive), "w:gz") as tar:
        tar.add(CHART, arcname="aistack-service")
    assert tchart.local_chart_meta(str(archive)) == ("aistack-service", "0.2.0")
    assert tchart.local_chart_digest(str(archive)).startswith("sha256:")


def test_parse_chart_yaml_quotes_and_comments():
    meta = tchart.parse_chart_yaml('apiVersion: v2\nname: "x"  # the name\nversion: \'1.2.3\'\nappVersion: "4"\n'
                                   "dependencies:\n  - name: sub\n    version: 9.9.9\n")
    assert meta == {"name": "x", "version": "1.2.3", "appVersion": "4"}


# ------------------------------------------------------------------ masking and diff

def test_mask_hides_credentials_everywhere():
    data = {"password": "p", "nested": {"OPENAI_API_KEY": "k", "safe": "v"},
            "env": [{"name": "DB_PASSWORD", "value": "p2"}, {"name": "LOG", "value": "info"}],
            "url": "postgresql://u:pw@h/db", "secretName": "tls"}
    masked = tcreds.mask(data)
    text = json.dumps(masked)
    for secret in ('"p"', '"k"', "p2", "pw@"):
        assert secret not in text
    assert masked["nested"]["safe"] == "v"
    assert masked["env"][1]["value"] == "info"
    assert masked["url"] == "postgresql://u:********@h/db"
    assert masked["secretName"] == "tls"


def test_values_diff_masks_both_sides():
    before = {"image": {"tag": "1"}, "password": "old"}
    after = {"image": {"tag": "2"}}
    diff = tvalues.values_diff(before, after)
    assert diff["before"]["password"] == tcreds.MASK
    assert diff["after"] == after


def test_changed_paths():
    assert tvalues.changed_paths({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 1}) == ["a.c", "d"]
    assert tvalues.changed_paths({"a": [1]}, {"a": [1]}) == []


@pytest.mark.parametrize("name,sensitive", [
    ("password", True), ("LANGFLOW_SUPERUSER_PASSWORD", True), ("OPENAI_API_KEY", True), ("apiKey", True),
    ("secretKey", True), ("token", True), ("secretName", False), ("existingSecret", False),
    ("existingSecretPasswordKey", False), ("secretKeyRef", False), ("passwordKey", False), ("tokenizer", False),
    ("LOG_LEVEL", False), ("cert-manager.io/cluster-issuer", False),
])
def test_sensitive_names(name, sensitive):
    assert tcreds.is_sensitive_name(name) is sensitive


def test_inline_secret_values_found_for_masking():
    data = {"extra_values": {"auth": {"adminPassword": "hunter2"}, "env": [{"name": "X_TOKEN", "value": "t0k"}],
                             "url": "postgresql://u:pw9@h/db", "ok": "visible"},
            "env": {"OPENAI_API_KEY": "sk-live", "LOG": "info"}}
    assert sorted(tcreds.inline_secret_values(data)) == ["hunter2", "pw9", "sk-live", "t0k"]
