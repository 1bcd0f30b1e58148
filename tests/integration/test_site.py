"""playbooks/site.yml against the embedded local site converges, then re-runs with no change."""

import json

from conftest import ROOT

INVENTORY = str(ROOT / "inventories" / "local")
VAULT = ["--vault-password-file", str(ROOT / "inventories" / "local" / "vault-password.txt")]


def test_site_converges_then_is_idempotent(run_playbook, kubeconfig, kubectl):
    extra = {"aistack_kubeconfig": kubeconfig}
    first = run_playbook(ROOT / "playbooks" / "site.yml", extra_vars=extra, inventory=INVENTORY, extra_args=VAULT)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert first.recap.get("failed") == 0

    second = run_playbook(ROOT / "playbooks" / "site.yml", extra_vars=extra, inventory=INVENTORY, extra_args=VAULT)
    assert second.returncode == 0, second.stdout[-3000:]
    assert second.recap.get("changed") == 0, second.stdout[-3000:]

    # What the site promises: namespaces, the Secret from the vaulted variable, the workload Available.
    for ns in ("aistack-system", "observability", "team-demo-dev"):
        kubectl("get", "namespace", ns)
    secret = json.loads(kubectl("-n", "team-demo-dev", "get", "secret", "demo-credentials", "-o", "json").stdout)
    assert set(secret["data"]) == {"api-key"}
    deploy = json.loads(kubectl("-n", "team-demo-dev", "get", "deploy", "demohttp", "-o", "json").stdout)
    assert deploy["status"].get("availableReplicas", 0) >= 1
    # The vaulted value never reaches the playbook output.
    import base64
    api_key = base64.b64decode(secret["data"]["api-key"]).decode()
    assert api_key not in first.stdout and api_key not in second.stdout


def test_site_check_mode_reports_no_change_on_converged_site(run_playbook, kubeconfig):
    proc = run_playbook(ROOT / "playbooks" / "site.yml", extra_vars={"aistack_kubeconfig": kubeconfig},
                        inventory=INVENTORY, extra_args=VAULT, check=True, diff=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.recap.get("changed") == 0, proc.stdout[-3000:]
