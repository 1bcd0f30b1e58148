"""The action group of meta/runtime.yml (no cluster): one `module_defaults: group/aistack.platform.aistack:` entry
reaches kubernetes.core's modules (the group extends kubernetes.core.k8s and kubernetes.core.helm) and this
collection's, and a context left unset or empty is omitted, not passed as "".

Each module is pointed at a kubeconfig whose clusters are closed ports: the port in its error says which
kubeconfig and context it used."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import COLLECTIONS, ROOT

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/aistack.platform.aistack:
      kubeconfig: "{{ aistack_kubeconfig | default(omit, true) }}"
      context: "{{ aistack_kube_context | default(omit, true) }}"
  tasks:
    - name: k8s_info
      kubernetes.core.k8s_info:
        kind: Namespace
        name: default
      ignore_errors: true
    - name: external_service
      aistack.platform.external_service:
        name: probe
        namespace: default
        addresses: [10.0.0.1]
        ports: [{name: p, port: 1}]
      ignore_errors: true
"""


def _free_ports(count):
    socks = [socket.socket() for index in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _kubeconfig(path, ports):
    clusters = [{"name": "c%d" % i,
                 "cluster": {"server": "https://127.0.0.1:%d" % port, "insecure-skip-tls-verify": True}}
                for i, port in enumerate(ports)]
    contexts = [{"name": "ctx%d" % i, "context": {"cluster": "c%d" % i, "user": "u"}} for i in range(len(ports))]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": clusters, "contexts": contexts,
                                    "users": [{"name": "u", "user": {"token": "t"}}],
                                    "current-context": "ctx0"}))
    return str(path)


def _ports_used(tmp_path, extra_vars, env_kubeconfig):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, KUBECONFIG=env_kubeconfig,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    for name in [key for key in env if key.startswith("K8S_AUTH_")]:
        del env[name]
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local",
                           "-e", json.dumps(extra_vars)], env=env, capture_output=True, text=True, check=False,
                          timeout=300, cwd=str(ROOT))
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    return {task["task"]["name"]: str(task["hosts"]["localhost"].get("msg", "")) for task in tasks}


@pytest.mark.parametrize("extra, expected", [
    ({"aistack_kubeconfig": "A", "aistack_kube_context": "ctx1"}, ("A", 1)),
    ({"aistack_kubeconfig": "A"}, ("A", 0)),
    ({"aistack_kubeconfig": "A", "aistack_kube_context": ""}, ("A", 0)),
    ({"aistack_kubeconfig": ""}, ("ENV", 0)),
    ({}, ("ENV", 0)),
], ids=["kubeconfig+context", "kubeconfig", "empty-context", "empty-kubeconfig", "nothing"])
def test_one_module_defaults_entry_reaches_both_collections(tmp_path, extra, expected):
    ports = {"A": _free_ports(2), "ENV": _free_ports(2)}
    paths = {name: _kubeconfig(tmp_path / ("kc-" + name), p) for name, p in ports.items()}
    extra = {key: (paths[value] if key == "aistack_kubeconfig" and value else value) for key, value in extra.items()}
    messages = _ports_used(tmp_path, extra, paths["ENV"])
    port = ports[expected[0]][expected[1]]
    for task in ("k8s_info", "external_service"):
        assert "127.0.0.1:%d" % port in messages[task].replace("', port=", ":"), (task, port, messages[task])
