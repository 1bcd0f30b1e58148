"""The one Kubernetes client: kubeconfig resolution (kube.auth), the HTTPS transport's paths, and real
HTTP round trips through KubeClient against a local stub API server."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.kube import _rest as K
from ansible_collections.aistack.platform.plugins.module_utils.kube import auth as A
from ansible_collections.aistack.platform.plugins.module_utils.kube import client as C
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

KCFG = """
apiVersion: v1
kind: Config
current-context: main
clusters:
  - name: c1
    cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
  - name: c2
    cluster: {server: "https://10.0.0.2:6443", insecure-skip-tls-verify: true}
users:
  - name: cert
    user: {client-certificate: /abs/c.crt, client-key: k.key}
  - name: tok
    user: {token: abc}
  - name: ex
    user: {exec: {command: aws}}
contexts:
  - name: main
    context: {cluster: c1, user: cert}
  - name: token
    context: {cluster: c2, user: tok}
  - name: execctx
    context: {cluster: c2, user: ex}
"""


def parse_kubeconfig(text, base_dir, context=None, environ=None):
    """resolve() on one kubeconfig file held in memory at <base_dir>/config."""
    import yaml
    path = base_dir + "/config"
    access = A.resolve({"kubeconfig": path, "context": context}, environ=environ or {},
                       read_yaml=lambda p: yaml.safe_load(text), exists=lambda p: p == path)
    return access["server"], access, A.auth_headers(access)


def test_parse_cert_context_resolves_relative_paths():
    server, tls, headers = parse_kubeconfig(KCFG, "/home/k")
    assert server == "https://10.0.0.1:6443"
    assert tls["ca_file"] == "/home/k/ca.crt" and tls["key_file"] == "/home/k/k.key" and tls["cert_file"] == "/abs/c.crt"
    assert headers == {}


def test_parse_token_context():
    server, tls, headers = parse_kubeconfig(KCFG, "/x", context="token")
    assert tls["insecure"] and headers == {"Authorization": "Bearer abc"}


def test_exec_plugins_fall_back():
    access = parse_kubeconfig(KCFG, "/x", context="execctx")[1]
    assert access["library_only"] == "user.exec"
    assert not K.serves(access, "v1", "Secret")
    assert K.serves(parse_kubeconfig(KCFG, "/x", context="token")[1], "v1", "Secret")


def test_unknown_context():
    with pytest.raises(AistackError) as info:
        parse_kubeconfig(KCFG, "/x", context="nope")
    assert info.value.field == "context"


def test_object_paths():
    assert K.object_path("v1", "Secret", "s", "ns") == "/api/v1/namespaces/ns/secrets/s"
    assert K.object_path("v1", "Secret", None, "ns") == "/api/v1/namespaces/ns/secrets"
    assert K.object_path("v1", "Namespace", "n") == "/api/v1/namespaces/n"
    with pytest.raises(AistackError):
        K.object_path("batch/v1", "Job", "d", "ns")
    assert not K.serves({}, "batch/v1", "Job")
    # the objects of a release the drift check reads, and the Lease of a changing run
    assert K.object_path("apps/v1", "Deployment", "d", "ns") == "/apis/apps/v1/namespaces/ns/deployments/d"
    assert K.object_path("coordination.k8s.io/v1", "Lease", "l", "ns") == \
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"
    assert K.serves({}, "networking.k8s.io/v1", "Ingress")


def test_missing_kubeconfig(tmp_path):
    with pytest.raises(AistackError) as info:
        C.open_client({"kubeconfig": str(tmp_path / "none")}, environ={})
    assert info.value.field == "kubeconfig"


class Stub(BaseHTTPRequestHandler):
    store = {}
    log = []

    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _path(self):
        return self.path.split("?")[0]

    def do_GET(self):
        Stub.log.append(("GET", self.path, self.headers.get("Authorization")))
        path = self._path()
        if path.endswith("/boom"):
            return self._reply(403, {"message": "secrets \"boom\" is forbidden"})
        if path in Stub.store:
            return self._reply(200, Stub.store[path])
        items = [v for k, v in Stub.store.items() if k.startswith(path + "/")]
        if path.endswith("/secrets"):
            return self._reply(200, {"items": items})
        return self._reply(404, {"message": "not found"})

    def do_PATCH(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        Stub.log.append(("PATCH", self.path, self.headers.get("Content-Type")))
        body["metadata"]["resourceVersion"] = "7"
        Stub.store[self._path()] = body
        self._reply(200, body)

    def do_DELETE(self):
        Stub.log.append(("DELETE", self.path, None))
        if Stub.store.pop(self._path(), None) is None:
            return self._reply(404, {"message": "not found"})
        self._reply(200, {})


@pytest.fixture
def api(tmp_path):
    Stub.store, Stub.log = {}, []
    server = HTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(json.dumps({
        "current-context": "x", "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:%d" % server.server_port}}],
        "users": [{"name": "u", "user": {"token": "t0k"}}], "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    yield C.open_client({"kubeconfig": str(cfg)}, environ={})
    server.shutdown()


def test_round_trip(api):
    assert api._fast("v1", "Secret") is not None  # core kinds never import the kubernetes package
    assert api.get("v1", "Secret", "s", "ns") is None
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns", "labels": {"a": "b"}},
              "data": {"k": base64.b64encode(b"v").decode()}}
    stored = api.apply(secret)
    assert stored["metadata"]["resourceVersion"] == "7"
    assert Stub.log[-1] == ("PATCH", "/api/v1/namespaces/ns/secrets/s?fieldManager=aistack.platform&force=true",
                            "application/apply-patch+yaml")
    assert api.get("v1", "Secret", "s", "ns")["data"]["k"] == "dg=="
    assert [i["metadata"]["name"] for i in api.list("v1", "Secret", "ns", label_selector="a=b")] == ["s"]
    assert "labelSelector=a%3Db" in Stub.log[-1][1] and Stub.log[-1][2] == "Bearer t0k"
    assert api.delete("v1", "Secret", "s", "ns") is True
    assert api.delete("v1", "Secret", "s", "ns") is False


def test_one_connection_serves_several_threads(api):
    """A rollout watcher polls while helm's thread holds the release's Lease: both use the one transport. Without
    its lock, http.client refuses the second request on the busy connection ("Request-sent")."""
    errors = []

    def reader():
        try:
            for _round in range(40):
                api.get("v1", "Secret", "s", "ns")
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(repr(exc))

    threads = [threading.Thread(target=reader) for _reader in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len([e for e in Stub.log if e[0] == "GET"]) == 160


def test_api_error_is_reported(api):
    with pytest.raises(AistackError) as info:
        api.get("v1", "Secret", "boom", "ns")
    assert "403" in str(info.value) and "forbidden" in str(info.value)


def test_get_many_reads_library_kinds_side_by_side(monkeypatch):
    """get_many: one result per ref in order, a failed read handed back as an AistackError; kinds the HTTPS
    transport serves are read one after another on its connection, the others in threads."""
    import threading
    client = C.KubeClient({"transport": "auto", "server": "https://127.0.0.1:1"})
    seen = []

    def fake_get(api_version, kind, name, namespace=None):
        seen.append((kind, threading.current_thread().name))
        if name == "boom":
            raise AistackError("forbidden")
        return None if name == "gone" else {"kind": kind, "metadata": {"name": name}}

    monkeypatch.setattr(client, "get", fake_get)
    monkeypatch.setattr(client, "resource", lambda api_version, kind: None)
    refs = [("apps/v1", "Deployment", "d", "ns"), ("batch/v1", "Job", "j", "ns"), ("batch/v1", "CronJob", "gone", "ns"),
            ("example.io/v1", "Thing", "boom", "ns"), ("v1", "Service", "s", "ns")]
    out = client.get_many(refs)
    assert out[0]["metadata"]["name"] == "d" and out[1]["kind"] == "Job" and out[2] is None
    assert isinstance(out[3], AistackError) and out[4]["kind"] == "Service"
    threads = dict(seen)
    assert threads["Deployment"] == threads["Service"] == threading.current_thread().name  # the HTTPS transport
    assert threads["Job"] != threading.current_thread().name  # the library's kinds, in threads
