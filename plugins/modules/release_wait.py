#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_wait
short_description: Wait for the rollouts of several Helm releases at once, saying what each waits on
version_added: 0.3.0
description:
  - Waits until every given release's newest revision is C(deployed) and its Deployments and StatefulSets (the
    objects labelled C(app.kubernetes.io/instance=<release>)) have all their pods of the new revision ready.
  - The releases are polled together, one request per kind and namespace, so twenty releases cost about what
    one does. Used after M(aistack.platform.helm_tenant) with O(aistack.platform.helm_tenant#module:wait=false)
    started them, with the filter P(aistack.platform.rollout_pending#filter) picking the releases to wait for.
  - "While it waits, the task prints a line per release that is not ready every 10 seconds, without C(-v), for
    example C(team-a-langflow-dev: 1/2 pods ready, waiting on readiness probe, 40 s); on the controller as it
    happens, from a remote host when the module returns."
  - On timeout it fails with, per release not ready, the pods that are not ready, their container states, last
    events and the last log lines of the failing container, every credential masked; with O(atomic) those
    releases are rolled back first.
author:
  - aistack platform engineering (@aistack-platform)
extends_documentation_fragment:
  - aistack.platform.kube_auth
  - aistack.platform.kube_auth.validate_certs
attributes:
  check_mode:
    support: full
    description: Reports where the releases stand without waiting; a release that does not exist yet is reported,
      not refused.
  diff_mode:
    support: none
    description: Waiting changes nothing.
options:
  releases:
    description:
      - The releases to wait for. An empty list waits for nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Release name.
        type: str
        required: true
      namespace:
        description: Namespace of the release.
        type: str
        required: true
      previous_revision:
        description:
          - The revision O(atomic) rolls back to (C(rollout.previous_revision) of M(aistack.platform.helm_tenant)).
            Without it a release that does not become ready is uninstalled by O(atomic) (a failed first install).
        type: int
  timeout:
    description: Seconds to wait for all of them together.
    type: int
    default: 300
  atomic:
    description:
      - Roll back each release not ready at the timeout to its O(releases[].previous_revision) (C(helm rollback),
        the same on Helm 3 and Helm 4), or uninstall it when there is none.
    type: bool
    default: false
  binary_path:
    description: The helm binary for O(atomic); by default C(helm) from E(PATH).
    type: path
notes:
  - "Runs where the kubeconfig is, usually the controller (C(delegate_to: localhost))."
"""

EXAMPLES = r"""
- name: Start the rollouts of all tenants
  aistack.platform.helm_tenant:
    team: "{{ item }}"
    service: demo
    environment: dev
    chart:
      path: "{{ playbook_dir }}/../charts/aistack-service"
    image:
      repository: registry.example.com/demo
      tag: "1.0.0"
    resources:
      requests: {cpu: 10m, memory: 32Mi}
    wait: false
  loop: [team-a, team-b, team-c]
  register: started

- name: Wait for all of them at once
  aistack.platform.release_wait:
    releases: "{{ started.results | aistack.platform.rollout_pending }}"
    timeout: 600
    atomic: true
"""

RETURN = r"""
releases:
  description: Per release, in the order given - C(ready) and C(desired) pods of the new revision, C(done),
    C(status) (Helm status of the newest revision), C(reason) (what it waits on) and C(seconds).
  returned: always
  type: list
  elements: dict
  sample: [{name: team-a-demo-dev, namespace: team-a-dev, ready: 1, desired: 1, done: true, status: deployed,
            reason: null, seconds: 12}]
seconds:
  description: Seconds waited.
  returned: always
  type: int
rolled_back:
  description: The releases O(atomic) rolled back (C(revision) null when uninstalled).
  returned: always
  type: list
  elements: dict
diagnosis:
  description:
    - On timeout, per C(<namespace>/<release>) not ready, the pods that are not ready with their C(reason),
      C(containers) (state, reason, exit code, restarts), last C(events) and C(log_tail) (last log lines of the
      failing container), credentials masked.
  returned: on timeout
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC


def argument_spec():
    spec = dict(
        releases=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True), namespace=dict(type="str", required=True),
            previous_revision=dict(type="int"))),
        timeout=dict(type="int", default=300),
        atomic=dict(type="bool", default=False),
        binary_path=dict(type="path"),
    )
    spec.update(AUTH_ARGSPEC)
    return spec


def execute(params, check_mode=False, report=None):
    """The whole run (also what the action plugin calls in-process): validation, then the wait."""
    from ansible_collections.aistack.platform.plugins.module_utils.kube.client import open_client
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.release_wait import ReleaseWaiter, validate

    if not validate(params):  # bad input fails here, before any connection
        return {"changed": False, "releases": [], "seconds": 0, "rolled_back": []}
    kube = open_client(params)
    try:
        helm = None
        if params.get("atomic") and not check_mode:
            from ansible_collections.aistack.platform.plugins.module_utils.helm.versions import VersionedHelmRunner
            helm = VersionedHelmRunner(params.get("binary_path"), access=kube.access)
        return ReleaseWaiter(params, kube, helm=helm, check_mode=check_mode, report=report).run()
    finally:
        kube.close()


def run(module):
    from ansible_collections.aistack.platform.plugins.module_utils.kube.client import kubeconfig_secrets

    for value in kubeconfig_secrets(module.params):
        module.no_log_values.add(value)
    progress = []
    try:
        result = execute(dict(module.params), check_mode=module.check_mode, report=progress.append)
    except AistackError as err:
        module.fail_json(progress=progress, **err.to_result())
    result["progress"] = progress
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
