"""What helm_tenant's no-op check keeps between the items of a loop (one worker process): each is keyed so that a
change is never hidden (a file's new version, a record's new resourceVersion, other credentials)."""

import os

from ansible_collections.aistack.platform.plugins.module_utils.helm import records as R
from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.kube import _rest
from ansible_collections.aistack.platform.plugins.module_utils.kube import auth
from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as C
from ansible_collections.aistack.platform.plugins.module_utils.tenant import drift as D


def _chart(tmp_path, replicas=1):
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("name: c\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: %d\nnested: {a: [1, 2]}\n" % replicas)
    (chart / "templates" / "d.yaml").write_text("kind: x\n")
    return chart


def _touch_later(path, text):
    before = os.stat(path).st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10 ** 9, before + 10 ** 9))  # a new version even within the clock's resolution


def test_chart_values_parsed_once_and_copied(tmp_path, monkeypatch):
    chart = _chart(tmp_path)
    first = C.local_chart_values(str(chart))
    first["nested"]["a"].append(3)  # the caller's copy
    calls = []
    monkeypatch.setattr(C, "_yaml_mapping", lambda text, path: calls.append(path) or {})
    assert C.local_chart_values(str(chart)) == {"replicas": 1, "nested": {"a": [1, 2]}} and calls == []
    _touch_later(chart / "values.yaml", "replicas: 2\n")
    C.local_chart_values(str(chart))
    assert calls == [str(chart)]


def test_chart_digest_follows_every_file(tmp_path):
    chart = _chart(tmp_path)
    digest = C.local_chart_digest(str(chart))
    assert C.local_chart_digest(str(chart)) == digest
    _touch_later(chart / "templates" / "d.yaml", "kind: y\n")
    changed = C.local_chart_digest(str(chart))
    assert changed != digest
    (chart / "templates" / "e.yaml").write_text("")
    assert C.local_chart_digest(str(chart)) not in (digest, changed)


def test_kubeconfig_parsed_once_per_version(tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text("clusters: [{name: a, cluster: {server: 'https://a:6443', certificate-authority: ca.crt}}]\n")
    first = auth._read_yaml(str(path))
    first["clusters"][0]["cluster"]["certificate-authority"] = "/abs/ca.crt"  # resolve() rewrites its copy
    assert auth._read_yaml(str(path))["clusters"][0]["cluster"]["certificate-authority"] == "ca.crt"
    _touch_later(path, "clusters: []\n")
    assert auth._read_yaml(str(path)) == {"clusters": []}


def _record(rev, status, manifest, resource_version, uid="u-1"):
    release = {"name": "rel", "namespace": "ns", "version": rev, "info": {"status": status},
               "chart": {"metadata": {"name": "c", "version": "0.1.0"}}, "config": {"a": rev}, "manifest": manifest}
    return {"metadata": {"name": "sh.helm.release.v1.rel.v%d" % rev, "uid": uid, "resourceVersion": resource_version,
                         "labels": {"owner": "helm", "name": "rel", "version": str(rev), "status": status}},
            "data": {"release": H.encode_release(release)}}


def _never(what):
    def call(*args):
        raise AssertionError(what)
    return call


MANIFEST = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ClusterIP}\n"


def test_record_decoded_and_parsed_once_per_resource_version(monkeypatch):
    item = _record(1, "deployed", MANIFEST, "100", uid="u-cache")
    assert R.History([item]).manifest_objects(D.parse_manifest)[0]["kind"] == "Service"
    monkeypatch.setattr(R, "decode_release", _never("decoded again"))
    again = R.History([item])
    assert again.release["status"] == "deployed" and again.release["values"] == {"a": 1}
    assert again.manifest_objects(_never("parsed again"))[0]["kind"] == "Service"
    # the record written again (a status change, a rollback): a new resourceVersion, read anew
    monkeypatch.undo()
    moved = _record(1, "failed", MANIFEST.replace("ClusterIP", "NodePort"), "101", uid="u-cache")
    hist = R.History([moved])
    assert hist.release["status"] == "failed"
    assert hist.manifest_objects(D.parse_manifest)[0]["spec"]["type"] == "NodePort"


def test_a_record_without_uid_is_not_cached():
    item = _record(1, "deployed", MANIFEST, "")
    calls = []
    hist = R.History([item])
    hist.manifest_objects(lambda text: calls.append(text) or [])
    hist.manifest_objects(lambda text: calls.append(text) or [])
    assert len(calls) == 2


def test_one_connection_per_access_and_process(monkeypatch):
    made = []

    class Transport(object):
        def __init__(self, access, context=None):
            made.append(access["server"])

        def close(self):
            made.append("closed")

    monkeypatch.setattr(_rest, "RestTransport", Transport)
    monkeypatch.setattr(_rest, "_SHARED", {})
    access = {"server": "https://a:6443", "token": "t1"}
    one = _rest.shared_transport(access)
    assert _rest.shared_transport(dict(access)) is one
    assert _rest.shared_transport(dict(access, token="t2")) is not one  # other credentials, other connection
    monkeypatch.setattr(os, "getpid", lambda: -1)
    assert _rest.shared_transport(dict(access)) is not one  # a forked child opens its own
    assert "t1" not in "".join(_rest._SHARED)  # keys are digests
    for index in range(_rest._SHARED_MAX):
        _rest.shared_transport(dict(access, server="https://b%d:6443" % index))
    assert "closed" in made and len(_rest._SHARED) == _rest._SHARED_MAX


def test_a_connection_left_unusable_is_replaced():
    """The shared connection outlives one item: a response broken mid-way (an HTTPException, not an OSError) must
    not leave every later item failing on it."""
    from http.client import IncompleteRead, ResponseNotReady

    class Response(object):
        status = 200

        def __init__(self, body):
            self.body = body

        def read(self):
            if isinstance(self.body, Exception):
                raise self.body
            return self.body

    class Conn(object):
        def __init__(self, outcome):
            self.outcome, self.closed = outcome, False

        def request(self, *args, **kwargs):
            if isinstance(self.outcome, ResponseNotReady):
                raise self.outcome

        def getresponse(self):
            return Response(self.outcome)

        def close(self):
            self.closed = True

    transport = _rest.RestTransport({"server": "http://127.0.0.1:1"})
    conns = [Conn(IncompleteRead(b"")), Conn(b'{"kind": "Secret"}')]
    made = []

    def connection():
        if transport._conn is None:
            transport._conn = conns.pop(0)
            made.append(transport._conn)
        return transport._conn
    transport._connection = connection
    assert transport.get("v1", "Secret", "s", "ns") == {"kind": "Secret"}
    assert made[0].closed and len(made) == 2
    transport._conn = Conn(ResponseNotReady("idle"))
    conns.append(Conn(b'{"kind": "Service"}'))
    assert transport.get("v1", "Service", "s", "ns") == {"kind": "Service"}


def _ca_pem():
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, u"test-ca")])
    now = datetime.datetime(2026, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_named_ca_is_the_only_one_trusted(tmp_path, monkeypatch):
    """As kubectl: the kubeconfig's CA alone; the system's CAs (tens of milliseconds to load per context) only when
    it names none."""
    import ssl
    ca = tmp_path / "ca.crt"
    ca.write_bytes(_ca_pem())
    ctx = _rest.ssl_context({"ca_file": str(ca)})
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 1
    assert _rest.ssl_context({"insecure": True}).verify_mode == ssl.CERT_NONE
    defaults = []
    monkeypatch.setattr(ssl, "create_default_context", lambda: defaults.append(1) or ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    _rest.ssl_context({"ca_file": str(ca)})
    _rest.ssl_context({})
    assert defaults == [1]


def test_a_second_connection_shares_the_first_ones_tls_context(monkeypatch):
    monkeypatch.setattr(_rest, "_SHARED", {})
    built = []
    monkeypatch.setattr(_rest, "ssl_context", lambda tls: built.append(1) or object())
    access = {"server": "https://a:6443", "token": "t"}
    first, second = _rest.shared_transport(access), _rest.shared_transport(access, connection=1)
    assert first is not second and second._ctx is first._ctx and built == [1]


class _Reads(object):
    """A kube whose get_many records the connection and thread of each read."""

    def __init__(self, live):
        import threading
        self.live, self.reads, self._lock = live, [], threading.Lock()

    def get_many(self, refs, connection=0):
        import threading
        with self._lock:
            self.reads.extend((ref[1], connection, threading.current_thread().name) for ref in refs)
        return [self.live.get((ref[1], ref[2])) for ref in refs]


MANIFEST4 = "".join("---\napiVersion: %s\nkind: %s\nmetadata: {name: rel}\n%s" % (api, kind, extra) for api, kind, extra in (
    ("v1", "ServiceAccount", ""), ("v1", "Service", "spec: {type: ClusterIP}\n"),
    ("networking.k8s.io/v1", "NetworkPolicy", "spec: {podSelector: {}}\n"),
    ("apps/v1", "Deployment", "spec: {replicas: 1}\n")))


def test_drift_read_beside_the_runs_own_requests(monkeypatch):
    """prefetch_drift() reads the objects in threads on the process's second and third connections; drift() finds
    the same drift from them as a read of its own would, and reads nothing twice."""
    import threading
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.guard import ReleaseGuard
    live = {}
    for obj in D.parse_manifest(MANIFEST4):
        live[(obj["kind"], "rel")] = dict(obj, metadata={"name": "rel", "namespace": "ns"})
    live[("Deployment", "rel")] = dict(live[("Deployment", "rel")], spec={"replicas": 3})
    kube = _Reads(live)
    guard = ReleaseGuard(kube, "rel", "ns", check_mode=True)
    guard.history = R.History([_record(1, "deployed", MANIFEST4, "7", uid="u-prefetch")])
    guard.prefetch_drift()
    changes = guard.drift()
    assert changes == ["drift: Deployment ns/rel spec.replicas"]
    assert sorted(kind for kind, _c, _t in kube.reads) == ["Deployment", "NetworkPolicy", "Service", "ServiceAccount"]
    assert set(c for _k, c, _t in kube.reads) == {1, 2}
    assert threading.current_thread().name not in set(t for _k, _c, t in kube.reads)
    # without a prefetch: the same answer, read here on the first connection
    again = _Reads(live)
    plain = ReleaseGuard(again, "rel", "ns", check_mode=True)
    plain.history = R.History([_record(1, "deployed", MANIFEST4, "7", uid="u-prefetch")])
    assert plain.drift() == changes and set(c for _k, c, _t in again.reads) == {0}


def test_no_prefetch_for_a_release_that_is_not_deployed():
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.guard import ReleaseGuard
    kube = _Reads({})
    guard = ReleaseGuard(kube, "rel", "ns", check_mode=True)
    guard.history = R.History([_record(2, "failed", MANIFEST4, "9", uid="u-failed")])
    guard.prefetch_drift()
    assert guard.drift() == [] and kube.reads == []
