"""Benchmark: what drift detection costs helm_tenant's no-op run.

Converges N tenants (default 20) of the generic chart with aistack.platform.helm_tenant, then re-runs the same
task with nothing changed, alternating `drift: detect` (the default: one GET per object of each release) and
`drift: ignore` (values, chart and status only) for --rounds rounds, in the same run on the same cluster; the
medians are compared. Both the in-process path (the action plugin's no-op check, the usual case on the
controller) and the module process (a task with an `environment`, as for a remote host) are measured.
A control at the end scales one tenant's Deployment by hand: detect must see it (1 changed, in check mode), ignore
must not (0).

Prints seconds per side and the ratio detect / ignore. Target: detection adds at most 20 % (ratio <= 1.2).

  benchmarks/helm_tenant_drift_bench.py [-n 20] [--rounds 3] [--keep] [--image aistack.local/demohttp:1.0.0]

Needs the local cluster (tests/cluster/cluster.sh up) or KUBECONFIG, and helm on PATH (the cache's
bin directory is added).
"""

from __future__ import print_function

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from helm_tenant_bench import CHART, HELM_TENANT_PLAY, bench_image, environment, kubectl, parse_args  # noqa: E402 pylint: disable=wrong-import-position

TARGET = 1.2

# drift is helm_tenant's option only: the play's release_wait task has a timeout too
PLAY = HELM_TENANT_PLAY.replace('        wait: false\n        timeout: 300\n',
                                '        wait: false\n        timeout: 300\n        drift: "{{ drift_mode }}"\n', 1)
assert "drift_mode" in PLAY
MODULE_PLAY = PLAY.replace('      loop: "{{ teams }}"',
                           '      environment: {AISTACK_BENCH: module}\n      loop: "{{ teams }}"')


def playbook(env, path, extra, drift_mode, label, check=False):
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path), "-e", "@" + extra,
           "-e", "drift_mode=%s" % drift_mode]
    if check:
        cmd.append("--check")
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("playbook %s failed:\n%s\n%s" % (path, proc.stdout[-5000:], proc.stderr[-3000:]))
    items = proc.stdout.count("changed: [localhost] => (item=")
    print("  %-40s %7.1f s, %d items changed" % (label, seconds, items), flush=True)
    return seconds, items


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    args = parse_args(__doc__)
    env = environment()
    repo, tag = bench_image(args.image).rsplit(":", 1)
    run_id = uuid.uuid4().hex[:4]
    teams = ["drift%s-%02d" % (run_id, i) for i in range(args.n)]
    times = {"inprocess": {"detect": [], "ignore": []}, "module": {"detect": [], "ignore": []}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tenant.yml").write_text(PLAY)
        (tmp / "tenant-module.yml").write_text(MODULE_PLAY)
        extra = str(tmp / "vars.json")
        Path(extra).write_text(json.dumps({"teams": teams, "chart": CHART, "image_repository": repo,
                                           "image_tag": tag}))
        try:
            print("converging %d tenants with aistack.platform.helm_tenant ..." % args.n, flush=True)
            playbook(env, tmp / "tenant.yml", extra, "detect", "converge")
            print("no-op re-runs, %d alternating rounds ..." % args.rounds, flush=True)
            for _unused in range(args.rounds):
                for path_name, play in (("inprocess", "tenant.yml"), ("module", "tenant-module.yml")):
                    for mode in ("detect", "ignore"):
                        seconds, changed = playbook(env, tmp / play, extra, mode,
                                                    "no-op, %s, drift=%s" % (path_name, mode))
                        if changed:
                            sys.exit("a no-op run changed %d tenants" % changed)
                        times[path_name][mode].append(seconds)
            # control: a hand edit is seen by detect and not by ignore (check mode: nothing is repaired)
            name, ns = "%s-demo-dev" % teams[0], "%s-dev" % teams[0]
            kubectl(env, "scale", "deployment", name, "-n", ns, "--replicas=2", check=True)
            _unused, seen = playbook(env, tmp / "tenant.yml", extra, "detect", "control, drift=detect (check)",
                                     check=True)
            _unused, unseen = playbook(env, tmp / "tenant.yml", extra, "ignore", "control, drift=ignore (check)",
                                       check=True)
            control_ok = (seen, unseen) == (1, 0)
        finally:
            if not args.keep:
                for team in teams:
                    kubectl(env, "delete", "namespace", "%s-dev" % team, "--ignore-not-found", "--wait=false")

    print()
    print("%-12s %12s %12s %8s %8s" % ("no-op path", "detect s", "ignore s", "ratio", "target"))
    verdicts = []
    for path_name in ("inprocess", "module"):
        detect_s, ignore_s = median(times[path_name]["detect"]), median(times[path_name]["ignore"])
        ratio = detect_s / ignore_s
        verdicts.append(ratio <= TARGET)
        print("%-12s %12.1f %12.1f %8.2f %8s" % (path_name, detect_s, ignore_s, ratio, "<= %.1f" % TARGET))
    print("control: a scaled Deployment changed %d tenant(s) with detect, %d with ignore (%s)"
          % (seen, unseen, "as expected" if control_ok else "WRONG"))
    verdict = "targets met" if all(verdicts) and control_ok else "TARGET MISSED"
    print("N=%d tenants, %d rounds; %s" % (args.n, args.rounds, verdict))
    return 0 if all(verdicts) and control_ok else 1


if __name__ == "__main__":
    sys.exit(main())
