"""Shared pytest fixtures.

Integration tests talk to a real cluster: the one named by ``KUBECONFIG`` when set (kind, k3s, any
cluster), else the local test cluster of ``tests/cluster/cluster.sh``. Modules are run the way users
run them, through ``ansible`` / ``ansible-playbook`` subprocesses with the collection on
ANSIBLE_COLLECTIONS_PATH, so argspec, check mode, diff and no_log are exercised for real.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
COLLECTIONS = ROOT / "build" / "collections"

# Unit tests import the collection's code by its collection path.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def _ensure_collection_link():
    link = COLLECTIONS / "ansible_collections" / "aistack" / "platform"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)


_ensure_collection_link()


def local_image_vars():
    """The role variables that point the roles at the images built here (inventories/local's images.yml):
    the tests run what the local site runs."""
    import yaml
    return yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "images.yml").read_text())


def run_role(tmp_path, role, extra_vars, timeout=300):
    """ansible-playbook of a one-role play on localhost with the collection on its path -> CompletedProcess.
    For render tests: no fixture needed, the role's own render-dir variable keeps it off any cluster."""
    playbook = tmp_path / "render.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.%s\n" % role)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e",
                           json.dumps(extra_vars)], env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)


def local_kubeconfig():
    return str(CACHE / "cluster" / "kubeconfig")


def targets_local_cluster():
    """True when the tests run against the local test cluster: KUBECONFIG unset, or naming its kubeconfig.

    Tests that reach the node's containerd directly can only do that on the local cluster.
    """
    named = os.environ.get("KUBECONFIG")
    return not named or os.path.realpath(named) == os.path.realpath(local_kubeconfig())


def cache_images():
    """Image references the cluster build recorded (AISTACK_DEMOHTTP_IMAGE, AISTACK_BASE_IMAGE, ...)."""
    env_file = CACHE / "images.env"
    values = {}
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    return values


# The integration suite runs on two pytest-xdist workers (INTEGRATION_WORKERS in the Makefile; empty:
# serial). A file's tests stay together on
# one worker, so a module fixture (a converged role, the converged site) is built once; files that touch the
# same fixed, cluster-wide things share a group and so a worker: test_site and test_airgap both run
# playbooks/site.yml with the local inventory (the node's containerd mirror, the site's namespaces);
# test_site_closure compares the closure of the local inventory with the pods of the site test_site converged.
# (xdist's own `loadgroup` marks do nothing under pytest 9, which dropped the Node._nodeid it rewrites: the
# grouping is this scheduler's, which overrides LoadScopeScheduling._split_scope of xdist 3.8.)
XDIST_SHARED_GROUPS = {"test_site.py": "site", "test_airgap.py": "site", "test_site_closure.py": "site"}
# Longest first (the scheduler keeps collection order, --no-loadscope-reorder): the site group takes about
# 10 minutes, so it starts at once and the short files fill the other worker. From a serial run, 2026-12-01.
# test_airgap before test_site: its site.yml runs on a cluster without the platform, as it always has;
# test_site_closure after test_site: it reads the site test_site converged.
XDIST_LONGEST_FIRST = ("test_airgap.py", "test_site.py", "test_site_closure.py", "test_langflow_real.py",
                       "test_k3s_roles.py", "test_databases_compose.py", "test_airgap_delta.py", "test_registry_role.py",
                       "test_helm_tenant.py",
                       "test_airgap_signing.py", "test_helm_tenant_drift.py", "test_helm_rollout.py")
# Last: the files that run the Go-built images, which on a cold machine build in the background while the
# rest of the suite runs (Makefile, integration); test_site waits for them after test_airgap.
XDIST_LAST = ("test_ingress_role.py", "test_observability_loki.py", "test_tls_role.py")


def ansible_json(stdout):
    """The document of ansible's json callback; what a task prints while it runs (helm_tenant's and
    release_wait's progress lines) precedes it."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{\n") + 1
    return json.loads(stdout[start:])


def xdist_group(nodeid):
    """The work unit of a test: its integration file (or that file's shared group); a unit test is its own."""
    path = nodeid.split("::", 1)[0]
    if "/integration/" not in "/" + path:
        return nodeid
    return XDIST_SHARED_GROUPS.get(path.rsplit("/", 1)[-1], path)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_group(nodeid)

    return FileGroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):
        return  # a serial run keeps the files' order

    def rank(item):
        name = item.path.name
        if name in XDIST_LAST:
            return len(XDIST_LONGEST_FIRST) + 1 + XDIST_LAST.index(name)
        return XDIST_LONGEST_FIRST.index(name) if name in XDIST_LONGEST_FIRST else len(XDIST_LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests within a file keep their order


@pytest.fixture(scope="session")
def images():
    values = cache_images()
    if not values:
        pytest.fail("no images recorded in %s: run `tests/cluster/cluster.sh build`" % (CACHE / "images.env"))
    return values


@pytest.fixture(scope="session")
def kubeconfig():
    path = os.environ.get("KUBECONFIG")
    if path:
        return path
    status = subprocess.run([str(CLUSTER_SH), "status"], capture_output=True, text=True, check=False)
    if status.returncode != 0:
        pytest.fail("the local cluster is not up (%s): run `make cluster`, or set KUBECONFIG"
                    % status.stdout.strip())
    return subprocess.run([str(CLUSTER_SH), "kubeconfig"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="session")
def collection_env(kubeconfig):
    """Environment for ansible / ansible-playbook / kubectl / helm subprocesses."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, str(CACHE / "bin"), env.get("PATH", "")])
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)
    env["KUBECONFIG"] = kubeconfig
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "False"
    return env


@pytest.fixture(scope="session")
def kubectl(collection_env):
    """kubectl(*args, check=True, input=None) -> CompletedProcess (text)."""

    def _run(*args, check=True, input=None, timeout=300):
        proc = subprocess.run(["kubectl"] + list(args), env=collection_env, capture_output=True,
                              text=True, input=input, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s"
                                 % (" ".join(args), proc.returncode, proc.stderr or proc.stdout))
        return proc

    return _run


@pytest.fixture(scope="session")
def run_module(collection_env):
    """run_module(name, args, check=False, diff=False) -> the module's result dict.

    Runs ``ansible localhost -m <name>`` with the JSON callback, so the result is exactly what a
    playbook would register; ``result["failed"]`` tells a failure, ``result["changed"]`` a change.
    The full text output is kept in ``result["_stdout"]`` so tests can assert what reached the log.
    """

    def _run(name, args, check=False, diff=False, timeout=900):
        env = dict(collection_env)
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "1"
        cmd = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", name, "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        try:
            doc = ansible_json(proc.stdout)
            result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible -m %s gave no JSON result (rc %d):\n%s\n%s"
                                 % (name, proc.returncode, proc.stdout, proc.stderr))
        result["_stdout"] = proc.stdout + proc.stderr
        return result

    return _run


@pytest.fixture(scope="session")
def run_playbook(collection_env):
    """run_playbook(path, extra_vars=None, check=False, diff=False, inventory=None) -> CompletedProcess.

    The recap counts are parsed into ``proc.recap`` ({"ok": n, "changed": n, "failed": n, ...} summed
    over hosts).
    """

    def _run(playbook, extra_vars=None, check=False, diff=False, inventory=None, extra_args=(), timeout=1800):
        cmd = ["ansible-playbook", str(playbook), "-i", inventory or "localhost,"]
        if inventory is None:
            cmd += ["-c", "local"]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        cmd += list(extra_args)
        proc = subprocess.run(cmd, env=collection_env, capture_output=True, text=True, timeout=timeout,
                              cwd=str(ROOT), check=False)
        proc.recap = parse_recap(proc.stdout)
        return proc

    return _run


def converge_sequence(run_playbook, playbook, extra_vars, **kwargs):
    """check -> apply -> check -> apply; each run must succeed. Returns the four ``changed`` counts."""
    runs = []
    for check in (True, False, True, False):
        proc = run_playbook(playbook, extra_vars=extra_vars, check=check, **kwargs)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        runs.append(proc.recap.get("changed", 0))
    return runs


def wait_until(what, fn, timeout, interval=1.0):
    """Call fn until it returns something truthy and return that; fail naming `what` after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def parse_recap(stdout):
    totals = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line:
            for part in line.split(":", 1)[1].split():
                if "=" in part:
                    key, value = part.split("=", 1)
                    if value.isdigit():
                        totals[key] = totals.get(key, 0) + int(value)
    return totals


@pytest.fixture
def namespace(kubectl):
    """A unique namespace name; deleted after the test if the test (or the code under test) made it."""
    name = "t-" + uuid.uuid4().hex[:10]
    yield name
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


# ---------------------------------------------------------------- failure reports
# When an integration test fails against the local cluster, say what state the cluster was in: "pod still
# Pending" or "could not translate host name" is a symptom; the cause (a component that exited, a node
# condition or taint, CoreDNS not ready, an eviction) is in the cluster. The report is attached to the
# failing test's output, so a CI log shows it next to the first failure.

_KUBELET_SIGNALS = re.compile(r"evict|pressure|taint|OOM|no space left|failed to", re.IGNORECASE)


def _run(cmd, timeout=20):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "(%s: %s)" % (" ".join(cmd[:3]), exc)
    return (proc.stdout + proc.stderr).strip()


def _tail_matching(path, pattern, lines):
    try:
        with open(path, errors="replace") as handle:
            hits = [line.rstrip() for line in handle if pattern.search(line)]
    except OSError as exc:
        return "(%s)" % exc
    return "\n".join(line[:300] for line in hits[-lines:]) or "(nothing matching)"


def cluster_health_report():
    """Text: status of every component, node conditions and taints, pods that are not Running/Completed,
    recent warning events, and kubelet log lines about evictions or pressure."""
    status = _run([str(CLUSTER_SH), "status"])
    resources = ("## disk and memory\n%s\n%s" % (_run(["df", "-h", str(CACHE)]), _run(["free", "-m"])))
    if not os.path.exists(local_kubeconfig()):
        return "## cluster.sh status\n%s\n%s" % (status, resources)
    kubectl = ["kubectl", "--kubeconfig", local_kubeconfig(), "--request-timeout=10s"]
    node_fmt = ("jsonpath={range .items[*]}{.metadata.name}: "
                "{range .status.conditions[*]}{.type}={.status} {end}taints={.spec.taints}{'\\n'}{end}")
    parts = [
        ("cluster.sh status", status),
        ("node conditions", _run(kubectl + ["get", "nodes", "-o", node_fmt])),
        ("pods not running", _run(kubectl + ["get", "pods", "-A", "--field-selector",
                                             "status.phase!=Running,status.phase!=Succeeded"])),
        ("system pods", _run(kubectl + ["get", "pods", "-n", "kube-system", "-o", "wide"]) + "\n"
         + _run(kubectl + ["get", "pods", "-n", "local-path-storage", "-o", "wide"])),
        ("warning events (last 15)", "\n".join(_run(kubectl + [
            "get", "events", "-A", "--field-selector", "type=Warning", "--sort-by=.lastTimestamp"]).splitlines()[-15:])),
        ("kubelet log (evictions, pressure, failures; last 15)",
         _tail_matching(str(CACHE / "cluster" / "logs" / "kubelet.log"), _KUBELET_SIGNALS, 15)),
    ]
    return "\n".join("## %s\n%s" % (title, body) for title, body in parts) + "\n" + resources


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.when in ("setup", "call") and report.failed and "integration" in item.nodeid.split("/")
            and targets_local_cluster()):
        report.sections.append(("local cluster at failure", cluster_health_report()))
