"""The langflow role's objects for several environments: IDE + runtime per tenant and environment, Langflow's
env set as a real Langflow needs it, idempotent on the second run.

The real Langflow runs in test_langflow_real.py (one environment, on PostgreSQL). This test covers two
environments at once (4 releases, 6 pods with the runtime HPA's minimum), which the real image (about 1 GiB
and 40-60 s of CPU to start, each) cannot fit on the 2-core test machine next to the rest of the suite, so
its pods run a stand-in: the project's demohttp listening on Langflow's port 7860. Everything the role
controls (names, env, Secrets, volumes, HPA, hosts) is asserted on the objects the API server holds.
"""

import json
import uuid
from pathlib import Path

import pytest

# tenant_images is a session fixture pytest finds by name in this module.
from test_helm_tenant import REPO, tenant_images  # noqa: F401  # pylint: disable=unused-import

ROOT = Path(__file__).resolve().parents[2]
TINY = {"tiny": {
    "ide": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}, "storage": "64Mi"},
    "runtime": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"},
                "storage": "64Mi", "min_replicas": 2, "max_replicas": 3}}}


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "langflow.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.langflow\n")
    return path


def env_of(kubectl, name, ns):
    dep = json.loads(kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)
    return {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}, dep


def test_langflow_tenants(run_playbook, kubectl, playbook, tenant_images):  # noqa: F811
    team = "lf" + uuid.uuid4().hex[:6]
    extra = {
        "langflow_tenants": [{"team": team, "environments": ["dev", "stg"], "size": "tiny"}],
        "langflow_sizes": TINY,
        "langflow_image_repository": REPO,
        "langflow_image_tag": "1.0.0",
        "langflow_args": ["serve", "-listen", ":7860"],
        "langflow_database_host": "pg.invalid",
        "langflow_database_passwords": {"%s-langflow-stg" % team: "ide-stg-pw-XYZ",
                                        "%s-langflow-runtime-stg" % team: "rt-stg-pw-XYZ"},
        "langflow_tracing_enabled": True,
        "langflow_domains": {"dev": "dev.example.test", "stg": "stg.example.test", "prd": "example.test"},
        "langflow_liveness_initial_delay": 2,
        "langflow_timeout": 240,
    }
    try:
        first = run_playbook(playbook, extra_vars=extra)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        # one looped task per environment, one changed item per plane: 2 planes x 2 environments
        assert first.stdout.count("changed: [localhost] => (item=") == 4, first.stdout[-3000:]
        assert "pw-XYZ" not in first.stdout + first.stderr
        for env in ("dev", "stg"):
            ns = "%s-%s" % (team, env)
            ide, runtime = "%s-langflow-%s" % (team, env), "%s-langflow-runtime-%s" % (team, env)
            ide_env, ide_dep = env_of(kubectl, ide, ns)
            rt_env, rt_dep = env_of(kubectl, runtime, ns)
            assert ide_env["LANGFLOW_BACKEND_ONLY"]["value"] == "false"
            assert rt_env["LANGFLOW_BACKEND_ONLY"]["value"] == "true"
            for name, env_map in ((ide, ide_env), (runtime, rt_env)):
                assert env_map["LANGFLOW_CONFIG_DIR"]["value"] == "/app/data"
                assert env_map["LANGFLOW_PORT"]["value"] == "7860"
                assert env_map["LANGFLOW_SUPERUSER"]["value"] == "admin"
                assert env_map["LANGFLOW_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
                    "name": name + "-generated", "key": "secret-key"}
                assert env_map["LANGFLOW_SUPERUSER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == name + "-generated"
                assert env_map["LANGFLOW_TRACING"]["value"] == "true"
                assert env_map["PHOENIX_COLLECTOR_ENDPOINT"]["value"] == "http://phoenix.observability.svc.cluster.local:6006"
                assert env_map["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "http/protobuf"
                if env == "dev":
                    assert env_map["LANGFLOW_AUTO_LOGIN"]["value"] == "true"
                    assert env_map["LANGFLOW_DATABASE_URL"]["value"] == "sqlite:////app/data/langflow.db"
                else:
                    assert env_map["LANGFLOW_AUTO_LOGIN"]["value"] == "false"
                    assert env_map["LANGFLOW_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": name + "-db", "key": "url"}
            # own storage per plane, HPA only on the runtime, hosts per plane
            assert json.loads(kubectl("get", "pvc", ide + "-data", "-n", ns, "-o", "json").stdout)
            assert json.loads(kubectl("get", "pvc", runtime + "-data", "-n", ns, "-o", "json").stdout)
            hpa = json.loads(kubectl("get", "hpa", runtime, "-n", ns, "-o", "json").stdout)
            assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 3
            assert kubectl("get", "hpa", ide, "-n", ns, check=False).returncode != 0
            hosts = {json.loads(kubectl("get", "ingress", n, "-n", ns, "-o", "json").stdout)["spec"]["rules"][0]["host"]
                     for n in (ide, runtime)}
            assert hosts == {"langflow-%s.%s.example.test" % (team, env), "langflow-runtime-%s.%s.example.test" % (team, env)}
            # separate databases per plane
            if env == "stg":
                import base64
                urls = [base64.b64decode(json.loads(kubectl("get", "secret", n + "-db", "-n", ns, "-o", "json").stdout)
                                         ["data"]["url"]).decode() for n in (ide, runtime)]
                assert urls[0].endswith("/langflow_%s_stg_ide" % team) and urls[1].endswith("/langflow_%s_stg_runtime" % team)
        second = run_playbook(playbook, extra_vars=extra)
        assert second.returncode == 0 and second.recap["changed"] == 0, second.stdout[-3000:]
        check = run_playbook(playbook, extra_vars=extra, check=True)
        assert check.returncode == 0 and check.recap["changed"] == 0
    finally:
        for env in ("dev", "stg"):
            kubectl("delete", "namespace", "%s-%s" % (team, env), "--ignore-not-found", "--wait=false", check=False)


def test_langflow_refuses_sqlite_in_prd(run_playbook, kubectl, playbook):
    team = "lf" + uuid.uuid4().hex[:6]
    extra = {"langflow_tenants": [{"team": team, "environments": ["prd"], "size": "tiny", "database_type": "sqlite"}],
             "langflow_sizes": TINY, "langflow_image_repository": REPO, "langflow_image_tag": "1.0.0"}
    proc = run_playbook(playbook, extra_vars=extra)
    assert proc.returncode != 0 and "database.type" in proc.stdout
    assert kubectl("get", "namespace", "%s-prd" % team, check=False).returncode != 0
