"""The execution environment's definitions, checked over the tree (the EE build itself is `make ee`, not part of
`make test`): the collection declares its needs as kubernetes.core and community.docker do, the project's EE
(execution-environment/) covers them with pinned versions that agree with requirements-dev.txt, and the
deployer ClusterRole holds what the roles' own ClusterRoles grant (Kubernetes refuses to let a subject grant more)."""

import re

import yaml

from conftest import ROOT

EE = ROOT / "execution-environment"


def _requirements(path):
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~ ]", line, 1)[0].lower()
            out[name] = line
    return out


def _bindep(path):
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def test_collection_declares_its_ee_needs():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    for key in ("python", "system"):
        assert (ROOT / meta["dependencies"][key]).is_file()


def test_ee_pins_every_python_requirement_of_the_collection():
    needs = _requirements(ROOT / "meta" / "ee-requirements.txt")
    pinned = _requirements(EE / "requirements.txt")
    for name in needs:
        assert name in pinned, "%s (meta/ee-requirements.txt) is not in the EE's requirements" % name
    for name, line in pinned.items():
        assert "==" in line, "%s is not pinned" % line


def test_ee_pins_agree_with_the_dev_requirements():
    dev = _requirements(ROOT / "requirements-dev.txt")
    pinned = _requirements(EE / "requirements.txt")
    for name, line in pinned.items():
        if name in dev:
            assert dev[name] == line, (dev[name], line)
    definition = yaml.safe_load((EE / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["dependencies"]["ansible_core"]["package_pip"] == dev["ansible-core"]
    tools = _requirements(EE / "tools-requirements.txt")
    assert tools["ansible-builder"].startswith("ansible-builder==3.2.")
    assert tools["ansible-runner"].startswith("ansible-runner==2.4.")
    assert definition["dependencies"]["ansible_runner"]["package_pip"] == tools["ansible-runner"]


def test_ee_installs_the_collection_system_packages():
    assert set(_bindep(ROOT / "meta" / "ee-bindep.txt")) <= set(_bindep(EE / "bindep.txt"))


def _rules_grant(rules, group, resource, verb):
    return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
               for rule in rules)


def test_deployer_role_holds_what_the_roles_grant():
    role = yaml.safe_load((ROOT / "playbooks" / "files" / "aistack-deployer-rbac.yml").read_text())
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "aistack:deployer"
    rules = role["rules"]
    granted = []
    for path in (ROOT / "roles").rglob("*.j2"):
        text = path.read_text()
        for match in re.finditer(r"'rules': (\[.*?\]\}?\])", text, re.S):
            body = match.group(1).rstrip("}")
            granted.extend(yaml.safe_load(body.replace("'", '"')))
    assert granted, "no ClusterRole found in the roles' templates"
    for rule in granted:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert _rules_grant(rules, group, resource, verb), (group, resource, verb)
    # what the deployer never gets
    for rule in rules:
        assert "*" not in rule["resources"] and "*" not in rule["verbs"]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        assert "pods/exec" not in rule["resources"]
