"""Benchmark: aistack.platform.helm_tenant against a plain kubernetes.core.helm loop.

Converges N tenants (default 20) of the generic chart with helm_tenant, re-runs with nothing changed,
then does the same with kubernetes.core.helm over the same N releases (same names, same chart, the
exact values helm_tenant rendered, in twin namespaces), in the same run on the same cluster. Both
sides are one ansible-playbook task looping over the N items, with the same Ansible settings.

Prints seconds per phase and the ratio helm_tenant / kubernetes.core.helm. The no-op re-runs alternate
between the two sides for --rounds rounds and the medians are compared, so a busy machine weighs on
both alike. helm_tenant converges as the roles do: every rollout started (``wait: false``), then one
``release_wait`` for all; kubernetes.core.helm waits for each release in turn (``wait: true``), as a plain
loop does.
Targets (issue 15): converge ratio <= 0.4; no-op re-run ratio <= 0.15 and under 5 s. The no-ops also run with the client's other
transport (AISTACK_KUBE_TRANSPORT), in-process (the action plugin) and in the module process (a task with an
`environment`, as for a remote host): the ratios say whether each default transport is the faster one.

  benchmarks/helm_tenant_bench.py [-n 20] [--keep] [--image aistack.local/demohttp:1.0.0]

Needs the local cluster (tests/cluster/cluster.sh up) or KUBECONFIG, and helm on PATH (the cache's
bin directory is added).
"""

from __future__ import print_function

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
CHART = str(ROOT / "charts" / "aistack-service")
COLLECTIONS = ROOT / "build" / "collections"


def environment():
    link = COLLECTIONS / "ansible_collections" / "aistack" / "platform"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    env = dict(os.environ)
    if not env.get("KUBECONFIG"):
        cluster = str(ROOT / "tests" / "cluster" / "cluster.sh")
        if subprocess.run([cluster, "status"], capture_output=True, check=False).returncode != 0:
            sys.exit("the local cluster is not up and KUBECONFIG is not set")
        env["KUBECONFIG"] = subprocess.run([cluster, "kubeconfig"], capture_output=True, text=True,
                                           check=True).stdout.strip()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(CACHE / "bin"), env.get("PATH", "")])
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PIPELINING="True", ANSIBLE_DEPRECATION_WARNINGS="False")
    return env


HELM_TENANT_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Converge tenants with aistack.platform.helm_tenant
      aistack.platform.helm_tenant:
        team: "{{ item }}"
        service: demo
        environment: dev
        chart:
          path: "{{ chart }}"
        image:
          repository: "{{ image_repository }}"
          tag: "{{ image_tag }}"
        port: 8080
        persistence:
          enabled: false
        resources:
          requests: {cpu: 5m, memory: 16Mi}
          limits: {cpu: 100m, memory: 32Mi}
        generated_secrets:
          - {key: secret-key, env: APP_SECRET_KEY, format: fernet}
        probes:
          liveness_initial_delay: 2
          readiness_initial_delay: 1
          period: 2
          timeout: 1
        # the roles' way: start every rollout, then wait for all of them at once
        wait: false
        timeout: 300
      loop: "{{ teams }}"
      register: _started

    - name: Wait for all rollouts with aistack.platform.release_wait
      aistack.platform.release_wait:
        releases: "{{ _started.results | aistack.platform.rollout_pending }}"
        timeout: 300
      when: _started.results | aistack.platform.rollout_pending | length > 0
"""

CORE_HELM_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Converge the same releases with kubernetes.core.helm
      kubernetes.core.helm:
        name: "{{ item.name }}"
        namespace: "{{ item.namespace }}"
        chart_ref: "{{ chart }}"
        release_values: "{{ item['values'] }}"
        create_namespace: true
        wait: true
        timeout: 5m0s
      loop: "{{ releases }}"
      loop_control:
        label: "{{ item.namespace }}/{{ item.name }}"
"""


def playbook(env, path, extra, label=""):
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(path), "-e", "@" + extra],
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("playbook %s failed:\n%s\n%s" % (path, proc.stdout[-5000:], proc.stderr[-3000:]))
    changed = None
    for line in proc.stdout.splitlines():
        if line.startswith("localhost") and "changed=" in line:
            changed = int(line.split("changed=")[1].split()[0])
    items = proc.stdout.count("changed: [localhost] => (item=")
    print("  %-28s %7.1f s, %d items changed" % (label, seconds, items), flush=True)
    return seconds, items


def kubectl(env, *args, **kw):
    check = kw.pop("check", False)
    return subprocess.run(["kubectl"] + list(args), env=env, capture_output=True, text=True, check=check, **kw)


def parse_args(doc):
    """The options both helm_tenant benchmarks take."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    parser.add_argument("-n", type=int, default=20, help="tenants (default 20)")
    parser.add_argument("--image", default=None, help="image (default: the cluster build's demohttp)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating no-op rounds (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the namespaces afterwards")
    return parser.parse_args()


def bench_image(image=None):
    """The tenants' image: the one given, else the cluster build's demohttp."""
    if image:
        return image
    images = dict(line.split("=", 1) for line in (CACHE / "images.env").read_text().split() if "=" in line) \
        if (CACHE / "images.env").exists() else {}
    return images.get("AISTACK_DEMOHTTP_IMAGE", "aistack.local/demohttp:1.0.0")


def main():
    args = parse_args(__doc__)
    env = environment()
    repo, tag = bench_image(args.image).rsplit(":", 1)
    run_id = uuid.uuid4().hex[:4]
    teams = ["bench%s-%02d" % (run_id, i) for i in range(args.n)]
    ours = ["%s-dev" % t for t in teams]
    theirs = ["%s-dev-kch" % t for t in teams]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tenant.yml").write_text(HELM_TENANT_PLAY)
        (tmp / "core.yml").write_text(CORE_HELM_PLAY)
        # the same task with an `environment`: the action plugin leaves it to the module process, as for a
        # remote host, where the client's HTTPS transport spares each run the import of the kubernetes package
        (tmp / "tenant-module.yml").write_text(HELM_TENANT_PLAY.replace(
            '      loop: "{{ teams }}"', '      environment: {AISTACK_BENCH: module}\n      loop: "{{ teams }}"'))
        (tmp / "tenant-vars.json").write_text(json.dumps(
            {"teams": teams, "chart": CHART, "image_repository": repo, "image_tag": tag}))
        try:
            print("converging %d tenants with aistack.platform.helm_tenant ..." % args.n, flush=True)
            results["tenant_converge"] = playbook(env, tmp / "tenant.yml", str(tmp / "tenant-vars.json"),
                                                  label="helm_tenant converge")
            # the same releases for kubernetes.core.helm: same names, chart and rendered values, twin namespaces
            releases = []
            for team, ns, twin in zip(teams, ours, theirs):
                name = "%s-demo-dev" % team
                values = json.loads(subprocess.run(["helm", "get", "values", name, "-n", ns, "-o", "json"], env=env,
                                                   capture_output=True, text=True, check=True).stdout)
                releases.append({"name": name, "namespace": twin, "values": values})
                # untimed preparation (in kubernetes.core.helm's favour): the namespace and the Secret the pods read
                kubectl(env, "create", "namespace", twin)
                secret = json.loads(kubectl(env, "get", "secret", name + "-generated", "-n", ns, "-o", "json",
                                            check=True).stdout)
                secret["metadata"] = {"name": secret["metadata"]["name"], "namespace": twin}
                kubectl(env, "apply", "-f", "-", input=json.dumps(secret), check=True)
            (tmp / "core-vars.json").write_text(json.dumps({"releases": releases, "chart": CHART}))
            print("converging the same %d releases with kubernetes.core.helm ..." % args.n, flush=True)
            results["core_converge"] = playbook(env, tmp / "core.yml", str(tmp / "core-vars.json"),
                                                label="kubernetes.core.helm converge")
            # no-op re-runs, alternating so both sides see the same machine load; the median counts
            print("no-op re-runs, %d alternating rounds ..." % args.rounds, flush=True)
            ours_noop, core_noop, inprocess_https_noop, module_noop, module_library_noop = [], [], [], [], []
            # the same no-ops with the other transport of the client: in-process (the action plugin) it
            # prefers the kubernetes library, in the module process its HTTPS transport; whether each
            # preference is right is what these ratios say
            library_env = dict(env, AISTACK_KUBE_TRANSPORT="library")
            https_env = dict(env, AISTACK_KUBE_TRANSPORT="https")
            for _unused in range(args.rounds):
                ours_noop.append(playbook(env, tmp / "tenant.yml", str(tmp / "tenant-vars.json"),
                                          label="helm_tenant no-op"))
                inprocess_https_noop.append(playbook(https_env, tmp / "tenant.yml", str(tmp / "tenant-vars.json"),
                                                     label="helm_tenant no-op, HTTPS transport"))
                module_noop.append(playbook(env, tmp / "tenant-module.yml", str(tmp / "tenant-vars.json"),
                                            label="helm_tenant no-op in the module"))
                module_library_noop.append(playbook(library_env, tmp / "tenant-module.yml",
                                                    str(tmp / "tenant-vars.json"),
                                                    label="helm_tenant no-op in the module, library transport"))
                core_noop.append(playbook(env, tmp / "core.yml", str(tmp / "core-vars.json"),
                                          label="kubernetes.core.helm no-op"))
            results["tenant_noop"] = sorted(ours_noop)[len(ours_noop) // 2]
            results["core_noop"] = sorted(core_noop)[len(core_noop) // 2]
            results["inprocess_https_noop"] = sorted(inprocess_https_noop)[len(inprocess_https_noop) // 2]
            results["module_noop"] = sorted(module_noop)[len(module_noop) // 2]
            results["module_library_noop"] = sorted(module_library_noop)[len(module_library_noop) // 2]
        finally:
            if not args.keep:
                for ns in ours + theirs:
                    kubectl(env, "delete", "namespace", ns, "--ignore-not-found", "--wait=false")

    print()
    print("%-10s %22s %22s %8s %8s" % ("phase", "helm_tenant s (chg)", "k.c.helm s (chg)", "ratio", "target"))
    verdicts = []
    for phase, target in (("converge", 0.4), ("noop", 0.15)):
        ours_s, ours_c = results["tenant_" + phase]
        core_s, core_c = results["core_" + phase]
        ratio = ours_s / core_s
        verdicts.append(ratio <= target)
        print("%-10s %16.1f (%3s) %16.1f (%3s) %8.2f %8s"
              % (phase, ours_s, ours_c, core_s, core_c, ratio, "<= %.2f" % target))
    noop_s = results["tenant_noop"][0]
    verdicts.append(noop_s < 5.0)
    print("helm_tenant no-op: %.1f s (target < 5 s)" % noop_s)
    # in-process: the default (library) against the HTTPS transport; module: the default (HTTPS) against the library
    for label, ours_key, other_key, ours_name, other_name in (
            ("in-process", "tenant_noop", "inprocess_https_noop", "library (default)", "HTTPS"),
            ("module", "module_noop", "module_library_noop", "HTTPS (default)", "library")):
        print("transport, no-op %-10s %6.1f s %s, %6.1f s %s: ratio %.2f"
              % (label, results[ours_key][0], ours_name, results[other_key][0], other_name,
                 results[ours_key][0] / results[other_key][0]))
    print("N=%d tenants; %s" % (args.n, "targets met" if all(verdicts) else "TARGET MISSED"))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
