"""Rollouts on the real cluster: progress lines while helm_tenant waits, the timeout's diagnosis without any
secret in it (and a negative control: the pod did print it), an atomic failure rolled back by the module while
the previous revision keeps serving, and release_wait over several releases (check -> apply -> check -> apply,
bad inputs).

Workload: the cluster build's demohttp image. A slow rollout is a readiness probe that starts late; a failing one
runs ``demohttp get http://127.0.0.1:1/leak/$(APP_SECRET_KEY)``, which exits 1 printing the URL, so the
generated credential lands in the container's log.
"""

import base64
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = str(ROOT / "charts" / "aistack-service")
LINE = re.compile(r"^(?P<name>[a-z0-9-]+): (?P<ready>\d+)/(?P<desired>\d+) pods ready, (?P<what>.*), (?P<s>\d+) s$")


def demo_image(images):
    repository, tag = images.get("AISTACK_DEMOHTTP_IMAGE", "aistack.local/demohttp:1.0.0").rsplit(":", 1)
    return {"repository": repository, "tag": tag}


def tenant(team, images, **over):
    args = {
        "team": team, "service": "demo", "environment": "dev",
        "chart": {"path": CHART}, "image": demo_image(images), "port": 8080,
        "persistence": {"enabled": False},
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "generated_secrets": [{"key": "secret-key", "env": "APP_SECRET_KEY", "format": "fernet"}],
        "probes": {"liveness_initial_delay": 2, "readiness_initial_delay": 1, "period": 2, "timeout": 1},
        "timeout": 120,
    }
    args.update(over)
    return args


@pytest.fixture
def run_task(collection_env):
    """run_task(module, args, check=False) -> (result, text the task printed before its result).

    One ansible-playbook task with the JSON callback and no -v: what a user sees without -v precedes the JSON
    document on stdout (the progress lines), the result is in the document."""

    def _run(module, args, check=False, timeout=600, during=None):
        env = dict(collection_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "Task", module: args}]}]
        path = Path(env.get("TMPDIR", "/tmp")) / ("rollout-%s.yml" % uuid.uuid4().hex[:8])
        path.write_text(json.dumps(play))
        try:
            cmd = ["ansible-playbook", str(path), "-i", "localhost,", "-c", "local"] + (["--check"] if check else [])
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while during is not None and proc.poll() is None:
                if during():
                    break
                time.sleep(2)
            stdout, stderr = proc.communicate(timeout=timeout)
            proc = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
        finally:
            path.unlink()
        start = proc.stdout.find("\n{\n")
        start = 0 if proc.stdout.startswith("{") else start + 1
        assert start >= 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        doc = json.loads(proc.stdout[start:])
        result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return result, proc.stdout[:start] + proc.stderr

    return _run


def kget(kubectl, *args):
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def progress_lines(text, name):
    return [m.groupdict() for m in (LINE.match(line.strip()) for line in text.splitlines()) if m and m.group("name") == name]


def test_progress_diagnosis_and_atomic_rollback(run_task, kubectl, collection_env, images):
    team = "ro" + uuid.uuid4().hex[:6]
    name, ns = "%s-demo-dev" % team, "%s-dev" % team
    try:
        # 1. a slow rollout (the readiness probe starts after 24 s): lines at least every 15 s, without -v
        slow = tenant(team, images, probes={"liveness_initial_delay": 30, "readiness_initial_delay": 24, "period": 2,
                                            "timeout": 1})
        result, printed = run_task("aistack.platform.helm_tenant", slow)
        assert result.get("changed") and not result.get("failed"), result.get("msg")
        assert result["rollout"]["state"] == "ready" and result["rollout"]["seconds"] >= 20
        lines = progress_lines(printed, name)
        assert lines, printed[-3000:]
        assert any(line["what"] == "waiting on readiness probe" and line["ready"] == "0" for line in lines), lines
        seconds = [int(line["s"]) for line in lines]
        assert seconds[0] <= 15 and all(b - a <= 15 for a, b in zip(seconds, seconds[1:])), seconds
        assert lines[-1]["what"] == "ready" and lines[-1]["ready"] == lines[-1]["desired"] == "1"

        # 2. an upgrade whose container crashes printing a credential; atomic: the module rolls back itself
        secret = kget(kubectl, "secret", name + "-generated", "-n", ns)
        key = base64.b64decode(secret["data"]["secret-key"]).decode()
        crash = dict(slow, args=["get", "http://127.0.0.1:1/leak/$(APP_SECRET_KEY)"], atomic=True, timeout=25,
                     probes={"liveness_initial_delay": 2, "readiness_initial_delay": 1, "period": 2, "timeout": 1})
        seen = []

        def _pod_logs():
            # negative control, while the module waits: the crashing container does print the credential
            # (the atomic rollback deletes its pod afterwards)
            logs = kubectl("logs", "-n", ns, "-l", "app.kubernetes.io/instance=" + name, "--all-containers",
                           "--prefix", "--previous", check=False).stdout \
                + kubectl("logs", "-n", ns, "-l", "app.kubernetes.io/instance=" + name, "--all-containers",
                          "--prefix", check=False).stdout
            seen.append(key in logs)
            return key in logs
        failed, printed = run_task("aistack.platform.helm_tenant", crash, during=_pod_logs)
        assert failed.get("failed"), failed
        assert "rolled back to revision 1" in failed["msg"] and failed["rolled_back_to"] == 1
        diagnosis = failed["diagnosis"]
        assert diagnosis and diagnosis[0]["pod"].startswith(name + "-")
        app = [c for c in diagnosis[0]["containers"] if not c["init"]]
        assert app, diagnosis
        assert (app[0].get("last_exit") or {}).get("exit_code") == 1 or app[0].get("exit_code") == 1, diagnosis
        assert diagnosis[0]["events"], diagnosis  # BackOff, Started, ...
        assert any("/leak/********" in line for line in diagnosis[0]["log_tail"]), diagnosis[0]["log_tail"]
        # no secret anywhere the user sees: the result, the failure message, what was printed
        assert key not in json.dumps(failed) and key not in printed
        # negative control: the container did print the credential, so its absence above is the masking
        assert any(seen), "the crashing container's log never showed the credential (%d looks)" % len(seen)

        # 3. the previous revision serves: revision 3 is the rollback to 1, its pod ready, its endpoint answering
        history = json.loads(subprocess.run(["helm", "history", name, "-n", ns, "-o", "json"], env=collection_env,
                                            capture_output=True, text=True, check=True).stdout)
        assert history[-1]["status"] == "deployed" and "Rollback to 1" in history[-1]["description"]
        deploy = kget(kubectl, "deployment", name, "-n", ns)
        assert "args" not in deploy["spec"]["template"]["spec"]["containers"][0]
        assert deploy["status"].get("availableReplicas") == 1
        slices = kget(kubectl, "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=" + name)["items"]
        assert any((ep.get("conditions") or {}).get("ready") for s in slices for ep in s.get("endpoints") or [])
        # the rolled-back release holds the first values: the next run with them changes nothing
        again, _printed = run_task("aistack.platform.helm_tenant", slow)
        assert not again["changed"], again
    finally:
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def test_release_wait_over_several_releases(run_task, kubectl, images):
    teams = ["rw" + uuid.uuid4().hex[:6] for _unused in range(3)]
    names = ["%s-demo-dev" % t for t in teams]
    try:
        started = []
        for team in teams:
            result, _printed = run_task("aistack.platform.helm_tenant", tenant(
                team, images, wait=False, probes={"liveness_initial_delay": 20, "readiness_initial_delay": 12,
                                                  "period": 2, "timeout": 1}))
            assert result["changed"] and result["rollout"]["state"] == "started", result
            started.append({"name": result["release_name"], "namespace": result["namespace"]})
        args = {"releases": started, "timeout": 120}
        # check: reports where they stand, does not wait
        check, _printed = run_task("aistack.platform.release_wait", args, check=True)
        assert not check["changed"] and [r["name"] for r in check["releases"]] == names
        assert check["seconds"] == 0
        # apply: waits for all three at once, each line naming its release
        applied, printed = run_task("aistack.platform.release_wait", args)
        assert not applied.get("failed") and not applied["changed"], applied.get("msg")
        assert all(r["done"] and r["ready"] == r["desired"] == 1 and r["status"] == "deployed"
                   for r in applied["releases"]), applied["releases"]
        assert applied["seconds"] < 60
        if applied["seconds"] >= 12:
            assert any(progress_lines(printed, n) for n in names), printed
        for _unused in range(2):
            check, _printed = run_task("aistack.platform.release_wait", args, check=True)
            assert not check["changed"] and all(r["done"] for r in check["releases"])
        again, _printed = run_task("aistack.platform.release_wait", args)
        assert not again["changed"] and again["seconds"] < 5
        # bad inputs fail naming the field, before anything is read
        for bad, field in (({"releases": started + started[:1]}, "releases[3]"),
                           ({"releases": [{"name": "Bad_Name", "namespace": started[0]["namespace"]}]},
                            "releases[0].name"),
                           ({"releases": started, "timeout": 0}, "timeout"),
                           ({"releases": [{"name": "nothere", "namespace": started[0]["namespace"]}]}, "releases[0]")):
            failed, _printed = run_task("aistack.platform.release_wait", dict(args, **bad))
            assert failed.get("failed") and failed.get("field") == field, failed
            assert "Fix:" in failed["msg"]
    finally:
        for team in teams:
            kubectl("delete", "namespace", "%s-dev" % team, "--ignore-not-found", "--wait=false", check=False)
