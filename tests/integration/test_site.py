"""playbooks/site.yml against the embedded local site: the whole platform converges, a second run changes
nothing, check mode with diff on the converged site reports no change, and the platform works through its
ingress as users reach it: over https with the certificates of the site CA (the tls role), http redirecting.

The local site runs the images built here (tests/images/local_images.py, as `make site` does first). One
converged site is shared by the tests of this module; they only read it.
"""

import base64
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.parse
import uuid

import pytest

import secret_markers
from conftest import ROOT, wait_until

sys.path.insert(0, str(ROOT / "tests" / "images"))
import local_images  # noqa: E402  # pylint: disable=wrong-import-position

INVENTORY = str(ROOT / "inventories" / "local")
VAULT_PASS = ROOT / "inventories" / "local" / "vault-password.txt"
VAULT = ["--vault-password-file", str(VAULT_PASS)]
VAULT_FILE = ROOT / "inventories" / "local" / "group_vars" / "all" / "vault.yml"
PORT = 18080
HTTPS_PORT = 18443
DOMAIN = "dev.aistack.localhost"
PLATFORM_NAMESPACES = ("aistack-system", "observability", "langgraph", "team-demo-dev")
RUNS = {}


class _LoopbackHTTPS(http.client.HTTPSConnection):
    """HTTPS to <host>:<port> connected on loopback, the host still in SNI and checked against the certificate
    (curl --resolve host:port:127.0.0.1)."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _via_ingress(host, path, data=None, headers=None, timeout=15, method=None, verify=True):
    """GET/POST https://<host>:<HTTPS_PORT><path> on loopback, verified against the site CA (the ConfigMap the tls
    role publishes, read by the `site` fixture), as a browser on this machine that trusts the site CA."""
    context = ssl.create_default_context(cafile=RUNS["ca file"])
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    headers = dict(headers or {})
    if data is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn = _LoopbackHTTPS(host, HTTPS_PORT, timeout=timeout, context=context)
    try:
        conn.request(method or ("POST" if data is not None else "GET"), path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except OSError as err:
        return None, str(err)
    finally:
        conn.close()


def _via_ingress_http(host, path, method="GET"):
    """(status, Location) of a plain http request on the web entrypoint (which redirects to https)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=15)
    try:
        conn.request(method, path, body=b"a=b" if method == "POST" else None,
                     headers={"Host": "%s:%d" % (host, PORT)})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Location")
    finally:
        conn.close()


def _secret_value(kubectl, namespace, name, key):
    """One key of a Secret of the converged site, decoded."""
    secret = json.loads(kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout)
    return base64.b64decode(secret["data"][key]).decode()


def _ok(response):
    """The (status, body) of a 200 answer, else None (for wait_until)."""
    return response if response[0] == 200 else None


@pytest.fixture(scope="module")
def site(run_playbook, kubeconfig, kubectl, tmp_path_factory):
    """The local site converged with every secret of its vault replaced by a unique random marker (issue 14;
    secret_markers.PERSISTED keeps the vault values Langflow's database holds on to), each run with -vvv and
    --diff, its output kept for the marker search. The other tests read the marker values from the cluster."""
    start = time.time()
    local_images.ensure()
    RUNS["images s"] = round(time.time() - start)
    extra = {"aistack_kubeconfig": kubeconfig}
    RUNS["vault"] = secret_markers.read_vault(VAULT_FILE, VAULT_PASS)
    RUNS["markers"] = secret_markers.marker_vars(RUNS["vault"], keep=secret_markers.PERSISTED)
    markers_file = secret_markers.write_vars_file(tmp_path_factory.mktemp("markers") / "markers.json", RUNS["markers"])
    for name, kwargs in (("first", {}), ("second", {}), ("check", {"check": True})):
        start = time.time()
        RUNS[name] = run_playbook(ROOT / "playbooks" / "site.yml", extra_vars=extra, inventory=INVENTORY,
                                  extra_args=VAULT + ["-e", markers_file, "-vvv"], diff=True, **kwargs)
        RUNS[name + " s"] = round(time.time() - start)
        assert RUNS[name].returncode == 0, RUNS[name].stdout[-5000:] + RUNS[name].stderr[-2000:]
    print("site.yml timings: %s" % {k: v for k, v in RUNS.items() if k.endswith(" s")})
    # The site CA's certificate as the tls role publishes it, for the https requests of these tests.
    ca = json.loads(kubectl("get", "configmap", "aistack-ca", "-n", "aistack-system", "-o", "json").stdout)
    RUNS["ca file"] = str(tmp_path_factory.mktemp("ca") / "ca.crt")
    with open(RUNS["ca file"], "w", encoding="utf-8") as handle:
        handle.write(ca["data"]["ca.crt"])
    return RUNS


def test_site_converges_then_is_idempotent(site):
    assert site["first"].recap.get("failed") == 0
    assert site["second"].recap.get("changed") == 0, site["second"].stdout[-5000:]


def test_site_check_mode_with_diff_reports_no_change(site):
    assert site["check"].recap.get("changed") == 0, site["check"].stdout[-5000:]


def test_no_secret_reaches_a_log_a_value_or_a_diff(site, run_playbook, kubeconfig, kubectl, collection_env,
                                                   namespace, tmp_path):
    """Issue 14: the site converged with a marker for every vault secret (the `site` fixture), then check mode
    with every secret changed to a new marker; neither marker set may appear in the output of any run (-vvv
    --diff), in `helm get values --all` of any release, in any ConfigMap or in any pod spec - plain, base64 or
    URL-encoded. A marker planted in a ConfigMap and in an output string proves the search finds one."""
    start = time.time()
    changed = secret_markers.marker_vars(site["vault"])  # every secret a new marker, the persisted ones too
    proc = run_playbook(ROOT / "playbooks" / "site.yml", extra_vars={"aistack_kubeconfig": kubeconfig},
                        inventory=INVENTORY, check=True, diff=True, extra_args=VAULT + [
                            "-e", secret_markers.write_vars_file(tmp_path / "changed.json", changed), "-vvv"])
    RUNS["check changed s"] = round(time.time() - start)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    # the new secrets are noticed (Secrets, the databases' .env, rollout triggers), without saying what they are
    assert proc.recap.get("changed", 0) > 0, proc.stdout[-5000:]
    markers = {}
    for run, values in (("apply", site["markers"]), ("changed", changed)):
        markers.update({"%s %s" % (run, label): value for label, value in secret_markers.leaves(values).items()})
    assert len(set(markers.values())) == len(markers)
    # the apply markers are where they belong: in the site's Secrets (else the search below proves nothing)
    in_secrets = secret_markers.secret_values(collection_env)
    missing = [label for label, value in secret_markers.leaves(site["markers"]).items()
               if value not in in_secrets and not label.startswith(secret_markers.UNUSED_LOCALLY)]
    assert not missing, "markers in no Secret of the site: %s" % missing
    # negative control: the same collection and search, with markers planted where they must be found
    plain, b64, url = ("apply vault_lightrag_api_key", "changed vault_databases_redis_password",
                       "changed vault_langflow_secret_keys.team-demo-langflow-dev")
    kubectl("create", "namespace", namespace)
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "planted-marker", "namespace": namespace},
        "data": {"note": "a value that leaked: %s." % markers[plain]},
        "binaryData": {"blob": base64.b64encode(("xy" + markers[b64]).encode()).decode()}}))
    haystacks = {"site.yml %s" % run: site[run].stdout + site[run].stderr for run in ("first", "second", "check")}
    haystacks["site.yml check with changed secrets"] = proc.stdout + proc.stderr
    haystacks["planted output"] = "DATABASE_URL=postgresql://u:%s@db/x" % urllib.parse.quote(markers[url], safe="")
    haystacks.update(secret_markers.cluster_haystacks(collection_env))
    hits = secret_markers.search(haystacks, markers)
    planted_cm = "configmap %s/planted-marker" % namespace
    planted = [hit for hit in hits if hit[0] in (planted_cm, "planted output")]
    assert {hit[:2] for hit in planted} == {(planted_cm, plain), (planted_cm, b64), ("planted output", url)}, planted
    leaks = [hit for hit in hits if hit not in planted]
    RUNS["secrets s"] = round(time.time() - start)
    print("secret markers: %d markers, %d places searched (%d chars), %d s; leaks: %s"
          % (len(markers), len(haystacks), sum(len(text) for text in haystacks.values()), RUNS["secrets s"],
             leaks or "none"))
    assert not leaks, "secret markers found outside Secrets (place, marker, form):\n" + "\n".join(map(str, leaks))


def test_every_platform_pod_is_running_and_ready(site, kubectl):
    for ns in PLATFORM_NAMESPACES:
        pods = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        assert pods, "no pods in %s" % ns
        for pod in pods:
            if pod["status"].get("phase") == "Succeeded":
                continue
            ready = [c.get("ready") for c in pod["status"].get("containerStatuses", [])]
            assert pod["status"].get("phase") == "Running" and ready and all(ready), (ns, pod["metadata"]["name"])


def test_langflow_through_the_ingress(site, kubectl):
    status, body = wait_until("Langflow IDE /health through the ingress",
                              lambda: _ok(_via_ingress("langflow-team-demo.%s" % DOMAIN, "/health")), timeout=120, interval=3)
    assert json.loads(body)["status"] == "ok"
    # the runtime answers its API: the superuser logs in and lists flows
    password = _secret_value(kubectl, "team-demo-dev", "team-demo-langflow-runtime-dev-env", "LANGFLOW_SUPERUSER_PASSWORD")
    host = "langflow-runtime-team-demo.%s" % DOMAIN
    status, body = _via_ingress(host, "/api/v1/login", data=("username=admin&password=%s" % password).encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body[:500]
    status, body = _via_ingress(host, "/api/v1/flows/", headers={"Authorization": "Bearer " + json.loads(body)["access_token"]})
    assert status == 200 and isinstance(json.loads(body), list)
    # an unknown host is not routed (the checks above could fail)
    # an unknown host gets Traefik's 404 (over TLS with Traefik's default certificate, which the CA does not sign)
    assert _via_ingress("nothing.%s" % DOMAIN, "/health", verify=False)[0] == 404
    assert _via_ingress("nothing.%s" % DOMAIN, "/health")[0] is None


def test_langflow_keeps_its_tables_in_postgresql(site):
    for plane in ("ide", "runtime"):
        proc = local_images.subprocess.run(
            ["docker", "compose", "-p", "aistack-infra", "exec", "-T", "-u", "postgres", "postgresql", "psql", "-X",
             "-tA", "-d", "langflow_team_demo_dev_%s" % plane, "-c",
             "select tablename from pg_tables where schemaname = 'public'"],
            capture_output=True, text=True, check=False)
        assert {"flow", "user", "alembic_version"} <= set(proc.stdout.split()), (plane, proc.stdout, proc.stderr)


def test_lightrag_through_the_ingress_on_postgresql(site, kubectl):
    key = _secret_value(kubectl, "aistack-system", "lightrag-api", "LIGHTRAG_API_KEY")
    status, body = _via_ingress("lightrag-platform.%s" % DOMAIN, "/health", headers={"X-API-Key": key})
    assert status == 200, body[:500]
    config = json.loads(body).get("configuration", {})
    assert config.get("kv_storage") == "PGKVStorage" and config.get("vector_storage") == "PGVectorStorage", body[:800]


def _spans(project, marker):
    """Spans of a Phoenix project (its REST API, through the ingress) whose content names the marker."""
    status, body = _via_ingress("phoenix.aistack.localhost", "/v1/projects/%s/spans?limit=200" % project)
    if status != 200:
        return None
    return [span for span in json.loads(body)["data"] if marker in json.dumps(span)] or None


WORKER_PUSH = """
import json, os, sys, redis
r = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]), password=os.environ["REDIS_PASSWORD"])
r.rpush(os.environ["QUEUE_NAME"], json.dumps({"id": sys.argv[1], "input": sys.argv[1]}))
"""


def test_lightrag_and_the_worker_trace_to_phoenix(site, kubectl):
    """aistack_tracing on the local site: a LightRAG query and a worker job leave spans in their Phoenix projects."""
    marker = "trace-check-%s" % uuid.uuid4().hex[:8]
    # negative control: nothing names the marker before the requests are made
    assert _spans("platform-lightrag-dev", marker) is None and _spans("langgraph-worker", marker) is None
    key = _secret_value(kubectl, "aistack-system", "lightrag-api", "LIGHTRAG_API_KEY")
    query = json.dumps({"query": "What does %s mean?" % marker, "mode": "mix"}).encode()
    status, body = _via_ingress("lightrag-platform.%s" % DOMAIN, "/query", data=query, timeout=120,
                                headers={"X-API-Key": key, "Content-Type": "application/json"})
    assert status == 200, body[:500]
    kubectl("exec", "-n", "langgraph", "deploy/langgraph-worker", "--", "python", "-c", WORKER_PUSH, marker)
    # the OTLP exporters send in batches (every few seconds)
    lightrag = wait_until("LightRAG's spans in Phoenix", lambda: _spans("platform-lightrag-dev", marker), 90, interval=3)
    assert {span.get("span_kind") for span in lightrag} & {"LLM", "EMBEDDING"}, lightrag[:2]
    worker = wait_until("the worker's job span in Phoenix", lambda: _spans("langgraph-worker", marker), 90, interval=3)
    assert worker[0]["name"] == "langgraph.job", worker[0]


def test_observability_uis_through_the_ingress(site):
    status, body = _via_ingress("phoenix.aistack.localhost", "/")
    assert status == 200 and "<html" in body.lower(), body[:300]
    status, body = _via_ingress("prometheus.aistack.localhost", "/-/ready")
    assert status == 200, body[:300]


def test_every_host_is_served_over_https_by_the_site_ca_and_http_redirects(site, kubectl):
    hosts = sorted(rule["host"] for ns in PLATFORM_NAMESPACES for ing in json.loads(kubectl(
        "get", "ingress", "-n", ns, "-o", "json").stdout)["items"] for rule in ing["spec"]["rules"])
    assert {"langflow-team-demo.%s" % DOMAIN, "langflow-runtime-team-demo.%s" % DOMAIN,
            "lightrag-platform.%s" % DOMAIN, "phoenix.aistack.localhost", "prometheus.aistack.localhost"} <= set(hosts)
    for host in hosts:
        # the TLS handshake verified the certificate against the site CA and the host name (else status None)
        status, body = _via_ingress(host, "/")
        assert status is not None, (host, body)
    # http: 301 for GET, 308 for POST, to the same URL on https
    assert _via_ingress_http("phoenix.aistack.localhost", "/x?y=1") == (
        301, "https://phoenix.aistack.localhost:%d/x?y=1" % HTTPS_PORT)
    assert _via_ingress_http("phoenix.aistack.localhost", "/x", method="POST")[0] == 308


def test_summary_names_urls_and_secrets_never_passwords(site, kubectl):
    out = site["first"].stdout
    assert "https://langflow-team-demo.%s:%d/" % (DOMAIN, HTTPS_PORT) in out
    assert "team-demo-dev/team-demo-langflow-dev-env key LANGFLOW_SUPERUSER_PASSWORD" in out
    assert "https://phoenix.aistack.localhost:%d/" % HTTPS_PORT in out
    for name, ns, key in (("team-demo-langflow-dev-env", "team-demo-dev", "LANGFLOW_SUPERUSER_PASSWORD"),
                          ("team-demo-langflow-dev-env", "team-demo-dev", "LANGFLOW_SECRET_KEY"),
                          ("lightrag-api", "aistack-system", "LIGHTRAG_API_KEY")):
        value = _secret_value(kubectl, ns, name, key)
        assert len(value) >= 8
        for run in ("first", "second", "check"):
            assert value not in site[run].stdout + site[run].stderr, (name, run)


# ---------------------------------------------------------------- playbooks/verify.yml on the converged site
# These run last in this module: the fault cases change the site and put it back.

def _verify(run_playbook, kubeconfig, tmp_path, **extra):
    proc = run_playbook(ROOT / "playbooks" / "verify.yml", inventory=INVENTORY, extra_args=VAULT, timeout=900,
                        extra_vars=dict({"aistack_kubeconfig": kubeconfig, "verify_report_dir": str(tmp_path)}, **extra))
    report = tmp_path / "verify-report.json"
    proc.report = json.loads(report.read_text()) if report.exists() else None
    return proc


def _statuses(report):
    return {(c["check"], c["tenant"]): c["status"] for c in report["checks"]}


def _verify_projects():
    projects = json.loads(_via_ingress("phoenix.aistack.localhost", "/v1/projects?limit=100")[1])["data"]
    return [p["name"] for p in projects if p["name"].startswith("aistack-verify")]


def test_verify_passes_on_the_converged_site(site, run_playbook, kubeconfig, kubectl, tmp_path):
    import xml.etree.ElementTree as ET
    # The site's Phoenix keeps its data across runs: a verification interrupted earlier (a killed test run) can
    # have left its projects. Remove those first, so the assertion below judges this run's cleanup only.
    for project in _verify_projects():
        _via_ingress("phoenix.aistack.localhost", "/v1/projects/%s" % project, method="DELETE")
    assert not _verify_projects()
    start = time.time()
    proc = _verify(run_playbook, kubeconfig, tmp_path)
    RUNS["verify s"] = round(time.time() - start)
    print("verify.yml took %d s" % RUNS["verify s"])
    assert proc.returncode == 0, proc.stdout[-6000:]
    statuses = _statuses(proc.report)
    assert set(statuses.values()) == {"passed"}, statuses
    checks = {check for check, tenant in statuses}
    for expected in ("langflow-ide flow run", "langflow-runtime flow run", "lightrag insert and query",
                     "langgraph-worker job", "prometheus targets up", "loki log streams", "postgresql accepts connections"):
        assert expected in checks, sorted(checks)
    # the flow runs, the query and the job left spans in Phoenix (the module looked them up by their marker)
    assert len([c for c in checks if c.startswith("phoenix traces of")]) == 4, sorted(checks)
    suite = ET.parse(str(tmp_path / "verify-junit.xml")).getroot()
    assert int(suite.get("tests")) == len(proc.report["checks"]) and suite.get("failures") == "0"
    assert "CHECK" in proc.stdout and "PASSED" in proc.stdout
    # verification objects are removed: no flow, API key or Phoenix project named aistack-verify is left
    password = _secret_value(kubectl, "team-demo-dev", "team-demo-langflow-dev-env", "LANGFLOW_SUPERUSER_PASSWORD")
    host = "langflow-team-demo.%s" % DOMAIN
    status, body = _via_ingress(host, "/api/v1/login", data=("username=admin&password=%s" % password).encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    auth = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    flows = json.loads(_via_ingress(host, "/api/v1/flows/?header_flows=true", headers=auth)[1])
    keys = json.loads(_via_ingress(host, "/api/v1/api_key/", headers=auth)[1])
    assert not [f for f in flows if f["name"].startswith("aistack-verify")], flows
    assert "aistack-verify" not in json.dumps(keys)
    assert not _verify_projects()
    # no credential of the site reached the output (the superuser password is one the checks used)
    assert password not in proc.stdout + proc.stderr
    assert _secret_value(kubectl, "aistack-system", "lightrag-api", "LIGHTRAG_API_KEY") not in proc.stdout + proc.stderr


def test_verify_check_mode_only_plans(site, run_playbook, kubeconfig, tmp_path):
    proc = run_playbook(ROOT / "playbooks" / "verify.yml", inventory=INVENTORY, extra_args=VAULT, check=True,
                        extra_vars={"aistack_kubeconfig": kubeconfig})
    assert proc.returncode == 0 and proc.recap.get("changed") == 0, proc.stdout[-3000:]
    # every check is listed, none was run
    assert "langflow-ide flow run" in proc.stdout and "SKIPPED" in proc.stdout, proc.stdout[-3000:]
    assert "PASSED" not in proc.stdout and "FAILED" not in proc.stdout


def test_verify_read_only_mode_writes_nothing(site, run_playbook, kubeconfig, tmp_path):
    proc = _verify(run_playbook, kubeconfig, tmp_path, verify_smoke=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    statuses = _statuses(proc.report)
    skipped = sorted(check for (check, tenant), s in statuses.items() if s == "skipped")
    assert skipped == ["langflow-ide flow run", "langflow-runtime flow run", "langgraph-worker job",
                       "lightrag insert and query"], skipped
    assert "failed" not in statuses.values()


def _failed(proc):
    return sorted(check for (check, tenant), s in _statuses(proc.report).items() if s == "failed")


def _scaled_to_zero(kubectl, ns, deploy, selector):
    """Scale ``deploy`` to 0 until its pods are gone; the returned function scales it back and waits until Ready."""
    kubectl("-n", ns, "scale", deploy, "--replicas=0")

    def restore(wait=True):
        kubectl("-n", ns, "scale", deploy, "--replicas=1")
        if wait:
            kubectl("-n", ns, "rollout", "status", deploy, "--timeout=600s", timeout=660)

    try:
        wait_until("the pods of %s gone" % deploy, lambda: not json.loads(kubectl(
            "-n", ns, "get", "pods", "-l", selector, "-o", "json").stdout)["items"], 120, interval=2)
    except BaseException:
        restore()
        raise
    return restore


def test_verify_names_a_stopped_phoenix(site, run_playbook, kubeconfig, kubectl, tmp_path):
    restore = _scaled_to_zero(kubectl, "observability", "deploy/phoenix", "app.kubernetes.io/name=phoenix")
    try:
        proc = _verify(run_playbook, kubeconfig, tmp_path, verify_smoke=False)
    finally:
        restore()
    assert _failed(proc) == ["phoenix reachable"], proc.report
    row = [c for c in proc.report["checks"] if c["check"] == "phoenix reachable"][0]
    assert "namespace observability: no pods" in row["where"], row
    assert "phoenix reachable (platform) failed" in proc.stdout


def test_verify_names_a_stopped_postgresql(site, run_playbook, kubeconfig, tmp_path):
    compose = ["docker", "compose", "-p", "aistack-infra"]
    local_images.subprocess.run(compose + ["stop", "postgresql"], check=True, capture_output=True)
    try:
        proc = _verify(run_playbook, kubeconfig, tmp_path, verify_smoke=False)
    finally:
        local_images.subprocess.run(compose + ["start", "postgresql"], check=True, capture_output=True)
    failed = _failed(proc)
    # the database check names the cause; what needs PostgreSQL fails with it, nothing else does
    assert "postgresql accepts connections" in failed, proc.report
    # (Langflow's /health may hang while its database is gone, so its reachability may fail with it)
    assert set(failed) <= {"postgresql accepts connections", "langflow-ide reachable", "langflow-ide login and flows",
                           "langflow-runtime reachable", "langflow-runtime login and flows", "lightrag reachable"}, failed
    row = [c for c in proc.report["checks"] if c["check"] == "postgresql accepts connections"][0]
    assert "docker compose -p aistack-infra ps" in row["where"] and "refused" in row["got"].lower(), row
    # the site recovers once PostgreSQL is back (Langflow reconnects on the next request)
    wait_until("verify passes again", lambda: _verify(run_playbook, kubeconfig, tmp_path, verify_smoke=False).returncode == 0,
               300, interval=25)  # Langflow allows 5 logins a minute per client address


def test_verify_names_a_runtime_scaled_to_zero(site, run_playbook, kubeconfig, kubectl, tmp_path):
    ns, deploy = "team-demo-dev", "deploy/team-demo-langflow-runtime-dev"
    restore = _scaled_to_zero(kubectl, ns, deploy, "app.kubernetes.io/instance=team-demo-langflow-runtime-dev")
    try:
        proc = _verify(run_playbook, kubeconfig, tmp_path, verify_smoke=False)
    finally:
        restore(wait=False)  # the last test of the site: nothing after it needs the runtime Ready
    assert proc.returncode != 0
    assert _failed(proc) == ["langflow-runtime reachable"], proc.report
    row = [c for c in proc.report["checks"] if c["check"] == "langflow-runtime reachable"][0]
    # with no endpoint behind it, the ingress controller drops the route: 404 (or 503 while it still holds it)
    assert "no pods" in row["where"] and row["got"].split()[:2] in (["HTTP", "404"], ["HTTP", "503"]), row
    assert "langflow-runtime reachable (team-demo/dev) failed" in proc.stdout
