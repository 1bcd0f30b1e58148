"""Benchmark: what NetworkPolicy enforcement costs on the local cluster (kube-network-policies, user space).

Side by side in one run, alternating for --rounds rounds (medians compared, so a busy machine weighs on both):
- connection set-up: N sequential TCP connects from one pod to another through a Service, timed inside the
  client pod, with enforcement (the first packet of each connection goes through the enforcer's queue and a
  policy admits it) and with the diversion switched off (the iptables hooks of chain AISTACK-NETPOL removed for
  the measurement and put back right after);
- a rollout: a Deployment of R pods of the generic chart's image created, ready, and deleted, both ways.

Prints milliseconds per connect and seconds per rollout and the ratios enforced / not enforced.

  benchmarks/network_policy_bench.py [-n 300] [--replicas 3] [--rounds 3]

Needs the local cluster (tests/cluster/cluster.sh up): it switches the local enforcer's diversion, so it
runs as root on the cluster's node.
"""

from __future__ import print_function

import argparse
import json
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
HOOKS = (("POSTROUTING", "-j", "AISTACK-NETPOL"), ("INPUT", "-j", "AISTACK-NETPOL"))


def kubectl(*args, **kwargs):
    env = dict(os.environ, KUBECONFIG=os.environ.get("KUBECONFIG", str(CACHE / "cluster" / "kubeconfig")))
    return subprocess.run([str(CACHE / "bin" / "kubectl")] + list(args), env=env, capture_output=True, text=True,
                          check=True, **kwargs).stdout


def images():
    values = {}
    for line in (CACHE / "images.env").read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def diversion(on):
    for hook in HOOKS:
        present = subprocess.run(["iptables", "-t", "mangle", "-C"] + list(hook), capture_output=True,
                                 check=False).returncode == 0
        if on and not present:
            subprocess.run(["iptables", "-t", "mangle", "-I"] + list(hook), check=True)
        if not on and present:
            subprocess.run(["iptables", "-t", "mangle", "-D"] + list(hook), check=True)


def connects(ns, count):
    script = ("s=$(date +%%s%%N); for i in $(seq %d); do echo > /dev/tcp/server/80 || exit 1; done; "
              "echo $(( ($(date +%%s%%N) - s) / 1000 ))" % count)
    micros = int(kubectl("-n", ns, "exec", "client", "--", "bash", "-c", script).strip())
    return micros / 1000.0 / count


def rollout(ns, image, replicas):
    name = "r-" + uuid.uuid4().hex[:6]
    start = time.time()
    kubectl("-n", ns, "create", "deployment", name, "--image", image, "--replicas", str(replicas), "--port", "8080")
    kubectl("-n", ns, "patch", "deployment", name, "--type", "json", "-p", json.dumps([
        {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"},
        {"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe",
         "value": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]))
    kubectl("-n", ns, "rollout", "status", "deployment", name, "--timeout=180s")
    took = time.time() - start
    kubectl("-n", ns, "delete", "deployment", name, "--wait=true")
    return took


def setup(ns, demo, base):
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "only-client", "namespace": ns},
              "spec": {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}}
    kubectl("create", "namespace", ns)
    kubectl("-n", ns, "run", "server", "--image", demo, "--image-pull-policy", "Never", "--labels", "app=server",
            "--port", "8080")
    kubectl("-n", ns, "expose", "pod", "server", "--port", "80", "--target-port", "8080")
    kubectl("-n", ns, "run", "client", "--image", base, "--image-pull-policy", "Never", "--labels", "app=client",
            "--command", "--", "sleep", "infinity")
    kubectl("apply", "-f", "-", input=json.dumps(policy))
    kubectl("-n", ns, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("-n", type=int, default=300, help="connects per measurement")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    values = images()
    ns = "bench-np-" + uuid.uuid4().hex[:6]
    setup(ns, values["AISTACK_DEMOHTTP_IMAGE"], values["AISTACK_BASE_IMAGE"])
    results = {"on": {"connect": [], "rollout": []}, "off": {"connect": [], "rollout": []}}
    try:
        for index in range(args.rounds):
            for side in (("on", "off") if index % 2 == 0 else ("off", "on")):
                diversion(side == "on")
                results[side]["connect"].append(connects(ns, args.n))
                results[side]["rollout"].append(rollout(ns, values["AISTACK_DEMOHTTP_IMAGE"], args.replicas))
                print("round %d, enforcement %-3s: %.3f ms per connect, rollout of %d pods %.1f s"
                      % (index + 1, side, results[side]["connect"][-1], args.replicas, results[side]["rollout"][-1]),
                      flush=True)
    finally:
        diversion(True)
        kubectl("delete", "namespace", ns, "--wait=false")
    on_c, off_c = statistics.median(results["on"]["connect"]), statistics.median(results["off"]["connect"])
    on_r, off_r = statistics.median(results["on"]["rollout"]), statistics.median(results["off"]["rollout"])
    print("\nmedians over %d rounds" % args.rounds)
    print("connect (ms):   enforced %.3f  not enforced %.3f  ratio %.2f" % (on_c, off_c, on_c / off_c))
    print("rollout (s):    enforced %.1f  not enforced %.1f  ratio %.2f" % (on_r, off_r, on_r / off_r))


if __name__ == "__main__":
    main()
