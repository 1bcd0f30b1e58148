#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: external_service
short_description: Register a host-run service (database, cache, object store) in Kubernetes
version_added: 0.1.0
description:
  - Makes a service that runs outside the cluster (for example a Docker Compose project on an infra host)
    reachable from pods as C(<name>.<namespace>.svc.cluster.local).
  - With O(addresses), creates a Service without selector and one EndpointSlice per address family
    (C(<name>-ipv4), C(<name>-ipv6)) carrying the host IPs and the named ports. The slices carry the labels
    C(kubernetes.io/service-name) and C(endpointslice.kubernetes.io/managed-by=aistack.platform).
  - With O(external_name), creates an C(ExternalName) Service (a DNS CNAME) instead.
  - Idempotent; C(changed) is computed by comparing the fields this module owns with what the cluster holds,
    the same way in check mode (where the change is only sent as a server-side dry run) and in normal mode.
    A changed host IP updates the EndpointSlice in place; switching between O(addresses) and O(external_name)
    deletes and re-creates the Service.
  - Refuses to touch a Service of the same name that it does not manage
    (label C(app.kubernetes.io/managed-by=aistack.platform)).
  - Bad input fails before anything is read from or written to the cluster.
author:
  - aistack platform engineering (@aistack-platform)
extends_documentation_fragment:
  - aistack.platform.kube_auth
  - aistack.platform.kube_auth.validate_certs
attributes:
  check_mode:
    support: full
    description: Computes the same C(changed) and diff as a real run; writes are server-side dry runs.
  diff_mode:
    support: full
    description: Shows the owned fields of the Service and the EndpointSlices before and after.
options:
  name:
    description:
      - Name of the Service (an RFC 1035 label, for example C(postgresql)).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the Service. It must exist (in check mode a missing namespace is reported as a warning).
    type: str
    required: true
  state:
    description:
      - C(present) creates or updates the Service and its EndpointSlices; C(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
  addresses:
    description:
      - IPv4 or IPv6 addresses of the hosts that run the service. Loopback, link-local, multicast and
        unspecified addresses are refused because pods cannot reach them.
      - Mutually exclusive with O(external_name).
    type: list
    elements: str
  external_name:
    description:
      - A DNS name; makes an C(ExternalName) Service. Mutually exclusive with O(addresses).
    type: str
  ports:
    description:
      - The service's ports. Required (at least one) with O(addresses).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Port name, a DNS label, unique within the service (for example C(http), C(grpc)).
        type: str
        required: true
      port:
        description: Port of the Service inside the cluster (1-65535).
        type: int
        required: true
      target_port:
        description: Port the host listens on (1-65535). Defaults to O(ports[].port).
        type: int
      protocol:
        description: Transport protocol.
        type: str
        choices: [TCP, UDP, SCTP]
        default: TCP
      app_protocol:
        description: Optional application protocol hint (for example C(http), C(kubernetes.io/h2c)).
        type: str
  labels:
    description:
      - Extra labels on the Service and the EndpointSlices.
    type: dict
    default: {}
  ready:
    description:
      - The C(ready) condition written for every endpoint.
    type: bool
    default: true
  probe:
    description:
      - Reachability probe from the controller, a TCP connect to every address and port (or to the DNS name).
      - C(none) does not probe. C(report) probes, reports the results in RV(probe) and warns on every
        unreachable port (never a silent pass). C(require) fails before registering anything when a port is
        unreachable.
      - UDP and SCTP ports cannot be probed with a connect; they are reported with C(reachable=null).
    type: str
    choices: [none, report, require]
    default: none
  probe_timeout:
    description:
      - Seconds to wait for each TCP connect.
    type: float
    default: 3.0
"""

EXAMPLES = r"""
- name: Register the infra host's PostgreSQL
  aistack.platform.external_service:
    name: postgresql
    namespace: aistack-system
    addresses: ["{{ hostvars['infra1'].ansible_host }}"]
    ports:
      - {name: postgresql, port: 5432}
    probe: require

- name: Register Qdrant with its HTTP and gRPC ports
  aistack.platform.external_service:
    name: qdrant
    namespace: aistack-system
    addresses: [10.0.0.21]
    ports:
      - {name: http, port: 6333}
      - {name: grpc, port: 6334, app_protocol: kubernetes.io/h2c}

- name: Point at a managed database by DNS name
  aistack.platform.external_service:
    name: postgresql
    namespace: aistack-system
    external_name: db.prod.example.com
    ports:
      - {name: postgresql, port: 5432}

- name: Remove the registration
  aistack.platform.external_service:
    name: qdrant
    namespace: aistack-system
    state: absent
"""

RETURN = r"""
service:
  description: What is (or would be) registered.
  returned: always
  type: dict
  contains:
    name: {description: Service name., type: str, returned: always}
    namespace: {description: Namespace., type: str, returned: always}
    host: {description: In-cluster DNS name of the service., type: str, returned: always,
           sample: postgresql.aistack-system.svc.cluster.local}
    type: {description: C(ClusterIP) or C(ExternalName)., type: str, returned: when state=present}
    addresses: {description: Registered host addresses., type: list, elements: str, returned: when state=present}
    external_name: {description: The DNS name of an ExternalName Service., type: str, returned: when state=present}
    ports: {description: "Ports (name, port, target_port, protocol).", type: list, elements: dict,
            returned: when state=present}
    endpoint_slices: {description: Names of the EndpointSlices., type: list, elements: str,
                      returned: when state=present}
probe:
  description:
    - One entry per probed address and port, with C(address), C(port), C(name), C(protocol), C(reachable)
      (true, false, or null when not probed), C(error) and C(seconds).
  returned: when probe is not none and state=present
  type: list
  elements: dict
diff:
  description: The owned fields of the Service and EndpointSlices before and after.
  returned: in diff mode
  type: dict
field:
  description: The option that caused a failure.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC
from ansible_collections.aistack.platform.plugins.module_utils.kube.client import (
    kubeconfig_secrets,
    open_client,
    require_kubernetes,
)
from ansible_collections.aistack.platform.plugins.module_utils.external_service.endpoints import run_external_service


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        addresses=dict(type="list", elements="str"),
        external_name=dict(type="str"),
        ports=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            port=dict(type="int", required=True),
            target_port=dict(type="int"),
            protocol=dict(type="str", choices=["TCP", "UDP", "SCTP"], default="TCP"),
            app_protocol=dict(type="str"),
        )),
        labels=dict(type="dict", default={}),
        ready=dict(type="bool", default=True),
        probe=dict(type="str", choices=["none", "report", "require"], default="none"),
        probe_timeout=dict(type="float", default=3.0),
    )
    spec.update(AUTH_ARGSPEC)
    return spec


def run(module):
    params = module.params
    for value in kubeconfig_secrets(params):
        module.no_log_values.add(value)

    def client_factory():
        require_kubernetes(module)
        return open_client(params)

    try:
        result, warnings = run_external_service(params, client_factory, module.check_mode)
    except AistackError as err:
        module.fail_json(**err.to_result())
    for warning in warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("addresses", "external_name")],
        supports_check_mode=True,
    )
    run(module)


if __name__ == "__main__":
    main()
