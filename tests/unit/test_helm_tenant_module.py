"""The module entry point: argspec defaults through AnsibleModule, run() wiring, failures as fail_json
with the field, diff only in diff mode, no credential in the result."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.aistack.platform.plugins.modules import helm_tenant
from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.kube import client as kube_client

from test_tenant_runner import MemKube, FakeHelm, CHART


class Exit(Exception):
    pass


def run_module(monkeypatch, args, check=False, diff=False, kube=None):
    kube = kube or MemKube()
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff, _ansible_remote_tmp="/tmp",
                _ansible_keep_remote_files=False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    monkeypatch.setattr(kube_client, "open_client", lambda *a, **k: kube)
    monkeypatch.setattr(H.HelmRunner, "__init__", lambda self, *a, **k: None)
    fake = FakeHelm(kube)
    monkeypatch.setattr(H.HelmRunner, "upgrade", lambda self, *a, **k: fake.upgrade(*a, **k))
    monkeypatch.setattr(H.HelmRunner, "uninstall", lambda self, *a, **k: fake.uninstall(*a, **k))
    out = {}

    def exit_json(self, **kw):
        out.update(kw, failed=False)
        raise Exit()

    def fail_json(self, **kw):
        out.update(kw, failed=True)
        raise Exit()

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with pytest.raises(Exit):
        helm_tenant.main()
    return out, kube, fake


ARGS = {
    "team": "team-a", "service": "svc", "environment": "dev",
    "chart": {"path": CHART}, "image": {"repository": "aistack.local/demohttp", "tag": "1.0.0"},
    "database": {"type": "postgresql", "host": "pg", "name": "db", "user": "u", "password": "Module-Secret-9"},
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
}


def test_present_then_noop(monkeypatch):
    result, kube, helm = run_module(monkeypatch, ARGS, diff=True)
    assert not result["failed"] and result["changed"] and result["revision"] == 1
    assert "Module-Secret-9" not in json.dumps(result)
    assert isinstance(result["diff"], list)  # values + Secret
    values = helm.calls[0][2]
    assert values["persistence"]["size"] == "1Gi"  # suboption defaults applied
    assert values["probes"]["path"] == "/health"
    again, _unused, helm2 = run_module(monkeypatch, ARGS, kube=kube)
    assert not again["changed"] and not helm2.calls and "diff" not in again


def test_policy_failure_is_fail_json_with_field(monkeypatch):
    args = dict(ARGS, environment="prd")
    result, kube, _unused = run_module(monkeypatch, args)
    assert result["failed"] and result["field"] == "resources.limits.cpu"
    assert any(p.startswith("resources.limits.memory") for p in result["problems"])
    assert kube.writes == []


def test_chart_required_for_present(monkeypatch):
    args = dict(ARGS)
    del args["chart"]
    result, _unused, _unused = run_module(monkeypatch, args)
    assert result["failed"] and result["field"] == "chart"


def test_absent_without_chart(monkeypatch):
    result, _unused, _unused = run_module(monkeypatch, {"team": "team-a", "service": "svc", "environment": "dev", "state": "absent"})
    assert not result["failed"] and not result["changed"]
