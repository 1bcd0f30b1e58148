"""The real Langflow (PyPI langflow 1.13.0, image built here by tests/images/langflow) through the langflow
role, on the site's PostgreSQL: the databases role's compose backend creates one database and login role
per tenant plane (consumers from the aistack.platform.langflow_database_consumers filter) and writes their
Secrets into the tenant namespace; the releases read the password from there.

Proven on the running releases: /health answers from Langflow itself (IDE and API-only runtime), the
superuser from the generated Secret logs in and lists flows, Langflow's tables are in each plane's own
PostgreSQL database and no SQLite file exists on the volume. The role converges check -> apply -> check ->
apply with no change after the first apply, and state=absent removes the releases.
"""

import base64
import json
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import ROOT, local_image_vars, wait_until
from test_databases_compose import PG_IMAGE, _docker, _env, _host_ip, docker_images  # noqa: F401  # pylint: disable=unused-import
from test_langgraph_worker import ensure_image

LANGFLOW_IMAGE = "%(langflow_image_repository)s:%(langflow_image_tag)s" % local_image_vars()
SIZE = {"lab": {
    "ide": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}, "storage": "256Mi"},
    "runtime": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"},
                "storage": "256Mi", "min_replicas": 1, "max_replicas": 2}}}
ENVIRONMENTS = {"dev": {"database_type": "postgresql", "storage_class": "", "runtime_access_mode": "ReadWriteOnce",
                        "auto_login": False}}

PLAYBOOK = """
- name: The site's PostgreSQL with one database per Langflow plane
  hosts: infra
  gather_facts: true
  module_defaults:
    group/aistack.platform.aistack:
      kubeconfig: "{{ aistack_kubeconfig | default(omit, true) }}"
  vars:
    databases_postgres_consumers: >-
      {{ langflow_tenants | aistack.platform.langflow_database_consumers(langflow_environments,
         vault_langflow_database_passwords) }}
  roles:
    - aistack.platform.databases
- name: Langflow tenants
  hosts: infra
  gather_facts: false
  module_defaults:
    group/aistack.platform.aistack:
      kubeconfig: "{{ aistack_kubeconfig | default(omit, true) }}"
  roles:
    - aistack.platform.langflow
"""


def _changed_tasks(stdout):
    """Names of the tasks whose result was `changed` in ansible-playbook's default output."""
    tasks, task = [], None
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].rsplit("]", 1)[0]
        elif line.startswith("changed:") and task:
            tasks.append(task)
    return tasks


@pytest.fixture(scope="module")
def langflow_image(kubeconfig):
    ensure_image(LANGFLOW_IMAGE, ROOT / "tests/images/langflow")
    return LANGFLOW_IMAGE


def _service_url(kubectl, ns, name, path):
    svc = json.loads(kubectl("get", "service", name, "-n", ns, "-o", "json").stdout)
    return "http://%s:%d%s" % (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"], path)


def _get(url, data=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:
        return None, str(err)


def _ok(response):
    """The (status, body) of a 200 answer, else None (for wait_until)."""
    return response if response[0] == 200 else None


def _psql(project, database, sql):
    return _docker("compose", "-p", project, "exec", "-T", "-u", "postgres", "postgresql",
                   "psql", "-X", "-tA", "-d", database, "-c", sql).stdout.split()


def test_real_langflow_on_postgresql(tmp_path, kubeconfig, kubectl, namespace, docker_images, langflow_image):  # noqa: F811
    team = "lf" + uuid.uuid4().hex[:6]
    ns = "%s-dev" % team
    project = "aistack-lf-" + uuid.uuid4().hex[:6]
    ide, runtime = "%s-langflow-dev" % team, "%s-langflow-runtime-dev" % team
    passwords = {ide: "ide-Pw-%s" % uuid.uuid4().hex[:8], runtime: "rt-Pw-%s" % uuid.uuid4().hex[:8]}
    port = 20000 + int(uuid.uuid4().hex[:4], 16) % 20000
    site = dict(
        local_image_vars(),
        databases_services=["postgresql"], databases_compose_project=project,
        databases_compose_dir=str(tmp_path / "project"), databases_bind_addresses=[_host_ip()],
        databases_postgres_port=port, databases_postgres_image=PG_IMAGE,
        databases_postgres_admin_password="adm-Pw-%s" % uuid.uuid4().hex[:6],
        databases_namespace=namespace, aistack_kubeconfig=kubeconfig, databases_compose_wait_timeout=180,
        langflow_tenants=[{"team": team, "environments": ["dev"], "size": "lab"}],
        langflow_environments=ENVIRONMENTS, langflow_sizes=SIZE,
        vault_langflow_database_passwords=passwords,
        langflow_database_host="postgresql.%s.svc.cluster.local" % namespace,
        langflow_image_pull_policy="Never",
        langflow_domains={"dev": "dev.aistack.localhost"}, langflow_timeout=600,
    )
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"infra": {"hosts": {"infra1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}, "vars": site}}))
    playbook = tmp_path / "langflow.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(_env(), KUBECONFIG=kubeconfig)

    def play(*args, **extra):
        cmd = ["ansible-playbook", "-i", str(inv), str(playbook)] + list(args)
        if extra:
            cmd += ["-e", json.dumps(extra)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=str(ROOT), check=False)

    try:
        runs, changed = [], []
        for args in (("--check",), (), ("--check", "--diff"), ()):
            proc = play(*args)
            assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
            for secret in passwords.values():
                assert secret not in proc.stdout + proc.stderr
            runs.append(proc.stdout.rsplit("PLAY RECAP", 1)[1])
            changed.append(_changed_tasks(proc.stdout))
        assert "changed=0" not in runs[1], runs[1]
        # the tasks that reported a change, so a failure names them
        assert "changed=0" in runs[2] and "changed=0" in runs[3], (runs[2:], changed[2:])

        for name in (ide, runtime):
            dep = json.loads(kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)
            container = dep["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == langflow_image
            env_map = {e["name"]: e for e in container["env"]}
            assert env_map["LANGFLOW_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": "db-postgresql-" + name, "key": "POSTGRES_PASSWORD"}
            assert "$(LANGFLOW_DATABASE_PASSWORD)@postgresql.%s" % namespace in env_map["LANGFLOW_DATABASE_URL"]["value"]
            # /health from Langflow itself, through the release's Service
            status, body = wait_until("%s /health" % name, lambda n=name: _ok(_get(_service_url(kubectl, ns, n, "/health"))),
                                      timeout=300, interval=3)
            assert json.loads(body).get("status") == "ok", body
        # The superuser from the generated Secret logs in and lists flows, on the IDE and on the runtime.
        for name in (ide, runtime):
            secret = json.loads(kubectl("get", "secret", name + "-generated", "-n", ns, "-o", "json").stdout)
            password = base64.b64decode(secret["data"]["superuser-password"]).decode()
            form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
            status, body = _get(_service_url(kubectl, ns, name, "/api/v1/login"), data=form,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 200, (name, status, body[:500])
            token = json.loads(body)["access_token"]
            status, body = _get(_service_url(kubectl, ns, name, "/api/v1/flows/"),
                                headers={"Authorization": "Bearer " + token})
            assert status == 200 and isinstance(json.loads(body), list), (name, status, body[:500])
            # a wrong password is refused (the login check can fail)
            bad = urllib.parse.urlencode({"username": "admin", "password": password + "x"}).encode()
            assert _get(_service_url(kubectl, ns, name, "/api/v1/login"), data=bad,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 401
        # Langflow's tables live in each plane's own database; nothing on SQLite.
        for plane in ("ide", "runtime"):
            tables = _psql(project, "langflow_%s_dev_%s" % (team, plane),
                           "select tablename from pg_tables where schemaname = 'public'")
            assert {"flow", "user", "alembic_version"} <= set(tables), (plane, tables)
            owner = _psql(project, "postgres", "select pg_get_userbyid(datdba) from pg_database "
                                               "where datname = 'langflow_%s_dev_%s'" % (team, plane))
            assert owner == ["langflow_%s_dev_%s" % (team, plane)]
        for name in (ide, runtime):
            pod = kubectl("get", "pod", "-n", ns, "-l", "app.kubernetes.io/instance=" + name,
                          "-o", "jsonpath={.items[0].metadata.name}").stdout
            files = kubectl("exec", "-n", ns, pod, "--", "find", "/app/data", "-name", "*.db").stdout.split()
            assert files == [], files

        _flows_reach_the_runtime(tmp_path, kubectl, ns, ide, runtime, play)

        gone = play(langflow_state="absent")
        assert gone.returncode == 0, gone.stdout[-3000:]
        assert kubectl("get", "deployment", ide, "-n", ns, check=False).returncode != 0
    finally:
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--remove-orphans"], capture_output=True,
                       check=False)


def _login(kubectl, ns, name):
    secret = json.loads(kubectl("get", "secret", name + "-generated", "-n", ns, "-o", "json").stdout)
    password = base64.b64decode(secret["data"]["superuser-password"]).decode()
    form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
    status, body = _get(_service_url(kubectl, ns, name, "/api/v1/login"), data=form,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body[:300]
    return {"Authorization": "Bearer " + json.loads(body)["access_token"]}


def _runtime_pod(kubectl, ns, name):
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-l", "app.kubernetes.io/instance=" + name, "-o", "json").stdout)
    return sorted(p["metadata"]["uid"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp"))


def _flows_reach_the_runtime(tmp_path, kubectl, ns, ide, runtime, play):
    """Flow files kept with the inventory reach the API-only runtime: loaded at start from the role's ConfigMap,
    run through the run API by endpoint name; a changed file rolls the runtime; no files, no ConfigMap."""
    from ansible_collections.aistack.platform.plugins.module_utils.site_check.checks import echo_flow
    team = ns[:-len("-dev")]
    # the flow file a developer exports from the IDE (built from the components this Langflow serves)
    status, body = _get(_service_url(kubectl, ns, ide, "/api/v1/all"), headers=_login(kubectl, ns, ide), timeout=60)
    assert status == 200, body[:300]
    flow = echo_flow(json.loads(body), "aistack-echo", str(uuid.uuid4()))
    folder = tmp_path / "flows" / team / "dev"
    folder.mkdir(parents=True)
    (folder / "aistack-echo.json").write_text(json.dumps(flow))
    before = _runtime_pod(kubectl, ns, runtime)
    first = play(langflow_flows_dir=str(tmp_path / "flows"))
    assert first.returncode == 0, first.stdout[-4000:]
    assert "changed=0" not in first.stdout.rsplit("PLAY RECAP", 1)[1]
    cm = json.loads(kubectl("get", "configmap", runtime + "-flows", "-n", ns, "-o", "json").stdout)
    assert list(cm["data"]) == ["aistack-echo.json"]
    kubectl("rollout", "status", "deploy/" + runtime, "-n", ns, "--timeout=600s")
    rolled = _runtime_pod(kubectl, ns, runtime)
    assert rolled != before, "the runtime did not roll for its new flow files"
    assert "changed=0" in play(langflow_flows_dir=str(tmp_path / "flows")).stdout.rsplit("PLAY RECAP", 1)[1]

    # the runtime runs it by endpoint name, with an API key of the superuser that owns loaded flows
    auth = _login(kubectl, ns, runtime)
    status, body = _get(_service_url(kubectl, ns, runtime, "/api/v1/api_key/"), data=b'{"name": "aistack-test"}',
                        headers=dict(auth, **{"Content-Type": "application/json"}))
    assert status in (200, 201), body[:300]
    key = json.loads(body)["api_key"]
    marker = "ping-%s" % uuid.uuid4().hex[:6]
    run = json.dumps({"input_value": marker, "input_type": "chat", "output_type": "chat"}).encode()
    status, body = wait_until("the loaded flow runs", lambda: _ok(_get(
        _service_url(kubectl, ns, runtime, "/api/v1/run/aistack-echo?stream=false"), data=run, timeout=60,
        headers={"x-api-key": key, "Content-Type": "application/json"})), 120, interval=5)
    assert marker in body, body[:500]
    # negative control: a flow that no file holds is not there
    assert _get(_service_url(kubectl, ns, runtime, "/api/v1/run/aistack-nothing?stream=false"), data=run,
                headers={"x-api-key": key, "Content-Type": "application/json"})[0] == 404

    # a changed flow file rolls the runtime again: its pod template changes (the new pod is not awaited)
    def template():
        dep = json.loads(kubectl("get", "deployment", runtime, "-n", ns, "-o", "json").stdout)
        return dep["spec"]["template"]["metadata"].get("annotations", {})
    loaded = template()
    flow["description"] = "changed"
    (folder / "aistack-echo.json").write_text(json.dumps(flow))
    assert play(langflow_flows_dir=str(tmp_path / "flows"), langflow_wait=False, langflow_atomic=False).returncode == 0
    assert template() != loaded

    # no flow files left: the ConfigMap goes, the runtime no longer loads a path
    (folder / "aistack-echo.json").unlink()
    assert play(langflow_flows_dir=str(tmp_path / "flows"), langflow_wait=False, langflow_atomic=False).returncode == 0
    assert kubectl("get", "configmap", runtime + "-flows", "-n", ns, check=False).returncode != 0
    dep = json.loads(kubectl("get", "deployment", runtime, "-n", ns, "-o", "json").stdout)
    names = [e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert "LANGFLOW_LOAD_FLOWS_PATH" not in names


def test_missing_database_password_fails_before_anything(tmp_path, kubeconfig, kubectl):
    """A tenant plane on the site's PostgreSQL without a vaulted password: the filter names it, nothing is made."""
    team = "lf" + uuid.uuid4().hex[:6]
    pb = tmp_path / "bad.yml"
    pb.write_text(PLAYBOOK.split("- name: Langflow tenants", maxsplit=1)[0])
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"all": {"children": {"infra": {"hosts": {"infra1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}, "vars": dict(
            langflow_tenants=[{"team": team, "environments": ["dev"]}], langflow_environments=ENVIRONMENTS,
            vault_langflow_database_passwords={"%s-langflow-dev" % team: "only-ide-pw"},
            databases_services=["postgresql"], databases_postgres_admin_password="adm-Pw-12345",
            databases_compose_dir=str(tmp_path / "project"), aistack_kubeconfig=kubeconfig)}}))
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), str(pb)], env=_env(), capture_output=True, text=True,
                          timeout=600, cwd=str(ROOT), check=False)
    assert proc.returncode != 0
    assert "vault_langflow_database_passwords['%s-langflow-runtime-dev']" % team in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "project").exists()
    assert kubectl("get", "namespace", "%s-dev" % team, check=False).returncode != 0
