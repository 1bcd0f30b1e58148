"""Rollouts: progress lines, diagnosis with masking, the wait loop, helm_tenant's upgrade with its own atomic
rollback, Helm 3/4 command lines, release_wait's validation and run, the rollout filters."""

import base64

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.filters import rollout as F
from ansible_collections.aistack.platform.plugins.module_utils.helm import versions as V
from ansible_collections.aistack.platform.plugins.module_utils.tenant import release_wait as W
from ansible_collections.aistack.platform.plugins.module_utils.tenant import rollout as R

SECRET = "s3cr3t-Value-42"


def deployment(name="rel", replicas=2, updated=2, ready=2, available=2, total=None, generation=1, observed=1,
               conditions=None):
    return {"kind": "Deployment", "metadata": {"name": name, "generation": generation,
                                               "labels": {R.INSTANCE_LABEL: name}},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "readyReplicas": ready,
                       "availableReplicas": available, "replicas": total if total is not None else replicas,
                       "conditions": conditions or []}}


def pod(name, owner="rel-abc", hash_="abc", ready=True, created="2026-01-01T00:00:10Z", containers=None,
        init=None, scheduled=True, instance="rel", spec=None, phase="Running"):
    conds = [{"type": "Ready", "status": "True" if ready else "False"}]
    if not scheduled:
        conds.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                      "message": "0/1 nodes are available: 1 Insufficient cpu."})
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "labels": {R.INSTANCE_LABEL: instance, "pod-template-hash": hash_},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": owner}]},
            "spec": spec or {},
            "status": {"phase": phase, "conditions": conds,
                       "containerStatuses": containers if containers is not None else
                       [{"name": "app", "ready": ready, "started": True, "restartCount": 0,
                         "state": {"running": {}}}],
                       "initContainerStatuses": init or []}}


def running_not_ready(started=True):
    return [{"name": "app", "ready": False, "started": started, "restartCount": 0, "state": {"running": {}}}]


# --------------------------------------------------------------------------- pure judges

def test_workload_done_and_not_done():
    assert R.workload_state(deployment())["done"]
    assert not R.workload_state(deployment(updated=1))["done"]
    assert not R.workload_state(deployment(total=3))["done"]  # an old pod still there
    state = R.workload_state(deployment(generation=2, observed=1))
    assert not state["done"] and "controller" in state["reason"]
    stuck = R.workload_state(deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]))
    assert not stuck["done"] and stuck["reason"] == "progress deadline exceeded"
    sts = {"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"replicas": 1},
           "status": {"readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}}
    assert not R.workload_state(sts)["done"]
    sts["status"]["currentRevision"] = "b"
    assert R.workload_state(sts)["done"]


def test_newest_pods_pick_the_new_replicaset():
    old = pod("rel-old-1", owner="rel-old", hash_="old", created="2026-01-01T00:00:00Z")
    new = pod("rel-new-1", owner="rel-new", hash_="new", ready=False, created="2026-01-01T00:05:00Z")
    other = pod("other-x-1", owner="other-x", hash_="x", created="2026-01-01T00:09:00Z")
    assert [p["metadata"]["name"] for p in R.newest_pods([old, new, other], R.workload_state(deployment()))] \
        == ["rel-new-1"]


@pytest.mark.parametrize("kwargs,expected", [
    (dict(containers=running_not_ready()), "waiting on readiness probe"),
    (dict(containers=running_not_ready(started=False)), "waiting on startup probe"),
    (dict(containers=[{"name": "app", "ready": False, "restartCount": 3,
                       "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]), "container app: CrashLoopBackOff, 3 restarts"),
    (dict(containers=[{"name": "app", "ready": False,
                       "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]),
     "container app: ImagePullBackOff (not found)"),
    (dict(containers=[], scheduled=False, phase="Pending"), "unschedulable: 0/1 nodes are available: 1 Insufficient cpu."),
    (dict(containers=[], init=[{"name": "migrate", "ready": False, "state": {"running": {}}}]),
     "init container migrate: running"),
])
def test_pod_reason(kwargs, expected):
    assert R.pod_reason(pod("p", ready=False, **kwargs)) == expected


def test_release_progress_and_line():
    pods = [pod("rel-abc-1"), pod("rel-abc-2", ready=False, containers=running_not_ready())]
    progress = R.release_progress([deployment(ready=1, available=1)], pods)
    assert progress == {"ready": 1, "desired": 2, "done": False, "workloads": 1, "reason": "waiting on readiness probe"}
    assert R.progress_line("team-a-langflow-dev", progress, 40.7) \
        == "team-a-langflow-dev: 1/2 pods ready, waiting on readiness probe, 40 s"
    done = R.release_progress([deployment()], [pod("rel-abc-1"), pod("rel-abc-2")])
    assert done["done"] and R.progress_line("r", done, 3) == "r: 2/2 pods ready, ready, 3 s"
    assert R.release_progress([], [])["done"]  # nothing to wait for


def test_due():
    assert R.due(None, 0) and not R.due(5, 14) and R.due(5, 15)


# --------------------------------------------------------------------------- masking and diagnosis

@pytest.mark.parametrize("line", [
    "connecting with password=%s now" % SECRET,
    "DATABASE_URL=postgresql://app:%s@db:5432/app" % SECRET,
    "api_key: %s" % SECRET,
    "the key is %s" % SECRET,
    'token="%s"' % SECRET,
])
def test_mask_text_hides_credentials(line):
    masked = R.mask_text(line, [SECRET])
    assert SECRET not in masked and "********" in masked


def test_mask_text_without_known_values_still_masks_by_name():
    assert R.mask_text("password=hunter22", []) == "password=********"
    assert R.mask_text("postgresql://u:pw12345@h/db") == "postgresql://u:********@h/db"
    # negative control: ordinary lines pass unchanged
    assert R.mask_text("listening on port=8080, workers: 2", []) == "listening on port=8080, workers: 2"


def test_pod_diagnosis_masks_and_keeps_the_rest():
    crashed = pod("rel-abc-1", ready=False, containers=[
        {"name": "app", "ready": False, "restartCount": 2,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
         "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}])
    events = [{"involvedObject": {"name": "rel-abc-1"}, "reason": "BackOff", "message": "Back-off restarting",
               "count": 4, "lastTimestamp": "2026-01-01T00:00:09Z"},
              {"involvedObject": {"name": "other"}, "reason": "Pulled", "message": "x"}]
    log = "starting\nusing secret %s\nfatal: cannot connect" % SECRET
    assert R.failing_container(crashed) == ("app", True)
    diag = R.pod_diagnosis(crashed, events, log, "app", secrets=[SECRET])
    assert diag["events"] == ["BackOff: Back-off restarting (x4)"]
    assert diag["log_tail"][-1] == "fatal: cannot connect" and "********" in diag["log_tail"][1]
    assert diag["containers"][0]["last_exit"] == {"exit_code": 3, "reason": "Error"}
    assert SECRET not in repr(diag)
    # negative control: without the known value, the same log line would carry it
    assert SECRET in repr(R.pod_diagnosis(crashed, events, log, "app", secrets=[]))
    summary = R.diagnosis_summary("rel", [diag])
    assert "CrashLoopBackOff" in summary and "fatal: cannot connect" in summary


def test_referenced_secret_names():
    spec = {"containers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}],
                            "envFrom": [{"secretRef": {"name": "s2"}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "s3"}}]}
    assert R.referenced_secret_names({"spec": spec}) == ["s1", "s2", "s3"]


def test_revisions_from_storage_labels():
    def rec(rev, status, name="rel"):
        return {"metadata": {"labels": {"name": name, "version": str(rev), "status": status}}}
    records = [rec(1, "superseded"), rec(2, "deployed"), rec(3, "failed"), rec(9, "deployed", name="other")]
    assert R.last_deployed_revision_of(records, "rel") == 2
    assert R.release_status_of(records, "rel") == "failed"
    assert R.last_deployed_revision_of([rec(1, "failed")], "rel") is None
    assert R.last_deployed_revision_of([rec(1, "superseded"), rec(2, "failed")], "rel") == 1
    assert R.release_status_of([], "rel") is None


def test_selector_for():
    assert R.selector_for(["b"]) == "app.kubernetes.io/instance=b"
    assert R.selector_for(["b", "a", "b"]) == "app.kubernetes.io/instance in (a,b)"


# --------------------------------------------------------------------------- the wait loop

class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class ScriptedKube(object):
    """Deployments whose readiness follows the clock; pods to match; helm storage labels."""

    def __init__(self, clock, ready_at, releases=("rel",), status="deployed"):
        self.clock, self.ready_at, self.releases, self.status = clock, ready_at, releases, status
        self.lists = []

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.lists.append((kind, namespace, label_selector))
        ready = self.clock() >= self.ready_at
        if kind == "Deployment":
            return [deployment(n, replicas=1, updated=1, ready=int(ready), available=int(ready)) for n in self.releases]
        if kind == "StatefulSet":
            return []
        if kind == "Pod":
            return [pod("%s-abc-1" % n, owner="%s-abc" % n, instance=n, ready=ready,
                        containers=None if ready else running_not_ready()) for n in self.releases]
        if kind == "Secret":
            return [{"metadata": {"labels": {"name": n, "version": "1", "status": self.status}}}
                    for n in self.releases]
        return []


def test_wait_reports_every_ten_seconds_and_polls_once_per_namespace():
    clock = Clock()
    kube = ScriptedKube(clock, ready_at=35, releases=("a", "b"))
    watcher = R.RolloutWatcher(kube, clock=clock, sleep=clock.sleep)
    lines = []
    states, elapsed, timed_out = watcher.wait([("a", "ns"), ("b", "ns")], 100, report=lines.append, with_status=True)
    assert not timed_out and 35 <= elapsed < 38 and all(s["done"] for s in states.values())
    assert lines[0] == "a: 0/1 pods ready, waiting on readiness probe, 10 s"
    assert len([line for line in lines if line.startswith("a:")]) == 3  # 10, 20, 30 s
    per_poll = [k for k in kube.lists if k[0] == "Pod"]
    assert all(sel == "app.kubernetes.io/instance in (a,b)" for _k, _ns, sel in per_poll)


def test_wait_times_out():
    clock = Clock()
    watcher = R.RolloutWatcher(ScriptedKube(clock, ready_at=1e9), clock=clock, sleep=clock.sleep)
    states, elapsed, timed_out = watcher.wait([("rel", "ns")], 20)
    assert timed_out and elapsed >= 20 and not states[("ns", "rel")]["done"]


def test_release_status_counts():
    clock = Clock()
    kube = ScriptedKube(clock, ready_at=0, status="pending-upgrade")
    state = R.RolloutWatcher(kube, clock=clock, sleep=clock.sleep).snapshot([("rel", "ns")], with_status=True)
    assert not state[("ns", "rel")]["done"] and state[("ns", "rel")]["reason"] == "release pending-upgrade"


# --------------------------------------------------------------------------- helm_tenant's upgrade

class Helm(object):
    def __init__(self, fail=False):
        self.fail = fail
        self.calls = []

    def upgrade(self, name, namespace, chart, values, wait=True, timeout=300, atomic=False, history_max=5):
        self.calls.append(("upgrade", wait, atomic))
        if self.fail:
            raise AistackError("helm upgrade of %s/%s failed: context deadline exceeded" % (namespace, name),
                               field="state")
        return {"revision": 4, "status": "deployed"}

    def rollback(self, name, namespace, revision, timeout=300):
        self.calls.append(("rollback", revision))

    def uninstall(self, name, namespace, wait=True, timeout=300):
        self.calls.append(("uninstall",))


class StubWatcher(object):
    def __init__(self, diagnosis=None):
        self.diagnosis = diagnosis or []
        self.clock = lambda: 0.0

    def wait(self, targets, timeout, report=None, stop=None, start=None, with_status=False, until_done=True):
        assert not until_done
        while not stop():
            pass
        return {}, 0, False

    def diagnose(self, name, namespace):
        return self.diagnosis


def test_upgrade_without_wait_starts_only():
    helm = Helm()
    deployed, rollout = R.upgrade_and_wait(helm, None, "rel", "ns", {}, {}, wait=False, previous_revision=3)
    assert helm.calls == [("upgrade", False, False)] and rollout["state"] == "started"
    assert rollout["previous_revision"] == 3 and deployed["revision"] == 4


def test_upgrade_waits_with_helm_and_never_passes_helms_atomic():
    helm = Helm()
    _deployed, rollout = R.upgrade_and_wait(helm, None, "rel", "ns", {}, {}, wait=False, atomic=True,
                                            watcher=StubWatcher())
    assert helm.calls == [("upgrade", True, False)] and rollout["state"] == "ready"


@pytest.mark.parametrize("previous,expected", [(3, ("rollback", 3)), (None, ("uninstall",))])
def test_failed_atomic_upgrade_rolls_back_itself(previous, expected):
    helm = Helm(fail=True)
    diag = [{"pod": "rel-abc-1", "reason": "container app: CrashLoopBackOff", "events": ["BackOff: x"],
             "log_container": "app", "log_tail": ["boom"], "containers": []}]
    with pytest.raises(AistackError) as info:
        R.upgrade_and_wait(helm, None, "rel", "ns", {}, {}, atomic=True, previous_revision=previous,
                           watcher=StubWatcher(diag))
    assert helm.calls[-1] == expected
    result = info.value.to_result()
    assert result["diagnosis"] == diag and result["rolled_back_to"] == previous
    assert "CrashLoopBackOff" in result["msg"] and "boom" in result["msg"]


def test_failed_upgrade_without_atomic_does_not_roll_back():
    helm = Helm(fail=True)
    with pytest.raises(AistackError):
        R.upgrade_and_wait(helm, None, "rel", "ns", {}, {}, previous_revision=3, watcher=StubWatcher())
    assert [c[0] for c in helm.calls] == ["upgrade"]


# --------------------------------------------------------------------------- Helm 3 and 4

@pytest.mark.parametrize("text,expected", [
    ("v3.19.5+g1234", (3, 19, 5)), ('version.BuildInfo{Version:"v3.20.0"}', (3, 20, 0)), ("v4.0.1", (4, 0, 1)),
])
def test_parse_version(text, expected):
    assert V.parse_version(text) == expected


@pytest.mark.parametrize("text", ["v3.18.4", "v2.17.0", "v5.0.0", "garbage", ""])
def test_unsupported_versions(text):
    with pytest.raises(AistackError) as info:
        V.parse_version(text)
    assert info.value.field == "binary_path"


def test_command_lines_for_helm_3_and_4():
    from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import upgrade_command
    v3 = upgrade_command("helm", "rel", "ns", {"path": "/c"}, "/v.json", wait=True, timeout=60, atomic=True)
    assert V.for_major(v3, 3) == v3 and "--atomic" in v3 and "--wait" in v3
    v4 = V.for_major(v3, 4)
    assert "--rollback-on-failure" in v4 and "--wait=watcher" in v4 and "--atomic" not in v4 and "--wait" not in v4
    assert v4[v4.index("--timeout") + 1] == "60s"
    rb3 = V.rollback_command("helm", "rel", "ns", 3, major=3, timeout=90, kubeconfig="/k")
    assert rb3 == ["helm", "rollback", "rel", "3", "--namespace", "ns", "--history-max", "5", "--wait",
                   "--timeout", "90s", "--kubeconfig", "/k"]
    rb4 = V.rollback_command("helm", "rel", "ns", 3, major=4, timeout=90)
    assert "--wait=watcher" in rb4 and "--wait" not in rb4
    assert "--wait" not in V.rollback_command("helm", "rel", "ns", 3, wait=False)


def test_versioned_runner_asks_once_and_spells_for_the_version(tmp_path):
    binary = tmp_path / "helm"
    binary.write_text("")
    binary.chmod(0o755)
    seen = []

    def fake_run(cmd, env=None):
        seen.append(cmd)
        if cmd[1] == "version":
            return 0, "v4.0.1", ""
        return 0, "", ""
    runner = V.VersionedHelmRunner(str(binary), run_command=fake_run)
    runner.rollback("rel", "ns", 2, timeout=30)
    runner.rollback("rel", "ns", 2, timeout=30)
    assert [c[1] for c in seen] == ["version", "rollback", "rollback"]
    assert "--wait=watcher" in seen[1]


# --------------------------------------------------------------------------- release_wait

@pytest.mark.parametrize("params,field", [
    ({"releases": [{"name": "Bad_Name", "namespace": "ns"}], "timeout": 10}, "releases[0].name"),
    ({"releases": [{"name": "a", "namespace": ""}], "timeout": 10}, "releases[0].namespace"),
    ({"releases": [{"name": "a", "namespace": "ns"}, {"name": "a", "namespace": "ns"}], "timeout": 10}, "releases[1]"),
    ({"releases": [{"name": "a", "namespace": "ns", "previous_revision": 0}], "timeout": 10},
     "releases[0].previous_revision"),
    ({"releases": [], "timeout": 0}, "timeout"),
    ({"releases": ["a"], "timeout": 10}, "releases[0]"),
])
def test_release_wait_bad_inputs(params, field):
    with pytest.raises(AistackError) as info:
        W.validate(params)
    assert info.value.field == field and info.value.fix


def test_release_wait_waits_for_all_and_rolls_back_on_timeout():
    clock = Clock()
    kube = ScriptedKube(clock, ready_at=12, releases=("a", "b"))
    watcher = R.RolloutWatcher(kube, clock=clock, sleep=clock.sleep)
    params = {"releases": [{"name": "a", "namespace": "ns"}, {"name": "b", "namespace": "ns", "previous_revision": 1}],
              "timeout": 60}
    result = W.ReleaseWaiter(params, kube, watcher=watcher).run()
    assert [r["done"] for r in result["releases"]] == [True, True] and not result["changed"]
    clock.now = 0
    kube.ready_at = 1e9
    helm = Helm()
    watcher.diagnose = lambda name, namespace: []
    with pytest.raises(AistackError) as info:
        W.ReleaseWaiter(dict(params, atomic=True), kube, helm=helm, watcher=watcher).run()
    assert "2 of 2 releases not ready" in str(info.value) and info.value.field == "timeout"
    assert helm.calls == [("uninstall",), ("rollback", 1)]
    assert info.value.details["changed"] is True


def test_release_wait_check_mode_and_missing_release():
    clock = Clock()
    kube = ScriptedKube(clock, ready_at=1e9, releases=())
    watcher = R.RolloutWatcher(kube, clock=clock, sleep=clock.sleep)
    params = {"releases": [{"name": "a", "namespace": "ns"}], "timeout": 60}
    result = W.ReleaseWaiter(params, kube, check_mode=True, watcher=watcher).run()
    assert result["releases"][0]["status"] is None and not result["changed"] and clock.now == 0
    with pytest.raises(AistackError) as info:
        W.ReleaseWaiter(params, kube, watcher=watcher).run()
    assert info.value.field == "releases[0]" and "does not exist" in str(info.value)


# --------------------------------------------------------------------------- filters

def test_rollout_pending():
    results = {"results": [
        {"release_name": "a", "namespace": "ns", "rollout": {"state": "started", "previous_revision": 2}},
        {"release_name": "b", "namespace": "ns", "rollout": {"state": "ready"}},
        {"release_name": "c", "namespace": "ns"},  # unchanged
        {"skipped": True},
        {"failed": True, "release_name": "d", "namespace": "ns", "rollout": {"state": "started"}},
        {"release_name": "e", "namespace": "ns", "rollout": {"state": "check_mode", "wait": False}},
        {"release_name": "f", "namespace": "ns", "rollout": {"state": "check_mode", "wait": True}},
        {"release_name": "a", "namespace": "ns", "rollout": {"state": "started"}},
    ]}
    assert F.rollout_pending(results) == [{"name": "a", "namespace": "ns", "previous_revision": 2},
                                          {"name": "e", "namespace": "ns"}]
    assert F.rollout_pending([results, {"release_name": "g", "namespace": "x", "rollout": {"state": "started"}}])[-1] \
        == {"name": "g", "namespace": "x"}
    with pytest.raises(AistackError):
        F.rollout_pending("nope")


def test_rollout_batches():
    assert F.rollout_batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert F.rollout_batches([1, 2, 3], 0) == [[1, 2, 3]]
    assert F.rollout_batches([1, 2, 3], 10) == [[1, 2, 3]]
    assert F.rollout_batches([], 3) == [] and F.rollout_batches(None, 3) == []
    with pytest.raises(AistackError):
        F.rollout_batches([1], "many")
    with pytest.raises(AistackError):
        F.rollout_batches("abc", 1)


def test_secret_values_are_decoded_for_masking():
    secret = {"data": {"k": base64.b64encode(SECRET.encode()).decode()}}
    assert SECRET in R._secret_values(secret)
