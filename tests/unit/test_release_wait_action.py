"""release_wait's action plugin: in-process on a local connection with progress lines as they come, the module
elsewhere; bad input never opens a connection."""

import pytest

from ansible_collections.aistack.platform.plugins.action import release_wait as plugin_mod
from ansible_collections.aistack.platform.plugins.action.release_wait import ActionModule
from ansible_collections.aistack.platform.plugins.modules import release_wait as module_mod
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


class Task(object):
    check_mode = False
    diff = False
    no_log = False
    become = False

    def __init__(self, args, environment=None):
        self.args = args
        self.environment = environment or []


class Conn(object):
    def __init__(self, transport):
        self.transport = transport


def action(args, transport="local", environment=None):
    plugin = object.__new__(ActionModule)
    plugin._task = Task(args, environment)
    plugin._connection = Conn(transport)
    return plugin


ARGS = {"releases": [{"name": "a-demo-dev", "namespace": "a-dev"}], "timeout": 30}


def test_in_process_shows_lines_as_they_come(monkeypatch):
    shown = []
    monkeypatch.setattr(plugin_mod.display, "display", lambda msg, *a, **k: shown.append(msg))

    def execute(params, check_mode=False, report=None):
        report("a-demo-dev: 0/1 pods ready, waiting on readiness probe, 10 s")
        assert shown  # displayed before the wait ends
        return {"changed": False, "releases": [], "seconds": 11, "rolled_back": []}
    monkeypatch.setattr(module_mod, "execute", execute)
    result = action(ARGS)._in_process()
    assert result["seconds"] == 11 and result["progress"] == shown == [
        "a-demo-dev: 0/1 pods ready, waiting on readiness probe, 10 s"]


def test_in_process_failure(monkeypatch):
    def execute(params, check_mode=False, report=None):
        raise AistackError("1 of 1 releases not ready", field="timeout", fix="read the diagnosis", changed=True)
    monkeypatch.setattr(module_mod, "execute", execute)
    result = action(ARGS)._in_process()
    assert result["failed"] and result["field"] == "timeout" and result["changed"] is True


@pytest.mark.parametrize("transport,environment", [("ssh", None), ("local", [{"KUBECONFIG": "/x"}])])
def test_elsewhere_the_module_runs(transport, environment):
    assert action(ARGS, transport, environment)._in_process() is None


def test_bad_input_fails_before_any_connection(monkeypatch):
    from ansible_collections.aistack.platform.plugins.module_utils.kube import client
    monkeypatch.setattr(client, "open_client", lambda *a, **k: pytest.fail("connected"))
    result = action({"releases": [{"name": "a", "namespace": "Bad NS"}], "timeout": 30})._in_process()
    assert result["failed"] and result["field"] == "releases[0].namespace"
    assert module_mod.execute({"releases": [], "timeout": 30}) == {
        "changed": False, "releases": [], "seconds": 0, "rolled_back": []}
