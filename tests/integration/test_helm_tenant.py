"""helm_tenant against the real cluster: names and hosts, check -> apply -> check -> apply, image
bumps, atomic rollback, absent/purge, bad inputs failing before anything exists, secrets kept out of
values, results and logs.

Workload: the project's demohttp binary packed as aistack.local/tenant-demo:<tag> (two tags, so an
image change is a real change), imported into the cluster's containerd.
"""

import base64
import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = str(ROOT / "charts" / "aistack-service")
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
REPO = "aistack.local/tenant-demo"
PASSWORD = "Int3gration-Vault-Pw"


@pytest.fixture(scope="session")
def tenant_images(kubeconfig):
    """Pack demohttp as aistack.local/tenant-demo:1.0.0 and :1.0.1 and import both into containerd."""
    binary = CACHE / "bin" / "demohttp"
    if not binary.exists():
        pytest.fail("%s missing: run `tests/cluster/cluster.sh build`" % binary)
    with tempfile.TemporaryDirectory() as tmp:
        for tag in ("1.0.0", "1.0.1"):
            archive = os.path.join(tmp, "tenant-demo-%s.tar" % tag)
            subprocess.run(["python3", str(ROOT / "tests" / "cluster" / "mkimage.py"), "-o", archive,
                            "--tag", "%s:%s" % (REPO, tag), "--file", "%s:/demohttp" % binary.resolve(),
                            "--entrypoint", "/demohttp", "--cmd", "serve", "--user", "65532", "--port", "8080",
                            "--env", "NAME=tenant-demo-%s" % tag],
                           check=True, capture_output=True)
            subprocess.run([str(ROOT / "tests" / "cluster" / "cluster.sh"), "import-archive", archive],
                           check=True, capture_output=True)
    return {"repository": REPO, "tags": ["1.0.0", "1.0.1"]}


@pytest.fixture
def teams(kubectl):
    """Unique team names; their namespaces (<team>-<env>) are deleted afterwards."""
    made = []

    def _team(prefix="t"):
        name = "%s%s" % (prefix, uuid.uuid4().hex[:6])
        made.append(name)
        return name

    yield _team
    for team in made:
        for env in ("dev", "stg", "prd"):
            kubectl("delete", "namespace", "%s-%s" % (team, env), "--ignore-not-found", "--wait=false", check=False)


def tenant(team, env="dev", tag="1.0.0", **over):
    args = {
        "team": team, "service": "demo", "environment": env,
        "chart": {"path": CHART},
        "image": {"repository": REPO, "tag": tag},
        "port": 8080,
        "database": {"type": "postgresql", "host": "pg.invalid", "name": "demo_%s" % env, "user": "demo",
                     "password": PASSWORD, "url_env": "APP_DATABASE_URL"},
        "persistence": {"enabled": True, "size": "64Mi"},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
        "ingress": {"enabled": True, "domain": "%s.example.test" % env},
        "generated_secrets": [{"key": "secret-key", "env": "APP_SECRET_KEY", "format": "fernet"}],
        "probes": {"liveness_initial_delay": 2, "readiness_initial_delay": 1, "period": 2, "timeout": 1},
        "env": {"NAME": "%s-%s" % (team, env)},
        "timeout": 180,
    }
    args.update(over)
    return args


def kget(kubectl, *args):
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def helm(collection_env, *args):
    proc = subprocess.run(["helm"] + list(args), env=collection_env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def curl_in_cluster(kubectl, namespace, url, name=None):
    """Run a one-shot pod (restricted security context) that fetches url; return (exit code, output)."""
    name = name or "curl-" + uuid.uuid4().hex[:6]
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"restartPolicy": "Never",
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "get", "image": "%s:1.0.0" % REPO, "imagePullPolicy": "IfNotPresent",
                                 "command": ["/demohttp", "get", url],
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                               "limits": {"cpu": "100m", "memory": "32Mi"}},
                                 "securityContext": {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}}]}}
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    kubectl("wait", "-n", namespace, "pod/" + name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=90s",
            check=False)
    phase = kubectl("get", "-n", namespace, "pod/" + name, "-o", "jsonpath={.status.phase}").stdout
    logs = kubectl("logs", "-n", namespace, name, check=False).stdout
    kubectl("delete", "-n", namespace, "pod/" + name, "--wait=false", check=False)
    return phase, logs


def assert_no_password(result):
    assert PASSWORD not in json.dumps(result)
    assert PASSWORD not in result.get("_stdout", "")


# --------------------------------------------------------------------------- side by side

def test_two_teams_two_envs_side_by_side(run_module, kubectl, collection_env, tenant_images, teams):
    team_a, team_b = teams("ta"), teams("tb")
    for team in (team_a, team_b):
        for env in ("dev", "stg"):
            args = tenant(team, env)
            seq = [run_module("aistack.platform.helm_tenant", args, check=True, diff=True),
                   run_module("aistack.platform.helm_tenant", args),
                   run_module("aistack.platform.helm_tenant", args, check=True, diff=True),
                   run_module("aistack.platform.helm_tenant", args)]
            for result in seq:
                assert not result.get("failed"), result.get("msg")
                assert_no_password(result)
            assert [r["changed"] for r in seq] == [True, True, False, False], [r.get("changes") for r in seq]
            name, ns = "%s-demo-%s" % (team, env), "%s-%s" % (team, env)
            host = "demo-%s.%s.example.test" % (team, env)
            assert seq[1]["release_name"] == name and seq[1]["namespace"] == ns
            assert seq[1]["hosts"] == [host] and seq[1]["revision"] == 1 and seq[1]["status"] == "deployed"
            assert seq[3]["values_digest"] == seq[1]["values_digest"]
            # objects named <team>-<service>-<env>
            for kind in ("deployment", "service", "ingress", "networkpolicy", "serviceaccount"):
                assert kget(kubectl, kind, name, "-n", ns)["metadata"]["name"] == name
            assert kget(kubectl, "pvc", name + "-data", "-n", ns)["spec"]["resources"]["requests"]["storage"] == "64Mi"
            ingress = kget(kubectl, "ingress", name, "-n", ns)
            assert ingress["spec"]["rules"][0]["host"] == host
            assert kget(kubectl, "namespace", ns)["metadata"]["labels"]["aistack.io/team"] == team
    # four releases side by side, each only in its own namespace
    listed = json.loads(helm(collection_env, "list", "-A", "-o", "json"))
    mine = sorted(r["name"] for r in listed if r["name"].startswith((team_a, team_b)))
    assert mine == sorted("%s-demo-%s" % (t, e) for t in (team_a, team_b) for e in ("dev", "stg"))


def test_workload_serves_health_through_service(run_module, kubectl, tenant_images, teams):
    team = teams("sv")
    result = run_module("aistack.platform.helm_tenant", tenant(team))
    assert result["changed"] and not result.get("failed"), result.get("msg")
    ns, name = "%s-dev" % team, "%s-demo-dev" % team
    phase, logs = curl_in_cluster(kubectl, ns, "http://%s.%s.svc.cluster.local/health" % (name, ns))
    assert phase == "Succeeded" and logs.strip() == "ok", logs
    phase, logs = curl_in_cluster(kubectl, ns, "http://%s.%s.svc.cluster.local/" % (name, ns))
    assert "name=%s-dev" % team in logs


# --------------------------------------------------------------------------- secrets

def test_secrets_only_as_secret_key_refs(run_module, kubectl, collection_env, tenant_images, teams):
    team = teams("se")
    args = tenant(team)
    result = run_module("aistack.platform.helm_tenant", args, diff=True)
    assert result["changed"]
    assert_no_password(result)
    ns, name = "%s-dev" % team, "%s-demo-dev" % team
    values = helm(collection_env, "get", "values", name, "-n", ns, "-o", "json")
    manifest = helm(collection_env, "get", "manifest", name, "-n", ns)
    assert PASSWORD not in values and PASSWORD not in manifest
    env = {e["name"]: e for e in kget(kubectl, "deployment", name, "-n", ns)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name + "-db", "key": "password"}
    assert env["APP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": name + "-db", "key": "url"}
    assert env["APP_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": name + "-generated", "key": "secret-key"}
    stored = kget(kubectl, "secret", name + "-db", "-n", ns)["data"]
    assert base64.b64decode(stored["password"]).decode() == PASSWORD
    generated = kget(kubectl, "secret", name + "-generated", "-n", ns)["data"]["secret-key"]
    # an upgrade keeps the generated key
    bumped = run_module("aistack.platform.helm_tenant", tenant(team, tag="1.0.1"))
    assert bumped["changed"] and bumped["revision"] == 2
    assert kget(kubectl, "secret", name + "-generated", "-n", ns)["data"]["secret-key"] == generated
    # rotating the vaulted password: Secret updated, pods rolled, never shown
    rotated = tenant(team, tag="1.0.1")
    rotated["database"] = dict(rotated["database"], password=PASSWORD + "-2")
    check = run_module("aistack.platform.helm_tenant", rotated, check=True, diff=True)
    assert check["changed"] and PASSWORD not in check["_stdout"]
    applied = run_module("aistack.platform.helm_tenant", rotated)
    assert applied["changed"] and applied["revision"] == 3
    assert base64.b64decode(kget(kubectl, "secret", name + "-db", "-n", ns)["data"]["password"]).decode() == PASSWORD + "-2"


# --------------------------------------------------------------------------- upgrades

def test_image_tag_change_bumps_revision(run_module, kubectl, tenant_images, teams):
    team = teams("im")
    first = run_module("aistack.platform.helm_tenant", tenant(team))
    assert first["revision"] == 1
    check = run_module("aistack.platform.helm_tenant", tenant(team, tag="1.0.1"), check=True, diff=True)
    assert check["changed"] and check["revision"] == 1 and "values.image.tag" in check["changes"]
    assert '"tag": "1.0.1"' in check["_stdout"] or "1.0.1" in check["_stdout"]
    second = run_module("aistack.platform.helm_tenant", tenant(team, tag="1.0.1"))
    assert second["changed"] and second["revision"] == 2 and second["status"] == "deployed"
    name, ns = "%s-demo-dev" % team, "%s-dev" % team
    image = kget(kubectl, "deployment", name, "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "%s:1.0.1" % REPO
    assert not run_module("aistack.platform.helm_tenant", tenant(team, tag="1.0.1"))["changed"]


def test_atomic_rollback_keeps_previous_revision_serving(run_module, kubectl, collection_env, tenant_images, teams):
    team = teams("at")
    good = tenant(team, atomic=True)
    assert run_module("aistack.platform.helm_tenant", good)["revision"] == 1
    broken = tenant(team, tag="9.9.9-missing", atomic=True, timeout=45)
    failed = run_module("aistack.platform.helm_tenant", broken)
    assert failed.get("failed") and "rolled back" in failed["msg"]
    name, ns = "%s-demo-dev" % team, "%s-dev" % team
    history = json.loads(helm(collection_env, "history", name, "-n", ns, "-o", "json"))
    assert [h["status"] for h in history][-1] == "deployed" and history[-1]["revision"] == 3
    assert "Rollback to 1" in history[-1]["description"]
    image = kget(kubectl, "deployment", name, "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "%s:1.0.0" % REPO
    phase, logs = curl_in_cluster(kubectl, ns, "http://%s.%s.svc.cluster.local/health" % (name, ns))
    assert phase == "Succeeded" and logs.strip() == "ok"
    # the rolled-back release holds the good values: nothing to do
    again = run_module("aistack.platform.helm_tenant", good)
    assert not again["changed"] and again["revision"] == 3


# --------------------------------------------------------------------------- absent

def test_absent_keeps_claims_unless_purged(run_module, kubectl, collection_env, tenant_images, teams):
    team = teams("ab")
    run_module("aistack.platform.helm_tenant", tenant(team))
    name, ns = "%s-demo-dev" % team, "%s-dev" % team
    absent = {"team": team, "service": "demo", "environment": "dev", "state": "absent", "timeout": 120}
    check = run_module("aistack.platform.helm_tenant", absent, check=True)
    assert check["changed"] and kget(kubectl, "deployment", name, "-n", ns)
    gone = run_module("aistack.platform.helm_tenant", absent)
    assert gone["changed"] and gone["kept_claims"] == [name + "-data"]
    assert kubectl("get", "deployment", name, "-n", ns, check=False).returncode != 0
    assert kget(kubectl, "pvc", name + "-data", "-n", ns)
    assert kget(kubectl, "secret", name + "-generated", "-n", ns)
    assert not run_module("aistack.platform.helm_tenant", absent)["changed"]
    # reinstalling finds the kept claim and the same generated key
    again = run_module("aistack.platform.helm_tenant", tenant(team))
    assert again["changed"] and again["revision"] == 1
    purge = run_module("aistack.platform.helm_tenant", dict(absent, purge=True))
    assert purge["changed"]
    kubectl("wait", "-n", ns, "pvc/" + name + "-data", "--for=delete", "--timeout=60s", check=False)
    assert kubectl("get", "pvc", name + "-data", "-n", ns, check=False).returncode != 0
    assert kubectl("get", "secret", name + "-db", "-n", ns, check=False).returncode != 0
    assert not run_module("aistack.platform.helm_tenant", dict(absent, purge=True))["changed"]


# --------------------------------------------------------------------------- bad inputs

VALUES_DIR = tempfile.mkdtemp(prefix="helm-tenant-values-")
with open(os.path.join(VALUES_DIR, "latest.yaml"), "w") as _handle:
    _handle.write("image: {tag: latest}\n")
with open(os.path.join(VALUES_DIR, "credential.yaml"), "w") as _handle:
    _handle.write("config: {ADMIN_PASSWORD: hunter2}\n")

BAD_INPUTS = [
    ("image.tag", {"image": {"repository": REPO, "tag": "latest"}}, "dev"),
    ("image.tag", {"image": {"repository": REPO, "tag": ""}}, "dev"),
    ("database.type", {"database": {"type": "sqlite", "name": "x"}}, "prd"),
    ("persistence.enabled", {"persistence": {"enabled": False}}, "prd"),
    ("resources.limits.cpu", {"resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}, "stg"),
    ("extra_values.auth.adminPassword", {"extra_values": {"auth": {"adminPassword": "hunter2"}}}, "dev"),
    ("extra_values.image.tag", {"extra_values": {"image": {"tag": "latest"}}}, "dev"),
    ("values_files[0]: image.tag", {"values_files": [os.path.join(VALUES_DIR, "latest.yaml")]}, "dev"),
    ("values_files[0]: config.ADMIN_PASSWORD", {"values_files": [os.path.join(VALUES_DIR, "credential.yaml")]},
     "dev"),
    ("extra_values.securityContext.allowPrivilegeEscalation",
     {"extra_values": {"securityContext": {"allowPrivilegeEscalation": True}}}, "dev"),
    ("env.OPENAI_API_KEY", {"env": {"OPENAI_API_KEY": "sk-live"}}, "dev"),
    ("database.password_secret", {"database": {"type": "postgresql", "host": "h", "name": "n", "user": "u",
                                               "password_secret": {"name": "missing-secret"}}}, "dev"),
    ("team", {"team": "Bad_Team"}, "dev"),
]


@pytest.mark.parametrize("field,over,env", BAD_INPUTS, ids=[b[0] + "-" + b[2] for b in BAD_INPUTS])
def test_bad_input_fails_before_anything_is_created(run_module, kubectl, field, over, env, teams):
    team = teams("bad")
    args = tenant(team, env)
    args.update(over)
    result = run_module("aistack.platform.helm_tenant", args)
    assert result.get("failed") and result.get("field") == field, result.get("msg")
    assert "Fix:" in result["msg"]
    assert "hunter2" not in result["_stdout"] and "sk-live" not in result["_stdout"]
    ns = "%s-%s" % (args["team"], env)
    assert kubectl("get", "namespace", ns, check=False).returncode != 0, "namespace %s was touched" % ns
