"""The services role: a further HTTP service of the site through helm_tenant and the generic chart, here the
local site's LLM stand-in (tests/images/llm-standin). check -> apply -> check -> apply, the service answers
its OpenAI-compatible API through its Service, bad entries fail before anything exists, absent removes it."""

import json
import urllib.request
import uuid

import pytest

from conftest import ROOT, converge_sequence
from test_langgraph_worker import ensure_image

IMAGE = "aistack.local/llm-standin:1.0.0"


@pytest.fixture(scope="module")
def standin_image(kubeconfig):
    ensure_image(IMAGE, ROOT / "tests/images/llm-standin")
    return IMAGE


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "services.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.services\n")
    return path


def _entry(ns, **over):
    entry = {"service": "llm-standin", "namespace": ns, "port": 8000,
             "image": {"repository": IMAGE.partition(":")[0], "tag": IMAGE.partition(":")[2], "pull_policy": "Never"},
             "env": {"STANDIN_EMBEDDING_DIM": "64"},
             "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
             "probes": {"path": "/health", "liveness_initial_delay": 2, "readiness_initial_delay": 1}}
    entry.update(over)
    return entry


def test_service_converges_and_answers(run_playbook, kubectl, namespace, playbook, standin_image):
    extra = {"services_list": [_entry(namespace)], "services_timeout": 180}
    try:
        changed = converge_sequence(run_playbook, playbook, extra)
        assert changed[0] > 0 and changed[1] > 0 and changed[2:] == [0, 0], changed
        name = "platform-llm-standin-dev"
        svc = json.loads(kubectl("get", "service", name, "-n", namespace, "-o", "json").stdout)
        url = "http://%s:%d/v1/embeddings" % (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"])
        req = urllib.request.Request(url, data=json.dumps({"input": "x"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert len(json.loads(resp.read())["data"][0]["embedding"]) == 64
        assert kubectl("get", "pvc", "-n", namespace, "-o", "name").stdout.strip() == ""
        gone = run_playbook(playbook, extra_vars=dict(extra, services_state="absent"))
        assert gone.returncode == 0, gone.stdout[-3000:]
        assert kubectl("get", "deployment", name, "-n", namespace, check=False).returncode != 0
    finally:
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False)


@pytest.mark.parametrize("entry, needle", [
    ({"service": "x"}, "services_list[0]"),
    ({"image": {"repository": "r", "tag": "1"}}, "services_list[0]"),
    ({"service": "x", "image": {"repository": "r", "tag": "latest"}}, "image"),
])
def test_bad_entries_fail_before_anything(run_playbook, kubectl, playbook, entry, needle):
    ns = "t-" + uuid.uuid4().hex[:10]
    proc = run_playbook(playbook, extra_vars={"services_list": [dict(entry, namespace=ns)]})
    assert proc.returncode != 0 and needle in proc.stdout, proc.stdout[-2000:]
    assert kubectl("get", "namespace", ns, check=False).returncode != 0
