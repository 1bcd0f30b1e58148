"""tests/cluster/cluster.sh's view of its own processes, on a state directory of a cluster that is gone.

The state directory survives a machine restart; its PID files then name whatever process got those PIDs.
`status` (and `up`, which skips starting what it believes runs) must not take such a process for a
component. No cluster is needed: the script only reads the state directory and /proc.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLUSTER_SH = Path(__file__).resolve().parents[2] / "tests" / "cluster" / "cluster.sh"
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet",
              "kube-proxy"]


@pytest.fixture
def stale_state(tmp_path):
    """A cache whose cluster state names a live process that is not a component (as after a restart)."""
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pids = tmp_path / "cluster" / "pids"
    pids.mkdir(parents=True)
    (tmp_path / "cluster" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    for name in COMPONENTS:
        (pids / ("%s.pid" % name)).write_text("%d\n" % unrelated.pid)
    yield tmp_path, unrelated
    unrelated.kill()
    unrelated.wait()


def test_pid_of_another_program_is_not_a_component(stale_state):
    """Only `status`: `down` and `up` act on machine-wide paths (/run/aistack, iptables), not for a unit test."""
    cache, unrelated = stale_state
    proc = subprocess.run(["bash", str(CLUSTER_SH), "status"], env=dict(os.environ, AISTACK_CACHE=str(cache)),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["down: %s is not running" % name for name in COMPONENTS]
    assert unrelated.poll() is None  # only looked at, not signalled
