"""module_utils/site_check.py: validation, the pure judges, the sample flow, and the checker against fake apps."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.site_check import checks as sc
from ansible_collections.aistack.platform.plugins.module_utils.filters import verify
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

LANGFLOW = {"kind": "langflow", "name": "team-a-langflow-dev", "namespace": "team-a-dev", "tenant": "team-a/dev",
            "label": "langflow-ide", "login_secret": {"name": "team-a-langflow-dev-env", "key": "LANGFLOW_SUPERUSER_PASSWORD"},
            "llm": {"base_url": "http://llm/v1", "model": "m", "namespace": "ns", "api_key_secret": {"name": "llm", "key": "k"}},
            "expect_echo": True}


def params(*apps, **kw):
    return dict(dict(apps=list(apps), smoke=True, run_id="aistack-verify-test1", connect_address="127.0.0.1",
                     http_port=None, https_port=None, timeout=5.0, validate_certs=True, ca_path=None), **kw)


@pytest.mark.parametrize("change, field", [
    ({"kind": "grafana"}, "apps[0].kind"),
    ({"namespace": "Team_A"}, "apps[0].namespace"),
    ({"login_secret": None}, "apps[0].login_secret"),
    ({"login_secret": {"name": "x"}}, "apps[0].login_secret"),
    ({"plane": "both"}, "apps[0].plane"),
])
def test_bad_apps_name_the_field(change, field):
    with pytest.raises(AistackError) as err:
        sc.validate(params(dict(LANGFLOW, **change)))
    assert err.value.field == field and err.value.fix


@pytest.mark.parametrize("change, field", [
    ({"run_id": "my-run"}, "run_id"), ({"run_id": "aistack-verify_X"}, "run_id"), ({"timeout": 0}, "timeout"),
    ({"http_port": 70000}, "http_port"), ({"connect_address": "a b"}, "connect_address"), ({"apps": []}, "apps"),
])
def test_bad_parameters_name_the_field(change, field):
    with pytest.raises(AistackError) as err:
        sc.validate(dict(params(LANGFLOW), **change))
    assert err.value.field == field


def test_validate_drops_unset_keys_and_fills_defaults():
    out = sc.validate(params(dict(LANGFLOW, wait=None, plane=None), run_id=None))
    app = out["apps"][0]
    assert app["plane"] == "ide" and app["username"] == "admin" and "wait" not in app
    assert out["run_id"].startswith("aistack-verify-")


def test_urls_as_users_type_them():
    ingress = {"spec": {"rules": [{"host": "langflow-a.example.com"}], "tls": [{"hosts": ["langflow-a.example.com"]}]}}
    assert sc.ingress_target(ingress, "x") == ("langflow-a.example.com", True)
    assert sc.ingress_target({"spec": {"rules": [{}]}}, "x") is None
    assert sc.base_url("h", True) == "https://h"
    assert sc.base_url("h", False, http_port=18080) == "http://h:18080"
    assert sc.base_url("h", True, https_port=443) == "https://h"


def test_lightrag_storages_must_be_on_postgresql():
    health = {"status": "healthy", "configuration": {"kv_storage": "PGKVStorage", "vector_storage": "PGVectorStorage",
                                                     "doc_status_storage": "JsonDocStatusStorage"}}
    assert sc.lightrag_storage_problem(health) == "storages not on PostgreSQL: doc_status_storage=JsonDocStatusStorage"
    health["configuration"]["doc_status_storage"] = "PGDocStatusStorage"
    assert sc.lightrag_storage_problem(health) is None
    assert sc.lightrag_storage_problem({"status": "unhealthy"}) == "status is not healthy"


def test_prometheus_and_loki_judges():
    up = {"labels": {"job": "kubernetes-pods", "app": "phoenix"}, "health": "up"}
    down = {"labels": {"job": "kubernetes-pods", "pod": "worker-1"}, "health": "down", "lastError": "connection refused"}
    assert sc.prometheus_targets_problem({"status": "success", "data": {"activeTargets": [up]}}) is None
    problem = sc.prometheus_targets_problem({"status": "success", "data": {"activeTargets": [up, down]}})
    assert "worker-1" in problem and "connection refused" in problem
    assert sc.prometheus_targets_problem({"status": "success", "data": {"activeTargets": []}}) == "no active targets"
    assert sc.loki_missing_apps({"status": "success", "data": ["langflow", "phoenix"]}, ["phoenix", "lightrag"]) == ["lightrag"]
    assert sc.spans_with({"data": [{"attributes": {"input.value": "aistack-verify-1 hello"}}, {}]}, "aistack-verify-1") == \
        [{"attributes": {"input.value": "aistack-verify-1 hello"}}]


def test_pod_summary_names_pods_and_events():
    pods = [{"metadata": {"name": "p1"}, "status": {"phase": "Pending", "containerStatuses": [
        {"ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}]
    text = sc.pod_summary(pods, [{"reason": "BackOff", "message": "Back-off restarting failed container"}])
    assert text.startswith("pod p1 Pending 0/1 ready, 3 restarts, CrashLoopBackOff")
    assert "event BackOff" in text
    assert sc.pod_summary([], []) == "no pods"


def registry():
    def component(outputs, fields):
        template = {"code": {"value": "class C: pass"}}
        template.update({f: {"type": "str", "value": "", "input_types": ["Message"]} for f in fields})
        return {"template": template, "outputs": [{"name": o, "types": ["Message"]} for o in outputs]}
    return {"input_output": {"ChatInput": component(["message"], ["input_value"]),
                             "ChatOutput": component(["message"], ["input_value"])},
            "openai": {"ext:openai:OpenAIModelComponent@official":
                       component(["text_output", "model_output"], ["input_value", "openai_api_base", "api_key",
                                                                   "model_name", "stream"])}}


def test_sample_flow_is_built_from_the_served_components():
    flow = sc.sample_flow(registry(), "aistack-verify-test1-ide", "http://llm/v1", "sk-x", "m", "aistack-verify-test1-ide")
    nodes = {n["id"]: n for n in flow["data"]["nodes"]}
    model = [n for n in nodes.values() if n["data"]["type"].startswith("ext:openai")][0]
    template = model["data"]["node"]["template"]
    assert template["openai_api_base"]["value"] == "http://llm/v1" and template["model_name"]["value"] == "m"
    assert template["api_key"]["value"] == "sk-x" and template["api_key"]["load_from_db"] is False
    edges = flow["data"]["edges"]
    assert [(nodes[e["source"]]["data"]["type"][:8], e["data"]["sourceHandle"]["name"], e["data"]["targetHandle"]["fieldName"])
            for e in edges] == [("ChatInpu", "message", "input_value"), ("ext:open", "text_output", "input_value")]
    assert "\u0153" in edges[0]["sourceHandle"] and flow["endpoint_name"] == "aistack-verify-test1-ide"


def test_sample_flow_refuses_a_langflow_without_the_components():
    comps = registry()
    del comps["openai"]
    with pytest.raises(AistackError, match="OpenAIModel"):
        sc.sample_flow(comps, "n", "u", "k", "m", "marker")


def test_run_answer_reads_the_chat_text():
    answer = {"outputs": [{"outputs": [{"results": {"message": {"text": "hi there"}}}]}]}
    assert sc.run_answer(answer) == "hi there"
    assert sc.run_answer({"outputs": []}) is None


def test_resp_round_trip():
    assert sc.resp_command("SET", "k", "v") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    value, rest = sc.resp_parse(b"+OK\r\n$5\r\nhello\r\n")
    assert value == "OK" and sc.resp_parse(rest) == ("hello", b"")
    assert sc.resp_parse(b"$-1\r\n") == (None, b"")
    assert isinstance(sc.resp_parse(b"-WRONGPASS invalid\r\n")[0], AistackError)
    with pytest.raises(ValueError):
        sc.resp_parse(b"$5\r\nhel")


def test_plan_lists_every_check_as_skipped():
    planned = sc.plan(sc.validate(params(LANGFLOW, {"kind": "phoenix", "name": "phoenix", "namespace": "observability"})))
    assert [r["check"] for r in planned] == ["langflow-ide reachable", "langflow-ide login and flows", "langflow-ide flow run",
                                             "phoenix reachable", "phoenix traces"]
    assert {r["status"] for r in planned} == {"skipped"}


# ---------------------------------------------------------------- the checker against a fake Langflow

class FakeLangflow(BaseHTTPRequestHandler):
    state = {}

    def log_message(self, *args):
        pass

    def _send(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):  # noqa: N802
        self.state.setdefault("hosts", set()).add(self.headers["Host"])
        if self.path == "/health":
            return self._send(200, {"status": "ok"})
        if self.path.startswith("/api/v1/flows/"):
            return self._send(200, [])
        if self.path == "/api/v1/all":
            return self._send(200, registry())
        return self._send(404, {})

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == "/api/v1/login":
            ok = b"password=s3cret" in body
            return self._send(200 if ok else 401, {"access_token": "jwt"} if ok else {"detail": "bad"})
        if self.path == "/api/v1/api_key/":
            return self._send(201, {"id": "k1", "api_key": "sk-made"})
        if self.path == "/api/v1/flows/":
            self.state["flow"] = json.loads(body)
            return self._send(201, {"id": "f1"})
        if self.path.startswith("/api/v1/run/"):
            self.state["run_key"] = self.headers.get("x-api-key")
            if self.state.get("run_fails"):
                return self._send(500, {"detail": "model unreachable"})
            question = json.loads(body)["input_value"]
            return self._send(200, {"outputs": [{"outputs": [{"results": {"message": {"text": "You said: " + question}}}]}]})
        return self._send(404, {})

    def do_DELETE(self):  # noqa: N802
        self.state.setdefault("deleted", []).append(self.path)
        return self._send(204, {})


class FakeClient(object):
    def __init__(self, port):
        self.port = port

    def get(self, api_version, kind, name, namespace=None):
        if kind == "Ingress":
            return {"spec": {"rules": [{"host": "langflow-team-a.dev.example"}]}}
        if kind == "Secret":
            values = {"team-a-langflow-dev-env": {"LANGFLOW_SUPERUSER_PASSWORD": "s3cret"}, "llm": {"k": "sk-llm"}}
            return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in values.get(name, {}).items()}}
        return None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        if kind == "Pod":
            return [{"metadata": {"name": "team-a-langflow-dev-0"}, "status": {"phase": "Running", "containerStatuses": [{"ready": True}]}}]
        return []


@pytest.fixture()
def fake_langflow():
    FakeLangflow.state = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLangflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], FakeLangflow.state
    server.shutdown()


def checker(port, **kw):
    p = sc.validate(params(LANGFLOW, http_port=port, **kw))
    return sc.SiteChecker(p, FakeClient(port))


def test_langflow_checks_pass_and_clean_up(fake_langflow):
    port, state = fake_langflow
    c = checker(port)
    results = c.run(smoke=True)
    assert [(r["check"], r["status"]) for r in results] == [
        ("langflow-ide reachable", "passed"), ("langflow-ide login and flows", "passed"), ("langflow-ide flow run", "passed")]
    assert state["hosts"] == {"langflow-team-a.dev.example:%d" % port}  # the Host header, on the connect address
    assert state["run_key"] == "sk-made" and state["flow"]["name"] == "aistack-verify-test1-ide"
    assert sorted(state["deleted"]) == ["/api/v1/api_key/k1", "/api/v1/flows/f1"]
    assert all(r["removed"] for r in c.removed)
    verify.normalise(results)  # the shape the reports read


def test_a_failed_run_is_reported_and_still_cleaned_up(fake_langflow):
    port, state = fake_langflow
    state["run_fails"] = True
    results = checker(port).run(smoke=True)
    run = results[-1]
    assert run["status"] == "failed" and "HTTP 500" in run["got"] and "team-a-langflow-dev-0 Running" in run["where"]
    assert "http://llm/v1" in run["where"]
    assert sorted(state["deleted"]) == ["/api/v1/api_key/k1", "/api/v1/flows/f1"]


def test_read_only_mode_writes_nothing(fake_langflow):
    port, state = fake_langflow
    results = checker(port).run(smoke=False)
    assert results[-1]["status"] == "skipped" and "read-only" in results[-1]["got"]
    assert "flow" not in state and "deleted" not in state


def test_a_wrong_password_fails_login_and_skips_the_run(fake_langflow):
    port = fake_langflow[0]
    c = checker(port)
    c._secrets[("team-a-dev", "team-a-langflow-dev-env", "LANGFLOW_SUPERUSER_PASSWORD")] = "wrong"
    results = c.run(smoke=True)
    assert [r["status"] for r in results] == ["passed", "failed", "skipped"]
    assert "HTTP 401" in results[1]["got"] and "wrong" not in json.dumps(results)


def test_nothing_answering_names_the_url_and_the_pods():
    c = checker(1)  # nothing listens on port 1
    results = c.run(smoke=True)
    assert results[0]["status"] == "failed" and results[0]["got"].startswith("no answer")
    assert "http://langflow-team-a.dev.example:1/health" in results[0]["expected"]
    assert [r["status"] for r in results[1:]] == ["skipped", "skipped"]


def test_site_apps_follow_the_naming_rule():
    apps = verify.site_apps({
        "langflow": {"enabled": True, "tenants": [{"team": "team-a", "environments": ["dev", "prd"]},
                                                  {"team": "b", "environments": ["dev"], "runtime": False}],
                     "vaulted_releases": ["team-a-langflow-dev"],
                     "llm": {"base_url": "http://llm/v1", "api_key_secret": "llm-api", "namespace": "sys"}},
        "lightrag": {"enabled": True, "api_key_secret": "lightrag-api"},
        "worker": {"enabled": True},
        "databases": {"enabled": True, "services": ["postgresql", "redis", "qdrant"]},
        "observability": {"enabled": True, "loki": False}})
    names = [(a["kind"], a["name"], a["namespace"]) for a in apps]
    assert names[:5] == [("langflow", "team-a-langflow-dev", "team-a-dev"), ("langflow", "team-a-langflow-runtime-dev", "team-a-dev"),
                         ("langflow", "team-a-langflow-prd", "team-a-prd"), ("langflow", "team-a-langflow-runtime-prd", "team-a-prd"),
                         ("langflow", "b-langflow-dev", "b-dev")]
    assert ("lightrag", "platform-lightrag-dev", "aistack-system") in names
    assert [name for kind, name, ns in names if kind == "database"] == ["postgresql", "redis"]
    assert [entry[0] for entry in names][-2:] == ["phoenix", "prometheus"]
    assert apps[0]["login_secret"] == {"name": "team-a-langflow-dev-env", "key": "LANGFLOW_SUPERUSER_PASSWORD"}
    assert apps[1]["login_secret"] == {"name": "team-a-langflow-runtime-dev-generated", "key": "superuser-password"}
    assert apps[0]["llm"]["api_key_secret"] == {"name": "llm-api", "key": "api-key"}
    sc.validate(params(*apps))  # what the plan makes, the module accepts


def test_site_apps_refuse_a_tenant_without_environments():
    with pytest.raises(AistackError) as err:
        verify.site_apps({"langflow": {"enabled": True, "tenants": [{"team": "a"}]}})
    assert err.value.field == "langflow_tenants[0]"


def test_echo_flow_is_an_export_with_id_and_endpoint():
    flow = sc.echo_flow(registry(), "aistack-echo", "0b6d0c55-3d5e-4a47-9c53-6b7c1b8a1e01")
    assert flow["id"] == "0b6d0c55-3d5e-4a47-9c53-6b7c1b8a1e01" and flow["endpoint_name"] == "aistack-echo"
    assert [n["data"]["type"] for n in flow["data"]["nodes"]] == ["ChatInput", "ChatOutput"]
    assert flow["data"]["edges"][0]["data"]["targetHandle"]["fieldName"] == "input_value"
    with pytest.raises(AistackError):
        sc.echo_flow({}, "x")


class FakePhoenix(BaseHTTPRequestHandler):
    """A project that a late span batch creates again once after its first deletion."""
    state = {}

    def log_message(self, *args):
        pass

    def _send(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self):  # noqa: N802
        if not self.state["exists"] and self.state["late_batches"]:
            self.state["late_batches"] -= 1
            self.state["exists"] = True
        return self._send(200 if self.state["exists"] else 404)

    def do_DELETE(self):  # noqa: N802
        self.state["deletes"] += 1
        self.state["exists"] = False
        return self._send(204)


@pytest.mark.parametrize("late_batches", [0, 1])
def test_a_phoenix_project_stays_deleted_when_late_spans_recreate_it(fake_langflow, late_batches):
    FakePhoenix.state = {"exists": True, "late_batches": late_batches, "deletes": 0}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePhoenix)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = checker(fake_langflow[0])
        url = "http://127.0.0.1:%d/v1/projects/aistack-verify-x" % server.server_address[1]
        assert c._delete_project(url, seconds=0.5, interval=0.05) is True  # pylint: disable=protected-access
        assert FakePhoenix.state["deletes"] == 1 + late_batches
        assert FakePhoenix.state["exists"] is False
    finally:
        server.shutdown()
