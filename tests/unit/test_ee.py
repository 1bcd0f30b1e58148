"""The execution environment's definitions, checked over the tree (the EE build itself is `make ee`, not part of
`make test`): the collection declares its needs as kubernetes.core and community.docker do, the project's EE
(execution-environment/) covers them with pinned versions that agree with requirements-dev.txt, and the
deployer ClusterRole holds what the roles' own ClusterRoles grant (Kubernetes refuses to let a subject grant more)."""

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
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


# ---------------------------------------------------------------- the CA the EE's Python 3.13 accepts

def _python313():
    import glob
    import shutil
    candidates = sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.13*" / "bin" / "python3.13")))
    candidates += [found for found in [shutil.which("python3.13")] if found]
    for python in candidates:
        if subprocess.run([python, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return python
    return None


_VERIFY = """
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5) as sock:
    try:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1"):
            print("verified")
    except ssl.SSLError as exc:
        print(exc)
"""


def _pki(tmp_path):
    """A CA and a server certificate made as tests/cluster/cluster.sh made them before keyUsage was added."""
    def run(*args):
        subprocess.run(list(args), cwd=str(tmp_path), check=True, capture_output=True)
    run("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "30", "-subj", "/CN=aistack-local-ca", "-keyout", "ca.key", "-out", "ca.crt")
    (tmp_path / "ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                  "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "srv.key", "-subj", "/CN=kube-apiserver", "-out", "srv.csr")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-extfile", "ext", "-out", "srv.crt")


def _verify_with(python, cafile, tmp_path):
    port = 20000 + os.getpid() % 20000
    server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", "srv.crt",
                               "-key", "srv.key", "-quiet"], cwd=str(tmp_path), stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        return subprocess.run([python, "-c", _VERIFY, str(cafile), str(port)], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    finally:
        server.kill()
        server.wait()


def test_strict_ca_is_what_python_313_accepts(tmp_path):
    python = _python313()
    if not python:
        pytest.skip("no Python 3.13 on this machine")
    _pki(tmp_path)
    # negative control: the CA as it was refused by Python 3.13's strict verification
    assert "CA cert does not include key usage extension" in _verify_with(python, tmp_path / "ca.crt", tmp_path)
    strict = subprocess.run([str(EE / "strict-ca.sh"), "ca.crt", "ca.key"], cwd=str(tmp_path), check=True,
                            capture_output=True, text=True).stdout
    (tmp_path / "strict.crt").write_text(strict)
    assert _verify_with(python, tmp_path / "strict.crt", tmp_path) == "verified"
    # a CA that has keyUsage comes back unchanged
    again = subprocess.run([str(EE / "strict-ca.sh"), "strict.crt", "ca.key"], cwd=str(tmp_path), check=True,
                           capture_output=True, text=True).stdout
    assert again == strict
