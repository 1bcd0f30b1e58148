"""helm_tenant's extra volumes (`volumes` -> the chart's `extraClaims`): validation, values, and what the
generic chart renders from them through the real `helm template` (PVCs, mounts, volumes)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "aistack-service"
HELM = Path.home() / ".cache" / "aistack" / "bin" / "helm"

INPUTS = {"name": "inputs", "mount_path": "/app/data/inputs", "size": "5Gi"}


def params(**over):
    base = {
        "team": "platform", "service": "lightrag", "environment": "dev", "namespace": "aistack-system",
        "state": "present", "chart": {"path": str(CHART)},
        "image": {"repository": "ghcr.io/hkuds/lightrag", "tag": "v1.5.7"},
        "port": 9621, "service_port": 9621,
        "persistence": {"enabled": True, "size": "10Gi", "access_mode": "ReadWriteOnce",
                        "mount_path": "/app/data/rag_storage", "storage_class": "local-path"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}},
        "volumes": [dict(INPUTS)],
    }
    base.update(over)
    return base


def fails(p, field):
    with pytest.raises(AistackError) as info:
        tpolicy.validate(p)
    assert info.value.field == field, str(info.value)
    return str(info.value)


def test_volumes_accepted():
    assert tpolicy.validate(params())["fullname"] == "platform-lightrag-dev"


@pytest.mark.parametrize("vol,field", [
    ({"name": "data", "mount_path": "/x"}, "volumes[0].name"),
    ({"name": "Inputs", "mount_path": "/x"}, "volumes[0].name"),
    ({"name": "inputs", "mount_path": "relative"}, "volumes[0].mount_path"),
    ({"name": "inputs", "mount_path": "/app/data/rag_storage/"}, "volumes[0].mount_path"),
    ({"name": "inputs", "mount_path": "/x", "size": "lots"}, "volumes[0].size"),
    ({"name": "inputs", "mount_path": "/x", "access_mode": "ReadWriteSome"}, "volumes[0].access_mode"),
    ({"name": "x" * 50, "mount_path": "/x"}, "volumes[0].name"),
])
def test_bad_volumes(vol, field):
    fails(params(volumes=[vol]), field)


def test_duplicate_names_and_paths():
    msg = fails(params(volumes=[dict(INPUTS), dict(INPUTS)]), "volumes[1].name")
    assert "twice" in msg
    fails(params(volumes=[dict(INPUTS), {"name": "other", "mount_path": "/app/data/inputs"}]), "volumes[1].mount_path")


def test_mount_path_free_when_main_volume_is_off():
    p = params(persistence={"enabled": False}, volumes=[{"name": "rag", "mount_path": "/data"}])
    tpolicy.validate(p)


def test_long_name_fine_with_existing_claim():
    tpolicy.validate(params(volumes=[{"name": "x" * 45, "mount_path": "/x", "existing_claim": "mine"}]))


def test_values_inherit_class_and_mode():
    p = params(volumes=[dict(INPUTS), {"name": "shared", "mount_path": "/shared", "access_mode": "ReadWriteMany",
                                       "storage_class": "nfs", "existing_claim": None}])
    values = tvalues.build_values(p, tpolicy.validate(p))
    assert values["extraClaims"] == [
        {"name": "inputs", "mountPath": "/app/data/inputs", "size": "5Gi", "storageClassName": "local-path",
         "accessModes": ["ReadWriteOnce"], "existingClaim": ""},
        {"name": "shared", "mountPath": "/shared", "size": "1Gi", "storageClassName": "nfs",
         "accessModes": ["ReadWriteMany"], "existingClaim": ""},
    ]


def test_no_volumes_no_key():
    """Releases made before `volumes` existed keep the same values, so an upgrade of the collection does
    not report them changed."""
    for empty in (None, []):
        p = params(volumes=empty)
        assert "extraClaims" not in tvalues.build_values(p, tpolicy.validate(p))


# ------------------------------------------------------------------ the chart

def helm_template(tmp_path, values):
    if not HELM.exists():
        pytest.skip("the helm binary is missing at %s (tests/cluster/cluster.sh build fetches it)" % HELM)
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    env = dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "c"), HELM_CONFIG_HOME=str(tmp_path / "g"),
               HELM_DATA_HOME=str(tmp_path / "d"))
    proc = subprocess.run([str(HELM), "template", "x", str(CHART), "-n", "aistack-system", "-f", str(path)],
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    return proc, [o for o in yaml.safe_load_all(proc.stdout) if o] if proc.returncode == 0 else []


def test_chart_renders_claims_mounts_and_volumes(tmp_path):
    p = params(volumes=[dict(INPUTS), {"name": "models", "mount_path": "/models", "existing_claim": "shared-models"}])
    proc, objs = helm_template(tmp_path, tvalues.build_values(p, tpolicy.validate(p)))
    assert proc.returncode == 0, proc.stderr
    pvcs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolumeClaim"}
    assert set(pvcs) == {"platform-lightrag-dev-data", "platform-lightrag-dev-inputs"}
    inputs = pvcs["platform-lightrag-dev-inputs"]
    assert inputs["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                              "resources": {"requests": {"storage": "5Gi"}}}
    assert inputs["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert inputs["metadata"]["labels"]["app.kubernetes.io/instance"] == "platform-lightrag-dev"
    assert pvcs["platform-lightrag-dev-data"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"data": "/app/data/rag_storage", "claim-inputs": "/app/data/inputs", "claim-models": "/models",
                      "scratch-0": "/tmp"}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"data": "platform-lightrag-dev-data", "claim-inputs": "platform-lightrag-dev-inputs",
                      "claim-models": "shared-models"}


def test_chart_without_extra_claims_unchanged(tmp_path):
    p = params(volumes=None)
    proc, objs = helm_template(tmp_path, tvalues.build_values(p, tpolicy.validate(p)))
    assert proc.returncode == 0, proc.stderr
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "PersistentVolumeClaim"] == ["platform-lightrag-dev-data"]


def test_chart_schema_refuses_bad_claim(tmp_path):
    p = params()
    values = tvalues.build_values(p, tpolicy.validate(p))
    values["extraClaims"][0]["mountPath"] = "relative"
    proc, objs = helm_template(tmp_path, values)
    assert proc.returncode != 0 and not objs
    assert "mountPath" in proc.stderr


def test_chart_recreate_strategy_drops_rolling_update(tmp_path):
    p = params(extra_values={"strategy": {"type": "Recreate"}})
    proc, objs = helm_template(tmp_path, tvalues.build_values(p, tpolicy.validate(p)))
    assert proc.returncode == 0, proc.stderr
    assert next(o for o in objs if o["kind"] == "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    p = params()
    proc, objs = helm_template(tmp_path, tvalues.build_values(p, tpolicy.validate(p)))
    assert next(o for o in objs if o["kind"] == "Deployment")["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
