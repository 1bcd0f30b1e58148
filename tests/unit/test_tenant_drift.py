"""The pure parts of drift detection and pending recovery: manifests against live objects (tenant/drift.py),
release records (helm/records.py), Lease times (kube/lease.py)."""

import base64
import copy
import datetime

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.helm import records as R
from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.kube import lease as L
from ansible_collections.aistack.platform.plugins.module_utils.tenant import drift as D

MANIFEST = """---
# Source: aistack-service/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: t-demo-dev
  labels: {app.kubernetes.io/instance: t-demo-dev}
spec:
  type: ClusterIP
  ports:
    - {name: http, port: 80, targetPort: http}
  selector: {app.kubernetes.io/instance: t-demo-dev}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: t-demo-dev
  annotations: {}
spec:
  replicas: 1
  template:
    metadata:
      annotations: {checksum/config: abc}
    spec:
      hostNetwork: false
      containers:
        - name: demo
          image: "aistack.local/tenant-demo:1.0.0"
          env:
            - {name: NAME, value: t-dev}
            - name: APP_SECRET_KEY
              valueFrom: {secretKeyRef: {name: t-demo-dev-generated, key: secret-key}}
            - {name: ADMIN_PASSWORD, value: ""}
          resources:
            requests: {cpu: 0.5, memory: 1Gi}
            limits: {cpu: "1", memory: 2Gi}
          volumeMounts:
            - {name: data, mountPath: /data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: t-demo-dev-data}
spec:
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Secret
metadata: {name: t-demo-dev-extra}
stringData: {token: s3cr3t-value}
"""


def live_objects():
    """What the API server returns for MANIFEST: defaults, status and server metadata added."""
    objs = {}
    for obj in D.parse_manifest(MANIFEST):
        live = copy.deepcopy(obj)
        live["metadata"].update(namespace="t-dev", resourceVersion="42", uid="u-1",
                                managedFields=[{"manager": "helm"}])
        live["metadata"].pop("annotations", None)
        objs[(obj["kind"], obj["metadata"]["name"])] = live
    dep = objs[("Deployment", "t-demo-dev")]
    dep["spec"]["template"]["spec"].pop("hostNetwork")
    dep["spec"]["strategy"] = {"type": "RollingUpdate"}
    dep["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "now"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    container["env"][2] = {"name": "ADMIN_PASSWORD"}  # the server drops the empty value
    container["terminationMessagePath"] = "/dev/termination-log"
    dep["status"] = {"replicas": 1}
    svc = objs[("Service", "t-demo-dev")]
    svc["spec"]["clusterIP"] = "10.43.0.7"
    svc["spec"]["ports"][0]["protocol"] = "TCP"
    pvc = objs[("PersistentVolumeClaim", "t-demo-dev-data")]
    pvc["spec"]["resources"]["requests"]["storage"] = "5Gi"  # grown by hand: not drift
    secret = objs[("Secret", "t-demo-dev-extra")]
    secret["data"] = {"token": base64.b64encode(b"s3cr3t-value").decode()}
    del secret["stringData"]
    return objs


def detect(objs):
    return D.detect(D.parse_manifest(MANIFEST), lambda ref: objs.get((ref[1], ref[3])), "t-dev")


def test_parse_manifest_skips_empty_documents_and_comments():
    objs = D.parse_manifest(MANIFEST + "---\n# Source: empty.yaml\n---\n")
    assert [o["kind"] for o in objs] == ["Service", "Deployment", "PersistentVolumeClaim", "Secret"]
    assert D.parse_manifest("") == [] and D.parse_manifest(None) == []
    with pytest.raises(AistackError) as info:
        D.parse_manifest("a: [b\n")
    assert info.value.field == "drift"


def test_matching_objects_are_no_drift():
    assert detect(live_objects()) == []


@pytest.mark.parametrize("edit,kind,path,before,after", [
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"].update(replicas=3), "Deployment", "spec.replicas", 3, 1),
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0].update(image="x:2"),
     "Deployment", "spec.template.spec.containers[demo].image", "x:2", "aistack.local/tenant-demo:1.0.0"),
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]["env"][0].update(
        value="other"), "Deployment", "spec.template.spec.containers[demo].env[NAME].value", "other", "t-dev"),
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]["env"][1]["valueFrom"][
        "secretKeyRef"].update(name="stolen"), "Deployment",
     "spec.template.spec.containers[demo].env[APP_SECRET_KEY].valueFrom.secretKeyRef.name", "stolen",
     "t-demo-dev-generated"),
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]["env"].pop(0),
     "Deployment", "spec.template.spec.containers[demo].env[NAME]", D.ABSENT, {"name": "NAME", "value": "t-dev"}),
    (lambda o: o[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]["resources"][
        "limits"].update(cpu="2"), "Deployment", "spec.template.spec.containers[demo].resources.limits.cpu", "2", "1"),
    (lambda o: o[("Service", "t-demo-dev")]["spec"]["ports"][0].update(port=81), "Service", "spec.ports[http].port",
     81, 80),
])
def test_hand_edits_name_object_and_field(edit, kind, path, before, after):
    objs = live_objects()
    edit(objs)
    drifts = detect(objs)
    assert len(drifts) == 1 and drifts[0].ref[1] == kind and not drifts[0].missing
    assert [f[0] for f in drifts[0].fields] == [path]
    assert drifts[0].summary() == "drift: %s t-dev/t-demo-dev %s" % (kind, path)
    diff = D.diff_entries(drifts)[0]
    assert diff["before"] == {path: before} and diff["after"] == {path: after}
    assert diff["before_header"] == "%s t-dev/t-demo-dev (live)" % kind
    assert drifts[0].as_dict() == {"object": "%s t-dev/t-demo-dev" % kind, "kind": kind, "name": "t-demo-dev",
                                   "fields": [path]}


@pytest.mark.parametrize("kind,name", [("Deployment", "t-demo-dev"), ("Service", "t-demo-dev"),
                                       ("PersistentVolumeClaim", "t-demo-dev-data")])
def test_deleted_objects(kind, name):
    objs = live_objects()
    del objs[(kind, name)]
    drifts = detect(objs)
    assert [(d.ref[1], d.missing) for d in drifts] == [(kind, True)]
    assert drifts[0].summary() == "drift: %s t-dev/%s (deleted)" % (kind, name)
    assert drifts[0].as_dict()["missing"] is True


def test_an_object_that_cannot_be_read_is_not_compared():
    objs = live_objects()
    objs[("Service", "t-demo-dev")] = D.UNREAD
    del objs[("Deployment", "t-demo-dev")]
    assert [(d.ref[1], d.missing) for d in detect(objs)] == [("Deployment", True)]


def test_an_object_being_deleted_counts_as_deleted():
    objs = live_objects()
    objs[("Service", "t-demo-dev")]["metadata"]["deletionTimestamp"] = "2026-12-06T10:00:00Z"
    assert [d.missing for d in detect(objs)] == [True]


def test_secret_data_is_masked():
    objs = live_objects()
    objs[("Secret", "t-demo-dev-extra")]["data"]["token"] = base64.b64encode(b"changed-by-hand").decode()
    drifts = detect(objs)
    assert [f[0] for f in drifts[0].fields] == ["data.token"]
    diff = D.diff_entries(drifts)[0]
    assert diff == {"before_header": "Secret t-dev/t-demo-dev-extra (live)",
                    "after_header": "Secret t-dev/t-demo-dev-extra (release)",
                    "before": {"data.token": D.MASK}, "after": {"data.token": D.MASK}}
    assert "s3cr3t" not in repr(diff) and "changed-by-hand" not in repr(diff)
    assert "czNjcjN0" not in repr(diff)  # nor its base64


def test_credential_env_values_are_masked():
    objs = live_objects()
    objs[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]["env"][2]["value"] = "hunter2"
    drifts = detect(objs)
    path = "spec.template.spec.containers[demo].env[ADMIN_PASSWORD].value"
    assert [f[0] for f in drifts[0].fields] == [path]
    assert "hunter2" not in repr(D.diff_entries(drifts))


def test_additions_beside_the_rendered_fields_are_not_drift():
    objs = live_objects()
    container = objs[("Deployment", "t-demo-dev")]["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "EXTRA", "value": "1"})
    objs[("Service", "t-demo-dev")]["metadata"]["annotations"] = {"by-hand": "yes"}
    assert detect(objs) == []


@pytest.mark.parametrize("want,have,equal", [
    ("1", "1000m", True), ("0.5", "500m", True), ("1Gi", "1024Mi", True), ("1G", "1000M", True),
    (1, "1", True), ("100m", "0.1", True), ("1Gi", "1G", False), ("2", "1", False),
])
def test_quantities_compare_by_value(want, have, equal):
    assert (D.compare({"limits": {"cpu": want}}, {"limits": {"cpu": have}}) == []) is equal


def test_quantity_parser():
    assert D.parse_quantity("1.5Gi") == 1.5 * 2 ** 30 and D.parse_quantity("1e3") == 1000
    assert D.parse_quantity("abc") is None and D.parse_quantity(True) is None and D.parse_quantity(None) is None


def test_lists_without_keys_compare_by_position():
    assert D.compare({"args": ["a", "b"]}, {"args": ["a", "b"]}) == []
    assert D.compare({"args": ["a", "b"]}, {"args": ["a", "c"]}) == [("args[1]", "b", "c")]
    assert D.compare({"args": ["a"]}, {"args": ["a", "b"]}) == [("args", ["a"], ["a", "b"])]


# --------------------------------------------------------------------------- release records

def record(rev, status, name="rel"):
    rel = {"name": name, "namespace": "ns", "version": rev, "info": {"status": status},
           "chart": {"metadata": {"name": "c", "version": "1"}}, "config": {"a": rev}, "manifest": MANIFEST}
    return {"metadata": {"name": "sh.helm.release.v1.%s.v%d" % (name, rev), "resourceVersion": str(100 + rev),
                         "labels": {"owner": "helm", "name": name, "version": str(rev), "status": status}},
            "data": {"release": H.encode_release(rel)}}


def test_history_and_pending():
    items = [record(3, "pending-upgrade"), record(1, "superseded"), record(2, "deployed")]
    assert R.history(items) == [(1, "superseded", "sh.helm.release.v1.rel.v1"),
                                (2, "deployed", "sh.helm.release.v1.rel.v2"),
                                (3, "pending-upgrade", "sh.helm.release.v1.rel.v3")]
    assert R.pending(items)[0] == 3 and R.last_deployed(items)[0] == 2
    assert R.pending(items[1:]) is None and R.pending([]) is None


@pytest.mark.parametrize("items,action,deployed", [
    ([record(1, "pending-install")], "delete", None),
    ([record(1, "deployed"), record(2, "pending-upgrade")], "mark-failed", 1),
    ([record(1, "superseded"), record(2, "deployed"), record(3, "pending-rollback")], "mark-failed", 2),
    ([record(1, "failed"), record(2, "pending-upgrade")], "mark-failed", None),
])
def test_recovery_plan(items, action, deployed):
    plan = R.recovery_plan(items)
    assert plan["action"] == action and plan["deployed"] == deployed
    text = R.describe_plan(plan, "rel", "ns")
    assert text.startswith("release ns/rel was left '%s' at revision %d" % (plan["status"], plan["revision"]))
    assert "PersistentVolumeClaims and data were not touched" in text
    assert ("installed again" if action == "delete" else "marked failed") in text


def test_no_plan_for_a_settled_release():
    assert R.recovery_plan([record(1, "deployed")]) is None and R.recovery_plan([record(1, "failed")]) is None


def test_mark_failed_rewrites_label_and_payload():
    item = record(2, "pending-upgrade")
    failed = R.mark_failed(item)
    assert failed["metadata"]["labels"]["status"] == "failed"
    assert failed["metadata"]["resourceVersion"] == "102"  # the replace is refused if the record moved
    rel = H.decode_release(failed["data"]["release"])
    assert rel["info"]["status"] == "failed" and "interrupted" in rel["info"]["description"]
    assert rel["config"] == {"a": 2} and rel["manifest"] == MANIFEST
    assert item["metadata"]["labels"]["status"] == "pending-upgrade"  # a copy


def test_history_reads_the_latest_manifest_once():
    hist = R.History([record(1, "superseded"), record(2, "deployed")])
    assert hist.release["revision"] == 2 and hist.release["status"] == "deployed"
    assert hist.manifest == MANIFEST and hist.record("sh.helm.release.v1.rel.v1")["metadata"]["labels"]["version"] == "1"
    assert R.History([]).release is None


# --------------------------------------------------------------------------- Lease

def test_lease_state():
    now = datetime.datetime(2026, 12, 6, 18, 0, 0)
    fresh = L.lease_object("aistack-helm-rel", "ns", "h/1/a", now - datetime.timedelta(seconds=4))
    stale = L.lease_object("aistack-helm-rel", "ns", "h/1/a", now - datetime.timedelta(seconds=15))
    assert fresh["spec"]["renewTime"] == "2026-12-06T17:59:56.000000Z" and fresh["spec"]["leaseDurationSeconds"] == 15
    assert L.lease_state(fresh, now) == (True, "h/1/a", 4.0)
    assert L.lease_state(stale, now)[0] is False
    assert L.lease_state(None, now) == (False, None, None)
    assert L.describe(fresh, now) == "a live lease of h/1/a, renewed 4 s ago"
    assert L.describe(stale, now) == "an expired lease of h/1/a, renewed 15 s ago"
    assert L.describe(None, now) == "no lease"
    assert L.parse_time("2026-12-06T17:59:56Z") == now - datetime.timedelta(seconds=4)
    assert L.parse_time("garbage") is None and L.lease_name("rel") == "aistack-helm-rel"


def test_lease_renews_and_gives_back():
    class Kube(object):
        def __init__(self):
            self.obj, self.calls, self.access = None, [], None

        def get(self, *args):
            return copy.deepcopy(self.obj)

        def create(self, obj):
            self.calls.append("create")
            self.obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion="1"))
            return self.obj

        def replace(self, obj):
            self.calls.append("replace")
            assert obj["metadata"]["resourceVersion"] == self.obj["metadata"]["resourceVersion"]
            self.obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(len(self.calls))))
            return self.obj

        def delete(self, *args):
            self.calls.append("delete")
            self.obj = None

    kube = Kube()
    lease = L.Lease(kube, "aistack-helm-rel", "ns", renew_seconds=0.05)
    with lease:
        import time
        time.sleep(0.3)
        assert kube.obj["spec"]["holderIdentity"] == lease.holder
    assert lease.renewals >= 2 and kube.calls[0] == "create" and kube.calls[-1] == "delete"
    assert kube.obj is None and lease.renew_error is None
