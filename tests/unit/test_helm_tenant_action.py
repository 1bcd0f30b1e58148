"""The action plugin's in-process no-op check: taken only for local, unchanged, valid tenants."""

import pytest

from ansible_collections.aistack.platform.plugins.action.helm_tenant import ActionModule
from ansible_collections.aistack.platform.plugins.module_utils.kube import client as kube_client

from test_tenant_runner import MemKube, FakeHelm, TenantRunner, CHART


class RestMem(MemKube):
    def close(self):
        pass


class Task(object):
    def __init__(self, args, environment=None):
        self.args = args
        self.environment = environment if environment is not None else [{}]


class Conn(object):
    def __init__(self, transport="local"):
        self.transport = transport


ARGS = {"team": "team-a", "service": "svc", "environment": "dev", "chart": {"path": CHART},
        "image": {"repository": "aistack.local/demohttp", "tag": "1.0.0"},
        "database": {"type": "postgresql", "host": "pg", "name": "db", "user": "u", "password": "Vaulted-pa55word!"},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        "generated_secrets": [{"key": "secret-key", "env": "APP_SECRET_KEY", "format": "fernet"}],
        "ingress": {"enabled": True, "domain": "dev.example.test"}}


def action(args, transport="local", environment=None):
    plugin = object.__new__(ActionModule)
    plugin._task = Task(args, environment)
    plugin._connection = Conn(transport)
    return plugin


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    kube = RestMem()
    monkeypatch.setattr(kube_client, "open_client", lambda *a, **k: kube)
    helm_bin = tmp_path / "helm"
    helm_bin.write_text("")
    helm_bin.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return kube


def deploy(kube, args):
    """Converge once with the module's code path (what the real module would do)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.aistack.platform.plugins.modules.helm_tenant import argument_spec
    params = ArgumentSpecValidator(argument_spec()).validate(args).validated_parameters
    helm = FakeHelm(kube)
    return TenantRunner(params, kube, helm).present()


def test_noop_answered_in_process(cluster):
    first = deploy(cluster, ARGS)
    writes = list(cluster.writes)
    result = action(ARGS)._noop_result()
    assert result is not None and result["changed"] is False
    assert result["revision"] == 1 and result["values_digest"] == first["values_digest"]
    assert cluster.writes == writes
    assert "pa55" not in repr(result)


def test_changes_go_to_the_module(cluster):
    deploy(cluster, ARGS)
    assert action(dict(ARGS, image={"repository": "aistack.local/demohttp", "tag": "1.0.1"}))._noop_result() is None


def test_first_install_goes_to_the_module(cluster):
    assert action(ARGS)._noop_result() is None
    assert cluster.writes == []


@pytest.mark.parametrize("transport,environment", [("ssh", None), ("local", [{"KUBECONFIG": "/x"}])])
def test_remote_or_custom_environment_goes_to_the_module(cluster, transport, environment):
    deploy(cluster, ARGS)
    assert action(ARGS, transport, environment)._noop_result() is None


@pytest.mark.parametrize("bad", [
    {"image": {"repository": "x", "tag": "latest"}},
    {"environment": "prod"},
    {"state": "absent"},
    {"extra_values": {"password": "x"}},
])
def test_bad_or_other_inputs_go_to_the_module(cluster, bad):
    deploy(cluster, ARGS)
    plugin = action(dict(ARGS, **bad))
    try:
        result = plugin._noop_result()
    except Exception:
        result = None  # run() turns any exception into "ask the module"
    assert result is None


class FullTask(Task):
    check_mode = False
    diff = False
    no_log = False
    become = False


def test_changes_run_in_process_with_progress(cluster, monkeypatch):
    """A change on a local connection runs in this process: the module's code, progress lines displayed."""
    from ansible_collections.aistack.platform.plugins.action import helm_tenant as plugin_mod
    from ansible_collections.aistack.platform.plugins.module_utils.helm import versions
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import rollout

    fake = FakeHelm(cluster)
    monkeypatch.setattr(versions, "VersionedHelmRunner", lambda *a, **k: fake)
    shown = []
    monkeypatch.setattr(plugin_mod.display, "display", lambda msg, *a, **k: shown.append(msg))

    def upgrade_and_wait(helm, kube, name, namespace, chart, values, report=None, **kwargs):
        report("%s: 0/1 pods ready, waiting on readiness probe, 10 s" % name)
        return helm.upgrade(name, namespace, chart, values), {"state": "ready", "seconds": 11}
    monkeypatch.setattr(rollout, "upgrade_and_wait", upgrade_and_wait)
    plugin = action(ARGS)
    plugin._task = FullTask(ARGS)
    assert plugin._noop_result() is None and plugin._prepared is not None
    result = plugin._apply_in_process()
    assert result["changed"] and result["revision"] == 1 and result["rollout"]["state"] == "ready"
    assert shown == ["team-a-svc-dev: 0/1 pods ready, waiting on readiness probe, 10 s"]
    assert "pa55" not in repr(result) and len(fake.calls) == 1


def test_in_process_failure_is_a_failed_result(cluster, monkeypatch):
    from ansible_collections.aistack.platform.plugins.module_utils.helm import versions
    fake = FakeHelm(cluster, fail_with="helm upgrade failed: boom Vaulted-pa55word!")
    monkeypatch.setattr(versions, "VersionedHelmRunner", lambda *a, **k: fake)
    plugin = action(ARGS)
    plugin._task = FullTask(ARGS)
    plugin._noop_result()
    result = plugin._apply_in_process()
    assert result["failed"] and result["field"] == "state" and "boom" in result["msg"]
    assert "pa55" not in repr(result)  # a no_log option's value is removed, as the module would


def test_become_goes_to_the_module(cluster):
    task = FullTask(ARGS)
    task.become = True
    plugin = action(ARGS)
    plugin._task = task
    deploy(cluster, ARGS)
    assert plugin._noop_result() is None
