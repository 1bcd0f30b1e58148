#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: site_check
short_description: Prove that a converged aistack site works, the way its users reach it
version_added: 0.2.0
description:
  - Runs the smoke checks of a site from the controller, through the site's ingress by host name, with the
    clients users use (HTTP to Langflow, LightRAG, Phoenix and Prometheus; the Redis queue of the LangGraph
    worker; TCP to the databases). The Kubernetes API is read for the apps' Ingress hosts, the Secrets that
    hold their logins (values never leave the module), the databases' EndpointSlices and, for a failed check,
    the pods and warning events of the release to look at.
  - Langflow, per release - C(/health), a login as the superuser and the flow list; with O(smoke), a sample flow
    (Chat Input, OpenAI model, Chat Output) built from the components the Langflow serves is imported and run
    through the run API with an API key made for the run, or the flow O(apps[].flow) loaded by the runtime is run.
  - LightRAG - C(/health) with its storages; with O(smoke), a document is inserted, processed, queried, and the
    answer must cite it.
  - Phoenix - C(/healthz), then the spans of every flow run, query and job made by this run, found through
    Phoenix's REST API in the project each app traces to.
  - Prometheus - readiness and every active scrape target up; Loki (through the API server's service proxy, it
    has no ingress) - readiness and a log stream per app.
  - The worker - a Ready pod; with O(smoke), a job pushed on its queue is processed and its result stored.
  - Every object a check creates (flow, API key, document, job result, Phoenix project) is named after O(run_id)
    and removed at the end, also when a check fails.
  - A failed check does not make the module fail; the results say what was expected, what came back and where
    to look, and the playbook decides (roles/verify fails the play after writing its reports).
author:
  - aistack platform engineering (@aistack-platform)
extends_documentation_fragment:
  - aistack.platform.kube_auth
attributes:
  check_mode:
    support: full
    description: Plans the checks and returns them as skipped, without any connection.
  diff_mode:
    support: none
    description: Nothing is changed on the site, so there is nothing to diff.
options:
  apps:
    description:
      - The apps to check, in any order (Phoenix's traces are checked after the others have run).
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: What the app is.
        type: str
        required: true
        choices: [langflow, lightrag, phoenix, prometheus, loki, database, worker]
      name:
        description:
          - The release name (also the name of its Ingress), or the Service name for V(database) and V(loki).
        type: str
        required: true
      namespace:
        description: Namespace of the release or Service.
        type: str
        required: true
      tenant:
        description: Tenant shown in the results (C(team/env)); V(platform) when not given.
        type: str
      label:
        description: Name of the app in the check names; defaults to O(apps[].name).
        type: str
      plane:
        description: Langflow's plane, V(ide) or V(runtime).
        type: str
      username:
        description: Langflow's superuser name (default V(admin)).
        type: str
      login_secret:
        description: Secret (C(name), C(key)) in the app's namespace holding Langflow's superuser password.
        type: dict
      api_key_secret:
        description: Secret (C(name), C(key)) in the app's namespace holding LightRAG's API key.
        type: dict
      password_secret:
        description: Secret (C(name), C(key)) in the worker's namespace holding the queue's Redis password.
        type: dict
      flow:
        description:
          - Langflow - the endpoint name or id of a flow the release already holds (a runtime's loaded flow) to
            run instead of importing the sample flow.
        type: str
      llm:
        description:
          - Langflow sample flow - the site's OpenAI-compatible endpoint C(base_url), C(model), and
            C(api_key_secret) (C(name), C(key)) in C(namespace).
        type: dict
      expect_echo:
        description: Langflow - the answer must quote the question (true for the local LLM stand-in only).
        type: bool
      project:
        description: Phoenix project the app traces to (LightRAG, the worker).
        type: str
      storage:
        description: LightRAG - the database its storages must report (V(postgresql)), or V(any).
        type: str
      mode:
        description: LightRAG - the query mode (default V(naive)).
        type: str
      apps:
        description: Prometheus and Loki - the C(app) label values that must have a target or a log stream.
        type: list
        elements: str
      engine:
        description: Database - V(postgresql) or V(redis).
        type: str
      compose_project:
        description: Database - the Compose project on the infra host, named in the failure message.
        type: str
      redis_service:
        description: Worker - the Service (C(name), C(namespace)) of its Redis queue.
        type: dict
      queue:
        description: Worker - the queue's Redis list.
        type: str
      result_prefix:
        description: Worker - the prefix of result keys.
        type: str
      selector:
        description: Label selector of the app's pods, when it is not C(app.kubernetes.io/instance=<name>).
        type: str
      port:
        description: Loki - the Service port.
        type: int
      ingress:
        description: Name of the app's Ingress when it differs from O(apps[].name).
        type: str
      wait:
        description: Seconds to wait for asynchronous results (document processing, spans, job results).
        type: float
  smoke:
    description:
      - V(true) runs the checks that write (a flow, a document, a job), removing what they made; V(false) only
        checks reachability and health (read-only; the default for prd in roles/verify).
    type: bool
    default: true
  run_id:
    description:
      - Name of this run and prefix of every object it creates; must start with C(aistack-verify). Generated
        when not given.
    type: str
  connect_address:
    description:
      - Connect to this address instead of resolving each host (as C(curl --resolve)); the Host header and the
        TLS server name stay the app's host. For an ingress controller on loopback ports.
    type: str
  http_port:
    description: Port of the ingress's plain HTTP entrypoint, when not 80.
    type: int
  https_port:
    description: Port of the ingress's TLS entrypoint, when not 443.
    type: int
  timeout:
    description: Seconds per request (flow runs and queries get at least 120).
    type: float
    default: 15
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the ingress's certificates with.
    type: path
"""

EXAMPLES = r"""
- name: Check Langflow and Phoenix of one tenant
  aistack.platform.site_check:
    apps:
      - kind: langflow
        name: team-a-langflow-dev
        namespace: team-a-dev
        tenant: team-a/dev
        login_secret: {name: team-a-langflow-dev-env, key: LANGFLOW_SUPERUSER_PASSWORD}
        llm: {base_url: "http://llm.internal/v1", model: gpt-4o-mini, namespace: team-a-dev,
              api_key_secret: {name: llm-api, key: api-key}}
      - kind: phoenix
        name: phoenix
        namespace: observability
  register: verify

- name: Read-only, through an ingress on loopback ports
  aistack.platform.site_check:
    apps: "{{ verify_apps }}"
    smoke: false
    connect_address: 127.0.0.1
    http_port: 18080
"""

RETURN = r"""
results:
  description:
    - One entry per check - C(check), C(tenant), C(status) (passed, failed, skipped), C(seconds), and for a
      failure C(expected), C(got) and C(where). The filters C(verify_table), C(verify_report) and C(verify_junit)
      read this list.
  returned: always
  type: list
  elements: dict
failed_checks:
  description: Number of failed checks.
  returned: always
  type: int
run_id:
  description: The run's name, the prefix of what it created.
  returned: always
  type: str
removed:
  description: What the run created and then removed (C(what), C(removed)).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC
from ansible_collections.aistack.platform.plugins.module_utils.kube.client import (
    kubeconfig_secrets,
    open_client,
    require_kubernetes,
)
from ansible_collections.aistack.platform.plugins.module_utils.site_check.checks import SiteChecker, plan, validate


def argument_spec():
    spec = dict(
        apps=dict(type="list", elements="dict", required=True, options=dict(
            kind=dict(type="str", required=True,
                      choices=["langflow", "lightrag", "phoenix", "prometheus", "loki", "database", "worker"]),
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            tenant=dict(type="str"),
            label=dict(type="str"),
            plane=dict(type="str"),
            username=dict(type="str"),
            login_secret=dict(type="dict", no_log=False),  # a reference to a Secret, not its value
            api_key_secret=dict(type="dict", no_log=False),  # a reference to a Secret, not its value
            password_secret=dict(type="dict", no_log=False),  # a reference to a Secret, not its value
            flow=dict(type="str"),
            llm=dict(type="dict"),
            expect_echo=dict(type="bool"),
            project=dict(type="str"),
            storage=dict(type="str"),
            mode=dict(type="str"),
            apps=dict(type="list", elements="str"),
            engine=dict(type="str"),
            compose_project=dict(type="str"),
            redis_service=dict(type="dict"),
            queue=dict(type="str"),
            result_prefix=dict(type="str"),
            selector=dict(type="str"),
            port=dict(type="int"),
            ingress=dict(type="str"),
            wait=dict(type="float"),
        )),
        smoke=dict(type="bool", default=True),
        run_id=dict(type="str"),
        connect_address=dict(type="str"),
        http_port=dict(type="int"),
        https_port=dict(type="int"),
        timeout=dict(type="float", default=15.0),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )
    # validate_certs is this module's own (the ingress's certificates); the API server's comes from
    # K8S_AUTH_VERIFY_SSL or the kubeconfig
    spec.update(dict((key, value) for key, value in AUTH_ARGSPEC.items() if key != "validate_certs"))
    return spec


def run(module):
    for value in kubeconfig_secrets(module.params):
        module.no_log_values.add(value)
    try:
        params = validate(module.params)
        if module.check_mode:
            results, removed = plan(params), []
        else:
            require_kubernetes(module)
            kube = open_client(dict((key, value) for key, value in params.items() if key != "validate_certs"))
            checker = SiteChecker(params, kube)
            results, removed = checker.run(smoke=params["smoke"]), checker.removed
    except AistackError as err:
        module.fail_json(**err.to_result())
    failed = sum(1 for r in results if r["status"] == "failed")
    module.exit_json(changed=False, results=results, failed_checks=failed, run_id=params["run_id"], removed=removed)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
