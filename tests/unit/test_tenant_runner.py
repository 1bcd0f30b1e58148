"""TenantRunner against an in-memory cluster and a fake Helm: the check -> apply -> check -> apply
sequence, Secrets, generated credentials, absent/purge, failures before any write."""

import base64
import copy
import datetime
import json
import os

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as tchart
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube._rest import Conflict
from ansible_collections.aistack.platform.plugins.module_utils.kube import lease as klease
from ansible_collections.aistack.platform.plugins.module_utils.tenant.runner import TenantRunner, generate_value

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "charts", "aistack-service")
PASSWORD = "Vaulted-pa55word!"


class MemKube(object):
    """get / list / apply / delete over a dict; counts writes."""

    def __init__(self):
        self.objects = {}
        self.writes = []
        self.rv = 100
        self.access = None  # what open_client's KubeClient carries for helm: nothing to resolve here

    def _key(self, kind, name, namespace):
        return (kind, namespace if kind != "Namespace" else None, name)

    def get(self, api_version, kind, name, namespace=None):
        obj = self.objects.get(self._key(kind, name, namespace))
        return copy.deepcopy(obj)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        wanted = dict(part.split("=", 1) for part in (label_selector or "").split(",") if part)
        out = []
        for (k, ns, _unused), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0])):
            labels = obj["metadata"].get("labels") or {}
            if k == kind and ns == namespace and all(labels.get(a) == b for a, b in wanted.items()):
                out.append(copy.deepcopy(obj))
        return out

    def apply(self, obj, dry_run=False, force=True):
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[self._key(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))] = stored
        self.writes.append(("apply", obj["kind"], obj["metadata"]["name"]))
        return copy.deepcopy(stored)

    def delete(self, api_version, kind, name, namespace=None):
        self.writes.append(("delete", kind, name))
        return self.objects.pop(self._key(kind, name, namespace), None) is not None

    def create(self, obj):
        meta = obj["metadata"]
        if self._key(obj["kind"], meta["name"], meta.get("namespace")) in self.objects:
            raise Conflict("%s %s exists" % (obj["kind"], meta["name"]))
        return self.apply(obj)

    def replace(self, obj):
        meta = obj["metadata"]
        current = self.objects.get(self._key(obj["kind"], meta["name"], meta.get("namespace")))
        if current is None or meta.get("resourceVersion") not in (None, current["metadata"].get("resourceVersion")):
            raise Conflict("%s %s moved" % (obj["kind"], meta["name"]))
        return self.apply(obj)


class FakeHelm(object):
    """Stores releases as Helm does (storage Secrets) so the runner's reads see them."""

    def __init__(self, kube, fail_with=None):
        self.kube = kube
        self.calls = []
        self.fail_with = fail_with

    def upgrade(self, name, namespace, chart, values, wait=True, timeout=300, atomic=False, history_max=5):
        self.calls.append(("upgrade", name, copy.deepcopy(values), atomic))
        if self.fail_with:
            raise AistackError(self.fail_with, field="state")
        previous = H.latest_record(self.kube.list("v1", "Secret", namespace, H.release_selector(name)))
        rev = int(previous["metadata"]["labels"]["version"]) + 1 if previous else 1
        if previous:
            previous["metadata"]["labels"]["status"] = "superseded"
        meta_name, meta_version = tchart.local_chart_meta(chart["path"])
        rel = {"name": name, "namespace": namespace, "version": rev, "info": {"status": "deployed"},
               "chart": {"metadata": {"name": meta_name, "version": meta_version}}, "config": json.loads(json.dumps(values))}
        self.kube.objects[("Secret", namespace, "sh.helm.release.v1.%s.v%d" % (name, rev))] = {
            "metadata": {"name": "sh.helm.release.v1.%s.v%d" % (name, rev),
                         "labels": {"owner": "helm", "name": name, "version": str(rev), "status": "deployed"}},
            "data": {"release": H.encode_release(rel)}}
        return H.summarize_release(rel)

    def uninstall(self, name, namespace, wait=True, timeout=300):
        self.calls.append(("uninstall", name))
        for key in [k for k in self.kube.objects if k[0] == "Secret" and k[2].startswith("sh.helm.release.v1.%s." % name)]:
            del self.kube.objects[key]
        return True


def params(**over):
    p = {
        "team": "team-a", "service": "svc", "environment": "dev", "namespace": None, "state": "present",
        "purge": False, "chart": {"path": CHART}, "image": {"repository": "aistack.local/demohttp", "tag": "1.0.0"},
        "port": 8080, "service_port": 80,
        "database": {"type": "postgresql", "host": "pg", "port": 5432, "name": "db", "user": "u", "password": PASSWORD},
        "persistence": {"enabled": True, "size": "1Gi", "access_mode": "ReadWriteOnce", "mount_path": "/data"},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        "generated_secrets": [{"key": "secret-key", "env": "APP_SECRET_KEY", "format": "fernet", "length": 32}],
        "ingress": {"enabled": True, "domain": "dev.example.test"},
        "wait": True, "timeout": 60, "atomic": False,
    }
    p.update(over)
    return p


def run(kube, p, check=False, helm=None):
    helm = helm or FakeHelm(kube)
    runner = TenantRunner(p, kube, helm, check_mode=check, want_diff=True)
    result = runner.present() if p["state"] == "present" else runner.absent()
    return result, runner, helm


def test_check_apply_check_apply():
    kube = MemKube()
    r1, _unused, h1 = run(kube, params(), check=True)
    assert r1["changed"] and r1["revision"] is None and not kube.writes and not h1.calls
    r2, _unused, h2 = run(kube, params())
    assert r2["changed"] and r2["revision"] == 1 and r2["status"] == "deployed" and len(h2.calls) == 1
    writes = len(kube.writes)
    r3, _unused, h3 = run(kube, params(), check=True)
    assert not r3["changed"] and not h3.calls
    r4, _unused, h4 = run(kube, params())
    assert not r4["changed"] and not h4.calls and len(kube.writes) == writes
    assert r4["values_digest"] == r2["values_digest"]
    assert r4["hosts"] == ["svc-team-a.dev.example.test"]
    assert r4["release_name"] == "team-a-svc-dev" and r4["namespace"] == "team-a-dev"


def test_objects_created_in_order_and_labelled():
    kube = MemKube()
    run(kube, params())
    assert kube.writes[:3] == [("apply", "Namespace", "team-a-dev"), ("apply", "Secret", "team-a-svc-dev-db"),
                               ("apply", "Secret", "team-a-svc-dev-generated")]
    ns = kube.get("v1", "Namespace", "team-a-dev")
    assert ns["metadata"]["labels"]["aistack.io/team"] == "team-a"


def test_password_only_in_the_secret():
    kube = MemKube()
    result, runner, helm = run(kube, params())
    values = helm.calls[0][2]
    blob = json.dumps([values, result, runner.diffs])
    assert PASSWORD not in blob and "pa55" not in blob
    secret = kube.get("v1", "Secret", "team-a-svc-dev-db", "team-a-dev")
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
    assert base64.b64decode(secret["data"]["url"]).decode() == "postgresql://u:Vaulted-pa55word%21@pg:5432/db"


def test_generated_secret_created_once():
    kube = MemKube()
    run(kube, params())
    first = kube.get("v1", "Secret", "team-a-svc-dev-generated", "team-a-dev")["data"]["secret-key"]
    key = base64.b64decode(first)
    assert len(base64.urlsafe_b64decode(key)) == 32  # a Fernet key
    run(kube, params(image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))
    assert kube.get("v1", "Secret", "team-a-svc-dev-generated", "team-a-dev")["data"]["secret-key"] == first


def test_new_generated_key_keeps_old_ones():
    kube = MemKube()
    run(kube, params())
    first = kube.get("v1", "Secret", "team-a-svc-dev-generated", "team-a-dev")["data"]["secret-key"]
    more = params(generated_secrets=params()["generated_secrets"] + [{"key": "admin", "env": "ADMIN_PASSWORD"}])
    result, _unused, _unused = run(kube, more)
    data = kube.get("v1", "Secret", "team-a-svc-dev-generated", "team-a-dev")["data"]
    assert data["secret-key"] == first and "admin" in data and result["changed"]


def test_image_change_upgrades_and_bumps_revision():
    kube = MemKube()
    run(kube, params())
    result, runner, helm = run(kube, params(image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))
    assert result["changed"] and result["revision"] == 2
    assert result["changes"] == ["values.image.tag"]
    assert runner.diffs[0]["before"]["image"]["tag"] == "1.0.0" and runner.diffs[0]["after"]["image"]["tag"] == "1.0.1"


def test_password_rotation_updates_secret_and_rolls_pods():
    kube = MemKube()
    run(kube, params())
    rotated = params(database=dict(params()["database"], password="new-password-2"))
    check, runner, _unused = run(kube, rotated, check=True)
    assert check["changed"]
    secret_diff = [d for d in runner.diffs if "Secret" in d.get("before_header", "")][0]
    assert "new-password-2" not in json.dumps(runner.diffs)
    assert "(changed)" in secret_diff["after"]["password"]
    result, _unused, helm = run(kube, rotated)
    assert result["changed"] and result["revision"] == 2
    assert "values.rolloutTriggers.secret/team-a-svc-dev-db" in result["changes"]


def test_failed_release_is_retried():
    kube = MemKube()
    run(kube, params())
    rec = kube.objects[("Secret", "team-a-dev", "sh.helm.release.v1.team-a-svc-dev.v1")]
    rel = H.decode_release(rec["data"]["release"])
    rel["info"]["status"] = "failed"
    rec["data"]["release"] = H.encode_release(rel)
    result, _unused, helm = run(kube, params())
    assert result["changed"] and "status (failed)" in result["changes"]


def _leave_pending(kube, rev, status, name="team-a-svc-dev", namespace="team-a-dev"):
    """Make revision ``rev`` look as an interrupted run leaves it: ``status`` in the label and the payload."""
    rec = kube.objects[("Secret", namespace, "sh.helm.release.v1.%s.v%d" % (name, rev))]
    rel = H.decode_release(rec["data"]["release"])
    rel["info"]["status"] = status
    rec["data"]["release"] = H.encode_release(rel)
    rec["metadata"]["labels"]["status"] = status
    rec["metadata"]["resourceVersion"] = "7%d" % rev
    return rec


def _lease(kube, renewed_ago, holder="ctl/1/abc", name="team-a-svc-dev", namespace="team-a-dev"):
    now = klease.utcnow() - datetime.timedelta(seconds=renewed_ago)
    kube.objects[("Lease", namespace, klease.lease_name(name))] = klease.lease_object(
        klease.lease_name(name), namespace, holder, now, resource_version="55")


def test_pending_upgrade_without_lease_is_marked_failed_and_upgraded():
    kube = MemKube()
    run(kube, params())
    run(kube, params(image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))
    _leave_pending(kube, 2, "pending-upgrade")
    warnings = []
    check = TenantRunner(params(), kube, FakeHelm(kube), check_mode=True, warn=warnings.append).present()
    assert check["changed"] and check["recovered"]["action"] == "mark-failed"
    assert check["recovered"]["status"] == "pending-upgrade" and check["recovered"]["deployed"] == 1
    assert "would be marked failed" in warnings[0] and "PersistentVolumeClaims" in warnings[0]
    assert kube.objects[("Secret", "team-a-dev", "sh.helm.release.v1.team-a-svc-dev.v2")]["metadata"]["labels"][
        "status"] == "pending-upgrade"  # check mode wrote nothing
    warnings = []
    helm = FakeHelm(kube)
    result = TenantRunner(params(), kube, helm, check_mode=False, warn=warnings.append).present()
    assert result["changed"] and result["revision"] == 3 and len(helm.calls) == 1
    assert result["recovered"]["lease"] == "no lease" and "was marked failed" in warnings[0]
    rec = kube.objects[("Secret", "team-a-dev", "sh.helm.release.v1.team-a-svc-dev.v2")]
    assert H.decode_release(rec["data"]["release"])["info"]["status"] == "failed"
    # the Lease was held for the upgrade and given back
    assert ("apply", "Lease", "aistack-helm-team-a-svc-dev") in kube.writes
    assert ("Lease", "team-a-dev", "aistack-helm-team-a-svc-dev") not in kube.objects
    again, _unused, helm = run(kube, params())
    assert not again["changed"] and "recovered" not in again and not helm.calls


def test_pending_install_is_removed_and_installed_again():
    kube = MemKube()
    run(kube, params())
    _leave_pending(kube, 1, "pending-install")
    _lease(kube, renewed_ago=40)  # the dead run's lease, expired
    result, _unused, helm = run(kube, params())
    assert result["changed"] and result["recovered"]["action"] == "delete"
    assert result["recovered"]["lease"].startswith("an expired lease of ctl/1/abc")
    assert ("delete", "Secret", "sh.helm.release.v1.team-a-svc-dev.v1") in kube.writes
    assert result["revision"] == 1 and result["status"] == "deployed" and len(helm.calls) == 1


def test_pending_release_with_a_live_lease_is_refused():
    kube = MemKube()
    run(kube, params())
    _leave_pending(kube, 1, "pending-upgrade")
    _lease(kube, renewed_ago=3)
    writes = len(kube.writes)
    with pytest.raises(AistackError) as info:
        run(kube, params())
    assert "another run is working on it" in str(info.value) and "ctl/1/abc" in str(info.value)
    assert info.value.field == "state" and len(kube.writes) == writes


def test_a_live_lease_stops_a_second_change():
    kube = MemKube()
    run(kube, params())
    _lease(kube, renewed_ago=1, holder="other/2/def")
    with pytest.raises(AistackError) as info:
        run(kube, params(image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))
    assert "another run is working on release team-a-dev/team-a-svc-dev" in str(info.value)
    assert "other/2/def" in str(info.value)
    # an expired one is taken over
    _lease(kube, renewed_ago=16, holder="other/2/def")
    result, _unused, _helm = run(kube, params(image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))
    assert result["changed"] and result["revision"] == 2


def test_helm_failure_propagates_after_secrets():
    kube = MemKube()
    helm = FakeHelm(kube, fail_with="boom")
    with pytest.raises(AistackError):
        run(kube, params(), helm=helm)


def test_bad_input_touches_nothing():
    kube = MemKube()
    with pytest.raises(AistackError):
        run(kube, params(image={"repository": "x", "tag": "latest"}))
    assert kube.writes == []


def test_missing_referenced_secret_fails_before_writes():
    kube = MemKube()
    db = dict(params()["database"], password=None, password_secret={"name": "pg-creds", "key": "password"})
    with pytest.raises(AistackError) as info:
        run(kube, params(database=db))
    assert info.value.field == "database.password_secret" and kube.writes == []


def test_missing_referenced_secret_in_check_mode_warns_and_reports_a_change():
    """A fresh site in check mode: the Secret an earlier layer writes cannot exist yet."""
    kube = MemKube()
    warnings = []
    db = dict(params()["database"], password=None, password_secret={"name": "pg-creds", "key": "password"})
    helm = FakeHelm(kube)
    runner = TenantRunner(params(database=db), kube, helm, check_mode=True, warn=warnings.append)
    result = runner.present()
    assert result["changed"] and kube.writes == [] and not helm.calls
    assert len(warnings) == 1 and warnings[0].startswith("database.password_secret: Secret team-a-dev/pg-creds")
    # a Secret that exists but lacks the key is still an error in check mode
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a-dev"}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-creds", "namespace": "team-a-dev"},
                "data": {"other": "eA=="}})
    with pytest.raises(AistackError) as info:
        run(kube, params(database=db), check=True)
    assert info.value.field == "database.password_secret"


def test_existing_secret_reference_and_its_version():
    kube = MemKube()
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a-dev"}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-creds", "namespace": "team-a-dev"},
                "data": {"password": "eA=="}})
    db = dict(params()["database"], password=None, password_secret={"name": "pg-creds", "key": "password"})
    result, _unused, helm = run(kube, params(database=db))
    values = helm.calls[0][2]
    assert values["rolloutTriggers"]["secret/pg-creds"] == "102"
    assert not any(w[2] == "team-a-svc-dev-db" for w in kube.writes)
    # the user rotates their Secret: pods must roll
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-creds", "namespace": "team-a-dev"},
                "data": {"password": "eQ=="}})
    assert run(kube, params(database=db), check=True)[0]["changed"]


def test_absent_keeps_claims_unless_purged():
    kube = MemKube()
    run(kube, params())
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "team-a-svc-dev-data", "namespace": "team-a-dev",
                             "labels": {"app.kubernetes.io/instance": "team-a-svc-dev"}}})
    r1, _unused, h1 = run(kube, params(state="absent"), check=True)
    assert r1["changed"] and not h1.calls
    r2, _unused, h2 = run(kube, params(state="absent"))
    assert r2["changed"] and h2.calls == [("uninstall", "team-a-svc-dev")]
    assert r2["kept_claims"] == ["team-a-svc-dev-data"]
    r3, _unused, _unused = run(kube, params(state="absent"))
    assert not r3["changed"]
    r4, _unused, _unused = run(kube, params(state="absent", purge=True))
    assert r4["changed"]
    assert kube.get("v1", "PersistentVolumeClaim", "team-a-svc-dev-data", "team-a-dev") is None
    assert kube.get("v1", "Secret", "team-a-svc-dev-db", "team-a-dev") is None
    assert not run(kube, params(state="absent", purge=True))[0]["changed"]


def test_absent_without_namespace():
    result, _unused, helm = run(MemKube(), params(state="absent"))
    assert not result["changed"] and not helm.calls


def test_local_chart_edit_is_a_change(tmp_path):
    import shutil
    chart = tmp_path / "chart"
    shutil.copytree(CHART, str(chart))
    kube = MemKube()
    run(kube, params(chart={"path": str(chart)}))
    assert not run(kube, params(chart={"path": str(chart)}), check=True)[0]["changed"]
    with open(str(chart / "templates" / "service.yaml"), "a") as handle:
        handle.write("# edited\n")
    result = run(kube, params(chart={"path": str(chart)}), check=True)[0]
    assert result["changed"] and result["changes"] == ["values.aistack.chartDigest"]


def test_rwo_with_many_replicas_warns():
    kube = MemKube()
    warnings = []
    helm = FakeHelm(kube)
    runner = TenantRunner(params(replicas=3), kube, helm, warn=warnings.append)
    runner.present()
    assert warnings and "ReadWriteMany" in warnings[0]


@pytest.mark.parametrize("fmt,length,check", [
    ("token", 24, lambda v: len(v) == 24 and v.isalnum()),
    ("hex", 40, lambda v: len(v) == 40 and int(v, 16) >= 0),
    ("fernet", 0, lambda v: len(base64.urlsafe_b64decode(v)) == 32),
])
def test_generate_value(fmt, length, check):
    value = generate_value(fmt, length)
    assert check(value)
    assert value != generate_value(fmt, length)


def test_secret_values_stored_and_referenced():
    kube = MemKube()
    p = params(secret_values={"LANGFLOW_SUPERUSER_PASSWORD": "Sup3r-Vault"})
    result, runner, helm = run(kube, p)
    values = helm.calls[0][2]
    assert {"name": "LANGFLOW_SUPERUSER_PASSWORD", "secretName": "team-a-svc-dev-env",
            "key": "LANGFLOW_SUPERUSER_PASSWORD"} in values["secretEnv"]
    assert "Sup3r-Vault" not in json.dumps([values, result, runner.diffs])
    data = kube.get("v1", "Secret", "team-a-svc-dev-env", "team-a-dev")["data"]
    assert base64.b64decode(data["LANGFLOW_SUPERUSER_PASSWORD"]).decode() == "Sup3r-Vault"
    assert not run(kube, p)[0]["changed"]


def test_values_files_reach_helm_between_typed_options_and_extra_values(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("podAnnotations: {team: a, from: first}\nimage: {tag: 1.0.1}\n")
    second.write_text("podAnnotations: {from: second}\n")
    kube = MemKube()
    p = params(values_files=[str(first), str(second)], extra_values={"podAnnotations": {"extra": "yes"}})
    result, _unused, helm = run(kube, p)
    sent = helm.calls[0][2]
    assert sent["podAnnotations"] == {"team": "a", "from": "second", "extra": "yes"}
    assert sent["image"]["tag"] == "1.0.1"
    # unchanged files: no change; a changed file: an upgrade naming the changed value
    again, _unused, helm2 = run(kube, p)
    assert not again["changed"] and not helm2.calls
    second.write_text("podAnnotations: {from: edited}\n")
    edited, _unused, _helm = run(kube, p, check=True)
    assert edited["changed"] and edited["changes"] == ["values.podAnnotations.from"]
    assert edited["values_digest"] != result["values_digest"]


def test_a_values_file_breaking_a_rule_touches_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: {tag: latest}\n")
    kube = MemKube()
    helm = FakeHelm(kube)
    with pytest.raises(AistackError) as info:
        run(kube, params(values_files=[str(bad)]), helm=helm)
    assert info.value.field == "values_files[0]: image.tag"
    assert not kube.writes and not helm.calls
