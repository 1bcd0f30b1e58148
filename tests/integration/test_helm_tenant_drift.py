"""helm_tenant against the real cluster: live drift (objects edited or deleted by hand) reported with the object
and field and repaired, check mode touching nothing, drift=ignore as the negative control; and a run killed in the
middle of an upgrade: the next run is refused while the dead run's Lease lives, then recovers the release (no
manual Secret deletion, the PVC kept). One release for the whole file, in order.

The failed-upgrade-with-atomic case (the previous revision keeps serving) is test_helm_tenant.py's
test_atomic_rollback_keeps_previous_revision_serving.
"""

import datetime
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import wait_until
from test_helm_tenant import REPO, tenant, tenant_images  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.usefixtures("tenant_images")

MODULE = "aistack.platform.helm_tenant"


def args(team, tag="1.0.0", **over):
    base = tenant(team, tag=tag, persistence={"enabled": True, "size": "16Mi"}, timeout=90)
    base.update(over)
    return base


def kget(kubectl, *what):
    proc = kubectl("get", *what, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_of(deployment):
    return dict((e["name"], e) for e in container(deployment).get("env") or [])


@pytest.fixture(scope="module")
def release(run_module, kubectl, tenant_images):  # noqa: F811 pylint: disable=redefined-outer-name
    team = "dr" + os.urandom(3).hex()
    first = run_module(MODULE, args(team))
    assert first["changed"] and first["revision"] == 1 and not first.get("failed"), first.get("msg")
    yield {"team": team, "name": "%s-demo-dev" % team, "ns": "%s-dev" % team}
    kubectl("delete", "namespace", "%s-dev" % team, "--ignore-not-found", "--wait=false", check=False)


def test_matching_objects_report_no_change(run_module, release):
    result = run_module(MODULE, args(release["team"]), diff=True)
    assert not result["changed"] and "drift" not in result and result["revision"] == 1, result.get("changes")


def test_hand_edits_are_reported_then_repaired(run_module, kubectl, release):
    name, ns = release["name"], release["ns"]
    before = kget(kubectl, "deployment", name, "-n", ns)
    ref = env_of(before)["APP_SECRET_KEY"]["valueFrom"]["secretKeyRef"]
    kubectl("scale", "deployment", name, "-n", ns, "--replicas=2")
    kubectl("set", "image", "deployment/" + name, "-n", ns, "demo=%s:1.0.1" % REPO)
    kubectl("set", "env", "deployment/" + name, "-n", ns, "NAME=edited-by-hand")
    kubectl("patch", "deployment", name, "-n", ns, "-p", json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "demo", "env": [{"name": "APP_SECRET_KEY",
                                  "valueFrom": {"secretKeyRef": {"name": name + "-db", "key": "password"}}}]}]}}}}))
    kubectl("delete", "service", name, "-n", ns)
    deployment = "Deployment %s/%s" % (ns, name)
    fields = ["spec.replicas", "spec.template.spec.containers[demo].env[APP_SECRET_KEY].valueFrom.secretKeyRef.key",
              "spec.template.spec.containers[demo].env[APP_SECRET_KEY].valueFrom.secretKeyRef.name",
              "spec.template.spec.containers[demo].env[NAME].value",
              "spec.template.spec.containers[demo].image"]

    # check mode: reported with object and field, nothing touched
    check = run_module(MODULE, args(release["team"]), check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check.get("msg")
    drift = dict((d["object"], d) for d in check["drift"])
    assert sorted(drift) == [deployment, "Service %s/%s" % (ns, name)], check["drift"]
    assert sorted(drift[deployment]["fields"]) == sorted(fields)
    assert drift["Service %s/%s" % (ns, name)]["missing"] is True
    assert "drift: Service %s/%s (deleted)" % (ns, name) in check["changes"]
    assert "edited-by-hand" in check["_stdout"] and '"spec.replicas": 2' in check["_stdout"]  # the diff, live side
    assert kget(kubectl, "service", name, "-n", ns) is None
    assert kget(kubectl, "deployment", name, "-n", ns)["spec"]["replicas"] == 2

    # apply: repaired by an upgrade with the same values
    applied = run_module(MODULE, args(release["team"]))
    assert applied["changed"] and applied["revision"] == 2 and applied["status"] == "deployed", applied.get("msg")
    repaired = kget(kubectl, "deployment", name, "-n", ns)
    assert repaired["spec"]["replicas"] == 1 and container(repaired)["image"] == "%s:1.0.0" % REPO
    assert env_of(repaired)["NAME"]["value"] == env_of(before)["NAME"]["value"]
    assert env_of(repaired)["APP_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == ref
    assert kget(kubectl, "service", name, "-n", ns)["spec"]["ports"][0]["port"] == 80
    again = run_module(MODULE, args(release["team"]))
    assert not again["changed"] and again["revision"] == 2, again.get("changes")


def test_deleted_deployment_ignored_then_recreated(run_module, kubectl, release):
    name, ns = release["name"], release["ns"]
    kubectl("delete", "deployment", name, "-n", ns, "--wait=true")
    # the negative control: drift=ignore compares values, chart and status only, as Helm does
    ignored = run_module(MODULE, args(release["team"], drift="ignore"))
    assert not ignored["changed"] and "drift" not in ignored
    result = run_module(MODULE, args(release["team"]))
    assert result["changed"] and result["revision"] == 3, result.get("msg")
    assert result["drift"] == [{"object": "Deployment %s/%s" % (ns, name), "kind": "Deployment", "name": name,
                                "missing": True}]
    assert kget(kubectl, "deployment", name, "-n", ns)["status"].get("readyReplicas") == 1
    assert not run_module(MODULE, args(release["team"]))["changed"]


def _records(kubectl, name, ns):
    items = (kget(kubectl, "secret", "-n", ns, "-l", "owner=helm,name=" + name) or {}).get("items") or []
    return dict((int(i["metadata"]["labels"]["version"]), i["metadata"]["labels"]["status"]) for i in items)


def _lease_renewed(kubectl, name, ns):
    lease = kget(kubectl, "lease", "aistack-helm-" + name, "-n", ns)
    if not lease:
        return None
    return datetime.datetime.strptime(lease["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ")


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _start_killable(collection_env, module_args):
    """``ansible -m helm_tenant`` in the background (``_kill_tree`` ends it)."""
    env = dict(collection_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    cmd = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", MODULE, "-a", json.dumps(module_args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_tree(pid):
    """SIGKILL ``pid`` and every process under it at once (Ansible's worker runs in a session of its own, so a
    process group is not enough): ansible, its worker (which runs the module's code in-process on a local
    connection: the action plugin) and helm die as with a lost controller."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout.split()
    children = {}
    for child, parent in zip(table[0::2], table[1::2]):
        children.setdefault(int(parent), []).append(int(child))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass
    return tree


def test_killed_runs_are_recovered_by_the_next_run(run_module, kubectl, collection_env, release):
    """An upgrade (of the file's release) and a first install (of a second one) that cannot become ready (the tag
    does not exist), both killed while helm waits on them."""
    name, ns, team = release["name"], release["ns"], release["team"]
    team_b = "dq" + os.urandom(3).hex()
    name_b, ns_b = "%s-demo-dev" % team_b, "%s-dev" % team_b
    claim = kget(kubectl, "pvc", name + "-data", "-n", ns)["metadata"]["uid"]
    runs = [_start_killable(collection_env, args(team, tag="9.9.9-missing")),
            _start_killable(collection_env, args(team_b, tag="9.9.9-missing"))]
    try:
        try:
            wait_until("the upgrade and the install to be pending",
                       lambda: _records(kubectl, name, ns).get(4) == "pending-upgrade"
                       and _records(kubectl, name_b, ns_b).get(1) == "pending-install", timeout=90, interval=0.5)
            assert _lease_renewed(kubectl, name, ns) is not None  # the runs hold their Leases
        finally:
            for proc in runs:
                assert len(_kill_tree(proc.pid)) >= 3  # ansible, its worker (running the module's code), helm
                proc.wait()
        renewed = max(_lease_renewed(kubectl, name, ns), _lease_renewed(kubectl, name_b, ns_b))
        assert _records(kubectl, name, ns)[4] == "pending-upgrade"
        claim_b = kget(kubectl, "pvc", name_b + "-data", "-n", ns_b)["metadata"]["uid"]

        # at once: the dead run's Lease still lives, so the next run cannot tell it from a live one and refuses
        started = _utcnow()
        refused = run_module(MODULE, args(team))
        if (started - _lease_renewed(kubectl, name, ns)).total_seconds() < 10:  # a slow start may find it expired
            assert refused.get("failed") and "another run is working on it" in refused["msg"], refused
            assert refused["field"] == "state" and "a live lease of " in refused["msg"]
            assert _records(kubectl, name, ns)[4] == "pending-upgrade"

        # once the Leases have expired (15 s after their last renewal) the next runs recover the releases
        wait = (renewed + datetime.timedelta(seconds=16) - _utcnow()).total_seconds()
        if wait > 0:
            time.sleep(wait)
        result = run_module(MODULE, args(team))
        assert result["changed"] and not result.get("failed"), result.get("msg")
        recovered = result["recovered"]
        assert recovered["status"] == "pending-upgrade" and recovered["revision"] == 4
        assert recovered["action"] == "mark-failed" and recovered["deployed"] == 3
        assert recovered["lease"].startswith("an expired lease of ")
        assert "was left 'pending-upgrade' at revision 4" in result["_stdout"]  # the warning
        assert result["revision"] == 5 and result["status"] == "deployed"
        assert _records(kubectl, name, ns)[4] == "failed"
        history = json.loads(subprocess.run(["helm", "history", name, "-n", ns, "-o", "json"], env=collection_env,
                                            capture_output=True, text=True, check=True).stdout)
        assert [h["status"] for h in history][-2:] == ["failed", "deployed"]
        deployment = kget(kubectl, "deployment", name, "-n", ns)
        assert container(deployment)["image"] == "%s:1.0.0" % REPO
        assert deployment["status"].get("readyReplicas") == 1
        assert kget(kubectl, "pvc", name + "-data", "-n", ns)["metadata"]["uid"] == claim  # the data kept
        assert kget(kubectl, "lease", "aistack-helm-" + name, "-n", ns) is None  # given back

        installed = run_module(MODULE, args(team_b))
        assert installed["changed"] and not installed.get("failed"), installed.get("msg")
        assert installed["recovered"]["action"] == "delete" and installed["recovered"]["status"] == "pending-install"
        assert installed["revision"] == 1 and installed["status"] == "deployed"
        assert _records(kubectl, name_b, ns_b) == {1: "deployed"}
        assert kget(kubectl, "pvc", name_b + "-data", "-n", ns_b)["metadata"]["uid"] == claim_b  # adopted, kept

        for again in (run_module(MODULE, args(team)), run_module(MODULE, args(team_b))):
            assert not again["changed"] and "recovered" not in again, again.get("changes")
    finally:
        kubectl("delete", "namespace", ns_b, "--ignore-not-found", "--wait=false", check=False)
