"""The platform contract (docs/platform-contract.md), checked over the tree (no cluster): the platform-wide
variables are declared once (roles/platform's defaults and argument specs) and documented, their readers fall
back to the same defaults, role variables carry their role's prefix, the layers switch on
aistack_<layer>_enabled, and the connection to the cluster is given once per play (module_defaults of the
action group), not per task."""

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PLATFORM = ROOT / "roles" / "platform"
DEFAULTS = yaml.safe_load((PLATFORM / "defaults" / "main.yml").read_text())
OPTIONS = yaml.safe_load((PLATFORM / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
DOC = (ROOT / "docs" / "platform-contract.md").read_text()
VARIABLE = re.compile(r"\baistack_[a-z0-9_]+\b")
# Words of the form aistack_* that are not variables: the LightRAG image's trace sampler (an env value).
NOT_VARIABLES = {"aistack_skip_probes"}
# Readers whose fallback differs from the contract's default on purpose: verify checks a layer only when the
# inventory says it runs.
OWN_FALLBACK = {("verify", "aistack_databases_enabled"), ("verify", "aistack_observability_enabled")}
KUBE_MODULE = re.compile(r"^\s*(kubernetes\.core\.(k8s|helm)[a-z_]*|aistack\.platform\.(helm_tenant|external_service|"
                         r"image_import|site_check)):", re.M)
# Plays that include a role with Kubernetes tasks but only its parts that never reach the API.
NO_API_PLAYS = {("airgap_export.yml", "Export the airgap bundle"), ("preflight.yml", "Preflight"),
                ("airgap_import.yml", "Bootstrap images into the nodes' containerd"),
                ("registry.yml", "Site registry on a host"), ("registry.yml", "Node mirror configuration")}
LAYER_SWITCHES = {"registry.yml": "aistack_registry_enabled", "ingress.yml": "aistack_ingress_enabled",
                  "databases.yml": "aistack_databases_enabled", "observability.yml": "aistack_observability_enabled",
                  "network_policies.yml": "aistack_network_policies_enabled", "tls.yml": "aistack_tls_enabled"}


def _files(*tops, suffixes=(".yml", ".yaml", ".j2")):
    for top in tops:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                yield path


def _role_of(path):
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "roles" else None


def test_defaults_and_argument_specs_agree():
    for name, value in DEFAULTS.items():
        assert name in OPTIONS, "%s: in defaults/main.yml, not in meta/argument_specs.yml" % name
        assert OPTIONS[name].get("default") == value, name
    for name, spec in OPTIONS.items():
        assert name.startswith("aistack_"), name
        if "default" in spec:
            assert DEFAULTS.get(name) == spec["default"], "%s: default only in argument_specs.yml" % name


def test_every_platform_variable_is_declared_and_documented():
    used = {}
    for path in _files("roles", "playbooks", "inventories", "molecule"):
        for name in set(VARIABLE.findall(path.read_text())) - NOT_VARIABLES:
            used.setdefault(name, path.relative_to(ROOT))
    for name, where in sorted(used.items()):
        assert name in OPTIONS, "%s (%s) is not declared in roles/platform/meta/argument_specs.yml" % (name, where)
    for name in OPTIONS:
        assert "| `%s` |" % name in DOC, "%s is not in docs/platform-contract.md's table" % name


def test_one_namespace_variable():
    for path in _files("roles", "playbooks", "inventories", "molecule", "tests", "docs",
                       suffixes=(".yml", ".yaml", ".j2", ".py", ".md")):
        if path.name == Path(__file__).name:
            continue
        assert "aistack_platform_namespace" not in path.read_text(), path


def test_readers_fall_back_to_the_contract_defaults():
    fallback = re.compile(r"\b(aistack_[a-z0-9_]+) \| default\(('[^']*'|\"[^\"]*\"|true|false|\[\])\)")
    for path in _files("roles", "playbooks"):
        for name, literal in fallback.findall(path.read_text()):
            if name not in DEFAULTS or (_role_of(path), name) in OWN_FALLBACK:
                continue
            assert yaml.safe_load(literal) == DEFAULTS[name], "%s: %s falls back to %s, the contract says %r" % (
                path.relative_to(ROOT), name, literal, DEFAULTS[name])


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()))
def test_role_variables_carry_the_role_prefix(role):
    # k3s_prereq holds the settings the k3s roles share (k3s_version, k3s_token...): their prefix is k3s_.
    prefixes = {"platform": ("aistack_",), "k3s_prereq": ("k3s_",)}.get(role, (role + "_",))
    for part in ("defaults", "vars"):
        path = ROOT / "roles" / role / part / "main.yml"
        if not path.exists():
            continue
        for name in yaml.safe_load(path.read_text()) or {}:
            assert name.lstrip("_").startswith(prefixes), "%s: %s" % (path.relative_to(ROOT), name)
            assert not re.search(r"_(kubeconfig|kube_context)$", name) or role == "k3s_server", name


def test_layers_switch_on_aistack_layer_enabled():
    for name, switch in LAYER_SWITCHES.items():
        text = (ROOT / "playbooks" / name).read_text()
        default = str(DEFAULTS.get(switch, True)).lower()
        assert "%s | default(%s) | bool" % (switch, default) in text, name
        assert set(re.findall(r"\b([a-z0-9_]+_enabled)\b", text)) == {switch}, name


def test_roles_take_the_connection_from_module_defaults():
    kube_roles = set()
    for path in _files("roles"):
        if "/tasks/" not in str(path):
            continue
        text = path.read_text()
        assert not re.search(r"^\s+(kubeconfig|context): ", text, re.M), \
            "%s: the connection comes from the play's module_defaults" % path.relative_to(ROOT)
        if KUBE_MODULE.search(text):
            kube_roles.add(_role_of(path))
    assert {"platform", "langflow", "registry", "verify"} <= kube_roles
    group = "group/aistack.platform.aistack"
    for path in _files("playbooks", "molecule"):
        for play in yaml.safe_load(path.read_text()) or []:
            if not isinstance(play, dict) or "hosts" not in play:
                continue
            text = yaml.safe_dump(play)
            roles = set(re.findall(r"aistack\.platform\.([a-z0-9_]+)", text))
            if not (roles & kube_roles or KUBE_MODULE.search(yaml.safe_dump(play.get("tasks", [])))):
                continue
            if (path.name, play.get("name")) in NO_API_PLAYS:
                continue
            defaults = (play.get("module_defaults") or {}).get(group)
            assert defaults == {"kubeconfig": "{{ aistack_kubeconfig | default(omit, true) }}",
                                "context": "{{ aistack_kube_context | default(omit, true) }}"}, \
                "%s: play %r" % (path.relative_to(ROOT), play.get("name"))
