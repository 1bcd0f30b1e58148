# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""helm_tenant's field rules hold on the values Helm really receives: one test per rule per route (the chart's
defaults, the typed options, values_files, extra_values), each naming the route and the value path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import shutil
import tarfile

import pytest
import yaml

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as tchart
from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "charts", "aistack-service")


def base(**over):
    params = {
        "team": "data-science", "service": "langflow", "environment": "prd", "namespace": None,
        "state": "present",
        "chart": {"path": CHART},
        "image": {"repository": "langflowai/langflow", "tag": "1.4.3", "digest": None, "pull_policy": "IfNotPresent"},
        "port": 7860, "service_port": 80,
        "database": {"type": "postgresql", "host": "pg.infra", "port": 5432, "name": "lf", "user": "langflow",
                     "password": None, "password_secret": {"name": "lf-db", "key": "password"},
                     "url_env": "LANGFLOW_DATABASE_URL", "password_env": "DATABASE_PASSWORD"},
        "persistence": {"enabled": True, "size": "5Gi", "access_mode": "ReadWriteOnce", "mount_path": "/app/data"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "ingress": {"enabled": True, "domain": "company.com"},
        "replicas": 1,
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict) and key != "resources":
            params[key] = tvalues.deep_merge(params[key], value)
        else:
            params[key] = value
    return params


def chart_with(tmp_path, overrides, packaged=False):
    """A copy of the generic chart whose values.yaml carries ``overrides`` (optionally packaged as .tgz)."""
    target = tmp_path / "chart" / "aistack-service"
    shutil.copytree(CHART, str(target))
    with open(str(target / "values.yaml")) as handle:
        values = yaml.safe_load(handle)
    with open(str(target / "values.yaml"), "w") as handle:
        yaml.safe_dump(tvalues.deep_merge(values, overrides), handle)
    if not packaged:
        return str(target)
    archive = tmp_path / "aistack-service-0.1.0.tgz"
    with tarfile.open(str(archive), "w:gz") as tar:
        tar.add(str(target), arcname="aistack-service")
    return str(archive)


def values_file(tmp_path, values, name="site.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return str(path)


def refused(params, field):
    with pytest.raises(AistackError) as info:
        tpolicy.validate(params)
    problems = info.value.details.get("problems") or [str(info.value)]
    assert any(item.startswith(field + ":") for item in problems), "%s not in %s" % (field, problems)
    assert "Fix:" in str(info.value)
    return info.value


# rule -> route -> (the bad values at that route, the field the error names, params changes)
# chart: values.yaml of the chart; typed: the module's options; file: values_files[0]; extra: extra_values.
BAD = {
    "image_latest": {
        "chart": ({"sidecar": {"image": {"repository": "busybox", "tag": "latest"}}},
                  "chart.path values.yaml: sidecar.image.tag"),
        "typed": (None, "image.tag", {"image": {"tag": "latest"}}),
        "file": ({"image": {"tag": "latest"}}, "values_files[0]: image.tag"),
        "extra": ({"image": {"tag": "latest"}}, "extra_values.image.tag"),
    },
    "image_unpinned": {
        "chart": ({"sidecar": {"image": "busybox"}}, "chart.path values.yaml: sidecar.image"),
        "typed": (None, "image.tag", {"image": {"tag": None}}),
        "file": ({"image": {"tag": None}}, "values_files[0]: image.tag"),
        "extra": ({"image": {"tag": ""}}, "extra_values.image.tag"),
    },
    "image_grammar": {
        "chart": ({"sidecar": {"image": "Busybox:1.36"}}, "chart.path values.yaml: sidecar.image"),
        "typed": (None, "image.repository", {"image": {"repository": "Team/App"}}),
        "file": ({"image": {"repository": "team//app"}}, "values_files[0]: image.repository"),
        "extra": ({"image": {"tag": "-1.0"}}, "extra_values.image.tag"),
    },
    "sqlite_in_prd": {
        "chart": ({"env": {"DB_URL": "sqlite:////data/app.db"}}, "chart.path values.yaml: env.DB_URL"),
        "typed": (None, "database.type", {"database": {"type": "sqlite", "password_secret": None}}),
        "file": ({"env": {"LANGFLOW_DATABASE_URL": "sqlite:////app/data/langflow.db"}},
                 "values_files[0]: env.LANGFLOW_DATABASE_URL"),
        "extra": ({"config": {"DATABASE_URL": "sqlite+aiosqlite:///x.db"}}, "extra_values.config.DATABASE_URL"),
    },
    "persistence_in_prd": {
        "chart": ({"scratchDirs": ["/tmp", "/app/data"]}, "chart.path values.yaml: scratchDirs[1]"),
        "typed": (None, "persistence.enabled", {"persistence": {"enabled": False}}),
        "file": ({"persistence": {"enabled": False}}, "values_files[0]: persistence.enabled"),
        "extra": ({"persistence": None}, "extra_values.persistence.enabled"),
    },
    "limits_in_prd": {
        "chart": ({"resources": {"limits": {"cpu": "lots"}}}, "chart.path values.yaml: resources.limits.cpu",
                  {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {}}}),
        "typed": (None, "resources.limits.memory", {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}),
        "file": ({"resources": {"limits": None}}, "values_files[0]: resources.limits.cpu"),
        "extra": ({"resources": {"limits": {"memory": "2 GB"}}}, "extra_values.resources.limits.memory"),
    },
    "requests": {
        "chart": ({"resources": {"requests": {"memory": "much"}}},
                  "chart.path values.yaml: resources.requests.memory",
                  {"environment": "dev", "resources": None}),
        "typed": (None, "resources.requests.cpu", {"environment": "dev", "resources": None}),
        "file": ({"resources": None}, "values_files[0]: resources.requests.cpu"),
        "extra": ({"resources": {"requests": {"cpu": None}}}, "extra_values.resources.requests.cpu"),
    },
    "credentials": {
        "chart": ({"config": {"ADMIN_TOKEN": "abc123"}}, "chart.path values.yaml: config.ADMIN_TOKEN"),
        "typed": (None, "env.OPENAI_API_KEY", {"env": {"OPENAI_API_KEY": "sk-1"}}),
        "file": ({"env": {"LANGFLOW_SUPERUSER_PASSWORD": "pw"}},
                 "values_files[0]: env.LANGFLOW_SUPERUSER_PASSWORD"),
        "extra": ({"config": {"REDIS_URL": "redis://u:pw@redis:6379/0"}}, "extra_values.config.REDIS_URL"),
    },
    "names": {
        # the typed options always set fullnameOverride and nameOverride over the chart's defaults
        "file": ({"fullnameOverride": "other"}, "values_files[0]: fullnameOverride"),
        "extra": ({"nameOverride": "x"}, "extra_values.nameOverride"),
    },
    "ingress_host": {
        "chart": ({"ingress": {"enabled": True, "host": "evil.example.com"}}, "chart.path values.yaml: ingress.host",
                  {"ingress": {"enabled": False}}),
        "typed": (None, "ingress.domain", {"ingress": {"domain": "-bad-"}}),
        "file": ({"ingress": {"host": "langflow.company.com"}}, "values_files[0]: ingress.host"),
        "extra": ({"ingress": {"host": "other-team.company.com"}}, "extra_values.ingress.host"),
    },
    "tracing_endpoint": {
        "chart": ({"env": {"PHOENIX_COLLECTOR_ENDPOINT": "http://phoenix:6006/v1/traces"}},
                  "chart.path values.yaml: env.PHOENIX_COLLECTOR_ENDPOINT"),
        "typed": (None, "tracing.endpoint", {"tracing": {"enabled": True, "endpoint": "http://p:6006/v1/traces"}}),
        "file": ({"env": {"PHOENIX_COLLECTOR_ENDPOINT": "http://p:6006/v1/traces/"}},
                 "values_files[0]: env.PHOENIX_COLLECTOR_ENDPOINT"),
        "extra": ({"env": {"PHOENIX_COLLECTOR_ENDPOINT": "http://p:6006/v1/traces"}},
                  "extra_values.env.PHOENIX_COLLECTOR_ENDPOINT"),
    },
    "pod_security": {
        # no typed option touches the security context
        "chart": ({"securityContext": {"allowPrivilegeEscalation": True}},
                  "chart.path values.yaml: securityContext.allowPrivilegeEscalation"),
        "file": ({"podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0}, "securityContext": {"runAsNonRoot": None}},
                 "values_files[0]: podSecurityContext.runAsUser"),
        "extra": ({"securityContext": {"capabilities": {"drop": []}}},
                  "extra_values.securityContext.capabilities.drop"),
    },
    "service_links": {
        "chart": ({"enableServiceLinks": True}, "chart.path values.yaml: enableServiceLinks"),
        "file": ({"enableServiceLinks": True}, "values_files[0]: enableServiceLinks"),
        "extra": ({"hostNetwork": True}, "extra_values.hostNetwork"),
    },
}
CASES = [(rule, route) for rule in sorted(BAD) for route in ("chart", "typed", "file", "extra") if route in BAD[rule]]


@pytest.mark.parametrize("rule,route", CASES, ids=["%s-%s" % case for case in CASES])
def test_rule_holds_on_every_route(tmp_path, rule, route):
    entry = BAD[rule][route]
    bad, field = entry[0], entry[1]
    params = base(**(entry[2] if len(entry) > 2 else {}))
    if route == "chart":
        params["chart"] = {"path": chart_with(tmp_path, bad)}
    elif route == "file":
        params["values_files"] = [values_file(tmp_path, {"podAnnotations": {"a": "b"}}, "first.yaml")]
        params["values_files"] = [values_file(tmp_path, bad)]
    elif route == "extra":
        params["extra_values"] = bad
    err = refused(params, field)
    if route == "file":
        assert "values_files[0]" in str(err.details.get("problems")) or "values_files[0]" in str(err)


def test_every_rule_has_a_case():
    names = set(name for name, _rule in tpolicy.MERGED_RULES)
    covered = {"image": "image_latest", "sqlite": "sqlite_in_prd", "persistence": "persistence_in_prd",
               "credentials": "credentials", "ingress": "ingress_host", "resources": "limits_in_prd",
               "tracing": "tracing_endpoint", "pod_security": "pod_security", "names": "names"}
    assert names == set(covered)
    for rule in covered.values():
        assert {"file", "extra"} <= set(BAD[rule])


def test_a_charts_own_empty_default_tag_is_its_app_version(tmp_path):
    """An upstream chart's empty tag default means its appVersion (pinned by the chart version); a values file
    emptying it is refused."""
    params = base(chart={"path": chart_with(tmp_path, {"sidecar": {"image": {"repository": "busybox", "tag": ""}}})})
    tpolicy.validate(params)
    params["extra_values"] = {"sidecar": {"image": {"tag": "latest"}}}
    refused(params, "extra_values.sidecar.image.tag")


def test_packaged_chart_defaults_are_read(tmp_path):
    archive = chart_with(tmp_path, {"config": {"API_KEY": "abc"}}, packaged=True)
    assert tchart.local_chart_values(archive)["config"] == {"API_KEY": "abc"}
    refused(base(chart={"path": archive}), "chart.path values.yaml: config.API_KEY")


def test_the_generic_chart_and_good_routes_pass(tmp_path):
    params = base(values_files=[values_file(tmp_path, {"podAnnotations": {"a": "b"}, "image": {"tag": "1.5.0"}})],
                  extra_values={"env": {"LANGFLOW_LOG_LEVEL": "info"}})
    assert tpolicy.validate(params)["fullname"] == "data-science-langflow-prd"


def test_a_later_route_repairs_an_earlier_one(tmp_path):
    params = base(values_files=[values_file(tmp_path, {"image": {"tag": "latest"}}, "a.yaml"),
                                values_file(tmp_path, {"image": {"tag": "1.5.0"}}, "b.yaml")])
    tpolicy.validate(params)
    params["extra_values"] = {"image": {"tag": "latest"}}
    refused(params, "extra_values.image.tag")


def test_second_values_file_is_named(tmp_path):
    params = base(values_files=[values_file(tmp_path, {"podAnnotations": {"a": "b"}}, "a.yaml"),
                                values_file(tmp_path, {"image": {"tag": "latest"}}, "b.yaml")])
    err = refused(params, "values_files[1]: image.tag")
    assert "b.yaml" in str(err.details["problems"])


def test_values_files_merge_order_in_the_release_values(tmp_path):
    params = base(values_files=[values_file(tmp_path, {"env": {"A": "file0", "B": "file0"}}, "a.yaml"),
                                values_file(tmp_path, {"env": {"B": "file1", "C": "file1"}}, "b.yaml")],
                  extra_values={"env": {"C": "extra"}})
    names = tpolicy.validate(params)
    files = tvalues.load_values_files(params["values_files"])
    values = tvalues.build_values(params, names, files_values=files)
    assert (values["env"]["A"], values["env"]["B"], values["env"]["C"]) == ("file0", "file1", "extra")


@pytest.mark.parametrize("content,words", [("- a\n- b\n", "not a mapping"), ("a: [\n", "not valid YAML")])
def test_bad_values_file_names_its_index(tmp_path, content, words):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    params = base(values_files=[values_file(tmp_path, {}), str(bad)])
    with pytest.raises(AistackError, match=words) as info:
        tpolicy.validate(params)
    assert info.value.field == "values_files[1]"


def test_missing_values_file(tmp_path):
    with pytest.raises(AistackError) as info:
        tpolicy.validate(base(values_files=[str(tmp_path / "nope.yaml")]))
    assert info.value.field == "values_files[0]"


def test_helm_null_removes_a_chart_default():
    merged = tvalues.coalesce({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": None}, "d": None, "e": {"f": None}})
    assert merged == {"a": {"c": 2}, "e": {}}


def test_env_reference_in_a_database_url_is_no_credential():
    params = base()  # database.password_secret: the URL carries $(DATABASE_PASSWORD)
    names = tpolicy.validate(params)
    assert "$(DATABASE_PASSWORD)" in tvalues.build_values(params, names)["env"]["LANGFLOW_DATABASE_URL"]


def test_repository_chart_without_defaults_skips_only_the_chart_route():
    params = base(chart={"path": None, "repo": "https://charts.example", "name": "x", "version": "1.2.3"},
                  extra_values={"image": {"tag": "latest"}})
    refused(params, "extra_values.image.tag")
    params["extra_values"] = {}
    tpolicy.validate(params)


def test_problems_never_carry_the_credential(tmp_path):
    params = base(values_files=[values_file(tmp_path, {"env": {"API_KEY": "sk-very-secret"}})])
    with pytest.raises(AistackError) as info:
        tpolicy.validate(params)
    assert "sk-very-secret" not in str(info.value) + str(info.value.details)


def test_layers_do_not_mutate_their_inputs(tmp_path):
    extra = {"image": {"tag": "1.0"}}
    before = copy.deepcopy(extra)
    tpolicy.validate(base(extra_values=extra))
    assert extra == before


def test_grammar_problem_from_a_values_file_reads_once(tmp_path):
    err = refused(base(values_files=[values_file(tmp_path, {"image": {"repository": "Team/App"}})]),
                  "values_files[0]: image.repository")
    line = [item for item in err.details["problems"] if item.startswith("values_files[0]: image.repository")][0]
    assert line.count("image.repository") == 1, line


def test_rollout_triggers_keyed_by_secret_names_are_no_credentials():
    tpolicy.validate(base(extra_values={"rolloutTriggers": {"secret/phoenix-api-key": "123", "flows": "sha256:0"}}))
