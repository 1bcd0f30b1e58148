# -*- coding: utf-8 -*-
"""The databases role's compose backend on the real Docker engine and the real cluster.

PostgreSQL (pgvector) and Redis run from images built here (tests/images/*, on aistack.local/debian:trixie).
Qdrant, MinIO and Neo4j cannot be built here (no Debian packages, no registry): their part of the project is
checked with `docker compose config`.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from conftest import CACHE

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import local_images  # noqa: E402  # pylint: disable=wrong-import-position

PG_IMAGE = "aistack.local/postgres:17"
REDIS_IMAGE = "aistack.local/redis:8"
BASE_IMAGE = "aistack.local/debian:trixie"


def _docker(*args, check=True, timeout=600):
    proc = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s: %s" % (" ".join(args), proc.stderr or proc.stdout))
    return proc


def _host_ip():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "eth0"], capture_output=True, text=True, check=False).stdout
    return out.split("inet ")[1].split("/")[0]


@pytest.fixture(scope="session")
def docker_images():
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.fail("docker compose plugin missing: run tests/images/install-compose.sh")
    if _docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail("%s missing: run tests/cluster/cluster.sh base-image" % BASE_IMAGE)
    # Built as `make local-images` builds them (same source-hash label, so the same image): a plain
    # `docker build` here would move the tag under the local site's running containers, and a concurrent
    # test of the site would see Compose recreate them.
    try:
        local_images.ensure(["postgres", "redis"])
    except RuntimeError as err:
        pytest.fail(str(err))
    return dict(postgres=PG_IMAGE, redis=REDIS_IMAGE)


def _env():
    env = dict(os.environ)
    colls = ROOT / "build" / "collections"
    link = colls / "ansible_collections" / "aistack" / "platform"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(colls)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(CACHE / "bin"), env["PATH"]])
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _inventory(tmp_path, project, services, namespace, kubeconfig, extra=None):
    ip = _host_ip()
    base = 20000 + int(uuid.uuid4().hex[:4], 16) % 20000
    vars_ = dict(
        databases_services=services, databases_compose_project=project,
        databases_compose_dir=str(tmp_path / "project"), databases_bind_addresses=[ip],
        databases_postgres_port=base, databases_redis_port=base + 1,
        databases_qdrant_http_port=base + 2, databases_qdrant_grpc_port=base + 3,
        databases_minio_api_port=base + 4, databases_minio_console_port=base + 5,
        databases_neo4j_http_port=base + 6, databases_neo4j_bolt_port=base + 7,
        databases_postgres_image=PG_IMAGE, databases_redis_image=REDIS_IMAGE,
        databases_postgres_admin_password="adm-Pw/123:x", databases_redis_password="red-Pw@12345",
        databases_qdrant_api_key="qdrant-key-123", databases_minio_root_password="minio-secret-123",
        databases_neo4j_password="neo4j-secret-123",
        databases_postgres_consumers=[dict(name="lightrag", password="lr-Pw#12345")],
        databases_namespace=namespace, aistack_kubeconfig=kubeconfig, databases_compose_wait_timeout=180,
    )
    vars_.update(extra or {})
    inv = dict(all=dict(children=dict(infra=dict(hosts=dict(infra1=dict(
        ansible_connection="local", ansible_python_interpreter=sys.executable)))), vars=vars_))
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    return path


def _play(inventory, *args, env=None):
    return subprocess.run(["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks/databases.yml")] + list(args),
                          env=env or _env(), capture_output=True, text=True, timeout=1200, cwd=str(ROOT), check=False)


@pytest.fixture
def project():
    name = "aistack-t-" + uuid.uuid4().hex[:8]
    yield name
    subprocess.run(["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"], capture_output=True, check=False)


RENDER = textwrap.dedent("""
    - hosts: infra
      gather_facts: false
      vars_files: [{root}/roles/databases/defaults/main.yml, {root}/roles/databases/vars/main.yml]
      tasks:
        - ansible.builtin.set_fact:
            _databases_consumers: [{{name: lightrag, user: lightrag, database: lightrag, password: lr-Pw12345,
                                    env: AISTACK_PG_PASSWORD_LIGHTRAG, extensions: [vector], namespace: x}}]
        - ansible.builtin.file: {{path: "{{{{ databases_compose_dir }}}}/initdb", state: directory, mode: "0755"}}
        - ansible.builtin.template: {{src: "{root}/roles/databases/templates/compose.yml.j2",
                                      dest: "{{{{ databases_compose_dir }}}}/compose.yml", mode: "0644"}}
        - ansible.builtin.template: {{src: "{root}/roles/databases/templates/env.j2", dest: "{{{{ databases_compose_dir }}}}/.env", mode: "0600"}}
""")


def test_rendered_project_for_all_services_passes_compose_config(tmp_path, project):
    """qdrant, minio and neo4j cannot be built here: their services are only checked by compose itself."""
    services = ["postgresql", "redis", "qdrant", "minio", "neo4j"]
    inv = _inventory(tmp_path, project, services, "unused", "/nonexistent",
                     extra=dict(databases_bind_addresses=["192.0.2.2", "2001:db8::2"]))
    pb = tmp_path / "render.yml"
    pb.write_text(RENDER.format(root=ROOT))
    # vars_files outrank inventory vars: pass the site's values as extra vars, as the role would see them.
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(json.loads(inv.read_text())["all"]["vars"]))
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), "-e", "@%s" % extra, str(pb)], env=_env(),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pdir = tmp_path / "project"
    assert oct((pdir / ".env").stat().st_mode & 0o777) == "0o600"
    cfg = subprocess.run(["docker", "compose", "-p", project, "config", "--format", "json"], cwd=str(pdir),
                         capture_output=True, text=True, check=False)
    assert cfg.returncode == 0, cfg.stderr
    doc = json.loads(cfg.stdout)
    assert set(doc["services"]) == set(services)
    for name, svc in doc["services"].items():
        assert svc["restart"] == "unless-stopped", name
        assert "healthcheck" in svc, name
        assert {p["host_ip"] for p in svc["ports"]} == {"192.0.2.2", "2001:db8::2"}, name
    assert set(doc["volumes"]) == {s + "-data" for s in services}
    qd = {(p["target"], p["published"]) for p in doc["services"]["qdrant"]["ports"]}
    assert {t for t, _published in qd} == {6333, 6334}
    assert {p["target"] for p in doc["services"]["minio"]["ports"]} == {9000, 9001}
    redis_cmd = " ".join(doc["services"]["redis"]["command"])
    for flag in ("--requirepass", "--appendonly yes", "--maxmemory 2gb", "--maxmemory-policy allkeys-lru"):
        assert flag in redis_cmd
    assert "red-Pw@12345" not in (pdir / "compose.yml").read_text()
    assert doc["services"]["postgresql"]["environment"]["AISTACK_PG_PASSWORD_LIGHTRAG"] == "lr-Pw12345"
    assert "pg_isready" in " ".join(doc["services"]["postgresql"]["healthcheck"]["test"])


def _wait_pod(kubectl, ns, name, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        phase = kubectl("-n", ns, "get", "pod", name, "-o", "jsonpath={.status.phase}", check=False).stdout
        if phase in ("Succeeded", "Failed"):
            return phase, kubectl("-n", ns, "logs", name, check=False).stdout
        time.sleep(2)
    raise AssertionError("pod %s/%s did not finish: %s" % (ns, name, kubectl("-n", ns, "describe", "pod", name, check=False).stdout))


def _import(image):
    subprocess.run([str(ROOT / "tests/cluster/cluster.sh"), "import-image", image], check=True, capture_output=True)


def test_compose_end_to_end_and_fault(tmp_path, project, docker_images, kubeconfig, kubectl, namespace):
    inv = _inventory(tmp_path, project, ["postgresql", "redis"], namespace, kubeconfig)
    env = _env()
    env["KUBECONFIG"] = kubeconfig
    # check mode first: honest (nothing created), then apply, then idempotent re-runs.
    proc = _play(inv, "--check", env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert _docker("compose", "-p", project, "ps", "-q").stdout.strip() == ""
    proc = _play(inv, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "red-Pw@12345" not in proc.stdout and "lr-Pw#12345" not in proc.stdout
    for args in (("--check",), ()):
        again = _play(inv, *args, env=env)
        assert again.returncode == 0, again.stdout[-4000:]
        assert "changed=0" in again.stdout, again.stdout[-4000:]

    # A pod connects to the registered services with the Secrets' credentials.
    for image in (PG_IMAGE, REDIS_IMAGE):
        _import(image)
    pg_pod = dict(apiVersion="v1", kind="Pod", metadata=dict(name="pgcheck", namespace=namespace), spec=dict(
        restartPolicy="Never", containers=[dict(
            name="psql", image=PG_IMAGE, imagePullPolicy="Never",
            envFrom=[dict(secretRef=dict(name="db-postgresql-lightrag"))],
            command=["sh", "-c", 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" '
                     '-U "$POSTGRES_USER" -d "$POSTGRES_DATABASE" -tAc '
                     '"select extname from pg_extension where extname = \'vector\'"'])]))
    redis_pod = dict(apiVersion="v1", kind="Pod", metadata=dict(name="redischeck", namespace=namespace), spec=dict(
        restartPolicy="Never", containers=[dict(
            name="redis", image=REDIS_IMAGE, imagePullPolicy="Never",
            envFrom=[dict(secretRef=dict(name="db-redis"))],
            command=["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping'])]))
    kubectl("apply", "-f", "-", input=json.dumps(dict(apiVersion="v1", kind="List", items=[pg_pod, redis_pod])))
    phase, logs = _wait_pod(kubectl, namespace, "pgcheck")
    assert (phase, logs.strip()) == ("Succeeded", "vector")
    phase, logs = _wait_pod(kubectl, namespace, "redischeck")
    assert (phase, logs.strip()) == ("Succeeded", "PONG")
    host = kubectl("-n", namespace, "get", "secret", "db-postgresql-lightrag", "-o", "jsonpath={.data.POSTGRES_HOST}").stdout
    import base64
    assert base64.b64decode(host).decode() == "postgresql.%s.svc.cluster.local" % namespace

    # Fault: PostgreSQL stopped -> the role fails clearly and does not touch the registration.
    _docker("compose", "-p", project, "stop", "postgresql")
    proc = _play(inv, env=env)
    assert proc.returncode != 0
    assert "postgresql of compose project %s" % project in proc.stdout
    assert "not running" in proc.stdout and "not registered" in proc.stdout
    # The operator starts it: the next run converges.
    _docker("compose", "-p", project, "start", "postgresql")
    proc = _play(inv, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
