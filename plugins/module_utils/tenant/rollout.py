# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollouts of Helm releases: what they wait on, said while they wait, and why they failed.

Pure functions first: the state of a Deployment or StatefulSet and of its newest pods becomes one progress
line (``team-a-langflow-dev: 1/2 pods ready, waiting on readiness probe, 40 s``); a timeout becomes a
diagnosis (pods not ready, their container states, their last events, the last log lines of the failing
container) with every credential masked. ``RolloutWatcher`` is the I/O: it polls the releases' workloads
and pods through the one client, several releases of a namespace in one request per kind.
``upgrade_and_wait`` runs ``helm upgrade`` while the watcher reports, and rolls back itself when asked
(``atomic``), the same way on Helm 3 and Helm 4 (``helm/commands.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import threading
import time

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.tenant import credentials as tcreds

INSTANCE_LABEL = "app.kubernetes.io/instance"
REPORT_EVERY = 10  # seconds between two progress lines of a release (the issue asks for at most 15)
POLL_EVERY = 2
LOG_LINES = 20
EVENTS_PER_POD = 5

_WAITING_REASONS_PULL = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")


# --------------------------------------------------------------------------- workloads

def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def workload_state(obj):
    """Where one Deployment or StatefulSet stands: desired and updated replicas, done, a blocking reason."""
    kind = obj.get("kind") or ""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    desired = _int(spec.get("replicas"), 1)
    state = {"kind": kind, "name": meta.get("name"), "desired": desired,
             "updated": _int(status.get("updatedReplicas")), "ready": _int(status.get("readyReplicas")),
             "available": _int(status.get("availableReplicas")), "done": False, "reason": None,
             "update_revision": status.get("updateRevision")}
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        state["reason"] = "waiting for the controller to see the new spec"
        return state
    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                state["reason"] = "progress deadline exceeded"
        done = state["updated"] >= desired and _int(status.get("replicas")) <= state["updated"] \
            and state["available"] >= desired
    else:  # StatefulSet
        rolling = ((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"
        done = state["ready"] >= desired and (not rolling or (
            state["updated"] >= desired
            and (not status.get("updateRevision") or status.get("currentRevision") == status.get("updateRevision"))))
    state["done"] = bool(done) and state["reason"] is None
    return state


def _owned_by(pod, workload):
    """Whether ``pod`` belongs to the Deployment or StatefulSet ``workload`` (a workload_state)."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if workload["kind"] == "Deployment" and ref.get("kind") == "ReplicaSet" \
                and (ref.get("name") or "").startswith(workload["name"] + "-"):
            return True
        if workload["kind"] == "StatefulSet" and ref.get("kind") == "StatefulSet" and ref.get("name") == workload["name"]:
            return True
    return False


def newest_pods(pods, workload):
    """The pods of the workload's newest revision: the StatefulSet's update revision, or for a Deployment the
    pod-template-hash whose pods were created last (the new ReplicaSet during a rolling update)."""
    mine = [p for p in pods if _owned_by(p, workload) and not (p.get("metadata") or {}).get("deletionTimestamp")]
    if workload["kind"] == "StatefulSet":
        rev = workload.get("update_revision")
        return [p for p in mine if not rev or _labels(p).get("controller-revision-hash") == rev]
    groups = {}
    for pod in mine:
        groups.setdefault(_labels(pod).get("pod-template-hash", ""), []).append(pod)
    if not groups:
        return []
    newest = max(groups.values(), key=lambda group: max(_created(p) for p in group))
    return newest


def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def _created(obj):
    return (obj.get("metadata") or {}).get("creationTimestamp") or ""


def _condition(pod, ctype):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return {}


def pod_ready(pod):
    return _condition(pod, "Ready").get("status") == "True"


def pod_reason(pod):
    """What a pod that is not ready waits on, in a few words."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "terminating"
    sched = _condition(pod, "PodScheduled")
    if sched.get("status") == "False":
        return "unschedulable: %s" % (sched.get("message") or sched.get("reason") or "no node fits")[:120]
    for cstat in status.get("initContainerStatuses") or []:
        if cstat.get("ready") or ((cstat.get("state") or {}).get("terminated") or {}).get("exitCode") == 0:
            continue
        return "init container %s: %s" % (cstat.get("name"), _container_reason(cstat) or "running")
    statuses = status.get("containerStatuses") or []
    for cstat in statuses:
        if cstat.get("ready"):
            continue
        reason = _container_reason(cstat)
        if reason:
            return "container %s: %s" % (cstat.get("name"), reason)
    for cstat in statuses:
        if not cstat.get("ready") and (cstat.get("state") or {}).get("running") is not None:
            if cstat.get("started") is False:
                return "waiting on startup probe"
            return "waiting on readiness probe"
    if status.get("phase") == "Pending":
        return "pending"
    return "not ready"


def _container_reason(cstat):
    state = cstat.get("state") or {}
    restarts = _int(cstat.get("restartCount"))
    suffix = ", %d restarts" % restarts if restarts else ""
    if state.get("waiting"):
        reason = state["waiting"].get("reason") or "waiting"
        if reason == "ContainerCreating" or reason == "PodInitializing":
            return "starting (%s)" % reason
        if reason in _WAITING_REASONS_PULL:
            return "%s (%s)%s" % (reason, (state["waiting"].get("message") or "")[:100], suffix)
        return reason + suffix
    if state.get("terminated"):
        term = state["terminated"]
        return "exited with code %s (%s)%s" % (term.get("exitCode"), term.get("reason") or "", suffix)
    return None


def release_progress(workloads, pods):
    """One release's state from its workloads (raw objects) and pods: ready and desired pods of the newest
    revision, done, and what it waits on."""
    ready = desired = 0
    reasons = []
    done = True
    kinds = 0
    for obj in workloads:
        wstate = workload_state(obj)
        kinds += 1
        desired += wstate["desired"]
        new = newest_pods(pods, wstate)
        ready += min(wstate["desired"], len([p for p in new if pod_ready(p)]))
        if wstate["done"]:
            continue
        done = False
        waiting = [p for p in new if not pod_ready(p)]
        if waiting:
            reasons.append(pod_reason(sorted(waiting, key=lambda p: (p.get("metadata") or {}).get("name"))[0]))
        elif wstate["reason"]:
            reasons.append(wstate["reason"])
        elif wstate["updated"] < wstate["desired"] or len(new) < wstate["desired"]:
            reasons.append("waiting for new pods")
        else:
            reasons.append("waiting for old pods to go")
    return {"ready": ready, "desired": desired, "done": done, "workloads": kinds,
            "reason": reasons[0] if reasons else None}


def progress_line(name, progress, elapsed):
    """``team-a-langflow-dev: 1/2 pods ready, waiting on readiness probe, 40 s``."""
    parts = ["%d/%d pods ready" % (progress["ready"], progress["desired"])]
    if progress.get("status") and progress["status"] != "deployed":
        parts.append("release %s" % progress["status"])
    if not progress["done"] and progress.get("reason"):
        parts.append(progress["reason"])
    if progress["done"]:
        parts.append("ready")
    return "%s: %s, %d s" % (name, ", ".join(parts), int(elapsed))


def due(last_report, now, every=REPORT_EVERY):
    """Whether the next progress line is due."""
    return last_report is None or now - last_report >= every


# --------------------------------------------------------------------------- diagnosis

_KEY_VALUE = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>\s*[=:]\s*)(?P<q>[\"']?)(?P<value>[^\s\"',;]+)")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^/\s@]+@")


def mask_text(text, secrets=()):
    """``text`` with every known secret value, every ``<credential-like name>=<value>`` and every URL password
    replaced by the mask."""
    if not text:
        return text
    for value in sorted(set(s for s in secrets if isinstance(s, str) and len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, tcreds.MASK)

    def _sub(match):
        if tcreds.is_sensitive_name(match.group("key")) and match.group("value") != tcreds.MASK:
            return match.group("key") + match.group("sep") + match.group("q") + tcreds.MASK
        return match.group(0)
    text = _KEY_VALUE.sub(_sub, text)
    return _URL_PASSWORD.sub(r"\1" + tcreds.MASK + "@", text)


def failing_container(pod):
    """(name, previous) of the container whose log explains the failure: a crashed one (its previous
    instance's log), else the first one not ready; (None, False) when none has started."""
    statuses = ((pod.get("status") or {}).get("initContainerStatuses") or []) \
        + ((pod.get("status") or {}).get("containerStatuses") or [])
    for cstat in statuses:
        if cstat.get("ready") or ((cstat.get("state") or {}).get("terminated") or {}).get("exitCode") == 0 \
                and cstat in ((pod.get("status") or {}).get("initContainerStatuses") or []):
            continue
        state = cstat.get("state") or {}
        if (state.get("waiting") or {}).get("reason") in _WAITING_REASONS_PULL + ("ContainerCreating", "PodInitializing"):
            continue
        if _int(cstat.get("restartCount")) and (state.get("waiting") or state.get("terminated") is None):
            return cstat.get("name"), bool(cstat.get("lastState", {}).get("terminated"))
        if state.get("running") is not None or state.get("terminated") is not None:
            return cstat.get("name"), False
    return None, False


def container_states(pod):
    out = []
    statuses = [("init", c) for c in (pod.get("status") or {}).get("initContainerStatuses") or []] \
        + [("app", c) for c in (pod.get("status") or {}).get("containerStatuses") or []]
    for role, cstat in statuses:
        state = cstat.get("state") or {}
        key = next(iter(state), "unknown") if state else "unknown"
        detail = state.get(key) or {}
        item = {"name": cstat.get("name"), "init": role == "init", "state": key, "ready": bool(cstat.get("ready")),
                "restarts": _int(cstat.get("restartCount"))}
        if detail.get("reason"):
            item["reason"] = detail["reason"]
        if detail.get("message"):
            item["message"] = detail["message"][:300]
        if "exitCode" in detail:
            item["exit_code"] = detail["exitCode"]
        last = (cstat.get("lastState") or {}).get("terminated")
        if last:
            item["last_exit"] = {"exit_code": last.get("exitCode"), "reason": last.get("reason")}
        out.append(item)
    return out


def pod_events(events, pod_name, limit=EVENTS_PER_POD):
    """The last events of one pod, oldest first, as ``Reason: message (xN)``."""
    mine = [e for e in events or [] if (e.get("involvedObject") or {}).get("name") == pod_name]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or _created(e))
    lines = []
    for event in mine[-limit:]:
        count = _int(event.get("count"), 1)
        lines.append("%s: %s%s" % (event.get("reason"), (event.get("message") or "").strip()[:300],
                                   " (x%d)" % count if count > 1 else ""))
    return lines


def pod_diagnosis(pod, events, log_text, container, secrets=()):
    """What the failure carries for one pod that is not ready; every string masked."""
    meta = pod.get("metadata") or {}
    diag = {"pod": meta.get("name"), "phase": (pod.get("status") or {}).get("phase"), "reason": pod_reason(pod),
            "containers": container_states(pod),
            "events": [mask_text(line, secrets) for line in pod_events(events, meta.get("name"))]}
    if container:
        diag["log_container"] = container
        lines = (log_text or "").splitlines()[-LOG_LINES:]
        diag["log_tail"] = [mask_text(line, secrets) for line in lines]
    for item in diag["containers"]:
        if item.get("message"):
            item["message"] = mask_text(item["message"], secrets)
    return diag


def diagnosis_summary(name, diagnoses):
    """A few lines for the failure message: per pod its reason, its last event, its last log line."""
    if not diagnoses:
        return "%s: no pod of the release is failing (the workloads wait on their controller)" % name
    lines = []
    for diag in diagnoses:
        line = "%s: pod %s %s" % (name, diag["pod"], diag["reason"])
        if diag["events"]:
            line += "; last event %s" % diag["events"][-1]
        if diag.get("log_tail"):
            line += "; last log line of %s: %s" % (diag["log_container"], diag["log_tail"][-1][:200])
        lines.append(line)
    return "\n".join(lines)


def referenced_secret_names(pod):
    """The Secrets a pod reads (env, envFrom, volumes): their values are masked in its diagnosis."""
    names = set()
    spec = pod.get("spec") or {}
    for cont in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env in cont.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
            if ref:
                names.add(ref)
        for src in cont.get("envFrom") or []:
            ref = (src.get("secretRef") or {}).get("name")
            if ref:
                names.add(ref)
    for vol in spec.get("volumes") or []:
        ref = (vol.get("secret") or {}).get("secretName")
        if ref:
            names.add(ref)
    return sorted(names)


def _secret_values(secret):
    import base64  # pylint: disable=import-outside-toplevel
    values = []
    for raw in ((secret or {}).get("data") or {}).values():
        try:
            text = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError, TypeError):
            continue
        values.append(text)
        values.extend(line for line in text.splitlines() if len(line) >= 4)
    return values


# --------------------------------------------------------------------------- I/O

def selector_for(names, label=INSTANCE_LABEL):
    """One label selector for the objects of several releases (one request instead of one per release)."""
    names = sorted(set(names))
    if len(names) == 1:
        return "%s=%s" % (label, names[0])
    return "%s in (%s)" % (label, ",".join(names))


def last_deployed_revision_of(secrets, name):
    """The revision an atomic rollback goes back to: the newest ``deployed`` one, else the newest ``superseded``
    one, from the release's storage Secrets' labels; None when there is none (a failed first install)."""
    best = {}
    for item in secrets or []:
        labels = _labels(item)
        if labels.get("name") != name or labels.get("status") not in ("deployed", "superseded"):
            continue
        rev = _int(labels.get("version"), -1)
        best[labels["status"]] = max(best.get(labels["status"], -1), rev)
    for status in ("deployed", "superseded"):
        if best.get(status, -1) > 0:
            return best[status]
    return None


def last_deployed_revision(kube, name, namespace):
    return last_deployed_revision_of(kube.list("v1", "Secret", namespace=namespace,
                                               label_selector="owner=helm,name=%s" % name), name)


def planned_rollout(params):
    """What a check-mode run reports as its rollout: what a real run would wait for."""
    waits = params.get("wait", True) or params.get("atomic", False)
    return {"state": "check_mode", "wait": bool(waits), "seconds": 0}


def release_status_of(secrets, name):
    """Status of a release's newest revision from its storage Secrets' labels (no decoding), or None."""
    best, best_rev = None, -1
    for item in secrets or []:
        labels = _labels(item)
        if labels.get("name") != name:
            continue
        rev = _int(labels.get("version"), -1)
        if rev > best_rev:
            best, best_rev = labels.get("status"), rev
    return best


class RolloutWatcher(object):
    """Polls releases' workloads and pods; one request per kind and namespace, whatever the number of releases."""

    def __init__(self, kube, clock=None, sleep=None):
        self.kube = kube
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep

    def snapshot(self, targets, with_status=False):
        """{(namespace, name): progress} for ``targets`` [(name, namespace)]."""
        by_ns = {}
        for name, namespace in targets:
            by_ns.setdefault(namespace, []).append(name)
        out = {}
        for namespace, names in by_ns.items():
            selector = selector_for(names)
            # the items of a list carry no kind
            workloads = [dict(w, kind="Deployment") for w in
                         self.kube.list("apps/v1", "Deployment", namespace=namespace, label_selector=selector)] \
                + [dict(w, kind="StatefulSet") for w in
                   self.kube.list("apps/v1", "StatefulSet", namespace=namespace, label_selector=selector)]
            pods = self.kube.list("v1", "Pod", namespace=namespace, label_selector=selector)
            records = []
            if with_status:
                records = self.kube.list("v1", "Secret", namespace=namespace,
                                         label_selector="owner=helm," + selector_for(names, label="name"))
            for name in names:
                mine = [w for w in workloads if _labels(w).get(INSTANCE_LABEL) == name]
                progress = release_progress(mine, [p for p in pods if _labels(p).get(INSTANCE_LABEL) == name])
                if with_status:
                    progress["status"] = release_status_of(records, name)
                    if progress["status"] != "deployed":
                        progress["done"] = False
                        if progress["status"] is None:
                            progress["reason"] = "release not found"
                        elif not progress.get("reason"):
                            progress["reason"] = "release %s" % progress["status"]
                out[(namespace, name)] = progress
        return out

    def wait(self, targets, timeout, report=None, with_status=False, stop=None, start=None, until_done=True):
        """Poll until every target is done (with ``until_done``), ``stop()`` says so, or ``timeout`` seconds passed.

        Calls ``report(line)`` with a progress line per release not done at most every REPORT_EVERY seconds.
        Returns (states {(namespace, name): progress}, elapsed seconds, timed_out)."""
        start = self.clock() if start is None else start
        last = {}
        states = {}
        while True:
            states = self.snapshot(targets, with_status=with_status)
            now = self.clock()
            elapsed = now - start
            for (namespace, name), progress in sorted(states.items()):
                progress["seconds"] = int(elapsed)
                if progress["done"] or elapsed < REPORT_EVERY:
                    continue
                if report and due(last.get((namespace, name)), now):
                    report(progress_line(name, progress, elapsed))
                    last[(namespace, name)] = now
            if (until_done and all(p["done"] for p in states.values())) or (stop is not None and stop()):
                return states, elapsed, False
            if elapsed >= timeout:
                return states, elapsed, True
            self.sleep(min(POLL_EVERY, max(0.2, timeout - elapsed)))

    def diagnose(self, name, namespace):
        """The not-ready pods of a release, each with container states, last events and last log lines (masked)."""
        pods = self.kube.list("v1", "Pod", namespace=namespace, label_selector=selector_for([name]))
        failing = [p for p in pods if not pod_ready(p) and not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not failing:
            return []
        events = self.kube.list("v1", "Event", namespace=namespace)
        secrets = []
        for sname in sorted(set(n for p in failing for n in referenced_secret_names(p))):
            try:
                secrets.extend(_secret_values(self.kube.get("v1", "Secret", sname, namespace)))
            except AistackError:
                continue
        out = []
        for pod in sorted(failing, key=lambda p: (p.get("metadata") or {}).get("name"))[:5]:
            container, previous = failing_container(pod)
            log_text = None
            if container:
                log_text = self.kube.pod_log(pod["metadata"]["name"], namespace, container=container,
                                             tail_lines=LOG_LINES, previous=previous)
                if not log_text and previous:
                    log_text = self.kube.pod_log(pod["metadata"]["name"], namespace, container=container,
                                                 tail_lines=LOG_LINES)
            out.append(pod_diagnosis(pod, events, log_text, container, secrets))
        return out


# --------------------------------------------------------------------------- helm_tenant's upgrade

def upgrade_and_wait(helm, kube, name, namespace, chart, values, wait=True, timeout=300, atomic=False,
                     history_max=5, previous_revision=None, report=None, watcher=None):
    """``helm upgrade --install`` and, with ``wait``, the wait for the release's pods, reported while it runs.

    Helm waits (``--wait``, so a release that does not become ready is marked ``failed`` and retried by the next
    run) in a thread while the watcher polls the pods and calls ``report`` with progress lines. On failure the
    error carries the diagnosis; with ``atomic`` the release is rolled back here to ``previous_revision`` (or
    uninstalled after a failed first install), on Helm 3 and 4 alike. Returns (deployed summary, rollout dict).
    """
    if not wait and not atomic:
        deployed = helm.upgrade(name, namespace, chart, values, wait=False, timeout=timeout, atomic=False,
                                history_max=history_max)
        return deployed, {"state": "started", "seconds": 0, "previous_revision": previous_revision}
    watcher = watcher or RolloutWatcher(kube)
    outcome = {}

    def _helm():
        try:
            outcome["deployed"] = helm.upgrade(name, namespace, chart, values, wait=True, timeout=timeout,
                                               atomic=False, history_max=history_max)
        except AistackError as err:
            outcome["error"] = err
        except Exception as exc:  # pylint: disable=broad-except
            outcome["error"] = AistackError("helm upgrade of %s/%s failed: %s" % (namespace, name, exc), field="state")

    start = watcher.clock()
    thread = threading.Thread(target=_helm, name="helm-upgrade-" + name)
    thread.daemon = True
    thread.start()
    # until helm returns: before helm applied the new spec, the old revision's workloads look done
    states, elapsed, _unused = watcher.wait([(name, namespace)], timeout + 30, report=report,
                                            stop=lambda: not thread.is_alive(), start=start, until_done=False)
    thread.join()
    elapsed = watcher.clock() - start
    if "error" not in outcome:
        progress = states.get((namespace, name)) or {}
        if report and elapsed >= REPORT_EVERY:
            desired = progress.get("desired", 0)  # helm's wait succeeded: all of them
            report("%s: %d/%d pods ready, ready, %d s" % (name, desired, desired, int(elapsed)))
        return outcome["deployed"], {"state": "ready", "seconds": int(elapsed), "previous_revision": previous_revision}
    err = outcome["error"]
    diagnosis = watcher.diagnose(name, namespace)
    summary = diagnosis_summary(name, diagnosis)
    action = ""
    rolled_back = None
    if atomic:
        if previous_revision:
            helm.rollback(name, namespace, previous_revision, timeout=timeout)
            rolled_back = previous_revision
            action = " It was rolled back to revision %s, which keeps serving." % previous_revision
        else:
            helm.uninstall(name, namespace, wait=True, timeout=timeout)
            action = " It was a first install and was removed."
    raise AistackError("%s%s\n%s" % (err.message, action, summary), field=err.field or "state",
                       fix=err.fix or "check the values and the pods' events",
                       diagnosis=diagnosis, rolled_back_to=rolled_back, seconds=int(elapsed))
