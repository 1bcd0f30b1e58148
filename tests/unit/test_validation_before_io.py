# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module validates all of its input before it opens a network connection or starts a process.

Each module's ``run()`` runs with bad input under a trap: ``socket.socket.connect`` / ``connect_ex``,
``socket.create_connection``, ``socket.getaddrinfo``, ``subprocess.Popen``, the ``os.exec*`` / ``os.spawn*`` /
``os.fork`` / ``os.posix_spawn*`` / ``os.system`` functions and ``AnsibleModule.run_command`` record the attempt
and refuse it. The validation error must come out and the record must stay empty. The negative controls show
the trap does catch a connection and a process, the modules' own included, when one is made.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import subprocess
import sys

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))

import imagetools as it  # noqa: E402

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError  # noqa: E402
from ansible_collections.aistack.platform.plugins.modules import external_service  # noqa: E402
from ansible_collections.aistack.platform.plugins.modules import helm_tenant  # noqa: E402
from ansible_collections.aistack.platform.plugins.modules import image_import  # noqa: E402
from ansible_collections.aistack.platform.plugins.modules import site_check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "charts", "aistack-service")


class Failed(Exception):
    def __init__(self, result):
        super(Failed, self).__init__(result.get("msg"))
        self.result = result


class Exited(Exception):
    def __init__(self, result):
        super(Exited, self).__init__("exit_json")
        self.result = result


class TrapHit(ConnectionRefusedError):
    """What a trapped call raises (an OSError, so the code under test handles it as a refused connection)."""


class FakeModule(object):
    """What the modules' run() use of AnsibleModule; the parameters go through the module's own argspec."""

    def __init__(self, spec, params, trap, check_mode=False):
        result = ArgumentSpecValidator(spec).validate(params)
        assert not result.error_messages, result.error_messages
        self.params = result.validated_parameters
        self.check_mode = check_mode
        self._diff = True
        self.no_log_values = set()
        self.warnings = []
        self.trap = trap

    def fail_json(self, **result):
        raise Failed(result)

    def exit_json(self, **result):
        raise Exited(result)

    def warn(self, msg):
        self.warnings.append(msg)

    def run_command(self, args, **kwargs):
        self.trap.hit("run_command", args)


class Trap(object):
    def __init__(self):
        self.calls = []

    def hit(self, what, detail=None):
        self.calls.append((what, repr(detail)[:200]))
        raise TrapHit("trapped %s %r" % (what, detail))


@pytest.fixture
def trap(monkeypatch):
    t = Trap()

    def recorder(name):
        def blocked(*args, **kwargs):
            t.hit(name, args[1:] if name.startswith("socket.connect") else args[:2])
        return blocked

    monkeypatch.setattr(socket.socket, "connect", recorder("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", recorder("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", recorder("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", recorder("socket.getaddrinfo"))

    class TrappedPopen(object):
        def __init__(self, *args, **kwargs):
            t.hit("subprocess.Popen", args[:1])

    monkeypatch.setattr(subprocess, "Popen", TrappedPopen)
    for name in ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv",
                 "spawnve", "spawnvp", "spawnvpe", "fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, recorder("os." + name))
    return t


@pytest.fixture
def kubeconfig(tmp_path):
    """A kubeconfig whose API server would be contacted if validation let the module go on."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


def run_module(mod, params, trap, check_mode=False):
    """(outcome, result): 'failed' with fail_json's result, 'exited' with exit_json's, 'raised' with the
    AistackError (image_import's run() raises, its main() reports)."""
    module = FakeModule(mod.argument_spec(), params, trap, check_mode=check_mode)
    try:
        result = mod.run(module)
    except Failed as exc:
        return "failed", exc.result
    except Exited as exc:
        return "exited", exc.result
    except AistackError as err:
        return "failed", err.to_result()
    return "exited", result


def assert_refused_before_io(outcome, result, trap, field):
    assert outcome == "failed", result
    assert str(result.get("field", "")).startswith(field), result
    assert trap.calls == [], "I/O before the validation error: %s" % trap.calls


# ------------------------------------------------------------------ helm_tenant

def tenant(kubeconfig, **over):
    params = dict(team="team-a", service="langflow", environment="prd", kubeconfig=kubeconfig, binary_path="/bin/true",
                  chart=dict(path=CHART), image=dict(repository="langflowai/langflow", tag="1.4.3"),
                  database=dict(type="postgresql", host="pg", name="lf", user="lf",
                                password_secret=dict(name="lf-db")),
                  resources=dict(requests=dict(cpu="500m", memory="1Gi"), limits=dict(cpu="1", memory="2Gi")))
    params.update(over)
    return params


def _values_file(tmp_path, values):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


HELM_BAD = [
    ("tag-latest-extra", lambda tmp: dict(extra_values={"image": {"tag": "latest"}}), "extra_values.image.tag"),
    ("sqlite-file", lambda tmp: dict(values_files=[_values_file(tmp, {"env": {"DB": "sqlite:///x.db"}})]),
     "values_files[0]: env.DB"),
    ("credential-file", lambda tmp: dict(values_files=[_values_file(tmp, {"config": {"API_KEY": "k"}})]),
     "values_files[0]: config.API_KEY"),
    ("uppercase-repo", lambda tmp: dict(image=dict(repository="Team/App", tag="1")), "image.repository"),
    ("no-limits", lambda tmp: dict(resources=dict(requests=dict(cpu="1", memory="1Gi"))), "resources.limits"),
    ("emptydir-prd", lambda tmp: dict(persistence=dict(enabled=False)), "persistence.enabled"),
    ("bad-team", lambda tmp: dict(team="Team_A"), "team"),
    ("missing-values-file", lambda tmp: dict(values_files=[str(tmp / "nope.yaml")]), "values_files[0]"),
    ("privileged", lambda tmp: dict(extra_values={"securityContext": {"privileged": True}}),
     "extra_values.securityContext.privileged"),
]


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("case,over,field", HELM_BAD, ids=[c[0] for c in HELM_BAD])
def test_helm_tenant_validates_before_io(trap, kubeconfig, tmp_path, case, over, field, check_mode):
    outcome, result = run_module(helm_tenant, tenant(kubeconfig, **over(tmp_path)), trap, check_mode)
    assert_refused_before_io(outcome, result, trap, field)


# ------------------------------------------------------------------ external_service

def service(kubeconfig, **over):
    params = dict(name="postgresql", namespace="aistack-system", addresses=["10.0.0.5"],
                  ports=[dict(name="pg", port=5432)], probe="require", kubeconfig=kubeconfig)
    params.update(over)
    return params


EXT_BAD = [
    ("bad-name", dict(name="Bad_Name"), "name"),
    ("bad-address", dict(addresses=["300.1.1.1"]), "addresses"),
    ("bad-port", dict(ports=[dict(name="pg", port=70000)]), "ports"),
    ("bad-namespace", dict(namespace="-x-"), "namespace"),
]


@pytest.mark.parametrize("case,over,field", EXT_BAD, ids=[c[0] for c in EXT_BAD])
def test_external_service_validates_before_io(trap, kubeconfig, case, over, field):
    outcome, result = run_module(external_service, service(kubeconfig, **over), trap)
    assert_refused_before_io(outcome, result, trap, field)


# ------------------------------------------------------------------ image_import

def _archive(tmp_path, tags=("team/app:1.0",)):
    path = tmp_path / "img.tar"
    layer = it.Layer.from_bytes(it.tar_bytes({"hello.txt": b"hi\n"}), str(tmp_path))
    it.write_docker_archive(str(path), list(tags), [layer], "none")
    return str(path)


def _evil_archive(tmp_path):
    import tarfile
    good = _archive(tmp_path)
    path = tmp_path / "evil.tar"
    with tarfile.open(good) as src, tarfile.open(str(path), "w") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isreg() else None)
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../etc"
        out.addfile(link)
    return str(path)


IMPORT_BAD = [
    ("evil-archive-registry", lambda tmp: dict(src=_evil_archive(tmp), target="registry", registry="127.0.0.1:7"),
     "src"),
    ("evil-archive-containerd", lambda tmp: dict(src=_evil_archive(tmp), target="containerd"), "src"),
    ("bad-image-name", lambda tmp: dict(src=_archive(tmp, ["Team/App:1.0"]), target="containerd"), "src"),
    ("bad-registry", lambda tmp: dict(src=_archive(tmp), target="registry", registry="bad_host:99999"),
     "registry"),
    ("bad-project", lambda tmp: dict(src=_archive(tmp), target="registry", registry="127.0.0.1:7",
                                     registry_project="Team"), "registry_project"),
    ("bad-name-option", lambda tmp: dict(src=_archive(tmp), target="containerd", name="app:-1"), "name"),
    ("too-long-tag", lambda tmp: dict(src=_archive(tmp, ["team/app:" + "v" * 129]), target="registry",
                                      registry="127.0.0.1:7"), "src"),
    ("bad-omitted-digest", lambda tmp: dict(src=_archive(tmp), target="registry", registry="127.0.0.1:7",
                                            omitted_blobs=["sha256:nothex"]), "omitted_blobs"),
    ("foreign-receipt", lambda tmp: dict(src=_archive(tmp), target="registry", registry="127.0.0.1:7",
                                         receipt='{"format": "other"}'), "receipt"),
    ("receipt-without-store", lambda tmp: dict(src=_archive(tmp), target="containerd",
                                               receipt={"format": "aistack-receipt/v2", "stores": {}}),
     "receipt_store"),
]


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("case,over,field", IMPORT_BAD, ids=[c[0] for c in IMPORT_BAD])
def test_image_import_validates_before_io(trap, tmp_path, case, over, field, check_mode):
    sock = tmp_path / "containerd.sock"  # exists: without validation the module would go on to ctr
    sock.write_text("")
    params = dict(over(tmp_path), ctr_command=["ctr"], restart_workloads=True, containerd_socket=str(sock))
    outcome, result = run_module(image_import, params, trap, check_mode)
    assert_refused_before_io(outcome, result, trap, field)


# ------------------------------------------------------------------ site_check

def apps(**over):
    app = dict(kind="phoenix", name="phoenix", namespace="observability")
    app.update(over)
    return [app]


SITE_BAD = [
    ("bad-run-id", dict(run_id="nope"), "run_id"),
    ("bad-port", dict(http_port=0), "http_port"),
    ("bad-address", dict(connect_address="a b"), "connect_address"),
    ("bad-namespace", dict(apps=apps(namespace="Bad_NS")), "apps[0].namespace"),
    ("bad-timeout", dict(timeout=-1.0), "timeout"),
]


@pytest.mark.parametrize("case,over,field", SITE_BAD, ids=[c[0] for c in SITE_BAD])
def test_site_check_validates_before_io(trap, kubeconfig, case, over, field):
    params = dict(apps=apps(), connect_address="127.0.0.1", http_port=8, kubeconfig=kubeconfig)
    params.update(over)
    outcome, result = run_module(site_check, params, trap)
    assert_refused_before_io(outcome, result, trap, field)


# ------------------------------------------------------------------ negative controls: the trap can fail

def test_trap_catches_a_connection_and_a_process(trap):
    with pytest.raises(TrapHit):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(TrapHit):
        socket.socket().connect(("127.0.0.1", 9))
    with pytest.raises(TrapHit):
        subprocess.run(["true"], check=False)
    assert [call[0] for call in trap.calls] == ["socket.create_connection", "socket.connect", "subprocess.Popen"]


def test_trap_catches_a_modules_own_connection(trap, kubeconfig):
    """Valid input: external_service's reachability probe connects, and the trap sees it."""
    run_module(external_service, service(kubeconfig), trap)
    assert any(call[0].startswith("socket.") for call in trap.calls), trap.calls


def test_trap_catches_a_modules_own_process(trap, tmp_path):
    """Valid input: image_import starts ctr for the containerd target, and the trap sees it."""
    sock = tmp_path / "containerd.sock"
    sock.write_text("")
    run_module(image_import, dict(src=_archive(tmp_path), target="containerd", ctr_command=["ctr"],
                                  containerd_socket=str(sock)), trap)
    assert any(call[0] == "subprocess.Popen" for call in trap.calls), trap.calls


def test_trap_catches_helm_tenants_api_connection(trap, kubeconfig):
    """Valid input: helm_tenant goes on to the API server, and the trap sees it."""
    run_module(helm_tenant, tenant(kubeconfig), trap, check_mode=True)
    assert any(call[0].startswith("socket.") for call in trap.calls), trap.calls
