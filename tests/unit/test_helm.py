"""Helm command lines, output parsing, release-record decoding and the runner (fake subprocess)."""

import base64
import gzip
import json

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def release(name="a-b-dev", rev=1, status="deployed", config=None, chart="aistack-service", version="0.1.0"):
    return {"name": name, "namespace": "a-dev", "version": rev, "info": {"status": status},
            "chart": {"metadata": {"name": chart, "version": version, "appVersion": "0.1.0"},
                      "templates": [{"name": "templates/x.yaml", "data": "eA=="}]},
            "config": config or {"image": {"tag": "1"}}, "manifest": "---\n"}


def record(rel):
    """A storage Secret as the API returns it."""
    return {"metadata": {"name": "sh.helm.release.v1.%s.v%d" % (rel["name"], rel["version"]),
                         "labels": {"owner": "helm", "name": rel["name"], "version": str(rel["version"]),
                                    "status": rel["info"]["status"]}},
            "type": "helm.sh/release.v1", "data": {"release": H.encode_release(rel)}}


def test_decode_release_roundtrip():
    rel = release()
    assert H.decode_release(H.encode_release(rel)) == rel


def test_decode_release_matches_helm_layout():
    # Helm: base64(gzip(json)) in the Secret's data, which Kubernetes base64-encodes again
    rel = release()
    helm_payload = base64.b64encode(gzip.compress(json.dumps(rel).encode()))
    assert H.decode_release(base64.b64encode(helm_payload).decode()) == rel


def test_latest_record_by_version_label():
    records = [record(release(rev=r, status=s)) for r, s in ((2, "superseded"), (10, "failed"), (9, "superseded"))]
    assert H.latest_record(records)["metadata"]["labels"]["version"] == "10"
    assert H.latest_record([]) is None


class FakeKube(object):
    def __init__(self, items):
        self.items = items
        self.calls = []

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.calls.append((kind, namespace, label_selector))
        return self.items


def test_read_release_one_list_call():
    kube = FakeKube([record(release(rev=1, status="superseded")), record(release(rev=2, config={"x": 1}))])
    summary = H.read_release(kube, "a-b-dev", "a-dev")
    assert kube.calls == [("Secret", "a-dev", "owner=helm,name=a-b-dev")]
    assert summary["revision"] == 2 and summary["status"] == "deployed" and summary["values"] == {"x": 1}
    assert summary["chart"] == "aistack-service" and summary["chart_version"] == "0.1.0"
    assert H.read_release(FakeKube([]), "a-b-dev", "a-dev") is None


def test_upgrade_command_local_chart():
    cmd = H.upgrade_command("helm", "a-b-dev", "a-dev", {"path": "/c"}, "/tmp/v.json", wait=True, timeout=120,
                            atomic=True, kubeconfig="/k", context="ctx")
    assert cmd[:4] == ["helm", "upgrade", "a-b-dev", "/c"]
    for flag in ("--install", "--reset-values", "--atomic", "--wait", "--cleanup-on-fail"):
        assert flag in cmd
    assert cmd[cmd.index("--namespace") + 1] == "a-dev"
    assert cmd[cmd.index("--values") + 1] == "/tmp/v.json"
    assert cmd[cmd.index("--timeout") + 1] == "120s"
    assert cmd[cmd.index("--output") + 1] == "json"
    assert cmd[cmd.index("--kubeconfig") + 1] == "/k"
    assert cmd[cmd.index("--kube-context") + 1] == "ctx"


def test_upgrade_command_repo_chart_no_wait():
    cmd = H.upgrade_command("helm", "r", "n", {"repo": "https://c.example", "name": "lf", "version": "1.2.3"},
                            "/v", wait=False, atomic=False)
    assert cmd[3] == "lf"
    assert cmd[cmd.index("--repo") + 1] == "https://c.example"
    assert cmd[cmd.index("--version") + 1] == "1.2.3"
    assert "--wait" not in cmd and "--atomic" not in cmd


def test_uninstall_command():
    assert H.uninstall_command("helm", "r", "n", wait=True, timeout=60) == [
        "helm", "uninstall", "r", "--namespace", "n", "--wait", "--timeout", "60s"]


def test_parse_release_output_skips_warnings():
    out = "WARNING: something\n" + json.dumps(release(rev=3))
    parsed = H.parse_release_output(out)
    assert parsed["revision"] == 3 and parsed["status"] == "deployed"
    with pytest.raises(AistackError):
        H.parse_release_output("Error: boom")


def test_runner_writes_values_file_and_cleans_up(tmp_path):
    seen = {}

    def fake_run(cmd, env=None):
        path = cmd[cmd.index("--values") + 1]
        with open(path) as handle:
            seen["values"] = json.load(handle)
        seen["path"] = path
        return 0, json.dumps(release(rev=4)), ""

    helm_bin = tmp_path / "helm"
    helm_bin.write_text("#!/bin/sh\n")
    helm_bin.chmod(0o755)
    runner = H.HelmRunner(str(helm_bin), run_command=fake_run)
    result = runner.upgrade("a-b-dev", "a-dev", {"path": "/c"}, {"image": {"tag": "2"}})
    assert result["revision"] == 4
    assert seen["values"] == {"image": {"tag": "2"}}
    import os
    assert not os.path.exists(seen["path"])


def test_runner_failure_names_rollback(tmp_path):
    helm_bin = tmp_path / "helm"
    helm_bin.write_text("")
    helm_bin.chmod(0o755)
    runner = H.HelmRunner(str(helm_bin), run_command=lambda cmd, env=None: (1, "", "Error: UPGRADE FAILED: timed out"))
    with pytest.raises(AistackError) as info:
        runner.upgrade("r", "n", {"path": "/c"}, {}, atomic=True)
    assert "rolled back" in str(info.value) and "timed out" in str(info.value)


def test_binary_lookup(tmp_path, monkeypatch):
    with pytest.raises(AistackError) as info:
        H.find_binary(str(tmp_path / "nope"))
    assert info.value.field == "binary_path"
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AistackError):
        H.find_binary()
    (tmp_path / "helm").write_text("")
    (tmp_path / "helm").chmod(0o755)
    assert H.find_binary() == str(tmp_path / "helm")
