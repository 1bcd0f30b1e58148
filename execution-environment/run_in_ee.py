"""Run a playbook of this project inside the execution environment, as AWX runs a job: ansible-runner with process
isolation in the container engine, the project in /runner/project, the credentials as AWX injects them (the
Kubernetes credential as K8S_AUTH_* variables with its CA in a file, the Vault credential answering the vault
prompt), survey answers as extra variables. Runs with the Python of execution-environment/tools.sh's virtualenv
(ansible-runner): $AISTACK_CACHE/ee-tools/bin/python execution-environment/run_in_ee.py ...

    run_in_ee.py --playbook playbooks/site.yml --inventory inventories/local --local-site \
        --k8s-credential ~/.aistack-awx-credential.yml --vault-password-file inventories/local/vault-password.txt
    run_in_ee.py --job-template apps --site local --environment dev --answer langflow_teams=team-demo ...

--job-template takes the playbook and the survey of that layer from playbooks/vars/awx_layers.yml (what the
job template AWX runs would pass: playbook, inventory, survey answers as extra vars, credentials as env).
--local-site adds what the local site (inventories/local) needs of the machine it runs on: the host network
(the cluster's API, the ingress on loopback ports), the Docker engine's socket and /var/lib/aistack (its infra
host, the Compose databases, is the controller itself). Prints the recap and writes a JSON summary
(status, rc, seconds, per-host stats) to <private data dir>/summary.json; exits with the playbook's rc.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
sys.path.insert(0, str(ROOT / "build" / "collections"))


def default_image():
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    return os.environ.get("EE_IMAGE", "aistack.local/platform-ee:%s" % version)


def layer(name):
    data = yaml.safe_load((ROOT / "playbooks" / "vars" / "awx_layers.yml").read_text())
    for entry in data["awx_layers"]:
        if entry["name"] == name:
            return entry, data
    raise SystemExit("no layer %s in playbooks/vars/awx_layers.yml (layers: %s)"
                     % (name, ", ".join(item["name"] for item in data["awx_layers"])))


def site_inventory(data, site, environment):
    for entry in data["awx_sites"]:
        if entry["site"] == site and entry["environment"] == environment:
            return str(Path(entry["inventory"]).parent)
    raise SystemExit("no site %s/%s in playbooks/vars/awx_layers.yml" % (site, environment))


def copy_project(dest):
    """The project as AWX's project update checks it out: the tracked (and new, not ignored) files."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=str(ROOT),
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in files:
        src = ROOT / name
        if name and src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(src), str(target))


def credential_env(path, pdd):
    """AWX's "OpenShift or Kubernetes API Bearer Token" credential as AWX injects it: K8S_AUTH_HOST,
    K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL and K8S_AUTH_SSL_CA_CERT (a file AWX writes into the job's private
    data directory), and no kubeconfig."""
    inputs = yaml.safe_load(Path(path).expanduser().read_text())
    env = {"K8S_AUTH_HOST": inputs["host"], "K8S_AUTH_API_KEY": inputs["bearer_token"],
           "K8S_AUTH_VERIFY_SSL": str(bool(inputs.get("verify_ssl", True))).lower()}
    if inputs.get("ssl_ca_cert"):
        (pdd / "env").mkdir(parents=True, exist_ok=True)
        (pdd / "env" / "k8s-ca.crt").write_text(inputs["ssl_ca_cert"])
        env["K8S_AUTH_SSL_CA_CERT"] = "/runner/env/k8s-ca.crt"
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--playbook")
    parser.add_argument("--inventory", default="inventories/local")
    parser.add_argument("--job-template", help="a layer of playbooks/vars/awx_layers.yml")
    parser.add_argument("--site", default="local")
    parser.add_argument("--environment", default="dev")
    parser.add_argument("--answer", action="append", default=[], help="survey answer VAR=VALUE")
    parser.add_argument("--extra-vars", "-e", action="append", default=[], help="JSON or YAML")
    parser.add_argument("--k8s-credential", help="YAML file with the credential's inputs (host, bearer_token, "
                                                 "verify_ssl, ssl_ca_cert): what playbooks/awx_service_account.yml writes")
    parser.add_argument("--kubeconfig", help="instead of a credential: a kubeconfig, mounted read-only")
    parser.add_argument("--vault-password-file")
    parser.add_argument("--check", action="store_true", help="job type check")
    parser.add_argument("--limit")
    parser.add_argument("--local-site", action="store_true")
    parser.add_argument("--image", default=default_image())
    parser.add_argument("--engine", default="docker")
    parser.add_argument("--data-dir", help="private data directory (default build/ee-runs/<name>-<time>)")
    parser.add_argument("--verbosity", type=int, default=0)
    args = parser.parse_args(argv)

    import ansible_runner  # pylint: disable=import-outside-toplevel

    extravars = {}
    playbook, inventory = args.playbook, args.inventory
    if args.job_template:
        entry, data = layer(args.job_template)
        playbook = entry["playbook"]
        inventory = site_inventory(data, args.site, args.environment)
        from ansible_collections.aistack.platform.plugins.module_utils.filters import awx  # noqa: E402
        answers = dict(item.split("=", 1) for item in args.answer)
        extravars.update(awx.survey_extra_vars(entry["survey"], answers))
    if not playbook:
        parser.error("give --playbook or --job-template")
    for item in args.extra_vars:
        extravars.update(yaml.safe_load(item))

    name = (args.job_template or Path(playbook).stem) + "-" + time.strftime("%Y%m%d-%H%M%S")
    pdd = Path(args.data_dir or ROOT / "build" / "ee-runs" / name).resolve()
    if pdd.exists():
        shutil.rmtree(str(pdd))
    (pdd / "project").mkdir(parents=True)
    copy_project(pdd / "project")

    envvars = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_LOCALHOST_WARNING": "False",
               # this checkout's collection first (AWX installs the project's collections/requirements.yml
               # there), then the one the EE carries
               "ANSIBLE_COLLECTIONS_PATH": "/runner/collections:/usr/share/ansible/collections"}
    # the job's inventory, as AWX writes it into the private data directory (here the inventory directory
    # itself, group_vars and the vault-encrypted file included: ansible-runner passes -i /runner/inventory)
    shutil.copytree(str(pdd / "project" / inventory), str(pdd / "inventory"))
    coll = pdd / "collections" / "ansible_collections" / "aistack" / "platform"
    coll.parent.mkdir(parents=True)
    shutil.copytree(str(pdd / "project"), str(coll))
    mounts, options = [], []
    if args.k8s_credential:
        envvars.update(credential_env(args.k8s_credential, pdd))
    if args.kubeconfig:
        kcfg = Path(args.kubeconfig).expanduser().resolve()
        mounts.append("%s:/runner/kubeconfig:ro" % kcfg)
        extravars.setdefault("aistack_kubeconfig", "/runner/kubeconfig")
    if args.local_site:
        options += ["--network=host"]
        mounts += ["/var/run/docker.sock:/var/run/docker.sock", "/var/lib/aistack:/var/lib/aistack"]
        # the local site's paths under $AISTACK_CACHE are the machine's: its CA certificate (tls_ca_file), the
        # kubelet's pod logs Promtail reads (a hostPath): the same directory at the same path
        CACHE.mkdir(parents=True, exist_ok=True)
        mounts.append("%s:%s" % (CACHE, CACHE))
        envvars["AISTACK_CACHE"] = str(CACHE)
    cmdline = []
    passwords = {}
    if args.vault_password_file:
        cmdline.append("--ask-vault-pass")
        passwords[r"^Vault password:\s*?$"] = Path(args.vault_password_file).read_text().strip()
    if args.check:
        cmdline.append("--check")
    if args.limit:
        cmdline += ["--limit", args.limit]

    print("[ee] %s in %s: %s -i %s%s" % (name, args.image, playbook, inventory,
                                         " -e " + json.dumps(extravars) if extravars else ""), flush=True)
    start = time.time()
    result = ansible_runner.run(
        private_data_dir=str(pdd), playbook=playbook,
        extravars=extravars or None, envvars=envvars, passwords=passwords or None,
        cmdline=" ".join(cmdline) or None, verbosity=args.verbosity or None,
        process_isolation=True, process_isolation_executable=args.engine, container_image=args.image,
        container_volume_mounts=mounts or None, container_options=options or None,
        quiet=False, suppress_env_files=False)
    seconds = round(time.time() - start, 1)
    stats = result.stats or {}
    summary = {"name": name, "image": args.image, "playbook": playbook, "inventory": inventory,
               "extravars": extravars, "status": result.status, "rc": result.rc, "seconds": seconds,
               "changed": sum((stats.get("changed") or {}).values()),
               "failed": sum((stats.get("failures") or {}).values()) + sum((stats.get("dark") or {}).values()),
               "stats": stats}
    (pdd / "summary.json").write_text(json.dumps(summary, indent=2))
    print("[ee] %s: %s rc=%s changed=%d failed=%d in %.1f s (%s)" % (
        name, result.status, result.rc, summary["changed"], summary["failed"], seconds, pdd / "summary.json"),
        flush=True)
    return result.rc


if __name__ == "__main__":
    sys.exit(main())
